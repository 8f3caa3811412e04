"""The data and inputs dialog (D) and the one-line command of the setup (d)."""

from __future__ import annotations

import shlex

import numpy as np
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, Label, Static

from pilot import run_app, wait_until
from tui_trainer.cli import breakpoint_set, build_parser, load, open_scenario
from tui_trainer.scenario.write import _document
from tui_trainer.ui.app import TrainerApp
from tui_trainer.ui.screens.about import AboutScreen
from tui_trainer.ui.screens.data_setup import DataSetupScreen


def app_for(name: str = "xor") -> TrainerApp:
    sc, session = load(name)
    app = TrainerApp(
        session,
        name=sc.name,
        scenario_text=sc.text,
        breakpoints=breakpoint_set(sc),
        watches=list(sc.watches),
    )
    app.scenario = sc
    return app


async def open_dialog(pilot: Pilot, app: TrainerApp) -> DataSetupScreen:
    await pilot.press("D")
    await pilot.pause()
    assert isinstance(app.screen, DataSetupScreen)
    return app.screen


def box(screen: DataSetupScreen, name: str) -> Checkbox:
    return screen.query_one(f"#feat-{screen.offered.index(name)}", Checkbox)


async def set_input(pilot: Pilot, widget: Input, text: str) -> None:
    widget.focus()
    await pilot.pause()
    widget.value = text
    await pilot.pause()


def test_inputs_toggled_in_the_dialog_rebuild_the_first_layer_and_step_back_undoes_it() -> None:
    app = app_for()

    async def body(pilot: Pilot) -> None:
        s = app.session
        s.run_to_step(5)
        before = s.net.get_params()
        screen = await open_dialog(pilot, app)
        assert screen.offered[:7] == ["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"]
        box(screen, "x1^2").focus()
        await pilot.press("space")
        box(screen, "x1*x2").value = True
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, DataSetupScreen)
        s = app.session
        assert s.features == ("x1", "x2", "x1^2", "x1*x2")
        assert s.net.params()[0].shape[0] == 4
        np.testing.assert_array_equal(s.net.params()[0][:2], before[0])
        assert "rebuilt at step 5" in app.message_text
        s.run_to_step(9)
        s.goto(3 * s.E)
        assert s.features == ("x1", "x2")

    run_app(app, body)


def test_bad_data_settings_show_the_scenario_error_and_do_not_apply() -> None:
    app = app_for()

    async def body(pilot: Pilot) -> None:
        screen = await open_dialog(pilot, app)
        await set_input(pilot, screen.query_one("#noise", Input), "2")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DataSetupScreen)  # still open
        error = str(screen.query_one("#setup-error", Label).render())
        assert "data.noise" in error and "must be <= 1" in error
        await pilot.press("escape")
        await pilot.pause()
        assert app.session.data0.name == "xor"

    run_app(app, body)


def test_new_data_is_previewed_then_a_new_run_that_the_saved_scenario_reproduces(
    tmp_path,
) -> None:
    app = app_for()

    async def body(pilot: Pilot) -> None:
        old_points = app.session.data0.x_train.copy()
        screen = await open_dialog(pilot, app)
        await set_input(pilot, screen.query_one("#noise", Input), "0.3")
        await set_input(pilot, screen.query_one("#val_fraction", Input), "0.5")
        await pilot.press("ctrl+r")  # a new draw: the seed + 1
        await pilot.pause()
        assert screen.query_one("#data_seed", Input).value == "3"
        preview = screen.query_one("#setup-preview", Static)
        await wait_until(pilot, lambda: "Preview of the new data" in str(preview.render()))
        assert "100 training, 100 validation" in str(
            screen.query_one("#setup-preview", Static).render()
        )
        assert app.session.x_val.shape[0] == 40  # nothing applied yet
        await pilot.press("enter")
        await pilot.pause()
        s = app.session
        assert s.x_val.shape[0] == 100 and s.step == 0
        assert not np.array_equal(s.data0.x_train[:10], old_points[:10])
        assert app.scenario.data.noise == 0.3 and app.scenario.data.data_seed == 3
        # The command line of the setup gives the same data, bit for bit.
        line = app.setup_command()
        argv = shlex.split(line)
        args = build_parser().parse_args(["check", *argv[1:]])
        sc = open_scenario(args.files[0], args.set)
        np.testing.assert_array_equal(sc.load_data().x_train, s.data0.x_train)

    run_app(app, body, size=(120, 40))


