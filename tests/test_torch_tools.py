"""The debugger's tools on a TorchSession, headless: loss landscape, sanity checks, forks.

Each tool runs on the user's own model (or a fork of the session) and must
leave the session exactly as it was: the state dict, the gradients, the
module modes, the random generators and the session's future.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from tui_trainer.engine.backend_tools import tools_for  # noqa: E402
from tui_trainer.torch import TorchSession, TorchTools  # noqa: E402
from tui_trainer.torch import landscape as tl  # noqa: E402
from tui_trainer.torch.data import get_rng  # noqa: E402
from tui_trainer.torch.user import call_make, load_make, session_from_make  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(autouse=True)
def _every_session_closed() -> Any:
    before = torch.are_deterministic_algorithms_enabled()
    yield
    assert torch.are_deterministic_algorithms_enabled() == before, "a TorchSession was left open"


def example_session(name: str = "torch_mlp.py", **changes: Any) -> TorchSession:
    path = EXAMPLES / name
    spec = call_make(load_make(f"{path}:make"), path)
    spec.update(changes)
    return session_from_make(spec)


def state_of(s: TorchSession) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in s.model.state_dict().items()}


def grads_of(s: TorchSession) -> dict[str, Any]:
    return {
        k: None if p.grad is None else p.grad.detach().clone()
        for k, p in s.model.named_parameters()
    }


def same_tensors(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        if (a[k] is None) != (b[k] is None):
            return False
        if a[k] is not None and not torch.equal(a[k], b[k]):
            return False
    return True


def same_rng(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (
        torch.equal(a["torch"], b["torch"])
        and all(np.array_equal(x, y) for x, y in zip(a["numpy"], b["numpy"], strict=True))
        and a["python"] == b["python"]
    )


def eval_loss(s: TorchSession, x: torch.Tensor, y: torch.Tensor) -> float:
    """The loss of an independent copy of the model in eval mode (the reference)."""
    import copy

    m = copy.deepcopy(s.model)
    m._forward_hooks.clear()
    for sub in m.modules():
        sub._forward_hooks.clear()
    m.eval()
    with torch.no_grad():
        return float(s.loss_fn(m(x), y))


def test_the_torch_backend_registers_its_tools() -> None:
    with example_session() as s:
        assert isinstance(tools_for(s), TorchTools)


# ------------------------------------------------------------------ landscape
@pytest.mark.parametrize("where", ["boundary", "mid-step"])
def test_the_landscape_leaves_the_model_bit_identical(where: str) -> None:
    """Batch norm and dropout in the model: evaluated in eval mode, every parameter,
    buffer (running statistics), gradient, module mode and generator restored."""
    s = example_session()
    try:
        s.advance("step", 3)
        if where == "mid-step":
            s.advance("phase", 3)  # after backprop, before the update: gradients present
            assert s.pos != 0 and all(p.grad is not None for p in s.model.parameters())
        before, grads, rng = state_of(s), grads_of(s), get_rng()
        modes = [m.training for m in s.model.modules()]
        sl = tl.gradient_slice(s, 11)
        land = tl.surface(s, 5, 1.0, seed=1)
        land_pca = tl.surface(s, 3, 1.0, directions="pca")
        assert same_tensors(state_of(s), before)
        assert same_tensors(grads_of(s), grads)
        assert same_rng(get_rng(), rng)
        assert [m.training for m in s.model.modules()] == modes
        assert np.isfinite(land.loss).all() and np.isfinite(sl.values).all()
        assert land_pca.note  # 3 keyframes at most this early: said, random instead
        # the session goes on exactly as an untouched one does
        s.advance("step", 2)
        after = state_of(s)
    finally:
        s.close()
    with example_session() as ref:
        ref.advance("step", 5)
        assert same_tensors(after, state_of(ref))


def test_the_slice_starts_at_the_current_loss_and_the_surface_centre_is_it() -> None:
    with example_session() as s:
        s.advance("step", 4)
        x, y = tl.position_batch(s)
        sl = tl.gradient_slice(s, 21)
        assert sl.value_at_0 == eval_loss(s, x, y)
        assert sl.ts[0] == 0.0 and sl.lr == s.current_lr == 1e-3
        assert sl.slope < 0 and sl.grad_norm > 0
        # a small step along -g lowers the loss (the gradient is right)
        assert sl.values[1] < sl.values[0]
        xs, ys = tl.data_subset(s)
        land = tl.surface(s, 5, 0.5)
        assert land.center_loss == eval_loss(s, xs, ys)
        assert land.loss[2, 2] == land.center_loss  # alpha = beta = 0 is the grid's centre
        assert land.path[-1].tolist() == [0.0, 0.0]


def test_directions_are_filter_normalised_with_biases_and_frozen_parameters_zero() -> None:
    with example_session() as s:
        s.model[4].weight.requires_grad_(False)  # a frozen Linear
        named = list(s.model.named_parameters())
        d = tl.random_direction(named, np.random.default_rng(0))
        for (name, p), dk in zip(named, d, strict=True):
            w = p.detach().double().numpy()
            if p.ndim < 2 or not p.requires_grad:
                assert not dk.any(), name
                continue
            rows = np.linalg.norm(dk.reshape(len(dk), -1), axis=1)
            want = np.linalg.norm(w.reshape(len(w), -1), axis=1)
            np.testing.assert_allclose(rows, want, rtol=1e-12)


def test_the_pca_plane_holds_the_path_once_there_are_keyframes() -> None:
    with example_session(history_steps=40) as s:
        s.run(max_steps=60)
        assert len([k for k in s.keyframes if k < s.step]) >= 2
        land = tl.surface(s, 5, 1.0, directions="pca")
        assert land.directions == "pca" and not land.note
        assert land.path_in_plane > 0.5
        assert land.explained_variance is not None


def test_a_conv_net_landscape_works_and_a_dataloader_is_read_without_moving_it() -> None:
    with example_session("torch_cnn_digits.py") as s:
        s.advance("step", 2)
        before = state_of(s)
        land = tl.surface(s, 3, 1.0)
        assert np.isfinite(land.loss).all()
        assert same_tensors(state_of(s), before)


def loader_session() -> TorchSession:
    torch.manual_seed(0)
    X = torch.randn(40, 3)
    y = (X[:, 0] > 0).long()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(X, y), batch_size=8, shuffle=True
    )
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    return TorchSession(model, nn.CrossEntropyLoss(), opt, loader, epochs=3)


@pytest.mark.parametrize("look", [False, True])
def test_a_shuffling_dataloader_is_read_without_moving_the_session(look: bool) -> None:
    """The next batch of a DataLoader is read for the slice at a step boundary: the
    session's own batches (and so its weights) afterwards are those of a session
    nobody looked at."""
    with loader_session() as s:
        s.advance("step", 6)  # into the second epoch (5 batches an epoch)
        if look:
            x, _ = tl.position_batch(s)
            assert len(x) == 8
            tl.gradient_slice(s, 5)
            tl.surface(s, 3, 1.0)
        s.advance("layer")
        if look:
            tl.gradient_slice(s, 5)  # mid-step: the batch being processed
        s.advance("step", 5)
        result = state_of(s)
    if look:
        with loader_session() as ref:
            ref.advance("step", 6)
            ref.advance("layer")
            ref.advance("step", 5)
            assert same_tensors(result, state_of(ref))


def test_a_diverged_model_is_not_plotted_and_says_why() -> None:
    with example_session() as s:
        with torch.no_grad():
            s.model[0].weight[0, 0] = math.inf
        assert "diverged" in tl.plottable(s)


# ------------------------------------------------------------------ sanity checks
def test_the_sanity_checks_pass_on_a_healthy_model_and_leave_the_session_alone() -> None:
    from tui_trainer.torch import sanity as ts

    s = example_session()
    try:
        s.run(max_steps=20)
        s.advance("phase", 2)  # mid-step
        before, grads, rng, pos = state_of(s), grads_of(s), get_rng(), s.position
        results = [
            ts.check_gradients(s, max_per_param=10),
            ts.check_gradients_reach(s),
            ts.check_init_loss(s),
            ts.check_overfit_tiny_batch(s),
            ts.check_zero_input_baseline(s, steps=150),
            ts.check_update_ratio(s),
        ]
        for r in results:
            assert r.passed and r.applicable, (r.name, r.summary, r.details)
        assert "ln 10" in results[2].summary
        assert [d.split(":")[0] for d in results[5].details] == ["0", "1", "4", "6"]
        assert s.position == pos and same_tensors(state_of(s), before)
        assert same_tensors(grads_of(s), grads) and same_rng(get_rng(), rng)
        s.advance("step", 2)
        after = state_of(s)
    finally:
        s.close()
    with example_session() as ref:
        ref.run(max_steps=22)
        assert same_tensors(after, state_of(ref))


class BadGrad(torch.autograd.Function):
    """x * 2 forward, a backward that says 3."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x * 2

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        return g * 3


