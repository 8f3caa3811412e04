"""Per-module metrics on a schedule while fast-forwarding (issue 15's overhead goal).

What a breakpoint, a watch or a stop reads is still there, at the same step, as
with every metric recorded at every step; what nothing reads is recorded on the
schedule, and a step without a value says so (NaN, never a number).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # CI installs torch (the test extra); users may not

from test_torch_session import make  # noqa: E402

from tui_trainer.engine.breakpoints import BreakpointSet, Trap  # noqa: E402
from tui_trainer.engine.history import STEP_SCALARS  # noqa: E402
from tui_trainer.engine.layer_view import resolve_module_names  # noqa: E402
from tui_trainer.engine.watches import WatchList  # noqa: E402
from tui_trainer.torch import TorchSession  # noqa: E402
from tui_trainer.torch.schedule import MetricSchedule  # noqa: E402

BATCHES = 5  # make(): 48 samples in batches of 10


def _recorded(s: TorchSession, column: str) -> set[int]:
    v = s.history.steps.column(column)
    return {int(k) for k in np.flatnonzero(~np.isnan(v))}


def _scheduled(s: TorchSession, n: int) -> set[int]:
    sched = s.metric_schedule
    assert sched is not None
    return {k for k in range(n) if sched.due(k) or (k + 1) % BATCHES == 0}


def _reference_rows(epochs: int = 6) -> np.ndarray:
    with make(epochs=epochs) as ref:
        ref.metric_schedule = None
        ref.run()
        return ref.history.steps.rows()


def test_a_run_with_no_conditions_records_the_scheduled_steps_only():
    full = _reference_rows()
    with make(epochs=6) as s:
        assert s.run().kind == "finished"
        n = s.history.steps.n
        want = _scheduled(s, n)
        assert 0 < len(want) < n  # some steps are skipped
        k = len(STEP_SCALARS)
        rows = s.history.steps.rows()
        for col in s.history.steps.columns[k:]:
            if col.startswith("dead_fraction") and col not in ("dead_fraction[2]",):
                continue  # only module 2 (a ReLU) has a dead fraction
            assert _recorded(s, col) == want, col
        # where recorded, bit-identical to everything-every-step; scalars at every step
        np.testing.assert_array_equal(rows[:, :k], full[:, :k])
        have = ~np.isnan(rows)
        np.testing.assert_array_equal(rows[have], full[have])
        # epoch rows (dead fraction over the recorded steps) exist for every epoch
        assert s.history.epochs.n == 6


def _first_step_over(g: np.ndarray, sched: MetricSchedule) -> tuple[int, float]:
    """An unscheduled step k >= 5 and a threshold that the gradient norm passes first there."""
    for k in range(sched.first, len(g)):
        if sched.due(k) or (k + 1) % BATCHES == 0:
            continue
        return k, float(g[k]) * (1 - 1e-9)
    raise AssertionError("no unscheduled step")


@pytest.mark.parametrize("schedule", [True, False])
def test_a_breakpoint_on_a_module_gradient_fires_at_the_same_step(schedule: bool):
    """``grad_norm["4"] > x`` stops at the step where it first holds, the same with the
    schedule as with every metric at every step: what a breakpoint reads is recorded
    at every step. The stop's row is then complete (the stop step is re-run)."""
    full = _reference_rows()
    g = full[:, len(STEP_SCALARS) + 4]  # grad_norm[4]
    k, x = _first_step_over(g, MetricSchedule())
    with make(epochs=6) as s:
        if not schedule:
            s.metric_schedule = None
        s.run(max_steps=k)  # continue from step k: the condition is checked after k first
        bps = BreakpointSet()
        bps.add(resolve_module_names(f'grad_norm["4"] > {x!r}', s.module_names), every=True)
        trap = Trap(bps, s)
        r = trap.run(s)
        assert r.kind == "predicate" and s.step == k + 1
        assert trap.hit is not None and "grad_norm" in trap.hit.explanation
        # the stop step holds every metric, bit-identical (replay not different)
        np.testing.assert_array_equal(s.history.steps.rows()[k], full[k])
        assert s.replay_mismatch is None
        # and the session goes on from there as it would have
        s.run()
        np.testing.assert_array_equal(
            s.history.steps.rows()[:, : len(STEP_SCALARS)], full[:, : len(STEP_SCALARS)]
        )


