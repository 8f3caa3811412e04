"""Tests of the training diagnostics: each rule is triggered on purpose, healthy runs stay quiet."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable

import numpy as np
import pytest

from tui_trainer.engine.config import Dataset, LayerSpec, TrainConfig
from tui_trainer.engine.data import generate, split
from tui_trainer.engine.diagnostics import CODES, SEVERITIES, Finding, diagnose
from tui_trainer.engine.session import Session


def _data(kind: str, n: int = 200, noise: float = 0.0, val: float = 0.2, **params: object):
    return split(generate(kind, n, noise, 0, **params), val, 0)


def _session(data: Dataset, hidden: tuple[int, ...], activation: str = "tanh", **kw) -> Session:
    out = data.n_classes if data.task == "classification" else data.n_outputs
    layers = tuple(LayerSpec(h, activation) for h in hidden) + (LayerSpec(out, "linear"),)
    kw.setdefault("loss", "cross_entropy" if data.task == "classification" else "mse")
    return Session(TrainConfig(layers=layers, **kw), data)


CASES: dict[str, Callable[[], Session]] = {
    # Pathologies, one (or two) per rule.
    "huge_lr_sine": lambda: _session(_data("sine", noise=0.1), (16,), lr=1.0, epochs=30),
    "huge_lr_tanh": lambda: _session(_data("xor"), (8,), lr=50.0, epochs=30),
    "zigzag_full_batch": lambda: _session(
        _data("moons", noise=0.1), (16,), lr=20.0, batch_size=0, epochs=300
    ),
    "tiny_lr": lambda: _session(_data("gauss", classes=3), (8,), lr=1e-5, epochs=10),
    "sigmoid8": lambda: _session(
        _data("circles"), (8,) * 8, activation="sigmoid", lr=0.1, epochs=5
    ),
    "relu_negative_bias": lambda: _session(
        _data("moons"), (16, 16), activation="relu", bias_init=-3.0, lr=0.05, epochs=5
    ),
    "relu_huge_lr": lambda: _session(
        _data("moons", noise=0.1), (16, 16), activation="relu", init="he", lr=2.0, epochs=20
    ),
    "leaky_negative_bias": lambda: _session(
        _data("moons"), (16,), activation="leaky_relu", bias_init=-3.0, lr=0.05, epochs=5
    ),
    "tanh6_small_init": lambda: _session(
        _data("circles"), (8,) * 6, init="normal", init_std=0.05, lr=0.1, epochs=3
    ),
    "tanh_std10": lambda: _session(
        _data("gauss", classes=3), (16,), init="normal", init_std=10.0, epochs=5
    ),
    "overfit": lambda: _session(
        _data("moons", n=40, noise=0.35, val=0.5),
        (64, 64),
        activation="relu",
        init="he",
        optimizer="adam",
        lr=0.01,
        batch_size=0,
        epochs=400,
    ),
    "linear_spiral": lambda: _session(_data("spiral"), (), lr=0.03, epochs=40),
    "deep_relu_std3": lambda: _session(
        _data("circles"),
        (16,) * 5,
        activation="relu",
        init="normal",
        init_std=3.0,
        lr=0.01,
        epochs=5,
    ),
    # Healthy configurations.
    "healthy_gauss": lambda: _session(
        _data("gauss", classes=3), (8,), init="normal", init_std=0.1, lr=0.05, epochs=30
    ),
    "healthy_moons": lambda: _session(
        _data("moons", noise=0.1), (16, 16), activation="relu", init="he", lr=0.05, epochs=40
    ),
    "healthy_sine": lambda: _session(_data("sine", noise=0.1), (16,), lr=0.03, epochs=60),
    "healthy_circles_adam": lambda: _session(
        _data("circles"), (8, 8), optimizer="adam", lr=0.01, epochs=60
    ),
}
HEALTHY = [name for name in CASES if name.startswith("healthy")]

_RUNS: dict[str, Session] = {}


def _run(name: str) -> Session:
    if name not in _RUNS:
        s = CASES[name]()
        s.run()
        _RUNS[name] = s
    return _RUNS[name]


def _by_code(findings: list[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in findings:
        out.setdefault(f.code, []).append(f)
    return out


def _check_well_formed(findings: list[Finding]) -> None:
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    keys = [(rank[f.severity], f.step) for f in findings]
    assert keys == sorted(keys)
    assert len({(f.code, f.layer) for f in findings}) == len(findings)
    for f in findings:
        assert f.code in CODES
        assert f.severity in SEVERITIES
        assert f.title and f.evidence and f.advice
        assert f.step >= 0 and f.epoch >= 0
        for layer, quantity in f.involves:  # what the panels flag, with this finding
            assert quantity in ("dead", "saturated", "gradient", "update")
            assert layer >= 0


# ------------------------------------------------------------- each rule
def test_huge_lr_diverges_and_blames_the_learning_rate():
    s = _run("huge_lr_sine")
    assert s.diverged
    found = diagnose(s)
    _check_well_formed(found)
    by = _by_code(found)
    div = by["diverged"][0]
    assert div.severity == "error"
    assert div.step == s.nonfinite.step
    assert f"step {s.nonfinite.step}" in div.evidence and "last finite losses" in div.evidence
    assert "learning rate" in div.advice
    lr = by["lr_too_large"][0]
    assert lr.severity == "error"
    assert lr.layer == 1 and "update ratio of layer 2" in lr.evidence
    assert lr.step < div.step
    # The blow-up saturates the tanh layer on its way: a symptom, not reported.
    assert "saturated" not in by and "vanishing_gradients" not in by


def test_huge_lr_without_divergence():
    s = _run("huge_lr_tanh")  # tanh keeps the numbers finite, the loss still climbs
    assert not s.diverged
    by = _by_code(diagnose(s))
    assert by["lr_too_large"][0].severity == "warning"
    assert set(by) == {"lr_too_large"}


def test_huge_lr_in_full_batch_training_blames_the_learning_rate():
    # lr = 20 blows the loss up in the first steps, then the saturated tanh
    # units settle it down. Which path the run takes after step ~20 depends on
    # rounding (it differs between BLAS kernels); the blow-up does not, and it
    # is the cause to report, with the saturation as its evidence.
    by = _by_code(diagnose(_run("zigzag_full_batch")))
    f = by["lr_too_large"][0]
    assert f.step < 20
    assert "came back down" in f.evidence
    assert "layer 1's tanh activations are saturated" in f.evidence
    # The symptoms are not reported as causes of their own.
    assert "vanishing_gradients" not in by and "saturated" not in by
    assert "overfitting" not in by


def test_zigzag_in_full_batch_training():
    # A synthetic full-batch history: the loss flips direction every step by
    # about 20% without ever rising above its start. (A real zigzag is chaotic:
    # its exact path is not something to test against.)
    s = _session(_data("sine", noise=0.1), (16,), lr=0.03, batch_size=0, epochs=60)
    s.run(max_steps=1)
    assert s.batches_per_epoch == 1
    n = 200
    zig = 0.4 * (1 + 0.2 * (-1.0) ** np.arange(n))
    _fake_history(s, n, loss=zig, **{"update_ratio[1]": 5e-3})
    f = _by_code(diagnose(s))["lr_too_large"][0]
    assert "zigzags" in f.evidence and f.step == n - 50
    # The same flips with a healthy update ratio are not blamed on the lr.
    _fake_history(s, n, loss=zig)
    assert "lr_too_large" not in _by_code(diagnose(s))


def test_tiny_lr():
    by = _by_code(diagnose(_run("tiny_lr")))
    f = by["lr_too_small"][0]
    assert "healthy is about 1e-3" in f.evidence
    assert "underfitting" not in by


def test_vanishing_gradients_in_deep_sigmoid_network():
    by = _by_code(diagnose(_run("sigmoid8")))
    f = by["vanishing_gradients"][0]
    assert f.layer == 0 and f.step == 0
    for i in range(1, 9):  # the ratio of every layer to the output layer is named
        assert f"layer {i} " in f.evidence
    assert "exploding_gradients" not in by


def test_vanishing_gradients_advice_names_the_activation_used():
    """Issue 12 item 6: a tanh network was told about sigmoid's slope of at most 0.25."""
    f = _by_code(diagnose(_run("tanh6_small_init")))["vanishing_gradients"][0]
    assert "tanh's slope is at most 1" in f.advice
    assert "sigmoid" not in f.advice
    assert "layer 1 (tanh)" in f.evidence
    assert (0, "gradient") in f.involves
    g = _by_code(diagnose(_run("sigmoid8")))["vanishing_gradients"][0]
    assert "sigmoid's slope is at most 0.25" in g.advice and "tanh's slope" not in g.advice


