"""Key mashing: thousands of random keys must never crash the app or corrupt the session.

A seeded random stream of keys is drawn from every binding of the app (read
from ``TrainerApp.BINDINGS``, so new keys are mashed too) plus the keys the
dialogs use (escape, enter, arrows, digits, letters), with occasional terminal
resizes, some below the minimum size. Keys arrive as the terminal driver
delivers them, in bursts, while training runs in its worker thread and while
it is paused; whatever dialog a key opens gets the following keys.

Every few hundred keys the test closes the dialogs, pauses any run, waits for
the workers and checks the session the app shows: the position is
consistent, the metric history has one row per step and per epoch, the
weights are finite unless the session says it diverged, and the status line
shows the session's step. The quit keys are left out of the stream, so only a
crash can end the app early, and that fails the test.
"""

from __future__ import annotations

import asyncio
import html
import math
import random
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from textual import events
from textual.pilot import Pilot

from pilot import WORKER_TIMEOUT, drain, send_key
from pilot import xor_session as _xor_session
from tui_trainer.engine.config import LayerSpec
from tui_trainer.engine.session import Session
from tui_trainer.ui.app import TrainerApp

CHECK_EVERY = 300

QUIT_KEYS = {"q", "ctrl+q"}  # a deliberate quit would end the test, not find a bug


def _binding_keys() -> list[str]:
    keys: list[str] = []
    for b in TrainerApp.BINDINGS:
        key = b.key if hasattr(b, "key") else b[0]  # type: ignore[index]
        keys += [k.strip() for k in key.split(",") if k.strip()]
    return sorted(set(keys) - QUIT_KEYS)


BINDING_KEYS = _binding_keys()
DIALOG_KEYS = [
    "escape",
    "enter",
    "up",
    "down",
    "left",
    "right",
    "home",
    "end",
    "pageup",
    "pagedown",
    "backspace",
    "delete",
    "tab",
    "shift+tab",
    "space",
    "y",
    "n",
    "ctrl+u",
    "ctrl+c",
    # the command palette, over the debugger or a dialog: Textual 8.2.8's own
    # palette crashed on such bursts (tui_trainer/ui/screens/palette.py)
    "ctrl+p",
]
TEXT_KEYS = [
    *"0123456789",
    *"abcdefghijklmnoprstuvwxyz",  # no q
    *"ABCDEFGHIJKLMNOPRSTUVWXYZ",
    "full_stop",
    "minus",
    "plus",
    "comma",
    "left_square_bracket",
    "right_square_bracket",
    "greater_than_sign",
    "less_than_sign",
    "equals_sign",
    "question_mark",
]


def key_stream(rng: random.Random, n: int) -> list[str]:
    """Mostly the app's own keys, often escape (to come back from dialogs)."""
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.45:
            out.append(rng.choice(BINDING_KEYS))
        elif r < 0.60:
            out.append("escape")
        elif r < 0.80:
            out.append(rng.choice(DIALOG_KEYS))
        else:
            out.append(rng.choice(TEXT_KEYS))
    return out


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user keymap; files written from dialogs (checkpoints, scenarios) land in tmp."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


def xor_session(**kw: Any) -> Session:
    """2 -> 4 relu -> 3 tanh -> 2 on 160 xor points: 16 batches of 10 per epoch."""
    base: dict[str, Any] = dict(
        layers=(LayerSpec(4, "relu"), LayerSpec(3, "tanh"), LayerSpec(2, "linear")),
        history_steps=200,  # a short step-back horizon, so stepping back can run out
    )
    base.update(kw)
    return _xor_session(**base)


async def quiesce(app: TrainerApp, pilot: Pilot) -> None:
    """Close the dialogs, pause any run and wait for every worker to stop; again
    if something queued (a command chosen in the palette runs after the palette
    closes) opened a dialog or started a run meanwhile."""
    for _ in range(10):
        for _ in range(20):
            if len(app.screen_stack) <= 1:
                break
            send_key(app, "escape")
            await drain(app)
            await pilot.pause(0.01)
        while len(app.screen_stack) > 1:  # a dialog that escape does not close
            app.pop_screen()
            await drain(app)
        app.action_pause()
        await asyncio.wait_for(app.workers.wait_for_complete(), WORKER_TIMEOUT)
        deadline = time.monotonic() + WORKER_TIMEOUT
        while app.running:  # RunFinished is handled on the UI thread
            assert time.monotonic() < deadline, "the run did not report that it stopped"
            await pilot.pause(0.01)
        await drain(app)
        await pilot.pause()
        if not app.running and len(app.screen_stack) == 1:
            return
    raise AssertionError("the app did not settle")


