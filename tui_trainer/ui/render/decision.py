"""TensorFlow-Playground-style decision regions with the data points on top.

The caller evaluates the model on :func:`grid_points` (cell centres, top row
first) and passes the reshaped probabilities to :func:`decision_map`. Use
:func:`map_grid_size` to get a grid that maps one-to-one onto text cells;
any other grid size is resampled (nearest neighbour).

Each region is shaded in its predicted class colour, stronger where the model
is more confident (5 shades), so the decision boundary shows as the darkest
band. Points are drawn as ``●`` (or the class digit) in a bright colour of
their *true* class: a point whose colour differs from the region around it is
misclassified. Without colour, use ``marker="digit"`` and
``half_blocks=False`` (which marks the least confident band with ``·``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from rich.text import Span, Text

from tui_trainer.safe_text import visible

from .colors import BAD_COLOR, assemble_lines, blend, run_bounds

__all__ = [
    "BINARY_COLORS",
    "CLASS_COLORS",
    "N_SHADES",
    "decision_map",
    "grid_points",
    "map_grid_size",
]

Extent = tuple[float, float, float, float]

#: Class 0 orange, class 1 blue, as in TensorFlow Playground.
BINARY_COLORS: tuple[str, ...] = ("#f59322", "#0877bd")
#: Distinct colours for up to 10 classes (matplotlib "tab10"); more classes cycle.
CLASS_COLORS: tuple[str, ...] = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
#: Confidence shades per class.
N_SHADES = 5
_BASE = "#1a1a1a"
_MIXED = "*"
_VAL = "○"


def grid_points(extent: Extent, gw: int, gh: int) -> np.ndarray:
    """Centres of a ``gh`` x ``gw`` grid over ``extent = (xmin, xmax, ymin, ymax)``.

    Returns shape ``(gh * gw, 2)``, row-major with the *top* row (largest y)
    first, so ``model(grid_points(...)).reshape(gh, gw, ...)`` is the
    ``probs`` grid :func:`decision_map` expects.
    """
    xmin, xmax, ymin, ymax = (float(v) for v in extent)
    gw, gh = max(1, int(gw)), max(1, int(gh))
    xs = xmin + (np.arange(gw) + 0.5) * (xmax - xmin) / gw
    ys = ymax - (np.arange(gh) + 0.5) * (ymax - ymin) / gh
    xx, yy = np.meshgrid(xs, ys)
    return np.column_stack([xx.ravel(), yy.ravel()])


def map_grid_size(
    width: int, height: int, *, half_blocks: bool = True, legend: bool = True
) -> tuple[int, int]:
    """``(gw, gh)`` of the probability grid that :func:`decision_map` draws without resampling."""
    rows = max(1, int(height) - (1 if legend and height >= 2 else 0))
    return max(1, int(width)), rows * (2 if half_blocks else 1)


def _class_colors(n: int) -> tuple[str, ...]:
    if n <= 2:
        return BINARY_COLORS
    return tuple(CLASS_COLORS[k % len(CLASS_COLORS)] for k in range(n))


def _as_class_probs(probs: np.ndarray) -> np.ndarray:
    """``(gh, gw, C)`` probabilities; a 2-D grid (or C == 1) is P(class 1) of a binary task."""
    p = np.asarray(probs, dtype=float)
    if p.ndim == 3 and p.shape[2] == 1:
        p = p[..., 0]
    if p.ndim == 2:
        return np.stack([1.0 - p, p], axis=-1)
    if p.ndim != 3:
        raise ValueError(f"probs must be (gh, gw) or (gh, gw, C), got shape {p.shape}")
    return p


def _as_labels(labels: np.ndarray, n: int) -> np.ndarray:
    lab = np.asarray(labels)
    if lab.ndim == 2:  # one-hot / probabilities
        lab = lab.argmax(axis=1) if lab.shape[1] > 1 else lab[:, 0]
    lab = np.asarray(lab, dtype=float).ravel()
    out = np.full(lab.shape, -1, dtype=np.int64)
    ok = np.isfinite(lab)
    out[ok] = np.rint(lab[ok]).astype(np.int64)
    out[(out < 0) | (out >= n)] = -1
    return out


def decision_map(
    probs: np.ndarray,
    points: np.ndarray | None,
    labels: np.ndarray | None,
    extent: Extent,
    width: int,
    height: int,
    n_classes: int,
    *,
    class_names: Sequence[str] | None = None,
    half_blocks: bool = True,
    marker: Literal["dot", "digit"] = "dot",
    legend: bool = True,
    val_points: np.ndarray | None = None,
    val_labels: np.ndarray | None = None,
) -> Text:
    """Render decision regions and data points in ``width`` x ``height`` cells.

    ``probs`` is ``(gh, gw)`` P(class 1) for a binary task or ``(gh, gw, C)``
    class probabilities, laid out like :func:`grid_points` (top row first).
    ``points`` is ``(n, 2)`` in data coordinates with ``labels`` ``(n,)``
    (integer classes, or one-hot ``(n, C)``); each point lands in the text
    cell containing it, points outside ``extent = (xmin, xmax, ymin, ymax)``
    are skipped and counted in the legend. A cell holding points of several
    classes shows ``*``. With ``half_blocks`` every text row shows two grid
    rows (``'▀'``, fg = upper, bg = lower). The last line is a legend unless
    ``legend=False`` or ``height < 2``. ``val_points``/``val_labels``
    (validation data) are drawn as ``○`` in their class colour, under any
    training point sharing their cell.
    """
    width, height = int(width), int(height)
    if width < 1 or height < 1:
        return Text()
    p = _as_class_probs(probs)
    gh, gw, c = p.shape
    k = max(int(n_classes), c, 2)
    colors = _class_colors(k)
    with_legend = legend and height >= 2
    rows = height - int(with_legend)
    cols = width
    prow_n = rows * (2 if half_blocks else 1)

    # Per-pixel code: class * N_SHADES + shade, or BAD for non-finite probabilities.
    if gh and gw:
        ri = (np.arange(prow_n) * gh) // prow_n
        ci = (np.arange(cols) * gw) // cols
        g = p[ri][:, ci]
    else:
        g = np.full((prow_n, cols, c), np.nan)
    bad = ~np.isfinite(g).all(axis=-1)
    g = np.where(bad[..., None], 0.0, g)
    cls = g.argmax(axis=-1)
    pmax = g.max(axis=-1)
    conf = np.clip((pmax - 1.0 / c) / (1.0 - 1.0 / c), 0.0, 1.0)
    shade = np.minimum((conf * N_SHADES).astype(np.int64), N_SHADES - 1)
    bad_code = k * N_SHADES
    pix = np.where(bad, bad_code, cls * N_SHADES + shade)
    pix_colors = [
        blend(_BASE, colors[j], 0.12 + 0.43 * s / (N_SHADES - 1))
        for j in range(k)
        for s in range(N_SHADES)
    ] + [BAD_COLOR]
    n_pix = len(pix_colors)
    point_colors = [blend(col, "#ffffff", 0.3) for col in colors]

    if half_blocks:
        cell = pix[0::2] * n_pix + pix[1::2]
    else:
        cell = pix.copy()
    n_base = n_pix * n_pix if half_blocks else n_pix  # overlay codes start here

    # Points -> cells: validation points first, so a training point in the
    # same cell wins it (the model was fitted to those).
    overlay: dict[int, tuple[str, str]] = {}
    n_out = 0
    any_mixed = False
    any_val = False
    for pts_in, lab_in, own_glyph in ((val_points, val_labels, _VAL), (points, labels, "●")):
        if pts_in is None or lab_in is None or not np.size(pts_in):
            continue
        found = _point_cells(pts_in, lab_in, k, extent, rows, cols, prow_n, half_blocks)
        n_out += found[3]
        flat, prow, lab = found[0], found[1], found[2]
        n_cells = rows * cols
        counts = np.bincount(flat * k + lab, minlength=n_cells * k).reshape(n_cells, k)
        upper = np.bincount(flat[prow % 2 == 0], minlength=n_cells) > 0
        occupied = np.flatnonzero(counts.sum(axis=1))
        any_val |= own_glyph == _VAL and len(occupied) > 0
        for idx in occupied.tolist():
            r, cc = divmod(idx, cols)
            row_counts = counts[idx]
            maj = int(row_counts.argmax())
            mixed = int(np.count_nonzero(row_counts)) > 1
            any_mixed |= mixed
            if half_blocks:
                bg_code = pix[2 * r, cc] if upper[idx] else pix[2 * r + 1, cc]
            else:
                bg_code = pix[r, cc]
            if mixed:
                glyph = _MIXED
            elif marker == "digit" and maj < 10:
                glyph = str(maj)
            else:
                glyph = own_glyph
            overlay[idx] = (glyph, f"bold {point_colors[maj]} on {pix_colors[int(bg_code)]}")
            cell[r, cc] = n_base + idx

    lines: list[Text | str] = []
    style_cache: dict[int, tuple[str, str]] = {}

    def look(code: int) -> tuple[str, str]:
        if code >= n_base:
            return overlay[code - n_base]
        hit = style_cache.get(code)
        if hit is None:
            if half_blocks:
                up, low = divmod(code, n_pix)
                hit = ("▀", f"{pix_colors[up]} on {pix_colors[low]}")
            else:
                bg = pix_colors[code]
                glyph = "·" if code != bad_code and code % N_SHADES == 0 else " "
                if code == bad_code:
                    glyph = "!"
                hit = (glyph, f"{blend(bg, '#ffffff', 0.35)} on {bg}")
            style_cache[code] = hit
        return hit

    for r in range(rows):
        row = cell[r]
        parts: list[str] = []
        spans: list[Span] = []
        pos = 0
        for start, end in run_bounds(row):
            glyph, style = look(int(row[start]))
            chunk = glyph * (end - start)
            parts.append(chunk)
            spans.append(Span(pos, pos + len(chunk), style))
            pos += len(chunk)
        lines.append(Text("".join(parts), spans=spans, no_wrap=True))

    if with_legend:
        lines.append(
            _legend(k, colors, point_colors, class_names, marker, any_mixed, n_out, any_val)
        )
    return assemble_lines(lines, width, height)


def _point_cells(
    points: np.ndarray,
    labels: np.ndarray,
    k: int,
    extent: Extent,
    rows: int,
    cols: int,
    prow_n: int,
    half_blocks: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(text cell index, pixel row, class) of each point inside ``extent``, and
    how many points fell outside it (or had no valid class)."""
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    lab = _as_labels(labels, k)
    xmin, xmax, ymin, ymax = (float(v) for v in extent)
    sx = (xmax - xmin) or 1.0
    sy = (ymax - ymin) or 1.0
    x, y = pts[:, 0], pts[:, 1]
    with np.errstate(invalid="ignore"):
        inside = (
            np.isfinite(x)
            & np.isfinite(y)
            & (x >= xmin)
            & (x <= xmax)
            & (y >= ymin)
            & (y <= ymax)
            & (lab >= 0)
        )
    n_out = int(np.count_nonzero(~inside))
    x, y, lab = x[inside], y[inside], lab[inside]
    col = np.clip(((x - xmin) / sx * cols).astype(np.int64), 0, cols - 1)
    prow = np.clip(((ymax - y) / sy * prow_n).astype(np.int64), 0, prow_n - 1)
    trow = prow // 2 if half_blocks else prow
    return trow * cols + col, prow, lab, n_out


def _legend(
    k: int,
    colors: Sequence[str],
    point_colors: Sequence[str],
    class_names: Sequence[str] | None,
    marker: str,
    any_mixed: bool,
    n_out: int,
    any_val: bool = False,
) -> Text:
    text = Text(no_wrap=True)
    for j in range(k):
        if class_names is not None and j < len(class_names):
            name = visible(class_names[j])  # a CSV label: shown, never sent raw
        else:
            name = f"class {j}" if k <= 2 else str(j)
        glyph = str(j) if marker == "digit" and j < 10 else "●"
        text.append(glyph, style=f"bold {point_colors[j]}")
        if name != glyph:
            text.append(f" {name}", style=colors[j])
        text.append("  ")
    if any_val:
        text.append(f"● train {_VAL} validation  ", style="dim")
    if n_out:
        text.append(f"{n_out} outside  ", style="bold")
    if any_mixed:
        text.append(f"{_MIXED} = mixed  ", style="dim")
    text.append("shade = confidence", style="dim")
    return text
