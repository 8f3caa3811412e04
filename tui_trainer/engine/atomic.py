"""Write files atomically: a temporary file in the same directory, then rename.

A crash, a full disk or a read-only directory never leaves a half-written
checkpoint, trace or scenario behind: either the old file or the new one.

The temporary file is named ``.<name>.tt<pid>-<random>.tmp``. A writer killed
outright (``kill -9``, power loss) cannot remove it, so every write first
removes such files in its directory whose writer process is gone and which
have not changed for :data:`STALE_AFTER` seconds (the grace covers a writer
whose pid we cannot see, such as another container sharing the directory).
A live writer's file is never touched, nor any file not of this naming.

The written file gets the permission bits of the file it replaces, else
those a plain ``open()`` would give (0o666 minus the umask), not the 0o600
of ``mkstemp``. A path that holds a directory, device, FIFO or socket is
refused: the rename would put a plain file in its place.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

STALE_AFTER = 60.0  # seconds unchanged before a dead writer's temporary file is removed
_TMP_RX = re.compile(r"\..+\.tt(\d+)-[a-z0-9_]{8}\.tmp")


def _umask() -> int:
    """The process umask, read without changing it where the OS allows."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: read it by setting it, then put it back
    os.umask(mask)
    return mask


def _target_mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        return 0o666 & ~_umask()


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return True  # not a pid we could have written: leave it alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def clean_stale_temps(directory: str | Path, now: float | None = None) -> list[Path]:
    """Remove temporary files of our naming whose writer is gone; returns them."""
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        m = _TMP_RX.fullmatch(entry.name)
        if m is None or int(m.group(1)) == os.getpid():
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if now - st.st_mtime < STALE_AFTER or _pid_alive(int(m.group(1))):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


def _refuse_special(path: Path) -> None:
    """A rename would replace a device or FIFO (``--save /dev/null`` as root) with
    a plain file: refuse anything that exists and is not a regular file."""
    try:
        st = path.stat()
    except OSError:
        return  # nothing there yet (or unreadable: the write will say so)
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
    if not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EINVAL, "not a regular file (a device, FIFO or socket)", str(path))


def _temp_beside(path: Path) -> tuple[int, str]:
    """A new temporary file of our naming (the writer's pid in it) in ``path``'s
    directory; an error names the user's file, not the temporary name."""
    try:
        return tempfile.mkstemp(
            prefix=f".{path.name}.tt{os.getpid()}-", suffix=".tmp", dir=path.parent or "."
        )
    except OSError as e:
        raise OSError(e.errno, e.strerror, str(path)) from None


@contextlib.contextmanager
def atomic_writer(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """Yield a file object; on success it replaces ``path`` in one rename."""
    path = Path(path)
    _refuse_special(path)
    directory = path.parent or Path(".")
    clean_stale_temps(directory)
    fd, tmp = _temp_beside(path)
    try:
        with contextlib.suppress(OSError):  # e.g. a file system without permissions
            os.fchmod(fd, _target_mode(path))
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OSError(e.errno, e.strerror, str(path)) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def check_writable(path: str | Path) -> None:
    """Raise OSError (naming ``path``) unless a file could be written there now.

    Creates and removes one temporary file of our naming in the directory:
    permission bits say nothing for root, and a missing directory, a parent
    that is a file or a read-only mount all show up the same way.
    """
    path = Path(path)
    _refuse_special(path)
    fd, tmp = _temp_beside(path)
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def write_atomic(path: str | Path, write: Callable[[IO], None], mode: str = "wb") -> None:
    with atomic_writer(path, mode) as f:
        write(f)


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_writer(path, "w") as f:
        f.write(text)
