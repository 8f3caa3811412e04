"""Reverse execution (engine/reverse.py): every search is checked against a
forward computation on this machine (never against a recorded path)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.helpers import make_session
from tui_trainer.cli import breakpoint_set, load
from tui_trainer.engine.breakpoints import BreakpointSet, Trap
from tui_trainer.engine.conditions import parse
from tui_trainer.engine.reverse import (
    adopt,
    find,
    first_bad_value,
    last_change,
    reverse_continue,
)
from tui_trainer.engine.session import Session
from tui_trainer.engine.watches import WatchList
from tui_trainer.scenario import builtin_names

MAX_STEPS = 900  # inside the default 1,000-step history


def forward_hits(make: object, bps: BreakpointSet, end: int) -> list[int]:
    """Every pause forward ``c`` stops at before ``end``: continue, continue, ..."""
    s = make()  # type: ignore[operator]
    hits = []
    while s.position < end:
        trap = Trap(bps, s)
        r = trap.run(s, max_steps=end // s.E + 1 - s.step)
        if r.kind != "predicate" or trap.hit is None or s.position >= end:
            break
        hits.append(s.position)
    return hits


def forward_to(make: object, bps: BreakpointSet, target: int) -> Session:
    """A fresh forward run stopped (by continuing) exactly at ``target``."""
    s = make()  # type: ignore[operator]
    while s.position < target:
        Trap(bps, s).run(s, max_steps=target // s.E + 1 - s.step)
    assert s.position == target
    return s


def assert_same_state(a: Session, b: Session) -> None:
    assert a.position == b.position
    for p, q in zip(a.net.params(), b.net.params(), strict=True):
        assert np.array_equal(p, q)
    sa, sb = a.opt.get_state(), b.opt.get_state()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert np.array_equal(sa[k], sb[k])
    assert np.array_equal(a.history.steps.rows(), b.history.steps.rows(), equal_nan=True)
    assert np.array_equal(a.history.epochs.rows(), b.history.epochs.rows(), equal_nan=True)
    ra, rb = a.rec, b.rec
    assert (ra.step, ra.epoch) == (rb.step, rb.epoch)
    assert ra.loss == rb.loss or (math.isnan(ra.loss) and math.isnan(rb.loss))
    for x, y in ((ra.x, rb.x), (ra.out, rb.out), (ra.dout, rb.dout)):
        assert (x is None) == (y is None)
        if x is not None:
            assert np.array_equal(x, y)
    for la, lb in zip(a.net.layers, b.net.layers, strict=True):
        for name in ("z", "a", "dW", "db"):
            x, y = getattr(la, name), getattr(lb, name)
            assert (x is None) == (y is None)
            if x is not None:
                assert np.array_equal(x, y)


SCENARIOS_WITH_BREAKPOINTS = [n for n in builtin_names() if breakpoint_set(load(n)[0]).active()]


def test_there_are_scenarios_with_breakpoints() -> None:
    assert {"lr_too_large", "overfitting", "divergence"} <= set(SCENARIOS_WITH_BREAKPOINTS)


@pytest.mark.parametrize("name", SCENARIOS_WITH_BREAKPOINTS)
def test_reverse_continue_from_the_end_lands_where_a_forward_scan_does(name: str) -> None:
    sc, s = load(name)
    bps = breakpoint_set(sc)
    s.run(max_steps=MAX_STEPS)
    end = s.position

    def fresh() -> Session:
        return load(name)[1]

    hits = forward_hits(fresh, breakpoint_set(sc), end)
    result = reverse_continue(s, bps)
    assert result.complete and not result.cancelled
    if not hits:
        assert result.found is None and s.position == end
        return
    assert result.found is not None and result.session is s
    assert s.position == result.found.position == hits[-1]
    assert_same_state(s, forward_to(fresh, breakpoint_set(sc), hits[-1]))
    # the user's breakpoints were not counted or changed
    assert all(b.hits == 0 for b in bps.items)
    # again: the hit before that one
    if len(hits) > 1:
        again = reverse_continue(s, bps)
        assert again.found is not None and s.position == hits[-2]


@pytest.mark.parametrize("seed", range(6))
def test_reverse_continue_with_phase_breakpoints_on_random_configs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    kw = dict(
        lr=float(rng.choice([0.05, 0.5, 3.0])),
        batch_size=int(rng.choice([8, 16, 80])),
        epochs=int(rng.integers(2, 6)),
        seed=int(rng.integers(0, 100)),
    )
    phase = str(rng.choice(["any", "forward", "loss", "backward", "update", "step"]))
    text = str(rng.choice(["batch_loss > 0.6", "grad_norm[0] > 0.3", "loss < 0.65"]))

    def fresh() -> Session:
        return make_session(**kw)

    bps = BreakpointSet()
    bps.add(text, phase)
    s = fresh()
    s.run(max_steps=int(rng.integers(5, 40)))
    s.advance("layer", int(rng.integers(0, s.E)))  # stop inside a step too
    end = s.position
    hits = forward_hits(fresh, bps, end)
    result = reverse_continue(s, bps)
    if hits:
        assert result.found is not None and s.position == hits[-1]
        assert_same_state(s, forward_to(fresh, bps, hits[-1]))
    else:
        assert result.found is None and s.position == end


def test_find_agrees_with_a_forward_scan_on_random_configs() -> None:
    rng = np.random.default_rng(7)
    for _ in range(8):
        kw = dict(lr=float(rng.choice([0.1, 1.0, 8.0])), epochs=4, seed=int(rng.integers(50)))
        text = str(rng.choice(["batch_loss < 0.5", "grad_norm[1] > 1", "nonfinite", "loss > 1"]))
        phase = str(rng.choice(["step", "backward", "any"]))
        bps = BreakpointSet()
        bps.add(text, phase)
        ref = make_session(**kw)
        trap = Trap(bps, ref)
        r = trap.run(ref)
        pause, outcome = find(make_session(**kw), parse(text), phase)
        if trap.hit is not None:
            assert pause is not None and pause.position == ref.position
        elif r.kind == "diverged" and parse(text).is_true(_ctx(ref)):
            assert pause is not None and pause.position == ref.position  # nonfinite
        else:
            assert pause is None and outcome in ("finished", "diverged")


def _ctx(s: Session) -> object:
    from tui_trainer.engine.context import SessionContext

    return SessionContext(s)


def test_reverse_continue_beyond_the_history_window_by_replay() -> None:
    def fresh() -> Session:
        return make_session(history_steps=16, epochs=40, lr=0.5)

    bps = BreakpointSet()
    bps.add("step == 12")  # true once, long before the window
    s = fresh()
    s.run(max_steps=200)
    end = s.position
    assert s.oldest_position > 12 * s.E
    window = reverse_continue(s, bps)
    assert window.found is None and not window.complete and s.position == end
    full = reverse_continue(s, bps, from_start=True)
    assert full.complete and full.found is not None and full.session is not s
    assert full.found.position == 12 * s.E == forward_hits(fresh, bps, end)[-1]
    adopt(s, full.session)
    assert_same_state(s, forward_to(fresh, bps, 12 * s.E))
    assert s.state_arrays().keys() == fresh().state_arrays().keys()


def test_a_replay_search_can_be_cancelled_and_leaves_the_session_alone() -> None:
    s = make_session(history_steps=16, epochs=40)
    s.run(max_steps=150)
    here = s.position
    before = [p.copy() for p in s.net.params()]
    bps = BreakpointSet()
    bps.add("step == 3")
    seen: list[tuple[int, int]] = []
    r = reverse_continue(
        s,
        bps,
        from_start=True,
        should_stop=lambda: bool(seen),
        progress=lambda d, t: seen.append((d, t)),
    )
    assert r.cancelled and r.found is None and r.session is s and s.position == here
    assert all(np.array_equal(p, q) for p, q in zip(before, s.net.params(), strict=True))
    assert seen and seen[0][1] == here


def test_reverse_watch_finds_the_last_big_change_of_a_weight() -> None:
    s = make_session(lr=0.3, epochs=6)
    w0 = float(s.net.layers[0].W[1, 2])
    watches = WatchList()
    watches.add("W[0][1,2]")
    watches.bind(s)
    s.run(max_steps=60)
    s.advance("phase")  # look from inside a step
    pairs = [(0, w0), *watches.items[0].steps]
    diffs = [(k, abs(v - pv)) for (_, pv), (k, v) in zip(pairs, pairs[1:], strict=False)]
    threshold = sorted(d for _, d in diffs)[-5]  # a few steps changed more than this
    want = max(k for k, d in diffs if d > threshold)
    result = last_change(s, parse("W[0][1,2]"), change=threshold)
    assert result.found is not None
    assert result.found.steps_done == want and s.position == want * s.E and s.pos == 0
    assert float(s.net.layers[0].W[1, 2]) == dict(pairs)[want]
    # crossing: the last step whose value went from one side of c to the other
    c = float(np.median([v for _, v in pairs]))
    cross = max(k for (_, pv), (k, v) in zip(pairs, pairs[1:], strict=False) if (pv < c) != (v < c))
    result = last_change(s, parse("W[0][1,2]"), crossing=c)
    assert result.found is not None and result.found.steps_done == cross


def test_reverse_watch_needs_one_rule() -> None:
    s = make_session()
    with pytest.raises(ValueError):
        last_change(s, parse("loss"))
    with pytest.raises(ValueError):
        last_change(s, parse("loss"), change=-1)


def test_first_bad_value_is_the_first_pause_a_forward_layer_by_layer_check_finds() -> None:
    sc, s = load("exploding_gradients")
    s.run()
    assert s.nonfinite is not None
    result = first_bad_value(s)
    assert result.found is not None and result.complete
    found = result.found
    # forward reference: step event by event from the start, checking every array
    ref = load("exploding_gradients")[1]
    while True:
        ev = ref.advance("layer")
        assert ev is not None
        arrays = []
        ly = ref.net.layers[ev.layer] if ev.layer is not None else None
        if ev.nonfinite:
            break
        if ly is not None and ev.phase.label == "FORWARD":
            arrays = [ly.z, ly.a]
        elif ly is not None:
            arrays = [ly.dW, ly.db]
        elif ev.phase.label == "UPDATE":
            arrays = [a for lay in ref.net.layers for a in (lay.W, lay.b)]
        if any(not np.max(np.abs(a)) <= 1e6 for a in arrays):
            break
    assert found.position == ref.position
    assert_same_state(s, ref)
    # a lower limit finds an earlier (or the same) pause
    lower = first_bad_value(s, 1e3)
    assert lower.found is not None and lower.found.position <= found.position


def test_first_bad_value_none_when_training_stays_small() -> None:
    s = make_session(epochs=2)
    s.run()
    here = s.position
    assert first_bad_value(s).found is None and s.position == here


def test_replay_from_a_checkpoint_starts_there(tmp_path: object) -> None:
    src = make_session(history_steps=16, epochs=30)
    src.run(max_steps=20)
    arrays = src.state_arrays()
    s = make_session(history_steps=16, epochs=30)
    s.load_state_arrays(arrays)
    s.run(max_steps=100)
    bps = BreakpointSet()
    bps.add("step == 25")
    r = reverse_continue(s, bps, from_start=True)
    assert r.found is not None and r.found.position == 25 * s.E
    ref = make_session(history_steps=16, epochs=30)
    ref.run(max_steps=25)
    ref2 = r.session
    for p, q in zip(ref.net.params(), ref2.net.params(), strict=True):
        assert np.array_equal(p, q)
