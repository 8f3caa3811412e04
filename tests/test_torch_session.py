"""TorchSession: the NumPy Session's API on a real nn.Module, paused inside forward and backward."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # CI installs torch (the test extra); users may not
from torch import nn  # noqa: E402

from tui_trainer.engine.history import STEP_SCALARS  # noqa: E402
from tui_trainer.engine.session_api import Diverged, SessionError, TrainingSession  # noqa: E402
from tui_trainer.engine.stepper import Phase  # noqa: E402
from tui_trainer.torch import TorchSession, UserCodeError  # noqa: E402
from tui_trainer.torch.checkpoint import (  # noqa: E402
    TorchCheckpointError,
    load_torch_checkpoint,
    save_torch_checkpoint,
)


def _data(n: int = 48, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = ((x[:, 0] + x[:, 1] * x[:, 2]) > 0).long()
    return x, y


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(4, 16),
        nn.BatchNorm1d(16),
        nn.ReLU(),
        nn.Dropout(0.3),
        nn.Linear(16, 3),
    )


def make(loader: bool = False, epochs: int = 4, adam: bool = True, **kw: object) -> TorchSession:
    m = _model()
    opt = (
        torch.optim.Adam(m.parameters(), lr=0.01)
        if adam
        else torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
    )
    x, y = _data()
    train: object = (x, y)
    if loader:
        ds = torch.utils.data.TensorDataset(x, y)
        train = torch.utils.data.DataLoader(ds, batch_size=10, shuffle=True)
    kwargs = {"batch_size": 10, "epochs": epochs, "seed": 3, "val": _data(20, seed=1)}
    kwargs.update(kw)
    return TorchSession(m, nn.CrossEntropyLoss(), opt, train, **kwargs)  # type: ignore[arg-type]


def hooks_attached(s: TorchSession) -> int:
    """The session's hooks left on the model, and global module hooks (fast-forward's)."""
    from torch.nn.modules import module as torch_module

    n = len(torch_module._global_forward_hooks)
    for m in s.model.modules():
        n += len(m._forward_hooks) + len(m._backward_hooks) + len(m._forward_pre_hooks)
    for p in s.model.parameters():
        n += len(p._post_accumulate_grad_hooks or {})
    return n


def step_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "tui-trainer-step"]


def snapshot(s: TorchSession) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in s.model.state_dict().items()}


def without_calls(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if not k.endswith("calls")}


def assert_same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def assert_rows_match(full: np.ndarray, got: np.ndarray, s: TorchSession) -> None:
    """``got`` (fast-forwarded on the metric schedule) is ``full`` (everything recorded):
    the scalars bit for bit, each per-module metric bit for bit where ``got`` has a
    value, and a gap (NaN, never a number) only at a step the schedule skips."""
    assert full.shape == got.shape
    k = len(STEP_SCALARS)
    np.testing.assert_array_equal(full[:, :k], got[:, :k])
    gap = np.isnan(got[:, k:]) & ~np.isnan(full[:, k:])
    for step in np.flatnonzero(gap.any(axis=1)):
        assert s.metric_schedule is not None and not s.metric_schedule.due(int(step)), step
    np.testing.assert_array_equal(np.where(gap, full[:, k:], got[:, k:]), full[:, k:])


@pytest.fixture(autouse=True)
def _no_leftovers():
    yield
    assert step_threads() == []


def test_implements_the_session_interface():
    with make() as s:
        assert isinstance(s, TrainingSession)


def test_events_of_one_step_in_order_with_module_names():
    with make() as s:
        assert s.module_names == ["0", "1", "2", "3", "4"]
        seen = []
        while True:
            ev = s.advance("layer")
            seen.append((ev.phase, ev.layer, ev.index, s.position))
            if s.pos == 0:
                break
        L = 5
        want = [(Phase.FORWARD, i, i + 1) for i in range(L)]
        want += [(Phase.LOSS, None, L + 1)]
        want += [(Phase.BACKWARD, i, L + 2 + k) for k, i in enumerate(reversed(range(L)))]
        want += [(Phase.UPDATE, None, 2 * L + 2)]
        assert [e[:3] for e in seen] == want
        assert [e[3] for e in seen] == [*range(1, 2 * L + 2), s.E]
        assert s.step == 1 and s.history.steps.n == 1


def test_paused_inside_backward_grads_are_there_and_weights_untouched():
    with make() as s:
        w0 = s.model[0].weight.detach().clone()
        s.advance("phase")  # FORWARD done
        assert s.phase is Phase.FORWARD and s.pos == 5
        assert set(s.module_outputs()) == {"0", "1", "2", "3", "4"}
        assert s.model[0].weight.grad is None  # zero_grad(set_to_none) ran, no backward yet
        s.advance("phase")  # LOSS
        assert s.phase is Phase.LOSS and np.isfinite(s.rec.loss)
        ev = None
        while ev is None or ev.layer != 4:
            ev = s.advance("layer")
        assert ev.phase is Phase.BACKWARD
        assert s.model[4].weight.grad is not None  # the last Linear's gradient is accumulated
        assert s.model[0].weight.grad is None  # the first one's not yet: we are inside backward
        assert threading.active_count() >= 2 and len(step_threads()) == 1
        assert hooks_attached(s) > 0
        s.advance("phase")  # rest of BACKPROP
        assert s.model[0].weight.grad is not None
        assert torch.equal(s.model[0].weight, w0)
        s.advance("phase")  # UPDATE
        assert not torch.equal(s.model[0].weight, w0)
        assert s.pos == 0 and hooks_attached(s) == 0
        assert set(s.deltas) == {n for n, _ in s.model.named_parameters()}


def test_single_stepping_and_fast_forward_give_the_same_bits():
    with make(loader=True) as a:
        a.run(max_steps=7)
        fast = snapshot(a)
        rows = a.history.steps.rows()
    with make(loader=True) as b:
        for _ in range(7):
            b.advance("step")
        assert_same_state(fast, snapshot(b))
        assert_rows_match(b.history.steps.rows(), rows, a)


@pytest.mark.parametrize("loader", [False, True])
def test_step_back_replays_bit_identically(loader: bool):
    # dropout draws from the global generator, batch norm keeps running stats,
    # a shuffling DataLoader draws its order from the global generator too
    with make(loader=loader, epochs=6, history_steps=64) as s:
        s.keyframe_interval = 4  # replays start between keyframes, mid-epoch
        states = {}
        for _ in range(13):
            s.advance("step")
            states[s.step] = (snapshot(s), s.history.steps.rows())
        s.advance("phase")
        s.advance("layer")
        inside = (s.position, s.module_outputs()["0"].clone())
        s.advance("step")
        states[s.step] = (snapshot(s), s.history.steps.rows())
        for target in (9, 5, 12, 1, 14):
            s.goto(target * s.E)
            assert s.step == target
            assert_same_state(states[target][0], snapshot(s))
            # going forward again fast-forwards: per-module metrics on the schedule
            assert_rows_match(states[target][1], s.history.steps.rows(), s)
        s.goto(inside[0])
        assert torch.equal(s.module_outputs()["0"], inside[1])
        s.back("step")
        assert s.position == 13 * s.E
        assert_same_state(states[13][0], snapshot(s))
        assert hooks_attached(s) == 0
        assert s.replay_mismatch is None and s.replay_note == ""


def test_rewinding_mid_step_leaves_no_hooks_and_no_thread():
    with make() as s:
        s.advance("step")
        s.advance("phase")
        s.advance("phase")
        s.advance("layer")  # inside backward, the worker is waiting in a hook
        assert len(step_threads()) == 1 and hooks_attached(s) > 0
        s.back("step")
        assert step_threads() == [] and hooks_attached(s) == 0
        assert s.position == s.E


@pytest.mark.parametrize("events", [2, 6, 8])  # inside forward, at LOSS, inside backward
def test_close_mid_step_leaves_no_hooks_and_no_thread(events: int):
    s = make()
    for _ in range(events):
        s.advance("layer")
    assert len(step_threads()) == 1 and hooks_attached(s) > 0
    s.close()
    assert step_threads() == [] and hooks_attached(s) == 0
    assert not torch.are_deterministic_algorithms_enabled()


class Flaky(nn.Module):
    """Raises in forward on one call: user code failing mid-step."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.calls = 0
        self.fail_at = fail_at

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("boom in user code")
        return self.lin(x)


