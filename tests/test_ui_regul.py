"""The app's side of L1, dropout and lr schedules: the h dialog records them,
the chart draws the schedule, the explain panel shows the dropout mask."""

from __future__ import annotations

import numpy as np
from textual.pilot import Pilot
from textual.widgets import Input, Select, Static

from pilot import run_app, tanh_session, xor_session
from tui_trainer.engine import data
from tui_trainer.engine.config import LayerSpec
from tui_trainer.scenario import parse_scenario
from tui_trainer.ui.app import TrainerApp, _regul_overrides
from tui_trainer.ui.screens.hyper import HyperScreen, parse_hyper
from tui_trainer.ui.widgets.loss_chart import LossChart


def explain_text(app: TrainerApp) -> str:
    return str(app.query_one("#explain").content)


def status(app: TrainerApp) -> str:
    return str(app.query_one("#status").content)


def test_parse_hyper_checks_the_new_fields() -> None:
    base = {
        "lr": "0.1",
        "l2": "0",
        "momentum": "0.9",
        "batch_size": "10",
        "epochs": "20",
        "optimizer": "sgd",
        "l1": "0.001",
        "schedule": "cosine",
        "warmup_epochs": "2",
        "step_size": "10",
        "gamma": "0.5",
        "min_lr": "0.01",
        "t_max": "0",
    }
    out, errors = parse_hyper(base)
    assert errors == []
    assert out["l1"] == 0.001 and out["schedule"] == "cosine" and out["warmup_epochs"] == 2
    for key, bad, message in (
        ("l1", "-1", "l1: -1 is outside [0, 100]"),
        ("gamma", "0", "gamma: 0 is outside (0, 1]"),
        ("step_size", "0", "step_size: '0' must be a whole number >= 1"),
        ("warmup_epochs", "1.5", "warmup_epochs: '1.5' must be a whole number >= 0"),
        ("min_lr", "0.5", "min_lr: 0.5 is above lr 0.1"),
        ("schedule", "cosin", "schedule: must be one of constant, step, exponential, cosine"),
    ):
        _, errors = parse_hyper({**base, key: bad})
        assert message in errors, (key, errors)


def test_h_dialog_sets_l1_and_a_schedule_recorded_for_step_back() -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("e")  # one epoch at lr 0.1, constant
        await pilot.pause()
        assert s.epoch == 1
        await pilot.press("h")
        await pilot.pause()
        assert isinstance(app.screen, HyperScreen)
        app.screen.query_one("#schedule", Select).value = "exponential"
        for key, value in (("l1", "0.01"), ("gamma", "0.5")):
            app.screen.query_one(f"#{key}", Input).value = value
        app.screen.query_one("#lr", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, HyperScreen)
        at = s.step
        assert s._hp_log[at] == {"l1": 0.01, "schedule": "exponential", "gamma": 0.5}
        # epoch 1 of an exponential schedule from base 0.1: 0.1 * 0.5
        assert s.current_lr == 0.05
        assert "lr 0.05" in status(app)
        await pilot.press("e", "2")  # another epoch; the chart panel
        await pilot.pause()
        assert s.history.step_series("lr")[-1] == 0.05
        assert s.history.step_series("lr")[at - 1] == 0.1
        strip = app.query_one(LossChart).query_one("#chart-lr", Static)
        assert strip.display and str(strip.content).startswith("lr ")
        want, here = [p.copy() for p in s.net.params()], s.position
        s.goto(3)  # back before the change: the old hyperparameters
        assert s.hyperparameters()["l1"] == 0.0 and s.hyperparameters()["schedule"] == "constant"
        s.goto(here)  # and forward again: replayed with the change
        assert s.hyperparameters()["l1"] == 0.01
        assert all(np.array_equal(a, b) for a, b in zip(s.net.params(), want, strict=True))

    run_app(app, body)


def test_no_schedule_no_strip() -> None:
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("e")
        await pilot.press("2")
        await pilot.pause()
        assert not app.query_one(LossChart).query_one("#chart-lr", Static).display

    run_app(app, body)


