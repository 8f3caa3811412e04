"""The sanity checklist on a PyTorch model: ``engine/sanity.py``'s checks, where they apply.

Each returns the same ``CheckResult`` and uses the same thresholds (imported
from ``engine.sanity``, not copied):

* ``check_gradients``: autograd against central differences, in float64 on
  a copy of the model in eval mode, on the batch at the current position
  (custom autograd functions and in-place tricks are where it goes wrong).
* ``check_gradients_reach``: one backward pass: does every trainable
  parameter get a gradient, and a non-zero one? (Unused or detached
  parameters, dead units.) Torch only: the NumPy engine's layers always do.
* ``check_init_loss``: the initial weights' loss vs ``ln C`` (cross-entropy).
* ``check_overfit_tiny_batch``: can a copy of the current weights memorise a
  few examples (Adam, lr 1e-2, eval mode so dropout is off)?
* ``check_zero_input_baseline``: do copies trained from the initial weights
  learn more from the inputs than from zeros (tensor data only)?
* ``check_update_ratio``: the median ``|update| / |W|`` per module with weights.

Everything runs on copies of the model (``copy.deepcopy``, with the
session's hooks removed); the session, the user's model and the random
generators are left as they were.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from tui_trainer.engine.gradcheck import NOISE, GradCheckResult
from tui_trainer.engine.sanity import (
    BASELINE_MAX_STEPS,
    BASELINE_MIN_STEPS,
    BASELINE_RATIO,
    GRAD_MAX_SAMPLES,
    GRAD_TOL,
    OVERFIT_LR,
    OVERFIT_STEPS,
    RATIO_HIGH,
    RATIO_LOW,
    CheckResult,
    Plan,
    _fmt,
    _fmt_rel,
    _grad_detail,
    init_loss_tolerance,
    lr_verdict,
    run_plan,
)
from tui_trainer.torch.data import TensorData, get_rng, set_rng
from tui_trainer.torch.fork import _strip_session_hooks, copy_training_objects
from tui_trainer.torch.landscape import data_subset, position_batch
from tui_trainer.torch.modules import weight_params

if TYPE_CHECKING:
    from tui_trainer.torch.session import TorchSession

Progress = Callable[[float], None]
EPS = 1e-6  # central-difference step in float64 (PyTorch's gradcheck default)
GRAD_ENTRIES = 50  # entries checked per parameter


@contextmanager
def _generators_kept() -> Iterator[None]:
    saved = get_rng()
    try:
        yield
    finally:
        set_rng(saved)


def model_copy(s: TorchSession, state: dict[str, torch.Tensor] | None = None) -> torch.nn.Module:
    """A deep copy of the user's model without the session's hooks (``state`` loaded)."""
    m = copy.deepcopy(s.model)
    _strip_session_hooks(m, s)
    if state is not None:
        with torch.no_grad():
            m.load_state_dict(state)
    return m


def _labels(s: TorchSession, y: torch.Tensor) -> torch.Tensor | None:
    if not y.is_floating_point() and y.ndim == 1:
        return y
    return None


def _cross_entropy(s: TorchSession) -> bool:
    return isinstance(s.loss_fn, torch.nn.CrossEntropyLoss)


# ---------------------------------------------------------------- gradients
def check_gradients(
    s: TorchSession,
    max_per_param: int = GRAD_ENTRIES,
    max_samples: int = GRAD_MAX_SAMPLES,
    progress: Progress | None = None,
) -> CheckResult:
    """Autograd vs central differences (float64, eval mode) on the position's batch.

    ``max_per_param`` seeded random entries of each parameter (two forward
    passes each: a float64 convolution is slow, so fewer than the NumPy
    engine's 200)."""
    name = "gradient check"
    x, y = position_batch(s)
    x, y = x[:max_samples], y[:max_samples]
    x = x.double() if x.is_floating_point() else x
    y = y.double() if y.is_floating_point() else y
    model = model_copy(s).double().eval()
    loss_fn = copy.deepcopy(s.loss_fn)
    if isinstance(loss_fn, torch.nn.Module):
        loss_fn = loss_fn.double()
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not named:
        return CheckResult(name, True, "no trainable parameters", applicable=False)

    def f() -> float:
        with torch.no_grad():
            return float(loss_fn(model(x), y))

    with _generators_kept():
        loss = loss_fn(model(x), y)
        grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
        rng = np.random.default_rng(0)
        results = []
        for k, ((pname, p), g) in enumerate(zip(named, grads, strict=True)):
            if progress is not None:  # (a dialog's cancel raises here)
                progress(k / len(named))
            flat = p.data.view(-1)
            ga = torch.zeros_like(flat) if g is None else g.reshape(-1)
            total = flat.numel()
            idx = (
                np.arange(total)
                if total <= max_per_param
                else np.sort(rng.choice(total, max_per_param, replace=False))
            )
            worst, noise = 0.0, 0
            for j in idx.tolist():
                old = float(flat[j])
                flat[j] = old + EPS
                up = f()
                flat[j] = old - EPS
                down = f()
                flat[j] = old
                num = (up - down) / (2 * EPS)
                a = float(ga[j])
                diff = abs(a - num)
                if diff < NOISE:
                    noise += 1
                    continue
                rel = diff / max(abs(a), abs(num), 1e-300)
                worst = max(worst, rel if math.isfinite(rel) else math.inf)
            results.append(GradCheckResult(pname, worst, len(idx), total, noise))
    worst_r = max(results, key=lambda r: r.max_rel_error)
    passed = all(r.max_rel_error < GRAD_TOL for r in results)
    checked = sum(r.checked for r in results)
    total = sum(r.total for r in results)
    if all(r.n_noise == r.checked for r in results):
        head = f"every entry agrees within {NOISE:g} (the differences' own accuracy)"
    else:
        head = (
            f"max relative error {_fmt_rel(worst_r.max_rel_error)} ({worst_r.verdict}) "
            f"in {worst_r.name}"
        )
    summary = f"{head}; {checked}/{total} entries on {len(x)} samples (float64, eval mode)"
    details = [_grad_detail(r) for r in results]
    if any(isinstance(m, torch.nn.ReLU | torch.nn.LeakyReLU) for m in model.modules()):
        details.append("ReLU kinks can push a correct gradient up to ~1e-4 (entries near z = 0)")
    if not passed:
        details.append("errors above 1e-4: autograd disagrees with the numerical gradient")
    return CheckResult(name, passed, summary, details)


def check_gradients_reach(s: TorchSession) -> CheckResult:
    """Does one backward pass (eval mode, the position's batch) give every trainable
    parameter a gradient, and a non-zero one?"""
    name = "gradients reach every parameter"
    x, y = position_batch(s)
    model = model_copy(s).eval()
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    if not named:
        return CheckResult(name, False, "no parameter is trainable (all requires_grad=False)")
    with _generators_kept():
        loss = s.loss_fn(model(x), y)
        grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
    missing = [n for (n, _), g in zip(named, grads, strict=True) if g is None]
    zero = [
        n for (n, _), g in zip(named, grads, strict=True) if g is not None and not bool(g.any())
    ]
    passed = not missing and not zero
    reached = len(named) - len(missing) - len(zero)
    summary = f"{reached} of {len(named)} trainable parameters got a non-zero gradient"
    details = []
    if missing:
        details.append(
            "no gradient (not used by forward, or used through .detach() / no_grad): "
            + ", ".join(missing)
        )
    if zero:
        details.append(
            "a gradient of exactly zero (dead units, or an output that does not reach the "
            "loss): " + ", ".join(zero)
        )
    if frozen:
        details.append(f"frozen (requires_grad=False), not checked: {', '.join(frozen)}")
    return CheckResult(name, passed, summary, details)


# ---------------------------------------------------------------- init loss
def check_init_loss(s: TorchSession) -> CheckResult:
    """The initial weights' loss (eval mode) on the training data vs ``ln C``."""
    name = "loss at init"
    if not _cross_entropy(s):
        return CheckResult(
            name,
            True,
            f"not applicable to {type(s.loss_fn).__name__} (checks nn.CrossEntropyLoss "
            "against ln C)",
            applicable=False,
        )
    x, y = data_subset(s)
    model = model_copy(s, s._initial.model).eval()
    with _generators_kept(), torch.no_grad():
        out = model(x)
        value = float(s.loss_fn(out, y))
    n_classes = int(out.shape[1]) if out.ndim >= 2 else 1
    if n_classes < 2:
        return CheckResult(name, True, "a single output: no ln C to compare", applicable=False)
    expected = math.log(n_classes)
    tol = init_loss_tolerance(n_classes)
    passed = math.isfinite(value) and abs(value - expected) <= tol
    summary = f"initial loss {_fmt(value)} vs ln {n_classes} = {expected:.3f} (tolerance {tol:.2f})"
    details = [
        f"the model's weights when the session began, eval mode, {len(x)} training samples",
        f"initial logits: std {_fmt(float(out.std()))}, max |z| {_fmt(float(out.abs().max()))}",
    ]
    if not passed and math.isfinite(value) and value > expected:
        details.append(
            "loss far above ln C: the initial logits are over-confident; "
            "use a smaller init scale (e.g. for the output layer)"
        )
    elif not passed:
        details.append("loss far from ln C at init: check the loss and the labels")
    return CheckResult(name, passed, summary, details)


# ---------------------------------------------------------- tiny-batch overfit
def tiny_batch(s: TorchSession, n: int) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """``n`` (2..8) training examples, balanced over classes when there are labels."""
    x, y = data_subset(s)
    n = max(2, min(8, int(n), len(x)))
    rng = np.random.default_rng([s.seed, 7])
    labels = _labels(s, y)
    if labels is None:
        idx = np.sort(rng.choice(len(x), n, replace=False))
    else:
        lab = labels.cpu().numpy()
        groups = [rng.permutation(np.flatnonzero(lab == c)) for c in np.unique(lab)]
        picked: list[int] = []
        k = 0
        while len(picked) < n:
            for g in groups:
                if k < len(g) and len(picked) < n:
                    picked.append(int(g[k]))
            k += 1
        idx = np.sort(np.array(picked))
    t = torch.as_tensor(idx, device=x.device)
    return x[t], y[t], idx.tolist()


def check_overfit_tiny_batch(
    s: TorchSession, n: int = 4, steps: int = OVERFIT_STEPS, progress: Progress | None = None
) -> CheckResult:
    """Can a copy of the current weights memorise ``n`` training examples (see engine.sanity)?

    Adam at lr 1e-2 without weight decay, in eval mode (dropout off, batch
    norm on its running statistics: regularisation fights memorisation).
    """
    name = "overfit a tiny batch"
    x, y, idx = tiny_batch(s, n)
    model = model_copy(s).eval()
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        return CheckResult(name, False, "no parameter is trainable (all requires_grad=False)")
    opt = torch.optim.Adam(params, lr=OVERFIT_LR)
    initial = target = last = math.nan
    reached: int | None = None
    with _generators_kept():
        for k in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = s.loss_fn(model(x), y)
            last = float(loss.detach())
            if k == 0:
                initial = last
                target = max(0.01, 1e-2 * initial)
            if not math.isfinite(last):
                return CheckResult(
                    name, False, f"training {len(idx)} examples diverged at step {k}"
                )
            if last < target:
                reached = k
                break
            loss.backward()
            opt.step()
            if progress is not None and k % 50 == 0:
                progress(k / steps)
    if reached is not None:
        summary = (
            f"loss {_fmt(initial)} -> {_fmt(last)} (< {_fmt(target)}) on {len(idx)} examples "
            f"in {reached} steps"
        )
    else:
        summary = (
            f"loss {_fmt(initial)} -> {_fmt(last)} on {len(idx)} examples after {steps} steps; "
            f"target < {_fmt(target)} not reached"
        )
    details = [
        f"Adam lr {OVERFIT_LR:g}, no weight decay, eval mode, examples {idx}, "
        "starting from the current weights"
    ]
    if reached is None:
        details.append(
            "a model that cannot memorise a few examples has a bug (loss, gradients, "
            "update) or too little capacity (e.g. dead units, a frozen layer)"
        )
    return CheckResult(name, reached is not None, summary, details)


# --------------------------------------------------------- zero-input baseline
def baseline_steps(s: TorchSession) -> int:
    """5 epochs, clipped to [1000, 2000] steps (as ``engine.sanity.baseline_steps``)."""
    per_epoch = s.data.batches_per_epoch()
    return int(min(BASELINE_MAX_STEPS, max(BASELINE_MIN_STEPS, 5 * per_epoch)))


def _train_copy(s: TorchSession, data: TensorData, steps: int, progress: Progress) -> Any:
    """A copy from the initial weights, trained ``steps`` steps with the session's
    optimizer class and current settings (fresh state), in the model's own modes."""
    model, loss_fn, opt = copy_training_objects(s)
    with torch.no_grad():
        model.load_state_dict(s._initial.model)
    opt.state.clear()
    torch.manual_seed(s.seed)
    epoch = cursor = 0
    for k in range(steps):
        x, y, _, cursor = data.batch(epoch, cursor)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        if not math.isfinite(float(loss.detach())):
            return None
        loss.backward()
        opt.step()
        if data.epoch_done(cursor):
            epoch, cursor = epoch + 1, 0
        if k % 25 == 0:
            progress(k / steps)
    return model


def check_zero_input_baseline(
    s: TorchSession, steps: int | None = None, progress: Progress | None = None
) -> CheckResult:
    """Do copies trained from the initial weights learn more from the inputs than from
    zeros? Compared on the validation data (the training data without it), each on
    its own kind of input; passes below 0.9x the zero-input run's loss."""
    name = "zero-input baseline"
    if not isinstance(s.data, TensorData):
        return CheckResult(
            name,
            True,
            "not applicable to a DataLoader (needs the inputs as tensors to zero them)",
            applicable=False,
        )
    k = steps if steps is not None else baseline_steps(s)
    d = s.data
    val = s.val if isinstance(s.val, TensorData) else None
    ex, ey = (val.x, val.y) if val is not None else (d.x, d.y)
    losses: list[float] = []
    notes: list[str] = []
    with _generators_kept():
        for j, zero in enumerate((False, True)):
            xs = torch.zeros_like(d.x) if zero else d.x
            data = TensorData(
                xs,
                d.y,
                batch_size=d.batch_size,
                seed=d.seed,
                float_dtype=s.float_dtype,
                device=s.device,
            )

            def report(f: float, j: int = j) -> None:
                if progress is not None:
                    progress((j + f) / 2)

            model = _train_copy(s, data, k, report)
            if model is None:
                notes.append(f"{'zero' if zero else 'real'} inputs: diverged")
                losses.append(math.nan)
                continue
            model.eval()
            with torch.no_grad():
                xe = torch.zeros_like(ex) if zero else ex
                losses.append(float(s.loss_fn(model(xe), ey)))
    real, zero_loss = losses
    on = "validation" if val is not None else "training"
    if not math.isfinite(real):
        passed, summary = False, f"the run on real inputs diverged within {k} steps"
    elif not math.isfinite(zero_loss):
        passed = True
        summary = f"{on} loss {_fmt(real)} on real inputs; the zero-input run diverged"
    else:
        passed = real < BASELINE_RATIO * zero_loss
        ratio = real / zero_loss if zero_loss > 0 else math.inf
        summary = (
            f"{on} loss {_fmt(real)} with real inputs vs {_fmt(zero_loss)} with zeroed inputs "
            f"(ratio {ratio:.2f}, pass < {BASELINE_RATIO}) after {k} steps"
        )
    hp = s.hyperparameters()
    details = [
        f"two copies from the initial weights, {hp['optimizer']} lr {_fmt(hp['lr'])}, "
        f"batch {d.batch_size}, {k} steps each",
        *notes,
    ]
    if not passed:
        details.append(
            "the inputs barely help: labels unrelated to the inputs, inputs lost on the way "
            "(e.g. zeroed or unscaled), or the model cannot learn in this budget"
        )
    return CheckResult(name, passed, summary, details)


# ------------------------------------------------------------- update ratio
def check_update_ratio(s: TorchSession, window: int = 100) -> CheckResult:
    """Per module with trainable weights: median ``|update| / |W|`` over the last
    ``window`` steps, within the diagnosis's band (1e-4, 3e-2) (CS231n's ~1e-3). From the history only."""
    name = "update ratio"
    h = s.history
    n = h.steps.n
    if n == 0:
        return CheckResult(
            name, True, "not applicable yet: no training steps recorded", applicable=False
        )
    lo = max(0, n - window)
    details = []
    passed = True
    medians = []
    for i, (mname, m) in enumerate(s.modules):
        if not weight_params(m):
            continue  # an activation, dropout, a frozen module: nothing to update
        col = np.asarray(h.step_series("update_ratio", i)[lo:])
        col = col[~np.isnan(col)]
        med = float(np.median(col)) if col.size else math.nan
        medians.append(med)
        if not math.isfinite(med) or med > RATIO_HIGH:
            verdict, passed = "too high", False
        elif med < RATIO_LOW:
            verdict, passed = "too low", False
        else:
            verdict = "ok"
        details.append(f"{mname}: {_fmt(med)} {verdict}")
    if not medians:
        return CheckResult(name, True, "no module with trainable weights", applicable=False)
    finite = [m for m in medians if math.isfinite(m)]
    span = f"{_fmt(min(finite))}..{_fmt(max(finite))}" if finite else "n/a"
    summary = (
        f"median update ratio per module {span} over the last {n - lo} steps "
        f"(healthy ~1e-3, band [{RATIO_LOW:g}, {RATIO_HIGH:g}])"
    )
    if not passed:
        from tui_trainer.torch.diagnose import diagnose

        details.append(lr_verdict(diagnose(s)))
    return CheckResult(name, passed, summary, details)


# ------------------------------------------------------------------- all
_WEIGHTS = {
    "grad": 0.15,
    "reach": 0.05,
    "init": 0.05,
    "overfit": 0.2,
    "baseline": 0.5,
    "ratio": 0.05,
}


def run_all(s: TorchSession, progress: Progress | None = None) -> list[CheckResult]:
    """Run every check in order; a check that raises is reported as failed."""
    plan: Plan = [
        ("grad", "gradient check", lambda p: check_gradients(s, progress=p)),
        ("reach", "gradients reach every parameter", lambda p: check_gradients_reach(s)),
        ("init", "loss at init", lambda p: check_init_loss(s)),
        ("overfit", "overfit a tiny batch", lambda p: check_overfit_tiny_batch(s, progress=p)),
        ("baseline", "zero-input baseline", lambda p: check_zero_input_baseline(s, progress=p)),
        ("ratio", "update ratio", lambda p: check_update_ratio(s)),
    ]
    return run_plan(plan, _WEIGHTS, progress)
