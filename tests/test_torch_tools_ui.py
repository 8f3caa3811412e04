"""The app's tool dialogs on a PyTorch model (examples/torch_mlp.py), driven with Pilot.

The landscape, sanity checks and what-if work on a TorchSession through
``engine.backend_tools`` (the UI imports no torch); each leaves the user's
model as it was unless a future is kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from pilot import run_app, wait_until  # noqa: E402
from tui_trainer.torch import TorchSession  # noqa: E402
from tui_trainer.torch.debug import make_app  # noqa: E402
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


def text_of(widget: Any, width: int = 200) -> str:
    """A widget's content as plain text (tables rendered too)."""
    from rich.console import Console

    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(widget.content)
    return console.export_text()


def state_of(s: TorchSession) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in s.model.state_dict().items()}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_landscape_dialog_draws_a_torch_model_and_leaves_it_alone() -> None:
    from tui_trainer.ui.screens.landscape import LandscapeScreen

    s = example_session()
    app = make_app(s, name="mlp")

    async def body(pilot: Any) -> None:
        await pilot.press("f", "f", "s", "s")  # two steps, then mid-step
        await pilot.pause()
        before, pos = state_of(s), s.position
        assert s.pos != 0
        await pilot.press("L")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, LandscapeScreen)
        await wait_until(pilot, lambda: screen.landscape is not None or screen.error, 120)
        assert not screen.error, screen.error
        land, sl = screen.landscape, screen.slice
        assert land is not None and sl is not None
        assert np.isfinite(land.loss).all() and land.n_samples == 1438
        verdict = str(screen.query_one("#ls-verdict").render())
        assert "recomputed in eval mode" in verdict and "adam" in verdict
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.main_screen
        assert s.position == pos and same(state_of(s), before)
        await pilot.press("f")  # the step paused mid-way finishes as it would have
        await pilot.pause()
        assert s.step == 3

    try:
        run_app(app, body, size=(120, 40))
    finally:
        s.close()


def test_the_sanity_dialog_checks_a_torch_model(monkeypatch: Any) -> None:
    from tui_trainer.torch import sanity as ts
    from tui_trainer.ui.screens.sanity import SanityScreen

    monkeypatch.setattr(ts, "baseline_steps", lambda s: 60)  # the check, not its budget
    s = example_session()
    app = make_app(s, name="mlp")

    async def body(pilot: Any) -> None:
        await pilot.press("f", "f", "f", "s")
        await pilot.pause()
        before, pos = state_of(s), s.position
        await pilot.press("g")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SanityScreen)
        await wait_until(pilot, lambda: bool(screen.results), 180)
        names = [r.name for r in screen.results]
        assert names == [
            "gradient check",
            "gradients reach every parameter",
            "loss at init",
            "overfit a tiny batch",
            "zero-input baseline",
            "update ratio",
        ]
        assert all(r.applicable for r in screen.results)
        # (at step 3 the early Adam steps and a ReLU kink may fail a check: the
        # verdicts are tested on their own in test_torch_tools.py)
        status = str(screen.query_one("#sanity-status").render())
        n_pass = sum(r.passed for r in screen.results)
        assert f"{n_pass} of 6 checks passed at step 3, epoch 1" in status
        table = text_of(screen.query_one("#sanity-results"))
        assert "gradients reach every parameter: 8 of 8" in table
        await pilot.press("escape")
        await pilot.pause()
        assert s.position == pos and same(state_of(s), before)

    try:
        run_app(app, body, size=(120, 40))
    finally:
        s.close()


async def _what_if(pilot: Any, app: Any, change: str, wait: bool = True) -> Any:
    from tui_trainer.ui.screens.whatif import WhatIfScreen

    await pilot.press("x")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, WhatIfScreen)
    screen.query_one("#whatif-epochs").value = "1"
    return await _submit(pilot, screen, change, wait)


async def _submit(pilot: Any, screen: Any, change: str, wait: bool = True) -> Any:
    screen.query_one("#whatif-change").value = change
    screen.query_one("#whatif-change").focus()
    await pilot.press("enter")
    await pilot.pause()
    if wait:
        await wait_until(pilot, lambda: bool(screen.sessions) and not screen.running, 180)
    return screen


def test_what_if_on_a_torch_model_runs_both_futures_and_keeps_one_in_the_users_model() -> None:
    s = example_session()
    app = make_app(s, name="mlp")
    model = s.model

    async def body(pilot: Any) -> None:
        await pilot.press("f", "f", "s")  # mid-step 2
        await pilot.pause()
        before, pos = state_of(s), s.position
        screen = await _what_if(pilot, app, "momentum=0.9", wait=False)
        err = str(screen.query_one("#whatif-error").render())
        assert "cannot change 'momentum'" in err and "lr" in err  # Adam has no momentum
        screen = await _submit(pilot, screen, "lr=0.02")
        as_is, changed = screen.sessions
        assert as_is.epoch == changed.epoch == 1 and as_is.finished is False
        f0, f1 = screen.futures
        assert f1.label == "lr=0.02" and f0.loss != f1.loss
        assert s.position == pos and same(state_of(s), before)  # untouched meanwhile
        want, want_pos = state_of(changed), changed.position
        await pilot.press("2")
        await pilot.pause()
        assert app.screen is app.main_screen
        assert app.session is s and s.model is model  # the user's own model ...
        assert s.position == want_pos and same(state_of(s), want)  # ... holds the future
        assert s.optimizer.param_groups[0]["lr"] == 0.02
        assert "Kept the chosen future" in app.message_text

    try:
        run_app(app, body, size=(120, 40))
    finally:
        s.close()


