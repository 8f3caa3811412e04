"""Recovery checkpoints: nothing is lost when the terminal goes away.

The end-to-end tests run the installed ``tui-trainer`` in a real terminal
(tmux, on a private socket), step a little, then take the terminal away
(``kill-session`` hangs up the pane: SIGHUP) or signal the process (SIGTERM,
SIGINT). The app must write ``$XDG_STATE_HOME/tui-trainer/recovery/*.npz``,
and the next start on the same scenario must offer to resume exactly where it
stopped. The Pilot tests check the saved state itself: the parameters and the
position of a resumed session equal those of the session that was saved.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from textual.pilot import Pilot

from tui_trainer.engine import data
from tui_trainer.engine.checkpoint import load_checkpoint, read_checkpoint
from tui_trainer.engine.config import LayerSpec, TrainConfig
from tui_trainer.engine.session import Session
from tui_trainer.recovery import recovery_path, state_dir
from tui_trainer.scenario import load_scenario
from tui_trainer.ui.app import TrainerApp
from tui_trainer.ui.screens.confirm import ConfirmScreen

TMUX = shutil.which("tmux")


def _installed_command() -> str | None:
    """The console script next to this interpreter (not a version-manager shim)."""
    here = Path(sys.executable).parent / "tui-trainer"
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    return shutil.which("tui-trainer")


CMD = _installed_command()
needs_tmux = pytest.mark.skipif(
    TMUX is None or CMD is None, reason="needs tmux and the installed tui-trainer command"
)

SCENARIO = """\
name = "recover"
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
epochs = 20
"""

STARTUP_TIMEOUT = 15.0
KEY_TIMEOUT = 5.0
SAVE_TIMEOUT = 10.0
STATUS_RX = re.compile(r"\| step (\d+) \| batch \d+/\d+ \| phase ([A-Za-z]+(?: L\d+)?) \|")


# ------------------------------------------------------------------ terminal


class Term:
    """A detached 80x24 tmux session running the app under ``sh``.

    When the app ends, the shell prints ``EXITED <status>`` and keeps the pane
    open, so the exit status can be read from the screen.
    """

    def __init__(self, command: str) -> None:
        self.socket = f"tui-trainer-recovery-{uuid.uuid4().hex[:12]}"
        self.target = "main"
        self._tmux("new-session", "-d", "-s", self.target, "-x", "80", "-y", "24", command)

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
            self._tmux("send-keys", "-t", self.target, "-l", key)

    def wait_for(self, pattern: str, timeout: float = KEY_TIMEOUT) -> str:
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if rx.search(text):
                return text
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} not on screen after {timeout} s:\n{text}")

    def status(self) -> tuple[int, str]:
        """(step, phase) from the status line."""
        text = self.screen()
        m = STATUS_RX.search(text)
        assert m is not None, f"no status line on screen:\n{text}"
        return int(m.group(1)), m.group(2)

    def app_pid(self) -> int:
        """The app's process: the pane's shell's child."""
        shell = int(self._tmux("list-panes", "-t", self.target, "-F", "#{pane_pid}").stdout)
        kids = _children(shell)
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


def _children(pid: int) -> list[int]:
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


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "recover.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    return path


def _command(tmp_path: Path, scenario: Path) -> str:
    env = {
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),  # no user keymap
        "TERM": "xterm-256color",
    }
    assigns = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    return (
        f"cd {shlex.quote(str(tmp_path))} && env {assigns} "
        f"{shlex.quote(str(CMD))} {shlex.quote(str(scenario))}; echo EXITED $?; sleep 60"
    )


def _expected_file(tmp_path: Path, scenario: Path) -> Path:
    """Where the app keeps this scenario's recovery checkpoint."""
    sc = load_scenario(scenario)
    old = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path / "state")
    try:
        return recovery_path(sc.name, sc.source, sc.text)
    finally:
        if old is None:
            del os.environ["XDG_STATE_HOME"]
        else:
            os.environ["XDG_STATE_HOME"] = old


