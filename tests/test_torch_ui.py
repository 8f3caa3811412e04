"""The Textual app on a PyTorch model (TorchSession), driven headless with Pilot.

CI installs the CPU wheel of torch (the test extra pins it), so these run
there; without torch they skip.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from rich.console import Console  # noqa: E402
from torch import nn  # noqa: E402

from pilot import run_app, wait_until  # noqa: E402
from tui_trainer.engine.breakpoints import BreakpointSet  # noqa: E402
from tui_trainer.engine.stepper import Phase  # noqa: E402
from tui_trainer.torch import TorchSession  # noqa: E402
from tui_trainer.torch.debug import make_app  # noqa: E402
from tui_trainer.torch.user import call_make, load_make, session_from_make  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(autouse=True)
def _every_session_closed() -> Any:
    """A session left open keeps torch's deterministic mode switched on for every
    later test (close() restores it): each test here closes what it opened."""
    before = torch.are_deterministic_algorithms_enabled()
    yield
    assert torch.are_deterministic_algorithms_enabled() == before, "a TorchSession was left open"


def text_of(app: Any, selector: str, width: int = 200) -> str:
    """A widget's content as plain text (tables rendered too)."""
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(app.query_one(selector).content)
    return console.export_text()


def example_session(name: str, **changes: Any) -> TorchSession:
    path = EXAMPLES / name
    spec = call_make(load_make(f"{path}:make"), path)
    spec.update(changes)
    return session_from_make(spec)


def no_hooks(model: nn.Module) -> bool:
    """No forward hook on any module (nor a global one) and no gradient hook on any parameter."""
    from torch.nn.modules import module as torch_module

    if torch_module._global_forward_hooks:
        return False
    for m in model.modules():
        if m._forward_hooks or m._forward_pre_hooks or m._backward_hooks:
            return False
    return all(not getattr(p, "_post_accumulate_grad_hooks", None) for p in model.parameters())


def step_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "tui-trainer-step" and t.is_alive()]


@pytest.mark.parametrize("example", ["torch_cnn_digits.py", "torch_mlp.py"])
def test_step_module_by_module_through_every_phase_and_back(example: str) -> None:
    s = example_session(example)
    app = make_app(s, name=example)
    names = s.module_names
    seen: list[tuple[str, str, str]] = []  # (phase bar, status line, network panel)

    async def body(pilot: Any) -> None:
        net = text_of(app, "#network")
        for kind in ("Linear",):
            assert kind in net  # the modules, by kind, before anything ran
        for _ in range(s.E):
            await pilot.press("s")
            await pilot.pause()
            seen.append(
                (text_of(app, "#phase-bar"), text_of(app, "#status"), text_of(app, "#matrix"))
            )
        assert s.step == 1 and s.pos == 0
        before = {k: v.clone() for k, v in s.model.state_dict().items()}
        await pilot.press("N")  # back one phase: into BACKPROP of step 0
        await pilot.pause()
        assert s.step == 0 and s.phase is Phase.BACKWARD
        assert "[BACKPROP]" in text_of(app, "#phase-bar")
        await pilot.press("n")  # UPDATE again: the same weights (bit-identical replay)
        await pilot.pause()
        for k, v in s.model.state_dict().items():
            assert torch.equal(v, before[k]), k

    try:
        run_app(app, body)
    finally:
        s.close()
    L = len(names)
    # FORWARD after each module in order, named on the phase bar and the status line
    for k, name in enumerate(names):
        bar, status, _ = seen[k]
        assert "[FORWARD]" in bar and f"{name} ({k + 1}/{L}) ->" in bar
        assert f"phase FORWARD {name}" in status
    assert "[LOSS]" in seen[L][0]
    # BACKPROP per module, last module first
    back = seen[L + 1 : 2 * L + 1]
    for (bar, status, _), name in zip(back, reversed(names), strict=True):
        assert "[BACKPROP]" in bar and f"{name} (" in bar and "<-" in bar
        assert f"phase BACKPROP {name}" in status
    assert "[UPDATE]" in seen[-1][0]
    assert "step 1 |" in seen[-1][1] or "step 0 |" in seen[-1][1]
    # the matrix panel showed the first module's weights, then its update after UPDATE
    assert f"{names[0]}.weight" in seen[0][2]
    assert "not available yet" not in seen[-1][2]


