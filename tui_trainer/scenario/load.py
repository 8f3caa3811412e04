"""Loading scenarios: reading a file safely, parsing TOML, finding built-in scenarios.

Every failure (a missing, unreadable, special or oversized file, invalid
UTF-8, malformed TOML, wrong values) becomes a :class:`ScenarioError`.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from importlib import resources
from pathlib import Path

from tui_trainer.scenario.check import _Checker, _quote_list, _suggest
from tui_trainer.scenario.positions import _Locator
from tui_trainer.scenario.schema import Problem, Scenario, ScenarioError
from tui_trainer.scenario.sections import _build

_TOML_POSITION = re.compile(
    r"^(?P<msg>.*?)\s*\(at (?:line (?P<line>\d+), column (?P<col>\d+)|end of document)\)\s*$", re.S
)

_TOML_HINTS: tuple[tuple[str, str], ...] = (
    ("Cannot overwrite a value", "duplicate key: each key may be set only once per table"),
    ("Cannot declare", "duplicate table: each [section] may appear only once"),
    (
        "Invalid value",
        'a value is missing or malformed; strings need double quotes, e.g. kind = "xor"',
    ),
    ("Expected '=' after a key", "each setting is written key = value, e.g. lr = 0.03"),
    ("Unclosed array", "an array is missing its closing ]"),
    ("Illegal character", "a string is missing its closing quote"),
)


def _toml_problem(file: str, exc: tomllib.TOMLDecodeError) -> Problem:
    text = str(exc)
    match = _TOML_POSITION.match(text)
    line: int | None = None
    message = text
    if match:
        message = match.group("msg")
        if match.group("line"):
            line = int(match.group("line"))
            message += f" (column {match.group('col')})"
        else:
            message += " (at the end of the file)"
    for needle, hint in _TOML_HINTS:
        if needle in text:
            message += f"; {hint}"
            break
    return Problem(file, "toml", line, f"invalid TOML: {message}", "TOML 1.0 syntax")


def parse_scenario(text: str, source: str | Path | None = None) -> Scenario:
    """Check scenario ``text``; ``source`` names the file (for messages, the
    default name and resolving a relative csv ``path``). Raises :class:`ScenarioError`."""
    source = Path(source) if source is not None else None
    file = str(source) if source is not None else "<scenario>"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([_toml_problem(file, exc)]) from None
    except RecursionError:
        raise ScenarioError(
            [Problem(file, "toml", None, "invalid TOML: nested too deeply")]
        ) from None
    ck = _Checker(file, _Locator(text).lines)
    try:
        scenario = _build(ck, raw, text, source)
    except RecursionError:
        ck.add("", "the file is nested too deeply to check")
        scenario = None
    except Exception as exc:  # noqa: BLE001 - never a traceback for a bad file
        ck.add("", f"internal error while checking the scenario: {type(exc).__name__}: {exc}")
        scenario = None
    if ck.problems or scenario is None:
        problems = sorted(ck.problems, key=lambda p: (p.line is None, p.line or 0))
        raise ScenarioError(problems)
    return scenario


MAX_SCENARIO_BYTES = 4 * 1024 * 1024


def _read_regular(p: Path, file: str) -> bytes:
    """The bytes of a regular file of at most MAX_SCENARIO_BYTES.

    Opened non-blocking and checked with ``fstat``: a FIFO, a device or a
    pseudo-file such as ``/proc/kmsg`` (which would block) or
    ``/proc/self/environ`` (whose size reads as 0) is refused, not read.
    """
    fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(fd)
        allowed = "a .toml file"
        if not stat.S_ISREG(info.st_mode):
            raise ScenarioError(
                [Problem(file, "", None, "not a regular file (a device, pipe or socket)", allowed)]
            )
        if info.st_size > MAX_SCENARIO_BYTES:
            raise ScenarioError(
                [
                    Problem(
                        file,
                        "",
                        None,
                        f"too large for a scenario file ({info.st_size:,} bytes)",
                        f"at most {MAX_SCENARIO_BYTES // 2**20} MiB",
                    )
                ]
            )
        try:
            data = os.read(fd, info.st_size + 1) if info.st_size else os.read(fd, 1)
        except BlockingIOError:
            data = b"?"  # would block: not a plain file's content
        if len(data) != info.st_size:
            raise ScenarioError(
                [
                    Problem(
                        file,
                        "",
                        None,
                        "its size does not match what it holds (a /proc or /sys pseudo-file, "
                        "or it changed while being read)",
                        allowed,
                    )
                ]
            )
        return data
    finally:
        os.close(fd)


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file. Raises only :class:`ScenarioError`."""
    file = str(path)
    try:
        p = Path(path)
        if p.is_dir():
            raise ScenarioError(
                [Problem(file, "", None, "is a directory, not a scenario file", "a .toml file")]
            )
        data = _read_regular(p, file)
    except ScenarioError:
        raise
    except FileNotFoundError:
        raise ScenarioError([Problem(file, "", None, "file not found", "a .toml file")]) from None
    except PermissionError:
        raise ScenarioError([Problem(file, "", None, "permission denied")]) from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ScenarioError([Problem(file, "", None, f"cannot read the file: {reason}")]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ScenarioError(
            [
                Problem(
                    file,
                    "",
                    line,
                    f"not a UTF-8 text file (byte 0x{data[exc.start]:02x} at offset {exc.start})",
                    "a UTF-8 encoded .toml file",
                )
            ]
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return parse_scenario(text, p)


def builtin_dir() -> Path:
    """The directory of the scenarios shipped with the package."""
    return Path(str(resources.files("tui_trainer").joinpath("scenarios")))


def builtin_names() -> list[str]:
    """Names (file stems) of the built-in scenarios, sorted."""
    try:
        return sorted(p.stem for p in builtin_dir().glob("*.toml") if p.is_file())
    except OSError:
        return []


def resolve_scenario(arg: str) -> Path:
    """``arg`` as an existing file, else the built-in scenario of that name.

    Raises :class:`ScenarioError` (with a did-you-mean) when neither exists.
    """
    names = builtin_names()
    listing = _quote_list(names) if names else "(none installed)"
    allowed = f"a path to a .toml file, or a built-in scenario: {listing}"
    try:
        p = Path(arg).expanduser()
        if p.is_file():
            return p
        if p.is_dir():
            raise ScenarioError(
                [Problem(arg, "", None, "is a directory, not a scenario file", allowed)]
            )
    except RuntimeError:  # ~user with an unknown user
        user = arg[1:].split("/", 1)[0]
        raise ScenarioError(
            [Problem(arg, "", None, f"unknown user {user!r} in the path", allowed)]
        ) from None
    except (OSError, ValueError):
        pass
    stem = arg[:-5] if arg.endswith(".toml") else arg
    if stem in names:
        return builtin_dir() / f"{stem}.toml"
    message = f"no scenario file or built-in scenario named {arg!r}"
    suggestion = _suggest(stem, names) if names else ""
    if suggestion:
        message += f"; did you mean '{suggestion}'?"
    raise ScenarioError([Problem(arg, "", None, message, allowed)])
