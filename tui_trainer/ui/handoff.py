"""The session lock, handed from the training worker to the UI only when it waits.

The worker trains in chunks of about 10 ms under the lock. It used to
``time.sleep(0)`` after every chunk so the UI could take the lock; that
releases the GIL, and getting it back takes until the UI thread blocks or
the interpreter's switch interval (5 ms) ends: measured with
``bench/ui.py probe`` (digits at 120x40), 450 to 560 such sleeps took 2.3 to
4.2 s of a 7 to 11 s run, the whole gap between the app and headless
training. The UI wants the lock about ten times a second, not a hundred.

So the lock counts the threads blocked on it, and the worker yields between
chunks only while someone waits (``yield_to_waiters``).
"""

from __future__ import annotations

import threading
import time


class HandoffLock:
    """A re-entrant lock that knows whether another thread is waiting for it.

    Same interface as ``threading.RLock`` for ``with``, ``acquire`` and
    ``release``.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._count = threading.Lock()  # guards _waiting
        self._waiting = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if self._lock.acquire(False):  # free, or already ours (re-entrant)
            return True
        if not blocking:
            return False
        with self._count:
            self._waiting += 1
        try:
            return self._lock.acquire(True, timeout)
        finally:
            with self._count:
                self._waiting -= 1

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    @property
    def waiting(self) -> int:
        """Threads blocked in ``acquire`` right now."""
        return self._waiting

    def yield_to_waiters(self, timeout: float = 0.05) -> None:
        """Called without holding the lock: let a waiting thread take it first.

        Returns at once when nobody waits (no GIL release, no lost time
        slice); otherwise yields until the waiters have the lock, at most
        ``timeout`` seconds.
        """
        if not self._waiting:
            return
        deadline = time.monotonic() + timeout
        while self._waiting and time.monotonic() < deadline:
            time.sleep(0)
