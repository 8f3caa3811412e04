"""Text from files never reaches the terminal raw (issue 13).

A scenario name, an unknown key, a CSV path, header or class label, a
keys.toml binding: each can carry escape sequences (set the window title,
clear the screen, write the clipboard with OSC 52), C1 controls, bidi
overrides and Rich/Textual markup. These tests put such text in files and
check the bytes the CLI writes (to a pipe and to a real pseudo-terminal) and
the text the app draws: control characters appear written out (``\\x1b``),
markup appears as its literal text, and nothing is interpreted.
"""

from __future__ import annotations

import asyncio
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.content import Content
from textual.pilot import Pilot

from pilot import run_app, tanh_session, wait_until, xor_session
from tui_trainer.engine import data
from tui_trainer.safe_text import markup_safe, plain, visible
from tui_trainer.ui.app import TrainerApp
from tui_trainer.ui.screens.confirm import ConfirmScreen

TIMEOUT = 60

# What a terminal must never receive from a file: C0 controls (tab and newline
# included: in a one-line field they forge lines), DEL, C1, and bidi controls.
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

# set-title, clear screen, clipboard write (OSC 52), a C1 CSI and a bidi override
EVIL = "\x1b]0;pwned\x07\x1b[2J\x1b]52;c;cHduZWQ=\x07\x9b31m\u202eEVIL"
EVIL_SHOWN = "\\x1b]0;pwned\\x07\\x1b[2J\\x1b]52;c;cHduZWQ=\\x07\\x9b31m\\u202eEVIL"
C1_BIDI = re.compile("[\x80-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
MARKUP = "[link=file:///etc/passwd]click[/link][blink]x"


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string, every non-printable character escaped."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif not ch.isprintable():
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


XOR_DATA = 'kind = "xor"\nn_samples = 40'


def scenario(name: str = "ok", *, top: str = "", data: str = "", epochs: int = 2) -> str:
    return f"""\
name = {toml_string(name)}
seed = 0
{top}
[data]
{data or XOR_DATA}

[model]
hidden = [4]

[training]
batch_size = 10
epochs = {epochs}
"""


def cli(*args: object, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """``python -m tui_trainer`` with stdout and stderr as raw bytes (pipes)."""
    env = {**os.environ, "COLUMNS": "200", "PYTHONIOENCODING": "utf-8"}
    env.pop("NO_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "tui_trainer", *(str(a) for a in args)],
        cwd=cwd,
        capture_output=True,
        timeout=TIMEOUT,
        env=env,
    )


def assert_clean(raw: bytes, *, allow: bytes = b"\n") -> str:
    """No control byte (other than ``allow``) and no C1/bidi character in ``raw``."""
    bad = sorted({b for b in raw if (b < 0x20 or b == 0x7F) and b not in allow})
    assert not bad, f"control bytes {[hex(b) for b in bad]} reached the terminal: {raw!r}"
    text = raw.decode("utf-8")
    assert not C1_BIDI.search(text), f"C1 or bidi control reached the terminal: {text!r}"
    return text


# ------------------------------------------------------------------ the helpers


def test_visible_writes_out_every_control() -> None:
    assert visible(EVIL) == EVIL_SHOWN
    assert visible("a\tb\nc\rd\x00\x7f\x85") == "a\\tb\\nc\\rd\\x00\\x7f\\x85"
    assert visible("a\nb", keep_newlines=True) == "a\nb"
    for ch in "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069":
        assert visible(ch) == f"\\u{ord(ch):04x}"
    assert visible("caf\u00e9 \u03b8 \u2502 ok") == "caf\u00e9 \u03b8 \u2502 ok"  # printable stays


def test_visible_is_idempotent() -> None:
    # layers (a Problem, then the CLI's printer) may each apply it
    assert visible(visible(EVIL)) == visible(EVIL)


def test_markup_safe_shows_markup_literally_in_rich() -> None:
    # as the CLI's progress bar uses it: inside a tag of its own
    for text in (MARKUP, "[bold]b[/bold]", "a\\[b]c", "end\\", "[$accent]x", EVIL):
        rendered = Text.from_markup(f"[bold]{markup_safe(text)}[/bold]")
        assert rendered.plain == visible(text)
        assert [(sp.start, sp.end, str(sp.style)) for sp in rendered.spans] == [
            (0, len(rendered.plain), "bold")
        ]


def test_plain_is_never_markup_in_textual() -> None:
    for text in (MARKUP, "[$accent]x", "[B]x[/B]", "[@click=app.quit]q[/]", EVIL):
        content = Content.from_rich_text(plain(text))
        assert content.plain == visible(text)
        assert not content.spans


# ------------------------------------------------------------------ the CLI


def test_check_shows_an_evil_unknown_key_visibly(tmp_path: Path) -> None:
    key = "\x1b]0;pwned\x07\u202eevilkey"
    f = tmp_path / "key.toml"
    f.write_text(scenario(top=f"{toml_string(key)} = 1"), encoding="utf-8")
    proc = cli("check", f, cwd=tmp_path)
    assert proc.returncode == 2
    err = assert_clean(proc.stdout + proc.stderr)
    assert "\\x1b]0;pwned\\x07\\u202eevilkey: unknown key" in err


def test_check_shows_an_evil_csv_path_visibly(tmp_path: Path) -> None:
    f = tmp_path / "path.toml"
    path = "missing\x1b[2J\x07\x9b.csv"
    f.write_text(scenario(data=f'kind = "csv"\npath = {toml_string(path)}'), encoding="utf-8")
    proc = cli("check", f, cwd=tmp_path)
    assert proc.returncode == 2
    err = assert_clean(proc.stdout + proc.stderr)
    assert "file not found" in err and "missing\\x1b[2J\\x07\\x9b.csv" in err


def test_check_shows_an_evil_file_name_visibly(tmp_path: Path) -> None:
    proc = cli("check", tmp_path / "no\x1b]0;x\x07such.toml", cwd=tmp_path)
    assert proc.returncode == 2
    assert "no\\x1b]0;x\\x07such.toml" in assert_clean(proc.stdout + proc.stderr)


def evil_csv(tmp_path: Path) -> Path:
    """A CSV whose label column's header and class labels hold escape sequences."""
    rows = ["a,b,\x1b[2Jlabel"]
    rows += [f"{i % 3},{i % 5},{'x' if i % 2 else 'y'}\x1b[31m\u202e" for i in range(40)]
    path = tmp_path / "evil.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_check_shows_evil_csv_headers_visibly(tmp_path: Path) -> None:
    evil_csv(tmp_path)
    f = tmp_path / "hdr.toml"
    data = 'kind = "csv"\npath = "evil.csv"\nfeatures = ["a", "nope"]'
    f.write_text(scenario(data=data), encoding="utf-8")
    proc = cli("check", f, cwd=tmp_path)
    assert proc.returncode == 2
    err = assert_clean(proc.stdout + proc.stderr)
    assert "available columns" in err and "\\x1b[2Jlabel" in err


def test_run_with_an_evil_name_to_a_pipe(tmp_path: Path) -> None:
    f = tmp_path / "evil.toml"
    f.write_text(scenario(EVIL), encoding="utf-8")
    proc = cli("run", f, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = assert_clean(proc.stdout + proc.stderr)
    assert f"{EVIL_SHOWN}: 2/2 epochs done" in out


def pty_run(args: list[str], cwd: Path, columns: int = 250) -> bytes:
    """Everything a command writes to a real pseudo-terminal (stdout and stderr)."""
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": "40"}
    for k in ("NO_COLOR", "CI", "TERM_PROGRAM"):
        env.pop(k, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui_trainer", *args],
        cwd=cwd,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the process closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        assert proc.wait(timeout=TIMEOUT) == 0, bytes(out)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return bytes(out)


# The terminal's own sequences Rich writes for a progress bar: CSI (colour,
# cursor, erase line) sequences, nothing else.
RICH_CSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def test_run_with_an_evil_name_in_a_terminal(tmp_path: Path) -> None:
    f = tmp_path / "evil.toml"
    f.write_text(scenario(EVIL), encoding="utf-8")
    raw = pty_run(["run", str(f)], tmp_path)
    assert b"\x1b]" not in raw  # no OSC at all: no title, no clipboard, no hyperlink
    assert b"\x07" not in raw and b"\x1b[2J" not in raw
    # Rich's own CSI sequences removed, what is left is text and line ends
    text = assert_clean(RICH_CSI.sub(b"", raw), allow=b"\r\n")
    assert text.count(EVIL_SHOWN) >= 2  # the progress bar and the summary


def test_run_with_a_markup_name_in_a_terminal(tmp_path: Path) -> None:
    f = tmp_path / "markup.toml"
    f.write_text(scenario(MARKUP), encoding="utf-8")
    raw = pty_run(["run", str(f)], tmp_path)
    assert b"\x1b]8;" not in raw  # no hyperlink was made
    assert b"\x1b[5m" not in raw  # nothing blinks
    text = assert_clean(RICH_CSI.sub(b"", raw), allow=b"\r\n")
    assert text.count(MARKUP) >= 2  # the progress bar and the summary


# ------------------------------------------------------------------ the app


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private config directory (for keys.toml); the app runs in ``tmp_path``."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config" / "tui-trainer").mkdir(parents=True)
    return tmp_path / "config" / "tui-trainer"


def screen(app: Any) -> tuple[str, str]:
    """(the screen's text, the string Textual writes to the terminal for it), checked:
    no text drawn on the screen holds a control character (the only escapes
    in the terminal string are then Textual's own), and no OSC or BEL at all."""
    strips = app.screen._compositor.render_strips()
    for strip in strips:
        for seg in strip:
            assert not UNSAFE.search(seg.text), f"raw control drawn: {seg.text!r}"
            style = seg.style
            assert style is None or (not style.link and not style.blink), seg
    terminal = app.screen._compositor.render_update(full=True).render_segments(app.console)
    assert "\x1b]" not in terminal and "\x07" not in terminal
    assert not C1_BIDI.search(terminal)
    return "\n".join(strip.text for strip in strips), terminal


def test_app_shows_an_evil_name_and_watch_visibly(config: Path) -> None:
    app = TrainerApp(xor_session(), name=EVIL, watch_text=f"watch {EVIL}")

    async def body(pilot: Pilot) -> None:
        await pilot.pause()
        text, terminal = screen(app)
        assert EVIL_SHOWN in text  # the status line
        assert f"watch {EVIL_SHOWN}"[:40] in text.replace("\n", "")  # the explain panel
        assert "\\x1b]52;c;" in terminal

    run_app(app, body, size=(200, 50))


def test_app_shows_markup_in_a_name_and_watch_literally(config: Path) -> None:
    app = TrainerApp(xor_session(), name=MARKUP, watch_text=f"watch {MARKUP}")

    async def body(pilot: Pilot) -> None:
        await pilot.pause()
        text, _ = screen(app)
        assert text.count(MARKUP) >= 2  # the status line and the explain panel

    run_app(app, body, size=(200, 50))


def test_app_dialogs_and_toasts_show_file_text_visibly(config: Path) -> None:
    from tui_trainer.scenario import Problem, ScenarioError

    def loader(choice: str) -> Any:
        path = f"/tmp/x{EVIL}.toml"
        raise ScenarioError([Problem(path, "data.target", 3, f"column {MARKUP!r} not found")])

    app = TrainerApp(xor_session(), name=EVIL, loader=loader, builtins=[("xor", MARKUP)])

    async def body(pilot: Pilot) -> None:
        await pilot.pause()
        app.action_open_scenario()
        await pilot.pause()
        text, _ = screen(app)
        assert MARKUP in text  # the built-in's description, in the list
        await pilot.press("enter")  # open the first built-in: the loader fails
        await wait_until(pilot, lambda: bool(getattr(app.screen, "error", "")))
        await pilot.pause()
        text, _ = screen(app)  # the problems, in the open dialog
        flat = text.replace("\n", "").replace(" ", "")
        assert "\\x1b]0;pwned\\x07" in flat and "[link=file:///etc/passwd]" in flat
        await pilot.press("escape")
        app.notify(f"{EVIL} {MARKUP}", severity="error")  # any toast, from any screen
        await wait_until(pilot, lambda: bool(app.screen.query("Toast")))
        await pilot.pause()
        text, _ = screen(app)
        flat = text.replace("\n", "").replace(" ", "")
        assert "\\x1b]0;pwned\\x07" in flat and "[link=file:///etc/passwd]" in flat
        app.push_screen(ConfirmScreen(f"A session of {EVIL} {MARKUP} was interrupted."))
        await pilot.pause()
        text, _ = screen(app)
        flat = text.replace("\n", "")
        assert EVIL_SHOWN in flat and MARKUP in flat

    async def main() -> None:  # run_app's run_test leaves toasts out
        async with app.run_test(size=(200, 50), notifications=True) as pilot:
            await body(pilot)

    asyncio.run(main())


def _csv_session(tmp_path: Path, n_features: int) -> Any:
    """Classes whose labels (and the label column's name) hold escape sequences."""
    labels = ["x\x1b[31m\u202e", f"y{MARKUP}", "z\x07"]
    cols = ["a", "b", "c"][:n_features]
    rows = [",".join([*cols, "\x1b[2Jlabel"])]
    rows += [
        ",".join([*(str((i * (j + 3)) % 7) for j in range(n_features)), labels[i % 3]])
        for i in range(60)
    ]
    path = tmp_path / "evil.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    d = data.split(data.load_csv(path), 0.2, 0)
    return tanh_session(d, 4, 3, epochs=2)


@pytest.mark.parametrize("n_features", [2, 3])  # decision map legend, confusion matrix
def test_app_shows_csv_class_labels_visibly(config: Path, n_features: int) -> None:
    app = TrainerApp(_csv_session(config, n_features), name="csv")

    async def body(pilot: Pilot) -> None:
        await pilot.press("3")  # the data panel
        await pilot.pause(0.3)
        text, _ = screen(app)
        assert "x\\x1b[31m\\u2" in text and "z\\x07" in text
        assert "y[link=file:" in text

    run_app(app, body, size=(120, 40))


def test_key_bar_shows_an_escape_in_a_key_visibly(config: Path) -> None:
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        app.set_keymap({"next_phase": "\x1b[2J\u202e"})  # a binding the loader would refuse
        await pilot.pause()
        text, _ = screen(app)
        assert "\\x1b[2J\\u202e next" in text.splitlines()[-1]

    run_app(app, body, size=(200, 50))


def test_keys_toml_with_an_escape_is_refused_with_a_message(config: Path) -> None:
    (config / "keys.toml").write_text(
        '[keys]\nnext_phase = "\\u001b]0;pwned\\u0007"\ncontinue = "g"\n', encoding="utf-8"
    )
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.pause()
        text, _ = screen(app)
        bar = text.splitlines()[-1]
        assert " n next " in bar and " g run " in bar  # the good binding applies
        (message,) = [n.message for n in app._notifications]
        assert "keys.next_phase: ignored:" in message and "\\x1b]0;pwned\\x07" in message

    run_app(app, body, size=(200, 50))


def test_keys_toml_nested_too_deeply_starts_the_app_with_a_message(config: Path) -> None:
    (config / "keys.toml").write_text(
        "[keys]\nnext_phase = " + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8"
    )
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.pause()
        (message,) = [n.message for n in app._notifications]
        assert "keys.toml: ignored: nested too deeply" in message
        await pilot.press("n")
        assert "phase FORWARD" in str(app.query_one("#status").content)  # default keys

    run_app(app, body)


def test_check_reports_a_scenario_nested_too_deeply(tmp_path: Path) -> None:
    # a regression guard: the scenario loader already caught this
    f = tmp_path / "deep.toml"
    f.write_text("name = " + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    proc = cli("check", f, cwd=tmp_path)
    assert proc.returncode == 2
    assert "invalid TOML: nested too deeply" in assert_clean(proc.stdout + proc.stderr)


def test_run_resume_shows_evil_checkpoint_metadata_visibly(tmp_path: Path) -> None:
    import json

    import numpy as np

    f = tmp_path / "ok.toml"
    f.write_text(scenario(), encoding="utf-8")
    ckpt = tmp_path / "ok.npz"
    assert cli("run", f, "--save", ckpt, cwd=tmp_path).returncode == 0
    with np.load(ckpt, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["state"]))
    meta["config"]["loss"] = EVIL  # the checkpoint's metadata names a model of its own
    arrays["state"] = np.array(json.dumps(meta))
    evil = tmp_path / "evil.npz"
    np.savez(evil, **arrays)
    proc = cli("run", f, "--resume", evil, cwd=tmp_path)
    assert proc.returncode == 2
    err = assert_clean(proc.stdout + proc.stderr)
    assert "different model" in err and EVIL_SHOWN in err


def test_app_sets_aside_a_recovery_file_with_evil_metadata(config: Path) -> None:
    import json

    import numpy as np

    from tui_trainer.engine.checkpoint import save_checkpoint

    s = xor_session()
    s.advance("step")
    own = config / "xor-0123456789ab-1-abcdef.npz"  # this instance's file
    path = config / "xor-0123456789ab.npz"  # another's (the shared name of older versions)
    save_checkpoint(s, path, "")
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["state"]))
    meta["epoch"] = EVIL  # shown in the resume question if it were used
    arrays["state"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)
    app = TrainerApp(xor_session(), name="xor", recovery_file=own)

    async def body(pilot: Pilot) -> None:
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)  # no question about a damaged file
        assert not path.exists() and path.with_name(path.name + ".damaged").exists()
        screen(app)

    run_app(app, body)


def test_prompt_errors_are_plain_text(config: Path) -> None:
    """A prompt's error quotes what was typed; brackets in it are text, not markup
    (before, "[/x]" in a typed path raised a MarkupError)."""
    from textual.widgets import Label

    from tui_trainer.ui.screens.prompt import PromptScreen

    app = TrainerApp(xor_session(), name="xor")
    typed = "a[/x]b [link=file:///etc/passwd]c"

    async def body(pilot: Pilot) -> None:
        app.push_screen(PromptScreen("Path", value=typed, validate=lambda t: f"cannot use {t}"))
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        shown = str(app.screen.query_one("#prompt-error", Label).render())
        assert f"cannot use {typed}" in shown

    run_app(app, body)
