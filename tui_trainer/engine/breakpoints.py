"""Breakpoints: conditions (see ``conditions.py``) bound to a point of the step.

``phase`` says where a breakpoint is checked: ``step`` (after each completed
step, the default), ``epoch`` (after each completed epoch), ``forward``,
``loss``, ``backward``, ``update`` (after that phase, any layer) or ``any``
(after every event). Conditions are parsed once and evaluated by walking the
parsed tree: nothing is ever ``eval``'d.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tui_trainer.engine.conditions import Condition, ConditionError, parse
from tui_trainer.engine.context import SessionContext
from tui_trainer.engine.session import Session
from tui_trainer.engine.stepper import Event, Phase

PHASES = ("step", "epoch", "forward", "loss", "backward", "update", "any")
_PHASE_OF = {
    "forward": Phase.FORWARD,
    "loss": Phase.LOSS,
    "backward": Phase.BACKWARD,
    "update": Phase.UPDATE,
}


@dataclass
class Breakpoint:
    condition: Condition
    phase: str = "step"
    enabled: bool = True
    hits: int = 0

    @classmethod
    def from_text(cls, text: str, phase: str = "step", enabled: bool = True) -> Breakpoint:
        if phase not in PHASES:
            raise ConditionError(f"phase must be one of {', '.join(PHASES)}", 0)
        return cls(parse(text), phase, enabled)

    @property
    def source(self) -> str:
        return self.condition.source

    def applies(self, s: Session, ev: Event | None) -> bool:
        """Is this the point in the step where this breakpoint is checked?"""
        if self.phase == "any":
            return True
        if self.phase == "step":
            return ev is None or s.pos == 0
        if self.phase == "epoch":
            return s.pos == 0 and s.cursor == 0 and s.step > 0
        if ev is None:
            return False
        want = _PHASE_OF[self.phase]
        if ev.phase is not want:
            return False
        # forward/backward: after the whole phase (the last layer of it)
        if want is Phase.FORWARD:
            return ev.layer == s.n_layers - 1
        if want is Phase.BACKWARD:
            return ev.layer == 0
        return True


@dataclass
class Hit:
    breakpoint: Breakpoint
    explanation: str


@dataclass
class BreakpointSet:
    items: list[Breakpoint] = field(default_factory=list)

    def add(self, text: str, phase: str = "step", enabled: bool = True) -> Breakpoint:
        bp = Breakpoint.from_text(text, phase, enabled)
        self.items.append(bp)
        return bp

    def active(self) -> list[Breakpoint]:
        return [b for b in self.items if b.enabled]

    def check(self, s: Session, ev: Event | None) -> Hit | None:
        """The first enabled breakpoint that holds here, counting its hit."""
        ctx = None
        for bp in self.items:
            if not bp.enabled or not bp.applies(s, ev):
                continue
            ctx = ctx or SessionContext(s)
            try:
                ok = bp.condition.is_true(ctx)
            except ConditionError as e:
                bp.enabled = False
                return Hit(bp, f"disabled: {e.message}")
            if ok:
                bp.hits += 1
                try:
                    why = bp.condition.explain(ctx)
                except ConditionError as e:
                    why = e.message
                return Hit(bp, why)
        return None

    @property
    def needs_events(self) -> bool:
        return any(b.enabled and b.phase not in ("step", "epoch") for b in self.items)
