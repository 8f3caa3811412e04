"""Loss chart: per-step batch loss and per-epoch train and validation loss;
or train and validation accuracy per epoch for a classifier.

Series are downsampled to about twice the plot width before plotting, so a
redraw costs the same after ten steps or a million (plotext's cost grows
with the number of points).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container
from textual.widgets import Static

from tui_trainer.ui.render.braille_chart import BrailleFigure
from tui_trainer.ui.render.chart_axes import (
    EPOCH_TRAIN,
    STEP_TRAIN,
    VALIDATION,
    apply_axes,
    legend_line,
)
from tui_trainer.ui.render.log_axis import log10_list, set_log_ticks
from tui_trainer.ui.widgets.lazy_plot import lazy_plot
from tui_trainer.ui.widgets.main_area import RedrawOnResize


def downsample(x: np.ndarray, y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``n`` points: bucket means, keeping the last point exact."""
    if len(y) <= n or n < 2:
        return x, y
    edges = np.linspace(0, len(y), n + 1).astype(int)
    counts = np.diff(edges)
    keep = counts > 0
    sums_y = np.add.reduceat(y, edges[:-1][keep])
    sums_x = np.add.reduceat(x.astype(float), edges[:-1][keep])
    xs, ys = sums_x / counts[keep], sums_y / counts[keep]
    xs[-1], ys[-1] = x[-1], y[-1]
    return xs, ys


