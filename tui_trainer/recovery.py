"""Recovery checkpoints: nothing is lost when the terminal goes away.

When the app gets SIGHUP (an SSH connection dropped, the window closed),
SIGTERM or SIGINT, it saves the session atomically to
``$XDG_STATE_HOME/tui-trainer/recovery/<scenario>-<hash>-<pid>-<id>.npz``.
The hash identifies the scenario by its file's resolved path and its text, so
an edited scenario does not resume a stale run; the pid and random id make
the file this instance's own, so two instances of one scenario never write,
offer-and-decline or delete each other's work. The next start on the same
scenario lists every file of that scenario, offers the newest and says how
many others there are.

A file that cannot be read or validated is renamed to ``*.damaged`` (never
deleted: it may still be worth something to its owner) and reported; the app
starts normally. An instance deletes only its own file and, after resuming
one successfully, the file it resumed from (it takes that file over, see
:func:`claim`).

Headless ``run`` keeps its recovery checkpoints beside these, named
``run-<scenario>-<hash>-<pid>-<id>.npz`` so the app does not offer them: a
run's overrides (--seed, --epochs) are not the app's.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from pathlib import Path

_INSTANCE = f"{os.getpid()}-{secrets.token_hex(3)}"
_INSTANCE_RX = r"-\d+-[0-9a-f]{6}"


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "tui-trainer" / "recovery"


def scenario_key(name: str, source: Path | None, text: str) -> str:
    """``<safe name>-<hash>``: the part of a file name shared by every instance."""
    key = f"{source.resolve() if source else ''}\n{text}".encode()
    digest = hashlib.sha256(key).hexdigest()[:12]
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:40] or "scenario"
    return f"{safe}-{digest}"


def instance_id() -> str:
    """``<pid>-<random>``: this process's own, even when a pid is reused."""
    if not _INSTANCE.startswith(f"{os.getpid()}-"):  # a forked child is another instance
        globals()["_INSTANCE"] = f"{os.getpid()}-{secrets.token_hex(3)}"
    return _INSTANCE


def recovery_path(name: str, source: Path | None, text: str, prefix: str = "") -> Path:
    """This instance's recovery file for the scenario (``prefix`` "run-" for headless runs)."""
    return state_dir() / f"{prefix}{scenario_key(name, source, text)}-{instance_id()}.npz"


def _running_instance(pid: int) -> bool:
    """Is ``pid`` a live tui-trainer process (one that resumed a file and took it over)?"""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError, ValueError):  # gone, or no possible pid
        return False
    except OSError:  # EPERM: alive, another user's; read its command line if we can
        pass
    if not Path("/proc/self").exists():
        return True  # no /proc: alive is all we know
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False  # exited meanwhile
    return b"tui-trainer" in cmdline or b"tui_trainer" in cmdline


def recoveries(own: Path) -> list[Path]:
    """Every other instance's recovery file for ``own``'s scenario, newest first.

    Also matches the single shared file of older versions (``<key>.npz``).
    Skips the file of an instance that is still running (it resumed that file
    and took it over: its work is not interrupted). Unreadable directories
    give an empty list: a start is never blocked.
    """
    m = re.fullmatch(rf"(.+){_INSTANCE_RX}\.npz", own.name)
    if m is None:
        return []
    rx = re.compile(rf"{re.escape(m.group(1))}(?:-(\d+)-[0-9a-f]{{6}})?\.npz")
    found: list[tuple[float, Path]] = []
    try:
        for p in own.parent.iterdir():
            hit = rx.fullmatch(p.name)
            if p != own and hit and not (hit.group(1) and _running_instance(int(hit.group(1)))):
                with contextlib.suppress(OSError):
                    if p.is_file():
                        found.append((p.stat().st_mtime, p))
    except OSError:
        return []
    return [p for _, p in sorted(found, key=lambda t: (-t[0], t[1].name))]


def set_aside(path: Path) -> Path | None:
    """Rename a damaged file to ``<name>.damaged`` (``.damaged.1`` ... if taken).

    Returns the new path, or None when it could not be renamed (it is then
    left where it is: never deleted).
    """
    for i in range(100):
        target = path.with_name(path.name + (".damaged" if i == 0 else f".damaged.{i}"))
        if target.exists():
            continue
        try:
            os.rename(path, target)
        except OSError:
            return None
        return target
    return None


def claim(path: Path, own: Path) -> bool:
    """Take over a resumed file: rename it to this instance's own name.

    From then on the work lives in exactly one file, this instance's: saved
    over on the next signal, deleted on a deliberate quit. False if another
    instance took it first (or it is gone); the resumed state is in memory
    either way.
    """
    if own.exists():  # never overwrite work of our own
        return False
    try:
        os.rename(path, own)
    except OSError:
        return False
    return True


def discard(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
