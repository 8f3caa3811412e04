"""Numerical gradient check: central differences against backprop.

Relative error per entry is ``|a - n| / max(|a|, |n|, tiny)``; the report
gives the maximum per layer. Bands (CS231n): below 1e-7 good, 1e-7..1e-4
fine for kinks (ReLU), 1e-4..1e-2 suspicious, above 1e-2 wrong.
An entry where backprop and central differences agree within ``NOISE``
(the absolute accuracy of the differences) has no meaningful relative error:
it is counted in ``n_noise`` and left out of the maximum, never reported as
an error of 0.
Runs on a copy of the network, so it never disturbs a session.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tui_trainer.engine.losses import Loss
from tui_trainer.engine.network import Network

# Central differences in float64 are good to about this absolute error.
NOISE = 1e-10


@dataclass
class GradCheckResult:
    name: str  # "W0", "b0", ...
    max_rel_error: float  # over the entries not in n_noise (0.0 when there are none)
    checked: int
    total: int
    n_noise: int = 0  # entries that agree within NOISE (absolute): no relative error

    @property
    def verdict(self) -> str:
        e = self.max_rel_error
        if e < 1e-7:
            return "good"
        if e < 1e-4:
            return "ok"
        if e < 1e-2:
            return "suspicious"
        return "wrong"


def objective(
    net: Network, loss: Loss, x: np.ndarray, y: np.ndarray, l2: float, l1: float = 0.0
) -> float:
    """Data loss plus ``l2/2 * sum W**2 + l1 * sum |W|``; with the layers'
    dropout masks applied when they are set (a training step's objective)."""
    masked = any(ly.mask is not None for ly in net.layers)
    out = net.forward(x) if masked else net.predict(x)
    val = float(loss.per_sample(out, y).mean())
    if l2:
        val += 0.5 * l2 * sum(float(np.vdot(ly.W, ly.W)) for ly in net.layers)
    if l1:
        val += l1 * sum(float(np.abs(ly.W).sum()) for ly in net.layers)
    return val


def analytic_grads(
    net: Network, loss: Loss, x: np.ndarray, y: np.ndarray, l2: float, l1: float = 0.0
) -> list[np.ndarray]:
    out = net.forward(x)
    _, _, g = loss.forward(out, y)
    for layer in reversed(net.layers):
        g = layer.backward(g, l2, l1=l1)  # type: ignore[assignment]
    return [gr.copy() for gr in net.grads()]


def gradcheck(
    net: Network,
    loss: Loss,
    x: np.ndarray,
    y: np.ndarray,
    l2: float = 0.0,
    h: float = 1e-5,
    max_per_param: int | None = 200,
    seed: int = 0,
    grads: list[np.ndarray] | None = None,
    l1: float = 0.0,
    masks: list[np.ndarray | None] | None = None,
) -> list[GradCheckResult]:
    """Compare ``grads`` (default: this engine's backprop) with central differences.

    Computed in float64 on a deep copy. Big parameters are sampled
    (``max_per_param`` entries, seeded) to keep it interactive. ``masks``
    (one per layer, or None) fixes dropout masks: the check is then of the
    training step's objective with those units dropped.
    """
    net = net.detached_copy(np.float64)
    if masks is not None:
        for layer, m in zip(net.layers, masks, strict=True):
            layer.mask = None if m is None else np.asarray(m, dtype=np.float64)
    x = x.astype(np.float64)
    if y.dtype.kind == "f":
        y = y.astype(np.float64)
    ana = grads if grads is not None else analytic_grads(net, loss, x, y, l2, l1)
    rng = np.random.default_rng(seed)
    results = []
    for name, p, g in zip(net.param_names(), net.params(), ana, strict=True):
        flat = p.reshape(-1)
        gflat = g.reshape(-1)
        idx = np.arange(flat.size)
        if max_per_param is not None and flat.size > max_per_param:
            idx = rng.choice(flat.size, max_per_param, replace=False)
        worst = 0.0
        noise = 0
        for j in idx:
            old = flat[j]
            flat[j] = old + h
            fp = objective(net, loss, x, y, l2, l1)
            flat[j] = old - h
            fm = objective(net, loss, x, y, l2, l1)
            flat[j] = old
            num = (fp - fm) / (2 * h)
            a = float(gflat[j])
            denom = max(abs(a), abs(num), 1e-12)
            if abs(a - num) < NOISE:  # agreement within the differences' accuracy
                noise += 1
                continue
            worst = max(worst, abs(a - num) / denom)
        results.append(GradCheckResult(name, worst, len(idx), flat.size, noise))
    return results
