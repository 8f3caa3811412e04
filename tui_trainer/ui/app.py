"""The Textual app: a view and controller over one engine ``Session``.

Single steps (a layer, a phase, a step, stepping back) run inline: they take
microseconds to milliseconds. Anything open-ended (finish the epoch,
continue, run to) runs in a thread worker that trains in short chunks under
``self.lock``; the UI samples the session on a timer (4 Hz for counters,
1 Hz for charts, 0.5 Hz for heatmaps: ``RUN_TICK``), so redraw cost does not
grow with the step rate, and a pause takes effect within one chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import math
import signal
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import events, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.css.scalar import Scalar
from textual.message import Message
from textual.reactive import var
from textual.widgets import Static
from textual.worker import get_current_worker

from tui_trainer.engine.atomic import write_text_atomic
from tui_trainer.engine.backend_tools import tools_for
from tui_trainer.engine.breakpoints import BreakpointSet, Hit, Trap
from tui_trainer.engine.checkpoint import (
    CheckpointError,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from tui_trainer.engine.conditions import ConditionError, parse
from tui_trainer.engine.diagnostics import diagnose
from tui_trainer.engine.layer_view import is_dense, layer_name, resolve_module_names
from tui_trainer.engine.session import SCHEDULE_FIELDS, Session, SessionError
from tui_trainer.engine.watches import WatchList
from tui_trainer.explain import bad_value_text, explain
from tui_trainer.recovery import claim, discard, recoveries, set_aside
from tui_trainer.safe_text import plain, visible
from tui_trainer.ui import textual_fixes  # noqa: F401  (applies the workarounds)
from tui_trainer.ui.handoff import HandoffLock
from tui_trainer.ui.keymap import load_keymap
from tui_trainer.ui.render.lr_strip import schedule_strip
from tui_trainer.ui.screens.about import lesson_text
from tui_trainer.ui.screens.confirm import ConfirmScreen
from tui_trainer.ui.screens.help import HelpScreen
from tui_trainer.ui.screens.prompt import PromptScreen
from tui_trainer.ui.widgets.data_view import DataView
from tui_trainer.ui.widgets.explain_panel import ExplainPanel
from tui_trainer.ui.widgets.inspector import Inspector
from tui_trainer.ui.widgets.key_bar import KeyBar
from tui_trainer.ui.widgets.lazy_plot import preload_imports
from tui_trainer.ui.widgets.lesson_panel import LessonDriver, LessonPanel
from tui_trainer.ui.widgets.loss_chart import LossChart
from tui_trainer.ui.widgets.main_area import MainArea, PanelResized
from tui_trainer.ui.widgets.matrix_view import MODES, MatrixView
from tui_trainer.ui.widgets.network_view import NetworkView
from tui_trainer.ui.widgets.phase_bar import PhaseBar
from tui_trainer.ui.widgets.picture_view import PictureView
from tui_trainer.ui.widgets.status_line import SEPARATOR, StatusLine, status_fields

if TYPE_CHECKING:
    from tui_trainer.engine.reverse import SearchResult

MIN_W, MIN_H = 60, 18
CHART_MIN = 12  # rows (with borders) the loss chart needs to be worth showing below the matrix
PANELS = ("matrix", "chart", "data", "debug", "picture")
# While running: the status line every RUN_TICK seconds, the charts, explain
# and debug panels every HEAVY_TICKS ticks (1 Hz), the heatmap, data view and
# network table every SLOW_TICKS (0.5 Hz: their bytes, see refresh_heavy).
# Every frame costs the UI thread ~2 ms of Python, which the training thread
# pays through the GIL: at 10 Hz the status frames were half the UI thread's
# time on spiral (bench/ui.py cpu). Four updates a second still read as live.
RUN_TICK = 0.25
HEAVY_TICKS = 4
SLOW_TICKS = 8
# More keys for the key bar when the terminal is wide enough (by action).
WIDE_KEYS = (
    "run_to",
    "edit_hyper",
    "add_breakpoint",
    "add_watch",
    "sanity_checks",
    "landscape",
    "what_if",
    "compare",
    "open_scenario",
    "save_checkpoint",
)
# The keys that matter in each state, first on the key bar (by action).
LEAD_KEYS = {
    "running": ("pause",),
    "DIVERGED": ("back_phase", "restart", "edit_hyper"),
    "finished": ("restart", "edit_hyper"),
    "at breakpoint": ("continue_run", "back_phase"),
}


class RunFinished(Message):
    """The training worker stopped (breakpoint, end, divergence, pause)."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        self.message = message
        super().__init__()


class SearchFinished(Message):
    """A reverse search (reverse-continue, reverse watch, first bad value) ended."""

    def __init__(self, kind: str, args: tuple, result: SearchResult | None, error: str) -> None:
        self.kind = kind
        self.args = args
        self.result = result
        self.error = error
        super().__init__()


