"""Forks of a TorchSession: an independent copy at the same position (what-if, compare).

A fork is a new session on deep copies of the user's model and loss and a new
optimizer of the same class over the copied parameters (same param groups),
started from a checkpoint of the original (``step_start_state``: weights,
buffers, optimizer state, random generators, data cursor, history) and
replayed to the original's position. It shares the training data (read
only) and the original's older keyframes, so it can step back before the
fork point too.

Random generators: a TorchSession draws from the process-wide generators
(dropout, a shuffling DataLoader), which its keyframes save and restore. Two
sessions run in turn would draw from one stream, so a fork keeps its own
generator states and swaps them in only while it moves (``ForkedTorchSession``):
running a fork leaves the generators as the original left them, and a fork
with no change reproduces the original's future bit for bit.

Keeping a fork (``adopt``) loads its state into the original session, so the
user's own model object ends up holding the kept future's weights.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import torch

from tui_trainer.engine.session import SessionError
from tui_trainer.torch.data import LoaderData, get_rng, set_rng
from tui_trainer.torch.session import TorchSession
from tui_trainer.torch.tensors import clone_state

F = TypeVar("F", bound=Callable[..., Any])


def _own_rng(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(self: ForkedTorchSession, *a: Any, **kw: Any) -> Any:
        with self.own_generators():
            return fn(self, *a, **kw)

    return wrapper  # type: ignore[return-value]


class ForkedTorchSession(TorchSession):
    """A TorchSession with random generator states of its own (swapped in while it moves)."""

    _rng: dict[str, Any]
    _rng_depth: int = 0

    @contextmanager
    def own_generators(self) -> Iterator[None]:
        """This fork's generator states while inside; the caller's restored after."""
        if self._rng_depth:
            yield
            return
        outside = get_rng()
        set_rng(self._rng)
        self._rng_depth += 1
        try:
            yield
        finally:
            self._rng_depth -= 1
            self._rng = get_rng()
            set_rng(outside)

    advance = _own_rng(TorchSession.advance)
    run = _own_rng(TorchSession.run)
    goto = _own_rng(TorchSession.goto)
    back = _own_rng(TorchSession.back)
    restart = _own_rng(TorchSession.restart)
    step_start_state = _own_rng(TorchSession.step_start_state)
    load_state_arrays = _own_rng(TorchSession.load_state_arrays)
    evaluate = _own_rng(TorchSession.evaluate)


def _is_sessions(hook: Any, s: TorchSession) -> bool:
    """A hook of the session: a bound method of it or a closure over it."""
    if getattr(hook, "__self__", None) is s:
        return True
    for cell in getattr(hook, "__closure__", None) or ():
        try:
            if cell.cell_contents is s:
                return True
        except ValueError:  # an empty cell
            continue
    return False


def _strip_session_hooks(model: torch.nn.Module, s: TorchSession) -> None:
    """Remove from a deep copy every hook of ``s`` (a step in progress attaches them;
    copied, they would act on the original session). The user's own hooks stay."""
    for m in model.modules():
        for name in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks"):
            hooks = getattr(m, name, None)
            if hooks:
                for k in [k for k, h in hooks.items() if _is_sessions(h, s)]:
                    del hooks[k]
    for p in model.parameters():
        hooks = getattr(p, "_post_accumulate_grad_hooks", None)
        if hooks:
            for k in [k for k, h in hooks.items() if _is_sessions(h, s)]:
                del hooks[k]


def copy_training_objects(
    s: TorchSession,
) -> tuple[torch.nn.Module, Any, torch.optim.Optimizer]:
    """Deep copies of the model and loss, and a new optimizer of the same class over
    the copied parameters (the same param groups and settings; its state is loaded
    from a checkpoint afterwards)."""
    memo: dict[int, Any] = {}
    model = copy.deepcopy(s.model, memo)
    _strip_session_hooks(model, s)
    loss_fn = copy.deepcopy(s.loss_fn, memo)
    opt = s.optimizer
    groups = []
    for g in opt.param_groups:
        params = []
        for p in g["params"]:
            q = memo.get(id(p))
            if q is None:
                raise SessionError(
                    "the optimizer updates a tensor that is neither in the model nor in the "
                    "loss: it cannot be forked"
                )
            params.append(q)
        groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": params})
    try:
        new = type(opt)(groups, **opt.defaults)
    except TypeError:  # a constructor of its own: copy the object, parameters mapped
        new = copy.deepcopy(opt, memo)
    new.load_state_dict(clone_state(opt.state_dict()))
    return model, loss_fn, new


