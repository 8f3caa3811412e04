"""Breakpoints fire when their condition becomes true (issue 12, item 2).

``c`` from a hit must run on until the condition has been false and becomes
true again (or another breakpoint fires, or the run ends), never stop one step
later because the condition still holds. Opt-ins: ``every`` (stop at every
check where it holds) and ``ignore`` (skip that many hits).
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from tui_trainer.cli import load
from tui_trainer.engine.breakpoints import BreakpointSet, Trap
from tui_trainer.scenario import ScenarioError, builtin_dir, load_scenario


def _continue(bps: BreakpointSet, s) -> tuple[str, int, object]:  # noqa: ANN001
    t = Trap(bps, s)
    r = t.run(s)
    return r.kind, s.step, t.hit


def _stops(name: str, cond: str, n: int = 4, **kw: object) -> list[tuple[str, int]]:
    _, s = load(name)
    bps = BreakpointSet()
    bps.add(cond, **kw)  # type: ignore[arg-type]
    out = []
    for _ in range(n):
        kind, step, _hit = _continue(bps, s)
        out.append((kind, step))
        if kind != "predicate":
            break
    return out


def test_xor_val_accuracy_second_continue_does_not_stop_one_step_later():
    _, s = load("xor")
    bps = BreakpointSet()
    bps.add("val_accuracy > 0.9")
    kind, first, hit = _continue(bps, s)
    assert kind == "predicate" and hit is not None and "val_accuracy" in hit.explanation
    kind, second, _ = _continue(bps, s)
    assert second > first + 1
    if kind == "predicate":
        # a new edge: val_accuracy was <= 0.9 at some epoch between the two hits
        va = s.history.epoch_series("val_accuracy")
        steps = s.history.epoch_series("step")
        between = va[(steps > first) & (steps < second)]
        assert (between <= 0.9).any()
    else:
        assert kind == "finished"
    assert bps.items[0].hits == (2 if kind == "predicate" else 1)


def test_lr_too_large_loss_above_10_stops_only_on_rising_edges():
    _, s = load("lr_too_large")
    bps = BreakpointSet()
    bps.add("loss > 10")
    stops = []
    for _ in range(6):
        kind, step, _ = _continue(bps, s)
        if kind != "predicate":
            break
        stops.append(step)
    assert stops
    loss = s.history.step_series("loss")
    for step in stops:
        assert loss[step - 1] > 10  # true at the stop ...
        before = loss[step - 2] if step >= 2 else math.nan
        assert not before > 10  # ... and false at the check before it


def test_every_time_mode_stops_at_each_step_while_true():
    stops = _stops("lr_too_large", "loss > 10", n=4, every=True)
    steps = [step for kind, step in stops if kind == "predicate"]
    assert len(steps) >= 2
    _, s = load("lr_too_large")
    s.run_to_step(steps[-1])
    loss = s.history.step_series("loss")
    for a, b in zip(steps, steps[1:], strict=False):
        assert loss[b - 1] > 10
        assert not any(v > 10 for v in loss[a : b - 1])  # no step where it held was skipped
    # it stays above 10 from step 8 on: every-time stops there step after step
    assert any(b == a + 1 for a, b in zip(steps, steps[1:], strict=False))


def test_ignore_skips_hits_and_counts_them():
    _, s1 = load("xor")
    b1 = BreakpointSet()
    b1.add("loss > 0.5")
    edges = [_continue(b1, s1)[1] for _ in range(3)]
    _, s = load("xor")
    bps = BreakpointSet()
    bp = bps.add("loss > 0.5", ignore=2)
    assert _continue(bps, s)[:2] == ("predicate", edges[2])
    assert bp.ignore == 0 and bp.hits == 3  # two skipped (counted, like gdb), the third stopped


def test_condition_true_when_the_run_starts_waits_for_a_new_edge():
    _, s = load("xor")
    s.run_to_step(5)
    bps = BreakpointSet()
    bps.add("step >= 3")  # already true here: never becomes true again
    kind, step, _ = _continue(bps, s)
    assert kind == "finished" and bps.items[0].hits == 0


def test_step_breakpoint_counted_once_beside_a_phase_breakpoint():
    _, s = load("xor")
    bps = BreakpointSet()
    bps.add("step >= 2")
    bps.add("loss > 1e9", phase="loss")  # never true; forces the per-event path
    kind, step, hit = _continue(bps, s)
    assert (kind, step) == ("predicate", 2)
    assert hit is not None and hit.breakpoint is bps.items[0]
    assert bps.items[0].hits == 1


def test_step_back_then_continue_replays_the_same_stops():
    def fresh() -> list[int]:
        _, s = load("lr_too_large")
        bps = BreakpointSet()
        bps.add("loss > 10")
        return [_continue(bps, s)[1] for _ in range(2)]

    a, b = fresh()
    _, s = load("lr_too_large")
    bps = BreakpointSet()
    bps.add("loss > 10")
    assert _continue(bps, s)[1] == a
    assert _continue(bps, s)[1] == b
    s.goto((a - 1) * s.E)  # one step before the first hit, where it was false
    assert _continue(bps, s)[1] == a
    assert _continue(bps, s)[1] == b
    s.goto(b * s.E - s.E // 2)  # inside the step of the second hit
    kind, step, _ = _continue(bps, s)
    assert step == b or step > b  # never earlier than a fresh run would stop
    assert s.history.step_series("loss")[b - 1] > 10


def _scenario_with(tmp_path: Path, breakpoints: str) -> Path:
    text = (builtin_dir() / "xor.toml").read_text(encoding="utf-8")
    text = text.replace("epochs = 100", f"epochs = 100\nbreakpoints = [{breakpoints}]")
    p = tmp_path / "x.toml"
    p.write_text(text, encoding="utf-8")
    return p


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui_trainer", "run", *args, "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_run_break_ignore_and_every_from_a_scenario(tmp_path: Path):
    p = _scenario_with(tmp_path, '{ condition = "epoch >= 3", ignore = 1 }')
    r = _run(str(p), "--break")
    assert r.returncode == 0, r.stderr  # its one edge was ignored: ran to the end
    assert "100/100 epochs done" in r.stdout
    p = _scenario_with(tmp_path, '{ condition = "epoch >= 3", ignore = 1, every = true }')
    r = _run(str(p), "--break")
    assert r.returncode == 4, r.stderr
    assert "step 49," in r.stdout and "stopped at breakpoint 'epoch >= 3'" in r.stdout


def test_run_break_resumed_where_the_condition_holds_runs_on(tmp_path: Path):
    ck = tmp_path / "ck.npz"
    r = _run("xor", "--epochs", "80", "--save", str(ck))
    assert r.returncode == 0, r.stderr
    p = _scenario_with(tmp_path, '"val_accuracy > 0.9"')
    r = _run(str(p), "--break", "--resume", str(ck), "--epochs", "100")
    # before: "epoch 80/100, step 1281" and exit 4, one step after resuming
    assert "step 1281," not in r.stdout
    if r.returncode == 4:  # only at a new edge, where val_accuracy had dropped to 0.9
        assert "stopped at breakpoint 'val_accuracy > 0.9'" in r.stdout
    else:
        assert r.returncode == 0, r.stderr
        assert "100/100 epochs done" in r.stdout


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ('{ condition = "loss > 1", ignore = -1 }', "ignore: must be >= 0"),
        ('{ condition = "loss > 1", ignore = "2" }', "ignore: expected an integer"),
        ('{ condition = "loss > 1", every = "yes" }', "every: expected true or false"),
    ],
)
def test_scenario_breakpoint_fields_are_validated(tmp_path: Path, item: str, message: str):
    p = _scenario_with(tmp_path, item)
    with pytest.raises(ScenarioError) as e:
        load_scenario(p)
    text = str(e.value)
    assert "x.toml" in text and message in text


def test_scenario_breakpoint_fields_round_trip(tmp_path: Path):
    p = _scenario_with(tmp_path, '{ condition = "loss > 1", ignore = 2, every = true }')
    sc = load_scenario(p)
    (bp,) = sc.breakpoints
    assert (bp.ignore, bp.every) == (2, True)
    again = tmp_path / "again.toml"
    again.write_text(sc.to_toml(relative_to=tmp_path), encoding="utf-8")
    assert load_scenario(again).breakpoints == sc.breakpoints
