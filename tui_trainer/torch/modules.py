"""Which modules of a model the debugger pauses after, and what it measures on each."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

RELU_LIKE = (nn.ReLU, nn.LeakyReLU, nn.ReLU6)


def _has_own_params(m: nn.Module) -> bool:
    return any(True for _ in m.parameters(recurse=False))


def pause_modules(
    model: nn.Module, depth: int | None = None, names: Sequence[str] | None = None
) -> list[tuple[str, nn.Module]]:
    """(qualified name, module) of every pause point, in registration order.

    ``names`` picks them explicitly. Otherwise: the model's children,
    recursively down to modules that hold parameters themselves (a
    ``Linear``, a ``Conv2d``, a ``BatchNorm``) or have no children (a
    ``ReLU``, a ``Dropout``); ``depth`` stops the descent (1: the top
    module's children only). A model with no children is one pause point.
    """
    if names is not None:
        out = []
        for n in names:
            try:
                out.append((n, model.get_submodule(n)))
            except AttributeError:
                raise ValueError(f"the model has no module named {n!r}") from None
        if not out:
            raise ValueError("modules= names no module")
        return out
    found: list[tuple[str, nn.Module]] = []

    def walk(prefix: str, mod: nn.Module, level: int) -> None:
        for n, child in mod.named_children():
            q = prefix + n
            stop = depth is not None and level + 1 >= depth
            if stop or _has_own_params(child) or not any(True for _ in child.children()):
                found.append((q, child))
            else:
                walk(q + ".", child, level + 1)

    walk("", model, 0)
    if not found:
        found = [(type(model).__name__, model)]
    return found


def is_relu_like(m: nn.Module) -> bool:
    """A module whose output's positive part says which units are alive."""
    if isinstance(m, RELU_LIKE):
        return True
    if isinstance(m, nn.Sequential) and len(m) > 0:
        return is_relu_like(m[len(m) - 1])
    return False


def trainable(m: nn.Module) -> list[torch.nn.Parameter]:
    return [p for p in m.parameters() if p.requires_grad]


def weight_params(m: nn.Module) -> list[torch.nn.Parameter]:
    """The parameters the norms (grad_norm, weight_norm, update_ratio) are taken over.

    Matrices and kernels (ndim >= 2) when the module has any, as the NumPy
    engine measures ``W`` without ``b``; otherwise all its parameters (a
    BatchNorm's scale and shift).
    """
    ps = trainable(m)
    mats = [p for p in ps if p.ndim >= 2]
    return mats or ps