def _train_arg(s: TorchSession) -> tuple[Any, dict[str, Any]]:
    data = s.data
    if isinstance(data, LoaderData):
        return data.loader, {}
    return (data.x, data.y), {"labels": data.labels, "batch_size": int(data.batch_size)}


def fork_torch_session(
    s: TorchSession, *, at_position: bool = True, **changes: Any
) -> ForkedTorchSession:
    """An independent copy of ``s``; at its position (or the start of its step when
    ``at_position`` is False: nothing runs in a worker thread then), with
    ``changes`` (``set_hyper``) from the next step. ``s`` is left where it was.
    The caller holds whatever lock guards ``s``; ``close()`` the fork when done.
    """
    here = s.position
    arrays = s.step_start_state()
    outside = get_rng()
    model, loss_fn, optimizer = copy_training_objects(s)
    train, extra = _train_arg(s)
    names: list[str] | None = list(s.module_names)
    try:
        model.get_submodule(names[0]) if names else None
    except AttributeError:  # the model itself is the one pause point
        names = None
    try:
        fork = ForkedTorchSession(
            model,
            loss_fn,
            optimizer,
            train,
            None,
            epochs=s.epochs,
            seed=s.seed,
            modules=names,
            history_steps=s.history_steps,
            history_bytes=s.history_bytes,
            deterministic=s._prev_deterministic is not None,
            **extra,
        )
    finally:
        set_rng(outside)
    fork._rng = outside
    fork._prev_deterministic = None  # the original owns torch's global setting
    fork.val = s.val
    fork._initial = s._initial  # restart() goes to the real start (read only)
    fork.check_every_module = s.check_every_module
    fork.replay_mismatch = s.replay_mismatch
    fork.load_state_arrays(arrays)
    older = {k: v for k, v in s.keyframes.items() if k < fork.step}
    fork.keyframes = dict(sorted({**older, **fork.keyframes}.items()))
    if at_position and here != fork.position:
        fork.goto(here)
    if changes:
        fork.set_hyper(**changes)
    return fork


def adopt(original: TorchSession, chosen: TorchSession) -> TorchSession:
    """Make ``original`` (the user's model) continue as fork ``chosen`` did; returns it.

    The fork's state is loaded into the original (weights, optimizer state,
    generators, history, hyperparameter log) and replayed to the fork's
    position; the original's keyframes from before the fork are kept.
    """
    if chosen is original:
        return original
    here = chosen.position
    arrays = chosen.step_start_state()
    kept = dict(chosen.keyframes)
    original.load_state_arrays(arrays)
    original.keyframes = dict(sorted({**kept, **original.keyframes}.items()))
    if chosen.replay_mismatch is not None:
        original.replay_mismatch = min(
            chosen.replay_mismatch, original.replay_mismatch or chosen.replay_mismatch
        )
    if here != original.position:
        original.goto(here)
    return original


def compare_runs(s: TorchSession, param: str, values: list[Any]) -> list[Any]:
    """One fork per value, each restarted from the session's initial weights with
    ``param`` set: the same model, data and seed, one hyperparameter apart."""
    from tui_trainer.engine.compare import Run
    from tui_trainer.torch.tools import TorchTools

    allowed = TorchTools().changeable_for(s)
    if param not in allowed:
        raise ValueError(f"can compare only {', '.join(allowed)} on this model, not {param!r}")
    if not 1 <= len(values) <= 4:
        raise ValueError("compare takes one to four values")
    runs: list[Any] = []
    try:
        for v in values:
            f = fork_torch_session(s, at_position=False)
            runs.append(Run(f"{param}={v:g}" if isinstance(v, float) else f"{param}={v}", v, f))
            f.restart()
            f.set_hyper(**{param: v})
    except Exception:
        for r in runs:
            r.session.close()
        raise
    return runs
