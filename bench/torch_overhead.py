"""Overhead of the torch debugger: fast-forward through TorchSession vs a plain PyTorch loop.

Usage::

    python bench/torch_overhead.py [--steps N] [--rounds R] [--threads T] [--baseline GITREF]

Both examples (``examples/torch_mlp.py``, ``examples/torch_cnn_digits.py``),
built by their own ``make()`` with the same seed, trained for the same
number of steps three ways:

1. ``plain``: the loop a user writes (batches drawn from the same data or
   DataLoader, zero_grad, forward, loss, backward, step, ``float(loss)`` for
   the log), no validation (the goal's reference);
   ``plain + validation``: the same plus the validation pass a user writes at
   each epoch's end (eval mode, no_grad, loss and accuracy on the validation
   data), as the session makes it: for reference, not the goal's row;
2. ``session.run``: ``TorchSession.run(max_steps=N)`` (fast-forward, no
   pausing, as a notebook runs it): the step metrics every step, the
   per-module metrics on the metric schedule (``tui_trainer/torch/schedule.py``),
   the finiteness checks, keyframes for step-back, and the validation pass at
   each epoch's end;
3. ``app's continue``: the same through ``Trap.run`` in ~10 ms chunks with the
   run-to target and an empty watch list bound, as the app's worker runs it
   (without the stop: a continue that stops, at a breakpoint, a target or the
   user's pause, then replays that one step from its keyframe to fill its
   row, once per continue);
4. ``session.run all``: the same with every per-module metric at every step
   (``metric_schedule = None``: what a breakpoint or watch on each of them
   would cost);
5. ``single-step``: ``advance("step")`` N times (a worker thread, paused at
   every module and resumed at once): what stepping costs, for reference.

Times are the process's CPU time by default (``--clock wall`` for wall
time): on a shared machine with more runnable processes than cores, wall time
mostly measures waiting. Rounds are interleaved (method order rotates) and the
median is reported;
ratios are what carries over between machines, not times. The goal of
issue 15 is at most 1.25x the plain loop for fast-forward.

``--baseline GITREF`` adds a row ``session.run@GITREF``: the same fast-forward
with ``tui_trainer`` as it was at that commit (``git archive`` into a temporary
folder, run in a child process that measures its own CPU time the same way),
interleaved with the other methods in every round, so a change is measured
before and after in one run on the same load.
"""

from __future__ import annotations

import argparse
import os
import runpy
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from tui_trainer.torch.user import normalise, session_from_make

ROOT = Path(__file__).resolve().parent.parent
CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = time.perf_counter
EXAMPLES = ("torch_mlp.py", "torch_cnn_digits.py")


def spec(example: str) -> dict[str, Any]:
    ns = runpy.run_path(str(ROOT / "examples" / example))
    return normalise(ns["make"](seed=0))


def plain(example: str, n: int, validate: bool = False) -> float:
    """The loop a user writes, batches drawn inside it as they would be (and,
    with ``validate``, a validation pass at each epoch's end)."""
    s = spec(example)
    model, loss_fn, opt, train = s["model"], s["loss_fn"], s["optimizer"], s["train"]
    model.train()
    t0 = _clock()
    done = 0
    while done < n:
        if isinstance(train, torch.utils.data.DataLoader):
            it = iter(train)
        else:
            x_all, y_all = train
            bs = int(s.get("batch_size") or 32)
            perm = torch.randperm(len(x_all))
            it = (
                (x_all[perm[i : i + bs]], y_all[perm[i : i + bs]]) for i in range(0, len(x_all), bs)
            )
        for x, y in it:
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            float(loss.detach())
            done += 1
            if done == n:
                break
        else:
            if validate:
                _validate(model, loss_fn, s["val"])
    return _clock() - t0


def _validate(model: Any, loss_fn: Any, val: Any) -> tuple[float, float]:
    """Mean loss and accuracy on the validation data, in eval mode, as a user writes it."""
    model.eval()
    total, correct, count = 0.0, 0, 0
    batches = val if isinstance(val, torch.utils.data.DataLoader) else [val]
    with torch.no_grad():
        for x, y in batches:
            out = model(x)
            total += float(loss_fn(out, y)) * len(x)
            correct += int((out.argmax(1) == y).sum())
            count += len(x)
    model.train()
    return total / count, correct / count


def plain_validation(example: str, n: int) -> float:
    return plain(example, n, validate=True)


def session_run(example: str, n: int) -> float:
    s = spec(example)
    s["epochs"] = 10_000
    with session_from_make(s) as sess:
        t0 = _clock()
        sess.run(max_steps=n)
        return _clock() - t0


