"""Run ``tui-trainer`` with timing probes: where does a fast-forward lose time?

Usage (``bench/ui.py finish --probe`` does this for you)::

    python bench/ui_probe.py LOG.json open SCENARIO.toml

The app runs unchanged; this launcher only wraps, before it starts:

* the worker's chunks (``Trap.run``): start, end, steps (the gaps between
  chunks are time the worker was not training);
* the app lock: every acquisition that waited, by thread, and for how long;
* the UI thread's refreshes (``refresh_status``, ``refresh_heavy``, the
  ``refresh_all`` before a run starts, ``on_run_finished``);
* garbage collections (``gc.callbacks``): generation, duration, thread;
* terminal writes (``LinuxDriver.write``): time and size.

When the run stops (``on_run_finished``) the log is written as JSON and the
app goes on as usual. ``summarize`` turns a log into the table ``bench/ui.py``
prints.
"""

from __future__ import annotations

import gc
import json
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

pc = time.perf_counter
LOG: dict[str, Any] = {"gc": [], "chunks": [], "ui": [], "lock": [], "writes": [], "sleep": []}
MAIN = threading.get_ident()
_gc_start: dict[int, float] = {}


def _gc(phase: str, info: dict[str, Any]) -> None:
    tid = threading.get_ident()
    if phase == "start":
        _gc_start[tid] = pc()
    else:
        t0 = _gc_start.pop(tid, pc())
        LOG["gc"].append([t0, pc(), info["generation"], tid == MAIN])


def probe_lock(base: type) -> Any:
    """The app's lock class, recording how long each acquisition waited."""

    class ProbeLock(base):  # type: ignore[misc,valid-type]
        def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
            t0 = pc()
            ok = super().acquire(blocking, timeout)
            waited = pc() - t0
            if waited > 50e-6:
                LOG["lock"].append([t0, waited, threading.get_ident() == MAIN])
            return ok

        def __enter__(self) -> bool:
            return self.acquire()

    return ProbeLock


def install(log_path: Path) -> None:
    gc.callbacks.append(_gc)
    from textual.drivers import linux_driver

    from tui_trainer.engine import breakpoints
    from tui_trainer.ui import app as app_mod

    orig_run = breakpoints.Trap.run

    def run(self: Any, s: Any, max_steps: Any = None, should_stop: Any = None) -> Any:
        t0, st, c0 = pc(), s.step, time.thread_time()
        u0 = resource.getrusage(resource.RUSAGE_THREAD)
        r = orig_run(self, s, max_steps, should_stop)
        u1 = resource.getrusage(resource.RUSAGE_THREAD)
        # context switches inside the chunk: voluntary ones are mostly waits for
        # the GIL (another thread of the app took it), involuntary ones the OS
        LOG["chunks"].append(
            [
                t0,
                pc(),
                s.step - st,
                time.thread_time() - c0,
                u1.ru_nvcsw - u0.ru_nvcsw,
                u1.ru_nivcsw - u0.ru_nivcsw,
            ]
        )
        LOG.setdefault("worker_cpu0", c0)
        LOG["worker_cpu1"] = time.thread_time()
        return r

    breakpoints.Trap.run = run  # type: ignore[method-assign]

    orig_write = linux_driver.LinuxDriver.write

    def write(self: Any, data: str) -> None:
        LOG["writes"].append([pc(), len(data)])
        orig_write(self, data)

    linux_driver.LinuxDriver.write = write  # type: ignore[method-assign]

    class TimeProxy:
        """The app module's ``time``, with ``sleep`` timed (the worker's yield)."""

        def __getattr__(self, name: str) -> Any:
            return getattr(time, name)

        @staticmethod
        def sleep(seconds: float) -> None:
            t0 = pc()
            time.sleep(seconds)
            LOG["sleep"].append([t0, pc() - t0, seconds])

    app_mod.time = TimeProxy()  # type: ignore[assignment]

    try:  # (absent from versions before issue 18: then only sleep() is timed)
        from tui_trainer.ui import handoff
    except ImportError:
        handoff = None
    if handoff is not None:
        orig_yield = handoff.HandoffLock.yield_to_waiters

        def yield_to_waiters(self: Any, timeout: float = 0.05) -> None:
            t0, w = pc(), self.waiting
            orig_yield(self, timeout)
            if w:
                LOG["sleep"].append([t0, pc() - t0, 0.0])

        handoff.HandoffLock.yield_to_waiters = yield_to_waiters  # type: ignore[method-assign]

    cls = app_mod.TrainerApp
    orig_init = cls.__init__

    def init(self: Any, *a: Any, **k: Any) -> None:
        orig_init(self, *a, **k)
        self.lock = probe_lock(type(self.lock))()

    cls.__init__ = init  # type: ignore[method-assign]

    def timed(name: str) -> None:
        orig = getattr(cls, name)

        def wrapper(self: Any, *a: Any, **k: Any) -> Any:
            t0 = pc()
            if name == "_start_run":
                LOG["ui_cpu0"] = time.thread_time()
                LOG["process_cpu0"] = time.process_time()
            try:
                return orig(self, *a, **k)
            finally:
                LOG["ui"].append([name, t0, pc()])

        setattr(cls, name, wrapper)

    for name in ("refresh_status", "refresh_heavy", "refresh_all", "_start_run"):
        timed(name)

    orig_finished = cls.on_run_finished

    def finished(self: Any, msg: Any) -> None:
        LOG["finished"] = pc()
        LOG["ui_cpu1"] = time.thread_time()
        LOG["process_cpu1"] = time.process_time()
        orig_finished(self, msg)
        log_path.write_text(json.dumps(LOG), encoding="utf-8")

    cls.on_run_finished = finished  # type: ignore[method-assign]


