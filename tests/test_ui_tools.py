"""Tests for the tool dialogs: sanity checks, loss landscape, what-if and compare.

Each screen is pushed by a tiny host app (the dialogs need only a session and
the app's lock) and driven headless with Textual's Pilot. Heavy work runs in
thread workers; tests wait for them with a timeout, then check what the user
sees and that the user's session was not touched.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Label

from pilot import WORKER_TIMEOUT, run_app, sine_session, xor_session
from tui_trainer.engine.gradcheck import objective
from tui_trainer.engine.landscape import data_subset, surface
from tui_trainer.engine.session import Session
from tui_trainer.ui.screens.compare import CompareScreen, default_values, parse_values
from tui_trainer.ui.screens.landscape import LandscapeScreen, render_surface
from tui_trainer.ui.screens.sanity import SanityScreen
from tui_trainer.ui.screens.whatif import WhatIfScreen, parse_change


# ------------------------------------------------------------------ helpers
def diverged_session() -> Session:
    """1-D regression with a learning rate far too large: non-finite within 100 steps."""
    s = sine_session(lr=5.0)
    s.run()
    assert s.nonfinite is not None
    return s


class Host(App[None]):
    """Pushes one dialog on mount and records what it dismisses with."""

    def __init__(self, make: Callable[[Host], Screen[Any]]) -> None:
        super().__init__()
        self.make = make
        self.lock = threading.RLock()
        self.results: list[Any] = []
        self.dialog: Screen[Any] | None = None

    def on_mount(self) -> None:
        self.dialog = self.make(self)
        self.push_screen(self.dialog, self.results.append)


def run_host(
    make: Callable[[Host], Screen[Any]],
    body: Callable[[Host, Pilot], Awaitable[None]],
    size: tuple[int, int] = (80, 24),
) -> Host:
    app = Host(make)
    run_app(app, lambda pilot: body(app, pilot), size)
    return app


async def settle(app: App[Any], pilot: Pilot) -> None:
    await asyncio.wait_for(app.workers.wait_for_complete(), WORKER_TIMEOUT)
    await pilot.pause()
    await pilot.pause()


def screen_text(app: App[Any]) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def state_of(s: Session) -> tuple[int, list[np.ndarray], int, int, float]:
    return (
        s.position,
        [p.copy() for p in s.net.params()],
        s.history.steps.n,
        s.history.epochs.n,
        s.hyper.lr,
    )


def assert_same_state(s: Session, before: tuple[int, list[np.ndarray], int, int, float]) -> None:
    pos, params, n_steps, n_epochs, lr = before
    assert s.position == pos
    assert s.history.steps.n == n_steps
    assert s.history.epochs.n == n_epochs
    assert s.hyper.lr == lr
    for a, b in zip(s.net.params(), params, strict=True):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ sanity
def test_sanity_screen_lists_every_check_with_pass_fail_words() -> None:
    s = xor_session()
    s.run(lambda ss: ss.epoch >= 1)
    s.advance("phase")  # mid-step: the checks must not disturb the position
    before = state_of(s)

    async def body(app: Host, pilot: Pilot) -> None:
        await settle(app, pilot)
        dialog = app.dialog
        assert isinstance(dialog, SanityScreen)
        assert len(dialog.results) == 5
        text = screen_text(app)
        for r in dialog.results[:3]:  # the first rows are on screen at 80x24
            assert r.name in text
        words = [w for w in ("PASS", "FAIL", "N/A") if w in text]
        assert words
        first = dialog.results
        await pilot.press("r")
        await settle(app, pilot)
        assert dialog.results is not first
        assert [r.name for r in dialog.results] == [r.name for r in first]
        status = str(app.screen.query_one("#sanity-status", Label).content)
        assert "checks passed" in status
        await pilot.press("escape")
        await pilot.pause()
        assert app.results == [None]

    run_host(lambda app: SanityScreen(s, app.lock), body)
    assert_same_state(s, before)


def test_sanity_screen_every_row_has_a_verdict_word() -> None:
    s = xor_session()

    async def body(app: Host, pilot: Pilot) -> None:
        await settle(app, pilot)
        text = screen_text(app)
        dialog = app.dialog
        assert isinstance(dialog, SanityScreen)
        for r in dialog.results:
            assert r.name in text
            word = "N/A" if not r.applicable else ("PASS" if r.passed else "FAIL")
            line = next(ln for ln in text.splitlines() if r.name in ln)
            assert word in line

    run_host(lambda app: SanityScreen(s, app.lock), body, size=(200, 60))


# ------------------------------------------------------------------ landscape
def test_landscape_center_is_the_current_loss_and_session_untouched() -> None:
    s = xor_session()
    s.run(lambda ss: ss.epoch >= 3)
    s.advance("phase")
    s.advance("phase")
    before = state_of(s)
    x, y = data_subset(s)
    expected = objective(s.net, s.loss, x, y, s.l2)

    async def body(app: Host, pilot: Pilot) -> None:
        await settle(app, pilot)
        dialog = app.dialog
        assert isinstance(dialog, LandscapeScreen)
        land = dialog.landscape
        assert land is not None and land.complete
        assert land.loss.shape == (21, 21)
        assert land.center_loss == pytest.approx(expected, rel=1e-12)
        # the centre of the grid is the current point
        assert land.loss[10, 10] == pytest.approx(expected, rel=1e-9)
        assert dialog.slice is not None
        text = screen_text(app)
        assert "random filter-normalised" in text
        assert "◆" in text
        assert "your step" in text
        assert any(w in text for w in ("overshoots", "undershoots", "about right"))

        await pilot.press("plus")
        await settle(app, pilot)
        assert dialog.landscape is not None and dialog.landscape.loss.shape == (31, 31)
        await pilot.press("minus", "minus")
        await settle(app, pilot)
        assert dialog.landscape.loss.shape == (11, 11)

        await pilot.press("d")
        await settle(app, pilot)
        assert dialog.landscape.directions == "pca"
        assert "PCA of the path" in screen_text(app)

        await pilot.press("right_square_bracket")
        await settle(app, pilot)
        assert dialog.span == 2.0
        await pilot.press("d", "r")
        await settle(app, pilot)
        assert dialog.seed == 1
        assert dialog.landscape.directions == "random"
        assert float(dialog.landscape.alphas[-1]) == pytest.approx(2.0)
        await pilot.press("escape")
        await pilot.pause()
        assert app.results == [None]

    run_host(lambda app: LandscapeScreen(s, app.lock), body)
    assert_same_state(s, before)


def test_landscape_of_a_diverged_run_explains_instead_of_crashing() -> None:
    s = diverged_session()
    before = state_of(s)

    async def body(app: Host, pilot: Pilot) -> None:
        await settle(app, pilot)
        dialog = app.dialog
        assert isinstance(dialog, LandscapeScreen)
        assert dialog.landscape is None
        assert "diverged" in dialog.error
        assert "diverged" in screen_text(app)

    run_host(lambda app: LandscapeScreen(s, app.lock), body)
    assert_same_state(s, before)


@pytest.mark.parametrize("size", [(20, 8), (38, 17), (90, 50)])
def test_render_surface_fits_and_marks_the_current_point(size: tuple[int, int]) -> None:
    s = xor_session()
    s.run(lambda ss: ss.epoch >= 2)
    land = surface(s, 21, directions="pca")
    land.loss[0, 0] = np.nan
    land.loss[1, 1] = np.inf
    w, h = size
    text = render_surface(land, w, h)
    lines = text.plain.split("\n")
    assert len(lines) <= h
    assert all(len(ln) <= w for ln in lines)
    if h >= 17:
        assert "◆" in text.plain
        assert "nan/inf" in text.plain and "!" in text.plain


# ------------------------------------------------------------------ what if
def test_parse_change() -> None:
    assert parse_change("lr=0.3") == ({"lr": 0.3}, "")
    assert parse_change(" batch_size = 32 ") == ({"batch_size": 32}, "")
    assert parse_change("batch_size=full") == ({"batch_size": 0}, "")
    assert parse_change("optimizer=Adam") == ({"optimizer": "adam"}, "")
    assert parse_change("l2=0.01, momentum=0.5") == ({"l2": 0.01, "momentum": 0.5}, "")
    for bad in ("foo=1", "lr=0", "lr=-1", "lr=abc", "lr=nan", "momentum=1", "batch_size=0"):
        change, err = parse_change(bad)
        assert change == {} and err, bad
    assert "did you mean lr" in parse_change("lrr=0.1")[1]
    assert parse_change("epochs=3")[1]
    assert parse_change("lr")[1]
    assert parse_change("lr=0.1", {"lr": 0.1})[1]  # no change at all


def test_whatif_keep_the_changed_future() -> None:
    s = xor_session()
    s.run(lambda ss: ss.epoch >= 2)
    before = state_of(s)

    async def body(app: Host, pilot: Pilot) -> None:
        await pilot.press(*"lr=0.5", "enter")
        await settle(app, pilot)
        dialog = app.dialog
        assert isinstance(dialog, WhatIfScreen)
        assert len(dialog.sessions) == 2
        text = screen_text(app)
        assert "as is" in text and "lr=0.5" in text
        assert "val loss" in text
        await pilot.press("2")
        await pilot.pause()

    app = run_host(lambda app: WhatIfScreen(s, app.lock, epochs=2), body)
    assert len(app.results) == 1
    kept = app.results[0]
    assert isinstance(kept, Session) and kept is not s
    assert kept.hyper.lr == 0.5
    assert kept.position > s.position
    assert kept.epoch == s.epoch + 2
    assert_same_state(s, before)  # the user's session is replaced by the app, not changed


def test_whatif_keep_the_original_future_equals_training_on() -> None:
    s = xor_session()
    s.run(lambda ss: ss.epoch >= 1)
    ref = xor_session()
    ref.run(lambda ss: ss.epoch >= 2)

    async def body(app: Host, pilot: Pilot) -> None:
        await pilot.press(*"momentum=0.5", "enter")
        await settle(app, pilot)
        await pilot.press("1")
        await pilot.pause()

    app = run_host(lambda app: WhatIfScreen(s, app.lock, epochs=1), body)
    kept = app.results[0]
    assert kept.hyper.lr == 0.1 and kept.position == ref.position
    for a, b in zip(kept.net.params(), ref.net.params(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_whatif_escape_leaves_the_session_untouched() -> None:
    s = xor_session()
    s.run(lambda ss: ss.epoch >= 1)
    s.advance("phase")
    before = state_of(s)

    async def body(app: Host, pilot: Pilot) -> None:
        # 1 / 2 do nothing before both futures exist (they type into the field)
        await pilot.press(*"lr=0.3", "enter")
        await settle(app, pilot)
        await pilot.press("escape")
        await pilot.pause()

    app = run_host(lambda app: WhatIfScreen(s, app.lock), body)
    assert app.results == [None]
    assert_same_state(s, before)


def test_whatif_invalid_change_shows_an_error() -> None:
    s = xor_session()
    before = state_of(s)

    async def body(app: Host, pilot: Pilot) -> None:
        await pilot.press(*"foo=1", "enter")
        await pilot.pause()
        err = str(app.screen.query_one("#whatif-error", Label).content)
        assert "unknown hyperparameter 'foo'" in err
        dialog = app.dialog
        assert isinstance(dialog, WhatIfScreen)
        assert not dialog.sessions and not dialog.running
        await pilot.press("2")  # nothing to keep: the key types into the field
        await pilot.pause()
        assert app.results == []
        assert app.screen is dialog

    run_host(lambda app: WhatIfScreen(s, app.lock), body)
    assert_same_state(s, before)


def test_whatif_on_a_diverged_run_says_so() -> None:
    s = diverged_session()

    async def body(app: Host, pilot: Pilot) -> None:
        await pilot.press(*"lr=0.01", "enter")
        await pilot.pause()
        err = str(app.screen.query_one("#whatif-error", Label).content)
        assert "diverged" in err

    run_host(lambda app: WhatIfScreen(s, app.lock), body)


# ------------------------------------------------------------------ compare
def test_parse_values_and_defaults() -> None:
    cfg = xor_session().cfg
    assert default_values(cfg, "lr") == "0.01,0.1,1"
    assert parse_values("lr", "0.01, 0.1 1") == ([0.01, 0.1, 1.0], "")
    assert parse_values("batch_size", "8,full") == ([8, 0], "")
    assert parse_values("optimizer", "sgd,adam") == (["sgd", "adam"], "")
    assert parse_values("lr", "1,2,3,4,5")[1]
    assert parse_values("lr", "")[1]
    assert parse_values("lr", "0.1,-1")[1]
    for p in ("lr", "batch_size", "l2", "momentum", "optimizer"):
        values, err = parse_values(p, default_values(cfg, p, 160))
        assert not err and 1 <= len(values) <= 4


def test_compare_two_values_for_three_epochs() -> None:
    s = xor_session()
    before = state_of(s)

    async def body(app: Host, pilot: Pilot) -> None:
        await pilot.press("enter")
        await settle(app, pilot)
        dialog = app.dialog
        assert isinstance(dialog, CompareScreen)
        assert [r.label for r in dialog.runs] == ["lr=0.05", "lr=0.5"]
        assert all(r.session.epoch == 3 for r in dialog.runs)
        assert "lr=0.05" in dialog.table and "lr=0.5" in dialog.table
        text = screen_text(app)
        assert "lr=0.05" in text and "lr=0.5" in text and "val_loss" in text
        await pilot.press("l")
        await pilot.pause()
        assert dialog.log_scale
        await pilot.press("escape")
        await pilot.pause()
        assert app.results == [None]

    run_host(lambda app: CompareScreen(s.cfg, s.data, values=[0.05, 0.5], epochs=3), body)
    assert_same_state(s, before)


def test_compare_marks_diverged_runs() -> None:
    s = diverged_session()

    async def body(app: Host, pilot: Pilot) -> None:
        await pilot.press("enter")
        await settle(app, pilot)
        dialog = app.dialog
        assert isinstance(dialog, CompareScreen)
        assert "diverged" in dialog.table
        assert "diverged" in screen_text(app)

    run_host(lambda app: CompareScreen(s.cfg, s.data, values="0.01,50", epochs=5), body)


def test_compare_select_changes_the_default_values() -> None:
    s = xor_session()

    async def body(app: Host, pilot: Pilot) -> None:
        dialog = app.dialog
        assert isinstance(dialog, CompareScreen)
        from textual.widgets import Input, Select

        dialog.query_one("#cmp-param", Select).value = "optimizer"
        await pilot.pause()
        assert dialog.query_one("#cmp-values", Input).value == "sgd,momentum,adam"
        await pilot.press("enter")
        await settle(app, pilot)
        assert [r.label for r in dialog.runs] == [
            "optimizer=sgd",
            "optimizer=momentum",
            "optimizer=adam",
        ]

    run_host(lambda app: CompareScreen(s.cfg, s.data, epochs=2), body)


# ------------------------------------------------------------------ sizes
@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
def test_every_dialog_draws_at_small_and_large_sizes(size: tuple[int, int]) -> None:
    s = xor_session()
    s.run(lambda ss: ss.epoch >= 2)
    before = state_of(s)

    async def sanity(app: Host, pilot: Pilot) -> None:
        await settle(app, pilot)
        await pilot.press("down", "down", "r")
        await settle(app, pilot)

    async def landscape(app: Host, pilot: Pilot) -> None:
        await settle(app, pilot)
        if size[0] >= 200:
            await pilot.press("plus", "plus", "plus")
            await settle(app, pilot)
            assert app.dialog.landscape.loss.shape == (51, 51)  # type: ignore[union-attr]
        await pilot.press("left_square_bracket", "d")
        await settle(app, pilot)

    async def whatif(app: Host, pilot: Pilot) -> None:
        await pilot.press(*"batch_size=full", "enter")
        await settle(app, pilot)
        await pilot.press("escape")

    async def compare(app: Host, pilot: Pilot) -> None:
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("l")

    run_host(lambda app: SanityScreen(s, app.lock), sanity, size)
    run_host(lambda app: LandscapeScreen(s, app.lock), landscape, size)
    run_host(lambda app: WhatIfScreen(s, app.lock, epochs=2), whatif, size)
    run_host(lambda app: CompareScreen(s.cfg, s.data, epochs=2), compare, size)
    assert_same_state(s, before)


def test_escape_while_working_cancels_and_closes() -> None:
    s = xor_session()
    s.run(lambda ss: ss.epoch >= 1)
    before = state_of(s)

    async def landscape(app: Host, pilot: Pilot) -> None:
        await settle(app, pilot)
        dialog = app.dialog
        assert isinstance(dialog, LandscapeScreen)
        dialog.res_index = 3
        dialog.start()
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.results == [None]

    async def compare(app: Host, pilot: Pilot) -> None:
        dialog = app.dialog
        assert isinstance(dialog, CompareScreen)
        dialog.start([0.01, 0.1, 1.0], 200)
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.results == [None]
        assert dialog.runs and max(r.session.epoch for r in dialog.runs) < 200

    run_host(lambda app: LandscapeScreen(s, app.lock), landscape)
    run_host(lambda app: CompareScreen(s.cfg, s.data), compare)
    assert_same_state(s, before)
