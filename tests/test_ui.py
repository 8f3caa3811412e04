"""Tests for the Textual app, driven by Textual's Pilot (headless).

Every key binding is pressed and the state change it must cause is checked on
the engine session (position, phase, step, hyperparameters) and on what the
user sees (status line, phase bar, explain panel, dialogs). Long runs happen
in a thread worker; tests wait for it with a timeout rather than sleeping.
"""

from __future__ import annotations

import asyncio
import html
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from textual import events
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import DirectoryTree, Input, Label, OptionList

from pilot import (
    WORKER_TIMEOUT,
    drain,
    run_app,
    send_key,
    sine_session,
    tanh_session,
    wait_until,
    xor_session,
)
from terminal import xor_scenario
from tui_trainer.engine import data
from tui_trainer.engine.breakpoints import BreakpointSet
from tui_trainer.engine.checkpoint import load_checkpoint, read_checkpoint
from tui_trainer.engine.config import LayerSpec, TrainConfig
from tui_trainer.engine.session import Session
from tui_trainer.ui.app import TrainerApp
from tui_trainer.ui.screens.breakpoints import BreakpointsScreen
from tui_trainer.ui.screens.compare import CompareScreen
from tui_trainer.ui.screens.confirm import ConfirmScreen
from tui_trainer.ui.screens.help import HelpScreen
from tui_trainer.ui.screens.hyper import HyperScreen
from tui_trainer.ui.screens.landscape import LandscapeScreen
from tui_trainer.ui.screens.open_scenario import OpenScenarioScreen
from tui_trainer.ui.screens.prompt import PromptScreen
from tui_trainer.ui.screens.sanity import SanityScreen
from tui_trainer.ui.screens.whatif import WhatIfScreen
from tui_trainer.ui.widgets.key_bar import KeyBar
from tui_trainer.ui.widgets.loss_chart import LossChart
from tui_trainer.ui.widgets.matrix_view import MODES, MatrixView
from tui_trainer.ui.widgets.network_view import NetworkView
from tui_trainer.ui.widgets.status_line import PRIORITY, status_fields

# ------------------------------------------------------------------ fixtures


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user keymap (~/.config/tui-trainer/keys.toml) may change the bindings under test."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)


async def settle(app: TrainerApp, pilot: Pilot) -> None:
    """Wait (bounded) for the training worker to stop, then for the UI to catch up."""
    await asyncio.wait_for(app.workers.wait_for_complete(), WORKER_TIMEOUT)
    await wait_until(pilot, lambda: not app.running)  # RunFinished handled
    await pilot.pause()


async def press_now(app: TrainerApp, key: str) -> None:
    """Deliver a key as the terminal driver does, without waiting afterwards.

    ``Pilot.press`` waits until the process looks idle (up to a second, twice per
    key); while the training thread runs it never does, so every key would cost two
    seconds. Tests that press keys during a run use this and poll for the effect.
    """
    char = " " if key == "space" else (key if len(key) == 1 else None)
    app.post_message(events.Key(key, char))


async def type_text(pilot: Pilot, text: str) -> None:
    await pilot.press(*text)


async def clear_input(pilot: Pilot) -> None:
    await pilot.press("end", "ctrl+u")


def status(app: TrainerApp) -> str:
    return str(app.query_one("#status").content)


def phase_bar(app: TrainerApp) -> str:
    return str(app.query_one("#phase-bar").content)


def explain_text(app: TrainerApp) -> str:
    return str(app.query_one("#explain").content)


def weights(s: Session) -> list[np.ndarray]:
    return [p.copy() for p in s.net.params()]


def notifications(app: TrainerApp) -> list[str]:
    return [n.message for n in app._notifications]


# ------------------------------------------------------------- stepping keys


def test_initial_screen() -> None:
    app = TrainerApp(xor_session(), name="xor", watch_text="the loss")

    async def body(pilot: Pilot) -> None:
        st = status(app)
        assert st.startswith("xor | epoch 1/20 | step 0 | batch 1/16 | phase start")
        assert "PAUSED" in phase_bar(app)
        assert "[" not in phase_bar(app)  # no phase lit before anything ran
        assert "Ready. Nothing has run yet." in explain_text(app)
        assert "What to watch: the loss" in explain_text(app)
        assert isinstance(app.focused, NetworkView)
        assert app.panel == "matrix"

    run_app(app, body)


@pytest.mark.parametrize("key", ["n", "right"])
def test_next_phase_walks_the_four_phases(key: str) -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor")
    phases = ["FORWARD", "LOSS", "BACKPROP", "UPDATE"]

    async def body(pilot: Pilot) -> None:
        for k, label in enumerate(phases):
            await pilot.press(key)
            assert s.last_event is not None
            assert s.last_event.phase.value == k
            assert s.last_event.phase.label == label
            assert f"phase {label}" in status(app)
            assert f"[{label}]" in phase_bar(app)
        # UPDATE completes the step; the status still describes that step
        assert (s.step, s.pos) == (1, 0)
        assert "step 0 | batch 1/16 | phase UPDATE" in status(app)
        await pilot.press(key)
        assert s.last_event.phase.label == "FORWARD" and s.step == 1
        assert "step 1 | batch 2/16 | phase FORWARD" in status(app)

    run_app(app, body)


def test_next_phase_status_details() -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("n")
        # the forward pass of a 2-layer net ends at the last layer
        assert "phase FORWARD L2" in status(app)
        assert "layer 2/2 ->" in phase_bar(app)
        assert "FORWARD PASS, layer 2" in explain_text(app)
        assert "loss -" in status(app)
        await pilot.press("n")
        assert "phase LOSS |" in status(app)
        loss = s.rec.loss
        assert np.isfinite(loss)
        assert f"loss {loss:.4g}" in status(app)
        await pilot.press("n")
        assert "phase BACKPROP L1" in status(app)
        assert "layer 1/2 <-" in phase_bar(app)

    run_app(app, body)


def test_step_layer() -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("s")
        assert (s.pos, s.last_event.layer) == (1, 0)
        assert "phase FORWARD L1" in status(app)
        assert "layer 1/2 ->" in phase_bar(app)
        await pilot.press("s")
        assert (s.pos, s.last_event.layer) == (2, 1)
        assert "phase FORWARD L2" in status(app)
        await pilot.press("s")
        assert s.pos == 3 and s.last_event.phase.label == "LOSS"
        await pilot.press("s")  # backprop starts at the last layer
        assert s.pos == 4 and s.last_event.phase.label == "BACKPROP"
        assert s.last_event.layer == 1
        assert "phase BACKPROP L2" in status(app)
        assert "layer 2/2 <-" in phase_bar(app)
        await pilot.press("s", "s")
        assert (s.step, s.pos) == (1, 0) and s.last_event.phase.label == "UPDATE"

    run_app(app, body)


def test_finish_step() -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("n")  # mid-step: f finishes this step
        await pilot.press("f")
        assert (s.step, s.pos) == (1, 0)
        assert "step 0 | batch 1/16 | phase UPDATE" in status(app)
        await pilot.press("f")
        assert (s.step, s.pos) == (2, 0)
        assert "step 1 | batch 2/16 | phase UPDATE" in status(app)
        assert len(s.history.step_series("loss")) == 2

    run_app(app, body)


def test_finish_epoch_runs_in_a_worker() -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("n")
        await pilot.press("e")
        await settle(app, pilot)
        assert not app.running
        assert (s.epoch, s.step, s.pos) == (1, 16, 0)
        assert "epoch 1/20 | step 15 | batch 16/16 | phase UPDATE" in status(app)
        assert "PAUSED" in phase_bar(app)
        assert "val " in status(app) and "val -" not in status(app)
        await pilot.press("e")
        await settle(app, pilot)
        assert (s.epoch, s.step) == (2, 32)

    run_app(app, body)


def test_continue_stops_at_breakpoint() -> None:
    s = xor_session()
    bps = BreakpointSet()
    bps.add("epoch >= 2")
    app = TrainerApp(s, name="xor", breakpoints=bps)

    async def body(pilot: Pilot) -> None:
        await pilot.press("c")
        await settle(app, pilot)
        assert not app.running
        assert s.epoch == 2 and s.step == 32 and s.pos == 0
        assert app._state_label() == "at breakpoint"
        assert "AT BREAKPOINT" in phase_bar(app)
        assert "BREAKPOINT 'epoch >= 2' hit" in explain_text(app)
        assert bps.items[0].hits == 1
        # stepping clears the breakpoint state
        await pilot.press("n")
        assert app._state_label() == "paused"
        assert "BREAKPOINT" not in explain_text(app)

    run_app(app, body)


def test_continue_runs_to_the_end() -> None:
    s = xor_session(epochs=2)
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("c")
        await settle(app, pilot)
        assert s.finished and s.epoch == 2 and s.step == 32
        assert "FINISHED" in phase_bar(app)
        assert "epoch 2/2" in status(app)
        # c and n at the end explain instead of doing nothing silently
        await pilot.press("c")
        await pilot.pause()
        assert not app.running
        assert "Training finished (2 epochs)" in explain_text(app)
        await pilot.press("n")
        assert s.step == 32 and s.pos == 0
        assert "Training finished (2 epochs)" in explain_text(app)

    run_app(app, body)


@pytest.mark.parametrize("key", ["p", "space"])
def test_pause_stops_a_long_run(key: str) -> None:
    s = xor_session(epochs=100000)
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await press_now(app, "c")
        await wait_until(pilot, lambda: app.running and s.step > 0)
        await pilot.pause(0.3)
        assert app.running
        await wait_until(pilot, lambda: "RUNNING" in phase_bar(app))
        assert "Press p or space to pause" in explain_text(app)
        await press_now(app, key)
        # takes effect within one short chunk (the bound allows for a loaded machine)
        await wait_until(pilot, lambda: not app.running, timeout=2.0)
        await settle(app, pilot)
        assert s.step > 0
        assert not s.finished and s.epoch < 100000
        assert s.pos == 0  # paused at a step boundary
        assert "PAUSED" in phase_bar(app)
        assert "Paused." in explain_text(app)
        step = s.step
        await pilot.pause(0.2)
        assert s.step == step  # really stopped

    run_app(app, body)


