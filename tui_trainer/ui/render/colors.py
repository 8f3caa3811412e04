"""Discrete colour scales and the small text-assembly helpers every renderer uses.

Colours are hex strings (``#rrggbb``); Textual/rich downgrade them to 256 or 16
colours by themselves. Every scale is *discrete* (a handful of levels) so that
neighbouring cells of the same level share one style and one ``Span``.

Each level also has a glyph, so a picture stays readable when colour is
stripped (``NO_COLOR``): diverging glyphs carry the sign (``-``/``=`` for
negative, ``+``/``#`` for positive) and a coarse magnitude; non-finite values
use ``!`` on magenta.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
from rich.text import Span, Text

from .numbers import fmt

__all__ = [
    "BAD_COLOR",
    "BAD_GLYPH",
    "BAD_LEVEL",
    "DIVERGING_CELL_STYLES",
    "DIVERGING_GLYPHS",
    "DIVERGING_LEVELS",
    "DIVERGING_PALETTE",
    "NEG_COLOR",
    "NEUTRAL_COLOR",
    "POS_COLOR",
    "SEQUENTIAL_CELL_STYLES",
    "SEQUENTIAL_GLYPHS",
    "SEQUENTIAL_LEVELS",
    "SEQUENTIAL_PALETTE",
    "assemble_lines",
    "blend",
    "cell_style",
    "coded_line",
    "contrast_text",
    "diverging_levels",
    "diverging_style",
    "inline_legend",
    "legend",
    "resolve_vmax",
    "run_bounds",
    "sequential_levels",
    "sequential_style",
]

# --------------------------------------------------------------------------- helpers


def _hex_to_rgb(color: str) -> tuple[int, int, int]:
    c = color.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _rgb_to_hex(rgb: Iterable[float]) -> str:
    r, g, b = (max(0, min(255, round(v))) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def blend(a: str, b: str, t: float) -> str:
    """Linear RGB mix of two ``#rrggbb`` colours: ``t=0`` gives ``a``, ``t=1`` gives ``b``."""
    ra, rb = _hex_to_rgb(a), _hex_to_rgb(b)
    return _rgb_to_hex(x + (y - x) * t for x, y in zip(ra, rb, strict=True))


def contrast_text(bg: str) -> str:
    """Black or white, whichever reads better on the background ``bg``."""
    r, g, b = _hex_to_rgb(bg)
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "#000000" if luminance > 150 else "#ffffff"


def cell_style(bg: str) -> str:
    """Style for a glyph drawn on ``bg``: a lighter tint of ``bg`` so the glyph is subtle."""
    return f"{blend(bg, '#ffffff', 0.35)} on {bg}"


# --------------------------------------------------------------------------- scales

NEUTRAL_COLOR = "#303030"
NEG_COLOR = "#3b8bff"
POS_COLOR = "#ff4040"
BAD_COLOR = "#c000c0"
BAD_GLYPH = "!"

#: Number of finite levels of the diverging scale (index 5 is "about zero").
DIVERGING_LEVELS = 11
#: Level index used for NaN / +-Inf (one past the finite levels).
BAD_LEVEL = DIVERGING_LEVELS
_HALF = DIVERGING_LEVELS // 2
# |v|/vmax thresholds between magnitude steps 0..5 (step 0 is the neutral band).
_DIV_EDGES = np.array([1, 3, 5, 7, 9], dtype=float) / DIVERGING_LEVELS

DIVERGING_PALETTE: tuple[str, ...] = (
    *(blend(NEUTRAL_COLOR, NEG_COLOR, (_HALF - k) / _HALF) for k in range(_HALF)),
    NEUTRAL_COLOR,
    *(blend(NEUTRAL_COLOR, POS_COLOR, k / _HALF) for k in range(1, _HALF + 1)),
)
#: One glyph per diverging level, strongest negative first.
DIVERGING_GLYPHS: tuple[str, ...] = ("=", "=", "-", "-", ".", " ", ".", "+", "+", "#", "#")
#: ``"fg on bg"`` style per diverging level, plus the NaN style at ``BAD_LEVEL``.
DIVERGING_CELL_STYLES: tuple[str, ...] = (
    *(cell_style(c) for c in DIVERGING_PALETTE),
    f"bold #ffffff on {BAD_COLOR}",
)

