"""Rules made robust in the second round of the labelled benchmark (issue 16).

Each test reproduces a case where the first rules went wrong on the
benchmark's tuning runs: overfitting decided by one threshold (a validation
loss near 0 that doubles, or an accuracy gap of two examples), an initial
loss or saturation blamed on the initialization when a He/Xavier start on the
same data does no better, causes forgotten once the run partly recovered,
and a learning rate hundreds of times too large that is only noticed once
the loss rises. The assertions are about the start or about histories set
by hand, never about the late path of a chaotic run.
"""

from __future__ import annotations

import numpy as np

from test_diagnostics import _data, _session
from tui_trainer.engine.diagnostics import diagnose
from tui_trainer.engine.diagnostics.checks import initial_state
from tui_trainer.engine.diagnostics.rules import _overfitting, _Run
from tui_trainer.engine.session import Session


def _warnings(s: Session) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in diagnose(s):
        if f.severity != "info":
            out.setdefault(f.code, []).append(f)
    return out


# ----------------------------------------------------------------- overfitting
def _epochs_run(n: int) -> _Run:
    """A real classification run of ``n`` epochs whose epoch curves the test replaces."""
    s = _session(_data("moons", n=40, noise=0.3, val=0.5), (8,), lr=0.05, epochs=n)
    s.run()
    assert s.history.epochs.n == n
    return _Run(s)


def test_a_near_zero_validation_loss_that_doubles_is_not_overfitting() -> None:
    """A healthy easy run: validation loss 0.008 -> 0.047 (6x its best, but 0.04 in
    absolute terms, a few examples growing more confident), train loss 0.009."""
    r = _epochs_run(50)
    e = np.arange(50.0)
    r.e_val = np.where(e < 4, 0.3 - 0.07 * e, 0.008 + 0.039 * (e - 4) / 45)
    r.e_loss = np.where(e < 4, 0.3 - 0.07 * e, 0.02 - 0.011 * (e - 4) / 45)
    r.e_acc = np.full(50, 0.99)
    assert _overfitting(r) is None


def test_a_validation_climb_that_eased_off_is_still_overfitting() -> None:
    """Best at epoch 10 (0.59), a climb to 0.9 by epoch 45, easing back to 0.67
    (1.14x its best) while the train loss goes to 0; the accuracy gap is only
    0.05 (two of 40 validation examples), so neither the old 2.5x rise nor the
    0.10 gap decided it."""
    r = _epochs_run(100)
    e = np.arange(100.0)
    val = np.where(e <= 10, 0.7 - 0.011 * e, 0.0)
    val = np.where((e > 10) & (e <= 45), 0.59 + 0.31 * (e - 10) / 35, val)
    val = np.where(e > 45, 0.9 - 0.23 * (e - 45) / 54, val)
    r.e_val = val
    r.e_loss = 0.6 * np.exp(-e / 8) + 1e-4
    r.e_acc = np.full(100, 1.0)
    ep = r.s.history.epochs
    ep.data[: ep.n, ep.index["val_accuracy"]] = 0.95
    f = _overfitting(r)
    assert f is not None
    assert f.epoch in (9, 10, 11)  # the best epoch, where to stop
    assert "chance level" in f.evidence


# ----------------------------------------------------------------- init
def test_a_high_first_loss_from_wide_inputs_with_he_init_is_only_a_note() -> None:
    """XOR's inputs reach +-5 (x3 here): a He network starts several nats above
    ln 2, and so would any well-scaled start: not the initialization's fault."""
    base = _data("xor")
    base.x_train *= 3
    base.x_val *= 3
    s = _session(base, (64, 64), activation="relu", init="he", lr=0.01, optimizer="adam")
    s.run(max_steps=1)
    st = initial_state(s)
    assert st.loss > np.log(2) + 3  # high enough for the old warning
    assert st.loss < 3 * st.good_loss  # ... but so is the recommended start's
    assert "init_loss" not in _warnings(s)
    bad = _session(base, (64, 64), activation="relu", init="normal", init_std=3.0)
    bad.run(max_steps=1)
    (f,) = _warnings(bad)["init_loss"]
    assert "recommended way begins at" in f.evidence


