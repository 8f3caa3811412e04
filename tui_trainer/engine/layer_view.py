"""What the app shows of one layer, whatever the backend: a module with named tensors.

The NumPy engine has dense layers (``W``, ``b``, ``z``, ``a``); a PyTorch
model has modules with any parameters (``features.3.weight`` of shape
``(16, 8, 3, 3)``, a BatchNorm's ``weight`` and ``bias``, none at all for a
``ReLU``). The views that are not specific to dense layers read this one
shape instead::

    LayerView(name="features.3", kind="Conv2d 8->16 k3x3",
              params={"weight": (16,8,3,3) array, "bias": (16,)},
              grads={...} or None per tensor, updates={...},
              output=(batch, features) array or None)

Both backends build it *lazily*, for the views only (never per training
step): ``numpy_layer_view`` wraps the arrays a dense layer already holds (no
copy); the torch backend turns the module's tensors into NumPy arrays when a
view asks (``tui_trainer/torch/views.py``: views of CPU tensors, copies from a
GPU). No torch import here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class LayerView:
    """One layer (NumPy) or pause module (torch) as named NumPy arrays.

    ``grads[name]`` / ``updates[name]`` are None until this step computed
    them (after BACKPROP / UPDATE of the step on screen). ``output`` is the
    module's output on the current batch flattened to (batch, features), None
    until FORWARD reached it.
    """

    name: str
    kind: str
    params: dict[str, np.ndarray] = field(default_factory=dict)
    grads: dict[str, np.ndarray | None] = field(default_factory=dict)
    updates: dict[str, np.ndarray | None] = field(default_factory=dict)
    output: np.ndarray | None = None
    output_shape: tuple[int, ...] | None = None  # per sample, before flattening
    relu_like: bool = False
    frozen: tuple[str, ...] = ()  # parameters that get no gradient (requires_grad=False)

    @property
    def main(self) -> str | None:
        """The parameter the heatmap shows first: ``weight``/``W`` or the largest."""
        for k in ("W", "weight"):
            if k in self.params:
                return k
        if not self.params:
            return None
        return max(self.params, key=lambda k: self.params[k].size)

    def n_params(self) -> int:
        return int(sum(a.size for a in self.params.values()))


def as_matrix(a: np.ndarray) -> np.ndarray:
    """A 2-D picture of any tensor, rows x columns as the heatmap draws them.

    2-D ``(out, in)`` (a torch ``Linear.weight``) is shown as ``(in, out)``,
    the NumPy engine's orientation; a kernel ``(out, in, k, k)`` as
    ``(in*k*k, out)``: one column per output channel; a vector as one row;
    a scalar as 1x1.
    """
    a = np.asarray(a)
    if a.ndim == 0:
        return a.reshape(1, 1)
    if a.ndim == 1:
        return a.reshape(1, -1)
    return a.reshape(a.shape[0], -1).T


def describe_shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(int(n)) for n in shape) if shape else "scalar"


def layer_name(s: Any, i: int) -> str:
    """``L3`` for the NumPy engine's layer 2, the qualified module name in torch."""
    names = getattr(s, "module_names", None)
    if names is not None and 0 <= i < len(names):
        return str(names[i])
    return f"L{i + 1}"


def is_dense(s: Any) -> bool:
    """Whether ``s`` is the NumPy engine's session (dense layers, every tool)."""
    return hasattr(s, "net") and hasattr(s, "cfg")


def numpy_layer_view(s: Any, i: int) -> LayerView:
    """The NumPy engine's dense layer ``i`` as a LayerView (the arrays themselves, no copy)."""
    ly = s.net.layers[i]
    return LayerView(
        name=f"L{i + 1}",
        kind=f"{ly.n_in}x{ly.n_out} {ly.activation}",
        params={"W": ly.W, "b": ly.b},
        grads={"W": ly.dW if ly.dW_valid else None, "b": ly.db if ly.dW_valid else None},
        updates={
            "W": ly.delta_W if ly.delta_valid else None,
            "b": ly.delta_b if ly.delta_valid else None,
        },
        output=ly.a,
        output_shape=(ly.n_out,),
        relu_like=ly.activation in ("relu", "leaky_relu"),
    )


def layer_view(s: Any, i: int) -> LayerView:
    """Layer ``i`` of either backend's session as a LayerView."""
    if is_dense(s):
        return numpy_layer_view(s, i)
    return s.layer_view(i)  # type: ignore[no-any-return]


_MODULE_INDEX = re.compile(r"\[\s*([\"'])(.*?)\1\s*\]")


def resolve_module_names(text: str, names: list[str] | None) -> str:
    """``grad_norm["features.0"]`` -> ``grad_norm[0]``: a module's qualified name in a
    breakpoint or watch becomes its pause index (the conditions language indexes
    layers by number). Raises ValueError naming the modules when a name is unknown;
    text without quoted indices is returned as it is."""
    if names is None or "[" not in text:
        return text

    def index(m: re.Match[str]) -> str:
        name = m.group(2)
        if name not in names:
            shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
            raise ValueError(f"no pause module named {name!r}; the modules are {shown}")
        return f"[{names.index(name)}]"

    return _MODULE_INDEX.sub(index, text)
