"""Every built-in scenario teaches one thing; these tests check that it does.

Each test loads a scenario shipped in ``tui_trainer/scenarios`` through the
scenario loader, trains it with the engine for its configured epochs (a plain
``Session.run()``, breakpoints are not armed) and asserts the claim its
description makes, on the numbers. The claim is in each test's docstring.

Runs are deterministic (one seed drives data, split, weights and batch
order), and the hyperparameters were chosen so the claims hold with a margin,
not on the edge. Sessions used by more than one test are trained once.
"""

from __future__ import annotations

import dataclasses
import math
from functools import cache

import numpy as np
import pytest

from tui_trainer.engine.conditions import DictContext, parse
from tui_trainer.engine.config import LayerSpec
from tui_trainer.engine.diagnostics import diagnose
from tui_trainer.engine.session import Session
from tui_trainer.scenario import Scenario, builtin_dir, builtin_names, load_scenario

# Every built-in scenario must have a claim test below.
CLAIM_TESTED = {
    "circle_features",
    "classification_ce",
    "dead_relu",
    "digits",
    "divergence",
    "dropout",
    "exploding_gradients",
    "iris",
    "lr_just_right",
    "lr_schedule",
    "lr_too_large",
    "lr_too_small",
    "mse_vs_ce",
    "optimizer_adam",
    "optimizer_momentum",
    "optimizer_sgd",
    "overfitting",
    "regression_sine",
    "regularized",
    "spiral",
    "underfitting",
    "vanishing_gradients",
    "xor",
    "xor_linear",
}


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def load(name: str) -> Scenario:
    return load_scenario(builtin_dir() / f"{name}.toml")


def session_for(sc: Scenario) -> Session:
    data = sc.load_data()
    return Session(sc.train_config(data), data)


def train(sc: Scenario) -> Session:
    s = session_for(sc)
    s.run()
    return s


@cache
def trained(name: str) -> Session:
    """The built-in scenario ``name`` trained for its configured epochs (once per test run)."""
    return train(load(name))


def epochs(s: Session, name: str, layer: int | None = None) -> np.ndarray:
    return np.array(s.history.epoch_series(name, layer))


def steps(s: Session, name: str, layer: int | None = None) -> np.ndarray:
    return np.array(s.history.step_series(name, layer))


def initial_train_loss(sc: Scenario) -> float:
    """Loss over the whole training set with the initial weights, before any step."""
    s = session_for(sc)
    loss, _ = s.evaluate(s.x_train, s.y_train, s.labels_train)
    return loss


def codes_after_first_step(name: str) -> set[str]:
    """The diagnosis (the debug panel's findings) after one training step."""
    s = session_for(load(name))
    s.advance("step")
    return {f.code for f in diagnose(s)}


def first_epoch_reaching(series: np.ndarray, ok) -> int | None:
    """1-based number of the first epoch whose value satisfies ``ok``, or None."""
    hits = np.flatnonzero(ok(series))
    return int(hits[0]) + 1 if hits.size else None


def first_epoch_true(condition: str, history: dict[str, np.ndarray]) -> int | None:
    """After how many epochs an epoch-history condition first holds (None: never)."""
    cond = parse(condition)
    n = len(next(iter(history.values())))
    for k in range(1, n + 1):
        ctx = DictContext(epoch_history={key: list(v[:k]) for key, v in history.items()})
        if cond.is_true(ctx):
            return k
    return None


def assert_same_run_except(a: Scenario, b: Scenario, **fields: object) -> None:
    """``a`` and ``b`` describe the same data and run apart from ``fields``."""
    assert a.data == b.data and a.seed == b.seed
    da, db = a.load_data(), b.load_data()
    ca = dataclasses.replace(a.train_config(da), **fields)
    assert ca == b.train_config(db)


# --------------------------------------------------------------------------
# the set as a whole
# --------------------------------------------------------------------------


def test_builtins_load_and_are_documented():
    """At least 14 built-ins; each loads, has a description and a watch hint,
    and its breakpoints and watches parse in the condition language."""
    names = builtin_names()
    assert len(names) >= 14, names
    for name in names:
        sc = load(name)
        assert sc.name == name
        assert sc.description.strip(), name
        assert sc.watch.strip(), name
        sentences = [p for p in sc.description.replace("e.g.", "eg").split(". ") if p.strip()]
        assert 2 <= len(sentences) <= 5, (name, len(sentences))
        for bp in sc.breakpoints:
            assert parse(bp.condition).is_predicate, (name, bp.condition)
        for expr in sc.watches:
            parse(expr)
        cfg = sc.train_config(sc.load_data())
        assert cfg.epochs == sc.epochs


