"""Advice for a non-finite run names the cause: the learning rate only once an update ran."""

from __future__ import annotations

from tui_trainer.engine.advice import divergence_advice
from tui_trainer.engine.config import LayerSpec, TrainConfig
from tui_trainer.engine.stepper import NonFinite, Phase

CFG = TrainConfig(layers=(LayerSpec(4), LayerSpec(2, "linear")), init="normal", init_std=50.0)


def test_overflow_in_the_first_forward_pass_blames_the_initial_weights() -> None:
    advice = divergence_advice(NonFinite(0, Phase.FORWARD, 3, "pre-activation z"), CFG)
    assert "learning rate is not the cause" in advice
    assert "smaller init_std (now 50)" in advice


def test_uniform_init_names_init_scale() -> None:
    cfg = CFG.with_changes(init="uniform", init_scale=80.0)
    advice = divergence_advice(NonFinite(0, Phase.BACKWARD, 0, "gradient dW"), cfg)
    assert "smaller init_scale (now 80)" in advice


def test_a_blow_up_after_updates_blames_the_learning_rate() -> None:
    for nf in (
        NonFinite(0, Phase.UPDATE, 1, "weights after the update"),
        NonFinite(7, Phase.FORWARD, 0, "pre-activation z"),
    ):
        assert divergence_advice(nf, CFG) == "Try a smaller learning rate."
