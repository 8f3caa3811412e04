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
import json
import os
import re
import signal
import subprocess
import sys
import time
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
    at,
    installed_command,
    wait,
    write_scenario,
)
from tui_trainer.engine.atomic import write_text_atomic
from tui_trainer.engine.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from tui_trainer.engine.session import Session
from tui_trainer.recovery import recoveries, recovery_path, scenario_key, state_dir
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


def _key(scenario: Path) -> str:
    """The part of the recovery file names every instance of this scenario shares."""
    sc = load_scenario(scenario)
    return scenario_key(sc.name, sc.source, sc.text)


def _files(tmp_path: Path, scenario: Path) -> list[Path]:
    """This scenario's recovery files (one per interrupted instance)."""
    d = tmp_path / "state" / "tui-trainer" / "recovery"
    rx = re.compile(re.escape(_key(scenario)) + r"-\d+-[0-9a-f]{6}\.npz")
    return sorted(p for p in d.glob("*.npz") if rx.fullmatch(p.name)) if d.is_dir() else []


def _wait_file(tmp_path: Path, scenario: Path, timeout: float = SAVE_TIMEOUT) -> Path:
    """Wait for the one recovery file of the scenario; return it."""

    def failure() -> str:
        listing = sorted(str(p) for p in (tmp_path / "state").rglob("*"))
        return f"no recovery file written within {timeout} s; found {listing}"

    wait(lambda: len(_files(tmp_path, scenario)) == 1, timeout, failure)
    return _files(tmp_path, scenario)[0]


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
    t.wait_for(r"epoch 1/20 \| step 0 \|", STARTUP_TIMEOUT)
    return t


def _step_f_f_f_n(t: Term) -> tuple[int, str]:
    for key, rx in (
        ("f", at(0, "UPDATE")),
        ("f", at(1, "UPDATE")),
        ("f", at(2, "UPDATE")),
        ("n", at(3, "FORWARD")),
    ):
        t.send(key)
        t.wait_for(rx)
    return t.status()


# ------------------------------------------------------------------ end to end


@needs_tmux
def test_hangup_saves_and_next_start_resumes(
    tmp_path: Path, scenario: Path, terms: list[Term]
) -> None:
    t = _start(tmp_path, scenario, terms)
    before = _step_f_f_f_n(t)
    assert before[0] == 3 and before[1].startswith("FORWARD")
    assert _files(tmp_path, scenario) == []

    t.hang_up()  # the terminal goes away: SIGHUP
    saved = _wait_file(tmp_path, scenario)
    arrays = read_checkpoint(saved)
    assert int(arrays["resume_position"]) > 0
    assert sorted(p.name for p in saved.parent.iterdir()) == [saved.name]

    # The next start on the same scenario offers to resume; y resumes exactly there.
    t2 = Term(_command(tmp_path, scenario), "recovery")
    terms.append(t2)
    t2.wait_for(r"interrupted at step 3, epoch 1", STARTUP_TIMEOUT)
    t2.wait_for(r"Resume it\?")
    t2.send("y")
    t2.wait_for(r"Resumed the interrupted session at step 3, epoch 1")
    assert t2.status() == before
    # The resumed work exists nowhere else: the file stays (now the second
    # instance's own) until a deliberate quit.
    [taken] = _files(tmp_path, scenario)
    assert f"-{t2.app_pid()}-" in taken.name

    # ... and training goes on from there
    t2.send("n")
    t2.wait_for(at(3, "LOSS"))

    # Quitting asks (the progress is unsaved), and a deliberate quit drops the file.
    t2.send("q")
    t2.wait_for(r"Quit\? Training progress \(step 3\)")
    t2.send("y")
    assert t2.wait_exit() == 0
    assert _files(tmp_path, scenario) == []


@needs_tmux
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_saves_and_exits(
    tmp_path: Path, scenario: Path, terms: list[Term], sig: signal.Signals
) -> None:
    t = _start(tmp_path, scenario, terms)
    before = _step_f_f_f_n(t)
    pid = t.app_pid()
    os.kill(pid, sig)
    assert t.wait_exit() == 128 + int(sig)
    [expected] = _files(tmp_path, scenario)  # written before the app exited
    assert f"-{pid}-" in expected.name
    assert "the session was saved to" in t.screen()
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
    t = _start(tmp_path, scenario, terms)
    _step_f_f_f_n(t)
    t.send("q")
    t.wait_for(r"Quit\?")
    t.send("y")
    assert t.wait_exit() == 0
    assert _files(tmp_path, scenario) == []