def test_stepping_key_while_running_pauses() -> None:
    s = xor_session(epochs=100000)
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await press_now(app, "c")
        await wait_until(pilot, lambda: app.running and s.step > 0)
        await press_now(app, "n")  # any inline step pauses a run first
        await wait_until(pilot, lambda: not app.running)
        await settle(app, pilot)
        assert not s.finished and s.step > 0
        assert s.pos == 0  # it paused; it did not also take a phase

    run_app(app, body)


def test_run_to_epoch_and_step() -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)
        await type_text(pilot, "3")
        await pilot.press("enter")
        await settle(app, pilot)
        assert not isinstance(app.screen, PromptScreen)
        assert (s.epoch, s.step, s.pos) == (3, 48, 0)
        assert "epoch 3/20 | step 47 | batch 16/16 | phase UPDATE" in status(app)  # its last step
        await pilot.press("t")
        await pilot.pause()
        await type_text(pilot, "s50")
        await pilot.press("enter")
        await settle(app, pilot)
        assert (s.step, s.pos) == (50, 0)

    run_app(app, body)


def test_run_to_rejects_bad_input() -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("t")
        await pilot.pause()
        await type_text(pilot, "abc")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)
        err = str(app.screen.query_one("#prompt-error", Label).content)
        assert "type an epoch like 50 or a step like s200" in err
        assert not app.running and s.position == 0
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, PromptScreen)
        assert s.position == 0

    run_app(app, body)


def test_back_phase() -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("n", "n", "n")  # at BACKPROP
        await pilot.press("N")
        assert s.last_event.phase.label == "LOSS" and s.pos == 3
        assert "phase LOSS" in status(app)
        assert "[LOSS]" in phase_bar(app)
        await pilot.press("left")
        assert s.last_event.phase.label == "FORWARD" and s.pos == 2
        assert "phase FORWARD" in status(app)
        await pilot.press("N")
        assert s.position == 0
        assert "phase start" in status(app)
        # at the very start: a message, no crash
        await pilot.press("N")
        assert s.position == 0
        assert "already at the start of training" in explain_text(app)

    run_app(app, body)


def test_back_phase_across_a_step_boundary() -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("f")
        w1 = weights(s)
        await pilot.press("n")  # FORWARD of step 1
        await pilot.press("N")
        assert (s.step, s.pos) == (1, 0) and s.last_event.phase.label == "UPDATE"
        assert all(np.array_equal(a, b) for a, b in zip(weights(s), w1, strict=True))
        await pilot.press("N")  # back into step 0: BACKPROP
        assert (s.step, s.pos) == (0, 5) and s.last_event.phase.label == "BACKPROP"
        assert "step 0 |" in status(app)

    run_app(app, body)


def test_back_layer() -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("s", "s", "s")  # LOSS
        await pilot.press("S")
        assert s.pos == 2 and s.last_event.layer == 1
        assert "phase FORWARD L2" in status(app)
        await pilot.press("S")
        assert s.pos == 1 and s.last_event.layer == 0
        assert "phase FORWARD L1" in status(app)

    run_app(app, body)


def test_back_step() -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        w0 = weights(s)
        await pilot.press("f")
        w1 = weights(s)
        await pilot.press("f", "n", "n")
        assert (s.step, s.pos) == (2, 3)
        await pilot.press("F")  # back to the start of this step
        assert (s.step, s.pos) == (2, 0)
        await pilot.press("F")  # again: one more step
        assert (s.step, s.pos) == (1, 0)
        assert all(np.array_equal(a, b) for a, b in zip(weights(s), w1, strict=True))
        assert "step 0 | batch 1/16 | phase UPDATE" in status(app)
        await pilot.press("F")
        assert s.position == 0
        assert all(np.array_equal(a, b) for a, b in zip(weights(s), w0, strict=True))
        assert len(s.history.step_series("loss")) == 0

    run_app(app, body)


def test_restart() -> None:
    s = xor_session()
    w0 = weights(s)
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("f", "f", "f", "n")
        assert not all(np.array_equal(a, b) for a, b in zip(weights(s), w0, strict=True))
        await pilot.press("R")  # unsaved progress: it asks first
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        assert s.position == 0 and s.step == 0 and s.epoch == 0
        assert s.last_event is None
        assert all(np.array_equal(a, b) for a, b in zip(weights(s), w0, strict=True))
        assert len(s.history.step_series("loss")) == 0
        assert "step 0 |" in status(app) and "phase start" in status(app)

    run_app(app, body)


# ---------------------------------------------------------------- view keys


def test_cycle_matrix_view() -> None:
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        mv = app.query_one(MatrixView)
        assert mv.mode == "weights"
        seen = []
        for _ in MODES:
            await pilot.press("v")
            seen.append(mv.mode)
        assert seen == ["gradients", "update", "activations", "pre-activations", "weights"]
        assert list(MODES) == ["weights", "gradients", "update", "activations", "pre-activations"]
        # v from another panel brings the matrix back
        await pilot.press("2")
        assert app.panel == "chart"
        await pilot.press("v")
        assert app.panel == "matrix" and mv.mode == "gradients"
        await pilot.pause()
        assert "gradients" in str(mv.border_title)
        assert "not computed yet" in str(mv.content)  # no backprop has run
        await pilot.press("n", "n", "n")
        await pilot.pause()
        assert "not computed yet" not in str(mv.content)

    run_app(app, body)


def test_toggle_log_scale() -> None:
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        chart = app.query_one(LossChart)
        assert chart.log_scale is False
        await pilot.press("f", "f")
        await pilot.press("l")
        assert chart.log_scale is True
        assert app.panel == "chart"  # l shows the chart
        await pilot.press("l")
        assert chart.log_scale is False

    run_app(app, body)


def _plot_text(widget: Any) -> list[str]:
    """The rows a person sees in ``widget`` (a plot or a panel), as text."""
    from textual.geometry import Region

    w, h = widget.size
    return [strip.text for strip in widget.render_lines(Region(0, 0, w, h))]


def test_accuracy_chart_key() -> None:
    """``a`` swaps the loss for train and validation accuracy (0%..100%), and back."""
    app = TrainerApp(xor_session(epochs=3), name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("c")
        await wait_until(pilot, lambda: not app.running, WORKER_TIMEOUT)
        await pilot.press("a")
        await pilot.pause()
        chart = app.query_one(LossChart)
        assert app.panel == "chart" and chart.accuracy
        assert str(chart.border_title).startswith("Accuracy")
        legend = chart.legend.plain
        assert "train" in legend and "val" in legend
        rows = "\n".join(_plot_text(app.query_one("#chart-plot")))
        assert "100%" in rows and "0%" in rows
        await pilot.press("a")
        await pilot.pause()
        assert not chart.accuracy and str(chart.border_title).startswith("Loss")

    run_app(app, body)


def test_accuracy_chart_key_is_refused_for_regression() -> None:
    app = TrainerApp(sine_session(epochs=2), name="sine")

    async def body(pilot: Pilot) -> None:
        await pilot.press("a")
        await pilot.pause()
        assert not app.query_one(LossChart).accuracy
        assert "classification" in " ".join(str(n.message) for n in app._notifications)

    run_app(app, body)


def test_validation_points_key() -> None:
    """Validation points are drawn as ○ in the data panel; ``V`` hides and shows them."""
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("3")
        await pilot.pause()
        data_text = app.query_one("#data-text")
        shown = "\n".join(_plot_text(data_text))
        assert "○" in shown and "○ validation" in shown
        await pilot.press("V")
        await pilot.pause()
        hidden = "\n".join(_plot_text(data_text))
        assert "○" not in hidden and "●" in hidden
        await pilot.press("V")
        await pilot.pause()
        assert "○" in "\n".join(_plot_text(data_text))

    run_app(app, body, size=(120, 40))


def test_panels_tab_and_numbers() -> None:
    app = TrainerApp(xor_session(), name="xor")
    panels = ("matrix", "chart", "data", "debug", "picture")

    def shown() -> list[str]:
        return [p for p in panels if app.query_one(f"#{p}").display]

    async def body(pilot: Pilot) -> None:
        assert app.panel == "matrix" and shown() == ["matrix"]
        for expected in ("chart", "data", "debug", "picture", "matrix"):
            await pilot.press("tab")
            assert app.panel == expected
            await pilot.pause()
            assert shown() == [expected]
        await pilot.press("shift+tab")
        assert app.panel == "picture"
        await pilot.press("shift+tab")
        assert app.panel == "debug"
        for key, expected in (
            ("1", "matrix"),
            ("2", "chart"),
            ("3", "data"),
            ("5", "picture"),
            ("4", "debug"),
        ):
            await pilot.press(key)
            assert app.panel == expected
            await pilot.pause()
            assert shown() == [expected]
        assert "Diagnosis" in str(app.query_one("#debug").content)

    run_app(app, body)


def test_toggle_images_for_image_data() -> None:
    g = data.load_builtin("digits", standardize=True)
    d = data.split(g, 0.2, 0)
    app = TrainerApp(tanh_session(d, 6, 10, batch_size=32, epochs=2), name="digits")

    async def body(pilot: Pilot) -> None:
        mv = app.query_one(MatrixView)
        assert mv.images is False
        await pilot.press("i")
        assert mv.images is True
        await pilot.pause()
        assert "as images" in str(mv.content)
        await pilot.press("i")
        assert mv.images is False
        await pilot.pause()
        assert "as images" not in str(mv.content)

    run_app(app, body, size=(120, 40))


def test_layer_selection_up_down() -> None:
    s = xor_session(layers=(LayerSpec(4, "tanh"), LayerSpec(3, "tanh"), LayerSpec(2, "linear")))
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        assert isinstance(app.focused, NetworkView)
        assert app.selected_layer == 0
        await pilot.press("down")
        assert app.selected_layer == 1
        await pilot.press("j")
        assert app.selected_layer == 2
        await pilot.press("down")  # wraps around
        assert app.selected_layer == 0
        await pilot.press("up")
        assert app.selected_layer == 2
        await pilot.press("k")
        assert app.selected_layer == 1
        await pilot.pause()
        assert app.query_one(MatrixView).border_title.startswith("L2 ")

    run_app(app, body)


def test_matrix_cursor() -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("f")
        await pilot.press("2")
        await pilot.press("m")  # cursor mode: the matrix panel, focused
        await pilot.pause()
        mv = app.query_one(MatrixView)
        assert app.panel == "matrix"
        assert app.focused is mv
        assert app.cell == (0, 0)
        await pilot.press("down", "right")
        await pilot.pause()
        assert app.cell == (1, 1)
        assert "W[1,1]" in explain_text(app)
        await pilot.press("down", "down", "right", "right", "right", "right")  # clamped
        assert app.cell == (1, 3)  # W of layer 1 is 2x4
        assert s.position == s.E  # the arrows moved the cursor, not the session
        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.focused, NetworkView)
        assert app.cell is None

    run_app(app, body)


