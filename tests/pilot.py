"""Helpers shared by the tests that drive the app headless with Textual's Pilot."""

from __future__ import annotations

import asyncio
import time
import unicodedata
from collections.abc import Awaitable, Callable
from typing import Any

from textual import events
from textual.app import App
from textual.pilot import Pilot

from tui_trainer.engine import data
from tui_trainer.engine.config import Dataset, LayerSpec, TrainConfig
from tui_trainer.engine.session import Session

WORKER_TIMEOUT = 30.0


def tanh_session(d: Dataset, hidden: int, n_out: int, **kw: Any) -> Session:
    """A session on ``d``: one tanh hidden layer and a linear output, batches of 10,
    20 epochs, seed 0, cross-entropy at lr 0.1; ``kw`` overrides any of it."""
    base: dict[str, Any] = dict(
        layers=(LayerSpec(hidden, "tanh"), LayerSpec(n_out, "linear")),
        loss="cross_entropy",
        lr=0.1,
        batch_size=10,
        epochs=20,
        seed=0,
    )
    base.update(kw)
    return Session(TrainConfig(**base), d)


def xor_session(**kw: Any) -> Session:
    """2 -> 4 tanh -> 2 on 160 xor training points: 16 batches of 10 per epoch."""
    return tanh_session(data.split(data.generate("xor", 200, 0.0, 0), 0.2, 0), 4, 2, **kw)


def sine_session(**kw: Any) -> Session:
    """1-D regression (mse): 1 -> 8 tanh -> 1 on 160 noisy sine points."""
    d = data.split(data.generate("sine", 200, 0.1, 0), 0.2, 0)
    return tanh_session(d, 8, 1, **{"loss": "mse", "lr": 0.01, **kw})


def run_app(
    app: App[Any],
    body: Callable[[Pilot], Awaitable[None]],
    size: tuple[int, int] = (80, 24),
) -> None:
    """Run ``body`` against the app headless; exceptions inside the app re-raise here."""

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await body(pilot)

    asyncio.run(main())


async def wait_until(pilot: Pilot, cond: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the app run until ``cond`` holds (bounded)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met within the timeout")
        await pilot.pause(0.02)


def _char(key: str) -> str | None:
    """The character a terminal sends with ``key`` (as Textual's Pilot derives it)."""
    try:
        from textual.keys import _get_unicode_name_from_key

        return unicodedata.lookup(_get_unicode_name_from_key(key))
    except (ImportError, KeyError):
        return key if len(key) == 1 else None


def send_key(app: App[Any], key: str) -> None:
    """Deliver a key as the terminal driver does (without Pilot's idle waits,
    which never end while the training thread runs)."""
    assert app._driver is not None
    event = events.Key(key, _char(key))
    event.set_sender(app)
    app._driver.send_message(event)


async def drain(app: App[Any], timeout: float = 30.0) -> None:
    """Let the app handle everything sent so far (bounded)."""
    deadline = time.monotonic() + timeout
    for _ in range(3):
        await asyncio.sleep(0)
    while True:
        if not app.is_running or app._exception is not None:
            return  # crashed or ended: the caller reports it (and run_test re-raises)
        queues = [app._message_queue, *(s._message_queue for s in app.screen_stack)]
        if all(q.empty() for q in queues):
            return
        assert time.monotonic() < deadline, "the app stopped handling keys"
        await asyncio.sleep(0.005)
