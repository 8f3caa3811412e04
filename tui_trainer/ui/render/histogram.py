"""Histograms with eighth-block bars, and one-line sparklines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from rich.text import Text

from .colors import BAD_COLOR, assemble_lines
from .numbers import fmt

__all__ = ["BAR_GLYPHS", "SPARK_GLYPHS", "histogram", "histogram_counts", "sparkline"]

#: Index = filled eighths of a cell (0..8).
BAR_GLYPHS: tuple[str, ...] = (" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█")
SPARK_GLYPHS = "▁▂▃▄▅▆▇█"
BAR_STYLE = "#5fafff"
_BAD_STYLE = f"bold #ffffff on {BAD_COLOR}"


def histogram_counts(values: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, int]:
    """``(counts, edges, n_nonfinite)`` of the finite entries of ``values``.

    NaN and +-Inf are excluded and counted separately, so ``counts.sum()``
    is the number of finite values. With no finite values the counts are
    zeros over ``[0, 1]``; a constant input gets numpy's ``[v - 0.5, v + 0.5]``.
    """
    a = np.asarray(values, dtype=float).ravel()
    finite = np.isfinite(a)
    vals = a[finite]
    n_bad = int(a.size - vals.size)
    bins = max(1, int(bins))
    if vals.size == 0:
        return np.zeros(bins, dtype=np.int64), np.linspace(0.0, 1.0, bins + 1), n_bad
    counts, edges = np.histogram(vals, bins=bins)
    return counts.astype(np.int64), edges, n_bad


def _label_line(lo: float, hi: float, width: int) -> Text:
    """``lo`` at the left, ``hi`` at the right, ``0`` under zero when it is inside and free."""
    buf = [" "] * width
    left, right = fmt(lo, min(8, width)), fmt(hi, min(8, width))
    buf[: len(left)] = left
    if len(left) + 1 + len(right) <= width:
        buf[width - len(right) :] = right
    if lo < 0 < hi:
        col = int((0 - lo) / (hi - lo) * width)
        if len(left) + 1 < col < width - len(right) - 1:
            buf[col] = "0"
    return Text("".join(buf).rstrip(), style="dim")


def histogram(
    values: np.ndarray,
    width: int,
    height: int,
    bins: int | None = None,
    title: str = "",
) -> Text:
    """Vertical bar histogram of the finite entries of ``values`` in ``width`` x ``height`` cells.

    Layout: a header (title, ``n``, how many NaN/Inf values were excluded,
    mean, std, tallest bin count), ``height - 2`` rows of bars drawn with
    eighth blocks (``▁▂▃▄▅▆▇█``; any non-empty bin shows at least ``▁``),
    and an x-axis line with the min and max bin edges (and ``0`` when the
    range spans zero). ``bins`` defaults to one per column and is capped at
    ``width``; each bin is ``width // bins`` columns wide. Empty, all-NaN and
    constant inputs produce an explanatory header instead of failing.
    """
    width, height = int(width), int(height)
    if width < 1 or height < 1:
        return Text()
    n_bins = min(width, max(1, int(bins))) if bins else width
    counts, edges, n_bad = histogram_counts(values, n_bins)
    n = int(counts.sum())
    size = int(np.size(values))

    head = Text(no_wrap=True)
    if title.strip():
        head.append(title.strip() + "  ", style="bold")
    if size == 0:
        head.append("(no data)", style="dim")
        return assemble_lines([head], width, height)
    if n == 0:
        head.append("(no finite values)  ", style="dim")
        head.append(f"{n_bad} NaN/Inf", style=_BAD_STYLE)
        return assemble_lines([head], width, height)

    a = np.asarray(values, dtype=float).ravel()
    fin = a[np.isfinite(a)] if n_bad else a
    lo, hi = float(fin.min()), float(fin.max())
    head.append(f"n={n}  ")
    if n_bad:
        head.append(f"{n_bad} NaN/Inf excluded", style=_BAD_STYLE)
        head.append("  ")
    if lo == hi:
        head.append(f"all = {fmt(lo)}  ", style="bold")
    head.append(f"mean {fmt(float(fin.mean()))}  std {fmt(float(fin.std()))}  ")
    head.append(f"peak {int(counts.max())}", style="dim")

    bar_h = max(1, height - 2)
    col_w = max(1, width // n_bins)
    peak = int(counts.max())
    eighths = np.rint(counts / peak * (bar_h * 8)).astype(np.int64)
    eighths = np.where(counts > 0, np.maximum(eighths, 1), 0)
    glyphs = np.array(BAR_GLYPHS)
    lines: list[Text | str] = [head]
    for r in range(bar_h):
        level = np.clip(eighths - (bar_h - 1 - r) * 8, 0, 8)
        row = "".join(np.repeat(glyphs[level], col_w).tolist())
        lines.append(Text(row.rstrip() or " ", style=BAR_STYLE))
    lines.append(_label_line(float(edges[0]), float(edges[-1]), n_bins * col_w))
    return assemble_lines(lines, width, height)


def sparkline(
    values: Sequence[float] | np.ndarray,
    width: int,
    *,
    mode: Literal["mean", "last"] = "mean",
) -> str:
    """A one-line trend of ``values`` in at most ``width`` characters (``▁`` low ... ``█`` high).

    Longer series are reduced to ``width`` points: ``mode="mean"`` averages
    equal consecutive buckets (NaNs ignored) so the whole history is shown;
    ``mode="last"`` keeps only the last ``width`` values. The glyph scale runs
    from the min to the max of the finite points; a constant series is drawn
    mid-height. NaN points are spaces and +-Inf points ``!``. The result has
    length ``min(len(values), width)``.
    """
    a = np.asarray(values, dtype=float).ravel()
    width = int(width)
    if width < 1 or a.size == 0:
        return ""
    if a.size > width:
        if mode == "last":
            a = a[-width:]
        else:
            starts = (np.arange(width) * a.size) // width
            nan = np.isnan(a)
            counts = np.add.reduceat((~nan).astype(np.int64), starts)
            with np.errstate(invalid="ignore", over="ignore"):
                sums = np.add.reduceat(np.where(nan, 0.0, a), starts)
                a = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    finite = np.isfinite(a)
    out = np.full(a.shape, " ", dtype="<U1")
    out[np.isinf(a)] = "!"
    if finite.any():
        vals = a[finite]
        lo, hi = float(vals.min()), float(vals.max())
        if hi > lo:
            idx = np.rint((vals - lo) / (hi - lo) * (len(SPARK_GLYPHS) - 1)).astype(np.int64)
        else:
            idx = np.full(vals.shape, len(SPARK_GLYPHS) // 2 - 1)
        out[finite] = np.array(list(SPARK_GLYPHS))[idx]
    return "".join(out.tolist())
