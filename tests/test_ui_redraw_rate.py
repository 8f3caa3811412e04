"""What the app redraws while a run goes, and that a pause draws everything exactly.

Every redraw while running costs the UI thread Python time, which the training
thread pays through the GIL (issue 18: ``bench/ui.py cpu`` measures it). These
tests check the behaviour behind the cost, never a time: the status line and
phase bar repaint without a layout of the whole screen, the views keep their
rates (status every tick, charts at least once a second), and a pause redraws
every shown panel from the session as it is.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from pilot import run_app, xor_session
from tui_trainer.ui import app as app_mod
from tui_trainer.ui.app import TrainerApp
from tui_trainer.ui.widgets.loss_chart import LossChart
from tui_trainer.ui.widgets.phase_bar import PhaseBar
from tui_trainer.ui.widgets.status_line import StatusLine


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)


def test_status_and_phase_updates_need_no_layout() -> None:
    """A new status text repaints its row only: a layout of the whole screen per
    update was 13% of the UI thread's time while running."""
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot) -> None:  # noqa: ANN001
        status, bar = app.query_one(StatusLine), app.query_one(PhaseBar)
        before = (status._layout_updates, bar._layout_updates)
        status.show([("step", "step 12345"), ("batch loss", "batch loss 0.5")])
        bar.show(None, None, 2, False, 0, "running")
        assert (status._layout_updates, bar._layout_updates) == before
        await pilot.pause()
        # ... and the new text is on screen all the same
        assert "step 12345 | batch loss 0.5" in str(status.render())
        assert "RUNNING" in str(bar.render())

    run_app(app, body, size=(120, 40))


def test_running_schedule_keeps_every_view_live(monkeypatch: pytest.MonkeyPatch) -> None:
    """While running: the status line every tick (at least 4 Hz), the charts at
    least once a second, the heatmap/data/network view every second heavy tick."""
    assert app_mod.RUN_TICK <= 0.25
    assert app_mod.RUN_TICK * app_mod.HEAVY_TICKS <= 1.0
    assert app_mod.SLOW_TICKS % app_mod.HEAVY_TICKS == 0
    app = TrainerApp(xor_session(), name="xor")
    calls: list[tuple[str, bool]] = []
    monkeypatch.setattr(app, "refresh_status", lambda: calls.append(("status", False)))
    monkeypatch.setattr(app, "refresh_heavy", lambda slow=True: calls.append(("heavy", slow)))
    app.running = True
    n = 2 * app_mod.SLOW_TICKS
    for _ in range(n):
        app._tick()
    assert calls.count(("status", False)) == n
    heavy = [slow for what, slow in calls if what == "heavy"]
    assert len(heavy) == n // app_mod.HEAVY_TICKS
    assert heavy.count(True) == n // app_mod.SLOW_TICKS
    app.running = False
    calls.clear()
    app._tick()  # nothing while paused: every redraw then follows an action
    assert calls == []


def test_every_panel_is_exact_after_a_pause() -> None:
    """Whatever was skipped while running, the paused screen shows the session
    as it is: status, chart (every step), network table."""
    app = TrainerApp(xor_session(epochs=100_000), name="xor")

    async def body(pilot) -> None:  # noqa: ANN001
        app.action_show_panel("chart")
        await pilot.pause()
        await pilot.press("c")
        deadline = time.monotonic() + 30
        while app.session.step < 1000 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        app.action_pause()
        while app.running and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await pilot.pause()
        await pilot.pause()
        s = app.session
        assert not app.running and s.step >= 1000
        status = str(app.query_one(StatusLine).render())
        assert f"step {s.shown_counters()[1]} " in status + " "
        assert "PAUSED" in str(app.query_one(PhaseBar).render())
        chart = app.query_one(LossChart)
        assert chart._key is not None and chart._key[0] == len(s.history.step_series("loss"))

    run_app(app, body, size=(120, 40))


def test_a_hidden_panel_is_not_redrawn_while_running_and_is_when_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At 120x40 one main panel shows at a time: while running, the views of the
    others are not computed (the decision map costs the UI thread); showing one
    draws it at once."""
    from tui_trainer.ui.widgets.data_view import DataView
    from tui_trainer.ui.widgets.matrix_view import MatrixView

    app = TrainerApp(xor_session(), name="xor")
    drawn: list[str] = []

    async def body(pilot) -> None:  # noqa: ANN001
        data, matrix = app.query_one(DataView), app.query_one(MatrixView)
        monkeypatch.setattr(data, "show", lambda s: drawn.append("data"))
        monkeypatch.setattr(matrix, "show", lambda s, layer: drawn.append("matrix"))
        app.running = True  # as while a run goes (no worker needed for this)
        try:
            app.refresh_heavy(slow=True)
            assert drawn == ["matrix"]  # the matrix panel is the one shown
            drawn.clear()
            app.action_show_panel("data")
            await pilot.pause()
            await pilot.pause()
            assert "data" in drawn and "matrix" not in drawn
        finally:
            app.running = False

    run_app(app, body, size=(120, 40))


def test_the_chart_drawn_while_running_is_the_one_shown_after_the_pause() -> None:
    """While running the loss chart is drawn by the fast braille figure (a tenth of
    plotext's UI time); when the run stops plotext draws it again. The same
    history must give the same picture, line for line, so the chart does not
    jump when the user pauses."""
    from tui_trainer.ui.widgets.safe_plot import SafePlot

    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot) -> None:  # noqa: ANN001
        app.action_show_panel("chart")
        s = app.session
        for _ in range(40):
            s.advance("step")
        await pilot.pause()

        def lines() -> list[str]:
            plot = app.query_one("#chart-plot", SafePlot)
            return [
                "".join(seg.text for seg in plot.render_line(y)) for y in range(plot.size.height)
            ]

        app.running = True  # as while a run goes
        try:
            app.refresh_heavy(slow=False)
            await pilot.pause()
            assert app.query_one("#chart-plot", SafePlot).fast is not None
            running = lines()
        finally:
            app.running = False
        app.refresh_heavy()
        await pilot.pause()
        assert app.query_one("#chart-plot", SafePlot).fast is None  # plotext again
        paused = lines()
        assert sum("┤" in line for line in paused) >= 2  # a real chart, with y ticks
        assert running == paused

    run_app(app, body, size=(120, 40))
