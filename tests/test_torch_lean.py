"""What makes the torch fast-forward cheaper keeps its results: keyframes that
stay as they were (the optimizer updates its state in place, a scheduler fills
a tensor lr in place) at a 32-step interval, the train accuracy counted in
batches, deterministic mode without NaN-filling, a scheduled step's forward
hooks (gone after it, whatever happens)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # CI installs torch (the test extra); users may not
from torch import nn  # noqa: E402

from tui_trainer.torch import TorchSession  # noqa: E402
from tui_trainer.torch.tensors import clone_optim_state, clone_state  # noqa: E402


def _bits(t: torch.Tensor) -> bytes:
    return t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def test_a_keyframe_stays_as_it_was_while_training_goes_on():
    """The model's weights and Adam's state change in place after a keyframe; the
    keyframe, and what two loads from it hand the optimizer, do not."""
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    opt = torch.optim.Adam(m.parameters(), lr=0.1)
    x, y = torch.randn(40, 4), torch.randint(0, 3, (40,))
    with TorchSession(m, nn.CrossEntropyLoss(), opt, (x, y), batch_size=8, epochs=3) as s:
        s.keyframe_interval = 3
        s.run(max_steps=4)  # Adam has state at the keyframe of step 3
        kf = s.keyframes[3]
        model_then = {k: v.clone() for k, v in kf.model.items()}
        optim_then = clone_state(kf.optim)
        assert optim_then["state"], "Adam's state is in the keyframe"
        s.run(max_steps=5)
        s.goto(3 * s.E)  # loaded: the optimizer takes copies over and updates them
        s.run(max_steps=5)
        for k, v in kf.model.items():
            assert _bits(v) == _bits(model_then[k]), k
        for idx, st in optim_then["state"].items():
            for name, v in st.items():
                assert _bits(kf.optim["state"][idx][name]) == _bits(v), (idx, name)
        assert kf.optim["param_groups"] == optim_then["param_groups"]


def test_the_optimizer_state_copy_is_a_deep_copy_of_tensors_and_containers():
    m = nn.Linear(2, 2)
    opt = torch.optim.SGD(m.parameters(), lr=torch.tensor(0.5), momentum=0.9)
    m(torch.ones(1, 2)).sum().backward()
    opt.step()
    sd = opt.state_dict()
    before = _bits(sd["state"][0]["momentum_buffer"])
    copy = clone_optim_state(sd)
    assert list(copy) == list(sd)
    opt.param_groups[0]["lr"].fill_(0.1)  # a scheduler on a tensor lr does this
    next(iter(opt.state.values()))["momentum_buffer"].add_(1.0)
    assert float(copy["param_groups"][0]["lr"]) == 0.5
    assert copy["param_groups"][0] is not sd["param_groups"][0]
    assert _bits(copy["state"][0]["momentum_buffer"]) == before


@pytest.mark.parametrize("fill_before", [True, False])
def test_an_open_session_is_deterministic_without_filling_empty_tensors(fill_before: bool):
    """Deterministic algorithms on, NaN-filling of every torch.empty off (it costs
    a small model's step 2%), both put back as they were by close()."""
    fill = torch.utils.deterministic
    was = fill.fill_uninitialized_memory
    fill.fill_uninitialized_memory = fill_before
    try:
        m = nn.Linear(2, 2)
        x, y = torch.randn(8, 2), torch.randint(0, 2, (8,))
        s = TorchSession(m, nn.CrossEntropyLoss(), torch.optim.SGD(m.parameters(), lr=0.1), (x, y))
        assert torch.are_deterministic_algorithms_enabled()
        assert fill.fill_uninitialized_memory is False
        s.close()
        assert not torch.are_deterministic_algorithms_enabled()
        assert fill.fill_uninitialized_memory is fill_before
    finally:
        fill.fill_uninitialized_memory = was


def test_a_small_model_keeps_a_keyframe_every_32_steps_and_replays_31_bit_identically():
    """The longest replay a rewind makes at the default interval gives the same bits."""
    torch.manual_seed(0)
    m = nn.Sequential(
        nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 3)
    )
    opt = torch.optim.Adam(m.parameters(), lr=0.01)
    x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    with TorchSession(m, nn.CrossEntropyLoss(), opt, (x, y), batch_size=8, epochs=10) as s:
        assert s.keyframe_interval == 32
        s.run(max_steps=40)
        assert sorted(s.keyframes) == [0, 32]
        first = {k: _bits(v) for k, v in s.model.state_dict().items()}
        rows = s.history.steps.rows().copy()
        s.goto(31 * s.E)  # from the keyframe at 0: 31 steps replayed
        assert s.step == 31
        s.run(max_steps=9)
        assert s.replay_mismatch is None
        assert {k: _bits(v) for k, v in s.model.state_dict().items()} == first
        again = s.history.steps.rows()
        assert again.shape == rows.shape
        # every value both runs recorded is the same (the rewind's single-stepped
        # step records metrics the fast-forward schedule skipped)
        gap = np.isnan(rows) | np.isnan(again)
        assert ((again == rows) | gap).all(), "the history differs"
        assert not gap[:, :4].any() or (np.isnan(rows[:, :4]) == np.isnan(again[:, :4])).all()