class TrainerApp(App[None]):
    """tui-trainer: step through forward, loss, backprop and update."""

    CSS_PATH = "app.tcss"
    TITLE = "tui-trainer"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding("n,right", "next_phase", "next", id="next_phase"),
        Binding("s", "step_layer", "layer", id="step_layer"),
        Binding("f", "finish_step", "step", id="finish_step"),
        Binding("e", "finish_epoch", "epoch", id="finish_epoch"),
        Binding("c", "continue_run", "run", id="continue"),
        Binding("p,space", "pause", "pause", show=False, id="pause"),
        Binding("t", "run_to", "to", show=False, id="run_to"),
        Binding("N,left", "back_phase", "back", id="back_phase"),
        Binding("S", "back_layer", "back layer", show=False, id="back_layer"),
        Binding("F", "back_step", "back step", show=False, id="back_step"),
        Binding("C", "reverse_continue", "back to break", show=False, id="reverse_continue"),
        Binding("u", "reverse_watch", "last change", show=False, id="reverse_watch"),
        Binding("exclamation_mark", "first_bad_value", "first bad", show=False, id="first_bad"),
        Binding("R", "restart", "restart", show=False, id="restart"),
        Binding("tab", "next_panel", "panel", show=False, id="next_panel", priority=True),
        Binding("shift+tab", "prev_panel", "panel", show=False, id="prev_panel", priority=True),
        Binding("1", "show_panel('matrix')", "matrix", show=False, id="panel_matrix"),
        Binding("2", "show_panel('chart')", "chart", show=False, id="panel_chart"),
        Binding("3", "show_panel('data')", "data", show=False, id="panel_data"),
        Binding("4", "show_panel('debug')", "debug", show=False, id="panel_debug"),
        Binding("5", "show_panel('picture')", "picture", show=False, id="panel_picture"),
        Binding("v", "cycle_view", "view", id="cycle_view"),
        Binding("i", "toggle_images", "images", show=False, id="toggle_images"),
        Binding("m", "toggle_cursor", "cursor", show=False, id="toggle_cursor"),
        Binding("M", "edit_weight", "edit weight", show=False, id="edit_weight"),
        Binding("l", "toggle_log", "log", show=False, id="toggle_log"),
        Binding("a", "toggle_accuracy", "accuracy", show=False, id="toggle_accuracy"),
        Binding("V", "toggle_val_points", "val points", show=False, id="toggle_val_points"),
        Binding("b", "add_breakpoint", "break", show=False, id="add_breakpoint"),
        Binding("B", "manage_breakpoints", "breakpoints", show=False, id="breakpoints"),
        Binding("g", "sanity_checks", "checks", show=False, id="sanity"),
        Binding("L", "landscape", "landscape", show=False, id="landscape"),
        Binding("x", "what_if", "what if", show=False, id="what_if"),
        Binding("y", "try_fix", "try a fix", show=False, id="try_fix"),
        Binding("X", "compare", "compare", show=False, id="compare"),
        Binding("W", "add_watch", "watch", show=False, id="add_watch"),
        Binding("w", "write_scenario", "write scenario", show=False, id="write_scenario"),
        Binding("o", "open_scenario", "open", show=False, id="open"),
        Binding("h", "edit_hyper", "hyper", show=False, id="edit_hyper"),
        Binding("D", "data_setup", "data & inputs", show=False, id="data_setup"),
        Binding("ctrl+s", "save_checkpoint", "save", show=False, id="save"),
        Binding("d", "about", "about", show=False, id="about"),
        Binding("]", "lesson_next", "lesson", show=False, id="lesson_next"),
        Binding("[", "lesson_back", "back", show=False, id="lesson_back"),
        Binding("question_mark", "help", "help", id="help"),
        Binding("q", "quit_app", "quit", id="quit"),
    ]

    HELP = [
        ("n  →", "next phase: FORWARD, LOSS, BACKPROP, UPDATE"),
        ("s", "step into: the next layer inside forward or backprop"),
        ("f", "finish the current step (batch)"),
        ("e", "finish the epoch"),
        ("c", "continue: run until a breakpoint, divergence or the end"),
        ("p  space", "pause a run"),
        ("t", "run to an epoch (50) or a step (s200)"),
        ("N  ←", "back one phase"),
        ("S", "back one layer"),
        ("F", "back to the start of the step (again: one more step)"),
        ("C", "reverse-continue: back to the last pause where a breakpoint fired"),
        ("u", "back to the last step a value changed by more than D (or crossed V)"),
        ("!", "first bad value: where |z|, |a| or a gradient first passed a limit or NaN"),
        ("R", "restart from the initial weights"),
        ("tab  1 2 3 4 5", "switch the main panel: matrix, loss chart, data, debug, picture"),
        ("↑ ↓  j k", "choose the layer"),
        ("v", "matrix view: weights, gradients, update, activations, pre-activations"),
        ("i", "first-layer weights as images (image data such as digits)"),
        ("m", "move a cursor over the weights (arrows); explain shows its chain rule"),
        ("M  enter", "edit the weight under the cursor by hand (step-back undoes it)"),
        ("5", "network picture: each unit's output over the input plane (2-D data)"),
        ("mouse", "click a layer, a panel (brings it forward), a weight, a unit"),
        ("l", "log scale for the loss chart"),
        ("a", "accuracy chart (train and validation) instead of the loss; again: loss"),
        ("V", "data panel: show or hide the validation points (drawn as ○)"),
        ("4", "debug panel: diagnosis, breakpoints, watches"),
        ("b", "add a breakpoint, e.g. 'val_loss rising for 5 epochs'"),
        ("B", "manage breakpoints: enable/disable, edit, delete, hit counts"),
        ("W", "add a watch expression, e.g. grad_norm[0] or W[0][1,2]"),
        ("w", "write the scenario with the current hyperparameters to a file"),
        ("h", "edit hyperparameters (applied from the next step)"),
        ("D", "data and inputs: x1^2, x1*x2, sin(x1)..., noise, validation share, a new draw"),
        ("g", "sanity checks: gradient check, loss at init, overfit a tiny batch, ..."),
        ("L", "loss landscape around the current weights, with the path taken"),
        ("x", "what if: fork here with one change and compare both futures"),
        ("y", "try a fix the diagnosis suggests, beside the run as it is"),
        ("X", "compare up to four learning rates (or other settings) side by side"),
        ("o", "open another scenario"),
        ("ctrl+s", "save a checkpoint"),
        ("d", "about this scenario: what to watch, and the command line of this setup"),
        ("]  [", "lesson: next step, back one step (tui-trainer learn)"),
        ("ctrl+p", "command palette"),
        ("?", "this help"),
        ("q", "quit"),
    ]

    state = var("paused")
    panel = var("matrix")
    selected_layer = var(0)

    def __init__(
        self,
        session: Session,
        *,
        name: str = "",
        watch_text: str = "",
        description: str = "",
        breakpoints: BreakpointSet | None = None,
        watches: list[str] | None = None,
        scenario_text: str = "",
        builtins: list[tuple[str, str]] | Callable[[], list[tuple[str, str]]] | None = None,
        loader: Any = None,
        recovery_file: Path | None = None,
        lesson: Any = None,
        on_lesson_complete: Callable[[Any], None] | None = None,
        saver: Callable[[Any, Path], Any] | None = None,
    ) -> None:
        super().__init__()
        # ctrl+s for a session of another backend: saver(session, path) writes its
        # checkpoint (the torch backend passes save_torch_checkpoint).
        self.saver = saver
        # A lesson (tui_trainer.lessons.Lesson) walked in the lesson panel.
        self.lesson_driver = (
            LessonDriver(self, lesson, on_lesson_complete) if lesson is not None else None
        )
        self.recovery_file = recovery_file
        self._deliberate_quit = False
        self._recovery_saved = False
        self.recovery_error = ""  # why the last recovery save failed, for the exit message
        self.session = session
        self.scenario_name = name or "scenario"
        self.watch_text = watch_text
        self.description = description
        self.breakpoints = breakpoints or BreakpointSet()
        self.watches = WatchList()
        for w in watches or []:
            try:
                self.watches.add(w)
            except ConditionError:
                pass  # validated when the scenario was loaded
        self.watches.bind(session)  # records every watch at every step
        self.findings: list = []
        self.scenario: Any = None  # the Scenario object, for writing it back
        # The scenario as opened, when the data dialog (D) has since replaced
        # self.scenario: the command line of the setup starts from it.
        self.scenario_opened: Any = None
        self.scenario_text = scenario_text
        self.builtins = builtins or []  # or a callable: read when the dialog opens
        self.loader = loader  # callable(name_or_path) -> (session, kwargs) or raises
        self.lock = HandoffLock()  # the worker yields it only when the UI waits
        self._stop = threading.Event()
        self.running = False
        self.saved_position = 0
        self.message_text = ""
        self._tick_count = 0
        self._last_phase_args: tuple | None = None
        self._run_snapshot: tuple | None = None  # the worker's status sample, per RUN_TICK
        self._last_status = ""
        self._last_explain = ""
        self._pending: set[Callable[[], None]] = set()  # redraws queued by _after_frame
        self.cell: tuple[int, int] | None = None
        self._last_hit: Hit | None = None
        self.searching = ""  # the reverse search running ("" when none), for the status
        self.search_done = 0.0  # its progress, 0..1
        self.bad_magnitude: float | None = None  # None: reverse.DEFAULT_MAGNITUDE

    # ----------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        yield PhaseBar(id="phase-bar")
        yield StatusLine(id="status")
        with Horizontal(id="body"):
            yield NetworkView(id="network")
            with MainArea(id="main"):
                yield MatrixView(id="matrix", classes="shown")  # the first panel
                yield LossChart(id="chart")
                yield DataView(id="data")
                yield Inspector(id="debug")
                yield PictureView(id="picture")
        yield ExplainPanel(id="explain")
        yield LessonPanel(id="lesson")
        yield Static("", id="too-small")
        yield KeyBar(id="keys", keep=("help", "quit_app"), extras=WIDE_KEYS)

    def on_mount(self) -> None:
        self._title_chart()
        self.query_one("#data").border_title = "Data and predictions"
        self.query_one("#explain").border_title = "Explain"
        self.query_one("#picture").border_title = "Network picture"
        keymap, problems = load_keymap()
        if keymap:
            self.set_keymap(keymap)
        if problems:  # the app starts with its own keys there, and says why
            self.notify("\n".join(problems), severity="warning", timeout=20)
        self.query_one(NetworkView).focus()
        self._apply_size(self.size.width, self.size.height)
        self._apply_panel()
        self.set_interval(RUN_TICK, self._tick)
        self._install_signal_handlers()
        if self.recovery_file is not None:
            self.call_after_refresh(self._offer_resume)
        self.refresh_status()
        self._after_frame(self.refresh_all)
        if self.lesson_driver is not None:
            self.main_screen.add_class("lesson")
            self.call_after_refresh(self.lesson_driver.enter, 0)
        # What the first screen does not need (plotext for the charts) is
        # imported off the event loop once it is up, ahead of first use.
        self.set_timer(0.5, self._preload)

    def _preload(self) -> None:
        self.run_worker(preload_imports, thread=True, group="preload", exit_on_error=False)

    def on_resize(self, event: events.Resize) -> None:
        # App.size updates a moment after this event: use the event's size.
        self._apply_size(event.size.width, event.size.height)

    def _apply_size(self, w: int, h: int) -> None:
        small = w < MIN_W or h < MIN_H
        box = self.query_one("#too-small", Static)
        box.display = small
        if small:  # (an update of the hidden box would still cost a layout)
            box.update(
                f"Terminal too small: {w}x{h}. tui-trainer needs at least {MIN_W}x{MIN_H} "
                f"(80x24 recommended). Enlarge the window or press q to quit."
            )
        self.main_screen.set_class(w >= 150 and h >= 40, "wide")
        self._after_frame(self.refresh_all)

    def _after_frame(self, redraw: Callable[[], None]) -> None:
        """Run ``redraw`` once after the next frame, however often it is asked
        for meanwhile (start-up asks from mount and from each resize event)."""
        if redraw in self._pending:
            return
        self._pending.add(redraw)

        def run() -> None:
            self._pending.discard(redraw)
            redraw()

        self.call_after_refresh(run)

    @property
    def main_screen(self) -> Any:
        """The debugger's own screen (dialogs are pushed on top of it)."""
        return self.screen_stack[0] if self.screen_stack else self.screen

    # ------------------------------------------------------------ recovery
    def _install_signal_handlers(self) -> None:
        """Save a recovery checkpoint when the terminal goes away or we are stopped."""
        try:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._on_signal, sig)
        except (NotImplementedError, RuntimeError, ValueError, AttributeError):
            pass  # not the main thread (tests) or no signals on this platform

    def save_recovery(self) -> Path | None:
        """Write the recovery checkpoint (atomically); returns its path."""
        path = self.recovery_file
        if path is None or self.session.position == 0:
            return None
        self._stop.set()
        got = self.lock.acquire(timeout=2.0)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_checkpoint(self.session, path, self.scenario_text)
            self.recovery_error = ""
            return path
        except (OSError, CheckpointError, SessionError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            where = e.filename if isinstance(e, OSError) and e.filename else path
            self.recovery_error = (
                f"tui-trainer: could not save a recovery checkpoint to {path} "
                f"({where}: {reason}); the session was not kept"
            )
            self.log.error(self.recovery_error)
            return None
        finally:
            if got:
                self.lock.release()

    def _on_signal(self, sig: int) -> None:
        saved = self.save_recovery()
        self._recovery_saved = True
        # Said after the terminal is restored: where the work is, or where it could
        # not go. Not after a hang-up: no terminal is left to say it on.
        message = None
        if sig != signal.SIGHUP and saved is not None:
            message = Text(f"tui-trainer: the session was saved to {saved}; start again to resume")
        elif sig != signal.SIGHUP and self.recovery_error:
            message = Text(self.recovery_error)
        self.exit(return_code=128 + int(sig), message=message)

    def on_unmount(self) -> None:
        """Any exit the user did not choose (a closed browser tab under
        ``serve``, a lost connection) keeps the work in a recovery file."""
        if not self._deliberate_quit and not self._recovery_saved:
            self.save_recovery()

    def _handle_exception(self, error: Exception) -> None:
        # Even a bug in the app must not lose the training session.
        if not self._recovery_saved:
            try:
                self._recovery_saved = self.save_recovery() is not None
            except Exception:  # noqa: BLE001 - the original error matters more
                pass
        super()._handle_exception(error)

    def _offer_resume(self) -> None:
        """Offer the newest other recovery file of this scenario; set damaged ones aside."""
        own = self.recovery_file
        assert own is not None
        for path in recoveries(own):
            try:
                where, when = self._describe_recovery(path)
            except Exception as e:  # noqa: BLE001 - any damage at all: set aside, start
                self._set_aside(path, e)
                continue
            others = len(recoveries(own)) - 1
            self._ask_resume(path, where, when, others)
            return

    def _describe_recovery(self, path: Path) -> tuple[str, str]:
        """("step S, epoch E", "YYYY-mm-dd HH:MM") of a recovery file; raises if damaged."""
        arrays = read_checkpoint(path)
        meta = json.loads(str(arrays["state"]))
        if not isinstance(meta, dict):
            raise CheckpointError(f"{path}: the state record is not a JSON object")
        epoch, position = meta.get("epoch"), arrays["resume_position"]
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
            raise CheckpointError(f"{path}: epoch is {epoch!r}, not a whole number >= 0")
        if position.shape != () or position.dtype.kind not in "iu" or int(position) < 0:
            raise CheckpointError(f"{path}: resume_position is not a whole number >= 0")
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))
        hyper = meta.get("hyper")
        epochs = hyper.get("epochs") if isinstance(hyper, dict) else None
        if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
            epochs = self.session.epochs
        shown = (
            f"epoch {epochs} of {epochs}, finished"
            if epoch >= epochs
            else f"epoch {epoch + 1} of {epochs}"
        )
        return f"step {int(position) // self.session.E}, {shown}", when

    def _set_aside(self, path: Path, error: BaseException) -> None:
        """Report a damaged recovery file and rename it out of the way (never delete it)."""
        moved = set_aside(path)
        kept = f"renamed to {moved.name}" if moved else "left in place (it could not be renamed)"
        self.notify(
            visible(f"A damaged recovery file was set aside: {path} ({error}); {kept}."),
            severity="warning",
            timeout=15,
            markup=False,
        )

    def _ask_resume(self, path: Path, where: str, when: str, others: int) -> None:
        def done(yes: bool | None) -> None:
            if yes:
                try:
                    with self.lock:
                        load_checkpoint(self.session, path)
                except Exception as e:  # noqa: BLE001 - a damaged file never stops the app
                    with self.lock:
                        if self.session.position:
                            self.session.restart()
                    if path.exists():
                        self._set_aside(path, e)
                    else:  # another instance resumed it meanwhile (it took the file over)
                        self.notify(
                            "That interrupted session was resumed by another instance "
                            "meanwhile; starting afresh.",
                            severity="warning",
                            timeout=10,
                        )
                else:
                    self.message_text = f"Resumed the interrupted session at {where}."
                    # The resumed work becomes this instance's own file: it stays
                    # until a deliberate quit (which asks first: the work exists
                    # nowhere else) and a signal saves over it.
                    own = self.recovery_file
                    if own is not None:
                        claim(path, own)
                self.saved_position = 0
            else:
                discard(path)  # the user chose to start afresh
            self.refresh_all()

        more = ""
        if others:
            more = (
                f" ({others} older interrupted session{'s are' if others > 1 else ' is'} "
                "kept; each start offers the newest.)"
            )
        name = self.scenario_name  # ConfirmScreen shows it as plain, visible text
        self.push_screen(
            ConfirmScreen(
                f"A session of {name} was interrupted at {where} ({when}). Resume it?{more}"
            ),
            done,
        )

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: Any = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every toast, from any screen: its text often quotes a file (a path, an
        error about a scenario or checkpoint), so it is never read as markup and
        its control characters are shown, not sent (``markup`` is ignored)."""
        super().notify(
            visible(message, keep_newlines=True),
            title=visible(title),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def action_command_palette(self) -> None:
        """Textual's palette, guarded against its crashes under fast typing."""
        from textual.command import CommandPalette

        from tui_trainer.ui.screens.palette import SafeCommandPalette

        if self.use_command_palette and not CommandPalette.is_open(self):
            self.push_screen(SafeCommandPalette(id="--command-palette"))

    def get_system_commands(self, screen: Any) -> Iterable[SystemCommand]:
        """Every debugger action in the command palette (ctrl+p), with its key."""
        yield from super().get_system_commands(screen)
        help_text = dict(self.HELP)
        for b in self.BINDINGS:
            if not isinstance(b, Binding) or b.id in ("next_panel", "prev_panel"):
                continue
            key = b.key.split(",")[0]
            title = _COMMAND_TITLES.get(b.id or "", b.description)
            yield SystemCommand(
                f"{title} ({key})",
                help_text.get(key, b.description),
                partial(self.run_action, b.action),
            )

    def help_rows(self) -> list[tuple[str, str]]:
        return self.HELP

    # ------------------------------------------------------------ views
    def _state_label(self) -> str:
        s = self.session
        if self.running:
            return "running"
        if s.nonfinite is not None:
            return "DIVERGED"
        if s.finished:
            return "finished"
        if self._last_hit is not None:
            return "at breakpoint"
        return "paused"

    def refresh_status(self) -> None:
        """Phase bar, status line (and the network table when paused).

        Widgets are only updated when their content changed: an update
        repaints the whole widget, and over SSH every byte counts.
        """
        # While training runs, the worker samples these once a tick between its
        # chunks: waiting for the lock here cost the worker a hand-off (~7 ms
        # on a loaded machine) at every tick (bench/ui.py probe).
        snap = self._run_snapshot if self.running and not self.searching else None
        with contextlib.nullcontext() if snap is not None else self.lock:
            s = self.session
            ev = s.last_event
            phase_args, fields = snap if snap is not None else self._status_snapshot()
            state = phase_args[5]  # (a torch session adds the module's name after it)
            if phase_args != self._last_phase_args:
                self._last_phase_args = phase_args
                self.query_one(PhaseBar).show(*phase_args)
            self.query_one(KeyBar).set_lead(LEAD_KEYS.get(state, ()))
            if self.searching:  # the phase on screen is the replay's: show the search instead
                pct = f"{self.search_done:.0%}"
                fields = [
                    (k, f"{self.searching} {pct} (p: cancel)" if k == "phase" else v)
                    for k, v in fields
                ]
            text = SEPARATOR.join(t for _, t in fields)
            if text != self._last_status:
                self._last_status = text
                self.query_one(StatusLine).show(fields)
            if not self.running:
                self.query_one(NetworkView).show(
                    s, ev.layer if ev is not None else None, self.findings
                )
        if self.lesson_driver is not None and not self.running:
            self._after_frame(self.lesson_driver.poll)  # has an until become true?

    def _status_snapshot(self) -> tuple[tuple, list[tuple[str, str]]]:
        """(phase bar arguments, status fields) of the session now; under the lock."""
        s = self.session
        ev = s.last_event
        phase_args = (
            ev.phase if ev else None,
            ev.layer if ev else None,
            s.n_layers,
            s.nonfinite is not None,
            s.pos,
            self._state_label(),
        )
        if not is_dense(s) and ev is not None and ev.layer is not None:
            phase_args += (layer_name(s, ev.layer),)  # torch: the module's name
        return phase_args, status_fields(s, self.scenario_name)

    def refresh_heavy(self, slow: bool = True) -> None:
        """Matrix, chart, data, debug and explain panels.

        While running this is called at 1 Hz; ``slow=False`` skips the
        heatmap, the data view and the network table (the costliest to paint
        in bytes: a 120x40 heatmap is ~50 KB of escapes), drawn at 0.5 Hz, so
        the terminal stream stays under 40 KiB/s for a slow SSH link.
        """
        with self.lock:
            s = self.session
            wide = self.main_screen.has_class("wide")
            try:  # first: the network panel's flags come from these findings
                # (a PyTorch model: the findings its per-module series show)
                self.findings = diagnose(s) if is_dense(s) else tools_for(s).diagnose(s)
            except Exception as e:  # noqa: BLE001 - a detector bug must not end the session
                self.log.error(f"diagnose failed: {e!r}")
            if slow or not self.running:
                ev = s.last_event
                self.query_one(NetworkView).show(
                    s, ev.layer if ev is not None else None, self.findings
                )
            below = self._fit_matrix()
            if slow and (wide or self.panel == "matrix"):
                self._safely(self.query_one(MatrixView), lambda w: w.show(s, self.selected_layer))
            if wide or self.panel == "chart" or below:
                h = s.history
                self._safely(  # first: the strip takes a row from the plot
                    self.query_one(LossChart),
                    lambda w: w.show_lr(schedule_strip(s, w.size.width - 2)),
                )
                self._safely(
                    self.query_one(LossChart),
                    lambda w: w.show(
                        h.step_series("loss").copy(),
                        h.epoch_series("step").copy(),
                        h.epoch_series("loss").copy(),
                        h.epoch_series("val_loss").copy(),
                        epoch_acc=h.epoch_series("accuracy").copy(),
                        val_acc=h.epoch_series("val_accuracy").copy(),
                        fast=self.running,  # plotext again when the run stops
                    ),
                )

            if slow and (wide or self.panel == "data"):
                self._safely(self.query_one(DataView), lambda w: w.show(s))
            if slow and self.panel == "picture":
                self._safely(
                    self.query_one(PictureView),
                    lambda w: w.show(s, self.selected_layer, self.cell),
                )
            self.watches.sample(s)
            if self.panel == "debug" or wide:
                self._safely(
                    self.query_one(Inspector),
                    lambda w: w.show(s, self.findings, self.breakpoints, self.watches),
                )
            text = self._explain_text()
            if text != self._last_explain:
                self._last_explain = text
                panel = self.query_one(ExplainPanel)
                panel.set_class(self._intro(), "intro")
                _set_title(
                    panel, "About this scenario (d shows it again)" if self._intro() else "Explain"
                )
                self._safely(panel, lambda w: w.update(plain(text, keep_newlines=True)))
            # Setting a border title repaints the whole widget: only on change.
            self._title_chart()
            mv = self.query_one(MatrixView)
            _set_title(mv, f"{layer_name(s, self.selected_layer)} {mv.mode} (v: next view)")
            acc = s.history.epochs.last("val_accuracy")
            _set_title(
                self.query_one(NetworkView),
                "Network" + (f"  val acc {acc:.0%}" if acc == acc else ""),
            )

    def _safely(self, widget: Any, draw: Any) -> None:
        """Draw a view; a bug in one view is shown in it instead of ending the session."""
        try:
            draw(widget)
        except Exception as e:  # noqa: BLE001 - never lose the user's session to a view bug
            self.log.error(f"view {widget.id} failed: {e!r}")
            if isinstance(widget, Static):
                widget.update(Text(f"(this view failed to draw: {e!r})", style="red"))

    def _explain_text(self) -> str:
        s = self.session
        if self.running and self.searching:
            return (
                f"{self.searching.capitalize()}: replaying the recorded training "
                f"({self.search_done:.0%}). Press p or space to cancel."
            )
        if self.running:
            return "Training... Press p or space to pause (the status line shows progress)."
        text = explain(s, self.selected_layer, self.cell, self.findings)
        note = getattr(s, "replay_note", "")  # a backend whose replay may not be exact
        if note:
            text = f"NOTE: {note}.\n" + text
        if self._last_hit is not None:
            bp = self._last_hit
            text = f"BREAKPOINT '{bp.breakpoint.source}' hit: {bp.explanation}\n" + text
        if self.message_text:
            text = self.message_text + "\n" + text
        if self._intro() and (self.description.strip() or self.watch_text.strip()):
            # The lesson text first: what this scenario teaches, what to watch.
            about = lesson_text(self.scenario_name, self.description, self.watch_text).plain
            text = f"{about}\n\n{text}"
        return text

    def _intro(self) -> bool:
        """Nothing has run yet: the explain panel introduces the scenario."""
        return self.session.last_event is None and self.session.position == 0

    def refresh_all(self) -> None:
        self.refresh_status()
        self.refresh_heavy()

    def _tick(self) -> None:
        if not self.running:
            return
        self._tick_count += 1
        self.refresh_status()  # every tick, and only what changed
        # Charts 1 Hz; heatmap, data, network 0.5 Hz. A plotext chart costs
        # ~35 ms of the UI thread at 120x40, which the training thread pays for
        # through the GIL (bench/ui.py profile: at 2 Hz the chart was 11% of
        # the UI thread's time on spiral, the app 0.83x headless).
        if self._tick_count % HEAVY_TICKS == 0:
            self.refresh_heavy(slow=self._tick_count % SLOW_TICKS == 0)

    # ------------------------------------------------------------ panels
    def _fit_matrix(self) -> bool:
        """One main panel (not wide) showing the matrix: the panel only as tall
        as the matrix needs, and the loss chart below it in the rows left, when
        they are at least ``CHART_MIN``. Returns whether the chart is below."""
        scr = self.main_screen  # a dialog may be on top when the area resizes
        mv, chart, main = (
            scr.query_one(MatrixView),
            scr.query_one(LossChart),
            scr.query_one(MainArea),
        )
        w, h = main.size
        rows = None
        if self.panel == "matrix" and not self.main_screen.has_class("wide") and h > 0:
            rows = mv.content_rows(self.session, self.selected_layer, w - 2, h - 2 - CHART_MIN)
        height = None if rows is None else rows + 2  # with the borders
        want = None if height is None else Scalar.from_number(height)
        if chart.has_class("below") != (height is not None) or mv.styles.inline.height != want:
            chart.set_class(height is not None, "below")
            mv.styles.height = height
            self._after_frame(self.refresh_heavy)  # draw both at their new sizes
        return height is not None

    def on_main_area_resized(self, _: MainArea.Resized) -> None:
        with self.lock:
            try:
                self._fit_matrix()
            except NoMatches:  # a resize queued while the app shuts down
                pass

    def on_panel_resized(self, _: PanelResized) -> None:
        if not self.running:  # while running the next tick draws at the new size
            self._after_frame(self.refresh_heavy)

    def _apply_panel(self) -> None:
        for p in PANELS:
            self.query_one(f"#{p}").set_class(p == self.panel, "shown")
        # Big terminals show every panel; the picture takes the debug panel's place.
        self.main_screen.set_class(self.panel == "picture", "picture")

    def watch_panel(self) -> None:
        if self.is_mounted:
            self._apply_panel()
            self._after_frame(self.refresh_heavy)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # tab belongs to the dialogs' own fields while one is open.
        if action in ("next_panel", "prev_panel") and self.screen is not self.main_screen:
            return False
        return True

    def action_show_panel(self, panel: str) -> None:
        self.panel = panel

    def action_next_panel(self) -> None:
        self.panel = PANELS[(PANELS.index(self.panel) + 1) % len(PANELS)]

    def action_prev_panel(self) -> None:
        self.panel = PANELS[(PANELS.index(self.panel) - 1) % len(PANELS)]

    def action_toggle_cursor(self) -> None:
        mv = self.query_one(MatrixView)
        if not mv.has_focus and self._not_on_this_backend("the weight cursor's chain rule"):
            return
        if mv.has_focus:
            self.query_one(NetworkView).focus()
            self.cell = None
        else:
            self.panel = "matrix"
            mv.focus()
            self.cell = mv.cell
        self._after_frame(self.refresh_heavy)

    def action_edit_weight(self) -> None:
        """Set the weight under the cursor (the selected layer's) by hand."""
        if self._not_on_this_backend("editing a weight by hand"):
            return
        if self.running:
            self.action_pause()
            return
        from tui_trainer.ui.screens.edit_weight import edit_weight_screen, parse_weight

        s, layer = self.session, self.selected_layer
        W = s.net.layers[layer].W
        r, c = self.cell if self.cell is not None else self.query_one(MatrixView).cell
        r, c = min(r, W.shape[0] - 1), min(c, W.shape[1] - 1)

        def done(text: str | None) -> None:
            value = parse_weight(text) if text else None
            if value is None:
                return
            with self.lock:
                before = s.evaluate(s.x_train, s.y_train, s.labels_train)[0]
                try:
                    at, old = s.edit_weight(layer, r, c, value)
                except SessionError as e:
                    self.message_text = str(e)
                    self.bell()
                    self.refresh_all()
                    return
                after = s.evaluate(s.x_train, s.y_train, s.labels_train)[0]
                new = float(s.net.layers[layer].W[r, c])
            self.cell = (r, c)
            self.message_text = (
                f"W[{layer}][{r},{c}] set by hand: {old:.6g} -> {new:.6g} (recorded at step "
                f"{at}; stepping back before it undoes it). Loss on the training set "
                f"{before:.6g} -> {after:.6g}."
            )
            self.refresh_all()

        self.push_screen(edit_weight_screen(layer, r, c, float(W[r, c])), done)

    def on_main_area_panel_clicked(self, msg: MainArea.PanelClicked) -> None:
        if msg.panel in PANELS and msg.panel != self.panel:
            self.panel = msg.panel

    def on_matrix_view_cell_clicked(self, msg: MatrixView.CellClicked) -> None:
        """A click on a weight: the weight cursor goes there (as ``m`` and arrows)."""
        mv = self.query_one(MatrixView)
        if not mv.has_focus:
            mv.focus()
        self.cell = msg.cell
        self._after_frame(self.refresh_heavy)

    def on_picture_view_unit_clicked(self, msg: PictureView.UnitClicked) -> None:
        """A click on a unit: its layer is selected and the weight cursor goes to
        its column (its incoming weights; keys: up/down, then m and arrows)."""
        s = self.session
        if msg.layer < 0:
            self.notify(f"input x{msg.unit + 1}: the inputs have no weights", timeout=2)
            return
        layer = msg.layer
        W = s.net.layers[layer].W
        unit = msg.unit if msg.unit >= 0 else 0
        row = min(self.cell[0], W.shape[0] - 1) if self.cell is not None else 0
        self.selected_layer = layer
        self.query_one(NetworkView).selected = layer
        self.cell = (row, min(unit, W.shape[1] - 1))
        self.query_one(MatrixView).cell = self.cell
        self.refresh_all()

    def on_matrix_view_cell_moved(self, msg: MatrixView.CellMoved) -> None:
        self.cell = msg.cell
        self.refresh_heavy()

    def on_network_view_selected(self, msg: NetworkView.Selected) -> None:
        self.selected_layer = msg.layer
        self.cell = None
        self.refresh_all()

    def action_cycle_view(self) -> None:
        mv = self.query_one(MatrixView)
        mv.mode = MODES[(MODES.index(mv.mode) + 1) % len(MODES)]
        if self.panel != "matrix" and not self.main_screen.has_class("wide"):
            self.panel = "matrix"
        self.notify(f"matrix view: {mv.mode}", timeout=1.5)
        self.refresh_heavy()

    def action_toggle_images(self) -> None:
        mv = self.query_one(MatrixView)
        why = mv.images_unavailable(self.session)
        if why and not mv.images:
            self.notify(why, severity="warning", timeout=6)
            return
        mv.images = not mv.images
        if self.panel != "matrix" and not self.main_screen.has_class("wide"):
            self.panel = "matrix"
        if mv.images and self.selected_layer != 0 and is_dense(self.session):
            self.notify("images show layer 1's weights: select L1 (up)", timeout=4)
        self.refresh_heavy()

    def action_toggle_log(self) -> None:
        chart = self.query_one(LossChart)
        if chart.accuracy:
            chart.accuracy = False  # a log scale is for the loss
        chart.log_scale = not chart.log_scale
        self._show_chart()

    def action_toggle_accuracy(self) -> None:
        """The chart shows train and validation accuracy per epoch (classifiers)."""
        chart = self.query_one(LossChart)
        if not self._classification():
            self.notify("accuracy is for classification; this scenario is regression", timeout=3)
            return
        chart.accuracy = not chart.accuracy
        self._show_chart()

    def _show_chart(self) -> None:
        self._title_chart()
        if self.panel != "chart" and not self.main_screen.has_class("wide"):
            self.panel = "chart"
        self.refresh_heavy()

    def _classification(self) -> bool:
        """Whether accuracy applies: the scenario's task, or for a PyTorch model
        whether its steps record an accuracy (class targets)."""
        s = self.session
        if is_dense(s):
            return bool(s.data.task == "classification")
        return s.history.steps.n == 0 or not math.isnan(s.history.steps.last("accuracy"))

    def _title_chart(self) -> None:
        chart = self.query_one(LossChart)
        classes = self._classification()
        if chart.accuracy and classes:
            title = "Accuracy (a: loss)"
        else:
            title = "Loss (l: log scale" + (", a: accuracy)" if classes else ")")
        _set_title(chart, title)

    def action_toggle_val_points(self) -> None:
        """Validation points on or off in the data panel (drawn as ○ when on)."""
        dv = self.query_one(DataView)
        dv.show_val = not dv.show_val
        if self.panel != "data" and not self.main_screen.has_class("wide"):
            self.panel = "data"
        self.notify(f"validation points {'shown (○)' if dv.show_val else 'hidden'}", timeout=1.5)
        self.refresh_heavy()

    # ------------------------------------------------------------ stepping
    def _inline(self, fn: Any, *args: Any) -> None:
        """Run a short engine action on the UI thread (pausing a run first)."""
        if self.running:
            self.action_pause()
            return
        self._last_hit = None
        self.message_text = ""
        s = self.session
        with self.lock:
            try:
                if s.finished and fn in (s.advance,):
                    self.message_text = (
                        f"Training finished ({s.epochs} epochs). R restarts; h raises the epochs."
                    )
                else:
                    fn(*args)
            except SessionError as e:
                self.message_text = str(e)
                self.bell()
        # The phase bar and status line at once; the heavy views right after
        # that frame, so the key's effect shows without waiting for them.
        self.refresh_status()
        self._after_frame(self.refresh_heavy)

    def action_next_phase(self) -> None:
        self._inline(self.session.advance, "phase")

    def action_step_layer(self) -> None:
        self._inline(self.session.advance, "layer")
        self._follow_layer()

    def action_finish_step(self) -> None:
        self._inline(self.session.advance, "step")

    def action_back_phase(self) -> None:
        self._inline(self.session.back, "phase")

    def action_back_layer(self) -> None:
        self._inline(self.session.back, "layer")
        self._follow_layer()

    def _follow_layer(self) -> None:
        """s and S select the layer they stepped to (up/down still choose another)."""
        ev = self.session.last_event
        if self.running or ev is None or ev.layer is None or ev.layer == self.selected_layer:
            return
        self.selected_layer = ev.layer
        self.query_one(NetworkView).selected = ev.layer
        if self.cell is not None and is_dense(self.session):  # the cursor stays inside W
            rows, cols = self.session.net.layers[ev.layer].W.shape
            self.cell = (min(self.cell[0], rows - 1), min(self.cell[1], cols - 1))
        self.refresh_status()  # the network table with the new selection

    def action_back_step(self) -> None:
        self._inline(self.session.back, "step")

    def action_restart(self) -> None:
        if self.running or not self._unsaved_progress():
            self._inline(self.session.restart)
            return

        def done(yes: bool | None) -> None:
            if yes:
                self._inline(self.session.restart)

        s = self.session
        self.push_screen(
            ConfirmScreen(
                f"Restart from the initial weights? {s.step} steps of training "
                f"({s.epoch} of {s.epochs} epochs done) have not been saved "
                + (
                    "(ctrl+s saves a checkpoint)."
                    if is_dense(s)
                    else "(the model goes back to the weights it had when the debugger opened)."
                )
            ),
            done,
        )

    def _unsaved_progress(self) -> bool:
        """Whether quitting or restarting would lose training not saved in a checkpoint."""
        return self.session.position > self.saved_position and self.session.step > 0

    def action_finish_epoch(self) -> None:
        self._start_run("epoch", self.session.epoch + 1)

    def action_continue_run(self) -> None:
        self._start_run("continue", None)

    def action_run_to(self) -> None:
        if self.running:
            self.action_pause()
            return

        def validate(text: str) -> str | None:
            return (
                None
                if _parse_target(text) is not None
                else "type an epoch like 50 or a step like s200"
            )

        def done(text: str | None) -> None:
            if text:
                kind, n = _parse_target(text)  # type: ignore[misc]
                self._start_run(kind, n)

        self.push_screen(
            PromptScreen("Run to: an epoch (50) or a step (s200)", "50", validate=validate), done
        )

    def action_pause(self) -> None:
        if self.running:
            self._stop.set()

    def _start_run(self, kind: str, target: int | None) -> None:
        if self.running:
            self.action_pause()
            return
        s = self.session
        if s.finished or s.nonfinite is not None:
            self.message_text = (
                "Training has diverged: step back (N/F) or restart (R)."
                if s.nonfinite is not None
                else f"Training finished ({s.epochs} epochs). R restarts; h raises the epochs."
            )
            self.refresh_all()
            return
        self._last_hit = None
        self.message_text = ""
        self._stop.clear()
        self._run_snapshot = None
        if gc.get_freeze_count() == 0:
            # The objects of start-up (widgets, styles, data) live as long as
            # the app: out of every later collection. A full collection during
            # a run then no longer walks them (0.15-0.3 s each on the UI
            # thread, measured with bench/ui.py probe).
            gc.freeze()
        self.running = True
        self.refresh_all()
        self._train(kind, target)

    @work(thread=True, exclusive=True, group="train")
    def _train(self, kind: str, target: int | None) -> None:
        worker = get_current_worker()
        s = self.session

        lesson = self.lesson_driver

        def target_reached(sess: Session) -> bool:
            if lesson is not None and lesson.check_in_run(sess):
                return True  # the lesson moves on here
            if kind == "epoch" and sess.epoch >= (target or 0):
                return True
            return kind == "step" and sess.step >= (target or 0)

        if lesson is None:  # reads only the step and epoch counters
            target_reached.metrics_read = ()  # type: ignore[attr-defined]

        def stop() -> bool:
            return worker.is_cancelled or self._stop.is_set()

        chunk = 1
        sampled = 0.0
        reason_kind, message = "cancelled", ""
        if kind == "epoch" and s.epoch >= (target or 0):
            target = s.epoch + 1
        with self.lock:
            trap = Trap(self.breakpoints, s, target_reached)
        while True:
            t0 = time.perf_counter()
            with self.lock:
                r = trap.run(s, max_steps=chunk, should_stop=stop)
                if t0 - sampled >= RUN_TICK:  # the status the UI shows, once a tick
                    self._run_snapshot, sampled = self._status_snapshot(), t0
            dt = time.perf_counter() - t0
            if r.kind != "limit":
                reason_kind, message = r.kind, r.message
                break
            if stop():
                break
            # chunks of ~10 ms: the UI waits at most that long for the lock
            chunk = max(1, min(chunk * 2, int(chunk * 0.01 / dt) if dt > 0 else chunk * 2))
            self.lock.yield_to_waiters()  # not sleep(0) after every chunk: see handoff.py
        self._last_hit = trap.hit
        self.post_message(RunFinished(reason_kind, message))

    def on_run_finished(self, msg: RunFinished) -> None:
        self.running = False
        self._run_snapshot = None
        if msg.kind == "diverged":
            self.message_text = "Training diverged: " + msg.message
        elif msg.kind == "cancelled":
            self.message_text = "Paused."
        # The PAUSED frame first; the heavy views right after it.
        self.refresh_status()
        self._after_frame(self.refresh_heavy)

    # ---------------------------------------------------- reverse execution
    def action_reverse_continue(self) -> None:
        if not self.breakpoints.active():
            if not self.running:
                self.message_text = "Reverse-continue needs an enabled breakpoint: b adds one."
                self.refresh_all()
            else:
                self.action_pause()
            return
        self._start_search("continue", ())

    def action_reverse_watch(self) -> None:
        if self.running:
            self.action_pause()
            return
        first = self.watches.items[0].source if self.watches.items else "loss"

        def done(text: str | None) -> None:
            if text:
                self._start_search("watch", _parse_watch_rule(text))  # type: ignore[arg-type]

        self.push_screen(
            PromptScreen(
                "Back to the last step where a value changed by more than D "
                "(EXPR change D) or crossed V (EXPR cross V)",
                f"{first} change 0.1",
                f"{first} change 0.1",
                validate=_watch_rule_error,
            ),
            done,
        )

    def action_first_bad_value(self) -> None:
        if self.running:
            self.action_pause()
            return
        from tui_trainer.engine.reverse import DEFAULT_MAGNITUDE

        limit = self.bad_magnitude or DEFAULT_MAGNITUDE

        def done(text: str | None) -> None:
            if text:
                self.bad_magnitude = float(text)
                self._start_search("bad", (self.bad_magnitude,))

        def validate(text: str) -> str | None:
            try:
                v = float(text)
            except ValueError:
                return "type a number like 1e6"
            return None if math.isfinite(v) and v > 0 else "type a positive number like 1e6"

        self.push_screen(
            PromptScreen(
                "First bad value: where a value first became non-finite or its "
                "magnitude passed (enter keeps this limit)",
                "1e6",
                f"{limit:g}",
                validate=validate,
            ),
            done,
        )

    def _start_search(self, kind: str, args: tuple, from_start: bool = False) -> None:
        if self.running:
            self.action_pause()
            return
        self._last_hit = None
        self.message_text = ""
        self._stop.clear()
        self.running = True
        self.searching = {
            "continue": "reverse-continue",
            "watch": "reverse watch",
            "bad": "first bad value",
        }[kind] + (" from the start" if from_start else "")
        self.search_done = 0.0
        self.refresh_all()
        self._search(kind, args, from_start)

    @work(thread=True, exclusive=True, group="train")
    def _search(self, kind: str, args: tuple, from_start: bool) -> None:
        from tui_trainer.engine.reverse import first_bad_value, last_change, reverse_continue

        worker = get_current_worker()

        def stop() -> bool:
            return worker.is_cancelled or self._stop.is_set()

        def progress(done: int, total: int) -> None:
            self.search_done = min(1.0, done / total) if total > 0 else 0.0
            # Between chunks the session is consistent: let the UI draw it.
            self.lock.release()
            try:
                time.sleep(0.001)
            finally:
                self.lock.acquire()

        opts: dict[str, Any] = {"from_start": from_start, "should_stop": stop, "progress": progress}
        error = ""
        result: SearchResult | None = None
        with self.lock:
            try:
                if kind == "continue":
                    result = reverse_continue(self.session, self.breakpoints, **opts)
                elif kind == "watch":
                    cond, rule, value = args
                    rule_kw = {"change": value} if rule == "change" else {"crossing": value}
                    result = last_change(self.session, cond, **rule_kw, **opts)
                else:
                    result = first_bad_value(self.session, args[0], **opts)
            except (SessionError, ValueError) as e:
                error = str(e)
        self.post_message(SearchFinished(kind, args, result, error))

    def on_search_finished(self, msg: SearchFinished) -> None:
        self.running = False
        self.searching = ""
        r = msg.result
        s = self.session
        if r is None:
            self.message_text = f"The search failed: {msg.error}"
        elif r.cancelled:
            self.message_text = "Search cancelled: nothing moved."
        elif r.found is None:
            self.message_text = r.message or _not_found_text(msg.kind, r)
        else:
            if r.session is not s:
                from tui_trainer.engine.reverse import adopt

                with self.lock:
                    adopt(s, r.session)
            f = r.found
            head = {
                "continue": f"REVERSE-CONTINUE: breakpoint '{f.what}' fired here",
                "watch": "REVERSE WATCH: the last change",
                "bad": "FIRST BAD VALUE",
            }[msg.kind]
            text = f"{head} at {f.where()}: {f.explanation}"
            if msg.kind == "bad":
                with self.lock:
                    text = bad_value_text(s, f, r.window_step, r.complete)
            elif not r.complete:
                text += f" (searched the step-back history, from step {r.window_step})"
            self.message_text = text
            if f.layer is not None and f.layer != self.selected_layer:
                self.selected_layer = f.layer
                self.query_one(NetworkView).selected = f.layer
        self.refresh_status()
        self._after_frame(self.refresh_heavy)
        if (
            r is not None
            and not r.cancelled
            and not r.complete
            and (r.found is None or msg.kind == "bad")
        ):
            self._offer_replay(msg.kind, msg.args, r)

    def _offer_replay(self, kind: str, args: tuple, r: SearchResult) -> None:
        """The answer may be older than the step-back history: offer a replay from the start."""
        if not is_dense(self.session):  # a torch session cannot be rebuilt from its start
            self.message_text = (
                f"{_not_found_text(kind, r)} A replay from the start of training, to look "
                "further back, is not available on a PyTorch model."
            )
            self.refresh_all()
            return
        s = self.session

        def done(yes: bool | None) -> None:
            if yes:
                self._start_search(kind, args, from_start=True)

        what = "an earlier one" if r.found is not None else "it"
        self.push_screen(
            ConfirmScreen(
                f"The step-back history only reaches back to step {r.window_step}; "
                f"{what} may be older. Replay training from the start (up to "
                f"{s.step} steps, deterministic: the same run bit for bit) to find "
                f"{what}? p or space cancels the replay."
            ),
            done,
        )

    # ------------------------------------------------------------ dialogs
    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_about(self) -> None:
        from tui_trainer.ui.screens.about import AboutScreen

        self.push_screen(
            AboutScreen(self.scenario_name, self.description, self.watch_text, self.setup_command())
        )

    def action_lesson_next(self) -> None:
        if self.lesson_driver is None:
            self.notify("no lesson is open: tui-trainer learn starts the course", timeout=4)
            return
        self.lesson_driver.next()

    def action_lesson_back(self) -> None:
        if self.lesson_driver is None:
            self.notify("no lesson is open: tui-trainer learn starts the course", timeout=4)
            return
        self.lesson_driver.back()

    def action_edit_hyper(self) -> None:
        if self.running:
            self.action_pause()
            return

        def done(changes: dict[str, Any] | None) -> None:
            if changes:
                with self.lock:
                    at = self.session.set_hyper(**changes)
                desc = ", ".join(
                    f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in changes.items()
                )
                self.message_text = f"Changed {desc}; applies from step {at}."
                self.refresh_all()

        if not is_dense(self.session):  # the user's optimizer: its learning rate
            self._edit_lr(done)
            return
        from tui_trainer.ui.screens.hyper import HyperScreen

        self.push_screen(HyperScreen(self.session.hyperparameters(), self.session.current_lr), done)

    def current_setup(self) -> dict[str, Any]:
        """The settings of this run now, as :meth:`Scenario.to_toml` overrides:
        hyperparameters, inputs, breakpoints and watches (the data settings are
        in ``self.scenario`` itself once the data dialog changed them)."""
        from tui_trainer.scenario import BreakpointSpec

        hp = self.session.hyperparameters()
        s = self.session
        spec = self.scenario.data if self.scenario is not None else None
        opened = tuple(spec.features) if spec is not None and spec.features else s.features0
        features = {"features": list(s.features)} if tuple(s.features) != opened else {}
        return {
            **features,
            "lr": hp["lr"],
            "momentum": hp["momentum"],
            "l2": hp["l2"],
            "optimizer": hp["optimizer"],
            "epochs": hp["epochs"],
            "batch_size": "full" if hp["batch_size"] <= 0 else hp["batch_size"],
            **(_regul_overrides(self.scenario, hp) if self.scenario is not None else {}),
            "breakpoints": [
                BreakpointSpec(b.source, b.phase, b.enabled, b.ignore, b.every)
                for b in self.breakpoints.items
            ],
            "watches": [w.source for w in self.watches.items],
        }

    def setup_command(self) -> str:
        """The one shell line that opens this setup (``tui-trainer xor --set lr=0.3 ...``),
        or "" without a scenario."""
        if self.scenario is None:
            return ""
        from tui_trainer.scenario.overrides import command_line, data_overrides

        opened = self.scenario_opened or self.scenario
        # The loss as trained: a new kind of data may have changed it to its task's default.
        changed = self.scenario.loss != opened.loss
        loss = {"loss": self.scenario.loss or self.session.cfg.loss} if changed else {}
        now = {**data_overrides(self.scenario), **loss, **self.current_setup()}
        try:
            return command_line(opened, now)
        except Exception as e:  # noqa: BLE001 - the card still opens
            return f"(no command line for this setup: {e})"

    def action_data_setup(self) -> None:
        """Inputs (x1^2, x1*x2...), noise, validation share, a new draw (D)."""
        if self._not_on_this_backend("the data setup dialog"):
            return
        if self.running:
            self.action_pause()
            return
        from tui_trainer.ui.screens.data_setup import DataSetupScreen

        self.push_screen(DataSetupScreen(self.session, self.scenario), self._apply_setup)

    def _apply_setup(self, setup: Any) -> None:
        if setup is None:
            return
        if setup.data:
            self._new_data(setup)
            return
        if setup.features is not None:
            with self.lock:
                try:
                    at = self.session.set_hyper(features=setup.features)
                except ValueError as e:
                    self.notify(visible(str(e)), severity="error", timeout=8)
                    return
            self.cell = None
            self.message_text = (
                f"Inputs {', '.join(setup.features)}: the first layer is rebuilt at step {at}."
            )
            self.refresh_all()

    def on_data_view_point_clicked(self, msg: DataView.PointClicked) -> None:
        """A click in the decision map adds a training point (left: the first
        class, shift: the second, ctrl: the third) or removes the nearest one
        (right), as ConvNetJS's classify demo does. The points are scenario
        settings ([data] added_points, removed_points), so the new run starts
        at epoch 0 and is reproducible from the saved scenario."""
        from types import SimpleNamespace

        import numpy as np

        if self.running:
            self.notify("Pause first (p): new points start a new run.", title="Data")
            return
        sc, s = self.scenario, self.session
        from tui_trainer.scenario.kinds import _data_keys_for

        if sc is None or "added_points" not in _data_keys_for(sc.data.kind):
            self.notify(
                "Points can be added by hand to generated 2-D classification data only "
                "(xor, circles, gauss, spiral, moons) opened from a scenario.",
                title="Data",
            )
            return
        added = [tuple(p) for p in sc.data.added_points]
        removed = set(sc.data.removed_points)
        if msg.button == 3:  # right: the nearest training point
            x_train = s.data.columns[0]
            (xmin, xmax, ymin, ymax), _, _ = self.query_one(DataView).geometry or (
                (0.0, 1.0, 0.0, 1.0),
                0,
                0,
            )
            scale = np.array([(xmax - xmin) or 1.0, (ymax - ymin) or 1.0])
            d = np.hypot(*((x_train - [msg.x1, msg.x2]) / scale).T)
            i = int(np.argmin(d)) if len(d) else -1
            if i < 0 or d[i] > 0.05:
                self.notify("No training point there to remove.", title="Data")
                return
            kept = len(x_train) - len(added)
            if i >= kept:
                del added[i - kept]
            else:
                n_split = kept + len(removed)
                removed.add([j for j in range(n_split) if j not in removed][i])
            what = "Removed a training point"
        else:
            n = max(2, s.data.n_classes)
            c = 2 if msg.ctrl and n > 2 else (1 if msg.shift else 0)
            added.append((round(msg.x1, 3), round(msg.x2, 3), c))
            name = (s.data.class_names or [str(i) for i in range(n)])[c]
            what = f"Added a point of class {name} at ({msg.x1:.2f}, {msg.x2:.2f})"
        change = {
            "added_points": [list(p) for p in added] or None,
            "removed_points": sorted(removed) or None,
        }
        self._new_data(
            SimpleNamespace(data=change, features=None),
            f"{what}: training starts again at epoch 0 ({len(added)} added, "
            f"{len(removed)} removed by hand; w saves them in the scenario).",
        )

    def _new_data(self, setup: Any, message: str = "") -> None:
        """New data settings: a new run from epoch 0, with this run's settings."""
        from tui_trainer.engine.session import Session
        from tui_trainer.ui.screens.data_setup import scenario_with

        features = setup.features if setup.features is not None else self.session.features
        try:
            settings = self.current_setup()
            settings.pop("features", None)
            sc, text = scenario_with(self.scenario, setup.data, features, settings)
            data = sc.load_data()
            session = Session(sc.train_config(data), data)
        except Exception as e:  # noqa: BLE001 - reported in the app, never a crash
            self.notify(visible(str(e)), severity="error", timeout=10)
            return
        if self.scenario_opened is None:
            self.scenario_opened = self.scenario
        self.scenario = sc
        self.scenario_text = text
        self.replace_session(session)
        changed = ", ".join(f"{k}={v}" for k, v in setup.data.items())
        self.message_text = message or f"New data ({changed}): training starts again at epoch 0."
        self.refresh_all()

    def _edit_lr(self, done: Callable[[dict[str, Any] | None], None]) -> None:
        """A PyTorch optimizer's learning rate (every param group, from the next step)."""

        def validate(text: str) -> str | None:
            try:
                v = float(text)
            except ValueError:
                return "type a number like 0.01"
            return None if math.isfinite(v) and 0 < v <= 100 else "a number in (0, 100]"

        lr = self.session.hyperparameters()["lr"]
        self.push_screen(
            PromptScreen(
                "Learning rate of every param group (from the next step)",
                f"{lr:g}",
                f"{lr:g}",
                validate=validate,
            ),
            lambda text: done({"lr": float(text)} if text else None),
        )

    def _not_on_this_backend(self, what: str) -> bool:
        """Say plainly that a tool needs the NumPy engine's scenario (a PyTorch
        session has none); True when that is so and the action should stop."""
        if is_dense(self.session):
            return False
        if self.running:
            self.action_pause()
        self.message_text = (
            f"Not available on a PyTorch model yet: {what} works on the NumPy engine's "
            "scenarios only. Stepping, step-back, breakpoints, watches, the diagnosis, "
            "sanity checks (g), landscape (L), what-if (x), compare (X) and fixes (y) work here."
        )
        self.notify(self.message_text, severity="warning", timeout=6)
        self.refresh_all()
        return True

    def _modal_tool(self, make: Any) -> None:
        if self.running:
            self.action_pause()
            return
        self.push_screen(make(), lambda _: self.refresh_all())

    def action_sanity_checks(self) -> None:
        from tui_trainer.ui.screens.sanity import SanityScreen

        self._modal_tool(lambda: SanityScreen(self.session, self.lock))

    def action_landscape(self) -> None:
        from tui_trainer.ui.screens.landscape import LandscapeScreen

        self._modal_tool(lambda: LandscapeScreen(self.session, self.lock))

    def action_compare(self) -> None:
        s = self.session
        if not is_dense(s):  # a PyTorch model: forks of it from its initial weights
            from tui_trainer.ui.screens.compare import CompareScreen

            self._modal_tool(lambda: CompareScreen(None, None, session=s, lock=self.lock))
            return
        cfg = s.cfg.with_changes(
            **{
                k: v
                for k, v in s.hyperparameters().items()
                if k in ("lr", "momentum", "l2", "l1", "optimizer", *SCHEDULE_FIELDS)
            }
        )
        from tui_trainer.ui.screens.compare import CompareScreen

        self._modal_tool(lambda: CompareScreen(cfg, s.data))

    def replace_session(self, session: Session) -> None:
        """Train ``session`` from now on (a lesson's new network): watches follow
        it, the selection goes back to the first layer (the shapes may differ)."""
        with self.lock:
            self.session = session
            self.watches.bind(session)
            self.selected_layer = 0
            self.query_one(NetworkView).selected = 0
            self.cell = None
            self.saved_position = 0
        self.refresh_all()

    def action_what_if(self) -> None:
        if self.running:
            self.action_pause()
            return
        from tui_trainer.engine.backend_tools import tools_for

        def done(chosen: Session | None) -> None:
            if chosen is not None:
                with self.lock:  # (torch: the fork's state goes into the user's model)
                    self.session = tools_for(self.session).keep(self.session, chosen)
                    self.watches.bind(self.session)
                self.message_text = "Kept the chosen future."
            self.refresh_all()

        from tui_trainer.ui.screens.whatif import WhatIfScreen

        self.push_screen(WhatIfScreen(self.session, self.lock), done)

    def action_try_fix(self) -> None:
        """The diagnosis's fixes, each tried beside the run as it is (see try_fix.py)."""
        if self.running:
            self.action_pause()
            return
        from tui_trainer.ui.screens.try_fix import FixPicker, fix_choices

        with self.lock:
            findings = list(self.findings)
        choices = fix_choices(findings, self.scenario is not None)
        if not choices:
            self.notify(
                "The diagnosis has no fix to try here: it has found nothing wrong so far "
                "(the debug panel, 4, lists what it checks).",
                title="Try a fix",
            )
            return
        self.push_screen(FixPicker(choices), self._try_fix_picked)

    def _try_fix_picked(self, choice: Any) -> None:
        if choice is None:
            return
        from tui_trainer.engine.session import Session
        from tui_trainer.scenario import ScenarioError
        from tui_trainer.ui.screens.try_fix import TryFixScreen

        fixed: Any = None
        fresh = None
        if choice.hyper is None:  # the fix changes the start: the fixed scenario from epoch 0
            from tui_trainer.fixes import apply_fix

            try:
                fixed = apply_fix(self.scenario, choice.fix)
            except (ScenarioError, TypeError, ValueError) as e:
                self.notify(f"This fix does not apply to this scenario: {e}", severity="error")
                return

            def fresh() -> Session:
                data = fixed.load_data()
                return Session(fixed.train_config(data), data)

        screen = TryFixScreen(self.session, self.lock, choice, fresh)

        def done(chosen: Session | None) -> None:
            if chosen is None:
                self.refresh_all()
                return
            kept_fix = len(screen.sessions) > 1 and chosen is screen.sessions[1]
            self.message_text = (
                f"Kept the fix: {choice.label}." if kept_fix else "Kept the run as it is."
            )
            if kept_fix and fixed is not None:
                self.replace_session(chosen)  # the network may have another shape
                self.scenario = fixed  # w writes the fixed scenario
            else:
                with self.lock:  # (torch: the fork's state goes into the user's model)
                    self.session = tools_for(self.session).keep(self.session, chosen)
                    self.watches.bind(self.session)
                self.refresh_all()

        self.push_screen(screen, done)

    def action_manage_breakpoints(self) -> None:
        from tui_trainer.ui.screens.breakpoints import BreakpointsScreen

        self.push_screen(BreakpointsScreen(self.breakpoints), lambda _: self.refresh_all())

    def action_add_watch(self) -> None:
        def done(text: str | None) -> None:
            if text:
                self.watches.add(self._by_index(text))
                self.panel = "debug"
                self.refresh_all()

        self.push_screen(
            PromptScreen(
                "Watch (e.g. loss, grad_norm[0], W[0][1,2], update_ratio[1])"
                if is_dense(self.session)
                else 'Watch (e.g. loss, grad_norm["features.0"], update_ratio[1])',
                validate=self._validate_condition,
            ),
            done,
        )

    def action_write_scenario(self) -> None:
        if self._not_on_this_backend("writing a scenario"):
            return
        """Save the scenario with the hyperparameters as they are now (atomically)."""
        if self.scenario is None:
            self.notify("no scenario file to write", severity="warning")
            return
        setup = self.current_setup()
        default = visible(f"{self.scenario_name}-edited.toml")

        def done(path: str | None) -> None:
            if not path:
                return
            try:
                target = Path(path).expanduser()
                text = self.scenario.to_toml(relative_to=target.parent, **setup)
                write_text_atomic(target, text)
            except Exception as e:  # noqa: BLE001 - reported in the app, never a crash
                self.notify(f"could not write {path}: {e}", severity="error", timeout=8)
                return
            self.notify(f"wrote {path}")

        self.push_screen(
            PromptScreen("Write scenario (with current hyperparameters) to", value=default), done
        )

    def action_add_breakpoint(self) -> None:
        def done(text: str | None) -> None:
            if text:
                self.breakpoints.add(self._by_index(text))
                self.notify(f"breakpoint added: {text}")

        self.push_screen(
            PromptScreen(
                "Break when (e.g. val_loss rising for 5 epochs, grad_norm[0] > 10, epoch >= 50)"
                if is_dense(self.session)
                else 'Break when (e.g. loss < 0.5, grad_norm["features.0"] > 10, epoch >= 2)',
                validate=self._validate_condition,
            ),
            done,
        )

    def _by_index(self, text: str) -> str:
        """A PyTorch session's module names in quotes (``grad_norm["features.0"]``)
        as the pause indices the conditions language reads."""
        return resolve_module_names(text, getattr(self.session, "module_names", None))

    def _validate_condition(self, text: str) -> str | None:
        try:
            text = self._by_index(text)
        except ValueError as e:
            return str(e)
        return _validate_condition(text)

    def action_save_checkpoint(self) -> None:
        if self.saver is None and self._not_on_this_backend("saving a checkpoint from the app"):
            return
        if self.running:
            self.action_pause()
            return
        default = visible(f"{self.scenario_name}-step{self.session.step}.npz")

        def done(path: str | None) -> None:
            if not path:
                return
            try:
                with self.lock:
                    if self.saver is not None and not is_dense(self.session):
                        self.saver(self.session, Path(path).expanduser())
                    else:
                        save_checkpoint(self.session, Path(path).expanduser(), self.scenario_text)
            except (OSError, CheckpointError, SessionError) as e:
                self.notify(f"could not save {path}: {e}", severity="error", timeout=8)
                return
            self.saved_position = self.session.position
            self.notify(f"saved checkpoint {path}")

        self.push_screen(PromptScreen("Save checkpoint to", value=default), done)

    def action_open_scenario(self) -> None:
        if self._not_on_this_backend("opening a scenario"):
            return
        if self.running:
            self.action_pause()
            return
        if self.loader is None:
            self.notify("opening scenarios is not available here", severity="warning")
            return

        def done(result: tuple[str, Any] | None) -> None:
            if not result:
                return
            choice, (session, kw) = result
            with self.lock:
                self.session = session
                self.scenario_name = kw.get("name", choice)
                self.watch_text = kw.get("watch_text", "")
                self.description = kw.get("description", "")
                self.breakpoints = kw.get("breakpoints") or BreakpointSet()
                self.scenario = kw.get("scenario")
                self.scenario_opened = None
                self.watches = WatchList()
                for w in kw.get("watches", []):
                    self.watches.add(w)
                self.watches.bind(session)
                self.scenario_text = kw.get("scenario_text", "")
                self.selected_layer = 0
                self.query_one(NetworkView).selected = 0
                self.saved_position = 0
            self.message_text = f"Opened {self.scenario_name}."
            self.refresh_all()

        from tui_trainer.ui.screens.open_scenario import OpenScenarioScreen

        builtins = self.builtins() if callable(self.builtins) else self.builtins
        self.push_screen(OpenScenarioScreen(builtins, loader=self.loader), done)

    def action_quit_app(self) -> None:
        if self.running:
            self._stop.set()
        if self._unsaved_progress():

            def done(yes: bool | None) -> None:
                if yes:
                    self._quit_now()

            text = (
                f"Quit? Training progress (step {self.session.step}) has not been saved "
                "(ctrl+s saves a checkpoint)."
            )
            if not is_dense(self.session):  # the user's own model keeps its weights
                text = (
                    f"Quit? The model keeps its weights as of step {self.session.step} "
                    "(a step begun and not finished is not applied)."
                )
            self.push_screen(ConfirmScreen(text), done)
        else:
            self._quit_now()

    def action_quit(self) -> None:  # type: ignore[override]
        """ctrl+q and the palette's Quit ask like q does."""
        self.action_quit_app()

    def _quit_now(self) -> None:
        """A deliberate quit: the user chose to leave, so no recovery file is kept."""
        self._deliberate_quit = True
        if self.recovery_file is not None:
            discard(self.recovery_file)
        self.exit()