@needs_tmux
def test_two_instances_never_lose_each_others_work(
    tmp_path: Path, scenario: Path, terms: list[Term]
) -> None:
    """A trains and hangs up; B, which never trained, quits with q: A's file stays."""
    a = _start(tmp_path, scenario, terms)
    before = _step_f_f_f_n(a)
    b = _start(tmp_path, scenario, terms)  # nothing to offer yet
    a.hang_up()
    saved = _wait_file(tmp_path, scenario)
    b.send("q")  # B never trained: it quits at once
    assert b.wait_exit() == 0
    assert _files(tmp_path, scenario) == [saved]

    c = Term(_command(tmp_path, scenario), "recovery")
    terms.append(c)
    c.wait_for(r"interrupted at step 3, epoch 1", STARTUP_TIMEOUT)
    c.send("y")
    c.wait_for(r"Resumed the interrupted session at step 3, epoch 1")
    assert c.status() == before


@needs_tmux
def test_unwritable_state_dir_says_where_on_signal(
    tmp_path: Path, scenario: Path, terms: list[Term]
) -> None:
    """A file where the state directory should be (ENOTDIR: even root cannot write)."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file\n")
    state = blocker / "sub"
    assert CMD is not None
    t = Term(
        app_command(CMD, tmp_path, scenario, TERM="xterm-256color", XDG_STATE_HOME=str(state)),
        "recovery",
    )
    terms.append(t)
    t.wait_for(r"epoch 1/20 \| step 0 \|", STARTUP_TIMEOUT)
    _step_f_f_f_n(t)
    os.kill(t.app_pid(), signal.SIGTERM)
    assert t.wait_exit() == 143
    screen = " ".join(t.screen().split())  # the message may wrap
    assert "could not save a recovery checkpoint to" in screen, screen
    assert str(blocker) in screen.replace(" ", ""), screen


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


def _saved_session(path: Path, steps: int, phases: int, **kw: Any) -> Session:
    s = xor_session(**kw)
    s.advance("step", steps)
    s.advance("phase", phases)
    from tui_trainer.engine.checkpoint import save_checkpoint

    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(s, path, "")
    return s


def _own() -> Path:
    """The app's own recovery file in these tests (this process is the instance)."""
    return recovery_path("xor", None, "")


def _other(i: int) -> Path:
    """The recovery file another (interrupted) instance of the same scenario wrote."""
    return state_dir() / f"{scenario_key('xor', None, '')}-{900000 + i}-{i:06x}.npz"


def _app() -> TrainerApp:
    return TrainerApp(xor_session(), name="xor", recovery_file=_own())


def _confirm_text(app: TrainerApp) -> str:
    assert isinstance(app.screen, ConfirmScreen)
    return app.screen.question


def _notes(app: TrainerApp) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


def test_resume_offer_yes(tmp_path: Path) -> None:
    path = _other(1)
    saved = _saved_session(path, 37, 2)
    app = _app()

    async def body(pilot: Pilot) -> None:
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "interrupted at step 37, epoch 3" in _confirm_text(app)
        assert "older" not in _confirm_text(app)  # the only one
        assert app.session.position == 0
        await pilot.press("y")
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        _same_state(saved, app.session)
        # The resumed work is saved nowhere else: the file stays (taken over as
        # this instance's own), and quitting asks.
        assert not path.exists() and _own().is_file()
        assert app.saved_position < app.session.position
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: not app.is_running)
        assert app.return_code == 0
        assert not _own().exists()  # a deliberate quit keeps no recovery file

    run_app(app, body, SIZE)


def test_resume_offer_no(tmp_path: Path) -> None:
    path = _other(1)
    _saved_session(path, 5, 1)
    app = _app()

    async def body(pilot: Pilot) -> None:
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert app.session.position == 0
        assert not path.exists()  # the user chose to start afresh

    run_app(app, body, SIZE)


def test_offers_the_newest_of_several_and_keeps_the_others(tmp_path: Path) -> None:
    """Two interrupted instances: the newest is offered, the other is said and kept."""
    old, new = _other(1), _other(2)
    _saved_session(old, 5, 0)
    newest = _saved_session(new, 9, 1)
    os.utime(old, (1_000_000_000, 1_000_000_000))
    app = _app()

    async def body(pilot: Pilot) -> None:
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        question = _confirm_text(app)
        assert "interrupted at step 9, epoch 1" in question
        assert "1 older interrupted session is kept" in question
        await pilot.press("y")
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        _same_state(newest, app.session)
        assert old.is_file() and not new.exists() and _own().is_file()

    run_app(app, body, SIZE)


