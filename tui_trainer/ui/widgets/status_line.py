"""The status line: where training is, in plain text (readable without colour)."""

from __future__ import annotations

import math

from textual.widgets import Static

from tui_trainer.engine.session import Session
from tui_trainer.safe_text import visible


def fmt_loss(x: float) -> str:
    if math.isnan(x):
        return "-"
    if math.isinf(x):
        return "inf"
    return f"{x:.4g}"


def status_text(s: Session, name: str, state: str) -> str:
    ev = s.last_event
    if ev is None:
        phase = "start"
    elif ev.layer is not None:
        phase = f"{ev.phase.label} L{ev.layer + 1}"
    else:
        phase = ev.phase.label
    loss = s.rec.loss if ev is not None and s.pos > s.n_layers else s.history.steps.last("loss")
    val = s.history.epochs.last("val_loss")
    epoch, step, batch, batches = s.shown_counters()
    parts = [
        visible(name),  # from the scenario file
        f"epoch {min(epoch + 1, s.epochs)}/{s.epochs}",
        f"step {step}",
        f"batch {batch}/{batches}",
        f"phase {phase}",
        f"loss {fmt_loss(loss)}",
        f"val {fmt_loss(val)}",
    ]
    acc = s.history.epochs.last("val_accuracy")
    if not math.isnan(acc):
        parts.append(f"acc {acc:.0%}")
    parts.append(f"lr {s.hyper.lr:g}")
    return " | ".join(parts)


class StatusLine(Static):
    """One line of plain text: scenario, epoch, step, batch, phase, losses, state."""
