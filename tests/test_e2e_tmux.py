"""End to end: the installed ``tui-trainer`` command in a real terminal (tmux).

Each test starts its own tmux server on a private socket (``tmux -L``), so it
never touches a user's tmux sessions, sends keys with ``send-keys`` and reads
the screen with ``capture-pane``. Every wait polls the pane with a timeout.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")
CMD = shutil.which("tui-trainer")

pytestmark = pytest.mark.skipif(
    TMUX is None or CMD is None, reason="needs tmux and the installed tui-trainer command"
)

SCENARIO = """\
name = "e2e"
seed = 0

[data]
kind = "xor"
n_samples = 200
noise = 0.0
val_fraction = 0.2

[model]
hidden = [4]
activation = "tanh"

[training]
lr = 0.1
batch_size = 10
epochs = {epochs}
"""

STARTUP_TIMEOUT = 15.0
KEY_TIMEOUT = 5.0


class Term:
    """A detached 80x24 tmux session running one command."""

    def __init__(self, command: str, width: int = 80, height: int = 24) -> None:
        self.socket = f"tui-trainer-test-{uuid.uuid4().hex[:12]}"
        self.target = "main"
        self._tmux(
            "new-session",
            "-d",
            "-s",
            self.target,
            "-x",
            str(width),
            "-y",
            str(height),
            command,
        )
        path = self._tmux("display-message", "-p", "#{socket_path}", check=False).stdout.strip()
        self.socket_path = Path(path) if path else None

    def _tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert TMUX is not None
        return subprocess.run(
            [TMUX, "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=check,
        )

    def screen(self) -> str:
        r = self._tmux("capture-pane", "-p", "-t", self.target, check=False)
        return r.stdout

    def send(self, *keys: str) -> None:
        for key in keys:
            # -l: literal text, so "N" is a capital N and not a key name
            self._tmux("send-keys", "-t", self.target, "-l", key)

    def wait_for(self, pattern: str, timeout: float = KEY_TIMEOUT) -> str:
        """Poll the pane until ``pattern`` (a regex) shows; return the screen."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if rx.search(text):
                return text
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} not on screen after {timeout} s:\n{text}")

    def status_line(self) -> str:
        for line in self.screen().splitlines():
            if " | epoch " in line and " | step " in line:
                return line
        raise AssertionError(f"no status line on screen:\n{self.screen()}")

    def kill(self) -> None:
        self._tmux("kill-server", check=False)
        if self.socket_path is not None:  # tmux leaves the socket file behind
            self.socket_path.unlink(missing_ok=True)


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "e2e.toml"
    path.write_text(SCENARIO.format(epochs=20), encoding="utf-8")
    return path


def _command(tmp_path: Path, scenario: Path) -> str:
    """The app, then its exit status on screen (the pane stays open to be read)."""
    config = tmp_path / "config"  # no user keymap
    state = tmp_path / "state"  # recovery checkpoints stay in the test's directory
    return (
        f"cd {shlex.quote(str(tmp_path))} && "
        f"env XDG_CONFIG_HOME={shlex.quote(str(config))} "
        f"XDG_STATE_HOME={shlex.quote(str(state))} "
        f"{shlex.quote(str(CMD))} {shlex.quote(str(scenario))}; "
        "echo EXITED $?; sleep 60"
    )


@pytest.fixture
def term(tmp_path: Path, scenario: Path) -> Iterator[Term]:
    t = Term(_command(tmp_path, scenario))
    try:
        t.wait_for(r"e2e \| epoch 1/20 \| step 0 \| .*phase start", STARTUP_TIMEOUT)
        yield t
    finally:
        t.kill()


def test_step_through_phases_and_quit(term: Term) -> None:
    for label in ("FORWARD", "LOSS", "BACKPROP"):
        term.send("n")
        term.wait_for(rf"step 0 \| batch 1/16 \| phase {label}\b")
        assert f"[{label}]" in term.screen()  # the phase bar lights the phase
    term.send("n")
    term.wait_for(r"step 1 \| batch 2/16 \| phase UPDATE\b")

    # f finishes a step: the step counter increases
    term.send("f")
    term.wait_for(r"step 2 \| batch 3/16 \| phase UPDATE\b")
    term.send("f")
    term.wait_for(r"step 3 \| batch 4/16 \| phase UPDATE\b")

    # N steps back to the previous phase
    term.send("n")
    term.wait_for(r"step 3 \| .*phase FORWARD\b")
    term.send("n")
    term.wait_for(r"step 3 \| .*phase LOSS\b")
    term.send("N")
    term.wait_for(r"step 3 \| .*phase FORWARD\b")
    assert "[FORWARD]" in term.screen()
    term.send("N")
    term.wait_for(r"step 3 \| batch 4/16 \| phase UPDATE\b")

    # progress was made: q asks, n keeps the app open, q then y quits cleanly
    term.send("q")
    term.wait_for(r"Quit\? Training progress \(step 3\)")
    term.send("n")
    deadline = time.monotonic() + KEY_TIMEOUT
    while "Quit?" in term.screen():
        assert time.monotonic() < deadline, "the dialog did not close"
        time.sleep(0.05)
    assert "EXITED" not in term.screen()
    term.send("q")
    term.wait_for(r"Quit\?")
    term.send("y")
    term.wait_for(r"EXITED 0\b")


def test_quit_without_progress(term: Term) -> None:
    term.send("q")
    term.wait_for(r"EXITED 0\b")


def test_run_and_pause(tmp_path: Path) -> None:
    path = tmp_path / "long.toml"
    path.write_text(SCENARIO.format(epochs=100000), encoding="utf-8")
    t = Term(_command(tmp_path, path))
    try:
        t.wait_for(r"e2e \| epoch 1/100000 \| step 0 \|", STARTUP_TIMEOUT)
        t.send("c")
        t.wait_for(r"RUNNING")
        t.wait_for(r"step [1-9]\d* \|")  # the status line follows the run
        t.send("p")
        t.wait_for(r"PAUSED", KEY_TIMEOUT)
        step = re.search(r"step (\d+) \|", t.status_line())
        assert step is not None and int(step.group(1)) > 0
        time.sleep(0.3)
        assert f"step {step.group(1)} |" in t.status_line()  # really stopped
        t.send("q")
        t.wait_for(r"Quit\?")
        t.send("y")
        t.wait_for(r"EXITED 0\b")
    finally:
        t.kill()
