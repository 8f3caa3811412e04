"""A line chart drawn in braille with NumPy: the loss chart while training runs.

plotext takes ~12-15 ms to build a 120x20 chart of three series (pure-Python
line interpolation and braille grouping, then an ANSI round trip), which was
40% of the UI thread's CPU while fast-forwarding, and every millisecond of it
is taken from the training thread through the GIL (``bench/ui.py cpu``).
:class:`BrailleFigure` takes the same calls the charts make on plotext's
figure (``plot``, ``xticks``, ``yticks``, ``xlim``, ``ylim``, ``xlabel``), so
the chart code and its axes (``chart_axes.apply_axes``, ``log_axis``) are the
same for both, and draws them in plotext's layout (frame, ``┤`` and ``┬``
ticks, labels, the x label centred below) in about a millisecond. When the
run stops, the chart is drawn by plotext again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from rich.style import Style
from rich.text import Text

#: Braille dot bits by (row 0-3, column 0-1) inside a cell (Unicode U+2800 block).
_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.uint8)


def _cells(values: Any, lo: float, hi: float, bins: int) -> np.ndarray:
    """plotext's mapping of data to canvas positions (``get_matrix_data``): 0 is
    the left column or the bottom row, ``bins - 1`` the last."""
    v = np.asarray(values, dtype=float)
    return np.floor(np.round(0.5 + (bins - 1) * (v - lo) / (hi - lo), 8))


def _line_dots(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The dots of a polyline through integer positions, as plotext's ``get_lines``
    draws it: each segment sampled once per dot along its longer side (truncated
    towards zero), its end left to the next segment, the last point added."""
    if len(xs) < 2:
        return xs, ys
    dx, dy = np.diff(xs), np.diff(ys)
    n = np.minimum(np.maximum(np.abs(dx), np.abs(dy)), 1 << 14).astype(np.int64) + 1
    seg = np.repeat(np.arange(len(n)), n - 1)  # each segment without its end
    first = np.cumsum(n - 1) - (n - 1)
    k = np.arange(len(seg)) - first[seg]
    slope = 1.0 / np.maximum(n - 1, 1)
    px = np.trunc(xs[seg] + k * (dx[seg] * slope[seg]))
    py = np.trunc(ys[seg] + k * (dy[seg] * slope[seg]))
    return np.append(px, xs[-1]), np.append(py, ys[-1])


def _centred(row: list[str], label: str, col: int) -> int:
    """Where plotext puts an x tick label around ``col`` (``correct_coord``): centred,
    moved off the row's ends and off what is already written there."""
    n = len(label)
    b, e = max(col - n + 1, 0), min(col + n, len(row) - 1)
    free = [i for i in range(b, e) if row[i] == " "]
    lo, hi = min(free, default=col - n + 1), max(free, default=col + n)
    b, e = hi - n + 1, lo + n
    return (b + e - n) // 2


