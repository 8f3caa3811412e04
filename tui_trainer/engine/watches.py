"""Watch expressions: conditions-language expressions evaluated at every pause.

Each watch keeps a bounded history of ``(position, value)`` so a view can
draw a sparkline. Values recorded at positions after the current one are
dropped when the session steps back, so the history always describes the
timeline being looked at.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from tui_trainer.engine.conditions import Condition, ConditionError, parse
from tui_trainer.engine.context import SessionContext
from tui_trainer.engine.session import Session


@dataclass
class Watch:
    condition: Condition
    history: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=512))
    error: str = ""

    @property
    def source(self) -> str:
        return self.condition.source

    @property
    def value(self) -> float:
        return self.history[-1][1] if self.history else math.nan


@dataclass
class WatchList:
    items: list[Watch] = field(default_factory=list)

    def add(self, text: str) -> Watch:
        w = Watch(parse(text))
        self.items.append(w)
        return w

    def remove(self, index: int) -> None:
        del self.items[index]

    def sample(self, s: Session) -> None:
        """Evaluate every watch at the session's current position."""
        pos = s.position
        ctx = SessionContext(s)
        for w in self.items:
            while w.history and w.history[-1][0] > pos:
                w.history.pop()
            if w.history and w.history[-1][0] == pos:
                continue
            try:
                v = w.condition.evaluate(ctx)
                w.error = ""
                w.history.append((pos, float(v)))
            except ConditionError as e:
                w.error = e.message
