"""Cost of recording watches at every step of a fast-forward, in one run.

Usage::

    python bench/watches.py [--scenario xor] [--steps 1600] [--rounds 7]
                            [--watch EXPR ...]

Times ``Session.run`` (the fast-forward path of ``c``) on two fresh sessions
of a built-in scenario, one without watches and one with the scenario's
watches (or the ``--watch`` expressions) bound, which records every watch at
every step. The two take turns every ``--chunk`` steps, so machine noise hits
both alike; the report is the median time per step of each over the rounds
and the median of the per-round ratios. Target: ratio <= 1.05.
Since a shared machine's noise is of the order of that 5%, it also times the
recording alone (``WatchList.record`` at one step boundary, many times) and
gives it as a fraction of a step: the cost without the noise.
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

from tui_trainer.cli import load  # noqa: E402
from tui_trainer.engine.session import Session  # noqa: E402
from tui_trainer.engine.watches import WatchList  # noqa: E402

# CPU time of this thread: on a shared machine, wall time also counts the
# time other processes held the core (an A/A comparison of two identical
# sessions scattered 0.7..1.5 by wall time, 0.98..1.03 by thread time).
CLOCK = time.thread_time


def session(name: str, watches: list[str]) -> Session:
    """A fresh session of ``name`` that never finishes, with ``watches`` bound."""
    _, s = load(name)
    s.set_hyper(epochs=10**6)
    if watches:
        wl = WatchList()
        for w in watches:
            wl.add(w)
        wl.bind(s)
    return s


def one_round(name: str, steps: int, chunk: int, watches: list[str]) -> tuple[float, float]:
    """Seconds per step (without, with watches) of ``steps`` fast-forward steps.

    The two sessions take turns every ``chunk`` steps (the order flipping
    each turn), so a burst of load from another process hits both alike.
    """
    plain, watched = session(name, []), session(name, watches)
    spent = {id(plain): 0.0, id(watched): 0.0}
    for k in range(0, steps, chunk):
        pair = (plain, watched) if (k // chunk) % 2 == 0 else (watched, plain)
        for s in pair:
            t0 = CLOCK()
            s.run(max_steps=chunk)
            spent[id(s)] += CLOCK() - t0
    for s in (plain, watched):
        assert s.nonfinite is None, "the run diverged: pick another scenario"
    (w,) = watched.on_step.__self__.items[:1]  # type: ignore[union-attr]
    assert len(w.history) == min(watched.step, watched.cfg.history_steps)
    return spent[id(plain)] / plain.step, spent[id(watched)] / watched.step


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default="xor")
    ap.add_argument("--steps", type=int, default=1600)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--chunk", type=int, default=16, help="steps per turn (default 16)")
    ap.add_argument("--watch", action="append", default=None, help="an expression (repeatable)")
    args = ap.parse_args()
    sc, _ = load(args.scenario)
    watches = args.watch or list(sc.watches) or ["loss"]
    one_round(args.scenario, 64, 16, watches)  # warm up imports and caches
    plain: list[float] = []
    watched: list[float] = []
    for _ in range(args.rounds):
        a, b = one_round(args.scenario, args.steps, args.chunk, watches)
        plain.append(a)
        watched.append(b)
    a, b = statistics.median(plain), statistics.median(watched)
    ratio = statistics.median(w / p for w, p in zip(watched, plain, strict=True))
    rec = record_cost(args.scenario, watches)
    print(f"scenario {args.scenario}, {args.steps} steps x {args.rounds} rounds")
    print(f"watches ({len(watches)}): {', '.join(watches)}")
    print(f"fast-forward without watches: {a * 1e6:8.1f} us/step")
    print(f"fast-forward with watches:    {b * 1e6:8.1f} us/step")
    print(f"recording alone, warm:        {rec * 1e6:8.2f} us/step ({rec / a:.1%} of a step)")
    print(f"ratio with/without (median of rounds): {ratio:.3f}  (target <= 1.05)")
    return 0 if ratio <= 1.05 else 1


def record_cost(name: str, watches: list[str], n: int = 20000) -> float:
    """Seconds per call of ``WatchList.record`` at a step boundary."""
    _, s = load(name)
    s.run(max_steps=100)
    wl = WatchList()
    for w in watches:
        wl.add(w)
    wl.bind(s)
    t0 = CLOCK()
    for _ in range(n):
        wl.record(s)  # the same step again: includes dropping the old value
    return (CLOCK() - t0) / n


if __name__ == "__main__":
    raise SystemExit(main())
