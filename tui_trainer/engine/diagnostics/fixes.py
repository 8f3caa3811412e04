"""The concrete fixes each finding suggests, and how to apply one.

Each code has a rule here that turns the session's current settings into one
or two fixes (most likely first): dotted scenario fields with new values.
Values are rounded to one significant digit, so ``lr = 0.3`` becomes
``lr = 0.03`` rather than ``0.030000000000000002``.

A fix applies in one of two ways:

* :func:`hyper_change` turns a fix that touches only hyperparameters a
  running session can change (``training.lr``, ``training.l2``,
  ``training.optimizer`` ...) into ``Session.set_hyper`` arguments, so it can
  be tried as a what-if fork from the current step;
* :func:`tui_trainer.fixes.apply_fix` makes a new scenario with the fix
  applied (through the scenario's own override mechanism,
  ``Scenario.to_toml``, checked by loading it again), for fixes that change
  the start: the network, the initialization, the data. It lives outside the
  engine because the scenario loader is not part of the engine.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from tui_trainer.engine.diagnostics.finding import Finding, Fix

if TYPE_CHECKING:
    from tui_trainer.engine.session import Session

# Scenario fields that Session.set_hyper can change mid-run (epochs excluded:
# a fix never changes how long the run is).
_HYPER = {f"training.{k}": k for k in ("lr", "momentum", "beta1", "beta2", "eps", "l2")}
_HYPER |= {"training.optimizer": "optimizer", "training.batch_size": "batch_size"}


def nice(x: float) -> float:
    """``x`` rounded to one significant digit (0.0312 -> 0.03)."""
    if x == 0 or not math.isfinite(x):
        return x
    e = math.floor(math.log10(abs(x)))
    return float(f"{round(x / 10**e) * 10**e:.{max(0, -e)}f}")


def hyper_change(fix: Fix) -> dict[str, Any] | None:
    """``Session.set_hyper`` arguments for ``fix``, or None if it changes the start."""
    out: dict[str, Any] = {}
    for key, value in fix.items():
        name = _HYPER.get(key)
        if name is None:
            return None
        out[name] = 0 if name == "batch_size" and value == "full" else value
    return out


# ----------------------------------------------------------------- per code
def _hidden_acts(s: Session) -> list[str]:
    return [ly.activation for ly in s.net.layers[:-1]]


def _good_init(s: Session) -> str:
    acts = _hidden_acts(s)
    return "he" if acts and all(a in ("relu", "leaky_relu") for a in acts) else "xavier"


# A typical learning rate per optimizer (TensorFlow Playground's 0.03 for
# sgd; Adam's default 1e-3), as in the rules' lr_scale.
TYPICAL_LR = {"sgd": 0.03, "momentum": 0.01, "adam": 0.001}


def _typical(s: Session) -> float:
    return TYPICAL_LR.get(s.optimizer_name, 0.03)


# The rate to restart from when the learning rate is far too large (30x the
# typical one and more). Adam's default 1e-3 is made for large networks and
# long runs: on the benchmark's small networks and 30-50 epochs it is too
# slow to beat an Adam run at lr 2.2 that still trained (48 tuning runs at
# 100x-3000x the typical rate: sgd and momentum at their typical rate and
# adam at 0.01 repaired 47; every optimizer's typical rate 44, lr / 10 40,
# lr / 30 42, lr / 100 45).
RESTART_LR = {"sgd": 0.03, "momentum": 0.01, "adam": 0.01}


def _restart_lr(s: Session) -> float:
    return RESTART_LR.get(s.optimizer_name, _typical(s))


def _lower_lr(s: Session, factor: float = 10.0) -> Fix:
    """``factor`` x lower, but never above 3x the optimizer's typical rate: a
    learning rate 300x too large is not repaired by a tenth of it."""
    return {"training.lr": nice(min(s.hyper.lr / factor, 3 * _typical(s)))}


def _widths(s: Session) -> list[int]:
    return [int(ly.n_out) for ly in s.net.layers[:-1]]


def _init_fix(s: Session) -> Fix:
    """A start with well-scaled weights and zero biases."""
    fix: Fix = {"model.init": _good_init(s)}
    if s.cfg.bias_init != 0:
        fix["model.bias_init"] = 0.0
    return fix


def _fixes(f: Finding, s: Session) -> list[Fix]:
    cfg = s.cfg
    code = f.code
    if code in ("diverged", "lr_too_large"):
        nf = s.nonfinite
        if code == "diverged" and nf is not None and nf.step == 0 and nf.phase.name != "UPDATE":
            return _start_overflow_fixes(s)
        if s.hyper.lr >= 30 * _typical(s):
            # Far off (30x and more): a tenth is often still too large (on the
            # benchmark's tuning runs it repaired fewer runs), so a rate known
            # to train comes first (RESTART_LR).
            return [{"training.lr": _restart_lr(s)}, _lower_lr(s)]
        return [_lower_lr(s), {"training.lr": _typical(s)}]
    if code == "lr_too_small":
        return [{"training.lr": _typical(s)}, {"training.lr": nice(s.hyper.lr * 10)}]
    if code == "vanishing_gradients":
        if cfg.init in ("normal", "uniform", "zeros"):
            return [{"model.init": _good_init(s)}, {"model.activation": "relu", "model.init": "he"}]
        return [
            {"model.activation": "relu", "model.init": "he"},
            {"model.hidden": _widths(s)[:2] or [16]},
        ]
    if code == "exploding_gradients":
        if cfg.init in ("normal", "uniform") or cfg.init != _good_init(s):
            # A well-scaled start alone left deep relu regression runs to blow
            # up later at sgd's rate (2 of 12 on heldout2). Adam's step is
            # about lr per weight whatever the gradient's size, so a gradient
            # that grows cannot throw the weights: the start and Adam at its
            # default repaired 48 of 48 runs of the four tuning sets, the
            # start alone 46, with a third of the lr 45, Xavier 47.
            adam: Fix = {"training.optimizer": "adam", "training.lr": min(s.hyper.lr, 0.001)}
            if s.optimizer_name == "adam":
                del adam["training.optimizer"]
            return [{"model.init": _good_init(s), **adam}, {"model.init": _good_init(s)}]
        return [_lower_lr(s), {"model.hidden": _widths(s)[:2] or [16]}]
    if code == "dead_relu":
        if cfg.bias_init < 0:
            return [{"model.bias_init": 0.0}, {"model.activation": "leaky_relu"}]
        if cfg.init != "he":
            return [{"model.init": "he"}, {"model.activation": "leaky_relu"}]
        return [_lower_lr(s), {"model.activation": "leaky_relu"}]
    if code == "saturated":
        if cfg.init in ("normal", "uniform"):
            # ReLU first: on the benchmark's tuning runs (36 saturated starts,
            # sgd, 30-50 epochs) it repaired 35, Xavier-scaled tanh/sigmoid 28
            # (a sigmoid network trains slowly even when well scaled).
            return [{"model.activation": "relu", "model.init": "he"}, {"model.init": "xavier"}]
        return [
            {"data.standardize": True},
            {"model.activation": "relu", "model.init": "he"},
            _lower_lr(s),
        ]
    if code == "unstandardized_inputs":
        return [{"data.standardize": True}, _lower_lr(s), {"model.init": _good_init(s)}]
    if code == "init_loss":
        return [
            _init_fix(s),
            {"data.standardize": True},
        ]
    if code == "overfitting":
        smaller = [max(2, w // 4) for w in _widths(s)] or [8]
        return [{"training.l2": nice(max(1e-2, s.l2 * 10))}, {"model.hidden": smaller}]
    if code == "underfitting":
        wider = [max(16, 2 * w) for w in _widths(s)] or [16]
        if len(wider) < 2:
            wider = wider + [wider[-1]]
        return [{"model.hidden": wider}, {"training.lr": nice(s.hyper.lr * 3)}]
    if code == "missing_nonlinearity":
        return [
            {"model.activation": "tanh", "model.init": "xavier"},
            {"model.activation": "relu", "model.init": "he"},
        ]
    if code == "loss_mismatch":
        if s.classification:
            return [{"model.output_activation": "linear", "training.loss": "cross_entropy"}]
        return [{"model.output_activation": "linear"}]
    if code == "l2_too_strong":
        return [{"training.l2": nice(s.l2 / 100)}, {"training.l2": 0.0}]
    if code == "plateau":
        first: Fix = {"training.optimizer": "adam", "training.lr": 0.01}
        if cfg.init in ("normal", "uniform", "zeros"):
            return [{"model.init": _good_init(s)}, first]
        return [first, {"model.init": _good_init(s)}]
    return []


def _start_overflow_fixes(s: Session) -> list[Fix]:
    """Fixes for a NaN/Inf before the first update: the start overflowed, not a
    step, so never a learning rate (the finding's advice says it is not the
    cause): a well-scaled init, then a 10x smaller scale of the same init or
    standardized inputs."""
    cfg = s.cfg
    second: Fix | None = None
    if cfg.init == "normal":
        second = {"model.init_std": nice(cfg.init_std / 10)}
    elif cfg.init == "uniform":
        second = {"model.init_scale": nice(cfg.init_scale / 10)}
    elif _can_standardize(s):
        second = {"data.standardize": True}
    return [_init_fix(s)] + ([second] if second else [])


def _can_standardize(s: Session) -> bool:
    """Whether the scenario's ``data.standardize`` applies: not to generated data."""
    from tui_trainer.engine.data import GENERATORS

    return s.data.name not in GENERATORS


def fixes_for(f: Finding, s: Session) -> tuple[Fix, ...]:
    """One or two fixes for ``f`` given ``s``'s settings; none that change nothing
    and none the scenario could not take (standardizing generated data)."""
    current = _current(s)
    out: list[Fix] = []
    for fix in _fixes(f, s):
        if all(current.get(k, object()) == v for k, v in fix.items()):
            continue  # already so: not a fix
        if "data.standardize" in fix and not _can_standardize(s):
            continue
        if fix not in out:
            out.append(fix)
    return tuple(out[:2])


def _current(s: Session) -> dict[str, Any]:
    """The session's settings under their scenario names (what a fix compares with)."""
    cfg = s.cfg
    acts = set(_hidden_acts(s))
    cur: dict[str, Any] = {
        "training.lr": s.hyper.lr,
        "training.l2": s.l2,
        "training.optimizer": s.optimizer_name,
        "training.loss": cfg.loss,
        "model.init": cfg.init,
        "model.bias_init": cfg.bias_init,
        "model.hidden": _widths(s),
        "model.output_activation": s.net.layers[-1].activation,
    }
    if len(acts) == 1:
        cur["model.activation"] = acts.pop()
    return cur
