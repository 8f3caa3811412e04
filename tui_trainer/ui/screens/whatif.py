"""What if? Fork the run here, change one hyperparameter, and watch both futures.

On Enter the session is forked twice under the app's lock (the backend's
``fork``: ``fork_session`` in NumPy, ``tui_trainer/torch/fork.py`` on a
PyTorch model):
``as is`` (no change) and the changed copy. A thread worker runs both forward
in lockstep, one epoch at a time, and the chart shows both futures' per-step
train loss and per-epoch validation loss as they grow. Then ``1`` keeps the
unchanged future, ``2`` the changed one (the screen dismisses with that
``Session``), and Esc discards both (dismisses with ``None``: the user's
session stays where it was). The app hands the kept fork to the backend's
``keep`` (a PyTorch model takes the fork's state into the user's own model).
"""

from __future__ import annotations

import difflib
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, ProgressBar, Static
from textual.worker import get_current_worker

from tui_trainer.engine.backend_tools import tools_for
from tui_trainer.engine.compare import until_epoch
from tui_trainer.engine.config import OPTIMIZERS
from tui_trainer.engine.session import HYPER_FIELDS, SCHEDULE_FIELDS, Session
from tui_trainer.ui.render.chart_axes import apply_axes, rgb
from tui_trainer.ui.render.log_axis import log10_list, set_log_ticks
from tui_trainer.ui.render.numbers import fmt
from tui_trainer.ui.screens.dialog import RUN_DIALOG_CSS, Dialog
from tui_trainer.ui.screens.sanity import post
from tui_trainer.ui.widgets.loss_chart import downsample, plot_ceiling
from tui_trainer.ui.widgets.safe_plot import SafePlot as PlotextPlot

# The schedule is set in the h dialog (several fields belong together).
CHANGEABLE = tuple(f for f in HYPER_FIELDS if f != "epochs" and f not in SCHEDULE_FIELDS)
MAX_EPOCHS_AHEAD = 1000
# (low, high, low open, high open) for the numeric hyperparameters
RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "lr": (0.0, 100.0, True, False),
    "momentum": (0.0, 1.0, False, True),
    "beta1": (0.0, 1.0, False, True),
    "beta2": (0.0, 1.0, False, True),
    "eps": (0.0, 1.0, True, True),
    "l2": (0.0, 100.0, False, False),
    "l1": (0.0, 100.0, False, False),
}


def _show(name: str, value: Any) -> str:
    if name == "batch_size" and value == 0:
        return "full"
    return f"{value:g}" if isinstance(value, float) else str(value)


