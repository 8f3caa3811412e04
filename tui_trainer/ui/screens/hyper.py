"""Edit hyperparameters live: validated, applied from the next step.

The learning rate is the base a schedule scales (``engine/schedule.py``):
changing it while a schedule runs keeps the schedule at its epoch.
"""

from __future__ import annotations

import math
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.widgets import Input, Label, Select

from tui_trainer.ui.screens.dialog import Dialog

OPTIMIZERS = ("sgd", "momentum", "adam")
SCHEDULES = ("constant", "step", "exponential", "cosine")


def parse_hyper(values: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Turn the form's strings into values; return (changes, errors)."""
    out: dict[str, Any] = {}
    errors: list[str] = []

    def num(key: str, lo: float, hi: float, lo_open: bool = False, hi_open: bool = False) -> None:
        raw = values.get(key, "").strip()
        try:
            v = float(raw)
        except ValueError:
            errors.append(f"{key}: '{raw}' is not a number")
            return
        if (
            not math.isfinite(v)
            or (v <= lo if lo_open else v < lo)
            or (v >= hi if hi_open else v > hi)
        ):
            lb = "(" if lo_open else "["
            rb = ")" if hi_open else "]"
            errors.append(f"{key}: {raw} is outside {lb}{lo:g}, {hi:g}{rb}")
            return
        out[key] = v

    def whole(key: str, lo: int, what: str) -> None:
        raw = values.get(key, "").strip()
        try:
            v = int(raw)
            if v < lo:
                raise ValueError
            out[key] = v
        except ValueError:
            errors.append(f"{key}: '{raw}' must be a whole number >= {lo}{what}")

    num("lr", 0, 100, lo_open=True)
    num("l2", 0, 100)
    num("momentum", 0, 1, hi_open=True)
    if "l1" in values:  # the schedule's fields are all there when l1 is
        num("l1", 0, 100)
        whole("warmup_epochs", 0, "")
        whole("step_size", 1, "")
        whole("t_max", 0, " (0: the rest of the run)")
        num("gamma", 0, 1, lo_open=True)
        num("min_lr", 0, 100)
        if "min_lr" in out and "lr" in out and out["min_lr"] > out["lr"]:
            errors.append(f"min_lr: {out['min_lr']:g} is above lr {out['lr']:g}")
        sched = values.get("schedule", "")
        if sched not in SCHEDULES:
            errors.append(f"schedule: must be one of {', '.join(SCHEDULES)}")
        else:
            out["schedule"] = sched
    raw = values.get("batch_size", "").strip()
    if raw == "full":
        out["batch_size"] = 0
    else:
        try:
            bs = int(raw)
            if bs < 1:
                raise ValueError
            out["batch_size"] = bs
        except ValueError:
            errors.append(f"batch_size: '{raw}' must be a whole number >= 1 or 'full'")
    raw = values.get("epochs", "").strip()
    try:
        ep = int(raw)
        if ep < 1:
            raise ValueError
        out["epochs"] = ep
    except ValueError:
        errors.append(f"epochs: '{raw}' must be a whole number >= 1")
    opt = values.get("optimizer", "")
    if opt not in OPTIMIZERS:
        errors.append(f"optimizer: must be one of {', '.join(OPTIMIZERS)}")
    else:
        out["optimizer"] = opt
    return out, errors


class HyperScreen(Dialog[dict[str, Any] | None]):
    """A small form; Enter applies, Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "cancel", id="hyper_cancel")]

    def __init__(self, current: dict[str, Any], lr_now: float | None = None) -> None:
        super().__init__()
        self.current = current
        self.lr_now = lr_now  # the scheduled lr of the next step, when a schedule runs

    def compose(self) -> ComposeResult:
        c = self.current
        bs = "full" if c["batch_size"] <= 0 else str(c["batch_size"])
        sched = "schedule" in c
        with Vertical(id="hyper-box"):
            yield Label("Hyperparameters (applied from the next step; Enter applies, Esc cancels)")
            with Grid(id="hyper-grid", classes="wide" if sched else ""):
                yield Label("learning rate")
                yield Input(compact=True, value=f"{c['lr']:g}", id="lr")
                yield Label("batch size")
                yield Input(compact=True, value=bs, id="batch_size")
                yield Label("optimizer")
                yield Select(
                    [(o, o) for o in OPTIMIZERS],
                    value=c["optimizer"],
                    allow_blank=False,
                    compact=True,
                    id="optimizer",
                )
                yield Label("momentum")
                yield Input(compact=True, value=f"{c['momentum']:g}", id="momentum")
                yield Label("L2")
                yield Input(compact=True, value=f"{c['l2']:g}", id="l2")
                if sched:
                    yield Label("L1")
                    yield Input(compact=True, value=f"{c['l1']:g}", id="l1")
                yield Label("epochs")
                yield Input(compact=True, value=str(c["epochs"]), id="epochs")
                if sched:
                    yield Label("lr schedule")
                    yield Select(
                        [(o, o) for o in SCHEDULES],
                        value=c["schedule"],
                        allow_blank=False,
                        compact=True,
                        id="schedule",
                    )
                    for key, label in (
                        ("warmup_epochs", "warm-up epochs"),
                        ("step_size", "step size"),
                        ("gamma", "gamma"),
                        ("min_lr", "min lr"),
                        ("t_max", "T (0: to end)"),
                    ):
                        yield Label(label)
                        yield Input(compact=True, value=f"{c[key]:g}", id=key)
            if sched and self.lr_now is not None and self.lr_now != c["lr"]:
                yield Label(
                    f"The schedule makes the next step's lr {self.lr_now:.4g}; the learning "
                    "rate above is its base."
                )
            yield Label("", id="hyper-error")

    def values(self) -> dict[str, str]:
        vals = {i.id: i.value for i in self.query(Input) if i.id}
        for select in self.query(Select):
            if select.id:
                vals[select.id] = str(select.value)
        return vals

    def on_input_submitted(self, event: Input.Submitted) -> None:
        changes, errors = parse_hyper(self.values())
        if errors:
            self.query_one("#hyper-error", Label).update("[red]" + "\n".join(errors) + "[/red]")
            return
        diff = {k: v for k, v in changes.items() if self.current.get(k) != v}
        self.dismiss(diff)

    def action_cancel(self) -> None:
        self.dismiss(None)
