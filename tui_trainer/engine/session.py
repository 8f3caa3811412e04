"""The session drives the stepper: step at any granularity, run, rewind.

Position is one integer, the number of events done since the start:
``G = step * E + pos`` with ``E = 2 * layers + 2`` events per step. After the
UPDATE of step ``k`` the position is ``(k + 1) * E`` (a step boundary).

Step-back restores a *keyframe* (parameters, optimizer state, hyperparameters,
data cursor and epoch accumulators, taken at a step boundary) and replays the
same code forward to the requested event. Replay is deterministic (the
shuffle of epoch ``e`` is drawn from ``(seed, e)``, nothing else is random), so
it is bit-identical. Keyframes are taken every ``keyframe_interval`` steps,
chosen so the ring of keyframes covering ``history_steps`` steps fits in
``history_bytes``: memory is bounded by bytes, and a rewind replays at most
``keyframe_interval`` steps.

Hyperparameter changes are recorded against the step they take effect at, so
stepping back and forward again replays them too; changing a hyperparameter
while rewound rewrites the future from that step. A weight edited by hand
(``edit_weight``) is recorded the same way, against the step boundary it was
made at, and set again whenever training arrives at that boundary.

The other random choice of a step, its dropout masks, is drawn from
``(seed, 3, step)`` when the step begins: a replayed step drops the very same
units. A learning-rate schedule is a pure function of the base lr and the
epoch (``engine/schedule.py``), so it needs no state of its own.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from tui_trainer.engine.config import Dataset, LayerSpec, TrainConfig
from tui_trainer.engine.history import History
from tui_trainer.engine.losses import Loss, make_loss
from tui_trainer.engine.network import Network
from tui_trainer.engine.optim import Hyper, Optimizer, make_optimizer
from tui_trainer.engine.schedule import Schedule, scheduled_lr
from tui_trainer.engine.stepper import Event, NonFinite, Phase, StepRecord, events_for, run_step

GRANULARITIES = ("layer", "phase", "step", "epoch")
KEYFRAME_MIN_INTERVAL = 16
# The largest magnitude a weight edited by hand may take (a bound, not advice).
MAX_EDIT = 1e6
HYPER_FIELDS = (
    "lr",
    "momentum",
    "beta1",
    "beta2",
    "eps",
    "l2",
    "batch_size",
    "optimizer",
    "epochs",
    "l1",
    "schedule",
    "warmup_epochs",
    "step_size",
    "gamma",
    "min_lr",
    "t_max",
    "features",  # the network's inputs (x1, x1^2...): the first layer is rebuilt
)
# The schedule's fields among them (a Schedule's field names, "schedule" is its name).
SCHEDULE_FIELDS = ("schedule", "warmup_epochs", "step_size", "gamma", "min_lr", "t_max")


class SessionError(Exception):
    """A request the session cannot honour (e.g. rewinding past history)."""


class Diverged(SessionError):
    """``advance`` on a session whose training became non-finite.

    The advance that meets the NaN/Inf returns its event (``ev.nonfinite``
    is True); advancing again raises this, so a loop such as
    ``while s.step < n: s.advance()`` ends instead of spinning forever.
    ``back``, ``goto``, ``restart`` or a hyperparameter change at a step
    boundary leave the diverged state.
    """

    def __init__(self, where: Any) -> None:
        self.where = where
        super().__init__(f"training diverged ({where.describe()}): step back or change a setting")


@dataclass
class Keyframe:
    step: int
    epoch: int
    cursor: int
    params: list[np.ndarray]
    optimizer: str
    opt_state: dict[str, np.ndarray]
    hyper: dict[str, Any]
    acc: dict[str, Any]
    n_step_rows: int
    n_epoch_rows: int

    @property
    def nbytes(self) -> int:
        return sum(p.nbytes for p in self.params) + sum(a.nbytes for a in self.opt_state.values())


@dataclass
class StopReason:
    """Why ``run`` returned."""

    kind: str  # "predicate", "finished", "diverged", "cancelled", "limit"
    message: str = ""


def back_target(
    position: int, per_step: int, phase_ends: Iterable[int], granularity: str, oldest: int
) -> int:
    """Where ``back(granularity)`` goes from ``position``, for either backend.

    Positions count pause points: ``per_step`` of them per step, the ones in
    ``phase_ends`` (offsets within a step) ending a phase. Raises SessionError at
    the start of training or past the step-back history (``oldest``).
    """
    G = position
    if G == 0:
        raise SessionError("already at the start of training")
    if granularity == "layer":
        target = G - 1
    elif granularity == "phase":
        ends = set(phase_ends)
        target = G - 1
        while target > 0 and (target % per_step) not in ends:
            target -= 1
    elif granularity == "step":
        target = G - (G % per_step) if G % per_step else G - per_step
    else:
        raise ValueError("granularity must be layer, phase or step")
    if target < oldest:
        raise SessionError("that is beyond the step-back history")
    return target


class Session:
    """One training run that can be stepped, run, rewound and checkpointed."""

    def __init__(self, cfg: TrainConfig, data: Dataset) -> None:
        self.cfg = cfg
        self.data = data
        self.dtype = np.dtype(cfg.dtype)
        self.loss: Loss = make_loss(cfg.loss)
        self.classification = data.task == "classification"
        n_out = cfg.layers[-1].units
        # The data the run starts with; set_hyper(features=...) trains on other
        # inputs computed from its columns (engine/input_switch.py).
        self.data0 = data
        self.features0: tuple[str, ...] = tuple(data.input_names)
        self.features = self.features0
        self.x_train = np.ascontiguousarray(data.x_train, dtype=self.dtype)
        self.x_val = np.ascontiguousarray(data.x_val, dtype=self.dtype)
        self.y_train = self.loss.prepare_targets(data.y_train, n_out, self.dtype)
        self.y_val = self.loss.prepare_targets(data.y_val, n_out, self.dtype)
        self.labels_train = data.y_train if self.classification else None
        self.labels_val = data.y_val if self.classification else None
        self.n_train = int(self.x_train.shape[0])
        if self.n_train == 0:
            raise SessionError("the training set is empty")
        self.n_layers = len(cfg.layers)
        self.events = events_for(self.n_layers)
        self.E = len(self.events)
        self.hook: Callable[[Session, Event], None] | None = None
        # Called after every completed step, replays included (watches record
        # through it); cheap enough to leave the fast-forward path on.
        self.on_step: Callable[[Session], None] | None = None
        self._reset()

    # ------------------------------------------------------------------ setup
    def _reset(self) -> None:
        cfg = self.cfg
        if getattr(self, "features", None) != self.features0 or self.data is not self.data0:
            self._set_inputs(self.data0, self.features0)  # a restart, or a blank copy
        self._pre_switch: tuple | None = None
        self.net = Network.build(cfg, self.x_train.shape[1])
        self.hyper = Hyper(cfg.lr, cfg.momentum, cfg.beta1, cfg.beta2, cfg.eps)
        self.l2 = cfg.l2
        self.l1 = cfg.l1
        self.schedule = Schedule(
            cfg.schedule, cfg.warmup_epochs, cfg.step_size, cfg.gamma, cfg.min_lr, cfg.t_max
        )
        # (layer index, rate) of the layers with dropout: masks are drawn per step.
        self._dropout = tuple((i, sp.dropout) for i, sp in enumerate(cfg.layers) if sp.dropout > 0)
        self.batch_size = cfg.batch_size
        self.epochs = cfg.epochs
        self.optimizer_name = cfg.optimizer
        self.opt: Optimizer = self._make_opt(cfg.optimizer)
        self.step = 0
        self.pos = 0
        self.epoch = 0
        self.cursor = 0
        self._gen: Any = None
        self.last_event: Event | None = None
        self.rec = StepRecord()
        self._step_batch = (1, 1)  # (batch, batches per epoch) of the step in self.rec
        self.nonfinite: NonFinite | None = None
        self.history = History(self.n_layers)
        self._acc = self._new_acc()
        self._perm_cache: tuple[int, np.ndarray] | None = None
        self._hp_log: dict[int, dict[str, Any]] = {}
        # Weights set by hand: step boundary -> {(layer, row, col): value}.
        # step -> {(layer, row, col): value}; the first layer's row is its input's name
        self._edit_log: dict[int, dict[tuple[int, int | str, int], float]] = {}
        self.keyframes: dict[int, Keyframe] = {}
        # Parameters plus up to two optimizer buffers (Adam), whichever is in use.
        kf_bytes = sum(p.nbytes for p in self.net.params()) * 3
        self.keyframe_bytes = kf_bytes
        # At least every KEYFRAME_MIN_INTERVAL steps: a keyframe costs far more
        # than a small step, and replaying a few steps on rewind is instant.
        self.keyframe_interval = max(
            min(KEYFRAME_MIN_INTERVAL, cfg.history_steps),
            math.ceil(cfg.history_steps * kf_bytes / max(1, cfg.history_bytes)),
        )
        self._replaying = False
        # The state training was resumed from (a checkpoint), or None: the
        # start a replay "from the start" goes back to (engine/reverse.py).
        self.origin: dict[str, np.ndarray] | None = None

    def _set_inputs(self, data: Dataset, features: tuple[str, ...]) -> None:
        self.data = data
        self.features = features
        self.x_train = np.ascontiguousarray(data.x_train, dtype=self.dtype)
        self.x_val = np.ascontiguousarray(data.x_val, dtype=self.dtype)

    def _shape_for(self, features: tuple[str, ...]) -> None:
        """Inputs, network and optimizer shaped for ``features`` (the values are
        set by the caller: a keyframe, a checkpoint or a switch)."""
        if features == self.features:
            return
        from tui_trainer.engine.data import select_features

        data = self.data0 if features == self.features0 else select_features(self.data0, features)
        self._set_inputs(data, features)
        self.net = Network.build(self.cfg, self.x_train.shape[1])
        self.opt = self._make_opt(self.optimizer_name)
        self._perm_cache = None

    def _switch_features(self, new: tuple[str, ...]) -> None:
        """Train on the inputs ``new`` from this step boundary (engine/input_switch.py).

        Several switches at one boundary are computed from the state before the
        first (kept in ``_pre_switch``), as a replay applies only their sum.
        """
        from tui_trainer.engine.input_switch import fresh_row, remap_rows, remap_state

        if new == self.features:
            return
        pre = self._pre_switch
        if pre is None or pre[0] != self.step:
            params = self.net.get_params()
            pre = (self.step, self.features, params, self.optimizer_name, self.opt.get_state())
            self._pre_switch = pre
        _, old, params, opt_name, opt_state = pre
        shapes = [p.shape for p in params]
        self._shape_for(new)
        if new == old:
            new_params, new_state = list(params), opt_state
        else:
            n_out = int(shapes[0][1])
            fill = np.stack(
                [fresh_row(self.cfg, len(self.features0), n_out, self.step, f) for f in new]
            )
            new_params = [remap_rows(params[0], old, new, fill), *params[1:]]
            new_state = remap_state(opt_state, shapes, old, new)
        self.net.set_params(new_params)
        if opt_name == self.optimizer_name:
            self.opt.set_state(new_state)
        # Edits at this boundary hold on top of the switch, whichever came first
        # (as a replay applies them: the switch, then the edits).
        self._apply_edits()

    def _make_opt(self, name: str) -> Optimizer:
        return make_optimizer(name, self.net.opt_shapes(), self.dtype)

    def _new_acc(self) -> dict[str, Any]:
        return {
            "loss_sum": 0.0,
            "count": 0,
            "correct": 0,
            "active": [np.zeros(ly.n_out, dtype=bool) for ly in self.net.layers],
        }

    def restart(self) -> None:
        """Back to the initial weights (the same seed gives the same start)."""
        self._reset()

    # -------------------------------------------------------------- position
    @property
    def position(self) -> int:
        return self.step * self.E + self.pos

    @property
    def finished(self) -> bool:
        return self.epoch >= self.epochs and self.pos == 0

    @property
    def diverged(self) -> bool:
        return self.nonfinite is not None

    @property
    def batches_per_epoch(self) -> int:
        return max(1, math.ceil(self.n_train / self._effective_batch()))

    @property
    def batch_in_epoch(self) -> int:
        """1-based number of the batch being (or about to be) processed."""
        return min(self.batches_per_epoch, self.cursor // self._effective_batch() + 1)

    def shown_counters(self) -> tuple[int, int, int, int]:
        """(epoch, step, batch, batches per epoch) of the step a person is looking at.

        Inside a step, that step. Right after an UPDATE the position is already
        the next step's boundary, but what is on screen (phase UPDATE, the
        update's numbers) is the step just updated, so its counters are given
        until the next step's FORWARD runs. Epoch and step are 0-based, the
        batch 1-based.
        """
        ev = self.last_event
        if self.pos == 0 and ev is not None and ev.phase is Phase.UPDATE and self.step > 0:
            return self.rec.epoch, self.rec.step, self._step_batch[0], self._step_batch[1]
        return self.epoch, self.step, self.batch_in_epoch, self.batches_per_epoch

    @property
    def phase(self) -> Phase | None:
        return self.last_event.phase if self.last_event else None

    def _effective_batch(self) -> int:
        return self.n_train if self.batch_size <= 0 else min(self.batch_size, self.n_train)

    @property
    def current_lr(self) -> float:
        """The lr of the step being done (inside a step) or the next one (at a
        boundary; once finished, the last step's): the base lr ``hyper.lr``
        scaled by the schedule."""
        return self.lr_at(min(self.epoch, max(0, self.epochs - 1)))

    def lr_at(self, epoch: int, base: float | None = None) -> float:
        """The lr of every step of ``epoch`` under the current schedule."""
        base = self.hyper.lr if base is None else base
        if not self.schedule.active:
            return base
        return scheduled_lr(base, epoch, self.schedule, self.epochs)

    def _draw_masks(self, n: int) -> None:
        """This step's inverted-dropout masks: keep with probability 1 - p, scaled by 1/(1-p)."""
        rng = np.random.default_rng([self.cfg.seed, 3, self.step])  # stream 3: dropout
        for i, p in self._dropout:
            layer = self.net.layers[i]
            keep = rng.random((n, layer.n_out)) >= p
            layer.mask = np.multiply(keep, 1.0 / (1.0 - p), dtype=self.dtype)

    # ------------------------------------------------------------ stepping
    def _perm(self, epoch: int) -> np.ndarray:
        if self._perm_cache is None or self._perm_cache[0] != epoch:
            rng = np.random.default_rng([self.cfg.seed, 2, epoch])  # stream 2: shuffles
            self._perm_cache = (epoch, rng.permutation(self.n_train))
        return self._perm_cache[1]

    def _begin_step(self) -> None:
        # Runs before every step, also when fast-forwarding: properties and
        # helpers are inlined (each call is a measurable share of a small step).
        step = self.step
        if self._hp_log:
            changes = self._hp_log.get(step)
            if changes:
                self._apply_hyper(changes)
        self._pre_switch = None
        if self._edit_log:
            self._apply_edits()
        if step % self.keyframe_interval == 0 and step not in self.keyframes:
            self._store_keyframe()
        rec = self.rec
        rec.step, rec.epoch = step, self.epoch
        n, bs = self.n_train, self.batch_size
        eff = n if bs <= 0 or bs > n else bs  # _effective_batch()
        per_epoch = -(-n // eff)  # batches_per_epoch (n >= 1)
        self._step_batch = (min(per_epoch, self.cursor // eff + 1), per_epoch)
        rec.nonfinite = None
        rec.out = rec.per_sample = rec.dout = None
        rec.loss = rec.objective = math.nan
        rec.batch_index, rec.x, rec.y, rec.labels = self._select_batch(eff)
        hyper = self.hyper
        if self.schedule.active:
            hyper = replace(hyper, lr=self.lr_at(self.epoch))
        if self._dropout:
            self._draw_masks(len(rec.x))
        self._gen = run_step(
            self.net, self.loss, self.opt, hyper, self.l2, rec, self.events, l1=self.l1
        )

    def _select_batch(
        self, bs: int
    ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, np.ndarray | None]:
        """(indices, x, y, labels) of the batch of size ``bs`` at the data cursor."""
        if bs >= self.n_train and self.cursor == 0:
            # Full batch: the order only changes rounding, so skip the shuffle/copy.
            return None, self.x_train, self.y_train, self.labels_train
        idx = self._perm(self.epoch)[self.cursor : self.cursor + bs]
        y = self.y_train[idx]
        if self.labels_train is None:
            labels = None
        elif self.labels_train is self.y_train:  # cross-entropy: targets are the labels
            labels = y
        else:
            labels = self.labels_train[idx]
        # take(): a row gather several times cheaper than x[idx] on small batches
        return idx, self.x_train.take(idx, 0), y, labels

    def pending_hyper(self) -> dict[str, Any]:
        """Hyperparameter changes the next step applies when it begins (at a boundary)."""
        return dict(self._hp_log.get(self.step, {})) if self.pos == 0 else {}

    def current_batch(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(x, y, labels) of the batch at this position, without changing anything.

        Inside a step: the batch being trained on. At a step boundary: the batch
        the next step will use, chosen exactly as that step will choose it.
        """
        rec = self.rec
        if self.pos != 0 and rec.x is not None and rec.y is not None:
            return rec.x, rec.y, rec.labels
        bs = int(self.pending_hyper().get("batch_size", self.batch_size))
        bs = self.n_train if bs <= 0 else min(bs, self.n_train)
        _, x, y, labels = self._select_batch(bs)
        return x, y, labels

    def _end_step(self) -> None:
        rec = self.rec
        n = len(rec.x)  # type: ignore[arg-type]
        acc = self._acc
        acc["loss_sum"] += rec.loss * n
        acc["count"] += n
        acc["correct"] += rec.correct
        row = self.history.steps.new_row()
        # One write for the scalars and the three norms of every layer.
        grad, weight, ratio = [], [], []
        sqrt = math.sqrt
        layers = self.net.layers
        for ly in layers:
            wn = sqrt(ly.weight_sq)
            grad.append(sqrt(ly.grad_sq))
            weight.append(wn)
            ratio.append(sqrt(ly.delta_sq) / wn if wn > 0 else math.inf)
        L = self.n_layers
        row[: 4 + 3 * L] = [
            rec.loss,
            rec.correct / n if self.classification else math.nan,
            rec.lr,
            self.epoch,
            *grad,
            *weight,
            *ratio,
        ]
        base = 4 + 3 * L
        for i, ly in enumerate(layers):
            if ly.activation in ("relu", "leaky_relu"):
                active = (ly.z > 0).any(axis=0)  # type: ignore[operator,union-attr]
                acc["active"][i] |= active
                row[base + i] = 1.0 - np.count_nonzero(active) / active.size
        self.step += 1
        self.pos = 0
        self._gen = None
        self._apply_edits()  # arriving at a boundary where a weight was set by hand
        self.cursor += n
        if self.cursor >= self.n_train:
            self._end_epoch()
        if self.on_step is not None:
            self.on_step(self)

    def _end_epoch(self) -> None:
        acc = self._acc
        row = self.history.epochs.new_row()
        row[0] = acc["loss_sum"] / max(1, acc["count"])
        row[2] = acc["correct"] / max(1, acc["count"]) if self.classification else math.nan
        row[4] = self.step
        if len(self.x_val):
            val_loss, val_acc = self.evaluate(self.x_val, self.y_val, self.labels_val)
            row[1] = val_loss
            row[3] = val_acc
        for i, ly in enumerate(self.net.layers):
            if ly.activation in ("relu", "leaky_relu"):
                act = acc["active"][i]
                row[5 + i] = 1.0 - np.count_nonzero(act) / act.size
        self.epoch += 1
        self.cursor = 0
        # Reset in place (keyframes and checkpoints hold copies): on full-batch
        # training every step ends an epoch.
        acc["loss_sum"], acc["count"], acc["correct"] = 0.0, 0, 0
        for a in acc["active"]:
            a.fill(False)

    def evaluate(
        self, x: np.ndarray, y: np.ndarray, labels: np.ndarray | None
    ) -> tuple[float, float]:
        """Mean loss and accuracy on a data set, without touching the caches."""
        with np.errstate(all="ignore"):
            out = self.net.predict(x)
            loss = float(self.loss.per_sample(out, y).mean())
            acc = (
                float(np.mean(self.loss.classes(out) == labels)) if labels is not None else math.nan
            )
        return loss, acc

    def _next(self) -> Event | None:
        """Advance by one event; None when finished or diverged.

        Callers run it inside ``np.errstate(all="ignore")`` (once per call of
        the public methods, not once per event): overflow is detected by the
        stepper's finiteness checks, not by warnings.
        """
        if self.nonfinite is not None:
            return None
        if self._gen is None:
            if self.epoch >= self.epochs:
                return None
            self._begin_step()
        ev = next(self._gen)
        self.last_event = ev
        if ev.nonfinite:
            self.nonfinite = self.rec.nonfinite
            self.pos = ev.index
            self._gen = None
            return ev
        if ev.phase is Phase.UPDATE:
            self._end_step()
        else:
            self.pos = ev.index
        if self.hook is not None and not self._replaying:
            self.hook(self, ev)
        return ev

    def _whole_step(self) -> None:
        """Run one whole step when nobody watches its events (fast-forward).

        The very same generator as single-stepping, drained in one loop; only
        the per-event bookkeeping that no one would observe is skipped.
        """
        self._begin_step()
        ev = None
        for ev in self._gen:
            if ev.nonfinite:
                break
        assert ev is not None
        self.last_event = ev
        if ev.nonfinite:
            self.nonfinite = self.rec.nonfinite
            self.pos = ev.index
            self._gen = None
        else:
            self._end_step()

    def _phase_end_indices(self) -> tuple[int, ...]:
        L = self.n_layers
        return (L, L + 1, 2 * L + 1, 0)

    def advance(self, granularity: str = "phase", count: int = 1) -> Event | None:
        """Move forward by ``count`` layers, phases, steps or epochs.

        Returns the last event, None when training has finished; raises
        ``Diverged`` if training had already become non-finite.
        """
        if granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {GRANULARITIES}")
        if self.nonfinite is not None:
            raise Diverged(self.nonfinite)
        with np.errstate(all="ignore"):
            return self._advance(granularity, count)

    def _advance(self, granularity: str, count: int) -> Event | None:
        ev = None
        for _ in range(count):
            if granularity == "layer":
                ev = self._next()
            elif granularity == "phase":
                ends = self._phase_end_indices()
                while True:
                    ev = self._next()
                    if ev is None or ev.nonfinite or self.pos in ends:
                        break
            elif granularity == "step":
                while True:
                    ev = self._next()
                    if ev is None or ev.nonfinite or self.pos == 0:
                        break
            else:
                start = self.epoch
                while True:
                    ev = self._next()
                    if ev is None or ev.nonfinite or (self.epoch > start and self.pos == 0):
                        break
            if ev is None or ev.nonfinite:
                break
        return ev

    def run(
        self,
        until: Callable[[Session], bool] | None = None,
        *,
        max_steps: int | None = None,
        should_stop: Callable[[], bool] | None = None,
        event_check: Callable[[Session, Event], bool] | None = None,
    ) -> StopReason:
        """Train until a predicate holds at a step boundary, or the end.

        ``until`` is checked after every completed step; ``event_check`` (if
        given) after every event, for breakpoints bound to a phase.
        ``should_stop`` is polled every step so a UI can pause a running
        session from another thread within one step.
        """
        with np.errstate(all="ignore"):
            return self._run(until, max_steps, should_stop, event_check)

    def _run(
        self,
        until: Callable[[Session], bool] | None,
        max_steps: int | None,
        should_stop: Callable[[], bool] | None,
        event_check: Callable[[Session, Event], bool] | None,
    ) -> StopReason:
        done = 0
        fast = event_check is None and self.hook is None
        while True:
            if self.nonfinite is not None:
                return StopReason("diverged", self.nonfinite.describe())
            if self.epoch >= self.epochs and self.pos == 0:  # self.finished, inlined
                return StopReason("finished", f"finished {self.epochs} epochs")
            if fast and self._gen is None:
                self._whole_step()
            else:
                while True:
                    ev = self._next()
                    if ev is None:
                        break
                    if event_check is not None and event_check(self, ev):
                        return StopReason("predicate")
                    if ev.nonfinite or self.pos == 0:
                        break
            if self.nonfinite is not None:
                return StopReason("diverged", self.nonfinite.describe())
            done += 1
            if until is not None and until(self):
                return StopReason("predicate")
            if max_steps is not None and done >= max_steps:
                return StopReason("limit")
            if should_stop is not None and should_stop():
                return StopReason("cancelled")

    def run_to_epoch(self, epoch: int) -> StopReason:
        return self.run(lambda s: s.epoch >= epoch and s.pos == 0)

    def run_to_step(self, step: int) -> StopReason:
        if step <= self.step and self.pos == 0:
            return StopReason("predicate")
        return self.run(lambda s: s.step >= step)

    # ------------------------------------------------------------ rewind
    def _store_keyframe(self) -> None:
        acc = self._acc
        self.keyframes[self.step] = Keyframe(
            step=self.step,
            epoch=self.epoch,
            cursor=self.cursor,
            params=self.net.get_params(),
            optimizer=self.optimizer_name,
            opt_state=self.opt.get_state(),
            hyper=self._hyper_dict(),
            acc={
                "loss_sum": acc["loss_sum"],
                "count": acc["count"],
                "correct": acc["correct"],
                "active": [a.copy() for a in acc["active"]],
            },
            n_step_rows=self.history.steps.n,
            n_epoch_rows=self.history.epochs.n,
        )
        self._prune_keyframes()

    def _prune_keyframes(self) -> None:
        # Keyframes are inserted in step order, so the oldest are first: drop
        # them while the next one still covers the horizon (constant time).
        horizon = self.step - self.cfg.history_steps
        kf = self.keyframes
        while len(kf) >= 2:
            it = iter(kf)
            first = next(it)
            second = next(it)
            if second <= horizon:
                del kf[first]
            else:
                break

    @property
    def oldest_position(self) -> int:
        """The earliest position ``goto`` can reach."""
        if not self.keyframes:
            return self.position
        return min(self.keyframes) * self.E

    def memory_report(self) -> dict[str, int]:
        """Bytes held by the step-back history and the metric history."""
        return {
            "keyframes": len(self.keyframes),
            "keyframe_interval": self.keyframe_interval,
            "history_bytes": sum(k.nbytes for k in self.keyframes.values()),
            "metrics_bytes": self.history.nbytes,
        }

    def _restore(self, kf: Keyframe) -> None:
        self._pre_switch = None
        self._shape_for(tuple(kf.hyper.get("features", self.features0)))
        self.net.set_params(kf.params)
        self.net.clear_caches()
        if kf.optimizer != self.optimizer_name:
            self.optimizer_name = kf.optimizer
            self.opt = self._make_opt(kf.optimizer)
        self.opt.set_state(kf.opt_state)
        self._set_hyper_dict(kf.hyper)
        self.step = kf.step
        self.epoch = kf.epoch
        self.cursor = kf.cursor
        self.pos = 0
        self._gen = None
        self.nonfinite = None
        self.last_event = None
        self._acc = {
            "loss_sum": kf.acc["loss_sum"],
            "count": kf.acc["count"],
            "correct": kf.acc["correct"],
            "active": [a.copy() for a in kf.acc["active"]],
        }
        self.history.steps.truncate(kf.n_step_rows)
        self.history.epochs.truncate(kf.n_epoch_rows)
        self.rec = StepRecord()
        self._apply_edits()

    def goto(self, position: int) -> None:
        """Go to any reachable position, forward by running, back by replay."""
        position = max(0, position)
        if position >= self.position and self.nonfinite is None:
            self._forward_to(position)
            return
        target_step, target_pos = divmod(position, self.E)
        # To land on a boundary with the caches of the step that ended there,
        # replay that previous step as well.
        want = target_step - 1 if (target_pos == 0 and target_step > 0) else target_step
        candidates = [k for k in self.keyframes if k <= want]
        if not candidates:
            candidates = [k for k in self.keyframes if k <= target_step]
        if not candidates:
            raise SessionError(
                f"step {target_step} is beyond the step-back history "
                f"(oldest reachable step: {min(self.keyframes) if self.keyframes else self.step})"
            )
        self._restore(self.keyframes[max(candidates)])
        for k in [k for k in self.keyframes if k > self.step]:
            del self.keyframes[k]
        self._forward_to(position)

    def _forward_to(self, position: int) -> None:
        self._replaying = True
        try:
            with np.errstate(all="ignore"):
                while self.position < position:
                    if self._next() is None or self.nonfinite is not None:
                        break
        finally:
            self._replaying = False

    def back(self, granularity: str = "phase") -> None:
        """Step back one layer, phase or step (gdb's reverse-step family)."""
        self.goto(
            back_target(
                self.position, self.E, self._phase_end_indices(), granularity, self.oldest_position
            )
        )

    # ---------------------------------------------------- hyperparameters
    def _hyper_dict(self) -> dict[str, Any]:
        h = self.hyper
        return {
            "lr": h.lr,
            "momentum": h.momentum,
            "beta1": h.beta1,
            "beta2": h.beta2,
            "eps": h.eps,
            "l2": self.l2,
            "batch_size": self.batch_size,
            "optimizer": self.optimizer_name,
            "epochs": self.epochs,
            "l1": self.l1,
            "schedule": self.schedule.name,
            "warmup_epochs": self.schedule.warmup_epochs,
            "step_size": self.schedule.step_size,
            "gamma": self.schedule.gamma,
            "min_lr": self.schedule.min_lr,
            "t_max": self.schedule.t_max,
            "features": list(self.features),
        }

    def _set_hyper_dict(self, d: dict[str, Any]) -> None:
        self.hyper = Hyper(d["lr"], d["momentum"], d["beta1"], d["beta2"], d["eps"])
        self.l2 = d["l2"]
        self.batch_size = d["batch_size"]
        self.epochs = d["epochs"]
        self.optimizer_name = d["optimizer"]
        # Checkpoints from before L1 and schedules existed lack these: the config's.
        cfg = self.cfg
        self.l1 = d.get("l1", cfg.l1)
        self.schedule = Schedule(
            d.get("schedule", cfg.schedule),
            d.get("warmup_epochs", cfg.warmup_epochs),
            d.get("step_size", cfg.step_size),
            d.get("gamma", cfg.gamma),
            d.get("min_lr", cfg.min_lr),
            d.get("t_max", cfg.t_max),
        )

    def _apply_hyper(self, changes: dict[str, Any]) -> None:
        for k, v in changes.items():
            if k in ("lr", "momentum", "beta1", "beta2", "eps"):
                setattr(self.hyper, k, float(v))
            elif k in ("l2", "l1"):
                setattr(self, k, float(v))
            elif k in SCHEDULE_FIELDS:
                field = "name" if k == "schedule" else k
                kind = {"schedule": str, "warmup_epochs": int, "step_size": int, "t_max": int}
                self.schedule = replace(self.schedule, **{field: kind.get(k, float)(v)})
            elif k == "batch_size":
                self.batch_size = int(v)
            elif k == "epochs":
                self.epochs = int(v)
            elif k == "optimizer" and v != self.optimizer_name:
                self.optimizer_name = str(v)
                self.opt = self._make_opt(str(v))
            elif k == "features":
                self._switch_features(tuple(v))

    def hyperparameters(self) -> dict[str, Any]:
        return self._hyper_dict()

    def set_hyper(self, **changes: Any) -> int:
        """Change hyperparameters from the next step; returns that step.

        Allowed keys: lr, momentum, beta1, beta2, eps, l2, l1, batch_size,
        optimizer, epochs, features and the schedule's (schedule,
        warmup_epochs, step_size, gamma, min_lr, t_max). ``epochs`` applies at
        once. ``lr`` is the base lr a schedule scales: changing it keeps the
        schedule where it is (at its epoch) and scales the new value.
        ``features`` are the network's inputs computed from the data's columns
        (``["x1", "x2", "x1^2"]``, engine/features.py); the first layer is
        rebuilt as engine/input_switch.py says (a DataError, a ValueError, for
        one that names no column).
        """
        bad = set(changes) - set(HYPER_FIELDS)
        if bad:
            raise ValueError(f"unknown hyperparameter(s): {', '.join(sorted(bad))}")
        if "features" in changes:
            from tui_trainer.engine.data import select_features

            checked = select_features(self.data0, list(changes["features"]))
            changes["features"] = tuple(checked.input_names)
        if "epochs" in changes:
            self.epochs = int(changes.pop("epochs"))
        if not changes:
            return self.step
        at = self.step if self.pos == 0 else self.step + 1
        self._drop_future(at)
        self._hp_log.setdefault(at, {}).update(changes)
        if self.pos == 0:
            self._apply_hyper(changes)
            # The keyframe at this step (if any) predates the change: retake it.
            if at in self.keyframes:
                del self.keyframes[at]
        if self.nonfinite is not None and self.pos == 0:
            self.nonfinite = None
        return at

    def _drop_future(self, at: int) -> None:
        """A change at step ``at`` rewrites the future: later changes and keyframes go."""
        for log in (self._hp_log, self._edit_log):
            for k in [k for k in log if k > at]:
                del log[k]
        for k in [k for k in self.keyframes if k > at]:
            del self.keyframes[k]

    # ------------------------------------------------------ weight edits
    def _apply_edits(self) -> None:
        """Set the weights edited by hand at this step boundary (idempotent).

        The edited layer's last update (``delta_W``) no longer leads to the
        weights it holds, so it is marked invalid rather than shown wrong.
        """
        edits = self._edit_log.get(self.step)
        if edits:
            layers = self.net.layers
            for (layer, row, col), value in edits.items():
                if isinstance(row, str):  # the first layer's row of an input, by name
                    if row not in self.features:
                        continue  # that input was switched off after the edit
                    row = self.features.index(row)
                layers[layer].W[row, col] = value
                layers[layer].delta_valid = False

    def edit_weight(self, layer: int, row: int, col: int, value: float) -> tuple[int, float]:
        """Set ``W[layer][row, col]`` by hand; returns (the step it is recorded at,
        the old value).

        The edit is recorded against the start of the current step, like a
        hyperparameter change, so stepping back before it undoes it and
        replaying through it sets it again: the run stays deterministic. Inside
        a step, the step is replayed from its start with the new weight, so
        the loss and gradients on screen are those of the edited network.
        Edits after this step are dropped (the future is rewritten).
        """
        if not 0 <= layer < self.n_layers:
            raise SessionError(f"layer {layer + 1} does not exist (1 to {self.n_layers})")
        W = self.net.layers[layer].W
        if not (0 <= row < W.shape[0] and 0 <= col < W.shape[1]):
            raise SessionError(
                f"W[{layer}][{row},{col}] is outside the {W.shape[0]}x{W.shape[1]} weights"
            )
        v = float(value)
        if not math.isfinite(v) or abs(v) > MAX_EDIT:
            raise SessionError(f"the weight must be a finite number within ±{MAX_EDIT:g}")
        here = self.position
        rewind = self.pos != 0 or self.nonfinite is not None
        if rewind:
            self.goto(self.step * self.E)
        at = self.step
        old = float(self.net.layers[layer].W[row, col])
        self._drop_future(at)
        # The first layer's rows are the inputs: an edit there names its input, so
        # an input switch at this boundary (before or after it) moves it along.
        key = (layer, self.features[row] if layer == 0 else row, col)
        self._edit_log.setdefault(at, {})[key] = float(self.dtype.type(v))
        self._apply_edits()
        if rewind:
            self.goto(here)
        return at, old

    # ------------------------------------------------------ checkpoints
    def state_arrays(self) -> dict[str, np.ndarray]:
        """The complete state at the current step boundary, as arrays."""
        if self.pos != 0 or self.nonfinite is not None:
            raise SessionError("state is taken at a step boundary")
        out: dict[str, np.ndarray] = {}
        for name, p in zip(self.net.param_names(), self.net.params(), strict=True):
            out[f"param/{name}"] = p.copy()
        for k, v in self.opt.get_state().items():
            out[f"opt/{k}"] = v
        for i, a in enumerate(self._acc["active"]):
            out[f"acc/active{i}"] = a.copy()
        out["history/steps"] = self.history.steps.rows()
        out["history/epochs"] = self.history.epochs.rows()
        meta = {
            "step": self.step,
            "epoch": self.epoch,
            "cursor": self.cursor,
            "hyper": self._hyper_dict(),
            "hp_log": {str(k): v for k, v in self._hp_log.items()},
            # weights set by hand from this step on (a future kept after stepping back)
            "edits": [
                [k, layer, row, col, value]
                for k, edits in sorted(self._edit_log.items())
                if k >= self.step
                for (layer, row, col), value in edits.items()
            ],
            "acc": {k: self._acc[k] for k in ("loss_sum", "count", "correct")},
            "config": config_to_dict(self.cfg),
            "data": self.data_fingerprint(),
        }
        out["state"] = np.array(json.dumps(meta))
        return out

    def data_fingerprint(self) -> str:
        """Identifies the training and validation data (a checkpoint must match it)."""
        h = hashlib.sha256()
        # The columns the inputs are computed from: switching inputs keeps the data.
        base_train, base_val, _ = self.data0.columns
        x_train = np.ascontiguousarray(base_train, dtype=self.dtype)
        x_val = np.ascontiguousarray(base_val, dtype=self.dtype)
        for a in (x_train, self.y_train, x_val, self.y_val):
            h.update(str(a.shape).encode())
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:16]

    def step_start_state(self) -> dict[str, np.ndarray]:
        """``state_arrays`` of the start of the current step, from any position.

        Inside a step (or diverged) the session replays back to the step's
        start, takes the state, and replays forward to where it was; replay
        is deterministic, so a diverged step diverges again.
        """
        here = self.position
        if self.pos != 0 or self.nonfinite is not None:
            self.goto(self.step * self.E)
        try:
            return self.state_arrays()
        finally:
            if self.position != here:
                self.goto(here)

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore what ``state_arrays`` produced (same config and data)."""
        meta = json.loads(str(arrays["state"]))
        self._reset()
        self._shape_for(tuple(meta["hyper"].get("features", self.features0)))
        names = self.net.param_names()
        self.net.set_params([arrays[f"param/{n}"] for n in names])
        self._set_hyper_dict(meta["hyper"])
        self.opt = self._make_opt(self.optimizer_name)
        self.opt.set_state({k[4:]: v for k, v in arrays.items() if k.startswith("opt/")})
        self.step, self.epoch, self.cursor = meta["step"], meta["epoch"], meta["cursor"]
        self._hp_log = {int(k): v for k, v in meta["hp_log"].items()}
        self._edit_log = {}
        for k, layer, row, col, value in meta.get("edits", []):
            self._edit_log.setdefault(int(k), {})[(layer, row, col)] = float(value)
        self._apply_edits()
        self._acc = {
            **meta["acc"],
            "active": [arrays[f"acc/active{i}"].copy() for i in range(self.n_layers)],
        }
        self.history.steps.load(arrays["history/steps"])
        self.history.epochs.load(arrays["history/epochs"])
        self.keyframes.clear()
        self._store_keyframe()
        self.origin = arrays


# What a copy of a session shares with it: the configuration and the
# (read-only) data, never the training state.
_SHARED = (
    "cfg",
    "data",
    "dtype",
    "loss",
    "classification",
    "x_train",
    "x_val",
    "y_train",
    "y_val",
    "labels_train",
    "labels_val",
    "n_train",
    "n_layers",
    "events",
    "E",
    "data0",
    "features0",
)


def blank_sharing_data(session: Session) -> Session:
    """A session with ``session``'s configuration and data and no state yet
    (no observers): the caller loads a state into it (a fork, a replay)."""
    other = Session.__new__(Session)
    other.__dict__.update({k: session.__dict__[k] for k in _SHARED})
    other.hook = None
    other.on_step = None
    return other


def fork_session(session: Session, **changes: Any) -> Session:
    """An independent copy at exactly this position, optionally with new hyperparameters.

    The copy shares the (read-only) data arrays and the step-back keyframes,
    so it can also step back before the fork point. With no changes its
    future is bit-identical to the original's.
    """
    here = session.position
    arrays = session.step_start_state()
    other = blank_sharing_data(session)
    other.load_state_arrays(arrays)
    older = {k: v for k, v in session.keyframes.items() if k < other.step}
    other.keyframes = dict(sorted({**older, **other.keyframes}.items()))
    other._edit_log = {k: dict(v) for k, v in session._edit_log.items()}
    other.goto(here)
    if changes:
        other.set_hyper(**changes)
    return other


def config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    d = asdict(cfg)
    d["layers"] = [asdict(spec) for spec in cfg.layers]
    return d


def config_from_dict(d: dict[str, Any]) -> TrainConfig:
    d = dict(d)
    d["layers"] = tuple(LayerSpec(**spec) for spec in d["layers"])
    return TrainConfig(**d)
