"""The network view: one row per layer with shape, activation and live statistics."""

from __future__ import annotations

import math

import numpy as np
from rich.table import Table
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Static

from tui_trainer.engine.compute import session_counts, si
from tui_trainer.engine.diagnostics import Finding, involvements, saturated_fraction
from tui_trainer.engine.layer_view import is_dense
from tui_trainer.engine.session import Session
from tui_trainer.ui.render.numbers import fmt
from tui_trainer.ui.widgets.module_table import module_lines, module_table


def _f(x: float) -> str:
    if x is None or math.isnan(x):
        return "-"
    if math.isinf(x):
        return "inf"
    a = abs(x)
    if a and (a < 1e-3 or a >= 1e4):
        return f"{x:.1e}"
    return f"{x:.3g}"


def _n(x: float) -> str:
    return "-" if math.isnan(x) else fmt(x, 5)


def _stats(s: Session, i: int) -> tuple[float, float, float, float]:
    with np.errstate(all="ignore"):  # diverged weights overflow the norm: show inf
        return _layer_stats(s, i)


def _layer_stats(s: Session, i: int) -> tuple[float, float, float, float]:
    ly = s.net.layers[i]
    h = s.history.steps
    wn = float(np.linalg.norm(ly.W))
    gn = float(np.linalg.norm(ly.dW)) if ly.dW_valid else h.last(f"grad_norm[{i}]")
    ur = h.last(f"update_ratio[{i}]")
    dead = h.last(f"dead_fraction[{i}]")
    if ly.z is not None and ly.activation in ("relu", "leaky_relu"):
        dead = float(np.mean(~(ly.z > 0).any(axis=0)))
    return wn, gn, ur, dead


def _flag(s: Session, i: int, dead: float, findings: list[Finding]) -> tuple[str, str, str]:
    """Label, figure and style of a layer's flat-region share: ``dead`` (units below 0
    for every example) for relu/leaky_relu, ``sat`` (saturated activations) for
    tanh/sigmoid. Red only when a finding names that quantity of this layer, so
    the panel marks exactly what the diagnosis explains."""
    named = {q for q, _ in involvements(findings, i)}
    if not math.isnan(dead):
        return "dead", f"{dead:.0%}", "bold red" if "dead" in named else ""
    sat = saturated_fraction(s.net.layers[i])
    if sat is not None:
        return "sat", f"{sat:.0%}", "bold red" if "saturated" in named else ""
    return "", "-", ""


def network_lines(
    s: Session, selected: int, active_layer: int | None, findings: list[Finding] | None = None
) -> Text:
    """Two lines per layer: the layer, then its key statistics (narrow screens)."""
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(f"  input: {s.x_train.shape[1]} features\n", style="dim")
    for i, ly in enumerate(s.net.layers):
        wn, gn, ur, dead = _stats(s, i)
        style = "reverse" if i == selected else ""
        if active_layer == i:
            style += " bold yellow"
        mark = ">" if i == selected else " "
        t.append(f"{mark} L{i + 1} {ly.n_in}x{ly.n_out} {ly.activation}", style=style.strip())
        label, figure, flag_style = _flag(s, i, dead, findings or [])
        if label:
            t.append(f" · {label} {figure}", style=flag_style)
        t.append("\n")
        base = "dim" if i != selected else ""
        named = {q for q, _ in involvements(findings or [], i)}
        if named & {"gradient", "update"}:
            t.append(f"  |W| {_n(wn)} ", style=base)
            t.append(f"|grad| {_n(gn)}", style="bold red" if "gradient" in named else base)
            t.append(f" upd {_n(ur)}", style="bold red" if "update" in named else base)
            t.append("\n")
        else:
            t.append(f"  |W| {_n(wn)} |grad| {_n(gn)} upd {_n(ur)}\n", style=base)
    t.append(f"  {_work(s)}", style="dim")
    return t


