"""Tests for tui_trainer.scenario: loading, error reporting, saving, data and config."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import expectation
from tui_trainer.engine.config import Dataset, LayerSpec
from tui_trainer.scenario import (
    BreakpointSpec,
    Problem,
    Scenario,
    ScenarioError,
    _Locator,
    builtin_dir,
    builtin_names,
    load_scenario,
    parse_scenario,
    resolve_scenario,
)

HERE = Path(__file__).parent
BROKEN_DIR = HERE / "broken_scenarios"
BROKEN = sorted(BROKEN_DIR.glob("*.toml"))
DOCS = HERE.parent / "docs" / "scenarios.md"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --------------------------------------------------------------------------
# Broken files
# --------------------------------------------------------------------------


def test_enough_broken_files() -> None:
    assert len(BROKEN) >= 32


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_broken_scenario(path: Path) -> None:
    field, substring, line = expectation(path)
    with pytest.raises(ScenarioError) as info:  # everything `check` does
        scenario = load_scenario(path)
        scenario.train_config(scenario.load_data())
    problems = info.value.problems
    assert problems, "ScenarioError without problems"
    matches = [p for p in problems if p.field == field and substring in p.message]
    assert matches, f"no problem for {field!r} containing {substring!r}; got:\n{info.value}"
    if line is not None:
        assert matches[0].line == line, str(matches[0])
    for problem in problems:
        assert problem.file == str(path)
        assert str(problem).startswith(str(path))


def test_all_problems_collected() -> None:
    text = """\
        seeed = 1
        [data]
        noise = 2
        [model]
        activation = "rleu"
        [training]
        lr = -1
        epochs = "ten"
        """
    with pytest.raises(ScenarioError) as info:
        parse_scenario(textwrap.dedent(text), Path("many.toml"))
    fields = [p.field for p in info.value.problems]
    assert fields == ["seeed", "data.noise", "model.activation", "training.lr", "training.epochs"]
    assert [p.line for p in info.value.problems] == [1, 3, 5, 7, 8]
    assert str(info.value).count("\n") == 4


def test_problem_str_format() -> None:
    text = "[training]\nlr = -0.1\n"
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, Path("scenarios/bad.toml"))
    (problem,) = info.value.problems
    assert str(problem) == (
        "scenarios/bad.toml:2: training.lr: must be > 0, got -0.1 "
        "(allowed: a positive number up to 100, e.g. 0.03)"
    )
    assert Problem("f.toml", "", None, "file not found").__str__() == "f.toml: file not found"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="file not found"):
        load_scenario(tmp_path / "nope.toml")


def test_directory_is_not_a_scenario(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="directory"):
        load_scenario(tmp_path)


def test_nul_in_path_is_a_scenario_error() -> None:
    with pytest.raises(ScenarioError):
        load_scenario("bad\0name.toml")


def test_deep_nesting_is_a_scenario_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "deep.toml", "watches = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ScenarioError):
        load_scenario(path)


def test_csv_directory_path(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    path = _write(tmp_path / "s.toml", '[data]\nkind = "csv"\npath = "data"\n')
    with pytest.raises(ScenarioError, match="is a directory"):
        load_scenario(path)


def test_bad_kind_skips_kind_specific_checks() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario('[data]\nkind = "spirl"\nclasses = 3\n')
    assert [p.field for p in info.value.problems] == ["data.kind"]


def test_no_traceback_on_odd_values() -> None:
    odd = [
        "seed = 1979-05-27T07:32:00Z",
        "name = 3",
        "[model]\nlayers = 5",
        "[model]\nlayers = [1, 2]",
        "[model]\nlayers = [[1]]",
        "[training]\nbreakpoints = [[]]",
        "[training]\nwatches = [1]",
        "[[training]]\nlr = 1",
        "[data]\nfeatures = 3\nkind = 'csv'\npath = 'x.csv'",
        "[data]\nkind = 'csv'\npath = ''",
        "model = []",
    ]
    for text in odd:
        with pytest.raises(ScenarioError):
            parse_scenario(text)


_FRAGMENTS = st.sampled_from(
    [
        "[data]\n",
        "[model]\n",
        "[training]\n",
        "[[breakpoints]]\n",
        "[[model.layers]]\n",
        'kind = "csv"\n',
        "hidden = [4, 0]\n",
        "lr = nan\n",
        'breakpoints = ["loss >", 3]\n',
        "units = 3\n",
        "x = {\n",
        '"""\n',
        "seed = -1\n",
        "= 3\n",
        "layers = [{}, 1]\n",
        "watches = [[]]\n",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_FRAGMENTS, st.text(max_size=12)), max_size=12))
