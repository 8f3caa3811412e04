"""End to end: the installed ``tui-trainer`` command in a real terminal (tmux).

Each test starts its own tmux server on a private socket (``tmux -L``), so it
never touches a user's tmux sessions, sends keys with ``send-keys`` and reads
the screen with ``capture-pane``. Every wait polls the pane with a timeout.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from terminal import KEY_TIMEOUT, STARTUP_TIMEOUT, TMUX, Term, app_command, at, wait, write_scenario

CMD = shutil.which("tui-trainer")

pytestmark = pytest.mark.skipif(
    TMUX is None or CMD is None, reason="needs tmux and the installed tui-trainer command"
)


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    return write_scenario(tmp_path / "e2e.toml")


def _command(tmp_path: Path, scenario: Path) -> str:
    """The app, then its exit status on screen (the pane stays open to be read)."""
    assert CMD is not None
    return app_command(CMD, tmp_path, scenario)


@pytest.fixture
def term(tmp_path: Path, scenario: Path) -> Iterator[Term]:
    t = Term(_command(tmp_path, scenario))
    try:
        t.wait_for(at(0, "start"), STARTUP_TIMEOUT)
        yield t
    finally:
        t.kill()


def test_step_through_phases_and_quit(term: Term) -> None:
    for label in ("FORWARD", "LOSS", "BACKPROP"):
        term.send("n")
        term.wait_for(at(0, label))
        assert f"[{label}]" in term.screen()  # the phase bar lights the phase
    term.send("n")
    term.wait_for(at(0, "UPDATE"))

    # f finishes a step: the step counter increases
    term.send("f")
    term.wait_for(at(1, "UPDATE"))
    term.send("f")
    term.wait_for(at(2, "UPDATE"))

    # N steps back to the previous phase
    term.send("n")
    term.wait_for(at(3, "FORWARD"))
    term.send("n")
    term.wait_for(at(3, "LOSS"))
    term.send("N")
    term.wait_for(at(3, "FORWARD"))
    assert "[FORWARD]" in term.screen()
    term.send("N")
    term.wait_for(at(2, "UPDATE"))

    # progress was made: q asks, n keeps the app open, q then y quits cleanly
    term.send("q")
    term.wait_for(r"Quit\? Training progress \(step 3\)")
    term.send("n")
    wait(lambda: "Quit?" not in term.screen(), KEY_TIMEOUT, "the dialog did not close")
    assert "EXITED" not in term.screen()
    term.send("q")
    term.wait_for(r"Quit\?")
    term.send("y")
    term.wait_for(r"EXITED 0\b")


def test_quit_without_progress(term: Term) -> None:
    term.send("q")
    term.wait_for(r"EXITED 0\b")


def test_palette_key_burst(term: Term) -> None:
    """ctrl+p, a letter and page keys arriving together (as over a laggy SSH
    link) ended the app inside Textual 8.2.8's command palette."""
    term.press("C-p", "a", "NPage", "PPage", "NPage")
    time.sleep(0.5)
    assert "EXITED" not in term.screen()
    assert "🔎" in term.screen()  # the palette is up, with the letter typed
    for _ in range(3):  # close the palette (its list first, then the palette)
        if "🔎" not in term.screen():
            break
        term.press("Escape")
        time.sleep(0.3)
    term.send("n")
    term.wait_for(r"\[FORWARD\]")
    assert "EXITED" not in term.screen()


def test_run_and_pause(tmp_path: Path) -> None:
    path = write_scenario(tmp_path / "long.toml", "e2e", epochs=100000)
    t = Term(_command(tmp_path, path))
    try:
        t.wait_for(r"epoch 1/100000 \| step 0 \|", STARTUP_TIMEOUT)
        t.send("c")
        t.wait_for(r"RUNNING")
        t.wait_for(r"step [1-9]\d* \|")  # the status line follows the run
        bottom = t.screen().splitlines()[-1]
        assert bottom.startswith(" p pause │  n next ") and bottom.rstrip().endswith(
            "? help  q quit"
        )
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


@pytest.mark.parametrize(
    "env",
    [
        {"TERM": "xterm"},  # 16 colours
        {"TERM": "xterm-256color"},  # what SSH usually gives (COLORTERM not forwarded)
        {"TERM": "xterm-256color", "COLORTERM": "truecolor"},
        {"TERM": "xterm-256color", "NO_COLOR": "1"},
    ],
    ids=["16-colours", "256-colours", "truecolor", "no-color"],
)
def test_terminal_variety(tmp_path: Path, scenario: Path, env: dict[str, str]) -> None:
    """The same keys work and the same text shows in every kind of terminal."""
    assert CMD is not None
    t = Term(app_command(CMD, tmp_path, scenario, **env))
    try:
        t.wait_for(at(0, "start"), STARTUP_TIMEOUT)
        t.send("n")
        t.wait_for(r"\[FORWARD\]")
        t.send("n", "n", "n")
        t.wait_for(at(0, "UPDATE"))
        assert "Network" in t.screen() and "Explain" in t.screen()
        t.send("N")
        t.wait_for(at(0, "BACKPROP L1"))
        t.send("f")  # back to step 1: progress a quit must ask about
        t.wait_for(at(0, "UPDATE"))
        t.send("q")
        t.wait_for(r"Quit\?")
        t.send("y")
        t.wait_for(r"EXITED 0")
    finally:
        t.kill()
