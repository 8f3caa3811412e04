"""A plotext child widget created the first time a view draws a chart.

plotext and textual-plotext take about a tenth of tui-trainer's start-up,
and at 80x24 the first screen shows no chart: the views that plot mount
their plot (and import plotext) when they are first shown instead.
"""

from __future__ import annotations

from typing import Any

from textual.css.query import NoMatches
from textual.widget import Widget


def lazy_plot(parent: Widget, plot_id: str) -> Any:
    """``parent``'s ``SafePlot`` child with id ``plot_id``, mounted on first use."""
    try:
        return parent.query_one(f"#{plot_id}")
    except NoMatches:
        from tui_trainer.ui.widgets.safe_plot import SafePlot

        plot = SafePlot(id=plot_id)
        parent.mount(plot)
        return plot


def preload_imports() -> None:
    """Import ahead of need, off the event loop once the first screen is up:
    plotext for the charts, and ``numpy.ma``, which ``np.median`` (in the
    diagnosis) imports on its first call, 15 ms on the first redraw otherwise."""
    import numpy.ma  # noqa: F401

    import tui_trainer.ui.widgets.safe_plot  # noqa: F401
