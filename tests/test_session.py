"""Stepping, determinism, step-back replay, checkpoints and NaN capture."""

from __future__ import annotations

import math

import numpy as np
import pytest

from helpers import make_session
from tui_trainer.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tui_trainer.engine.session import Diverged, SessionError
from tui_trainer.engine.stepper import Phase


def params(s):
    return [p.copy() for p in s.net.params()]


def assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y, equal_nan=True)


def test_phase_sequence_and_layer_stops():
    s = make_session(hidden=(4, 3))
    seen = []
    for _ in range(8):
        ev = s.advance("layer")
        seen.append((ev.phase, ev.layer))
    assert seen == [
        (Phase.FORWARD, 0),
        (Phase.FORWARD, 1),
        (Phase.FORWARD, 2),
        (Phase.LOSS, None),
        (Phase.BACKWARD, 2),
        (Phase.BACKWARD, 1),
        (Phase.BACKWARD, 0),
        (Phase.UPDATE, None),
    ]
    assert s.step == 1 and s.pos == 0
    phases = [s.advance("phase").phase for _ in range(4)]
    assert phases == [Phase.FORWARD, Phase.LOSS, Phase.BACKWARD, Phase.UPDATE]


def test_phases_expose_what_they_produced():
    s = make_session(hidden=(4,), l2=0.01)
    s.advance("phase")  # forward
    ly = s.net.layers[0]
    np.testing.assert_allclose(ly.z, s.rec.x @ ly.W + ly.b)
    np.testing.assert_allclose(ly.a, np.tanh(ly.z))
    assert not ly.dW_valid
    s.advance("phase")  # loss
    assert s.rec.per_sample.shape == (16,)
    assert s.rec.loss == pytest.approx(s.rec.per_sample.mean())
    assert s.rec.dout.shape == s.rec.out.shape
    s.advance("phase")  # backward
    W_before = [ly.W.copy() for ly in s.net.layers]
    grads = [ly.dW.copy() for ly in s.net.layers]
    s.advance("phase")  # update
    for ly, w0, g in zip(s.net.layers, W_before, grads, strict=True):
        np.testing.assert_allclose(ly.delta_W, -0.05 * g)
        np.testing.assert_allclose(ly.W, w0 + ly.delta_W)
    ratio = s.history.step_series("update_ratio", 0)[-1]
    L0 = s.net.layers[0]
    assert ratio == pytest.approx(np.linalg.norm(L0.delta_W) / np.linalg.norm(L0.W))


def test_minibatches_cover_epoch_with_partial_last_batch():
    s = make_session(batch_size=32)  # 80 training points: 32 + 32 + 16
    seen = []
    for _ in range(3):
        s.advance("step")
        seen.append(s.rec.batch_index.copy())
    assert [len(b) for b in seen] == [32, 32, 16]
    assert sorted(np.concatenate(seen).tolist()) == list(range(80))
    assert s.epoch == 1
    s.advance("step")
    assert not np.array_equal(s.rec.batch_index, seen[0][: len(s.rec.batch_index)])


def test_full_batch_uses_all_points():
    s = make_session(batch_size=10_000)
    s.advance("step")
    assert len(s.rec.x) == 80 and s.epoch == 1


def test_determinism_same_seed_bit_identical():
    a, b = make_session(optimizer="adam"), make_session(optimizer="adam")
    a.run()
    b.run()
    assert_same(params(a), params(b))
    assert np.array_equal(a.history.steps.rows(), b.history.steps.rows(), equal_nan=True)
    c = make_session(optimizer="adam", seed=4)
    c.run()
    assert not np.array_equal(params(a)[0], params(c)[0])


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_step_back_then_replay_is_bit_identical(optimizer):
    ref = make_session(optimizer=optimizer)
    ref.advance("step", 7)
    ref.set_hyper(lr=0.2)  # a learning-rate change between steps
    ref.advance("step", 6)
    ref.advance("layer", 3)
    want_pos, want = ref.position, params(ref)
    want_hist = ref.history.steps.rows()

    s = make_session(optimizer=optimizer)
    s.advance("step", 7)
    s.set_hyper(lr=0.2)
    s.advance("step", 6)
    s.advance("layer", 3)
    s.goto(5 * s.E + 2)  # back into step 5, before the lr change
    assert s.step == 5 and s.pos == 2 and s.hyperparameters()["lr"] == 0.05
    s.back("phase")
    s.back("layer")
    s.goto(want_pos)
    assert s.hyperparameters()["lr"] == 0.2
    assert_same(params(s), want)
    assert np.array_equal(s.history.steps.rows(), want_hist, equal_nan=True)


def test_back_restores_the_caches_of_the_phase():
    s = make_session()
    s.advance("step", 3)
    s.advance("phase", 3)  # after backprop of step 3
    dW = [ly.dW.copy() for ly in s.net.layers]
    z = [ly.z.copy() for ly in s.net.layers]
    s.advance("phase")  # update
    s.back("phase")
    assert s.last_event.phase is Phase.BACKWARD and s.pos == s.E - 1
    for ly, g, zz in zip(s.net.layers, dW, z, strict=True):
        assert np.array_equal(ly.dW, g) and np.array_equal(ly.z, zz)
    s.back("step")  # to the start of step 3
    assert (s.step, s.pos) == (3, 0)
    s.back("step")
    assert (s.step, s.pos) == (2, 0)
    assert s.last_event.phase is Phase.UPDATE