def parse_change(
    text: str, current: dict[str, Any] | None = None, allowed: tuple[str, ...] = CHANGEABLE
) -> tuple[dict[str, Any], str]:
    """``"lr=0.3"`` (or several, comma-separated) -> ``({"lr": 0.3}, "")`` or ``({}, error)``.

    ``allowed``: the fields this session's backend can change (a PyTorch
    model's optimizer has no ``l1``, Adam no ``momentum``)."""
    out: dict[str, Any] = {}
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        return {}, "type a change like lr=0.3, batch_size=32, optimizer=adam, l2=0.01"
    for part in parts:
        if "=" not in part:
            return {}, f"'{part}': write name=value, e.g. lr=0.3"
        name, raw = (s.strip() for s in part.split("=", 1))
        name = name.lower()
        if name == "epochs":
            return {}, "epochs is not a what-if change: set how far to look ahead instead"
        if name not in allowed:
            near = difflib.get_close_matches(name, allowed, 1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            what = "unknown hyperparameter" if name not in CHANGEABLE else "cannot change"
            return {}, f"{what} '{name}'{hint} here: use one of {', '.join(allowed)}"
        if name == "optimizer":
            if raw.lower() not in OPTIMIZERS:
                return {}, f"optimizer must be one of {', '.join(OPTIMIZERS)}, not '{raw}'"
            out[name] = raw.lower()
        elif name == "batch_size":
            if raw.lower() == "full":
                out[name] = 0
                continue
            try:
                bs = int(raw)
            except ValueError:
                return {}, f"batch_size must be a whole number >= 1 or 'full', not '{raw}'"
            if bs < 1:
                return {}, f"batch_size must be >= 1 (or 'full'), not {bs}"
            out[name] = bs
        else:
            try:
                v = float(raw)
            except ValueError:
                return {}, f"{name}: '{raw}' is not a number"
            lo, hi, lo_open, hi_open = RANGES[name]
            if (
                not math.isfinite(v)
                or (v <= lo if lo_open else v < lo)
                or (v >= hi if hi_open else v > hi)
            ):
                lb, rb = ("(" if lo_open else "["), (")" if hi_open else "]")
                return {}, f"{name}={raw} is outside {lb}{lo:g}, {hi:g}{rb}"
            out[name] = v
    if current is not None and all(current.get(k) == v for k, v in out.items()):
        return {}, "that is the current value: nothing would change"
    return out, ""


def change_label(change: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_show(k, v)}" for k, v in change.items())


@dataclass
class Future:
    """What the chart and the table need of one forked run (copied in the worker)."""

    label: str
    step_x: np.ndarray
    step_loss: np.ndarray
    epoch_x: np.ndarray
    val_loss: np.ndarray
    loss: float
    val: float
    acc: float
    step: int
    epoch: int
    epochs: int
    state: str


def capture(s: Session, label: str, step0: int, epoch_rows0: int) -> Future:
    """Copies of ``s``'s history after the fork point (taken while nothing else runs it)."""
    h = s.history
    sl = np.array(h.step_series("loss")[step0:], dtype=float)
    n_ep = h.epochs.n
    ex = np.array(h.epoch_series("step")[epoch_rows0:], dtype=float)
    ev = np.array(h.epoch_series("val_loss")[epoch_rows0:], dtype=float)
    new_epochs = n_ep > epoch_rows0
    state = "diverged" if s.nonfinite is not None else ("finished" if s.finished else "ok")
    return Future(
        label=label,
        step_x=np.arange(step0 + 1, step0 + 1 + len(sl), dtype=float),
        step_loss=sl,
        epoch_x=ex,
        val_loss=ev,
        loss=h.epochs.last("loss") if new_epochs else (float(sl[-1]) if len(sl) else math.nan),
        val=h.epochs.last("val_loss") if new_epochs else math.nan,
        acc=h.epochs.last("val_accuracy") if new_epochs else math.nan,
        step=s.step,
        epoch=s.epoch,
        epochs=s.epochs,
        state=state,
    )


def futures_table(futures: list[Future]) -> Table:
    table = Table(box=None, padding=(0, 2), show_edge=False)
    table.add_column("", style="bold", no_wrap=True)
    for i, f in enumerate(futures):
        table.add_column(f"{i + 1}  {f.label}", no_wrap=True, justify="right")

    def row(name: str, vals: list[str | Text]) -> None:
        table.add_row(name, *vals)

    row(
        "reached",
        [f"step {f.step}, epoch {min(f.epoch + 1, f.epochs)}/{f.epochs}" for f in futures],
    )
    row("train loss", [fmt(f.loss, 9) if math.isfinite(f.loss) else "-" for f in futures])
    row("val loss", [fmt(f.val, 9) if math.isfinite(f.val) else "-" for f in futures])
    if any(math.isfinite(f.acc) for f in futures):
        row("val accuracy", [f"{f.acc:.1%}" if math.isfinite(f.acc) else "-" for f in futures])
    row(
        "state",
        [Text("DIVERGED", style="bold red") if f.state == "diverged" else f.state for f in futures],
    )
    return table


COLORS = ("cyan", "orange")


class WhatIfScreen(Dialog[Session | None]):
    """Fork, change one hyperparameter, run both futures, keep one (1 / 2) or neither (Esc)."""

    DEFAULT_CSS = (
        RUN_DIALOG_CSS
        + """
    WhatIfScreen {
        align: center middle;
    }
    #whatif-change {
        width: 1fr;
    }
    #whatif-epochs {
        width: 10;
    }
    """
    )

    BINDINGS = [
        Binding("escape", "discard", "discard both", id="whatif_discard"),
        Binding("1", "keep(0)", "keep as is", id="whatif_keep_original"),
        Binding("2", "keep(1)", "keep the change", id="whatif_keep_changed"),
    ]

    class Progress(Message):
        def __init__(self, token: int, value: float, futures: list[Future]) -> None:
            self.token = token
            self.value = value
            self.futures = futures
            super().__init__()

    class Done(Message):
        def __init__(self, token: int, sessions: list[Session], futures: list[Future]) -> None:
            self.token = token
            self.sessions = sessions
            self.futures = futures
            super().__init__()

    class Failed(Message):
        def __init__(self, token: int, error: str) -> None:
            self.token = token
            self.error = error
            super().__init__()

    def __init__(self, session: Session, lock: Any, epochs: int = 5) -> None:
        super().__init__()
        self.session = session
        self.lock = lock
        self.epochs = max(1, int(epochs))
        self.sessions: list[Session] = []  # [as is, changed] once both futures have run
        self.futures: list[Future] = []
        self.change: dict[str, Any] = {}
        self.running = False
        self._token = 0
        self._stop = threading.Event()
        self.tools = tools_for(session)
        by_session = getattr(self.tools, "changeable_for", None)
        self.allowed: tuple[str, ...] = (
            by_session(session) if by_session is not None else self.tools.changeable
        )
        with lock:
            self.current = session.hyperparameters()
            e = min(session.epoch + 1, session.epochs)
            self.where = f"step {session.step}, epoch {e}/{session.epochs}"

    def compose(self) -> ComposeResult:
        now = "  ".join(
            f"{k}={_show(k, self.current[k])}" for k in self.allowed if k in self.current
        )
        with Vertical(id="whatif-box", classes="run-box"):
            yield Label(f"Now: {now}", id="whatif-status", classes="run-note")
            with Horizontal(id="whatif-form", classes="run-form"):
                yield Label("change")
                yield Input(placeholder="lr=0.3", id="whatif-change")
                yield Label("epochs ahead")
                yield Input(str(self.epochs), id="whatif-epochs")
            yield Label("", id="whatif-error", classes="run-note")
            yield ProgressBar(
                total=100, show_eta=False, id="whatif-progress", classes="run-progress"
            )
            yield PlotextPlot(id="whatif-chart", classes="run-chart")
            yield Static("", id="whatif-table", classes="run-table")
            yield Label(
                "Enter run both   1 keep as is   2 keep the change   Esc discard both",
                id="whatif-help",
                classes="run-note run-help",
            )

    def on_mount(self) -> None:
        self.query_one("#whatif-box").border_title = f"What if? Fork the run at {self.where}"
        self.query_one("#whatif-change", Input).focus()

    # ------------------------------------------------------------ input
    def _error(self, text: str) -> None:
        self.query_one("#whatif-error", Label).update(Text(text, style="bold red"))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        change, err = parse_change(
            self.query_one("#whatif-change", Input).value, self.current, self.allowed
        )
        if err:
            self._error(err)
            return
        raw = self.query_one("#whatif-epochs", Input).value.strip()
        try:
            ahead = int(raw)
            if not 1 <= ahead <= MAX_EPOCHS_AHEAD:
                raise ValueError
        except ValueError:
            self._error(f"epochs ahead must be a whole number from 1 to {MAX_EPOCHS_AHEAD}")
            return
        with self.lock:
            s = self.session
            if s.nonfinite is not None:
                self._error("The run has diverged here: step back (F) before asking what if.")
                return
            if s.finished:
                self._error(
                    f"Training has finished ({s.epochs} epochs): raise the epochs (h) first."
                )
                return
            left = s.epochs - s.epoch
        self._error("")
        self.start(change, min(ahead, left), ahead > left)

    def start(self, change: dict[str, Any], ahead: int, capped: bool) -> None:
        self._stop.set()
        self._stop = threading.Event()
        self._token += 1
        self.running = True
        self.change = change
        self._release(self.sessions)
        self.sessions, self.futures = [], []
        self.refresh_bindings()
        self.query_one("#whatif-progress", ProgressBar).update(progress=0)
        note = f" (capped at the end of training: {ahead} epochs)" if capped else ""
        self.query_one("#whatif-status", Label).update(
            f"Running both futures {ahead} epoch(s) ahead: as is vs {change_label(change)}{note}..."
        )
        self.query_one("#whatif-table", Static).update("")
        self.set_focus(None)  # 1 and 2 go to the screen, not the inputs
        token, stop = self._token, self._stop
        self.run_worker(
            lambda: self._work(token, stop, change, ahead),
            thread=True,
            exclusive=True,
            group="whatif",
        )

    # ------------------------------------------------------------ work
    def _work(self, token: int, stop: threading.Event, change: dict[str, Any], ahead: int) -> None:
        worker = get_current_worker()

        def cancelled() -> bool:
            return stop.is_set() or worker.is_cancelled

        original = alt = None
        try:
            with self.lock:
                original = self.tools.fork(self.session)
                alt = self.tools.fork(self.session, **change)
        except Exception as e:  # noqa: BLE001 - shown in the dialog
            self._release([s for s in (original, alt) if s is not None])
            post(self, self.Failed(token, f"could not fork the session: {type(e).__name__}: {e}"))
            return
        runs = [(original, "as is"), (alt, change_label(change))]
        step0, rows0, e0 = original.step, original.history.epochs.n, original.epoch
        target = e0 + ahead

        def snap() -> list[Future]:
            return [capture(s, label, step0, rows0) for s, label in runs]

        self._run_both(token, runs, e0 + 1, target, snap, cancelled)
        if cancelled():  # nobody will keep these: free them (a torch fork's copies)
            self._release([original, alt])

    def _run_both(
        self,
        token: int,
        runs: list[tuple[Session, str]],
        first: int,
        target: int,
        snap: Callable[[], list[Future]],
        cancelled: Callable[[], bool],
    ) -> None:
        """Run the futures in lockstep, one epoch at a time from epoch ``first``
        to ``target`` (a run that diverged or finished waits), posting progress,
        and Done with their sessions at the end."""
        for e in range(first, target + 1):
            for s, _ in runs:
                if s.nonfinite is None and not s.finished and s.epoch < e:
                    s.run(until_epoch(e), should_stop=cancelled)
            if cancelled():
                return
            done = (e - first + 1) / max(1, target - first + 1)
            post(self, self.Progress(token, done, snap()))
            if all(s.nonfinite is not None or s.finished for s, _ in runs):
                break
        if not cancelled():
            post(self, self.Done(token, [s for s, _ in runs], snap()))

    def on_what_if_screen_progress(self, msg: Progress) -> None:
        if msg.token != self._token:
            return
        self.query_one("#whatif-progress", ProgressBar).update(progress=100 * msg.value)
        self._show(msg.futures)

    def on_what_if_screen_done(self, msg: Done) -> None:
        if msg.token != self._token:
            self._release(msg.sessions)  # a run the user replaced with another
            return
        self.running = False
        self.sessions = msg.sessions
        self.query_one("#whatif-progress", ProgressBar).update(progress=100)
        self._show(msg.futures)
        self.query_one("#whatif-status", Label).update(
            f"Done: as is vs {change_label(self.change)}. Keep one with 1 or 2; "
            "Esc leaves your session where it was."
        )
        self.refresh_bindings()

    def on_what_if_screen_failed(self, msg: Failed) -> None:
        if msg.token == self._token:
            self.running = False
            self._error(msg.error)

    def _show(self, futures: list[Future]) -> None:
        self.futures = futures
        self.query_one("#whatif-table", Static).update(futures_table(futures))
        chart = self.query_one("#whatif-chart", PlotextPlot)
        plt = chart.plt
        plt.clear_data()
        plt.clear_figure()
        n = max(16, chart.size.width // 2)  # bucket means: smooth enough to compare
        top = plot_ceiling([f.step_loss for f in futures])
        ys = [f.step_loss[np.isfinite(f.step_loss)] for f in futures]
        ys += [f.val_loss[np.isfinite(f.val_loss)] for f in futures]
        allv = (
            np.concatenate([y for y in ys if len(y)]) if any(len(y) for y in ys) else np.array([])
        )
        clipped = bool(len(allv) and allv.max() > top)
        allv = np.minimum(allv, top)
        logy = bool(len(allv) and (allv > 0).all() and allv.max() / allv.min() > 100)

        def ok(y: np.ndarray) -> np.ndarray:
            m = np.isfinite(y)
            return m & (y > 0) if logy else m

        def ys(y: np.ndarray) -> list[float]:  # log axis drawn on a linear one
            return log10_list(y) if logy else y.tolist()

        for f, color in zip(futures, COLORS, strict=False):
            m = ok(f.step_loss)
            if m.any():
                x, y = downsample(f.step_x[m], np.minimum(f.step_loss[m], top), n)
                # No plotext label: its legend would sit on the curves; the
                # title names each colour instead.
                plt.plot(x.tolist(), ys(y), color=rgb(color), marker="braille")
            m = ok(f.val_loss)
            if m.any():
                y = np.minimum(f.val_loss[m], top)
                plt.scatter(f.epoch_x[m].tolist(), ys(y), color=rgb(color), marker="•")
        if logy:
            set_log_ticks(plt, log10_list(allv[allv > 0]))
        last = max((float(f.step_x[-1]) for f in futures if len(f.step_x)), default=1.0)
        if len(allv):
            shown = log10_list(allv[allv > 0]) if logy else allv
            apply_axes(
                plt,
                (1.0, last),
                shown,
                rows=chart.size.height,
                cols=chart.size.width,
                log_ticks=logy,
            )
        key = "; ".join(
            f"{color}: {f.label}" + (" (diverged)" if f.state == "diverged" else "")
            for f, color in zip(futures, COLORS, strict=False)
        )
        plt.xlabel("step")
        wide = chart.size.width >= 90
        title = (
            "train loss per step (lines), validation per epoch (•)"
            if wide
            else "train (lines), val (•)"
        )
        if logy:
            title += ", log"
        if clipped:
            title += f"; clipped at {fmt(top)}"
        plt.title(f"{key} | {title}")
        chart.refresh()

    # ------------------------------------------------------------ keys
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "keep":
            return bool(self.sessions) and not self.running
        return True

    def action_keep(self, which: int) -> None:
        if self.sessions and not self.running:
            chosen = self.sessions[which]
            self._release([s for s in self.sessions if s is not chosen])
            self.dismiss(chosen)

    def action_discard(self) -> None:
        self._stop.set()
        self.workers.cancel_group(self, "whatif")
        self._release(self.sessions)
        self.sessions = []
        self.dismiss(None)

    def _release(self, sessions: list[Any]) -> None:
        for s in sessions:
            if s is not self.session:
                self.tools.release(s)
