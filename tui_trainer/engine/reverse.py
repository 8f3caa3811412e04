"""Reverse execution: run backwards to where it went wrong.

Training is recorded bit-exactly (keyframes plus deterministic replay, see
``session.py``), so "run backwards" is a forward replay that remembers what it
saw: every search here restores the oldest keyframe, replays forward to where
the user was with a check at every pause, and finally ``goto``\\ s the answer,
so the screen there is exactly as a forward run stopped there would show it.

* :func:`reverse_continue`: the most recent pause, before the current one,
  at which an enabled breakpoint fired (its false -> true edge, checked
  exactly as forward ``c`` checks it: ``Trap`` semantics, armed where the
  search starts).
* :func:`last_change`: the last step at which an expression changed by more
  than an amount, or crossed a value (gdb's ``watch`` + reverse-continue).
* :func:`first_bad_value`: the first step, phase and layer where a value
  became non-finite or its magnitude passed a limit.
* :func:`find`: the first pause where a condition becomes true, run forward
  from the start (the headless ``tui-trainer find``), in the session's
  bounded memory.

Each search covers the step-back history (``Session.oldest_position`` on).
When that does not reach back to the start, :attr:`SearchResult.complete` is
False and the caller may search again with ``from_start=True``: that replays
from the start (or the checkpoint the session resumed from) in a separate
session, which is then the result; :func:`adopt` makes the user's session
take its place. Searches take ``should_stop`` (polled every chunk of steps)
and ``progress(done, total)`` callbacks so a UI can show and cancel them.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tui_trainer.engine.breakpoints import Breakpoint, BreakpointSet, Hit
from tui_trainer.engine.conditions import Condition, ConditionError
from tui_trainer.engine.context import SessionContext
from tui_trainer.engine.layer_view import layer_view
from tui_trainer.engine.session import Session, blank_sharing_data
from tui_trainer.engine.stepper import Event, Phase

Progress = Callable[[int, int], None]
StopCheck = Callable[[], bool]
DEFAULT_MAGNITUDE = 1e6


@dataclass
class Pause:
    """One pause a search found (the session is there when it is returned)."""

    position: int
    step: int  # the step on screen there (0-based, as the status line shows it)
    epoch: int  # 0-based epoch of that step
    steps_done: int  # completed steps at that position
    phase: str  # FORWARD, LOSS, BACKPROP, UPDATE
    layer: int | None  # 0-based layer, None for LOSS/UPDATE/step-boundary pauses
    what: str  # which breakpoint, expression or value
    explanation: str  # why it is here, one line
    values: dict[str, float] = field(default_factory=dict)

    def where(self) -> str:
        at = self.phase if self.layer is None else f"{self.phase} layer {self.layer + 1}"
        return f"step {self.step} (epoch {self.epoch + 1}), after {at}"


@dataclass
class SearchResult:
    """What a search found, and how far back it looked.

    ``complete``: the search covered everything from the start of training
    (or the checkpoint it resumed from); otherwise only the step-back
    history from ``window_step`` on. ``session`` holds the answer: the
    searched session itself, or a replay from the start (see :func:`adopt`).
    """

    found: Pause | None
    session: Session
    window_step: int
    complete: bool
    cancelled: bool = False
    message: str = ""


# ------------------------------------------------------------------ scanning
def _pause(s: Session, what: str, explanation: str, values: dict[str, float]) -> Pause:
    ev = s.last_event
    epoch, step, _, _ = s.shown_counters()
    if s.nonfinite is not None:
        step, epoch = s.nonfinite.step, s.rec.epoch
    return Pause(
        position=s.position,
        step=step,
        epoch=epoch,
        steps_done=s.step,
        phase=ev.phase.label if ev is not None else "START",
        layer=ev.layer if ev is not None else None,
        what=what,
        explanation=explanation,
        values=values,
    )


def _scan(
    s: Session,
    check: Callable[[Event | None], bool],
    end: int | None,
    needs_events: bool,
    should_stop: StopCheck | None = None,
    progress: Progress | None = None,
    total: int = 0,
) -> str:
    """Run ``s`` forward calling ``check(ev)`` at every pause before ``end``.

    ``check(None)`` runs after each completed step, ``check(ev)`` after every
    event (only when ``needs_events``: otherwise the fast whole-step path
    runs); a True return stops the scan there. Returns ``"stopped"`` (check
    said so), ``"end"`` (reached ``end``), ``"finished"``, ``"diverged"``
    (after one last ``check(None)`` at the divergence) or ``"cancelled"``.
    """
    start = s.position
    state = {"stopped": False}

    def until(_: Session) -> bool:
        if end is not None and s.position >= end:
            return True
        if check(None):
            state["stopped"] = True
            return True
        return False

    def event_check(_: Session, ev: Event) -> bool:
        if end is not None and s.position >= end:
            return True
        if check(ev):
            state["stopped"] = True
            return True
        return False

    chunk = 1
    while True:
        if end is not None and s.position >= end:
            return "end"
        t0 = time.perf_counter()
        r = s.run(
            until,
            max_steps=chunk,
            should_stop=should_stop,
            event_check=event_check if needs_events else None,
        )
        dt = time.perf_counter() - t0
        if progress is not None:
            progress(s.position - start, total)
        if state["stopped"]:
            return "stopped"
        if r.kind == "diverged":
            if (end is None or s.position < end) and check(None):
                return "stopped"
            return "diverged"
        if r.kind == "finished":
            return "finished"
        if r.kind == "cancelled" or (should_stop is not None and should_stop()):
            return "cancelled"
        if r.kind == "predicate":
            return "end"
        # chunks of ~50 ms between progress reports and stop checks
        chunk = max(1, min(chunk * 2, int(chunk * 0.05 / dt) if dt > 0 else chunk * 2))


def _origin_position(s: Session) -> int:
    """The position training (re)started at: 0, or the checkpoint resumed from."""
    origin = getattr(s, "origin", None)  # a torch session has none: it starts at 0
    if origin is None:
        return 0
    return int(json.loads(str(origin["state"]))["step"]) * s.E


def replay_from_origin(s: Session) -> Session:
    """A new session at the start of ``s``'s training (or its checkpoint) with
    ``s``'s hyperparameter schedule, so replaying it retraces ``s`` bit for bit."""
    t = blank_sharing_data(s)
    if s.origin is not None:
        t.load_state_arrays(s.origin)
    else:
        t._reset()
    t._hp_log = {k: dict(v) for k, v in s._hp_log.items()}
    t._edit_log = {k: dict(v) for k, v in s._edit_log.items()}
    t.epochs = s.epochs
    return t


