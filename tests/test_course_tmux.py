"""The installed ``tui-trainer learn`` in tmux at 80x24: lesson 1 walked from the
menu to its end as a learner would, and its progress saved for the next start."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from terminal import KEY_TIMEOUT, STARTUP_TIMEOUT, TMUX, Term, installed_command, isolated_env

CMD = installed_command()

pytestmark = pytest.mark.skipif(
    TMUX is None or CMD is None, reason="needs tmux and the installed tui-trainer command"
)


def learn_command(root: Path) -> str:
    assert CMD is not None
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in isolated_env(root).items())
    return (
        f"cd {shlex.quote(str(root))} && env {env} {shlex.quote(CMD)} learn; "
        "echo EXITED $?; sleep 60"
    )


def test_learn_walks_lesson_1_at_80x24(tmp_path: Path) -> None:
    t = Term(learn_command(tmp_path), "course")
    try:
        t.wait_for(r"1\. The four-step cycle", STARTUP_TIMEOUT)
        t.press("Enter")
        t.wait_for(r"step 1/13", STARTUP_TIMEOUT)
        t.send("]")
        t.wait_for(r"Predict first")
        t.send("2")
        t.wait_for(r"That's right")
        t.send("]")
        t.wait_for(r"step 3/13")
        t.send("s")
        t.wait_for(r"FORWARD\]")
        assert "step 3/13" in t.screen()  # layer 1 only: the lesson waits for layer 2
        t.send("s")
        t.wait_for(r"step 4/13")  # the until fired
        t.send("n")
        t.wait_for(r"step 5/13")
        screen = t.wait_for(r"The loss of this batch is \d")
        t.send("]")
        t.wait_for(r"step 6/13")
        t.send("n")
        t.wait_for(r"Predict first")
        t.send("2")
        t.wait_for(r"That's right")
        t.send("]")
        t.wait_for(r"step 8/13")
        t.send("]")
        t.wait_for(r"step 9/13")
        t.send("n")
        t.wait_for(r"step 10/13")
        screen = t.wait_for(r"the new weight is -?\d")
        t.send("]")
        t.wait_for(r"Predict first")
        t.send("3")
        t.wait_for(r"That's right")
        t.send("]")
        t.wait_for(r"step 12/13")
        t.send("c")
        screen = t.wait_for(r"step 13/13", 60)
        assert "epoch 20/100" in screen  # the run stopped where the lesson moved on
        t.send("]")
        t.wait_for(r"Lesson complete")
        t.send("q")
        t.wait_for(r"Quit\?")
        t.send("y")
        screen = t.wait_for(r"✓ 1\. The four-step cycle", STARTUP_TIMEOUT)
        for line in screen.splitlines():
            assert len(line.rstrip()) <= 80
        t.send("q")
        t.wait_for(r"EXITED 0\b", KEY_TIMEOUT)
    finally:
        t.kill()
    progress = json.loads((tmp_path / "state" / "tui-trainer" / "course.json").read_text())
    assert progress == {"completed": [1], "last": 1}
