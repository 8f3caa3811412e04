"""Weight-matrix heatmaps and first-layer "what does each unit look at" image tiles.

``matrix_heatmap`` picks the most detailed view that fits:

1. **numbers** -- every value printed (``+0.123``, 7 cells each) on a
   background coloured by the diverging scale;
2. **blocks** -- one glyph per value (two cells wide when there is room, for a
   squarer aspect), background coloured, glyph showing sign and magnitude
   (``= -`` negative, ``+ #`` positive, ``!`` NaN/Inf) so it reads without colour;
3. **pooled** -- the matrix is cut into ``br x bc`` blocks that fit and each
   block is drawn as one cell. The default reduction is ``maxabs``: the
   block's entry with the largest magnitude, sign kept, so outliers, exploding
   or dead regions stay visible (a mean would average random-sign weights to
   grey). ``pool="mean"`` averages instead. A block containing any NaN/Inf is
   drawn as ``!``. The header says so, e.g.
   ``2000x2000 shown as 22x80 blocks (max|v| of 91x25)``.

A header line (title, shape, view note, NaN/Inf count, min/mean/max) and a
legend line are always present (the header splits in two when it is too long
and there is room).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from rich.text import Text

from .colors import (
    BAD_COLOR,
    BAD_GLYPH,
    BAD_LEVEL,
    DIVERGING_CELL_STYLES,
    DIVERGING_GLYPHS,
    DIVERGING_PALETTE,
    assemble_lines,
    coded_line,
    contrast_text,
    diverging_levels,
    inline_legend,
    resolve_vmax,
)
from .numbers import fmt

__all__ = ["NUMBER_CELL_WIDTH", "PoolMode", "image_tiles", "matrix_heatmap", "pool_matrix"]

PoolMode = Literal["maxabs", "mean"]

#: Cells per printed number: a space and a 6-character signed number.
NUMBER_CELL_WIDTH = 7
_NUMBER_STYLES: tuple[str, ...] = (
    *(f"{contrast_text(bg)} on {bg}" for bg in DIVERGING_PALETTE),
    f"bold #ffffff on {BAD_COLOR}",
)
_BLOCK_GLYPHS: tuple[str, ...] = (*DIVERGING_GLYPHS, BAD_GLYPH)
_BAD_NOTE_STYLE = f"bold #ffffff on {BAD_COLOR}"


def _as_matrix(m: np.ndarray) -> tuple[np.ndarray, str]:
    """A float 2-D view of ``m`` (1-D -> one row, N-D -> first axis by the rest) and its shape."""
    a = np.asarray(m, dtype=float)
    shape = "x".join(str(s) for s in a.shape) or "scalar"
    if a.ndim == 0:
        a = a.reshape(1, 1)
    elif a.ndim == 1:
        a = a.reshape(1, -1)
    elif a.ndim > 2:
        a = a.reshape(a.shape[0], -1)
    return a, shape


def _stats(a: np.ndarray) -> tuple[str, int, float]:
    """``"min .. mean .. max .."`` over finite entries, the non-finite count, and max |finite|."""
    finite = np.isfinite(a)
    n_finite = int(np.count_nonzero(finite))
    n_bad = a.size - n_finite
    if n_finite == 0:
        return ("no finite values" if a.size else ""), n_bad, 0.0
    vals = a[finite] if n_bad else a
    lo, hi = float(vals.min()), float(vals.max())
    text = f"min {fmt(lo)}  mean {fmt(float(vals.mean()))}  max {fmt(hi)}"
    return text, n_bad, max(abs(lo), abs(hi))


def pool_matrix(a: np.ndarray, br: int, bc: int, how: PoolMode = "maxabs") -> np.ndarray:
    """Reduce 2-D ``a`` over ``br x bc`` blocks (edge blocks may be partial).

    ``maxabs`` keeps each block's largest-magnitude entry (with its sign);
    ``mean`` averages. A block with any NaN/Inf becomes NaN.
    """
    rows, cols = a.shape
    br, bc = max(1, int(br)), max(1, int(bc))
    n_r, n_c = -(-rows // br), -(-cols // bc)
    finite = np.isfinite(a)
    all_finite = bool(finite.all())
    clean = a if all_finite else np.where(finite, a, 0.0)
    if (n_r * br, n_c * bc) == (rows, cols):
        padded = clean
    else:
        padded = np.zeros((n_r * br, n_c * bc), dtype=a.dtype)
        padded[:rows, :cols] = clean
    blocks = padded.reshape(n_r, br, n_c, bc)
    if how == "mean":
        r_counts = np.minimum(br, rows - np.arange(n_r) * br)
        c_counts = np.minimum(bc, cols - np.arange(n_c) * bc)
        out = blocks.sum(axis=(1, 3)) / np.outer(r_counts, c_counts)
    elif how == "maxabs":
        # Zero padding never wins: it has the smallest possible magnitude.
        hi = blocks.max(axis=(1, 3))
        lo = blocks.min(axis=(1, 3))
        out = np.where(-lo > hi, lo, hi).astype(float)
    else:
        raise ValueError(f"unknown pool mode {how!r}")
    if not all_finite:
        bad = np.zeros((n_r * br, n_c * bc), dtype=bool)
        bad[:rows, :cols] = ~finite
        out[bad.reshape(n_r, br, n_c, bc).any(axis=(1, 3))] = np.nan
    return out


def _number_line(row: np.ndarray, levels: np.ndarray, prefix: str) -> Text:
    """Printed values, each ``NUMBER_CELL_WIDTH`` cells, one span per run of equal level."""
    cells = [
        " " + fmt(v, NUMBER_CELL_WIDTH - 1, sign=True).rjust(NUMBER_CELL_WIDTH - 1) for v in row
    ]
    line = Text(no_wrap=True, overflow="crop")
    if prefix:
        line.append(prefix, style="dim")
    change = np.flatnonzero(levels[1:] != levels[:-1]) + 1
    starts = [0, *change.tolist()]
    ends = [*change.tolist(), len(cells)]
    for s, e in zip(starts, ends, strict=True):
        line.append("".join(cells[s:e]), style=_NUMBER_STYLES[int(levels[s])])
    return line


def _header(
    ident: str, note: str, n_bad: int, stats: str, width: int, two_lines: bool
) -> list[Text]:
    """Header as one line, or two (identity + notes / stats) when asked."""
    first = Text(no_wrap=True)
    first.append(ident, style="bold")
    if note:
        first.append("  " + note)
    if n_bad:
        first.append("  ")
        first.append(f"{BAD_GLYPH} {n_bad} NaN/Inf", style=_BAD_NOTE_STYLE)
    if two_lines:
        return [first, Text(stats, style="dim")]
    if stats:
        first.append("  " + stats, style="dim")
    return [first]


def _header_len(ident: str, note: str, n_bad: int, stats: str) -> int:
    return len(_header(ident, note, n_bad, stats, 10**6, False)[0].plain)


def _legend_line(scale: float, n_bad: int, extra: str = "") -> Text:
    line = inline_legend(scale)
    if n_bad:
        line.append("  ")
        line.append(f"{BAD_GLYPH} NaN/Inf", style=_BAD_NOTE_STYLE)
    if extra:
        line.append("  " + extra, style="dim")
    return line


def matrix_heatmap(
    m: np.ndarray,
    width: int,
    height: int,
    *,
    vmax: float | None = None,
    title: str = "",
    row_label: str = "in",
    col_label: str = "out",
    show_numbers: bool | None = None,
    pool: PoolMode = "maxabs",
) -> Text:
    """Render a matrix (or 1-D vector as one row) in at most ``width`` x ``height`` cells.

    ``vmax`` fixes the symmetric colour scale (default: max |finite value| of
    what is drawn). ``show_numbers=None`` prints numbers when every value
    fits; ``True`` forces numbers (the top-left corner that fits, noted in the
    header); ``False`` never prints them. See the module docstring for the
    blocks / pooled fallbacks and the ``pool`` modes.
    """
    width, height = int(width), int(height)
    if width < 1 or height < 1:
        return Text()
    a, shape_str = _as_matrix(m)
    is_vector = np.ndim(m) <= 1
    rows, cols = a.shape
    labels = f"({col_label})" if is_vector else f"({row_label}×{col_label})"
    ident = " ".join(p for p in (title.strip(), shape_str, labels) if p)
    stats, n_bad, max_abs = _stats(a)
    vmax_given = vmax is not None and bool(np.isfinite(vmax)) and vmax > 0
    if not vmax_given:
        vmax = max_abs if max_abs > 0 else None
    if a.size == 0:
        return assemble_lines([Text(ident + "  (empty)", style="bold")], width, height)

    legend_lines = 1 if height >= 3 else 0
    body_h = max(height - 1 - legend_lines, 0)
    idx_w = len(str(rows - 1)) + 1 if rows > 1 else 0
    num_cols_fit = max(0, (width - idx_w) // NUMBER_CELL_WIDTH)
    fits_numbers = rows <= body_h and cols <= num_cols_fit
    fits_blocks = rows <= body_h and cols <= width

    if body_h == 0:
        # Only room for the header.
        return assemble_lines(_header(ident, "", n_bad, stats, width, False), width, height)

    if num_cols_fit > 0 and (show_numbers is True or (show_numbers is None and fits_numbers)):
        return _render_numbers(
            a, width, height, body_h, idx_w, num_cols_fit, vmax, ident, stats, n_bad
        )
    if fits_blocks:
        return _render_blocks(a, width, height, body_h, vmax, ident, stats, n_bad, note="")

    # Pooled summary; the header may take two lines, which costs one body row.
    def layout(body: int) -> tuple[np.ndarray, str]:
        br = max(1, -(-rows // body))
        bc = max(1, -(-cols // width))
        pooled = pool_matrix(a, br, bc, pool)
        how = "max|v|" if pool == "maxabs" else "mean"
        note = f"shown as {pooled.shape[0]}x{pooled.shape[1]} blocks ({how} of {br}x{bc})"
        return pooled, note

    pooled, note = layout(body_h)
    two = _header_len(ident, note, n_bad, stats) > width and body_h >= 6
    if two:
        pooled, note = layout(body_h - 1)
    scale = resolve_vmax(pooled, None) if (pool == "mean" and not vmax_given) else vmax
    return _render_blocks(
        pooled, width, height, body_h - int(two), scale, ident, stats, n_bad, note=note, two=two
    )


def _render_numbers(
    a: np.ndarray,
    width: int,
    height: int,
    body_h: int,
    idx_w: int,
    num_cols_fit: int,
    vmax: float | None,
    ident: str,
    stats: str,
    n_bad: int,
) -> Text:
    rows, cols = a.shape
    cropped = rows > body_h or cols > num_cols_fit
    col_hdr = (rows + 1 <= body_h) or (cropped and body_h >= 2)
    show_r = min(rows, body_h - int(col_hdr))
    show_c = min(cols, num_cols_fit)
    note = f"showing [0:{show_r}, 0:{show_c}]" if cropped else ""
    used = 1 + int(col_hdr) + show_r + (1 if height >= 3 else 0)
    two = _header_len(ident, note, n_bad, stats) > width and used + 1 <= height
    scale = resolve_vmax(a, vmax)
    sub = a[:show_r, :show_c]
    levels = diverging_levels(sub, scale)
    lines: list[Text | str] = list(_header(ident, note, n_bad, stats, width, two))
    if col_hdr:
        ticks = "".join(f"{j:>{NUMBER_CELL_WIDTH}}" for j in range(show_c))
        lines.append(Text(" " * idx_w + ticks, style="dim"))
    for i in range(show_r):
        prefix = f"{i:>{idx_w - 1}} " if idx_w else ""
        lines.append(_number_line(sub[i], levels[i], prefix))
    if height >= 3:
        lines.append(_legend_line(scale, n_bad))
    return assemble_lines(lines, width, height)


def _render_blocks(
    a: np.ndarray,
    width: int,
    height: int,
    body_h: int,
    vmax: float | None,
    ident: str,
    stats: str,
    n_bad: int,
    *,
    note: str,
    two: bool | None = None,
) -> Text:
    rows, cols = a.shape
    rows = min(rows, body_h)
    cell_w = 2 if 2 * cols <= width else 1
    idx_w = len(str(rows - 1)) + 1 if rows > 1 else 0
    with_idx = idx_w > 0 and idx_w + cell_w * cols <= width and not note
    if two is None:
        used = 1 + rows + (1 if height >= 3 else 0)
        two = _header_len(ident, note, n_bad, stats) > width and used + 1 <= height
    scale = resolve_vmax(a, vmax)
    levels = diverging_levels(a[:rows], scale)
    lines: list[Text | str] = list(_header(ident, note, n_bad, stats, width, two))
    for i in range(rows):
        line = coded_line(levels[i], _BLOCK_GLYPHS, DIVERGING_CELL_STYLES, repeat=cell_w)
        if with_idx:
            line = Text.assemble((f"{i:>{idx_w - 1}} ", "dim"), line, no_wrap=True)
        lines.append(line)
    if height >= 3:
        lines.append(_legend_line(scale, n_bad))
    return assemble_lines(lines, width, height)


# --------------------------------------------------------------------------- image tiles

_EMPTY = BAD_LEVEL + 1  # padding pixel (odd image heights): terminal default background
_N_PIX = _EMPTY + 1
_GAP_HALF = _N_PIX * _N_PIX
_PIX_COLORS: tuple[str, ...] = (*DIVERGING_PALETTE, BAD_COLOR, "default")
_HALF_GLYPHS: tuple[str, ...] = ("▀",) * _GAP_HALF + (" ",)
_HALF_STYLES: tuple[str, ...] = tuple(
    f"{_PIX_COLORS[up]} on {_PIX_COLORS[low]}" for up in range(_N_PIX) for low in range(_N_PIX)
) + ("",)
_GAP_GLYPH = BAD_LEVEL + 1
_TILE_GLYPHS: tuple[str, ...] = (*_BLOCK_GLYPHS, " ")
_TILE_STYLES: tuple[str, ...] = (*DIVERGING_CELL_STYLES, "")


def image_tiles(
    w: np.ndarray,
    image_shape: tuple[int, int] = (8, 8),
    width: int = 80,
    height: int = 24,
    *,
    vmax: float | None = None,
    per_unit: bool = False,
    half_blocks: bool = True,
    title: str = "",
) -> Text:
    """Draw each unit's incoming weights ``w[:, u]`` as an ``image_shape`` picture.

    ``w`` has shape ``(prod(image_shape), units)`` (a first-layer weight
    matrix). With ``half_blocks`` each text cell shows two vertically stacked
    pixels as ``'▀'`` (fg = upper, bg = lower), so 8x8 takes 8 cols x 4 rows;
    otherwise each pixel is two cells of the glyph scale (readable without
    colour, 16 cols x 8 rows for 8x8). Tiles are laid out side by side with
    the unit number under each; a header says ``+k more`` when not all fit.
    The colour scale is shared by all tiles (``vmax`` or max |w|) unless
    ``per_unit``, which scales each tile by its own max |w|.
    """
    width, height = int(width), int(height)
    if width < 1 or height < 1:
        return Text()
    a = np.asarray(w, dtype=float)
    if a.ndim == 1:
        a = a[:, None]
    ih, iw = int(image_shape[0]), int(image_shape[1])
    if a.ndim != 2 or a.shape[0] != ih * iw:
        raise ValueError(f"expected weights of shape ({ih * iw}, units), got {a.shape}")
    units = a.shape[1]
    imgs = a.T.reshape(units, ih, iw)
    scale = resolve_vmax(a, vmax)
    if per_unit:
        levels = np.stack([diverging_levels(img) for img in imgs]) if units else imgs.astype(int)
    else:
        levels = diverging_levels(imgs, scale)
    n_bad = int(a.size - np.count_nonzero(np.isfinite(a)))

    if half_blocks:
        if ih % 2:
            pad = np.full((units, 1, iw), _EMPTY, dtype=levels.dtype)
            levels = np.concatenate([levels, pad], axis=1)
        codes = levels[:, 0::2, :] * _N_PIX + levels[:, 1::2, :]
        tile_w, gap_code = iw, _GAP_HALF
        glyphs, styles = _HALF_GLYPHS, _HALF_STYLES
    else:
        codes = np.repeat(levels, 2, axis=2)
        tile_w, gap_code = 2 * iw, _GAP_GLYPH
        glyphs, styles = _TILE_GLYPHS, _TILE_STYLES
    tile_h = codes.shape[1]

    footer = 1 if height >= 3 else 0
    per_row = max(0, (width + 1) // (tile_w + 1))
    tile_rows = max(0, (height - 1 - footer) // (tile_h + 1))
    shown = min(units, per_row * tile_rows)

    head = Text(no_wrap=True)
    head.append(" ".join(p for p in (title.strip(), f"{units} units as {ih}x{iw}") if p), "bold")
    head.append("  per-unit scale" if per_unit else f"  scale ±{fmt(scale)}", style="dim")
    if n_bad:
        head.append("  ")
        head.append(f"{BAD_GLYPH} {n_bad} NaN/Inf", style=_BAD_NOTE_STYLE)
    if shown < units:
        head.append(f"  +{units - shown} more", style="bold")
    lines: list[Text | str] = [head]

    gap = np.array([gap_code], dtype=codes.dtype)
    for t0 in range(0, shown, per_row or 1):
        idxs = range(t0, min(shown, t0 + per_row))
        for r in range(tile_h):
            parts: list[np.ndarray] = []
            for u in idxs:
                parts.extend((codes[u, r], gap))
            lines.append(coded_line(np.concatenate(parts[:-1]), glyphs, styles))
        label = "".join(str(u).center(tile_w)[:tile_w] + " " for u in idxs)
        lines.append(Text(label.rstrip(), style="dim"))
    if footer:
        if per_unit:
            lines.append(Text("each tile scaled to its own max|w|: blue -, red +", style="dim"))
        else:
            lines.append(_legend_line(scale, n_bad))
    return assemble_lines(lines, width, height)
