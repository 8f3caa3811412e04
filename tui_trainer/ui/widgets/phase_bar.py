"""The phase bar: FORWARD > LOSS > BACKPROP > UPDATE with the current one lit."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui_trainer.engine.stepper import Phase

LABELS = ("FORWARD", "LOSS", "BACKPROP", "UPDATE")


STATE_STYLES = {
    "running": "bold black on green",
    "DIVERGED": "bold white on red",
    "at breakpoint": "bold black on magenta",
    "finished": "bold black on cyan",
}


def phase_text(
    phase: Phase | None,
    layer: int | None,
    n_layers: int,
    diverged: bool,
    done: int,
    state: str = "",
    name: str = "",
) -> Text:
    """``done`` is how many events of the step have run (0 = at a step boundary);
    ``name`` is the module's qualified name on a torch session (else "layer k")."""
    t = Text()
    for k, label in enumerate(LABELS):
        if k:
            t.append(" > ", style="dim")
        current = phase is not None and phase.value == k
        if current and diverged:
            t.append(f"[{label}!]", style="bold white on red")
        elif current:
            t.append(f"[{label}]", style="bold black on yellow")
        else:
            t.append(f" {label} ", style="dim" if phase is None or k > phase.value else "")
    if phase in (Phase.FORWARD, Phase.BACKWARD) and layer is not None:
        arrow = "->" if phase is Phase.FORWARD else "<-"
        if name:
            t.append(f"  {name} ({layer + 1}/{n_layers}) {arrow}", style="bold")
        else:
            t.append(f"  layer {layer + 1}/{n_layers} {arrow}", style="bold")
    if diverged:
        t.append("  NaN/Inf here", style="bold red")
    if state:
        t.append("  ")
        t.append(f" {state.upper()} ", style=STATE_STYLES.get(state, "reverse"))
    return t


class PhaseBar(Static):
    """Shows where inside the training step the session is paused."""

    def show(
        self,
        phase: Phase | None,
        layer: int | None,
        n_layers: int,
        diverged: bool,
        done: int,
        state: str = "",
        name: str = "",
    ) -> None:
        # One row (app.tcss): its size never depends on the text, so no layout.
        self.update(phase_text(phase, layer, n_layers, diverged, done, state, name), layout=False)