_SVG_TEXT = re.compile(r'<text class="[^"]*-r\d+" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>')


def screen_text(app: TrainerApp) -> str:
    """What the terminal shows, as plain text (from the screenshot's text runs)."""
    rows: dict[float, list[tuple[float, str]]] = {}
    for x, y, run in _SVG_TEXT.findall(app.export_screenshot()):
        rows.setdefault(float(y), []).append((float(x), html.unescape(run)))
    return "\n".join(
        "".join(t for _, t in sorted(runs)).replace("\xa0", " ") for _, runs in sorted(rows.items())
    )


NOT_DRAWN = "not drawable"  # the note a chart shows when plotext fails to draw it


async def check_charts_draw(app: TrainerApp, pilot: Pilot, where: str) -> None:
    """At a normal terminal size every chart on screen draws (no failure note)."""
    await resize(app, 100, 32)
    await pilot.pause()
    text = screen_text(app)
    assert NOT_DRAWN not in text, f"a chart failed to draw at 100x32 ({where}):\n{text}"


async def resize(app: TrainerApp, w: int, h: int) -> None:
    assert app._driver is not None
    app._driver._size = (w, h)  # the headless driver reports this size
    app.post_message(events.Resize(events.Size(w, h), events.Size(w, h)))
    await drain(app)


def check_consistent(app: TrainerApp, where: str) -> None:
    assert app.is_running and app.return_code is None, f"the app ended ({where})"
    assert app._exception is None, f"{app._exception!r} ({where})"
    assert not app.running
    with app.lock:
        s = app.session
        assert 0 <= s.pos < s.E, where
        assert s.position == s.step * s.E + s.pos, where
        assert s.history.steps.n == s.step, (where, s.history.steps.n, s.step)
        assert s.history.epochs.n == s.epoch, (where, s.history.epochs.n, s.epoch)
        assert 0 <= s.cursor < s.n_train, where
        if s.nonfinite is None:
            for p in s.net.params():
                assert np.isfinite(p).all(), where
            lr = s.hyperparameters()["lr"]
            assert math.isfinite(lr) and lr > 0, where
        status = str(app.query_one("#status").content)
        _, step, batch, batches = s.shown_counters()  # after an UPDATE: the step just updated
        assert f"| step {step} | batch {batch}/{batches} |" in status, (where, status)


async def mash(app: TrainerApp, pilot: Pilot, seed: int, n_keys: int) -> dict[str, int]:
    rng = random.Random(seed)
    keys = key_stream(rng, n_keys)
    stats = {"keys": 0, "resizes": 0, "checks": 0, "max_step": 0, "runs_seen": 0}
    i = 0
    next_check = CHECK_EVERY
    while i < len(keys):
        burst = keys[i : i + rng.randint(1, 12)]
        for key in burst:
            send_key(app, key)
        i += len(burst)
        stats["keys"] += len(burst)
        await drain(app)
        if app.running:
            stats["runs_seen"] += 1
            if rng.random() < 0.3:
                await pilot.pause(rng.choice([0.01, 0.03, 0.08]))  # let it train a little
        if rng.random() < 0.1:
            if rng.random() < 0.25:
                w, h = rng.randint(30, 59), rng.randint(6, 17)  # too small
            else:
                w, h = rng.randint(60, 200), rng.randint(18, 60)
            await resize(app, w, h)
            stats["resizes"] += 1
        assert app.is_running and app._exception is None, f"the app ended after key {i}"
        stats["max_step"] = max(stats["max_step"], app.session.step)
        if i >= next_check or i >= len(keys):
            next_check += CHECK_EVERY
            await quiesce(app, pilot)
            check_consistent(app, f"after {i} keys")
            await check_charts_draw(app, pilot, f"after {i} keys")
            stats["checks"] += 1
    return stats


