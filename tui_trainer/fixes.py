"""Apply a diagnosis fix to a scenario (outside the engine: it needs the loader).

A fix is a mapping of dotted scenario fields to values
(``{"model.init": "he"}``, see :mod:`tui_trainer.engine.diagnostics.finding`).
Fixes that only change hyperparameters can also be tried mid-run with
:func:`tui_trainer.engine.diagnostics.hyper_change`; this applies any fix to
the scenario, for a run from the start.
"""

from __future__ import annotations

from tui_trainer.engine.diagnostics import Fix
from tui_trainer.scenario import Scenario, parse_scenario


def apply_fix(scenario: Scenario, fix: Fix) -> Scenario:
    """A copy of ``scenario`` with ``fix`` applied, checked as if loaded from a file.

    Raises ``ScenarioError`` when the fix does not apply to this scenario
    (``data.standardize`` for generated data, for example) and ``TypeError``
    for a field the scenario does not know.
    """
    flat = {key.rsplit(".", 1)[-1]: value for key, value in fix.items()}
    text = scenario.to_toml(**flat)
    return parse_scenario(text, scenario.source)
