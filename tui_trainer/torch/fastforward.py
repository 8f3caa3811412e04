"""Fast-forward of a TorchSession: whole steps on the calling thread, lean checks,
the metric schedule, and locating a NaN the lean checks saw.

``FastForward`` is a part of ``TorchSession`` (a base class holding these
methods; the state is the session's). Single-stepping (``_body`` in the
worker thread) and the rest of the session are in ``session.py``; see its
docstring for the step, and ``schedule.py`` for which steps record which
metrics.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.modules import module as _torch_module

from tui_trainer.engine.session import SessionError
from tui_trainer.engine.stepper import Event, Phase
from tui_trainer.torch.records import StepRecord, TorchNonFinite, _ParamPlan, _StepState, _Stop
from tui_trainer.torch.schedule import ALL, Needs, run_needs
from tui_trainer.torch.tensors import alive_units, finite, first_tensor, norms

# torch's global module hooks: a model called with any of them set is called as it is.
_GLOBAL_HOOKS = tuple(
    getattr(_torch_module, name, {})
    for name in (
        "_global_forward_hooks",
        "_global_forward_pre_hooks",
        "_global_backward_hooks",
        "_global_backward_pre_hooks",
    )
)


class FastForward:
    """The fast-forward methods of ``TorchSession`` (which provides every attribute)."""

    # The session's attributes these methods use (set in TorchSession.__init__).
    _st: Any
    rec: StepRecord
    _pending_correct: list[tuple[int, Any, Any, int]]
    _defer_correct: bool

    def _attach_lean(self, needs: Needs) -> list[Any]:
        """A lean step's hooks: every module's output at a step that records (and
        checks) everything, else only the ReLU-like modules whose dead fraction is
        read at every step; none at all at most steps."""
        mods = self.modules
        if needs.all:
            return [m.register_forward_hook(self._out_hooks[i]) for i, (_, m) in enumerate(mods)]
        return [mods[i][1].register_forward_hook(self._active_hooks[i]) for i in sorted(needs.dead)]

    def _active_hook(self, i: int) -> Callable[..., None]:
        """Lean fast-forward: only which units of a ReLU-like module are alive (the
        same value ``_forward_hook`` records), no output check, no gradient hook."""

        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            st = self._st
            if st is not None and st.lean:
                self._collect_active(i, output, st)

        return hook

    def _collect_active(self, i: int, output: Any, st: _StepState) -> None:
        """Which units of ReLU-like module ``i`` are alive (its first call only)."""
        if st.fwd_seen[i]:
            return
        st.fwd_seen[i] = True
        t = first_tensor(output)
        if t is not None and len(t) > 0:
            st.active[i] = alive_units(t)

    def _output_hook(self, i: int) -> Callable[..., None]:
        """Lean fast-forward, a scheduled step: the module's output, checked for
        NaN/Inf with the others in one fused norm after forward (a NaN inside the
        model that is finite again before the loss, e.g. ``sigmoid(inf) = 1``)."""

        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            st = self._st
            if st is not None and st.lean:
                self._collect_output(i, output, st)

        return hook

    def _collect_output(self, i: int, output: Any, st: _StepState) -> None:
        """Pause module ``i``'s output at a scheduled step (its first call only)."""
        if st.out_seen[i]:
            return
        st.out_seen[i] = True
        t = first_tensor(output)
        if t is not None and t.is_floating_point():  # checked under no_grad: not detached
            st.fwd_out.append((i, min(len(st.fwd_out) + 1, self.n_layers), t))
        if self._relu_like[i] and t is not None and len(t) > 0:
            st.active[i] = alive_units(t)

    def _flat_sequential(self) -> bool:
        """Is the model a plain ``nn.Sequential`` whose children are the pause
        modules, in order, called as it is (no hooks of its own or global ones, not
        compiled, not traced)? Then ``model(x)`` is exactly its loop over the
        children, which ``_sequential_forward`` runs itself."""
        m = self.model
        if type(m) is not nn.Sequential or getattr(m, "_compiled_call_impl", None) is not None:
            return False
        hooks = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
        if any(getattr(m, h, None) for h in hooks):
            return False
        if any(_GLOBAL_HOOKS) or torch._C._get_tracing_state():
            return False
        children = list(m._modules.values())
        mods = self.modules
        return len(children) == len(mods) and all(
            c is p for c, (_, p) in zip(children, mods, strict=True)
        )

    def _sequential_forward(self, x: Any, st: _StepState) -> Any:
        """``nn.Sequential.forward`` (each child called, its own hooks included),
        reading each child's output as it comes: a scheduled step's outputs, or the
        alive units of the modules whose dead fraction is read at every step,
        without a hook on every module (the hooks' calls are half of a scheduled
        step's cost)."""
        needs = self._step_needs
        dead = needs.dead
        for i, (_, m) in enumerate(self.modules):
            x = m(x)
            if needs.all:
                self._collect_output(i, x, st)
            elif i in dead:
                self._collect_active(i, x, st)
        return x

    def _lean_body(self, needs: Needs) -> Event | None:
        """Fast-forward one step with the cheapest checks that still see, at the
        latest at the next step that records everything, every NaN/Inf that
        reaches the loss, a parameter gradient, the parameters or a module's output.

        A step that records every metric (``needs.all``: a scheduled step, the
        last of an epoch or of a run) checks every module's output after forward
        (one fused norm; a NaN inside the model that is finite again before the
        loss, as ``sigmoid(inf) = 1``), the loss, the fused gradient norms (which
        the metrics need anyway) after backward and the parameter norms after the
        update. Any other step records what ``needs`` asks (what breakpoints and
        watches read) and checks the loss: a NaN that reached the parameters
        reaches the next step's loss. Hooks only on the modules measured at this
        step, none on tensors. Returns None when a check fails (``_lean_bad`` says
        which); ``_locate`` then names the first module, phase and step by
        re-running with the per-module checks. Metrics are computed by the same
        code as in ``_body``, so the rows are bit-identical to a single-stepped
        step's where they have a value.
        """
        rec = self.rec
        full = needs.all
        self._step_needs = needs
        hooked = full or bool(needs.dead)
        st = self._st = _StepState(self.n_layers, []) if hooked else None
        handles: list[Any] = []
        flat = False
        if st is not None:
            st.lean = True
            flat = self._flat_sequential()
            if not flat:
                handles = self._attach_lean(needs)
        if full and self._last_checked == rec.step - 1:
            # What forward changes besides the graph (dropout's generator, batch
            # norm's statistics): kept so that a NaN can be located by re-running
            # this step in place, which _locate does only when the step before was
            # checked too. (NumPy's and Python's generators cost 45 us a step to
            # save; a model that draws from them in forward is located by the
            # keyframe replay instead, as is a NaN seen at an unscheduled step.)
            self._save_step_start()
            self._lean_saved = rec.step
        try:
            self.optimizer.zero_grad(set_to_none=True)
            out = self._sequential_forward(rec.x, st) if flat else self.model(rec.x)  # type: ignore[arg-type]
            if st is not None and full and not self._lean_outputs(st):
                return None
            loss = self.loss_fn(out, rec.y)
            rec.out = out.detach()
            rec.loss = loss.item()  # a Python float (no detach: one dispatch fewer)
            labels = self._labels(rec.out, rec.y, rec.labels)  # type: ignore[arg-type]
            rec.labels = labels
            if labels is not None:
                out = rec.out
                if (
                    self._defer_correct
                    and out.ndim == 2
                    and labels.ndim == 1
                    and len(labels) == len(out)
                    and not self._bce
                ):
                    rec.counted = False  # counted with the next steps' (_count_pending)
                else:
                    rec.correct = self._correct(rec.out, labels)
            if not math.isfinite(rec.loss):
                self._lean_bad = TorchNonFinite(rec.step, Phase.LOSS, None, "", "loss")
                return None
            loss.backward()
            rec.lr = self.current_lr
            if full or needs.grad or needs.update:
                plan = self._plan()
                if (full or needs.grad) and not self._lean_grads(plan):
                    return None
                if full or needs.update:
                    self._copy_params(plan)
                    self.optimizer.step()
                    return self._after_update(plan)
            self.optimizer.step()
            self.deltas = {}
            return self._update_event
        except _Stop as s:  # the weights after the update: named already, as _body would
            return s.ev
        finally:
            for h in handles:
                h.remove()
            self._step_active = st.active if st is not None else self._no_outputs
            self._step_outputs = self._no_outputs
            self._st = None

    def _count_pending(self) -> None:
        """Count the correct samples of the steps whose count was deferred: their
        accuracy column and the epoch's sum, exactly as counted at each step.

        A run whose predicate and observer do not read a step's accuracy
        (``schedule.reads_step_accuracy``; no hook) defers the train accuracy: one argmax and compare over the logits of many
        steps cost what a single step's four torch dispatches did. Counted before
        anything reads the count: the epoch's end, a rewind, a checkpoint and the
        end of the run (``run``'s ``finally``); a keyframe holds the steps not
        counted yet (``TorchKeyframe.pending``), counted after it is loaded.
        """
        pend = self._pending_correct
        if not pend:
            return
        self._pending_correct = []
        data = self.history.steps.data
        i = 0
        while i < len(pend):
            shape = pend[i][1].shape
            j = i + 1
            while j < len(pend) and pend[j][1].shape == shape:
                j += 1
            group = pend[i:j]
            with torch.no_grad():
                outs = torch.cat([p[1] for p in group])
                hits = torch.eq(outs.argmax(1), torch.cat([p[2] for p in group]))
                counts = hits.view(j - i, -1).count_nonzero(1).tolist()
            # int / int rounds as Python's c / n does
            data[[p[0] for p in group], 1] = np.divide(counts, [p[3] for p in group])
            self._acc["correct"] += sum(counts)
            i = j
        if pend[-1][1] is self.rec.out:  # the current step's own count
            self.rec.correct, self.rec.counted = counts[-1], True

    def _lean_outputs(self, st: _StepState) -> bool:
        """Every module's output finite (one fused norm); else ``_lean_bad`` names the first."""
        with torch.no_grad():
            values = norms([t for _, _, t in st.fwd_out])
        for (i, _, t), v in zip(st.fwd_out, values, strict=True):
            if not math.isfinite(v) and not bool(torch.isfinite(t).all()):
                name = self.module_names[i]
                self._lean_bad = TorchNonFinite(self.rec.step, Phase.FORWARD, i, name, "output")
                return False
        return True

    def _lean_grads(self, plan: _ParamPlan) -> bool:
        """The gradient norms (``_grad_sq``) and their check; False names the module."""
        grad_sq = self._measure_grads(plan)
        for i in reversed(range(self.n_layers)):
            for j in plan.t_pos[i]:
                p = plan.params[j]
                if not math.isfinite(grad_sq[j]) and p.grad is not None and not finite(p.grad):
                    self._lean_bad = TorchNonFinite(
                        self.rec.step, Phase.BACKWARD, i, self.module_names[i], "parameter gradient"
                    )
                    return False
        return True

    def _save_step_start(self) -> None:
        bufs = list(self.model.buffers())
        saved = self._lean_buffers
        if len(saved) != len(bufs) or any(
            b.shape != v.shape or b.dtype != v.dtype for b, v in zip(bufs, saved, strict=True)
        ):
            saved = self._lean_buffers = [torch.empty_like(b) for b in bufs]
        if bufs:
            with torch.no_grad():
                torch._foreach_copy_(saved, [b.detach() for b in bufs])
        cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
        self._lean_start = (
            torch.get_rng_state(),
            torch.cuda.get_rng_state_all() if cuda else None,
            bufs,
        )

    def _restore_step_start(self) -> bool:
        """Buffers and torch's generators as the step began; False if the model's
        buffers are not the same tensors any more."""
        rng, cuda, bufs = self._lean_start
        now = list(self.model.buffers())
        if len(now) != len(bufs) or any(a is not b for a, b in zip(now, bufs, strict=True)):
            return False
        with torch.no_grad():
            for b, v in zip(now, self._lean_buffers, strict=True):
                b.copy_(v)
        torch.set_rng_state(rng)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        return True

    def _locate(self, step: int) -> Event:
        """A lean check saw a NaN/Inf at ``step``: find the first module, phase and step
        that produced it, with every per-module check on (forward outputs, input and
        parameter gradients, weights after the update), and stop there as
        single-stepping would.

        When ``step`` checks everything and the step before it was checked too, the
        NaN is this step's: it is re-run where it stands (the same batch, torch's
        random generator and the module buffers put back as the step began; no
        update was made). Otherwise, or if that does not reproduce it, every step
        since the last fully checked one is replayed from a keyframe with every
        check (a NaN in the weights from an unchecked step shows in a later loss).
        If nothing reproduces it (state no keyframe holds), the session goes back to
        the start of ``step``, reports what the lean check saw, and
        ``replay_mismatch`` says the re-run differed.
        """
        seen = self._lean_bad
        self._lean_bad = None
        in_place = self._lean_saved == step and self._last_checked == step - 1
        self._lean_saved = -1
        if in_place and self._restore_step_start():
            old = self.rec
            self.rec = StepRecord(
                step=old.step, epoch=old.epoch, x=old.x, y=old.y, labels=old.labels, n=old.n
            )
            self._watching = False
            try:
                ev = self._body(None)
            except Exception as e:
                self._fail(e)
            if ev.nonfinite:
                return self._finish(ev)
        found = self._replay_checking(min(self._last_checked + 1, step), step)
        if found is not None:
            return found
        self._goto(step * self.E, replay_only=True)
        if self.replay_mismatch is None or step < self.replay_mismatch:
            self.replay_mismatch = step
        n = self.n_layers
        index = {Phase.LOSS: n + 1, Phase.BACKWARD: 2 * n + 1, Phase.UPDATE: 2 * n + 2}
        self.rec = StepRecord(step=step, epoch=self.epoch, nonfinite=seen)
        return self._finish(Event(seen.phase, seen.layer, index.get(seen.phase, n), nonfinite=True))

    def _replay_checking(self, first: int, last: int) -> Event | None:
        """Replay steps ``first``..``last`` with every module checked (from the nearest
        keyframe at or before ``first``); the first non-finite event, or None."""
        ks = [k for k in self.keyframes if k <= first] or [k for k in self.keyframes if k <= last]
        if not ks:
            return None
        self._goto(max(ks) * self.E, replay_only=True)
        was, self.check_every_module = self.check_every_module, True
        try:
            while self.step <= last and self.epoch < self.epochs:
                ev = self._whole_step()
                if ev.nonfinite:
                    return ev
        finally:
            self.check_every_module = was
        return None

    def _whole_step(self, last: bool = False) -> Event:
        """Fast-forward one step on this thread (lean checks unless ``check_every_module``).

        Every metric is recorded at a scheduled step, the last step of an epoch and
        a step the caller says is its ``last``; at the others, what the run needs
        at every step (``_run_needs``).
        """
        self._begin_step()
        self._watching = False
        step = self.step
        sched = self.metric_schedule
        full = (
            sched is None
            or last
            or self._run_needs.all
            or sched.due(step)
            or self.data.epoch_done(self._cursor_after)
        )
        try:
            if self.check_every_module:
                ev: Event | None = self._body(None)
            else:
                ev = self._lean_body(ALL if full else self._run_needs)
        except Exception as e:
            self._fail(e)
        if ev is None:
            return self._locate(step)
        return self._finish(ev)

    def _needs(self, until: Callable[..., Any] | None) -> Needs:
        """What a run or replay records at every step (everything without a schedule).

        For a predicate or observer that may read anything: every metric at every
        step, with the per-module output checks still on the schedule (as cheap as
        the lean fast-forward before the schedule).
        """
        if self.metric_schedule is None:
            return ALL
        needs = run_needs(until, self.on_step, self.n_layers, self.module_names)
        if needs.all:
            return Needs(False, True, True, frozenset(self._relu_idx))
        return needs

    def _records_every_metric(self, needs: Needs) -> bool:
        return needs.all or (needs.grad and needs.update and needs.dead >= set(self._relu_idx))

    def _fill_last_step(self) -> None:
        """The step a run stopped at, if it did not record every metric: replayed
        from its keyframe and re-run with all of them (on CPU, where the replay is
        bit-identical; elsewhere its row keeps the gaps)."""
        k = self.step - 1
        if (
            k < 0
            or self.pos != 0
            or self.nonfinite is not None
            or self._runner is not None
            or self._records_every_metric(self._step_needs)
            or self.device.type != "cpu"
            or self.history.steps.n != k + 1
        ):
            return
        first = self.history.steps.data[k].copy()
        try:
            self._goto(k * self.E, replay_only=True)
        except SessionError:  # beyond the step-back history: nothing was changed
            return
        self._run_needs, was = self._needs(None), self._run_needs
        try:
            self._whole_step(last=True)
        finally:
            self._run_needs = was
        again = self.history.steps.data[k]
        if not bool(((first == again) | np.isnan(first)).all()):
            if self.replay_mismatch is None or k < self.replay_mismatch:
                self.replay_mismatch = k
