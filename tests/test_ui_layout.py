"""What a person sees at 80x24, 120x40 and 200x60: nothing covered, cut or ragged.

Each test reads the rendered rows of a widget (or the screen regions) rather
than the app's state, so a chart legend drawn over the curve, a dialog field
below the screen's edge or a panel border pushed off the bottom fails them.
"""

from __future__ import annotations

import re
from typing import Any

from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import Input

from pilot import WORKER_TIMEOUT, run_app, tanh_session, wait_until, xor_session
from tui_trainer.engine import data
from tui_trainer.ui.app import TrainerApp
from tui_trainer.ui.screens.help import HelpScreen
from tui_trainer.ui.screens.hyper import HyperScreen
from tui_trainer.ui.screens.open_scenario import OpenScenarioScreen
from tui_trainer.ui.widgets.loss_chart import LossChart


def rows_of(widget: Any) -> list[str]:
    """The rows of ``widget`` as rendered on screen, as text."""
    w, h = widget.size
    return [strip.text for strip in widget.render_lines(Region(0, 0, w, h))]


async def run_to_end(pilot: Pilot, app: TrainerApp) -> None:
    await pilot.press("c")
    await wait_until(pilot, lambda: not app.running, WORKER_TIMEOUT)
    await pilot.pause()


Y_TICK = re.compile(r"^\s*(-?[0-9.e+-]+)\s*┤")


def test_loss_legend_is_outside_the_plot_and_ticks_are_even_80x24() -> None:
    """xor after c, 2: no series name inside the plot area (where it covered the
    ln 2 plateau), whole-number step ticks, evenly spaced y ticks."""
    app = TrainerApp(xor_session(epochs=30), name="xor")

    async def body(pilot: Pilot) -> None:
        await run_to_end(pilot, app)
        await pilot.press("2")
        await pilot.pause()
        plot_rows = rows_of(app.query_one("#chart-plot"))
        inside = "\n".join(plot_rows)
        for name in ("batch", "train", "validation", "val", "epoch"):
            assert name not in inside, f"'{name}' drawn inside the plot"
        legend = app.query_one(LossChart).legend.plain
        assert "batch" in legend and "epoch" in legend and "val" in legend
        assert legend in "\n".join(rows_of(app.query_one("#chart-legend")))
        # x ticks: the row just above the "step" label holds whole numbers only.
        label_row = next(i for i, r in enumerate(plot_rows) if r.strip() == "step")
        xticks = plot_rows[label_row - 1].split()
        assert len(xticks) >= 2 and all(t.isdigit() for t in xticks), xticks
        # y ticks: evenly spaced values.
        ys = [float(m.group(1)) for r in plot_rows if (m := Y_TICK.match(r))]
        assert len(ys) >= 3, plot_rows
        gaps = {round(a - b, 9) for a, b in zip(ys, ys[1:], strict=False)}
        assert len(gaps) == 1, ys

    run_app(app, body, size=(80, 24))


def three_class_session() -> Any:
    d = data.split(data.generate("gauss", 300, 1.0, 0, classes=3), 0.2, 0)
    return tanh_session(d, 8, 3, epochs=3)


def test_wide_panels_keep_their_bottom_borders_and_the_data_legend_200x60() -> None:
    for session in (three_class_session(), xor_session(epochs=3)):
        app = TrainerApp(session, name="wide")

        async def body(pilot: Pilot, app: TrainerApp = app) -> None:
            await run_to_end(pilot, app)
            main = app.query_one("#main").region
            explain = app.query_one("#explain").region
            assert main.bottom <= explain.y, "the panel grid runs under the explain panel"
            for p in ("matrix", "chart", "data", "debug"):
                region = app.query_one(f"#{p}").region
                assert region.bottom <= main.bottom, f"{p}: bottom border off the grid"
            data_rows = rows_of(app.query_one("#data-text"))
            assert any("shade = confidence" in r for r in data_rows)
            shown = app.query_one("#data-text").region
            assert shown.bottom <= app.query_one("#data").region.bottom - 1

        run_app(app, body, size=(200, 60))


def test_hyper_dialog_fits_80x24() -> None:
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("h")
        await pilot.pause()
        assert isinstance(app.screen, HyperScreen)
        text = " ".join(" ".join(rows_of(w)) for w in app.screen.query("Label"))
        assert "Esc cancels" in " ".join(text.split())
        box = app.screen.query_one("#hyper-box").content_region
        for field in app.screen.query(Input):
            r = field.region
            assert r.height >= 1 and box.y <= r.y and r.bottom <= box.bottom, field.id
        assert app.screen.query_one("#epochs", Input).region.bottom <= 24

    run_app(app, body, size=(80, 24))


