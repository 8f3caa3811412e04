"""The sanity checklist: every check passes on a healthy run and fails on a broken one."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import make_session, xor_data
from tui_trainer.engine import sanity
from tui_trainer.engine.diagnostics import diagnose
from tui_trainer.engine.diagnostics.rules import UPDATE_RATIO_HIGH, UPDATE_RATIO_LOW
from tui_trainer.engine.gradcheck import analytic_grads
from tui_trainer.engine.session import Session


def healthy(**kw):
    base = dict(hidden=(8, 8), optimizer="adam", lr=1e-2, epochs=50)
    base.update(kw)
    return make_session(**base)


def snapshot(s):
    return {
        "params": [p.copy() for p in s.net.params()],
        "opt": {k: v.copy() for k, v in s.opt.get_state().items()},
        "position": s.position,
        "epoch": s.epoch,
        "cursor": s.cursor,
        "steps": s.history.steps.rows(),
        "epochs": s.history.epochs.rows(),
        "keyframes": sorted(s.keyframes),
        "hyper": s.hyperparameters(),
        "caches": [(ly.z.copy(), ly.a.copy(), ly.dW.copy(), ly.dW_valid) for ly in s.net.layers],
        "rec_x": s.rec.x.copy(),
    }


def assert_same_snapshot(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if k in ("params", "caches"):
            flat_a = [x for item in a[k] for x in (item if isinstance(item, tuple) else (item,))]
            flat_b = [x for item in b[k] for x in (item if isinstance(item, tuple) else (item,))]
            for x, y in zip(flat_a, flat_b, strict=True):
                assert np.array_equal(x, y, equal_nan=True), k
        elif k == "opt":
            assert a[k].keys() == b[k].keys()
            for name in a[k]:
                assert np.array_equal(a[k][name], b[k][name]), name
        elif isinstance(a[k], np.ndarray):
            assert np.array_equal(a[k], b[k], equal_nan=True), k
        else:
            assert a[k] == b[k], k


def test_all_checks_pass_on_a_healthy_run_and_leave_the_session_alone():
    s = healthy()
    twin = healthy()
    for sess in (s, twin):
        sess.run(max_steps=30)
        sess.advance("layer", 5)  # pause mid-step, inside the backward pass
    before = snapshot(s)
    fractions: list[float] = []
    results = sanity.run_all(s, progress=fractions.append)
    assert [r.name for r in results] == [
        "gradient check",
        "loss at init",
        "overfit a tiny batch",
        "zero-input baseline",
        "update ratio",
    ]
    for r in results:
        assert r.passed, (r.name, r.summary, r.details)
        assert r.applicable
        assert r.summary and "\n" not in r.summary
    assert fractions and fractions[-1] == pytest.approx(1.0)
    assert all(b >= a for a, b in zip(fractions, fractions[1:], strict=False))
    assert_same_snapshot(before, snapshot(s))
    # and training continues exactly as in a session nobody checked
    s.run(max_steps=10)
    twin.run(max_steps=10)
    for p, q in zip(s.net.params(), twin.net.params(), strict=True):
        np.testing.assert_array_equal(p, q)


def test_position_batch_is_the_batch_the_next_step_uses():
    s = make_session(batch_size=16)
    for advance in (0, 1, 7):
        s.run(max_steps=advance) if advance else None
        x, y, labels = sanity.position_batch(s)
        s.advance("layer")
        np.testing.assert_array_equal(x, s.rec.x)
        np.testing.assert_array_equal(y, s.rec.y)
        np.testing.assert_array_equal(labels, s.rec.labels)
        # mid-step: the batch being processed
        x2, _, _ = sanity.position_batch(s)
        np.testing.assert_array_equal(x2, s.rec.x)
        s.advance("step")


def test_position_batch_follows_a_pending_batch_size_change():
    s = make_session(batch_size=16)
    s.run(max_steps=3)
    s.set_hyper(batch_size=8)
    x, _, _ = sanity.position_batch(s)
    s.advance("layer")
    np.testing.assert_array_equal(x, s.rec.x)
    assert len(x) == 8


# --------------------------------------------------------------- gradients
def scaled_layer(net, loss, x, y, l2):
    g = analytic_grads(net, loss, x, y, l2)
    g[2] = 1.5 * g[2]  # W1 off by 50%
    return g


def flipped_bias(net, loss, x, y, l2):
    g = analytic_grads(net, loss, x, y, l2)
    g[1] = -g[1]  # b0 with the wrong sign
    return g


@pytest.mark.parametrize("fn,bad", [(scaled_layer, "W1"), (flipped_bias, "b0")])
def test_gradient_check_catches_wrong_backprop(fn, bad):
    s = healthy()
    s.run(max_steps=3)
    r = sanity.check_gradients(s, grads_fn=fn)
    assert not r.passed
    assert bad in r.summary
    assert any(line.startswith(f"{bad}:") and "wrong" in line for line in r.details)
    assert sanity.check_gradients(s).passed


def test_gradient_check_before_the_first_step_and_with_relu_l2():
    s = healthy(activation="relu", l2=1e-3, loss="binary_cross_entropy")
    r = sanity.check_gradients(s)
    assert r.passed, r.summary
    assert any("ReLU" in line for line in r.details)


# --------------------------------------------------------------- init loss
def test_init_loss_flags_huge_initial_logits():
    assert sanity.check_init_loss(healthy()).passed
    r = sanity.check_init_loss(healthy(init="normal", init_std=10.0))
    assert not r.passed
    assert "ln 2" in r.summary
    assert any("over-confident" in line for line in r.details)


def test_init_loss_is_not_applicable_to_mse():
    r = sanity.check_init_loss(make_session(loss="mse"))
    assert r.passed and not r.applicable
    assert "not applicable" in r.summary


def test_init_loss_tolerance_is_the_diagnosis_tolerance():
    from tui_trainer.engine.diagnostics.rules import init_loss_tolerance

    assert sanity.init_loss_tolerance(2) == 0.5
    for c in (2, 3, 10, 100):
        assert sanity.init_loss_tolerance(c) == init_loss_tolerance(c)[0]
    assert sanity.init_loss_tolerance(100) == pytest.approx(0.5 * np.log(100))


@pytest.mark.parametrize("start", ["he", "normal"])
def test_init_loss_check_agrees_with_the_diagnosis(start):
    """A textbook He start (relu, 16x16, on xor) begins 0.8 nats above ln 2: the
    sanity check failed it as over-confident while the diagnosis only noted it
    (a well-scaled start on the same data begins just as high); now both give
    one verdict from one rule. A normal(3) tanh start is a warning in both."""
    from tui_trainer.engine.diagnostics import diagnose

    if start == "he":
        s = healthy(hidden=(16, 16), activation="relu", init="he")
    else:
        s = healthy(hidden=(16, 16), activation="tanh", init="normal", init_std=3.0)
    r = sanity.check_init_loss(s)
    found = [f for f in diagnose(s) if f.code == "init_loss"]
    warned = any(f.severity == "warning" for f in found)
    assert r.passed == (not warned)
    if start == "he":
        assert r.passed and [f.severity for f in found] == ["info"]
        assert any("note" in line for line in r.details)
    else:
        assert not r.passed and warned


# --------------------------------------------------------- tiny-batch overfit
class ZeroGradLoss:
    """A broken loss: right values, zero gradient (nothing can learn)."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name

    def forward(self, out, y):
        ps, mean, g = self.inner.forward(out, y)
        return ps, mean, np.zeros_like(g)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_overfit_tiny_batch_passes_healthy_and_fails_when_nothing_learns():
    s = healthy()
    r = sanity.check_overfit_tiny_batch(s)
    assert r.passed, r.summary
    s.loss = ZeroGradLoss(s.loss)
    r = sanity.check_overfit_tiny_batch(s, steps=100)
    assert not r.passed
    assert "not reached" in r.summary


