"""Loss functions with the output activation fused in, as PyTorch does.

* ``mse``: ``mean((y_hat - y)**2)`` over all elements (``nn.MSELoss``).
* ``cross_entropy``: logits and class indices, mean over the batch of
  ``-log softmax(logits)[target]`` (``nn.CrossEntropyLoss``), computed with
  log-sum-exp so large logits never give NaN.
* ``binary_cross_entropy``: one logit per sample, targets 0/1, mean of
  ``max(z,0) - z*y + log(1 + exp(-|z|))`` (``nn.BCEWithLogitsLoss``).

Every loss returns the per-sample losses (so the debugger can say which
sample contributed most) and the gradient of the *mean* w.r.t. the output.
"""

from __future__ import annotations

import numpy as np

from tui_trainer.engine.activations import sigmoid


def log_softmax(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=1, keepdims=True)
    s = z - m
    return s - np.log(np.exp(s).sum(axis=1, keepdims=True))


def softmax(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    return e / e.sum(axis=1, keepdims=True)


class Loss:
    """Interface: targets are prepared once by ``prepare_targets``."""

    name = ""
    formula = ""

    def prepare_targets(self, y: np.ndarray, n_outputs: int, dtype: np.dtype) -> np.ndarray:
        return y

    def per_sample(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def grad(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def forward(self, out: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        """Per-sample losses, their mean, and ``d mean / d out``."""
        ps = self.per_sample(out, y)
        return ps, float(ps.sum()) / ps.size if ps.size else 0.0, self.grad(out, y)

    def predict(self, out: np.ndarray) -> np.ndarray:
        """Turn raw outputs into what a user reads (probabilities or values)."""
        return out

    def classes(self, out: np.ndarray) -> np.ndarray:
        """Predicted class indices (classification only)."""
        return out.argmax(1)  # positional: a keyword costs more than the work here


class MSE(Loss):
    name = "mse"
    formula = "L = mean((y_hat - y)^2)"

    def prepare_targets(self, y: np.ndarray, n_outputs: int, dtype: np.dtype) -> np.ndarray:
        if y.ndim == 1:  # class indices: one-hot (MSE on classification, for teaching)
            t = np.zeros((y.shape[0], n_outputs), dtype=dtype)
            t[np.arange(y.shape[0]), y] = 1.0
            return t
        return y.astype(dtype, copy=False)

    def per_sample(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        d = out - y
        return (d * d).mean(axis=1)

    def grad(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (2.0 / out.size) * (out - y)


class CrossEntropy(Loss):
    name = "cross_entropy"
    formula = "L = mean(-log softmax(z)[target])"

    def prepare_targets(self, y: np.ndarray, n_outputs: int, dtype: np.dtype) -> np.ndarray:
        return y.astype(np.int64, copy=False)

    def per_sample(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        m = out.max(axis=1, keepdims=True)
        lse = np.log(np.exp(out - m).sum(axis=1)) + m[:, 0]
        return lse - out[np.arange(out.shape[0]), y]

    def grad(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        g = softmax(out)
        g[np.arange(out.shape[0]), y] -= 1.0
        g /= out.shape[0]
        return g

    def forward(self, out: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        # One softmax for both the loss and its gradient. Written for the few
        # NumPy calls it makes (each costs as much as the arithmetic on a small
        # batch): sums over the classes as a product with a ones vector, the
        # target entries picked by flat index instead of [rows, y].
        n, c = out.shape
        s = out - out.max(1)[:, None]
        e = np.exp(s)
        tot = e.dot(self._ones(c, e.dtype))
        at = self._row_starts(n, c) + y  # flat index of each row's target
        ps = np.log(tot)
        ps -= s.take(at)
        e /= tot[:, None]  # e becomes the gradient: softmax - onehot, over n
        g = e
        g.reshape(-1)[at] -= 1.0
        g /= n
        return ps, float(np.add.reduce(ps)) / n if n else 0.0, g

    def _ones(self, c: int, dtype: np.dtype) -> np.ndarray:
        v = self.__dict__.get("_ones_c")
        if v is None or v.shape[0] != c or v.dtype != dtype:
            v = self._ones_c = np.ones(c, dtype=dtype)
        return v

    def _row_starts(self, n: int, c: int) -> np.ndarray:
        v = self.__dict__.get("_starts")
        if v is None or v.shape[0] != n or (n > 1 and v[1] != c):
            v = self._starts = np.arange(0, n * c, c, dtype=np.intp)
        return v

    def predict(self, out: np.ndarray) -> np.ndarray:
        return softmax(out)


class BinaryCrossEntropy(Loss):
    name = "binary_cross_entropy"
    formula = "L = mean(-y log s(z) - (1-y) log(1-s(z)))"

    def prepare_targets(self, y: np.ndarray, n_outputs: int, dtype: np.dtype) -> np.ndarray:
        if y.ndim == 1:
            return y.astype(dtype).reshape(-1, 1)
        return y.astype(dtype, copy=False)

    def per_sample(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        el = np.maximum(out, 0) - out * y + np.log1p(np.exp(-np.abs(out)))
        return el.mean(axis=1)

    def grad(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (sigmoid(out) - y) / out.size

    def predict(self, out: np.ndarray) -> np.ndarray:
        return sigmoid(out)

    def classes(self, out: np.ndarray) -> np.ndarray:
        return (out[:, 0] > 0).astype(np.int64)


def make_loss(name: str) -> Loss:
    if name == "mse":
        return MSE()
    if name == "cross_entropy":
        return CrossEntropy()
    if name == "binary_cross_entropy":
        return BinaryCrossEntropy()
    raise ValueError(f"unknown loss {name!r}")
