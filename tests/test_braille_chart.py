"""The loss chart's fast figure (drawn with NumPy while training runs) against plotext.

When a run stops the chart is drawn by plotext again, so the two must agree
on everything a person reads, to the dot: the frame, where each tick and
label is, the x label, the curves, and each cell's colour.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from rich.style import Style
from rich.text import Text
from textual_plotext.plot import Plot

from tui_trainer.ui.render.braille_chart import BrailleFigure
from tui_trainer.ui.render.chart_axes import EPOCH_TRAIN, STEP_TRAIN, VALIDATION, apply_axes
from tui_trainer.ui.render.log_axis import log10_list, set_log_ticks

ANSI = re.compile(r"\x1b\[[0-9;]*m")
BRAILLE = re.compile("[\u2800-\u28ff]")


def plotext_text(draw, width: int, height: int) -> Text:
    p = Plot()
    draw(p)
    p.plotsize(width, height)
    p._set_size(width, height)
    out = p.build()
    return Text.from_ansi(out[:-1] if out.endswith("\n") else out)


def plotext_lines(draw, width: int, height: int) -> list[str]:
    return plotext_text(draw, width, height).plain.split("\n")


def fast_lines(draw, width: int, height: int) -> list[str]:
    f = BrailleFigure()
    draw(f)
    return f.build(width, height).plain.split("\n")


def dot_colours(text: Text) -> dict[int, str]:
    """The colour of every braille character, by its offset in the text."""
    out: dict[int, str] = {}
    for span in text.spans:
        style = Style.parse(span.style) if isinstance(span.style, str) else span.style
        if style.color is None:
            continue
        for i in range(span.start, span.end):
            if BRAILLE.match(text.plain[i]):
                out[i] = style.color.get_truecolor().hex
    return out


def loss_like(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.arange(1, n + 1, dtype=float)
    y = np.exp(-x / (n / 3)) + 0.1 * rng.random(n)
    ep = x[:: max(1, n // 40)]
    return x, y, ep


def chart(seed: int, n: int, width: int, height: int):
    x, y, ep = loss_like(seed, n)
    ey = np.exp(-ep / (n / 3)) + 0.05

    def draw(p) -> None:
        p.plot(x.tolist(), y.tolist(), color=STEP_TRAIN, marker="braille")
        p.plot(ep.tolist(), ey.tolist(), color=EPOCH_TRAIN, marker="braille")
        p.plot(ep.tolist(), (ey + 0.03).tolist(), color=VALIDATION, marker="braille")
        apply_axes(p, (1.0, float(n)), np.concatenate([y, ey]), rows=height, cols=width)
        p.xlabel("step")

    return draw


def layout(lines: list[str]) -> list[str]:
    """Everything but the braille dots: frame, tick marks, labels."""
    return [BRAILLE.sub(" ", line) for line in lines]


def cells(lines: list[str]) -> set[tuple[int, int]]:
    return {
        (r, c) for r, line in enumerate(lines) for c, ch in enumerate(line) if BRAILLE.match(ch)
    }


@pytest.mark.parametrize(
    ("seed", "n", "width", "height"),
    [(0, 200, 80, 18), (1, 60000, 118, 17), (2, 37, 60, 12), (3, 5000, 196, 40)],
)
def test_the_fast_figure_has_plotexts_layout_and_curves(
    seed: int, n: int, width: int, height: int
) -> None:
    draw = chart(seed, n, width, height)
    slow, fast = plotext_lines(draw, width, height), fast_lines(draw, width, height)
    assert len(fast) == len(slow) == height
    assert layout(fast) == layout(slow)  # frame, ticks, labels, x label: cell for cell
    assert cells(fast) == cells(slow)  # the same cells carry the curves
    assert fast == slow  # with the same dots
    f = BrailleFigure()
    draw(f)
    colours = dot_colours(f.build(width, height))
    assert colours and colours == dot_colours(plotext_text(draw, width, height))


@pytest.mark.parametrize(
    ("seed", "n", "scale", "width", "height"),
    [(4, 300, 1.0, 90, 16), (5, 2000, 1e-6, 90, 16), (6, 50, 1e3, 90, 16), (7, 5000, 1e-9, 60, 10)],
)
def test_a_log_axis_is_drawn_as_plotext_draws_it(
    seed: int, n: int, scale: float, width: int, height: int
) -> None:
    """Log charts plot log10(y) with ticks set_log_ticks labels, and no y limits:
    the range is the data's, and a tick just outside it is labelled on the
    frame's line, as plotext does."""
    x, y, _ = loss_like(seed, n)
    y = y * scale * np.exp(-x / 50)

    def draw(p) -> None:
        logs = log10_list(y)
        p.plot(x.tolist(), logs, color=STEP_TRAIN, marker="braille")
        set_log_ticks(p, logs)
        apply_axes(p, (1.0, float(n)), logs, rows=height, cols=width, log_ticks=True)
        p.xlabel("step")

    assert fast_lines(draw, width, height) == plotext_lines(draw, width, height)


