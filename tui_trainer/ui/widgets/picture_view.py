"""The network picture panel (key ``5``): every unit's output over the input
plane, laid out as the network, for data with two input features.

The unit maps are evaluated on one small grid, all tiles at once (one
forward pass of a few hundred points), and cached until the weights, the
position or the size change: redrawing for a new selection costs no model
evaluation. The app draws this panel at the data view's (throttled) rate.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import Static

from tui_trainer.engine.layer_view import is_dense
from tui_trainer.engine.session import Session
from tui_trainer.ui.render.decision import decision_map, grid_points
from tui_trainer.ui.render.netpic import Tile, picture, picture_layout, unit_list
from tui_trainer.ui.widgets.data_view import _extent

PICTURE_MIN_WIDTH = 70  # narrower panels (an 80-column terminal) get the unit list
BOUNDED = ("tanh", "sigmoid")  # outputs within [-1, 1]: a fixed colour scale


def _fingerprint(s: Session) -> str:
    h = hashlib.blake2b(digest_size=12)
    for ly in s.net.layers:
        h.update(np.ascontiguousarray(ly.W).tobytes())
        h.update(np.ascontiguousarray(ly.b).tobytes())
    return h.hexdigest()


def unit_maps(s: Session, extent: Any, pw: int, ph: int) -> list[np.ndarray]:
    """``(ph, pw, units)`` outputs of the inputs and of every layer on a
    ``pw`` x ``ph`` grid over ``extent`` (top row first)."""
    x = grid_points(extent, pw, ph).astype(s.dtype)
    out = [x.reshape(ph, pw, -1)]
    with np.errstate(all="ignore"):
        for ly in s.net.layers:
            x = ly.predict(x)
            out.append(x.reshape(ph, pw, -1))
    return out


class PictureView(Static):
    """Playground's picture of the network; a click on a unit selects it."""

    class UnitClicked(Message):
        """A unit's tile was clicked: ``layer`` (-1: an input) and ``unit`` (-1: the output map)."""

        def __init__(self, layer: int, unit: int) -> None:
            self.layer = layer
            self.unit = unit
            super().__init__()

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._cache: tuple[Any, Any] | None = None
        self.tiles: list[Tile] = []
        self.rows: list[tuple[int, int, int]] = []  # the unit list's (line, layer, unit)
        self.evaluations = 0  # model evaluations made (the cache is tested by it)

    def show(self, s: Session, layer: int, cell: tuple[int, int] | None) -> None:
        w, h = max(10, self.size.width), max(4, self.size.height)
        if not is_dense(s):  # a PyTorch model: no dense units over an input plane
            self.tiles, self.rows = [], []
            self.update(
                Text(
                    "The network picture draws the NumPy engine's dense units over a 2-D "
                    "input plane: not available on a PyTorch model.",
                    style="dim",
                )
            )
            return
        if s.x_train.shape[1] != 2:
            self.tiles, self.rows = [], []
            self.update(
                Text(
                    f"The network picture needs two input features (this data has "
                    f"{s.x_train.shape[1]}): each unit is drawn over the input plane.",
                    style="dim",
                )
            )
            return
        names = ["in x1 x2"] + [
            f"L{i + 1} {ly.activation}" if i < s.n_layers - 1 else f"L{i + 1} out"
            for i, ly in enumerate(s.net.layers)
        ]
        selected = (layer, cell[1]) if cell is not None else None
        link = (layer, cell[0], cell[1]) if cell is not None else None
        ext = _extent(s.x_train)
        classes = s.data.task == "classification"
        counts = [2] + [ly.n_out for ly in s.net.layers]
        if classes:
            counts[-1] = 1
        lay = picture_layout(counts, w, h) if w >= PICTURE_MIN_WIDTH else None
        if lay is None:  # the compact list: 8 x 2 pixels a unit
            maps, _ = self._maps(s, ext, 8, 4, None)
            self.tiles = []
            text, self.rows = unit_list(
                maps,
                [ly.W for ly in s.net.layers],
                names,
                self._vmaxes(s, maps),
                w,
                h,
                selected=selected,
            )
            self.update(text)
            return
        th = lay[0]
        maps, output = self._maps(s, ext, 2 * th, 2 * th, th if classes else None)
        text, self.tiles = picture(
            maps,
            [ly.W for ly in s.net.layers],
            output,
            names,
            self._vmaxes(s, maps),
            w,
            h,
            selected=selected,
            link=link,
        )
        self.rows = []
        self.update(text)

    def _maps(
        self, s: Session, ext: Any, pw: int, ph: int, out_rows: int | None
    ) -> tuple[list[np.ndarray], Text | None]:
        key = (s.position, _fingerprint(s), pw, ph, out_rows, ext)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        self.evaluations += 1
        maps = unit_maps(s, ext, pw, ph)
        output = None
        if out_rows is not None:
            with np.errstate(all="ignore"):
                probs = s.loss.predict(maps[-1].reshape(ph * pw, -1))
            probs = probs[:, 0] if probs.shape[1] == 1 else probs
            if probs.ndim == 2 and s.data.n_classes == 2:
                probs = probs[:, 1]
            grid = probs.reshape(ph, pw, *probs.shape[1:])
            output = decision_map(  # the regions only: points would hide them in a tile
                np.nan_to_num(grid, nan=0.5),
                None,
                None,
                ext,
                pw,
                out_rows,
                s.data.n_classes,
                legend=False,
            )
        self._cache = (key, (maps, output))
        return maps, output

    @staticmethod
    def _vmaxes(s: Session, maps: list[np.ndarray]) -> list[float]:
        out = []
        for k, m in enumerate(maps):
            if k > 0 and s.net.layers[k - 1].activation in BOUNDED:
                out.append(1.0)
                continue
            finite = m[np.isfinite(m)]
            top = float(np.abs(finite).max()) if finite.size else 1.0
            out.append(top if top > 0 else 1.0)
        return out

    def on_click(self, event: events.Click) -> None:
        at = event.get_content_offset(self)
        if at is None:
            return
        for t in self.tiles:
            if t.contains(at.x, at.y):
                self.post_message(self.UnitClicked(t.layer, t.unit))
                return
        for line, layer, unit in self.rows:
            if line == at.y:
                self.post_message(self.UnitClicked(layer, unit))
                return
