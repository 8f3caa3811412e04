"""Helpers shared by the end-to-end tests: a real terminal (tmux), processes, ports.

``Term`` runs one command in a detached tmux session on a private socket
(``tmux -L``), so it never touches a user's tmux sessions; keys go in with
``send-keys`` and the screen is read with ``capture-pane``. Every wait polls
with a timeout.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

TMUX = shutil.which("tmux")

STARTUP_TIMEOUT = 15.0  # the app's first screen
KEY_TIMEOUT = 5.0  # the effect of one key
SAVE_TIMEOUT = 10.0  # a recovery checkpoint written, the app exited

# At 80 columns the status line keeps its most important fields (step, batch loss,
# epoch, val loss, lr) and leaves the phase to the phase bar on the row above it:
# "  FORWARD  > [LOSS] >  BACKPROP  >  UPDATE   PAUSED" / "epoch 1/20 | step 0 | ...".
STEP_RX = re.compile(r"\bstep (\d+) \|")
BAR_RX = re.compile(r"\[([A-Z]+)!?\](?:.*?layer (\d+)/\d+)?")


def at(step: int, phase: str) -> str:
    """A regex for the screen paused at ``step`` in ``phase`` ("FORWARD", "BACKPROP L1",
    "start"), as a person reads it: the phase lit in the phase bar, the step in the
    status line right below."""
    name, _, layer = phase.partition(" L")
    if name == "start":
        bar = r"(?m)^[^\[\n]*PAUSED[^\n]*"
    else:
        bar = rf"\[{name}\]" + (rf"[^\n]*layer {layer}/" if layer else "")
    return rf"{bar}[^\n]*\n[^\n]*\bstep {step} \|"


def installed_command() -> str | None:
    """The console script next to this interpreter (not a version-manager shim)."""
    here = Path(sys.executable).parent / "tui-trainer"
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    return shutil.which("tui-trainer")


def xor_scenario(name: str, epochs: int = 20, val_fraction: float | None = 0.2) -> str:
    """A small scenario: 2 -> 4 tanh -> 2 on 200 xor points, 16 batches of 10 per epoch
    (with the default validation fraction of 0.2)."""
    val = "" if val_fraction is None else f"val_fraction = {val_fraction}\n"
    return f"""\
name = "{name}"
seed = 0

[data]
kind = "xor"
n_samples = 200
noise = 0.0
{val}
[model]
hidden = [4]
activation = "tanh"