def _tied_session(observe: bool) -> TorchSession:
    torch.manual_seed(1)
    m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 5), nn.Hardtanh(-0.02, 0.02))
    x, y = torch.randn(50, 4), torch.randint(0, 5, (50,))
    opt = torch.optim.SGD(m.parameters(), lr=0.5)
    s = TorchSession(m, nn.CrossEntropyLoss(), opt, (x, y), batch_size=7, epochs=5, val=(x, y))
    s.keyframe_interval = 5
    if observe:  # an observer of the step's accuracy: each step's counted at once
        s.on_step = lambda t: None
        s.on_step.metrics_read = ["batch_accuracy"]  # type: ignore[attr-defined]
    return s


def test_a_run_counts_the_train_accuracy_in_batches_exactly_as_step_by_step():
    """A run that nothing observes counts the correct samples of many steps at once
    (logits clipped to +-0.02: ties everywhere; batches of 7 and a last one of 1;
    keyframes, epoch ends, a rewind and a checkpoint in between): every step's
    accuracy, the epoch accuracy and the sums after a rewind to each keyframe (which
    holds the steps not counted yet) are what counting at each step gives."""
    with _tied_session(observe=False) as a, _tied_session(observe=True) as b:
        for s in (a, b):
            s.run(max_steps=12)
            s.run(max_steps=9)
            s.goto(13 * s.E)  # back across a keyframe: the replay is compared with the run
            s.run(max_steps=17)
            assert s.replay_mismatch is None
            state = s.state_arrays()
            assert s.rec.counted
        ra, rb = a.history.steps.rows(), b.history.steps.rows()
        assert np.array_equal(ra[:, :4], rb[:, :4], equal_nan=True)
        assert np.array_equal(a.history.epochs.rows(), b.history.epochs.rows(), equal_nan=True)
        assert a._acc["correct"] == b._acc["correct"] and a.rec.correct == b.rec.correct
        assert not np.isnan(ra[:, 1]).any()
        assert a.history.epochs.n == 3 and state["history/steps"].shape == ra.shape
        out = a.model(a.data.x).detach()
        assert (out == out.max(1, keepdim=True).values).sum(1).gt(1).any(), "no tie tested"
        assert sorted(a.keyframes) == sorted(b.keyframes)
        assert any(kf.pending for kf in a.keyframes.values()), "no keyframe held a pending count"
        for k in sorted(a.keyframes, reverse=True):  # rewound to each: the same sums
            for s in (a, b):
                s.goto(k * s.E)
                s._count_pending()
            for key in ("loss_sum", "count", "correct"):
                assert a._acc[key] == b._acc[key], (k, key)
            assert np.array_equal(a.history.steps.rows(), b.history.steps.rows(), equal_nan=True), k


def test_tensor_data_batch_counters_follow_the_batch_size():
    """The counters are worked out once per batch size: a change (set_hyper) moves them."""
    from tui_trainer.torch.data import TensorData

    d = TensorData(
        torch.zeros(50, 2), torch.zeros(50), batch_size=7, seed=0,
        float_dtype=torch.float32, device=torch.device("cpu"),
    )  # fmt: skip
    assert (d.effective_batch(), d.batches_per_epoch(), d.batch_number(49)) == (7, 8, 8)
    d.batch_size = 10
    assert (d.effective_batch(), d.batches_per_epoch(), d.batch_number(20)) == (10, 5, 3)
    assert len(d.batch(0, 40)[0]) == 10 and d.batch(0, 40)[3] == 50
    d.batch_size = 0  # the whole set
    assert (d.effective_batch(), d.batches_per_epoch(), d.batch_number(0)) == (50, 1, 1)
    d.batch_size = 80
    assert (d.effective_batch(), d.batches_per_epoch()) == (50, 1)


