"""Every finding carries one or two fixes that the scenario machinery can apply."""

from __future__ import annotations

import pytest

from helpers import make_session
from test_diagnostics import CASES, _run
from tui_trainer.engine.diagnostics import (
    Finding,
    diagnose,
    fix_label,
    fixes_for,
    hyper_change,
)
from tui_trainer.engine.session import HYPER_FIELDS
from tui_trainer.fixes import apply_fix
from tui_trainer.scenario import ScenarioError, load_scenario, resolve_scenario

SECTIONS = ("data", "model", "training")


@pytest.mark.parametrize("name", [n for n in CASES if not n.startswith("healthy")])
def test_each_finding_has_one_or_two_applicable_fixes(name: str) -> None:
    s = _run(name)
    findings = diagnose(s)
    assert findings
    scenario = load_scenario(resolve_scenario("xor"))
    for f in findings:
        assert len(f.fixes) <= 2, f
        # Every cause comes with a fix. The one exception: a first loss a bit
        # high from generated data on its usual scale, with Xavier/He already
        # (a note; the scenario cannot standardize generated data).
        if not (f.code == "init_loss" and f.severity == "info"):
            assert f.fixes, f
        for fix in f.fixes:
            assert fix and all(k.split(".", 1)[0] in SECTIONS for k in fix), fix
            assert fix_label(fix)
            # the fix changes something: not the session's current value
            hyper = hyper_change(fix)
            if hyper is not None:
                assert set(hyper) <= set(HYPER_FIELDS)
                assert any(s.hyperparameters()[k] != v for k, v in hyper.items())
            else:
                # changes the start: the scenario loader takes it (generated data here)
                changed = apply_fix(scenario, fix)
                for key, value in fix.items():
                    section, field = key.split(".")
                    got = getattr(changed, field, None)
                    if got is None:
                        got = getattr(getattr(changed, section), field)
                    if field == "hidden":
                        got = [ly.units for ly in got]
                    assert got == value, (key, got, value)


def test_learning_rate_fix_far_off_is_the_typical_rate_and_forks_from_now() -> None:
    s = _run("huge_lr_tanh")
    (f,) = [f for f in diagnose(s) if f.code == "lr_too_large"]
    # lr was 50 (1700x sgd's typical 0.03): a tenth (5), even capped at 3x the
    # typical rate (0.09), repaired fewer of the benchmark's runs than 0.03
    assert f.fixes == ({"training.lr": 0.03}, {"training.lr": 0.09})
    assert hyper_change(f.fixes[0]) == {"lr": 0.03}
    z = _run("zigzag_full_batch")  # lr 20
    (g,) = [g for g in diagnose(z) if g.code == "lr_too_large"]
    assert g.fixes[0] == {"training.lr": 0.03}


def test_learning_rate_fix_a_little_off_is_a_tenth() -> None:
    s = make_session(optimizer="sgd", lr=0.6)  # 20x sgd's typical 0.03
    f = Finding("lr_too_large", "t", "warning", 0, 0, "e", "a")
    assert fixes_for(f, s) == ({"training.lr": 0.06}, {"training.lr": 0.03})


def test_small_learning_rate_fix_is_the_typical_rate() -> None:
    (f,) = [f for f in diagnose(_run("tiny_lr")) if f.code == "lr_too_small"]
    assert f.fixes[0] == {"training.lr": 0.03}  # sgd at 1e-5
    assert f.fixes[1] == {"training.lr": 0.0001}


def test_apply_fix_rejects_a_fix_the_scenario_cannot_take() -> None:
    scenario = load_scenario(resolve_scenario("xor"))
    with pytest.raises(ScenarioError, match="standardize"):
        apply_fix(scenario, {"data.standardize": True})
    with pytest.raises(TypeError):
        apply_fix(scenario, {"model.no_such_field": 1})


def test_findings_stay_hashable_with_fixes() -> None:
    found = diagnose(_run("sigmoid8"))
    assert {f: 1 for f in found}  # the explain panel keys a dict by finding


def test_divergence_explained_by_its_diagnosed_cause_not_a_fixed_sentence() -> None:
    """The explain panel's advice on a diverged run comes from the findings: a
    blow-up from inputs of 1e200 is not blamed on the learning rate."""
    import numpy as np

    from test_diagnostics import _session
    from tui_trainer.engine.config import Dataset
    from tui_trainer.explain import explain

    x = np.full((20, 2), 1e200)
    y = np.arange(20) % 2
    data = Dataset(x, y, x[:4], y[:4], "classification", 2)
    s = _session(data, (4,), init="normal", init_std=1e200)
    s.run()
    assert s.diverged
    text = explain(s)
    assert "inputs are not standardized; try standardize = true" in text
    assert "learning rate" not in text
    lr = _run("huge_lr_sine")
    assert "learning rate too large; try lr = 0.03" in explain(lr)
