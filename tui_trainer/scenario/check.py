"""Checking values read out of the parsed TOML tables, collecting every problem.

:class:`_Checker` reads one value at a time (type, range, allowed words, unknown
keys with a did-you-mean) and records a :class:`Problem` with the field, its
line and what is allowed for each wrong one instead of stopping at the first.
The helpers above it word the messages. Each section is read in ``sections.py``.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tui_trainer.engine.describe import describe_value, number_text
from tui_trainer.scenario.positions import _join, _lookup_line
from tui_trainer.scenario.schema import (
    _KEY_ALIASES,
    _SECTION_OF,
    _VALUE_ALIASES,
    _VALUE_HINTS,
    Problem,
)

_MISSING: Any = object()


def _describe(value: object) -> str:
    return describe_value(value, "toml")


_num = number_text


def _bound(value: float | int) -> str:
    """A range limit as people write it: ``0`` rather than ``0.0``."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return _num(value)


def _suggest(word: str, options: Sequence[str], aliases: Mapping[str, str] | None = None) -> str:
    """The option ``word`` was probably meant to be, or ""."""
    w = word.strip().lower()
    if aliases and w in aliases and aliases[w] in options:
        return aliases[w]
    for option in options:
        if option.lower() == w:
            return option
    squashed = {o.replace("_", "").replace("-", ""): o for o in options}
    key = w.replace("_", "").replace("-", "").replace(" ", "")
    if key in squashed:
        return squashed[key]
    close = difflib.get_close_matches(w, list(options), n=1, cutoff=0.6)
    return close[0] if close else ""


def _quote_list(options: Iterable[str]) -> str:
    return ", ".join(options)


