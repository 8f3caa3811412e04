"""The sanity checklist experienced practitioners run by hand before trusting a run.

Each check answers one question with a ``CheckResult`` (pass/fail, a one-line
summary with the numbers, detail lines per layer or parameter):

* ``check_gradients``: does backprop agree with central differences?
  (CS231n's gradient check, on the batch at the current position, float64.)
* ``check_init_loss``: is the loss of a freshly initialised network what
  chance predicts (``ln C`` for softmax cross-entropy over ``C`` classes)?
  A much larger loss means over-confident initial logits.
* ``check_overfit_tiny_batch``: can the model drive the loss on a handful of
  examples to ~0? If it cannot memorise 4 examples, something is broken
  (Karpathy, "A Recipe for Training Neural Networks", 2019).
* ``check_zero_input_baseline``: does the model learn more from the real
  inputs than from inputs set to zero (the same recipe's input-independent
  baseline)? If not, the inputs carry no usable signal to this model.
* ``check_update_ratio``: is ``|update| / |W|`` per layer near ``1e-3``
  (CS231n)? Much lower: the learning rate is too small; much higher: too large.

Every check works on copies: the session's parameters, optimizer state,
position, caches and history are never touched, so the checks can run at any
pause point (``run_all`` reports progress for a UI).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tui_trainer.engine.config import Dataset
from tui_trainer.engine.diagnostics.rules import UPDATE_RATIO_HIGH, UPDATE_RATIO_LOW
from tui_trainer.engine.gradcheck import NOISE, analytic_grads, gradcheck
from tui_trainer.engine.losses import Loss
from tui_trainer.engine.network import Network
from tui_trainer.engine.optim import Hyper, make_optimizer
from tui_trainer.engine.session import Session
from tui_trainer.engine.stepper import StepRecord, events_for, run_step

GradsFn = Callable[[Network, Loss, np.ndarray, np.ndarray, float], list[np.ndarray]]
Progress = Callable[[float], None]

# Gradient check: pass when every parameter's max relative error is below this.
GRAD_TOL = 1e-4
# At most this many samples of the batch go into the gradient check.
GRAD_MAX_SAMPLES = 256
# Update ratio |delta W| / |W|: the healthy band around ~1e-3. Its edges are the
# diagnosis's (one pair of numbers), so this check and the debug panel agree.
RATIO_LOW, RATIO_HIGH = UPDATE_RATIO_LOW, UPDATE_RATIO_HIGH
# Overfit a tiny batch with Adam at this learning rate, no L2.
OVERFIT_LR = 1e-2
# Step budget: classifiers get there in ~50 steps, small regression nets
# (sine, 16 tanh/ReLU units) need 300-600 at this learning rate.
OVERFIT_STEPS = 1000
# Zero-input baseline: the real run must reach below this fraction of the
# zero-input run's loss.
BASELINE_RATIO = 0.9
BASELINE_MIN_STEPS, BASELINE_MAX_STEPS = 1000, 2000


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one sanity check.

    ``applicable`` is False when the check does not apply yet or at all (e.g.
    the init-loss check for MSE, the update ratio before the first step); such
    results count as passed.
    """

    name: str
    passed: bool
    summary: str
    details: list[str] = field(default_factory=list)
    applicable: bool = True


# ---------------------------------------------------------------- helpers
def position_batch(s: Session) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The batch at the session's current position (see ``Session.current_batch``)."""
    return s.current_batch()


def upcoming_hyper(s: Session) -> dict[str, Any]:
    """Hyperparameter changes the next step applies when it begins (at a boundary)."""
    return s.pending_hyper()


def clone_net(net: Network, dtype: np.dtype | None = None) -> Network:
    """A copy of ``net`` with its own parameters and no caches (``Network.detached_copy``)."""
    return net.detached_copy(dtype)


def _fmt(x: float) -> str:
    return f"{x:.3g}" if math.isfinite(x) else str(x)


def _fmt_rel(x: float) -> str:
    """A relative error with significant digits; "0 (exact)" only when it is 0."""
    return "0 (exact)" if x == 0 else _fmt(x)