class Boom(nn.Module):
    """Raises in forward at one call; runs another model inside its forward."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.calls, self.at = 0, at
        self.other = nn.Linear(3, 3)  # a module of its own, called in forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.at:
            raise RuntimeError("user code")
        self.other(torch.zeros(1, 3))
        return x


def test_the_forward_hooks_of_a_scheduled_step_come_off_when_user_code_raises():
    from torch.nn.modules import module as torch_module

    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), Boom(at=3), nn.Linear(8, 3))
    x, y = torch.randn(40, 4), torch.randint(0, 3, (40,))
    with TorchSession(
        m, nn.CrossEntropyLoss(), torch.optim.SGD(m.parameters(), lr=0.1), (x, y)
    ) as s:
        s.run(max_steps=1)
        assert not torch_module._global_forward_hooks
        assert not any(q._forward_hooks for q in m.modules())
        row = s.history.steps.rows()[0]
        assert not np.isnan(row[4:]).all(), "a scheduled step records its module metrics"
        with pytest.raises(Exception, match="user code"):
            s.run(max_steps=2)  # step 2 is scheduled: its forward raises under the hooks
        assert not torch_module._global_forward_hooks
        assert not any(q._forward_hooks for q in m.modules())
        assert s.step == 2


def _flat(seed: int = 0, inf_at: int | None = None) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.2)]
    if inf_at is not None:
        from tests.test_torch_session import InfFrom

        layers += [InfFrom(inf_at), nn.Sigmoid()]
    return nn.Sequential(*layers, nn.Linear(8, 3))


def _flat_session(model: nn.Module, **kw: object) -> TorchSession:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(48, 4, generator=g)
    y = ((x[:, 0] + x[:, 1] * x[:, 2]) > 0).long()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    return TorchSession(model, nn.CrossEntropyLoss(), opt, (x, y), batch_size=8, seed=1, **kw)  # type: ignore[arg-type]


def test_a_flat_sequential_scheduled_step_records_what_the_hooks_record():
    """A plain nn.Sequential of the pause modules runs its children itself at a
    scheduled step (no hooks): the same history, bit for bit, as the same model
    called through hooks (a user's no-op hook on it makes the session call it as
    it is)."""
    results = []
    for hook in (False, True):  # one after the other: dropout draws from torch's generator
        model = _flat()
        if hook:
            model.register_forward_pre_hook(lambda m, args: None)
        with _flat_session(model, epochs=8) as s:
            assert s._flat_sequential() is not hook
            s.run(max_steps=30)  # scheduled steps (the first 5, every 20th, epoch ends)
            s.run()
            state = {k: _bits(v) for k, v in s.model.state_dict().items()}
            results.append((s.history.steps.rows(), s.history.epochs.rows(), state))
    (a, ea, sa), (b, eb, sb) = results
    n_mod = 5  # Linear, BatchNorm1d, ReLU, Dropout, Linear
    assert a.shape == b.shape and not np.isnan(a[:5, 4 : 4 + n_mod]).any()  # grad norms
    assert not np.isnan(a[:5, 4 + 3 * n_mod + 2]).any()  # the ReLU's dead fraction
    assert np.array_equal(a, b, equal_nan=True)
    assert np.array_equal(ea, eb, equal_nan=True)
    assert sa == sb


@pytest.mark.parametrize("schedule", [True, False])
def test_a_flat_sequential_sees_an_inf_that_is_finite_again_before_the_loss(schedule: bool):
    """An Inf that a sigmoid makes finite again: the loss and every gradient stay
    finite, only the output check of a scheduled step sees it; located at its module
    and step, as single-stepping stops there."""
    from tui_trainer.engine.session_api import Diverged
    from tui_trainer.engine.stepper import Phase

    at = 37  # not a scheduled step nor the last of an epoch (6 batches of 8)
    with _flat_session(_flat(inf_at=at)) as ref:
        with pytest.raises(Diverged):
            while True:
                ref.advance("step")
        ref_nf, ref_pos = ref.nonfinite, ref.position
    assert (ref_nf.step, ref_nf.module, ref_nf.phase) == (at, "4", Phase.FORWARD)
    with _flat_session(_flat(inf_at=at)) as s:
        assert s._flat_sequential()
        if not schedule:
            s.metric_schedule = None
        assert s.run().kind == "diverged"
        nf = s.nonfinite
        assert (nf.step, nf.module, nf.phase, nf.what) == (at, "4", Phase.FORWARD, "output")
        assert s.position == ref_pos and s.replay_mismatch is None


def test_a_flat_sequential_reads_a_watched_dead_fraction_at_every_step_without_hooks():
    """A predicate that reads the ReLU's dead fraction has it recorded at every step:
    through the session's own loop over a plain nn.Sequential, the same history as
    through a hook on the ReLU."""

    def never(s: TorchSession) -> bool:
        return False

    never.metrics_read = ["dead_fraction[2] > 2"]  # type: ignore[attr-defined]
    results = []
    for hook in (False, True):
        model = _flat()
        if hook:
            model.register_forward_pre_hook(lambda m, args: None)
        with _flat_session(model, epochs=3) as s:
            assert s._flat_sequential() is not hook
            s.run(never)
            results.append(s.history.steps.rows())
    a, b = results
    n_mod = 5
    dead = a[:, 4 + 3 * n_mod + 2]
    assert not np.isnan(dead).any(), "the watched dead fraction at every step"
    assert np.isnan(a[6:11, 4]).all(), "the rest on the schedule (epoch ends: 5, 11, 17)"
    assert np.array_equal(a, b, equal_nan=True)


def test_what_reads_a_steps_accuracy_is_told_from_its_conditions():
    from tui_trainer.engine.breakpoints import BreakpointSet, Trap
    from tui_trainer.engine.watches import WatchList
    from tui_trainer.torch.schedule import reads_step_accuracy

    with _tied_session(observe=False) as s:

        def target(t: object) -> bool:
            return False

        def trap(*conditions: str, declared: bool = True) -> object:
            bps = BreakpointSet()
            for c in conditions:
                bps.add(c)
            if declared:
                target.metrics_read = ()  # type: ignore[attr-defined]
            elif hasattr(target, "metrics_read"):
                del target.metrics_read  # type: ignore[attr-defined]
            return Trap(bps, s, target).until

        watches = WatchList()
        watches.bind(s)
        assert not reads_step_accuracy(trap(), watches.record)  # the app's continue
        assert not reads_step_accuracy(trap("batch_loss > 9", "train_accuracy > 0.99"), None)
        assert reads_step_accuracy(trap("batch_accuracy > 0.5"), None)
        assert reads_step_accuracy(trap("accuracy rising for 3 steps"), None)  # the old name
        assert reads_step_accuracy(trap(declared=False), None)  # may read anything
        assert reads_step_accuracy(lambda t: False, None)
        watches.add("accuracy")
        assert reads_step_accuracy(None, watches.record)


def test_the_apps_continue_counts_the_accuracy_in_batches_and_a_breakpoint_on_it_sees_each_step():
    """The app continues through a Trap (its breakpoints, the run-to target) with the
    watches bound: the accuracy is counted in batches unless a breakpoint or watch
    reads a step's accuracy, and a breakpoint that does fires at the step where
    single-stepping finds it first true."""
    from tui_trainer.engine.breakpoints import BreakpointSet, Trap
    from tui_trainer.engine.watches import WatchList

    deferred: list[bool] = []

    def target(t: TorchSession) -> bool:
        deferred.append(t._defer_correct)
        return False

    target.metrics_read = ()  # type: ignore[attr-defined]
    with _tied_session(observe=False) as a, _tied_session(observe=True) as b:
        watches = WatchList()
        watches.add("batch_loss")
        watches.bind(a)
        trap = Trap(BreakpointSet(), a, target)
        while a.step < 30:
            trap.run(a, max_steps=min(7, 30 - a.step), should_stop=lambda: False)
        b.run(max_steps=30)
        assert deferred and all(deferred)
        ra, rb = a.history.steps.rows(), b.history.steps.rows()
        assert np.array_equal(ra[:, :4], rb[:, :4], equal_nan=True)
        assert a._acc["correct"] == b._acc["correct"]

    with _tied_session(observe=False) as c, _tied_session(observe=False) as d:
        while not d.finished:  # single-stepped to the end: every step's accuracy
            d.advance("step")
        accs = d.history.steps.rows()[:, 1]
        assert accs.max() > accs.min()
        # a threshold from this machine's own run (no rounding-dependent constant)
        level = float(accs.min() + accs.max()) / 2
        first = int(np.argmax(accs > level)) + 1  # the session's step after it
        bps = BreakpointSet()
        bps.add(f"batch_accuracy > {level!r}")
        deferred.clear()
        r = Trap(bps, c, target).run(c, max_steps=200, should_stop=lambda: False)
        assert r.kind == "predicate" and c.step == first
        assert deferred and not any(deferred)