# Every binding of the app, and the test(s) above that press it and check what it does.
# A new binding fails test_every_binding_is_tested until a test is written for it.
TESTED_BINDINGS = {
    "about": "test_about_key",  # more in test_about.py
    "data_setup": "test_data_setup_key",  # more in test_ui_data_setup.py
    "next_phase": "test_next_phase_walks_the_four_phases",
    "step_layer": "test_step_layer",
    "finish_step": "test_finish_step",
    "finish_epoch": "test_finish_epoch_runs_in_a_worker",
    "continue": "test_continue_stops_at_breakpoint",
    "pause": "test_pause_stops_a_long_run",
    "run_to": "test_run_to_epoch_and_step",
    "back_phase": "test_back_phase",
    "back_layer": "test_back_layer",
    "back_step": "test_back_step",
    "restart": "test_restart",
    "next_panel": "test_panels_tab_and_numbers",
    "prev_panel": "test_panels_tab_and_numbers",
    "panel_matrix": "test_panels_tab_and_numbers",
    "panel_chart": "test_panels_tab_and_numbers",
    "panel_data": "test_panels_tab_and_numbers",
    "panel_debug": "test_panels_tab_and_numbers",
    "panel_picture": "test_network_picture_key",  # more in test_ui_picture.py
    "edit_weight": "test_edit_weight_key",
    "cycle_view": "test_cycle_matrix_view",
    "toggle_images": "test_toggle_images_for_image_data",
    "toggle_cursor": "test_matrix_cursor",
    "toggle_log": "test_toggle_log_scale",
    "toggle_accuracy": "test_accuracy_chart_key",
    "toggle_val_points": "test_validation_points_key",
    "add_breakpoint": "test_add_breakpoint_and_syntax_error",
    "breakpoints": "test_manage_breakpoints_screen",
    "sanity": "test_sanity_checks_key",
    "landscape": "test_landscape_key",
    "what_if": "test_what_if_key_keeps_the_changed_future",
    "try_fix": "test_try_fix_key_runs_a_hyperparameter_fix_from_here_and_keeps_it",
    "compare": "test_compare_key",
    "reverse_continue": "test_reverse_continue_key",
    "reverse_watch": "test_reverse_watch_key",
    "first_bad": "test_first_bad_value_key",
    "add_watch": "test_add_watch",
    "write_scenario": "test_write_scenario_with_current_hyperparameters",
    "open": "test_open_scenario_replaces_the_session",
    "edit_hyper": "test_hyper_change_applies_from_next_step",
    "save": "test_save_checkpoint",
    "help": "test_help_opens_and_closes",
    "quit": "test_quit_with_progress_asks_first",
    "lesson_next": "test_lesson_next_and_back_keys",  # more in test_course.py
    "lesson_back": "test_lesson_next_and_back_keys",
}


def test_lesson_next_and_back_keys() -> None:
    from tui_trainer.lessons import Lesson, LessonStep
    from tui_trainer.ui.widgets.lesson_panel import LessonPanel

    steps = [LessonStep(say="one"), LessonStep(say="lr is {lr}"), LessonStep(say="three")]
    app = TrainerApp(xor_session(), name="xor", lesson=Lesson("t", steps, 1))

    async def body(pilot: Pilot) -> None:
        driver = app.lesson_driver
        assert driver is not None
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert driver.lesson.index == 1
        assert "lr is 0.1" in str(app.query_one(LessonPanel).render())
        assert "step 2/3" in str(app.query_one(LessonPanel).border_title)
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert driver.lesson.index == 0

    run_app(app, body)


def test_network_picture_key() -> None:
    """5 brings the network picture forward: at 120 columns every unit of
    xor's 2-4-2 network is a tile (inputs, the four hidden units, the output's
    decision map), redrawn when training changes the weights."""
    from tui_trainer.ui.widgets.picture_view import PictureView

    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("5")
        await pilot.pause()
        assert app.panel == "picture" and app.query_one("#picture").display
        pv = app.query_one(PictureView)
        await wait_until(pilot, lambda: bool(pv.tiles))
        assert [(t.layer, t.unit) for t in pv.tiles] == [
            (-1, 0),
            (-1, 1),
            (0, 0),
            (0, 1),
            (0, 2),
            (0, 3),
            (1, -1),
        ]
        assert "L1 tanh" in str(pv.content)
        before, made = str(pv.content), pv.evaluations
        app.refresh_heavy()  # nothing changed: the unit maps come from the cache
        assert pv.evaluations == made
        await pilot.press("e")
        await wait_until(pilot, lambda: not app.running, WORKER_TIMEOUT)
        await pilot.pause()
        await wait_until(pilot, lambda: pv.evaluations > made)
        assert str(pv.content) != before

    run_app(app, body, size=(120, 40))


def test_edit_weight_key() -> None:
    """M asks for a new value of the weight under the cursor; the loss changes
    at once, step-back restores the weight bit for bit, and replaying through
    the edit sets it again."""
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("f")
        kept = weights(s)  # at step 1
        await pilot.press("f", "m", "down", "right")  # cursor on W[0][1,1] at step 2
        await pilot.pause()
        assert app.cell == (1, 1)
        await pilot.press("M")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)
        assert "W[0][1,1]" in str(app.screen.query_one("#prompt-title", Label).content)
        await clear_input(pilot)
        await type_text(pilot, "nan")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)  # refused in the dialog
        assert "finite" in str(app.screen.query_one("#prompt-error", Label).content)
        await clear_input(pilot)
        await type_text(pilot, "2.5")
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, PromptScreen)
        assert s.net.layers[0].W[1, 1] == 2.5
        text = explain_text(app)
        m = re.search(r"Loss on the training set (\S+) -> (\S+)\.", text)
        assert m is not None and m.group(1) != m.group(2), text
        await pilot.press("f")  # a step with the edited weight
        edited = weights(s)
        await pilot.press("F", "F")  # back before the edit (it was made at step 2)
        await pilot.pause()
        assert s.step == 1 and s.pos == 0
        for a, b in zip(weights(s), kept, strict=True):
            assert np.array_equal(a, b)  # bit-exact
        await pilot.press("f")  # replays into the edit
        assert s.net.layers[0].W[1, 1] == 2.5
        await pilot.press("f")  # and through it
        for a, b in zip(weights(s), edited, strict=True):
            assert np.array_equal(a, b)
        assert app.focused is app.query_one(MatrixView)  # the cursor is still on
        await pilot.press("enter")  # enter on the cursor opens the same dialog
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert s.net.layers[0].W[1, 1] != 7.0

    run_app(app, body)


def test_every_binding_is_tested() -> None:
    ids = {b.id for b in TrainerApp.BINDINGS}
    assert None not in ids, "every binding needs an id (keys.toml remaps by id)"
    assert ids - set(TESTED_BINDINGS) == set(), "bindings without a UI test"
    assert set(TESTED_BINDINGS) - ids == set(), "tests for bindings that no longer exist"
    for name in TESTED_BINDINGS.values():
        assert callable(globals().get(name)), name


def test_about_key() -> None:
    from tui_trainer.ui.screens.about import AboutScreen

    app = TrainerApp(xor_session(), name="xor", description="XOR, the classic.", watch_text="w")

    async def body(pilot: Pilot) -> None:
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, AboutScreen)
        await pilot.press("d")
        await pilot.pause()
        assert not isinstance(app.screen, AboutScreen)

    run_app(app, body)


def test_data_setup_key() -> None:
    """D opens the data and inputs dialog; ticking x1^2 and Enter trains on it."""
    from textual.widgets import Checkbox

    from tui_trainer.ui.screens.data_setup import DataSetupScreen

    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("D")
        await pilot.pause()
        assert isinstance(app.screen, DataSetupScreen)
        app.screen.query_one("#feat-2", Checkbox).focus()  # x1^2
        await pilot.press("space")
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, DataSetupScreen)
        assert app.session.features == ("x1", "x2", "x1^2")
        await pilot.press("D")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.session.features == ("x1", "x2", "x1^2")

    run_app(app, body)


# ------------------------------------------------------------ hyperparameters


async def _set_lr(pilot: Pilot, app: TrainerApp, value: str) -> None:
    await pilot.press("h")
    await pilot.pause()
    assert isinstance(app.screen, HyperScreen)
    lr_input = app.screen.query_one("#lr", Input)
    assert app.focused is lr_input
    await clear_input(pilot)
    await type_text(pilot, value)
    assert lr_input.value == value
    await pilot.press("enter")
    await pilot.pause()


def test_hyper_change_applies_from_next_step() -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("n")  # paused mid-step 0
        await _set_lr(pilot, app, "0.5")
        assert not isinstance(app.screen, HyperScreen)
        assert "Changed lr=0.5; applies from step 1." in explain_text(app)
        # the step in progress keeps its learning rate
        assert s.hyperparameters()["lr"] == 0.1
        await pilot.press("f")
        assert s.history.step_series("lr")[-1] == pytest.approx(0.1)
        await pilot.press("n")  # step 1 starts with the new value
        assert s.hyperparameters()["lr"] == 0.5
        assert "lr 0.5" in status(app)
        await pilot.press("f")
        assert list(s.history.step_series("lr")) == pytest.approx([0.1, 0.5])

    run_app(app, body)


