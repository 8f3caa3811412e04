"""Loss landscapes around the current parameters (Li et al., 2018).

"Visualizing the Loss Landscape of Neural Nets" (Li, Xu, Taylor, Studer,
Goldstein; NeurIPS 2018) plots ``f(a, b) = L(theta + a d1 + b d2)`` for two
directions ``d1``, ``d2`` in parameter space:

* ``random_direction``: a Gaussian direction, *filter-normalised* so each
  neuron's incoming weights move by as much as that neuron's weights are
  long (for a dense layer: the column ``W[:, j]``, since ``W`` is
  ``(in, out)``); bias entries are zero. Without this, plots of networks with
  different weight scales are not comparable.
* ``pca_directions``: the top two principal components of the optimizer's
  trajectory ``theta_i - theta_final``. Random directions in a space of many
  dimensions are nearly orthogonal to the path, so the path only shows in a
  PCA plane. These are unit vectors, not filter-normalised (as in the paper);
  the grid is scaled to the path's extent instead.

``surface`` also projects the trajectory (the session's keyframes) onto the
plane; ``gradient_slice`` is a 1-D cut along the gradient that shows where a
step of size ``lr`` lands (and so why a too-large learning rate overshoots).

The value plotted is the training objective the optimizer descends: mean
loss plus ``l2/2 * sum(W**2) + l1 * sum|W|`` (the plain loss without them). Everything
runs on a copy of the network: the session is never touched.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tui_trainer.engine.gradcheck import analytic_grads, objective
from tui_trainer.engine.network import Network
from tui_trainer.engine.sanity import clone_net, position_batch, upcoming_hyper
from tui_trainer.engine.session import Session

Params = list[np.ndarray]
Progress = Callable[[float], None]
ShouldStop = Callable[[], bool]

MAX_SAMPLES = 2000
PATH_MARGIN = 1.25  # PCA grid half-width = span * margin * the path's extent


@dataclass
class Landscape:
    """A 2-D loss surface: ``loss[i, j]`` is the value at ``(alphas[i], betas[j])``.

    Rows not evaluated (cancelled via ``should_stop``) are NaN and
    ``complete`` is False. ``path`` holds the trajectory's coordinates in the
    plane (least-squares projection, oldest first, the current point last at
    ``(0, 0)``) with their step numbers in ``path_steps``; ``path_in_plane``
    is the fraction of the trajectory's squared length the plane captures
    (1: the path lies in the plane).
    """

    alphas: np.ndarray
    betas: np.ndarray
    loss: np.ndarray
    center_loss: float
    d1: Params
    d2: Params
    path: np.ndarray
    path_steps: np.ndarray
    path_in_plane: float
    directions: str  # "random" or "pca"
    explained_variance: tuple[float, float] | None
    n_samples: int
    complete: bool = True
    note: str = ""

    @property
    def min_loss(self) -> float:
        return float(np.nanmin(self.loss)) if np.isfinite(self.loss).any() else math.nan


@dataclass
class Slice:
    """``values[k] = L(theta - ts[k] * g)``: a 1-D cut along the gradient.

    ``lr`` marks where a plain gradient step lands (exactly the next step's
    position for SGD; momentum and Adam move differently). ``slope`` is the
    directional derivative at ``t = 0``, ``-|g|^2``.
    """

    ts: np.ndarray
    values: np.ndarray
    lr: float
    value_at_lr: float
    grad_norm: float
    slope: float
    n_samples: int
    grads_from: str  # "session" (the step's own backward pass) or "recomputed"

    @property
    def value_at_0(self) -> float:
        return float(self.values[0])

    @property
    def t_min(self) -> float:
        return float(self.ts[int(np.nanargmin(self.values))])

    @property
    def value_min(self) -> float:
        return float(np.nanmin(self.values))

    @property
    def overshoots(self) -> bool:
        """The step of size lr lands past the lowest point of the slice."""
        return self.t_min < self.lr and self.value_at_lr > self.value_min + 1e-12 * (
            1.0 + abs(self.value_min)
        )


# ------------------------------------------------------------ utilities
def flatten(params: Params) -> np.ndarray:
    return np.concatenate([np.asarray(p, dtype=np.float64).ravel() for p in params])


def unflatten(vec: np.ndarray, like: Params) -> Params:
    out = []
    k = 0
    for p in like:
        out.append(vec[k : k + p.size].reshape(p.shape).copy())
        k += p.size
    return out


def _value(net: Network, s: Session, x: np.ndarray, y: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        return objective(net, s.loss, x, y, s.l2, s.l1)


def _set_offset(net: Network, theta: Params, offsets: list[tuple[float, Params]]) -> None:
    """``net``'s parameters = ``theta + sum(c * d)``."""
    for k, p in enumerate(net.params()):
        v = theta[k].astype(np.float64)
        for c, d in offsets:
            if c:
                v = v + c * d[k]
        p[...] = v


