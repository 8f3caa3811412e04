"""Data view: what the model currently predicts over the data.

* 2-D classification: decision regions with the training points on top
  (TensorFlow-Playground style); the model is evaluated on a grid matching
  the widget's cells, so the cost is bounded by the widget size.
* 1-D regression: the fitted curve over the points (plotext).
* anything else with classes: the validation confusion matrix.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Container
from textual.message import Message
from textual.widgets import Static

from tui_trainer.engine.features import compute_features, parse_features
from tui_trainer.engine.layer_view import is_dense
from tui_trainer.engine.session import Session
from tui_trainer.ui.render.chart_axes import EPOCH_TRAIN, STEP_TRAIN, VALIDATION, legend_line
from tui_trainer.ui.render.confusion import confusion_matrix, confusion_table
from tui_trainer.ui.render.decision import decision_map, grid_points, map_grid_size
from tui_trainer.ui.widgets.lazy_plot import lazy_plot
from tui_trainer.ui.widgets.main_area import RedrawOnResize


def _extent(x: np.ndarray) -> tuple[float, float, float, float]:
    lo, hi = x.min(axis=0), x.max(axis=0)
    pad = (hi - lo) * 0.05 + 1e-9
    return (
        float(lo[0] - pad[0]),
        float(hi[0] + pad[0]),
        float(lo[1] - pad[1]),
        float(hi[1] + pad[1]),
    )


def not_dense_text(s: Any, width: int = 80, height: int = 20) -> Text:
    """What the data panel says on a session of another backend (a PyTorch model):
    the validation confusion matrix when the model classifies (at step boundaries)."""
    got = s.val_predictions() if hasattr(s, "val_predictions") else None
    if got is not None:
        true, pred, k = got
        cm = confusion_matrix(true, pred, k)
        t = Text(f"validation, after step {s.step} (eval mode)\n", style="dim")
        t.append_text(confusion_table(cm, [str(i) for i in range(k)], width, height - 1))
        return t
    h = s.history
    t = Text()
    t.append("Data and predictions\n", style="bold")
    t.append(
        f"{s.batches_per_epoch} batches per epoch"
        f"{', batch of ' + str(s.rec.n) if getattr(s.rec, 'n', 0) else ''}.\n"
    )
    acc = h.epochs.last("val_accuracy")
    loss = h.epochs.last("val_loss")
    if loss == loss:
        t.append(f"validation after epoch {s.epoch}: loss {loss:.4g}")
        t.append(f", accuracy {acc:.1%}\n" if acc == acc else "\n")
    t.append(
        "\nThe decision-region map and the fitted curve are drawn for the NumPy engine's "
        "scenarios only: not available on a PyTorch model. The validation confusion matrix "
        "shows here between steps when the model classifies and has validation data; "
        "the loss and accuracy charts (2, a) show its training.",
        style="dim",
    )
    return t


class DataView(RedrawOnResize, Container):
    """Decision boundary, fitted curve or confusion matrix, whichever fits the data.

    Validation points are drawn too (``○``, training points ``●``), so a
    boundary that fits the training points but not the held-out ones shows;
    ``show_val`` (key ``V``) hides them.
    """

    class PointClicked(Message):
        """A click in the decision map at data coordinates (x1, x2): the app
        adds a training point there (left button: class 1 of the legend,
        shift: class 2, ctrl: class 3) or removes the nearest one (right)."""

        def __init__(self, x1: float, x2: float, button: int, shift: bool, ctrl: bool) -> None:
            self.x1, self.x2 = x1, x2
            self.button, self.shift, self.ctrl = button, shift, ctrl
            super().__init__()

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.show_val = True
        # (extent, width, map rows) of the decision map drawn last: a click's
        # cell back to data coordinates.
        self.geometry: tuple[tuple[float, float, float, float], int, int] | None = None

    def point_at(self, col: int, row: int) -> tuple[float, float] | None:
        """The data coordinates at the centre of the map's cell (col, row), or
        None outside the map (the legend line, or no map drawn)."""
        if self.geometry is None:
            return None
        (xmin, xmax, ymin, ymax), w, rows = self.geometry
        if not (0 <= col < w and 0 <= row < rows):
            return None
        return (
            xmin + (col + 0.5) / w * (xmax - xmin),
            ymax - (row + 0.5) / rows * (ymax - ymin),
        )

    def on_click(self, event: events.Click) -> None:
        # Screen coordinates against the map's own region: the click reaches
        # this container from the Static that draws the map.
        region = self.query_one("#data-text", Static).region
        point = self.point_at(event.screen_x - region.x, event.screen_y - region.y)
        # On a big terminal the first click only brings the panel forward (the
        # app sees the click next); points are added once it is the panel.
        if point is not None and getattr(self.app, "panel", "data") == "data":
            self.post_message(
                self.PointClicked(point[0], point[1], event.button, event.shift, event.ctrl)
            )

    def compose(self) -> ComposeResult:
        yield Static(id="data-text")

    def show(self, s: Session) -> None:
        text = self.query_one("#data-text", Static)
        if not is_dense(s):
            for plot in self.query("#data-plot"):
                plot.display = False
            text.display = True
            text.update(not_dense_text(s, max(10, self.size.width), max(4, self.size.height)))
            return
        d = s.data
        w, h = max(10, self.size.width), max(4, self.size.height)
        if d.task == "regression" and d.columns[0].shape[1] == 1:
            text.display = False
            plot = lazy_plot(self, "data-plot")
            plot.display = True
            self._curve(s, plot)
            return
        for plot in self.query("#data-plot"):  # from an earlier 1-D regression scenario
            plot.display = False
        text.display = True
        self.geometry = None
        if d.task == "classification" and d.columns[0].shape[1] == 2:
            text.update(self._decision(s, w, h))
        elif d.task == "classification":
            x = s.x_val if len(s.x_val) else s.x_train
            labels = s.labels_val if len(s.x_val) else s.labels_train
            with np.errstate(all="ignore"):
                pred = s.loss.classes(s.net.predict(x))
            cm = confusion_matrix(labels, pred, d.n_classes)
            names = d.class_names or [str(i) for i in range(d.n_classes)]
            text.update(confusion_table(cm, names, w, h))
        else:
            text.update(
                Text(
                    f"{d.n_features}-feature regression: see the loss chart "
                    "(no 2-D picture for this data).",
                    style="dim",
                )
            )

    def _decision(self, s: Session, w: int, h: int) -> Text:
        # Drawn over the data's own columns (x1, x2) even when the network's
        # inputs are crosses of them (x1^2, x1*x2...): the grid is crossed too.
        x_train, x_val, names = s.data.columns
        val = self.show_val and len(x_val) > 0
        # The frame holds every point drawn: the held-out ones too.
        ext = _extent(np.vstack([x_train, x_val]) if val else x_train)
        gw, gh = map_grid_size(w, h)
        grid = grid_points(ext, gw, gh).astype(s.dtype)
        if s.data.features is not None:
            grid = compute_features(grid, parse_features(s.data.features, names))
        with np.errstate(all="ignore"):
            probs = s.loss.predict(s.net.predict(grid))
        n_classes = s.data.n_classes
        if probs.shape[1] == 1:
            probs = probs[:, 0].reshape(gh, gw)
        elif n_classes == 2:
            probs = probs[:, 1].reshape(gh, gw)
        else:
            probs = probs.reshape(gh, gw, -1)
        probs = np.nan_to_num(probs, nan=0.5)
        self.geometry = (ext, w, h - 1 if h >= 2 else h)  # the legend takes the last line
        return decision_map(
            probs,
            x_train,
            s.data.y_train,
            ext,
            w,
            h,
            n_classes,
            class_names=s.data.class_names or None,
            val_points=x_val if val else None,
            val_labels=s.data.y_val if val else None,
        )

    def _curve(self, s: Session, plot: Any) -> None:
        x_train, x_val, names = s.data.columns  # x, even when the inputs are x^2, sin(x)...
        x = x_train[:, 0]
        y = s.data.y_train[:, 0]
        xs = np.linspace(x.min(), x.max(), max(20, plot.size.width * 2))
        inputs = xs.reshape(-1, 1).astype(s.dtype)
        if s.data.features is not None:
            inputs = compute_features(inputs, parse_features(s.data.features, names))
        with np.errstate(all="ignore"):
            fit = s.net.predict(inputs)[:, 0]
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        plt.scatter(x.tolist(), y.tolist(), marker="dot", color=VALIDATION)
        entries: list[tuple[str, Any, str]] = [("•", VALIDATION, "training data")]
        if self.show_val and len(x_val):
            xv, yv = x_val[:, 0], s.data.y_val[:, 0]
            plt.scatter(xv.tolist(), yv.tolist(), marker="x", color=STEP_TRAIN)
            entries.append(("x", STEP_TRAIN, "validation (V hides)"))
        ok = np.isfinite(fit)
        if ok.any():
            plt.plot(xs[ok].tolist(), fit[ok].tolist(), color=EPOCH_TRAIN, marker="braille")
            entries.append(("━", EPOCH_TRAIN, "model"))
        plt.title(legend_line(entries).plain)
        plot.refresh()