class _Checker:
    """Collects problems while reading values out of the parsed TOML tables."""

    def __init__(self, file: str, lines: dict[str, int]) -> None:
        self.file = file
        self.lines = lines
        self.problems: list[Problem] = []

    def add(self, path: str, message: str, allowed: str = "", at: str | None = None) -> None:
        line = _lookup_line(self.lines, at or path)
        self.problems.append(Problem(self.file, path, line, message, allowed))

    # -- structure --------------------------------------------------------

    def keys(
        self, table: Mapping[str, Any], prefix: str, allowed: Sequence[str], section: bool = False
    ) -> set[str]:
        """Report keys of ``table`` that are not in ``allowed``; return the suggested keys."""
        suggested: set[str] = set()
        for key, value in table.items():
            if key in allowed:
                continue
            path = _join(prefix, key)
            home = _SECTION_OF.get(key)
            here = f"in [{prefix}]" if prefix else "at the top level (before any [section])"
            suggestion = _suggest(key, allowed, _KEY_ALIASES)
            what = "unknown section" if section and isinstance(value, dict) else "unknown key"
            if home is not None and home != here:
                message = f"{what} here; '{key}' belongs {home}"
            elif suggestion:
                message = f"{what}; did you mean '{suggestion}'?"
                suggested.add(suggestion)
            else:
                message = what
            self.add(path, message, "one of " + _quote_list(allowed))
        return suggested

    def table(self, parent: Mapping[str, Any], prefix: str, key: str) -> dict[str, Any]:
        if key not in parent:
            return {}
        value = parent[key]
        path = _join(prefix, key)
        if isinstance(value, dict):
            return value
        message = f"expected a table [{path}], got {_describe(value)}"
        if isinstance(value, list):
            message += f"; write [{path}] with single brackets"
        elif key == "data" and isinstance(value, str):
            message += f'; write [data] and then kind = "{value}" on the next line'
        self.add(path, message, f"a [{path}] section")
        return {}

    # -- scalars ----------------------------------------------------------

    def integer(
        self,
        table: Mapping[str, Any],
        prefix: str,
        key: str,
        default: Any,
        lo: int | None = None,
        hi: int | None = None,
        allowed: str = "",
    ) -> Any:
        if key not in table:
            return default
        return self.check_int(table[key], _join(prefix, key), default, lo, hi, allowed)

    def check_int(
        self,
        value: Any,
        path: str,
        default: Any,
        lo: int | None = None,
        hi: int | None = None,
        allowed: str = "",
    ) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            message = f"expected an integer, got {_describe(value)}"
            if isinstance(value, float) and math.isfinite(value) and value.is_integer():
                message += f"; write {int(value)} without the decimal point"
            elif isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
                message += f"; remove the quotes: {value.strip()}"
            self.add(path, message, allowed)
            return default
        if lo is not None and value < lo:
            self.add(path, f"must be >= {lo}, got {value}", allowed)
            return default
        if hi is not None and value > hi:
            self.add(path, f"must be <= {hi}, got {value}", allowed)
            return default
        return value

    def number(
        self,
        table: Mapping[str, Any],
        prefix: str,
        key: str,
        default: float,
        lo: float | None = None,
        hi: float | None = None,
        lo_open: bool = False,
        hi_open: bool = False,
        allowed: str = "",
    ) -> float:
        if key not in table:
            return default
        value = table[key]
        path = _join(prefix, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            message = f"expected a number, got {_describe(value)}"
            if isinstance(value, str):
                try:
                    float(value)
                except ValueError:
                    pass
                else:
                    message += f"; remove the quotes: {value.strip()}"
            self.add(path, message, allowed)
            return default
        x = float(value)
        if not math.isfinite(x):
            self.add(path, f"must be a finite number, got {_num(x)}", allowed)
            return default
        if lo is not None and (x <= lo if lo_open else x < lo):
            self.add(
                path, f"must be {'>' if lo_open else '>='} {_bound(lo)}, got {_num(value)}", allowed
            )
            return default
        if hi is not None and (x >= hi if hi_open else x > hi):
            self.add(
                path, f"must be {'<' if hi_open else '<='} {_bound(hi)}, got {_num(value)}", allowed
            )
            return default
        return x

    def string(
        self,
        table: Mapping[str, Any],
        prefix: str,
        key: str,
        default: Any,
        nonempty: bool = False,
        allowed: str = "",
    ) -> Any:
        if key not in table:
            return default
        return self.check_str(table[key], _join(prefix, key), default, nonempty, allowed)

    def check_str(
        self, value: Any, path: str, default: Any, nonempty: bool = False, allowed: str = ""
    ) -> Any:
        if not isinstance(value, str):
            self.add(path, f"expected a string, got {_describe(value)}", allowed or "a string")
            return default
        if nonempty and not value.strip():
            self.add(path, "must not be empty", allowed or "a non-empty string")
            return default
        return value

    def boolean(self, table: Mapping[str, Any], prefix: str, key: str, default: Any) -> Any:
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, bool):
            message = f"expected true or false, got {_describe(value)}"
            if isinstance(value, str) and value.strip().lower() in ("true", "false"):
                message += f"; remove the quotes: {value.strip().lower()}"
            self.add(_join(prefix, key), message, "true or false")
            return default
        return value

    def choice(
        self,
        table: Mapping[str, Any],
        prefix: str,
        key: str,
        default: Any,
        options: Sequence[str],
        alias_key: str | None = None,
        accept: Mapping[str, str] | None = None,
    ) -> Any:
        """A string from ``options``; ``accept`` maps extra accepted spellings."""
        if key not in table:
            return default
        value = table[key]
        path = _join(prefix, key)
        allowed = _quote_list(options)
        if not isinstance(value, str):
            self.add(path, f"expected a string, got {_describe(value)}", "one of " + allowed)
            return default
        if value in options:
            return value
        if accept and value in accept:
            return accept[value]
        message = f"{key} {value!r} is not one of {allowed}"
        hint = _VALUE_HINTS.get((key, value.strip().lower()))
        suggestion = _suggest(value, options, _VALUE_ALIASES.get(alias_key or key))
        if hint:
            message += f"; {hint}"
        elif suggestion:
            message += f"; did you mean '{suggestion}'?"
        self.add(path, message, allowed)
        return default

    def strings(
        self, table: Mapping[str, Any], prefix: str, key: str, allow_empty: bool = True
    ) -> list[str] | None:
        """An array of non-empty strings, or None (missing or invalid)."""
        if key not in table:
            return None
        value = table[key]
        path = _join(prefix, key)
        if not isinstance(value, list):
            message = f"expected an array of strings, got {_describe(value)}"
            if isinstance(value, str):
                message += f"; write {key} = [{json.dumps(value, ensure_ascii=False)}]"
            self.add(path, message, 'an array of strings, e.g. ["a", "b"]')
            return None
        if not value and not allow_empty:
            self.add(path, "must not be empty", "an array of at least one string")
            return None
        out: list[str] = []
        for i, item in enumerate(value):
            checked = self.check_str(item, f"{path}[{i}]", None, nonempty=True)
            if checked is None:
                return None
            out.append(checked)
        return out
