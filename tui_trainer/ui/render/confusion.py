"""Confusion matrices: counting and a compact table (or worst-pairs list when too big)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rich.text import Text

from tui_trainer.safe_text import visible

from .colors import assemble_lines, blend

__all__ = ["confusion_matrix", "confusion_table", "worst_confusions"]

_BASE = "#262626"
_DIAG_STYLE = "bold #ffffff on #1e6b3a"
_OFF_COLOR = "#c83c32"
_ZERO_STYLE = "#5a5a5a"
_OFF_STYLES: tuple[str, ...] = tuple(
    f"#ffffff on {blend(_BASE, _OFF_COLOR, t)}" for t in (0.3, 0.55, 0.8, 1.0)
)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n_classes, n_classes)`` int64 counts, ``cm[true, pred]``.

    Labels outside ``[0, n_classes)`` (or non-finite) are ignored.
    """
    k = max(0, int(n_classes))
    t = np.asarray(y_true).ravel()
    p = np.asarray(y_pred).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {t.shape} vs {p.shape}")
    with np.errstate(invalid="ignore"):
        tf, pf = t.astype(float), p.astype(float)
    ok = np.isfinite(tf) & np.isfinite(pf)
    ti = np.where(ok, tf, -1).astype(np.int64)
    pi = np.where(ok, pf, -1).astype(np.int64)
    ok &= (ti >= 0) & (ti < k) & (pi >= 0) & (pi < k)
    return np.bincount(ti[ok] * k + pi[ok], minlength=k * k).reshape(k, k).astype(np.int64)


def worst_confusions(cm: np.ndarray, limit: int | None = None) -> list[tuple[int, int, int]]:
    """Off-diagonal ``(true, pred, count)`` with count > 0, largest first."""
    c = np.asarray(cm)
    off = c.copy()
    np.fill_diagonal(off, 0)
    flat = np.argsort(-off, axis=None, kind="stable")
    out: list[tuple[int, int, int]] = []
    for idx in flat.tolist():
        i, j = divmod(idx, c.shape[1])
        if off[i, j] <= 0 or (limit is not None and len(out) >= limit):
            break
        out.append((i, j, int(off[i, j])))
    return out


def _pct(num: float, den: float) -> str:
    return f"{100.0 * num / den:3.0f}%" if den > 0 else "   -"


def confusion_table(
    cm: np.ndarray,
    class_names: Sequence[str] | None,
    width: int,
    height: int,
) -> Text:
    """The confusion matrix as a table within ``width`` x ``height`` cells.

    Rows are true classes, columns predicted ones; each row ends with the
    class recall. Diagonal cells are bracketed (``[12]``) and green, wrong
    cells red by their share of the row, zeros shown as ``.``. A precision row
    is added when there is room. When the table does not fit, the header is
    followed by the lowest-recall classes and the most frequent confusions
    (``true -> pred: count (share of true)``) instead.
    """
    width, height = int(width), int(height)
    c = np.asarray(cm, dtype=np.int64)
    if width < 1 or height < 1:
        return Text()
    k = c.shape[0] if c.ndim == 2 else 0
    names = [
        visible(class_names[i]) if class_names is not None and i < len(class_names) else str(i)
        for i in range(k)
    ]
    total = int(c.sum())
    correct = int(np.trace(c)) if k else 0
    head = Text(no_wrap=True)
    head.append("confusion", style="bold")
    if k == 0 or total == 0:
        head.append("  (no data)", style="dim")
        return assemble_lines([head], width, height)
    head.append(f"  acc {100.0 * correct / total:.1f}%", style="bold")
    head.append(f"  n={total}")
    head.append("  rows=true cols=pred", style="dim")

    row_sum = c.sum(axis=1)
    col_sum = c.sum(axis=0)
    diag = np.diag(c)
    digits = len(str(int(c.max())))
    cell_w = max(digits + 2, 4) + 1  # " [12]"
    name_w = min(max(len(n) for n in names), 12)
    name_w = max(name_w, 4)
    rec_w = 5
    fits = name_w + k * cell_w + rec_w <= width and k + 2 <= height

    if not fits:
        return _worst_list(c, names, head, width, height)

    lines: list[Text | str] = [head]
    hdr = Text(" " * name_w, no_wrap=True)
    for n in names:
        hdr.append(n[: cell_w - 1].rjust(cell_w), style="bold")
    hdr.append(" rec".rjust(rec_w), style="dim")
    lines.append(hdr)
    for i in range(k):
        line = Text(names[i][:name_w].rjust(name_w), style="", no_wrap=True)
        line.stylize("bold", 0, name_w)
        for j in range(k):
            v = int(c[i, j])
            if i == j:
                line.append(f"[{v}]".rjust(cell_w), style=_DIAG_STYLE if v else "bold")
            elif v == 0:
                line.append(".".rjust(cell_w - 1) + " ", style=_ZERO_STYLE)
            else:
                share = v / row_sum[i]
                level = min(int(share * len(_OFF_STYLES) * 2), len(_OFF_STYLES) - 1)
                line.append(f"{v} ".rjust(cell_w), style=_OFF_STYLES[level])
        line.append(_pct(diag[i], row_sum[i]).rjust(rec_w), style="bold")
        lines.append(line)
    if k + 3 <= height:
        prec = Text("prec"[:name_w].rjust(name_w), style="dim", no_wrap=True)
        for j in range(k):
            prec.append(_pct(diag[j], col_sum[j]).rjust(cell_w), style="dim")
        lines.append(prec)
    return assemble_lines(lines, width, height)


def _worst_list(c: np.ndarray, names: list[str], head: Text, width: int, height: int) -> Text:
    row_sum = c.sum(axis=1)
    diag = np.diag(c)
    lines: list[Text | str] = [head]
    if height >= 3:
        with np.errstate(invalid="ignore", divide="ignore"):
            recall = np.where(row_sum > 0, diag / np.maximum(row_sum, 1), np.inf)
        order = np.argsort(recall, kind="stable")
        low = Text("lowest recall: ", style="dim", no_wrap=True)
        for i in order[:12].tolist():
            if not np.isfinite(recall[i]):
                break
            low.append(f"{names[i]} {100.0 * recall[i]:.0f}%  ")
        lines.append(low)
    pairs = worst_confusions(c, limit=max(0, height - len(lines) - 1))
    if not pairs:
        lines.append(Text("no confusions", style="dim"))
        return assemble_lines(lines, width, height)
    lines.append(Text("most confused, true -> pred: count (share of true)", style="dim"))
    for i, j, v in pairs:
        line = Text(no_wrap=True)
        line.append(f"{names[i]} -> {names[j]}", style="bold")
        line.append(f": {v}  ({100.0 * v / row_sum[i]:.0f}%)")
        lines.append(line)
    return assemble_lines(lines, width, height)
