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
