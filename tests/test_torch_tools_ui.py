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