def test_overfit_regression():
    s = make_session(loss="mse", hidden=(16,))
    assert sanity.check_overfit_tiny_batch(s).passed


def test_tiny_batch_is_balanced():
    s = healthy()
    idx = sanity.tiny_batch_indices(s, 4)
    assert len(idx) == 4 and len(set(idx.tolist())) == 4
    assert np.bincount(s.labels_train[idx], minlength=2).tolist() == [2, 2]
    assert len(sanity.tiny_batch_indices(s, 100)) == 8
    assert len(sanity.tiny_batch_indices(s, 1)) == 2


# --------------------------------------------------------- zero-input baseline
def test_zero_input_baseline_fails_when_labels_ignore_the_inputs():
    s = healthy()
    assert sanity.check_zero_input_baseline(s).passed
    data = xor_data()
    rng = np.random.default_rng(1)
    data.y_train = rng.integers(0, 2, data.y_train.shape)
    data.y_val = rng.integers(0, 2, data.y_val.shape)
    r = sanity.check_zero_input_baseline(Session(s.cfg, data))
    assert not r.passed, r.summary


def test_zero_input_baseline_steps():
    s = healthy()  # 80 samples, batch 16: 5 steps per epoch -> the floor
    assert sanity.baseline_steps(s) == sanity.BASELINE_MIN_STEPS == 1000
    assert sanity.baseline_steps(healthy(batch_size=1)) == 1000  # 5 epochs = 400 steps
    big = Session(s.cfg.with_changes(batch_size=1), xor_data(n=520, val=40))  # 480/epoch
    assert sanity.baseline_steps(big) == sanity.BASELINE_MAX_STEPS