class Odd(nn.Module):
    def __init__(self, bad_grad: bool = False) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.unused = nn.Linear(4, 3)  # never called: its parameters get no gradient
        self.bad_grad = bad_grad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.fc(x)
        return BadGrad.apply(out) if self.bad_grad else out


def odd_session(**kw: Any) -> TorchSession:
    torch.manual_seed(0)
    X = torch.randn(64, 4)
    y = (X[:, 0] > 0).long() + (X[:, 1] > 0).long()
    model = Odd(**kw)
    return TorchSession(
        model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1), (X, y)
    )


def test_the_sanity_checks_catch_a_wrong_backward_and_an_unused_parameter() -> None:
    from tui_trainer.torch import sanity as ts

    with odd_session(bad_grad=True) as s:
        r = ts.check_gradients(s)
        assert not r.passed and "wrong" in r.summary and "fc.weight" in r.summary
        reach = ts.check_gradients_reach(s)
        assert not reach.passed
        assert "unused.weight, unused.bias" in reach.details[0]
        assert reach.summary.startswith("2 of 4")
    with odd_session() as s:
        assert ts.check_gradients(s).passed


def test_the_sanity_checks_catch_a_bad_init_a_blind_model_and_a_huge_lr() -> None:
    from tui_trainer.torch import sanity as ts

    s = example_session()
    try:
        with torch.no_grad():
            s.model[6].weight.mul_(100)  # over-confident logits at the start
        s._initial = s._keyframe()
        r = ts.check_init_loss(s)
        assert not r.passed and "over-confident" in r.details[-1]
    finally:
        s.close()
    # labels unrelated to the inputs: the inputs help no more than zeros do
    spec = call_make(load_make(f"{EXAMPLES / 'torch_mlp.py'}:make"), EXAMPLES / "torch_mlp.py")
    X, y = spec["train"]
    Xv, yv = spec["val"]
    g = torch.Generator().manual_seed(1)
    spec["train"] = (X, y[torch.randperm(len(y), generator=g)])
    spec["val"] = (Xv, yv[torch.randperm(len(yv), generator=g)])
    with session_from_make(spec) as s:
        r = ts.check_zero_input_baseline(s, steps=150)
        assert not r.passed and "ratio" in r.summary
    with example_session() as s:
        s.set_hyper(lr=0.5)
        s.run(max_steps=15)
        r = ts.check_update_ratio(s)
        assert not r.passed and any("too high" in line for line in r.details)


