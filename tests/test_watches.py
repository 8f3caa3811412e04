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
    wl.bind(s)
    for _ in range(5):
        s.advance("step")
    wl.sample(s)
    assert [k for k, _ in w_loss.history] == [1, 2, 3, 4, 5]
    assert w_loss.value == pytest.approx(s.history.steps.last("loss"))
    assert list(s.history.step_series("loss")) == [v for _, v in w_loss.history]
    assert w_w.value == s.net.layers[0].W[0, 0]
    s.back("step")
    s.back("step")
    wl.sample(s)
    assert [k for k, _ in w_loss.history] == [1, 2, 3]
    with pytest.raises(ConditionError):
        wl.add("loss >")


def test_watches_record_every_step_of_a_fast_forward_and_each_epoch():
    s = make_session(epochs=10)
    wl = WatchList()
    w = wl.add("grad_norm[0] / max(grad_norm[-1], 1e-12)")
    wl.bind(s)
    s.run_to_epoch(3)
    wl.sample(s)
    assert [k for k, _ in w.history] == list(range(1, s.step + 1))
    assert [e for e, _ in w.epochs] == [1, 2, 3]
    g0, g1 = s.history.step_series("grad_norm", 0), s.history.step_series("grad_norm", 2)
    assert [v for _, v in w.history] == pytest.approx(list(g0 / g1))
    # step back into epoch 2: the future is forgotten, replay re-records the same values
    before = list(w.history)
    s.goto((s.step - 5) * s.E + 1)
    wl.sample(s)
    assert list(w.history) == before[: s.step]
    assert [e for e, _ in w.epochs] == [1, 2]
    s.run_to_epoch(3)
    assert list(w.history) == before


def test_watch_history_is_bounded_by_the_step_back_horizon():
    s = make_session(epochs=30, history_steps=20)
    wl = WatchList()
    w = wl.add("loss")
    wl.bind(s)
    s.run(max_steps=50)
    assert [k for k, _ in w.history] == list(range(31, 51))


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


@pytest.mark.parametrize(
    "text",
    [
        "loss",
        "-loss + 2 * accuracy - 1 / 0",
        "0 / 0",
        "grad_norm[0] < 0.01 * grad_norm[-1] or not nonfinite",
        "abs(W[0][1,2]) > 0.1 and epoch >= 1",
        "log10(weight_norm[1]) + max(lr, 0.5)",
        "loss rising for 2 epochs",
        "val_loss != val_loss",
        "true and 1",
    ],
)
def test_bound_condition_gives_what_evaluate_gives(text):
    from tui_trainer.engine.conditions import parse
    from tui_trainer.engine.context import SessionContext

    s = make_session(epochs=4)
    s.run_to_epoch(2)
    s.advance("phase", 2)
    ctx = SessionContext(s)
    c = parse(text)
    a, b = c.evaluate(ctx), c.bound(ctx)()
    assert type(a) is type(b)
    assert a == b or (a != a and b != b)


def test_bound_condition_raises_the_same_error():
    from tui_trainer.engine.conditions import parse
    from tui_trainer.engine.context import SessionContext

    s = make_session()
    c = parse("W[7][0,0] + 1")
    with pytest.raises(ConditionError) as plain:
        c.evaluate(SessionContext(s))
    with pytest.raises(ConditionError) as fast:
        c.bound(SessionContext(s))()
    assert str(plain.value) == str(fast.value)