SEQUENTIAL_LEVELS = 9
# Viridis, dark purple -> yellow.
SEQUENTIAL_PALETTE: tuple[str, ...] = (
    "#440154",
    "#472d7b",
    "#3b528b",
    "#2c728e",
    "#21918c",
    "#28ae80",
    "#5ec962",
    "#addc30",
    "#fde725",
)
SEQUENTIAL_GLYPHS: tuple[str, ...] = (" ", ".", ":", "-", "=", "+", "*", "#", "@")
SEQUENTIAL_CELL_STYLES: tuple[str, ...] = (
    *(cell_style(c) for c in SEQUENTIAL_PALETTE),
    f"bold #ffffff on {BAD_COLOR}",
)
_SEQ_EDGES = np.arange(1, SEQUENTIAL_LEVELS, dtype=float) / SEQUENTIAL_LEVELS


def resolve_vmax(values: np.ndarray, vmax: float | None = None) -> float:
    """The colour-scale half range: ``vmax`` if given and positive, else max |finite value|.

    Falls back to 1.0 when there is nothing finite or everything is zero, so
    callers can always divide by the result.
    """
    if vmax is not None and np.isfinite(vmax) and vmax > 0:
        return float(vmax)
    a = np.asarray(values, dtype=float)
    finite = a[np.isfinite(a)]
    if finite.size == 0:
        return 1.0
    m = float(np.max(np.abs(finite)))
    return m if m > 0 else 1.0


def diverging_levels(values: np.ndarray, vmax: float | None = None) -> np.ndarray:
    """Level index (0..10, 5 = about zero) of each value; ``BAD_LEVEL`` for NaN/Inf.

    The scale is symmetric: ``v/vmax`` in ``[-1, 1]`` (clipped) is cut into
    11 equal bands. The result has the shape of ``values``.
    """
    a = np.asarray(values, dtype=float)
    scale = resolve_vmax(a, vmax)
    finite = np.isfinite(a)
    with np.errstate(invalid="ignore"):
        t = np.where(finite, a, 0.0) / scale
    step = np.digitize(np.abs(t), _DIV_EDGES)
    levels = _HALF + np.sign(t).astype(np.int64) * step
    levels[~finite] = BAD_LEVEL
    return levels


def diverging_style(values: np.ndarray, vmax: float | None = None) -> list[str]:
    """Hex background colour of each value (flattened) on the diverging scale."""
    pal = (*DIVERGING_PALETTE, BAD_COLOR)
    return [pal[i] for i in diverging_levels(values, vmax).ravel().tolist()]


def sequential_levels(values: np.ndarray, vmax: float | None = None) -> np.ndarray:
    """Level index 0..8 of non-negative values (negatives clip to 0); ``BAD_LEVEL`` is 9."""
    a = np.asarray(values, dtype=float)
    scale = resolve_vmax(a, vmax)
    finite = np.isfinite(a)
    t = np.clip(np.where(finite, a, 0.0) / scale, 0.0, 1.0)
    levels = np.digitize(t, _SEQ_EDGES)
    levels[~finite] = SEQUENTIAL_LEVELS
    return levels


def sequential_style(values: np.ndarray, vmax: float | None = None) -> list[str]:
    """Hex colour of each value (flattened) on the sequential dark -> yellow scale."""
    pal = (*SEQUENTIAL_PALETTE, BAD_COLOR)
    return [pal[i] for i in sequential_levels(values, vmax).ravel().tolist()]


# --------------------------------------------------------------------------- text assembly


def run_bounds(codes: np.ndarray) -> list[tuple[int, int]]:
    """``(start, end)`` of each run of equal consecutive values in a 1-D array."""
    c = np.asarray(codes)
    n = c.shape[0]
    if n == 0:
        return []
    change = (np.flatnonzero(c[1:] != c[:-1]) + 1).tolist()
    starts = [0, *change]
    ends = [*change, n]
    return list(zip(starts, ends, strict=True))


def coded_line(
    codes: np.ndarray, glyphs: Sequence[str], styles: Sequence[str], repeat: int = 1
) -> Text:
    """One line of ``glyphs[code] * repeat`` per code, one span per run of equal codes.

    An empty style string means "no span" (terminal default).
    """
    parts: list[str] = []
    spans: list[Span] = []
    pos = 0
    c = np.asarray(codes)
    for start, end in run_bounds(c):
        code = int(c[start])
        chunk = glyphs[code] * ((end - start) * repeat)
        parts.append(chunk)
        style = styles[code]
        if style:
            spans.append(Span(pos, pos + len(chunk), style))
        pos += len(chunk)
    return Text("".join(parts), spans=spans, no_wrap=True, overflow="crop")