def test_command_line_in_the_about_card_reproduces_the_setup() -> None:
    app = app_for()

    async def body(pilot: Pilot) -> None:
        assert app.setup_command() == "tui-trainer xor"  # nothing changed
        app.session.set_hyper(lr=0.3, features=["x1", "x2", "sin(x1)"])
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, AboutScreen)
        line = app.setup_command()
        shown = str(app.screen.query_one("#about-text", Static).render())
        assert "This setup in one line" in shown
        argv = shlex.split(line)
        assert argv[:2] == ["tui-trainer", "xor"]
        args = build_parser().parse_args(["check", *argv[1:]])
        got = open_scenario(args.files[0], args.set)
        assert got.lr == 0.3
        assert got.data.features == ("x1", "x2", "sin(x1)")
        want = app.scenario.to_toml(**app.current_setup())
        from tui_trainer.scenario import parse_scenario

        assert _document(got, None) == _document(parse_scenario(want), None)

    run_app(app, body)


def test_w_writes_the_inputs_and_the_new_data(tmp_path, monkeypatch) -> None:
    """The saved scenario reproduces the run's data and inputs (it did not
    before: w wrote only the hyperparameters)."""
    from textual.widgets import Input as In

    from tui_trainer.scenario import load_scenario
    from tui_trainer.ui.screens.prompt import PromptScreen

    monkeypatch.chdir(tmp_path)
    app = app_for()

    async def body(pilot: Pilot) -> None:
        screen = await open_dialog(pilot, app)
        await set_input(pilot, screen.query_one("#noise", In), "0.2")
        await pilot.press("enter")
        await pilot.pause()
        app.session.set_hyper(features=["x1", "x2", "x1*x2"])
        await pilot.press("w")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)
        await pilot.press("enter")
        await pilot.pause()
        back = load_scenario(tmp_path / "xor-edited.toml")
        assert back.data.noise == 0.2
        assert back.data.features == ("x1", "x2", "x1*x2")
        data = back.load_data()
        np.testing.assert_array_equal(data.base_train, app.session.data0.x_train)

    run_app(app, body)


def test_the_data_panel_draws_crossed_inputs_over_x1_and_x2() -> None:
    """With inputs x1^2, x2^2 the data panel still shows the decision regions
    (before, a network with 4 inputs got the confusion matrix)."""
    from tui_trainer.ui.widgets.data_view import DataView

    app = app_for("circle_features")

    async def body(pilot: Pilot) -> None:
        assert app.session.x_train.shape[1] == 4
        await pilot.press("3")
        await pilot.pause()
        text = str(app.query_one(DataView).query_one("#data-text", Static).render())
        assert "shade = confidence" in text
        assert "confusion" not in text  # the confusion table's header

    run_app(app, body, size=(120, 40))


def test_another_kind_of_data_from_the_dialog() -> None:
    """circles after xor keeps the inputs; sine (a 1-D regression) after xor
    starts from its own column x and the regression loss."""
    from textual.widgets import Select

    app = app_for()

    async def body(pilot: Pilot) -> None:
        for kind, task, width in (("circles", "classification", 3), ("sine", "regression", 1)):
            screen = await open_dialog(pilot, app)
            if kind == "circles":
                box(screen, "x1*x2").value = True
            screen.query_one("#kind", Select).value = kind
            await pilot.pause()
            await pilot.press("enter")
            await pilot.pause()
            assert not isinstance(app.screen, DataSetupScreen), str(
                screen.query_one("#setup-error", Label).render()
            )
            s = app.session
            assert s.data.task == task and s.data0.name == kind
            assert s.x_train.shape[1] == width
        assert app.scenario.loss is None and app.session.cfg.loss == "mse"
        line = app.setup_command()
        assert "--set data.kind=sine" in line and "--set loss=mse" in line
        args = build_parser().parse_args(["check", *shlex.split(line)[1:]])
        sc = open_scenario(args.files[0], args.set)
        assert sc.data.kind == "sine" and sc.loss_for("regression") == "mse"
        np.testing.assert_array_equal(sc.load_data().x_train, app.session.x_train)

    run_app(app, body)