def test_leaky_relu_layer_stuck_below_zero_is_reported():
    """Issue 12 item 6: a leaky_relu layer 100% below 0 ("dead 100%" in the network
    panel) while the network does not fit got "nothing suspicious so far"."""
    s = _run("leaky_negative_bias")
    assert s.history.epochs.last("dead_fraction[0]") == 1.0
    by = _by_code(diagnose(s))
    f = by["dead_relu"][0]
    assert f.layer == 0 and f.involves == ((0, "dead"),)
    assert f.title == "Leaky ReLU units stuck below 0"
    assert "layer 1 (leaky_relu)" in f.evidence and "slope of 0.01" in f.evidence
    assert "does not fit" in f.evidence
    assert "0.01 of the gradient" in f.advice


def test_healthy_leaky_relu_network_is_not_flagged():
    s = _session(
        _data("moons", noise=0.1), (16, 16), activation="leaky_relu", init="he", lr=0.05, epochs=40
    )
    s.run()
    assert "dead_relu" not in _by_code(diagnose(s))


def test_lr_too_large_names_the_layers_it_left_saturated():
    """The blow-up's aftermath (saturated tanh layers, vanishing gradient of layer 1) is
    listed in ``involves``, so the network and explain panels flag it with this finding."""
    s = _session(_data("xor"), (4, 2), lr=0.03, epochs=100, batch_size=10)
    s.run(lambda x: x.step >= 300)
    s.set_hyper(lr=5.0)
    s.run()
    by = _by_code(diagnose(s))
    f = by["lr_too_large"][0]
    sat = [i for i, q in f.involves if q == "saturated"]
    assert sat, f.evidence
    for i in sat:
        assert f"layer {i + 1}'s tanh activations are saturated" in f.evidence
    assert "vanishing_gradients" not in by and "saturated" not in by


