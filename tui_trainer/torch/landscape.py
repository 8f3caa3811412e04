"""Loss landscapes of a PyTorch model around its current parameters (Li et al., 2018).

The same method as ``engine/landscape.py``: ``L(theta + a d1 + b d2)`` on a
grid, with ``d1``, ``d2`` either filter-normalised Gaussian directions or the
top two principal components of the optimizer's path (the session's
keyframes), and a 1-D cut along the negative gradient. Here a "filter" is
one slice along the first dimension of a parameter with two or more
dimensions (a ``Linear``'s output unit: a row of its ``(out, in)`` weight, a
``Conv2d``'s output channel); one-dimensional parameters (biases, batch-norm
scales and shifts) and frozen ones get a zero direction, as in the paper.

Everything is evaluated on the user's model itself, under ``torch.no_grad()``
(the gradient with ``torch.autograd.grad``, which leaves ``.grad`` alone), in
eval mode (batch norm uses its running statistics and updates none, dropout
is off: the value is a function of the parameters only), with the session's
hooks silent, and ``restored`` puts back, bit for bit, every parameter,
buffer, module mode and random generator afterwards. The value plotted is
the model's loss function (mean over the samples), without weight decay.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import torch

from tui_trainer.engine.backend_tools import NOT_PLOTTABLE
from tui_trainer.engine.landscape import (
    MAX_SAMPLES,
    Landscape,
    Slice,
    fill_grid,
    plane,
)
from tui_trainer.torch.data import LoaderData, TensorData, get_rng, set_rng

if TYPE_CHECKING:
    from tui_trainer.torch.session import TorchSession

Params = list[np.ndarray]
Progress = Callable[[float], None]
ShouldStop = Callable[[], bool]
EVAL_CHUNK = MAX_SAMPLES  # samples per forward pass (the default subset: one)


# ------------------------------------------------------------ the model, untouched
@contextmanager
def restored(s: TorchSession) -> Iterator[list[tuple[str, torch.nn.Parameter]]]:
    """The model in eval mode with the session's hooks silent; on exit every
    module mode, buffer and the random generators are as they were.

    Yields the model's named parameters (the order of every ``Params`` here).
    Nothing here writes a parameter: other values are evaluated with
    ``torch.func.functional_call``, so a step paused mid-way (its graph saved
    for backward) is not disturbed. The hooks act only while a step is in
    progress (``_st`` set); a step paused in its worker thread waits, so
    clearing ``_st`` meanwhile is safe.
    """
    model = s.model
    named = list(model.named_parameters())
    bufs = [(b, b.detach().clone()) for b in model.buffers()]
    modes = [(m, m.training) for m in model.modules()]
    rng = get_rng()
    st, s._st = s._st, None
    model.eval()
    try:
        yield named
    finally:
        with torch.no_grad():
            for b, v in bufs:
                if not torch.equal(b, v):  # (eval mode writes none; a copy would bump versions)
                    b.copy_(v)
        for m, mode in modes:
            m.training = mode
        set_rng(rng)
        s._st = st


def _as_device(t: torch.Tensor, s: TorchSession) -> torch.Tensor:
    return t.to(s.device, s.float_dtype if t.is_floating_point() else t.dtype)


def loss_value(
    s: TorchSession, x: torch.Tensor, y: torch.Tensor, params: dict[str, torch.Tensor] | None = None
) -> float:
    """The mean loss of ``s.model`` on ``(x, y)`` (chunked, no graph), with ``params``
    in place of the model's own parameters if given (the model is not written)."""
    n = len(x)
    model = s.model if params is None else _with(s.model, params)
    reduction = getattr(s.loss_fn, "reduction", "mean")
    total = 0.0
    with torch.no_grad():
        for i in range(0, n, EVAL_CHUNK):
            xb, yb = x[i : i + EVAL_CHUNK], y[i : i + EVAL_CHUNK]
            v = float(s.loss_fn(model(xb), yb))
            total += v if reduction == "sum" else v * len(xb)
    return total / n if reduction != "sum" else total