@pytest.mark.parametrize("condition", ["epoch >= 1", "batch_loss < 1.5"])
def test_a_breakpoint_stops_the_run(condition: str) -> None:
    s = example_session("torch_mlp.py", epochs=3)
    bps = BreakpointSet()
    bps.add(condition)
    app = make_app(s, name="mlp")
    app.breakpoints = bps

    async def body(pilot: Any) -> None:
        await pilot.press("c")
        await wait_until(pilot, lambda: not app.running and s.step > 0, timeout=120)
        await pilot.pause()
        assert app._state_label() == "at breakpoint"
        assert "AT BREAKPOINT" in text_of(app, "#phase-bar")
        assert f"BREAKPOINT '{condition}' hit" in text_of(app, "#explain")

    try:
        run_app(app, body)
    finally:
        s.close()
    if condition.startswith("epoch"):
        assert s.epoch == 1
    else:
        assert s.history.steps.last("loss") < 1.5
    assert not s.finished


class _NaNGrad(torch.autograd.Function):
    """Identity forward; its backward returns NaN (a planted bad gradient)."""

    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        return x.clone()

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        return g * float("nan")


class NaNForward(nn.Module):
    """A copy of its input, or NaN once armed. (A copy: a module returning its input
    tensor itself shares that tensor's gradient hook with the next module, and the
    session then names it first in BACKPROP; see the report.)"""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False

    def forward(self, x: Any) -> Any:
        return x * float("nan") if self.armed else x.clone()