@pytest.mark.parametrize("single_step", [True, False])
def test_exception_in_user_forward_is_reported_and_the_session_survives(single_step: bool):
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), Flaky(fail_at=3))
    s = TorchSession(
        m, nn.CrossEntropyLoss(), torch.optim.SGD(m.parameters(), lr=0.1), _data(), batch_size=8
    )
    with s:
        s.advance("step")
        s.advance("step")
        before = snapshot(s)
        with pytest.raises(UserCodeError, match="boom in user code") as info:
            if single_step:
                s.advance("layer")
                s.advance("layer")
                s.advance("layer")
            else:
                s.run()
        assert isinstance(info.value.__cause__, RuntimeError)
        assert step_threads() == [] and hooks_attached(s) == 0
        assert s.position == 2 * s.E  # back at the start of the failed step
        assert_same_state(before, snapshot(s))
        s.advance("step")  # the model no longer raises: training goes on
        assert s.step == 3


class NaNForward(nn.Module):
    """A NaN output at one call. The count is a buffer (in the state_dict, so
    keyframes hold it): fast-forward locates a NaN by replaying its step, and a
    replay reproduces this one."""

    def __init__(self, at_step: int) -> None:
        super().__init__()
        self.at_step = at_step
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x * float("nan") if int(self.calls) == self.at_step + 1 else x