def envelope(x: np.ndarray, y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``n`` points that keep the spread: each of ``n // 2`` buckets gives
    its lowest and its highest value (in the order they occurred).

    The per-step batch loss is noisy, and its noise is the point of showing
    it: bucket means (``downsample``) would trace the epoch mean exactly and
    disappear under it. The band between the lows and highs stays visible
    around the epoch line.
    """
    if len(y) <= n or n < 4:
        return x, y
    edges = np.linspace(0, len(y), n // 2 + 1).astype(int)
    xs: list[float] = []
    ys: list[float] = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        if b <= a:
            continue
        seg = y[a:b]
        lo, hi = int(np.argmin(seg)), int(np.argmax(seg))
        for i in sorted({lo, hi}):
            xs.append(float(x[a + i]))
            ys.append(float(seg[i]))
    return np.array(xs), np.array(ys)


def plot_ceiling(series: list[np.ndarray], factor: float = 1e6) -> float:
    """A y ceiling for plotting: ``factor`` x the smallest starting value, at most 1e30.

    A diverging run reaches 1e300 before it turns non-finite, and plotext
    draws nothing once values pass ~1e50; clipped, such a curve runs along
    the top of the chart instead.
    """
    starts = []
    for y in series:
        f = y[np.isfinite(y)]
        if len(f):
            starts.append(abs(float(f[0])))
    ref = min(starts) if starts else 1.0
    return min(max(ref, 1e-12) * factor, 1e30)


class LossChart(RedrawOnResize, Container):
    """Train loss per step and per epoch, validation loss per epoch; or, for a
    classifier (``a``), train and validation accuracy per epoch.

    The key to the series is a line above the plot, never inside it, and the
    plot has no title of its own: the panel's border names the chart.
    """

    DEFAULT_CSS = """
    LossChart > #chart-legend { height: 1; width: 1fr; padding: 0 1; }
    LossChart > SafePlot { width: 1fr; height: 1fr; }
    LossChart > #chart-lr { dock: bottom; height: 1; width: 1fr; padding: 0 1; display: none; }
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.log_scale = False
        self.accuracy = False  # accuracy instead of loss (classification only)
        self._key: tuple | None = None
        self._legend_text = Text()
        self._lr_shown = False  # the lr schedule strip takes the bottom row
        self._lr_plain: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="chart-legend")
        yield Static(id="chart-lr")

    def show_lr(self, strip: Text | None) -> None:
        """The lr schedule strip under the plot (hidden when no schedule runs)."""
        widget = self.query_one("#chart-lr", Static)
        self._lr_shown = strip is not None
        if strip is None:
            widget.display = False
            return
        if strip.plain != self._lr_plain:
            self._lr_plain = strip.plain
            widget.update(strip)
        widget.display = True

    @property
    def plt(self) -> Any:
        """The plotext figure API of the chart (the plot is created on first use)."""
        return lazy_plot(self, "chart-plot").plt

    @property
    def legend(self) -> Text:
        """The key to the series as shown above the plot."""
        return self._legend_text

    def _plottable(self, y: np.ndarray) -> np.ndarray:
        ok = np.isfinite(y)
        if self.log_scale and not self.accuracy:
            ok &= y > 0
        return ok

    def _set_legend(self, text: Text) -> None:
        if text.plain != self._legend_text.plain:
            self._legend_text = text
            self.query_one("#chart-legend", Static).update(text)

    def show(
        self,
        step_loss: np.ndarray,
        epoch_steps: np.ndarray,
        epoch_loss: np.ndarray,
        val_loss: np.ndarray,
        title: str = "",
        epoch_acc: np.ndarray | None = None,
        val_acc: np.ndarray | None = None,
        fast: bool = False,
    ) -> None:
        """Draw the series; ``fast`` (while training runs) draws them with
        ``BrailleFigure`` instead of plotext, the same axes in the same layout."""

        def tail(a: np.ndarray | None) -> float:
            return float(a[-1]) if a is not None and len(a) else 0.0

        acc = self.accuracy and epoch_acc is not None and val_acc is not None
        # Lengths and last values: a rewritten history (rewind, new lr) redraws too.
        key = (
            len(step_loss),
            len(epoch_loss),
            tail(step_loss),
            tail(epoch_loss),
            tail(val_loss),
            tail(epoch_acc) if acc else 0.0,
            tail(val_acc) if acc else 0.0,
            float(np.nansum(step_loss[-64:])) if len(step_loss) else 0.0,
            self.log_scale,
            acc,
            self.size,
            title,
            self._lr_shown,
            fast,
        )
        if key == self._key:
            return
        self._key = key
        plot = lazy_plot(self, "chart-plot")
        plt = BrailleFigure() if fast else plot.plt
        plt.clear_data()
        plt.clear_figure()
        # The plot's own size is 0 until its first layout: use the panel's.
        rows, cols = max(1, self.size.height - 1 - self._lr_shown), self.size.width
        n_steps = max(len(step_loss), int(np.nanmax(epoch_steps)) if len(epoch_steps) else 0)
        x_range = (1.0, float(max(1, n_steps)))
        if acc:
            assert epoch_acc is not None and val_acc is not None
            self._accuracy(plt, epoch_steps, epoch_acc, val_acc, x_range, rows, cols)
            plot.show_fast(plt if fast else None)
            return
        n = max(20, self.size.width * 2)
        # plotext draws nothing past ~1e50; a diverging loss reaches 1e300.
        ceiling = plot_ceiling([step_loss, epoch_loss, val_loss])
        clipped = any(
            bool(np.any(np.abs(y[np.isfinite(y)]) > ceiling))
            for y in (step_loss, epoch_loss, val_loss)
        )
        step_loss = np.clip(step_loss, -ceiling, ceiling)
        epoch_loss = np.clip(epoch_loss, -ceiling, ceiling)
        val_loss = np.clip(val_loss, -ceiling, ceiling)
        notes = [title] if title else []
        if self.log_scale:
            notes.append("log scale")
        if clipped:
            notes.append(f"clipped at {ceiling:.0e}")
        log = self.log_scale

        def ys(y: np.ndarray) -> list[float]:
            return log10_list(y) if log else y.tolist()

        x = np.arange(1, len(step_loss) + 1)
        plotted: list[np.ndarray] = []
        entries: list[tuple[str, Any, str]] = []
        series = (
            (x, step_loss, STEP_TRAIN, "batch loss, each step|batch"),
            (epoch_steps, epoch_loss, EPOCH_TRAIN, "epoch train loss|epoch train"),
            (epoch_steps, val_loss, VALIDATION, "validation loss|validation"),
        )
        for xv, yv_all, color, label in series:
            ok = self._plottable(yv_all)
            if not ok.any():
                continue
            thin = envelope if color == STEP_TRAIN else downsample
            xs, yv = thin(xv[ok], yv_all[ok], n)
            plt.plot(xs.tolist(), ys(yv), color=color, marker="braille")
            plotted.append(yv)
            entries.append(("━", color, label))
        allv = np.concatenate(plotted) if plotted else np.array([])
        if log and plotted:
            set_log_ticks(plt, log10_list(allv))
        if plotted:
            apply_axes(
                plt, x_range, allv, rows=rows, cols=cols, log_ticks=log, canvas_rows=rows - 4
            )
        plt.xlabel("step")
        self._set_legend(legend_line(entries, ", ".join(notes), cols - 2))
        plot.show_fast(plt if fast else None)

    def _accuracy(
        self,
        plt: Any,
        epoch_steps: np.ndarray,
        epoch_acc: np.ndarray,
        val_acc: np.ndarray,
        x_range: tuple[float, float],
        rows: int,
        cols: int,
    ) -> None:
        entries: list[tuple[str, Any, str]] = []
        for y, color, label in (
            (epoch_acc, EPOCH_TRAIN, "train, per epoch|train"),
            (val_acc, VALIDATION, "validation, per epoch|val"),
        ):
            ok = np.isfinite(y)
            if ok.any():
                plt.plot(epoch_steps[ok].tolist(), y[ok].tolist(), color=color, marker="braille")
                entries.append(("━", color, label))
        apply_axes(plt, x_range, [], rows=rows, cols=cols, percent=True, canvas_rows=rows - 4)
        plt.xlabel("step")
        note = "" if entries else "accuracy appears after the first epoch"
        self._set_legend(legend_line(entries, note, cols - 2))
