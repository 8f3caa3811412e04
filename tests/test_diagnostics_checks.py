"""The rules added with the labelled benchmark: static checks, l2, plateau, Cockpit's alpha."""

from __future__ import annotations

import numpy as np

from test_diagnostics import _data, _session
from tui_trainer.engine.config import Dataset, LayerSpec, TrainConfig
from tui_trainer.engine.diagnostics import diagnose
from tui_trainer.engine.diagnostics.checks import step_alpha
from tui_trainer.engine.session import Session


def _codes(s: Session) -> set[str]:
    return {f.code for f in diagnose(s) if f.severity != "info"}


def test_linear_hidden_layers_are_found_before_the_first_step() -> None:
    s = _session(_data("circles"), (16, 16), activation="linear")
    found = {f.code: f for f in diagnose(s)}
    assert "missing_nonlinearity" in found
    assert found["missing_nonlinearity"].fixes[0]["model.activation"] == "tanh"
    assert "missing_nonlinearity" not in _codes(_session(_data("circles"), (16, 16)))


def test_an_output_activation_before_cross_entropy_is_a_mismatch() -> None:
    data = _data("moons")
    layers = (LayerSpec(8, "tanh"), LayerSpec(2, "sigmoid"))
    s = Session(TrainConfig(layers=layers, loss="cross_entropy"), data)
    f = [f for f in diagnose(s) if f.code == "loss_mismatch"][0]
    assert f.step == 0 and "sigmoid" in f.evidence
    assert f.fixes[0]["model.output_activation"] == "linear"


def test_regression_targets_out_of_the_output_range_are_a_mismatch() -> None:
    data = _data("sine", noise=0.1)  # targets in about [-1.2, 1.2]
    sig = Session(TrainConfig(layers=(LayerSpec(8, "tanh"), LayerSpec(1, "sigmoid"))), data)
    assert "loss_mismatch" in _codes(sig)
    lin = Session(TrainConfig(layers=(LayerSpec(8, "tanh"), LayerSpec(1, "linear"))), data)
    assert "loss_mismatch" not in _codes(lin)


def test_inputs_in_raw_units_are_flagged_playground_scale_is_not() -> None:
    base = _data("gauss")  # spans about -5..5, like TensorFlow Playground: fine
    assert "unstandardized_inputs" not in _codes(_session(base, (8,)))
    x, xv = base.x_train * 300 + 2000, base.x_val * 300 + 2000
    raw = Dataset(x, base.y_train, xv, base.y_val, "classification", 2)
    f = [f for f in diagnose(_session(raw, (8,))) if f.code == "unstandardized_inputs"][0]
    assert f.step == 0 and f.fixes[0] == {"data.standardize": True}


def test_weights_collapsing_under_l2_are_blamed_on_l2() -> None:
    s = _session(_data("circles"), (16,), lr=0.05, l2=3.0, epochs=10)
    s.run()
    by = {f.code: f for f in diagnose(s)}
    assert "l2_too_strong" in by, list(by)
    assert "l2 = 3" in by["l2_too_strong"].evidence
    assert by["l2_too_strong"].fixes[0] == {"training.l2": 0.03}
    assert "underfitting" not in by and "vanishing_gradients" not in by


def test_a_flat_start_with_a_typical_learning_rate_is_a_plateau_not_a_small_lr() -> None:
    s = _session(_data("circles"), (16, 16), init="normal", init_std=0.001, lr=0.05, epochs=20)
    s.run()
    codes = _codes(s)
    assert "plateau" in codes and "lr_too_small" not in codes
    tiny = _session(_data("circles"), (16, 16), lr=1e-5, epochs=20)
    tiny.run()
    assert "lr_too_small" in _codes(tiny) and "plateau" not in _codes(tiny)


def test_alpha_of_the_first_step_grows_with_the_learning_rate() -> None:
    """Cockpit's alpha: about -1 for a step that hardly moves, above 0 for one that
    jumps past the valley floor (the first full-batch step: no chaos yet)."""
    alphas = []
    for lr in (1e-4, 0.05, 50.0):
        s = _session(_data("gauss", classes=3), (8,), lr=lr, batch_size=0)
        assert step_alpha(s) is None  # no update yet
        s.run(max_steps=1)
        alphas.append(step_alpha(s))
    assert alphas[0] < -0.99
    assert alphas == sorted(alphas)
    assert alphas[2] > 0.3
    assert all(np.isfinite(alphas))
