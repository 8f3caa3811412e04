"""Input features computed from a data set's columns: TensorFlow Playground's crosses.

A feature is written as text and computed from the *base* columns of the data
(``x1``, ``x2`` for generated 2-D data, ``x`` for 1-D data, a CSV's column
names otherwise):

* ``x1``        the column itself;
* ``x1^2``      its square;
* ``x1*x2``     the product of two columns (``x1*x1`` is ``x1^2``);
* ``sin(x1)``   its sine (radians, the column's own units).

Playground's seven inputs are :data:`PLAYGROUND_FEATURES`; any subset in any
order may be used, and crosses of a CSV's named columns work the same way
(``"age*income"``, ``"age^2"``, ``"sin(age)"``). Crosses are computed from the
columns as loaded, i.e. after a CSV's standardisation, so ``age^2`` of a
z-scored ``age`` stays near 1 rather than in the thousands.

Usable from a notebook without the rest of the app::

    cols = parse_features(["x1", "x1^2"], ["x1", "x2"])
    x = compute_features(base_x, cols)
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PLAYGROUND_FEATURES: tuple[str, ...] = ("x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)")
"""TensorFlow Playground's inputs for 2-D data, in its order."""

DEFAULT_2D: tuple[str, ...] = ("x1", "x2")
MAX_FEATURES = 256
"""At most this many features: more would only make the first layer huge."""
MAX_FEATURE_TEXT = 200
"""A feature's text is at most this long (a CSV column name plus an operator)."""

_SIN = re.compile(r"^\s*sin\s*\((.*)\)\s*$", re.DOTALL)
_SQUARE = re.compile(r"^(.*?)\s*\^\s*2\s*$", re.DOTALL)