class NaNForwardUnreplayable(nn.Module):
    """The same with a Python counter, which no keyframe restores."""

    def __init__(self, at_step: int) -> None:
        super().__init__()
        self.at_step = at_step
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x * float("nan") if self.calls == self.at_step + 1 else x


class _NaNGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        return x.clone()

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        return g * float("nan")


class NaNBackward(nn.Module):
    """A NaN gradient at its input from call ``from_call`` on (a buffer count)."""

    def __init__(self, from_call: int = 1) -> None:
        super().__init__()
        self.lin = nn.Linear(8, 8)
        self.from_call = from_call
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if int(self.calls) >= self.from_call:
            x = _NaNGrad.apply(x)
        return self.lin(x)


def _nan_model(where: str) -> nn.Module:
    torch.manual_seed(0)
    mid: nn.Module = NaNForward(at_step=2) if where == "forward" else NaNBackward()
    return nn.Sequential(
        nn.Sequential(nn.Linear(4, 8), nn.ReLU()),
        nn.Sequential(nn.Linear(8, 8), nn.Tanh()),
        nn.Sequential(mid, nn.Identity()) if where == "forward" else mid,
        nn.Linear(8, 3),
    )


@pytest.mark.parametrize("where", ["forward", "backward"])
@pytest.mark.parametrize("single_step", [True, False])
def test_nonfinite_caught_at_the_module_and_phase(where: str, single_step: bool):
    m = _nan_model(where)
    s = TorchSession(
        m,
        nn.CrossEntropyLoss(),
        torch.optim.SGD(m.parameters(), lr=0.1),
        _data(),
        batch_size=8,
        modules=["0", "1", "2", "3"],
    )
    with s:
        if where == "forward":
            s.run(max_steps=2)
        before = snapshot(s)
        if single_step:
            calls = 0
            with pytest.raises(Diverged):
                while s.step < 1000:  # ends: advancing a diverged session raises
                    s.advance("layer")
                    calls += 1
                    assert calls < 10_000
        else:
            assert s.run().kind == "diverged"
        nf = s.nonfinite
        assert nf is not None and nf.module == "2"
        assert nf.phase is (Phase.FORWARD if where == "forward" else Phase.BACKWARD)
        assert "2" in nf.describe() and s.diverged and s.last_event.nonfinite
        # no update from a NaN (the planted module's call count, a buffer, moved on)
        assert_same_state(without_calls(before), without_calls(snapshot(s)))
        assert step_threads() == [] and hooks_attached(s) == 0
        with pytest.raises(Diverged):
            s.advance()