def test_saturation_at_initialization_is_reported_from_the_start() -> None:
    """Read from the start, so the finding stays when the network later fits
    and the current batch no longer shows it (step 0, 'at initialization')."""
    from tui_trainer.engine.diagnostics.rules import _saturated_at_init

    s = _session(_data("moons", noise=0.1), (16, 16), init="normal", init_std=8.0, lr=0.04)
    s.run(max_steps=1)
    st = initial_state(s)
    assert max(st.saturated[:2]) >= 0.9 or max(st.beyond[:2]) >= 0.5
    f = _saturated_at_init(_Run(s))
    assert f is not None and f.step == 0 and "at initialization" in f.evidence
    s.run()  # whatever the run does later, the start was saturated
    sat = _warnings(s)["saturated"]
    # relu first: it repaired 35 of 36 saturated tuning runs, Xavier 28
    assert sat and sat[0].fixes == (
        {"model.activation": "relu", "model.init": "he"},
        {"model.init": "xavier"},
    )
    # Xavier on the same data: not saturated, nothing to report
    ok = _session(_data("moons", noise=0.1), (16, 16), init="xavier", lr=0.04)
    ok.run(max_steps=1)
    assert _saturated_at_init(_Run(ok)) is None
    assert "saturated" not in _warnings(ok)


def test_relu_layer_dead_at_initialization_is_reported_from_the_start() -> None:
    s = _session(_data("circles", noise=0.05), (8, 8), activation="relu", init="he", bias_init=-4.0)
    s.run(max_steps=1)
    st = initial_state(s)
    assert st.dead[1] is not None and st.dead[1] >= 0.5
    assert st.good_dead[1] is not None and st.good_dead[1] <= 0.5 * st.dead[1]
    dead = _warnings(s)["dead_relu"]
    assert dead[0].fixes[0] == {"model.bias_init": 0.0}


def test_he_relu_network_is_not_dead_at_initialization() -> None:
    s = _session(_data("circles", noise=0.05), (8, 8), activation="relu", init="he")
    s.run(max_steps=1)
    assert "dead_relu" not in _warnings(s)


# ----------------------------------------------------------------- learning rate
def test_an_absurd_learning_rate_is_found_before_the_first_step() -> None:
    for opt, lr in (("sgd", 3.0), ("momentum", 1.0), ("adam", 0.5)):
        s = _session(_data("moons", noise=0.1), (16,), optimizer=opt, lr=lr)
        (f,) = _warnings(s)["lr_too_large"]
        assert f.step == 0 and "x the typical" in f.evidence
        # restart from a rate known to train: the typical one, 0.01 for adam
        # (its default 1e-3 is too slow on these small networks, round 4)
        restart = {"sgd": 0.03, "momentum": 0.01, "adam": 0.01}[opt]
        assert f.fixes[0] == {"training.lr": restart}
    # 10x the typical rate is a bold setting, not an absurd one
    for opt, lr in (("sgd", 0.3), ("momentum", 0.1), ("adam", 0.01)):
        s = _session(_data("moons", noise=0.1), (16,), optimizer=opt, lr=lr)
        assert "lr_too_large" not in _warnings(s)


def test_weights_thrown_far_from_their_start_blame_the_learning_rate() -> None:
    """Distance from init, against the size of a well-scaled layer: a huge Adam
    step moves the weights 10x and more; a healthy run and a plateau start
    (tiny weights growing to a normal size) do not count."""
    from tui_trainer.engine.diagnostics import checks

    s = _session(_data("moons", noise=0.1), (16,), optimizer="adam", lr=0.5, epochs=5)
    s.run()
    assert max(checks.weight_distance(s)) >= checks.WEIGHT_DISTANCE
    f = checks.weights_far_from_init(_Run(s))
    assert f is not None and f.code == "lr_too_large" and "|W - W0|" in f.evidence
    ok = _session(_data("moons", noise=0.1), (16,), optimizer="adam", lr=0.005, epochs=5)
    ok.run()
    assert max(checks.weight_distance(ok)) < 2
    tiny = _session(_data("moons", noise=0.1), (16,), init="normal", init_std=1e-3, epochs=5)
    tiny.run()
    assert max(checks.weight_distance(tiny)) < 2


def test_an_oscillating_epoch_loss_with_big_updates_blames_the_learning_rate() -> None:
    """AUTOTRAINER's unstable training on epoch means: up, down, up by 30%."""
    from test_diagnostics import _fake_history
    from tui_trainer.engine.diagnostics.rules import _lr_too_large

    s = _session(_data("moons", noise=0.1), (8,), lr=0.05, epochs=1)
    n = 400
    ratio = {f"update_ratio[{i}]": 1e-2 for i in range(s.n_layers)}
    _fake_history(s, n, **ratio)
    r = _Run(s)
    r.n_epochs = 20
    r.e_step = np.arange(1, 21) * 20.0
    r.e_loss = np.where(np.arange(20) % 2 == 0, 0.4, 0.55)
    f = _lr_too_large(r, False)
    assert f is not None and "oscillates" in f.evidence
    r.e_loss = np.linspace(0.6, 0.3, 20)  # a steady fall: not unstable
    assert _lr_too_large(r, False) is None
    _fake_history(s, n)  # the same zigzag with update ratios of 1e-3: not the lr
    calm = _Run(s)
    calm.n_epochs, calm.e_step = 20, np.arange(1, 21) * 20.0
    calm.e_loss = np.where(np.arange(20) % 2 == 0, 0.4, 0.55)
    assert _lr_too_large(calm, False) is None


