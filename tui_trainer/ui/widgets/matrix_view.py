"""Matrix view of the focused layer: weights, gradients, update, activations.

Small matrices show their numbers, bigger ones a coloured block heatmap,
the biggest a pooled summary (never one widget per cell), with a histogram
when there is room. For image inputs (digits) the first layer's weights can
be drawn as one picture per hidden unit.
"""

from __future__ import annotations

import numpy as np
from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from tui_trainer.engine.session import Session
from tui_trainer.ui.render.heatmap import image_tiles, matrix_heatmap
from tui_trainer.ui.render.histogram import histogram

MODES = ("weights", "gradients", "update", "activations", "pre-activations")
TITLES = {
    "weights": "W",
    "gradients": "dL/dW",
    "update": "update ΔW",
    "activations": "a (batch×units)",
    "pre-activations": "z (batch×units)",
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


class MatrixView(Static):
    """Heatmap of one matrix of the selected layer; ``v`` cycles what is shown."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.mode = "weights"
        self.images = False

    def show(self, s: Session, layer: int) -> None:
        w = max(20, self.size.width)
        h = max(4, self.size.height)
        m = layer_matrix(s, layer, self.mode)
        title = f"L{layer + 1} {TITLES[self.mode]}"
        if m is None:
            self.update(
                Text(
                    f"{title}: not computed yet in this step "
                    f"({'run backprop' if self.mode == 'gradients' else 'run the phase'} first). "
                    f"v: next view",
                    style="dim",
                )
            )
            return
        shape = s.data.image_shape
        if self.images and layer == 0 and shape and m.shape[0] == shape[0] * shape[1]:
            self.update(image_tiles(m, shape, w, h, title=title + " as images"))
            return
        if h >= 14 and m.size > 64:
            hh = max(5, h // 3)
            top = matrix_heatmap(m, w, h - hh, title=title)
            self.update(Group(top, histogram(np.asarray(m).ravel(), w, hh, title="distribution")))
        else:
            self.update(matrix_heatmap(m, w, h, title=title))
