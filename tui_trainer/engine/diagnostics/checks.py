"""Rules added with the labelled benchmark (``bench/diagnosis.py``).

Static checks, true before the first step (they read the configuration and
the data, not the history):

``missing_nonlinearity`` (warning)
    Every hidden layer is linear: the network computes one linear map
    whatever its depth (two linear layers with nothing non-linear between
    them collapse into one), so it cannot bend a decision boundary.
``loss_mismatch`` (warning)
    The output activation does not fit the loss: cross_entropy and
    binary_cross_entropy take raw scores (the softmax or sigmoid is part of
    the loss), so any output activation other than linear squeezes them; or,
    for mse regression, at least 5% of the training targets lie outside the
    range the output activation can produce (sigmoid (0, 1), tanh (-1, 1),
    relu [0, inf)).
``lr_too_large`` (warning), static
    The learning rate is at least 50x the optimizer's typical one (sgd 0.03,
    momentum 0.01, adam 0.001): reported before the first step, and kept
    when the loss never visibly rose (a huge step can kill ReLU units or
    saturate tanh ones without a rise). The dynamic rule in :mod:`.rules`
    takes precedence when it finds the rise.
``lr_too_small`` (warning), static
    The learning rate is at most 1/100 of the optimizer's typical one;
    the dynamic rule in :mod:`.rules` (little progress, tiny update ratios)
    takes precedence when it holds.
``l2_too_strong`` (warning), static
    ``l2 >= 0.1``, 10x the top of the usual 1e-4 to 1e-2; the dynamic rule
    below (the weights collapsed and the network does not fit) takes
    precedence when it holds.
``unstandardized_inputs`` (warning)
    An input feature is far from standardized: the 99th percentile of
    ``|x|`` over the training set exceeds 20 (UMLAUT and DeepDiagnosis flag
    anything outside [-1, 1]; TensorFlow Playground's generated data spans
    [-6, 6] and trains well, so 20 leaves those alone). Features of very
    different spread alone are not flagged: image pixels that are nearly
    constant (digits) differ 1000x from the others and train well.

Dynamic checks:

``l2_too_strong`` (warning)
    With ``l2 > 0``: after at least 5 epochs the weights have shrunk to less
    than 0.3x their initial norm in some layer, and the network does not fit
    (the recent loss is above half the chance level). The penalty's pull
    (``l2 |W|``) then outweighs the data's gradient.
``plateau`` (warning)
    After at least 10 epochs the epoch train loss has stayed within 5% of
    the chance level for the last half of the run, while the learning rate is
    a typical one for the optimizer (at least 0.3x sgd 0.03, momentum 0.01,
    adam 0.001): tiny updates then come from a flat gradient, not from the
    step size (Cockpit tells the two apart by GradNorm with UpdateSize), and
    the network has the capacity (every hidden layer has at least 3 units and
    a non-linear activation). With 4 or more tanh/sigmoid hidden layers the
    same flat loss is reported as ``vanishing_gradients``: the signal fades
    through the depth on the way back (and forward), so the first and last
    layers' gradients can be equally small and the ratio rule misses it.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tui_trainer.engine.diagnostics.finding import Finding
from tui_trainer.engine.diagnostics.fixes import TYPICAL_LR
from tui_trainer.engine.diagnostics.rules import (
    _chance_loss,
    _f,
    _pct,
    _Run,
    lr_scale,
)

if TYPE_CHECKING:
    from tui_trainer.engine.session import Session

INPUT_SCALE = 20.0
# 50x the typical rate (sgd 1.5, momentum 0.5, adam 0.05): above every
# built-in scenario except lr_too_large (the dead_relu one uses sgd 1.0, 33x)
# and 5x above the benchmark's healthy range (up to about 10x).
ABSURD_LR = 50.0
# 1/100 of the typical rate (sgd 3e-4, momentum 1e-4, adam 1e-5): the built-in
# lr_too_small scenario (sgd 3e-4) and below; healthy settings stay above 1/3.
ABSURD_LR_SMALL = 100.0
# 10x the top of the usual 1e-4 to 1e-2 (the built-in regularized scenario uses 0.02)
ABSURD_L2 = 0.1
TARGET_OUTSIDE = 0.05
L2_SHRINK = 0.3
L2_MIN_EPOCHS = 5
PLATEAU_MIN_EPOCHS = 10
PLATEAU_BAND = 0.05
PLATEAU_LR_SCALE = 0.3
DEEP_SQUASHING = 4  # tanh/sigmoid hidden layers from which a flat loss is vanishing gradients
_RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "relu": (0.0, math.inf)}


# ----------------------------------------------------------------- static
def missing_nonlinearity(s: Session) -> Finding | None:
    hidden = s.net.layers[:-1]
    if not hidden or any(ly.activation != "linear" for ly in hidden):
        return None
    n = len(hidden)
    return Finding(
        code="missing_nonlinearity",
        title="No non-linearity between the layers",
        severity="warning",
        step=0,
        epoch=0,
        evidence=(
            f"all {n} hidden layer{'s are' if n > 1 else ' is'} linear and so is the output "
            f"layer's activation ({s.net.layers[-1].activation}): the whole network is one "
            "linear map of the inputs, whatever its depth"
        ),
        advice=(
            "Linear layers with nothing non-linear between them multiply out into a single "
            "linear layer, so the network can only draw straight decision boundaries (or fit "
            "planes). Give the hidden layers a non-linear activation: tanh (with Xavier "
            "initialization) or relu (with He)."
        ),
        layer=0,
        involves=tuple((i, "update") for i in range(n)),
    )


_LINEAR_FIT: weakref.WeakKeyDictionary[Session, tuple[int, float]] = weakref.WeakKeyDictionary()


def linear_fit(s: Session) -> float:
    """How well the best straight boundary (or plane) fits the training data.

    Least squares from the inputs (and a constant) to the targets (one-hot
    for classification), once per session: for classification the training
    accuracy of its argmax, for regression the share of the targets'
    variance it leaves unexplained. A proxy for the best linear model,
    computed in a millisecond on a few hundred examples.
    """
    got = _LINEAR_FIT.get(s)
    if got is not None and got[0] == id(s.data):
        return got[1]
    x = np.asarray(s.data.x_train, dtype=float)
    a = np.hstack([x, np.ones((x.shape[0], 1))])
    if s.classification:
        labels = np.asarray(s.data.y_train).astype(int).ravel()
        k = int(max(2, s.net.layers[-1].n_out, labels.max() + 1))
        y = np.eye(k)[labels]
    else:
        y = np.asarray(s.data.y_train, dtype=float).reshape(x.shape[0], -1)
    with np.errstate(all="ignore"):
        coef, *_ = np.linalg.lstsq(a, y, rcond=None)
        pred = a @ coef
    if s.classification:
        value = float(np.mean(np.argmax(pred, axis=1) == labels))
    else:
        var = float(np.mean(np.var(y, axis=0)))
        value = float(np.mean((pred - y) ** 2)) / var if var > 0 else 0.0
    _LINEAR_FIT[s] = (id(s.data), value)
    return value


_NEIGHBOURS: weakref.WeakKeyDictionary[Session, tuple[int, float]] = weakref.WeakKeyDictionary()
NEIGHBOURS_K = 5  # neighbours that vote
NEIGHBOURS_N = 512  # training examples it looks at (the first ones)


def neighbour_accuracy(s: Session) -> float:
    """How well the classes can be told apart at all: k nearest neighbours.

    The leave-one-out accuracy of a 5-nearest-neighbour vote on the first
    512 training examples, each feature standardized: a model with no
    capacity limit of its own, so where it too gets only 72% right the
    classes overlap and 72% is about the data's limit, not underfitting.
    Once per session, only when the underfitting rule asks (a 512 x 512
    distance matrix, about 4 ms of CPU); nan for regression.
    """
    got = _NEIGHBOURS.get(s)
    if got is not None and got[0] == id(s.data):
        return got[1]
    value = math.nan
    if s.classification:
        x = np.asarray(s.data.x_train, dtype=float)[:NEIGHBOURS_N]
        labels = np.asarray(s.data.y_train).astype(int).ravel()[:NEIGHBOURS_N]
        n = x.shape[0]
        if n > NEIGHBOURS_K:
            sd = x.std(axis=0)
            z = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
            sq = np.sum(z * z, axis=1)
            d = sq[:, None] + sq[None, :] - 2 * (z @ z.T)
            np.fill_diagonal(d, np.inf)  # leave one out
            near = np.argpartition(d, NEIGHBOURS_K, axis=1)[:, :NEIGHBOURS_K]
            k = int(labels.max()) + 1
            votes = np.zeros((n, k))
            np.add.at(votes, (np.repeat(np.arange(n), NEIGHBOURS_K), labels[near].ravel()), 1)
            value = float(np.mean(np.argmax(votes, axis=1) == labels))
    _NEIGHBOURS[s] = (id(s.data), value)
    return value


UNDERFIT_LINEAR_ACCURACY = 0.75  # the dynamic rule's poor fit (rules.UNDERFIT_ACCURACY)
UNDERFIT_LINEAR_RESIDUAL = 0.5  # ... and its regression bar: half the targets' variance


def too_little_capacity(s: Session) -> Finding | None:
    """A network that can only draw a straight boundary, on data no straight boundary fits.

    Before the first step. With no hidden layer the network is a linear
    model; with a hidden layer of one unit and two classes its decision
    depends on one number, ``w.x + b`` (the rest is monotone in it), so the
    boundary is a straight line too. If the best straight boundary
    (:func:`linear_fit`) gets less than 75% of the training examples right
    (or leaves more than half the targets' variance), the run will underfit
    however long it trains: AUTOTRAINER's "not converging", predicted from
    the capacity at the start instead of after 30% of the epochs.
    """
    layers = s.net.layers
    hidden = layers[:-1]
    if any(ly.activation == "linear" for ly in hidden):
        return None  # missing_nonlinearity's
    narrow = [i for i, ly in enumerate(hidden) if ly.n_out == 1]
    if hidden and not (narrow and s.classification and layers[-1].n_out <= 2):
        return None
    fit = linear_fit(s)
    if s.classification:
        if fit >= UNDERFIT_LINEAR_ACCURACY:
            return None
        how = f"the best straight boundary gets {_pct(fit)} of the training examples right"
    else:
        if not hidden and fit <= UNDERFIT_LINEAR_RESIDUAL:
            return None
        how = f"the best linear fit leaves {_pct(fit)} of the targets' variance unexplained"
    if not hidden:
        shape = "has no hidden layer, so it is a linear model"
    else:
        shape = (
            f"squeezes every example through layer {narrow[0] + 1}'s single unit, so its "
            "decision depends on one weighted sum of the inputs and the boundary is a "
            "straight line"
        )
    return Finding(
        code="underfitting",
        title="Underfitting (too little capacity)",
        severity="warning",
        step=0,
        epoch=0,
        evidence=f"the network {shape}; on these data {how} (least squares, before training)",
        advice=(
            "The model cannot fit this data however long it trains. Give it more capacity: "
            "a hidden layer (or a wider one, e.g. 16 units) with a non-linear activation."
        ),
        layer=narrow[0] if narrow else None,
    )


def loss_mismatch(s: Session) -> Finding | None:
    out = s.net.layers[-1]
    act = out.activation
    loss = s.loss.name
    L = len(s.net.layers)
    if loss in ("cross_entropy", "binary_cross_entropy"):
        if act == "linear":
            return None
        squash = "softmax" if loss == "cross_entropy" else "sigmoid"
        evidence = (
            f"the output layer applies {act} before {loss}, which applies its own {squash} "
            f"to raw scores: the scores are squeezed into {act}'s range, so the network can "
            "never be confident (or, for relu, scores below 0 get no gradient)"
        )
    elif loss == "mse" and not s.classification and act in _RANGES:
        lo, hi = _RANGES[act]
        y = np.asarray(s.data.y_train, dtype=float)
        outside = float(np.mean((y < lo) | (y > hi))) if y.size else 0.0
        if outside < TARGET_OUTSIDE:
            return None
        evidence = (
            f"the output activation {act} can only produce values in "
            f"[{_f(lo)}, {_f(hi)}], but {_pct(outside)} of the training targets lie outside "
            f"it (they range from {_f(float(y.min()))} to {_f(float(y.max()))})"
        )
    else:
        return None
    return Finding(
        code="loss_mismatch",
        title="The loss does not fit the output",
        severity="warning",
        step=0,
        epoch=0,
        evidence=evidence,
        advice=(
            "Use a linear output layer: cross-entropy losses work on raw scores and apply "
            "the softmax (or sigmoid) themselves, and a regression output must be able to "
            "reach every target value."
        ),
        layer=L - 1,
        involves=((L - 1, "update"),),
    )


def absurd_lr(s: Session) -> Finding | None:
    """The learning rate is at least ``ABSURD_LR`` times the optimizer's typical one."""
    scale = float(s.hyper.lr) / TYPICAL_LR.get(s.optimizer_name, 0.03)
    if not scale >= ABSURD_LR:
        return None
    typical = TYPICAL_LR.get(s.optimizer_name, 0.03)
    return Finding(
        code="lr_too_large",
        title="Learning rate far too large",
        severity="warning",
        step=0,
        epoch=0,
        evidence=(
            f"lr = {s.hyper.lr:g} is {scale:.0f}x the typical {typical:g} for "
            f"{s.optimizer_name} (at least {ABSURD_LR:g}x counts as far too large before the "
            "first step; healthy settings stay within about 10x)"
        ),
        advice=(
            "Steps this large jump across the valley of the loss, blow the weights up or "
            "knock ReLU units dead within a few steps, even when the loss has not risen yet. "
            "Lower the learning rate towards the optimizer's typical value and raise it "
            "again 3x at a time while the loss keeps falling."
        ),
        layer=None,
        involves=tuple((i, "update") for i in range(len(s.net.layers))),
    )


def absurd_small_lr(s: Session) -> Finding | None:
    """The learning rate is at most 1/``ABSURD_LR_SMALL`` of the optimizer's typical one."""
    typical = TYPICAL_LR.get(s.optimizer_name, 0.03)
    scale = float(s.hyper.lr) / typical
    if not 0 < scale <= 1 / ABSURD_LR_SMALL:
        return None
    return Finding(
        code="lr_too_small",
        title="Learning rate far too small",
        severity="warning",
        step=0,
        epoch=0,
        evidence=(
            f"lr = {s.hyper.lr:g} is 1/{1 / scale:.0f} of the typical {typical:g} for "
            f"{s.optimizer_name} (1/{ABSURD_LR_SMALL:g} or less counts as far too small "
            "before the first step; healthy settings stay within about 3x)"
        ),
        advice=(
            "Steps this small move the weights by a tiny fraction of their size: the loss "
            "falls, if at all, far slower than it could. Raise the learning rate towards the "
            "optimizer's typical value."
        ),
        involves=tuple((i, "update") for i in range(len(s.net.layers))),
    )


def absurd_l2(s: Session) -> Finding | None:
    """An L2 penalty of at least ``ABSURD_L2``: 10x the top of the usual 1e-4 to 1e-2."""
    if not s.l2 >= ABSURD_L2:
        return None
    return Finding(
        code="l2_too_strong",
        title="L2 penalty far too strong",
        severity="warning",
        step=0,
        epoch=0,
        evidence=(
            f"l2 = {s.l2:g}: usual values are 1e-4 to 1e-2 ({ABSURD_L2:g} or more counts as far "
            "too strong before the first step); the penalty's gradient l2 W then pulls every "
            "weight towards 0 harder than the data pulls it anywhere"
        ),
        advice=(
            "Lower l2 100x (typical values are 1e-4 to 1e-2), or remove it until the network "
            "fits, then add it back to fight overfitting."
        ),
        involves=tuple((i, "update") for i in range(len(s.net.layers))),
    )


_STATIC: weakref.WeakKeyDictionary[Session, tuple[int, Finding | None]] = (
    weakref.WeakKeyDictionary()
)


def unstandardized_inputs(s: Session) -> Finding | None:
    """Cached per session and training set: a percentile over the whole set
    costs more than all the other rules together."""
    got = _STATIC.get(s)
    if got is None or got[0] != id(s.data.x_train):
        got = (id(s.data.x_train), _unstandardized_inputs(s))
        _STATIC[s] = got
    return got[1]


def _unstandardized_inputs(s: Session) -> Finding | None:
    x = np.asarray(s.data.x_train, dtype=float)
    if x.size == 0:
        return None
    with np.errstate(invalid="ignore", over="ignore"):
        p99 = np.nanpercentile(np.abs(x), 99, axis=0)
    p99 = np.where(np.isnan(p99), 0.0, p99)
    worst = int(np.argmax(p99))
    if not p99[worst] > INPUT_SCALE:
        return None
    names = list(getattr(s.data, "feature_names", []) or [])
    name = names[worst] if worst < len(names) else f"feature {worst + 1}"
    with np.errstate(invalid="ignore", over="ignore"):
        mean, std = float(np.mean(x[:, worst])), float(np.std(x[:, worst]))
    evidence = (
        f"99% of the values of {name!s} are within +-{_f(float(p99[worst]))} (mean "
        f"{_f(mean)}, std {_f(std)}); standardized inputs have mean 0 and std 1"
    )
    return Finding(
        code="unstandardized_inputs",
        title="Inputs are not standardized",
        severity="warning",
        step=0,
        epoch=0,
        evidence=evidence,
        advice=(
            "Standardize the inputs (subtract each feature's mean, divide by its standard "
            "deviation): large inputs saturate tanh and sigmoid units, make relu outputs and "
            "gradients huge, and make the first layer's learning rate effectively far too "
            "large."
        ),
        layer=0,
        involves=((0, "saturated"),),
    )


# ----------------------------------------------------------------- dynamic
_INITIAL: weakref.WeakKeyDictionary[Session, tuple[tuple, list[float]]] = (
    weakref.WeakKeyDictionary()
)


def initial_norms(s: Session) -> list[float]:
    """The weight norm of each layer at initialization (the network rebuilt from its seed)."""
    key = (s.cfg.seed, s.cfg.init, s.cfg.init_std, s.cfg.init_scale, s.cfg.layers)
    got = _INITIAL.get(s)
    if got is None or got[0] != key:
        from tui_trainer.engine.network import Network

        net = Network.build(s.cfg, s.x_train.shape[1])
        got = (key, [float(np.linalg.norm(ly.W)) for ly in net.layers])
        _INITIAL[s] = got
    return got[1]


INIT_BASELINE_BATCH = 512


@dataclass(frozen=True)
class InitialState:
    """The network at initialization, next to the same network started the
    recommended way (He for relu, Xavier otherwise, biases 0), on the first
    ``INIT_BASELINE_BATCH`` training examples."""

    loss: float
    good_loss: float
    # per layer: share of saturated activations (None for other activations)
    saturated: tuple[float | None, ...]
    good_saturated: tuple[float | None, ...]
    beyond: tuple[float | None, ...]  # share of pre-activations beyond +-5
    # per layer: share of relu units with z <= 0 for every example (None: not relu)
    dead: tuple[float | None, ...] = ()
    good_dead: tuple[float | None, ...] = ()
    weights: tuple[np.ndarray, ...] = ()  # each layer's W at initialization
    good_norms: tuple[float, ...] = ()  # |W| of each layer of the well-scaled start
    # how much the output layer's z varies from example to example (mean std)
    out_spread: float = math.nan
    good_out_spread: float = math.nan


_BASELINE: weakref.WeakKeyDictionary[Session, tuple[tuple, InitialState]] = (
    weakref.WeakKeyDictionary()
)


def _good_init_name(s: Session) -> str:
    acts = [ly.activation for ly in s.net.layers[:-1]]
    return "he" if acts and all(a in ("relu", "leaky_relu") for a in acts) else "xavier"


def initial_state(s: Session) -> InitialState:
    """How the run started, and how a well-scaled start on the same data would.

    Why: a first loss far above ln C, or saturated units, are only the
    initialization's fault when a well-scaled start on the same data does
    much better. Inputs that span several units (TensorFlow Playground's -6
    to 6) make even a He or Xavier network start a few nats above ln C with
    many tanh units near +-1, and that is not a bad init. The start is also
    where a saturating init shows for certain: a run can recover from it, and
    the cause should not vanish from the findings when it does. Cached per
    session; two forward passes on a small batch.
    """
    from tui_trainer.engine.diagnostics.rules import pre_activation_beyond, saturated_fraction

    cfg = s.cfg
    key = (cfg.seed, cfg.init, cfg.init_std, cfg.init_scale, cfg.bias_init, cfg.layers)
    got = _BASELINE.get(s)
    if got is None or got[0] != key:
        from tui_trainer.engine.gradcheck import objective
        from tui_trainer.engine.network import Network

        n = min(INIT_BASELINE_BATCH, int(s.x_train.shape[0]))
        x, y = s.x_train[:n], s.y_train[:n]
        now = Network.build(cfg, s.x_train.shape[1])
        good = Network.build(
            cfg.with_changes(init=_good_init_name(s), bias_init=0.0), s.x_train.shape[1]
        )
        with np.errstate(all="ignore"):
            now.forward(x)  # fills the layer caches the fractions are read from
            good.forward(x)
            loss = objective(now, s.loss, x, y, 0.0)
            sat = tuple(saturated_fraction(ly) for ly in now.layers)
            beyond = tuple(pre_activation_beyond(ly) for ly in now.layers)
            good_loss = objective(good, s.loss, x, y, 0.0)
            good_sat = tuple(saturated_fraction(ly) for ly in good.layers)
            dead = tuple(_relu_dead(ly) for ly in now.layers)
            good_dead = tuple(_relu_dead(ly) for ly in good.layers)
            spread = _out_spread(now)
            good_spread = _out_spread(good)
        weights = tuple(ly.W.copy() for ly in now.layers)
        good_norms = tuple(float(np.linalg.norm(ly.W)) for ly in good.layers)
        got = (
            key,
            InitialState(
                loss,
                good_loss,
                sat,
                good_sat,
                beyond,
                dead,
                good_dead,
                weights,
                good_norms,
                spread,
                good_spread,
            ),
        )
        _BASELINE[s] = got
    return got[1]


def _out_spread(net: object) -> float:
    """Mean over the outputs of the std of the output layer's z across the examples."""
    z = getattr(net.layers[-1], "z", None)  # type: ignore[attr-defined]
    if z is None or z.shape[0] < 2:
        return math.nan
    return float(np.mean(np.std(z, axis=0)))


def _relu_dead(ly: object) -> float | None:
    from tui_trainer.engine.diagnostics.rules import negative_fraction

    if getattr(ly, "activation", None) != "relu":
        return None
    return negative_fraction(ly)  # type: ignore[arg-type]


def init_loss_baseline(s: Session) -> tuple[float, float]:
    """The loss at initialization and that of a well-scaled start (see :func:`initial_state`)."""
    st = initial_state(s)
    return st.loss, st.good_loss


WEIGHT_DISTANCE = 10.0


def weight_distance(s: Session) -> np.ndarray:
    """Per layer, how far the weights moved from where they started:
    ``|W - W0| / max(|W0|, |W_good|)``, ``W_good`` a well-scaled start's.

    The denominator is at least the size of a well-scaled layer, so a run
    that starts from tiny weights (a plateau) and grows them to a normal size
    is not counted as moving far. On the benchmark's tuning runs no healthy
    run moves more than 5x; runs with a far too large learning rate or
    exploding gradients move 10x to 1e30x.
    """
    st = initial_state(s)
    out = np.zeros(len(s.net.layers))
    for i, ly in enumerate(s.net.layers):
        if i >= len(st.weights) or st.weights[i].shape != ly.W.shape:
            continue
        with np.errstate(all="ignore"):
            d = float(np.linalg.norm(ly.W - st.weights[i]))
        scale = max(float(np.linalg.norm(st.weights[i])), st.good_norms[i], 1e-12)
        out[i] = d / scale if math.isfinite(d) else math.inf
    return out


def weights_far_from_init(r: _Run) -> Finding | None:
    """Weights thrown far from their start (``WEIGHT_DISTANCE`` x a layer's size):
    steps too big for the loss surface, even when the loss has settled again."""
    if r.n < 10 or r.diverged:
        return None
    dist = weight_distance(r.s)
    worst = int(np.argmax(dist))
    if not dist[worst] >= WEIGHT_DISTANCE:
        return None
    w = r.wnorm[:, worst]
    half = float(w[-1] / max(float(w[r.n // 2]), 1e-12))
    growing = (
        f"; it is still growing ({_f(half)}x over the last half of the run)"
        if half >= 1.5
        else f"; most of the move came early (the norm is now {_f(float(w[-1]))})"
    )
    peak = np.nanmax(r.upd[:, worst]) if r.n else 0.0
    return Finding(
        code="lr_too_large",
        title="Learning rate too large",
        severity="warning",
        step=0,
        epoch=0,
        evidence=(
            f"the weights of layer {worst + 1} moved {_f(float(dist[worst]))}x the size of a "
            f"well-scaled layer away from where they started (|W - W0| / |W0|){growing}; the "
            f"largest update ratio of that layer was {_f(float(peak))}, healthy is about 1e-3"
        ),
        advice=(
            "Steps far too big for the loss surface threw the weights away from their start; "
            "the loss may have settled again with saturated or silent units. Lower the "
            "learning rate, 3-10x at a time, until the update ratio |delta W|/|W| is around "
            "1e-3."
        ),
        layer=worst,
        involves=((worst, "update"),),
    )


def _does_not_fit(r: _Run) -> bool:
    if r.n == 0:
        return False
    return bool(np.mean(r.recent(r.loss)) > 0.5 * _chance_loss(r))


def l2_too_strong(r: _Run) -> Finding | None:
    s = r.s
    if s.l2 <= 0 or r.n_epochs < L2_MIN_EPOCHS or r.diverged or not _does_not_fit(r):
        return None
    w0 = np.array(initial_norms(s))
    now = r.wnorm[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        shrink = now / w0
    shrink = np.where(np.isfinite(shrink), shrink, np.inf)
    worst = int(np.argmin(shrink))
    if shrink[worst] >= L2_SHRINK:
        return None
    below = np.flatnonzero(r.wnorm[:, worst] < L2_SHRINK * w0[worst])
    start = int(below[0]) if below.size else r.n - 1
    return Finding(
        code="l2_too_strong",
        title="L2 penalty too strong",
        severity="warning",
        step=start,
        epoch=r.epoch_of(start),
        evidence=(
            f"with l2 = {s.l2:g} the weights of layer {worst + 1} shrank to "
            f"{_f(float(shrink[worst]))}x their initial norm ({_f(float(w0[worst]))} -> "
            f"{_f(float(now[worst]))}), while the loss stays high (mean "
            f"{_f(float(np.mean(r.recent(r.loss))))} over the last {len(r.recent(r.loss))} "
            f"steps; chance level {_f(_chance_loss(r))})"
        ),
        advice=(
            "The L2 penalty pulls every weight towards 0 harder than the data pulls it "
            "anywhere, so the network collapses to (almost) nothing. Lower l2 100x (typical "
            "values are 1e-4 to 1e-2), or remove it until the network fits."
        ),
        layer=worst,
        involves=((worst, "update"),),
    )


def plateau(r: _Run) -> Finding | None:
    s = r.s
    if r.n_epochs < PLATEAU_MIN_EPOCHS or r.diverged or r.n < 20:
        return None
    hidden = s.net.layers[:-1]
    if not hidden or any(ly.n_out < 3 or ly.activation == "linear" for ly in hidden):
        return None
    chance = _chance_loss(r)
    t = r.e_loss[np.isfinite(r.e_loss)]
    if t.size < PLATEAU_MIN_EPOCHS or chance <= 0:
        return None
    half = t[t.size // 2 :]
    if not np.all(np.abs(half - chance) <= PLATEAU_BAND * chance):
        return None
    med = np.median(r.recent(r.upd), axis=0)
    med = np.where(np.isfinite(med), med, 0.0)
    if lr_scale(r) < PLATEAU_LR_SCALE:
        return None  # a small learning rate: lr_too_small's to judge
    flat = np.abs(t - chance) <= PLATEAU_BAND * chance
    e0 = int(np.flatnonzero(~flat)[-1] + 1) if not flat.all() else 0
    start = r.epoch_start_step(e0)
    w0 = np.array(initial_norms(s))
    gn = np.median(r.recent(r.grad), axis=0)
    squashing = sum(ly.activation in ("tanh", "sigmoid") for ly in hidden)
    if squashing >= DEEP_SQUASHING:
        # A flat loss through a deep stack of tanh/sigmoid layers: the chain
        # rule multiplies each layer's slope and weights on the way back (and
        # forward), so no signal gets through: vanishing gradients, though the
        # first and last layers' gradients may be equally small.
        return Finding(
            code="vanishing_gradients",
            title="Vanishing gradients (a deep flat network)",
            severity="warning",
            step=start,
            epoch=e0,
            evidence=(
                f"the epoch train loss has stayed within 5% of the chance level {_f(chance)} "
                f"since epoch {e0 + 1} ({t.size - e0} epochs) in a network of {squashing} "
                f"tanh/sigmoid hidden layers; median gradient norms per layer "
                f"{', '.join(_f(float(g)) for g in gn)} (initial weight norms "
                f"{', '.join(_f(float(w)) for w in w0[:-1])})"
            ),
            advice=(
                "Each tanh or sigmoid layer multiplies the signal by its slope and weights on "
                "the way back; through many layers with small weights nothing reaches either "
                "end. Use Xavier initialization (or ReLU with He), or fewer layers."
            ),
            layer=0,
            involves=((0, "gradient"),),
        )
    return Finding(
        code="plateau",
        title="Stuck on a plateau",
        severity="warning",
        step=start,
        epoch=e0,
        evidence=(
            f"the epoch train loss has stayed within 5% of the chance level {_f(chance)} since "
            f"epoch {e0 + 1} ({t.size - e0} epochs), though the updates are not tiny (median "
            f"update ratio up to {_f(float(med.max()))}, healthy is about 1e-3): the gradient "
            f"itself is flat (median gradient norm of layer 1 {_f(float(gn[0]))}; initial "
            f"weight norms {', '.join(_f(float(w)) for w in w0[:-1])})"
        ),
        advice=(
            "The network sits on a flat region of the loss (often a saddle near the start, "
            "where all units compute the same thing) and a bigger learning rate alone does "
            "not help. Start from well-scaled random weights (Xavier for tanh/sigmoid, He for "
            "relu), or use Adam, whose steps do not shrink with the gradient."
        ),
        layer=None,
    )


PLATEAU_INIT_SPREAD = 1e-2  # output spread at init below this x a well-scaled start's
PLATEAU_INIT_WEIGHTS = 0.1  # ... with every hidden layer's |W| below this x its


def plateau_at_init(s: Session) -> Finding | None:
    """A start on the plateau around the origin, seen before the first step.

    With every hidden layer's weights far below a well-scaled start's, each
    layer multiplies its input by almost nothing: the outputs hardly differ
    from example to example (the network computes a constant), and every
    gradient into a hidden layer is multiplied by the tiny weights above it.
    Training sits at the chance level until noise breaks the symmetry, often
    for many epochs. Read from the start (``initial_state``: the spread of
    the output layer's z over 512 examples against a He/Xavier start's), so
    it is found at step 0, not after 10 flat epochs. Shallow networks only:
    through 4+ tanh/sigmoid layers the same start is vanishing gradients.
    """
    hidden = s.net.layers[:-1]
    if not hidden or any(ly.activation == "linear" for ly in hidden):
        return None
    if sum(ly.activation in ("tanh", "sigmoid") for ly in hidden) >= DEEP_SQUASHING:
        return None
    if s.cfg.init not in ("normal", "uniform"):
        return None
    st = initial_state(s)
    if not (math.isfinite(st.out_spread) and math.isfinite(st.good_out_spread)):
        return None
    if st.good_out_spread <= 0 or st.out_spread >= PLATEAU_INIT_SPREAD * st.good_out_spread:
        return None
    shrink = [
        float(np.linalg.norm(w)) / g
        for w, g in zip(st.weights[:-1], st.good_norms[:-1], strict=True)
        if g > 0
    ]
    if not shrink or max(shrink) >= PLATEAU_INIT_WEIGHTS:
        return None
    return Finding(
        code="plateau",
        title="Starts on a plateau",
        severity="warning",
        step=0,
        epoch=0,
        evidence=(
            f"at initialization the hidden layers' weights are "
            f"{', '.join(_f(x) for x in shrink)}x a well-scaled start's ({s.cfg.init} init), "
            f"so the output varies {_f(st.out_spread)} from example to example against "
            f"{_f(st.good_out_spread)} for a {_good_init_name(s)} start: the network computes "
            "almost a constant and the gradient into each hidden layer is scaled down by the "
            "tiny weights above it"
        ),
        advice=(
            "The network starts on the flat region around all-zero weights (a saddle where "
            "all units compute the same thing), and the loss will sit at the chance level "
            "until noise breaks the symmetry. Start from well-scaled random weights (Xavier "
            "for tanh/sigmoid, He for relu), or use Adam, whose steps do not shrink with the "
            "gradient."
        ),
        layer=None,
    )


# ----------------------------------------------------------------- Cockpit's alpha
ALPHA_BATCH = 128


def step_alpha(s: Session) -> float | None:
    """Cockpit's alpha for the last update: where along its step it landed.

    The loss (with the L2 term) and its directional derivative along the step
    ``d`` are taken at both ends (the weights before, ``W - d``, and after,
    ``W``) on the first ``ALPHA_BATCH`` training examples, and a parabola is
    fitted through the two slopes. With its minimum at ``t*`` (``t`` = 1 is
    the step taken), ``alpha = 1/t* - 1``: 0 landed on the valley floor, +1
    jumped to the same height on the other side, -1 hardly moved. None when
    there is no update yet, the numbers are not finite, or the loss has no
    valley along the step. Costs two forward and backward passes on a small
    batch, so it is computed only for evidence, not on every check.
    """
    from tui_trainer.engine.gradcheck import analytic_grads, objective

    layers = s.net.layers
    if s.step == 0 or not all(getattr(ly, "delta_valid", False) for ly in layers):
        return None
    n = min(ALPHA_BATCH, int(s.x_train.shape[0]))
    x, y = s.x_train[:n], s.y_train[:n]
    after = s.net.detached_copy()
    before = s.net.detached_copy()
    for b, ly in zip(before.layers, layers, strict=True):
        b.W -= ly.delta_W
        b.b -= ly.delta_b
    d = [p for ly in layers for p in (ly.delta_W, ly.delta_b)]
    with np.errstate(all="ignore"):
        g0 = analytic_grads(before, s.loss, x, y, s.l2)
        g1 = analytic_grads(after, s.loss, x, y, s.l2)
        slope0 = float(sum(np.vdot(g, v) for g, v in zip(g0, d, strict=True)))
        slope1 = float(sum(np.vdot(g, v) for g, v in zip(g1, d, strict=True)))
        loss0 = objective(before, s.loss, x, y, s.l2)
        loss1 = objective(after, s.loss, x, y, s.l2)
    if not all(math.isfinite(v) for v in (slope0, slope1, loss0, loss1)):
        return None
    curvature = (slope1 - slope0) / 2  # f(t) = a t^2 + b t + c with b = slope0
    if slope0 >= 0 or curvature <= 0:
        return None
    t_min = -slope0 / (2 * curvature)
    return 1 / t_min - 1


ALPHA_EVERY = 50  # steps between two computations of alpha (Cockpit's track_schedule)
_ALPHA: weakref.WeakKeyDictionary[Session, tuple[int, float | None]] = weakref.WeakKeyDictionary()


def scheduled_alpha(s: Session) -> tuple[float, int] | None:
    """:func:`step_alpha` at most once every ``ALPHA_EVERY`` steps: (alpha, the
    step it belongs to), reused in between; recomputed after a step back."""
    got = _ALPHA.get(s)
    if got is None or got[0] > s.step or s.step - got[0] >= ALPHA_EVERY:
        got = (s.step, step_alpha(s))
        _ALPHA[s] = got
    return None if got[1] is None else (got[1], got[0])