def adopt(dst: Session, src: Session) -> None:
    """Make ``dst`` the session ``src`` is (a replay from the start), keeping
    ``dst``'s observers: the app's watches and hooks stay bound to it."""
    hook, on_step = dst.hook, dst.on_step
    dst.__dict__.update(src.__dict__)
    dst.hook, dst.on_step = hook, on_step


def _prepare(s: Session, from_start: bool) -> tuple[Session, int, bool]:
    """(session to scan, its window's first step, complete), positioned at the start."""
    origin = _origin_position(s)
    if s.oldest_position <= origin:
        t = s
        t.goto(origin)
        return t, origin // s.E, True
    if from_start:
        t = replay_from_origin(s)
        return t, t.step, True
    start = s.oldest_position
    s.goto(start)
    return s, start // s.E, False


def _finish(
    s: Session,
    t: Session,
    here: int,
    found: Pause | None,
    window_step: int,
    complete: bool,
    outcome: str,
) -> SearchResult:
    """Go to the answer, or back to where the user was."""
    cancelled = outcome == "cancelled"
    if found is not None and not cancelled:
        if t is not s and found.position < t.oldest_position:
            # The replay went on past its own step-back history: replay again
            # from the start, this time stopping there.
            t = replay_from_origin(s)
        t.goto(found.position)
        return SearchResult(found, t, window_step, complete)
    if t is s and s.position != here:
        s.goto(here)
    return SearchResult(None, s, window_step, complete, cancelled=cancelled)


def _copy_enabled(bps: BreakpointSet) -> BreakpointSet:
    """The enabled breakpoints, fresh (no ignore counts): the user's hit counts stay."""
    out = BreakpointSet()
    for b in bps.items:
        if b.enabled:
            out.items.append(Breakpoint(b.condition, b.phase, True, every=b.every))
    return out


# ---------------------------------------------------------- reverse-continue
def reverse_continue(
    s: Session,
    bps: BreakpointSet,
    *,
    from_start: bool = False,
    should_stop: StopCheck | None = None,
    progress: Progress | None = None,
) -> SearchResult:
    """The latest pause before this one where an enabled breakpoint fired.

    Fired means what forward ``c`` means (``Trap``): the condition became
    true at a check of its phase, with the previous value taken where the
    search starts (the start of training, or of the step-back history when
    that is all there is). The user's breakpoints are not touched (hit and
    ignore counts stay as they are).
    """
    here = s.position
    work = _copy_enabled(bps)
    if not work.items:
        return SearchResult(None, s, s.step, True, message="no enabled breakpoint")
    t, window_step, complete = _prepare(s, from_start)
    work.arm(t)
    last: list[Pause] = []

    def check(ev: Event | None) -> bool:
        h: Hit | None = work.check(t, ev)
        if h is not None and t.position < here:
            last[:] = [_pause(t, h.breakpoint.source, h.explanation, {})]
        return False

    outcome = _scan(t, check, here, work.needs_events, should_stop, progress, here - t.position)
    return _finish(s, t, here, last[0] if last else None, window_step, complete, outcome)