def test_forward_phase_shows_the_dropout_mask() -> None:
    d = data.split(data.generate("xor", 200, 0.0, 0), 0.2, 0)
    s = tanh_session(d, 16, 2, layers=(LayerSpec(16, "tanh", 0.25), LayerSpec(2, "linear")))
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("s")  # FORWARD layer 1
        await pilot.pause()
        dropped = int(np.count_nonzero(s.net.layers[0].mask[0] == 0))
        assert f"Dropout 0.25: {dropped} of 16 units dropped for sample 0" in explain_text(app)
        await pilot.press("s")  # FORWARD layer 2 (no dropout): its inputs were dropped
        await pilot.pause()
        assert f"{dropped} of 16 are 0 for sample 0" in explain_text(app)

    run_app(app, body, size=(120, 40))


def test_saved_scenario_keeps_live_l1_and_schedule() -> None:
    sc = parse_scenario('[training]\nlr = 0.1\nschedule = "step"\nstep_size = 5\n')
    d = sc.load_data()
    from tui_trainer.engine.session import Session

    s = Session(sc.train_config(d), d)
    assert _regul_overrides(sc, s.hyperparameters()) == {}  # nothing changed: nothing added
    s.set_hyper(l1=0.003, schedule="cosine", min_lr=0.001)
    back = parse_scenario(sc.to_toml(**_regul_overrides(sc, s.hyperparameters())))
    assert (back.l1, back.schedule, back.min_lr, back.t_max) == (0.003, "cosine", 0.001, 0)


def test_what_if_accepts_l1_and_sends_the_schedule_to_h() -> None:
    from tui_trainer.ui.screens.whatif import parse_change

    assert parse_change("l1=0.01") == ({"l1": 0.01}, "")
    assert parse_change("l1=-1")[1] == "l1=-1 is outside [0, 100]"
    changes, error = parse_change("schedule=cosine")
    assert changes == {} and "unknown hyperparameter 'schedule'" in error


def test_hyper_dialog_with_a_schedule_fits_80x24_errors_included() -> None:
    from pilot import tanh_session as make

    d = data.split(data.generate("xor", 200, 0.0, 0), 0.2, 0)
    s = make(d, 4, 2, schedule="cosine", warmup_epochs=3, min_lr=0.001)
    app = TrainerApp(s, name="warm")

    async def body(pilot: Pilot) -> None:
        await pilot.press("h")
        await pilot.pause()
        assert isinstance(app.screen, HyperScreen)
        app.screen.query_one("#lr", Input).value = "-1"
        app.screen.query_one("#gamma", Input).value = "2"
        await pilot.press("enter")
        await pilot.pause()
        box = app.screen.query_one("#hyper-box").content_region
        err = app.screen.query_one("#hyper-error")
        assert "lr: -1 is outside" in str(err.content) and "gamma: 2" in str(err.content)
        assert err.region.height >= 2 and err.region.bottom <= box.bottom <= 24
        for field in app.screen.query(Input):
            assert box.y <= field.region.y and field.region.bottom <= box.bottom, field.id

    run_app(app, body, size=(80, 24))


def test_lr_strip_shows_the_recorded_past_and_the_planned_rest() -> None:
    from tui_trainer.ui.render.lr_strip import BARS, schedule_strip

    s = xor_session(epochs=20, schedule="step", step_size=5, gamma=0.1)
    assert schedule_strip(xor_session(), 60) is None  # constant lr: no strip
    s.run_to_epoch(6)
    s.set_hyper(lr=1.0)  # a live change of the base: the past keeps what was used
    strip = schedule_strip(s, 32)  # 20 columns, one per epoch
    assert strip is not None and strip.cell_len <= 32
    text = strip.plain
    assert text.startswith("lr ") and text.endswith(" 0.1")  # next step: 1.0 * 0.1
    bars = text[3 : 3 + 20]
    assert set(bars) <= set(BARS)
    # log scale (0.1 .. 0.0001 and the new 1.0): done 0.1 x5, 0.01 x1, then the plan
    levels = [BARS.index(c) for c in bars]
    assert levels[0] == levels[4] and levels[5] < levels[4]
    assert levels[6] > levels[5]  # the new base scaled by 0.1 = 0.1 again
    assert levels[10] < levels[9] and levels[15] < levels[14]
    styles = {span.start: str(span.style) for span in strip.spans}
    assert "dim" not in styles.get(3, "") and styles.get(3 + 6) == "dim"
