"""Third-round rules: found before the first step, and false alarms the benchmark showed."""

from __future__ import annotations

import pytest

from test_diagnostics import _data, _session
from tui_trainer.engine.diagnostics import diagnose
from tui_trainer.engine.diagnostics.rules import _exploding_at_init, _Run


def _codes(s) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in diagnose(s):
        out.setdefault(f.code, []).append(f)
    return out


def test_a_start_on_the_plateau_is_found_before_the_first_step():
    s = _session(
        _data("circles", noise=0.05), (16, 16), init="normal", init_std=0.003, lr=0.05, epochs=30
    )
    plateau = _codes(s)["plateau"]
    assert plateau[0].step == 0 and "at initialization" in plateau[0].evidence
    assert plateau[0].fixes[0] == {"model.init": "xavier"}


def test_a_well_scaled_start_is_not_a_plateau():
    s = _session(_data("circles", noise=0.05), (16, 16), init="xavier", lr=0.05, epochs=30)
    assert "plateau" not in _codes(s)


def test_a_one_unit_layer_is_underfitting_from_the_start_not_a_dead_layer():
    s = _session(
        _data("circles", noise=0.05), (1,), activation="relu", init="he", lr=0.1, epochs=20
    )
    before = _codes(s)["underfitting"][0]
    assert before.step == 0 and "single unit" in before.evidence
    assert before.fixes[0] == {"model.hidden": [16, 16]}
    s.run()
    after = _codes(s)
    assert after["underfitting"][0].step == 0
    # the unit going silent is part of the capacity finding, not a cause of its own
    assert not any(f.layer == 0 for f in after.get("dead_relu", []))


@pytest.mark.parametrize(("hidden", "seed"), [((8, 8), 2), ((16, 8), 3)])
def test_a_large_output_side_gradient_at_the_start_is_not_exploding(hidden, seed):
    """Regression with He starts: layer 1's |grad|/|W| is 12-14 (over the old
    limit of 10), the output layer's 57-60: a large first loss, not gradients
    growing on their way back (a healthy benchmark run was flagged so)."""
    s = _session(
        _data("plane", n=200, noise=0.1),
        hidden,
        activation="relu",
        init="he",
        optimizer="sgd",
        lr=0.02,
        batch_size=16,
        epochs=2,
        seed=seed,
    )
    s.run(max_steps=1)
    ratio, mask = _exploding_at_init(_Run(s))
    assert ratio[0] > 10 and ratio[-1] > 4 * ratio[0]
    assert not mask.any()
    assert "exploding_gradients" not in _codes(s)


def test_an_exploding_start_is_still_found():
    s = _session(
        _data("moons", noise=0.1),
        (16,) * 4,
        activation="relu",
        init="normal",
        init_std=2.0,
        lr=0.02,
        epochs=2,
    )
    s.run(max_steps=1)
    assert _exploding_at_init(_Run(s))[1].any()
    assert _codes(s)["exploding_gradients"][0].step == 0
