"""Diagnosis of a TorchSession from its metric series (the ``Finding`` type of the NumPy rules).

The NumPy engine's rules (``engine/diagnostics/rules.py``) read its dense
layers (activations, pre-activations, the config's init and activations),
which a PyTorch model does not have. What every backend records is the same
history: the loss and accuracy per step and epoch, and per pause module its
gradient norm, weight norm, update ratio and dead-unit fraction. These
findings are read from that alone, with the NumPy rules' thresholds
(imported, not copied), and the fixes are limited to what can be changed on
the user's model from the debugger: the learning rate.

Found here (``AVAILABLE``):

``diverged`` (error)
    ``session.nonfinite``: the module and phase where the first NaN/Inf
    appeared, the last finite losses; fix: lr / 10.
``exploding_gradients`` (warning; error when diverged)
    Among the modules with weights, the first one's gradient norm is more than
    ``EXPLODE_RATIO`` x the last one's (median of the per-step ratio over the
    early window), or a module's median gradient norm over the recent window
    is more than ``EXPLODE_RATIO`` x its early median (needs two windows of
    steps); fix: lr / 10.
``vanishing_gradients`` (warning)
    The first weighted module's gradient norm is below ``VANISH_RATIO`` x the
    last one's (median ratio over the early or the recent window) while the
    last one's is not zero. No lr fix (the cause is the architecture or the
    initialisation): the advice says what to look at.
``dead_relu`` (warning)
    A ReLU-like module where at least ``DEAD_FRACTION`` of the units were
    never active on any training example during the last completed epoch, or,
    before the first epoch ends, the median per-batch dead fraction over the
    last steps is at least ``DEAD_FRACTION_STEPS``; fix: lr / 3 when its
    update ratio was high (big steps kill units), none otherwise.
``overfitting`` (warning)
    At least ``OVERFIT_MIN_EPOCHS`` epochs with a validation loss; with
    3-epoch moving averages the best validation epoch is at least
    ``OVERFIT_AFTER_BEST`` epochs back, the validation loss is now above
    ``OVERFIT_VAL_RISE`` x its best while the training loss kept falling and
    is at most half the validation loss. No lr fix (more data, weight decay,
    dropout or stopping at the best epoch are the user's to change).

Not available on a PyTorch model (``NOT_AVAILABLE``): the rules that need the
dense layers' activations, the scenario's config or a fresh network built
from it (learning rate too large or too small, saturated units, unscaled
inputs, initial loss, a missing non-linearity, a loss that does not fit the
output, too strong L2, plateau, underfitting). The sanity checks (g) cover
the initial loss and the update ratio.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from tui_trainer.engine.diagnostics.finding import SEVERITIES, Finding
from tui_trainer.engine.diagnostics.rules import (
    DEAD_FRACTION,
    DEAD_FRACTION_STEPS,
    EXPLODE_RATIO,
    OVERFIT_AFTER_BEST,
    OVERFIT_MIN_EPOCHS,
    OVERFIT_VAL_RISE,
    UPDATE_RATIO_HIGH,
    VANISH_RATIO,
)
from tui_trainer.torch.modules import weight_params

if TYPE_CHECKING:
    from tui_trainer.torch.session import TorchSession

AVAILABLE = (
    "diverged",
    "exploding_gradients",
    "vanishing_gradients",
    "dead_relu",
    "overfitting",
)
NOT_AVAILABLE = (
    "lr_too_large",
    "lr_too_small",
    "saturated",
    "unstandardized_inputs",
    "init_loss",
    "missing_nonlinearity",
    "loss_mismatch",
    "l2_too_strong",
    "plateau",
    "underfitting",
)


def _f(x: float) -> str:
    return f"{x:.3g}" if math.isfinite(x) else str(x)


def _lr_fix(s: TorchSession, factor: float) -> tuple[dict[str, float], ...]:
    return ({"training.lr": float(f"{s.current_lr * factor:.3g}")},)


def _window(n: int) -> int:
    return int(min(200, max(10, n // 10)))


def _weighted(s: TorchSession) -> list[int]:
    """Pause modules with trainable weights, in forward order."""
    return [i for i, (_, m) in enumerate(s.modules) if weight_params(m)]


def _median(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else math.nan


def _diverged(s: TorchSession) -> Finding | None:
    nf = s.nonfinite
    if nf is None:
        return None
    loss = s.history.step_series("loss")
    last = [f"{v:.3g}" for v in loss[np.isfinite(loss)][-3:]]
    return Finding(
        code="diverged",
        title=f"Training diverged at {nf.module or nf.phase.label}",
        severity="error",
        step=int(nf.step),
        epoch=int(s.epoch),
        evidence=nf.describe() + (f"; the last finite losses {', '.join(last)}" if last else ""),
        advice="step back (F) and lower the learning rate, or find what made the value "
        "non-finite in that module",
        layer=nf.layer,
        involves=((nf.layer, "gradient"),) if nf.layer is not None else (),
        fixes=_lr_fix(s, 0.1),
    )


def _gradients(s: TorchSession) -> list[Finding]:
    h = s.history
    n = h.steps.n
    mods = _weighted(s)
    if n < 2 or len(mods) < 1:
        return []
    w = _window(n)
    g = {i: np.asarray(h.step_series("grad_norm", i), dtype=float) for i in mods}
    out: list[Finding] = []
    names = s.module_names
    first, last = mods[0], mods[-1]
    sev = "error" if s.nonfinite is not None else "warning"
    if first != last:
        with np.errstate(all="ignore"):
            ratio = g[first] / g[last]
        early, recent = _median(ratio[:w]), _median(ratio[-w:])
        last_alive = _median(g[last][-w:]) > 0
        if math.isfinite(early) and early > EXPLODE_RATIO:
            out.append(
                Finding(
                    code="exploding_gradients",
                    title=f"Exploding gradients towards {names[first]}",
                    severity=sev,
                    step=0,
                    epoch=0,
                    evidence=f"|grad| of {names[first]} is {_f(early)}x that of {names[last]} "
                    f"(median over the first {min(w, n)} steps; > {EXPLODE_RATIO:g} flags)",
                    advice="lower the learning rate, or clip the gradient norm "
                    "(torch.nn.utils.clip_grad_norm_) in your training code",
                    layer=first,
                    involves=((first, "gradient"),),
                    fixes=_lr_fix(s, 0.1),
                )
            )
        elif last_alive and min(early, recent) < VANISH_RATIO:
            which = "first" if early < VANISH_RATIO else "last"
            value = early if which == "first" else recent
            out.append(
                Finding(
                    code="vanishing_gradients",
                    title=f"Vanishing gradients at {names[first]}",
                    severity="warning",
                    step=0 if which == "first" else max(0, n - w),
                    epoch=0,
                    evidence=f"|grad| of {names[first]} is {_f(value)}x that of {names[last]} "
                    f"(median over the {which} {min(w, n)} steps; < {VANISH_RATIO:g} flags)",
                    advice="the early modules barely learn: look at saturating activations "
                    "(sigmoid, tanh), the initialisation, or add normalisation or residual "
                    "connections",
                    layer=first,
                    involves=((first, "gradient"),),
                )
            )
    if n >= 2 * w and not any(f.code == "exploding_gradients" for f in out):
        for i in mods:
            early, recent = _median(g[i][:w]), _median(g[i][-w:])
            if early > 0 and recent > EXPLODE_RATIO * early:
                out.append(
                    Finding(
                        code="exploding_gradients",
                        title=f"Gradients grow without bound in {names[i]}",
                        severity=sev,
                        step=n - w,
                        epoch=int(s.epoch),
                        evidence=f"median |grad| of {names[i]} rose from {_f(early)} (first "
                        f"{w} steps) to {_f(recent)} (last {w}): over {EXPLODE_RATIO:g}x",
                        advice="lower the learning rate, or clip the gradient norm",
                        layer=i,
                        involves=((i, "gradient"),),
                        fixes=_lr_fix(s, 0.1),
                    )
                )
                break
    return out


def _dead(s: TorchSession) -> list[Finding]:
    h = s.history
    out = []
    for i, name in enumerate(s.module_names):
        if not s._relu_like[i]:
            continue
        ep = np.asarray(h.epoch_series("dead_fraction", i), dtype=float)
        if h.epochs.n and math.isfinite(ep[-1]):
            value, limit, when = float(ep[-1]), DEAD_FRACTION, "during the last epoch"
            bad = value >= limit
        else:
            steps = np.asarray(h.step_series("dead_fraction", i), dtype=float)[-20:]
            if len(steps) < 10:
                continue
            value, limit, when = _median(steps), DEAD_FRACTION_STEPS, "per batch, recently"
            bad = math.isfinite(value) and value >= limit
        if not bad:
            continue
        # big steps before it (the previous weighted module's update ratio) kill units
        prev = [j for j in _weighted(s) if j < i]
        ratio = (
            _median(np.asarray(h.step_series("update_ratio", prev[-1]), dtype=float)[-200:])
            if prev
            else math.nan
        )
        high = math.isfinite(ratio) and ratio > UPDATE_RATIO_HIGH
        out.append(
            Finding(
                code="dead_relu",
                title=f"Dead units after {name}",
                severity="warning",
                step=max(0, h.steps.n - 1),
                epoch=int(s.epoch),
                evidence=f"{value:.0%} of {name}'s units never active {when} "
                f"(>= {limit:.0%} flags)"
                + (f"; the update ratio before it is {_f(ratio)}" if high else ""),
                advice=(
                    "big steps pushed the units below 0: lower the learning rate"
                    if high
                    else "try LeakyReLU, a smaller initial bias, or normalisation before it"
                ),
                layer=i,
                involves=((i, "dead"),),
                fixes=_lr_fix(s, 1 / 3) if high else (),
            )
        )
    return out


def _smooth(x: np.ndarray) -> np.ndarray:
    if len(x) < 3:
        return x
    k = np.ones(3) / 3
    return np.convolve(np.pad(x, 1, mode="edge"), k, mode="valid")


def _overfitting(s: TorchSession) -> Finding | None:
    h = s.history
    val = np.asarray(h.epoch_series("val_loss"), dtype=float)
    train = np.asarray(h.epoch_series("loss"), dtype=float)
    if len(val) < OVERFIT_MIN_EPOCHS or not np.isfinite(val).all() or s.nonfinite is not None:
        return None
    v, t = _smooth(val), _smooth(train)
    best = int(np.argmin(v))
    now = len(v) - 1
    if now - best < OVERFIT_AFTER_BEST or not v[now] > OVERFIT_VAL_RISE * v[best]:
        return None
    if not (t[now] < 0.8 * t[best] and t[now] <= 0.5 * v[now]):
        return None
    return Finding(
        code="overfitting",
        title="Overfitting: the validation loss rises while the training loss falls",
        severity="warning",
        step=int(h.epoch_series("step")[best]),
        epoch=best,
        evidence=f"validation loss {_f(v[now])} now vs {_f(v[best])} at epoch {best + 1}; "
        f"training loss {_f(t[now])} (3-epoch averages)",
        advice="stop at the best epoch, add weight decay or dropout, or get more data",
    )


def scope() -> str:
    """One sentence for the debug panel: what is checked on a PyTorch model and what not."""
    return (
        "On a PyTorch model the diagnosis reads the per-module series: divergence, "
        "exploding or vanishing gradients, dead units, overfitting. Not available here "
        "(they need the NumPy engine's dense layers or the scenario): learning rate too "
        "large or small, saturated units, unscaled inputs, initial loss, missing "
        "non-linearity, loss mismatch, L2 too strong, plateau, underfitting; the sanity "
        "checks (g) cover the initial loss and the update ratio."
    )


def diagnose(s: TorchSession) -> list[Finding]:
    """The findings ``AVAILABLE`` on a PyTorch model, most severe first."""
    found: list[Finding] = []
    d = _diverged(s)
    if d is not None:
        found.append(d)
    found += _gradients(s)
    found += _dead(s)
    o = _overfitting(s)
    if o is not None:
        found.append(o)
    order = {sev: k for k, sev in enumerate(SEVERITIES)}
    return sorted(found, key=lambda f: (order.get(f.severity, 9), f.step))
