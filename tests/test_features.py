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