def test_a_line_is_drawn_between_its_points_and_nothing_outside_the_limits() -> None:
    f = BrailleFigure()
    f.plot([0.0, 10.0], [0.0, 10.0], color=(255, 0, 0))
    f.plot([0.0, 10.0], [50.0, 60.0], color=(0, 0, 255))  # above the y limit: not drawn
    f.xticks([0, 10], ["0", "10"])
    f.yticks([0, 10], ["0", "10"])
    f.xlim(0, 10)
    f.ylim(0, 10)
    lines = f.build(24, 12).plain.split("\n")
    canvas = [line[3:-1] for line in lines[1:-3]]  # inside the frame
    rows, cols = len(canvas), len(canvas[0])
    # a diagonal from the bottom left to the top right corner, through every row
    assert BRAILLE.match(canvas[-1][0]) and BRAILLE.match(canvas[0][cols - 1])
    assert all(BRAILLE.search(row) for row in canvas)
    assert sum(len(BRAILLE.findall(row)) for row in canvas) <= rows + cols


def test_the_series_drawn_last_owns_a_shared_cell_in_its_colour() -> None:
    f = BrailleFigure()
    f.plot([0.0, 1.0], [0.5, 0.5], color=(255, 0, 0))
    f.plot([0.0, 1.0], [0.5, 0.5], color=(0, 0, 255))
    f.xlim(0, 1)
    f.ylim(0, 1)
    text = f.build(20, 8)
    styled = [(text.plain[s.start : s.end], str(s.style)) for s in text.spans]
    dots = [style for part, style in styled if BRAILLE.search(part)]
    assert dots and all("0,0,255" in style for style in dots)


def test_non_finite_points_are_left_out_and_an_empty_figure_draws_its_frame() -> None:
    f = BrailleFigure()
    f.plot([1.0, 2.0, 3.0], [float("nan"), float("inf"), 1.0])
    f.xlim(0, 4)
    f.ylim(0, 2)
    lines = f.build(30, 8).plain.split("\n")
    assert len(cells(lines)) == 1
    assert lines[0].strip().startswith("┌") and lines[-3].strip().startswith("└")
    assert BrailleFigure().build(30, 8).plain.count("\n") == 7
    assert BrailleFigure().build(3, 3).plain == ""  # no room for a frame: nothing


@pytest.mark.parametrize("height", range(8, 42, 3))
@pytest.mark.parametrize(("lo", "hi"), [(0.0, 13.0), (0.05, 1.2), (0.6931, 0.7012), (-3.0, 2.0)])
def test_y_ticks_fall_on_evenly_spaced_rows(height: int, lo: float, hi: float) -> None:
    """Each y tick is drawn on the row nearest its value: 0, 5, 10, 15 on six
    rows landed 2, 1 and 2 rows apart, and the scale looked uneven. With the
    plot's rows known, the ticks drawn are evenly spaced on screen as in value,
    with a blank row between labels, and the data still fill most of the axis."""
    width = 70

    def draw(p) -> None:
        x = np.linspace(1, 100, 50)
        p.plot(x.tolist(), np.linspace(lo, hi, 50).tolist(), color=STEP_TRAIN, marker="braille")
        apply_axes(p, (1.0, 100.0), [lo, hi], rows=height, cols=width, canvas_rows=height - 4)
        p.xlabel("step")

    lines = plotext_lines(draw, width, height)
    assert fast_lines(draw, width, height) == lines
    marks = [i for i, line in enumerate(lines) if "┤" in line]
    values = [float(line.split("┤")[0]) for line in lines if "┤" in line]
    assert len(marks) >= 2
    assert len({b - a for a, b in zip(marks, marks[1:], strict=False)}) == 1
    assert marks[1] - marks[0] >= 2
    assert len({round(a - b, 9) for a, b in zip(values, values[1:], strict=False)}) == 1
    f = BrailleFigure()
    draw(f)
    assert f.y_lim is not None
    axis = f.y_lim[1] - f.y_lim[0]
    assert (hi - lo) >= 0.4 * axis  # the data fill a good part of the plot
