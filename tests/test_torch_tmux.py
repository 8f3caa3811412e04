"""End to end: ``tui-trainer torch examples/torch_cnn_digits.py:make`` in a real 80x24 terminal.

The installed command opens the app on the user's own PyTorch file (a tmux
pane is a terminal, so it is not the headless run), steps through FORWARD,
LOSS, BACKPROP and UPDATE and quits cleanly (exit status 0).
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("torch")

from terminal import STARTUP_TIMEOUT, TMUX, Term, at, isolated_env  # noqa: E402

CMD = shutil.which("tui-trainer")
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "torch_cnn_digits.py"

pytestmark = pytest.mark.skipif(
    TMUX is None or CMD is None, reason="needs tmux and the installed tui-trainer command"
)


@pytest.fixture
def term(tmp_path: Path) -> Iterator[Term]:
    assert CMD is not None
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in isolated_env(tmp_path).items())
    command = (
        f"cd {shlex.quote(str(tmp_path))} && env {env} {shlex.quote(CMD)} torch "
        f"{shlex.quote(str(EXAMPLE) + ':make')}; echo EXITED $?; sleep 60"
    )
    t = Term(command, name="torch")
    try:
        # importing torch and running the user's file take longer than a scenario
        t.wait_for(at(0, "start"), STARTUP_TIMEOUT * 4)
        yield t
    finally:
        t.kill()


def test_the_cnn_steps_through_every_phase_and_quits(term: Term) -> None:
    screen = term.screen()
    assert "Conv2d 1->8 k3x3" in screen and "Linear 256->10" in screen  # the user's modules
    term.send("n")
    screen = term.wait_for(at(0, "FORWARD"))
    assert "(7/7) ->" in screen  # the phase ran through the last of 7 modules
    term.send("n")
    term.wait_for(at(0, "LOSS"))
    term.send("n")
    screen = term.wait_for(at(0, "BACKPROP"))
    assert "0 (1/7) <-" in screen  # backprop ended at the first module
    term.send("n")
    term.wait_for(at(0, "UPDATE"))
    term.send("s")  # into the next step: paused in the first module's forward hook
    screen = term.wait_for(at(1, "FORWARD"))
    assert "0 (1/7) ->" in screen
    term.send("q")  # a step was made: the app asks, then quits mid-step without hanging
    term.wait_for(r"Quit\? The model keeps its weights as of step 1")
    term.send("y")
    assert term.wait_exit() == 0


DEBUG_SCRIPT = """
import sys, torch
sys.path.insert(0, {examples!r})
from torch_mlp import make
from tui_trainer.torch import debug

spec = make()
model = spec["model"]
start = {{k: v.clone() for k, v in model.state_dict().items()}}
s = debug(model, spec["loss_fn"], spec["optimizer"], train=spec["train"], val=spec["val"],
          batch_size=32, epochs=2, breakpoints=["step >= 3"])
changed = any(not torch.equal(v, start[k]) for k, v in model.state_dict().items())
hooks = any(m._forward_hooks for m in model.modules())
print(f"RETURNED step={{s.step}} changed={{changed}} hooks={{hooks}} closed={{s.closed}}")
"""


def test_debug_returns_when_the_user_quits_with_the_weights_left_there(tmp_path: Path) -> None:
    import sys

    script = tmp_path / "train.py"
    script.write_text(DEBUG_SCRIPT.format(examples=str(EXAMPLE.parent)))
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in isolated_env(tmp_path).items())
    command = (
        f"cd {shlex.quote(str(tmp_path))} && env {env} {shlex.quote(sys.executable)} "
        f"{shlex.quote(str(script))}; echo EXITED $?; sleep 60"
    )
    term = Term(command, name="torchdebug")
    try:
        term.wait_for(at(0, "start"), STARTUP_TIMEOUT * 4)
        term.send("c")  # runs to the breakpoint step >= 3
        term.wait_for(r"BREAKPOINT 'step >= 3' hit")
        term.send("n")  # and into the next step's forward pass
        term.wait_for(at(3, "FORWARD"))
        term.send("q")
        term.wait_for(r"Quit\? The model keeps its weights as of step 3")
        term.send("y")
        screen = term.wait_for(r"EXITED \d+", 30)
        assert "RETURNED step=3 changed=True hooks=False closed=True" in screen
        assert "EXITED 0" in screen
    finally:
        term.kill()
