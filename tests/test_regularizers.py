"""L1, dropout and learning-rate schedules in the engine: gradients checked
numerically (float64), step-back, replay and checkpoints bit-identical."""

from __future__ import annotations

import math

import numpy as np
import pytest

from helpers import make_session, xor_data
from tui_trainer.engine.checkpoint import load_checkpoint, save_checkpoint
from tui_trainer.engine.config import LayerSpec, TrainConfig
from tui_trainer.engine.gradcheck import analytic_grads, gradcheck, objective
from tui_trainer.engine.losses import make_loss
from tui_trainer.engine.network import Network
from tui_trainer.engine.schedule import Schedule, scheduled_lr
from tui_trainer.engine.session import Session, fork_session
from tui_trainer.engine.stepper import Phase


def params(s: Session) -> list[np.ndarray]:
    return [p.copy() for p in s.net.params()]


def assert_same(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)


def dropout_session(rate: float = 0.3, **kw: object) -> Session:
    layers = (LayerSpec(8, "tanh", rate), LayerSpec(6, "relu", rate), LayerSpec(2, "linear"))
    base: dict[str, object] = dict(layers=layers, loss="cross_entropy", lr=0.05, batch_size=16)
    base.update(epochs=5, seed=3)
    base.update(kw)
    return Session(TrainConfig(**base), xor_data())  # type: ignore[arg-type]


def _problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((7, 3))
    y = rng.integers(0, 3, 7)
    return x, y


# ---------------------------------------------------------------- L1


@pytest.mark.parametrize("act", ["tanh", "relu", "sigmoid"])
@pytest.mark.parametrize("l2", [0.0, 0.05])
def test_l1_gradients_match_numerical(act: str, l2: float):
    x, y = _problem()
    cfg = TrainConfig(
        layers=(LayerSpec(5, act), LayerSpec(4, act), LayerSpec(3, "linear")),
        loss="cross_entropy",
        init="normal",
        init_std=0.7,
        bias_init=0.05,
        seed=11,
    )
    net = Network.build(cfg, 3)
    for res in gradcheck(net, make_loss("cross_entropy"), x, y, l2=l2, l1=0.03, max_per_param=None):
        assert res.max_rel_error < 1e-6, (res.name, res.max_rel_error)


def test_l1_enters_dW_as_sign_not_db_and_the_objective_as_abs_sum():
    x, y = _problem()
    cfg = TrainConfig(layers=(LayerSpec(3, "tanh"), LayerSpec(3, "linear")), seed=1)
    net = Network.build(cfg, 3)
    loss = make_loss("cross_entropy")
    g0 = analytic_grads(net, loss, x, y, 0.0)
    g1 = analytic_grads(net, loss, x, y, 0.0, 0.2)
    for i, layer in enumerate(net.layers):
        np.testing.assert_allclose(g1[2 * i], g0[2 * i] + 0.2 * np.sign(layer.W), atol=1e-15)
        np.testing.assert_array_equal(g1[2 * i + 1], g0[2 * i + 1])
    w1 = sum(float(np.abs(ly.W).sum()) for ly in net.layers)
    assert objective(net, loss, x, y, 0.0, 0.2) == pytest.approx(
        objective(net, loss, x, y, 0.0) + 0.2 * w1
    )


def test_l1_reported_like_l2_loss_is_data_loss_objective_adds_penalty():
    a, b = make_session(), make_session(l1=0.01)
    a.advance("phase", 2)  # FORWARD, LOSS
    b.advance("phase", 2)
    assert b.rec.loss == a.rec.loss  # same weights, same batch: the data loss
    w1 = sum(float(np.abs(ly.W).sum()) for ly in b.net.layers)
    assert b.rec.objective == pytest.approx(a.rec.loss + 0.01 * w1, rel=1e-12)


def test_l1_drives_weights_to_zero_and_changes_replay_exactly():
    ref = make_session(epochs=8)
    ref.advance("step", 10)
    ref.set_hyper(l1=0.02)
    ref.run()
    base = make_session(epochs=8)
    base.run()
    l1 = lambda s: sum(float(np.abs(ly.W).sum()) for ly in s.net.layers)  # noqa: E731
    assert l1(ref) < l1(base)  # the penalty shrinks sum |W|
    s = make_session(epochs=8)
    s.advance("step", 10)
    s.set_hyper(l1=0.02)
    s.advance("step", 20)
    s.goto(4 * s.E + 3)  # back before the change
    assert s.hyperparameters()["l1"] == 0.0
    s.run()
    assert_same(params(s), params(ref))