def test_hyper_change_at_step_boundary_applies_now() -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("f")
        await _set_lr(pilot, app, "0.25")
        assert "applies from step 1" in explain_text(app)
        assert s.hyperparameters()["lr"] == 0.25
        await pilot.press("f")
        assert s.history.step_series("lr")[-1] == pytest.approx(0.25)

    run_app(app, body)


def test_hyper_invalid_value_shows_error_and_stays() -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await _set_lr(pilot, app, "-1")
        assert isinstance(app.screen, HyperScreen)
        err = str(app.screen.query_one("#hyper-error", Label).content)
        assert "lr: -1 is outside (0, 100]" in err
        await clear_input(pilot)
        await type_text(pilot, "abc")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, HyperScreen)
        assert "lr: 'abc' is not a number" in str(
            app.screen.query_one("#hyper-error", Label).content
        )
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HyperScreen)
        assert s.hyperparameters()["lr"] == 0.1
        assert s._hp_log == {}

    run_app(app, body)


def test_hyper_tab_moves_between_fields() -> None:
    """The form has six fields and the app runs with the mouse off: tab must reach them."""
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("h")
        await pilot.pause()
        assert isinstance(app.screen, HyperScreen)
        assert app.focused is not None and app.focused.id == "lr"
        await pilot.press("tab")
        await pilot.pause()
        assert app.panel == "matrix"  # the panel behind the dialog did not change
        assert app.focused is not None and app.focused.id == "batch_size"

    run_app(app, body)


def test_live_lr_change_mid_step_and_step_back_across_it() -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("n", "n")  # LOSS of step 0
        await _set_lr(pilot, app, "0.5")
        await pilot.press("f", "f", "f")  # finish steps 0, 1, 2
        assert s.step == 3
        lrs = list(s.history.step_series("lr"))
        assert lrs == pytest.approx([0.1, 0.5, 0.5])
        w3 = weights(s)
        losses = s.history.step_series("loss").copy()
        # back across the change to the start of step 0 ...
        await pilot.press("F", "F", "F")
        assert s.position == 0
        assert s.hyperparameters()["lr"] == 0.1
        assert "lr 0.1" in status(app)
        # ... and forward again: the change is replayed bit for bit
        await pilot.press("f", "f", "f")
        assert s.step == 3
        assert list(s.history.step_series("lr")) == pytest.approx([0.1, 0.5, 0.5])
        assert np.array_equal(s.history.step_series("loss"), losses)
        assert all(np.array_equal(a, b) for a, b in zip(weights(s), w3, strict=True))
        assert s.hyperparameters()["lr"] == 0.5
        # back into the middle of step 1 (which ran with the new rate)
        await pilot.press("F", "F", "n")
        assert (s.step, s.pos) == (1, 2)
        assert s.hyperparameters()["lr"] == 0.5
        # back into step 0: the old rate again
        await pilot.press("F", "N")
        assert s.step == 0 and s.pos == 5
        assert s.hyperparameters()["lr"] == 0.1

    run_app(app, body)


def test_loss_chart_redraws_after_rewrite_of_history() -> None:
    """Look at the chart, rewind two steps in another panel, change lr, redo the
    steps, look at the chart again: it must show the new losses, not the old ones
    (the history has the same length as before, but different values)."""
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        chart = app.query_one(LossChart)
        plotted: dict[str, list[float]] = {}
        orig = chart.plt.plot

        def spy(*args: Any, **kw: Any) -> Any:
            # The per-step series is the first one plotted (the key is a line above).
            if args and len(args[1]) == len(s.history.step_series("loss")):
                plotted["batch"] = list(args[1])
            return orig(*args, **kw)

        chart.plt.plot = spy  # type: ignore[method-assign]
        await pilot.press("2")
        await pilot.press("f", "f", "f")
        await pilot.pause()
        old = list(s.history.step_series("loss"))
        assert plotted["batch"] == pytest.approx(old)
        await pilot.press("1")  # matrix panel while rewinding and redoing
        await pilot.press("F", "F")  # back to the start of step 1
        await _set_lr(pilot, app, "20")
        await pilot.press("f", "f")
        new = list(s.history.step_series("loss"))
        assert len(new) == len(old) and new != old
        await pilot.press("2")
        await pilot.pause()
        await pilot.pause()
        assert plotted["batch"] == pytest.approx(new)

    run_app(app, body)


def test_start_up_leaves_plotext_for_later() -> None:
    """plotext is a tenth of the start-up: the app module must not import it (the
    charts create their plot when first shown; a thread preloads it after start)."""
    code = (
        "import sys, tui_trainer.cli, tui_trainer.ui.app; "
        "print(sorted(m for m in ('plotext', 'textual_plotext') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_chart_plot_is_created_when_the_chart_is_first_shown() -> None:
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        chart = app.query_one(LossChart)
        assert not chart.query("#chart-plot")  # at 80x24 the matrix panel shows first
        await pilot.press("f", "2")
        await pilot.pause()
        plot = chart.query_one("#chart-plot")
        assert plot.region.height > 5 and plot.region.width > 20
        legend = str(chart.query_one("#chart-legend").render())
        assert "batch" in legend and "━" in legend  # the key, above the plot

    run_app(app, body)


# ---------------------------------------------------------------- breakpoints


def test_add_breakpoint_and_syntax_error() -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)
        await type_text(pilot, "epoch >=")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)  # not dismissed
        err = str(app.screen.query_one("#prompt-error", Label).content)
        assert err.strip()
        assert app.breakpoints.items == []
        await clear_input(pilot)
        await type_text(pilot, "epoch >= 1")
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, PromptScreen)
        assert [b.source for b in app.breakpoints.items] == ["epoch >= 1"]
        assert any("breakpoint added: epoch >= 1" in m for m in notifications(app))
        await pilot.press("c")
        await settle(app, pilot)
        assert (s.epoch, s.step) == (1, 16)
        assert app._state_label() == "at breakpoint"
        assert "BREAKPOINT 'epoch >= 1' hit" in explain_text(app)

    run_app(app, body)


def test_manage_breakpoints_screen() -> None:
    s = xor_session()
    bps = BreakpointSet()
    bps.add("epoch >= 5")
    app = TrainerApp(s, name="xor", breakpoints=bps)

    async def body(pilot: Pilot) -> None:
        await pilot.press("B")
        await pilot.pause()
        assert isinstance(app.screen, BreakpointsScreen)
        ol = app.screen.query_one("#bp-list", OptionList)
        assert ol.option_count == 1
        assert app.focused is ol
        # tab reaches the form (phase, mode, ignore, then condition)
        await pilot.press("tab", "tab", "tab", "tab")
        await pilot.pause()
        assert app.focused is app.screen.query_one("#bp-input", Input)
        await type_text(pilot, "epoch >=")
        await pilot.press("enter")
        await pilot.pause()
        assert str(app.screen.query_one("#bp-error", Label).content).strip()
        assert len(bps.items) == 1
        await clear_input(pilot)
        await type_text(pilot, "epoch >= 1")
        await pilot.press("enter")
        await pilot.pause()
        assert [b.source for b in bps.items] == ["epoch >= 5", "epoch >= 1"]
        assert ol.option_count == 2
        # back to the list: space disables the highlighted one, d deletes it
        await pilot.press("shift+tab", "shift+tab", "shift+tab", "shift+tab")
        await pilot.pause()
        assert app.focused is ol
        while ol.highlighted != 0:
            await pilot.press("down")
        await pilot.press("space")
        assert bps.items[0].enabled is False
        assert app.session.position == 0  # space did not reach the app's pause binding
        assert ol.highlighted == 0  # the list keeps its place after a change
        await pilot.press("d")
        assert [b.source for b in bps.items] == ["epoch >= 1"]
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, BreakpointsScreen)
        await pilot.press("c")
        await settle(app, pilot)
        assert s.epoch == 1 and app._state_label() == "at breakpoint"

    run_app(app, body)


def test_add_watch() -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("W")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)
        await type_text(pilot, "grad_norm[")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)
        assert str(app.screen.query_one("#prompt-error", Label).content).strip()
        await clear_input(pilot)
        await type_text(pilot, "grad_norm[0]")
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, PromptScreen)
        assert [w.source for w in app.watches.items] == ["grad_norm[0]"]
        assert app.panel == "debug"
        await pilot.press("f", "f")
        await pilot.pause()
        text = str(app.query_one("#debug").content)
        assert "grad_norm[0] = " in text
        value = app.watches.items[0].value
        assert np.isfinite(value) and value > 0
        assert s.history.step_series("grad_norm", 0)[-1] == pytest.approx(value)

    run_app(app, body)


SCENARIO_TOML = xor_scenario("written", val_fraction=None)


def test_write_scenario_with_current_hyperparameters(tmp_path: Path) -> None:
    from tui_trainer.scenario import load_scenario

    src = tmp_path / "written.toml"
    src.write_text(SCENARIO_TOML, encoding="utf-8")
    sc = load_scenario(src)
    d = sc.load_data()
    s = Session(sc.train_config(d), d)
    app = TrainerApp(s, name=sc.name, scenario_text=sc.text)
    app.scenario = sc

    async def body(pilot: Pilot) -> None:
        await _set_lr(pilot, app, "0.5")
        await pilot.press("b")
        await pilot.pause()
        await type_text(pilot, "epoch >= 3")
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("w")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)
        inp = app.screen.query_one("#prompt-input", Input)
        assert inp.value == "written-edited.toml"
        await pilot.press("enter")
        await pilot.pause()
        out = tmp_path / "written-edited.toml"  # cwd is tmp_path
        assert out.is_file()
        assert any("wrote written-edited.toml" in m for m in notifications(app))
        back = load_scenario(out)
        assert back.lr == 0.5
        assert back.epochs == 20
        assert [b.condition for b in back.breakpoints] == ["epoch >= 3"]

    run_app(app, body)


