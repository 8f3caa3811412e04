"""Axes and legends for the plotext charts, so that they never mislead.

plotext draws its legend inside the plot area, on top of whatever data lies
there (the ln 2 plateau of a loss curve starts exactly in that corner), and
picks tick positions that are neither round nor, on a short plot, evenly
spaced. The charts therefore draw no plotext legend: :func:`legend_line` is a
one-line key shown above the plot, outside its area. :func:`apply_axes` sets
integer step/epoch ticks and evenly spaced round y ticks, with the limits on
the outer ticks so the ticks span the axis. Kept apart from the plot widgets
so that importing these helpers does not import plotext.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from rich.text import Text

from tui_trainer.ui.render.numbers import fmt

#: Series colours (RGB, the same in plotext and in the legend line). The
#: per-step train loss is a light grey: plotext's "gray" is the terminal's
#: dim colour, which braille dots make nearly invisible on a dark background.
STEP_TRAIN = (190, 190, 190)
EPOCH_TRAIN = (0, 205, 205)
VALIDATION = (255, 165, 0)
RGB = {
    "cyan": EPOCH_TRAIN,
    "orange": VALIDATION,
    "green": (80, 200, 80),
    "magenta": (220, 90, 220),
}

Color = tuple[int, int, int]


def rgb(color: str | Color) -> Color:
    """A named chart colour as RGB (plotext and Rich then agree on it)."""
    return RGB[color] if isinstance(color, str) else color


def legend_line(
    entries: Sequence[tuple[str, str | Color, str]], note: str = "", width: int = 0
) -> Text:
    """``glyph label`` pairs in their colours, then an optional dim ``note``.

    ``entries`` are ``(glyph, colour, label)``: ``━`` for a line, ``•`` for
    points, so the key says how each series is drawn as well as its colour.
    A label may offer a short form after ``|`` ("train, each step|step"),
    used when the long forms do not fit in ``width`` cells.
    """
    for short in (False, True):
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, (glyph, color, label) in enumerate(entries):
            long_form, _, short_form = label.partition("|")
            r, g, b = rgb(color)
            if i:
                text.append("  ")
            text.append(glyph, style=f"bold rgb({r},{g},{b})")
            text.append(f" {short_form if short and short_form else long_form}")
        if note:
            text.append(("  " if entries else "") + note, style="dim")
        if not width or text.cell_len <= width:
            break
    return text


def _nice(step: float) -> float:
    """The round number (1, 2, 2.5 or 5 times a power of ten) at or above ``step``."""
    if not math.isfinite(step) or step <= 0:
        return 1.0
    exp = math.floor(math.log10(step))
    base = 10.0**exp
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if m * base >= step * (1 - 1e-9):
            return m * base
    return 10.0 * base


def even_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round, evenly spaced values from below ``lo`` to above ``hi``."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    step = _nice((hi - lo) / max(1, count - 1))
    start = math.floor(lo / step + 1e-9) * step
    n = int(math.ceil((hi - start) / step - 1e-9)) + 1
    return [round(start + i * step, 12) for i in range(max(2, n))]


def int_ticks(lo: float, hi: float, count: int = 5) -> list[int]:
    """About ``count`` evenly spaced whole numbers from at or below ``lo`` up to ``hi``
    (steps, epochs): the axis ends at the last point, not at a round number past it."""
    lo_i, hi_i = int(math.floor(lo)), int(math.ceil(hi))
    if hi_i <= lo_i:
        return [lo_i]
    step = max(1, int(_nice((hi_i - lo_i) / max(1, count - 1))))
    first = (lo_i // step) * step
    return list(range(first, int(math.floor(hi)) + 1, step)) or [lo_i]


def tick_label(v: float, step: float) -> str:
    """A y tick label with as many decimals as the tick spacing needs, no more."""
    if abs(v) >= 1e6 or step < 1e-6:
        return fmt(v, 7)
    decimals = 0 if step >= 1 else -int(math.floor(math.log10(step) + 1e-9))
    if abs(step * 10**decimals - round(step * 10**decimals)) > 1e-6:
        decimals += 1  # 0.25, 2.5
    return f"{v:.{decimals}f}"


def even_rows(
    lo: float, hi: float, count: int, canvas_rows: int | None, exact: bool = False
) -> tuple[list[float], float, float]:
    """(ticks, the axis' top, the tick step) for values ``lo..hi``, the ticks on
    evenly spaced rows of a plot ``canvas_rows`` high with a blank row between
    labels.

    A tick is drawn on the row nearest its value, so 0, 5, 10, 15 from the
    bottom to the top of 17 rows land 5, 6 and 5 rows apart, and on 6 rows
    2, 1 and 2 apart: the scale looks uneven. Of ``even_ticks`` with ``count``
    or fewer ticks, or every m-th of them (the ends kept), this takes the most
    ticks whose gaps are the same whole number of rows when the axis reaches
    at most half a gap past the last tick (``exact``: not past it, for
    a 0-100% axis), then the lowest top.
    """
    full = even_ticks(lo, hi, count)
    step = full[1] - full[0] if len(full) > 1 else 1.0
    if canvas_rows is None or canvas_rows < 3 or len(full) < 2:
        return full, full[-1], step
    rows = canvas_rows - 1  # row gaps from the bottom row to the top row
    best: tuple[int, float, list[float], float] | None = None
    for c in range(count, 1, -1):
        ticks = even_ticks(lo, hi, c)
        k = len(ticks) - 1
        for m in (m for m in range(1, k + 1) if k % m == 0):  # every m-th tick
            n, kept = k // m, ticks[::m]
            per = rows // n  # rows between two ticks
            if per < 2:
                continue
            gap = kept[1] - kept[0]
            top = kept[0] + gap * rows / per
            if top - kept[-1] > (0 if exact else 0.5) * gap + 1e-12 * abs(gap):
                continue
            if best is None or (len(kept), -top) > (best[0], -best[1]):
                best = (len(kept), top, kept, ticks[1] - ticks[0])
    if best is None:
        return [full[0], full[-1]], full[-1], step
    return best[2], best[1], best[3]


def apply_axes(
    plt: object,
    x_range: tuple[float, float],
    y_values: np.ndarray | Sequence[float],
    *,
    rows: int,
    cols: int,
    log_ticks: bool = False,
    percent: bool = False,
    canvas_rows: int | None = None,
) -> None:
    """Integer x ticks over ``x_range`` and evenly spaced y ticks over ``y_values``.

    ``rows`` and ``cols`` (the plot widget's size) bound the number of ticks
    so their labels never crowd. With ``log_ticks`` the y values are already
    ``log10`` and the caller labels them (``set_log_ticks``); only x is set.
    ``percent`` fixes y to 0..1, labelled 0%..100% (accuracy). ``canvas_rows``
    (the rows the data are drawn on) keeps the y ticks on evenly spaced rows.
    """
    p = plt  # plotext Figure: xticks, yticks, xlim, ylim
    x0, x1 = x_range
    xt = int_ticks(x0, x1, max(2, min(6, cols // 10)))
    p.xticks(xt, [str(t) for t in xt])  # type: ignore[attr-defined]
    p.xlim(min(x0, xt[0]), max(x1, xt[-1], xt[0] + 1))  # type: ignore[attr-defined]
    if log_ticks:
        return
    n_y = max(2, min(6, rows // 2))
    if percent:
        yt, _, _ = even_rows(0.0, 1.0, n_y, canvas_rows, exact=True)
        p.yticks(yt, [f"{t:.0%}" for t in yt])  # type: ignore[attr-defined]
        p.ylim(0.0, 1.0)  # type: ignore[attr-defined]
        return
    v = np.asarray(y_values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return
    yt, top, step = even_rows(float(v.min()), float(v.max()), n_y, canvas_rows)
    p.yticks(yt, [tick_label(t, step) for t in yt])  # type: ignore[attr-defined]
    p.ylim(yt[0], top)  # type: ignore[attr-defined]
