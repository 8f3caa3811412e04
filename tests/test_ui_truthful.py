"""Issue 12, "screens that never mislead": each screen says what is true, as a
person would read it (Pilot, headless; the widgets' rendered text).

Every test here failed before its fix: ``i`` on non-image data did nothing,
``s`` into layer 2 left layer 1 selected, the activations header said
(in×out), the status line showed the next batch after an UPDATE, ``R``
discarded a finished run without asking, the resume offer said "epoch 101" of
100, the gradient check printed a bare "0", and a 2x4 matrix took a 30-row
panel at 120x40 while the loss chart was hidden.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.geometry import Region
from textual.pilot import Pilot

from pilot import WORKER_TIMEOUT, run_app, tanh_session, wait_until, xor_session
from tui_trainer.engine import data
from tui_trainer.engine.checkpoint import save_checkpoint
from tui_trainer.engine.config import LayerSpec
from tui_trainer.engine.sanity import check_gradients
from tui_trainer.ui.app import TrainerApp
from tui_trainer.ui.screens.confirm import ConfirmScreen
from tui_trainer.ui.screens.sanity import SanityScreen
from tui_trainer.ui.widgets.loss_chart import LossChart
from tui_trainer.ui.widgets.matrix_view import MatrixView
from tui_trainer.ui.widgets.network_view import NetworkView


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user keymap may change the bindings under test."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)


def status(app: TrainerApp) -> str:
    return str(app.query_one("#status").content)


def notifications(app: TrainerApp) -> list[str]:
    return [n.message for n in app._notifications]


def rows_of(widget: Any) -> list[str]:
    """The rows of ``widget`` as rendered on screen, as text."""
    w, h = widget.size
    return [strip.text for strip in widget.render_lines(Region(0, 0, w, h))]


# ------------------------------------------------------------------ a. i says why


def test_images_key_on_non_image_data_says_why() -> None:
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("i")
        await pilot.pause()
        said = "\n".join(notifications(app))
        assert "need image data such as digits" in said
        assert "this scenario has 2 features" in said
        assert app.query_one(MatrixView).images is False
        assert "as images" not in str(app.query_one(MatrixView).content)

    run_app(app, body)


def test_images_key_on_image_data_says_nothing_and_draws_images() -> None:
    d = data.split(data.load_builtin("digits", standardize=True), 0.2, 0)
    app = TrainerApp(tanh_session(d, 6, 10, batch_size=32, epochs=2), name="digits")

    async def body(pilot: Pilot) -> None:
        await pilot.press("i")
        await pilot.pause()
        assert not any("image data" in m for m in notifications(app))
        assert "as images" in str(app.query_one(MatrixView).content)

    run_app(app, body, size=(120, 40))


# ------------------------------------------------- b. the layer cursor follows s


def test_layer_cursor_follows_step_into_and_back() -> None:
    s = xor_session(layers=(LayerSpec(4, "tanh"), LayerSpec(3, "tanh"), LayerSpec(2, "linear")))
    app = TrainerApp(s, name="xor")

    def marked(app: TrainerApp) -> list[str]:
        """The network panel's rows that carry the selection mark."""
        text = str(app.query_one(NetworkView).content)
        return [ln.strip() for ln in text.splitlines() if ln.lstrip().startswith("> L")]

    async def body(pilot: Pilot) -> None:
        await pilot.press("s", "s")  # into layer 2 of the forward pass
        await pilot.pause()
        assert "phase FORWARD L2" in status(app)
        assert app.selected_layer == 1
        assert marked(app) and marked(app)[0].startswith("> L2 ")
        assert str(app.query_one(MatrixView).border_title).startswith("L2 ")
        assert "L2 W 4x3" in str(app.query_one(MatrixView).content)
        await pilot.press("s")
        await pilot.pause()
        assert app.selected_layer == 2 and marked(app)[0].startswith("> L3 ")
        await pilot.press("s")  # LOSS: no layer, the selection stays
        assert app.selected_layer == 2
        await pilot.press("S", "S")  # back to forward L2
        await pilot.pause()
        assert "phase FORWARD L2" in status(app)
        assert app.selected_layer == 1 and marked(app)[0].startswith("> L2 ")
        await pilot.press("up")  # the user still chooses freely
        await pilot.pause()
        assert app.selected_layer == 0 and marked(app)[0].startswith("> L1 ")
        assert str(app.query_one(MatrixView).border_title).startswith("L1 ")

    run_app(app, body)


# ------------------------------------------------ c. headers name their own shape