def test_write_scenario_without_a_scenario() -> None:
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("w")
        await pilot.pause()
        assert not isinstance(app.screen, PromptScreen)
        assert any("no scenario file to write" in m for m in notifications(app))

    run_app(app, body)


# ---------------------------------------------------------------- dialogs


def test_help_opens_and_closes() -> None:
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        # stepping keys do not act behind the dialog
        await pilot.press("n")
        assert app.session.position == 0
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark")  # ? toggles it closed too
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)

    run_app(app, body)


def test_help_lists_every_binding() -> None:
    """Each app binding's main key is documented in the help rows."""
    keys_text = " ".join(k for k, _ in TrainerApp.HELP)
    for b in TrainerApp.BINDINGS:
        first = b.key.split(",")[0]
        shown = {"question_mark": "?", "shift+tab": "tab", "exclamation_mark": "!"}.get(
            first, first
        )
        if first in ("1", "2", "3"):
            shown = first
        assert shown in keys_text, f"{b.key} ({b.action}) missing from HELP"


def test_quit_without_progress_exits() -> None:
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("q")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert app.return_code == 0
        assert not app.is_running

    run_app(app, body)


def test_quit_with_progress_asks_first() -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("f", "f")
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "step 2" in app.screen.question
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert app.is_running and app.return_code is None
        assert s.position == 2 * s.E  # n answered the dialog, it did not step
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        assert app.return_code == 0
        assert not app.is_running

    run_app(app, body)


def test_ctrl_q_asks_like_q() -> None:
    """Textual's own quit key (and the palette's Quit) must not drop unsaved progress."""
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("f", "f")
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert app.return_code is None and app.is_running
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        assert app.return_code == 0

    run_app(app, body)


def test_quit_while_running_stops_the_run_and_asks() -> None:
    s = xor_session(epochs=100000)
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await press_now(app, "c")
        await wait_until(pilot, lambda: app.running and s.step > 0)
        await press_now(app, "q")
        await wait_until(pilot, lambda: not app.running)
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        assert app.return_code == 0

    run_app(app, body)


def test_save_checkpoint(tmp_path: Path) -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor", scenario_text="# scenario\n")
    target = tmp_path / "ck" / "saved.npz"  # typed relative to the working directory
    target.parent.mkdir()

    async def body(pilot: Pilot) -> None:
        await pilot.press("f", "f", "n")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)
        inp = app.screen.query_one("#prompt-input", Input)
        assert inp.value == "xor-step2.npz"  # a default name
        await clear_input(pilot)
        await type_text(pilot, "ck/saved.npz")
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, PromptScreen)
        assert target.is_file()
        assert (s.step, s.pos) == (2, 2)  # saving did not move the session
        assert any("saved checkpoint ck/saved.npz" in m for m in notifications(app))
        arrays = read_checkpoint(target)
        assert str(arrays["scenario"]) == "# scenario\n"
        assert int(arrays["resume_position"]) == s.position
        other = xor_session()
        load_checkpoint(other, target)
        assert other.position == s.position
        assert all(np.array_equal(a, b) for a, b in zip(weights(other), weights(s), strict=True))
        # saved: quitting no longer asks
        await pilot.press("q")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert app.return_code == 0

    run_app(app, body)


def test_save_checkpoint_error_is_shown(tmp_path: Path) -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor")
    target = tmp_path / "missing-dir" / "x.npz"  # cwd is tmp_path

    async def body(pilot: Pilot) -> None:
        await pilot.press("f")
        await pilot.press("ctrl+s")
        await pilot.pause()
        await clear_input(pilot)
        await type_text(pilot, "missing-dir/x.npz")
        await pilot.press("enter")
        await pilot.pause()
        assert not target.exists()
        assert any(m.startswith("could not save missing-dir/x.npz") for m in notifications(app))
        # still unsaved: q asks
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")

    run_app(app, body)


def _loader_calls() -> tuple[list[str], Callable[[str], tuple[Session, dict[str, Any]]]]:
    calls: list[str] = []

    def loader(choice: str) -> tuple[Session, dict[str, Any]]:
        calls.append(choice)
        if choice == "broken":
            raise ValueError("broken.toml:3: training.lr: must be > 0")
        bps = BreakpointSet()
        bps.add("epoch >= 1")
        return sine_session(), {
            "name": "sine-loaded",
            "watch_text": "the fitted curve",
            "breakpoints": bps,
            "scenario_text": "name = 'sine'\n",
        }

    return calls, loader


def test_open_scenario_replaces_the_session() -> None:
    old = xor_session()
    calls, loader = _loader_calls()
    builtins = [("xor", "XOR of two inputs"), ("sine", "fit a sine curve")]
    app = TrainerApp(old, name="xor", builtins=builtins, loader=loader)

    async def body(pilot: Pilot) -> None:
        await pilot.press("f", "down")
        assert app.selected_layer == 1
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, OpenScenarioScreen)
        ol = app.screen.query_one(OptionList)
        assert ol.option_count == 2
        assert app.focused is ol
        while ol.highlighted != 1:
            await pilot.press("down")
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, OpenScenarioScreen)
        assert calls == ["sine"]
        assert app.session is not old
        assert app.session.data.task == "regression"
        assert app.scenario_name == "sine-loaded"
        assert app.selected_layer == 0
        assert status(app).startswith("sine-loaded | epoch 1/20 | step 0")
        assert "Opened sine-loaded." in explain_text(app)
        assert "What to watch: the fitted curve" in explain_text(app)
        # the keys now drive the new session
        await pilot.press("f")
        assert app.session.step == 1 and old.step == 1
        await pilot.press("c")
        await settle(app, pilot)
        assert app.session.epoch == 1  # the new scenario's breakpoint
        assert app._state_label() == "at breakpoint"

    run_app(app, body)


def test_open_scenario_load_error_is_shown() -> None:
    old = xor_session()
    calls, loader = _loader_calls()
    app = TrainerApp(old, name="xor", builtins=[("broken", "does not load")], loader=loader)

    async def body(pilot: Pilot) -> None:
        await pilot.press("o")
        await pilot.pause()
        ol = app.screen.query_one(OptionList)
        while ol.highlighted != 0:
            await pilot.press("down")
        await pilot.press("enter")
        await pilot.pause()
        assert calls == ["broken"]
        assert app.session is old
        # The problem stays in the dialog (no toast that vanishes), ready for another try.
        assert isinstance(app.screen, OpenScenarioScreen)
        assert "training.lr: must be > 0" in app.screen.error
        assert not notifications(app)

    run_app(app, body)


def test_open_scenario_escape_and_no_loader() -> None:
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("o")
        await pilot.pause()
        assert not isinstance(app.screen, OpenScenarioScreen)
        assert any("not available" in m for m in notifications(app))

    run_app(app, body)
    calls, loader = _loader_calls()
    app2 = TrainerApp(xor_session(), name="xor", builtins=[("sine", "")], loader=loader)

    async def body2(pilot: Pilot) -> None:
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app2.screen, OpenScenarioScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app2.screen, OpenScenarioScreen)
        assert calls == []

    run_app(app2, body2)


def test_open_scenario_by_path_and_file_tree(tmp_path: Path) -> None:
    """Typed path and the file tree are both reachable from the keyboard (no mouse)."""
    (tmp_path / "pick.toml").write_text(SCENARIO_TOML, encoding="utf-8")
    calls, loader = _loader_calls()
    app = TrainerApp(xor_session(), name="xor", builtins=[("xor", "")], loader=loader)

    async def focus(pilot: Pilot, cls: type, presses: int = 6) -> None:
        for _ in range(presses):
            if isinstance(app.focused, cls):
                return
            await pilot.press("tab")
            await pilot.pause()
        assert isinstance(app.focused, cls), app.focused

    async def body(pilot: Pilot) -> None:
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, OpenScenarioScreen)
        await focus(pilot, Input)
        assert app.focused is not None and app.focused.id == "open-path"
        assert app.panel == "matrix"  # tab stayed inside the dialog
        await type_text(pilot, "my.toml")
        await pilot.press("enter")
        await pilot.pause()
        assert calls == ["my.toml"]
        assert app.scenario_name == "sine-loaded"

        await pilot.press("o")
        await pilot.pause()
        await focus(pilot, DirectoryTree)
        tree = app.focused
        assert isinstance(tree, DirectoryTree)
        await wait_until(pilot, lambda: len(tree.root.children) > 0)
        for _ in range(10):
            node = tree.cursor_node
            if node is not None and node.data is not None and node.data.path.name == "pick.toml":
                break
            await pilot.press("down")
        await pilot.press("enter")
        await pilot.pause()
        assert calls == ["my.toml", str(tmp_path / "pick.toml")]

    run_app(app, body)


@pytest.mark.parametrize(
    "burst",
    [
        ["ctrl+p", "a", "pageup"],
        ["ctrl+p", "down", "pagedown"],
        ["ctrl+p", "s", "t", "pageup", "escape", "escape", "escape"],
        ["h", "ctrl+p", "pagedown", "escape", "escape", "escape", "escape"],
    ],
    ids=["type-then-page", "down-then-page", "queued-escapes", "over-a-dialog"],
)
def test_command_palette_survives_key_bursts(burst: list[str]) -> None:
    """Keys typed faster than the screen changes (a laggy SSH link delivers them
    together) crashed Textual 8.2.8's palette; escapes queued behind each other
    closed the palette and then the screens under it."""
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        for key in burst:
            send_key(app, key)
        await drain(app)
        await pilot.pause(0.2)
        assert app.is_running and app._exception is None
        for _ in range(4):  # close whatever is still open, one escape at a time
            if len(app.screen_stack) == 1:
                break
            await pilot.press("escape")
            await pilot.pause()
        assert len(app.screen_stack) == 1 and app.screen is app.main_screen
        before = app.session.position
        await pilot.press("n")  # the debugger still answers
        assert app.session.position > before

    run_app(app, body)


async def open_palette(pilot: Pilot, app: TrainerApp) -> CommandPalette:
    """Open the command palette (ctrl+p) over whatever screen is on top."""
    await pilot.press("ctrl+p")
    await pilot.pause()
    palette = app.screen
    assert isinstance(palette, CommandPalette)
    return palette


