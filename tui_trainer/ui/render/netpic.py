"""The network picture (TensorFlow Playground's hallmark) for 2-D inputs.

Every unit is drawn as a small map of its output over the input plane, the
columns laid out as the network (inputs, hidden layers, the output), with the
links between them drawn in braille: red for a positive weight, blue for a
negative one, brighter for a larger ``|w|`` and doubled for the largest. The
output column is the model's decision map with the data on it.

The caller evaluates the units on one small grid (``unit_maps``: the grid is
the same for every tile, so one forward pass serves them all) and passes the
maps here; :func:`picture` returns the text and where each tile is, so a
click can be mapped back to a unit. Narrow panels get :func:`unit_list`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rich.text import Span, Text

from .colors import (
    DIVERGING_PALETTE,
    NEG_COLOR,
    NEUTRAL_COLOR,
    POS_COLOR,
    assemble_lines,
    blend,
    diverging_levels,
    run_bounds,
)

__all__ = ["Tile", "picture", "picture_layout", "unit_list"]

MAX_TILE_ROWS = 5  # text rows of a unit's map (10 pixel rows with half blocks)
MIN_GAP = 4  # columns of links between two columns of units
MAX_GAP = 18
MAX_LINKS = 48  # per gap, the strongest (a denser picture is only noise)
_BAD = "#c000c0"
_PALETTE = (*DIVERGING_PALETTE, _BAD)
_BRAILLE = 0x2800
# Braille dot bits by (row 0..3, column 0..1) inside a cell.
_DOT = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.int64)
_LINK_LEVELS = 4  # intensity steps of a link by |w| / max |w| of its layer


@dataclass(frozen=True)
class Tile:
    """Where a unit's map is drawn, in the picture's cells (line 0 is the
    header): ``layer`` -1 for the inputs, else the index of the layer whose
    output it is; ``unit`` -1 for the decision map of the output layer."""

    layer: int
    unit: int
    x: int
    y: int
    w: int
    h: int

    def contains(self, x: int, y: int) -> bool:
        return self.x <= x < self.x + self.w and self.y <= y < self.y + self.h


def picture_layout(
    counts: Sequence[int], width: int, height: int
) -> tuple[int, int, list[int]] | None:
    """(tile rows, link gap, units shown per column) for columns of ``counts``
    units in ``width`` x ``height`` cells (a header and a legend line
    included), or None when not even the smallest tiles fit."""
    rows = height - 2
    n_cols = len(counts)
    if rows < 2 or n_cols < 2:
        return None
    fits = []
    for th in range(MAX_TILE_ROWS, 0, -1):
        shown = [min(n, (rows + 1) // (th + 1)) for n in counts]
        gap = (width - n_cols * 2 * th) // (n_cols - 1)
        if min(shown) >= 1 and gap >= MIN_GAP:
            fits.append((th, min(gap, MAX_GAP), shown))
    # The biggest tiles that show every unit; else the most units shown.
    whole = [f for f in fits if f[2] == list(counts)]
    if whole:
        return whole[0]
    # Tiles of one row are too small to read: fewer units, two rows each.
    readable = [f for f in fits if f[0] >= 2]
    return readable[-1] if readable else (fits[-1] if fits else None)


def _tile_pixels(values: np.ndarray, vmax: float, ph: int, pw: int) -> np.ndarray:
    """Palette index per pixel of one unit's map, resampled (nearest) to ``ph`` x ``pw``."""
    gh, gw = values.shape
    ri = (np.arange(ph) * gh) // ph
    ci = (np.arange(pw) * gw) // pw
    return diverging_levels(values[ri][:, ci], vmax)


