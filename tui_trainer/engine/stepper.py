"""One training step as a generator of phase events: the heart of the engine.

::

    FORWARD(0) .. FORWARD(L-1) -> LOSS -> BACKWARD(L-1) .. BACKWARD(0) -> UPDATE

After every ``yield`` the layers' caches and the ``StepRecord`` hold exactly
what that phase produced, so a debugger can stop there. The session runs
this same generator whether it single-steps or fast-forwards (one code path:
what you debug is what runs). A yield costs well under a microsecond, far
below the NumPy work of a phase.

Non-finite values are caught where they first appear: the generator yields
an event with ``nonfinite`` set and stops, so no update is ever made from a
NaN or Inf.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from tui_trainer.engine.losses import Loss
from tui_trainer.engine.network import Network
from tui_trainer.engine.optim import Hyper, Optimizer


class Phase(IntEnum):
    FORWARD = 0
    LOSS = 1
    BACKWARD = 2
    UPDATE = 3

    @property
    def label(self) -> str:
        return ("FORWARD", "LOSS", "BACKPROP", "UPDATE")[self.value]


@dataclass(frozen=True, slots=True)
class Event:
    """A pause point: ``index`` counts events inside the step from 1."""

    phase: Phase
    layer: int | None
    index: int
    nonfinite: bool = False

    def describe(self) -> str:
        if self.layer is None:
            return self.phase.label
        return f"{self.phase.label} layer {self.layer + 1}"


def events_for(n_layers: int) -> list[Event]:
    """All events of one step in order (index i at position i-1)."""
    evs: list[Event] = []
    for i in range(n_layers):
        evs.append(Event(Phase.FORWARD, i, len(evs) + 1))
    evs.append(Event(Phase.LOSS, None, len(evs) + 1))
    for i in reversed(range(n_layers)):
        evs.append(Event(Phase.BACKWARD, i, len(evs) + 1))
    evs.append(Event(Phase.UPDATE, None, len(evs) + 1))
    return evs


@dataclass
class NonFinite:
    """Where the first NaN/Inf appeared."""

    step: int
    phase: Phase
    layer: int | None
    what: str

    def describe(self) -> str:
        where = (
            self.phase.label if self.layer is None else f"{self.phase.label} layer {self.layer + 1}"
        )
        return f"non-finite {self.what} at step {self.step}, {where}"


@dataclass
class StepRecord:
    """What the current step produced outside the layers' own caches."""

    step: int = 0
    epoch: int = 0
    batch_index: np.ndarray | None = None  # indices into the training set (None: all, in order)
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    labels: np.ndarray | None = None  # class indices (classification), for accuracy
    out: np.ndarray | None = None
    per_sample: np.ndarray | None = None
    loss: float = math.nan
    objective: float = math.nan
    dout: np.ndarray | None = None
    lr: float = math.nan
    correct: int = 0
    nonfinite: NonFinite | None = field(default=None)


_add_reduce = np.add.reduce
_isfinite = math.isfinite


def _finite(a: np.ndarray) -> bool:
    # One reduction on the fast path; a full check only if the sum overflowed.
    if _isfinite(_add_reduce(a, axis=None)):
        return True
    return bool(np.isfinite(a).all())