def _damage_state(path: Path, **changes: Any) -> None:
    """Rewrite the checkpoint's JSON state record with ``changes`` (wrong types)."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["state"]))
    meta.update(changes)
    arrays["state"] = np.array(json.dumps(meta))
    with path.open("wb") as f:
        np.savez(f, **arrays)


@pytest.mark.parametrize("epoch", ["x", None, -1, 1.5, [1]], ids=repr)
def test_wrong_type_in_state_is_set_aside_and_the_app_starts(tmp_path: Path, epoch: Any) -> None:
    path = _other(1)
    _saved_session(path, 5, 1)
    _damage_state(path, epoch=epoch)
    content = path.read_bytes()
    app = _app()

    async def body(pilot: Pilot) -> None:
        await wait_until(pilot, lambda: "set aside" in _notes(app))
        assert not isinstance(app.screen, ConfirmScreen)
        assert app.session.position == 0
        assert str(path) in _notes(app)
        # Set aside, never deleted: the bytes are all there under a new name.
        assert not path.exists()
        aside = path.with_name(path.name + ".damaged")
        assert aside.read_bytes() == content
        await pilot.press("f")  # and the app works
        assert app.session.step == 1

    run_app(app, body, SIZE)


def test_damaged_newest_is_set_aside_and_the_next_offered(tmp_path: Path) -> None:
    good, bad = _other(1), _other(2)
    saved = _saved_session(good, 4, 0)
    os.utime(good, (1_000_000_000, 1_000_000_000))
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    app = _app()

    async def body(pilot: Pilot) -> None:
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "interrupted at step 4, epoch 1" in _confirm_text(app)
        assert bad.with_name(bad.name + ".damaged").is_file()
        assert "set aside" in _notes(app)
        await pilot.press("y")
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        _same_state(saved, app.session)

    run_app(app, body, SIZE)


def test_file_that_fails_to_load_is_set_aside(tmp_path: Path) -> None:
    """Readable, but of another model (hidden layer of 8): yes sets it aside, not a crash."""
    from pilot import tanh_session

    path = _other(1)
    s = tanh_session(xor_session().data, 8, 2)
    s.advance("step", 3)
    from tui_trainer.engine.checkpoint import save_checkpoint

    path.parent.mkdir(parents=True)
    save_checkpoint(s, path, "")
    app = _app()

    async def body(pilot: Pilot) -> None:
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: "set aside" in _notes(app))
        assert app.session.position == 0
        assert not path.exists() and path.with_name(path.name + ".damaged").is_file()
        assert not _own().exists()

    run_app(app, body, SIZE)


def test_file_taken_by_another_instance_meanwhile(tmp_path: Path) -> None:
    """Two instances offered one file: the second yes finds it gone and starts afresh."""
    path = _other(1)
    _saved_session(path, 5, 0)
    app = _app()

    async def body(pilot: Pilot) -> None:
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        taken = _other(2)
        path.rename(taken)  # the other instance said yes first
        await pilot.press("y")
        await wait_until(pilot, lambda: "another instance" in _notes(app))
        assert app.session.position == 0
        assert taken.is_file() and not _own().exists()

    run_app(app, body, SIZE)


def test_file_of_a_running_instance_is_not_offered(tmp_path: Path) -> None:
    """An instance that resumed a file owns it while it runs: nobody else is offered it."""
    running = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", "tui-trainer"],
    )
    try:
        key = scenario_key("xor", None, "")
        live = state_dir() / f"{key}-{running.pid}-abcdef.npz"
        _saved_session(live, 5, 0)
        odd = state_dir() / f"{key}-{'9' * 30}-abcdef.npz"  # no possible pid: not running
        _saved_session(odd, 2, 0)
        assert recoveries(_own()) == [odd]
    finally:
        running.kill()
        running.wait()
    assert sorted(recoveries(_own())) == sorted([live, odd])  # it ended: now offered


def test_file_of_an_older_version_is_offered(tmp_path: Path) -> None:
    """The one shared <scenario>-<hash>.npz of earlier versions is still found."""
    legacy = state_dir() / f"{scenario_key('xor', None, '')}.npz"
    saved = _saved_session(legacy, 6, 0)
    app = _app()

    async def body(pilot: Pilot) -> None:
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        _same_state(saved, app.session)
        assert not legacy.exists() and _own().is_file()

    run_app(app, body, SIZE)


def test_damaged_recovery_file_is_set_aside(tmp_path: Path) -> None:
    path = _other(1)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 not really a zip")
    app = _app()

    async def body(pilot: Pilot) -> None:
        await wait_until(pilot, lambda: "set aside" in _notes(app))
        assert not isinstance(app.screen, ConfirmScreen)
        assert not path.exists()
        assert path.with_name(path.name + ".damaged").read_bytes().startswith(b"PK")
        assert app.session.position == 0

    run_app(app, body, SIZE)


def test_unreadable_state_dir_does_not_block_the_start(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a directory\n")
    app = TrainerApp(xor_session(), name="xor", recovery_file=blocker / "sub" / "x-1-abcdef.npz")

    async def body(pilot: Pilot) -> None:
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("f")
        assert app.save_recovery() is None
        assert str(blocker / "sub") in app.recovery_error

    run_app(app, body, SIZE)


def test_recovery_files_are_per_instance(tmp_path: Path) -> None:
    """Two processes get different files for one scenario; each lists only the other's."""
    code = "from tui_trainer.recovery import recovery_path; print(recovery_path('xor', None, ''))"
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    a, b = (
        Path(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
            ).stdout.strip()
        )
        for _ in range(2)
    )
    assert a != b and a.parent == b.parent == state_dir()
    assert a != _own() != b
    for p in (a, b):
        _saved_session(p, 2, 0)
    assert recoveries(a) == [b] and recoveries(b) == [a]
    assert sorted(recoveries(_own())) == sorted([a, b])
    (state_dir() / "other-scenario-0123456789ab-1-abcdef.npz").write_bytes(b"")
    (state_dir() / f"run-{scenario_key('xor', None, '')}-1-abcdef.npz").write_bytes(b"")
    assert sorted(recoveries(_own())) == sorted([a, b])  # nothing of others


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


