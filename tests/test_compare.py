"""Forks and side-by-side runs reproduce independent runs exactly."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import make_session, xor_data
from tui_trainer.engine.compare import format_table, make_runs, run_lockstep
from tui_trainer.engine.session import Session, fork_session


def _params(s: Session) -> list[np.ndarray]:
    return [p.copy() for p in s.net.params()]


@pytest.mark.parametrize("mid_step", [False, True])
def test_fork_unchanged_reproduces_the_future_bit_for_bit(mid_step: bool):
    s = make_session(optimizer="adam", epochs=6)
    s.advance("step", 7)
    if mid_step:
        s.advance("layer", 3)
    f = fork_session(s)
    assert f.position == s.position
    s.run()
    f.run()
    for a, b in zip(_params(s), _params(f), strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(s.history.steps.rows(), f.history.steps.rows(), equal_nan=True)


def test_fork_with_a_change_diverges_and_leaves_the_original_alone():
    s = make_session(epochs=6)
    s.advance("step", 5)
    before = _params(s)
    f = fork_session(s, lr=0.5)
    assert f.hyperparameters()["lr"] == 0.5 and s.hyperparameters()["lr"] == 0.05
    for a, b in zip(before, _params(s), strict=True):
        assert np.array_equal(a, b)
    f.run()
    s.run()
    assert not np.array_equal(_params(s)[0], _params(f)[0])
    # the fork can step back before the fork point
    f.goto(2 * f.E)
    assert f.step == 2


def test_compare_runs_equal_independent_runs():
    base = make_session(epochs=4)
    runs = make_runs(base.cfg, xor_data(), "lr", [0.01, 0.3])
    run_lockstep(runs, epochs=4)
    for r in runs:
        alone = Session(base.cfg.with_changes(lr=r.value), xor_data())
        alone.run()
        for a, b in zip(_params(alone), _params(r.session), strict=True):
            assert np.array_equal(a, b)
    table = format_table(runs)
    assert "lr=0.01" in table and "lr=0.3" in table


def test_compare_rejects_bad_requests():
    base = make_session()
    with pytest.raises(ValueError):
        make_runs(base.cfg, xor_data(), "seed", [1, 2])
    with pytest.raises(ValueError):
        make_runs(base.cfg, xor_data(), "lr", [0.1] * 5)
