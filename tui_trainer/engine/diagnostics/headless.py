"""Train a session headless while diagnosing it on a schedule.

``diagnose`` is a pure function of the history, so it can run at any step.
Headless runs (``tui-trainer diagnose``, ``bench/diagnosis.py``) call it
before the first step (the static checks: a missing non-linearity, a loss
that does not fit, inputs far from standardized) and then about
``CHECKS`` times over the run, which bounds its cost (a few milliseconds a
check) and records, for each finding, the step at which it was first seen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tui_trainer.engine.diagnostics.finding import Finding
from tui_trainer.engine.diagnostics.rules import diagnose

if TYPE_CHECKING:
    from tui_trainer.engine.session import Session

CHECKS = 100


@dataclass
class Diagnosis:
    """The findings at the end of a headless run and when each was first seen."""

    findings: list[Finding]
    # (code, layer) -> the step count (steps done) when a check first reported it
    first_seen: dict[tuple[str, int | None], int] = field(default_factory=dict)
    steps: int = 0
    epochs: int = 0
    diverged: bool = False

    def seen_at(self, f: Finding) -> int:
        """The step at which ``f`` was first reported (its own step if never checked)."""
        return self.first_seen.get((f.code, f.layer), f.step)


def check_interval(s: Session) -> int:
    """Steps between checks: about ``CHECKS`` checks over the run, at least 1 step apart."""
    total = max(1, s.epochs * s.batches_per_epoch)
    return max(1, total // CHECKS)


def run_diagnosed(s: Session, should_stop: Callable[[], bool] | None = None) -> Diagnosis:
    """Train ``s`` to its end (or divergence), diagnosing on a schedule."""
    every = check_interval(s)
    first: dict[tuple[str, int | None], int] = {}

    def check() -> None:
        for f in diagnose(s):
            first.setdefault((f.code, f.layer), s.step)

    check()
    while True:
        reason = s.run(max_steps=every, should_stop=should_stop)
        check()
        if reason.kind != "limit":
            break
    return Diagnosis(
        findings=diagnose(s),
        first_seen=first,
        steps=s.step,
        epochs=s.epoch,
        diverged=s.nonfinite is not None,
    )