def test_never_a_traceback(parts: list[str]) -> None:
    text = "".join(parts)
    try:
        parse_scenario(text, Path("fuzz.toml"))
    except ScenarioError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert "internal error" not in problem.message, problem
            assert problem.line is None or 1 <= problem.line <= text.count("\n") + 1


def _paths(obj: object, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted path, last key) for every key in a parsed TOML document."""
    out: list[tuple[str, str]] = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            path = f"{prefix}.{key}" if prefix else key
            out.append((path, key))
            out += _paths(value, path)
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            out += _paths(value, f"{prefix}[{i}]")
    return out


def test_locator_finds_every_key() -> None:
    import tomllib

    text = textwrap.dedent(
        """\
        a = 1
        "quoted.key" = 2
        b.c.d = 3
        s = \"\"\"
        x = 1
        \"\"\"
        arr = [
          1,  # comment [
          [2, 3],
          { x = 1, y = { z = 2 } },
        ]
        [tab]
        q = 'lit'
        [[aot]]
        k = 1
        [aot.sub]
        m = 2
        [[aot]]
        k = 2
        [[aot.list]]
        n = 1
        """
    )
    for doc in [text, FULL, *(_doc_blocks() if DOCS.exists() else [])]:
        lines = _Locator(doc).lines
        source = doc.splitlines()
        for path, key in _paths(tomllib.loads(doc)):
            assert path in lines, path
            assert key in source[lines[path] - 1], (path, lines[path])
    lines = _Locator(text).lines
    assert (lines["aot[1].list[0].n"], lines["arr[2].y.z"], lines["s"]) == (21, 10, 4)


# --------------------------------------------------------------------------
# Good files
# --------------------------------------------------------------------------


def test_empty_file_is_all_defaults(tmp_path: Path) -> None:
    s = load_scenario(_write(tmp_path / "blank.toml", ""))
    assert s.name == "blank"
    assert s.data.kind == "xor"
    assert s.data.n_samples == 200 and s.data.val_fraction == 0.2
    assert [(layer.units, layer.activation) for layer in s.model.hidden] == [
        (4, "tanh"),
        (2, "tanh"),
    ]
    assert s.model.output_activation == "linear" and s.model.init == "xavier"
    assert s.lr == 0.03 and s.batch_size == 10 and s.epochs == 100
    assert s.optimizer == "sgd" and s.loss is None and s.dtype == "float64"
    assert s.breakpoints == [] and s.watches == []
    assert s.source == tmp_path / "blank.toml"
    assert parse_scenario("").name == "untitled"


def test_minimal_file(tmp_path: Path) -> None:
    s = load_scenario(_write(tmp_path / "m.toml", '[data]\nkind = "circle"\n'))
    assert s.data.kind == "circles"  # alias resolved


def test_breakpoints_both_forms() -> None:
    text = """\
        breakpoints = ["nonfinite"]
        [training]
        lr = 0.1
        [[training.breakpoints]]
        condition = "grad_norm[0] > 10"
        phase = "backward"
        enabled = false
        """
    with pytest.raises(ScenarioError):  # both places: rejected
        parse_scenario(textwrap.dedent(text))
    s = parse_scenario(textwrap.dedent(text).split("\n", 1)[1])
    assert s.breakpoints == [BreakpointSpec("grad_norm[0] > 10", "backward", False)]
    s = parse_scenario('breakpoints = ["nonfinite", { condition = "epoch >= 5", phase = "epoch" }]')
    assert s.breakpoints == [BreakpointSpec("nonfinite"), BreakpointSpec("epoch >= 5", "epoch")]


def test_per_layer_form() -> None:
    text = """\
        [model]
        layers = [{ units = 8, activation = "relu" }, { units = 3 }]
        output_activation = "linear"
        """
    s = parse_scenario(textwrap.dedent(text))
    assert s.model.hidden == (LayerSpec(8, "relu"), LayerSpec(3, "tanh"))
    assert s.model.per_layer
    text = """\
        [[model.layers]]
        units = 6
        activation = "leaky_relu"
        [[model.layers]]
        units = 2
        activation = "sigmoid"
        """
    s = parse_scenario(textwrap.dedent(text))
    assert s.model.hidden == (LayerSpec(6, "leaky_relu"), LayerSpec(2, "sigmoid"))


def test_linear_model_and_full_batch() -> None:
    s = parse_scenario('[model]\nhidden = []\n[training]\nbatch_size = "full"\n')
    assert s.model.hidden == ()
    assert s.batch_size == "full"


def _doc_blocks() -> list[str]:
    return re.findall(r"```toml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)


def test_docs_have_a_complete_example() -> None:
    assert any("# complete example" in block for block in _doc_blocks())


@pytest.mark.parametrize("index", range(len(_doc_blocks())) if DOCS.exists() else [])
def test_docs_examples_load(index: int, tmp_path: Path) -> None:
    block = _doc_blocks()[index]
    _write(tmp_path / "data" / "points.csv", "x1,x2,label\n0,0,a\n1,0,b\n0,1,b\n1,1,a\n2,2,a\n")
    path = _write(tmp_path / "example.toml", block)
    s = load_scenario(path)
    if "# complete example" in block:
        # every key of the schema appears in the complete example
        for key in ("lr", "momentum", "beta1", "history_steps", "init_scale", "leaky_slope"):
            assert re.search(rf"^{key} =", block, re.M), key
        assert s.breakpoints and s.watches and s.description and s.watch
        parse_scenario(s.to_toml(), path)


def test_csv_path_relative_to_scenario_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(
        tmp_path / "datasets" / "pts.csv",
        "a,b,label\n" + "".join(f"{i},{i % 3},{'yes' if i % 2 else 'no'}\n" for i in range(20)),
    )
    scen = _write(
        tmp_path / "runs" / "csv.toml",
        """\
        [data]
        kind = "csv"
        path = "../datasets/pts.csv"
        target = "label"
        features = ["a", "b"]
        """,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    s = load_scenario(scen)
    assert s.data.path == (tmp_path / "datasets" / "pts.csv").resolve()
    assert s.data.features == ("a", "b")
    ds = s.load_data()
    assert ds.task == "classification" and ds.n_classes == 2 and ds.n_features == 2
    # saving into another directory rewrites the path relative to it
    text = s.to_toml(relative_to=tmp_path)
    assert 'path = "datasets/pts.csv"' in text
    again = parse_scenario(text, tmp_path / "copy.toml")
    assert again.data.path == s.data.path
    # without relative_to the path is kept as written
    assert 'path = "../datasets/pts.csv"' in s.to_toml()


# --------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------

FULL = """\
name = "round trip"
description = "Several \\"quoted\\" words\\nand a second line."
watch = "the loss"
seed = 7