def test_every_builtin_has_a_claim_test():
    """Adding a scenario file means adding a test of its claim here."""
    assert set(builtin_names()) == CLAIM_TESTED


def test_xor_is_the_default_network():
    """The default scenario uses the loader's defaults: [4, 2] tanh, sgd, lr 0.03, batch 10."""
    sc = load("xor")
    default = Scenario()
    assert sc.data.kind == "xor"
    assert sc.model.hidden == default.model.hidden
    assert (sc.optimizer, sc.lr, sc.batch_size, sc.epochs) == (
        default.optimizer,
        default.lr,
        default.batch_size,
        default.epochs,
    )


# --------------------------------------------------------------------------
# one test per scenario
# --------------------------------------------------------------------------


def test_xor_hidden_layer_reaches_90_percent():
    """xor: a [4, 2] tanh network reaches >= 90% validation accuracy on XOR."""
    s = trained("xor")
    assert s.nonfinite is None
    assert epochs(s, "val_accuracy")[-1] >= 0.9


def test_xor_linear_model_stays_near_chance():
    """xor_linear: without a hidden layer, the same XOR data stays near chance:
    validation accuracy <= 65% and training accuracy <= 70% at the end."""
    assert_same_run_except(load("xor_linear"), load("xor"), layers=trained("xor").cfg.layers)
    s = trained("xor_linear")
    assert epochs(s, "val_accuracy")[-1] <= 0.65
    assert epochs(s, "accuracy")[-1] <= 0.70
    assert epochs(s, "loss")[-1] > 0.6  # ln 2 = 0.69: hardly better than guessing

    assert initial_train_loss(load("xor_linear")) > 2 * math.log(2)  # inputs reach +-5
    assert "init_loss" in codes_after_first_step("xor_linear")
    assert epochs(s, "loss")[4] < 0.75  # about ln 2 within five epochs


def test_circle_features_linear_model_needs_the_squares():
    """circle_features: a linear model (no hidden layer) on the circle data with
    x1^2 and x2^2 among its inputs reaches >= 95% validation accuracy; the same
    run on x1 and x2 alone stays near chance (<= 60%)."""
    sc = load("circle_features")
    assert sc.model.hidden == ()
    assert set(sc.data.features or ()) >= {"x1^2", "x2^2"}
    s = trained("circle_features")
    assert s.x_train.shape[1] == len(sc.data.features or ())
    assert epochs(s, "val_accuracy")[-1] >= 0.95
    plain = dataclasses.replace(sc, data=dataclasses.replace(sc.data, features=("x1", "x2")))
    without = train(plain)
    assert without.x_train.shape[1] == 2
    assert epochs(without, "val_accuracy")[-1] <= 0.60
    assert epochs(without, "accuracy")[-1] <= 0.65


def test_regression_sine_fits_well_below_the_variance():
    """regression_sine: validation mse ends below a tenth of the variance of y
    (the mse of always predicting the mean)."""
    s = trained("regression_sine")
    variance = float(np.var(s.data.y_val))
    assert epochs(s, "val_loss")[-1] < 0.1 * variance


def test_divergence_diverges_to_nan():
    """divergence: regression_sine with 10x the learning rate: the loss rises by
    orders of magnitude (>= 1000x the first step's) and ends in NaN/inf, while
    regression_sine itself converges."""
    assert_same_run_except(
        load("divergence"), load("regression_sine"), lr=load("regression_sine").lr
    )
    s = trained("divergence")
    assert s.nonfinite is not None
    loss = steps(s, "loss")
    finite = loss[np.isfinite(loss)]
    assert finite.max() >= 1000 * loss[0]
    # The "loss > 10" breakpoint pauses within the first epoch, long before the NaN.
    assert (loss[: s.batches_per_epoch] > 10).any()
    assert trained("regression_sine").nonfinite is None


def test_the_three_learning_rates_share_one_problem():
    """lr_too_small, lr_just_right and lr_too_large: the same data, network and seed,
    only the learning rate differs, 0.0003 < 0.3 < 30, so "too large" and "just
    right" mean the same problem in all three."""
    small, right, large = load("lr_too_small"), load("lr_just_right"), load("lr_too_large")
    assert_same_run_except(right, small, lr=small.lr)
    assert_same_run_except(large, small, lr=small.lr)
    assert small.lr < right.lr < large.lr