# ---------------------------------------------------------------- dropout


@pytest.mark.parametrize("act", ["tanh", "relu", "sigmoid", "leaky_relu"])
def test_dropout_gradients_match_numerical_with_the_mask_fixed(act: str):
    x, y = _problem(2)
    cfg = TrainConfig(
        layers=(LayerSpec(6, act, 0.5), LayerSpec(5, act, 0.5), LayerSpec(3, "linear")),
        loss="cross_entropy",
        init="normal",
        init_std=0.7,
        bias_init=0.05,
        seed=5,
    )
    net = Network.build(cfg, 3)
    rng = np.random.default_rng(9)
    masks = [(rng.random((7, 6)) >= 0.5) * 2.0, (rng.random((7, 5)) >= 0.5) * 2.0, None]
    assert all(0 < m.sum() < m.size * 2 for m in masks[:2])  # some dropped, some kept
    loss = make_loss("cross_entropy")
    results = gradcheck(net, loss, x, y, l2=0.01, l1=0.01, max_per_param=None, masks=masks)
    for res in results:
        assert res.max_rel_error < 1e-6, (res.name, res.max_rel_error)
    # the mask matters: the objective with it differs from the one without
    masked = net.detached_copy(np.float64)
    for ly, m in zip(masked.layers, masks, strict=True):
        ly.mask = m
    assert objective(masked, loss, x, y, 0.0) != pytest.approx(objective(net, loss, x, y, 0.0))


def test_dropout_masks_are_inverted_drawn_per_step_and_off_for_evaluation():
    s = dropout_session(0.25)
    s.advance("layer", 1)  # FORWARD layer 1
    ly = s.net.layers[0]
    m = ly.mask
    assert m is not None and m.shape == (16, 8) and m.dtype == s.dtype
    assert set(np.unique(m)) <= {0.0, 1.0 / 0.75}
    np.testing.assert_array_equal(ly.x @ ly.W + ly.b, ly.z)
    out = ly.forward(ly.x)
    np.testing.assert_array_equal(out, ly.a * m)  # the next layer sees the dropped output
    assert s.net.layers[2].mask is None  # never on the output layer
    first = m.copy()
    s.advance("step", 1)
    s.advance("layer", 1)
    assert not np.array_equal(s.net.layers[0].mask, first)  # a new mask each step
    # many draws: the dropped share is near the rate
    share = []
    for _ in range(40):
        s.advance("step", 1)
        share.append(float((s.net.layers[0].mask == 0).mean()))
    assert 0.18 < np.mean(share) < 0.32
    # evaluation never drops: the session's validation loss is the plain network's
    x, y = s.x_val, s.y_val
    plain = float(s.loss.per_sample(s.net.predict(x), y).mean())
    assert s.evaluate(x, y, s.labels_val)[0] == plain


def test_dropout_back_then_forward_gives_identical_weights():
    ref = dropout_session(0.3)
    ref.advance("step", 23)
    ref.advance("layer", 4)
    want, want_pos = params(ref), ref.position
    want_hist = ref.history.steps.rows()
    want_mask = ref.net.layers[1].mask.copy()

    s = dropout_session(0.3)
    s.advance("step", 23)
    s.advance("layer", 4)
    s.back("step")
    s.back("phase")
    s.back("layer")
    s.goto(want_pos)
    assert_same(params(s), want)
    np.testing.assert_array_equal(s.net.layers[1].mask, want_mask)
    assert np.array_equal(s.history.steps.rows(), want_hist, equal_nan=True)
    # replay from a keyframe (step 16) gives the same
    s.goto(3 * s.E)
    s.goto(want_pos)
    assert_same(params(s), want)


def test_dropout_checkpoint_and_fork_continue_bit_identically(tmp_path):
    ref = dropout_session(0.3)
    ref.run()
    s = dropout_session(0.3)
    s.advance("step", 11)
    s.advance("layer", 2)
    path = save_checkpoint(s, tmp_path / "d.npz")
    t = dropout_session(0.3)
    load_checkpoint(t, path)
    f = fork_session(s)
    for other in (t, f):
        other.run()
        assert_same(params(other), params(ref))


