"""``--set KEY=VALUE``: override any scenario setting from the command line.

``tui-trainer xor --set lr=0.3 --set model.hidden=[8,8]`` opens xor with those
two settings replaced. A key is a setting's dotted name (``training.lr``,
``data.features``, ``seed``) or its short name (``lr``) when only one section
has it (every setting's name is unique today); a value is written as in the
file (a TOML value: ``0.3``, ``[8, 8]``, ``["x1", "x1^2"]``, ``true``), and
a bare word is a string (``activation=relu``).

The overrides go through the writer's machinery (``write._apply_override``:
``hidden`` replaces ``layers``, a new ``kind`` drops the keys it does not use)
and the result is checked by the very checks a file gets, so the errors are
the same; a problem with an overridden setting names ``--set model.hidden``
instead of a line. :func:`command_line` goes the other way: the one line
that reproduces a setup (the app shows it in the ``d`` card).
"""

from __future__ import annotations

import dataclasses
import shlex
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tui_trainer.safe_text import visible
from tui_trainer.scenario.check import _describe, _suggest
from tui_trainer.scenario.load import builtin_dir, parse_scenario
from tui_trainer.scenario.schema import _KEY_ALIASES, Problem, Scenario, ScenarioError
from tui_trainer.scenario.write import _OVERRIDE_SECTION, _apply_override, _document, _emit

MAX_SETS = 100
"""At most this many ``--set`` options (each one rebuilds the document)."""
MAX_SET_TEXT = 10_000
"""One ``--set`` is at most this many characters."""

_NOT_COMMAND = ("name", "description", "watch")  # text, not part of a reproducible setup


def setting_names() -> list[str]:
    """Every key ``--set`` accepts, dotted (``training.lr``; ``seed`` at the top)."""
    return [f"{sec}.{k}" if sec else k for k, sec in _OVERRIDE_SECTION.items()]


def _problem(sc: Scenario, key: str, message: str, allowed: str = "") -> Problem:
    return Problem(sc.file, f"--set {visible(key)}", None, message, allowed)


def resolve_key(sc: Scenario, key: str) -> tuple[str, Problem | None]:
    """The flat setting name of ``key`` (``model.hidden`` -> ``hidden``), or a problem."""
    section, dot, name = key.strip().rpartition(".")
    allowed = "a setting such as lr, training.lr, model.hidden, data.features (docs/scenarios.md)"
    if name in _OVERRIDE_SECTION:
        want = _OVERRIDE_SECTION[name]
        if not dot or section == want:
            return name, None
        where = f"in [{want}]" if want else "a top-level setting"
        right = f"{want}.{name}" if want else name
        return name, _problem(sc, key, f"{name} is {where}: write {right}", allowed)
    guess = _suggest(name, list(_OVERRIDE_SECTION), _KEY_ALIASES)
    if not guess and section in _OVERRIDE_SECTION:  # model.layers[0].units and the like
        guess = section
    message = f"unknown setting {visible(key)!r}"
    if "[" in key:
        message += "; --set replaces a whole setting (e.g. model.layers=[...])"
    elif guess:
        sec = _OVERRIDE_SECTION[guess]
        message += f"; did you mean '{f'{sec}.{guess}' if sec else guess}'?"
    return "", _problem(sc, key, message, allowed)


