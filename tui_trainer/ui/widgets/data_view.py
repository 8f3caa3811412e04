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
from textual.app import ComposeResult
from textual.containers import Container
from textual.widgets import Static

from tui_trainer.engine.features import compute_features, parse_features
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


class DataView(RedrawOnResize, Container):
    """Decision boundary, fitted curve or confusion matrix, whichever fits the data.

    Validation points are drawn too (``○``, training points ``●``), so a
    boundary that fits the training points but not the held-out ones shows;
    ``show_val`` (key ``V``) hides them.
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.show_val = True

    def compose(self) -> ComposeResult:
        yield Static(id="data-text")

    def show(self, s: Session) -> None:
        text = self.query_one("#data-text", Static)
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