class BadBackward(nn.Module):
    """x @ weight, whose gradient becomes NaN once armed."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.eye(n) + 0.01 * torch.randn(n, n))
        self.armed = False

    def forward(self, x: Any) -> Any:
        y = x @ self.weight
        return _NaNGrad.apply(y) if self.armed else y


def planted_session() -> tuple[TorchSession, nn.Module]:
    torch.manual_seed(0)
    model = nn.Sequential(
        OrderedDict(
            features=nn.Sequential(nn.Linear(4, 8), nn.ReLU(), NaNForward()),
            mix=BadBackward(8),
            head=nn.Linear(8, 3),
        )
    )
    x = torch.randn(60, 4)
    y = torch.randint(0, 3, (60,))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    return TorchSession(model, nn.CrossEntropyLoss(), opt, (x, y), batch_size=20, epochs=5), model


@pytest.mark.parametrize(
    "arm, phase, module, label",
    [
        ("features.2", Phase.FORWARD, "features.2", "[FORWARD!]"),
        ("mix", Phase.BACKWARD, "mix", "[BACKPROP!]"),
    ],
)
def test_a_planted_nan_is_shown_at_its_module_and_phase(
    arm: str, phase: Phase, module: str, label: str
) -> None:
    s, model = planted_session()
    assert s.module_names == ["features.0", "features.1", "features.2", "mix", "head"]
    app = make_app(s, name="planted")

    async def body(pilot: Any) -> None:
        await pilot.press("f", "f")  # two good steps
        await pilot.pause()
        assert s.step == 2 and s.nonfinite is None
        model.get_submodule(arm).armed = True
        await pilot.press("c")
        await wait_until(pilot, lambda: not app.running and s.nonfinite is not None, 60)
        await pilot.pause()
        bar = text_of(app, "#phase-bar")
        assert label in bar and f"{module} (" in bar and "NaN/Inf here" in bar
        assert "DIVERGED" in bar
        explain = text_of(app, "#explain")
        assert f"{phase.label} {module}" in explain and "step 2" in explain
        assert f"{phase.label} {module}" in text_of(app, "#status")
        if phase is Phase.BACKWARD:  # the network panel shows the bad gradient, not "-"
            assert "|grad| NaN" in text_of(app, "#network")
        assert no_hooks(model)

    try:
        run_app(app, body)
    finally:
        s.close()
    assert s.nonfinite.module == module and s.nonfinite.phase is phase
    assert s.step == 2  # no update was made from the NaN


def test_quitting_mid_step_releases_the_worker_and_leaves_no_hooks() -> None:
    s = example_session("torch_cnn_digits.py")
    model = s.model
    app = make_app(s, name="cnn")
    threads_before = len(step_threads())

    async def body(pilot: Any) -> None:
        await pilot.press("f")  # one whole step
        await pilot.press("s", "s", "s")  # paused inside the forward pass of step 1
        await pilot.pause()
        assert s.pos == 3 and len(step_threads()) == threads_before + 1
        assert not no_hooks(model)  # the paused step's hooks are on
        await pilot.press("q")  # progress was made: the app asks first
        await pilot.pause()
        assert "keeps its weights as of step 1" in str(app.screen.query_one("Label").content)
        await pilot.press("y")
        await pilot.pause()

    after_step: dict[str, Any] = {}
    try:
        run_app(app, body)
    finally:
        after_step = {k: v.clone() for k, v in model.state_dict().items()}
        s.close()  # what debug() does when the app returns
    assert len(step_threads()) == threads_before  # the worker thread ended
    assert no_hooks(model)
    # the model holds the weights of the last completed step (1): replaying it agrees
    with example_session("torch_cnn_digits.py") as fresh:
        fresh.advance("step")
        for k, v in fresh.model.state_dict().items():
            assert torch.equal(v, after_step[k]), k


def test_tools_that_need_the_numpy_engine_say_so() -> None:
    s = example_session("torch_mlp.py")
    app = make_app(s, name="mlp")

    async def body(pilot: Any) -> None:
        for key, what in (("D", "the data setup dialog"),):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is app.main_screen  # no dialog opened on a torch session
            assert f"Not available on a PyTorch model yet: {what}" in text_of(app, "#explain")
        await pilot.press("4")
        await pilot.pause()
        assert "On a PyTorch model the diagnosis reads the per-module series" in text_of(
            app, "#debug"
        )
        await pilot.press("3")  # between steps: the validation confusion matrix
        await pilot.pause()
        data = text_of(app, "#data-text")
        assert "validation, after step 0 (eval mode)" in data
        await pilot.press("n")  # inside a step (its hooks on the model): no forward pass now
        await pilot.pause()
        assert "not available on a PyTorch model" in text_of(app, "#data-text")
        assert s.pos == s.n_layers  # the data panel did not run into the step's hooks
        await pilot.press("v", "v", "v")  # views: gradients, update, output
        await pilot.pause()
        assert "output" in text_of(app, "#matrix")

    try:
        run_app(app, body)
    finally:
        s.close()


def test_breakpoints_and_watches_name_modules() -> None:
    s, _ = planted_session()
    app = make_app(
        s,
        name="planted",
        breakpoints=['update_ratio["head"] > 0 and step >= 2'],
        watches=['grad_norm["features.0"]'],
    )

    async def body(pilot: Any) -> None:
        await pilot.press("c")
        await wait_until(pilot, lambda: not app.running and s.step > 0, timeout=60)
        await pilot.pause()
        assert s.step == 2 and app._state_label() == "at breakpoint"
        w = app.watches.items[0]
        assert w.value == s.history.steps.last("grad_norm[0]") > 0
        # the prompt's check names the modules when one is unknown
        err = app._validate_condition('grad_norm["nope"] > 1')
        assert err is not None and "no pause module named 'nope'" in err and "features.0" in err
        assert app._validate_condition('dead_fraction["features.1"] > 0.5') is None

    try:
        run_app(app, body)
    finally:
        s.close()
    other, _ = planted_session()
    with other, pytest.raises(ValueError, match="no pause module named 'x'"):
        make_app(other, breakpoints=['grad_norm["x"] > 1'])


def test_every_key_on_a_torch_session_answers_without_crashing(monkeypatch: Any) -> None:
    """Each binding once (dialogs closed with escape), narrow and wide: no view or tool
    reaches into the NumPy engine's internals on a PyTorch model."""
    from tui_trainer.ui.app import TrainerApp

    # a view that fails would only say so in itself: here it ends the test instead
    monkeypatch.setattr(TrainerApp, "_safely", lambda self, widget, draw: draw(widget))

    keys = [b.key.split(",")[0] for b in TrainerApp.BINDINGS if b.key.split(",")[0] != "q"]
    for size in ((80, 24), (160, 45)):
        s = example_session("torch_cnn_digits.py")
        app = make_app(s, name="cnn")

        async def body(pilot: Any, app: Any = app, s: Any = s) -> None:
            await pilot.press("f", "s", "s")
            for key in keys:
                await pilot.press(key)
                await pilot.pause()
                if app.running:
                    await pilot.press("p")
                    await wait_until(pilot, lambda: not app.running, timeout=60)
                while app.screen is not app.main_screen:
                    await pilot.press("escape")
                    await pilot.pause()
                for w in ("#network", "#matrix", "#explain", "#status", "#debug", "#data-text"):
                    assert "failed to draw" not in text_of(app, w), (key, w)
            assert app.is_running and app._exception is None

        try:
            run_app(app, body, size=size)
        finally:
            s.close()
        assert no_hooks(s.model)