def _nan_session(make_mid: Callable[[], nn.Module], **kw: object) -> TorchSession:
    torch.manual_seed(0)
    mid = make_mid()
    m = nn.Sequential(
        nn.Sequential(nn.Linear(4, 8), nn.ReLU()),
        nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.2)),
        mid,
        nn.Linear(8, 3),
    )
    return TorchSession(
        m,
        nn.CrossEntropyLoss(),
        torch.optim.Adam(m.parameters(), lr=0.01),
        _data(),
        batch_size=8,
        seed=1,
        modules=["0", "1", "2", "3"],
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("where", ["forward", "backward"])
def test_fast_forward_locates_a_late_nan_from_an_earlier_keyframe(where: str):
    """Fast-forward checks only the loss, the gradients and the weights each step;
    a NaN is then named at its module and phase by replaying its step (here 37,
    past keyframes and epochs, with dropout drawing from the generators), and the
    session is left exactly where single-stepping would stop: before the update."""
    at = 37

    def mid() -> nn.Module:
        return NaNForward(at_step=at) if where == "forward" else NaNBackward(from_call=at + 1)

    # Where single-stepping (every module checked at every pause) stops:
    with _nan_session(mid) as ref:
        with pytest.raises(Diverged):
            while True:
                ref.advance("step")
        ref_rows = ref.history.steps.data[: ref.history.steps.n].copy()
        ref_state, ref_nf, ref_pos = snapshot(ref), ref.nonfinite, ref.position
    with _nan_session(mid) as s:
        r = s.run()
        assert r.kind == "diverged"
        nf = s.nonfinite
        assert nf is not None and nf.module == "2" and nf.step == ref_nf.step
        assert nf.phase is (Phase.FORWARD if where == "forward" else Phase.BACKWARD)
        assert (nf.phase, nf.what, nf.layer) == (ref_nf.phase, ref_nf.what, ref_nf.layer)
        assert s.position == ref_pos and s.replay_mismatch is None
        assert_same_state(ref_state, snapshot(s))  # no update from the NaN
        assert_rows_match(ref_rows, s.history.steps.data[: s.history.steps.n], s)
        assert hooks_attached(s) == 0
        # step-back from there still replays bit-identically
        s.goto(5 * s.E)
        s.goto(20 * s.E)
        assert s.replay_mismatch is None


class InfFrom(nn.Module):
    """+inf outputs from call ``at_step + 1`` on (a buffer count, so replays see it);
    the gradient through it stays finite (``x + inf``: d/dx = 1)."""

    def __init__(self, at_step: int) -> None:
        super().__init__()
        self.at_step = at_step
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x + float("inf") if int(self.calls) > self.at_step else x


@pytest.mark.parametrize("schedule", [True, False])
def test_fast_forward_sees_an_inf_that_is_finite_again_before_the_loss(schedule: bool):
    """An Inf at one module's output that the next one makes finite (sigmoid(inf) = 1):
    the loss, every gradient (sigmoid'(inf) = 0) and every weight stay finite, so only
    a check of the outputs sees it. Fast-forward checks them at the scheduled steps and
    names the first module and step by replaying with every check, as single-stepping
    stops there."""
    at = 37  # not a scheduled step nor the last of an epoch (6 batches of 8)

    def build() -> TorchSession:
        torch.manual_seed(0)
        m = nn.Sequential(
            nn.Sequential(nn.Linear(4, 8), nn.ReLU()),
            nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.2)),
            InfFrom(at),
            nn.Sigmoid(),
            nn.Linear(8, 3),
        )
        opt = torch.optim.Adam(m.parameters(), lr=0.01)
        return TorchSession(m, nn.CrossEntropyLoss(), opt, _data(), batch_size=8, seed=1)

    with build() as ref:
        with pytest.raises(Diverged):
            while True:
                ref.advance("step")
        ref_nf, ref_pos, ref_state = ref.nonfinite, ref.position, snapshot(ref)
    assert ref_nf.step == at and ref_nf.module == "2" and ref_nf.phase is Phase.FORWARD
    with build() as s:
        if not schedule:
            s.metric_schedule = None
        assert s.metric_schedule is None or not s.metric_schedule.due(at)
        assert s.run().kind == "diverged"
        nf = s.nonfinite
        assert (nf.step, nf.module, nf.phase, nf.what) == (at, "2", Phase.FORWARD, "output")
        assert s.position == ref_pos and s.replay_mismatch is None
        assert_same_state(ref_state, snapshot(s))
        assert hooks_attached(s) == 0