@pytest.mark.parametrize(
    ("seed", "epochs"),
    [(1, 20), (2, 100_000)],
    ids=["short-runs", "endless-run"],
)
def test_keymash(seed: int, epochs: int) -> None:
    """1,200 keys per case (2,400 in all): a run ends on its own, or never does."""
    app = TrainerApp(xor_session(epochs=epochs), name="mash", watch_text="everything")
    stats: dict[str, int] = {}
    t0 = time.monotonic()

    async def main() -> None:
        async with app.run_test(size=(100, 32)) as pilot:
            await pilot.pause()
            stats.update(await mash(app, pilot, seed, 1200))
            # Still fully usable afterwards: a single step and a clean quit.
            await quiesce(app, pilot)
            before = app.session.position
            if app.session.nonfinite is None and not app.session.finished:
                await pilot.press("s")
                assert app.session.position == before + 1
            await pilot.press("q")
            await pilot.pause()
            if app.is_running:  # unsaved progress: the app asks first
                await pilot.press("y")
                await pilot.pause()
        assert app.return_code == 0

    asyncio.run(main())
    print(f"keymash seed {seed}: {stats}, {time.monotonic() - t0:.1f} s")
    assert stats["keys"] == 1200 and stats["checks"] >= 4, stats
    assert stats["resizes"] >= 5, stats
    assert stats["max_step"] > 0, stats  # the mashing did train
    if epochs > 1000:
        assert stats["runs_seen"] > 0, stats  # keys arrived while a run was going
    assert time.monotonic() - t0 < 120, stats


# ------------------------------------------------------------------ charts in log scale


def _run_epoch_then(keys: list[str], body: Any, size: tuple[int, int] = (100, 32)) -> None:
    app = TrainerApp(xor_session(), name="chart")

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await pilot.press("e")
            await asyncio.wait_for(app.workers.wait_for_complete(), WORKER_TIMEOUT)
            await pilot.pause()
            await pilot.press(*keys)
            await pilot.pause()
            await body(app, pilot)

    asyncio.run(main())


def _chart_key(app: TrainerApp) -> str:
    """The loss chart's key line (its title also mentions the l key)."""
    return str(app.query_one("#chart-legend").render())


def test_log_scale_loss_chart_draws() -> None:
    """l shows the loss chart in log scale, and it stays drawn through redraws."""

    async def body(app: TrainerApp, pilot: Pilot) -> None:
        assert app.panel == "chart"
        text = screen_text(app)
        assert NOT_DRAWN not in text, text
        assert "log scale" in _chart_key(app), text
        for w, h in ((120, 40), (80, 24), (100, 32)):
            await resize(app, w, h)
            await pilot.pause()
            text = screen_text(app)
            assert NOT_DRAWN not in text, f"{w}x{h}:\n{text}"
            assert "log scale" in _chart_key(app), f"{w}x{h}:\n{text}"
        await pilot.press("question_mark")  # a dialog over the chart, then back
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert NOT_DRAWN not in screen_text(app)
        await pilot.press("l")  # and back to linear
        await pilot.pause()
        text = screen_text(app)
        assert NOT_DRAWN not in text and "log scale" not in _chart_key(app), text

    _run_epoch_then(["l"], body)


def test_log_scale_compare_chart_draws() -> None:
    """The compare tool's chart in log scale (l) draws too, also after a resize."""

    async def body(app: TrainerApp, pilot: Pilot) -> None:
        await pilot.press("enter")  # run the comparison with its default values
        deadline = time.monotonic() + WORKER_TIMEOUT
        while "Done:" not in screen_text(app):
            assert time.monotonic() < deadline, (
                f"the comparison did not finish:\n{screen_text(app)}"
            )
            await pilot.pause(0.05)
        await pilot.pause()
        assert NOT_DRAWN not in screen_text(app)
        await pilot.press("l")
        await pilot.pause()
        text = screen_text(app)
        assert "log scale" in text and NOT_DRAWN not in text, text
        await resize(app, 120, 40)
        await pilot.pause()
        text = screen_text(app)
        assert "log scale" in text and NOT_DRAWN not in text, text

    _run_epoch_then(["X"], body)
