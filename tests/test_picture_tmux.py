"""End to end in a real terminal (tmux): the network picture at 120x40 and a
weight edited by hand with M at 80x24, through the installed command."""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from terminal import KEY_TIMEOUT, STARTUP_TIMEOUT, TMUX, Term, app_command, at, wait, write_scenario

CMD = shutil.which("tui-trainer")

pytestmark = pytest.mark.skipif(
    TMUX is None or CMD is None, reason="needs tmux and the installed tui-trainer command"
)
CURSOR_RX = re.compile(r"cursor W\[0,0\] = +(\S+)")


@pytest.fixture
def term(tmp_path: Path) -> Iterator[Term]:
    assert CMD is not None
    t = Term(app_command(CMD, tmp_path, write_scenario(tmp_path / "pic.toml")))
    try:
        t.wait_for(at(0, "start"), STARTUP_TIMEOUT)
        yield t
    finally:
        t.kill()


def test_network_picture_at_120x40(tmp_path: Path) -> None:
    assert CMD is not None
    command = app_command(CMD, tmp_path, write_scenario(tmp_path / "pic.toml"))
    term = Term(command, size=(120, 40))
    try:
        term.wait_for(at(0, "start"), STARTUP_TIMEOUT)
        _picture(term)
    finally:
        term.kill()


def _picture(term: Term) -> None:
    term.send("e")
    term.wait_for(r"step 15 \|", 30.0)  # the epoch's last step (16 batches)
    term.send("5")
    screen = term.wait_for(r"Network picture")
    screen = term.wait_for(r"in x1 x2 +L1 tanh +L2 out")
    assert "▀" in screen  # the units' maps (half blocks)
    assert re.search("[\u2801-\u28ff]", screen)  # the links (braille)
    assert "links" in screen and "w>0" in screen
    term.send("4")  # back to another panel by key: the picture goes
    wait(lambda: "Network picture" not in term.screen(), KEY_TIMEOUT, "5 did not switch away")


def test_edit_a_weight_with_m_at_80x24(term: Term) -> None:
    term.send("m")
    start = CURSOR_RX.search(term.wait_for(CURSOR_RX.pattern)).group(1)  # type: ignore[union-attr]
    term.send("f")  # one step; the edit is recorded at the step boundary it is made at
    term.wait_for(at(0, "UPDATE"))
    term.send("M")
    term.wait_for(r"New value of W\[0\]\[0,0\]")
    term.press("End", "C-u")
    term.wait_for(r"e\.g\. 0\.5")  # the field is empty: its placeholder shows
    term.send("3.25")
    term.wait_for(r"▊ *3\.25")
    term.press("Enter")
    screen = term.wait_for(r"set by hand")
    assert CURSOR_RX.search(screen).group(1) == "3.25"  # type: ignore[union-attr]
    assert re.search(r"training\s+set", screen)
    term.send("F")  # back a step, before the edit: the weight as it was then
    wait(
        lambda: (m := CURSOR_RX.search(term.screen())) is not None and m.group(1) == start,
        KEY_TIMEOUT,
        lambda: f"the weight did not come back to {start}:\n{term.screen()}",
    )
    term.send("f")  # and forward again: the recorded edit is replayed
    wait(
        lambda: (m := CURSOR_RX.search(term.screen())) is not None and m.group(1) == "3.25",
        KEY_TIMEOUT,
        lambda: f"the edit was not replayed:\n{term.screen()}",
    )


def test_mouse_click_selects_a_layer_with_the_mouse_flag(tmp_path: Path) -> None:
    """--mouse: a click (the SGR mouse report a terminal sends) on the network
    panel's L2 line selects layer 2; the matrix panel follows."""
    assert CMD is not None
    scenario = write_scenario(tmp_path / "mouse.toml")
    where = shlex.quote(str(scenario))
    command = app_command(CMD, tmp_path, scenario).replace(f"{where};", f"{where} --mouse;")
    assert "--mouse" in command
    term = Term(command)
    try:
        term.wait_for(at(0, "start"), STARTUP_TIMEOUT)
        term.wait_for(r"L1 weights")
        # Row 7 (1-based): phase bar, status line, border, "input", L1, its statistics, L2.
        term.send("\x1b[<0;5;7M\x1b[<0;5;7m")
        screen = term.wait_for(r"L2 weights")
        assert re.search(r"> L2 4x2", screen)
    finally:
        term.kill()
