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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tui_trainer.engine.conditions import Condition, ConditionError, parse
from tui_trainer.engine.context import SessionContext, StepBoundaryContext
from tui_trainer.engine.session import Session
from tui_trainer.engine.watch_fast import Plan, compile_watch, flat_view

DEFAULT_LIMIT = 1000


class Series:
    """``(key, value)`` pairs, oldest first, at most ``limit`` of them.

    Keys and values live in two deques of plain ints and floats: unlike a
    deque of tuples, recording at every step creates no objects the garbage
    collector has to track (and rescan), which would slow the whole run.
    """

    __slots__ = ("keys", "values")

    def __init__(self, limit: int = DEFAULT_LIMIT, items: Iterable[tuple[int, float]] = ()) -> None:
        pairs = list(items)[-limit:]
        self.keys: deque[int] = deque((k for k, _ in pairs), maxlen=limit)
        self.values: deque[float] = deque((v for _, v in pairs), maxlen=limit)

    @property
    def limit(self) -> int | None:
        return self.keys.maxlen

    def append(self, key: int, value: float) -> None:
        """Record ``value`` for ``key``, first dropping ``key`` and anything after it."""
        keys = self.keys
        if keys and keys[-1] >= key:
            self.trim(key - 1)
        keys.append(key)
        self.values.append(value)

    def trim(self, last: int) -> None:
        """Drop entries recorded for ``last + 1`` or later (the future after a step back)."""
        keys, values = self.keys, self.values
        while keys and keys[-1] > last:
            keys.pop()
            values.pop()

    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self) -> Iterator[tuple[int, float]]:
        return zip(self.keys, self.values, strict=True)

    def __bool__(self) -> bool:
        return bool(self.keys)


@dataclass
class Watch:
    condition: Condition
    steps: Series = field(default_factory=Series)
    epochs: Series = field(default_factory=Series)
    current: float = math.nan
    error: str = ""
    fast: Callable[[], float | bool] | None = field(default=None, repr=False)
    plan: Plan | None = field(default=None, repr=False)

    @property
    def source(self) -> str:
        return self.condition.source

    @property
    def history(self) -> Series:
        """One ``(step, value)`` per completed step, oldest first."""
        return self.steps

    @property
    def value(self) -> float:
        return self.current


@dataclass
class WatchList:
    items: list[Watch] = field(default_factory=list)
    session: Session | None = None
    _ctx: SessionContext | None = None
    # what record() runs, per watch: (column or None, function, the appends of the
    # steps series' keys and values, watch); rebuilt when watches or series change
    _plan: list[tuple[Any, ...]] = field(default_factory=list, repr=False)
    _stale: bool = field(default=True, repr=False)
    _last: int = field(default=-1, repr=False)  # >= every watch's last recorded step
    _data: Any = field(default=None, repr=False)  # the step table's array _flat views
    _flat: memoryview | None = field(default=None, repr=False)
    _width: int = field(default=0, repr=False)

    def add(self, text: str) -> Watch:
        w = Watch(parse(text))
        self.items.append(w)
        if self.session is not None:
            self._prepare(w)
        return w

    def remove(self, index: int) -> None:
        del self.items[index]
        self._stale = True

    def bind(self, s: Session) -> None:
        """Record every watch at every completed step of ``s`` from now on."""
        if self.session is not None and self.session is not s:
            self.session.on_step = None
        self.session = s
        self._ctx = StepBoundaryContext(s)  # record only runs at step boundaries
        s.on_step = self.record
        for w in self.items:
            self._prepare(w)

    def _prepare(self, w: Watch) -> None:
        s = self.session
        assert s is not None and self._ctx is not None
        limit = max(1, s.cfg.history_steps)
        if w.steps.limit != limit:
            w.steps = Series(limit, w.steps)
            w.epochs = Series(limit, w.epochs)
        w.fast = w.condition.closure(self._ctx)
        w.plan = compile_watch(w.condition.root, s, self._ctx)
        self._stale = True  # the plan is rebuilt at the next step

    def _replan(self) -> None:
        """Flatten what ``record`` needs per watch (no attribute look-ups per step)."""
        plan = []
        for w in self.items:
            p = w.plan
            if p is None:
                fast = w.fast
                column, fn = None, (lambda row, i, fast=fast: float(fast()))
            else:
                column, fn = p.column, p.fn
            plan.append((column, fn, w.steps.keys.append, w.steps.values.append, w))
        self._plan = plan
        self._stale = False
        self._last = max((w.steps.keys[-1] for w in self.items if w.steps.keys), default=-1)

    def record(self, s: Session) -> None:
        """The session's ``on_step``: one value per watch for the step just completed.

        Runs at every step of a fast-forward, so it is written for speed: the
        expressions compiled to readers of the step's metric row (read once
        per step), the general evaluator (and its error message) only when
        one fails, and the series' appends inlined.
        """
        items = self.items
        if self._stale or len(items) != len(self._plan):
            self._replan()
        if s.nonfinite is not None:  # batch_loss reads the live loss: no fast path
            self._record_slow(s)
            return
        step = s.step
        if step <= self._last:  # re-recording after a step back: drop that future
            for w in items:
                w.steps.trim(step - 1)
        self._last = step
        table = s.history.steps
        n = table.n
        if table.data is not self._data:  # the table grew into a new array
            self._view(table.data)
        flat = self._flat
        if not n or flat is None:  # no step recorded (not after a step): no fast path
            self._record_slow(s)
            return
        i = (n - 1) * self._width  # the last row starts there
        for column, fn, add_key, add_value, w in self._plan:
            if column is not None:
                v = flat[i + column]
            else:
                try:
                    v = fn(flat, i)
                except Exception:  # noqa: BLE001 - the plain evaluator says what went wrong
                    v = self._slow(w)
            add_key(step)
            add_value(v)
        if s.cursor == 0:  # the epoch's last step
            epoch = s.epoch
            for w in items:
                w.epochs.append(epoch, w.steps.values[-1])

    def _view(self, data: Any) -> None:
        """A flat view of the step table's array: indexing it gives a Python
        float without numpy's per-call machinery (half the cost of ``item``)."""
        self._data = data
        self._flat = flat_view(data) if data.ndim == 2 and data.dtype == float else None
        self._width = data.shape[1]

    def _record_slow(self, s: Session) -> None:
        step = s.step
        self._last = max(self._last, step)
        for w in self.items:
            v = self._slow(w)
            w.steps.append(step, v)
            if s.cursor == 0:
                w.epochs.append(s.epoch, v)

    def _slow(self, w: Watch) -> float:
        try:
            return float(w.condition.evaluate(self._ctx))  # type: ignore[arg-type]
        except ConditionError as e:
            w.error = e.message
            return math.nan

    def sample(self, s: Session) -> None:
        """At a pause: forget what lies past this position, take the current values."""
        ctx = SessionContext(s)
        for w in self.items:
            w.steps.trim(s.step)
            w.epochs.trim(s.epoch)
            try:
                w.current = float(w.condition.evaluate(ctx))
                w.error = ""
            except ConditionError as e:
                w.error = e.message
                w.current = math.nan