def data_subset(
    s: TorchSession, max_samples: int = MAX_SAMPLES, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The training set, or a seeded random subset of ``max_samples`` of it.

    A DataLoader gives its first batches (up to ``max_samples``), read with
    the random generators put back afterwards.
    """
    data = s.data
    if isinstance(data, TensorData):
        x, y = data.x, data.y
        if data.n > max_samples:
            idx = np.sort(np.random.default_rng([seed, 3]).choice(data.n, max_samples, False))
            t = torch.as_tensor(idx, device=x.device)
            x, y = x[t], y[t]
        return x, y
    assert isinstance(data, LoaderData)
    saved = get_rng()
    xs, ys, n = [], [], 0
    try:
        for item in data.loader:
            xs.append(_as_device(item[0], s))
            ys.append(_as_device(item[1], s))
            n += len(item[0])
            if n >= max_samples:
                break
    finally:
        set_rng(saved)
    return torch.cat(xs)[:max_samples], torch.cat(ys)[:max_samples]


def position_batch(s: TorchSession) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch being processed (mid-step) or the next one (at a step boundary).

    Reading the next batch of a DataLoader moves its iterator: it is forgotten
    afterwards (the session finds it again from the cursor) and the random
    generators are put back.
    """
    rec = s.rec
    if s.pos != 0 and rec.x is not None and rec.y is not None:
        return rec.x, rec.y
    saved = get_rng()
    try:
        x, y, _, _ = s.data.batch(s.epoch, s.cursor)
    finally:
        s.data.forget_iterator()
        set_rng(saved)
    return x, y


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy().copy()


def _with(model: torch.nn.Module, params: dict[str, torch.Tensor]) -> Callable[..., torch.Tensor]:
    """``model`` called with ``params`` in place of its parameters (buffers its own)."""

    def call(x: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(model, params, (x,))

    return call


def _offset(
    named: list[tuple[str, torch.nn.Parameter]], theta: Params, offsets: list[tuple[float, Params]]
) -> dict[str, torch.Tensor]:
    """``theta + sum(c * d)`` by parameter name (computed in float64, then cast)."""
    out = {}
    for k, (name, p) in enumerate(named):
        v = theta[k]
        for c, d in offsets:
            if c:
                v = v + c * d[k]
        out[name] = torch.from_numpy(v).to(p.device, p.dtype)
    return out


# ------------------------------------------------------------ directions
def random_direction(
    named: list[tuple[str, torch.nn.Parameter]], rng: np.random.Generator
) -> Params:
    """A filter-normalised Gaussian direction (float64), in ``named`` order.

    Each slice along the first dimension of a parameter with 2+ dimensions
    (one output unit or channel) is scaled to that slice's norm in the
    parameter; 1-D and frozen parameters get zeros.
    """
    out: Params = []
    for _, p in named:
        w = _numpy(p)
        if p.ndim < 2 or not p.requires_grad:
            out.append(np.zeros(w.shape))
            continue
        d = rng.standard_normal(w.shape)
        flat_d = d.reshape(len(d), -1)
        dn = np.linalg.norm(flat_d, axis=1)
        wn = np.linalg.norm(w.reshape(len(w), -1), axis=1)
        flat_d *= np.divide(wn, dn, out=np.zeros_like(wn), where=dn > 0)[:, None]
        out.append(d)
    return out


def trajectory(s: TorchSession) -> tuple[list[Params], np.ndarray]:
    """The optimizer's path: keyframe parameters (oldest first), then the current ones."""
    names = [n for n, _ in s.model.named_parameters()]
    steps = sorted(k for k in s.keyframes if k < s.step)
    thetas = [[_numpy(s.keyframes[k].model[n]) for n in names] for k in steps]
    thetas.append([_numpy(p) for _, p in s.model.named_parameters()])
    return thetas, np.array([*steps, s.step], dtype=np.int64)


def plottable(s: TorchSession) -> str:
    """Why the landscape cannot be computed for ``s`` (empty string: it can)."""
    thetas, _ = trajectory(s)
    with np.errstate(all="ignore"):
        for theta in thetas:
            for v in theta:
                if not np.isfinite(v).all() or not np.isfinite(float(np.vdot(v, v))):
                    return NOT_PLOTTABLE
    return ""


# ------------------------------------------------------------ surface
def surface(
    s: TorchSession,
    steps: int = 21,
    span: float = 1.0,
    seed: int = 0,
    x: torch.Tensor | None = None,
    y: torch.Tensor | None = None,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    directions: str = "random",
    max_samples: int = MAX_SAMPLES,
) -> Landscape:
    """``L(theta + a d1 + b d2)`` on a ``steps x steps`` grid (see ``engine.landscape.surface``).

    ``d1``/``d2`` of the result are float64 arrays in ``model.named_parameters()`` order.
    """
    if x is None or y is None:
        x, y = data_subset(s, max_samples, seed)
    thetas, path_steps = trajectory(s)
    theta = thetas[-1]
    with restored(s) as named:
        pl = plane(thetas, theta, directions, span, seed, lambda rng: random_direction(named, rng))
        center = loss_value(s, x, y)  # the model still holds theta

        def value_at(a: float, b: float) -> float:
            return loss_value(s, x, y, _offset(named, theta, [(a, pl.d1), (b, pl.d2)]))

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
def gradient_slice(s: TorchSession, n: int = 41, max_step: float | None = None) -> Slice:
    """``L(theta - t g)`` for ``t`` in ``[0, max_step]`` (default ``2.5 * lr``).

    ``g`` is the gradient of the loss at the current parameters on the batch
    at the current position, in eval mode like every value here (so ``t = 0``
    is the loss the model gives that batch now; with dropout or batch norm the
    training step's own loss and gradient differ from these).
    """
    x, y = position_batch(s)
    lr = s.current_lr
    if max_step is None:
        max_step = 2.5 * lr if lr > 0 else 1.0
    ts = np.linspace(0.0, max_step, n)
    with restored(s) as named:
        theta = [_numpy(p) for _, p in named]
        # leaves of their own: the model's parameters (and .grad) are not touched
        leaves = {n: p.detach().clone().requires_grad_(p.requires_grad) for n, p in named}
        live = [n for n, p in named if p.requires_grad]
        with torch.enable_grad():
            loss = s.loss_fn(_with(s.model, leaves)(x), y)
            got = (
                torch.autograd.grad(loss, [leaves[n] for n in live], allow_unused=True)
                if live
                else ()
            )
        by_name = dict(zip(live, got, strict=True))
        grads = [
            _numpy(g) if (g := by_name.get(n)) is not None else np.zeros(tuple(p.shape))
            for n, p in named
        ]
        values = np.empty(n)
        for k, t in enumerate(ts):
            values[k] = loss_value(s, x, y, _offset(named, theta, [(-float(t), grads)]))
        at_lr = loss_value(s, x, y, _offset(named, theta, [(-lr, grads)]))
    g2 = float(sum(np.vdot(g, g) for g in grads))
    return Slice(
        ts=ts,
        values=values,
        lr=lr,
        value_at_lr=at_lr,
        grad_norm=math.sqrt(g2),
        slope=-g2,
        n_samples=int(len(x)),
        grads_from="recomputed in eval mode",
    )


def loss_now(s: TorchSession, x: torch.Tensor, y: torch.Tensor) -> float:
    """The eval-mode loss on ``(x, y)`` at the current parameters (nothing changes)."""
    with restored(s):
        return loss_value(s, x, y)