def test_history_is_bounded_and_reported():
    s = make_session(history_steps=5, epochs=20)
    s.advance("step", 30)
    rep = s.memory_report()
    assert rep["keyframes"] <= 7
    assert rep["history_bytes"] > 0
    with pytest.raises(SessionError):
        s.goto(10 * s.E)
    s.goto(26 * s.E)  # within the last 5 steps: fine
    assert s.step == 26


def test_history_limited_by_bytes_uses_sparser_keyframes():
    s = make_session(hidden=(64, 64), history_steps=1000, history_bytes=200_000, epochs=20)
    assert s.keyframe_interval > 1
    s.advance("step", 25)
    w = params(s)
    s.goto(3 * s.E + 4)
    s.goto(25 * s.E)
    assert_same(params(s), w)
    assert s.memory_report()["history_bytes"] <= 200_000 + s.keyframe_bytes


def test_checkpoint_resume_bit_identical(tmp_path):
    ref = make_session(optimizer="momentum")
    ref.run()
    s = make_session(optimizer="momentum")
    s.advance("step", 9)
    s.set_hyper(lr=0.07)
    s.advance("step", 2)
    s.advance("layer", 2)  # mid-step: the checkpoint resumes at this event
    pos = s.position
    path = save_checkpoint(s, tmp_path / "a.npz")
    assert s.position == pos
    t = make_session(optimizer="momentum")
    load_checkpoint(t, path)
    assert t.position == pos
    t.run()
    s.run()
    assert_same(params(t), params(s))
    assert np.array_equal(t.history.epochs.rows(), s.history.epochs.rows(), equal_nan=True)
    assert not np.array_equal(params(t)[0], params(ref)[0])  # the lr change mattered


def test_checkpoint_errors_are_clean(tmp_path):
    s = make_session()
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(s, bad)
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(s, tmp_path / "missing.npz")
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(CheckpointError, match="not a tui-trainer checkpoint"):
        load_checkpoint(s, other)
    good = save_checkpoint(s, tmp_path / "good.npz")
    different = make_session(hidden=(3,))
    with pytest.raises(CheckpointError, match="different model"):
        load_checkpoint(different, good)
    truncated = tmp_path / "trunc.npz"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError):
        load_checkpoint(s, truncated)


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    s = make_session()
    path = tmp_path / "c.npz"
    save_checkpoint(s, path)
    before = path.read_bytes()

    def disk_full(f, **arrays):
        f.write(b"PK partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", disk_full)
    with pytest.raises(OSError, match="No space"):
        save_checkpoint(s, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("where", ["forward", "loss", "backward", "update"])
def test_nan_is_caught_at_the_phase_and_layer_that_made_it(where):
    s = make_session(hidden=(4, 3))
    s.advance("step", 2)
    layer = s.net.layers[1]
    if where == "forward":
        layer.W[0, 0] = np.nan
        expect = (Phase.FORWARD, 1)
    elif where == "loss":
        s.y_train[:] = np.inf if s.y_train.dtype.kind == "f" else s.y_train
        s.net.layers[-1].b[:] = np.inf
        expect = (Phase.FORWARD, 2)
    elif where == "backward":
        # an infinite learning signal: inf in the loss gradient's input
        s.net.layers[2].act.backward = lambda z, a, da: da * np.nan  # type: ignore[method-assign]
        expect = (Phase.BACKWARD, 2)
    else:
        s.set_hyper(lr=np.inf)
        expect = (Phase.UPDATE, None)
    w_before = params(s)
    reason = s.run()
    assert reason.kind == "diverged"
    assert (s.nonfinite.phase, s.nonfinite.layer if where != "update" else None) == expect
    assert s.last_event.nonfinite
    with pytest.raises(Diverged):  # no training on garbage, and a loop over advance() ends
        s.advance("step")
    if where != "update":
        assert_same(params(s), w_before)  # nothing was updated from the NaN
    assert s.nonfinite.step == 2
    if where == "update":  # the cause (lr = inf from step 2) is behind us after a step back
        s.back("step")
        assert s.nonfinite is None and s.step == 2 and s.pos == 0


def test_divergence_from_a_huge_learning_rate_is_reported():
    s = make_session(loss="mse", lr=50.0, hidden=(8,), activation="relu")
    r = s.run()
    assert r.kind == "diverged"
    assert "non-finite" in r.message
    assert not math.isfinite(s.rec.loss) or s.nonfinite.phase is not Phase.LOSS


def test_run_until_predicate_and_epoch():
    s = make_session()
    s.run(lambda ss: ss.history.steps.n >= 4)
    assert s.step == 4
    s.run_to_epoch(2)
    assert s.epoch == 2 and s.pos == 0
    s.advance("epoch")
    assert s.epoch == 3
    r = s.run()
    assert r.kind == "finished" and s.epoch == 5
    assert s.advance("phase") is None
    s.set_hyper(epochs=6)
    assert s.advance("epoch") is not None and s.epoch == 6


def test_metrics_recorded():
    s = make_session(hidden=(6,), activation="relu")
    s.run()
    h = s.history
    assert h.epochs.n == 5
    assert h.steps.n == s.step
    val = h.epoch_series("val_loss")
    assert np.isfinite(val).all()
    acc = h.epoch_series("val_accuracy")
    assert ((0 <= acc) & (acc <= 1)).all()
    dead = h.step_series("dead_fraction", 0)
    assert ((0 <= dead) & (dead <= 1)).all()
    assert np.isnan(h.step_series("dead_fraction", 1)).all()  # linear output layer
    assert (h.step_series("grad_norm", 0) > 0).all()


def test_restart_returns_to_initial_weights():
    s = make_session()
    w0 = params(s)
    s.advance("step", 5)
    s.restart()
    assert_same(params(s), w0)
    assert s.position == 0 and s.history.steps.n == 0