def test_a_predicate_that_declares_it_reads_nothing_does_not_see_unscheduled_steps():
    """The reverse of the test above: a Python predicate that says it reads no
    per-module metric gets none at unscheduled steps (NaN > x is false), so it
    would stop late. (This is what the condition parsing prevents.)"""
    full = _reference_rows()
    g = full[:, len(STEP_SCALARS) + 4]
    k, x = _first_step_over(g, MetricSchedule())
    with make(epochs=6) as s:
        s.run(max_steps=k)

        def over(ss: TorchSession) -> bool:
            return bool(ss.history.steps.last("grad_norm[4]") > x)

        over.metrics_read = ()  # type: ignore[attr-defined]
        s.run(over)
        assert s.step != k + 1


def test_an_opaque_predicate_gets_every_metric_at_every_step():
    with make(epochs=2) as s:
        s.run(lambda ss: False)
        k = len(STEP_SCALARS)
        rows = s.history.steps.rows()
        assert not np.isnan(rows[:, k : k + 3 * s.n_layers]).any()
        assert _recorded(s, "dead_fraction[2]") == set(range(len(rows)))


def test_a_watch_and_a_dead_fraction_breakpoint_are_recorded_at_every_step():
    with make(epochs=4) as s:
        watches = WatchList()
        watches.add(resolve_module_names('update_ratio["4"]', s.module_names))
        watches.bind(s)
        bps = BreakpointSet()
        bps.add(resolve_module_names('dead_fraction["2"] > 2', s.module_names))
        trap = Trap(bps, s)
        assert trap.run(s).kind == "finished"
        n = s.history.steps.n
        every = set(range(n))
        assert _recorded(s, "update_ratio[4]") == every
        assert _recorded(s, "weight_norm[0]") == every  # same fused norms
        assert _recorded(s, "dead_fraction[2]") == every
        assert _recorded(s, "grad_norm[0]") == _scheduled(s, n)  # nothing reads it
        w = watches.items[0]
        assert [k for k, _ in w.steps] == list(range(1, n + 1))  # keyed by the step after
        assert not any(np.isnan(v) for _, v in w.steps)


def test_a_paused_run_fills_the_row_of_the_step_it_stopped_at():
    full = _reference_rows()
    with make(epochs=6) as s:
        calls = []

        def pause() -> bool:
            calls.append(s.step)
            return s.step == 13

        assert s.run(should_stop=pause).kind == "cancelled"
        assert s.step == 13 and not MetricSchedule().due(12)
        np.testing.assert_array_equal(s.history.steps.rows()[12], full[12])
        assert set(s.deltas) == {n for n, _ in s.model.named_parameters()}  # the update
        assert s.replay_mismatch is None


def test_single_stepping_records_every_metric():
    with make(epochs=2) as s:
        for _ in range(8):
            s.advance("step")
        k = len(STEP_SCALARS)
        assert not np.isnan(s.history.steps.rows()[:, k : k + 3 * s.n_layers]).any()


def test_schedule_arguments_are_checked():
    with pytest.raises(ValueError):
        MetricSchedule(first=-1)
    with pytest.raises(ValueError):
        MetricSchedule(every=0)


def test_the_last_step_of_a_run_records_every_metric_but_a_chunk_of_a_continue_does_not():
    """``run(max_steps=k)`` stops at k: its last step has every metric. The app's
    continue runs chunks of max_steps with a should_stop that go on: their ends are
    not stops (the step a pause stops at is filled instead)."""
    k = len(STEP_SCALARS)
    with make(epochs=6) as s:
        s.run(max_steps=7)
        assert not np.isnan(s.history.steps.rows()[6, k:]).all()
        s.run(max_steps=6, should_stop=lambda: False)  # steps 7..12, 12 unscheduled
        assert np.isnan(s.history.steps.rows()[12, k:]).all()