def test_loss_phase_names_the_sample_that_contributes_most() -> None:
    s = example_session("torch_mlp.py")
    app = make_app(s, name="mlp")
    got: dict[str, Any] = {}

    async def body(pilot: Any) -> None:
        await pilot.press("n", "n")  # FORWARD, LOSS
        await pilot.pause()
        got["text"] = text_of(app, "#explain")
        with torch.no_grad():
            each = nn.CrossEntropyLoss(reduction="none")(s.rec.out, s.rec.y)
        got["worst"] = int(each.argmax())
        got["mean"] = float(each.mean())

    try:
        run_app(app, body)
    finally:
        s.close()
    assert f"sample {got['worst']} of the batch contributes most" in got["text"]
    assert abs(got["mean"] - s.rec.loss) < 1e-6  # the per-sample losses are the batch's
    assert s.loss_fn.reduction == "mean"  # the user's loss object is untouched


def test_the_validation_confusion_matrix_counts_every_sample_and_leaves_rng_alone() -> None:
    s = example_session("torch_cnn_digits.py")
    try:
        s.advance("step")
        rng = torch.get_rng_state().clone()
        true, pred, k = s.val_predictions()
        assert k == 10 and len(true) == len(pred) == len(s.val.dataset)  # every sample
        assert torch.equal(torch.get_rng_state(), rng)
        _, acc = s.evaluate(s.val)
        assert abs(float((true == pred).mean()) - acc) < 1e-12  # the same predictions
        s.advance("layer")  # inside a step: not computed
        assert s.val_predictions() is None
    finally:
        s.close()


def test_the_torch_command_opens_the_app_on_a_terminal_and_headless_on_request(
    monkeypatch: Any, capsys: Any
) -> None:
    import tui_trainer.torch.cli as torch_cli
    from tui_trainer.cli import main

    opened: list[str] = []
    monkeypatch.setattr(torch_cli, "open_app", lambda target, epochs: opened.append(target) or 0)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    target = f"{EXAMPLES / 'torch_mlp.py'}:make"
    assert main(["torch", target]) == 0
    assert opened == [target]  # a terminal: the app
    assert main(["torch", target, "--headless", "--steps", "2", "--quiet"]) == 0
    assert opened == [target]  # --headless: not the app
    assert "step 2" in capsys.readouterr().out