# ------------------------------------------------------------------ the atomic writer


@pytest.mark.parametrize("mode", [0o664, 0o640, 0o600, 0o644], ids=oct)
def test_replaced_file_keeps_its_mode(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "shared.npz"
    path.write_bytes(b"old")
    path.chmod(mode)
    save_checkpoint(xor_session(), path, "")
    assert path.stat().st_mode & 0o777 == mode
    write_text_atomic(path, "text")
    assert path.stat().st_mode & 0o777 == mode


@pytest.mark.parametrize(
    ("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)], ids=["022", "002", "077"]
)
def test_new_file_follows_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        save_checkpoint(xor_session(), tmp_path / "new.npz", "")
        write_text_atomic(tmp_path / "new.csv", "a,b\n")
    finally:
        os.umask(old)
    assert (tmp_path / "new.npz").stat().st_mode & 0o777 == mode
    assert (tmp_path / "new.csv").stat().st_mode & 0o777 == mode


_KILLED_WRITER = """
import sys, time
from tui_trainer.engine.atomic import atomic_writer
with atomic_writer(sys.argv[1]) as f:
    f.write(b"x" * 100000)
    f.flush()
    print("writing", flush=True)
    time.sleep(600)
"""


def _killed_writer(target: Path) -> Path:
    """A writer killed with SIGKILL in the middle of writing ``target``: its temporary file."""
    before = set(target.parent.iterdir())
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(target)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline() == "writing\n"
    proc.kill()
    proc.wait(timeout=30)
    [tmp] = set(target.parent.iterdir()) - before
    assert tmp.name.startswith(f".{target.name}.") and tmp.name.endswith(".tmp")
    return tmp


def test_stale_temporary_files_are_cleaned_at_the_next_save(tmp_path: Path) -> None:
    target = tmp_path / "target.npz"
    stale = [_killed_writer(target), _killed_writer(tmp_path / "other.npz")]
    young = _killed_writer(target)  # killed just now: another host's writer could look alike
    long_ago = time.time() - 3600
    for p in stale:
        os.utime(p, (long_ago, long_ago))
    # A live writer's temporary file (our parent's pid), our own, and files not of our naming.
    live = tmp_path / f".target.npz.tt{os.getppid()}-abcdefgh.tmp"
    mine = tmp_path / f".target.npz.tt{os.getpid()}-abcdefgh.tmp"
    foreign = [tmp_path / ".target.npz.abcdefgh.tmp", tmp_path / ".notes.tmp", tmp_path / "x.tmp"]
    for p in [live, mine, *foreign]:
        p.write_bytes(b"keep")
        os.utime(p, (long_ago, long_ago))

    save_checkpoint(xor_session(), target, "")

    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in [young, live, mine, *foreign])
    assert read_checkpoint(target)["kind"] == "tui-trainer-checkpoint"
