"""The status line: where training is, in plain text (readable without colour).

Every figure is labelled with the quantity it is (``batch loss``: the last
batch; ``train loss``: the mean over the last completed epoch's batches;
``val loss``/``val acc``: the validation set after that epoch), the names the
conditions, watches and diagnosis use. When the line is too narrow, whole
fields are dropped, least important first (``PRIORITY``), so a figure is never
cut in the middle.
"""

from __future__ import annotations

import math

from rich.console import RenderableType
from rich.text import Text
from textual.widgets import Static

from tui_trainer.engine.layer_view import layer_name
from tui_trainer.engine.session import Session
from tui_trainer.safe_text import visible

SEPARATOR = " | "
# Lower is more important; a narrow line keeps the most important fields.
# The phase is also lit in the phase bar above, and the scenario's name and
# the batch within the epoch change least often, so they go first.
PRIORITY = {
    "step": 0,
    "batch loss": 1,
    "epoch": 2,
    "val loss": 3,
    "lr": 4,
    "val acc": 5,
    "phase": 7,
    "train loss": 6,
    "train acc": 8,
    "batch": 9,
    "name": 10,
}


def fmt_loss(x: float) -> str:
    if math.isnan(x):
        return "-"
    if math.isinf(x):
        return "inf"
    return f"{x:.4g}"


def status_fields(s: Session, name: str) -> list[tuple[str, str]]:
    """``(field, text)`` pairs in display order; ``field`` is a key of ``PRIORITY``."""
    ev = s.last_event
    if ev is None:
        phase = "start"
    elif ev.layer is not None:
        phase = f"{ev.phase.label} {layer_name(s, ev.layer)}"
    else:
        phase = ev.phase.label
    h = s.history
    loss = s.rec.loss if ev is not None and s.pos > s.n_layers else h.steps.last("loss")
    epoch, step, batch, batches = s.shown_counters()
    fields = [
        ("name", visible(name)),  # from the scenario file
        ("epoch", f"epoch {min(epoch + 1, s.epochs)}/{s.epochs}"),
        ("step", f"step {step}"),
        ("batch", f"batch {batch}/{batches}"),
        ("phase", f"phase {phase}"),
        ("batch loss", f"batch loss {fmt_loss(loss)}"),
        ("train loss", f"train loss {fmt_loss(h.epochs.last('loss'))}"),
        ("val loss", f"val loss {fmt_loss(h.epochs.last('val_loss'))}"),
    ]
    acc = h.epochs.last("val_accuracy")
    if not math.isnan(acc):
        fields.append(("val acc", f"val acc {acc:.0%}"))
    # The lr the next (or current) step uses: the base scaled by a schedule
    # (a torch session: its optimizer's first param group).
    if not hasattr(s, "hyper"):
        fields.append(("lr", f"lr {s.current_lr:g}"))
    else:
        fields.append(
            ("lr", f"lr {s.current_lr:.4g}" if s.schedule.active else f"lr {s.hyper.lr:g}")
        )
    return fields


def fit_fields(fields: list[tuple[str, str]], width: int) -> str:
    """The fields joined by ``SEPARATOR``, dropping the least important until they fit."""
    kept = list(fields)
    while len(kept) > 1 and len(SEPARATOR.join(t for _, t in kept)) > width:
        kept.remove(max(kept, key=lambda f: PRIORITY.get(f[0], 99)))
    return SEPARATOR.join(t for _, t in kept)


def status_text(s: Session, name: str, state: str) -> str:
    """The whole status line (every field), as on a wide terminal."""
    return SEPARATOR.join(t for _, t in status_fields(s, name))


class StatusLine(Static):
    """One line of plain text: scenario, epoch, step, batch, phase, losses, lr.

    ``content`` holds every field; what is drawn keeps the fields that fit.
    """

    fields: list[tuple[str, str]] = []

    def show(self, fields: list[tuple[str, str]]) -> None:
        self.fields = fields
        # One row, as wide as the screen (app.tcss): new text never changes
        # its size, so no layout of the whole screen (bench/ui.py cpu: a
        # reflow per status update was 13% of the UI thread while running).
        self.update(Text(SEPARATOR.join(t for _, t in fields), no_wrap=True), layout=False)

    def render(self) -> RenderableType:
        width = self.content_size.width
        if not self.fields or width <= 0:
            return super().render()  # type: ignore[return-value]
        return Text(fit_fields(self.fields, width), no_wrap=True, overflow="ellipsis")