class Drifting(nn.Module):
    """Not replayable: its output depends on how often it ran (state the keyframes
    do not hold), as a non-deterministic kernel would differ between runs."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.calls = 0

    def forward(self, x: Any) -> Any:
        self.calls += 1
        return self.fc(x) * (1.0 + 0.01 * self.calls)


def test_a_replay_that_is_not_bit_identical_is_said_on_screen() -> None:
    torch.manual_seed(0)
    model = Drifting()
    x, y = torch.randn(40, 4), torch.randint(0, 3, (40,))
    s = TorchSession(
        model,
        nn.CrossEntropyLoss(),
        torch.optim.SGD(model.parameters(), lr=0.1),
        (x, y),
        batch_size=10,
        epochs=2,
    )
    app = make_app(s, name="drift")

    async def body(pilot: Any) -> None:
        await pilot.press("f", "f", "n")  # two steps, then into the third
        await pilot.pause()
        assert "NOTE: step-back replay" not in text_of(app, "#explain")
        await pilot.press("F", "F")  # back to the start of step 1: a replay of step 0
        await pilot.pause()
        assert s.replay_mismatch is not None
        assert "NOTE: step-back replay differs from the first run" in text_of(app, "#explain")

    try:
        run_app(app, body)
    finally:
        s.close()


def test_ctrl_s_saves_a_torch_checkpoint_that_resumes_bit_identical(
    tmp_path: Path, monkeypatch: Any
) -> None:
    from tui_trainer.torch.checkpoint import load_torch_checkpoint

    monkeypatch.chdir(tmp_path)
    s = example_session("torch_mlp.py")
    app = make_app(s, name="mlp")

    async def body(pilot: Any) -> None:
        await pilot.press("f", "f", "f", "s")  # three steps, then inside the fourth
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("enter")  # the offered name: mlp-step3.npz
        await pilot.pause()
        assert (tmp_path / "mlp-step3.npz").is_file()
        assert not app._unsaved_progress()  # so q asks nothing
        await pilot.press("q")
        await pilot.pause()

    try:
        run_app(app, body)
        weights = {k: v.clone() for k, v in s.model.state_dict().items()}
    finally:
        s.close()
    with example_session("torch_mlp.py") as fresh:
        load_torch_checkpoint(fresh, tmp_path / "mlp-step3.npz")
        assert fresh.step == 3 and fresh.pos == 1  # where it was saved, inside step 3
        for k, v in fresh.model.state_dict().items():
            assert torch.equal(v, weights[k]), k


def test_a_modules_other_parameters_are_summarised_below_its_main_one() -> None:
    from tui_trainer.engine.layer_view import layer_view
    from tui_trainer.ui.widgets.module_matrix import module_matrix

    with example_session("torch_mlp.py") as s:
        s.advance("step")
        v = layer_view(s, 1)  # BatchNorm1d(64): weight drawn, bias summarised
        console = Console(width=60, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
        console.print(module_matrix(v, "gradients", False, 60, 14))
        text = console.export_text()
        g = v.grads["bias"]
        assert "1.weight grad" in text
        assert f"bias 64  gradients min {g.min():.4g}  mean {g.mean():.4g}" in text


def test_reverse_continue_and_reverse_watch_on_a_torch_session() -> None:
    s, _ = planted_session()
    app = make_app(s, name="planted", breakpoints=["step == 2"])

    async def body(pilot: Any) -> None:
        await pilot.press("f", "f", "f", "f", "f")  # five steps by hand (no breakpoint stops)
        await pilot.pause()
        assert s.step == 5
        await pilot.press("C")  # back to the last pause where the breakpoint fired
        await wait_until(pilot, lambda: not app.running and not app.searching, timeout=60)
        await pilot.pause()
        assert s.step == 2 and s.pos == 0
        assert "step 2" in text_of(app, "#status") or "step 1" in text_of(app, "#status")
        # u: the last step the loss changed by more than 1e-9 before here (step 2)
        await pilot.press("f", "f")
        await pilot.press("u")
        await pilot.pause()
        for key in ("ctrl+a", "ctrl+k"):  # clear the offered rule, then type one
            await pilot.press(key)
        await pilot.press(*"step cross 3", "enter")
        await wait_until(pilot, lambda: not app.running and not app.searching, timeout=60)
        await pilot.pause()
        assert s.position <= 4 * s.E and s.position >= 3 * s.E  # where step crossed 3
        assert app._exception is None

    try:
        run_app(app, body)
    finally:
        s.close()


def test_a_reverse_search_past_the_history_says_a_replay_is_not_available() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3))
    x, y = torch.randn(80, 4), torch.randint(0, 3, (80,))
    s = TorchSession(
        model,
        nn.CrossEntropyLoss(),
        torch.optim.SGD(model.parameters(), lr=0.1),
        (x, y),
        batch_size=10,
        epochs=3,
        history_steps=2,
    )
    app = make_app(s, name="short", breakpoints=["step == 1"])

    async def body(pilot: Any) -> None:
        await pilot.press(*"ffffffffffff")  # 12 steps: step 1 is long out of the history
        await pilot.pause()
        assert s.oldest_position > 2 * s.E
        await pilot.press("C")
        await wait_until(pilot, lambda: not app.running and not app.searching, timeout=60)
        await pilot.pause()
        assert app.screen is app.main_screen  # no replay offered
        text = text_of(app, "#explain")
        assert "No breakpoint fired before this pause within the step-back history" in text
        assert "not available on a PyTorch model" in text
        assert s.step == 12  # back where the user was

    try:
        run_app(app, body)
    finally:
        s.close()


def test_first_bad_value_names_the_module_on_a_torch_session() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(OrderedDict(body=nn.Linear(4, 4), act=nn.Tanh(), head=nn.Linear(4, 3)))
    x, y = torch.randn(40, 4), torch.randint(0, 3, (40,))
    s = TorchSession(
        model,
        nn.CrossEntropyLoss(),
        torch.optim.SGD(model.parameters(), lr=0.01),
        (x, y),
        batch_size=10,
        epochs=3,
    )
    app = make_app(s, name="blowup")
    seen: dict[str, str] = {}

    async def body(pilot: Any) -> None:
        await pilot.press("f", "f")
        s.set_hyper(lr=1e12)  # from step 2 on (recorded: a replay does the same)
        await pilot.press("f", "f")
        await pilot.pause()
        await pilot.press("exclamation_mark")
        await pilot.pause()
        await pilot.press("enter")  # the offered limit, 1e6
        await wait_until(pilot, lambda: not app.running and not app.searching, timeout=60)
        await pilot.pause()
        seen["explain"] = text_of(app, "#explain")
        assert app._exception is None

    try:
        run_app(app, body)
    finally:
        s.close()
    # the weights passed 1e6 at the UPDATE of step 2, named by module
    assert s.step == 3 and s.pos == 0 and s.phase is Phase.UPDATE, seen["explain"]
    assert "weights of body" in seen["explain"] or "weights of head" in seen["explain"]


def test_h_sets_the_learning_rate_of_every_param_group_from_the_next_step() -> None:
    s = example_session("torch_mlp.py")
    app = make_app(s, name="mlp")

    async def body(pilot: Any) -> None:
        await pilot.press("f", "n")  # inside step 1
        await pilot.press("h")
        await pilot.pause()
        await pilot.press("ctrl+a", "ctrl+k", *"0.05", "enter")
        await pilot.pause()
        assert "Changed lr=0.05; applies from step 2" in text_of(app, "#explain")
        assert s.current_lr == pytest.approx(1e-3)  # this step keeps its rate
        await pilot.press("f", "f")
        await pilot.pause()
        assert all(g["lr"] == 0.05 for g in s.optimizer.param_groups)
        assert "lr 0.05" in text_of(app, "#status")

    try:
        run_app(app, body)
    finally:
        s.close()


def test_a_frozen_parameter_says_it_is_frozen() -> None:
    from tui_trainer.engine.layer_view import layer_view
    from tui_trainer.ui.widgets.module_matrix import module_matrix

    path = EXAMPLES / "torch_mlp.py"
    spec = call_make(load_make(f"{path}:make"), path)
    spec["model"][0].weight.requires_grad_(False)  # frozen before the session starts
    with session_from_make(spec) as s:
        s.advance("step")
        v = layer_view(s, 0)
        assert v.frozen == ("weight",) and v.grads["weight"] is None
        console = Console(width=100, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
        console.print(module_matrix(v, "gradients", False, 100, 14))
        assert "frozen (requires_grad=False)" in console.export_text()
