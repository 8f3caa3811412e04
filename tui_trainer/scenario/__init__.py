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

The package is split by purpose: ``schema`` (limits, keys, the data
classes), ``kinds`` (data-set metadata), ``positions`` (line numbers of
fields), ``check`` (checking one value, collecting problems), ``sections``
(reading each section, building the Scenario), ``load`` (files, TOML,
built-ins) and ``write`` (back to TOML). Import from here, not from them.
"""

# Names marked "re-exported" are not in __all__ but are imported from here by the
# tests, tui_trainer.lessons (_suggest) and code written against the former
# single module (the limits, LayerSpec, _Locator).
from tui_trainer.scenario.check import _suggest  # noqa: F401 - re-exported
from tui_trainer.scenario.load import (
    MAX_SCENARIO_BYTES,  # noqa: F401 - re-exported
    builtin_dir,
    builtin_names,
    load_scenario,
    parse_scenario,
    resolve_scenario,
)
from tui_trainer.scenario.positions import _Locator  # noqa: F401 - re-exported
from tui_trainer.scenario.schema import (
    BREAKPOINT_PHASES,
    DEFAULT_ACTIVATION,  # noqa: F401 - re-exported
    DEFAULT_HIDDEN,  # noqa: F401 - re-exported
    DTYPES,
    MAX_CLASSES,  # noqa: F401 - re-exported
    MAX_DEGREE,  # noqa: F401 - re-exported
    MAX_EPOCHS,  # noqa: F401 - re-exported
    MAX_IGNORE,  # noqa: F401 - re-exported
    MAX_INIT,  # noqa: F401 - re-exported
    MAX_LAYERS,  # noqa: F401 - re-exported
    MAX_LR,  # noqa: F401 - re-exported
    MAX_SAMPLES,  # noqa: F401 - re-exported
    MAX_UNITS,  # noqa: F401 - re-exported
    MIN_SAMPLES,  # noqa: F401 - re-exported
    TASKS,  # noqa: F401 - re-exported
    BreakpointSpec,
    DataSpec,
    LayerSpec,  # noqa: F401 - re-exported
    ModelSpec,
    Problem,
    Scenario,
    ScenarioError,
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