def test_lr_too_large_bounces_above_the_start():
    """lr_too_large: the loss passes 10 within the first epoch (its breakpoint fires
    there), no epoch's mean loss gets back down to the initial loss, nothing
    overflows (tanh saturates), and the diagnosis blames the learning rate."""
    sc = load("lr_too_large")
    s = trained("lr_too_large")
    assert s.nonfinite is None
    loss = steps(s, "loss")
    assert (loss[:20] > 10).any()  # the first steps: the same on every machine
    assert (epochs(s, "loss") > initial_train_loss(sc)).all()
    assert "lr_too_large" in {f.code for f in diagnose(s)}
    assert "loss > 10" in [b.condition for b in sc.breakpoints]


def test_lr_too_small_crawls():
    """lr_too_small: after all epochs the training loss is still > 90% of the initial loss."""
    sc = load("lr_too_small")
    s = trained("lr_too_small")
    assert epochs(s, "loss")[-1] > 0.9 * initial_train_loss(sc)


def test_lr_just_right_learns():
    """lr_just_right: same data, model and seed as lr_too_small, a larger lr: the loss
    ends below 10% of the initial loss and validation accuracy >= 90%."""
    assert_same_run_except(load("lr_just_right"), load("lr_too_small"), lr=load("lr_too_small").lr)
    sc = load("lr_just_right")
    s = trained("lr_just_right")
    assert epochs(s, "loss")[-1] < 0.1 * initial_train_loss(sc)
    assert epochs(s, "val_accuracy")[-1] >= 0.9


def test_classification_ce_starts_at_ln_classes_and_learns():
    """classification_ce: the initial loss is ln(10) within 0.1 (classes start equally
    likely) and training reaches >= 95% train and validation accuracy."""
    sc = load("classification_ce")
    assert sc.data.classes == 10
    assert initial_train_loss(sc) == pytest.approx(math.log(10), abs=0.1)
    s = trained("classification_ce")
    assert epochs(s, "accuracy")[-1] >= 0.95
    assert epochs(s, "val_accuracy")[-1] >= 0.95


def test_mse_vs_ce_mse_learns_slower():
    """mse_vs_ce: the same run with mse instead of cross-entropy learns slower:
    cross-entropy reaches 95% train accuracy within 10 epochs, mse needs more
    than 4x as many epochs (it does not get there in its 40)."""
    assert_same_run_except(load("mse_vs_ce"), load("classification_ce"), loss="cross_entropy")
    ce = first_epoch_reaching(epochs(trained("classification_ce"), "accuracy"), lambda a: a >= 0.95)
    mse_run = trained("mse_vs_ce")
    mse = first_epoch_reaching(epochs(mse_run, "accuracy"), lambda a: a >= 0.95)
    assert ce is not None and ce <= 10
    n_epochs = len(epochs(mse_run, "accuracy"))
    assert (mse if mse is not None else n_epochs + 1) > 4 * ce


def test_underfitting_stays_low_and_flat():
    """underfitting: a [2] network on the spiral: train and validation accuracy stay
    below 70%, the loss stays high (> 0.6, ln 2 = 0.69) and flat (< 5% change over
    the second half), and the plateau breakpoint fires."""
    s = trained("underfitting")
    acc, val_acc, loss = epochs(s, "accuracy"), epochs(s, "val_accuracy"), epochs(s, "loss")
    half = len(loss) // 2
    assert acc[half:].max() < 0.7
    assert val_acc[half:].max() < 0.7
    assert loss[-1] > 0.6
    assert abs(loss[-1] - loss[half]) / loss[half] < 0.05
    (bp,) = load("underfitting").breakpoints
    assert first_epoch_true(bp.condition, {"train_loss": loss}) is not None


def test_spiral_has_enough_capacity():
    """spiral: the underfitting data, optimizer and lr with a [32, 32] relu network
    reach >= 95% train and validation accuracy."""
    spiral, under = load("spiral"), load("underfitting")
    assert (spiral.data, spiral.seed) == (under.data, under.seed)
    assert (spiral.optimizer, spiral.lr, spiral.epochs) == (under.optimizer, under.lr, under.epochs)
    s = trained("spiral")
    assert epochs(s, "accuracy")[-1] >= 0.95
    assert epochs(s, "val_accuracy")[-1] >= 0.95
    # the wide first layer on +-6 inputs starts confidently wrong, flagged, then recovers
    assert 1.5 < initial_train_loss(spiral) < 2.2
    assert "init_loss" in codes_after_first_step("spiral")
    assert epochs(s, "loss")[4] < 0.75