def test_matrix_headers_name_their_own_axes() -> None:
    app = TrainerApp(xor_session(), name="xor")
    expected = {
        "weights": ("L1 W 2x4 (in×out)", "batch"),
        "gradients": ("L1 dL/dW 2x4 (in×out)", "batch"),
        "update": ("L1 update ΔW 2x4 (in×out)", "batch"),
        "activations": ("L1 a 10x4 (batch×units)", "in×out"),
        "pre-activations": ("L1 z 10x4 (batch×units)", "in×out"),
    }

    async def body(pilot: Pilot) -> None:
        await pilot.press("n", "n", "n", "n")  # a whole step: every matrix exists
        mv = app.query_one(MatrixView)
        seen = set()
        for _ in expected:
            await pilot.pause()
            header = str(mv.content).splitlines()[0]
            right, wrong = expected[mv.mode]
            assert header.startswith(right), header
            assert wrong not in header, header
            seen.add(mv.mode)
            await pilot.press("v")
        assert seen == set(expected)

    run_app(app, body)


# ----------------------------------------------- e. the status after an UPDATE


def test_status_after_update_describes_the_step_just_updated() -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("n", "n", "n")
        assert "step 0 | batch 1/16 | phase BACKPROP" in status(app)
        await pilot.press("n")
        assert "[UPDATE]" in str(app.query_one("#phase-bar").content)
        assert "epoch 1/20 | step 0 | batch 1/16 | phase UPDATE" in status(app)
        await pilot.press("n")  # the next step's FORWARD moves the counters on
        assert "epoch 1/20 | step 1 | batch 2/16 | phase FORWARD" in status(app)
        await pilot.press("f")
        assert "step 1 | batch 2/16 | phase UPDATE" in status(app)
        await pilot.press("e")  # the last update of the epoch is its 16th batch
        await wait_until(pilot, lambda: not app.running, WORKER_TIMEOUT)
        await pilot.pause()
        assert (s.epoch, s.step) == (1, 16)
        assert "epoch 1/20 | step 15 | batch 16/16 | phase UPDATE" in status(app)
        await pilot.press("n")
        assert "epoch 2/20 | step 16 | batch 1/16 | phase FORWARD" in status(app)
        await pilot.press("F")  # back to the boundary after step 15's update
        assert "epoch 1/20 | step 15 | batch 16/16 | phase UPDATE" in status(app)

    run_app(app, body)


# ------------------------------------------------------- f. R asks before losing work


def test_restart_asks_when_progress_is_unsaved(tmp_path: Path) -> None:
    s = xor_session(epochs=3)
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("c")  # a finished run
        await wait_until(pilot, lambda: not app.running, WORKER_TIMEOUT)
        await pilot.pause()
        assert s.finished
        done = s.position
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "Restart" in app.screen.question and "not been saved" in app.screen.question
        assert "48 steps" in app.screen.question
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert s.position == done  # nothing lost
        await pilot.press("R", "y")
        await pilot.pause()
        assert s.position == 0 and s.last_event is None
        await pilot.press("n")  # mid-way through step 0: nothing to lose, no question
        await pilot.press("R")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen) and s.position == 0
        # saved progress: restart without asking
        await pilot.press("f", "f")
        save_checkpoint(s, tmp_path / "c.npz", "")
        app.saved_position = s.position
        await pilot.press("R")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen) and s.position == 0

    run_app(app, body)


# ------------------------------------------- g. the resume offer counts epochs 1-based


@pytest.mark.parametrize(
    ("epochs_run", "words"), [(100, "epoch 100 of 100, finished"), (7, "epoch 8 of 100")]
)
def test_resume_offer_names_the_epoch_correctly(
    tmp_path: Path, epochs_run: int, words: str
) -> None:
    done = xor_session(epochs=100)
    done.run_to_epoch(epochs_run)
    # Another instance's file (the shared name of older versions): it is offered.
    path = tmp_path / "xor-0123456789ab.npz"
    save_checkpoint(done, path, "")
    own = tmp_path / "xor-0123456789ab-1-abcdef.npz"
    app = TrainerApp(xor_session(epochs=100), name="xor", recovery_file=own)

    async def body(pilot: Pilot) -> None:
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        q = app.screen.question
        assert words in q, q
        assert "epoch 101" not in q
        assert f"step {epochs_run * 16}," in q

    run_app(app, body)


# -------------------------------------------- h. the gradient check's digits


def test_gradient_check_dialog_prints_significant_digits() -> None:
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("g")
        await wait_until(pilot, lambda: isinstance(app.screen, SanityScreen))
        screen = app.screen
        await wait_until(pilot, lambda: not screen.running, WORKER_TIMEOUT)
        await pilot.pause()
        console = Console(width=160, record=True, file=io.StringIO())
        console.print(screen.query_one("#sanity-results").content)
        text = console.export_text()
        m = re.search(r"max relative error (\S+)", text)
        assert m is not None, text
        assert re.fullmatch(r"\d(\.\d+)?e-\d+", m.group(1)), m.group(1)
        # no bare "0" as an error anywhere: a zero is only ever "0 (exact)"
        assert not re.search(r": 0 (good|ok)", text), text
        assert not re.search(r"error 0\b(?! \(exact\))", text), text

    run_app(app, body)