def test_dropout_changes_training_and_zero_rate_is_plain():
    plain = make_session(hidden=(8, 6), activation="tanh")
    zero = Session(
        TrainConfig(
            layers=(LayerSpec(8, "tanh", 0.0), LayerSpec(6, "tanh", 0.0), LayerSpec(2, "linear")),
            loss="cross_entropy",
            lr=0.05,
            batch_size=16,
            epochs=5,
            seed=3,
        ),
        xor_data(),
    )
    plain.run()
    zero.run()
    assert_same(params(plain), params(zero))
    assert all(ly.mask is None for ly in zero.net.layers)
    d = dropout_session(
        0.3, layers=(LayerSpec(8, "tanh", 0.3), LayerSpec(6, "tanh", 0.3), LayerSpec(2, "linear"))
    )
    d.run()
    assert not np.array_equal(params(d)[0], params(plain)[0])


# ---------------------------------------------------------------- schedules


def test_schedule_formulas():
    b = 0.1
    st = Schedule("step", step_size=3, gamma=0.5)
    assert [scheduled_lr(b, e, st, 10) for e in range(7)] == [
        b,
        b,
        b,
        b * 0.5,
        b * 0.5,
        b * 0.5,
        b * 0.25,
    ]
    ex = Schedule("exponential", gamma=0.9)
    assert scheduled_lr(b, 4, ex, 10) == pytest.approx(b * 0.9**4)
    co = Schedule("cosine", min_lr=0.01, t_max=4)
    got = [scheduled_lr(b, e, co, 10) for e in range(6)]
    want = [0.01 + 0.09 * (1 + math.cos(math.pi * min(e, 4) / 4)) / 2 for e in range(6)]
    assert got == pytest.approx(want)
    assert got[0] == pytest.approx(b) and got[4] == pytest.approx(0.01) == got[5]
    # t_max = 0: the epochs after the warm-up
    co0 = Schedule("cosine", warmup_epochs=2, min_lr=0.0)
    assert scheduled_lr(b, 2, co0, 10) == pytest.approx(b)
    assert scheduled_lr(b, 6, co0, 10) == pytest.approx(b / 2)  # half-way through 8 epochs
    # warm-up: (e+1)/(W+1), then the schedule from its own epoch 0
    wu = Schedule("step", warmup_epochs=3, step_size=2, gamma=0.1)
    assert [scheduled_lr(b, e, wu, 10) for e in range(6)] == pytest.approx(
        [b / 4, b / 2, 3 * b / 4, b, b, b * 0.1]
    )
    assert scheduled_lr(b, 5, Schedule(), 10) == b


def test_session_follows_the_schedule_and_records_the_lr_of_each_step():
    s = make_session(schedule="step", step_size=2, gamma=0.5, epochs=6)
    assert s.current_lr == 0.05
    s.run()
    rows = s.history.steps.rows()
    lrs, epochs = rows[:, 2], rows[:, 3].astype(int)
    for e in range(6):
        assert np.all(lrs[epochs == e] == 0.05 * 0.5 ** (e // 2))
    assert s.hyperparameters()["lr"] == 0.05  # the base lr is what is set, not the scaled one


def test_lr_change_during_a_schedule_rescales_the_base_and_replays():
    s = make_session(schedule="exponential", gamma=0.5, epochs=6)
    s.run_to_epoch(3)
    assert s.current_lr == pytest.approx(0.05 * 0.5**3)
    s.set_hyper(lr=0.4)
    assert s.current_lr == pytest.approx(0.4 * 0.5**3)  # same epoch of the schedule, new base
    s.advance("step", 1)
    assert s.rec.lr == pytest.approx(0.4 * 0.5**3)
    s.run()
    want = params(s)
    s.goto(2 * s.E)
    assert s.hyperparameters()["lr"] == 0.05
    s.run()
    assert_same(params(s), want)


def test_schedule_changed_live_is_recorded():
    s = make_session(epochs=4)
    s.run_to_epoch(1)
    at = s.set_hyper(schedule="cosine", min_lr=0.001)
    s.advance("phase", 1)
    assert s.phase is Phase.FORWARD
    s.run()
    rows = s.history.steps.rows()
    assert np.all(rows[:at, 2] == 0.05)
    assert rows[-1, 2] < 0.05
    want = params(s)
    s.goto(3)
    assert s.hyperparameters()["schedule"] == "constant"
    s.run()
    assert_same(params(s), want)


# ---------------------------------------------------------------- checkpoints


def _rewrite_state(path, edit) -> None:
    """Edit the JSON state record of checkpoint ``path`` in place."""
    import io
    import json
    import zipfile

    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    meta = json.loads(str(np.lib.format.read_array(io.BytesIO(members["state.npy"]))))
    edit(meta)
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.array(json.dumps(meta)), allow_pickle=False)
    members["state.npy"] = buf.getvalue()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)