_COMMAND_TITLES = {
    "next_phase": "Next phase",
    "step_layer": "Step into the next layer",
    "finish_step": "Finish the step",
    "finish_epoch": "Finish the epoch",
    "continue": "Continue (run to a breakpoint or the end)",
    "pause": "Pause",
    "run_to": "Run to an epoch or step",
    "back_phase": "Back one phase",
    "back_layer": "Back one layer",
    "back_step": "Back to the start of the step",
    "reverse_continue": "Reverse-continue (back to the last breakpoint hit)",
    "reverse_watch": "Reverse watch (back to the last change of a value)",
    "first_bad": "First bad value (where a value first became huge or NaN)",
    "restart": "Restart from the initial weights",
    "panel_matrix": "Show the matrix panel",
    "panel_chart": "Show the loss chart",
    "panel_data": "Show the data panel",
    "panel_debug": "Show the debug panel",
    "panel_picture": "Show the network picture",
    "edit_weight": "Edit the weight under the cursor",
    "cycle_view": "Cycle the matrix view",
    "toggle_images": "First-layer weights as images",
    "toggle_cursor": "Weight cursor",
    "toggle_log": "Log scale for the loss chart",
    "toggle_accuracy": "Accuracy chart (train and validation)",
    "toggle_val_points": "Validation points in the data panel",
    "add_breakpoint": "Add a breakpoint",
    "breakpoints": "Manage breakpoints",
    "add_watch": "Add a watch",
    "write_scenario": "Write the scenario to a file",
    "sanity": "Sanity checks",
    "about": "About this scenario (description, what to watch, its command line)",
    "data_setup": "Data and inputs: features, noise, validation share, new draw",
    "lesson_next": "Lesson: next step",
    "lesson_back": "Lesson: back one step",
    "landscape": "Loss landscape",
    "what_if": "What if (fork)",
    "try_fix": "Try a fix the diagnosis suggests",
    "compare": "Compare settings side by side",
    "open": "Open a scenario",
    "edit_hyper": "Edit hyperparameters",
    "save": "Save a checkpoint",
    "help": "Help",
    "quit": "Quit",
}