def test_gradient_check_exact_zero_is_called_exact() -> None:
    s = xor_session()
    r = check_gradients(s)
    assert "error 0 " not in r.summary
    # entries that agree within the differences' accuracy are counted, not called 0
    assert any("agree within 1e-10" in d for d in r.details), r.details
    assert not any(re.search(r": 0 ", d) for d in r.details), r.details
    from tui_trainer.engine.sanity import _fmt_rel

    assert _fmt_rel(0.0) == "0 (exact)"
    assert _fmt_rel(3.2e-10) == "3.2e-10"


# ----------------------------------------- i. panels sized to their content (120x40)


def _content_lines(widget: MatrixView) -> int:
    return str(widget.content).count("\n") + 1


def test_small_matrix_leaves_its_rows_to_the_loss_chart_120x40() -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("f", "f")
        await pilot.pause()
        await pilot.pause()
        mv, chart, main = (
            app.query_one(MatrixView),
            app.query_one(LossChart),
            app.query_one("#main"),
        )
        assert app.panel == "matrix"
        # the 2x4 matrix's panel is as tall as what it shows (header, 2 rows, legend)
        assert mv.size.height == _content_lines(mv) <= 6, (mv.size.height, _content_lines(mv))
        assert "1 -0." in str(mv.content) or "1 +0." in str(mv.content)  # both rows shown
        # ... and the loss chart gets the rest of the main area, drawn
        assert chart.display and chart.region.height > 0
        assert mv.outer_size.height + chart.outer_size.height == main.size.height
        assert chart.outer_size.height >= 20
        plot = "\n".join(rows_of(app.query_one("#chart-plot")))
        assert "step" in plot
        # layer 2 (4x2): the panel follows the content
        await pilot.press("down")
        await pilot.pause()
        await pilot.pause()
        assert str(mv.content).startswith("L2 W 4x2")
        assert mv.size.height == _content_lines(mv) <= 8
        assert mv.outer_size.height + chart.outer_size.height == main.size.height
        # the chart panel on its own, and back
        await pilot.press("2")
        await pilot.pause()
        assert not mv.display and chart.outer_size.height == main.size.height
        await pilot.press("1")
        await pilot.pause()
        await pilot.pause()
        assert mv.display and chart.display and mv.size.height == _content_lines(mv)

    run_app(app, body, size=(120, 40))


def test_matrix_keeps_the_panel_where_the_chart_would_not_fit_80x24() -> None:
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("f")
        await pilot.pause()
        await pilot.pause()
        mv, chart, main = (
            app.query_one(MatrixView),
            app.query_one(LossChart),
            app.query_one("#main"),
        )
        assert not chart.display
        assert mv.outer_size.height == main.size.height
        # a terminal grown to 120x40 gives the chart its rows, and back
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        await pilot.pause()
        assert chart.display and mv.size.height == _content_lines(mv)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.pause()
        assert not chart.display and mv.outer_size.height == main.size.height

    run_app(app, body)


def test_big_matrix_keeps_the_whole_panel_120x40() -> None:
    d = data.split(data.load_builtin("digits", standardize=True), 0.2, 0)
    app = TrainerApp(tanh_session(d, 6, 10, batch_size=32, epochs=2), name="digits")

    async def body(pilot: Pilot) -> None:
        await pilot.press("f")
        await pilot.pause()
        await pilot.pause()
        mv, chart, main = (
            app.query_one(MatrixView),
            app.query_one(LossChart),
            app.query_one("#main"),
        )
        assert not chart.display  # 64x6 needs every row it can get
        assert mv.outer_size.height == main.size.height

    run_app(app, body, size=(120, 40))


def test_shown_counters_follow_the_step_on_screen() -> None:
    """The engine's side of item e: (epoch, step, batch, batches) of the step shown."""
    s = xor_session()
    assert s.shown_counters() == (0, 0, 1, 16)  # nothing ran: the first step comes next
    s.advance("phase", 4)  # FORWARD .. UPDATE of step 0
    assert (s.step, s.pos) == (1, 0)
    assert s.shown_counters() == (0, 0, 1, 16)
    s.advance("layer")  # step 1's FORWARD, layer 1
    assert s.shown_counters() == (0, 1, 2, 16)
    s.advance("epoch")  # to the end of epoch 1: its 16th batch was the last update
    assert (s.epoch, s.step, s.pos) == (1, 16, 0)
    assert s.shown_counters() == (0, 15, 16, 16)
    s.goto(3 * s.E)  # a rewind lands after step 2's update, replayed
    assert s.shown_counters() == (0, 2, 3, 16)
