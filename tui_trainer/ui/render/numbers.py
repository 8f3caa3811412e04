"""Compact number formatting for cramped terminal cells."""

from __future__ import annotations

import math
import re

__all__ = ["fmt"]

_EXP = re.compile(r"e([+-])0*(\d)")
_MAX_SIG = 4


def _compact_exp(s: str) -> str:
    """``1.2e-05`` -> ``1.2e-5``, ``3e+09`` -> ``3e9``."""
    return _EXP.sub(lambda m: "e" + ("-" if m[1] == "-" else "") + m[2], s)


def fmt(x: float, width: int = 7, *, sign: bool = False) -> str:
    """Format ``x`` in at most ``width`` characters, keeping as many significant digits as fit.

    Examples (``width=7``): ``0.0123``, ``-1.2e-5``, ``12345``, ``1.235e9``,
    ``nan``, ``inf``, ``-inf``. Up to 4 significant digits are shown for
    non-integers; integers (and values >= 1000) are shown whole when they fit.
    Exponents are compacted (``e-05`` -> ``e-5``). ``sign=True`` prefixes
    ``+`` to positive numbers. If nothing fits, ``#`` * ``width`` is returned
    (like a spreadsheet), or ``~0`` for a magnitude below 1e-3; the result is never
    longer than ``width``.
    """
    width = int(width)
    if width < 1:
        return ""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "?"[:width]
    plus = "+" if sign else ""
    if math.isnan(v):
        return "nan"[:width]
    if math.isinf(v):
        s = "-inf" if v < 0 else plus + "inf"
        return s[:width]
    if v == 0:
        return "0"
    if abs(v) < 1e15 and (v.is_integer() or abs(v) >= 10 ** (_MAX_SIG - 1)):
        s = f"{round(v):{plus}d}"
        if len(s) <= width:
            return s
    for p in range(_MAX_SIG, 0, -1):
        g = _compact_exp(f"{v:{plus}.{p}g}")
        if len(g) <= width:
            return g
        e = _compact_exp(f"{v:{plus}.{p - 1}e}")
        if len(e) <= width:
            return e
    for p in range(_MAX_SIG, 0, -1):  # last resorts: drop the leading zero of 0.xxx
        g = re.sub(r"^([+-]?)0\.", r"\1.", f"{v:{plus}.{p}f}")
        if len(g) <= width and any(ch in "123456789" for ch in g):
            return g
    if abs(v) < 1e-3 and width >= 2:
        return "~0"
    return "#" * width
