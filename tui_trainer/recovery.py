"""Recovery checkpoints: nothing is lost when the terminal goes away.

When the app gets SIGHUP (an SSH connection dropped, the window closed),
SIGTERM or SIGINT, it saves the session atomically to
``$XDG_STATE_HOME/tui-trainer/recovery/<scenario>-<hash>.npz``; the next start
on the same scenario offers to resume it. The hash identifies the scenario by
its file's resolved path and its text, so an edited scenario does not resume
a stale run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "tui-trainer" / "recovery"


def recovery_path(name: str, source: Path | None, text: str) -> Path:
    key = f"{source.resolve() if source else ''}\n{text}".encode()
    digest = hashlib.sha256(key).hexdigest()[:12]
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:40] or "scenario"
    return state_dir() / f"{safe}-{digest}.npz"


def find_recovery(path: Path) -> Path | None:
    return path if path.is_file() else None


def discard(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
