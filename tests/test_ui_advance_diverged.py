"""The app's step keys on a diverged session: Session.advance now raises Diverged there."""

from __future__ import annotations

from textual.pilot import Pilot

from pilot import run_app, sine_session
from tui_trainer.ui.app import TrainerApp


def test_step_keys_after_divergence_say_so_and_change_nothing() -> None:
    s = sine_session(lr=50)
    s.run()
    assert s.diverged
    here = s.position
    app = TrainerApp(s, name="sine")

    async def body(pilot: Pilot) -> None:
        for key in ("n", "s", "f"):  # next phase, next layer, finish the step
            await pilot.press(key)
            await pilot.pause()
            assert s.diverged and s.position == here
            assert "training diverged" in app.message_text
        await pilot.press("F")  # stepping back still leaves the diverged state
        await pilot.pause()
        assert not s.diverged

    run_app(app, body)
