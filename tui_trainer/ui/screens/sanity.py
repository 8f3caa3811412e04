"""The sanity checklist: gradient check, loss at init, overfit a tiny batch, ...

The checks (``tui_trainer.engine.sanity.run_all``, on a PyTorch model
``tui_trainer.torch.sanity.run_all``) run in a thread worker on a
copy of the session taken under the app's lock, so the dialog never blocks the
UI and never touches the user's session. Each check is one row: PASS / FAIL /
N/A (the word, so it reads without colour), its name, the one-line summary and
the detail lines under it.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Label, ProgressBar, Static
from textual.worker import get_current_worker

from tui_trainer.engine.backend_tools import tools_for
from tui_trainer.engine.sanity import CheckResult
from tui_trainer.engine.session import Session
from tui_trainer.ui.screens.dialog import Dialog


class Cancelled(BaseException):
    """Raised from a progress callback to abandon engine work nobody waits for.

    A ``BaseException`` so that the engine's ``except Exception`` (which turns a
    failing check into a failed result) lets it through.
    """


def snapshot(session: Session, lock: Any) -> tuple[Session, AbstractContextManager[Any]]:
    """An independent copy of ``session`` at its position, taken under ``lock``.

    Returns the copy and a context manager to hold while reading it (a no-op
    for a copy). If the session cannot be forked, the live session is returned
    with ``lock`` itself, so a caller then reads it under the lock.
    """
    with lock:
        try:
            return tools_for(session).snapshot(session), nullcontext()
        except Exception:  # noqa: BLE001 - fall back to reading the live session under the lock
            return session, lock


def post(node: Any, message: Message) -> None:
    """``post_message`` from a worker thread; a closed app or screen drops it."""
    try:
        node.post_message(message)
    except RuntimeError:  # the event loop is gone (app exiting)
        pass


STYLE = {
    "PASS": "bold #000000 on #3fb950",
    "FAIL": "bold #ffffff on #d03030",
    "N/A": "bold #000000 on #a0a0a0",
}


def verdict(r: CheckResult) -> str:
    if not r.applicable:
        return "N/A"
    return "PASS" if r.passed else "FAIL"


def summary(results: list[CheckResult], where: str = "") -> str:
    """One line: how many checks passed, which failed, and where they ran."""
    n_app = sum(1 for r in results if r.applicable)
    n_pass = sum(1 for r in results if r.applicable and r.passed)
    n_na = len(results) - n_app
    failed = [r.name for r in results if r.applicable and not r.passed]
    head = f"{n_pass} of {n_app} checks passed"
    if n_na:
        head += f" ({n_na} not applicable)"
    if where:
        head += f" {where}"
    return head + (f". FAILED: {', '.join(failed)}." if failed else ".")


def render_results(results: list[CheckResult]) -> Table:
    """One row per check: the verdict word, then name, summary and details (indented)."""
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column(ratio=1)
    for r in results:
        v = verdict(r)
        body = Text()
        body.append(r.name, style="bold")
        body.append(f": {r.summary}")
        for line in r.details:
            body.append("\n" + line, style="dim" if v != "FAIL" else "")
        table.add_row(Text(f" {v:^4} ", style=STYLE[v]), body)
    return table


class SanityScreen(Dialog[None]):
    """Run the sanity checks on (a copy of) the session; ``r`` re-runs, Esc closes."""

    DEFAULT_CSS = """
    SanityScreen {
        align: center middle;
    }
    #sanity-box {
        width: 100%;
        height: 100%;
        border: round $primary;
        border-title-align: left;
        background: $surface;
        padding: 0 1;
    }
    #sanity-status {
        height: auto;
        max-height: 2;
        width: 100%;
    }
    #sanity-progress {
        height: 1;
        width: 100%;
    }
    #sanity-progress Bar {
        width: 1fr;
    }
    #sanity-scroll {
        height: 1fr;
    }
    #sanity-help {
        height: 1;
        width: 100%;
        color: $text-muted;
    }
    """

    BINDINGS = [
        Binding("escape", "close", "close", id="sanity_close"),
        Binding("r", "rerun", "re-run", id="sanity_rerun"),
    ]

    class Progress(Message):
        def __init__(self, token: int, value: float) -> None:
            self.token = token
            self.value = value
            super().__init__()

    class Done(Message):
        def __init__(self, token: int, results: list[CheckResult], where: str) -> None:
            self.token = token
            self.results = results
            self.where = where
            super().__init__()

    def __init__(self, session: Session, lock: Any) -> None:
        super().__init__()
        self.session = session
        self.lock = lock
        self.results: list[CheckResult] = []
        self.running = False
        self._token = 0
        self._stop = threading.Event()

    def compose(self) -> ComposeResult:
        with Vertical(id="sanity-box"):
            yield Label("", id="sanity-status")
            yield ProgressBar(total=100, show_eta=False, id="sanity-progress")
            with VerticalScroll(id="sanity-scroll"):
                yield Static("", id="sanity-results")
            yield Label("r re-run the checks   ↑ ↓ scroll   Esc close", id="sanity-help")

    def on_mount(self) -> None:
        self.query_one("#sanity-box").border_title = "Sanity checks"
        self.query_one("#sanity-scroll").focus()
        self.start()

    # ------------------------------------------------------------ work
    def start(self) -> None:
        self._stop.set()  # a previous run stops at its next progress report
        self._stop = threading.Event()
        self._token += 1
        self.running = True
        self.query_one("#sanity-progress", ProgressBar).update(progress=0)
        self.query_one("#sanity-status", Label).update(
            "Running the checks on a copy of the session..."
        )
        token, stop = self._token, self._stop
        self.run_worker(
            lambda: self._work(token, stop), thread=True, exclusive=True, group="sanity"
        )

    def _work(self, token: int, stop: threading.Event) -> None:
        worker = get_current_worker()

        def cancelled() -> bool:
            return stop.is_set() or worker.is_cancelled

        def progress(f: float) -> None:
            if cancelled():
                raise Cancelled
            post(self, self.Progress(token, f))

        tools = tools_for(self.session)
        s, guard = snapshot(self.session, self.lock)
        where = f"at step {s.step}, epoch {s.epoch + 1}" + (
            " (diverged)" if s.nonfinite is not None else ""
        )
        try:
            with guard:
                results = tools.sanity(s, progress)
        except Cancelled:
            return
        finally:
            if s is not self.session:
                tools.release(s)
        if not cancelled():
            post(self, self.Done(token, results, where))

    def on_sanity_screen_progress(self, msg: Progress) -> None:
        if msg.token == self._token:
            self.query_one("#sanity-progress", ProgressBar).update(progress=100 * msg.value)

    def on_sanity_screen_done(self, msg: Done) -> None:
        if msg.token != self._token:
            return
        self.running = False
        self.results = msg.results
        self.query_one("#sanity-progress", ProgressBar).update(progress=100)
        self.query_one("#sanity-status", Label).update(summary(msg.results, msg.where))
        self.query_one("#sanity-results", Static).update(render_results(msg.results))

    # ------------------------------------------------------------ keys
    def action_rerun(self) -> None:
        self.start()

    def action_close(self) -> None:
        self._stop.set()
        self.workers.cancel_group(self, "sanity")
        self.dismiss(None)