# -------------------------------------------------------------- reverse watch
def last_change(
    s: Session,
    condition: Condition,
    *,
    change: float | None = None,
    crossing: float | None = None,
    from_start: bool = False,
    should_stop: StopCheck | None = None,
    progress: Progress | None = None,
) -> SearchResult:
    """The last completed step before here after which ``condition``'s value
    had changed by more than ``change`` since the step before, or had crossed
    ``crossing`` (from below or above).

    Values are taken at step boundaries, as watches record them; a change to
    or from a non-finite value counts as a change. Lands on the boundary
    right after that step's update.
    """
    if (change is None) == (crossing is None):
        raise ValueError("give exactly one of change and crossing")
    if change is not None and not (math.isfinite(change) and change >= 0):
        raise ValueError("the change must be a finite number >= 0")
    if crossing is not None and not math.isfinite(crossing):
        raise ValueError("the crossing value must be finite")
    here = s.position
    t, window_step, complete = _prepare(s, from_start)
    ctx = SessionContext(t)

    def value() -> float:
        try:
            return float(condition.evaluate(ctx))
        except ConditionError:
            return math.nan

    prev = [value()]
    last: list[Pause] = []

    def check(ev: Event | None) -> bool:
        if t.pos != 0 or t.position >= here or t.nonfinite is not None:
            return False
        v, p = value(), prev[0]
        prev[0] = v
        if change is not None:
            if math.isfinite(v) and math.isfinite(p):
                hit = abs(v - p) > change
                why = f"changed by {v - p:+.6g} (more than {change:g})"
            else:
                hit = not (math.isnan(v) and math.isnan(p)) and v != p
                why = "changed to or from a non-finite value"
        else:
            assert crossing is not None
            hit = math.isfinite(v) and math.isfinite(p) and ((p < crossing) != (v < crossing))
            why = f"crossed {crossing:g} ({'upwards' if v >= crossing else 'downwards'})"
        if hit:
            text = f"{condition.source} {why}: {p:.6g} -> {v:.6g}"
            last[:] = [_pause(t, condition.source, text, {"before": p, "after": v})]
        return False

    outcome = _scan(t, check, here, False, should_stop, progress, here - t.position)
    return _finish(s, t, here, last[0] if last else None, window_step, complete, outcome)


# ------------------------------------------------------------ first bad value
def _magnitude(a: np.ndarray | None) -> float:
    if a is None or a.size == 0:
        return 0.0
    m = float(np.max(np.abs(a)))
    return m if not math.isnan(m) else math.inf


def bad_value_at(s: Session, ev: Event, magnitude: float) -> tuple[str, float] | None:
    """(what, value) of a value at event ``ev`` that is non-finite or larger
    than ``magnitude`` in absolute value, or None."""
    if not hasattr(s, "net"):  # modules of another backend (PyTorch)
        return _bad_module_value(s, ev, magnitude)
    layers = s.net.layers
    if ev.nonfinite and s.nonfinite is not None:
        nf = s.nonfinite
        arr = {
            Phase.FORWARD: lambda: layers[nf.layer or 0].z,
            Phase.BACKWARD: lambda: layers[nf.layer or 0].dW,
        }.get(nf.phase)
        return nf.what, _magnitude(arr()) if arr else math.nan
    if ev.phase is Phase.FORWARD and ev.layer is not None:
        ly = layers[ev.layer]
        for what, arr in (("pre-activation z", ly.z), ("activation a", ly.a)):
            m = _magnitude(arr)
            if not m <= magnitude:
                return what, m
    elif ev.phase is Phase.LOSS:
        if not math.isfinite(s.rec.loss):
            return "loss", s.rec.loss
    elif ev.phase is Phase.BACKWARD and ev.layer is not None:
        ly = layers[ev.layer]
        for what, arr in (("gradient dW", ly.dW), ("gradient db", ly.db)):
            m = _magnitude(arr)
            if not m <= magnitude:
                return what, m
    elif ev.phase is Phase.UPDATE:
        for i, ly in enumerate(layers):
            m = max(_magnitude(ly.W), _magnitude(ly.b))
            if not m <= magnitude:
                return f"weights of layer {i + 1}", m
    return None


