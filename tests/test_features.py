"""Input features (engine/features.py): Playground's crosses of x1 and x2 and of
a CSV's named columns, in the scenario, in the engine and in a live session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tui_trainer.engine import data as data_mod
from tui_trainer.engine.features import (
    PLAYGROUND_FEATURES,
    FeatureError,
    compute_features,
    parse_features,
)
from tui_trainer.scenario import ScenarioError, parse_scenario


def test_every_playground_feature_is_computed_from_x1_and_x2() -> None:
    base = np.array([[0.5, -2.0], [3.0, 1.5]])
    x = compute_features(base, parse_features(PLAYGROUND_FEATURES, ["x1", "x2"]))
    x1, x2 = base[:, 0], base[:, 1]
    expected = np.column_stack([x1, x2, x1**2, x2**2, x1 * x2, np.sin(x1), np.sin(x2)])
    np.testing.assert_array_equal(x, expected)


@pytest.mark.parametrize(
    ("features", "fragment"),
    [
        (["x1", "x3"], "unknown feature 'x3'"),
        (["x1", "sin (x1"], "did you mean 'sin(x1)'"),
        (["x1*x2", "x2 * x1"], "is the same as 'x1*x2'"),
        (["x1^2", "x1*x1"], "is the same as 'x1^2'"),
        (["x1", "x1"], "listed twice"),
        ([], "no features"),
        (["x1"] * 300, "at most 256"),
    ],
)
def test_bad_features_are_refused_with_a_reason(features: list[str], fragment: str) -> None:
    with pytest.raises(FeatureError) as info:
        parse_features(features, ["x1", "x2"])
    assert fragment in info.value.message


def test_generated_data_with_crosses_keeps_its_base_columns_through_the_split() -> None:
    gen = data_mod.generate("circles", 100, 0.0, 3)
    crossed = data_mod.with_features(gen, ["x1^2", "x2^2", "x1*x2"])
    ds = data_mod.split(crossed, 0.2, 3)
    plain = data_mod.split(gen, 0.2, 3)
    np.testing.assert_array_equal(ds.base_train, plain.x_train)  # same rows, same split
    np.testing.assert_array_equal(ds.x_train[:, 0], plain.x_train[:, 0] ** 2)
    assert ds.feature_names == ["x1^2", "x2^2", "x1*x2"]
    assert ds.columns[2] == ["x1", "x2"]
    # The live toggle computes other inputs from the same rows.
    back = data_mod.select_features(ds, ["x1", "x2"])
    np.testing.assert_array_equal(back.x_train, plain.x_train)
    assert back.base_train is None and back.features is None
    again = data_mod.select_features(back, ["x1", "sin(x2)"])
    np.testing.assert_array_equal(again.x_val[:, 1], np.sin(plain.x_val[:, 1]))


def test_csv_crosses_of_named_columns(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("age,income,bought\n20,1,0\n30,2,1\n40,3,0\n50,5,1\n60,8,1\n")
    gen = data_mod.load_csv(path, target="bought", features=["age", "age*income", "sin(age)"])
    age, income = np.array([20, 30, 40, 50, 60.0]), np.array([1, 2, 3, 5, 8.0])
    np.testing.assert_array_equal(gen.x[:, 1], age * income)
    np.testing.assert_array_equal(gen.x[:, 2], np.sin(age))
    assert gen.base_names == ["age", "income"]
    with pytest.raises(data_mod.DataError) as info:
        data_mod.load_csv(path, target="bought", features=["age", "agee^2"])
    assert info.value.field == "features"
    assert "did you mean 'age^2'" in info.value.message
    # Crosses come after standardisation: age^2 of a z-scored age.
    z = data_mod.load_csv(path, target="bought", features=["age", "age^2"], standardize=True)
    np.testing.assert_allclose(z.x[:, 1], z.x[:, 0] ** 2)


def test_scenario_features_load_and_round_trip() -> None:
    text = (
        'seed = 3\n[data]\nkind = "xor"\nfeatures = ["x1", "x2", "x1*x2"]\ndata_seed = 9\n'
        "[model]\nhidden = []\n"
    )
    sc = parse_scenario(text)
    assert sc.data.features == ("x1", "x2", "x1*x2")
    ds = sc.load_data()
    assert ds.x_train.shape[1] == 3
    np.testing.assert_array_equal(ds.x_train[:, 2], ds.base_train[:, 0] * ds.base_train[:, 1])
    again = parse_scenario(sc.to_toml())
    assert again.data == sc.data
    # data_seed draws other points, the weights' seed stays.
    other = parse_scenario(sc.to_toml(data_seed=10))
    assert not np.array_equal(other.load_data().base_train, ds.base_train)
    assert other.seed == sc.seed


def test_scenario_feature_problem_names_the_item() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario('[data]\nkind = "circles"\nfeatures = ["x1", "x2^3"]\n')
    (problem,) = info.value.problems
    assert problem.field == "data.features[1]"
    assert problem.line == 3
    assert "did you mean 'x2^2'" in problem.message


# --------------------------------------------------------------------------
# Switching inputs live: recorded like a hyperparameter change
# --------------------------------------------------------------------------


def _session(optimizer: str = "adam"):
    from tui_trainer.engine.session import Session

    sc = parse_scenario(
        'seed = 3\n[data]\nkind = "circles"\n[model]\nhidden = [3]\n'
        f'[training]\noptimizer = "{optimizer}"\nlr = 0.01\nepochs = 20\nhistory_steps = 100\n'
    )
    data = sc.load_data()
    return Session(sc.train_config(data), data)


def _params(s) -> list[np.ndarray]:
    return s.net.get_params()


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_step_back_across_an_input_switch_replays_bit_for_bit(optimizer: str) -> None:
    s = _session(optimizer)
    s.run_to_step(7)
    before = _params(s)
    at = s.set_hyper(features=["x1", "x2", "x1^2", "x2^2"])
    assert at == 7
    W0 = s.net.params()[0]
    assert W0.shape == (4, 3)
    np.testing.assert_array_equal(W0[:2], before[0])  # kept inputs keep their weights
    s.run_to_step(12)
    s.set_hyper(features=["x2", "x1^2", "sin(x1)"])
    s.run_to_step(30)
    end = _params(s)
    s.goto(5 * s.E)  # before both switches: the old shape
    assert s.features == ("x1", "x2")
    assert s.net.params()[0].shape == (2, 3)
    assert s.x_train.shape[1] == 2
    s.goto(30 * s.E)
    assert s.features == ("x2", "x1^2", "sin(x1)")
    assert _same(_params(s), end)


def test_switches_at_one_boundary_count_only_by_their_result() -> None:
    """Toggling one input after another, or on and off again, before a step
    gives what a replay (which applies only the final set) gives."""

    def run(switches: list[list[str]]) -> list[np.ndarray]:
        s = _session()
        s.run_to_step(7)
        for features in switches:
            s.set_hyper(features=features)
        s.run_to_step(20)
        return _params(s)

    four = ["x1", "x2", "x1^2", "x2^2"]
    assert _same(run([four]), run([["x1", "x2", "x1^2"], ["x2"], four]))
    assert _same(run([["x1", "x2", "sin(x2)"], ["x1", "x2"]]), run([]))


def test_new_input_rows_are_seeded_not_drawn_from_the_run() -> None:
    a, b = _session(), _session()
    a.run_to_step(4)
    b.run_to_step(4)
    a.set_hyper(features=["x1", "x2", "x1*x2"])
    b.set_hyper(features=["x1*x2", "x1", "x2"])
    np.testing.assert_array_equal(a.net.params()[0][2], b.net.params()[0][0])


def test_bad_inputs_are_refused_before_anything_changes() -> None:
    s = _session()
    s.run_to_step(3)
    with pytest.raises(ValueError, match="unknown feature 'x3'"):
        s.set_hyper(features=["x1", "x3"])
    assert s.features == ("x1", "x2")
    assert s.pending_hyper() == {}


def test_a_checkpoint_after_a_switch_resumes_exactly(tmp_path: Path) -> None:
    from tui_trainer.engine.checkpoint import load_checkpoint, save_checkpoint
    from tui_trainer.engine.session import Session

    s = _session()
    s.run_to_step(7)
    s.set_hyper(features=["x1", "x1^2", "x2^2"])
    s.run_to_step(20)
    path = save_checkpoint(s, tmp_path / "c.npz")
    t = Session(s.cfg, s.data0)
    load_checkpoint(t, path)
    assert t.features == ("x1", "x1^2", "x2^2")
    s.run_to_step(40)
    t.run_to_step(40)
    assert _same(_params(s), _params(t))
    # restart goes back to the scenario's inputs
    t.restart()
    assert t.features == ("x1", "x2") and t.net.params()[0].shape == (2, 3)


def test_gradients_after_a_switch_match_numerical_ones() -> None:
    """The rebuilt first layer is wired into backprop: the engine's gradients
    on the crossed inputs agree with central differences."""
    from tui_trainer.engine.gradcheck import gradcheck

    s = _session("sgd")
    s.run_to_step(6)
    s.set_hyper(features=["x1", "x1^2", "x2^2", "x1*x2", "sin(x2)"])
    s.run_to_step(9)
    x, y, _ = s.current_batch()
    assert x.shape[1] == 5
    for res in gradcheck(s.net, s.loss, x, y, max_per_param=None):
        assert res.max_rel_error < 1e-6, (res.name, res.max_rel_error)
        assert res.checked == res.total


def test_a_replay_from_the_start_retraces_an_input_switch() -> None:
    """Reverse searches (u, !) replay from the start with the recorded changes."""
    from tui_trainer.engine.reverse import replay_from_origin

    s = _session()
    s.run_to_step(4)
    s.set_hyper(features=["x2", "sin(x1)"])
    s.run_to_step(15)
    t = replay_from_origin(s)
    assert t.features == ("x1", "x2")
    t.run_to_step(15)
    assert t.features == ("x2", "sin(x1)")
    assert _same(_params(s), _params(t))


def test_a_cross_that_overflows_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("a,b,label\n1e200,1,0\n2,3,1\n4,5,0\n6,7,1\n")
    with pytest.raises(data_mod.DataError) as info:
        data_mod.load_csv(path, features=["a", "a^2"], standardize=False)
    assert info.value.field == "features"
    assert "'a^2' is not finite" in info.value.message


@pytest.mark.parametrize(
    "order",
    [
        ["edit x2", "switch"],  # the edited input kept, at a new row
        ["edit x1", "switch"],  # the edited input dropped by the switch
        ["switch", "edit x2"],
        ["edit x2", "switch", "edit W1", "switch back"],  # edits between two switches
        ["edit x2", "switch", "switch back"],
    ],
)
def test_weight_edits_and_an_input_switch_at_one_boundary_replay_as_they_ran(
    order: list[str],
) -> None:
    """A weight edit and an input switch at the same step boundary, in either
    order: the step trains from the weights shown after them (an edit of an
    input's weight follows that input to its new row; an edit of a dropped
    input goes with it), and stepping back before them and replaying gives
    the same weights, bit for bit."""
    s = _session()
    s.run_to_step(7)
    for op in order:
        if op == "switch":
            s.set_hyper(features=["x2", "x1^2", "x1*x2"])
        elif op == "switch back":
            s.set_hyper(features=["x1", "x2"])
        elif op == "edit W1":
            s.edit_weight(1, 0, 0, -2.25)
        else:  # edit the input x1 or x2 of layer 1's first unit
            s.edit_weight(0, s.features.index(op.split()[1]), 0, 3.5)
    shown = _params(s)  # what the screen shows at the boundary after these changes
    s.advance("layer")  # the step begins: its forward pass uses exactly those weights
    assert _same(_params(s), shown)
    s.run_to_step(8)
    after_one = _params(s)
    s.run_to_step(15)
    end = _params(s)
    s.goto(5 * s.E)
    s.goto(8 * s.E)
    assert _same(_params(s), after_one)
    s.goto(15 * s.E)
    assert _same(_params(s), end)