def run_step(
    net: Network,
    loss: Loss,
    opt: Optimizer,
    hyper: Hyper,
    l2: float,
    rec: StepRecord,
    events: list[Event],
    l1: float = 0.0,
) -> Iterator[Event]:
    """Train on ``rec.x``/``rec.y``, yielding after every layer and phase.

    ``rec.loss`` is the data loss; ``rec.objective`` adds the penalties
    ``l2/2 * sum W**2 + l1 * sum |W|`` (weight matrices only), whose
    gradients backward adds to ``dW``.

    The squared norms the metrics need (``|dW|^2``, ``|W|^2``, ``|dW_update|^2``)
    double as the finiteness checks of BACKWARD and UPDATE: one reduction per
    array instead of two. Every NumPy call here costs about a microsecond on
    a small network, as much as the arithmetic: the hot path is written to
    make as few of them as it can (see bench/engine.py --profile).
    """
    layers = net.layers
    n = len(layers)
    a = rec.x
    assert a is not None and rec.y is not None
    isfinite = _isfinite
    add_reduce = _add_reduce
    for i, layer in enumerate(layers):
        a = layer.forward(a)
        if not isfinite(add_reduce(layer.z, None)) and not _finite(layer.z):  # type: ignore[arg-type]
            rec.nonfinite = NonFinite(rec.step, Phase.FORWARD, i, "pre-activation z")
            yield Event(Phase.FORWARD, i, i + 1, nonfinite=True)
            return
        yield events[i]

    ps, mean, dout = loss.forward(a, rec.y)
    rec.out = a
    rec.per_sample = ps
    rec.loss = mean
    rec.dout = dout
    if l2:
        rec.objective = mean + 0.5 * l2 * sum(float(np.vdot(ly.W, ly.W)) for ly in layers)
    else:
        rec.objective = mean
    if l1:
        rec.objective += l1 * sum(float(np.abs(ly.W).sum()) for ly in layers)
    if rec.labels is not None:
        rec.correct = int(np.count_nonzero(loss.classes(a) == rec.labels))
    if not isfinite(mean):
        rec.nonfinite = NonFinite(rec.step, Phase.LOSS, None, "loss")
        yield Event(Phase.LOSS, None, n + 1, nonfinite=True)
        return
    yield events[n]

    g = dout
    for k in range(n):
        i = n - 1 - k
        layer = layers[i]
        g = layer.backward(g, l2, i > 0, l1)
        dw = layer.dW_vec
        if dw is None:
            dw = layer.dW.reshape(-1)
        layer.grad_sq = gs = float(dw.dot(dw))
        if not isfinite(gs) and not np.isfinite(dw).all():
            rec.nonfinite = NonFinite(rec.step, Phase.BACKWARD, i, "gradient dW")
            yield Event(Phase.BACKWARD, i, n + 2 + k, nonfinite=True)
            return
        yield events[n + 1 + k]

    rec.lr = hyper.lr
    if net.flat is not None:
        # One vector operation for the whole network; layers see views.
        # The layers' delta_W/delta_b are views into net.flat_delta.
        delta = opt.flat_delta(net.flat_grad, hyper, net.flat_delta)  # type: ignore[arg-type]
        net.flat += delta
        # |W|^2 and |delta|^2 of every layer from one reduction (Python floats).
        w_sq, d_sq = net.sq_norms()
        ok = isfinite(sum(w_sq))
        for j, layer in enumerate(layers):
            layer.delta_valid = True
            layer.weight_sq = w_sq[j]
            layer.delta_sq = d_sq[j]
    else:
        deltas = opt.deltas(net.grads(), hyper)
        ok = True
        for j, layer in enumerate(layers):
            dW, db = deltas[2 * j], deltas[2 * j + 1]
            layer.W += dW
            layer.b += db
            layer.delta_W = dW
            layer.delta_b = db
            layer.delta_valid = True
            w = layer.W.reshape(-1)
            d = dW.reshape(-1)
            layer.weight_sq = float(w @ w)
            layer.delta_sq = float(d @ d)
            ok = ok and math.isfinite(layer.weight_sq)
    bad = None
    if not ok:  # the squared norm overflowed or a weight is NaN/Inf: look closer
        bad = next((j for j, ly in enumerate(layers) if not np.isfinite(ly.W).all()), None)
    if bad is not None:
        rec.nonfinite = NonFinite(rec.step, Phase.UPDATE, bad, "weights after the update")
        yield Event(Phase.UPDATE, None, 2 * n + 2, nonfinite=True)
        return
    yield events[2 * n + 1]
