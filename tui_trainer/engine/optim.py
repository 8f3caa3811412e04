"""Optimizers, following PyTorch's documented update rules.

* ``sgd``:      ``p -= lr * g``
* ``momentum``: ``v = mu * v + g; p -= lr * v`` (``torch.optim.SGD`` with
  ``momentum=mu``, no dampening, no Nesterov)
* ``adam``:     ``m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
  p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)`` (``torch.optim.Adam``)

``g`` already contains the L2 term ``l2 * W`` (added in the backward phase),
which is how PyTorch's ``weight_decay`` works for SGD and Adam.

The optimizer only *computes* the update ``delta`` (so the debugger can show
it before and after it is applied); ``Network.apply`` adds it.
Hyperparameters are read on every call, so they can change between steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Hyper:
    """The hyperparameters an optimizer reads at every step (mutable)."""

    lr: float = 0.03
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8


class Optimizer:
    """Keeps per-parameter state; ``deltas`` returns the update to add."""

    name = "sgd"
    formula = "w <- w - lr * g"

    def __init__(self, shapes: list[tuple[int, ...]], dtype: np.dtype) -> None:
        self.t = 0
        self.state: dict[str, list[np.ndarray]] = {}

    def deltas(
        self, grads: list[np.ndarray], h: Hyper, out: list[np.ndarray] | None = None
    ) -> list[np.ndarray]:
        """The updates to add to the parameters, written into ``out`` if given."""
        self.t += 1
        lr = h.lr
        return [np.multiply(g, -lr, out=o) for g, o in _with_out(grads, out)]

    def flat_delta(self, grad: np.ndarray, h: Hyper, out: np.ndarray) -> np.ndarray:
        """``deltas`` for one flat gradient vector (the whole network), into ``out``."""
        return self.deltas([grad], h, out=[out])[0]

    # -- checkpointing -------------------------------------------------
    def get_state(self) -> dict[str, np.ndarray]:
        out = {"t": np.array(self.t, dtype=np.int64)}
        for key, arrs in self.state.items():
            for i, a in enumerate(arrs):
                out[f"{key}{i}"] = a.copy()
        return out

    def set_state(self, st: dict[str, np.ndarray]) -> None:
        self.t = int(st["t"])
        for key, arrs in self.state.items():
            for i, a in enumerate(arrs):
                a[...] = st[f"{key}{i}"]


class SGD(Optimizer):
    name = "sgd"

    def flat_delta(self, grad: np.ndarray, h: Hyper, out: np.ndarray) -> np.ndarray:
        self.t += 1
        return np.multiply(grad, -h.lr, out=out)


class Momentum(Optimizer):
    name = "momentum"
    formula = "v <- mu*v + g ; w <- w - lr * v"

    def __init__(self, shapes: list[tuple[int, ...]], dtype: np.dtype) -> None:
        super().__init__(shapes, dtype)
        self.state = {"v": [np.zeros(s, dtype=dtype) for s in shapes]}

    def deltas(
        self, grads: list[np.ndarray], h: Hyper, out: list[np.ndarray] | None = None
    ) -> list[np.ndarray]:
        self.t += 1
        mu, lr = h.momentum, h.lr
        result = []
        for v, (g, o) in zip(self.state["v"], _with_out(grads, out), strict=True):
            v *= mu
            v += g
            result.append(np.multiply(v, -lr, out=o))
        return result


class Adam(Optimizer):
    name = "adam"
    formula = "w <- w - lr * m_hat / (sqrt(v_hat) + eps)"

    def __init__(self, shapes: list[tuple[int, ...]], dtype: np.dtype) -> None:
        super().__init__(shapes, dtype)
        self.state = {
            "m": [np.zeros(s, dtype=dtype) for s in shapes],
            "v": [np.zeros(s, dtype=dtype) for s in shapes],
        }

    def deltas(
        self, grads: list[np.ndarray], h: Hyper, out: list[np.ndarray] | None = None
    ) -> list[np.ndarray]:
        self.t += 1
        b1, b2, eps, lr = h.beta1, h.beta2, h.eps, h.lr
        bc1 = 1.0 - b1**self.t
        bc2 = 1.0 - b2**self.t
        step_size = lr / bc1
        sqrt_bc2 = math.sqrt(bc2)
        result = []
        for m, v, (g, o) in zip(
            self.state["m"], self.state["v"], _with_out(grads, out), strict=True
        ):
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * (g * g)
            denom = np.sqrt(v)
            denom /= sqrt_bc2
            denom += eps
            d = np.divide(m, denom, out=o)
            d *= -step_size
            result.append(d)
        return result


def _with_out(
    grads: list[np.ndarray], out: list[np.ndarray] | None
) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Pairs (gradient, output array or None for a new one)."""
    if out is None:
        return [(g, None) for g in grads]
    return list(zip(grads, out, strict=True))


def make_optimizer(name: str, shapes: list[tuple[int, ...]], dtype: np.dtype) -> Optimizer:
    if name == "sgd":
        return SGD(shapes, dtype)
    if name == "momentum":
        return Momentum(shapes, dtype)
    if name == "adam":
        return Adam(shapes, dtype)
    raise ValueError(f"unknown optimizer {name!r}")