def _tops(n: int, th: int, rows: int) -> list[int]:
    """Top text row of each of ``n`` tiles, centred in ``rows``."""
    used = n * th + (n - 1)
    start = max(0, (rows - used) // 2)
    return [start + i * (th + 1) for i in range(n)]


def picture(
    maps: Sequence[np.ndarray],
    weights: Sequence[np.ndarray],
    output: Text | None,
    names: Sequence[str],
    vmaxes: Sequence[float],
    width: int,
    height: int,
    *,
    selected: tuple[int, int] | None = None,
    link: tuple[int, int, int] | None = None,
) -> tuple[Text, list[Tile]]:
    """The picture in ``width`` x ``height`` cells, and its tiles.

    ``maps[k]`` is ``(ph, pw, units)``: column ``k``'s unit outputs on the
    grid (column 0 the inputs, then the layers; with ``output`` given, the
    last layer is drawn as that one decision tile instead, ``output``'s
    size ``2 * th`` x ``th``). ``weights[k]`` links column ``k`` to ``k + 1``.
    ``selected`` (layer, unit) marks a unit and brightens its incoming links;
    ``link`` (layer, row, col) is the weight under the cursor, drawn white.
    """
    counts = [m.shape[2] for m in maps]
    if output is not None:
        counts[-1] = 1
    lay = picture_layout(counts, width, height)
    if lay is None:
        return Text("(too small for the network picture)", style="dim"), []
    th, gap, shown = lay
    tw = 2 * th
    rows = height - 2
    n_cols = len(maps)
    total = n_cols * tw + (n_cols - 1) * gap
    x0 = max(0, (width - total) // 2)
    xs = [x0 + k * (tw + gap) for k in range(n_cols)]
    tops = [_tops(n, th, rows) for n in shown]

    # Cells: glyph and style per text cell of the body.
    glyph = np.full((rows, width), " ", dtype="<U1")
    style = np.full((rows, width), "", dtype=object)
    tiles: list[Tile] = []

    for k in range(n_cols):
        layer = k - 1
        if output is not None and k == n_cols - 1:
            y = tops[k][0]
            for r, line in enumerate(output.split("\n")[:th]):
                for c, ch in enumerate(line.plain[:tw]):
                    glyph[y + r, xs[k] + c] = ch
                for sp in line.spans:
                    for c in range(sp.start, min(sp.end, tw)):
                        style[y + r, xs[k] + c] = str(sp.style)
            tiles.append(Tile(layer, -1, xs[k], y + 1, tw, th))
            continue
        m = maps[k]
        for u in range(shown[k]):
            pix = _tile_pixels(m[:, :, u], vmaxes[k], 2 * th, tw)
            y = tops[k][u]
            for r in range(th):
                up, low = pix[2 * r], pix[2 * r + 1]
                for c in range(tw):
                    glyph[y + r, xs[k] + c] = "▀"
                    style[y + r, xs[k] + c] = f"{_PALETTE[up[c]]} on {_PALETTE[low[c]]}"
            tiles.append(Tile(layer, u, xs[k], y + 1, tw, th))

    for k in range(n_cols - 1):
        W = np.asarray(weights[k], dtype=float)
        src = [t + th / 2 for t in tops[k]]
        dst = [t + th / 2 for t in tops[k + 1]]
        if output is not None and k == n_cols - 2:
            dst = [tops[k + 1][0] + th / 2] * W.shape[1]
        layer = k  # the weights of layer k link column k to column k + 1
        sel_unit = selected[1] if selected is not None and selected[0] == layer else None
        cursor = (link[1], link[2]) if link is not None and link[0] == layer else None
        _links(glyph, style, W, src, dst, xs[k] + tw, gap, sel_unit, cursor)

    if selected is not None:
        for t in tiles:
            if (t.layer, t.unit) == selected and t.x > 0:
                glyph[t.y - 1 + (t.h - 1) // 2, t.x - 1] = "▶"
                style[t.y - 1 + (t.h - 1) // 2, t.x - 1] = "bold #ffff00"

    names = [
        f"{name} ({shown[k]} of {counts[k]})" if shown[k] < counts[k] else name
        for k, name in enumerate(names)
    ]
    lines: list[Text | str] = [_header(names, xs, tw + gap - 1, width)]
    for r in range(rows):
        lines.append(_row(glyph[r], style[r]))
    lines.append(_legend())
    return assemble_lines(lines, width, height), tiles


def _links(
    glyph: np.ndarray,
    style: np.ndarray,
    W: np.ndarray,
    src: Sequence[float],
    dst: Sequence[float],
    left: int,
    gap: int,
    sel_unit: int | None,
    cursor: tuple[int, int] | None,
) -> None:
    """Draw every shown link of ``W`` (inputs x units) in the ``gap`` columns from ``left``."""
    n_src, n_dst = min(len(src), W.shape[0]), min(len(dst), W.shape[1])
    if n_src == 0 or n_dst == 0:
        return
    Wv = W[:n_src, :n_dst]
    finite = np.isfinite(Wv)
    mag = np.where(finite, np.abs(Wv), 0.0)
    top = float(mag.max()) or 1.0
    span = 2 * (gap - 1)  # dot columns, one blank cell each side
    ii, jj = np.meshgrid(np.arange(n_src), np.arange(n_dst), indexing="ij")
    order = np.argsort(mag.ravel(), kind="stable")  # strongest drawn last: on top
    keep = np.zeros(order.size, dtype=bool)
    keep[order[-MAX_LINKS:]] = True
    if sel_unit is not None and sel_unit < n_dst:
        keep[np.ravel_multi_index((np.arange(n_src), np.full(n_src, sel_unit)), mag.shape)] = True
    order = order[keep[order]]
    rows_n = glyph.shape[0]
    bits = np.zeros((rows_n, gap), dtype=np.int64)
    owner = np.full((rows_n, gap), -1, dtype=np.int64)
    for rank, flat in enumerate(order.tolist()):
        i, j = int(ii.ravel()[flat]), int(jj.ravel()[flat])
        y0, y1 = src[i] * 4, dst[j] * 4
        n = max(span, int(abs(y1 - y0)) + 1)
        t = np.linspace(0.0, 1.0, n)
        dx = np.rint(t * (span - 1)).astype(np.int64) + 2  # skip the first cell
        dy = np.rint(y0 + (y1 - y0) * t - 0.5).astype(np.int64)
        thick = mag[i, j] >= 0.6 * top
        if thick:
            dx = np.concatenate([dx, dx])
            dy = np.concatenate([dy, dy + 1])
        ok = (dy >= 0) & (dy < rows_n * 4) & (dx < 2 * gap)
        dx, dy = dx[ok], dy[ok]
        cr, cc = dy // 4, dx // 2
        np.bitwise_or.at(bits, (cr, cc), _DOT[dy % 4, dx % 2])
        owner[cr, cc] = rank
    colors = []
    for flat in order.tolist():
        i, j = int(ii.ravel()[flat]), int(jj.ravel()[flat])
        w = float(Wv[i, j])
        if not np.isfinite(w):
            colors.append(f"bold {_BAD}")
            continue
        level = min(_LINK_LEVELS - 1, int(abs(w) / top * _LINK_LEVELS))
        base = POS_COLOR if w > 0 else NEG_COLOR
        c = blend(NEUTRAL_COLOR, base, 0.35 + 0.65 * level / (_LINK_LEVELS - 1))
        if sel_unit is not None and j != sel_unit:
            c = blend("#000000", c, 0.45)
        if cursor is not None and (i, j) == cursor:
            c = "bold #ffffff"
        colors.append(c)
    rr, cc = np.nonzero(bits)
    for r, c in zip(rr.tolist(), cc.tolist(), strict=True):
        glyph[r, left + c] = chr(_BRAILLE + int(bits[r, c]))
        style[r, left + c] = colors[int(owner[r, c])]


def _row(glyphs: np.ndarray, styles: np.ndarray) -> Text:
    keys = np.array([hash(s) for s in styles.tolist()])
    parts: list[str] = []
    spans: list[Span] = []
    pos = 0
    for start, end in run_bounds(keys):
        chunk = "".join(glyphs[start:end].tolist())
        parts.append(chunk)
        st = styles[start]
        if st:
            spans.append(Span(pos, pos + len(chunk), st))
        pos += len(chunk)
    return Text("".join(parts), spans=spans, no_wrap=True)


def _header(names: Sequence[str], xs: Sequence[int], room: int, width: int) -> Text:
    """Each column's name over it, cut to the ``room`` before the next column."""
    buf = [" "] * width
    for name, x in zip(names, xs, strict=True):
        label = name[:room]
        at = max(0, min(x, width - len(label)))
        if all(ch == " " for ch in buf[max(0, at - 1) : at + len(label)]):
            buf[at : at + len(label)] = list(label)
    return Text("".join(buf).rstrip(), style="bold")


def _legend() -> Text:
    t = Text(no_wrap=True)
    t.append("unit output ", style="dim")
    t.append("▀", style=DIVERGING_PALETTE[-1])
    t.append("+ ", style="dim")
    t.append("▀", style=DIVERGING_PALETTE[0])
    t.append("−  links ", style="dim")
    t.append("⠒⠒", style=POS_COLOR)
    t.append(" w>0 ", style="dim")
    t.append("⠒⠒", style=NEG_COLOR)
    t.append(" w<0, brighter, thicker: larger |w|", style="dim")
    return t


def unit_list(
    maps: Sequence[np.ndarray],
    weights: Sequence[np.ndarray],
    names: Sequence[str],
    vmaxes: Sequence[float],
    width: int,
    height: int,
    *,
    selected: tuple[int, int] | None = None,
) -> tuple[Text, list[tuple[int, int, int]]]:
    """The compact form for narrow panels: one line per unit (a 1-row map of its
    output, then its incoming weights as signs), and (line, layer, unit) rows."""
    lines: list[Text | str] = []
    where: list[tuple[int, int, int]] = []
    mw = 8
    for k in range(1, len(maps)):
        layer = k - 1
        lines.append(Text(names[k], style="bold"))
        m = maps[k]
        W = np.asarray(weights[k - 1], dtype=float)
        top = float(np.nanmax(np.abs(W))) if W.size and np.isfinite(W).any() else 1.0
        for u in range(m.shape[2]):
            if len(lines) >= height - 1:
                break
            small = _tile_pixels(m[:, :, u], vmaxes[k], 2, mw)
            t = Text(no_wrap=True, overflow="ellipsis")
            mark = "▶" if selected == (layer, u) else " "
            t.append(f"{mark}{u + 1:>3} ", style="reverse" if mark != " " else "")
            for c in range(mw):
                t.append("▀", style=f"{_PALETTE[small[0, c]]} on {_PALETTE[small[1, c]]}")
            t.append(" ")
            for w in W[:, u][: max(0, (width - 14) // 2)].tolist():
                if not np.isfinite(w):
                    t.append("!", style=f"bold {_BAD}")
                else:
                    level = min(_LINK_LEVELS - 1, int(abs(w) / (top or 1.0) * _LINK_LEVELS))
                    c = blend(NEUTRAL_COLOR, POS_COLOR if w > 0 else NEG_COLOR, 0.35 + 0.2 * level)
                    t.append("+" if w > 0 else "−", style=f"bold {c}")
                t.append(" ")
            where.append((len(lines), layer, u))
            lines.append(t)
    lines.append(Text("map: output over inputs, ± weights in", "dim"))
    return assemble_lines(lines, width, height), where
