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

The drawing copies plotext's rounding (``get_matrix_data``, ``get_lines``,
``hd_group``, ``correct_coord``), so the two are the same character for
character (``tests/test_braille_chart.py``). One case differs by design:
when two tick labels fall on one row, or x labels crowd, plotext keeps one
in the order of a Python ``set`` of the labels (string hashing, so it can
change from one run of the program to the next); this figure keeps the first.
"""

from __future__ import annotations

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
        """The axes' ranges: as set, else the data's (plotext's ``get_lim``)."""

        def lim(values: list[np.ndarray]) -> tuple[float, float]:
            v = np.concatenate(values) if values else np.zeros(0)
            if not len(v):
                return -1.0, 1.0
            lo, hi = float(v.min()), float(v.max())
            if lo == hi:
                return (0.5 * lo, 1.5 * lo) if lo != 0 else (-1.0, 1.0)
            return lo, hi

        x0, x1 = self.x_lim or lim([s[0] for s in self.series])
        y0, y1 = self.y_lim or lim([s[1] for s in self.series])
        return x0, x1 if x1 != x0 else x0 + 1.0, y0, y1 if y1 != y0 else y0 + 1.0

    def build(self, width: int, height: int, frame: Style | str = "") -> Text:
        """The chart as ``height`` lines of ``width`` cells, in plotext's layout and
        with plotext's rounding, so the chart does not move when plotext takes over.

        The cells are written in plotext's order (x tick labels, y tick labels,
        the axes, the corners, the bottom axis, the x label, the data), so where
        two land on one cell the same one wins. ``frame`` styles the frame,
        ticks and labels (as plotext's ticks colour; a span of their own also
        keeps them apart from the blank cells).
        """
        margin = max((len(s) for s in self.y_ticks[1]), default=0)
        cols = width - margin - 2  # inside the frame
        rows = height - 4  # frame top and bottom, tick labels, x label
        if cols < 2 or rows < 1:
            return Text("")
        x0, x1, y0, y1 = self._limits()
        codes = np.full((height, width), 0x20, dtype=np.int64)  # line 0 is the top line
        ids = np.zeros((height, width), dtype=np.int64)  # 0 blank, 1 frame, 2 + k series k

        def put(line: int, col: int, s: str) -> None:
            if 0 <= line < height and s:
                a, b = max(col, 0), min(col + len(s), width)
                if a < b:
                    codes[line, a:b] = [ord(ch) for ch in s[a - col : b - col]]
                    ids[line, a:b] = 1

        left, bottom = margin, height - 3  # the left axis' column, the bottom axis' line
        # x tick labels where they fit: one that would touch another is left out
        # (plotext decides which in an order of its own, see the module's doc)
        ticked: set[int] = set()
        for t, label in zip(*self.x_ticks, strict=False):
            c = int(_cells(t, x0, x1, cols))
            under = [chr(v) for v in codes[height - 2]]
            first = _centred(under, label, left + 1 + c)
            lo, hi = max(first - 1, 0), min(first + len(label) + 1, width)
            if label and first >= 0 and first + len(label) <= width:
                if all(ch == " " for ch in under[lo:hi]):
                    put(height - 2, first, label)
                    ticked.add(c)
        put(0, left + 1, "─" * cols)
        # y tick labels on the line of their row, even a frame's line (as plotext);
        # of two on one row the first stays
        rows_ticked: set[int] = set()
        for t, label in zip(*self.y_ticks, strict=False):
            r = int(_cells(t, y0, y1, rows))  # canvas row from the bottom
            if r not in rows_ticked:
                rows_ticked.add(r)
                put(bottom - 1 - r, 0, label.rjust(margin))
        for r in range(rows):
            put(bottom - 1 - r, left, "┤" if r in rows_ticked else "│")
            put(bottom - 1 - r, left + cols + 1, "│")
        put(bottom, left, "└" + "".join("┬" if c in ticked else "─" for c in range(cols)) + "┘")
        put(0, left, "┌")
        put(0, left + cols + 1, "┐")
        if self.x_label:
            first = left + 1 + cols // 2 - len(self.x_label) // 2  # centred on the canvas
            lo, hi = max(first - 1, 0), min(first + len(self.x_label) + 1, width)
            if first >= 0 and first + len(self.x_label) <= width and not ids[-1, lo:hi].any():
                put(height - 1, first, self.x_label)

        # the data: braille dots, the series drawn last owning a cell
        bits = np.zeros((rows, cols), dtype=np.uint8)
        owner = np.full((rows, cols), -1, dtype=np.int64)
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
        canvas = (slice(1, 1 + rows), slice(left + 1, left + 1 + cols))
        dots = owner >= 0
        codes[canvas] = np.where(dots, bits.astype(np.int64) + 0x2800, codes[canvas])
        ids[canvas] = np.where(dots, owner + 2, ids[canvas])
        ids[(codes == 0x20) & (ids == 1)] = 0  # blanks unstyled: labels in spans of their own

        styles: list[Style | str | None] = [None, frame]
        styles += [Style(color=f"rgb({c[0]},{c[1]},{c[2]})") for _, _, c in self.series]
        text = Text(no_wrap=True, overflow="crop", end="")
        for line in range(height):
            s = "".join(map(chr, codes[line].tolist()))
            row = ids[line]
            start = 0
            for end in [*(np.flatnonzero(np.diff(row)) + 1).tolist(), width]:
                text.append(s[start:end], style=styles[int(row[start])])
                start = end
            if line < height - 1:
                text.append("\n")
        return text
