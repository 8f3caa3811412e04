"""Cost of reverse execution, as a ratio to running the same steps forward.

Usage::

    python bench/reverse.py [--scenario lr_too_large] [--history 1000]
                            [--find-steps 10000] [--rounds 5]

Two measurements, each against a forward run of the same steps on a fresh
session of the same scenario (taking turns round by round, so machine noise
hits both alike; medians over the rounds, thread CPU time):

1. reverse-continue over the full default step-back history: train
   ``--history`` steps, then ``reverse_continue`` with the scenario's
   breakpoints (replay from the oldest keyframe to the end, checking every
   pause, then ``goto`` the last hit). Forward: ``Session.run`` of those
   steps with a ``Trap`` on the same breakpoints that never stops (the
   cost of checking them on the way, as ``c`` does).
2. ``find`` in a ``--find-steps``-step run, with a condition that never
   becomes true (so it runs the whole way): forward is ``Session.run`` of
   the same steps with no check at all.

Also reports the peak keyframe count of the ``find`` run (memory stays that of
the step-back history however long the run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tui_trainer.cli import breakpoint_set, load  # noqa: E402
from tui_trainer.engine.breakpoints import BreakpointSet  # noqa: E402
from tui_trainer.engine.conditions import parse  # noqa: E402
from tui_trainer.engine.reverse import find, reverse_continue  # noqa: E402

CLOCK = time.thread_time


def _session(name: str):  # noqa: ANN202 - (Scenario, Session)
    sc, s = load(name)
    s.set_hyper(epochs=10**6)  # enough epochs for any --steps
    return sc, s


def bench_reverse(name: str, steps: int) -> tuple[float, float, bool]:
    sc, s = _session(name)
    s.run(max_steps=steps)
    t0 = CLOCK()
    r = reverse_continue(s, breakpoint_set(sc))
    rev = CLOCK() - t0
    sc, f = _session(name)
    bps = breakpoint_set(sc)
    never = BreakpointSet([*bps.items])
    never.arm(f)

    def until(sess: object) -> bool:
        never.check(f, None)  # evaluate like c does, never stop
        return False

    t0 = CLOCK()
    f.run(until, max_steps=steps)
    fwd = CLOCK() - t0
    return rev, fwd, r.found is not None


def bench_find(name: str, steps: int) -> tuple[float, float, int]:
    _, s = _session(name)
    peak = [0]

    def stop() -> bool:
        peak[0] = max(peak[0], len(s.keyframes))
        return s.step >= steps

    t0 = CLOCK()
    pause, _ = find(s, parse("step < 0"), should_stop=stop)
    fnd = (CLOCK() - t0) * steps / s.step  # stops within a chunk after `steps`: per step
    assert pause is None
    _, f = _session(name)
    t0 = CLOCK()
    f.run(max_steps=steps)
    fwd = CLOCK() - t0
    return fnd, fwd, peak[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default="lr_too_large")
    ap.add_argument("--history", type=int, default=1000, help="steps to reverse over")
    ap.add_argument("--find-steps", type=int, default=10000, help="steps of the find run")
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    rows: dict[str, list[tuple[float, float]]] = {"reverse": [], "find": []}
    found = False
    peak = 0
    for _ in range(a.rounds):
        rev, fwd, found = bench_reverse(a.scenario, a.history)
        rows["reverse"].append((rev, fwd))
        fnd, fwd2, peak = bench_find(a.scenario, a.find_steps)
        rows["find"].append((fnd, fwd2))
    print(f"scenario {a.scenario}, {a.rounds} rounds, thread CPU time, medians")
    for key, label, n in (
        ("reverse", f"reverse-continue over {a.history} steps", a.history),
        ("find", f"find over {a.find_steps} steps", a.find_steps),
    ):
        t = statistics.median(r for r, _ in rows[key])
        fwd = statistics.median(f for _, f in rows[key])
        ratio = statistics.median(r / f for r, f in rows[key])
        print(
            f"{label:40s} {t * 1e3:8.1f} ms   forward {fwd * 1e3:8.1f} ms "
            f"({n / fwd:,.0f} steps/s)   ratio {ratio:.2f}"
        )
    print(f"reverse-continue found a hit: {found}; find peak keyframes: {peak}")


if __name__ == "__main__":
    main()
