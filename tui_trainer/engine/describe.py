"""How a value read from a file is named in an error message ("expected X, got Y").

Scenario files are TOML and checkpoints are JSON; the two name their containers
differently (a TOML *table* is a JSON *object*), so the vocabulary is chosen by
``dialect``. Strings are cut to 40 characters and quoted with JSON escapes, so a
control character in a file is shown as ``\\u001b`` and never reaches the terminal.
"""

from __future__ import annotations

import json
import math
from typing import Literal


def number_text(value: float | int) -> str:
    """``nan``, ``inf``, ``-inf`` or the shortest text that reads back as ``value``."""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    return str(value)


def describe_value(value: object, dialect: Literal["toml", "json"] = "toml") -> str:
    """``a string "ten"``, ``an integer 3``, ``a table``... naming ``value`` and its type."""
    if isinstance(value, bool):
        return f"a boolean {'true' if value else 'false'}"
    if isinstance(value, int):
        return f"an integer {value}"
    if isinstance(value, float):
        return f"a number {number_text(value)}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string {json.dumps(shown, ensure_ascii=dialect == 'json')}"
    if isinstance(value, list):
        return "an empty array" if not value else f"an array of {len(value)} items"
    if isinstance(value, dict):
        return "a table" if dialect == "toml" else "an object"
    if value is None:
        return "null"
    return f"a date/time {value}"
