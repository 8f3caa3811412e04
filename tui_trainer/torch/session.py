"""TorchSession: step through training of any ``torch.nn.Module``, with the NumPy Session's API.

One step, whether single-stepped or fast-forwarded, is the same code
(``_body``)::

    optimizer.zero_grad(); out = model(x)      FORWARD after each pause module (forward hooks)
    loss = loss_fn(out, y)                      LOSS
    loss.backward()                             BACKPROP per module, in the order autograd
                                                reaches it: when the gradient at the
                                                module's input is known (a tensor hook;
                                                its parameter gradients are accumulated by
                                                then), or for a module fed by the data, when
                                                all its parameter gradients are
                                                (post-accumulate-grad hooks)
    before = params; optimizer.step()           UPDATE, the applied update = after - before

Single-stepping runs ``_body`` in a worker thread whose hooks wait until
told to go on (``runner.StepRunner``); fast-forward (``fastforward.py``)
runs a lean version of it on the calling thread, with the per-module metrics
on a schedule (``schedule.py``), and ``_body`` with hooks that only check
to locate a NaN. Hooks are attached when a step begins and removed in a
``finally`` when it ends, is aborted (quit, rewind) or user code raises: the
model never keeps them between steps.

Non-finite values are caught where they first appear: a module's output
(forward), the loss, a module's parameter gradients or the gradient at its
output (backward), the parameters after ``optimizer.step()``. The step stops
there (no update from a NaN) and ``nonfinite`` names the module by its
qualified name.

Step-back: keyframes at step boundaries hold the model's ``state_dict``,
the optimizer's ``state_dict``, the torch/NumPy/Python random states and
the data cursor; going back restores the nearest one and replays. On CPU
with ``torch.use_deterministic_algorithms`` (switched on while the session is
open) replay is bit-identical.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np
import torch
from torch import nn

from tui_trainer.engine.history import STEP_SCALARS, History
from tui_trainer.engine.session import (
    GRANULARITIES,
    KEYFRAME_MIN_INTERVAL,
    Diverged,
    SessionError,
    StopReason,
    back_target,
)
from tui_trainer.engine.stepper import Event, Phase
from tui_trainer.torch.data import LoaderData, TensorData, get_rng, set_rng, tensor_batches
from tui_trainer.torch.fastforward import FastForward
from tui_trainer.torch.modules import is_relu_like, pause_modules, trainable, weight_params
from tui_trainer.torch.records import (
    StepRecord,
    TorchKeyframe,
    TorchNonFinite,
    _ParamPlan,
    _StepState,
    _Stop,
)
from tui_trainer.torch.runner import Pause, StepRunner
from tui_trainer.torch.schedule import ALL, NONE, MetricSchedule, Needs, reads_step_accuracy
from tui_trainer.torch.state import load_state_arrays, state_arrays
from tui_trainer.torch.tensors import (
    alive_units,
    clone_optim_state,
    clone_state,
    clone_tensors,
    finite,
    first_tensor,
    norms,
    tensors,
)

# At least this many steps between keyframes (the NumPy engine's 16, doubled): a
# torch keyframe (state_dict and optimizer state copied tensor by tensor, three
# generators' states) costs about half a small model's step, 3% of fast-forward
# at every 16 steps; a rewind then replays at most 31 steps (30 ms on the MLP
# example). A large model's interval is set by history_bytes anyway.
TORCH_KEYFRAME_MIN_INTERVAL = 2 * KEYFRAME_MIN_INTERVAL

HYPER_FIELDS = ("lr", "momentum", "beta1", "beta2", "eps", "l2", "batch_size", "epochs")
NO_DECAY = "tui_no_decay"  # a param-group key: l2 changes leave this group's weight_decay at 0


def _fill_setting() -> Any:
    """``torch.utils.deterministic`` (its ``fill_uninitialized_memory``), or None
    in a torch without it."""
    import importlib

    try:
        return importlib.import_module("torch.utils.deterministic")
    except ImportError:
        return None


class UserCodeError(SessionError):
    """The model, loss, optimizer or data raised during a step; the session
    went back to the start of that step. The original exception is chained."""


class TorchSession(FastForward):
    """One training run of a PyTorch model that can be stepped, run, rewound and checkpointed."""

    def __init__(
        self,
        model: nn.Module,
        loss_fn: Callable[..., torch.Tensor],
        optimizer: torch.optim.Optimizer,
        train: Any,
        val: Any = None,
        *,
        batch_size: int = 32,
        epochs: int = 10,
        seed: int = 0,
        modules: list[str] | None = None,
        depth: int | None = None,
        history_steps: int = 1000,
        history_bytes: int = 64 * 1024 * 1024,
        labels: Any = None,
        val_labels: Any = None,
        deterministic: bool = True,
    ) -> None:
        self.model = model
        self.loss_fn = loss_fn
        self._bce = isinstance(loss_fn, nn.BCEWithLogitsLoss)
        self.optimizer = optimizer
        self.seed = seed
        p0 = next(iter(model.parameters()), None)
        self.float_dtype = p0.dtype if p0 is not None else torch.get_default_dtype()
        self.device = p0.device if p0 is not None else torch.device("cpu")
        self.data = self._make_data(train, batch_size, seed, labels)
        self.val = self._make_val(val, val_labels)
        self.modules = pause_modules(model, depth, modules)
        self.module_names = [n for n, _ in self.modules]
        self.n_layers = len(self.modules)
        self.E = 2 * self.n_layers + 2
        self._update_event = Event(Phase.UPDATE, None, self.E)  # a step's end (frozen)
        self._relu_like = [is_relu_like(m) for _, m in self.modules]
        self._trainable = [trainable(m) for _, m in self.modules]
        # Every parameter of each pause module: which ones train is read at each
        # step (a user may freeze or unfreeze one between steps).
        self._module_params = [list(m.parameters()) for _, m in self.modules]
        self._weights = [weight_params(m) for _, m in self.modules]
        self._weight_ids = [[id(p) for p in ws] for ws in self._weights]
        self._pnames = {id(p): k for k, p in model.named_parameters()}
        self._fwd_hooks = [self._forward_hook(i) for i in range(self.n_layers)]
        self._relu_idx = [i for i in range(self.n_layers) if self._relu_like[i]]
        self._active_hooks = [self._active_hook(i) for i in range(self.n_layers)]
        self._no_outputs: list[Any] = [None] * self.n_layers
        # Fast-forward checks: "lean" (the loss, every parameter gradient and the
        # parameters after the update, each step; a non-finite value is then located
        # at its module and phase by replaying that step from its keyframe with the
        # per-module checks) or "every module" (every module's output and input
        # gradient each step, as single-stepping does; slower).
        self.check_every_module = False
        self._defer_correct = False  # a run counts the train accuracy in batches
        self._lean_bad: TorchNonFinite | None = None
        self._lean_start: tuple[Any, Any, list[torch.Tensor]] = (None, None, [])
        self._lean_buffers: list[torch.Tensor] = []
        self._acc_hooks = [self._accumulated_hook(i) for i in range(self.n_layers)]
        self._out_hooks = [self._output_hook(i) for i in range(self.n_layers)]
        # Per-module metrics while fast-forwarding: on this schedule, plus what the
        # run's breakpoints and watches read at every step (schedule.py); None:
        # everything at every step.
        self.metric_schedule: MetricSchedule | None = MetricSchedule()
        self._run_needs: Needs = NONE  # what the current run or replay records every step
        self._step_needs: Needs = ALL  # what the current step records
        self._lean_saved = -1  # the step whose start _save_step_start holds
        self._grad_hooks = [self._grad_hook(i) for i in range(self.n_layers)]
        self._plan_cache: _ParamPlan | None = None
        self.history_steps = history_steps
        self.history_bytes = history_bytes
        self.hook: Callable[[TorchSession, Event], None] | None = None
        self.on_step: Callable[[TorchSession], None] | None = None
        self._prev_deterministic: tuple[bool, bool, bool | None] | None = None
        if deterministic:
            fill = _fill_setting()
            self._prev_deterministic = (
                torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled(),
                None if fill is None else fill.fill_uninitialized_memory,
            )
            torch.use_deterministic_algorithms(True, warn_only=True)
            # Deterministic mode also fills every torch.empty with NaN by default:
            # a safety net for kernels that read memory they did not write, which
            # costs 2% of a small model's step (torch's docs advise turning it off
            # when no such kernel is used). Training ops write what they read; a
            # replay that differs anyway is detected (replay_mismatch).
            if fill is not None:
                fill.fill_uninitialized_memory = False
        self.closed = False
        self._runner: StepRunner | None = None
        # The start: seeded generators and the user's initial weights, kept for restart().
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        import random

        random.seed(seed)
        self.epochs = epochs
        self._setup_state()
        self._initial = self._keyframe()

    # ------------------------------------------------------------ inputs
    def _make_data(self, train: Any, batch_size: int, seed: int, labels: Any) -> Any:
        if isinstance(train, torch.utils.data.DataLoader):
            return LoaderData(train, float_dtype=self.float_dtype, device=self.device)
        if isinstance(train, (tuple, list)) and len(train) == 2:
            return TensorData(
                train[0],
                train[1],
                batch_size=batch_size,
                seed=seed,
                float_dtype=self.float_dtype,
                device=self.device,
                labels=labels,
            )
        raise TypeError("train must be a pair (X, y) of tensors or arrays, or a DataLoader")

    def _make_val(self, val: Any, labels: Any) -> Any:
        if val is None:
            return None
        if isinstance(val, torch.utils.data.DataLoader):
            return val
        if isinstance(val, (tuple, list)) and len(val) == 2:
            return TensorData(
                val[0],
                val[1],
                batch_size=0,
                seed=0,
                float_dtype=self.float_dtype,
                device=self.device,
                labels=labels,
            )
        raise TypeError("val must be a pair (X, y) of tensors or arrays, or a DataLoader")

    def _labels(self, out: torch.Tensor, y: torch.Tensor, labels: Any) -> Any:
        """Class indices of the targets (None for regression)."""
        if labels is not None:
            return labels
        if not y.is_floating_point() and y.ndim == 1:
            return y
        if isinstance(self.loss_fn, nn.BCEWithLogitsLoss):
            return (y.reshape(len(y), -1)[:, 0] > 0.5).long()
        return None

    def _correct(self, out: torch.Tensor, labels: torch.Tensor) -> int:
        """How many samples of a batch ``out`` classifies as ``labels`` (every step:
        the epoch accuracy sums them). Torch ops, not NumPy: on a (32, 10) batch
        NumPy's argmax is cheaper alone, but slower inside a training step, whose
        torch dispatch code is hot in the cache and NumPy's is not."""
        if out.ndim == 2 and not self._bce:
            return int(torch.eq(out.argmax(1), labels).count_nonzero())
        return int(torch.eq(self._classes(out), labels).count_nonzero())

    def _classes(self, out: torch.Tensor) -> torch.Tensor:
        if isinstance(self.loss_fn, nn.BCEWithLogitsLoss):
            return (out.reshape(len(out), -1)[:, 0] > 0).long()
        return (out if out.ndim == 2 else out.reshape(len(out), -1)).argmax(dim=1)

    # ------------------------------------------------------------- state
    def _setup_state(self) -> None:
        self.step = 0
        self.pos = 0
        self.epoch = 0
        self.cursor = 0
        self.last_event: Event | None = None
        self.rec = StepRecord()
        self._pending_correct: list[tuple[int, Any, Any, int]] = []
        self._step_batch = (1, 1)
        self.nonfinite: TorchNonFinite | None = None
        self.history = History(self.n_layers)
        self._acc = self._new_acc()
        self._hp_log: dict[int, dict[str, Any]] = {}
        self.keyframes: dict[int, TorchKeyframe] = {}
        self._replaying = False
        # First step whose replay differed from the first run (None: all bit-identical).
        self.replay_mismatch: int | None = None
        self._st: _StepState | None = None
        self._watching = False
        self.data.forget_iterator()
        nbytes = sum(t.numel() * t.element_size() for t in self.model.state_dict().values())
        self.keyframe_bytes = 3 * nbytes
        self.keyframe_interval = max(
            min(TORCH_KEYFRAME_MIN_INTERVAL, self.history_steps),
            math.ceil(self.history_steps * self.keyframe_bytes / max(1, self.history_bytes)),
        )
        self._step_active: list[Any] = [None] * self.n_layers
        self._step_outputs: list[Any] = [None] * self.n_layers
        self._grad_sq = [math.nan] * self.n_layers
        self._last_checked = -1  # the last step whose every module output was checked
        self._weight_sq = [math.nan] * self.n_layers
        self._delta_sq = [math.nan] * self.n_layers
        self.deltas: dict[str, torch.Tensor] = {}

    def _new_acc(self) -> dict[str, Any]:
        return {"loss_sum": 0.0, "count": 0, "correct": 0, "active": [None] * self.n_layers}

    def close(self) -> None:
        """Abort a step in progress (its hooks come off) and restore global torch settings."""
        self._abort_step()
        if self._prev_deterministic is not None:
            on, warn, filled = self._prev_deterministic
            torch.use_deterministic_algorithms(on, warn_only=warn)
            fill = _fill_setting()
            if fill is not None and filled is not None:
                fill.fill_uninitialized_memory = filled
            self._prev_deterministic = None
        self.closed = True

    def __enter__(self) -> TorchSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def restart(self) -> None:
        """Back to the initial weights, optimizer state and generators."""
        self._abort_step()
        self._setup_state()
        self._load_keyframe(self._initial)

    # ---------------------------------------------------------- position
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
    def phase(self) -> Phase | None:
        return self.last_event.phase if self.last_event else None

    @property
    def batches_per_epoch(self) -> int:
        return self.data.batches_per_epoch()

    @property
    def batch_in_epoch(self) -> int:
        return self.data.batch_number(self.cursor)

    def shown_counters(self) -> tuple[int, int, int, int]:
        ev = self.last_event
        if self.pos == 0 and ev is not None and ev.phase is Phase.UPDATE and self.step > 0:
            return self.rec.epoch, self.rec.step, self._step_batch[0], self._step_batch[1]
        return self.epoch, self.step, self.batch_in_epoch, self.batches_per_epoch

    @property
    def current_lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    @property
    def oldest_position(self) -> int:
        if not self.keyframes:
            return self.position
        return min(self.keyframes) * self.E

    def memory_report(self) -> dict[str, int]:
        return {
            "keyframes": len(self.keyframes),
            "keyframe_interval": self.keyframe_interval,
            "history_bytes": len(self.keyframes) * self.keyframe_bytes,
            "metrics_bytes": self.history.nbytes,
        }

    # ------------------------------------------------------------- hooks
    def _attach(self, pausing: bool) -> list[Any]:
        """Hooks for one step. Fast-forward needs no post-accumulate hooks: it
        checks gradients after backward (``_check_backward``)."""
        handles: list[Any] = []
        for i, (_, m) in enumerate(self.modules):
            handles.append(m.register_forward_hook(self._fwd_hooks[i]))
            if pausing:
                for p in self._module_params[i]:
                    if p.requires_grad:
                        handles.append(p.register_post_accumulate_grad_hook(self._acc_hooks[i]))
        return handles

    def _forward_hook(self, i: int) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            st = self._st
            if st is None or st.fwd_seen[i]:
                return  # outside a step (evaluation) or a second call: no pause
            st.fwd_seen[i] = True
            t = first_tensor(output)
            if t is not None:
                if st.pause is None:  # fast-forward: checked all at once after forward
                    if t.is_floating_point():
                        st.fwd_out.append((i, min(st.fwd_n + 1, self.n_layers), t.detach()))
                elif not finite(t):
                    self._stop(Phase.FORWARD, i, "output", min(st.fwd_n + 1, self.n_layers))
                if self._relu_like[i] and len(t) > 0:
                    st.active[i] = alive_units(t)
                if self._watching:
                    st.outputs[i] = t.detach().clone()
            # BACKPROP of this module is complete when the gradient at its input
            # is known (the input's hook runs after the module's parameter
            # gradients are accumulated: autograd runs accumulation first). Only
            # intermediate tensors get a hook (they die with the graph); a module
            # fed by data (no grad_fn) waits for its parameters' gradients instead.
            first = inputs[0] if type(inputs) is tuple and inputs else None
            if isinstance(first, torch.Tensor):
                x = first if first.requires_grad and first.grad_fn is not None else None
            else:
                x = next(
                    (a for a in tensors(inputs) if a.requires_grad and a.grad_fn is not None),
                    None,
                )
            if x is not None:
                st.by_input[i] = True
                self._hook_input(st, x, i)
            st.fwd_n = min(st.fwd_n + 1, self.n_layers)
            if st.pause is not None:
                st.pause(Event(Phase.FORWARD, i, st.fwd_n))

        return hook

    def _hook_input(self, st: _StepState, x: torch.Tensor, i: int) -> None:
        """Call module ``i``'s gradient hook when the gradient at its input ``x`` is known.

        Several modules can read the same tensor: a pass-through module (``nn.Identity``,
        a ``forward`` that returns ``x``) outputs its input, which the next module
        reads too. Hooks on one tensor run in the order they were registered, the
        forward order; BACKPROP goes the other way, so one hook per tensor calls its
        modules latest first.
        """
        seen = st.input_hooks.get(id(x))
        if seen is not None and seen[0] is x:
            seen[1].append(i)
            return
        modules = [i]
        st.input_hooks[id(x)] = (x, modules)  # x kept alive: its id stays its own
        hooks = self._grad_hooks

        def hook(g: torch.Tensor) -> None:
            for j in reversed(modules):
                hooks[j](g)

        x.register_hook(hook)

    def _accumulated_hook(self, i: int) -> Callable[[torch.Tensor], None]:
        def hook(p: torch.Tensor) -> None:
            st = self._st
            if st is None or st.bwd_seen[i] or st.by_input[i]:
                return
            st.remaining[i] -= 1
            if st.remaining[i] > 0:
                return
            self._check_params(i)
            self._backward_event(i)

        return hook

    def _grad_hook(self, i: int) -> Callable[[torch.Tensor], None]:
        def hook(g: torch.Tensor) -> None:
            st = self._st
            if st is None or st.bwd_seen[i]:
                return
            if st.pause is None:  # fast-forward: checked all at once after backward
                st.bwd_seen[i] = True
                st.bwd_in.append((i, g.detach()))
                return
            self._check_params(i)
            if not finite(g):
                self._backward_event(i, bad="gradient at its input")
            self._backward_event(i)

        return hook

    def _check_params(self, i: int) -> None:
        for q in self._module_params[i]:
            if q.grad is not None and not finite(q.grad):
                self._backward_event(i, bad="parameter gradient")

    def _backward_event(self, i: int, bad: str = "") -> None:
        st = self._st
        assert st is not None
        st.bwd_seen[i] = True
        idx = self.n_layers + 1 + min(st.bwd_n + 1, self.n_layers)
        if bad:
            self._stop(Phase.BACKWARD, i, bad, idx)
        st.bwd_n += 1
        self._pause(Event(Phase.BACKWARD, i, idx))

    def _stop(self, phase: Phase, layer: int | None, what: str, index: int) -> None:
        name = self.module_names[layer] if layer is not None else ""
        self.rec.nonfinite = TorchNonFinite(self.rec.step, phase, layer, name, what)
        raise _Stop(Event(phase, layer, index, nonfinite=True))

    def _pause(self, ev: Event) -> None:
        st = self._st
        if st is not None and st.pause is not None:
            st.pause(ev)

    # -------------------------------------------------------------- step
    def _remaining(self) -> list[int]:
        """How many parameter gradients each module waits for (those that train now)."""
        return [sum(1 for p in ps if p.requires_grad) for ps in self._module_params]

    def _begin_step(self) -> None:
        changes = self._hp_log.get(self.step)
        if changes:
            self._apply_hyper(changes)
        if self.step % self.keyframe_interval == 0 and self.step not in self.keyframes:
            self.keyframes[self.step] = self._keyframe()
            self._prune_keyframes()
        rec = self.rec = StepRecord(step=self.step, epoch=self.epoch)
        data = self.data
        self._step_batch = (data.batch_number(self.cursor), data.batches_per_epoch())
        x, y, labels, after = data.batch(self.epoch, self.cursor)
        rec.x, rec.y, rec.labels = x, y, labels
        rec.n = int(len(x))
        self._cursor_after = after

    def _body(self, pause: Pause | None) -> Event:
        """One training step; ``pause`` (None when fast-forwarding) is called at every event."""
        rec = self.rec
        self._step_needs = ALL
        st = self._st = _StepState(self.n_layers, self._remaining())
        st.pause = pause
        handles = self._attach(pause is not None)
        try:
            # The model's train/eval modes are the user's (a frozen batch norm stays
            # in eval): the step does not touch them; evaluate() restores each one.
            self.optimizer.zero_grad(set_to_none=True)
            out = self.model(rec.x)
            if pause is None:
                self._check_forward(st)
            loss = self.loss_fn(out, rec.y)
            rec.out = out.detach()
            rec.loss = loss.item()  # a Python float (no detach: one dispatch fewer)
            labels = self._labels(rec.out, rec.y, rec.labels)  # type: ignore[arg-type]
            rec.labels = labels
            if labels is not None:
                rec.correct = self._correct(rec.out, labels)
            if pause is not None:  # single-stepping: which sample contributes most
                rec.per_sample = self._per_sample(rec.out, rec.y)
            n = self.n_layers
            if not math.isfinite(rec.loss):
                self._stop(Phase.LOSS, None, "loss", n + 1)
            self._pause(Event(Phase.LOSS, None, n + 1))
            loss.backward()
            if pause is not None:
                # Modules autograd did not reach through a hook (every parameter
                # frozen and fed by the data, or not used in this forward): their
                # BACKPROP is done too, in reverse order.
                for i in reversed(range(n)):
                    if not st.bwd_seen[i]:
                        self._check_params(i)
                        self._backward_event(i)
            plan = self._plan()
            grad_sq = self._measure_grads(plan)
            if pause is None:
                self._check_backward(st, plan, grad_sq)
            rec.lr = self.current_lr
            self._copy_params(plan)
            self.optimizer.step()
            return self._after_update(plan)
        except _Stop as s:
            return s.ev
        finally:
            for h in handles:
                h.remove()
            self._step_active = st.active
            self._step_outputs = st.outputs
            self._st = None

    def _plan(self) -> _ParamPlan:
        """The optimizer's parameters now (a cached plan while they are the same)."""
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        key = [(id(p), p.shape, p.dtype, p.device) for p in params]
        plan = self._plan_cache
        if plan is None or plan.key != key:
            plan = self._plan_cache = _ParamPlan(self, params, key)
        return plan

    def _copy_params(self, plan: _ParamPlan) -> list[torch.Tensor]:
        """The parameters before the update, in buffers reused from step to step."""
        with torch.no_grad():
            if hasattr(torch, "_foreach_copy_"):
                torch._foreach_copy_(plan.before, plan.params)
            else:  # torch < 2.2
                for b, p in zip(plan.before, plan.params, strict=True):
                    b.copy_(p)
        return plan.before

    def _per_sample(self, out: torch.Tensor, y: Any) -> torch.Tensor | None:
        """Each sample's loss (a copy of the loss with ``reduction="none"``), or None."""
        if getattr(self.loss_fn, "reduction", None) != "mean":
            return None
        each = copy.copy(self.loss_fn)
        each.reduction = "none"  # type: ignore[union-attr]
        try:
            with torch.no_grad():
                v = each(out, y)
        except Exception:  # noqa: BLE001 - a loss that cannot do it: just no per-sample view
            return None
        if v.ndim == 0 or len(v) != len(out):
            return None
        return v.reshape(len(v), -1).mean(dim=1)

    def _measure_grads(self, plan: _ParamPlan) -> list[float]:
        """Squared gradient norm of every parameter (0 without a gradient), and per
        module over its weights (``_grad_sq``), as the optimizer sees it.

        With ``weight_decay`` the optimizer follows ``grad + wd * p`` (the NumPy
        engine's ``dW`` includes ``l2 * W`` the same way), so that is measured.
        One fused norm call for all parameters (``torch._foreach_norm``).
        """
        gs, at = [], []
        k = 0
        with torch.no_grad():
            for g in self.optimizer.param_groups:
                wd = float(g.get("weight_decay", 0.0) or 0.0)
                for p in g["params"]:
                    if p.grad is not None:
                        gs.append(p.grad + wd * p if wd else p.grad)
                        at.append(k)
                    k += 1
        sq = [0.0] * k
        for j, v in zip(at, norms(gs), strict=True):
            sq[j] = v * v
        for i, ws in enumerate(plan.w_pos):
            self._grad_sq[i] = sum(sq[j] for j in ws)
        return sq

    def _check_forward(self, st: _StepState) -> None:
        """Fast-forward: the first module whose output is not finite (one fused norm)."""
        values = norms([t for _, _, t in st.fwd_out])
        for (i, idx, t), v in zip(st.fwd_out, values, strict=True):
            if not math.isfinite(v) and not bool(torch.isfinite(t).all()):
                self._stop(Phase.FORWARD, i, "output", idx)

    def _check_backward(self, st: _StepState, plan: _ParamPlan, sq: list[float]) -> None:
        """Fast-forward: the first module, in backprop order, with a non-finite gradient.

        Modules whose input gradient was hooked come in the order autograd
        reached them; modules fed by the data come last (autograd reaches them last).
        """
        by_module = dict(
            zip((i for i, _ in st.bwd_in), norms([g for _, g in st.bwd_in]), strict=True)
        )
        order = [i for i, _ in st.bwd_in]
        order += [i for i in reversed(range(self.n_layers)) if not st.bwd_seen[i]]
        n = self.n_layers
        for k, i in enumerate(order):
            bad = ""
            for j in plan.t_pos[i]:
                p = plan.params[j]
                if not math.isfinite(sq[j]) and p.grad is not None and not finite(p.grad):
                    bad = "parameter gradient"
                    break
            if not bad and i in by_module and not math.isfinite(by_module[i]):
                g = next(g for j, g in st.bwd_in if j == i)
                if not bool(torch.isfinite(g).all()):
                    bad = "gradient at its input"
            if bad:
                self._stop(Phase.BACKWARD, i, bad, n + 2 + min(k, n - 1))

    def _after_update(self, plan: _ParamPlan) -> Event:
        """The applied update (``deltas``), the weight and update norms of every pause
        module, and a check that no parameter became non-finite: one fused norm call
        over every parameter and the weights' updates."""
        n = self.n_layers
        params = plan.params
        with torch.no_grad():
            deltas = list(torch._foreach_sub(params, plan.before)) if params else []
            w_all = plan.w_all
            both = norms(params + [deltas[k] for k in w_all])
        p_norm = both[: len(params)]
        d_norm = dict(zip(w_all, both[len(params) :], strict=True))
        for i, ws in enumerate(plan.w_pos):
            self._weight_sq[i] = sum(p_norm[k] ** 2 for k in ws)
            self._delta_sq[i] = sum(d_norm[k] ** 2 for k in ws)
        self.deltas = {
            name: d for name, d in zip(plan.names, deltas, strict=True) if name is not None
        }
        # A norm that is not finite: NaN/Inf, or a sum of squares that overflowed (look closer).
        for i, ts in enumerate(plan.t_pos):
            for k in ts:
                if not math.isfinite(p_norm[k]) and not bool(torch.isfinite(params[k]).all()):
                    self._stop(Phase.UPDATE, i, "weights after the update", 2 * n + 2)
        return self._update_event

    def _end_step(self) -> None:
        rec = self.rec
        n = rec.n
        acc = self._acc
        acc["loss_sum"] += rec.loss * n
        acc["count"] += n
        h = self.history
        row = h.steps.new_row()
        if rec.counted:
            acc["correct"] += rec.correct
            accuracy = rec.correct / n if rec.labels is not None else math.nan
        else:  # counted later, before anything reads it (_count_pending)
            self._pending_correct.append((h.steps.n - 1, rec.out, rec.labels, n))
            accuracy = math.nan
        row[:4] = (rec.loss, accuracy, rec.lr, self.epoch)
        L = self.n_layers
        sqrt = math.sqrt
        needs = self._step_needs
        # A metric not recorded at this step is NaN ("no value"; a row reused after
        # a rewind may hold an old one, so it is written either way).
        if not (needs.all or needs.grad or needs.update or needs.dead):
            row[4:] = math.nan
        else:
            if needs.all or needs.grad:
                row[4 : 4 + L] = [sqrt(v) for v in self._grad_sq]
            else:
                row[4 : 4 + L] = math.nan
            if needs.all or needs.update:
                wns = [sqrt(v) for v in self._weight_sq]
                row[4 + L : 4 + 2 * L] = wns
                row[4 + 2 * L : 4 + 3 * L] = [
                    sqrt(d) / wn if wn > 0 else math.inf
                    for d, wn in zip(self._delta_sq, wns, strict=True)
                ]
            else:
                row[4 + L : 4 + 3 * L] = math.nan
            st_active = self._step_active
            acc_active = acc["active"]
            for i in self._relu_idx:
                a = st_active[i]
                if a is not None:
                    prev = acc_active[i]
                    acc_active[i] = a if prev is None else (prev | a)
                    row[4 + 3 * L + i] = 1.0 - int(a.count_nonzero()) / a.numel()
                else:
                    row[4 + 3 * L + i] = math.nan
        self.step += 1
        self.pos = 0
        self.cursor = self._cursor_after
        if self.data.epoch_done(self.cursor):
            self._count_pending()
            self._end_epoch()
        if self.on_step is not None:
            self.on_step(self)

    def _end_epoch(self) -> None:
        acc = self._acc
        row = self.history.epochs.new_row()
        row[0] = acc["loss_sum"] / max(1, acc["count"])
        row[2] = acc["correct"] / max(1, acc["count"]) if self.rec.labels is not None else math.nan
        row[4] = self.step
        if self.val is not None:
            row[1], row[3] = self.evaluate(self.val)
        for i, a in enumerate(acc["active"]):
            if a is not None:
                row[5 + i] = 1.0 - int(a.count_nonzero()) / a.numel()
        self.epoch += 1
        self.cursor = 0
        self._acc = self._new_acc()

    def evaluate(self, data: Any) -> tuple[float, float]:
        """Mean loss and accuracy on ``data`` in eval mode; the random generators are untouched."""
        saved = get_rng()
        modes = [(m, m.training) for m in self.model.modules()]
        self.model.eval()
        total = 0.0
        count = 0
        correct = 0
        have_labels = True
        try:
            with torch.no_grad():
                if isinstance(data, TensorData):
                    batches: Any = [(data.x, data.y, data.labels)]
                else:
                    fast = tensor_batches(data)
                    batches = ((b[0], b[1], None) for b in (data if fast is None else fast))
                for x, y, labels in batches:
                    x = x.to(self.device, self.float_dtype if x.is_floating_point() else x.dtype)
                    y = y.to(self.device, self.float_dtype if y.is_floating_point() else y.dtype)
                    out = self.model(x)
                    k = len(x)
                    total += float(self.loss_fn(out, y)) * k
                    count += k
                    lab = self._labels(out, y, labels)
                    if lab is None:
                        have_labels = False
                    else:
                        correct += int((self._classes(out) == lab).sum())
        finally:
            for m, mode in modes:
                m.training = mode
            set_rng(saved)
        if count == 0:
            return math.nan, math.nan
        return total / count, (correct / count if have_labels else math.nan)

    # ------------------------------------------------------------ events
    def _finish(self, ev: Event) -> Event:
        """Book-keeping after a step's last event (its end or a non-finite stop)."""
        self.last_event = ev
        if ev.nonfinite:
            self.nonfinite = self.rec.nonfinite
            self.pos = ev.index
        else:
            if self._step_needs.all:  # every module's output was checked
                self._last_checked = self.rec.step
            self._end_step()
        return ev

    def _next(self) -> Event | None:
        """One event forward, single-stepping in the worker thread; None when finished or diverged."""
        if self.nonfinite is not None:
            return None
        if self._runner is None:
            if self.epoch >= self.epochs:
                return None
            self._begin_step()
            self._watching = True
            self._runner = StepRunner(self._body)
            msg = self._runner.start()
        else:
            msg = self._runner.resume()
        kind, payload = msg
        if kind == "event":
            ev: Event = payload
            self.last_event = ev
            self.pos = ev.index
            if self.hook is not None and not self._replaying:
                self.hook(self, ev)
            return ev
        self._runner = None
        if kind == "error":
            self._fail(payload)
        if kind == "aborted":  # cannot happen unless user code aborted itself
            raise SessionError("the step was aborted")
        ev = self._finish(payload)
        if self.hook is not None and not self._replaying:
            self.hook(self, ev)
        return ev

    def _fail(self, e: BaseException) -> NoReturn:
        """User code raised mid-step: go back to the step's start, then report it."""
        step = self.rec.step
        self._runner = None
        try:
            self._goto(step * self.E, replay_only=True)
        except Exception:  # the replay itself failed: at least start the step afresh
            self.pos = 0
        raise UserCodeError(f"step {step}: {type(e).__name__}: {e}") from e

    def _abort_step(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            runner.abort()

    # ---------------------------------------------------------- stepping API
    def advance(self, granularity: str = "phase", count: int = 1) -> Event | None:
        """Move forward by ``count`` layers (modules), phases, steps or epochs.

        Returns the last event, None when training has finished; raises
        ``Diverged`` if training had already become non-finite.
        """
        if granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {GRANULARITIES}")
        if self.nonfinite is not None:
            raise Diverged(self.nonfinite)
        ev = None
        ends = self._phase_end_indices()
        for _ in range(count):
            start = self.epoch
            while True:
                ev = self._next()
                if ev is None or ev.nonfinite or granularity == "layer":
                    break
                if granularity == "phase" and self.pos in ends:
                    break
                if granularity == "step" and self.pos == 0:
                    break
                if granularity == "epoch" and self.epoch > start and self.pos == 0:
                    break
            if ev is None or ev.nonfinite:
                break
        return ev

    def _phase_end_indices(self) -> tuple[int, ...]:
        L = self.n_layers
        return (L, L + 1, 2 * L + 1, 0)

    def run(
        self,
        until: Callable[[TorchSession], bool] | None = None,
        *,
        max_steps: int | None = None,
        should_stop: Callable[[], bool] | None = None,
        event_check: Callable[[TorchSession, Event], bool] | None = None,
    ) -> StopReason:
        """Train until ``until`` holds at a step boundary, the end, or a divergence.

        Per-module metrics follow ``metric_schedule`` except what ``until`` and
        ``on_step`` read (``schedule.py``); a run that stops at a step that did
        not record them all (a breakpoint, ``should_stop``) re-runs that step to
        fill its row (``_fill_last_step``).
        """
        was = self._run_needs
        self._run_needs = self._needs(until)
        # Nothing reads a step's accuracy before the run ends (the app's breakpoints
        # and watches unless they name it): count it in batches.
        self._defer_correct = (
            self.hook is None
            and event_check is None
            and not reads_step_accuracy(until, self.on_step, self.module_names)
        )
        try:
            reason = self._run(until, max_steps, should_stop, event_check)
        finally:
            self._run_needs = was
            self._defer_correct = False
            self._count_pending()
        if reason.kind in ("predicate", "cancelled"):
            self._fill_last_step()
        return reason

    def _run(
        self,
        until: Callable[[TorchSession], bool] | None,
        max_steps: int | None,
        should_stop: Callable[[], bool] | None,
        event_check: Callable[[TorchSession, Event], bool] | None,
    ) -> StopReason:
        done = 0
        fast = event_check is None and self.hook is None
        # The step a run stops at records every metric. A caller with should_stop
        # (the app's and the CLI's continue) runs in chunks of max_steps that go
        # on: their ends are not stops (a real one is filled by _fill_last_step).
        chunked = should_stop is not None
        while True:
            if self.nonfinite is not None:
                return StopReason("diverged", self.nonfinite.describe())
            if self.finished:
                return StopReason("finished", f"finished {self.epochs} epochs")
            if fast and self._runner is None:
                self._whole_step(
                    last=not chunked and max_steps is not None and done + 1 >= max_steps
                )
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

    # ------------------------------------------------------------ rewind
    def _keyframe(self) -> TorchKeyframe:
        acc = self._acc
        return TorchKeyframe(
            step=self.step,
            epoch=self.epoch,
            cursor=self.cursor,
            model=clone_tensors(self.model.state_dict()),
            optim=clone_optim_state(self.optimizer.state_dict()),
            rng=get_rng(),
            epoch_rng=getattr(self.data, "epoch_rng", None),
            batch_size=int(self.data.batch_size),
            epochs=self.epochs,
            acc={**acc, "active": [None if a is None else a.clone() for a in acc["active"]]},
            # steps whose accuracy is not counted yet (in neither acc nor their rows)
            pending=tuple(self._pending_correct),
            n_step_rows=self.history.steps.n,
            n_epoch_rows=self.history.epochs.n,
        )

    def _prune_keyframes(self) -> None:
        horizon = self.step - self.history_steps
        kf = self.keyframes
        while len(kf) >= 2:
            it = iter(kf)
            first, second = next(it), next(it)
            if second <= horizon:
                del kf[first]
            else:
                break

    def _load_keyframe(self, kf: TorchKeyframe) -> None:
        self._count_pending()
        with torch.no_grad():
            self.model.load_state_dict(kf.model)
        # A copy: load_state_dict keeps tensors it need not cast, and the
        # optimizer updates its state in place; the keyframe must stay as it was.
        self.optimizer.load_state_dict(clone_state(kf.optim))
        set_rng(kf.rng)
        if isinstance(self.data, LoaderData):
            self.data.epoch_rng = kf.epoch_rng
        self.data.forget_iterator()
        self.data.batch_size = kf.batch_size
        self.epochs = kf.epochs
        self.step, self.epoch, self.cursor = kf.step, kf.epoch, kf.cursor
        self.pos = 0
        self.nonfinite = None
        self.last_event = None
        self._acc = {
            **kf.acc,
            "active": [None if a is None else a.clone() for a in kf.acc["active"]],
        }
        self._pending_correct = list(kf.pending)  # counted into acc at the next count
        self.history.steps.truncate(kf.n_step_rows)
        self.history.epochs.truncate(kf.n_epoch_rows)
        self.rec = StepRecord()
        self._last_checked = min(self._last_checked, kf.step - 1)

    def goto(self, position: int) -> None:
        """Go to any reachable position: forward by running, back by keyframe and replay."""
        self._goto(position)

    def _goto(self, position: int, replay_only: bool = False) -> None:
        self._count_pending()
        position = max(0, position)
        if not replay_only and position >= self.position and self.nonfinite is None:
            self._forward_to(position)
            return
        self._abort_step()
        target_step, target_pos = divmod(position, self.E)
        want = target_step - 1 if (target_pos == 0 and target_step > 0) else target_step
        candidates = [k for k in self.keyframes if k <= want] or [
            k for k in self.keyframes if k <= target_step
        ]
        if not candidates:
            raise SessionError(
                f"step {target_step} is beyond the step-back history "
                f"(oldest reachable step: {min(self.keyframes) if self.keyframes else self.step})"
            )
        steps = self.history.steps
        first_run = steps.data[: steps.n].copy()
        kf = self.keyframes[max(candidates)]
        self._load_keyframe(kf)
        for k in [k for k in self.keyframes if k > self.step]:
            del self.keyframes[k]
        self._forward_to(position)
        self._compare_replay(first_run, kf.n_step_rows)

    def _compare_replay(self, first_run: np.ndarray, start: int) -> None:
        """Did the replay give the same metrics, bit for bit, as the first run?

        On CPU it does. Where it cannot (non-deterministic GPU kernels, a
        random generator the keyframes do not know), ``replay_mismatch`` is
        the first step that differed, so it can be said instead of pretending.
        """
        steps = self.history.steps
        end = min(len(first_run), steps.n)
        if end <= start:
            return
        a, b = first_run[start:end], steps.data[start:end]
        same = (a == b) | (np.isnan(a) & np.isnan(b))
        # A per-module metric recorded in one run and not in the other (its
        # schedule differs: a step a run stopped at) is no difference.
        k = len(STEP_SCALARS)
        gap_a, gap_b = np.isnan(a[:, k:]), np.isnan(b[:, k:])
        same[:, k:] |= gap_a | gap_b
        rows = np.flatnonzero(~same.all(axis=1))
        if len(rows):
            step = start + int(rows[0])
            if self.replay_mismatch is None or step < self.replay_mismatch:
                self.replay_mismatch = step
        else:  # bit-identical: what the first run recorded and the replay did not
            fill = gap_b & ~gap_a
            b[:, k:][fill] = a[:, k:][fill]

    @property
    def replay_note(self) -> str:
        """One line for the screen when step-back replay was not bit-identical, else ''."""
        if self.replay_mismatch is None:
            return ""
        return (
            f"step-back replay differs from the first run from step {self.replay_mismatch} "
            "(non-deterministic kernels or an unrestored random generator): what is shown "
            "after a rewind is a re-run, not the original"
        )

    def _forward_to(self, position: int) -> None:
        was_replaying, self._replaying = self._replaying, True
        was_needs = self._run_needs
        # A replay's rows are compared with the first run's (_compare_replay): counted now.
        was_defer, self._defer_correct = self._defer_correct, False
        if not was_replaying:  # a replay records what the watches read at every step
            self._run_needs = self._needs(None)
        try:
            while self.position < position:
                # Whole steps on this thread; the last one single-stepped so its
                # module outputs are there to be shown.
                if self._runner is None and position - self.position > self.E and self.pos == 0:
                    if self.epoch >= self.epochs:
                        break
                    self._whole_step()
                    if self.nonfinite is not None:
                        break
                    continue
                if self._next() is None or self.nonfinite is not None:
                    break
        finally:
            self._replaying = was_replaying
            self._run_needs = was_needs
            self._defer_correct = was_defer

    def back(self, granularity: str = "phase") -> None:
        """Step back one layer (module), phase or step."""
        self.goto(
            back_target(
                self.position, self.E, self._phase_end_indices(), granularity, self.oldest_position
            )
        )

    # ---------------------------------------------------- hyperparameters
    def hyperparameters(self) -> dict[str, Any]:
        g = self.optimizer.param_groups[0]
        betas = g.get("betas", (math.nan, math.nan))
        return {
            "lr": float(g["lr"]),
            "momentum": float(g.get("momentum", math.nan)),
            "beta1": float(betas[0]),
            "beta2": float(betas[1]),
            "eps": float(g.get("eps", math.nan)),
            "l2": float(g.get("weight_decay", 0.0)),
            "batch_size": int(self.data.batch_size),
            "optimizer": type(self.optimizer).__name__.lower(),
            "epochs": self.epochs,
        }

    def _apply_hyper(self, changes: dict[str, Any]) -> None:
        for k, v in changes.items():
            if k == "batch_size":
                self.data.batch_size = int(v)
                continue
            if k == "epochs":
                self.epochs = int(v)
                continue
            for g in self.optimizer.param_groups:
                if k == "lr":
                    g["lr"] = float(v)
                elif k == "momentum" and "momentum" in g:
                    g["momentum"] = float(v)
                elif k in ("beta1", "beta2") and "betas" in g:
                    b = list(g["betas"])
                    b[0 if k == "beta1" else 1] = float(v)
                    g["betas"] = tuple(b)
                elif k == "eps" and "eps" in g:
                    g["eps"] = float(v)
                elif k == "l2" and "weight_decay" in g and not g.get(NO_DECAY):
                    g["weight_decay"] = float(v)

    def set_hyper(self, **changes: Any) -> int:
        """Change hyperparameters from the next step (every param group); returns that step.

        Allowed: lr, momentum, beta1, beta2, eps, l2 (``weight_decay``),
        batch_size (tensor data only), epochs (applies at once). Changing the
        optimizer itself is not possible: it is the user's object.
        """
        bad = set(changes) - set(HYPER_FIELDS)
        if bad:
            raise ValueError(f"unknown hyperparameter(s): {', '.join(sorted(bad))}")
        if "batch_size" in changes and isinstance(self.data, LoaderData):
            raise ValueError("batch_size belongs to the DataLoader; it cannot change here")
        if "epochs" in changes:
            self.epochs = int(changes.pop("epochs"))
        if not changes:
            return self.step
        at = self.step if self.pos == 0 else self.step + 1
        for k in [k for k in self._hp_log if k > at]:
            del self._hp_log[k]
        for k in [k for k in self.keyframes if k > at]:
            del self.keyframes[k]
        self._hp_log.setdefault(at, {}).update(changes)
        if self.pos == 0:
            self._apply_hyper(changes)
            self.keyframes.pop(at, None)
            if self.nonfinite is not None:
                self.nonfinite = None
        return at

    # ------------------------------------------------------ checkpoints
    def state_arrays(self) -> dict[str, np.ndarray]:
        """The complete state at the current step boundary as plain arrays plus JSON (no pickle)."""
        return state_arrays(self)

    def step_start_state(self) -> dict[str, np.ndarray]:
        """``state_arrays`` of the start of the current step, from any position (by replay)."""
        here = self.position
        if self.pos != 0 or self.nonfinite is not None:
            self._goto(self.step * self.E, replay_only=True)
        try:
            return self.state_arrays()
        finally:
            if self.position != here:
                self.goto(here)

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore what ``state_arrays`` produced; the model and data must be the same."""
        load_state_arrays(self, arrays)

    # ----------------------------------------------------------- inspection
    def layer_view(self, i: int) -> Any:
        """Pause module ``i`` as the app's LayerView (NumPy copies, built when a view asks)."""
        from tui_trainer.torch.views import module_view

        return module_view(self, i)

    def loss_per_sample(self) -> Any:
        """Each sample's loss in the current batch (NumPy), or None (see views.py)."""
        from tui_trainer.torch.views import loss_per_sample

        return loss_per_sample(self)

    def val_predictions(self) -> Any:
        """(true, predicted classes, n_classes) on the validation data, or None (views.py)."""
        from tui_trainer.torch.views import val_predictions

        return val_predictions(self)

    def module_outputs(self) -> dict[str, torch.Tensor]:
        """Outputs of the modules the current (single-stepped) step has run so far."""
        st = self._st
        outs = st.outputs if st is not None else self._step_outputs
        return {self.module_names[i]: t for i, t in enumerate(outs) if t is not None}

    def data_fingerprint(self) -> str:
        h = hashlib.sha256()
        self.data.fingerprint(h)
        return h.hexdigest()[:16]

    def _describe_model(self) -> str:
        return json.dumps(
            {k: list(v.shape) for k, v in self.model.state_dict().items()}, sort_keys=True
        )