def test_overfitting_val_loss_turns_up():
    """overfitting: the validation loss is lowest well before the end (before 60% of
    the epochs), the training loss keeps falling after that, the final validation
    loss is > 1.2x its minimum, and the early-stopping breakpoint fires."""
    s = trained("overfitting")
    loss, val = epochs(s, "loss"), epochs(s, "val_loss")
    best = int(np.argmin(val))
    assert best < 0.6 * len(val)
    assert loss[-1] < loss[best]
    assert val[-1] > 1.2 * val[best]
    (bp,) = load("overfitting").breakpoints
    fired = first_epoch_true(bp.condition, {"val_loss": val})
    assert fired is not None and fired < 0.6 * len(val)


def test_regularized_val_loss_stays_near_its_minimum():
    """regularized: overfitting plus l2: the final validation loss is within 10% of
    its minimum and lower than the overfitting run's final validation loss; the
    early-stopping breakpoint never fires."""
    assert_same_run_except(load("regularized"), load("overfitting"), l2=0.0)
    s = trained("regularized")
    val = epochs(s, "val_loss")
    assert val[-1] <= 1.1 * val.min()
    assert val[-1] < epochs(trained("overfitting"), "val_loss")[-1]
    (bp,) = load("regularized").breakpoints
    assert first_epoch_true(bp.condition, {"val_loss": val}) is None


def _without_dropout(sc: Scenario, **changes: object) -> Scenario:
    hidden = tuple(dataclasses.replace(ly, dropout=0.0) for ly in sc.model.hidden)
    model = dataclasses.replace(sc.model, hidden=hidden, dropout=0.0)
    return dataclasses.replace(sc, model=model, **changes)


def _final_val(s: Session) -> float:
    """Validation loss over the last 20 epochs (not one epoch of a noisy curve)."""
    return float(epochs(s, "val_loss")[-20:].mean())


def test_dropout_lowers_the_validation_loss_and_l2_more():
    """dropout: the final validation loss (mean of the last 20 epochs) with dropout
    0.5 is less than half of the same run's without dropout, which overfits (its
    validation loss ends at several times its minimum); L2 0.01 without dropout
    ends lower still. Not a property of one path: with four other seeds dropout
    and L2 each end lower than no regularisation, by at least 15%."""
    sc = load("dropout")
    assert sc.model.dropout == 0.5 and all(ly.dropout == 0.5 for ly in sc.model.hidden)
    dropped = trained("dropout")
    plain = train(_without_dropout(sc))
    l2 = train(_without_dropout(sc, l2=0.01))
    assert _final_val(dropped) < 0.5 * _final_val(plain)
    assert _final_val(plain) > 3 * float(epochs(plain, "val_loss").min())
    assert _final_val(l2) < _final_val(dropped)
    for seed in (1, 2, 3, 4):
        other = dataclasses.replace(sc, seed=seed)
        base = _final_val(train(_without_dropout(other)))
        assert _final_val(train(other)) < 0.85 * base, seed
        assert _final_val(train(_without_dropout(other, l2=0.01))) < 0.85 * base, seed


def test_lr_schedule_gets_past_the_plateau():
    """lr_schedule: with a constant lr of 0.1 the training loss stays on a plateau
    (its last 10 epochs no lower than 0.5x epochs 20-30); the step schedule gives
    lr 0.1, 0.01, 0.001 for epochs 1-30, 31-60, 61-90, the loss of the 10 epochs after
    the first drop is under half of the 10 before it, and the final loss is under
    a fifth of the constant run's. With four other seeds the schedule's final loss
    is under half of the constant lr's."""
    sc = load("lr_schedule")
    s = trained("lr_schedule")
    lr, ep = steps(s, "lr"), steps(s, "epoch").astype(int)
    for e, want in ((0, 0.1), (29, 0.1), (30, 0.01), (59, 0.01), (60, 0.001), (89, 0.001)):
        assert np.allclose(lr[ep == e], want, rtol=1e-12), e
    loss = epochs(s, "loss")
    flat = epochs(train(dataclasses.replace(sc, schedule="constant")), "loss")
    assert flat[-10:].mean() > 0.5 * flat[20:30].mean()  # the plateau
    assert loss[30:40].mean() < 0.5 * loss[20:30].mean()
    assert loss[-10:].mean() < 0.2 * flat[-10:].mean()
    for seed in (0, 2, 3, 4):
        other = dataclasses.replace(sc, seed=seed)
        const = epochs(train(dataclasses.replace(other, schedule="constant")), "loss")
        assert epochs(train(other), "loss")[-10:].mean() < 0.5 * const[-10:].mean(), seed