NEW_KEYS = ("l1", "schedule", "warmup_epochs", "step_size", "gamma", "min_lr", "t_max")


def test_checkpoint_from_before_l1_dropout_and_schedules_still_resumes(tmp_path):
    ref = make_session(optimizer="momentum")
    ref.advance("step", 9)
    ref.set_hyper(lr=0.07)
    ref.advance("step", 3)
    path = save_checkpoint(ref, tmp_path / "old.npz")

    def make_old(meta):
        for key in NEW_KEYS:
            meta["hyper"].pop(key)
            meta["config"].pop(key)
        for layer in meta["config"]["layers"]:
            layer.pop("dropout")

    _rewrite_state(path, make_old)
    s = make_session(optimizer="momentum")
    load_checkpoint(s, path)
    assert s.hyperparameters()["schedule"] == "constant" and s.l1 == 0.0
    s.run()
    ref.run()
    assert_same(params(s), params(ref))


@pytest.mark.parametrize(
    "key,value,words",
    [
        ("schedule", "evil", "unknown schedule"),
        ("gamma", 5.0, "out of range"),
        ("l1", -1.0, "out of range"),
        ("step_size", 0, "out of range"),
        ("t_max", 1.5, "expected an integer"),
    ],
)
def test_checkpoint_with_bad_new_hyperparameters_is_refused(tmp_path, key, value, words):
    from tui_trainer.engine.checkpoint import CheckpointError

    s = make_session()
    s.advance("step", 5)
    path = save_checkpoint(s, tmp_path / "bad.npz")
    for where in ("hyper", "hp_log"):
        p = tmp_path / f"{where}.npz"
        p.write_bytes(path.read_bytes())

        def edit(meta, where=where):
            if where == "hyper":
                meta["hyper"][key] = value
            else:
                meta["hp_log"]["5"] = {key: value}

        _rewrite_state(p, edit)
        with pytest.raises(CheckpointError, match=words) as info:
            load_checkpoint(make_session(), p)
        assert key in str(info.value)


def test_compare_runs_l1_side_by_side():
    from tui_trainer.engine.compare import make_runs, run_lockstep

    s = make_session(epochs=4)
    runs = make_runs(s.cfg, s.data, "l1", [0.0, 0.05])
    run_lockstep(runs)
    w = [sum(float(np.abs(ly.W).sum()) for ly in r.session.net.layers) for r in runs]
    assert [r.label for r in runs] == ["l1=0", "l1=0.05"]
    assert w[1] < w[0]


def test_trace_records_dropout_masks_and_scheduled_lr(tmp_path):
    from tui_trainer.engine.trace import NpzStream, estimate_trace_bytes, record_trace

    s = dropout_session(0.3, schedule="exponential", gamma=0.5)
    with open(tmp_path / "t.npz", "wb") as f:
        stream = NpzStream(f)
        recorded = record_trace(s, 7, stream, {"format": 1})  # 5 steps an epoch: into epoch 2
        stream.close()
    assert recorded == 7
    ref = dropout_session(0.3, schedule="exponential", gamma=0.5)
    with np.load(tmp_path / "t.npz", allow_pickle=False) as z:
        stored = sum(z[n].nbytes for n in z.files if n != "meta")
        for k in range(7):
            ref.advance("layer", 2)  # FORWARD of both hidden layers
            for i in (0, 1):
                np.testing.assert_array_equal(z[f"{k}/mask{i}"], ref.net.layers[i].mask)
            assert f"{k}/mask2" not in z.files
            assert float(z[f"{k}/lr"]) == 0.05 * 0.5 ** (k // 5)
            ref.advance("step")
    assert estimate_trace_bytes(dropout_session(0.3), 7) >= stored