def test_alpha_runs_on_a_schedule_and_after_a_step_back() -> None:
    from tui_trainer.engine.diagnostics import checks

    s = _session(_data("moons", noise=0.1), (8,), lr=0.05, epochs=20)
    s.run(max_steps=3)
    calls = []
    real = checks.step_alpha

    def counting(sess: Session) -> float | None:
        calls.append(sess.step)
        return real(sess)

    checks.step_alpha = counting  # type: ignore[assignment]
    try:
        first = checks.scheduled_alpha(s)
        s.run(max_steps=5)
        again = checks.scheduled_alpha(s)  # 5 steps later: reused
        assert calls == [3] and first is not None and again == first
        s.run(max_steps=checks.ALPHA_EVERY)
        checks.scheduled_alpha(s)
        assert calls[-1] == s.step and len(calls) == 2
        s.back("step")  # a step back: the cached alpha belongs to the future
        checks.scheduled_alpha(s)
        assert len(calls) == 3 and calls[-1] == s.step
    finally:
        checks.step_alpha = real  # type: ignore[assignment]


def test_a_loss_rise_from_huge_inputs_is_blamed_on_the_inputs_not_the_lr(tmp_path) -> None:
    """Raw-unit inputs make every step too big for the first layer; the fix is
    to standardize them, not to lower a learning rate that is fine (sgd 0.05
    here). The benchmark's run where the loss rose and the rules blamed the
    learning rate (whose fix then made it worse)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import diagnosis as bench

    from tui_trainer.scenario import load_scenario

    (case,) = [c for c in bench.generate("tune2") if c.name == "tune2-unstandardized_inputs-04"]
    (path,) = bench.write_cases([case], tmp_path)
    sc = load_scenario(path)
    data = sc.load_data()
    s = Session(sc.train_config(data), data)
    s.run()
    found = _warnings(s)
    assert "unstandardized_inputs" in found
    assert found["unstandardized_inputs"][0].fixes[0] == {"data.standardize": True}
    assert "lr_too_large" not in found


def test_a_learning_rate_far_too_small_is_found_before_the_first_step() -> None:
    for opt, lr in (("sgd", 1e-4), ("momentum", 1e-5), ("adam", 1e-5)):
        s = _session(_data("sine", noise=0.1), (16,), optimizer=opt, lr=lr)
        (f,) = _warnings(s)["lr_too_small"]
        typical = {"sgd": 0.03, "momentum": 0.01, "adam": 0.001}[opt]
        assert f.step == 0 and f.fixes[0] == {"training.lr": typical}
    for opt, lr in (("sgd", 0.01), ("momentum", 0.003), ("adam", 3e-4)):
        s = _session(_data("sine", noise=0.1), (16,), optimizer=opt, lr=lr)
        assert "lr_too_small" not in _warnings(s)


def test_an_l2_penalty_far_too_strong_is_found_before_the_first_step() -> None:
    s = _session(_data("moons", noise=0.1), (16,), lr=0.05, l2=0.5)
    (f,) = _warnings(s)["l2_too_strong"]
    assert f.step == 0 and f.fixes[0] == {"training.l2": 0.005}
    ok = _session(_data("moons", noise=0.1), (16,), lr=0.05, l2=0.02)  # regularized's
    assert "l2_too_strong" not in _warnings(ok)


def test_a_flat_loss_through_a_deep_tanh_stack_is_vanishing_gradients() -> None:
    """Six tanh layers of small weights: the loss sits at ln 2 and the first and
    last layers' gradients are equally small, so the ratio rule is silent."""
    s = _session(_data("xor"), (8,) * 6, init="normal", init_std=0.08, lr=0.07, epochs=12)
    s.run()
    found = _warnings(s)
    assert "vanishing_gradients" in found and "plateau" not in found
    assert found["vanishing_gradients"][0].fixes[0] == {"model.init": "xavier"}
