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
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Static

from tui_trainer.engine.layer_view import is_dense, layer_view
from tui_trainer.engine.session import Session
from tui_trainer.ui.render.heatmap import NUMBER_CELL_WIDTH, image_tiles, matrix_heatmap
from tui_trainer.ui.render.histogram import histogram
from tui_trainer.ui.render.numbers import fmt
from tui_trainer.ui.widgets.main_area import RedrawOnResize
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


class MatrixView(RedrawOnResize, Static, can_focus=True):
    """Heatmap of one matrix of the selected layer; ``v`` cycles what is shown.

    When focused (``m``), the arrow keys move a cursor over the weights; the
    explain panel then spells out the chain rule for the weight under it.
    """

    BINDINGS = [
        Binding("up,k", "move(-1, 0)", "up", show=False, id="cell_up"),
        Binding("down,j", "move(1, 0)", "down", show=False, id="cell_down"),
        Binding("left", "move(0, -1)", "left", show=False, id="cell_left"),
        Binding("right", "move(0, 1)", "right", show=False, id="cell_right"),
        Binding("enter", "app.edit_weight", "edit", show=False, id="cell_edit"),
    ]

    class CellMoved(Message):
        def __init__(self, cell: tuple[int, int]) -> None:
            self.cell = cell
            super().__init__()

    class CellClicked(Message):
        """A weight was clicked: the cursor goes there."""

        def __init__(self, cell: tuple[int, int]) -> None:
            self.cell = cell
            super().__init__()

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.mode = "weights"
        self.images = False
        self.cell = (0, 0)
        self.shape = (1, 1)
        # How the last heatmap was laid out, for mapping a click to a weight:
        # (matrix shape, width, height, its lines, lines above it), or None.
        self._geom: tuple[tuple[int, int], int, int, int, int] | None = None

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

    def cell_at(self, x: int, y: int) -> tuple[int, int] | None:
        """The weight drawn at content cell (x, y): numbers and blocks views of
        the weights, gradients or update; None elsewhere (pooled, images)."""
        if self._geom is None or self.mode not in ("weights", "gradients", "update"):
            return None
        (rows, cols), w, h, n_lines, above = self._geom
        body_h = h - 1 - (1 if h >= 3 else 0)
        idx_w = len(str(rows - 1)) + 1 if rows > 1 else 0
        if rows > body_h:
            return None
        if cols <= (w - idx_w) // NUMBER_CELL_WIDTH:
            cw, x0 = NUMBER_CELL_WIDTH, idx_w
        elif cols <= w:
            cw = 2 if 2 * cols <= w else 1
            x0 = idx_w if idx_w > 0 and idx_w + cw * cols <= w else 0
        else:
            return None
        first = above + n_lines - (1 if h >= 3 else 0) - rows
        r, c = y - first, (x - x0) // cw if x >= x0 else -1
        return (r, c) if 0 <= r < rows and 0 <= c < cols else None

    def on_click(self, event: events.Click) -> None:
        at = event.get_content_offset(self)
        cell = self.cell_at(at.x, at.y) if at is not None else None
        if cell is not None:
            self.cell = cell
            self.post_message(self.CellClicked(cell))

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
                f"cursor W[{r},{c}] = {fmt(float(W[r, c]), 8)}{g}  (arrows move, enter: edit, m: back)",
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
        self._geom = None
        body = self._body(s, layer, m, title, w, h)
        if self._geom is not None and cursor is not None:
            shape, gw, gh, n, above = self._geom
            self._geom = (shape, gw, gh, n, above + 1)
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
                return self._heatmap(m, w, h, title, rows, cols)
            top = self._heatmap(m, w, h - hh, title, rows, cols)
            return Group(top, histogram(np.asarray(m).ravel(), w, hh, title="distribution"))
        return self._heatmap(m, w, h, title, rows, cols)

    def _heatmap(self, m: np.ndarray, w: int, h: int, title: str, rows: str, cols: str) -> Text:
        text = matrix_heatmap(m, w, h, title=title, row_label=rows, col_label=cols)
        if np.ndim(m) == 2:
            self._geom = (m.shape, w, h, text.plain.count("\n") + 1, 0)
        return text
