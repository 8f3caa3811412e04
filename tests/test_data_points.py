"""Training points added and removed by hand: ``[data] added_points`` and
``removed_points`` (engine/data.py edit_points), and the data view's clicks
that set them (ConvNetJS's classify demo): the new run is reproducible from the
saved scenario."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from textual.pilot import Pilot

from pilot import run_app, wait_until
from tui_trainer.cli import load
from tui_trainer.scenario import ScenarioError, load_scenario, parse_scenario
from tui_trainer.ui.app import TrainerApp
from tui_trainer.ui.widgets.data_view import DataView

BASE = 'name = "p"\nseed = 1\n[data]\nkind = "xor"\nn_samples = 40\n'


def test_points_are_removed_by_index_and_added_after_the_kept_ones() -> None:
    plain = parse_scenario(BASE, "p.toml").load_data()
    sc = parse_scenario(
        BASE + "added_points = [[0.5, 0.5, 1], [-1.0, 2.0, 0]]\nremoved_points = [3, 0]\n",
        "p.toml",
    )
    d = sc.load_data()
    keep = np.ones(len(plain.x_train), bool)
    keep[[0, 3]] = False
    np.testing.assert_array_equal(d.x_train[:-2], plain.x_train[keep])
    np.testing.assert_array_equal(d.x_train[-2:], [[0.5, 0.5], [-1.0, 2.0]])
    np.testing.assert_array_equal(d.y_train[-2:], [1, 0])
    np.testing.assert_array_equal(d.x_val, plain.x_val)  # validation never changes
    again = parse_scenario(sc.to_toml(), "p.toml").load_data()  # written back, read again
    np.testing.assert_array_equal(again.x_train, d.x_train)
    np.testing.assert_array_equal(again.y_train, d.y_train)


def test_added_points_get_the_crossed_inputs_too() -> None:
    sc = parse_scenario(
        BASE + 'features = ["x1", "x1*x2", "x2^2"]\nadded_points = [[0.5, -2.0, 1]]\n', "p.toml"
    )
    d = sc.load_data()
    np.testing.assert_allclose(d.x_train[-1], [0.5, -1.0, 4.0])
    np.testing.assert_array_equal(d.base_train[-1], [0.5, -2.0])


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        ("added_points = [[0.5, 0.5, 2]]", "data.added_points[0]", "class 2"),
        ("added_points = [[0.5, 1e9, 0]]", "data.added_points[0]", "too large"),
        ("added_points = [[0.5, 0]]", "data.added_points[0]", "got"),
        ("removed_points = [1, 1]", "data.removed_points", "distinct"),
    ],
)
def test_bad_points_get_one_clear_error(extra: str, field: str, words: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(BASE + extra + "\n", "p.toml")
    (problem,) = info.value.problems
    text = problem.message + " " + (problem.allowed or "")
    assert problem.field == field and words in text and problem.line == 6


def test_points_are_refused_for_data_they_do_not_fit() -> None:
    with pytest.raises(ScenarioError, match="only used with"):
        parse_scenario('[data]\nkind = "sine"\nadded_points = [[0.5, 0.5, 0]]\n', "p.toml")


def test_check_names_a_removed_point_the_training_set_does_not_have(tmp_path: Path) -> None:
    f = tmp_path / "p.toml"
    f.write_text(BASE + "removed_points = [500]\n")
    proc = subprocess.run(
        [sys.executable, "-m", "tui_trainer", "check", str(f)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "data.removed_points: point 500 is not in the training set" in proc.stderr
    assert "Traceback" not in proc.stderr


def _app(tmp_path: Path) -> TrainerApp:
    f = tmp_path / "p.toml"
    f.write_text(BASE)
    sc, s = load(str(f))
    app = TrainerApp(s, name=sc.name)
    app.scenario = sc
    return app


def _map_cell(dv: DataView, x1: float, x2: float) -> tuple[int, int]:
    (xmin, xmax, ymin, ymax), w, rows = dv.geometry
    return int((x1 - xmin) / (xmax - xmin) * w), int((ymax - x2) / (ymax - ymin) * rows)


def test_clicks_add_and_remove_points_and_w_saves_them(tmp_path: Path) -> None:
    """Left click adds a point of the first class there, shift+click one of the
    second, a right click on a training point removes it; each starts a new run
    at epoch 0; the scenario the app writes reproduces the training set."""
    app = _app(tmp_path)
    border = 1

    async def body(pilot: Pilot) -> None:
        await pilot.press("3")  # the data panel
        await pilot.press("e")
        await wait_until(pilot, lambda: not app.running and app.session.epoch == 1)
        dv = app.query_one(DataView)
        await wait_until(pilot, lambda: dv.geometry is not None)
        n0 = len(app.session.data.x_train)
        col, row = _map_cell(dv, 0.0, 0.0)
        await pilot.click(DataView, offset=(border + col, border + row))
        await wait_until(pilot, lambda: len(app.session.data.x_train) == n0 + 1)
        assert app.session.epoch == 0  # a new run
        x, c = app.session.data.x_train[-1], app.session.data.y_train[-1]
        assert c == 0 and np.hypot(*x) < 0.5  # where the click was, within a cell
        await pilot.pause()
        await pilot.click(DataView, offset=(border + col, border + row), shift=True)
        await wait_until(pilot, lambda: len(app.session.data.x_train) == n0 + 2)
        assert app.session.data.y_train[-1] == 1
        # A right click on an original training point removes it.
        target = app.session.data.x_train[5].copy()
        await pilot.pause()
        tc, tr = _map_cell(dv, *target)
        await pilot.click(DataView, offset=(border + tc, border + tr), button=3)
        await wait_until(pilot, lambda: len(app.session.data.x_train) == n0 + 1)
        assert len(app.scenario.data.removed_points) == 1
        assert "removed by hand" in " ".join(str(app.message_text).split())
        saved = tmp_path / "saved.toml"
        saved.write_text(app.scenario.to_toml())
        again = load_scenario(saved).load_data()
        np.testing.assert_array_equal(again.x_train, app.session.data.x_train)
        np.testing.assert_array_equal(again.y_train, app.session.data.y_train)

    run_app(app, body, (120, 40))