def app_continue(example: str, n: int) -> float:
    """The app's continue (ui/app.py ``_train``): ``Trap.run`` in chunks of about
    10 ms with the enabled breakpoints (none), the run-to target and the watch
    list bound as ``on_step`` (empty), as the worker thread runs it."""
    from tui_trainer.engine.breakpoints import BreakpointSet, Trap
    from tui_trainer.engine.watches import WatchList

    s = spec(example)
    s["epochs"] = 10_000
    with session_from_make(s) as sess:
        WatchList().bind(sess)

        def target(t: Any) -> bool:  # a run-to target further than these steps
            return False

        target.metrics_read = ()  # type: ignore[attr-defined]
        trap = Trap(BreakpointSet(), sess, target)
        chunk = 1
        t0 = _clock()
        while sess.step < n:
            c0 = time.perf_counter()
            trap.run(sess, max_steps=min(chunk, n - sess.step), should_stop=lambda: False)
            dt = time.perf_counter() - c0
            chunk = max(1, min(chunk * 2, int(chunk * 0.01 / dt) if dt > 0 else chunk * 2))
        return _clock() - t0


def session_run_all(example: str, n: int) -> float:
    s = spec(example)
    s["epochs"] = 10_000
    with session_from_make(s) as sess:
        sess.metric_schedule = None
        t0 = _clock()
        sess.run(max_steps=n)
        return _clock() - t0


def single_step(example: str, n: int) -> float:
    s = spec(example)
    s["epochs"] = 10_000
    with session_from_make(s) as sess:
        t0 = _clock()
        for _ in range(n):
            sess.advance("step")
        return _clock() - t0


METHODS = {
    "plain": plain,
    "plain + validation": plain_validation,
    "session.run": session_run,
    "app's continue": app_continue,
    "session.run all": session_run_all,
    "single-step": single_step,
}


def baseline_method(ref: str, tmp: str, args: argparse.Namespace) -> Any:
    """``session.run`` with the ``tui_trainer`` of git ``ref``, in a child process."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "tui_trainer"],
        check=True,
        capture_output=True,
    ).stdout
    path = Path(tmp) / "archive.tar"
    path.write_bytes(archive)
    with tarfile.open(path) as tar:
        tar.extractall(tmp, filter="data")
    env = {**os.environ, "PYTHONPATH": tmp + os.pathsep + os.environ.get("PYTHONPATH", "")}

    def run(example: str, n: int) -> float:
        out = subprocess.run(
            [sys.executable, __file__, "--child", example, "--steps", str(n)]
            + ["--threads", str(args.threads), "--clock", args.clock],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        ).stdout.split()
        if out[0] != tmp:
            raise RuntimeError(f"the child imported tui_trainer from {out[0]}, not {tmp}")
        return float(out[1])

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    ap.add_argument(
        "--clock",
        choices=tuple(CLOCK),
        default="cpu",
        help="cpu: the process's CPU time (default; stable on a shared, oversubscribed "
        "machine, where wall time mostly measures waiting for a core), or wall",
    )
    ap.add_argument("--baseline", metavar="GITREF", help="also time session.run at this commit")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    global _clock
    _clock = CLOCK[args.clock]
    torch.set_num_threads(args.threads)
    if args.child:  # a --baseline child: where tui_trainer came from, and the time
        import tui_trainer

        print(Path(tui_trainer.__file__).parent.parent, session_run(args.child, args.steps))
        return
    methods = dict(METHODS)
    with tempfile.TemporaryDirectory() as tmp:
        if args.baseline:
            methods[f"session.run@{args.baseline}"] = baseline_method(args.baseline, tmp, args)
        measure(methods, args)


def measure(methods: dict[str, Any], args: argparse.Namespace) -> None:
    names = list(methods)
    times: dict[tuple[str, str], list[float]] = {}
    for r in range(args.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for ex in EXAMPLES:
            for m in order:
                times.setdefault((ex, m), []).append(methods[m](ex, args.steps))
    print(
        f"{args.steps} steps, median of {args.rounds} rounds, {args.threads} torch thread(s), "
        f"{args.clock} time"
    )
    print("(median and fastest round: on a loaded machine the fastest is the least disturbed)")
    print(f"{'example':<22}{'method':<22}{'ms/step':>9}{'x plain':>9}{'min x plain':>13}")
    for ex in EXAMPLES:
        base = statistics.median(times[(ex, "plain")])
        base_min = min(times[(ex, "plain")])
        for m in names:
            t = statistics.median(times[(ex, m)])
            t_min = min(times[(ex, m)])
            print(
                f"{ex:<22}{m:<22}{1000 * t / args.steps:>9.3f}{t / base:>9.2f}"
                f"{t_min / base_min:>13.2f}"
            )


if __name__ == "__main__":
    main()