def _validate_condition(text: str) -> str | None:
    """The caret-annotated error for a breakpoint/watch expression, or None."""
    try:
        parse(text)
    except ConditionError as e:
        return e.pretty(text)  # shown as plain text by PromptScreen
    return None


def _parse_watch_rule(text: str) -> tuple[Any, str, float] | None:
    """``EXPR change D`` or ``EXPR cross V`` -> (condition, rule, number), or None."""
    parts = text.strip().rsplit(None, 2)
    if len(parts) != 3 or parts[1] not in ("change", "cross"):
        return None
    try:
        value = float(parts[2])
        cond = parse(parts[0])
    except (ValueError, ConditionError):
        return None
    if not math.isfinite(value) or (parts[1] == "change" and value < 0):
        return None
    return cond, parts[1], value


def _watch_rule_error(text: str) -> str | None:
    parts = text.strip().rsplit(None, 2)
    if len(parts) == 3 and parts[1] in ("change", "cross"):
        error = _validate_condition(parts[0])
        if error:
            return error
    if _parse_watch_rule(text) is None:
        return "type EXPR change D (D >= 0) or EXPR cross V, e.g. W[0][1,2] change 0.01"
    return None


def _not_found_text(kind: str, r: SearchResult) -> str:
    what = {
        "continue": "No breakpoint fired before this pause",
        "watch": "The value did not change like that before this pause",
        "bad": "No value became non-finite or passed the limit up to this pause",
    }[kind]
    if r.complete:
        return what + " (searched from the start of training)."
    return what + f" within the step-back history (from step {r.window_step})."


