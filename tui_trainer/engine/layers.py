"""The dense layer: ``y = act(x @ W + b)`` with ``W`` of shape ``(in, out)``.

Forward caches what backward needs and what the debugger shows (``x``, ``z``,
``a``); backward fills ``dW``, ``db`` and returns ``dx`` but never touches the
parameters: the update is a separate phase (see ``optim.py``), so the
debugger can pause between the gradient and the step it causes.
"""

from __future__ import annotations

import math

import numpy as np

from tui_trainer.engine.activations import Activation, make_activation


class Dense:
    """A fully connected layer with a fused activation."""

    def __init__(
        self,
        W: np.ndarray,
        b: np.ndarray,
        activation: str = "linear",
        leaky_slope: float = 0.01,
    ) -> None:
        self.W = W
        self.b = b
        self.act: Activation = make_activation(activation, leaky_slope)
        self.activation = activation
        self.x: np.ndarray | None = None
        self.z: np.ndarray | None = None
        self.a: np.ndarray | None = None
        self.dz: np.ndarray | None = None
        self.dx: np.ndarray | None = None
        self.dW = np.zeros_like(W)
        self.db = np.zeros_like(b)
        # True when dW/db are views into the network's flat gradient vector:
        # backward then writes into them instead of allocating.
        self.flat_grads = False
        # dW as a 1-D view (set with flat_grads): its squared norm without a reshape
        self.dW_vec: np.ndarray | None = None
        self.dW_valid = False
        self.delta_W = np.zeros_like(W)
        self.delta_b = np.zeros_like(b)
        self.delta_valid = False
        # squared norms computed once per step (metrics and finiteness checks)
        self.grad_sq = math.nan
        self.weight_sq = math.nan
        self.delta_sq = math.nan

    @property
    def n_in(self) -> int:
        return int(self.W.shape[0])

    @property
    def n_out(self) -> int:
        return int(self.W.shape[1])

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Compute and cache ``z = x @ W + b`` and ``a = act(z)``."""
        self.x = x
        self.z = x @ self.W + self.b
        self.a = self.act.forward(self.z)
        return self.a

    def backward(self, da: np.ndarray, l2: float = 0.0, need_dx: bool = True) -> np.ndarray | None:
        """From ``dL/da`` compute ``dW`` (incl. ``l2 * W``), ``db``; return ``dL/dx``.

        Training skips ``dL/dx`` of the first layer (``need_dx=False``): nothing
        below the input needs it, and it is a full matrix product.
        """
        assert self.x is not None and self.z is not None and self.a is not None
        dz = self.act.backward(self.z, self.a, da)
        self.dz = dz
        if self.flat_grads:
            dW = np.matmul(self.x.T, dz, out=self.dW)
            np.add.reduce(dz, axis=0, out=self.db)  # np.sum's wrapper costs more here
        else:
            dW = self.x.T @ dz
            self.dW = dW
            self.db = dz.sum(axis=0)
        if l2:
            dW += l2 * self.W
        self.dW_valid = True
        self.dx = dz @ self.W.T if need_dx else None
        return self.dx

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Forward without caching (validation, decision maps, landscapes)."""
        return self.act.forward(x @ self.W + self.b)

    def clear_cache(self) -> None:
        self.x = self.z = self.a = self.dz = self.dx = None
        self.dW_valid = False
        self.delta_valid = False