class FeatureError(ValueError):
    """A feature text that names no column or is malformed; ``message`` says which
    and what is allowed (with a did-you-mean when a column name is close)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Feature:
    """One input column: ``op`` is ``"col"``, ``"square"``, ``"product"`` or
    ``"sin"`` of the base columns ``cols`` (indices); ``text`` is its canonical
    spelling (no spaces: ``"x1*x2"``)."""

    text: str
    op: str
    cols: tuple[int, ...]

    @property
    def key(self) -> tuple[str, tuple[int, ...]]:
        """What the feature computes: ``x1*x1`` and ``x1^2`` have the same key,
        as do ``x1*x2`` and ``x2*x1`` (two names for one column are duplicates)."""
        if self.op == "product" and self.cols[0] == self.cols[1]:
            return ("square", self.cols[:1])
        if self.op == "product":
            return ("product", tuple(sorted(self.cols)))
        return (self.op, self.cols)


def _shown(text: str, limit: int = 40) -> str:
    cut = text[:limit] + ("..." if len(text) > limit else "")
    return repr("".join(c if c.isprintable() else repr(c)[1:-1] for c in cut))


def _column(name: str, columns: Sequence[str]) -> int | None:
    name = name.strip()
    return columns.index(name) if name in columns else None


def _unknown(text: str, columns: Sequence[str]) -> FeatureError:
    """The error for a text that is no column and no cross of columns."""
    choices = list(columns)
    if len(columns) <= 2:
        choices += [
            f.replace("x1", columns[0]).replace("x2", columns[-1])
            for f in PLAYGROUND_FEATURES[2:]
            if len(columns) == 2 or "x2" not in f
        ]
    else:
        choices += [f"{c}^2" for c in columns[:50]] + [f"sin({c})" for c in columns[:50]]
    close = difflib.get_close_matches(text.strip()[:100], choices[:10_000], n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    names = ", ".join(repr(c) for c in columns[:10]) + (" ..." if len(columns) > 10 else "")
    return FeatureError(
        f"unknown feature {_shown(text)}{hint} (columns: {names}; crosses: 'c^2', 'a*b', 'sin(c)')"
    )


def parse_feature(text: str, columns: Sequence[str]) -> Feature:
    """The :class:`Feature` ``text`` names over the base ``columns``.

    A column name that itself contains ``*``, ``^`` or brackets is taken as
    the column first. Raises :class:`FeatureError` for anything else.
    """
    if not isinstance(text, str):
        raise FeatureError(f"a feature must be a string, got {type(text).__name__}")
    if len(text) > MAX_FEATURE_TEXT:
        raise FeatureError(f"feature {_shown(text)} is longer than {MAX_FEATURE_TEXT} characters")
    i = _column(text, columns)
    if i is not None:
        return Feature(columns[i], "col", (i,))
    m = _SIN.match(text)
    if m and (i := _column(m.group(1), columns)) is not None:
        return Feature(f"sin({columns[i]})", "sin", (i,))
    m = _SQUARE.match(text)
    if m and (i := _column(m.group(1), columns)) is not None:
        return Feature(f"{columns[i]}^2", "square", (i,))
    for at in [k for k, c in enumerate(text) if c == "*"]:
        a, b = _column(text[:at], columns), _column(text[at + 1 :], columns)
        if a is not None and b is not None:
            return Feature(f"{columns[a]}*{columns[b]}", "product", (a, b))
    raise _unknown(text, columns)


def parse_features(texts: Sequence[str], columns: Sequence[str]) -> tuple[Feature, ...]:
    """Every feature of ``texts``; FeatureError for an empty list, too many,
    an unknown one or two that compute the same column."""
    if isinstance(texts, str):
        raise FeatureError("features must be a list of strings, e.g. ['x1', 'x2', 'x1^2']")
    if not texts:
        raise FeatureError("no features: name at least one, e.g. ['x1', 'x2']")
    if len(texts) > MAX_FEATURES:
        raise FeatureError(f"at most {MAX_FEATURES} features, got {len(texts)}")
    out: list[Feature] = []
    seen: dict[tuple[str, tuple[int, ...]], str] = {}
    for text in texts:
        f = parse_feature(text, columns)
        if f.key in seen:
            same = "is listed twice" if seen[f.key] == f.text else f"is the same as {seen[f.key]!r}"
            raise FeatureError(f"feature {_shown(text)} {same}; list each feature once")
        seen[f.key] = f.text
        out.append(f)
    return tuple(out)


def looks_like_cross(text: str) -> bool:
    """Whether ``text`` is written as a cross (``^2``, ``*``, ``sin(...)``) rather
    than as a plain column name (then an unknown name gets the column message)."""
    return bool(_SIN.match(text) or _SQUARE.match(text) or "*" in text)


def referenced_columns(features: Sequence[Feature]) -> list[int]:
    """The base columns the features use, in order of first use."""
    out: list[int] = []
    for f in features:
        for c in f.cols:
            if c not in out:
                out.append(c)
    return out


def compute_features(base: np.ndarray, features: Sequence[Feature]) -> np.ndarray:
    """The ``(n, len(features))`` input matrix from the base columns (float64 or
    ``base``'s float dtype); the same inputs always give the same bits."""
    base = np.asarray(base)
    dtype = base.dtype if np.issubdtype(base.dtype, np.floating) else np.float64
    out = np.empty((base.shape[0], len(features)), dtype=dtype)
    with np.errstate(over="ignore", invalid="ignore"):  # checked by check_finite
        _fill(out, base, features)
    return out


def check_finite(x: np.ndarray, features: Sequence[Feature]) -> None:
    """FeatureError naming the first input that overflowed (``a^2`` of 1e200)."""
    bad = ~np.isfinite(x).all(axis=0)
    if bad.any():
        f = features[int(np.argmax(bad))]
        raise FeatureError(
            f"feature {_shown(f.text)} is not finite for some rows (its values overflow); "
            "standardize the columns or leave it out"
        )


def _fill(out: np.ndarray, base: np.ndarray, features: Sequence[Feature]) -> None:
    for j, f in enumerate(features):
        col = base[:, f.cols[0]]
        if f.op == "col":
            out[:, j] = col
        elif f.op == "square":
            out[:, j] = col * col
        elif f.op == "product":
            out[:, j] = col * base[:, f.cols[1]]
        else:
            out[:, j] = np.sin(col)


def is_default(features: Sequence[str], columns: Sequence[str]) -> bool:
    """Whether ``features`` are the base columns themselves, in order (no crosses)."""
    return list(features) == list(columns)