def _work(s: Session) -> str:
    """The arithmetic of training this network (see engine/compute.py)."""
    step, run, _ = session_counts(s)
    return f"mult-adds: step {si(step)}, run {si(run)}"


def network_table(
    s: Session, selected: int, active_layer: int | None, findings: list[Finding] | None = None
) -> Table:
    """One row per layer with more statistics (wide screens).

    ``|grad|`` is the gradient norm (``grad_norm``), ``upd`` the update ratio
    ``|delta W|/|W|`` (``update_ratio``): the names the conditions use.
    """
    t = Table(box=None, pad_edge=False, expand=False, show_edge=False, padding=(0, 1))
    cols = ("", "layer", "|W|", "W mean", "W std", "|grad|", "upd", "a mean", "a std", "dead/sat")
    for col in cols:
        t.add_column(col, justify="left" if col in ("", "layer") else "right", no_wrap=True)
    t.add_row(" ", Text(f"in {s.x_train.shape[1]}", style="dim"), *([""] * 8))
    for i, ly in enumerate(s.net.layers):
        wn, gn, ur, dead = _stats(s, i)
        style = "reverse" if i == selected else ""
        if active_layer == i:
            style += " bold yellow"
        a_mean = _f(float(ly.a.mean())) if ly.a is not None else "-"
        a_std = _f(float(ly.a.std())) if ly.a is not None else "-"
        label, figure, flag_style = _flag(s, i, dead, findings or [])
        named = {q for q, _ in involvements(findings or [], i)}
        dead_txt = Text(f"{figure} {label}".strip(), style=flag_style)
        t.add_row(
            ">" if i == selected else " ",
            Text(f"L{i + 1} {ly.n_in}x{ly.n_out} {ly.activation}", style=style.strip()),
            _f(wn),
            _f(float(ly.W.mean())),
            _f(float(ly.W.std())),
            Text(_f(gn), style="bold red" if "gradient" in named else ""),
            Text(_f(ur), style="bold red" if "update" in named else ""),
            a_mean,
            a_std,
            dead_txt,
        )
    t.caption = _work(s)
    t.caption_justify = "left"
    t.caption_style = "dim"
    return t


class NetworkView(Static, can_focus=True):
    """Layers of the network; up/down choose the layer the other views show."""

    BINDINGS = [
        Binding("up,k", "move(-1)", "layer up", show=False, id="layer_up"),
        Binding("down,j", "move(1)", "layer down", show=False, id="layer_down"),
    ]

    class Selected(Message):
        def __init__(self, layer: int) -> None:
            self.layer = layer
            super().__init__()

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.selected = 0
        self.n_layers = 1

    def action_move(self, delta: int) -> None:
        self.selected = (self.selected + delta) % self.n_layers
        self.post_message(self.Selected(self.selected))

    def layer_at(self, y: int) -> int | None:
        """The layer on content line ``y`` (the table: one line each after the
        header and input lines; the narrow list: two lines each after one)."""
        if self.size.width >= 60:
            i = y - 2
        else:
            i = (y - 1) // 2 if y >= 1 else -1
        return i if 0 <= i < self.n_layers else None

    def on_click(self, event: events.Click) -> None:
        at = event.get_content_offset(self)
        layer = self.layer_at(at.y) if at is not None else None
        if layer is not None:
            self.selected = layer
            self.post_message(self.Selected(layer))

    def show(
        self, s: Session, active_layer: int | None, findings: list[Finding] | None = None
    ) -> None:
        self.n_layers = s.n_layers
        self.selected = min(self.selected, self.n_layers - 1)
        if not is_dense(s):  # any other backend's modules (a PyTorch model)
            wide = self.size.width >= 60
            table = module_table if wide else module_lines
            self.update(table(s, self.selected, active_layer))
            return
        with np.errstate(all="ignore"):  # statistics of diverged weights are inf, not warnings
            if self.size.width >= 60:
                self.update(network_table(s, self.selected, active_layer, findings))
            else:
                self.update(network_lines(s, self.selected, active_layer, findings))