def test_step_boundary_readers_give_the_live_values():
    """Watches record through StepBoundaryContext's fast readers: at every
    boundary they must read exactly what SessionContext computes there."""
    from tui_trainer.engine.conditions import parse
    from tui_trainer.engine.context import SessionContext, StepBoundaryContext

    s = make_session(epochs=4)
    texts = [
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "grad_norm[0]",
        "grad_norm[-1]",
        "update_ratio[1]",
        "W[0][1,2]",
        "b[-1][0]",
        "W[0][-1,-1]",
    ]
    fast = {t: parse(t).closure(StepBoundaryContext(s)) for t in texts}
    for _ in range(20):  # across an epoch boundary (8 steps per epoch)
        s.advance("step")
        live = SessionContext(s)
        for t in texts:
            a, b = parse(t).evaluate(live), fast[t]()
            assert a == b or (a != a and b != b), t
    # out of range: no fast reader, the general path reports the error
    with pytest.raises(ConditionError):
        parse("W[0][9,9]").bound(StepBoundaryContext(s))()


# Watch expressions made of the language's common parts: compiled for the
# step boundary (engine/watch_fast.py), they must record exactly what the
# general evaluator gives there.
COMPILED = [
    "loss",
    "accuracy",
    "batch_loss",
    "batch_accuracy",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "val_loss - loss",
    "train_loss / batch_loss",
    "val_accuracy - train_accuracy + accuracy",
    "update_ratio[1]",
    "update_ratio[-1] * 1000",
    "grad_norm[0] * 2 + 1",
    "1 - grad_norm[-1]",
    "-W[0][1,1]",
    "+b[-1][0]",
    "b[-1][0] - W[0][0,0] / W[0][-1,-1]",
    "2 * 3 + loss",
    "-(2 - 5) * true",
    "abs(loss - val_loss)",
    "max(grad_norm[0], update_ratio[0])",
    "min(val_loss, 0.5)",
    "log10(loss)",
    "log10(loss - loss)",
    "loss / 0",
    "0 / 0",
    "-loss / (loss - loss)",
    "step + epoch / 10",
    "lr * 2",
    "weight_norm[1] - 1",
    "act_mean[0] + dead_fraction[0]",
    "nonfinite + batch",
]
# these fail the same way at every step (indices outside the network)
FAILING = ["W[0][9,9] + loss", "grad_norm[7] - 1", "update_ratio[5]", "b[-9][0] * 2"]


def _fast_value(plan, s):
    t = s.history.steps
    if plan.column is not None:
        return t.data.item(t.n - 1, plan.column)
    return plan.fn(memoryview(t.data).cast("B").cast("d"), (t.n - 1) * t.data.shape[1])


def test_compiled_watches_give_what_the_general_evaluator_gives():
    from tui_trainer.engine.conditions import parse
    from tui_trainer.engine.context import SessionContext, StepBoundaryContext
    from tui_trainer.engine.watch_fast import compile_watch

    s = make_session(epochs=4)
    plans = {t: compile_watch(parse(t).root, s, StepBoundaryContext(s)) for t in COMPILED}
    assert all(p is not None for p in plans.values())  # all of them take the fast path
    assert plans["loss"].column is not None and plans["update_ratio[1]"].column is not None
    wl = WatchList()
    watches = {t: wl.add(t) for t in COMPILED + FAILING}
    wl.bind(s)
    for _ in range(20):  # across epoch ends: val_* start as nan
        s.advance("step")
        live = SessionContext(s)
        for t in COMPILED:
            a = float(parse(t).evaluate(live))
            b = _fast_value(plans[t], s)
            assert type(b) is float, t
            assert a == b or (a != a and b != b), (t, a, b)
            recorded = watches[t].steps.values[-1]
            assert recorded == a or (a != a and recorded != recorded), t
            assert watches[t].error == "", t
        for t in FAILING:
            with pytest.raises(ConditionError) as plain:
                parse(t).evaluate(live)
            w = watches[t]
            assert math.isnan(w.steps.values[-1]) and w.error == plain.value.message, t
    for t in COMPILED:
        w = watches[t]
        assert [k for k, _ in w.history] == list(range(1, 21))
        assert [k for k, _ in w.epochs] == list(range(1, s.epoch + 1))


