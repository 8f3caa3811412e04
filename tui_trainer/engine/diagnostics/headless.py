"""Train a session headless while diagnosing it on a schedule.

``diagnose`` is a pure function of the history, so it can run at any step.
Headless runs (``tui-trainer diagnose``, ``bench/diagnosis.py``) call it
before the first step (the static checks: a missing non-linearity, a loss
that does not fit, inputs far from standardized) and then about ``CHECKS``
times over the run, or less often when that would take more than ``BUDGET``
(4%, so that with the forced first and last checks the total stays under 5%)
of the training time, and records for each finding the step at which it was
first seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tui_trainer.engine.diagnostics.finding import Finding
from tui_trainer.engine.diagnostics.rules import diagnose

if TYPE_CHECKING:
    from tui_trainer.engine.session import Session

CHECKS = 100
BUDGET = 0.04  # aim: the checks take under 5% of the training time (the first and last are forced)


@dataclass
class Diagnosis:
    """The findings at the end of a headless run and when each was first seen."""

    findings: list[Finding]
    # (code, layer) -> the step count (steps done) when a check first reported it
    first_seen: dict[tuple[str, int | None], int] = field(default_factory=dict)
    steps: int = 0
    epochs: int = 0
    diverged: bool = False
    check_seconds: float = 0.0
    train_seconds: float = 0.0

    def seen_at(self, f: Finding) -> int:
        """The step at which ``f`` was first reported (its own step if never checked)."""
        return self.first_seen.get((f.code, f.layer), f.step)


def check_interval(s: Session) -> int:
    """Steps between checks: about ``CHECKS`` checks over the run, at least 1 step apart."""
    total = max(1, s.epochs * s.batches_per_epoch)
    return max(1, total // CHECKS)


def run_diagnosed(
    s: Session,
    should_stop: Callable[[], bool] | None = None,
    budget: float | None = BUDGET,
) -> Diagnosis:
    """Train ``s`` to its end (or divergence), diagnosing on a schedule.

    Checks come every ``check_interval`` steps, or further apart when
    ``budget`` is set: then the time spent in the checks stays under that
    share of the training time (a check costs a few milliseconds; a small
    network trains a step in tens of microseconds). ``budget=None`` keeps the
    fixed schedule, for measuring how soon a finding appears.
    """
    every = check_interval(s)
    first: dict[tuple[str, int | None], int] = {}
    spent = {"train": 0.0, "check": 0.0, "checks": 0}

    last: list[Finding] = []

    def check() -> None:
        spent["checks"] += 1
        t = time.perf_counter()
        last[:] = diagnose(s)
        for f in last:
            first.setdefault((f.code, f.layer), s.step)
        spent["check"] += time.perf_counter() - t

    check()
    steps = every
    while True:
        t = time.perf_counter()
        done0 = s.step
        reason = s.run(max_steps=steps, should_stop=should_stop)
        spent["train"] += time.perf_counter() - t
        check()
        if reason.kind != "limit":
            break
        steps = every
        if budget is not None and s.step > done0:
            per_step = spent["train"] / max(1, s.step)
            per_check = spent["check"] / spent["checks"]
            # steps the next check must wait for the total to stay within budget
            owed = (spent["check"] + per_check) / budget - spent["train"]
            steps = max(every, int(owed / max(per_step, 1e-9)) + 1)
    return Diagnosis(
        findings=list(last),  # the check after the last step
        first_seen=first,
        steps=s.step,
        epochs=s.epoch,
        diverged=s.nonfinite is not None,
        check_seconds=spent["check"],
        train_seconds=spent["train"],
    )
