"""One training step run in a worker thread that waits at every pause point.

PyTorch runs the user's ``forward`` and autograd's backward as ordinary
calls, so the only way to stop *inside* them without changing the user's
code is to block in a hook. The step therefore runs in a worker thread; a
hook calls ``pause(event)``, which hands the event to the session's thread
and waits until it says go on (or abort).

::

    session thread                    worker thread (one per single-stepped step)
    --------------                    -------------
    start()  ───────────────────────▶ body(pause): model(x) ... hook: pause(ev)
             ◀─────── ("event", ev) ─┘                                   │ waits
    resume() ── "go" ──────────────────────────────────────────────────▶ │
             ◀─────── ("event", ev) ─ ... next hook ...
    resume() ── "go" ─▶ ... optimizer.step() ... body returns
             ◀─────── ("end", ev) ─── thread ends
    abort()  ── "abort" ─▶ pause raises Abort: the step unwinds through the
             ◀─────── ("aborted") ─── user's code and autograd; finally-blocks
                                      remove the hooks; thread ends

Exactly one side runs at a time (each waits on a queue the other fills), so
the session never reads a tensor the step is writing. The worker posts its
final message from a ``finally``-like path whatever happens (normal end, a
non-finite stop, an abort, an exception in user code), so the session never
waits forever on a step that already ended.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from tui_trainer.engine.stepper import Event


class Abort(BaseException):  # noqa: N818 - a control-flow signal, not an error
    """Unwinds a paused step (quit, rewind). A BaseException, so a user's
    ``except Exception`` in their forward does not swallow it."""


Pause = Callable[[Event], None]
Message = tuple[str, Any]  # ("event", Event) | ("end", Event) | ("error", exc) | ("aborted", None)


class StepRunner:
    """Runs ``body(pause)`` in a daemon thread, one pause at a time."""

    def __init__(self, body: Callable[[Pause], Event]) -> None:
        self._body = body
        self._to_main: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self._to_worker: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="tui-trainer-step", daemon=True)
        self.started = False
        self.done = False

    # ------------------------------------------------------- worker side
    def _pause(self, ev: Event) -> None:
        self._to_main.put(("event", ev))
        if self._to_worker.get() == "abort":
            raise Abort

    def _work(self) -> None:
        msg: Message = ("aborted", None)
        try:
            msg = ("end", self._body(self._pause))
        except Abort:
            msg = ("aborted", None)
        except BaseException as e:  # user code raised: hand it to the session thread
            msg = ("error", e)
        finally:
            self._to_main.put(msg)

    # ------------------------------------------------------ session side
    def _receive(self) -> Message:
        msg = self._to_main.get()
        if msg[0] != "event":
            self._thread.join()
            self.done = True
        return msg

    def start(self) -> Message:
        """Start the step; returns its first message (an event or the end)."""
        self.started = True
        self._thread.start()
        return self._receive()

    def resume(self) -> Message:
        """Let the paused step go on to its next pause or its end."""
        self._to_worker.put("go")
        return self._receive()

    def abort(self) -> None:
        """Unwind a paused step and wait until its thread has ended."""
        if not self.started or self.done:
            return
        while True:
            self._to_worker.put("abort")
            # If user code caught the Abort and went on, it pauses again:
            # abort again until the step really ends.
            if self._receive()[0] != "event":
                return
