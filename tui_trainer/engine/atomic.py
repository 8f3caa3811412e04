"""Write files atomically: a temporary file in the same directory, then rename.

A crash, a full disk or a read-only directory never leaves a half-written
checkpoint, trace or scenario behind: either the old file or the new one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_writer(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """Yield a file object; on success it replaces ``path`` in one rename."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    except OSError as e:  # report the user's file, not our temporary name
        raise OSError(e.errno, e.strerror, str(path)) from None
    try:
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


def write_atomic(path: str | Path, write: Callable[[IO], None], mode: str = "wb") -> None:
    with atomic_writer(path, mode) as f:
        write(f)


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_writer(path, "w") as f:
        f.write(text)