class BrailleFigure:
    """The subset of plotext's figure API the charts use, drawn with NumPy."""

    def __init__(self) -> None:
        self.series: list[tuple[np.ndarray, np.ndarray, tuple[int, int, int]]] = []
        self.x_ticks: tuple[list[float], list[str]] = ([], [])
        self.y_ticks: tuple[list[float], list[str]] = ([], [])
        self.x_lim: tuple[float, float] | None = None
        self.y_lim: tuple[float, float] | None = None
        self.x_label = ""

    # plotext's figure API (what chart_axes, log_axis and the loss chart call)
    def clear_data(self) -> None:
        self.series = []

    def clear_figure(self) -> None:
        self.__init__()  # type: ignore[misc]

    def plot(
        self, xs: Sequence[float], ys: Sequence[float], color: Any = (255, 255, 255), **_: Any
    ) -> None:
        x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.any():
            self.series.append((x[ok], y[ok], tuple(color)))  # type: ignore[arg-type]

    def xticks(self, ticks: Sequence[float], labels: Sequence[str]) -> None:
        self.x_ticks = (list(ticks), list(labels))

    def yticks(self, ticks: Sequence[float], labels: Sequence[str]) -> None:
        self.y_ticks = (list(ticks), list(labels))

    def xlim(self, lo: float, hi: float) -> None:
        self.x_lim = (float(lo), float(hi))

    def ylim(self, lo: float, hi: float) -> None:
        self.y_lim = (float(lo), float(hi))

    def xlabel(self, text: str) -> None:
        self.x_label = text

    # drawing
    def _limits(self) -> tuple[float, float, float, float]:
        allx = [s[0] for s in self.series]
        ally = [s[1] for s in self.series]
        if self.x_lim is not None:
            x0, x1 = self.x_lim
        else:
            v = np.concatenate(allx) if allx else np.array([0.0, 1.0])
            x0, x1 = float(v.min()), float(v.max())
        if self.y_lim is not None:
            y0, y1 = self.y_lim
        else:
            v = np.concatenate(ally + [np.asarray(self.y_ticks[0], dtype=float)])
            v = v[np.isfinite(v)] if len(v) else np.array([0.0, 1.0])
            y0, y1 = (float(v.min()), float(v.max())) if len(v) else (0.0, 1.0)
        if x1 <= x0:
            x1 = x0 + 1.0
        if y1 <= y0:
            y1 = y0 + 1.0
        return x0, x1, y0, y1

    def build(self, width: int, height: int, frame: Style | str = "") -> Text:
        """The chart as ``height`` lines of ``width`` cells, in plotext's layout and
        with plotext's rounding, so the chart does not move when plotext takes over.

        ``frame`` styles the frame, ticks and labels (as plotext's ticks colour;
        a span of their own also keeps them apart from the blank cells).
        """
        y_labels = self.y_ticks[1]
        margin = max((len(s) for s in y_labels), default=0)
        cols = width - margin - 2  # inside the frame
        rows = height - 4  # frame top and bottom, tick labels, x label
        if cols < 2 or rows < 1:
            return Text("")
        x0, x1, y0, y1 = self._limits()

        bits = np.zeros((rows, cols), dtype=np.uint8)
        owner = np.full((rows, cols), -1, dtype=np.int64)  # the series drawn last owns a cell
        for k, (xs, ys, _) in enumerate(self.series):
            # dot positions from the left and from the bottom, as plotext counts them
            px, py = _line_dots(_cells(xs, x0, x1, 2 * cols), _cells(ys, y0, y1, 4 * rows))
            inside = (px >= 0) & (px < 2 * cols) & (py >= 0) & (py < 4 * rows)
            px, py = px[inside].astype(np.int64), py[inside].astype(np.int64)
            if not len(px):
                continue
            mine = np.zeros((rows, cols), dtype=np.uint8)
            np.bitwise_or.at(mine, (rows - 1 - py // 4, px // 2), _BITS[3 - py % 4, px % 2])
            hit = mine > 0
            bits[hit] = mine[hit]
            owner[hit] = k
        styles = [Style(color=f"rgb({c[0]},{c[1]},{c[2]})") for _, _, c in self.series]

        tick_row: dict[int, str] = {}  # canvas row from the top -> its y tick label
        for t, label in zip(*self.y_ticks, strict=False):
            r = rows - 1 - int(_cells(t, y0, y1, rows))
            if 0 <= r < rows:
                tick_row[r] = label

        text = Text(no_wrap=True, overflow="crop", end="")
        text.append(" " * margin)
        text.append("┌" + "─" * cols + "┐", style=frame)
        text.append("\n")
        chars = np.where(bits > 0, bits.astype(np.int64) + 0x2800, 0x20)
        for r in range(rows):
            label = tick_row.get(r)
            if label is None:
                text.append(" " * margin)
                text.append("│", style=frame)
            else:
                text.append(label.rjust(margin) + "┤", style=frame)
            line = "".join(map(chr, chars[r]))
            who = owner[r]
            start = 0
            # runs of cells of one series (or blank), each in its colour
            for end in [*(np.flatnonzero(np.diff(who)) + 1).tolist(), cols]:
                k = int(who[start])
                text.append(line[start:end], style=styles[k] if k >= 0 else None)
                start = end
            text.append("│", style=frame)
            text.append("\n")

        # x tick labels where they fit (plotext skips one that would touch
        # another), and a ┬ on the bottom frame for each label written
        ticks = ["─"] * cols
        under = [" "] * width
        for t, label in zip(*self.x_ticks, strict=False):
            c = int(_cells(t, x0, x1, cols))
            if not 0 <= c < cols or not label:
                continue
            first = _centred(under, label, margin + 1 + c)
            lo, hi = max(first - 1, 0), min(first + len(label) + 1, width)
            if first < 0 or first + len(label) > width or any(ch != " " for ch in under[lo:hi]):
                continue
            under[first : first + len(label)] = list(label)
            ticks[c] = "┬"
        text.append(" " * margin)
        text.append("└" + "".join(ticks) + "┘", style=frame)
        text.append("\n")
        for part in re.split(r"( +)", "".join(under)):  # labels styled, blanks not
            text.append(part, style=None if part.startswith(" ") else frame)
        text.append("\n")
        lead = max(0, margin + 1 + cols // 2 - len(self.x_label) // 2)  # centred on the canvas
        label = self.x_label[: max(0, width - lead)]
        text.append(" " * lead)
        text.append(label, style=frame)
        text.append(" " * (width - lead - len(label)))
        return text
