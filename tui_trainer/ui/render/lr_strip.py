"""The learning-rate schedule as a one-row strip under the loss chart.

One column per slice of the run's epochs: what the lr was in the epochs done
(from the recorded history, so live changes show) and what the schedule will
give in the rest (dim). Block heights are linear in the lr, or logarithmic
when it spans more than a factor of 20 (a step schedule with gamma 0.1 would
otherwise be flat after its first drop).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from rich.text import Text

from tui_trainer.ui.render.chart_axes import EPOCH_TRAIN
from tui_trainer.ui.render.numbers import fmt

if TYPE_CHECKING:
    from tui_trainer.engine.session import Session

BARS = "▁▂▃▄▅▆▇█"


def sample_epochs(epochs: int, width: int) -> np.ndarray:
    """At most ``width`` epochs spread over ``0 .. epochs - 1`` (the first of each column)."""
    n = max(1, min(epochs, width))
    return np.floor(np.arange(n) * (epochs / n)).astype(int)


def lr_strip(values: np.ndarray, n_past: int, now: float, width: int) -> Text:
    """``lr ▇▇▆▅▃▂▁ 0.003``: ``values`` per column (the first ``n_past`` done), ``now``
    the lr of the next step; fits in ``width`` cells."""
    label = f" {fmt(now)}"
    text = Text("lr ", style="dim", no_wrap=True, overflow="crop")
    cols = max(0, width - 3 - len(label))
    v = np.asarray(values, dtype=float)[:cols]
    ok = np.isfinite(v) & (v > 0)
    if ok.any():
        lo, hi = float(v[ok].min()), float(v[ok].max())
        log = lo > 0 and hi / lo > 20
        for i, x in enumerate(v):
            if not (math.isfinite(x) and x > 0):
                level = 0
            elif hi <= lo:
                level = len(BARS) - 1
            elif log:
                level = round((math.log(x) - math.log(lo)) / (math.log(hi) - math.log(lo)) * 7)
            else:
                level = round(x / hi * 7)
            r, g, b = EPOCH_TRAIN
            style = f"rgb({r},{g},{b})" if i < n_past else "dim"
            text.append(BARS[max(0, min(7, level))], style=style)
    text.append(label)
    return text


def schedule_strip(s: Session, width: int) -> Text | None:
    """The strip for session ``s``, or None when its lr follows no schedule."""
    schedule = getattr(s, "schedule", None)  # a torch session: the optimizer's own lr
    if schedule is None or not schedule.active or width < 12:
        return None
    epochs = max(1, s.epochs)
    cols = sample_epochs(epochs, max(1, width - 12))
    h = s.history
    ends = h.epoch_series("step")  # steps done at the end of each finished epoch
    step_lr = h.step_series("lr")
    done = min(s.epoch, len(ends))
    values = np.empty(len(cols))
    for k, e in enumerate(cols):
        if e < done and 0 < ends[e] <= len(step_lr):
            values[k] = step_lr[int(ends[e]) - 1]  # as it was (live changes included)
        else:
            values[k] = s.lr_at(int(e))
    n_past = int(np.count_nonzero(cols < done))
    return lr_strip(values, n_past, s.current_lr, width)
