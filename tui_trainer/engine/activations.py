"""Element-wise activation functions with their derivatives.

Each activation maps the pre-activation ``z`` to ``a`` and, in backward,
turns ``dL/da`` into ``dL/dz`` using the cached ``z`` and ``a`` (whichever is
cheaper: sigmoid and tanh reuse ``a``).
"""

from __future__ import annotations

import numpy as np


class Activation:
    """Base class: identity."""

    name = "linear"

    def forward(self, z: np.ndarray) -> np.ndarray:
        return z

    def backward(self, z: np.ndarray, a: np.ndarray, da: np.ndarray) -> np.ndarray:
        return da

    def formula(self) -> str:
        return "a = z"


class Linear(Activation):
    name = "linear"


class ReLU(Activation):
    name = "relu"

    def forward(self, z: np.ndarray) -> np.ndarray:
        return np.maximum(z, 0)

    def backward(self, z: np.ndarray, a: np.ndarray, da: np.ndarray) -> np.ndarray:
        return da * (z > 0)

    def formula(self) -> str:
        return "a = max(0, z)"


class LeakyReLU(Activation):
    name = "leaky_relu"

    def __init__(self, slope: float = 0.01) -> None:
        self.slope = slope

    def forward(self, z: np.ndarray) -> np.ndarray:
        return np.where(z > 0, z, self.slope * z)

    def backward(self, z: np.ndarray, a: np.ndarray, da: np.ndarray) -> np.ndarray:
        return np.where(z > 0, da, self.slope * da)

    def formula(self) -> str:
        return f"a = z if z > 0 else {self.slope:g}*z"


class Tanh(Activation):
    name = "tanh"

    def forward(self, z: np.ndarray) -> np.ndarray:
        return np.tanh(z)

    def backward(self, z: np.ndarray, a: np.ndarray, da: np.ndarray) -> np.ndarray:
        d = a * a  # da * (1 - a^2), in one temporary
        np.subtract(1.0, d, out=d)
        d *= da
        return d

    def formula(self) -> str:
        return "a = tanh(z)"


class Sigmoid(Activation):
    name = "sigmoid"

    def forward(self, z: np.ndarray) -> np.ndarray:
        return sigmoid(z)

    def backward(self, z: np.ndarray, a: np.ndarray, da: np.ndarray) -> np.ndarray:
        return da * a * (1.0 - a)

    def formula(self) -> str:
        return "a = 1 / (1 + exp(-z))"


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function (no overflow warning for large |z|)."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def make_activation(name: str, leaky_slope: float = 0.01) -> Activation:
    """Build an activation by its scenario name."""
    if name == "relu":
        return ReLU()
    if name == "leaky_relu":
        return LeakyReLU(leaky_slope)
    if name == "tanh":
        return Tanh()
    if name == "sigmoid":
        return Sigmoid()
    if name == "linear":
        return Linear()
    raise ValueError(f"unknown activation {name!r}")
