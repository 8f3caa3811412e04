"""Side-by-side runs: the same scenario with several values of one hyperparameter.

Runs advance in lockstep, one epoch at a time, so a UI can draw all curves
growing together and a user can stop early. Each run is an ordinary
``Session``: a compare run equals an independent run of that setting.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tui_trainer.engine.config import Dataset, TrainConfig
from tui_trainer.engine.session import HYPER_FIELDS, Session

COMPARABLE = ("lr", "momentum", "l2", "l1", "batch_size", "optimizer", "beta1", "beta2", "eps")


@dataclass
class Run:
    label: str
    value: float | int | str
    session: Session

    def final(self) -> dict[str, float]:
        h = self.session.history.epochs
        out = {k: h.last(k) for k in ("loss", "val_loss", "accuracy", "val_accuracy")}
        out["epochs"] = float(self.session.epoch)
        out["diverged"] = 1.0 if self.session.nonfinite is not None else 0.0
        return out


def make_runs(cfg: TrainConfig, data: Dataset, param: str, values: list) -> list[Run]:
    """One session per value of ``param``; everything else (seed included) equal."""
    if param not in COMPARABLE or param not in HYPER_FIELDS:
        raise ValueError(f"can compare only {', '.join(COMPARABLE)}, not {param!r}")
    if not 1 <= len(values) <= 4:
        raise ValueError("compare takes one to four values")
    runs = []
    for v in values:
        s = Session(cfg.with_changes(**{param: v}), data)
        runs.append(Run(f"{param}={v:g}" if isinstance(v, float) else f"{param}={v}", v, s))
    return runs


def until_epoch(e: int) -> Callable[[Any], bool]:
    """A stop condition "epoch >= e" that declares it reads no per-module metric.

    A backend that records per-module metrics on a schedule (PyTorch's) records
    every step only for conditions that read them; a bare lambda would be
    opaque to it and cost every metric at every step.
    """

    def reached(s: Any) -> bool:
        return s.epoch >= e

    reached.metrics_read = ()  # type: ignore[attr-defined]
    return reached


def run_lockstep(
    runs: list[Run],
    epochs: int | None = None,
    on_epoch: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> None:
    """Advance every run one epoch at a time until ``epochs`` (or their own end)."""
    target = epochs if epochs is not None else max(r.session.epochs for r in runs)
    for r in runs:
        r.session.epochs = max(r.session.epochs, target) if epochs is not None else r.session.epochs
    e = min(r.session.epoch for r in runs)
    while e < target:
        e += 1
        for r in runs:
            s = r.session
            if s.nonfinite is None and s.epoch < e and not s.finished:
                s.run(until_epoch(e), should_stop=should_stop)
        if on_epoch is not None:
            on_epoch(e)
        if should_stop is not None and should_stop():
            return


def format_table(runs: list[Run]) -> str:
    """Final metrics, one line per run (plain text for the CLI and the app)."""

    def f(x: float) -> str:
        return "-" if math.isnan(x) else f"{x:.4g}"

    lines = [f"{'run':<18} {'epochs':>6} {'loss':>10} {'val_loss':>10} {'val_acc':>8}  note"]
    for r in runs:
        m = r.final()
        acc = "-" if math.isnan(m["val_accuracy"]) else f"{m['val_accuracy']:.1%}"
        note = "diverged" if m["diverged"] else ""
        lines.append(
            f"{r.label:<18} {int(m['epochs']):>6} {f(m['loss']):>10} {f(m['val_loss']):>10} {acc:>8}  {note}"
        )
    return "\n".join(lines)