# ------------------------------------------------------------------ forks
def rows(s: TorchSession) -> np.ndarray:
    return s.history.steps.rows().copy()


def same_rows(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(((a == b) | (np.isnan(a) & np.isnan(b))).all())


@pytest.mark.parametrize("where", ["boundary", "mid-step"])
def test_a_fork_without_change_reproduces_the_original_bit_for_bit(where: str) -> None:
    """Dropout draws from the global generator: the fork keeps its own, so running
    it first neither changes the original's future nor its own."""
    from tui_trainer.torch.fork import fork_torch_session

    with example_session() as s:
        s.advance("step", 3)
        if where == "mid-step":
            s.advance("phase", 2)
        here, before, rng = s.position, state_of(s), get_rng()
        f = fork_torch_session(s)
        try:
            assert f.position == here and same_tensors(state_of(f), before)
            assert s.position == here and same_tensors(state_of(s), before)
            assert same_rng(get_rng(), rng)  # forking and ...
            f.advance("step", 6)
            assert same_rng(get_rng(), rng)  # ... running the fork leave the original's alone
            s.advance("step", 6)
            assert f.step == s.step == 9
            assert same_tensors(state_of(f), state_of(s))
            assert same_rows(rows(f), rows(s))
            assert f.model is not s.model and f.optimizer is not s.optimizer
            # and it can step back before the fork point, as the original can
            f.goto(2 * f.E)
            s.goto(2 * s.E)
            assert same_tensors(state_of(f), state_of(s))
        finally:
            f.close()


def test_a_fork_with_another_lr_differs_and_the_original_is_untouched() -> None:
    from tui_trainer.torch.fork import fork_torch_session

    with example_session() as s:
        s.advance("step", 3)
        s.advance("phase", 2)
        here, before = s.position, state_of(s)
        plain = fork_torch_session(s)
        fast = fork_torch_session(s, lr=0.05)
        try:
            assert fast.optimizer.param_groups[0]["lr"] == 1e-3  # from the next step
            for f in (plain, fast):
                f.advance("step", 3)
            assert fast.optimizer.param_groups[0]["lr"] == 0.05
            r_plain, r_fast = rows(plain), rows(fast)
            assert same_rows(r_plain[:4], r_fast[:4])  # the step in progress: the old lr
            assert r_fast[4, 2] == 0.05 and r_plain[4, 2] == 1e-3
            assert not same_tensors(state_of(plain), state_of(fast))
            assert s.position == here and same_tensors(state_of(s), before)
            assert s.optimizer.param_groups[0]["lr"] == 1e-3
        finally:
            plain.close()
            fast.close()


def test_keeping_a_fork_puts_its_future_into_the_users_model() -> None:
    from tui_trainer.torch.fork import adopt, fork_torch_session

    with example_session() as s:
        s.advance("step", 2)
        model = s.model
        f = fork_torch_session(s, lr=0.01)
        try:
            f.advance("step", 4)
            f.advance("phase")
            want, want_rows, pos = state_of(f), rows(f), f.position
            f_next = fork_torch_session(f)  # where the fork would go on to
            f_next.advance("step", 2)
            then = state_of(f_next)
            f_next.close()
            kept = adopt(s, f)
        finally:
            f.close()
        assert kept is s and s.model is model and s.position == pos
        assert s.optimizer.param_groups[0]["lr"] == 0.01
        assert same_rows(rows(s), want_rows) and same_tensors(state_of(s), want)
        s.advance("step", 2)  # and goes on as the fork would have
        assert same_tensors(state_of(s), then)
        s.goto(s.E)  # back before the fork point: the original's keyframes are kept
        assert s.step == 1


def test_a_fork_of_a_shuffling_dataloader_session_reproduces_it() -> None:
    from tui_trainer.torch.fork import fork_torch_session

    with loader_session() as s:
        s.advance("step", 3)
        f = fork_torch_session(s)
        try:
            f.advance("step", 6)
            s.advance("step", 6)
            assert same_tensors(state_of(f), state_of(s))
        finally:
            f.close()


def test_compare_runs_start_every_fork_from_the_initial_weights() -> None:
    from tui_trainer.engine.compare import run_lockstep
    from tui_trainer.torch.fork import compare_runs

    with example_session(epochs=1) as s:
        s.advance("step", 5)
        here = s.position
        runs = compare_runs(s, "lr", [1e-3, 1e-2])
        try:
            assert [r.label for r in runs] == ["lr=0.001", "lr=0.01"]
            assert all(r.session.step == 0 for r in runs)
            run_lockstep(runs, 1)
            assert all(r.session.epoch == 1 for r in runs)
        finally:
            for r in runs:
                r.session.close()
        assert s.position == here
        with pytest.raises(ValueError, match="can compare only"):
            compare_runs(s, "momentum", [0.9])  # Adam has no momentum setting
    with example_session(epochs=1) as ref:  # lr=1e-3 from the start is the session itself
        ref.run()
        assert same_rows(rows(ref), rows(runs[0].session))


# ------------------------------------------------------------------ diagnosis
def small_session(model: nn.Module, lr: float = 0.1, n: int = 64, **kw: Any) -> TorchSession:
    torch.manual_seed(0)
    X = torch.randn(n, 4)
    y = (X[:, 0] > 0).long()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    return TorchSession(model, nn.CrossEntropyLoss(), opt, (X, y), batch_size=16, **kw)


def codes(s: TorchSession) -> list[str]:
    from tui_trainer.torch.diagnose import diagnose

    return [f.code for f in diagnose(s)]


def test_a_healthy_torch_run_has_no_findings() -> None:
    with example_session() as s:
        s.run(max_steps=60)
        assert codes(s) == []


def test_divergence_is_diagnosed_at_its_module_with_a_lower_lr_to_try() -> None:
    from tui_trainer.torch.diagnose import diagnose

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    with small_session(model, lr=1e6) as s:
        s.run(max_steps=50)
        assert s.diverged
        (f,) = [f for f in diagnose(s) if f.code == "diverged"]
        assert f.severity == "error" and f.step == s.nonfinite.step
        assert s.nonfinite.describe() in f.evidence
        assert f.fixes == ({"training.lr": 1e5},)


def test_dead_units_are_diagnosed_after_their_module() -> None:
    from tui_trainer.torch.diagnose import diagnose

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    with torch.no_grad():
        model[0].bias.fill_(-50.0)  # every unit below 0 on every input
    with small_session(model, lr=1e-3) as s:
        s.run(max_steps=3)
        assert "dead_relu" not in codes(s)  # too few steps to say
        s.run(max_steps=8)  # 11 steps: per batch before, per epoch after the epochs end
        (f,) = [f for f in diagnose(s) if f.code == "dead_relu"]
        assert f.layer == 1 and f.involves == ((1, "dead"),) and "100%" in f.evidence
        assert f.fixes == ()  # not big steps: no lr to try


def test_vanishing_gradients_are_diagnosed_in_a_deep_sigmoid_stack() -> None:
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for _ in range(12):
        layers += [nn.Linear(4, 4), nn.Sigmoid()]
    model = nn.Sequential(*layers, nn.Linear(4, 2))
    with small_session(model, lr=1e-3) as s:
        s.run(max_steps=12)
        assert "vanishing_gradients" in codes(s)
    torch.manual_seed(0)
    shallow = nn.Sequential(nn.Linear(4, 8), nn.Sigmoid(), nn.Linear(8, 2))
    with small_session(shallow, lr=1e-3) as s:
        s.run(max_steps=12)
        assert "vanishing_gradients" not in codes(s)


def test_growing_gradients_and_overfitting_are_read_from_the_series() -> None:
    """Series as a long run would leave them (written into the history)."""
    from tui_trainer.torch.diagnose import diagnose

    with example_session(epochs=100) as s:
        s.run(max_steps=40)
        assert codes(s) == []
        h = s.history
        col = h.steps.columns.index("grad_norm[6]")
        h.steps.data[30:40, col] *= 1e3  # the last module's gradient blows up
        (f,) = [f for f in diagnose(s) if f.code == "exploding_gradients"]
        assert f.layer == 6 and "rose from" in f.evidence and f.fixes
        h.steps.data[30:40, col] /= 1e3
        for e in range(12):  # train keeps falling, validation turns up after epoch 3
            row = h.epochs.new_row()
            row[:] = np.nan
            row[0] = 1.0 / (e + 1)
            row[1] = 0.5 + 0.1 * abs(e - 3)
            row[4] = 10 * e
        (f,) = diagnose(s)
        assert f.code == "overfitting" and f.epoch in (2, 3, 4)


def test_a_fork_taken_mid_step_has_none_of_the_sessions_hooks_but_keeps_the_users() -> None:
    """Copied along, the session's hooks would pause the original's step from the
    fork's forward pass."""
    from tui_trainer.torch.fork import copy_training_objects

    seen: list[int] = []
    with example_session() as s:
        s.model[2].register_forward_hook(lambda m, i, o: seen.append(1))
        s.advance("phase", 1)  # inside the step: the session's hooks are on the model
        assert sum(len(m._forward_hooks) for m in s.model.modules()) > 1
        model, _, opt = copy_training_objects(s)
        assert sum(len(m._forward_hooks) for m in model.modules()) == 1
        assert not any(getattr(p, "_post_accumulate_grad_hooks", None) for p in model.parameters())
        assert {id(p) for g in opt.param_groups for p in g["params"]} == {
            id(p) for p in model.parameters()
        }
        seen.clear()
        with torch.no_grad():
            model(torch.zeros(2, 64))
        assert seen == [1]  # the user's hook still runs on the copy


def test_a_module_name_from_the_users_file_reaches_the_debug_panel_made_visible() -> None:
    """A ModuleDict key or add_module name is any string without a dot: an escape
    sequence in it must be shown as text in the findings, never sent to the terminal."""
    from collections import OrderedDict

    from tui_trainer.engine.breakpoints import BreakpointSet
    from tui_trainer.engine.watches import WatchList
    from tui_trainer.torch.diagnose import diagnose
    from tui_trainer.ui.widgets.inspector import inspector_text

    torch.manual_seed(0)
    parts: list[tuple[str, nn.Module]] = [("\x1b[2Jfirst", nn.Linear(4, 4)), ("s0", nn.Sigmoid())]
    for i in range(1, 12):
        parts += [(f"l{i}", nn.Linear(4, 4)), (f"s{i}", nn.Sigmoid())]
    model = nn.Sequential(OrderedDict([*parts, ("out", nn.Linear(4, 2))]))
    with small_session(model, lr=1e-3) as s:
        s.run(max_steps=12)
        found = diagnose(s)
        assert any("\x1b" in f.title for f in found)  # the name is in the finding
        text = inspector_text(found, BreakpointSet(), WatchList(), 80).plain
    assert "\x1b" not in text and "\\x1b[2Jfirst" in text