[data]
kind = "spiral"
n_samples = 120
noise = 0.1
classes = 3
val_fraction = 0.25

[model]
layers = [{ units = 8, activation = "relu" }, { units = 4, activation = "tanh" }]
init = "he"
bias_init = 0.1

[training]
loss = "cross_entropy"
optimizer = "adam"
lr = 0.005
batch_size = "full"
epochs = 30
dtype = "float32"
history_steps = 50
breakpoints = ["nonfinite", { condition = "epoch >= 5", phase = "epoch", enabled = false }]
watches = ["loss", "grad_norm[0]"]
"""


def _settings(s: Scenario) -> dict[str, object]:
    d = dict(vars(s))
    for key in ("source", "text", "lines", "name"):
        d.pop(key)
    return d


def test_to_toml_round_trip() -> None:
    s = parse_scenario(FULL)
    again = parse_scenario(s.to_toml())
    assert _settings(again) == _settings(s)
    assert again.name == "round trip"
    assert again.description == s.description
    assert again.model.per_layer


def test_to_toml_round_trip_defaults() -> None:
    s = parse_scenario("")
    assert _settings(parse_scenario(s.to_toml())) == _settings(s)


def test_to_toml_overrides() -> None:
    s = parse_scenario(FULL)
    text = s.to_toml(lr=0.1, epochs=5, hidden=[3, 3], activation="relu", seed=1)
    t = parse_scenario(text)
    assert (t.lr, t.epochs, t.seed) == (0.1, 5, 1)
    assert t.model.hidden == (LayerSpec(3, "relu"), LayerSpec(3, "relu"))
    t = parse_scenario(s.to_toml(layers=[LayerSpec(5, "sigmoid")], breakpoints=["loss > 3"]))
    assert t.model.hidden == (LayerSpec(5, "sigmoid"),)
    assert t.breakpoints == [BreakpointSpec("loss > 3")]
    t = parse_scenario(s.to_toml(kind="moons", loss=None))
    assert t.data.kind == "moons" and t.loss is None and t.data.classes == 2
    with pytest.raises(ScenarioError, match="training.lr"):
        s.to_toml(lr=-1.0)
    with pytest.raises(TypeError):
        s.to_toml(learning_rate=0.1)


# --------------------------------------------------------------------------
# Built-ins and resolving
# --------------------------------------------------------------------------


def test_builtin_dir_and_names() -> None:
    assert builtin_dir().name == "scenarios"
    names = builtin_names()
    assert names == sorted(names)
    assert all((builtin_dir() / f"{n}.toml").is_file() for n in names)


def test_builtins_load() -> None:
    for name in builtin_names():
        load_scenario(resolve_scenario(name))


def test_resolve_scenario_paths(tmp_path: Path) -> None:
    path = _write(tmp_path / "mine.toml", "")
    assert resolve_scenario(str(path)) == path
    with pytest.raises(ScenarioError, match="no scenario file or built-in scenario"):
        resolve_scenario(str(tmp_path / "missing.toml"))
    with pytest.raises(ScenarioError, match="directory"):
        resolve_scenario(str(tmp_path))


def test_resolve_scenario_builtin_name(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # so no local file shadows a built-in
    names = builtin_names()
    if not names:
        pytest.skip("no built-in scenarios installed yet")
    assert resolve_scenario(names[0]) == builtin_dir() / f"{names[0]}.toml"
    assert resolve_scenario(names[0] + ".toml") == builtin_dir() / f"{names[0]}.toml"
    typo = names[0][:-1] + ("x" if names[0][-1] != "x" else "y")
    with pytest.raises(ScenarioError, match=f"did you mean '{names[0]}'"):
        resolve_scenario(typo)


# --------------------------------------------------------------------------
# Data and engine configuration
# --------------------------------------------------------------------------


def _dataset(task: str, n_classes: int = 0, targets: int = 1, n: int = 30) -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3))
    if task == "classification":
        y = np.arange(n) % n_classes
    else:
        y = rng.normal(size=(n, targets))
    return Dataset(x, y, x[:5], y[:5], task=task, n_classes=n_classes, name="synthetic")


@pytest.mark.parametrize(
    ("loss", "task", "n_classes", "targets", "units"),
    [
        (None, "classification", 3, 1, 3),
        ("cross_entropy", "classification", 4, 1, 4),
        ("binary_cross_entropy", "classification", 2, 1, 1),
        ("mse", "classification", 3, 1, 3),
        (None, "regression", 0, 2, 2),
        ("mse", "regression", 0, 1, 1),
    ],
)
def test_output_layer_size(
    loss: str | None, task: str, n_classes: int, targets: int, units: int
) -> None:
    text = '[model]\nhidden = [5]\nactivation = "relu"\noutput_activation = "sigmoid"\n'
    if loss:
        text += f'[training]\nloss = "{loss}"\n'
    cfg = parse_scenario(text).train_config(_dataset(task, n_classes, targets))
    assert cfg.layers == (LayerSpec(5, "relu"), LayerSpec(units, "sigmoid"))
    expected = loss or ("cross_entropy" if task == "classification" else "mse")
    assert cfg.loss == expected


@pytest.mark.parametrize(
    ("loss", "task", "n_classes", "message"),
    [
        ("cross_entropy", "regression", 0, "needs class labels"),
        ("binary_cross_entropy", "regression", 0, "needs class labels"),
        ("binary_cross_entropy", "classification", 3, "exactly 2 classes"),
    ],
)
def test_loss_misfit_at_config_time(loss: str, task: str, n_classes: int, message: str) -> None:
    s = parse_scenario(f'[training]\nloss = "{loss}"\n')  # xor: fine when parsed
    with pytest.raises(ScenarioError, match=message) as info:
        s.train_config(_dataset(task, n_classes))
    assert info.value.problems[0].field == "training.loss"
    assert info.value.problems[0].line == 2


def test_train_config_copies_settings() -> None:
    s = parse_scenario(FULL)
    cfg = s.train_config(_dataset("classification", 3, n=40))
    assert cfg.batch_size == 40  # "full"
    assert (cfg.optimizer, cfg.lr, cfg.epochs, cfg.seed) == ("adam", 0.005, 30, 7)
    assert (cfg.init, cfg.bias_init, cfg.dtype, cfg.history_steps) == ("he", 0.1, "float32", 50)
    assert cfg.layers[-1] == LayerSpec(3, "linear")


@pytest.mark.parametrize(
    ("text", "task", "n_classes", "n_features", "units"),
    [
        ("", "classification", 2, 2, 2),
        ('[data]\nkind = "gauss"\nclasses = 4\n', "classification", 4, 2, 4),
        (
            '[data]\nkind = "spiral"\n[training]\nloss = "binary_cross_entropy"',
            "classification",
            2,
            2,
            1,
        ),
        ('[data]\nkind = "sine"\n', "regression", 0, 1, 1),
        ('[data]\nkind = "polynomial"\ndegree = 5\n', "regression", 0, 1, 1),
        ('[data]\nkind = "moons"\n[training]\nloss = "mse"', "classification", 2, 2, 2),
        ('[data]\nkind = "iris"\n', "classification", 3, 4, 3),
        ('[data]\nkind = "digits"\n', "classification", 10, 64, 10),
    ],
)
def test_load_data_and_config(
    text: str, task: str, n_classes: int, n_features: int, units: int
) -> None:
    s = parse_scenario(text)
    ds = s.load_data()
    assert ds.task == task and ds.n_classes == n_classes and ds.n_features == n_features
    assert len(ds.x_val) > 0
    assert s.train_config(ds).layers[-1].units == units


def test_load_data_is_reproducible() -> None:
    a = parse_scenario("seed = 3\n[data]\nnoise = 0.2\n").load_data()
    b = parse_scenario("seed = 3\n[data]\nnoise = 0.2\n").load_data()
    c = parse_scenario("seed = 4\n[data]\nnoise = 0.2\n").load_data()
    assert np.array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)


def test_digits_scaling() -> None:
    scaled = parse_scenario('[data]\nkind = "digits"\n').load_data()
    assert 0.0 <= scaled.x_train.min() and scaled.x_train.max() <= 1.0
    raw = parse_scenario('[data]\nkind = "digits"\nstandardize = false\n').load_data()
    assert raw.x_train.max() == 16.0
    z = parse_scenario('[data]\nkind = "iris"\n').load_data()
    assert abs(float(np.concatenate([z.x_train, z.x_val]).mean())) < 1e-9


def test_csv_errors_become_scenario_errors(tmp_path: Path) -> None:
    _write(tmp_path / "d.csv", "a,b,label\n1,2,x\n3,oops,y\n5,6,x\n7,8,y\n")
    path = _write(tmp_path / "s.toml", '[data]\nkind = "csv"\npath = "d.csv"\ntarget = "label"\n')
    s = load_scenario(path)
    with pytest.raises(ScenarioError) as info:
        s.load_data()
    assert info.value.problems[0].field.startswith("data")
    assert info.value.problems[0].line is not None
    # a csv whose task is only known after loading is checked by train_config
    _write(tmp_path / "r.csv", "a,y\n" + "".join(f"{i},{i * 0.37:.3f}\n" for i in range(10)))
    path = _write(
        tmp_path / "r.toml",
        '[data]\nkind = "csv"\npath = "r.csv"\n[training]\nloss = "cross_entropy"\n',
    )
    s = load_scenario(path)
    ds = s.load_data()
    assert ds.task == "regression"
    with pytest.raises(ScenarioError, match="needs class labels"):
        s.train_config(ds)