def test_palette_search_outliving_its_list_ends_quietly() -> None:
    """The palette's search worker may run after its list is gone (keys typed
    as it closes); Textual 8.2.8 then raised NoMatches and ended the app."""
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        palette = await open_palette(pilot, app)
        await palette.query_one(CommandList).remove()  # as while the palette closes
        await palette._gather_commands("step").wait()
        await pilot.pause()
        assert app.is_running and app._exception is None

    run_app(app, body)


def test_palette_closed_twice_leaves_the_screen_under_it() -> None:
    """Two selections queued in the palette (Enter on its list, then on its
    input) dismissed it twice: the second popped the dialog under it, or failed
    with "Can't pop screen" over the debugger."""
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("ctrl+s")
        await pilot.pause()
        prompt = app.screen
        palette = await open_palette(pilot, app)
        palette.dismiss()
        palette.dismiss()  # the queued second selection
        await pilot.pause()
        assert app.screen is prompt
        await pilot.press("escape")  # closes the prompt
        await pilot.pause()
        assert app.screen is app.main_screen
        palette = await open_palette(pilot, app)  # now over the debugger itself
        palette.dismiss()
        palette.dismiss()
        await pilot.pause()
        assert app.screen is app.main_screen and app._exception is None

    run_app(app, body)


def test_a_dialog_under_the_palette_cannot_close_in_its_place(tmp_path: Path) -> None:
    """A submit the dialog handles after ctrl+p opened the palette over it (keys
    in a burst) must not close the palette in the dialog's place: Textual pops
    the top screen, and the dialog would later be closed twice and crash."""
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("ctrl+s")
        await pilot.pause()
        prompt = app.screen
        assert isinstance(prompt, PromptScreen)
        await open_palette(pilot, app)
        prompt.dismiss("late.npz")  # what the queued Enter does
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)  # the palette stays
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is prompt  # and so does the dialog, for the user to finish
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.main_screen and len(app.screen_stack) == 1
        assert list(tmp_path.glob("*.npz")) == []  # cancelled: nothing saved

    run_app(app, body)


# ------------------------------------------------------------------ tools


def test_sanity_checks_key() -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("f", "f")
        before = s.position, weights(s)
        await pilot.press("g")
        await pilot.pause()
        assert isinstance(app.screen, SanityScreen)
        await settle(app, pilot)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, SanityScreen)
        assert app.session is s and s.position == before[0]
        assert all(np.array_equal(a, b) for a, b in zip(weights(s), before[1], strict=True))

    run_app(app, body)


def test_landscape_key() -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("f", "f", "n")
        before = s.position, weights(s)
        await pilot.press("L")
        await pilot.pause()
        assert isinstance(app.screen, LandscapeScreen)
        await settle(app, pilot)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, LandscapeScreen)
        assert s.position == before[0]
        assert all(np.array_equal(a, b) for a, b in zip(weights(s), before[1], strict=True))

    run_app(app, body)


def test_compare_key() -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("f")
        await pilot.press("X")
        await pilot.pause()
        assert isinstance(app.screen, CompareScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, CompareScreen)
        assert app.session is s and s.position == s.E

    run_app(app, body)


def test_what_if_key_keeps_the_changed_future() -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("f", "f")
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, WhatIfScreen)
        await type_text(pilot, "lr=0.5")
        await pilot.press("enter")
        await settle(app, pilot)
        await wait_until(pilot, lambda: len(app.screen.sessions) == 2)
        await pilot.press("2")
        await pilot.pause()
        assert not isinstance(app.screen, WhatIfScreen)
        assert app.session is not s
        assert app.session.hyper.lr == 0.5
        assert app.session.position > s.position == 2 * s.E
        assert "Kept the chosen future." in explain_text(app)
        assert f"step {app.session.shown_counters()[1]} |" in status(app)

    run_app(app, body)


# ------------------------------------------------------------ try a fix
def _builtin_app(name: str) -> TrainerApp:
    from tui_trainer.cli import load

    sc, s = load(name)
    app = TrainerApp(s, name=sc.name)
    app.scenario = sc
    return app


def test_try_fix_key_runs_a_hyperparameter_fix_from_here_and_keeps_it() -> None:
    """lr_too_large (xor, lr 30): after one epoch the diagnosis says lr_too_large
    with the fix lr = 3; y lists it, 1 runs it from here beside the run as it is,
    2 keeps it: the session goes on with lr 3 from the fork point."""
    from tui_trainer.ui.screens.try_fix import FixPicker, TryFixScreen

    app = _builtin_app("lr_too_large")

    async def body(pilot: Pilot) -> None:
        await pilot.press("e")
        await settle(app, pilot)
        start = app.session.position
        codes = [f.code for f in app.findings]
        assert "lr_too_large" in codes
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, FixPicker))
        first = app.screen.choices[0]
        assert first.finding.code == "lr_too_large" and first.hyper is not None
        want = first.hyper["lr"]
        assert want < app.session.hyper.lr
        await pilot.press("1")
        await wait_until(pilot, lambda: isinstance(app.screen, TryFixScreen))
        await wait_until(pilot, lambda: len(app.screen.sessions) == 2, timeout=WORKER_TIMEOUT)
        labels = [f.label for f in app.screen.futures]
        assert labels[0] == "as is" and "lr" in labels[1] and f"{want:g}" in labels[1]
        await pilot.press("2")
        await pilot.pause()
        assert not isinstance(app.screen, TryFixScreen)
        assert app.session.hyper.lr == want
        assert app.session.position > start
        assert f"Kept the fix: lr = {want:g}." in explain_text(app)

    run_app(app, body)


def test_try_fix_of_the_start_runs_the_fixed_scenario_from_epoch_0() -> None:
    """vanishing_gradients (deep sigmoid): the first fix changes the start
    (activation relu, init he). It is trained from epoch 0 to the same epoch as
    the run as it is plus the epochs asked; keeping it replaces the session and
    the app's scenario, so w writes the fixed file."""
    from tui_trainer.ui.screens.try_fix import FixPicker, TryFixScreen

    app = _builtin_app("vanishing_gradients")

    async def body(pilot: Pilot) -> None:
        await pilot.press("e")
        await settle(app, pilot)
        epoch = app.session.epoch
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, FixPicker))
        choice = app.screen.choices[0]
        assert choice.finding.code == "vanishing_gradients" and choice.hyper is None
        assert choice.fix.get("model.activation") == "relu"
        await pilot.press("1")
        await wait_until(pilot, lambda: isinstance(app.screen, TryFixScreen))
        screen = app.screen
        await wait_until(pilot, lambda: len(screen.sessions) == 2, timeout=WORKER_TIMEOUT)
        as_is, fixed = screen.sessions
        assert as_is.epoch == fixed.epoch == epoch + 5  # compared at the same epoch
        assert [ly.activation for ly in fixed.cfg.layers[:-1]] == ["relu"] * (
            len(fixed.cfg.layers) - 1
        )
        assert fixed.history.epochs.last("val_loss") < as_is.history.epochs.last("val_loss")
        await pilot.press("2")
        await pilot.pause()
        assert app.session is fixed
        assert app.scenario.model.activation == "relu" and app.scenario.model.init == "he"
        assert 'activation = "relu"' in app.scenario.to_toml()

    run_app(app, body)


def test_try_fix_says_when_there_is_nothing_to_fix_and_what_needs_a_file() -> None:
    """Nothing diagnosed: y says so instead of opening an empty list. A fix of
    the start needs the scenario file: without one it is listed but disabled."""
    from tui_trainer.engine.diagnostics import Finding
    from tui_trainer.ui.screens.try_fix import FixPicker

    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("y")
        await pilot.pause()
        assert not isinstance(app.screen, FixPicker)
        assert any("no fix to try" in str(n.message) for n in app._notifications)
        app.findings = [
            Finding(
                "dead_relu",
                "Dead ReLUs",
                "warning",
                0,
                0,
                "e",
                "a",
                layer=1,
                fixes=({"model.init": "he"}, {"training.lr": 0.01}),
            )
        ]
        app.refresh_heavy = lambda slow=True: None  # keep the planted finding
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, FixPicker))
        start, here = app.screen.choices
        assert start.problem and "scenario file" in start.problem
        assert not here.problem and here.hyper == {"lr": 0.01}
        await pilot.press("1")  # disabled: nothing happens
        await pilot.pause()
        assert isinstance(app.screen, FixPicker)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, FixPicker)

    run_app(app, body)


# ------------------------------------------------------------ divergence


def test_divergence_is_shown() -> None:
    s = sine_session(lr=50)
    app = TrainerApp(s, name="sine")

    async def body(pilot: Pilot) -> None:
        await pilot.press("2")  # the loss chart must cope with inf
        await pilot.press("c")
        await settle(app, pilot)
        assert not app.running
        assert s.nonfinite is not None
        bar = phase_bar(app)
        assert "DIVERGED" in bar
        assert "!]" in bar  # the phase where it happened is marked
        assert "NaN/Inf here" in bar
        assert "DIVERGED" in explain_text(app)
        assert "Training diverged" in explain_text(app)
        for panel in ("1", "3"):  # the other views cope with non-finite weights too
            await pilot.press(panel)
            await pilot.pause()
        # continuing is refused with an explanation
        await pilot.press("c")
        await pilot.pause()
        assert not app.running
        assert "Training has diverged: step back (N/F) or restart (R)." in explain_text(app)
        # stepping back leaves the diverged state
        await pilot.press("F")
        assert s.nonfinite is None
        assert "DIVERGED" not in phase_bar(app)

    run_app(app, body)


# ---------------------------------------------------------------- layout


