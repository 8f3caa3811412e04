"""The matrix panel for a module of any backend (a LayerView), e.g. a PyTorch ``Conv2d``.

Its main parameter (``weight``, else the largest) in the mode ``v`` chose:
weights, gradients, update; or the module's output on the batch. Every tensor
becomes a 2-D picture the existing heatmap draws (``layer_view.as_matrix``):
a ``Linear`` weight as (in x out), a conv kernel as (in*k*k x out), a vector as
one row. ``i`` draws conv kernels (input channel 0) and image-shaped outputs
(the first sample's channels) as small pictures.
"""

from __future__ import annotations

import numpy as np
from rich.console import Group, RenderableType
from rich.text import Text

from tui_trainer.engine.layer_view import LayerView, as_matrix, describe_shape
from tui_trainer.safe_text import visible
from tui_trainer.ui.render.heatmap import image_tiles, matrix_heatmap
from tui_trainer.ui.render.histogram import histogram

TITLES = {"weights": "", "gradients": "grad", "update": "update"}


def _header(v: LayerView) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(f"{visible(v.name)} {v.kind}", style="bold")
    if v.params:
        shapes = ", ".join(f"{visible(k)} {describe_shape(a.shape)}" for k, a in v.params.items())
        t.append(f"  {shapes}", style="dim")
    else:
        t.append("  (no parameters)", style="dim")
    return t


def _pick(v: LayerView, mode: str) -> tuple[np.ndarray | None, str, tuple[str, str], str]:
    """(tensor, title, (row label, column label), why it is missing)."""
    if mode in ("activations", "pre-activations"):
        title = f"{v.name} output"
        if mode == "pre-activations":
            title += " (a module has one output: its pre-activation is the previous module's)"
        return v.output, title, ("batch", "features"), "run FORWARD to this module first"
    main = v.main
    if main is None:  # nothing to learn here (ReLU, Dropout): what it passes on
        title = f"{v.name} output (no parameters)"
        return v.output, title, ("batch", "features"), "run FORWARD to this module first"
    src = {"weights": v.params, "gradients": v.grads, "update": v.updates}[mode]
    a = src.get(main)
    title = f"{v.name}.{main} {TITLES[mode]}".rstrip()
    p = v.params[main]
    labels = {1: ("", "units"), 2: ("in", "out")}.get(p.ndim, ("in*k", "out"))
    why = "run BACKPROP first" if mode == "gradients" else "shown right after UPDATE"
    if main in v.frozen and mode != "weights":
        why = "it is frozen (requires_grad=False): no gradient, no update"
    return a, title, labels, why


def _others(v: LayerView, mode: str) -> list[Text]:
    """One line per parameter besides the main one (a bias, a BatchNorm's shift):
    its shape and, in the mode ``v`` chose, min, mean and max."""
    main = v.main
    src = {"weights": v.params, "gradients": v.grads, "update": v.updates}.get(mode)
    lines = []
    for k, p in v.params.items():
        if k == main or src is None:
            continue
        a = src.get(k)
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(f"{visible(k)} {describe_shape(p.shape)}", style="bold")
        if a is None or not a.size:
            t.append(f"  {mode}: not available yet", style="dim")
        else:
            with np.errstate(all="ignore"):
                a = np.asarray(a, dtype=float)
                t.append(
                    f"  {mode} min {a.min():.4g}  mean {a.mean():.4g}  max {a.max():.4g}",
                    style="dim",
                )
        lines.append(t)
    return lines


def module_matrix(v: LayerView, mode: str, images: bool, w: int, h: int) -> RenderableType:
    """The panel's content for module ``v`` at ``w`` x ``h``: the main tensor drawn,
    the module's other parameters summarised a line each below it."""
    others = _others(v, mode)
    body = _main(v, mode, images, w, h - len(others) if h - len(others) >= 8 else h)
    if others and h - len(others) >= 8:
        return Group(body, *others)
    return body


def _main(v: LayerView, mode: str, images: bool, w: int, h: int) -> RenderableType:
    head = _header(v)
    h -= 1
    a, title, (rows, cols), why = _pick(v, mode)
    if a is None:
        return Group(head, Text(f"{title}: not available yet ({why}). v: next view", style="dim"))
    a = np.asarray(a, dtype=float)
    if images:
        pic = _as_images(v, a, mode, w, h, title)
        if pic is not None:
            return Group(head, pic)
    m = as_matrix(a) if mode not in ("activations", "pre-activations") else a
    with np.errstate(all="ignore"):
        if h >= 14 and m.size > 64:
            hh = max(5, h // 3)
            top = matrix_heatmap(m, w, h - hh, title=title, row_label=rows, col_label=cols)
            return Group(head, top, histogram(m.ravel(), w, hh, title="distribution"))
        return Group(head, matrix_heatmap(m, w, h, title=title, row_label=rows, col_label=cols))


def _as_images(v: LayerView, a: np.ndarray, mode: str, w: int, h: int, title: str) -> Text | None:
    """Kernels (out, in, kh, kw) of input channel 0, or the first sample's output channels
    (C, H, W), as one small picture each; None when the tensor is not image-shaped."""
    if mode in ("activations", "pre-activations"):
        shape = v.output_shape
        if shape is None or len(shape) != 3 or not len(a):
            return None
        c, hh, ww = shape
        tiles = a[0].reshape(c, hh * ww).T
        return image_tiles(tiles, (hh, ww), w, h, title=title + " of sample 0, per channel")
    if a.ndim != 4:
        return None
    out, _, kh, kw = a.shape
    tiles = a[:, 0].reshape(out, kh * kw).T
    return image_tiles(tiles, (kh, kw), w, h, title=title + " kernels, input channel 0")