def assemble_lines(lines: Iterable[Text | str], width: int, height: int) -> Text:
    """Join lines into one ``Text``, each cut to ``width`` cells and at most ``height`` lines.

    Over-long lines are truncated with an ellipsis. The result has
    ``no_wrap=True`` so a widget never re-flows it.
    """
    parts: list[str] = []
    spans: list[Span] = []
    pos = 0
    if width > 0 and height > 0:
        for i, raw in enumerate(lines):
            if i >= height:
                break
            line = Text(raw.replace("\n", " ")) if isinstance(raw, str) else raw
            if line.cell_len > width or "\n" in line.plain:
                line = line.copy()
                if "\n" in line.plain:
                    line = Text(line.plain.replace("\n", " "), spans=line.spans, style=line.style)
                line.truncate(width, overflow="ellipsis")
            if i:
                parts.append("\n")
                pos += 1
            plain = line.plain
            parts.append(plain)
            if line.style and plain:
                spans.append(Span(pos, pos + len(plain), line.style))
            for sp in line.spans:
                end = min(sp.end, len(plain))
                if end > sp.start:
                    spans.append(Span(sp.start + pos, end + pos, sp.style))
            pos += len(plain)
    return Text("".join(parts), spans=spans, no_wrap=True, overflow="crop")


# --------------------------------------------------------------------------- legends


def _place(buf: list[str], text: str, at: int) -> bool:
    """Write ``text`` into ``buf`` at column ``at`` if it fits on blanks; report success."""
    if at < 0 or at + len(text) > len(buf):
        return False
    if any(ch != " " for ch in buf[max(0, at - 1) : at + len(text) + 1]):
        return False
    buf[at : at + len(text)] = list(text)
    return True


def legend(
    vmin: float,
    vmax: float,
    width: int,
    *,
    kind: Literal["diverging", "sequential"] | None = None,
) -> Text:
    """A two-line colour bar from ``vmin`` to ``vmax`` with the min / 0 / max values under it.

    ``kind=None`` picks the diverging scale (symmetric around 0, half range
    ``max(|vmin|, |vmax|)``) when ``vmin < 0``, else the sequential scale
    from 0 to ``vmax``. The bar uses the same glyphs as the heatmaps, so it is
    readable without colour.
    """
    width = max(int(width), 1)
    lo, hi = float(vmin), float(vmax)
    if not np.isfinite(lo):
        lo = 0.0
    if not np.isfinite(hi):
        hi = lo
    if hi < lo:
        lo, hi = hi, lo
    if kind is None:
        kind = "diverging" if lo < 0 else "sequential"
    xs = np.linspace(lo, hi, width) if width > 1 else np.array([(lo + hi) / 2])
    if kind == "diverging":
        scale = max(abs(lo), abs(hi)) or 1.0
        bar = coded_line(diverging_levels(xs, scale), DIVERGING_GLYPHS, DIVERGING_CELL_STYLES)
    else:
        bar = coded_line(
            sequential_levels(xs, hi if hi > 0 else 1.0), SEQUENTIAL_GLYPHS, SEQUENTIAL_CELL_STYLES
        )
    buf = [" "] * width
    left = fmt(lo, max(1, min(9, width)))
    right = fmt(hi, max(1, min(9, width)))
    _place(buf, left, 0)
    _place(buf, right, width - len(right))
    if lo < 0 < hi and width > 1:
        zero_col = round((0 - lo) / (hi - lo) * (width - 1))
        _place(buf, "0", zero_col)
    return assemble_lines([bar, Text("".join(buf).rstrip(), style="dim")], width, 2)


def inline_legend(scale: float, *, kind: Literal["diverging", "sequential"] = "diverging") -> Text:
    """One-line legend ``-0.53 [bar] +0.53`` (diverging) or ``0 [bar] 0.53`` (sequential).

    The bar shows every level twice as wide as a cell, with its glyph.
    """
    text = Text(no_wrap=True, overflow="crop")
    if kind == "diverging":
        text.append(fmt(-scale, 7) + " ", style="dim")
        for lvl in range(DIVERGING_LEVELS):
            chunk = " 0" if lvl == _HALF else DIVERGING_GLYPHS[lvl] * 2
            text.append(chunk, style=DIVERGING_CELL_STYLES[lvl])
        text.append(" " + fmt(scale, 7, sign=True), style="dim")
    else:
        text.append("0 ", style="dim")
        for lvl in range(SEQUENTIAL_LEVELS):
            text.append(SEQUENTIAL_GLYPHS[lvl] * 2, style=SEQUENTIAL_CELL_STYLES[lvl])
        text.append(" " + fmt(scale, 7), style="dim")
    return text
