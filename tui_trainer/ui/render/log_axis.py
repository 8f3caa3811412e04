"""A log axis drawn on a linear one, for plotext charts.

plotext's own log scale re-applies ``log10`` every time a plot is built, and
Textual builds a plot more than once: the second build fails. So log charts
plot ``log10(y)`` and label the ticks with ``10**t``. Kept apart from the
plot widget so that importing these helpers does not import plotext.
"""

from __future__ import annotations

import numpy as np

from tui_trainer.ui.render.numbers import fmt


def log10_list(values: object) -> list[float]:
    """``log10`` of the values, to plot on a linear axis labelled by ``set_log_ticks``."""
    return np.log10(np.asarray(values, dtype=float)).tolist()


def set_log_ticks(plt: object, logs: object, count: int = 5) -> None:
    """Y ticks labelled in the original units for data plotted as ``log10``."""
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