def data_subset(
    s: Session, max_samples: int = MAX_SAMPLES, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The training set, or a seeded random subset of ``max_samples`` of it."""
    n = s.n_train
    if n <= max_samples:
        return s.x_train, s.y_train
    idx = np.sort(np.random.default_rng([seed, 3]).choice(n, max_samples, replace=False))
    return s.x_train[idx], s.y_train[idx]


# ------------------------------------------------------------ directions
def random_direction(net: Network, rng: np.random.Generator) -> Params:
    """A filter-normalised Gaussian direction (float64), in ``net.params()`` order.

    Column ``j`` of each weight direction (neuron ``j``'s incoming weights)
    is scaled to the norm of ``W[:, j]``; bias directions are zero.
    """
    out: Params = []
    for ly in net.layers:
        W = np.asarray(ly.W, dtype=np.float64)
        d = rng.standard_normal(W.shape)
        dn = np.linalg.norm(d, axis=0)
        wn = np.linalg.norm(W, axis=0)
        d *= np.divide(wn, dn, out=np.zeros_like(wn), where=dn > 0)
        out.append(d)
        out.append(np.zeros(ly.b.shape))
    return out


def trajectory(s: Session) -> tuple[list[Params], np.ndarray]:
    """The optimizer's path: keyframe parameters (oldest first), then the current ones."""
    steps = sorted(k for k in s.keyframes if k < s.step)
    thetas = [s.keyframes[k].params for k in steps]
    thetas.append(s.net.get_params())
    return thetas, np.array([*steps, s.step], dtype=np.int64)


def _pca(thetas: list[Params]) -> tuple[Params, Params, tuple[float, float]]:
    final = flatten(thetas[-1])
    M = np.stack([flatten(t) - final for t in thetas])
    M = M - M.mean(axis=0)
    _, sv, vt = np.linalg.svd(M, full_matrices=False)
    var = sv**2
    tot = float(var.sum())
    ratio = (float(var[0] / tot), float(var[1] / tot)) if tot > 0 else (0.0, 0.0)
    d2 = vt[1] if vt.shape[0] > 1 else np.zeros_like(vt[0])
    return unflatten(vt[0], thetas[-1]), unflatten(d2, thetas[-1]), ratio


def pca_directions(thetas: list[Params]) -> tuple[Params, Params]:
    """Top two principal components of ``theta_i - theta_final`` (unit vectors).

    ``thetas`` is the trajectory, the final point last; needs at least 3
    points. The sign of each component is arbitrary (SVD).
    """
    if len(thetas) < 3:
        raise ValueError("PCA directions need at least 3 trajectory points")
    d1, d2, _ = _pca(thetas)
    return d1, d2


def project(
    thetas: list[Params], center: Params, d1: Params, d2: Params
) -> tuple[np.ndarray, float]:
    """Least-squares coordinates of ``theta_i - center`` in span(d1, d2).

    Returns the ``(n, 2)`` coordinates and the fraction of the total squared
    length the plane captures.
    """
    c = flatten(center)
    M = np.stack([flatten(t) - c for t in thetas])  # (n, P)
    D = np.stack([flatten(d1), flatten(d2)], axis=1)  # (P, 2)
    coords, *_ = np.linalg.lstsq(D, M.T, rcond=None)
    coords = coords.T
    total = float(np.sum(M * M))
    resid = M - coords @ D.T
    captured = 1.0 - float(np.sum(resid * resid)) / total if total > 0 else 1.0
    return coords, captured


# ------------------------------------------------------------ surface
@dataclass
class Plane:
    """The two directions of a surface, the path projected on them and the grid's half-width."""

    d1: Params
    d2: Params
    directions: str  # "random" or "pca" (what was used)
    explained: tuple[float, float] | None
    note: str
    path: np.ndarray
    in_plane: float
    half: float


def plane(
    thetas: list[Params],
    theta: Params,
    directions: str,
    span: float,
    seed: int,
    random_direction: Callable[[np.random.Generator], Params],
) -> Plane:
    """The plane of ``surface`` for both backends: the path's PCA plane (at least 3
    points, the grid scaled to the path's extent) or two seeded random directions
    from the backend's ``random_direction(rng)``."""
    if directions not in ("random", "pca"):
        raise ValueError("directions must be 'random' or 'pca'")
    note = ""
    explained = None
    if directions == "pca" and len(thetas) >= 3:
        d1, d2, explained = _pca(thetas)
    else:
        if directions == "pca":
            note = "fewer than 3 trajectory points: random directions instead of PCA"
            directions = "random"
        rng = np.random.default_rng([seed, 4])
        d1 = random_direction(rng)
        d2 = random_direction(rng)
    path, in_plane = project(thetas, theta, d1, d2)
    half = float(span)
    if directions == "pca":
        extent = float(np.max(np.abs(path))) if path.size else 0.0
        half = span * PATH_MARGIN * extent if extent > 0 else float(span)
    return Plane(d1, d2, directions, explained, note, path, in_plane, half)


def fill_grid(
    half: float,
    steps: int,
    value_at: Callable[[float, float], float],
    progress: Progress | None,
    should_stop: ShouldStop | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """``(alphas, betas, grid, complete)``: ``value_at(a, b)`` on a ``steps x steps``
    grid over ``[-half, half]^2``, row by row; ``should_stop`` is polled and
    ``progress`` reported between rows (rows not reached stay NaN)."""
    alphas = np.linspace(-half, half, steps)
    betas = np.linspace(-half, half, steps)
    grid = np.full((steps, steps), np.nan)
    for i, a in enumerate(alphas):
        if should_stop is not None and should_stop():
            return alphas, betas, grid, False
        for j, b in enumerate(betas):
            grid[i, j] = value_at(float(a), float(b))
        if progress is not None:
            progress((i + 1) / steps)
    return alphas, betas, grid, True


def surface(
    s: Session,
    steps: int = 21,
    span: float = 1.0,
    seed: int = 0,
    x: np.ndarray | None = None,
    y: np.ndarray | None = None,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    directions: str = "random",
    max_samples: int = MAX_SAMPLES,
) -> Landscape:
    """``L(theta + a d1 + b d2)`` on a ``steps x steps`` grid.

    ``directions="random"``: two filter-normalised random directions (seeded),
    grid ``[-span, span]^2``. ``directions="pca"``: the trajectory's PCA
    plane when it has at least 3 points (else random, with a ``note``); the
    half-width is ``span * 1.25 *`` the path's largest coordinate. Data:
    ``x, y`` if given, else the training set (a seeded subset of at most
    ``max_samples``). ``should_stop`` is polled and ``progress`` reported
    between grid rows.
    """
    if x is None or y is None:
        x, y = data_subset(s, max_samples, seed)
    net = clone_net(s.net)
    theta = s.net.get_params()
    thetas, path_steps = trajectory(s)
    pl = plane(thetas, theta, directions, span, seed, lambda rng: random_direction(s.net, rng))
    center = _value(net, s, x, y)  # net still holds theta

    def value_at(a: float, b: float) -> float:
        _set_offset(net, theta, [(a, pl.d1), (b, pl.d2)])
        return _value(net, s, x, y)

    alphas, betas, grid, complete = fill_grid(pl.half, steps, value_at, progress, should_stop)
    return Landscape(
        alphas=alphas,
        betas=betas,
        loss=grid,
        center_loss=center,
        d1=pl.d1,
        d2=pl.d2,
        path=pl.path,
        path_steps=path_steps,
        path_in_plane=pl.in_plane,
        directions=pl.directions,
        explained_variance=pl.explained,
        n_samples=int(len(x)),
        complete=complete,
        note=pl.note,
    )


# ------------------------------------------------------------ gradient slice
def current_gradients(s: Session) -> tuple[Params, np.ndarray, np.ndarray, str]:
    """Gradients of the objective at the current parameters, on the position's batch.

    Reuses the layers' ``dW``/``db`` when the session is paused after the
    whole backward pass (before the update), so they belong to the current
    parameters; otherwise recomputes them on a copy. Returns the gradients,
    the batch and where the gradients came from.
    """
    x, y, _ = position_batch(s)
    done_backward = 2 * s.n_layers + 1
    if s.pos == done_backward and s.nonfinite is None and all(ly.dW_valid for ly in s.net.layers):
        return [g.astype(np.float64) for g in s.net.grads()], x, y, "session"
    net = clone_net(s.net)
    with np.errstate(all="ignore"):
        grads = analytic_grads(net, s.loss, x, y, s.l2, s.l1)
    return [g.astype(np.float64) for g in grads], x, y, "recomputed"


def gradient_slice(s: Session, n: int = 41, max_step: float | None = None) -> Slice:
    """``L(theta - t g)`` for ``t`` in ``[0, max_step]`` (default ``2.5 * lr``).

    ``g`` is the gradient at the current parameters on the batch at the
    current position (the batch being processed, or the next one at a step
    boundary) and the loss is evaluated on that same batch, so ``t = lr`` is
    exactly where an SGD step goes.
    """
    grads, x, y, source = current_gradients(s)
    lr = float(upcoming_hyper(s).get("lr", s.hyper.lr))
    if max_step is None:
        max_step = 2.5 * lr if lr > 0 else 1.0
    ts = np.linspace(0.0, max_step, n)
    net = clone_net(s.net)
    theta = s.net.get_params()
    values = np.empty(n)
    for k, t in enumerate(ts):
        _set_offset(net, theta, [(-float(t), grads)])
        values[k] = _value(net, s, x, y)
    _set_offset(net, theta, [(-lr, grads)])
    at_lr = _value(net, s, x, y)
    g2 = float(sum(np.vdot(g, g) for g in grads))
    return Slice(
        ts=ts,
        values=values,
        lr=lr,
        value_at_lr=at_lr,
        grad_norm=math.sqrt(g2),
        slope=-g2,
        n_samples=int(len(x)),
        grads_from=source,
    )