def test_dead_relu_from_negative_bias():
    by = _by_code(diagnose(_run("relu_negative_bias")))
    dead = by["dead_relu"]
    assert [f.layer for f in dead] == [0, 1]
    assert all("100%" in f.evidence for f in dead)
    assert "no gradient reaches the layers below" in dead[0].evidence
    # Zero gradient below a dead layer is the dead layer's finding, not "vanishing".
    assert "vanishing_gradients" not in by


def test_dead_relu_from_huge_lr():
    s = _run("relu_huge_lr")
    by = _by_code(diagnose(s))
    f = [f for f in by["dead_relu"] if f.layer == 1][0]
    assert "of the units of layer 2" in f.evidence
    frac = s.history.epochs.last("dead_fraction[1]")
    assert f"{100 * frac:.0f}%" in f.evidence
    assert f.step > 0 and f.epoch > 0  # they died during training
    assert "leaky_relu" in f.advice


def test_saturated_tanh_and_initial_loss():
    s = _run("tanh_std10")
    by = _by_code(diagnose(s))
    sat = by["saturated"][0]
    assert sat.layer == 0 and "tanh" in sat.title
    init = by["init_loss"][0]
    assert init.step == 0 and "ln(3) = 1.10" in init.evidence


def test_overfitting_names_the_best_epoch():
    s = _run("overfit")
    f = _by_code(diagnose(s))["overfitting"][0]
    val = s.history.epochs.column("val_loss")
    assert s.history.epochs.n - 1 - f.epoch >= 5
    assert val[-1] > 1.1 * val[f.epoch]
    assert f"epoch {f.epoch + 1}" in f.evidence and f"epoch {f.epoch + 1}" in f.advice


