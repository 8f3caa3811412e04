"""The session interface both backends share, and divergence ending an advance loop."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import make_session
from tui_trainer.engine.session_api import Diverged, SessionError, TrainingSession


def test_numpy_session_implements_the_interface():
    assert isinstance(make_session(), TrainingSession)


def test_advance_loop_ends_after_divergence_numpy():
    s = make_session(loss="mse", lr=1e6, hidden=(8,), activation="relu")
    calls = 0
    with pytest.raises(Diverged) as info:
        while s.step < 10_000:  # before the fix: spins forever once the loss is NaN
            s.advance()
            calls += 1
            assert calls < 100_000
    assert s.diverged and info.value.where is s.nonfinite
    assert "non-finite" in str(info.value)
    assert isinstance(info.value, SessionError)  # the UI's handler catches it
    s.back("step")  # stepping back leaves the diverged state
    assert not s.diverged
    s.advance("layer")


def test_the_diverging_advance_returns_the_event():
    s = make_session(loss="mse", hidden=(8,), activation="relu")
    s.net.layers[0].W[:] = np.inf
    ev = s.advance("step")
    assert ev is not None and ev.nonfinite and s.diverged
