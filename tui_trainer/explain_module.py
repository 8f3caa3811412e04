"""Plain-words explanation of the phase that just ran, for a session of modules (PyTorch).

The NumPy engine's explanations (``explain.py``) spell out one weight's
chain rule with the dense layer's cached ``x``, ``z`` and ``a``; a PyTorch
module is the user's code, so this says what is known of any module: where
the step is, the module's output statistics, its gradient and update norms,
the batch loss and which sample of the batch the model gets most wrong.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tui_trainer.engine.layer_view import LayerView, layer_view
from tui_trainer.engine.stepper import Phase
from tui_trainer.safe_text import visible


def _f(x: float) -> str:
    if x is None or math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
        return f"{x:.2e}"
    return f"{x:.4g}"


def _norm(a: np.ndarray | None) -> str:
    if a is None:
        return "-"
    with np.errstate(all="ignore"):
        return _f(float(np.linalg.norm(a)))


def _params_line(v: LayerView, what: dict[str, np.ndarray | None], label: str) -> str:
    if not v.params:
        return f"{visible(v.name)} has no parameters of its own."
    parts = [f"{visible(k)} {_norm(a)}" for k, a in what.items()]
    return f"{label} norms: " + ", ".join(parts) + "."


def _worst_sample(s: Any) -> str:
    """Which sample of the batch contributes most to the loss, and how much."""
    each = s.loss_per_sample() if hasattr(s, "loss_per_sample") else None
    if each is None or not len(each):
        return ""
    with np.errstate(all="ignore"):
        k = int(np.nanargmax(each)) if np.isfinite(each).any() else 0
        total = float(np.nansum(each))
    share = f" ({each[k] / total:.0%} of the batch's total)" if total > 0 else ""
    return (
        f"Per sample: min {_f(float(np.nanmin(each)))}, max {_f(float(each[k]))}; "
        f"sample {k} of the batch contributes most{share}. "
    )


def explain_module(s: Any, selected: int = 0) -> str:
    """What the last event did, with the numbers of the module it concerns."""
    if s.nonfinite is not None:
        return (
            f"NON-FINITE VALUE: {s.nonfinite.describe()}. The step stopped there: no update "
            "was made from it. Step back (N, F) to the step before and look at the module's "
            "output and gradients; a learning rate too large or a log/divide of 0 in the "
            "model are the usual causes. R restarts."
        )
    ev = s.last_event
    if ev is None:
        return (
            f"Ready: a PyTorch model with {s.n_layers} pause modules "
            f"({', '.join(visible(n) for n in s.module_names[:6])}"
            f"{', ...' if s.n_layers > 6 else ''}). Press n to run the forward pass of the "
            "first batch, s to go one module at a time, c to train until a breakpoint or "
            "the end, ? for help."
        )
    if ev.phase is Phase.FORWARD and ev.layer is not None:
        v = layer_view(s, ev.layer)
        text = f"FORWARD: {visible(v.name)} ({v.kind}) ran on the batch."
        if v.output is not None and v.output.size:
            o = v.output
            with np.errstate(all="ignore"):
                text += (
                    f" Its output per sample has {o.shape[1]} values"
                    f"{' ' + str(v.output_shape) if v.output_shape and len(v.output_shape) > 1 else ''}"
                    f": mean {_f(float(o.mean()))}, std {_f(float(o.std()))}, "
                    f"max |.| {_f(float(np.abs(o).max()))}."
                )
                if v.relu_like:
                    dead = float(np.mean(~(o > 0).any(axis=0)))
                    text += f" {dead:.0%} of its units are 0 for every sample of the batch."
        return text
    if ev.phase is Phase.LOSS:
        n = getattr(s.rec, "n", 0)
        return (
            f"LOSS: {type(s.loss_fn).__name__} over the batch of {n} = {_f(s.rec.loss)}. "
            + _worst_sample(s)
            + "Next, BACKPROP computes its gradient module by module, from the last to the first."
        )
    if ev.phase is Phase.BACKWARD and ev.layer is not None:
        v = layer_view(s, ev.layer)
        return (
            f"BACKPROP: the gradients of {visible(v.name)} ({v.kind}) are known. "
            + _params_line(v, v.grads, "Gradient")
        )
    i = min(max(selected, 0), s.n_layers - 1)
    v = layer_view(s, i)
    ratio = s.history.steps.last(f"update_ratio[{i}]")
    hint = ""
    if math.isfinite(ratio) and v.params:
        hint = f" Update ratio |dW|/|W| {_f(ratio)}"
        if ratio > 1e-2:
            hint += " is large (rule of thumb: about 1e-3)."
        elif ratio < 1e-5:
            hint += " is tiny (rule of thumb: about 1e-3)."
        else:
            hint += "."
    return (
        f"UPDATE: {type(s.optimizer).__name__}.step() at lr {_f(s.current_lr)}. "
        f"For {visible(v.name)} ({v.kind}): " + _params_line(v, v.updates, "Update") + hint
    )