def test_compiled_failing_watches_never_return_a_value():
    """An expression the general evaluator rejects either is not compiled
    or raises in its compiled form (then the recorder asks the evaluator)."""
    from tui_trainer.engine.conditions import parse
    from tui_trainer.engine.context import StepBoundaryContext
    from tui_trainer.engine.watch_fast import compile_watch

    s = make_session(epochs=4)
    s.advance("step")
    for t in FAILING:
        plan = compile_watch(parse(t).root, s, StepBoundaryContext(s))
        if plan is not None:
            with pytest.raises(Exception):  # noqa: B017 - any failure goes to the evaluator
                _fast_value(plan, s)


def test_watches_recorded_after_a_step_back_and_a_new_watch():
    s = make_session(epochs=4)
    wl = WatchList()
    w = wl.add("val_loss - loss")
    wl.bind(s)
    s.run(max_steps=12)
    s.goto((s.step - 5) * s.E)  # back 5 steps without sampling the watches
    late = wl.add("grad_norm[0]")
    s.run(max_steps=5)
    assert [k for k, _ in w.history] == list(range(1, 13))
    assert [k for k, _ in late.history] == list(range(8, 13))
    assert [e for e, _ in w.epochs] == list(range(1, s.epoch + 1))
    wl.remove(0)
    s.run(max_steps=1)
    assert [k for k, _ in late.history] == list(range(8, 14))


def test_watches_share_their_steps_yet_keep_their_own_history():
    """The per-step series of one list share the recorded steps: a watch put
    in the list by hand, or a list bound to another session, still records
    exactly the steps it saw."""
    from tui_trainer.engine.conditions import parse
    from tui_trainer.engine.watches import Watch

    s = make_session(epochs=4)
    wl = WatchList()
    a = wl.add("loss")
    wl.bind(s)
    s.run(max_steps=6)
    b = Watch(parse("grad_norm[0]"))
    wl.items.append(b)
    s.run(max_steps=2)
    assert [k for k, _ in a.history] == list(range(1, 9))
    assert [v for _, v in a.history] == list(s.history.step_series("loss"))
    assert [k for k, _ in b.history] == [7, 8] and len(b.history) == 2
    assert [v for _, v in b.history] == list(s.history.step_series("grad_norm", 0)[6:8])
    s.goto(3 * s.E)  # step back to step 3 (replayed from a keyframe): the future is gone
    wl.sample(s)
    assert [k for k, _ in a.history] == [1, 2, 3]
    kept = [k for k, _ in b.history]  # the replayed steps, if any
    assert kept == list(range(4 - len(kept), 4))
    assert [v for _, v in b.history] == list(s.history.step_series("grad_norm", 0)[3 - len(kept) :])
    other = make_session(epochs=4, lr=0.5)
    wl.bind(other)
    other.run(max_steps=2)
    assert [k for k, _ in a.history] == [1, 2] and [k for k, _ in b.history] == [1, 2]
    assert [v for _, v in a.history] == list(other.history.step_series("loss"))
    assert s.on_step is None


# functions of the metric tables alone: their per-step series are read off the
# step table (and the per-epoch one) when asked, not recorded at every step
FROM_TABLES = [
    "loss",
    "batch_accuracy",
    "grad_norm[0]",
    "update_ratio[-1] * 1000",
    "grad_norm[0] / max(grad_norm[-1], 1e-12)",
    "log10(loss - loss)",
    "-loss / (loss - loss)",
    "abs(1 - update_ratio[0]) + 2 * 3",
    "val_loss - loss",
    "train_loss / batch_loss",
    "val_accuracy - train_accuracy + accuracy",
    "min(val_loss, 0.5)",
    "-(2 - 5)",
]


def _same(a: list[tuple[int, float]], b: list[tuple[int, float]]) -> bool:
    return [k for k, _ in a] == [k for k, _ in b] and all(
        x == y or (x != x and y != y) for (_, x), (_, y) in zip(a, b, strict=True)
    )