def test_open_dialog_fits_80x24() -> None:
    app = TrainerApp(xor_session(), name="xor", loader=lambda c: None, builtins=[("xor", "x")])

    async def body(pilot: Pilot) -> None:
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, OpenScenarioScreen)
        title = " ".join(" ".join(rows_of(app.screen.query("Label").first())).split())
        assert title.endswith("or type a path"), title
        box = app.screen.query_one("#open-box").content_region
        path = app.screen.query_one("#open-path", Input).region
        assert path.height >= 1 and path.bottom <= box.bottom

    run_app(app, body, size=(80, 24))


def test_help_paragraphs_are_wrapped_once_80x24() -> None:
    """A short line followed by a line continuing its sentence is a pre-wrapped
    line wrapped again: ragged prose."""
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        glossary = app.screen.query_one("#glossary")
        rows = [r.rstrip() for r in rows_of(glossary)]
        width = glossary.size.width
        assert any("memorising" in r for r in rows)
        for a, b in zip(rows, rows[1:], strict=False):
            if a.strip() and len(a) < 0.6 * width:
                assert not b.strip()[:1].islower(), f"ragged: {a!r} / {b!r}"

    run_app(app, body, size=(80, 24))


def test_batch_loss_keeps_its_spread_when_thinned() -> None:
    """The per-step batch loss is thinned to the lows and highs of each bucket, so
    its noise stays visible around the epoch line instead of tracing the mean."""
    import numpy as np

    from tui_trainer.ui.widgets.loss_chart import downsample, envelope

    rng = np.random.default_rng(0)
    x = np.arange(1, 1601)
    y = np.exp(-x / 600) + 0.2 * rng.random(1600)
    xs, ys = envelope(x, y, 100)
    assert len(ys) <= 100 and np.all(np.diff(xs) >= 0)
    assert ys.max() == y.max() and ys.min() == y.min()
    # The bucket means a plain downsample gives lose most of the spread.
    _, means = downsample(x, y, 100)
    assert np.ptp(means) < 0.9 * np.ptp(ys)


def test_a_resize_queued_during_shutdown_is_ignored() -> None:
    """The main area's resize message can arrive while the app tears its widgets
    down (seen in CI as NoMatches at the end of a test): it must not raise."""
    from tui_trainer.ui.widgets.main_area import MainArea
    from tui_trainer.ui.widgets.matrix_view import MatrixView

    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        await app.main_screen.query_one(MatrixView).remove()  # as during teardown
        app.on_main_area_resized(MainArea.Resized())  # no exception

    run_app(app, body, size=(120, 40))


def test_a_panel_shown_as_a_run_stops_is_drawn_at_its_size_80x24() -> None:
    """A lesson step whose until fires during a run shows the data panel as the
    run stops: the panel is drawn in the frame that makes it visible, at size
    0. Once laid out it must be drawn again at its real size (it was left as a
    12x3 map in a 42x13 panel until the next key)."""
    from textual.widgets import Static

    from tui_trainer.lessons import Lesson
    from tui_trainer.scenario import parse_scenario
    from tui_trainer.ui.widgets.data_view import DataView

    sc = parse_scenario(
        'seed = 1\n[data]\nkind = "xor"\nn_samples = 40\n[training]\nepochs = 50\n'
        '[[lesson]]\nsay = "Run."\nuntil = "epoch >= 3"\nshow = "chart"\n'
        '[[lesson]]\nsay = "The regions."\nshow = "data"\n'
        '[[lesson]]\nsay = "The end."\n',
        "tiny.toml",
    )
    data = sc.load_data()
    from tui_trainer.engine.session import Session

    app = TrainerApp(Session(sc.train_config(data), data), lesson=Lesson(sc.name, sc.lesson, 1))

    async def body(pilot: Pilot) -> None:
        await pilot.pause()
        await pilot.press("c")
        await wait_until(pilot, lambda: not app.running, timeout=WORKER_TIMEOUT)
        assert app.lesson_driver is not None and app.lesson_driver.lesson.index == 1
        await pilot.pause()
        await pilot.pause()
        dv = app.query_one(DataView)
        assert app.panel == "data" and dv.size.width > 20
        lines = str(dv.query_one("#data-text", Static).render()).splitlines()
        assert max(len(line) for line in lines) == dv.size.width
        assert len(lines) >= dv.size.height - 2

    run_app(app, body)
