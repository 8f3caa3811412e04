"""Tests for tui_trainer.engine.data: generators, CSV loading, bundled data, split."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from tui_trainer.engine.config import Dataset
from tui_trainer.engine.data import (
    DATASET_KINDS,
    GENERATORS,
    DataError,
    GeneratedData,
    canonical_kind,
    generate,
    load_builtin,
    load_csv,
    split,
)

CLASSIFICATION = [k for k, info in GENERATORS.items() if info.task == "classification"]
REGRESSION = [k for k, info in GENERATORS.items() if info.task == "regression"]


# --------------------------------------------------------------------------
# generators
# --------------------------------------------------------------------------


def test_kind_lists() -> None:
    assert set(GENERATORS) == {
        "xor",
        "circles",
        "gauss",
        "spiral",
        "moons",
        "linear",
        "sine",
        "polynomial",
        "surface",
        "plane",
    }
    for extra in ("csv", "iris", "digits"):
        assert extra in DATASET_KINDS
    assert all(info.description for info in GENERATORS.values())
    assert canonical_kind("circle") == "circles"
    assert canonical_kind("blobs") == "gauss"
    assert canonical_kind(" XOR ") == "xor"


@pytest.mark.parametrize("kind", list(GENERATORS))
def test_same_seed_same_data(kind: str) -> None:
    a = generate(kind, 120, 0.2, 7)
    b = generate(kind, 120, 0.2, 7)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)


@pytest.mark.parametrize("kind", list(GENERATORS))
def test_different_seed_different_data(kind: str) -> None:
    a = generate(kind, 120, 0.2, 1)
    b = generate(kind, 120, 0.2, 2)
    assert not np.array_equal(a.x, b.x)


@pytest.mark.parametrize("kind", CLASSIFICATION)
def test_classification_shapes_and_balance(kind: str) -> None:
    data = generate(kind, 200, 0.0, 3)
    assert data.task == "classification"
    assert data.x.shape == (200, 2) and data.x.dtype == np.float64
    assert data.y.shape == (200,) and data.y.dtype == np.int64
    assert data.n_classes == 2 == len(data.class_names)
    assert data.feature_names == ["x1", "x2"]
    counts = np.bincount(data.y, minlength=2)
    if kind == "xor":  # balanced only in expectation
        assert 60 <= counts[0] <= 140
    else:
        assert counts.tolist() == [100, 100]
    assert np.all(np.isfinite(data.x))


@pytest.mark.parametrize("kind", REGRESSION)
def test_regression_shapes(kind: str) -> None:
    data = generate(kind, 150, 0.0, 3)
    n_features = GENERATORS[kind].n_features
    assert data.task == "regression"
    assert data.x.shape == (150, n_features) and data.x.dtype == np.float64
    assert data.y.shape == (150, 1) and data.y.dtype == np.float64
    assert data.n_classes == 0 and data.class_names == []
    assert len(data.feature_names) == n_features
    # every regression target is scaled to roughly [-1, 1]
    assert np.abs(data.y).max() <= 1.25


def test_rows_are_shuffled() -> None:
    data = generate("gauss", 100, 0.0, 0)
    assert not np.all(np.diff(data.y) >= 0)


@pytest.mark.parametrize("kind", ["spiral", "gauss", "blobs"])
def test_multi_class(kind: str) -> None:
    data = generate(kind, 300, 0.1, 0, classes=3)
    assert data.n_classes == 3 == len(data.class_names)
    assert np.bincount(data.y).tolist() == [100, 100, 100]


def test_uneven_class_sizes() -> None:
    data = generate("spiral", 101, 0.0, 0, classes=4)
    assert sorted(np.bincount(data.y).tolist()) == [25, 25, 25, 26]


def test_xor_labels_noise_free() -> None:
    data = generate("xor", 500, 0.0, 11)
    np.testing.assert_array_equal(data.y, (data.x[:, 0] * data.x[:, 1] > 0).astype(np.int64))
    assert np.all(np.abs(data.x) >= 0.3)  # pushed away from the axes


def test_circle_labels_noise_free() -> None:
    data = generate("circle", 500, 0.0, 12)
    radius = np.hypot(data.x[:, 0], data.x[:, 1])
    np.testing.assert_array_equal(data.y, (radius < 2.5).astype(np.int64))
    assert np.all((radius < 2.5) | ((radius >= 3.5) & (radius <= 5.0)))


def test_noise_flips_some_circle_labels() -> None:
    data = generate("circles", 500, 0.3, 12)
    radius = np.hypot(data.x[:, 0], data.x[:, 1])
    assert np.any(data.y != (radius < 2.5))


def test_linear_is_separable_with_margin() -> None:
    data = generate("linear", 400, 0.25, 5)
    distance = (data.x[:, 0] + 2 * data.x[:, 1]) / np.sqrt(5)
    assert np.all(distance[data.y == 1] > 0.75)
    assert np.all(distance[data.y == 0] < -0.75)


def test_gauss_two_classes_centres() -> None:
    data = generate("gauss", 2000, 0.0, 0)
    np.testing.assert_allclose(data.x[data.y == 0].mean(axis=0), [-2, -2], atol=0.1)
    np.testing.assert_allclose(data.x[data.y == 1].mean(axis=0), [2, 2], atol=0.1)


def test_noise_free_regression_targets() -> None:
    sine = generate("sine", 100, 0.0, 0)
    np.testing.assert_allclose(sine.y[:, 0], np.sin(sine.x[:, 0]))
    plane = generate("plane", 100, 0.0, 0)
    np.testing.assert_allclose(plane.y[:, 0], plane.x.sum(axis=1) / 10)
    cubic = generate("polynomial", 100, 0.0, 0)
    x = cubic.x[:, 0]
    np.testing.assert_allclose(cubic.y[:, 0], 4 * x**3 - 3 * x, atol=1e-12)
    quadratic = generate("polynomial", 100, 0.0, 0, degree=2)
    x = quadratic.x[:, 0]
    np.testing.assert_allclose(quadratic.y[:, 0], 2 * x**2 - 1, atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "cirles"}, "kind"),
        ({"kind": "csv"}, "kind"),
        ({"kind": "iris"}, "kind"),
        ({"kind": "xor", "n_samples": 0}, "n_samples"),
        ({"kind": "xor", "noise": -0.1}, "noise"),
        ({"kind": "xor", "classes": 3}, "classes"),
        ({"kind": "spiral", "classes": 1}, "classes"),
        ({"kind": "gauss", "n_samples": 3, "classes": 5}, "n_samples"),
        ({"kind": "polynomial", "degree": 0}, "degree"),
    ],
)
def test_generate_errors(kwargs: dict, field: str) -> None:
    with pytest.raises(DataError) as info:
        generate(**kwargs)
    assert info.value.field == field
    assert isinstance(info.value, ValueError)


def test_unknown_kind_suggests() -> None:
    with pytest.raises(DataError, match="Did you mean 'circles'"):
        generate("cirles")


# --------------------------------------------------------------------------
# CSV loader
# --------------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


HAPPY = """a,b,label
1.0,2.0,cat
3.0,4.0,dog
5.0,6.0,cat
7.0,8.5,bird
"""


def test_csv_happy_path(tmp_path: Path) -> None:
    data = load_csv(write(tmp_path, HAPPY), None, None, None, False)
    assert data.task == "classification"
    assert data.feature_names == ["a", "b"]
    assert data.class_names == ["bird", "cat", "dog"]
    assert data.n_classes == 3
    assert data.target_name == "label"
    assert data.name == "data"
    assert data.y.dtype == np.int64
    np.testing.assert_array_equal(data.y, [1, 2, 1, 0])
    np.testing.assert_array_equal(data.x, [[1, 2], [3, 4], [5, 6], [7, 8.5]])


def test_csv_target_and_features_by_name(tmp_path: Path) -> None:
    data = load_csv(write(tmp_path, HAPPY), target="a", features=["b"], task="regression")
    assert data.task == "regression"
    assert data.y.shape == (4, 1) and data.y.dtype == np.float64
    np.testing.assert_array_equal(data.y[:, 0], [1, 3, 5, 7])
    assert data.feature_names == ["b"]


def test_csv_target_by_index(tmp_path: Path) -> None:
    data = load_csv(write(tmp_path, HAPPY), target=0, features=["b"], task="regression")
    assert data.target_name == "a"


def test_csv_integer_labels_sorted_numerically(tmp_path: Path) -> None:
    text = "x,y\n" + "\n".join(f"{i},{c}" for i, c in enumerate([10, 2, 2, 10, 1]))
    data = load_csv(write(tmp_path, text))
    assert data.task == "classification"
    assert data.class_names == ["1", "2", "10"]
    np.testing.assert_array_equal(data.y, [2, 1, 1, 2, 0])


def test_csv_infers_regression(tmp_path: Path) -> None:
    text = "x,y\n" + "\n".join(f"{i},{i * 0.5}" for i in range(10))
    assert load_csv(write(tmp_path, text)).task == "regression"
    many = "x,y\n" + "\n".join(f"{i},{i}" for i in range(30))  # > 20 distinct integers
    assert load_csv(write(tmp_path, many, "many.csv")).task == "regression"


def test_csv_standardize(tmp_path: Path) -> None:
    text = "a,const,y\n1,5,0\n2,5,1\n3,5,0\n4,5,1\n"
    data = load_csv(write(tmp_path, text), standardize=True)
    np.testing.assert_allclose(data.x.mean(axis=0), [0, 0], atol=1e-12)
    np.testing.assert_allclose(data.x[:, 0].std(), 1)
    np.testing.assert_array_equal(data.x[:, 1], 0)


def test_csv_tolerates_bom_blank_lines_and_spaces(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffa, b ,y\n1, 2,x\n\n3,4 , y\n5,6,x\n7,8,y\n".encode())
    data = load_csv(path)
    assert data.feature_names == ["a", "b"]
    assert data.class_names == ["x", "y"]
    assert data.x.shape == (4, 2)


def expect_error(path: Path, field: str, *fragments: str, **kwargs: object) -> DataError:
    with pytest.raises(DataError) as info:
        load_csv(path, **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field, info.value.message
    for fragment in fragments:
        assert fragment in info.value.message, info.value.message
    return info.value


def test_csv_missing_file(tmp_path: Path) -> None:
    expect_error(tmp_path / "nope.csv", "path", "not found")


def test_csv_directory(tmp_path: Path) -> None:
    expect_error(tmp_path, "path", "directory")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_csv_unreadable(tmp_path: Path) -> None:
    path = write(tmp_path, HAPPY)
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):  # e.g. running as root
            pytest.skip("cannot make a file unreadable as this user")
        expect_error(path, "path", "cannot read")
    finally:
        path.chmod(0o644)


def test_csv_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"a,y\n1,caf\xe9\n2,x\n3,x\n4,x\n")
    expect_error(path, "path", "UTF-8")


def test_csv_empty(tmp_path: Path) -> None:
    expect_error(write(tmp_path, ""), "path", "empty", "header")
    expect_error(write(tmp_path, "\n\n", "blank.csv"), "path", "empty")


def test_csv_header_only_and_too_few_rows(tmp_path: Path) -> None:
    expect_error(write(tmp_path, "a,b\n"), "path", "0 data rows", "at least 4")
    expect_error(write(tmp_path, "a,b\n1,0\n2,1\n3,0\n", "three.csv"), "path", "3 data rows")


def test_csv_missing_header(tmp_path: Path) -> None:
    expect_error(
        write(tmp_path, "1,2,0\n3,4,1\n5,6,0\n7,8,1\n9,9,0\n"), "path", "header", "looks like data"
    )


def test_csv_duplicate_column(tmp_path: Path) -> None:
    expect_error(write(tmp_path, "a,a,y\n" + "1,2,0\n" * 4), "path", "'a'", "twice")


def test_csv_single_column(tmp_path: Path) -> None:
    expect_error(write(tmp_path, "a\n1\n2\n3\n4\n"), "path", "single column")


def test_csv_ragged_rows(tmp_path: Path) -> None:
    text = "a,b,y\n1,2,0\n3,4,1\n5,6\n7,8,1\n"
    expect_error(write(tmp_path, text), "path", "line 4", "expected 3", "found 2")


def test_csv_missing_target_column(tmp_path: Path) -> None:
    err = expect_error(write(tmp_path, HAPPY), "target", "'lable'", "a, b, label", target="lable")
    assert "Did you mean 'label'" in err.message


def test_csv_missing_feature_column(tmp_path: Path) -> None:
    err = expect_error(write(tmp_path, HAPPY), "features", "'B'", "available", features=["B"])
    assert "Did you mean 'b'" in err.message


def test_csv_target_index_out_of_range(tmp_path: Path) -> None:
    expect_error(write(tmp_path, HAPPY), "target", "out of range", target=5)


def test_csv_target_in_features(tmp_path: Path) -> None:
    expect_error(write(tmp_path, HAPPY), "features", "target", features=["a", "label"])


def test_csv_non_numeric_feature(tmp_path: Path) -> None:
    text = "a,b,y\n1,2,0\n3,four,1\n5,6,0\n7,8,1\n"
    expect_error(write(tmp_path, text), "features", "line 3", "data row 2", "'b'", "'four'")


def test_csv_empty_and_nan_cells(tmp_path: Path) -> None:
    empty = "a,b,y\n1,2,0\n3,,1\n5,6,0\n7,8,1\n"
    expect_error(write(tmp_path, empty), "features", "line 3", "empty cell")
    nan = "a,b,y\n1,2,0\n3,nan,1\n5,6,0\n7,8,1\n"
    expect_error(write(tmp_path, nan, "nan.csv"), "features", "finite")


def test_csv_regression_with_text_target(tmp_path: Path) -> None:
    expect_error(write(tmp_path, HAPPY), "task", "regression", "'cat'", task="regression")


def test_csv_bad_task(tmp_path: Path) -> None:
    expect_error(write(tmp_path, HAPPY), "task", "classification", task="clustering")


def test_csv_single_class(tmp_path: Path) -> None:
    expect_error(write(tmp_path, "a,y\n1,x\n2,x\n3,x\n4,x\n"), "target", "single class")


# --------------------------------------------------------------------------
# bundled data
# --------------------------------------------------------------------------


def test_iris() -> None:
    data = load_builtin("iris", standardize=False)
    assert data.x.shape == (150, 4)
    assert data.n_classes == 3
    assert data.class_names == ["setosa", "versicolor", "virginica"]
    assert np.bincount(data.y).tolist() == [50, 50, 50]
    assert data.feature_names == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert data.image_shape is None
    np.testing.assert_array_equal(data.x[0], [5.1, 3.5, 1.4, 0.2])


def test_iris_standardized() -> None:
    data = load_builtin("iris", standardize=True)
    np.testing.assert_allclose(data.x.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(data.x.std(axis=0), 1)


def test_digits() -> None:
    data = load_builtin("digits", standardize=False)
    assert data.x.shape == (1797, 64)
    assert data.n_classes == 10
    assert data.class_names == [str(d) for d in range(10)]
    assert data.image_shape == (8, 8)
    assert data.feature_names[0] == "p0" and data.feature_names[-1] == "p63"
    assert data.x.min() == 0 and data.x.max() == 16
    np.testing.assert_array_equal(data.x, np.round(data.x))
    assert np.all(np.bincount(data.y) >= 170)


def test_unknown_builtin() -> None:
    with pytest.raises(DataError) as info:
        load_builtin("mnist")
    assert info.value.field == "kind"


# --------------------------------------------------------------------------
# split
# --------------------------------------------------------------------------


def rows_as_set(x: np.ndarray) -> set[tuple[float, ...]]:
    return {tuple(row) for row in x}


def test_split_sizes_and_no_overlap() -> None:
    data = generate("spiral", 200, 0.1, 0)
    ds = split(data, 0.25, seed=3, name="spiral run")
    assert isinstance(ds, Dataset)
    assert ds.x_train.shape == (150, 2) and ds.x_val.shape == (50, 2)
    assert ds.y_train.shape == (150,) and ds.y_val.shape == (50,)
    assert ds.y_train.dtype == np.int64
    assert not rows_as_set(ds.x_train) & rows_as_set(ds.x_val)
    assert rows_as_set(ds.x_train) | rows_as_set(ds.x_val) == rows_as_set(data.x)
    assert ds.name == "spiral run"
    assert ds.n_classes == 2 and ds.n_outputs == 2 and ds.n_features == 2
    assert ds.task == "classification"


def test_split_keeps_pairs_together() -> None:
    data = generate("xor", 100, 0.0, 0)
    ds = split(data, 0.3, seed=1)
    for x, y in ((ds.x_train, ds.y_train), (ds.x_val, ds.y_val)):
        np.testing.assert_array_equal(y, (x[:, 0] * x[:, 1] > 0).astype(np.int64))


def test_split_is_stratified() -> None:
    ds = split(load_builtin("iris"), 0.2, seed=0)
    assert np.bincount(ds.y_val).tolist() == [10, 10, 10]
    assert np.bincount(ds.y_train).tolist() == [40, 40, 40]


def test_split_deterministic() -> None:
    data = generate("moons", 100, 0.1, 0)
    a, b = split(data, 0.2, seed=9), split(data, 0.2, seed=9)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.x_val, b.x_val)
    c = split(data, 0.2, seed=10)
    assert not np.array_equal(a.x_val, c.x_val)


def test_split_zero_validation() -> None:
    data = generate("gauss", 50, 0.1, 0)
    ds = split(data, 0.0, seed=0)
    assert ds.x_train.shape == (50, 2)
    assert ds.x_val.shape == (0, 2) and ds.x_val.dtype == np.float64
    assert ds.y_val.shape == (0,) and ds.y_val.dtype == np.int64


def test_split_regression() -> None:
    data = generate("surface", 100, 0.0, 0)
    ds = split(data, 0.1, seed=0)
    assert ds.x_val.shape == (10, 2) and ds.y_val.shape == (10, 1)
    assert ds.n_outputs == 1
    empty = split(data, 0.0, seed=0)
    assert empty.y_val.shape == (0, 1)


def test_split_copies_metadata() -> None:
    ds = split(load_builtin("digits"), 0.1, seed=0)
    assert ds.image_shape == (8, 8)
    assert ds.name == "digits"
    assert ds.class_names == [str(d) for d in range(10)]
    assert len(ds.y_val) == 180


def test_split_tiny_classes_fall_back_to_random() -> None:
    data = GeneratedData(
        x=np.arange(10, dtype=np.float64)[:, None],
        y=np.array([0] * 9 + [1], dtype=np.int64),
        n_classes=2,
        class_names=["a", "b"],
    )
    ds = split(data, 0.3, seed=0)
    assert len(ds.y_train) == 7 and len(ds.y_val) == 3


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_split_bad_fraction(fraction: float) -> None:
    with pytest.raises(DataError) as info:
        split(generate("xor", 20, 0.0, 0), fraction, seed=0)
    assert info.value.field == "val_fraction"