def test_watches_of_the_tables_are_read_off_them_with_the_recorded_values():
    """A watch of the metric tables records nothing per step, yet its series is
    the one recorded at every step (its twin ``+ 0 * step`` reads the position,
    so is recorded) through epoch ends, step backs, a new timeline, a late
    watch and the step-back horizon."""
    from tui_trainer.engine.watches import RowSeries

    s = make_session(epochs=40, history_steps=25)
    wl = WatchList()
    pairs = [(wl.add(t), wl.add(f"{t} + 0 * step")) for t in FROM_TABLES]
    weight = wl.add("W[0][1,1] - val_loss")
    wl.bind(s)
    for table, recorded in pairs:
        assert isinstance(table.history, RowSeries), table.source
        assert not isinstance(recorded.history, RowSeries), recorded.source
    assert not isinstance(weight.history, RowSeries)

    def check() -> None:
        for table, recorded in pairs:
            assert _same(list(table.history), list(recorded.history)), table.source
            assert _same(list(table.epochs), list(recorded.epochs)), table.source
            assert len(table.history) == len(recorded.history), table.source

    s.run(max_steps=13)  # across epoch ends (4 steps an epoch)
    check()
    s.goto((s.step - 5) * s.E)  # back 5 steps without sampling
    late = [(wl.add(t), wl.add(f"{t} + 0 * step")) for t in ("val_loss * 2", "loss")]
    check()
    s.run(max_steps=3)
    pairs += late
    check()
    assert [k for k, _ in late[0][0].history] == list(range(9, 12))
    s.goto(6 * s.E)
    wl.sample(s)
    check()
    s.set_hyper(lr=0.3, batch_size=8)  # another timeline: other epoch ends
    s.run(max_steps=30)
    check()
    assert [k for k, _ in pairs[0][0].history] == list(range(12, 37))  # the horizon
    s.goto(20 * s.E)
    wl.sample(s)
    s.run(max_steps=2)
    check()


def test_watches_of_the_tables_read_off_them_through_a_divergence():
    """Values overflowing to inf and NaN on the way to a NaN/Inf (which ends no
    step: nothing is recorded for it) read off the tables as recorded."""
    s = make_session(epochs=50, lr=1e6, loss="mse")
    wl = WatchList()
    texts = (
        "loss",
        "val_loss - loss",
        "loss * loss * loss",
        "log10(-loss)",
        "loss / (loss - loss)",
    )
    pairs = [(wl.add(t), wl.add(f"{t} + 0 * step")) for t in texts]
    wl.bind(s)
    s.run(max_steps=200)
    assert s.nonfinite is not None and s.step > 4
    for table, recorded in pairs:
        assert len(table.history) == s.step
        assert _same(list(table.history), list(recorded.history)), table.source
        assert _same(list(table.epochs), list(recorded.epochs)), table.source
    assert any(math.isinf(v) for _, v in pairs[2][0].history)


def test_watches_read_the_state_a_reverse_search_adopted():
    """A search replaying from the start hands the session another network and
    other tables (``adopt``): the watches then read those, not the old ones."""
    from tui_trainer.engine.conditions import parse
    from tui_trainer.engine.reverse import adopt, last_change

    s = make_session(epochs=400, history_steps=20)
    wl = WatchList()
    weight, val, val_recorded = (
        wl.add(t) for t in ("W[0][1,1]", "val_loss", "val_loss + 0 * step")
    )
    wl.bind(s)
    s.run(max_steps=300)
    r = last_change(s, parse("loss"), change=0.0, from_start=True)
    assert r.found is not None and r.session is not s  # replayed on a copy
    adopt(s, r.session)
    wl.sample(s)
    s.run(max_steps=40)
    assert list(weight.history)[-1] == (s.step, s.net.layers[0].W[1, 1])
    last_val = s.history.epochs.last("val_loss")
    assert list(val.history)[-1] == list(val_recorded.history)[-1] == (s.step, last_val)
    assert [v for _, v in val.epochs] == [v for _, v in val_recorded.epochs]
    assert val.epochs.values[-1] == last_val