def test_fast_forward_nan_that_a_replay_does_not_reproduce_is_still_reported():
    """A NaN from state no keyframe holds (a Python counter): the replay cannot
    locate it, so the session goes back to the start of that step, reports what
    the per-step check saw (the loss), and says the replay differed."""
    with _nan_session(lambda: NaNForwardUnreplayable(at_step=9)) as s:
        assert s.run().kind == "diverged"
        nf = s.nonfinite
        assert nf is not None and nf.step == 9 and nf.phase is Phase.LOSS
        assert s.step == 9 and s.replay_mismatch == 9 and s.replay_note
        assert hooks_attached(s) == 0
        with pytest.raises(Diverged):
            s.advance()


def test_lean_and_every_module_fast_forward_give_the_same_bits():
    """The lean per-step check changes no number: metrics and weights are the
    same as with every module checked at every step."""
    runs = []
    for every in (False, True):
        with make(epochs=3) as s:
            s.check_every_module = every
            s.metric_schedule = None  # every metric at every step in both
            s.run()
            runs.append((s.history.steps.data[: s.history.steps.n].copy(), snapshot(s)))
            runs[-1] += (s.history.epochs.data[: s.history.epochs.n].copy(),)
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][2], runs[1][2])
    assert_same_state(runs[0][1], runs[1][1])


def test_set_hyper_reaches_the_param_groups_and_replays():
    with make(adam=False) as s:
        s.advance("step")
        s.advance("phase")
        at = s.set_hyper(lr=0.2, momentum=0.5)
        assert at == 2 and s.optimizer.param_groups[0]["lr"] == 0.05  # from the next step
        s.advance("step")
        s.advance("step")
        g = s.optimizer.param_groups[0]
        assert g["lr"] == 0.2 and g["momentum"] == 0.5
        assert s.history.steps.column("lr")[-1] == 0.2
        after = snapshot(s)
        s.goto(0)
        assert s.optimizer.param_groups[0]["lr"] == 0.05
        s.goto(3 * s.E)
        assert_same_state(after, snapshot(s))
        with pytest.raises(ValueError, match="unknown"):
            s.set_hyper(optimizer="adam")


def test_restart_gives_the_same_run():
    with make(loader=True) as s:
        s.run(max_steps=5)
        a = (snapshot(s), s.history.steps.rows())
        s.restart()
        assert s.position == 0 and s.history.steps.n == 0
        s.run(max_steps=5)
        assert_same_state(a[0], snapshot(s))
        np.testing.assert_array_equal(a[1], s.history.steps.rows())


@pytest.mark.parametrize("loader", [False, True])
def test_checkpoint_resume_is_bit_identical(tmp_path, loader: bool):
    path = tmp_path / "run.npz"
    with make(loader=loader) as s:
        s.run(max_steps=7)
        s.advance("phase")  # saved mid-step: the file holds the step's start and the position
        save_torch_checkpoint(s, path)
        here = s.position
        s.run(max_steps=6)
        want = (snapshot(s), s.history.steps.rows(), s.history.epochs.rows())
    with make(loader=loader) as t:
        load_torch_checkpoint(t, path)
        assert t.position == here
        t.run(max_steps=6)
        assert_same_state(want[0], snapshot(t))
        np.testing.assert_array_equal(want[1], t.history.steps.rows())
        np.testing.assert_array_equal(want[2], t.history.epochs.rows())