def test_too_small_message() -> None:
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        box = app.query_one("#too-small")
        assert box.display is True
        assert "Terminal too small: 50x15" in str(box.content)
        assert "60x18" in str(box.content)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert box.display is False

    run_app(app, body, size=(50, 15))


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 60)])
def test_layouts_render(size: tuple[int, int]) -> None:
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        assert app.query_one("#too-small").display is False
        await pilot.press("n", "n", "n", "f", "f")
        for key in ("2", "3", "1", "v", "v", "v"):
            await pilot.press(key)
            await pilot.pause()
        svg = app.export_screenshot()
        assert "FORWARD" in _svg_text(svg)
        wide = app.screen.has_class("wide")
        assert wide == (size == (200, 60))
        panels = [app.query_one(f"#{p}") for p in ("matrix", "chart", "data", "debug")]
        if wide:
            assert all(p.display for p in panels)
            assert all(p.region.width > 0 and p.region.height > 0 for p in panels)
        else:  # one main panel; a small matrix may have the loss chart below it
            shown = [p.id for p in panels if p.display]
            assert shown in (["matrix"], ["matrix", "chart"]), shown
            assert len(shown) == 1 or app.query_one("#chart").has_class("below")

    run_app(app, body, size=size)


def test_resize_to_wide_and_back() -> None:
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        assert not app.screen.has_class("wide")
        await pilot.resize_terminal(200, 60)
        await pilot.pause()
        assert app.screen.has_class("wide")
        assert all(app.query_one(f"#{p}").display for p in ("matrix", "chart", "data", "debug"))
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert not app.screen.has_class("wide")

    run_app(app, body)


def test_resize_while_dialog_open_updates_main_screen() -> None:
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        # twice, so the result does not depend on which size a handler sees first
        await pilot.resize_terminal(200, 60)
        await pilot.resize_terminal(200, 60)
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        assert app.screen.has_class("wide")

    run_app(app, body)


