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

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.text import Text
from textual.content import Content

from tui_trainer.safe_text import markup_safe, plain, visible

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
    assert f"{EVIL_SHOWN}: epoch 2/2" in out


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
