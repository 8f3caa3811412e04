"""The training worker gives the session lock to the UI only when the UI waits for it.

It used to ``time.sleep(0)`` after every chunk of about 10 ms: each sleep
released the GIL, and getting it back took up to the interpreter's switch
interval, 2 to 4 s of a 7 to 11 s run (bench/ui.py probe, issue 18). Timing
is measured in bench/; these tests check the behaviour that caused it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from pilot import run_app, xor_session
from tui_trainer.engine import breakpoints
from tui_trainer.ui.app import TrainerApp
from tui_trainer.ui.handoff import HandoffLock


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)


def test_lock_is_reentrant_and_counts_waiters():
    lock = HandoffLock()
    with lock, lock:  # re-entrant, like the RLock it replaces
        got = threading.Event()

        def other() -> None:
            with lock:
                got.set()

        t = threading.Thread(target=other)
        t.start()
        deadline = time.monotonic() + 10
        while lock.waiting == 0 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert lock.waiting == 1  # the other thread is blocked on it
        assert not got.is_set()
    # released: yield_to_waiters lets the waiter in before this thread goes on
    lock.yield_to_waiters(timeout=10)
    assert lock.waiting == 0
    t.join(10)
    assert got.is_set()
    assert lock.acquire(blocking=False)
    lock.release()


def test_yield_without_waiters_does_not_sleep(monkeypatch: pytest.MonkeyPatch):
    calls = []
    monkeypatch.setattr(time, "sleep", lambda s: calls.append(s))
    HandoffLock().yield_to_waiters()
    assert calls == []


def test_worker_does_not_sleep_after_every_chunk(monkeypatch: pytest.MonkeyPatch):
    """While nothing waits for the lock, the worker goes on to its next chunk at once."""
    main = threading.get_ident()
    sleeps: list[float] = []
    chunks: list[int] = []
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        if threading.get_ident() != main:
            sleeps.append(seconds)
        real_sleep(seconds)

    orig_run = breakpoints.Trap.run

    def run(self, s, max_steps=None, should_stop=None):  # noqa: ANN001, ANN202
        chunks.append(max_steps or 0)
        return orig_run(self, s, max_steps, should_stop)

    monkeypatch.setattr(time, "sleep", sleep)
    monkeypatch.setattr(breakpoints.Trap, "run", run)
    app = TrainerApp(xor_session(epochs=100_000), name="xor")

    async def body(pilot) -> None:  # noqa: ANN001
        await pilot.press("c")
        deadline = time.monotonic() + 30
        while len(chunks) < 60 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        app.action_pause()
        while app.running and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    run_app(app, body)
    assert len(chunks) >= 60
    # The UI takes the lock a few times a second (charts); the old worker
    # slept once per chunk.
    assert len(sleeps) < len(chunks) / 4, (len(sleeps), len(chunks))


def test_status_line_follows_a_run_without_the_lock():
    """The status the UI draws while running is the worker's sample, and it moves."""
    app = TrainerApp(xor_session(epochs=100_000), name="xor")
    seen: list[int] = []

    async def body(pilot) -> None:  # noqa: ANN001
        await pilot.press("c")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(set(seen)) < 3:
            await asyncio.sleep(0.1)
            snap = app._run_snapshot
            if snap is not None:
                step = next(v for k, v in snap[1] if k == "step")
                seen.append(int(step.split()[1]))
        app.action_pause()
        while app.running and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert app._run_snapshot is None  # paused: the UI reads the session itself again
        shown = next(v for k, v in app._status_snapshot()[1] if k == "step")
        assert int(shown.split()[1]) == app.session.shown_counters()[1]

    run_app(app, body)
    assert len(set(seen)) >= 3 and seen == sorted(seen)
