"""Watch expressions: conditions-language expressions recorded at every step.

A bound :class:`WatchList` is the session's ``on_step`` observer: every
completed step (stepping, fast-forward or replay alike, since all of them end
steps in ``Session._end_step``) appends ``(step, value)`` to each watch's
``steps`` series, and the last step of an epoch also ``(epoch, value)`` to its
``epochs`` series. Both are bounded by the scenario's ``history_steps`` (the
step-back horizon). Recording a step first drops what was recorded for that
step or later, and :meth:`WatchList.sample` drops everything past the current
position, so after a step back the series describe the timeline being looked
at. ``value`` is the watch at the current position (also inside a step).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from tui_trainer.engine.conditions import Condition, ConditionError, parse
from tui_trainer.engine.context import SessionContext
from tui_trainer.engine.session import Session

DEFAULT_LIMIT = 1000


@dataclass
class Watch:
    condition: Condition
    steps: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=DEFAULT_LIMIT))
    epochs: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=DEFAULT_LIMIT))
    current: float = math.nan
    error: str = ""
    fast: Callable[[], float | bool] | None = field(default=None, repr=False)

    @property
    def source(self) -> str:
        return self.condition.source

    @property
    def history(self) -> deque[tuple[int, float]]:
        """One ``(step, value)`` per completed step, oldest first."""
        return self.steps

    @property
    def value(self) -> float:
        return self.current


def _trim(series: deque[tuple[int, float]], last: int) -> None:
    """Drop entries recorded for ``last + 1`` or later (the future after a step back)."""
    while series and series[-1][0] > last:
        series.pop()


@dataclass
class WatchList:
    items: list[Watch] = field(default_factory=list)
    session: Session | None = None
    _ctx: SessionContext | None = None

    def add(self, text: str) -> Watch:
        w = Watch(parse(text))
        self.items.append(w)
        if self.session is not None:
            self._prepare(w)
        return w

    def remove(self, index: int) -> None:
        del self.items[index]

    def bind(self, s: Session) -> None:
        """Record every watch at every completed step of ``s`` from now on."""
        if self.session is not None and self.session is not s:
            self.session.on_step = None
        self.session = s
        self._ctx = SessionContext(s)
        s.on_step = self.record
        for w in self.items:
            self._prepare(w)

    def _prepare(self, w: Watch) -> None:
        s = self.session
        assert s is not None and self._ctx is not None
        limit = max(1, s.cfg.history_steps)
        if w.steps.maxlen != limit:
            w.steps = deque(w.steps, maxlen=limit)
            w.epochs = deque(w.epochs, maxlen=limit)
        w.fast = w.condition.bound(self._ctx)

    def record(self, s: Session) -> None:
        """The session's ``on_step``: one value per watch for the step just completed."""
        step = s.step
        epoch_end = s.cursor == 0
        for w in self.items:
            st = w.steps
            if st and st[-1][0] >= step:
                _trim(st, step - 1)
            try:
                v = float(w.fast()) if w.fast is not None else math.nan
            except ConditionError as e:
                w.error = e.message
                v = math.nan
            st.append((step, v))
            if epoch_end:
                ep = w.epochs
                if ep and ep[-1][0] >= s.epoch:
                    _trim(ep, s.epoch - 1)
                ep.append((s.epoch, v))

    def sample(self, s: Session) -> None:
        """At a pause: forget what lies past this position, take the current values."""
        ctx = SessionContext(s)
        for w in self.items:
            _trim(w.steps, s.step)
            _trim(w.epochs, s.epoch)
            try:
                w.current = float(w.condition.evaluate(ctx))
                w.error = ""
            except ConditionError as e:
                w.error = e.message
                w.current = math.nan
