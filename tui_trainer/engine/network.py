"""A sequence of dense layers built from a ``TrainConfig`` and one seed."""

from __future__ import annotations

import copy
import math

import numpy as np

from tui_trainer.engine.config import TrainConfig
from tui_trainer.engine.layers import Dense


def init_weights(
    rng: np.random.Generator,
    n_in: int,
    n_out: int,
    init: str,
    std: float,
    scale: float,
    dtype: np.dtype,
) -> np.ndarray:
    """Initial weights of shape ``(n_in, n_out)``.

    ``he``: N(0, 2/n_in) (Kaiming normal, fan-in); ``xavier``: U(-a, a) with
    ``a = sqrt(6/(n_in+n_out))`` (Glorot uniform, as ``nn.init.xavier_uniform_``);
    ``normal``: N(0, std^2); ``uniform``: U(-scale, scale); ``zeros``.
    """
    if init == "he":
        w = rng.standard_normal((n_in, n_out)) * math.sqrt(2.0 / n_in)
    elif init == "xavier":
        a = math.sqrt(6.0 / (n_in + n_out))
        w = rng.uniform(-a, a, (n_in, n_out))
    elif init == "normal":
        w = rng.standard_normal((n_in, n_out)) * std
    elif init == "uniform":
        w = rng.uniform(-scale, scale, (n_in, n_out))
    elif init == "zeros":
        w = np.zeros((n_in, n_out))
    else:
        raise ValueError(f"unknown init {init!r}")
    return w.astype(dtype)


class Network:
    """Dense layers in order; parameters are listed as W0, b0, W1, b1, ...

    A network built by ``build`` keeps all parameters in one contiguous
    vector ``flat`` (each ``W``/``b`` is a view into it) and all gradients in
    ``flat_grad``: the update is then one vector operation whatever the depth,
    and norms of every layer come from one reduction. Networks assembled from
    separate arrays (``flat is None``) work the same, only slower.
    """

    def __init__(self, layers: list[Dense]) -> None:
        self.layers = layers
        self.flat: np.ndarray | None = None
        self.flat_grad: np.ndarray | None = None
        self.flat_delta: np.ndarray | None = None  # the last update, laid out like flat
        self.starts: np.ndarray | None = None  # offset of W0, b0, W1, b1, ... in flat
        # (W, delta W) of each layer as 1-D views into flat and flat_delta, for sq_norms
        self._w_views: list[tuple[np.ndarray, np.ndarray]] = []

    def _make_flat(self) -> None:
        sizes = [p.size for p in self.params()]
        dtype = self.layers[0].W.dtype if self.layers else np.float64
        total = int(sum(sizes))
        flat = np.empty(total, dtype=dtype)
        grad = np.zeros(total, dtype=dtype)
        delta = np.zeros(total, dtype=dtype)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
        k = 0
        for ly in self.layers:
            for name in ("W", "b"):
                arr = getattr(ly, name)
                n = arr.size
                view = flat[k : k + n].reshape(arr.shape)
                view[...] = arr
                setattr(ly, name, view)
                gview = grad[k : k + n].reshape(arr.shape)
                setattr(ly, "dW" if name == "W" else "db", gview)
                if name == "W":
                    ly.dW_vec = grad[k : k + n]
                    self._w_views.append((flat[k : k + n], delta[k : k + n]))
                setattr(ly, f"delta_{name}", delta[k : k + n].reshape(arr.shape))
                k += n
            ly.flat_grads = True
        self.flat, self.flat_grad, self.flat_delta, self.starts = flat, grad, delta, starts

    def opt_shapes(self) -> list[tuple[int, ...]]:
        """Shapes the optimizer keeps state for (one vector for a flat network)."""
        if self.flat is not None:
            return [self.flat.shape]
        return [p.shape for p in self.params()]

    def layer_sq_norms(self, vec: np.ndarray) -> np.ndarray:
        """Squared norm of each layer's weight matrix part of a flat vector."""
        assert self.starts is not None
        return np.add.reduceat(vec * vec, self.starts)[0::2]

    def sq_norms(self) -> tuple[list[float], list[float]]:
        """``|W|^2`` and ``|delta W|^2`` of every layer (from ``flat`` and ``flat_delta``).

        The update phase needs both every step: one BLAS dot per layer and
        vector on 1-D views made once, cheaper than squaring the whole
        vectors and summing segments (bench/engine.py).
        """
        views = self._w_views
        return [float(w.dot(w)) for w, _ in views], [float(d.dot(d)) for _, d in views]

    @classmethod
    def build(cls, cfg: TrainConfig, n_in: int) -> Network:
        dtype = np.dtype(cfg.dtype)
        rng = np.random.default_rng([cfg.seed, 1])  # stream 1: weights
        layers = []
        width = n_in
        for spec in cfg.layers:
            W = init_weights(rng, width, spec.units, cfg.init, cfg.init_std, cfg.init_scale, dtype)
            b = np.full(spec.units, cfg.bias_init, dtype=dtype)
            layers.append(Dense(W, b, spec.activation, cfg.leaky_slope))
            width = spec.units
        net = cls(layers)
        if layers:
            net._make_flat()
        return net

    def params(self) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for layer in self.layers:
            out.append(layer.W)
            out.append(layer.b)
        return out

    def param_names(self) -> list[str]:
        out: list[str] = []
        for i in range(len(self.layers)):
            out += [f"W{i}", f"b{i}"]
        return out

    def grads(self) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for layer in self.layers:
            out.append(layer.dW)
            out.append(layer.db)
        return out

    @property
    def n_params(self) -> int:
        return sum(p.size for p in self.params())

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def predict(self, x: np.ndarray, chunk: int = 8192) -> np.ndarray:
        """Outputs without touching the caches the debugger shows."""
        if x.shape[0] > chunk:
            return np.concatenate([self.predict(x[i : i + chunk]) for i in range(0, len(x), chunk)])
        for layer in self.layers:
            x = layer.predict(x)
        return x

    def detached_copy(self, dtype: np.dtype | type | None = None) -> Network:
        """Independent parameters (optionally cast), no caches, separate arrays.

        For checks that must not disturb a session (gradient check, sanity
        checks, landscapes). Not ``copy.deepcopy``: the caches may hold the
        whole training set (full-batch training), which a copy never needs.
        """
        layers = []
        for ly in self.layers:
            c = copy.copy(ly)  # shares only the stateless activation object
            c.clear_cache()
            c.W = ly.W.astype(dtype if dtype is not None else ly.W.dtype, copy=True)
            c.b = ly.b.astype(dtype if dtype is not None else ly.b.dtype, copy=True)
            c.dW, c.db = np.zeros_like(c.W), np.zeros_like(c.b)
            c.delta_W, c.delta_b = np.zeros_like(c.W), np.zeros_like(c.b)
            c.flat_grads = False
            c.mask = None  # a copy evaluates the network as is, without dropout
            c.dW_vec = None
            layers.append(c)
        return Network(layers)

    def get_params(self) -> list[np.ndarray]:
        return [p.copy() for p in self.params()]

    def set_params(self, values: list[np.ndarray]) -> None:
        for p, v in zip(self.params(), values, strict=True):
            p[...] = v

    def clear_caches(self) -> None:
        for layer in self.layers:
            layer.clear_cache()