def parse_value(text: str) -> Any:
    """A ``--set`` value as TOML reads it (``0.3``, ``[8, 8]``, ``"x"``, ``true``);
    anything TOML does not read is the text itself (``relu``, ``x1^2``)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError):
        return text.strip()


def apply_sets(sc: Scenario, sets: Sequence[str]) -> Scenario:
    """``sc`` with every ``KEY=VALUE`` of ``sets`` applied and checked.

    Raises :class:`ScenarioError` listing every problem: a malformed option,
    an unknown key (with a did-you-mean), or a value the file's own checks
    refuse (named ``--set key``, no line). The result keeps the file's
    source, lesson steps and line numbers of the settings not overridden;
    its ``text`` is the scenario as run (what a checkpoint stores).
    """
    if not sets:
        return sc
    problems: list[Problem] = []
    overrides: dict[str, Any] = {}
    given: dict[str, str] = {}  # flat name -> the key as typed
    if len(sets) > MAX_SETS:
        raise ScenarioError([_problem(sc, "", f"at most {MAX_SETS} --set options", "fewer")])
    for item in sets:
        key, eq, text = item.partition("=")
        if not eq or not key.strip():
            problems.append(
                Problem(sc.file, "--set", None, f"expected KEY=VALUE, got {visible(item)!r}")
            )
            continue
        name, problem = resolve_key(sc, key)
        if problem is not None:
            problems.append(problem)
            continue
        if len(item) > MAX_SET_TEXT:
            problems.append(_problem(sc, key, f"longer than {MAX_SET_TEXT} characters"))
            continue
        if not text.strip():
            problems.append(_problem(sc, key, "has no value", "KEY=VALUE, e.g. lr=0.3"))
            continue
        overrides[name] = parse_value(text)
        given[name] = key.strip()
    if problems:
        raise ScenarioError(problems)
    doc = _document(sc, None)
    try:
        for name, value in overrides.items():
            _apply_override(doc, name, value, None)
        text = _emit(doc)
    except (TypeError, ValueError) as e:  # a TOML date or time: no setting takes one
        name = next(iter(overrides))
        raise ScenarioError(
            [_problem(sc, given[name], f"cannot use {_describe(overrides[name])}: {e}")]
        ) from None
    try:
        new = parse_scenario(text, sc.source)
    except ScenarioError as e:
        raise ScenarioError([_relocate(sc, p, given) for p in e.problems]) from None
    return dataclasses.replace(
        new,
        lesson=sc.lesson,
        lines={k: v for k, v in sc.lines.items() if _owner(k, given) is None},
    )


def _owner(field: str, given: Mapping[str, str]) -> str | None:
    """The overridden setting ``field`` belongs to (``model.hidden[2]`` -> ``hidden``)."""
    for name in given:
        sec = _OVERRIDE_SECTION[name]
        full = f"{sec}.{name}" if sec else name
        if field == full or field.startswith((full + ".", full + "[")):
            return name
        if name == "hidden" and field.startswith("model.layers"):
            return name
        if name == "layers" and field.startswith("model.hidden"):
            return name
    return None


def _relocate(sc: Scenario, p: Problem, given: Mapping[str, str]) -> Problem:
    """A problem found in the overridden text, pointed back at ``--set`` or the file."""
    owner = _owner(p.field, given)
    if owner is not None:
        sec = _OVERRIDE_SECTION[owner]
        full = f"{sec}.{owner}" if sec else owner
        rest = p.field[len(full) :] if p.field.startswith(full) else ""
        return Problem(sc.file, f"--set {given[owner]}{rest}", None, p.message, p.allowed)
    return Problem(sc.file, p.field, sc.line_of(p.field), p.message, p.allowed)


# --------------------------------------------------------------------------
# The other way: the command line of a setup
# --------------------------------------------------------------------------


def _flat(doc: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {k: v for section in doc.values() for k, v in section.items()}


def data_overrides(sc: Scenario) -> dict[str, Any]:
    """The data settings of ``sc`` as to_toml overrides (kind, the generator's
    settings, val_fraction, data_seed): what the app's data dialog changes."""
    from tui_trainer.scenario.kinds import _data_keys_for

    d = sc.data
    keys = _data_keys_for(d.kind)
    out: dict[str, Any] = {"kind": d.kind}
    for key in ("n_samples", "noise", "val_fraction", "classes", "degree", "data_seed"):
        if key in keys:
            out[key] = getattr(d, key)
    return out


def scenario_argument(sc: Scenario) -> str:
    """How the command line names ``sc``: its built-in name, else its path."""
    if sc.source is None:
        return "xor"
    try:
        if Path(sc.source).resolve().parent == builtin_dir().resolve():
            return Path(sc.source).stem
    except OSError:
        pass
    return str(sc.source)


def set_options(base: Scenario, now: Mapping[str, Any]) -> list[str]:
    """The ``--set`` options that turn ``base`` into ``base.to_toml(**now)``'s setup:
    one per setting whose value differs (description, name and watch text left out)."""
    from tui_trainer.scenario.write import _toml_value

    before = _flat(_document(base, None))
    doc = _document(base, None)
    for key, value in now.items():
        _apply_override(doc, key, value, None)
    after = _flat(doc)
    out = []
    for key, value in after.items():
        if key in _NOT_COMMAND or before.get(key, _MISSING) == value:
            continue
        sec = _OVERRIDE_SECTION.get(key, "")
        # Training settings (lr, epochs...) and the seed read well short; data
        # and model ones keep their section (data.features, model.hidden).
        name = key if sec in ("", "training") else f"{sec}.{key}"
        text = _toml_value(value).replace(chr(10), " ")
        if isinstance(value, str) and value and parse_value(value) == value:
            text = value  # a bare word reads back as itself: kind=sine, not kind="sine"
        out.append(f"{name}={text}")
    return out


_MISSING = object()


def command_line(base: Scenario, now: Mapping[str, Any], program: str = "tui-trainer") -> str:
    """The one shell line that opens ``base`` with the settings ``now``
    (flat names, as :meth:`Scenario.to_toml` takes them)."""
    parts = [program, scenario_argument(base)]
    for option in set_options(base, now):
        parts += ["--set", option]
    return shlex.join(parts)


__all__ = [
    "apply_sets",
    "command_line",
    "data_overrides",
    "parse_value",
    "resolve_key",
    "setting_names",
]