def test_vanishing_gradients_first_layer_gets_almost_nothing():
    """vanishing_gradients: at the start of training the first layer's gradient norm
    is >= 100x smaller than the output layer's; the network learns little
    (validation accuracy <= 60%). With tanh instead of sigmoid it learns (>= 90%)."""
    sc = load("vanishing_gradients")
    s = trained("vanishing_gradients")
    first, last = steps(s, "grad_norm", 0), steps(s, "grad_norm", s.n_layers - 1)
    assert last[0] >= 100 * first[0]
    assert last[:20].mean() >= 100 * first[:20].mean()
    assert epochs(s, "val_accuracy")[-1] <= 0.6
    assert epochs(s, "loss")[-1] > 0.9 * math.log(2)
    tanh = dataclasses.replace(
        sc.model, hidden=tuple(LayerSpec(ly.units, "tanh") for ly in sc.model.hidden)
    )
    fixed = train(dataclasses.replace(sc, model=tanh))
    assert epochs(fixed, "val_accuracy")[-1] >= 0.9


def test_exploding_gradients_blow_up_to_nan():
    """exploding_gradients: at the first step every layer's gradient norm is >= 1000
    (>= 100x the same network with He init) and training hits NaN/inf within the
    first epoch."""
    sc = load("exploding_gradients")
    s = trained("exploding_gradients")
    g0 = np.array([steps(s, "grad_norm", i)[0] for i in range(s.n_layers)])
    assert g0.min() >= 1000
    assert s.nonfinite is not None
    assert len(epochs(s, "loss")) == 0  # not even one epoch completed
    he = session_for(dataclasses.replace(sc, model=dataclasses.replace(sc.model, init="he")))
    he.run(max_steps=1)
    g0_he = np.array([steps(he, "grad_norm", i)[0] for i in range(he.n_layers)])
    assert g0.min() >= 100 * g0_he.max()


def test_dead_relu_kills_units():
    """dead_relu: by the end >= 40% of the second hidden layer's units are dead
    (inactive on every training point of the epoch); with lr 0.03 at most 20% are."""
    sc = load("dead_relu")
    s = trained("dead_relu")
    assert epochs(s, "dead_fraction", 1)[-1] >= 0.4
    calm = train(dataclasses.replace(sc, lr=0.03))
    assert epochs(calm, "dead_fraction", 1)[-1] <= 0.2


def test_optimizers_momentum_and_adam_beat_sgd():
    """optimizer_sgd / optimizer_momentum / optimizer_adam: same run except the
    optimizer. Momentum and Adam bring the training loss below 0.1 in at most 25
    epochs; plain SGD does not get there in its 100 (more than 4x slower)."""
    sgd_sc = load("optimizer_sgd")
    for other in ("optimizer_momentum", "optimizer_adam"):
        assert_same_run_except(load(other), sgd_sc, optimizer="sgd")
    below = {
        name: first_epoch_reaching(epochs(trained(name), "loss"), lambda v: v < 0.1)
        for name in ("optimizer_sgd", "optimizer_momentum", "optimizer_adam")
    }
    assert below["optimizer_sgd"] is None
    assert below["optimizer_momentum"] is not None and below["optimizer_momentum"] <= 25
    assert below["optimizer_adam"] is not None and below["optimizer_adam"] <= 25
    assert 4 * max(below["optimizer_momentum"], below["optimizer_adam"]) < sgd_sc.epochs


def test_iris_reaches_90_percent():
    """iris: 4 features, 3 species: >= 90% validation accuracy."""
    s = trained("iris")
    assert s.data.n_features == 4 and s.data.n_classes == 3
    assert epochs(s, "val_accuracy")[-1] >= 0.9


def test_digits_reaches_90_percent():
    """digits: a 64-32-10 network with Adam: >= 90% validation accuracy."""
    s = trained("digits")
    assert s.data.n_features == 64 and s.data.n_classes == 10
    assert [ly.n_out for ly in s.net.layers] == [32, 10]
    assert load("digits").optimizer == "adam"
    assert epochs(s, "val_accuracy")[-1] >= 0.9