def test_what_if_discarded_leaves_the_torch_session_as_it_was() -> None:
    s = example_session()
    app = make_app(s, name="mlp")

    async def body(pilot: Any) -> None:
        await pilot.press("f")
        await pilot.pause()
        before, pos = state_of(s), s.position
        screen = await _what_if(pilot, app, "lr=0.01")
        forks = list(screen.sessions)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.main_screen
        assert s.position == pos and same(state_of(s), before)
        assert all(f.closed for f in forks)  # released
        await pilot.press("f")
        await pilot.pause()
        assert s.step == 2

    try:
        run_app(app, body, size=(120, 40))
    finally:
        s.close()


def test_compare_on_a_torch_model_runs_forks_from_the_initial_weights() -> None:
    from tui_trainer.ui.screens.compare import CompareScreen

    s = example_session()
    app = make_app(s, name="mlp")

    async def body(pilot: Any) -> None:
        await pilot.press("f", "s")
        await pilot.pause()
        before, pos = state_of(s), s.position
        await pilot.press("X")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        assert screen.params == ("lr", "batch_size", "l2")  # what Adam and tensors have
        assert screen.query_one("#cmp-values").value == "0.0001,0.001,0.01"
        assert "initial weights" in str(screen.query_one("#cmp-status").render())
        screen.query_one("#cmp-values").value = "0.001,0.01"
        screen.query_one("#cmp-epochs").value = "1"
        screen.query_one("#cmp-values").focus()
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: "Done" in str(screen.query_one("#cmp-status").render()), 180
        )
        assert [c.label for c in screen.curves] == ["lr=0.001", "lr=0.01"]
        assert all(len(c.loss) == 1 for c in screen.curves)
        forks = [r.session for r in screen.runs]
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.main_screen and all(f.closed for f in forks)
        assert s.position == pos and same(state_of(s), before)

    try:
        run_app(app, body, size=(120, 40))
    finally:
        s.close()


def test_the_debug_panel_diagnoses_a_torch_model_and_says_what_it_cannot() -> None:
    s = example_session()
    with torch.no_grad():
        s.model[4].bias.fill_(-100.0)  # the ReLU after it ("5") never fires
    s._initial = s._keyframe()
    app = make_app(s, name="mlp")

    async def body(pilot: Any) -> None:
        await pilot.press("4")
        for _ in range(12):
            await pilot.press("f")
        await pilot.pause()
        await wait_until(pilot, lambda: any(f.code == "dead_relu" for f in app.findings), 30)
        text = text_of(app.query_one("#debug"))
        assert "Dead units after 5" in text and "100% of 5's units never active" in text
        assert "Not available here" in text and "saturated units" in text

    try:
        run_app(app, body, size=(120, 40))
    finally:
        s.close()


def test_try_a_fix_on_a_torch_model_forks_with_the_lr_and_keeps_it(monkeypatch: Any) -> None:
    """The finding is planted (its rules are tested in test_torch_tools.py): what is
    tested is that its lr fix runs as a fork and, kept, lands in the user's model."""
    from tui_trainer.engine.diagnostics import Finding
    from tui_trainer.torch import diagnose as td
    from tui_trainer.ui.screens.try_fix import FixPicker, TryFixScreen

    planted = Finding(
        "dead_relu", "Dead units after 2", "warning", 0, 0, "planted", "lower the lr",
        layer=2, involves=((2, "dead"),), fixes=({"training.lr": 0.0003},),
    )  # fmt: skip
    monkeypatch.setattr(td, "diagnose", lambda s: [planted])
    s = example_session()
    app = make_app(s, name="mlp")

    async def body(pilot: Any) -> None:
        await pilot.press("f", "f")
        await pilot.pause()
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, FixPicker))
        assert app.screen.choices[0].hyper == {"lr": 0.0003}
        await pilot.press("1")
        await wait_until(pilot, lambda: isinstance(app.screen, TryFixScreen))
        screen = app.screen
        await wait_until(pilot, lambda: len(screen.sessions) == 2 and not screen.running, 180)
        fixed = screen.sessions[1]
        want, pos = state_of(fixed), fixed.position
        await pilot.press("2")
        await pilot.pause()
        assert app.screen is app.main_screen and app.session is s
        assert s.position == pos and same(state_of(s), want)
        assert s.optimizer.param_groups[0]["lr"] == 0.0003
        assert "Kept the fix: lr = 0.0003." in app.message_text

    try:
        run_app(app, body, size=(120, 40))
    finally:
        s.close()
