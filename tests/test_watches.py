"""Watches evaluate at pauses and forget the future when stepping back."""

from __future__ import annotations

import math

import numpy as np
import pytest

from helpers import make_session
from tui_trainer.engine.breakpoints import BreakpointSet
from tui_trainer.engine.conditions import ConditionError
from tui_trainer.engine.watches import WatchList


def test_watch_values_follow_the_session_and_step_back():
    s = make_session(epochs=10)
    wl = WatchList()
    w_loss = wl.add("loss")
    w_w = wl.add("W[0][0,0]")
    for _ in range(5):
        s.advance("step")
        wl.sample(s)
    assert len(w_loss.history) == 5
    assert w_loss.value == pytest.approx(s.history.steps.last("loss"))
    assert w_w.value == s.net.layers[0].W[0, 0]
    s.back("step")
    s.back("step")
    wl.sample(s)
    assert [p for p, _ in w_loss.history] == [k * s.E for k in range(1, 4)]
    with pytest.raises(ConditionError):
        wl.add("loss >")


def test_watch_runtime_error_is_recorded_not_raised():
    s = make_session()
    wl = WatchList()
    w = wl.add("W[7][0,0]")
    s.advance("step")
    wl.sample(s)
    assert "out of range" in w.error and math.isnan(w.value)


def test_breakpoints_bound_to_phases():
    s = make_session(epochs=10)
    bps = BreakpointSet()
    bps.add("grad_norm[0] >= 0", phase="backward")
    hits = []

    def check(sess, ev):
        h = bps.check(sess, ev)
        if h is not None:
            hits.append((ev.phase.label, ev.layer))
            return True
        return False

    r = s.run(event_check=check)
    assert r.kind == "predicate"
    assert hits == [("BACKPROP", 0)]
    assert s.pos == s.E - 1  # paused right after backprop, before the update
    assert bps.items[0].hits == 1


def test_epoch_breakpoint_and_trend():
    s = make_session(epochs=40, lr=0.5)
    bps = BreakpointSet()
    bps.add("epoch >= 3 and loss < 10", phase="epoch")
    hit = []
    r = s.run(lambda ss: (h := bps.check(ss, None)) is not None and not hit.append(h))
    assert r.kind == "predicate" and s.epoch == 3 and s.cursor == 0
    assert "epoch = 3" in hit[0].explanation


def test_breakpoint_with_runtime_error_is_disabled_and_reported():
    s = make_session()
    bps = BreakpointSet()
    bps.add("W[9][0,0] > 1")
    s.advance("step")
    h = bps.check(s, None)
    assert h is not None and "disabled" in h.explanation and not bps.items[0].enabled
    assert np.isfinite(s.history.steps.last("loss"))
