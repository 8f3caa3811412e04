"""Which per-module metrics a fast-forwarded step records (a Cockpit-like track schedule).

The per-module metrics (``grad_norm``, ``weight_norm``, ``update_ratio``,
``dead_fraction``) cost more per step than the rest of the debugger's
bookkeeping together (fused norms of every gradient, parameter and update; a
reduction over each ReLU-like module's output). While fast-forwarding they
are recorded on a schedule: every step for the first ``first`` steps, then
every ``every`` steps, and always on the last step of an epoch and on the
step a run is known to stop at (``max_steps``); a run that stops at a step
that was not recorded (a breakpoint, a pause) re-runs that step from its
keyframe to fill its row. A step without them has NaN in those columns
(``history`` says "no value", never 0).

Except what something reads at every step: the metrics an enabled breakpoint
or a watch names (``grad_norm[2]`` after module names are resolved) are
recorded at every step, so a breakpoint on them fires at the very step it
would with everything recorded. A predicate or ``on_step`` observer the
session cannot read (a Python function) may read anything: everything is
recorded at every step for it, unless it declares what it reads with a
``metrics_read`` attribute (condition texts; empty: no per-module metric).
Single-stepping always records everything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tui_trainer.engine.breakpoints import Trap
from tui_trainer.engine.conditions import Condition, Indexed, Name, parse
from tui_trainer.engine.watches import WatchList

GRAD = "grad_norm"
UPDATE = ("weight_norm", "update_ratio")  # both come from the same fused norms
DEAD = "dead_fraction"


@dataclass(frozen=True)
class MetricSchedule:
    """The steps at which every per-module metric is recorded while fast-forwarding."""

    first: int = 5
    every: int = 20

    def __post_init__(self) -> None:
        if self.first < 0 or self.every < 1:
            raise ValueError("first must be >= 0 and every >= 1")

    def due(self, step: int) -> bool:
        return step < self.first or step % self.every == 0


@dataclass(frozen=True)
class Needs:
    """What one step records besides the scheduled steps: every metric (``all``),
    the gradient norms, the weight norms and update ratios, the dead fraction of
    some modules."""

    all: bool = False
    grad: bool = False
    update: bool = False
    dead: frozenset[int] = field(default_factory=frozenset)

    def __or__(self, other: Needs) -> Needs:
        return Needs(
            self.all or other.all,
            self.grad or other.grad,
            self.update or other.update,
            self.dead | other.dead,
        )


ALL = Needs(all=True)
NONE = Needs()


def _nodes(conditions: Iterable[Condition]) -> Iterator[Any]:
    """Every node of these conditions' trees (a trend's target is its child)."""
    stack: list[Any] = [c.root for c in conditions]
    while stack:
        node = stack.pop()
        stack.extend(node.children())
        yield node


def needs_of(conditions: Iterable[Condition], n_layers: int) -> Needs:
    """The per-module metrics these conditions read (their ``name[layer]`` leaves,
    trend targets included; a negative layer counts from the end)."""
    grad = update = False
    dead: set[int] = set()
    for node in _nodes(conditions):
        if not isinstance(node, Indexed) or n_layers == 0:
            continue
        if node.name == GRAD:
            grad = True
        elif node.name in UPDATE:
            update = True
        elif node.name == DEAD:
            dead.add(node.layer % n_layers)
    return Needs(False, grad, update, frozenset(dead))


def _declared(fn: Any, names: list[str] | None) -> list[Condition] | None:
    """The conditions a callable declares with ``metrics_read``, or None (undeclared)."""
    texts = getattr(fn, "metrics_read", None)
    if texts is None:
        return None
    from tui_trainer.engine.layer_view import resolve_module_names

    return [parse(resolve_module_names(t, names)) for t in texts]


def _conditions_read(
    until: Callable[..., Any] | None,
    on_step: Callable[..., Any] | None,
    names: list[str] | None,
) -> list[Condition] | None:
    """The conditions a run's predicate and step observer read between steps, or
    None when one of them may read anything.

    A ``Trap`` (the app's and the CLI's breakpoints) reads its enabled
    breakpoints' conditions and what its ``stop_also`` (the caller's target)
    declares in ``metrics_read``; a bound ``WatchList`` reads its watches.
    Anything else reads what it declares, or everything.
    """
    conds: list[Condition] = []
    for fn, kind in ((until, Trap), (on_step, WatchList)):
        if fn is None:
            continue
        owner = getattr(fn, "__self__", None)
        if isinstance(owner, Trap) and kind is Trap:
            conds += [b.condition for b in owner.bps.active()]
            fn = owner.stop_also
            if fn is None:
                continue
        elif isinstance(owner, WatchList) and kind is WatchList:
            conds += [w.condition for w in owner.items]
            continue
        declared = _declared(fn, names)
        if declared is None:
            return None
        conds += declared
    return conds


def run_needs(
    until: Callable[..., Any] | None,
    on_step: Callable[..., Any] | None,
    n_layers: int,
    names: list[str] | None = None,
) -> Needs:
    """What a run must record at every step for its predicate and its step
    observer (``_conditions_read``): everything if they may read anything."""
    conds = _conditions_read(until, on_step, names)
    return ALL if conds is None else needs_of(conds, n_layers)


#: The names that read a step's train accuracy (``accuracy`` is the old name
#: of ``batch_accuracy``); ``train_accuracy`` reads the last epoch's.
STEP_ACCURACY = frozenset({"accuracy", "batch_accuracy"})


def reads_step_accuracy(
    until: Callable[..., Any] | None,
    on_step: Callable[..., Any] | None,
    names: list[str] | None = None,
) -> bool:
    """Whether a run's predicate or step observer may read a step's train accuracy
    while the run goes on (the session otherwise counts it in batches, written
    before the run returns); what they read as ``_conditions_read`` says."""
    conds = _conditions_read(until, on_step, names)
    return conds is None or any(
        isinstance(node, (Name, Indexed)) and node.name in STEP_ACCURACY for node in _nodes(conds)
    )
