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

A watch made only of metric-table columns (``loss``, ``grad_norm[0]``,
``val_loss - loss``) is the exception: its per-step series is a
:class:`RowSeries`, which records nothing and reads the values off the
session's step and per-epoch tables when asked (those tables hold exactly
what the recorder would have read, trimmed with the timeline), so a
fast-forward pays nothing per step for it.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import numpy as np

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
    The per-step series of the watches of a bound :class:`WatchList` share
    one ``keys`` deque (all are recorded at the same steps, so a step is one
    append, not one per watch): the values are those of the last
    ``len(values)`` keys, and the list, not the series, appends and trims.
    """

    __slots__ = ("keys", "values")

    def __init__(
        self,
        limit: int = DEFAULT_LIMIT,
        items: Iterable[tuple[int, float]] = (),
        keys: deque[int] | None = None,
    ) -> None:
        pairs = list(items)[-limit:]
        self.keys: deque[int] = deque((k for k, _ in pairs), maxlen=limit) if keys is None else keys
        self.values: deque[float] = deque((v for _, v in pairs), maxlen=limit)

    @property
    def limit(self) -> int | None:
        return self.values.maxlen

    def append(self, key: int, value: float) -> None:
        """Record ``value`` for ``key``, first dropping ``key`` and anything after it
        (a series with keys of its own)."""
        keys = self.keys
        if keys and keys[-1] >= key:
            self.trim(key - 1)
        keys.append(key)
        self.values.append(value)

    def trim(self, last: int) -> None:
        """Drop entries recorded for ``last + 1`` or later (the future after a
        step back; a series with keys of its own)."""
        keys, values = self.keys, self.values
        while keys and keys[-1] > last:
            keys.pop()
            values.pop()

    def __len__(self) -> int:
        return len(self.values)

    def __iter__(self) -> Iterator[tuple[int, float]]:
        keys, values = self.keys, self.values
        return zip(islice(keys, len(keys) - len(values), None), values, strict=True)

    def __bool__(self) -> bool:
        return bool(self.values)


class RowSeries:
    """The per-step series of a watch that is a function of the metric tables alone.

    Nothing is recorded per step for it: the value at step ``k`` is the
    watch's compiled function of row ``k - 1`` of the session's step table
    and of the last per-epoch row then (the epochs ended by step ``k``),
    exactly the rows the recorder would have read at that step (the tables
    are trimmed and rewritten with the timeline, as the recorded series are).
    Its steps are those of the list's shared ``keys`` from ``first`` on (the
    steps recorded since the watch was added): the list moves ``first`` back
    when it drops steps, as it would pop recorded values. Read-only, computed
    when asked (a sparkline, a test), with the same values, as Python floats.
    """

    __slots__ = ("keys", "first", "session", "column", "fn", "past", "epoch_at")

    def __init__(
        self,
        keys: deque[int],
        first: int,
        session: Session,
        plan: Plan,
        past: Plan | None = None,
        epoch_at: list[Any] | None = None,
    ) -> None:
        self.keys = keys
        self.first = first
        self.session = session
        self.column = plan.column  # the plan at the step just ended
        self.fn = plan.fn
        self.past = past  # with per-epoch reads: the plan at any step, given epoch_at
        self.epoch_at = epoch_at

    @property
    def limit(self) -> int | None:
        return self.keys.maxlen

    def _steps(self) -> list[int]:
        keys = list(self.keys)  # increasing: the steps recorded, oldest first
        return keys[bisect_left(keys, self.first) :]

    def _values(self, steps: list[int]) -> list[float]:
        data = self.session.history.steps.data
        rows, width = data.shape
        if not steps:
            return []
        if steps[-1] > rows:  # rows gone with a reloaded table: nothing to read
            known = self._values([k for k in steps if k <= rows])
            return known + [math.nan] * (len(steps) - len(known))
        if self.column is not None:
            return data[[k - 1 for k in steps], self.column].tolist()  # type: ignore[no-any-return]
        flat = flat_view(data)
        assert flat is not None
        if self.past is None:
            fn, ends = self.fn, [0] * len(steps)
        else:  # the epochs ended by each step (the per-epoch rows then)
            fn, at, e = self.past.fn, self.epoch_at, self.session.history.epochs
            assert at is not None
            at[1] = flat_view(e.data)
            ends = np.searchsorted(e.data[: e.n, e.index["step"]], steps, side="right").tolist()
        assert fn is not None
        out = []
        for k, m in zip(steps, ends, strict=True):
            if self.past is not None:
                at[0] = m
            try:
                out.append(fn(flat, (k - 1) * width))
            except Exception:  # noqa: BLE001 - arithmetic on floats: not expected
                out.append(math.nan)
        return out

    def at_row(self, flat: memoryview, i: int) -> float:
        """The value of the row starting at ``i`` of the flat step table."""
        if self.column is not None:
            return flat[i + self.column]  # type: ignore[no-any-return]
        assert self.fn is not None
        return self.fn(flat, i)

    @property
    def values(self) -> list[float]:
        return self._values(self._steps())

    def __len__(self) -> int:
        return len(self._steps())

    def __iter__(self) -> Iterator[tuple[int, float]]:
        steps = self._steps()
        return zip(steps, self._values(steps), strict=True)

    def __bool__(self) -> bool:
        return bool(self.keys) and self.keys[-1] >= self.first


@dataclass
class Watch:
    condition: Condition
    steps: Series | RowSeries = field(default_factory=Series)
    epochs: Series = field(default_factory=Series)
    current: float = math.nan
    error: str = ""
    fast: Callable[[], float | bool] | None = field(default=None, repr=False)
    plan: Plan | None = field(default=None, repr=False)

    @property
    def source(self) -> str:
        return self.condition.source

    @property
    def history(self) -> Series | RowSeries:
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
    # the steps recorded, shared by every watch's per-step series (None: not bound)
    _keys: deque[int] | None = field(default=None, repr=False)
    # what record() runs, rebuilt when the watches change: (column, append to the
    # values) for plain columns, (function, append, watch) for the others
    _columns: list[tuple[Any, ...]] = field(default_factory=list, repr=False)
    _functions: list[tuple[Any, ...]] = field(default_factory=list, repr=False)
    _planned: int = field(default=-1, repr=False)  # len(items) when planned, -1: stale
    # the session's history when planned: the plans read its tables and network,
    # which a session adopting another's state (a reverse search) replaces
    _history: Any = field(default=None, repr=False)
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
        self._planned = -1

    def bind(self, s: Session) -> None:
        """Record every watch at every completed step of ``s`` from now on."""
        if self.session is not None and self.session is not s:
            self.session.on_step = None
        self.session = s
        self._ctx = StepBoundaryContext(s)  # record only runs at step boundaries
        s.on_step = self.record
        # the NumPy engine's config, or a TorchSession's own bound
        limit = max(1, s.cfg.history_steps if hasattr(s, "cfg") else s.history_steps)
        # what was recorded so far: each watch's steps are a tail of the longest's
        longest = max((list(w.steps) for w in self.items), key=len, default=[])[-limit:]
        self._keys = deque((k for k, _ in longest), maxlen=limit)
        for w in self.items:
            self._prepare(w)

    def _prepare(self, w: Watch) -> None:
        s, keys = self.session, self._keys
        assert s is not None and self._ctx is not None and keys is not None
        limit = keys.maxlen or 1
        if w.epochs.limit != limit:
            w.epochs = Series(limit, w.epochs)
        w.fast = w.condition.closure(self._ctx)
        w.plan = plan = compile_watch(w.condition.root, s, self._ctx)
        self._planned = -1  # the plan is rebuilt at the next step
        if w.steps.keys is keys:
            if isinstance(w.steps, RowSeries) and plan is not None:
                w.steps.column, w.steps.fn = plan.column, plan.fn  # what it reads now
            return
        old = w.steps
        pairs = list(old)[-limit:]
        if [k for k, _ in pairs] != list(keys)[len(keys) - len(pairs) :]:
            pairs = []  # recorded at other steps (another list): start afresh
        # a function of the step row read off this session's table (what it
        # holds for the steps it has), unless it carries values from elsewhere
        same = isinstance(old, RowSeries) and old.session is s
        if plan is not None and plan.tables_only and (same or not pairs):
            first = pairs[0][0] if pairs else (keys[-1] + 1 if keys else 0)
            past, at = None, None
            if not plan.rows_only:
                at = [0, None]
                past = compile_watch(w.condition.root, s, self._ctx, at)
            w.steps = RowSeries(keys, first, s, plan, past, at)
        else:
            w.steps = Series(limit, pairs, keys=keys)

    def _replan(self) -> None:
        """Flatten what ``record`` needs per watch (no attribute look-ups per step)."""
        for w in self.items:
            if w.steps.keys is not self._keys:  # put in ``items`` by hand
                self._prepare(w)
        columns, functions = [], []
        for w in self.items:
            if isinstance(w.steps, RowSeries):
                continue  # read off the step table when asked
            p, add = w.plan, w.steps.values.append
            if p is None:
                fast = w.fast
                functions.append((lambda row, i, fast=fast: float(fast()), add, w))
            elif p.column is not None:
                columns.append((p.column, add))
            else:
                functions.append((p.fn, add, w))
        self._columns, self._functions = columns, functions
        self._planned = len(self.items)
        self._history = self.session.history if self.session is not None else None

    def _trim(self, last: int) -> None:
        """Forget the steps after ``last`` (re-recording after a step back)."""
        keys = self._keys
        assert keys is not None
        dropped = 0
        while keys and keys[-1] > last:
            keys.pop()
            dropped += 1
        if dropped:
            for w in self.items:
                steps = w.steps
                if isinstance(steps, RowSeries):
                    steps.first = min(steps.first, last + 1)
                    continue
                values = steps.values
                for _ in range(min(dropped, len(values))):
                    values.pop()

    def _materialize(self) -> None:
        """Record from now on the watches read off the tables (their series as
        values of their own): at a step the general evaluator records (no step
        row, or a NaN/Inf: ``batch_loss`` reads the live loss) the tables may
        not hold the value recorded. Defensive: a NaN/Inf ends no step today."""
        keys = self._keys
        assert keys is not None
        for w in self.items:
            if isinstance(w.steps, RowSeries):
                w.steps = Series(keys.maxlen or 1, list(w.steps), keys=keys)
        self._replan()

    def record(self, s: Session) -> None:
        """The session's ``on_step``: one value per watch for the step just completed.

        Runs at every step of a fast-forward, so it is written for speed: the
        expressions compiled to readers of the step's metric row (plain
        columns read inline), one append of the step for all the watches, the
        general evaluator (and its error message) only when one fails.
        """
        items = self.items
        if self._planned != len(items) or s.history is not self._history:
            if s.history is not self._history:  # adopted another state: read its own
                for w in items:
                    self._prepare(w)
            self._replan()
        keys = self._keys
        step = s.step
        if keys and keys[-1] >= step:  # re-recording after a step back: drop that future
            self._trim(step - 1)
        table = s.history.steps
        n = table.n
        if table.data is not self._data:  # the table grew into a new array
            self._view(table.data)
        flat = self._flat
        # batch_loss reads the live loss after a NaN/Inf; no step row: no fast path
        if s.nonfinite is not None or not n or flat is None:
            self._record_slow(s)
            return
        i = (n - 1) * self._width  # the last row starts there
        keys.append(step)  # type: ignore[union-attr]
        for column, add in self._columns:
            add(flat[i + column])
        for fn, add, w in self._functions:
            try:
                v = fn(flat, i)
            except Exception:  # noqa: BLE001 - the plain evaluator says what went wrong
                v = self._slow(w)
            add(v)
        if s.cursor == 0:  # the epoch's last step
            epoch = s.epoch
            for w in items:
                steps = w.steps
                v = steps.at_row(flat, i) if isinstance(steps, RowSeries) else steps.values[-1]
                w.epochs.append(epoch, v)

    def _derived(self) -> bool:
        return any(isinstance(w.steps, RowSeries) for w in self.items)

    def _view(self, data: Any) -> None:
        """A flat view of the step table's array: indexing it gives a Python
        float without numpy's per-call machinery (half the cost of ``item``)."""
        self._data = data
        self._flat = flat_view(data) if data.ndim == 2 and data.dtype == float else None
        self._width = data.shape[1]

    def _record_slow(self, s: Session) -> None:
        if self._derived():
            self._materialize()
        values = [self._slow(w) for w in self.items]
        self._keys.append(s.step)  # type: ignore[union-attr]
        for w, v in zip(self.items, values, strict=True):
            w.steps.values.append(v)  # type: ignore[union-attr]
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
        if self._keys is not None:
            self._trim(s.step)
        for w in self.items:
            if w.steps.keys is not self._keys:
                w.steps.trim(s.step)
            w.epochs.trim(s.epoch)
            try:
                w.current = float(w.condition.evaluate(ctx))
                w.error = ""
            except ConditionError as e:
                w.error = e.message
                w.current = math.nan
