"""Scenario files: a whole reproducible training run described in TOML.

A scenario names the data, the model, the hyperparameters, the breakpoints and
the watches of one run. :func:`load_scenario` reads and checks a file and
either returns a :class:`Scenario` or raises :class:`ScenarioError` listing
*every* problem found, each with the file, the dotted field (``training.lr``,
``model.layers[1].units``), the line where it was written and what is allowed.
Nothing in here raises anything else for a bad file: unreadable files, invalid
UTF-8, malformed TOML and wrong values all become :class:`Problem` objects.

The schema is documented, with one complete annotated example, in
``docs/scenarios.md``. Typical use::

    scenario = load_scenario(resolve_scenario("xor"))
    dataset = scenario.load_data()
    config = scenario.train_config(dataset)
"""

# Also re-exported, for the tests, tui_trainer.lessons and code written against
# the former single module: the limits, LayerSpec, _Locator and _suggest.
from tui_trainer.scenario.check import (  # noqa: F401
    BREAKPOINT_PHASES,
    DEFAULT_ACTIVATION,
    DEFAULT_HIDDEN,
    DTYPES,
    MAX_CLASSES,
    MAX_DEGREE,
    MAX_EPOCHS,
    MAX_IGNORE,
    MAX_INIT,
    MAX_LAYERS,
    MAX_LR,
    MAX_SAMPLES,
    MAX_SCENARIO_BYTES,
    MAX_UNITS,
    MIN_SAMPLES,
    TASKS,
    BreakpointSpec,
    DataSpec,
    LayerSpec,
    ModelSpec,
    Problem,
    Scenario,
    ScenarioError,
    _Locator,
    _suggest,
    builtin_dir,
    builtin_names,
    load_scenario,
    parse_scenario,
    resolve_scenario,
)

__all__ = [
    "BREAKPOINT_PHASES",
    "DTYPES",
    "BreakpointSpec",
    "DataSpec",
    "ModelSpec",
    "Problem",
    "Scenario",
    "ScenarioError",
    "builtin_dir",
    "builtin_names",
    "load_scenario",
    "parse_scenario",
    "resolve_scenario",
]