def test_checkpoint_of_another_model_is_refused(tmp_path):
    path = tmp_path / "run.npz"
    with make() as s:
        s.run(max_steps=2)
        save_torch_checkpoint(s, path)
    m = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    t = TorchSession(m, nn.CrossEntropyLoss(), torch.optim.SGD(m.parameters(), lr=0.1), _data())
    with t, pytest.raises(TorchCheckpointError, match="different model"):
        load_torch_checkpoint(t, path)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with make() as u, pytest.raises(TorchCheckpointError, match="not a readable"):
        load_torch_checkpoint(u, tmp_path / "junk.npz")


def test_back_past_the_start_is_a_session_error():
    with make() as s, pytest.raises(SessionError, match="start"):
        s.back()


def test_the_users_train_and_eval_modes_are_kept():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    m[1].eval()  # a frozen batch norm: its running statistics must not move
    stats = m[1].running_mean.clone()
    s = TorchSession(
        m,
        nn.CrossEntropyLoss(),
        torch.optim.SGD(m.parameters(), lr=0.1),
        _data(),
        val=_data(20, seed=1),
        batch_size=8,
        epochs=2,
    )
    with s:
        s.run()
        assert s.history.epochs.n == 2  # validation ran (in eval mode) twice
        assert m.training and not m[1].training and m[0].training
        assert torch.equal(m[1].running_mean, stats)


class _RaiseInBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        return x.clone()

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        raise RuntimeError("boom in user backward")


class RaisesInBackward(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _RaiseInBackward.apply(x)


@pytest.mark.parametrize("single_step", [True, False])
def test_exception_in_user_backward_mid_step(single_step: bool):
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), RaisesInBackward(), nn.Linear(8, 3))
    s = TorchSession(
        m, nn.CrossEntropyLoss(), torch.optim.SGD(m.parameters(), lr=0.1), _data(), batch_size=8
    )
    with s:
        before = snapshot(s)
        with pytest.raises(UserCodeError, match="boom in user backward"):
            if single_step:
                for _ in range(20):
                    s.advance("layer")
            else:
                s.run()
        assert step_threads() == [] and hooks_attached(s) == 0
        assert s.position == 0 and not s.diverged
        assert_same_state(before, snapshot(s))


def test_per_sample_losses_while_single_stepping():
    with make() as s:
        s.advance("phase")
        s.advance("phase")  # LOSS
        ps = s.rec.per_sample
        assert ps is not None and ps.shape == (10,)
        assert abs(float(ps.mean()) - s.rec.loss) < 1e-6


def test_default_pause_modules_and_qualified_names_in_a_nested_model():
    from collections import OrderedDict

    torch.manual_seed(0)
    m = nn.Sequential(
        OrderedDict(
            features=nn.Sequential(nn.Linear(4, 8), nn.ReLU(), NaNForward(at_step=1)),
            head=nn.Sequential(OrderedDict(fc=nn.Linear(8, 3))),
        )
    )
    s = TorchSession(
        m, nn.CrossEntropyLoss(), torch.optim.SGD(m.parameters(), lr=0.1), _data(), batch_size=8
    )
    with s:
        assert s.module_names == ["features.0", "features.1", "features.2", "head.fc"]
        assert s.run().kind == "diverged"
        assert s.nonfinite.module == "features.2" and s.nonfinite.phase is Phase.FORWARD
        assert s.nonfinite.step == 1
        assert "FORWARD features.2" in s.nonfinite.describe()


class UnrestoredNoise(nn.Module):
    """Noise from its own generator, which no keyframe restores (as a
    non-deterministic kernel would make a replay differ)."""

    def __init__(self) -> None:
        super().__init__()
        self.g = torch.Generator().manual_seed(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 1e-3 * torch.randn(x.shape, generator=self.g)


def test_a_replay_that_is_not_bit_identical_is_detected():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 8), UnrestoredNoise(), nn.Tanh(), nn.Linear(8, 3))
    s = TorchSession(
        m, nn.CrossEntropyLoss(), torch.optim.SGD(m.parameters(), lr=0.1), _data(), batch_size=8
    )
    with s:
        s.keyframe_interval = 4
        s.run(max_steps=10)
        assert s.replay_mismatch is None
        s.goto(6 * s.E)  # replays steps 4 and 5 from the keyframe at 4
        assert s.replay_mismatch == 4
        assert "differs from the first run from step 4" in s.replay_note