def test_underfitting_of_a_linear_model_on_spirals():
    # Found before training: no hidden layer, and the best straight boundary
    # (least squares) gets well under 75% of the spirals right.
    f = _by_code(diagnose(_run("linear_spiral")))["underfitting"][0]
    assert f.step == 0 and "no hidden layer" in f.evidence
    acc = float(re.search(r"gets (\d+)% of the training examples right", f.evidence).group(1))
    assert acc < 75


def test_no_capacity_finding_where_a_straight_boundary_fits():
    """A linear model on two well-separated blobs is not underfitting."""
    from helpers import make_session
    from tui_trainer.engine.diagnostics import checks

    s = make_session(hidden=(), epochs=1)

    s.data.x_train[:] = np.where(
        s.data.y_train[:, None] == 1, s.data.x_train + 5.0, s.data.x_train - 5.0
    )
    checks._LINEAR_FIT.clear()
    assert checks.linear_fit(s) > 0.95
    assert checks.too_little_capacity(s) is None


def test_exploding_gradients_from_large_init():
    by = _by_code(diagnose(_run("deep_relu_std3")))
    f = by["exploding_gradients"][0]
    assert f.step == 0 and "weight norm" in f.evidence
    assert "lr_too_large" not in by  # the initialization is to blame, not the lr
    assert "init_loss" in by


def _fake_history(s: Session, n: int, **columns: np.ndarray | float) -> None:
    """Replace the step history with ``n`` rows of a plain, healthy-looking run."""
    h = s.history
    rows = np.full((n, len(h.steps.columns)), np.nan)
    idx = h.steps.index
    rows[:, idx["loss"]] = 0.5
    rows[:, idx["epoch"]] = 0
    for i in range(s.n_layers):
        rows[:, idx[f"grad_norm[{i}]"]] = 0.1
        rows[:, idx[f"weight_norm[{i}]"]] = 1.0
        rows[:, idx[f"update_ratio[{i}]"]] = 1e-3
    for name, value in columns.items():
        rows[:, idx[name]] = value
    h.steps.load(rows)


def test_exploding_gradients_that_grow_during_training():
    s = CASES["healthy_sine"]()
    s.run(max_steps=1)
    _fake_history(s, 400, **{"grad_norm[0]": np.geomspace(0.1, 1e3, 400)})
    f = _by_code(diagnose(s))["exploding_gradients"][0]
    assert f.layer == 0 and "grew" in f.evidence
    assert 0 < f.step < 400


def test_exploding_gradients_that_grow_layer_by_layer():
    s = CASES["sigmoid8"]()
    s.run(max_steps=1)
    _fake_history(s, 50, **{"grad_norm[0]": 5.0, "grad_norm[8]": 0.01})
    f = _by_code(diagnose(s))["exploding_gradients"][0]
    assert f.layer == 0 and "on the way back" in f.evidence


def test_diverged_before_any_step_finished():
    x = np.full((20, 2), 1e200)
    y = np.arange(20) % 2
    data = Dataset(x, y, x[:4], y[:4], "classification", 2)
    s = _session(data, (4,), init="normal", init_std=1e200)
    s.run()
    assert s.diverged and s.history.steps.n == 0
    found = diagnose(s)
    # the inputs of 1e200 are the cause, found before the first step
    assert [f.code for f in found] == ["diverged", "unstandardized_inputs"]
    assert "no step finished" in found[0].evidence
    # the cause by where it overflowed (the advice `run` and the explain panel show)
    assert "before the first update" in found[0].advice
    assert "learning rate is not the cause" in found[0].advice
    # and so none of its fixes is a learning rate: a well-scaled init, then a smaller scale
    assert found[0].fixes == ({"model.init": "xavier"}, {"model.init_std": 1e199})


# ------------------------------------------------------------- healthy
@pytest.mark.parametrize("name", HEALTHY)
def test_healthy_runs_have_no_findings(name):
    assert diagnose(_run(name)) == []


def test_healthy_run_is_quiet_at_every_epoch():
    s = CASES["healthy_moons"]()
    while not s.finished:
        s.advance("epoch")
        assert diagnose(s) == [], f"epoch {s.epoch}"


