"""Every finding carries one or two fixes that the scenario machinery can apply."""

from __future__ import annotations

import pytest

from test_diagnostics import CASES, _run
from tui_trainer.engine.diagnostics import (
    diagnose,
    fix_label,
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
        assert 1 <= len(f.fixes) <= 2, f
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


def test_learning_rate_fix_is_a_round_tenth_and_forks_from_now() -> None:
    s = _run("huge_lr_tanh")
    (f,) = [f for f in diagnose(s) if f.code == "lr_too_large"]
    assert f.fixes[0] == {"training.lr": 5.0}  # lr was 50
    assert hyper_change(f.fixes[0]) == {"lr": 5.0}


def test_apply_fix_rejects_a_fix_the_scenario_cannot_take() -> None:
    scenario = load_scenario(resolve_scenario("xor"))
    with pytest.raises(ScenarioError, match="standardize"):
        apply_fix(scenario, {"data.standardize": True})
    with pytest.raises(TypeError):
        apply_fix(scenario, {"model.no_such_field": 1})


def test_findings_stay_hashable_with_fixes() -> None:
    found = diagnose(_run("sigmoid8"))
    assert {f: 1 for f in found}  # the explain panel keys a dict by finding