def _set_title(widget: Any, title: str) -> None:
    if str(widget.border_title or "") != title:
        widget.border_title = title


def _parse_target(text: str) -> tuple[str, int] | None:
    t = text.strip().lower()
    kind = "epoch"
    if t.startswith("s"):
        kind, t = "step", t[1:].strip()
    elif t.startswith("e"):
        t = t[1:].strip()
    try:
        n = int(t)
    except ValueError:
        return None
    if n < 0 or not math.isfinite(n):
        return None
    return kind, n


def _regul_overrides(scenario: Any, hp: dict[str, Any]) -> dict[str, Any]:
    """L1 and the lr schedule as changed live, for a saved scenario: only what
    differs from the file, and only the parameters the schedule uses."""
    from tui_trainer.scenario.schema import DEFAULT_GAMMA, SCHEDULE_KEYS

    out: dict[str, Any] = {}
    if hp["l1"] != scenario.l1:
        out["l1"] = hp["l1"]
    sched: dict[str, Any] = {"schedule": hp["schedule"], "warmup_epochs": hp["warmup_epochs"]}
    for key, users in SCHEDULE_KEYS.items():
        if hp["schedule"] in users:
            sched[key] = hp[key]

    def in_file(key: str) -> Any:
        if key == "gamma" and scenario.gamma is None:  # the schedule's default
            return DEFAULT_GAMMA.get(scenario.schedule, 0.1)
        return getattr(scenario, key)

    if any(in_file(k) != v for k, v in sched.items()):
        out.update(sched)
    return out