def _wait_file(path: Path, timeout: float = SAVE_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not path.is_file():
        if time.monotonic() > deadline:
            listing = sorted(str(p) for p in path.parents[2].rglob("*"))
            raise AssertionError(f"{path} not written within {timeout} s; found {listing}")
        time.sleep(0.05)


@pytest.fixture
def terms() -> Iterator[list[Term]]:
    """Every terminal a test opens is closed at the end, whatever happens."""
    opened: list[Term] = []
    yield opened
    for t in opened:
        t.kill()


def _start(tmp_path: Path, scenario: Path, terms: list[Term]) -> Term:
    t = Term(_command(tmp_path, scenario))
    terms.append(t)
    t.wait_for(r"recover \| epoch 1/20 \| step 0 \|", STARTUP_TIMEOUT)
    return t


def _step_f_f_f_n(t: Term) -> tuple[int, str]:
    for key, rx in (
        ("f", r"step 1 \| batch 2/16 \| phase UPDATE\b"),
        ("f", r"step 2 \| batch 3/16 \| phase UPDATE\b"),
        ("f", r"step 3 \| batch 4/16 \| phase UPDATE\b"),
        ("n", r"step 3 \| batch 4/16 \| phase FORWARD\b"),
    ):
        t.send(key)
        t.wait_for(rx)
    return t.status()


# ------------------------------------------------------------------ end to end


@needs_tmux
def test_hangup_saves_and_next_start_resumes(
    tmp_path: Path, scenario: Path, terms: list[Term]
) -> None:
    expected = _expected_file(tmp_path, scenario)
    t = _start(tmp_path, scenario, terms)
    before = _step_f_f_f_n(t)
    assert before[0] == 3 and before[1].startswith("FORWARD")
    assert not expected.exists()

    t.hang_up()  # the terminal goes away: SIGHUP
    _wait_file(expected)
    arrays = read_checkpoint(expected)
    assert int(arrays["resume_position"]) > 0
    assert sorted(p.name for p in expected.parent.iterdir()) == [expected.name]

    # The next start on the same scenario offers to resume; y resumes exactly there.
    t2 = Term(_command(tmp_path, scenario))
    terms.append(t2)
    t2.wait_for(r"interrupted at step 3, epoch 1", STARTUP_TIMEOUT)
    t2.wait_for(r"Resume it\?")
    t2.send("y")
    t2.wait_for(r"Resumed the interrupted session at step 3, epoch 1")
    assert t2.status() == before
    # The resumed work exists nowhere else: the file stays until a deliberate quit.
    assert expected.exists()

    # ... and training goes on from there
    t2.send("n")
    t2.wait_for(r"step 3 \| batch 4/16 \| phase LOSS\b")

    # Quitting asks (the progress is unsaved), and a deliberate quit drops the file.
    t2.send("q")
    t2.wait_for(r"Quit\? Training progress \(step 3\)")
    t2.send("y")
    assert t2.wait_exit() == 0
    assert not expected.exists()


@needs_tmux
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_saves_and_exits(
    tmp_path: Path, scenario: Path, terms: list[Term], sig: signal.Signals
) -> None:
    expected = _expected_file(tmp_path, scenario)
    t = _start(tmp_path, scenario, terms)
    before = _step_f_f_f_n(t)
    pid = t.app_pid()
    os.kill(pid, sig)
    assert t.wait_exit() == 128 + int(sig)
    assert expected.is_file()  # written before the app exited
    arrays = read_checkpoint(expected)
    assert int(arrays["resume_position"]) == 3 * 6 + 2  # step 3, end of forward (2 layers)

    # Answering n discards the recovery file and starts afresh.
    t2 = Term(_command(tmp_path, scenario))
    terms.append(t2)
    t2.wait_for(r"Resume it\?", STARTUP_TIMEOUT)
    t2.send("n")
    deadline = time.monotonic() + KEY_TIMEOUT
    while "Resume it?" in t2.screen():
        assert time.monotonic() < deadline, "the dialog did not close"
        time.sleep(0.05)
    assert t2.status() == (0, "start")
    assert before != (0, "start")
    assert not expected.exists()


@needs_tmux
def test_hangup_without_progress_writes_nothing(
    tmp_path: Path, scenario: Path, terms: list[Term]
) -> None:
    t = _start(tmp_path, scenario, terms)
    pid = t.app_pid()
    os.kill(pid, signal.SIGHUP)
    assert t.wait_exit() == 128 + int(signal.SIGHUP)
    recovery = tmp_path / "state" / "tui-trainer" / "recovery"
    assert not recovery.exists() or not any(recovery.iterdir())


@needs_tmux
def test_deliberate_quit_keeps_no_recovery_file(
    tmp_path: Path, scenario: Path, terms: list[Term]
) -> None:
    expected = _expected_file(tmp_path, scenario)
    t = _start(tmp_path, scenario, terms)
    _step_f_f_f_n(t)
    t.send("q")
    t.wait_for(r"Quit\?")
    t.send("y")
    assert t.wait_exit() == 0
    assert not expected.exists()


# ------------------------------------------------------------------ Pilot level


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)


def xor_session(**kw: Any) -> Session:
    d = data.split(data.generate("xor", 200, 0.0, 0), 0.2, 0)
    base: dict[str, Any] = dict(
        layers=(LayerSpec(4, "tanh"), LayerSpec(2, "linear")),
        loss="cross_entropy",
        optimizer="adam",
        lr=0.1,
        batch_size=10,
        epochs=20,
        seed=0,
    )
    base.update(kw)
    return Session(TrainConfig(**base), d)