[training]
lr = 0.1
batch_size = 10
epochs = {epochs}
"""


def write_scenario(path: Path, name: str | None = None, **kw: Any) -> Path:
    """Write ``xor_scenario`` (named after the file unless told) to ``path``."""
    path.write_text(xor_scenario(name or path.stem, **kw), encoding="utf-8")
    return path


def isolated_env(root: Path) -> dict[str, str]:
    """XDG directories under ``root``: no user keymap, recovery checkpoints stay there."""
    return {"XDG_STATE_HOME": str(root / "state"), "XDG_CONFIG_HOME": str(root / "config")}


def app_command(cmd: str, root: Path, scenario: Path, **env: str) -> str:
    """A shell command: the app in ``root`` with ``isolated_env(root)`` (plus ``env``),
    then its exit status on screen (``EXITED <status>``); the pane stays open to be read."""
    assigns = " ".join(f"{k}={shlex.quote(v)}" for k, v in {**isolated_env(root), **env}.items())
    return (
        f"cd {shlex.quote(str(root))} && env {assigns} "
        f"{shlex.quote(cmd)} {shlex.quote(str(scenario))}; echo EXITED $?; sleep 60"
    )


def wait(
    cond: Callable[[], object],
    timeout: float,
    message: str | Callable[[], str],
    interval: float = 0.05,
) -> None:
    """Poll ``cond`` until it is true; fail with ``message`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(message if isinstance(message, str) else message())
        time.sleep(interval)


class Term:
    """A detached tmux session (80x24 unless ``size`` says) whose pane runs one command.

    With ``app_command`` the pane's shell prints ``EXITED <status>`` when the
    app ends and keeps the pane open, so the exit status can be read.
    """

    def __init__(self, command: str, name: str = "test", size: tuple[int, int] = (80, 24)) -> None:
        self.socket = f"tui-trainer-{name}-{uuid.uuid4().hex[:12]}"
        self.target = "main"
        w, h = str(size[0]), str(size[1])
        if size != (80, 24):
            # Under pytest the pane inherits COLUMNS=80 LINES=24, which Textual
            # believes over the pane's real size.
            command = f"unset COLUMNS LINES; {command}"
        self._tmux("new-session", "-d", "-s", self.target, "-x", w, "-y", h, command)
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
        return self._tmux("capture-pane", "-p", "-t", self.target, check=False).stdout

    def send(self, *keys: str) -> None:
        for key in keys:
            # -l: literal text, so "N" is a capital N and not a key name
            self._tmux("send-keys", "-t", self.target, "-l", key)

    def press(self, *names: str) -> None:
        """Keys by tmux name (``C-p``, ``NPage``, ``Escape``), all in one write."""
        self._tmux("send-keys", "-t", self.target, *names)

    def wait_for(self, pattern: str, timeout: float = KEY_TIMEOUT, why: str = "") -> str:
        """Poll the pane until ``pattern`` (a regex) shows; return the screen."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if rx.search(text):
                return text
            time.sleep(0.05)
        message = f"{pattern!r} not on screen after {timeout} s:\n{text}"
        raise AssertionError(f"{message}\n{why}" if why else message)

    def status_line(self) -> str:
        for line in self.screen().splitlines():
            if "epoch " in line and " | step " in line:
                return line
        raise AssertionError(f"no status line on screen:\n{self.screen()}")

    def status(self) -> tuple[int, str]:
        """(step, phase): the step from the status line, the phase ("BACKPROP L1",
        "start") from the phase bar above it."""
        text = self.screen()
        lines = text.splitlines()
        row = next((i for i, ln in enumerate(lines) if STEP_RX.search(ln)), None)
        assert row is not None and row > 0, f"no status line on screen:\n{text}"
        step = int(STEP_RX.search(lines[row]).group(1))  # type: ignore[union-attr]
        m = BAR_RX.search(lines[row - 1])
        if m is None:
            return step, "start"
        return step, m.group(1) + (f" L{m.group(2)}" if m.group(2) else "")

    def pane_pid(self) -> int:
        return int(self._tmux("list-panes", "-t", self.target, "-F", "#{pane_pid}").stdout)

    def app_pid(self) -> int:
        """The app's process: the pane's shell's child."""
        kids = children(self.pane_pid())
        assert len(kids) == 1, f"expected one child of the pane's shell, found {kids}"
        return kids[0]

    def wait_exit(self, timeout: float = SAVE_TIMEOUT) -> int:
        """Wait until the app has exited; return its exit status."""
        m = re.search(r"EXITED (\d+)", self.wait_for(r"EXITED \d+", timeout))
        assert m is not None
        return int(m.group(1))

    def hang_up(self) -> None:
        """Close the terminal: the pane's processes get SIGHUP."""
        self._tmux("kill-session", "-t", self.target, check=False)

    def kill(self) -> None:
        self._tmux("kill-server", check=False)
        if self.socket_path is not None:  # tmux leaves the socket file behind
            self.socket_path.unlink(missing_ok=True)


def children(pid: int) -> list[int]:
    """Child processes of ``pid`` (Linux /proc)."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone meanwhile
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def processes_with(*args: str) -> list[int]:
    """Processes with every one of ``args`` among their command-line arguments (Linux /proc)."""
    wanted = [a.encode() for a in args]
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if all(a in argv for a in wanted):
            found.append(int(cmdline.parent.name))
    return found


def free_port() -> int:
    """A TCP port free on 127.0.0.1 just now (it may be taken by the time it is used)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
