"""Matrix view of the focused layer: weights, gradients, update, activations.

Small matrices show their numbers, bigger ones a coloured block heatmap,
the biggest a pooled summary (never one widget per cell), with a histogram
when there is room. For image inputs (digits) the first layer's weights can
be drawn as one picture per hidden unit.
"""

from __future__ import annotations

import numpy as np
from rich.console import Group, RenderableType
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Static

from tui_trainer.engine.layer_view import is_dense, layer_view
from tui_trainer.engine.session import Session
from tui_trainer.ui.render.heatmap import image_tiles, matrix_heatmap
from tui_trainer.ui.render.histogram import histogram
from tui_trainer.ui.render.numbers import fmt
from tui_trainer.ui.widgets.module_matrix import module_matrix

MODES = ("weights", "gradients", "update", "activations", "pre-activations")
TITLES = {
    "weights": "W",
    "gradients": "dL/dW",
    "update": "update ΔW",
    "activations": "a",
    "pre-activations": "z",
}
# What the rows and columns of each view are: parameters are (inputs x units),
# the cached activations are (samples of the batch x units).
AXES = {
    "weights": ("in", "out"),
    "gradients": ("in", "out"),
    "update": ("in", "out"),
    "activations": ("batch", "units"),
    "pre-activations": ("batch", "units"),
}


def layer_matrix(s: Session, layer: int, mode: str) -> np.ndarray | None:
    ly = s.net.layers[layer]
    if mode == "weights":
        return ly.W
    if mode == "gradients":
        return ly.dW if ly.dW_valid else None
    if mode == "update":
        return ly.delta_W if ly.delta_valid else None
    if mode == "activations":
        return ly.a
    return ly.z


class MatrixView(Static, can_focus=True):
    """Heatmap of one matrix of the selected layer; ``v`` cycles what is shown.

    When focused (``m``), the arrow keys move a cursor over the weights; the
    explain panel then spells out the chain rule for the weight under it.
    """

    BINDINGS = [
        Binding("up,k", "move(-1, 0)", "up", show=False, id="cell_up"),
        Binding("down,j", "move(1, 0)", "down", show=False, id="cell_down"),
        Binding("left", "move(0, -1)", "left", show=False, id="cell_left"),
        Binding("right", "move(0, 1)", "right", show=False, id="cell_right"),
    ]

    class CellMoved(Message):
        def __init__(self, cell: tuple[int, int]) -> None:
            self.cell = cell
            super().__init__()

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.mode = "weights"
        self.images = False
        self.cell = (0, 0)
        self.shape = (1, 1)

    @staticmethod
    def images_unavailable(s: Session) -> str | None:
        """Why ``i`` (first-layer weights as images) cannot apply here, or None."""
        if not is_dense(s):
            return None  # a module's kernels (ndim 4) are drawn as images
        if s.data.image_shape:
            return None
        n = s.x_train.shape[1]
        return (
            "first-layer weights as images need image data such as digits (8x8 inputs); "
            f"this scenario has {n} feature{'' if n == 1 else 's'}"
        )

    def content_rows(self, s: Session, layer: int, width: int, limit: int) -> int | None:
        """Rows this view needs to show the whole matrix of its mode at ``width``
        (header, numbers or blocks, legend, cursor line), or None when that is
        more than ``limit`` or the view can use any height (images, big matrices).

        It depends on the matrix's shape, not on whether it is computed yet, so
        the layout stays put while stepping through a step.
        """
        if not is_dense(s):
            return None  # a module's tensors: the view uses the height it has
        ly = s.net.layers[layer]
        if self.images and layer == 0 and s.data.image_shape:
            return None
        if self.mode in ("activations", "pre-activations"):
            m = ly.a if self.mode == "activations" else ly.z
            if m is None:
                bs = s.hyperparameters()["batch_size"]
                m = np.zeros((s.n_train if bs <= 0 else min(bs, s.n_train), ly.n_out))
        else:
            m = layer_matrix(s, layer, self.mode)
            if m is None:
                m = ly.W
        extra = 1 if self.has_focus else 0
        title = f"L{layer + 1} {TITLES[self.mode]}"
        need = self._whole_rows(m, max(20, width), limit - extra, title)
        return None if need is None else need + extra

    def _whole_rows(self, m: np.ndarray, w: int, h: int, title: str) -> int | None:
        """Lines the heatmap of all of ``m`` takes at width ``w``; None if not within ``h``."""
        if m.shape[0] + 4 > h:
            return None
        rows, cols = AXES[self.mode]
        text = matrix_heatmap(m, w, h, title=title, row_label=rows, col_label=cols)
        return text.plain.count("\n") + 1

    def action_move(self, dr: int, dc: int) -> None:
        r = min(max(0, self.cell[0] + dr), self.shape[0] - 1)
        c = min(max(0, self.cell[1] + dc), self.shape[1] - 1)
        self.cell = (r, c)
        self.post_message(self.CellMoved(self.cell))

    def show(self, s: Session, layer: int) -> None:
        w = max(20, self.size.width)
        h = max(4, self.size.height)
        if not is_dense(s):  # a module of another backend (PyTorch), as named tensors
            self.update(module_matrix(layer_view(s, layer), self.mode, self.images, w, h))
            return
        W = s.net.layers[layer].W
        self.shape = W.shape
        self.cell = (min(self.cell[0], W.shape[0] - 1), min(self.cell[1], W.shape[1] - 1))
        m = layer_matrix(s, layer, self.mode)
        title = f"L{layer + 1} {TITLES[self.mode]}"
        if self.has_focus:
            r, c = self.cell
            ly = s.net.layers[layer]
            g = f"  dL/dw {fmt(float(ly.dW[r, c]), 8)}" if ly.dW_valid else ""
            cursor = Text(
                f"cursor W[{r},{c}] = {fmt(float(W[r, c]), 8)}{g}  (arrows move, m: back)",
                style="bold reverse",
            )
            h -= 1
        else:
            cursor = None
        self._draw(s, layer, m, title, w, h, cursor)

    def _draw(
        self,
        s: Session,
        layer: int,
        m: np.ndarray | None,
        title: str,
        w: int,
        h: int,
        cursor: Text | None,
    ) -> None:
        body = self._body(s, layer, m, title, w, h)
        self.update(Group(cursor, body) if cursor is not None else body)

    def _body(
        self, s: Session, layer: int, m: np.ndarray | None, title: str, w: int, h: int
    ) -> RenderableType:
        if m is None:
            return Text(
                f"{title}: not computed yet in this step "
                f"({'run backprop' if self.mode == 'gradients' else 'run the phase'} first). "
                f"v: next view",
                style="dim",
            )
        shape = s.data.image_shape
        if self.images and layer == 0 and shape and m.shape[0] == shape[0] * shape[1]:
            return image_tiles(m, shape, w, h, title=title + " as images")
        rows, cols = AXES[self.mode]
        if h >= 14 and m.size > 64:
            hh = max(5, h // 3)
            # The histogram goes below when the whole matrix still shows above
            # it, or when the matrix does not fit anyway (it is then pooled).
            need = self._whole_rows(m, w, h, title)
            if need is not None and need > h - hh:
                return matrix_heatmap(m, w, h, title=title, row_label=rows, col_label=cols)
            top = matrix_heatmap(m, w, h - hh, title=title, row_label=rows, col_label=cols)
            return Group(top, histogram(np.asarray(m).ravel(), w, hh, title="distribution"))
        return matrix_heatmap(m, w, h, title=title, row_label=rows, col_label=cols)
