"""Breakpoints: conditions (see ``conditions.py``) bound to a point of the step.

``phase`` says where a breakpoint is checked: ``step`` (after each completed
step, the default), ``epoch`` (after each completed epoch), ``forward``,
``loss``, ``backward``, ``update`` (after that phase, any layer) or ``any``
(after every event). Conditions are parsed once and evaluated by walking the
parsed tree: nothing is ever ``eval``'d.

A breakpoint fires when its condition *becomes* true (false at the previous
check, true at this one), like a gdb watchpoint on the condition: a condition
that stays true does not stop every step. ``every=True`` opts into the other
behaviour (stop at every check where it holds). The previous value is taken
afresh where each continue starts (:meth:`BreakpointSet.arm`), so it depends
only on the position the run starts from: stepping back and continuing
behaves exactly like arriving there by a fresh forward run. ``ignore`` skips
that many hits (gdb's ``ignore``), decrementing on each skipped one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tui_trainer.engine.conditions import Condition, ConditionError, parse
from tui_trainer.engine.context import SessionContext
from tui_trainer.engine.session import Session, StopReason
from tui_trainer.engine.stepper import Event, Phase

PHASES = ("step", "epoch", "forward", "loss", "backward", "update", "any")
#: Phases checked once per completed step, by ``run``'s ``until``.
STEP_PHASES = ("step", "epoch")
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
    ignore: int = 0
    every: bool = False
    # The condition's value at the previous check of this continue (see arm).
    was_true: bool = field(default=False, compare=False)

    @classmethod
    def from_text(
        cls,
        text: str,
        phase: str = "step",
        enabled: bool = True,
        ignore: int = 0,
        every: bool = False,
    ) -> Breakpoint:
        if phase not in PHASES:
            raise ConditionError(f"phase must be one of {', '.join(PHASES)}", 0)
        if ignore < 0:
            raise ConditionError("ignore must be >= 0", 0)
        return cls(parse(text), phase, enabled, ignore=ignore, every=every)

    @property
    def source(self) -> str:
        return self.condition.source

    @property
    def mode(self) -> str:
        """``every`` or ``becomes`` (true), as shown in lists."""
        return "every" if self.every else "becomes"

    def describe(self) -> str:
        """``step, becomes true, 2 hits, ignore 1`` for lists and dialogs."""
        text = f"{self.phase}, {'every time' if self.every else 'becomes true'}, {self.hits} hits"
        return text + (f", ignore {self.ignore}" if self.ignore else "")

    def applies(self, s: Session, ev: Event | None) -> bool:
        """Is this the point in the step where this breakpoint is checked?

        ``ev is None`` is the check after a completed step (``step`` and
        ``epoch`` breakpoints); otherwise the check after event ``ev`` (the
        phase breakpoints). Each breakpoint has exactly one of the two, so a
        condition is never evaluated twice at one position.
        """
        if self.phase in STEP_PHASES:
            if ev is not None:
                return False
            if self.phase == "epoch":
                return s.pos == 0 and s.cursor == 0 and s.step > 0
            return True
        if ev is None:
            return False
        if self.phase == "any":
            return True
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

    def add(
        self,
        text: str,
        phase: str = "step",
        enabled: bool = True,
        ignore: int = 0,
        every: bool = False,
    ) -> Breakpoint:
        bp = Breakpoint.from_text(text, phase, enabled, ignore, every)
        self.items.append(bp)
        return bp

    def active(self) -> list[Breakpoint]:
        return [b for b in self.items if b.enabled]

    def arm(self, s: Session) -> None:
        """Take every condition's value where a continue starts.

        A condition already true here fires only after it has been false and
        becomes true again; one that cannot be evaluated counts as false (the
        first check reports the error).
        """
        ctx = SessionContext(s)
        for bp in self.items:
            try:
                bp.was_true = bp.enabled and bp.condition.is_true(ctx)
            except ConditionError:
                bp.was_true = False

    def check(self, s: Session, ev: Event | None) -> Hit | None:
        """The first enabled breakpoint that fires here, counting its hit.

        Every applicable condition is evaluated (so each one's previous value
        stays current) before the first firing one is returned.
        """
        ctx = None
        fired: Hit | None = None
        for bp in self.items:
            if not bp.enabled or not bp.applies(s, ev):
                continue
            ctx = ctx or SessionContext(s)
            try:
                ok = bp.condition.is_true(ctx)
            except ConditionError as e:
                bp.enabled = False
                if fired is None:
                    fired = Hit(bp, f"disabled: {e.message}")
                continue
            edge = ok and (bp.every or not bp.was_true)
            bp.was_true = ok
            if not edge:
                continue
            bp.hits += 1
            if bp.ignore > 0:
                bp.ignore -= 1
                continue
            if fired is None:
                try:
                    why = bp.condition.explain(ctx)
                except ConditionError as e:
                    why = e.message
                fired = Hit(bp, why)
        return fired

    @property
    def needs_events(self) -> bool:
        return any(b.enabled and b.phase not in STEP_PHASES for b in self.items)


class Trap:
    """One continue with breakpoints: arms them, then checks them as the run goes.

    The app and ``tui-trainer run --break`` both continue through this, so
    both have the same semantics; create one per continue (not per chunk of
    steps), since the previous values carry from one chunk to the next.
    ``stop_also`` adds a stop condition of the caller's (e.g. "run to epoch").
    """

    def __init__(
        self,
        bps: BreakpointSet,
        s: Session,
        stop_also: Callable[[Session], bool] | None = None,
    ) -> None:
        self.bps = bps
        self.stop_also = stop_also
        self.hit: Hit | None = None
        bps.arm(s)

    def until(self, s: Session) -> bool:
        """After every completed step: the caller's stop, then step/epoch breakpoints."""
        if self.stop_also is not None and self.stop_also(s):
            return True
        if self.bps.items:
            h = self.bps.check(s, None)
            if h is not None:
                self.hit = h
                return True
        return False

    def _event_check(self, s: Session, ev: Event) -> bool:
        h = self.bps.check(s, ev)
        if h is not None:
            self.hit = h
            return True
        return False

    @property
    def event_check(self) -> Callable[[Session, Event], bool] | None:
        """Only when a phase breakpoint is enabled: otherwise the fast path runs."""
        return self._event_check if self.bps.needs_events else None

    def run(
        self,
        s: Session,
        max_steps: int | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> StopReason:
        """``s.run`` with this trap's checks (call repeatedly for chunks)."""
        return s.run(
            self.until,
            max_steps=max_steps,
            should_stop=should_stop,
            event_check=self.event_check,
        )