def test_validation_of_a_plain_tensor_loader_uses_the_same_batches():
    """evaluate() slices a DataLoader(TensorDataset) instead of collating sample by
    sample: the same batches, so the same numbers; any other loader is iterated."""
    from tui_trainer.torch.data import tensor_batches

    x, y = _data(37, seed=2)
    ds = torch.utils.data.TensorDataset(x, y)
    for drop_last in (False, True):
        dl = torch.utils.data.DataLoader(ds, batch_size=8, drop_last=drop_last)
        fast = tensor_batches(dl)
        assert fast is not None
        slow = list(dl)
        assert len(fast) == len(slow)
        for a, b in zip(fast, slow, strict=True):
            assert all(torch.equal(u, v) and u.dtype == v.dtype for u, v in zip(a, b, strict=True))
    assert tensor_batches(torch.utils.data.DataLoader(ds, batch_size=8, shuffle=True)) is None
    assert tensor_batches(torch.utils.data.DataLoader(ds, batch_size=8, collate_fn=list)) is None
    with make() as s:
        loader = torch.utils.data.DataLoader(ds, batch_size=8)
        expect = s.evaluate(loader)
        import tui_trainer.torch.session as session_module

        real = session_module.tensor_batches
        session_module.tensor_batches = lambda _: None  # the loader iterated as before
        try:
            assert s.evaluate(loader) == expect
        finally:
            session_module.tensor_batches = real


def test_fast_forward_hooks_come_off_when_a_run_stops_or_raises():
    with make() as s:
        s.run(max_steps=3)
        assert hooks_attached(s) == 0

        def boom(_: TorchSession) -> bool:
            raise KeyError("predicate")

        with pytest.raises(KeyError):
            s.run(boom)
        assert hooks_attached(s) == 0 and s.step == 4


class PassThrough(nn.Module):
    """A user's module whose forward returns its input tensor itself."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _backprop_order(s: TorchSession) -> list[int]:
    order = []
    while True:
        ev = s.advance("layer")
        if ev.phase is Phase.BACKWARD:
            order.append(ev.layer)
        if s.pos == 0:
            return order


def test_a_pass_through_module_gets_its_backprop_event_in_order():
    """nn.Identity and a module returning ``x``: their output is the tensor the next
    module reads, so both wait for the gradient at the same tensor; BACKPROP still
    goes in reverse module order (the later module first)."""
    torch.manual_seed(0)
    m = nn.Sequential(
        nn.Linear(4, 8), nn.Identity(), nn.ReLU(), PassThrough(), nn.Linear(8, 3), nn.Identity()
    )
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    with TorchSession(m, nn.CrossEntropyLoss(), opt, _data(), batch_size=8) as s:
        assert s.module_names == ["0", "1", "2", "3", "4", "5"]
        for _ in range(2):
            assert _backprop_order(s) == [5, 4, 3, 2, 1, 0]
        assert hooks_attached(s) == 0


def test_freezing_a_parameter_between_steps_shows_no_gradient_and_no_update():
    """``p.requires_grad_(False)`` after the session was made (fine-tuning): steps go
    on, the frozen parameter gets no gradient and no update, the others train,
    single-stepped or fast-forwarded, and every BACKPROP event still comes."""
    for single_step in (True, False):
        with make(adam=False) as s:
            s.advance("step")
            w = s.model[0].weight
            w.requires_grad_(False)
            frozen = w.detach().clone()
            other = s.model[4].weight.detach().clone()
            if single_step:
                assert _backprop_order(s) == [4, 3, 2, 1, 0]
                s.advance("step")
            else:
                assert s.run(max_steps=2).kind == "limit"
            assert s.step == 3 and w.grad is None
            assert torch.equal(w, frozen)
            assert not torch.equal(s.model[4].weight, other)
            assert torch.equal(s.deltas["0.weight"], torch.zeros_like(w))
            assert s.model[0].bias.grad is not None  # its module's bias still trains
            w.requires_grad_(True)  # and unfreezing works too
            s.advance("step")
            assert w.grad is not None and not torch.equal(w, frozen)