def screen_lines(app: TrainerApp) -> list[str]:
    """The text of every row of the screen as the terminal would show it."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def test_long_lines_are_cut_not_wrapped() -> None:
    """The status line drops whole fields and the narrow network view builds
    ``Text(no_wrap=True, overflow="ellipsis")``: a line too long never wraps
    onto the next row (which would hide the rest of the status line and push the
    network view's layers apart)."""
    s = xor_session(epochs=100000)
    app = TrainerApp(s, name="xor-long-name")

    async def body(pilot: Pilot) -> None:
        await pilot.press("f", "f", "f", "n", "n")
        await pilot.pause()
        full = status(app)
        assert len(full) > 78  # longer than the line
        lines = screen_lines(app)
        status_row = lines[1].strip()
        # too long: whole fields are dropped (least important first), none is cut
        shown = status_row.split(" | ")
        assert shown and all(f in full.split(" | ") for f in shown), status_row
        assert "step 3" in shown and "lr 0.1" in shown
        assert "epoch" not in lines[2]  # nothing wrapped onto the next row
        net = [row[:34] for row in lines[2:]]
        l1 = next(i for i, r in enumerate(net) if "L1 2x4 tanh" in r)
        assert "|W|" in net[l1 + 1]
        assert "L2 4x2 linear" in net[l1 + 2], "\n".join(net)

    run_app(app, body)


def test_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("n", "n", "n", "n", "s", "f", "e")
        await settle(app, pilot)
        for key in ("2", "3", "1", "v", "l"):
            await pilot.press(key)
        await pilot.pause()
        assert s.epoch == 1
        assert "phase UPDATE" in status(app)
        # at 80 columns the status line leaves the phase to the phase bar, whose
        # brackets show it without colour
        assert "[UPDATE]" in _svg_text(app.export_screenshot())

    run_app(app, body)


def test_key_bar_shows_the_keys_and_follows_the_user_keymap(tmp_path: Path) -> None:
    keys = tmp_path / "config" / "tui-trainer" / "keys.toml"
    keys.parent.mkdir(parents=True)
    keys.write_text('[keys]\ncontinue = "g"\npause = "z"\n', encoding="utf-8")
    app = TrainerApp(xor_session(epochs=100_000), name="xor")

    async def body(pilot: Pilot) -> None:
        bar = app.query_one(KeyBar)
        assert bar.region.y == 23 and bar.region.height == 1  # the bottom line at 80x24
        line = bar.render().plain
        assert line.startswith(" n next  s layer  f step  e epoch  g run "), line
        assert " c run" not in line  # remapped: the bar shows the key that works
        assert line.rstrip().endswith(" ? help  q quit"), line
        assert " b break" not in line  # show=False bindings stay off the bar
        await pilot.press("g")
        await wait_until(pilot, lambda: app.running)
        await wait_until(pilot, lambda: bar.render().plain.startswith(" z pause "))
        running = bar.render().plain
        # the key that matters now comes first; help and quit stay at 80 columns
        assert len(running.rstrip()) <= 80 and running.rstrip().endswith(" ? help  q quit")
        await pilot.press("z")
        await settle(app, pilot)
        await wait_until(pilot, lambda: not bar.render().plain.startswith(" z pause "))
        assert bar.render().plain == line

    run_app(app, body)


@pytest.mark.parametrize(("width", "extras"), [(80, 1), (120, 5), (200, 10)])
def test_key_bar_lists_more_keys_when_wide(width: int, extras: int) -> None:
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        line = app.query_one(KeyBar).render().plain.rstrip()
        assert len(line) <= width and line.endswith(" ? help  q quit"), line
        for usual in ("n next", "c run", "N back", "v view"):
            assert usual in line  # the usual keys are never pushed out by extras
        wide = ["t to", "h hyper", "b break", "W watch", "g checks", "L landscape"]
        wide += ["x what if", "X compare", "o open", "^s save"]
        assert [k for k in wide if f" {k} " in line] == wide[:extras]

    run_app(app, body, size=(width, 60 if width > 80 else 24))


def test_key_bar_leads_with_continue_and_back_at_a_breakpoint() -> None:
    bps = BreakpointSet()
    bps.add("step >= 3")
    app = TrainerApp(xor_session(), name="xor", breakpoints=bps)

    async def body(pilot: Pilot) -> None:
        await pilot.press("c")
        await settle(app, pilot)
        assert app.session.step == 3
        line = app.query_one(KeyBar).render().plain
        assert line.startswith(" c run  N back │  n next "), line
        assert line.rstrip().endswith(" ? help  q quit"), line

    run_app(app, body)


def test_key_bar_leads_with_step_back_and_restart_after_divergence() -> None:
    app = TrainerApp(sine_session(lr=50), name="sine")

    async def body(pilot: Pilot) -> None:
        await pilot.press("c")
        await settle(app, pilot)
        assert app.session.nonfinite is not None
        await pilot.pause()
        line = app.query_one(KeyBar).render().plain
        assert line.startswith(" N back  R restart  h hyper │  n next "), line

    run_app(app, body)


# ---------------------------------------------------------------- screenshots


def _svg_text(svg: str) -> str:
    """The visible characters of an SVG screenshot, one string (spaces normalised)."""
    texts = re.findall(r"<text[^>]*>(.*?)</text>", svg, re.S)
    return html.unescape("".join(texts)).replace("\xa0", " ")


def test_screenshot_after_two_phases() -> None:
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("n", "n")
        await pilot.pause()
        text = _svg_text(app.export_screenshot())
        assert "[LOSS]" in text
        assert "phase LOSS" in status(app)  # on the screen only where it fits
        assert "epoch 1/20 | step 0 | batch loss" in text
        assert "Explain" in text

    run_app(app, body)


def test_snapshot_loss_phase_80x24(snap_compare: Any) -> None:
    """LOSS phase of the first step (chosen so the status line fits in 78 columns)."""
    app = TrainerApp(xor_session(epochs=5, batch_size=40), name="x")
    assert snap_compare(app, press=["n", "n"], terminal_size=(80, 24))


def test_snapshot_backprop_data_panel_120x40(snap_compare: Any) -> None:
    """BACKPROP of the first step with the decision-boundary panel."""
    app = TrainerApp(xor_session(), name="xor")
    assert snap_compare(app, press=["n", "n", "n", "3"], terminal_size=(120, 40))


# ------------------------------------------- issue 12: screens that never mislead


def scenario_app(name: str) -> TrainerApp:
    """The app as ``tui-trainer <name>`` opens it (breakpoints and watches included)."""
    from tui_trainer.cli import breakpoint_set, load

    sc, s = load(name)
    return TrainerApp(
        s,
        name=sc.name,
        watch_text=sc.watch,
        breakpoints=breakpoint_set(sc),
        watches=list(sc.watches),
    )


def red_marks(app: TrainerApp) -> set[tuple[int, str]]:
    """The (layer, quantity) pairs the narrow network panel shows in red."""
    net = app.query_one(NetworkView).content
    lines = net.plain.split("\n")
    starts = [sum(len(x) + 1 for x in lines[:k]) for k in range(len(lines))]
    kinds = {"sat": "saturated", "dead": "dead", "|grad|": "gradient", "upd": "update"}
    out = set()
    for sp in net.spans:
        if "red" not in str(sp.style):
            continue
        row = max(k for k, st in enumerate(starts) if st <= sp.start)
        word = net.plain[sp.start : sp.end].strip(" ·").split(" ")[0]
        out.add(((row - 1) // 2, kinds[word]))
    return out


def debug_text(app: TrainerApp) -> str:
    return str(app.query_one("#debug").content)


def test_explain_and_diagnosis_agree_after_lr_5() -> None:
    """`tui-trainer`, h, lr = 5, Enter, c, 4 at 120x40: the diagnosis said "Learning rate
    too large" while the explain panel said the learning rate "may be too low"."""
    app = scenario_app("xor")

    async def body(pilot: Pilot) -> None:
        await _set_lr(pilot, app, "5")
        await pilot.press("c")
        await settle(app, pilot)
        await pilot.press("4")
        await pilot.pause()
        diag, expl = debug_text(app), explain_text(app)
        assert "Learning rate too large" in diag
        assert "too low" not in expl and "too small" not in expl
        assert "Diagnosis, layer 1: Learning rate too large" in expl
        # The network panel marks red exactly the (layer, quantity) pairs the findings name.
        f = next(f for f in app.findings if f.code == "lr_too_large")
        for i, q in f.involves:
            if q == "saturated":
                assert f"layer {i + 1}'s tanh activations are saturated" in f.evidence
        assert red_marks(app) == {iq for fd in app.findings for iq in fd.involves}
        assert (0, "saturated") in red_marks(app)

    run_app(app, body, size=(120, 40))


def test_network_panel_flags_only_what_the_diagnosis_names() -> None:
    """A leaky_relu layer shown red "dead 100%" with accuracy stuck got "nothing
    suspicious so far": the red flag and the finding now come from one list."""
    d = data.split(data.generate("moons", 200, 0.0, 0), 0.2, 0)
    s = Session(
        TrainConfig(
            layers=(LayerSpec(16, "leaky_relu"), LayerSpec(2, "linear")),
            loss="cross_entropy",
            lr=0.05,
            bias_init=-3.0,
            epochs=5,
            seed=0,
        ),
        d,
    )
    app = TrainerApp(s, name="leaky")

    async def body(pilot: Pilot) -> None:
        await pilot.press("c")
        await settle(app, pilot)
        await pilot.press("4")
        await pilot.pause()
        diag = debug_text(app)
        assert "nothing suspicious" not in diag
        assert "Leaky ReLU units stuck below 0" in diag
        net = app.query_one(NetworkView).content
        spans = [(net.plain[sp.start : sp.end], str(sp.style)) for sp in net.spans]
        assert ("dead 100%", "bold red") in [(t.strip(" ·"), st) for t, st in spans]
        assert red_marks(app) == {iq for fd in app.findings for iq in fd.involves}

    run_app(app, body, size=(80, 24))


def _svg_rows(svg: str) -> list[str]:
    """The screenshot's text, one string per terminal row (from the clip-path line ids)."""
    rows: dict[int, str] = {}
    for m in re.finditer(
        r'<text[^>]*clip-path="url\(#[^)]*-line-(\d+)\)"[^>]*>(.*?)</text>', svg, re.S
    ):
        rows[int(m.group(1))] = rows.get(int(m.group(1)), "") + m.group(2)
    return [html.unescape(rows[k]).replace("\xa0", " ") for k in sorted(rows)]


def _status_row(app: TrainerApp) -> str:
    return next(r for r in _svg_rows(app.export_screenshot()) if "step " in r and " | " in r)


def test_underfitting_breakpoint_labels_every_loss_and_accuracy() -> None:
    """`underfitting` at its breakpoint showed `acc 48%` (validation), a watch
    `accuracy = 0.8` (last batch), "training accuracy is only 62%" (epoch) and a
    breakpoint `loss = 0.6511` (epoch mean) beside a status `loss 0.4955` (batch)."""
    app = scenario_app("underfitting")

    async def body(pilot: Pilot) -> None:
        await pilot.press("c")
        await settle(app, pilot)
        await pilot.press("4")
        await pilot.pause()
        s = app.session
        row = _status_row(app)
        train_loss = s.history.epochs.last("loss")
        val_acc = s.history.epochs.last("val_accuracy")
        # every figure says which quantity it is
        assert f"batch loss {s.history.steps.last('loss'):.4g}" in row
        assert f"train loss {train_loss:.4g}" in row
        assert f"val acc {val_acc:.0%}" in row
        assert not re.search(r"(?<!batch )(?<!train )(?<!val )\b(loss|acc|val) [\d-]", row), row
        expl, diag = explain_text(app), debug_text(app)
        # the breakpoint names the quantity it reads and shows the same figure
        assert f"hit: train_loss = {train_loss:.4g} (plateau 20 epochs" in expl
        assert f"train_loss = {train_loss:.4g}" in diag  # the watch
        assert f"train_accuracy = {s.history.epochs.last('accuracy'):.4g}" in diag
        assert f"val_accuracy = {val_acc:.4g}" in diag
        assert "the epoch train accuracy is only" in diag
        assert not re.search(r"(?<![_ ])accuracy = ", diag)  # no unlabelled accuracy
        assert f"val acc {val_acc:.0%}" in str(app.query_one(NetworkView).border_title)

    run_app(app, body, size=(120, 40))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_status_line_drops_whole_fields_least_important_first(size: tuple[int, int]) -> None:
    """At 80x24 the status line was cut mid-field ("val 0..."), losing val and lr."""
    app = scenario_app("xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("e")  # one epoch: a validation loss and accuracy exist
        await settle(app, pilot)
        await pilot.press("n", "n")
        await pilot.pause()
        row = _status_row(app).strip()
        assert len(row) <= size[0]
        assert "…" not in row and "..." not in row
        shown = row.split(" | ")
        every = [t for _, t in status_fields(app.session, "xor")]
        assert all(f in every for f in shown), shown  # whole fields only
        for must in ("step ", "batch loss ", "epoch ", "val loss ", "lr "):
            assert any(f.startswith(must) for f in shown), (must, shown)
        # what was dropped is less important than everything kept
        kept = {k for k, t in status_fields(app.session, "xor") if t in shown}
        dropped = {k for k, _ in status_fields(app.session, "xor")} - kept
        assert all(PRIORITY[d] > PRIORITY[k] for d in dropped for k in kept)

    run_app(app, body, size=size)


# ------------------------------------------------------------ reverse execution


def test_reverse_continue_key() -> None:
    from tui_trainer.engine.breakpoints import Trap

    s = xor_session()
    bps = BreakpointSet()
    bps.add("batch_loss < 0.5")
    app = TrainerApp(s, name="xor", breakpoints=bps)
    # the forward answer: continue, continue, ... and keep the last stop before the end
    ref = xor_session()
    ref.run(max_steps=40)
    end = ref.position
    ref = xor_session()
    hits = []
    while True:
        trap = Trap(bps, ref)
        trap.run(ref, max_steps=40 - ref.step)
        if trap.hit is None or ref.position >= end:
            break
        hits.append(ref.position)
    assert hits
    bps.items[0].hits = 0

    async def body(pilot: Pilot) -> None:
        with app.lock:
            s.run(max_steps=40)
        await pilot.press("C")
        await settle(app, pilot)
        assert s.position == hits[-1]
        assert "REVERSE-CONTINUE: breakpoint 'batch_loss < 0.5' fired" in explain_text(app)
        assert bps.items[0].hits == 0  # the user's counts are not touched
        if len(hits) > 1:
            await pilot.press("C")
            await settle(app, pilot)
            assert s.position == hits[-2]
        # no enabled breakpoint: says so, nothing moves
        bps.items[0].enabled = False
        here = s.position
        await pilot.press("C")
        await pilot.pause()
        assert s.position == here and "needs an enabled breakpoint" in explain_text(app)

    run_app(app, body)


def test_reverse_continue_beyond_the_history_offers_a_replay() -> None:
    s = xor_session(history_steps=16)
    bps = BreakpointSet()
    bps.add("step == 3")
    app = TrainerApp(s, name="xor", breakpoints=bps)

    async def body(pilot: Pilot) -> None:
        with app.lock:
            s.run(max_steps=100)
        await pilot.press("C")
        await settle(app, pilot)
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert s.step == 100
        await pilot.press("y")
        await settle(app, pilot)
        assert s.position == 3 * s.E and "fired here" in explain_text(app)
        ref = xor_session(history_steps=16)
        ref.run(max_steps=3)
        assert all(
            np.array_equal(p, q) for p, q in zip(ref.net.params(), s.net.params(), strict=True)
        )

    run_app(app, body)


def test_reverse_watch_key() -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor", watches=["W[0][0,0]"])

    async def body(pilot: Pilot) -> None:
        with app.lock:
            s.run(max_steps=30)
        series = list(app.watches.items[0].steps)
        big = sorted(abs(b[1] - a[1]) for a, b in zip(series, series[1:], strict=False))[-3]
        # strictly before this pause (the change that led here is not "back")
        want = max(
            b[0]
            for a, b in zip(series, series[1:], strict=False)
            if abs(b[1] - a[1]) > big and b[0] < 30
        )
        await pilot.press("u")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)
        app.screen.query_one(Input).value = f"W[0][0,0] change {big!r}"
        await pilot.press("enter")
        await settle(app, pilot)
        assert s.position == want * s.E
        assert "REVERSE WATCH" in explain_text(app)

    run_app(app, body)


def test_first_bad_value_key() -> None:
    from tui_trainer.cli import load
    from tui_trainer.engine.reverse import first_bad_value

    ref = load("exploding_gradients")[1]
    ref.run()
    want = first_bad_value(ref).found
    assert want is not None
    s = load("exploding_gradients")[1]
    app = TrainerApp(s, name="exploding_gradients")

    async def body(pilot: Pilot) -> None:
        with app.lock:
            s.run()
        assert s.nonfinite is not None
        await pilot.press("exclamation_mark")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)
        await pilot.press("enter")  # the default limit, 1e6
        await settle(app, pilot)
        assert s.position == want.position and s.nonfinite is None
        text = explain_text(app)
        assert f"FIRST BAD VALUE at {want.where()}" in text and "Why:" in text
        assert app.selected_layer == want.layer

    run_app(app, body)


def test_a_reverse_search_shows_progress_and_p_cancels_it() -> None:
    s = xor_session(history_steps=16, epochs=2000)
    bps = BreakpointSet()
    bps.add("step == 3")
    app = TrainerApp(s, name="xor", breakpoints=bps)

    async def body(pilot: Pilot) -> None:
        with app.lock:
            s.run(max_steps=6000)
        here = s.position
        before = weights(s)
        await pilot.press("C")
        await settle(app, pilot)
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        app.lock.acquire()  # the search's worker waits for the lock to start
        try:
            await pilot.press("y")
            await wait_until(pilot, lambda: app.running)
            app.refresh_status()
            assert "reverse-continue from the start 0% (p: cancel)" in app._last_status
            assert "Press p or space to cancel" in app._explain_text()
            await pilot.press("p")
        finally:
            app.lock.release()
        await settle(app, pilot)
        assert "Search cancelled" in explain_text(app)
        assert s.position == here
        assert all(np.array_equal(p, q) for p, q in zip(before, weights(s), strict=True))

    run_app(app, body)
