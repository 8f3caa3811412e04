"""Small tensor helpers of the torch backend: finding tensors, fused norms, copies."""

from __future__ import annotations

import copy
import math
from typing import Any

import torch


def first_tensor(x: Any) -> torch.Tensor | None:
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, (tuple, list)):
        for v in x:
            t = first_tensor(v)
            if t is not None:
                return t
    if isinstance(x, dict):
        for v in x.values():
            t = first_tensor(v)
            if t is not None:
                return t
    return None


def tensors(x: Any) -> list[torch.Tensor]:
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, (tuple, list)):
        return [t for v in x for t in tensors(v)]
    return []


def clone_state(v: Any) -> Any:
    """A copy of a (optimizer) state dict: tensors cloned, containers rebuilt,
    other values shared (they are immutable). Much cheaper than ``deepcopy``."""
    if isinstance(v, torch.Tensor):
        return v.detach().clone()
    if isinstance(v, dict):
        return {k: clone_state(x) for k, x in v.items()}
    if isinstance(v, list):
        return [clone_state(x) for x in v]
    if isinstance(v, tuple):
        return tuple(clone_state(x) for x in v)
    return copy.copy(v) if isinstance(v, (set, bytearray)) else v


def clone_tensors(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A copy of a (model) state dict of tensors (``state_dict`` gives them detached;
    under ``no_grad`` a clone is one dispatch, not two with ``detach``)."""
    with torch.no_grad():
        return {k: v.clone() for k, v in sd.items()}


def clone_optim_state(sd: dict[str, Any]) -> dict[str, Any]:
    """``clone_state`` of an optimizer's ``state_dict``, with a fast path for its
    per-parameter state (a dict of dicts of tensors and numbers, in every
    ``torch.optim`` optimizer): a keyframe copies it every few steps."""
    state = sd.get("state")
    if not isinstance(state, dict):
        return clone_state(sd)  # type: ignore[no-any-return]
    copied: dict[Any, Any] = {}
    tensor = torch.Tensor
    with torch.no_grad():
        for idx, st in state.items():
            if type(st) is dict:
                copied[idx] = {
                    k: v.clone() if isinstance(v, tensor) else clone_state(v) for k, v in st.items()
                }
            else:
                copied[idx] = clone_state(st)
    return {k: copied if k == "state" else clone_state(v) for k, v in sd.items()}


def norms(ts: list[torch.Tensor]) -> list[float]:
    """2-norms of many tensors with one fused call and one transfer."""
    if not ts:
        return []
    try:
        return torch.stack(torch._foreach_norm(ts)).tolist()
    except RuntimeError:  # mixed dtypes or devices
        return [float(torch.linalg.vector_norm(t)) for t in ts]


def finite(t: torch.Tensor) -> bool:
    if not t.is_floating_point() and not t.is_complex():
        return True
    s = float(t.detach().sum())  # one reduction; a full check only if it overflowed
    return math.isfinite(s) or bool(torch.isfinite(t).all())


def alive_units(t: torch.Tensor) -> torch.Tensor:
    """Which units of a ReLU-like output are positive for some sample of the batch
    (a flat bool tensor): one reduction over the batch, then a compare on one sample's
    worth of values (much cheaper than comparing the whole output first)."""
    a = torch.amax(t.detach(), 0)
    return (a if a.ndim == 1 else a.reshape(-1)) > 0