def test_fresh_session_has_no_findings():
    assert diagnose(CASES["healthy_sine"]()) == []


# ------------------------------------------------------------- properties
@pytest.mark.parametrize("name", list(CASES))
def test_findings_are_well_formed(name):
    found = diagnose(_run(name))
    _check_well_formed(found)
    assert diagnose(_run(name)) == found  # deterministic, no hidden state


def test_finding_is_frozen():
    f = Finding("init_loss", "t", "warning", 0, 0, "e", "a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.step = 3  # type: ignore[misc]


@pytest.mark.parametrize("name", ["relu_huge_lr", "tanh_std10", "overfit"])
def test_rewinding_gives_the_findings_of_then(name):
    s = CASES[name]()
    s.run(max_steps=s.history.steps.n + 60)
    then = diagnose(s)
    position = s.position
    s.run()
    s.goto(position)
    assert diagnose(s) == then


def test_fast_on_a_long_history():
    s = CASES["sigmoid8"]()
    s.run(max_steps=50)
    h = s.history
    n = 100_000
    rng = np.random.default_rng(0)
    rows = np.tile(h.steps.rows(), (n // h.steps.n + 1, 1))[:n]
    rows[:, 0] *= rng.uniform(0.5, 1.5, n)
    h.steps.load(rows)
    h.epochs.load(np.tile(h.epochs.rows(), (2000, 1)))
    diagnose(s)
    best = min(_timed(lambda: diagnose(s)) for _ in range(5))
    assert best < 0.05, f"diagnose took {best * 1e3:.1f} ms on {n} steps"


def _timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


# ------------------------------------------------------------- built-in scenarios
SCENARIO_EXPECT = {
    "lr_too_large": {"diverged", "lr_too_large"},
    "lr_too_small": {"lr_too_small"},
    "vanishing_gradients": {"vanishing_gradients"},
    "exploding_gradients": {"exploding_gradients"},
    "dead_relu": {"dead_relu"},
    "overfitting": {"overfitting"},
    "underfitting": {"underfitting"},
}
HEALTHY_SCENARIOS = (
    "xor",
    "lr_just_right",
    "iris",
    "digits",
    "regularized",
    "classification_ce",
    "regression_sine",
)
_SCENARIO_RUNS: dict[str, Session] = {}


def _scenario(name: str) -> Session:
    from tui_trainer.scenario import builtin_dir, builtin_names, load_scenario

    if name not in builtin_names():
        pytest.skip(f"no built-in scenario {name!r}")
    if name not in _SCENARIO_RUNS:
        sc = load_scenario(builtin_dir() / f"{name}.toml")
        data = sc.load_data()
        s = Session(sc.train_config(data), data)
        s.run()
        _SCENARIO_RUNS[name] = s
    return _SCENARIO_RUNS[name]


@pytest.mark.parametrize("name", sorted(SCENARIO_EXPECT))
def test_scenario_shows_its_pathology(name):
    found = diagnose(_scenario(name))
    _check_well_formed(found)
    codes = {f.code for f in found if f.severity in ("error", "warning")}
    assert codes & SCENARIO_EXPECT[name], [(f.code, f.evidence) for f in found]


@pytest.mark.parametrize("name", HEALTHY_SCENARIOS)
def test_healthy_scenario_has_no_warnings(name):
    found = diagnose(_scenario(name))
    bad = [(f.code, f.evidence) for f in found if f.severity in ("error", "warning")]
    assert bad == []


def test_lr_too_large_is_flagged_within_the_first_ten_steps() -> None:
    """The loss doubling with huge update ratios is reported before the smoothed rules
    have enough steps; healthy scenarios stay quiet over the same steps."""
    from tui_trainer.cli import load

    _, s = load("lr_too_large")
    s.advance("step", 8)
    assert s.nonfinite is None
    assert "lr_too_large" in {f.code for f in diagnose(s)}
    for healthy in ("xor", "lr_just_right", "regression_sine", "digits"):
        _, h = load(healthy)
        for _ in range(9):
            h.advance("step")
            assert not diagnose(h), healthy
