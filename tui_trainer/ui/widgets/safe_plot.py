"""A plotext plot that never takes the app down, and can show a fast figure.

plotext raises on some inputs it cannot lay out (a log axis whose padded
range reaches zero, a plot area of a few cells after a resize). A chart that
cannot be drawn shows a one-line note instead; the next redraw tries again.

While training runs, a chart may hand over a :class:`BrailleFigure` (the
same calls, drawn with NumPy in about a tenth of plotext's time; see
``render/braille_chart.py``): the plot shows it, in plotext's colours, until
the next plotext figure is drawn.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.app import RenderResult
from textual.color import Color
from textual_plotext import PlotextPlot

from tui_trainer.ui.render.braille_chart import BrailleFigure


class SafePlot(PlotextPlot):
    fast: BrailleFigure | None = None  # shown instead of plotext's figure while set

    def show_fast(self, figure: BrailleFigure | None) -> None:
        """Show ``figure`` (None: plotext's own figure again) at the next render."""
        self.fast = figure
        self.refresh()

    def _fast_styles(self) -> tuple[Style, Style]:
        """plotext's colours under textual-plotext's "auto" theme: the surface
        behind everything, the foreground for the frame, ticks and labels."""
        v = self.app.theme_variables
        bg, fg = Color.parse(v.get("surface", "black")), Color.parse(v.get("foreground", "white"))
        return Style(bgcolor=bg.rich_color), Style(color=fg.rich_color)

    def render(self) -> RenderResult:
        try:
            if self.fast is not None:
                back, frame = self._fast_styles()
                text = self.fast.build(self.size.width, self.size.height, frame)
                text.stylize_before(back)
                return text
            return super().render()
        except Exception as e:  # noqa: BLE001 - a plotting edge case is not a crash
            self.log.warning(f"plot failed: {e!r}")
            return Text(f"(chart not drawable at this size/scale: {type(e).__name__})", style="dim")
