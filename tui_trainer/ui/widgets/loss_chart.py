"""Loss chart: per-step batch loss and per-epoch train and validation loss.

Series are downsampled to about twice the plot width before plotting, so a
redraw costs the same after ten steps or a million (plotext's cost grows
with the number of points).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from textual.containers import Container

from tui_trainer.ui.render.log_axis import log10_list, set_log_ticks
from tui_trainer.ui.widgets.lazy_plot import lazy_plot


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


class LossChart(Container):
    """Train loss per step (faint) and per epoch, validation loss per epoch."""

    DEFAULT_CSS = "LossChart > SafePlot { width: 1fr; height: 1fr; }"

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.log_scale = False
        self._key: tuple | None = None

    @property
    def plt(self) -> Any:
        """The plotext figure API of the chart (the plot is created on first use)."""
        return lazy_plot(self, "chart-plot").plt

    def _plottable(self, y: np.ndarray) -> np.ndarray:
        ok = np.isfinite(y)
        if self.log_scale:
            ok &= y > 0
        return ok

    def show(
        self,
        step_loss: np.ndarray,
        epoch_steps: np.ndarray,
        epoch_loss: np.ndarray,
        val_loss: np.ndarray,
        title: str = "",
    ) -> None:
        def tail(a: np.ndarray) -> float:
            return float(a[-1]) if len(a) else 0.0

        # Lengths and last values: a rewritten history (rewind, new lr) redraws too.
        key = (
            len(step_loss),
            len(epoch_loss),
            tail(step_loss),
            tail(epoch_loss),
            tail(val_loss),
            float(np.nansum(step_loss[-64:])) if len(step_loss) else 0.0,
            self.log_scale,
            self.size,
            title,
        )
        if key == self._key:
            return
        self._key = key
        plot = lazy_plot(self, "chart-plot")
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
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
        if clipped:
            title = (title or "loss") + f" (clipped at {ceiling:.0e})"
        log = self.log_scale

        def ys(y: np.ndarray) -> list[float]:
            return log10_list(y) if log else y.tolist()

        x = np.arange(1, len(step_loss) + 1)
        plotted: list[np.ndarray] = []
        fin = self._plottable(step_loss)
        if fin.any():
            xs, yv = downsample(x[fin], step_loss[fin], n)
            plt.plot(xs.tolist(), ys(yv), label="batch", color="gray", marker="braille")
            plotted.append(yv)
        ef = self._plottable(epoch_loss)
        if ef.any():
            xs, yv = downsample(epoch_steps[ef], epoch_loss[ef], n)
            plt.plot(xs.tolist(), ys(yv), label="epoch train", color="cyan", marker="braille")
            plotted.append(yv)
        vf = self._plottable(val_loss)
        if vf.any():
            xs, yv = downsample(epoch_steps[vf], val_loss[vf], n)
            plt.plot(xs.tolist(), ys(yv), label="validation", color="orange", marker="braille")
            plotted.append(yv)
        if log and plotted:
            set_log_ticks(plt, log10_list(np.concatenate(plotted)))
        plt.xlabel("step")
        plt.title(title or ("loss (log)" if self.log_scale else "loss"))
        plot.refresh()
