"""A plotext plot that never takes the app down.

plotext raises on some inputs it cannot lay out (a log axis whose padded
range reaches zero, a plot area of a few cells after a resize). A chart that
cannot be drawn shows a one-line note instead; the next redraw tries again.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot


class SafePlot(PlotextPlot):
    def render(self) -> RenderResult:
        try:
            return super().render()
        except Exception as e:  # noqa: BLE001 - a plotting edge case is not a crash
            self.log.warning(f"plot failed: {e!r}")
            return Text(f"(chart not drawable at this size/scale: {type(e).__name__})", style="dim")


def log10_list(values: object) -> list[float]:
    """``log10`` of positive values, for a log axis drawn on a linear one.

    plotext's own log scale re-applies ``log10`` every time a plot is built,
    and Textual builds a plot more than once: the second build fails. So
    log charts plot ``log10(y)`` and label the ticks with ``10**t``.
    """
    import numpy as np

    return np.log10(np.asarray(values, dtype=float)).tolist()


def set_log_ticks(plt: object, logs: object, count: int = 5) -> None:
    """Y ticks labelled in the original units for data plotted as ``log10``."""
    import numpy as np

    from tui_trainer.ui.render.numbers import fmt

    v = np.asarray(logs, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return
    lo, hi = float(v.min()), float(v.max())
    if hi - lo >= 2:
        ticks = np.arange(np.floor(lo), np.ceil(hi) + 1)
        step = max(1, int(np.ceil(len(ticks) / count)))
        ticks = ticks[::step]
    else:
        ticks = np.linspace(lo, hi if hi > lo else lo + 1, count)
    plt.yticks(ticks.tolist(), [fmt(10**t, 7) for t in ticks])  # type: ignore[attr-defined]
