"""The quantities breakpoints and watches can read, taken from a live session.

``batch_loss`` is the loss of the batch just computed (from the LOSS phase on)
or else the last completed step's; ``batch_accuracy`` the last completed
step's; ``train_*`` are the means over the last completed epoch's training
batches and ``val_*`` the validation set's after it. The old names ``loss``
and ``accuracy`` read ``batch_*``, and ``train_*`` in a per-epoch trend (see
``conditions.ALIASES``). Per-layer values from the last completed step, except
at a pause inside a step where gradients of this step are already known.
``epoch`` counts completed epochs and ``step`` completed steps.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from tui_trainer.engine.conditions import DEFAULT_NAMES, canonical_name
from tui_trainer.engine.layer_view import layer_view
from tui_trainer.engine.session import Session

# name -> (per-step column, per-epoch column); None where that history does not exist.
_COLUMNS: dict[str, tuple[str | None, str | None]] = {
    "loss": ("loss", "loss"),
    "accuracy": ("accuracy", "accuracy"),
    "batch_loss": ("loss", None),
    "batch_accuracy": ("accuracy", None),
    "train_loss": (None, "loss"),
    "train_accuracy": (None, "accuracy"),
    "val_loss": (None, "val_loss"),
    "val_accuracy": (None, "val_accuracy"),
}


class SessionContext:
    """``EvalContext`` over a ``Session`` (read only)."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def _layer(self, layer: int) -> int:
        n = self.s.n_layers
        if not -n <= layer < n:
            raise IndexError(f"layer {layer} out of range: the network has {n} layers (0..{n - 1})")
        return layer % n

    def scalar(self, name: str) -> float:
        s = self.s
        h = s.history
        name = canonical_name(name)
        if name == "batch_loss":
            if s.pos > s.n_layers and math.isfinite(s.rec.loss) or s.nonfinite is not None:
                return s.rec.loss
            return h.steps.last("loss")
        if name == "batch_accuracy":
            return h.steps.last("accuracy")
        if name in _COLUMNS:  # train_* and val_*: the last completed epoch
            return h.epochs.last(str(_COLUMNS[name][1]))
        if name == "epoch":
            return float(s.epoch)
        if name == "step":
            return float(s.step)
        if name == "lr":
            return float(s.hyper.lr if hasattr(s, "hyper") else s.current_lr)
        if name == "batch":
            return float(s.batch_in_epoch)
        if name == "nonfinite":
            return 1.0 if s.nonfinite is not None else 0.0
        raise KeyError(name)

    def layer_value(self, name: str, layer: int) -> float:
        i = self._layer(layer)
        if not hasattr(self.s, "net"):  # a torch session: its per-step metric table
            return self._module_value(name, i)
        if name in ("act_mean", "act_std"):
            # computed on demand from the cached activations of the current batch
            a = self.s.net.layers[i].a
            if a is None:
                return math.nan
            return float(a.mean() if name == "act_mean" else a.std())
        ly = self.s.net.layers[i]
        # Inside a step, what this step already computed (gradients right after
        # BACKWARD, the update right after UPDATE) is the value a user sees.
        if name == "grad_norm" and ly.dW_valid and math.isfinite(ly.grad_sq):
            return math.sqrt(ly.grad_sq)
        if name == "weight_norm":
            return float(np.linalg.norm(ly.W))
        if name == "dead_fraction" and ly.z is not None and ly.activation in ("relu", "leaky_relu"):
            return float(np.mean(~(ly.z > 0).any(axis=0)))
        return self.s.history.steps.last(f"{name}[{i}]")

    def _module_value(self, name: str, i: int) -> float:
        """A torch pause module's value: the activations from its LayerView, the rest
        from the last completed step's row (as the NumPy engine between steps)."""
        if name in ("act_mean", "act_std"):
            a = layer_view(self.s, i).output
            if a is None:
                return math.nan
            return float(a.mean() if name == "act_mean" else a.std())
        return self.s.history.steps.last(f"{name}[{i}]")

    def weight(self, name: str, layer: int, index: tuple[int, ...]) -> float:
        if not hasattr(self.s, "net"):
            raise KeyError(
                f"{name}[layer][i,j] reads the NumPy engine's dense layers; "
                "a PyTorch session has no such matrix"
            )
        ly = self.s.net.layers[self._layer(layer)]
        arr = {"W": ly.W, "dW": ly.dW, "b": ly.b, "db": ly.db}[name]
        if len(index) != arr.ndim:
            raise IndexError(f"{name} of layer {layer} needs {arr.ndim} indices")
        for k, (i, n) in enumerate(zip(index, arr.shape, strict=True)):
            if not -n <= i < n:
                raise IndexError(f"index {i} out of range for axis {k} of {name} (size {n})")
        return float(arr[index])

    def series(self, name: str, layer: int | None, per: str) -> Sequence[float]:
        h = self.s.history
        if name in _COLUMNS:
            col = _COLUMNS[name][1 if per == "epochs" else 0]
            if col is None:
                raise KeyError(name)
            table = h.epochs if per == "epochs" else h.steps
            return np.asarray(table.column(col))
        if per == "epochs":
            col = name if layer is None else f"{name}[{self._layer(layer)}]"
            if col not in h.epochs.index:
                if name in ("step", "epoch", "lr"):
                    raise KeyError(name)
                raise KeyError(f"{name} has no per-epoch history")
            return np.asarray(h.epochs.column(col))
        col = name if layer is None else f"{name}[{self._layer(layer)}]"
        if col not in h.steps.index:
            raise KeyError(f"{name} has no per-step history")
        return np.asarray(h.steps.column(col))

    def known_names(self) -> Iterable[str]:
        return DEFAULT_NAMES


class StepBoundaryContext(SessionContext):
    """``SessionContext`` for code that only ever runs at a step boundary.

    Watches are recorded there at every step, so the common leaves get
    closures that read the value straight from where the step left it (the
    metric tables, the weight arrays): the same numbers ``SessionContext``
    gives at a boundary, without its per-call branching.
    """

    def leaf(self, name: str, layer: int | None, index: tuple[int, ...] | None) -> Any:
        """A zero-argument reader for ``name`` (``None``: use the general path)."""
        s = self.s
        if index is not None and layer is not None and name in ("W", "b") and hasattr(s, "net"):
            try:
                ly = s.net.layers[self._layer(layer)]
                arr = getattr(ly, name)
                if len(index) != arr.ndim or not all(
                    -n <= i < n for i, n in zip(index, arr.shape, strict=True)
                ):
                    return None
            except IndexError:
                return None
            return lambda: float(getattr(ly, name)[index])
        col_name = name
        if layer is None and name in ("loss", "accuracy"):
            table = s.history.steps
        elif layer is not None and index is None and name in ("grad_norm", "update_ratio"):
            # what the step just recorded (= the live value at a boundary)
            try:
                col_name = f"{name}[{self._layer(layer)}]"
            except IndexError:
                return None
            table = s.history.steps
        elif layer is None and name in ("val_loss", "val_accuracy"):
            table = s.history.epochs
        else:
            return None
        col = table.index[col_name]
        nan = math.nan

        def read() -> float:
            n = table.n
            return float(table.data[n - 1, col]) if n else nan

        return read
