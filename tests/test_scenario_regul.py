"""Scenario fields for L1, dropout and lr schedules: read, checked, written back."""

from __future__ import annotations

import pytest

from tui_trainer.engine.config import LayerSpec
from tui_trainer.scenario import ScenarioError, parse_scenario
from tui_trainer.scenario.schema import Scenario

PER_LAYER = """
name = "regul"
[data]
kind = "moons"
n_samples = 120
noise = 0.2

[model]
dropout = 0.1
layers = [
    { units = 16, activation = "relu", dropout = 0.3 },
    { units = 8, activation = "tanh" },
]

[training]
lr = 0.1
l1 = 0.002
l2 = 0.001
schedule = "step"
warmup_epochs = 2
step_size = 5
gamma = 0.5
epochs = 20
"""

SHARED = """
[model]
hidden = [12, 12]
activation = "relu"
dropout = 0.25

[training]
lr = 0.05
schedule = "cosine"
min_lr = 0.001
t_max = 30
"""


def _settings(s: Scenario) -> dict[str, object]:
    d = dict(vars(s))
    for key in ("source", "text", "lines", "name"):
        d.pop(key)
    return d


def test_fields_are_read_and_reach_the_engine_config() -> None:
    s = parse_scenario(PER_LAYER)
    assert s.model.hidden == (LayerSpec(16, "relu", 0.3), LayerSpec(8, "tanh", 0.1))
    cfg = s.train_config(s.load_data())
    assert cfg.layers[-1].dropout == 0.0  # never on the output layer
    assert (cfg.l1, cfg.l2, cfg.schedule, cfg.warmup_epochs) == (0.002, 0.001, "step", 2)
    assert (cfg.step_size, cfg.gamma) == (5, 0.5)
    t = parse_scenario(SHARED)
    assert all(ly.dropout == 0.25 for ly in t.model.hidden)
    tc = t.train_config(t.load_data())
    assert (tc.schedule, tc.min_lr, tc.t_max) == ("cosine", 0.001, 30)
    # gamma left out: the schedule's own default
    e = parse_scenario('[training]\nschedule = "exponential"\n')
    assert e.train_config(e.load_data()).gamma == 0.95


@pytest.mark.parametrize("text", [PER_LAYER, SHARED])
def test_round_trip(text: str) -> None:
    s = parse_scenario(text)
    written = s.to_toml()
    again = parse_scenario(written)
    assert _settings(again) == _settings(s)


def test_defaults_are_not_written() -> None:
    text = parse_scenario("").to_toml()
    for key in ("l1", "schedule", "dropout", "gamma", "warmup_epochs"):
        assert f"\n{key} =" not in text


def test_overrides() -> None:
    s = parse_scenario(PER_LAYER)
    t = parse_scenario(s.to_toml(schedule="cosine", min_lr=0.01))
    assert (t.schedule, t.min_lr, t.warmup_epochs) == ("cosine", 0.01, 2)  # step's keys dropped
    t = parse_scenario(s.to_toml(dropout=0.2))
    assert all(ly.dropout == 0.2 for ly in t.model.hidden)
    t = parse_scenario(s.to_toml(l1=0.0, layers=[LayerSpec(4, "relu", 0.5)]))
    assert t.l1 == 0.0 and t.model.hidden == (LayerSpec(4, "relu", 0.5),)
    with pytest.raises(ScenarioError, match="training.gamma"):
        s.to_toml(gamma=2.0)
    with pytest.raises(ScenarioError, match="model.dropout"):
        s.to_toml(dropout=-0.1)


def test_one_problem_per_bad_value_with_its_line() -> None:
    text = '[training]\nschedule = "cosine"\nstep_size = 3\nl1 = -1\n[model]\ndropout = 2\n'
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text)
    got = {(p.field, p.line) for p in info.value.problems}
    assert got == {("training.step_size", 3), ("training.l1", 4), ("model.dropout", 6)}