def _grad_detail(r: Any) -> str:
    """One parameter's gradient-check line (``r`` is a ``GradCheckResult``)."""
    if r.n_noise == r.checked:
        return f"{r.name}: all {r.checked}/{r.total} entries agree within {NOISE:g} (good)"
    noise = f", {r.n_noise} agree within {NOISE:g}" if r.n_noise else ""
    return (
        f"{r.name}: {_fmt_rel(r.max_rel_error)} {r.verdict} ({r.checked}/{r.total} entries{noise})"
    )


def _mean_loss(net: Network, loss: Loss, x: np.ndarray, y: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        return float(loss.per_sample(net.predict(x), y).mean())


# --------------------------------------------------------------- gradients
def check_gradients(
    s: Session,
    grads_fn: GradsFn = analytic_grads,
    max_per_param: int | None = 200,
    max_samples: int = GRAD_MAX_SAMPLES,
) -> CheckResult:
    """Backprop vs central differences on the batch at the current position.

    In float64 on a copy of the current network; the batch is cut to
    ``max_samples`` and big parameters are sampled (``max_per_param`` entries).
    Bands (CS231n): < 1e-7 good, < 1e-4 ok (ReLU kinks), < 1e-2 suspicious,
    above wrong. Passes when every parameter is below 1e-4. ``grads_fn``
    computes the analytic gradients being checked (a test can inject a wrong
    one).
    """
    name = "gradient check"
    x, y, _ = position_batch(s)
    x = np.asarray(x[:max_samples], dtype=np.float64)
    y = y[:max_samples]
    if y.dtype.kind == "f":
        y = y.astype(np.float64)
    net = clone_net(s.net, np.dtype(np.float64))
    with np.errstate(all="ignore"):
        raw = grads_fn(net, s.loss, x, y, s.l2, s.l1) if s.l1 else grads_fn(net, s.loss, x, y, s.l2)
        grads = [np.asarray(g, dtype=np.float64) for g in raw]
        results = gradcheck(
            net, s.loss, x, y, l2=s.l2, max_per_param=max_per_param, grads=grads, l1=s.l1
        )
    worst = max(results, key=lambda r: r.max_rel_error if math.isfinite(r.max_rel_error) else 1e300)
    err = worst.max_rel_error
    passed = all(r.max_rel_error < GRAD_TOL for r in results)
    checked = sum(r.checked for r in results)
    total = sum(r.total for r in results)
    if all(r.n_noise == r.checked for r in results):
        head = f"every entry agrees within {NOISE:g} (the differences' own accuracy)"
    else:
        head = f"max relative error {_fmt_rel(err)} ({worst.verdict}) in {worst.name}"
    summary = f"{head}; {checked}/{total} entries on {len(x)} samples"
    details = [_grad_detail(r) for r in results]
    if any(ly.activation in ("relu", "leaky_relu") for ly in s.net.layers):
        details.append("ReLU kinks can push a correct gradient up to ~1e-4 (entries near z = 0)")
    if not passed:
        details.append("errors above 1e-4: backprop disagrees with the numerical gradient")
    return CheckResult(name, passed, summary, details)


# ---------------------------------------------------------------- init loss
def init_loss_tolerance(n_classes: int) -> float:
    """How far from ``ln C`` the initial loss may be before it is noted:
    ``max(0.5, 0.5 ln C)``, the diagnosis's own tolerance
    (``diagnostics.rules.init_loss_tolerance``), so that this check and the
    ``init_loss`` finding cannot disagree. The check fails only where the
    diagnosis warns (far above ln C and 3x a well-scaled start's loss).
    """
    from tui_trainer.engine.diagnostics.rules import init_loss_tolerance as shared

    return shared(n_classes)[0]


def check_init_loss(s: Session) -> CheckResult:
    """Loss of a freshly initialised network vs ``ln C``, judged as the diagnosis judges it.

    Softmax cross-entropy only: uniform predictions over ``C`` classes give
    ``ln C`` whatever the labels, and a good initialisation starts close to
    that. The loss and the verdict are the ``init_loss`` finding's
    (``diagnostics.rules.init_loss_verdict``, on the same 512 training
    examples next to a He/Xavier start): fails where the finding is a
    warning, passes with the finding's note where it is a note.
    """
    from tui_trainer.engine.diagnostics.checks import INIT_BASELINE_BATCH, init_loss_baseline
    from tui_trainer.engine.diagnostics.rules import init_loss_verdict

    name = "loss at init"
    if s.loss.name != "cross_entropy":
        return CheckResult(
            name,
            True,
            f"not applicable to {s.loss.name} (checks softmax cross-entropy against ln C)",
            applicable=False,
        )
    n_classes = int(s.cfg.layers[-1].units)
    net = Network.build(s.cfg, s.x_train.shape[1])
    n = min(INIT_BASELINE_BATCH, int(s.x_train.shape[0]))
    with np.errstate(all="ignore"):
        out = net.predict(s.x_train[:n])
    value, good = init_loss_baseline(s)
    v = init_loss_verdict(value, n_classes, good)
    passed = math.isfinite(value) and v.severity != "warning"
    summary = (
        f"initial loss {_fmt(value)} vs ln {n_classes} = {v.expected:.3f} (a note beyond "
        f"+-{v.low:.2f}, a warning above {v.expected + v.high:.2f} and 3x a He/Xavier start)"
    )
    logit_std = float(np.std(out)) if out.size else 0.0
    details = [
        f"fresh network from the config ({s.cfg.init} init, seed {s.cfg.seed}), first {n} "
        "training examples",
        f"initial logits: std {_fmt(logit_std)}, max |z| {_fmt(float(np.max(np.abs(out))))}",
    ]
    if v.severity == "warning":
        details.append(f"over-confident initial logits: {v.why}")
    elif v.severity == "info":
        details.append(f"note (as the diagnosis's init_loss): {v.why}")
    elif not passed:
        details.append("the initial loss is not finite: check the loss and the labels")
    return CheckResult(name, passed, summary, details)


# ---------------------------------------------------------- tiny-batch overfit
def tiny_batch_indices(s: Session, n: int) -> np.ndarray:
    """``n`` training indices (2..8), balanced over classes when classifying."""
    n = max(2, min(8, int(n), s.n_train))
    rng = np.random.default_rng([s.cfg.seed, 7])
    if s.labels_train is None:
        return np.sort(rng.choice(s.n_train, n, replace=False))
    groups = [
        rng.permutation(np.flatnonzero(s.labels_train == c)) for c in np.unique(s.labels_train)
    ]
    picked: list[int] = []
    k = 0
    while len(picked) < n:
        for g in groups:
            if k < len(g) and len(picked) < n:
                picked.append(int(g[k]))
        k += 1
    return np.sort(np.array(picked))


def check_overfit_tiny_batch(
    s: Session, n: int = 4, steps: int = OVERFIT_STEPS, progress: Progress | None = None
) -> CheckResult:
    """Can a copy of the current weights memorise ``n`` training examples?

    Trains a copy with Adam at lr 1e-2 (a robust choice that does not depend
    on the session's possibly mistuned learning rate) and no L1, L2 or
    dropout (regularisation fights memorisation), through the engine's own ``run_step``.
    Passes when the loss falls below ``max(0.01, 1e-2 * initial)`` within
    ``steps`` steps.
    """
    name = "overfit a tiny batch"
    idx = tiny_batch_indices(s, n)
    net = clone_net(s.net)
    rec = StepRecord()
    rec.x, rec.y = s.x_train[idx], s.y_train[idx]
    rec.labels = s.labels_train[idx] if s.labels_train is not None else None
    opt = make_optimizer("adam", [p.shape for p in net.params()], np.dtype(net.layers[0].W.dtype))
    hyper = Hyper(lr=OVERFIT_LR)
    events = events_for(len(net.layers))
    initial = math.nan
    target = math.nan
    reached: int | None = None
    last = math.nan
    with np.errstate(all="ignore"):
        for k in range(steps):
            rec.step = k
            nonfinite = False
            for ev in run_step(net, s.loss, opt, hyper, 0.0, rec, events):
                nonfinite = nonfinite or ev.nonfinite
            last = rec.loss
            if k == 0:
                initial = last
                target = max(0.01, 1e-2 * initial)
            if nonfinite:
                where = rec.nonfinite.describe() if rec.nonfinite else "non-finite values"
                return CheckResult(
                    name,
                    False,
                    f"training {len(idx)} examples diverged at step {k}",
                    [where],
                )
            if last < target:
                reached = k
                break
            if progress is not None and k % 50 == 0:
                progress(k / steps)
    if reached is not None:
        summary = (
            f"loss {_fmt(initial)} -> {_fmt(last)} (< {_fmt(target)}) on {len(idx)} examples "
            f"in {reached} steps"
        )
        passed = True
    else:
        summary = (
            f"loss {_fmt(initial)} -> {_fmt(last)} on {len(idx)} examples after {steps} steps; "
            f"target < {_fmt(target)} not reached"
        )
        passed = False
    details = [
        f"Adam lr {OVERFIT_LR:g}, no L2, full batch of examples {idx.tolist()}, "
        "starting from the current weights"
    ]
    if not passed:
        details.append(
            "a model that cannot memorise a few examples has a bug (loss, gradients, "
            "update) or too little capacity (e.g. dead units, a linear model on XOR)"
        )
    return CheckResult(name, passed, summary, details)


# --------------------------------------------------------- zero-input baseline
def baseline_steps(s: Session) -> int:
    """Steps per run: 5 epochs, clipped to [1000, 2000].

    At least 1000 steps: problems with a plateau (xor, spiral at lr 0.03)
    are still at chance level after a few hundred steps, which would make a
    healthy model fail the check.
    """
    bs = s.n_train if s.batch_size <= 0 else min(s.batch_size, s.n_train)
    per_epoch = max(1, math.ceil(s.n_train / bs))
    return int(min(BASELINE_MAX_STEPS, max(BASELINE_MIN_STEPS, 5 * per_epoch)))


def check_zero_input_baseline(
    s: Session, steps: int | None = None, progress: Progress | None = None
) -> CheckResult:
    """Does the model learn more from the inputs than from zeros?

    Trains two fresh sessions from the initial weights with the session's
    config and *current* hyperparameters for ``steps`` steps (default
    ``baseline_steps``): one on the real inputs, one with every input set to
    zero (it can only learn the output prior). Compares their loss on the
    validation set (the training set when there is none), each on its own
    kind of input. Passes when the real run's loss is below 0.9x the
    zero-input run's.
    """
    name = "zero-input baseline"
    k = steps if steps is not None else baseline_steps(s)
    data: Dataset = s.data
    bs = s.n_train if s.batch_size <= 0 else min(s.batch_size, s.n_train)
    per_epoch = max(1, math.ceil(s.n_train / bs))
    cfg = s.cfg.with_changes(
        lr=s.hyper.lr,
        momentum=s.hyper.momentum,
        beta1=s.hyper.beta1,
        beta2=s.hyper.beta2,
        eps=s.hyper.eps,
        l2=s.l2,
        l1=s.l1,
        schedule=s.schedule.name,
        warmup_epochs=s.schedule.warmup_epochs,
        step_size=s.schedule.step_size,
        gamma=s.schedule.gamma,
        min_lr=s.schedule.min_lr,
        t_max=s.schedule.t_max,
        batch_size=s.batch_size,
        optimizer=s.optimizer_name,
        epochs=k // per_epoch + 2,
        history_steps=1,
    )
    zero = Dataset(
        np.zeros_like(data.x_train),
        data.y_train,
        np.zeros_like(data.x_val),
        data.y_val,
        data.task,
        data.n_classes,
    )
    use_val = len(data.x_val) > 0
    losses = []
    notes = []
    for j, (label, d) in enumerate((("real", data), ("zero", zero))):
        run = Session(cfg, d)

        def report(r, j=j) -> bool:
            if progress is not None and r.step % 25 == 0:
                progress((j + r.step / k) / 2)
            return False

        reason = run.run(report, max_steps=k)
        if reason.kind == "diverged":
            notes.append(f"{label} inputs: diverged ({reason.message})")
            losses.append(math.nan)
            continue
        if use_val:
            value = _mean_loss(run.net, run.loss, run.x_val, run.y_val)
        else:
            value = _mean_loss(run.net, run.loss, run.x_train, run.y_train)
        losses.append(value)
    real, zero_loss = losses
    on = "validation" if use_val else "training"
    if not math.isfinite(real):
        passed = False
        summary = f"the run on real inputs diverged within {k} steps"
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
    details = [
        f"two fresh runs from the initial weights, {cfg.optimizer} lr {_fmt(cfg.lr)}, "
        f"batch {cfg.batch_size}, {k} steps each",
        *notes,
    ]
    if not passed:
        details.append(
            "the inputs barely help: labels unrelated to the inputs, inputs lost on the way "
            "(e.g. zeroed or unscaled), or the model cannot learn in this budget"
        )
    return CheckResult(name, passed, summary, details)


# ------------------------------------------------------------- update ratio
def check_update_ratio(s: Session, window: int = 100) -> CheckResult:
    """Per-layer median ``|delta W| / |W|`` over the last ``window`` steps.

    CS231n's rule of thumb: about 1e-3. Passes when every layer's median is
    within the diagnosis's band [RATIO_LOW, RATIO_HIGH] (1e-4, 3e-2). Uses the session's recorded history (no training).
    """
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
    for i in range(h.n_layers):
        col = np.asarray(h.step_series("update_ratio", i)[lo:])
        col = col[~np.isnan(col)]
        med = float(np.median(col)) if col.size else math.nan
        medians.append(med)
        if not math.isfinite(med) or med > RATIO_HIGH:
            verdict = "too high"
            passed = False
        elif med < RATIO_LOW:
            verdict = "too low"
            passed = False
        else:
            verdict = "ok"
        details.append(f"layer {i + 1}: {_fmt(med)} {verdict}")
    finite = [m for m in medians if math.isfinite(m)]
    span = f"{_fmt(min(finite))}..{_fmt(max(finite))}" if finite else "n/a"
    summary = (
        f"median update ratio per layer {span} over the last {n - lo} steps "
        f"(healthy ~1e-3, band [{RATIO_LOW:g}, {RATIO_HIGH:g}])"
    )
    if not passed:
        from tui_trainer.engine.diagnostics import diagnose

        details.append(lr_verdict(diagnose(s)))
    return CheckResult(name, passed, summary, details)


def lr_verdict(findings: Sequence[Any]) -> str:
    """Whether the learning rate is to blame, as the diagnosis says (never guessed here).

    An update ratio outside the band has other causes too (a layer whose
    weights are near zero, an exploding start), so the check quotes the
    findings instead of naming a cause of its own.
    """
    for f in findings:
        if f.code in ("lr_too_large", "lr_too_small"):
            return f"the diagnosis: {f.title}. {f.advice}"
    return "the diagnosis does not blame the learning rate (the debug panel lists what it finds)"


# ------------------------------------------------------------------- all
# Rough relative costs, for progress reporting.
_WEIGHTS = {"grad": 0.2, "init": 0.05, "overfit": 0.2, "baseline": 0.5, "ratio": 0.05}


Plan = list[tuple[str, str, Callable[[Progress | None], CheckResult]]]


def run_plan(
    plan: Plan, weights: dict[str, float], progress: Progress | None = None
) -> list[CheckResult]:
    """Run ``(key, label, check)`` in order with progress weighted by ``weights[key]``;
    a check that raises is reported as failed (both backends' ``run_all``)."""
    total = sum(weights.values())
    done = 0.0

    def sub(weight: float) -> Progress | None:
        if progress is None:
            return None
        start = done
        return lambda f: progress(min(1.0, (start + weight * f) / total))

    results = []
    for key, label, fn in plan:
        try:
            results.append(fn(sub(weights[key])))
        except Exception as exc:  # a broken check must not take the UI down
            results.append(CheckResult(label, False, f"error: {type(exc).__name__}: {exc}"))
        done += weights[key]
        if progress is not None:
            progress(min(1.0, done / total))
    return results


def run_all(s: Session, progress: Progress | None = None) -> list[CheckResult]:
    """Run every check in order; a check that raises is reported as failed."""
    plan: Plan = [
        ("grad", "gradient check", lambda p: check_gradients(s)),
        ("init", "loss at init", lambda p: check_init_loss(s)),
        ("overfit", "overfit a tiny batch", lambda p: check_overfit_tiny_batch(s, progress=p)),
        ("baseline", "zero-input baseline", lambda p: check_zero_input_baseline(s, progress=p)),
        ("ratio", "update ratio", lambda p: check_update_ratio(s)),
    ]
    return run_plan(plan, _WEIGHTS, progress)