# ------------------------------------------------------------- update ratio
@pytest.mark.parametrize("lr,verdict", [(1e-7, "too low"), (10.0, "too high")])
def test_update_ratio_flags_bad_learning_rates(lr, verdict):
    s = make_session(lr=lr, optimizer="sgd")
    s.run(max_steps=25)
    r = sanity.check_update_ratio(s)
    assert not r.passed
    assert any(verdict in line for line in r.details)


def test_update_ratio_check_and_diagnosis_agree_on_the_learning_rate():
    # At sgd lr 0.2 the ratio is ~2e-2: the old band [1e-4, 1e-2] failed it as "the
    # learning rate is probably too large" while the diagnosis found nothing.
    s = healthy(lr=0.2, optimizer="sgd")
    s.run(max_steps=25)
    r = sanity.check_update_ratio(s)
    lr_codes = {f.code for f in diagnose(s)} & {"lr_too_large", "lr_too_small"}
    assert r.passed and not lr_codes, (r.details, lr_codes)
    assert (sanity.RATIO_LOW, sanity.RATIO_HIGH) == (UPDATE_RATIO_LOW, UPDATE_RATIO_HIGH)
    # where the check fails, its cause is the diagnosis's, word for word
    s = healthy(lr=10.0, optimizer="sgd")
    s.run(max_steps=25)
    r = sanity.check_update_ratio(s)
    found = [f for f in diagnose(s) if f.code == "lr_too_large"]
    assert (
        not r.passed
        and found
        and r.details[-1] == f"the diagnosis: {found[0].title}. {found[0].advice}"
    )


def test_update_ratio_ok_and_not_applicable_before_training():
    s = healthy(lr=3e-3)
    r = sanity.check_update_ratio(s)
    assert r.passed and not r.applicable
    s.run(max_steps=25)
    r = sanity.check_update_ratio(s)
    assert r.passed, r.details
    assert len(r.details) == 3 and all(line.endswith("ok") for line in r.details)


def test_run_all_reports_a_crashing_check(monkeypatch):
    def boom(s):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(sanity, "check_init_loss", boom)
    monkeypatch.setattr(sanity, "check_zero_input_baseline", lambda s, progress=None: boom(s))
    results = sanity.run_all(healthy())
    by_name = {r.name: r for r in results}
    assert not by_name["loss at init"].passed
    assert "kaboom" in by_name["loss at init"].summary
    assert by_name["gradient check"].passed


def test_clone_net_owns_its_parameters_and_no_caches():
    s = make_session(batch_size=0)  # full batch: layer 0 caches the training set itself
    s.advance("step")
    clone = sanity.clone_net(s.net, np.dtype(np.float32))
    for ly, c in zip(s.net.layers, clone.layers, strict=True):
        assert c.x is None and c.z is None and not c.dW_valid
        assert c.W.dtype == np.float32 and not np.shares_memory(c.W, ly.W)
        assert ly.x is not None and ly.dW_valid  # the original keeps its caches
    np.testing.assert_allclose(
        clone.predict(s.x_train[:3]), s.net.predict(s.x_train[:3]), rtol=1e-5, atol=1e-5
    )
    clone.layers[0].W[...] = 0.0
    assert s.net.layers[0].W.any()