def summarize(log: dict[str, Any]) -> dict[str, float]:
    """Seconds spent per cause between the first chunk and the end of the run."""
    chunks = log["chunks"]
    if not chunks:
        return {}
    t_start = next((t0 for name, t0, _ in log["ui"] if name == "_start_run"), chunks[0][0])
    t_end = log.get("finished", chunks[-1][1])
    steps = sum(c[2] for c in chunks)
    in_chunks = sum(c[1] - c[0] for c in chunks)
    gaps = sum(b[0] - a[1] for a, b in zip(chunks, chunks[1:], strict=False))
    first = chunks[0][0] - t_start
    tail = t_end - chunks[-1][1]

    ui = {}
    for name, t0, t1 in log["ui"]:
        if t_start <= t0 <= t_end:
            ui[name] = ui.get(name, 0.0) + (t1 - t0)
    gc_main = sum(r[1] - r[0] for r in log["gc"] if t_start <= r[0] <= t_end and r[3])
    gc_worker = sum(r[1] - r[0] for r in log["gc"] if t_start <= r[0] <= t_end and not r[3])
    gc2 = sum(1 for r in log["gc"] if t_start <= r[0] <= t_end and r[2] == 2)
    lock_worker = sum(w for t, w, main in log["lock"] if t_start <= t <= t_end and not main)
    lock_ui = sum(w for t, w, main in log["lock"] if t_start <= t <= t_end and main)
    nbytes = sum(n for t, n in log["writes"] if t_start <= t <= t_end)
    sleeps = [d for t, d, _ in log.get("sleep", []) if t_start <= t <= t_end]
    return {
        "total": t_end - t_start,
        "steps": steps,
        "before first chunk": first,
        "in chunks": in_chunks,
        "worker CPU in chunks": sum(c[3] for c in chunks),
        "worker GIL waits in chunks (voluntary switches)": sum(c[4] for c in chunks if len(c) > 4),
        "worker preempted in chunks (involuntary switches)": sum(
            c[5] for c in chunks if len(c) > 5
        ),
        "worker CPU, first to last chunk": log["worker_cpu1"] - log["worker_cpu0"],
        "UI thread CPU": log.get("ui_cpu1", 0.0) - log.get("ui_cpu0", 0.0),
        # the terminal's input and output threads, and anything else in the process
        "other threads CPU": (log.get("process_cpu1", 0.0) - log.get("process_cpu0", 0.0))
        - (log.get("ui_cpu1", 0.0) - log.get("ui_cpu0", 0.0))
        - (log["worker_cpu1"] - log["worker_cpu0"]),
        "chunks": len(chunks),
        "gaps between chunks": gaps,
        "after last chunk": tail,
        "worker yields (sleep(0)/handoffs)": len(sleeps),
        "worker time yielding": sum(sleeps),
        "worker lock wait": lock_worker,
        "UI lock wait": lock_ui,
        "UI refresh_status": ui.get("refresh_status", 0.0),
        "UI refresh_heavy": ui.get("refresh_heavy", 0.0),
        "UI refresh_all": ui.get("refresh_all", 0.0),
        "GC on UI thread": gc_main,
        "GC on worker": gc_worker,
        "gen-2 collections": gc2,
        "KiB written": nbytes / 1024,
    }


def main() -> None:
    log_path = Path(sys.argv[1])
    install(log_path)
    import os

    if os.environ.get("UI_PROBE_SWITCH_INTERVAL"):  # an experiment: the GIL's time slice
        sys.setswitchinterval(float(os.environ["UI_PROBE_SWITCH_INTERVAL"]))
    from tui_trainer.cli import main as cli_main

    sys.exit(cli_main(sys.argv[2:]))


if __name__ == "__main__":
    main()