def _bad_module_value(s: Session, ev: Event, magnitude: float) -> tuple[str, float] | None:
    """``bad_value_at`` for a session of modules (LayerViews): a module's output
    after its FORWARD, its parameter gradients after its BACKPROP, every
    module's parameters after UPDATE, named by the module."""
    if ev.nonfinite and s.nonfinite is not None:
        return s.nonfinite.what, math.nan
    if ev.phase is Phase.LOSS:
        return ("loss", s.rec.loss) if not math.isfinite(s.rec.loss) else None
    if ev.phase is Phase.FORWARD and ev.layer is not None:
        v = layer_view(s, ev.layer)
        m = _magnitude(v.output)
        return (f"output of {v.name}", m) if not m <= magnitude else None
    if ev.phase is Phase.BACKWARD and ev.layer is not None:
        v = layer_view(s, ev.layer)
        for k, g in v.grads.items():
            m = _magnitude(g)
            if not m <= magnitude:
                return f"gradient of {v.name}.{k}", m
    elif ev.phase is Phase.UPDATE:
        for i in range(s.n_layers):
            v = layer_view(s, i)
            m = max((_magnitude(p) for p in v.params.values()), default=0.0)
            if not m <= magnitude:
                return f"weights of {v.name}", m
    return None


def first_bad_value(
    s: Session,
    magnitude: float = DEFAULT_MAGNITUDE,
    *,
    from_start: bool = False,
    should_stop: StopCheck | None = None,
    progress: Progress | None = None,
) -> SearchResult:
    """The first pause, up to here, where a value became non-finite or its
    magnitude passed ``magnitude``: |z| or |a| after each forward layer, the
    loss, dW and db after each backward layer, the weights after the update.

    Checked layer by layer as training replays, so the answer names the step,
    phase and layer where it first happened. Only complete from the start
    of training: otherwise it is the first within the step-back history.
    """
    if not (magnitude > 0 and math.isfinite(magnitude)):
        raise ValueError("the magnitude must be a positive finite number")
    here = s.position
    t, window_step, complete = _prepare(s, from_start)
    found: list[Pause] = []

    def check(ev: Event | None) -> bool:
        if ev is None or t.position > here:
            return False
        bad = bad_value_at(t, ev, magnitude)
        if bad is None:
            return False
        what, v = bad
        text = (
            f"{what} became non-finite"
            if not math.isfinite(v) and what != "loss"
            else (
                "the loss became non-finite"
                if what == "loss"
                else f"max |{what}| = {v:.4g} passed {magnitude:g}"
            )
        )
        found.append(_pause(t, what, text, {"value": v, "magnitude": magnitude}))
        return True

    end = here + 1  # the current pause (e.g. the divergence) is checked too
    outcome = _scan(t, check, end, True, should_stop, progress, end - t.position)
    return _finish(s, t, here, found[0] if found else None, window_step, complete, outcome)


# ------------------------------------------------------------------- find
def find(
    s: Session,
    condition: Condition,
    phase: str = "step",
    *,
    should_stop: StopCheck | None = None,
    progress: Progress | None = None,
) -> tuple[Pause | None, str]:
    """Run ``s`` forward from where it is to the first pause where
    ``condition`` becomes true (as ``run --break`` with that one breakpoint
    would stop). Also stops at a divergence, checking the condition there.

    A condition that cannot be evaluated here (a layer the network does not
    have) raises ``ConditionError``. Memory is the session's own (bounded step-back history and the metric
    tables): nothing is kept per step here. Returns (the pause or None, how
    the run ended: "stopped", "finished", "diverged" or "cancelled").
    """
    bps = BreakpointSet([Breakpoint(condition, phase)])
    bps.arm(s)
    found: list[Pause] = []

    def check(ev: Event | None) -> bool:
        h = bps.check(s, ev)
        if h is None:
            return False
        if not bps.items[0].enabled:  # it could not be evaluated: say why, not "found"
            raise ConditionError(h.explanation.removeprefix("disabled: "))
        found.append(_pause(s, condition.source, h.explanation, _values(s, condition)))
        return True

    outcome = _scan(s, check, None, bps.needs_events, should_stop, progress, 0)
    return (found[0] if found else None), outcome


def _values(s: Session, condition: Condition) -> dict[str, float]:
    """The condition's value there (a number, or 1/0 for true/false)."""
    try:
        return {condition.source: float(condition.evaluate(SessionContext(s)))}
    except ConditionError:
        return {}
