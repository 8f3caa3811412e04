"""A TorchSession's pause modules as the app's LayerViews (``engine/layer_view.py``).

Built when a view asks (a key press, a redraw at most a few times a second),
never on the training path: the tensors become NumPy arrays here (views of
CPU tensors, no copy; copies from a GPU), once per redraw, while the step's
worker thread is paused or between steps (the app holds its lock while a run
trains), so nothing reads a tensor the step is writing. One redraw of the
network and matrix panels cost about 0.3x one training step of either example.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from tui_trainer.engine.layer_view import LayerView
from tui_trainer.engine.stepper import Phase
from tui_trainer.torch.data import TensorData, get_rng, set_rng


def _np(t: torch.Tensor) -> np.ndarray:
    a = t.detach()
    if a.dtype in (torch.bfloat16, torch.float16):
        a = a.float()
    return np.asarray(a.cpu().numpy())


def module_kind(m: nn.Module) -> str:
    """A short description: ``Linear 64->10``, ``Conv2d 1->8 k3x3``, ``BatchNorm1d 32``, ``ReLU``."""
    name = type(m).__name__
    if isinstance(m, nn.Linear):
        return f"{name} {m.in_features}->{m.out_features}"
    if isinstance(m, nn.modules.conv._ConvNd):
        k = "x".join(str(v) for v in m.kernel_size)
        return f"{name} {m.in_channels}->{m.out_channels} k{k}"
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        return f"{name} {m.num_features}"
    if isinstance(m, nn.Sequential) and len(m) > 0:
        return "+".join(module_kind(c).split(" ")[0] for c in m)[:40]
    return name


def _updates_valid(s: Any) -> bool:
    """The parameter updates on record are this step's (just after UPDATE)."""
    ev = s.last_event
    return ev is not None and ev.phase is Phase.UPDATE and s.nonfinite is None and s.pos == 0


def module_view(s: Any, i: int) -> LayerView:
    """Pause module ``i`` of ``s``: its own named parameters, their gradients and updates,
    its output on the current batch (when this step single-stepped past it)."""
    name, m = s.modules[i]
    params: dict[str, np.ndarray] = {}
    grads: dict[str, np.ndarray | None] = {}
    updates: dict[str, np.ndarray | None] = {}
    fresh = _updates_valid(s)
    prefix = "" if m is s.model else name + "."
    for pname, p in m.named_parameters():
        params[pname] = _np(p)
        grads[pname] = _np(p.grad) if p.grad is not None else None
        d = s.deltas.get(prefix + pname) if fresh else None
        updates[pname] = _np(d) if d is not None else None
    out = s.module_outputs().get(name)
    output = None
    shape = None
    if out is not None and out.ndim >= 1:
        shape = tuple(int(v) for v in out.shape[1:])
        output = _np(out.reshape(len(out), -1)) if out.ndim >= 2 else _np(out.reshape(-1, 1))
    return LayerView(
        name=name,
        kind=module_kind(m),
        params=params,
        grads=grads,
        updates=updates,
        output=output,
        output_shape=shape,
        relu_like=bool(s._relu_like[i]),
        frozen=tuple(k for k, p in m.named_parameters() if not p.requires_grad),
    )


def loss_per_sample(s: Any) -> np.ndarray | None:
    """The loss of each sample of the current batch as NumPy: what the session
    recorded while single-stepping (``rec.per_sample``), or None."""
    v = getattr(s.rec, "per_sample", None)
    return None if v is None else _np(v)


def val_predictions(s: Any) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(true classes, predicted classes, number of classes) on the validation data,
    in eval mode, the random generators untouched; None for regression, without
    validation data, or inside a step (the step's hooks are on the model, a
    forward pass now would run into them). Cached per completed step."""
    if s.val is None or s.pos != 0 or s._runner is not None or s._st is not None:
        return None
    cache = s.__dict__.get("_tui_val_predictions")
    if cache is not None and cache[0] == s.step:
        return cache[1]  # type: ignore[no-any-return]
    result = _predict(s)
    s.__dict__["_tui_val_predictions"] = (s.step, result)
    return result


def _predict(s: Any) -> tuple[np.ndarray, np.ndarray, int] | None:
    saved = get_rng()
    was_training = s.model.training
    s.model.eval()
    trues: list[torch.Tensor] = []
    preds: list[torch.Tensor] = []
    n_classes = 0
    try:
        with torch.no_grad():
            if isinstance(s.val, TensorData):
                batches: Any = [(s.val.x, s.val.y, s.val.labels)]
            else:
                batches = ((b[0], b[1], None) for b in s.val)
            for x, y, labels in batches:
                x = x.to(s.device, s.float_dtype if x.is_floating_point() else x.dtype)
                y = y.to(s.device, s.float_dtype if y.is_floating_point() else y.dtype)
                out = s.model(x)
                lab = s._labels(out, y, labels)
                if lab is None:
                    return None
                flat = out.reshape(len(out), -1)
                n_classes = max(n_classes, 2 if flat.shape[1] == 1 else int(flat.shape[1]))
                trues.append(lab.reshape(-1).cpu())
                preds.append(s._classes(out).reshape(-1).cpu())
    except Exception:  # noqa: BLE001 - the user's data or model: no picture, no crash
        return None
    finally:
        s.model.train(was_training)
        set_rng(saved)
    if not trues:
        return None
    return torch.cat(trues).numpy(), torch.cat(preds).numpy(), n_classes
