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

_add_reduce = np.add.reduce
_ones: dict[int, np.ndarray] = {}


def batch_sum(a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Sum over the batch (axis 0) of a 2-D array: fast, and accurate in float32.

    NumPy's ``sum(axis=0)`` of a C-ordered array adds row by row with one
    inner loop per row: on a batch of 200 it costs 25x a BLAS product with a
    ones vector (measured in bench/engine.py's rows), which float64 uses. In
    float32 both round at every row (errors of 10 to 700 ulps, up to 10x
    PyTorch's on a bias gradient, issue 15), so below float64 the sum is
    accumulated in float64 and rounded once (within half an ulp).
    """
    if a.dtype != np.float64 or a.ndim != 2:
        s = _add_reduce(a, 0, np.float64)
        if out is None:
            return s.astype(a.dtype)
        out[...] = s
        return out
    n = a.shape[0]
    ones = _ones.get(n)
    if ones is None:
        if len(_ones) > 64:  # batch sizes change rarely; never grow without bound
            _ones.clear()
        ones = _ones[n] = np.ones(n)
    return ones.dot(a, out=out)


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
        # Inverted-dropout mask of this training step (0 or 1/(1-p) per sample
        # and unit), set by the session before the forward phase; None: no dropout.
        self.mask: np.ndarray | None = None
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
        """Compute and cache ``z = x @ W + b`` and ``a = act(z)``.

        Returns ``a``, or ``a * mask`` when a dropout mask is set (``a`` itself
        stays undropped: the activation's derivative needs it).
        """
        self.x = x
        # ndarray.dot, not @: on the small matrices of this tool the matmul
        # ufunc's dispatch costs about half a microsecond more per product.
        z = x.dot(self.W)
        z += self.b
        self.z = z
        self.a = a = self.act.forward(z)
        if self.mask is None:
            return a
        return a * self.mask

    def backward(
        self, da: np.ndarray, l2: float = 0.0, need_dx: bool = True, l1: float = 0.0
    ) -> np.ndarray | None:
        """From ``dL/da`` compute ``dW`` (incl. ``l2 * W + l1 * sign(W)``), ``db``;
        return ``dL/dx``.

        ``da`` is the gradient of this layer's output, after dropout when a
        mask is set. Training skips ``dL/dx`` of the first layer
        (``need_dx=False``): nothing below the input needs it, and it is a full
        matrix product.
        """
        x = self.x
        assert x is not None and self.z is not None and self.a is not None
        if self.mask is not None:
            da = da * self.mask
        dz = self.act.backward(self.z, self.a, da)
        self.dz = dz
        if self.flat_grads:
            dW = x.T.dot(dz, out=self.dW)
            batch_sum(dz, out=self.db)
        else:
            dW = x.T.dot(dz)
            self.dW = dW
            self.db = batch_sum(dz)
        if l2:
            dW += l2 * self.W
        if l1:
            dW += l1 * np.sign(self.W)
        self.dW_valid = True
        self.dx = dz.dot(self.W.T) if need_dx else None
        return self.dx

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Forward without caching (validation, decision maps, landscapes)."""
        return self.act.forward(x @ self.W + self.b)

    def clear_cache(self) -> None:
        self.x = self.z = self.a = self.dz = self.dx = None
        self.dW_valid = False
        self.delta_valid = False