def run_app(app: TrainerApp, body: Callable[[Pilot], Awaitable[None]]) -> None:
    async def main() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            await body(pilot)

    asyncio.run(main())


async def wait_until(pilot: Pilot, cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met within the timeout")
        await pilot.pause(0.02)


def _same_state(a: Session, b: Session) -> None:
    assert b.position == a.position
    assert (b.step, b.pos, b.epoch, b.cursor) == (a.step, a.pos, a.epoch, a.cursor)
    for pa, pb in zip(a.net.params(), b.net.params(), strict=True):
        assert np.array_equal(pa, pb)
    assert np.array_equal(a.history.steps.rows(), b.history.steps.rows(), equal_nan=True)
    assert np.array_equal(a.history.epochs.rows(), b.history.epochs.rows(), equal_nan=True)


def test_save_recovery_round_trip(tmp_path: Path) -> None:
    """The saved file restores a fresh session to the very same weights and position."""
    path = tmp_path / "r.npz"
    app = TrainerApp(xor_session(), name="xor", recovery_file=path)

    async def body(pilot: Pilot) -> None:
        await pilot.press("f", "f", "f", "e")  # some steps, then a whole epoch
        await asyncio.wait_for(app.workers.wait_for_complete(), 30)
        await wait_until(pilot, lambda: not app.running)
        await pilot.press("f", "n", "s")  # stop mid-step (LOSS done, into backprop)
        s = app.session
        assert s.pos != 0 and s.epoch == 1
        here = s.position
        assert app.save_recovery() == path
        assert s.position == here  # saving does not move the session

        fresh = xor_session()
        load_checkpoint(fresh, path)
        _same_state(s, fresh)

        # Both continue identically.
        s.advance("step", 5)
        fresh.advance("step", 5)
        _same_state(s, fresh)

    run_app(app, body)


def test_save_recovery_nothing_to_save(tmp_path: Path) -> None:
    path = tmp_path / "r.npz"
    app = TrainerApp(xor_session(), name="xor", recovery_file=path)

    async def body(pilot: Pilot) -> None:
        assert app.save_recovery() is None  # position 0: nothing worth keeping
        assert not path.exists()
        plain = TrainerApp(xor_session(), name="xor")  # no recovery file configured
        assert plain.save_recovery() is None

    run_app(app, body)


def _saved_session(path: Path, steps: int, phases: int) -> Session:
    s = xor_session()
    s.advance("step", steps)
    s.advance("phase", phases)
    from tui_trainer.engine.checkpoint import save_checkpoint

    save_checkpoint(s, path, "")
    return s


def test_resume_offer_yes(tmp_path: Path) -> None:
    path = tmp_path / "state" / "r.npz"
    path.parent.mkdir(parents=True)
    saved = _saved_session(path, 37, 2)
    app = TrainerApp(xor_session(), name="xor", recovery_file=path)

    async def body(pilot: Pilot) -> None:
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.session.position == 0
        await pilot.press("y")
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        _same_state(saved, app.session)
        # The resumed work is saved nowhere else: the file stays, and quitting asks.
        assert path.exists()
        assert app.saved_position < app.session.position
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: not app.is_running)
        assert app.return_code == 0
        assert not path.exists()  # a deliberate quit keeps no recovery file

    run_app(app, body)


def test_resume_offer_no(tmp_path: Path) -> None:
    path = tmp_path / "r.npz"
    _saved_session(path, 5, 1)
    app = TrainerApp(xor_session(), name="xor", recovery_file=path)

    async def body(pilot: Pilot) -> None:
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert app.session.position == 0
        assert not path.exists()

    run_app(app, body)


def test_damaged_recovery_file_is_discarded_quietly(tmp_path: Path) -> None:
    path = tmp_path / "r.npz"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    app = TrainerApp(xor_session(), name="xor", recovery_file=path)

    async def body(pilot: Pilot) -> None:
        await pilot.pause()
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert not path.exists()
        assert app.session.position == 0

    run_app(app, body)


def test_recovery_path_depends_on_file_and_text(tmp_path: Path) -> None:
    a = tmp_path / "a.toml"
    b = tmp_path / "b.toml"
    p1 = recovery_path("xor", a, "x = 1")
    assert p1 == recovery_path("xor", a, "x = 1")
    assert p1 != recovery_path("xor", b, "x = 1")  # another file
    assert p1 != recovery_path("xor", a, "x = 2")  # the scenario was edited
    assert p1.parent == state_dir() == tmp_path / "state" / "tui-trainer" / "recovery"
    odd = recovery_path("../../etc/pass wd", None, "")
    assert odd.parent == state_dir() and "/" not in odd.name and odd.name.endswith(".npz")
