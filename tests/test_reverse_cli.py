"""``tui-trainer find``: exit codes, --json, and agreement with ``run --break``
and with a forward Trap on the same condition."""

from __future__ import annotations

import json
import re

import pytest

from tests.test_cli import cli
from tui_trainer.cli import load
from tui_trainer.engine.breakpoints import BreakpointSet, Trap


def find_json(*args: object) -> tuple[int, dict]:
    proc = cli("find", *args, "--json")
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def trap_stop(name: str, condition: str, phase: str = "step") -> tuple[str, int, int | None]:
    """How a forward run with only this breakpoint ends: (kind, steps done, position)."""
    _, s = load(name)
    bps = BreakpointSet()
    bps.add(condition, phase)
    trap = Trap(bps, s)
    r = trap.run(s)
    return r.kind, s.step, s.position if trap.hit is not None or r.kind == "diverged" else None


def test_find_agrees_with_run_break_on_lr_too_large_loss() -> None:
    code, out = find_json("lr_too_large", "loss > 10")
    assert code == 0 and out["found"] and out["condition"] == "loss > 10"
    run = cli("run", "lr_too_large", "--break", "-q")
    assert run.returncode == 4, run.stderr
    assert "'loss > 10'" in run.stdout
    steps = int(re.search(r"step (\d+)", run.stdout).group(1))  # type: ignore[union-attr]
    assert out["steps_done"] == steps
    kind, done, pos = trap_stop("lr_too_large", "loss > 10")
    assert (kind, done, pos) == ("predicate", out["steps_done"], out["position"])
    assert out["values"] == {"loss > 10": 1.0} and "batch_loss" in out["explanation"]


def test_find_nonfinite_agrees_with_a_forward_run() -> None:
    # lr_too_large oscillates without ever becoming non-finite in its 50 epochs
    code, out = find_json("lr_too_large", "nonfinite")
    kind, done, _ = trap_stop("lr_too_large", "nonfinite")
    assert kind == "finished" and code == 1 and not out["found"] and out["steps_done"] == done
    # exploding_gradients does: find names the step, phase and layer `run` reports
    code, out = find_json("exploding_gradients", "nonfinite")
    run = cli("run", "exploding_gradients", "--break", "-q")
    assert run.returncode == 3
    m = re.search(r"step (\d+), phase (\w+) layer (\d+)", run.stderr)
    assert m is not None, run.stderr
    assert code == 0 and (out["step"], out["at"], out["layer"]) == (
        int(m.group(1)),
        m.group(2),
        int(m.group(3)),
    )


def test_find_agrees_with_run_break_on_overfitting_validation_breakpoint() -> None:
    cond = "val_loss rising for 10 epochs"
    code, out = find_json("overfitting", cond, "--phase", "epoch")
    run = cli("run", "overfitting", "--break", "-q")
    assert code == 0 and run.returncode == 4, run.stderr
    steps = int(re.search(r"step (\d+)", run.stdout).group(1))  # type: ignore[union-attr]
    assert out["steps_done"] == steps and out["epoch"] == int(
        re.search(r"(\d+)/\d+ epochs done", run.stdout).group(1)  # type: ignore[union-attr]
    )


def test_find_text_output_and_not_found() -> None:
    proc = cli("find", "xor", "loss < -1", "--epochs", "2")
    assert proc.returncode == 1
    assert "never became true" in proc.stdout and "2/2 epochs done" in proc.stdout
    proc = cli("find", "lr_too_large", "loss > 10")
    assert proc.returncode == 0
    assert "'loss > 10' became true at step" in proc.stdout and "after UPDATE" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["xor", "loss >"], "expected a number or name"),
        (["xor", "grad_norm[9] > 1"], "out of range"),
        (["xor", "loss > 1", "--phase", "sideways"], "invalid choice"),
        (["no_such_scenario", "loss > 1"], "no_such_scenario"),
        (["xor"], "condition"),
        (["xor", "loss > 1", "--epochs", "0"], ">= 1"),
    ],
)
def test_find_bad_input_exits_2_with_one_message(args: list[str], message: str) -> None:
    proc = cli("find", *args)
    assert proc.returncode == 2
    assert message in proc.stderr and proc.stdout == ""


def test_find_help_documents_exit_codes() -> None:
    proc = cli("find", "--help")
    assert proc.returncode == 0 and "Exit 0 found, 1 not found, 2 bad input" in proc.stdout
