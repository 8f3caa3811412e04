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
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from textual.pilot import Pilot

from pilot import run_app, wait_until
from pilot import xor_session as _xor_session
from terminal import (
    KEY_TIMEOUT,
    SAVE_TIMEOUT,
    STARTUP_TIMEOUT,
    TMUX,
    Term,
    app_command,
    installed_command,
    wait,
    write_scenario,
)
from tui_trainer.engine.checkpoint import load_checkpoint, read_checkpoint
from tui_trainer.engine.session import Session
from tui_trainer.recovery import recovery_path, state_dir
from tui_trainer.scenario import load_scenario
from tui_trainer.ui.app import TrainerApp
from tui_trainer.ui.screens.confirm import ConfirmScreen

CMD = installed_command()
needs_tmux = pytest.mark.skipif(
    TMUX is None or CMD is None, reason="needs tmux and the installed tui-trainer command"
)

SIZE = (100, 30)  # the Pilot tests' terminal


# ------------------------------------------------------------------ terminal


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    return write_scenario(tmp_path / "recover.toml")


def _command(tmp_path: Path, scenario: Path) -> str:
    assert CMD is not None
    return app_command(CMD, tmp_path, scenario, TERM="xterm-256color")


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
    def failure() -> str:
        listing = sorted(str(p) for p in path.parents[2].rglob("*"))
        return f"{path} not written within {timeout} s; found {listing}"

    wait(path.is_file, timeout, failure)


@pytest.fixture
def terms() -> Iterator[list[Term]]:
    """Every terminal a test opens is closed at the end, whatever happens."""
    opened: list[Term] = []
    yield opened
    for t in opened:
        t.kill()


def _start(tmp_path: Path, scenario: Path, terms: list[Term]) -> Term:
    t = Term(_command(tmp_path, scenario), "recovery")
    terms.append(t)
    t.wait_for(r"recover \| epoch 1/20 \| step 0 \|", STARTUP_TIMEOUT)
    return t


def _step_f_f_f_n(t: Term) -> tuple[int, str]:
    for key, rx in (
        ("f", r"step 0 \| batch 1/16 \| phase UPDATE\b"),
        ("f", r"step 1 \| batch 2/16 \| phase UPDATE\b"),
        ("f", r"step 2 \| batch 3/16 \| phase UPDATE\b"),
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
    t2 = Term(_command(tmp_path, scenario), "recovery")
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
    t2 = Term(_command(tmp_path, scenario), "recovery")
    terms.append(t2)
    t2.wait_for(r"Resume it\?", STARTUP_TIMEOUT)
    t2.send("n")
    wait(lambda: "Resume it?" not in t2.screen(), KEY_TIMEOUT, "the dialog did not close")
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
    return _xor_session(**{"optimizer": "adam", **kw})


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

    run_app(app, body, SIZE)


def test_save_recovery_nothing_to_save(tmp_path: Path) -> None:
    path = tmp_path / "r.npz"
    app = TrainerApp(xor_session(), name="xor", recovery_file=path)

    async def body(pilot: Pilot) -> None:
        assert app.save_recovery() is None  # position 0: nothing worth keeping
        assert not path.exists()
        plain = TrainerApp(xor_session(), name="xor")  # no recovery file configured
        assert plain.save_recovery() is None

    run_app(app, body, SIZE)


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

    run_app(app, body, SIZE)


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

    run_app(app, body, SIZE)


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

    run_app(app, body, SIZE)


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
