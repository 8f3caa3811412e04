"""Compare: the same scenario with up to four values of one hyperparameter.

Every run is a fresh ``Session`` of the scenario (``engine.compare.make_runs``)
with one hyperparameter changed; a thread worker advances them in lockstep
(``run_lockstep``), one epoch at a time, and the chart grows all curves
together: per-epoch train loss as lines, validation loss as dots, one colour
per run. Diverged runs stop and are marked. The user's own session is not
involved at all.

On a PyTorch model (``session=`` given) there is no scenario to build fresh
runs from: each run is a fork of the session restarted from the model's
initial weights (``tui_trainer/torch/fork.py``'s ``compare_runs``, reached
through ``engine.backend_tools``), with the hyperparameters its optimizer has.
"""

from __future__ import annotations

import re
import threading
from contextlib import nullcontext
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, ProgressBar, Select, Static
from textual.worker import get_current_worker

from tui_trainer.engine.backend_tools import tools_for
from tui_trainer.engine.compare import Run, format_table, make_runs, run_lockstep
from tui_trainer.engine.config import Dataset, TrainConfig
from tui_trainer.ui.render.chart_axes import apply_axes, rgb
from tui_trainer.ui.render.log_axis import log10_list, set_log_ticks
from tui_trainer.ui.render.numbers import fmt
from tui_trainer.ui.screens.dialog import RUN_DIALOG_CSS, Dialog
from tui_trainer.ui.screens.sanity import post
from tui_trainer.ui.screens.whatif import parse_change, plot_ceiling
from tui_trainer.ui.widgets.safe_plot import SafePlot as PlotextPlot

PARAMS = ("lr", "batch_size", "l2", "l1", "momentum", "optimizer")
MAX_EPOCHS = 200
MAX_VALUES = 4
COLORS = ("cyan", "orange", "green", "magenta")


def default_values(cfg: TrainConfig, param: str, n_train: int = 0) -> str:
    """Three values around the scenario's own (lr/10, lr, lr*10 for the learning rate)."""
    if param == "lr":
        lr = cfg.lr
        return f"{lr / 10:g},{lr:g},{lr * 10:g}"
    if param == "batch_size":
        bs = cfg.batch_size
        if bs <= 0:
            return "16,64,full"
        big = "full" if n_train and bs * 4 >= n_train else str(bs * 4)
        small = max(1, bs // 4)
        return ",".join(dict.fromkeys([str(small), str(bs), big]))
    if param in ("l2", "l1"):
        v = getattr(cfg, param)
        return "0,0.001,0.01" if v <= 0 else f"0,{v:g},{v * 10:g}"
    if param == "momentum":
        return "0,0.5,0.9"
    if param == "optimizer":
        return "sgd,momentum,adam"
    value = getattr(cfg, param, "")
    return f"{value:g}" if isinstance(value, float) else str(value)


def parse_values(param: str, text: str) -> tuple[list[Any], str]:
    """``"0.01, 0.1 1"`` -> ``([0.01, 0.1, 1.0], "")``; 1 to 4 values, each validated."""
    tokens = [t for t in re.split(r"[,\s]+", text.strip()) if t]
    if not tokens:
        return [], f"type up to {MAX_VALUES} values of {param}, separated by commas"
    if len(tokens) > MAX_VALUES:
        return [], f"at most {MAX_VALUES} values at a time ({len(tokens)} given)"
    out: list[Any] = []
    for t in tokens:
        change, err = parse_change(f"{param}={t}")
        if err:
            return [], err
        out.append(change[param])
    return out, ""


def _label(param: str, value: Any) -> str:
    if param == "batch_size" and value == 0:
        return "batch_size=full"
    return f"{param}={value:g}" if isinstance(value, float) else f"{param}={value}"


@dataclass
class Curves:
    """One run's per-epoch series, copied in the worker."""

    label: str
    loss: np.ndarray
    val: np.ndarray
    diverged: bool


def capture(runs: list[Run]) -> list[Curves]:
    out = []
    for r in runs:
        h = r.session.history
        out.append(
            Curves(
                r.label,
                np.array(h.epoch_series("loss"), dtype=float),
                np.array(h.epoch_series("val_loss"), dtype=float),
                r.session.nonfinite is not None,
            )
        )
    return out


class CompareScreen(Dialog[None]):
    """Side-by-side runs of the scenario with different values of one hyperparameter."""

    DEFAULT_CSS = (
        RUN_DIALOG_CSS
        + """
    CompareScreen {
        align: center middle;
    }
    #cmp-param {
        width: 20;
    }
    #cmp-values {
        width: 1fr;
    }
    #cmp-epochs {
        width: 10;
    }
    """
    )

    BINDINGS = [
        Binding("escape", "close", "close", id="compare_close"),
        Binding("l", "toggle_log", "log scale", id="compare_log"),
    ]

    class Progress(Message):
        def __init__(self, token: int, value: float, curves: list[Curves], table: str) -> None:
            self.token = token
            self.value = value
            self.curves = curves
            self.table = table
            super().__init__()

    class Done(Message):
        def __init__(self, token: int, error: str = "") -> None:
            self.token = token
            self.error = error
            super().__init__()

    def __init__(
        self,
        cfg: TrainConfig | None,
        data: Dataset | None,
        param: str = "lr",
        values: list[Any] | str | None = None,
        epochs: int | None = None,
        *,
        session: Any = None,
        lock: Any = None,
    ) -> None:
        super().__init__()
        self.session = session  # a PyTorch session: runs are forks of it (see the top)
        self.lock = lock if lock is not None else nullcontext()
        self.params = PARAMS
        if session is not None:
            hp = session.hyperparameters()
            cfg = SimpleNamespace(**hp)  # type: ignore[assignment]
            tools = tools_for(session)
            allowed = getattr(tools, "changeable_for", lambda s: tools.changeable)(session)
            self.params = tuple(p for p in PARAMS if p in allowed)
        self.cfg = cfg
        self.data = data
        self.param = param
        self.n_train = (
            int(len(data.x_train))
            if data is not None
            else int(getattr(getattr(session, "data", None), "n", 0) or 0)
        )
        if values is None:
            self.values_text = default_values(cfg, param, self.n_train)
        elif isinstance(values, str):
            self.values_text = values
        else:
            self.values_text = ",".join(
                (f"{v:g}" if isinstance(v, float) else str(v)) for v in values
            )
        full = int(epochs) if epochs is not None else int(cfg.epochs)  # type: ignore[union-attr]
        self.epochs = max(1, min(full, MAX_EPOCHS) if epochs is None else full)
        self.capped_from = full if epochs is None and full > MAX_EPOCHS else 0
        self.log_scale = False
        self.running = False
        self.runs: list[Run] = []
        self.curves: list[Curves] = []
        self.table = ""
        self._token = 0
        self._stop = threading.Event()

    def compose(self) -> ComposeResult:
        params = self.params if self.param in self.params else (*self.params, self.param)
        with Vertical(id="cmp-box", classes="run-box"):
            with Horizontal(id="cmp-form", classes="run-form"):
                yield Select(
                    [(p, p) for p in params], value=self.param, allow_blank=False, id="cmp-param"
                )
                yield Input(self.values_text, placeholder="e.g. 0.01,0.1,1", id="cmp-values")
                yield Label("epochs")
                yield Input(str(self.epochs), id="cmp-epochs")
            yield Label(self._intro(), id="cmp-status", classes="run-note")
            yield ProgressBar(total=100, show_eta=False, id="cmp-progress", classes="run-progress")
            yield PlotextPlot(id="cmp-chart", classes="run-chart")
            yield Static("", id="cmp-table", classes="run-table")
            yield Label(
                "Enter run   l log scale   Tab next field   Esc close (stops the runs)",
                id="cmp-help",
                classes="run-note run-help",
            )

    def _intro(self) -> str:
        text = f"Up to {MAX_VALUES} values of {self.param}, then Enter."
        if self.capped_from:
            text += (
                f" Epochs capped at {MAX_EPOCHS} of the scenario's {self.capped_from} to stay"
                " responsive (type more to run longer)."
            )
        if self.session is not None:
            text += " Each run starts from the model's initial weights."
        elif self.param == "momentum" and self.cfg.optimizer != "momentum":
            text += f" Note: momentum only affects the momentum optimizer (this is {self.cfg.optimizer})."
        return text

    def on_mount(self) -> None:
        self.query_one("#cmp-box").border_title = "Compare runs"
        self.query_one("#cmp-values", Input).focus()

    # ------------------------------------------------------------ form
    def on_select_changed(self, event: Select.Changed) -> None:
        param = str(event.value)
        if param == self.param:
            return
        self.param = param
        self.query_one("#cmp-values", Input).value = default_values(self.cfg, param, self.n_train)
        self.query_one("#cmp-status", Label).update(self._intro())

    def _error(self, text: str) -> None:
        self.query_one("#cmp-status", Label).update(Text(text, style="bold red"))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        values, err = parse_values(self.param, self.query_one("#cmp-values", Input).value)
        if err:
            self._error(err)
            return
        raw = self.query_one("#cmp-epochs", Input).value.strip()
        try:
            epochs = int(raw)
            if not 1 <= epochs <= 100_000:
                raise ValueError
        except ValueError:
            self._error("epochs must be a whole number >= 1")
            return
        self.start(values, epochs)

    def start(self, values: list[Any], epochs: int) -> None:
        self._stop.set()
        self._stop = threading.Event()
        self._token += 1
        self.running = True
        self.epochs = epochs
        self.query_one("#cmp-progress", ProgressBar).update(progress=0)
        labels = ", ".join(_label(self.param, v) for v in values)
        self.query_one("#cmp-status", Label).update(f"Running {labels} for {epochs} epochs...")
        self.set_focus(None)  # l goes to the screen
        token, stop, param = self._token, self._stop, self.param
        self.run_worker(
            lambda: self._work(token, stop, param, values, epochs),
            thread=True,
            exclusive=True,
            group="compare",
        )

    # ------------------------------------------------------------ work
    def _work(
        self, token: int, stop: threading.Event, param: str, values: list[Any], epochs: int
    ) -> None:
        worker = get_current_worker()

        def cancelled() -> bool:
            return stop.is_set() or worker.is_cancelled

        try:
            if self.session is not None:
                with self.lock:  # forks of the session, taken while nothing moves it
                    runs = tools_for(self.session).compare_runs(self.session, param, values)
            else:
                runs = make_runs(self.cfg, self.data, param, values)
        except Exception as e:  # noqa: BLE001 - shown in the dialog
            post(self, self.Done(token, f"{type(e).__name__}: {e}"))
            return
        for r in runs:
            r.label = _label(param, r.value)
        self._release()
        self.runs = runs
        post(self, self.Progress(token, 0.0, capture(runs), format_table(runs)))

        def on_epoch(e: int) -> None:
            if not cancelled():
                post(self, self.Progress(token, e / epochs, capture(runs), format_table(runs)))

        try:
            run_lockstep(runs, epochs, on_epoch, cancelled)
        except Exception as e:  # noqa: BLE001 - shown in the dialog
            post(self, self.Done(token, f"{type(e).__name__}: {e}"))
            return
        if not cancelled():
            post(self, self.Done(token))

    def on_compare_screen_progress(self, msg: Progress) -> None:
        if msg.token != self._token:
            return
        self.query_one("#cmp-progress", ProgressBar).update(progress=100 * msg.value)
        self.curves = msg.curves
        self.table = msg.table
        self.query_one("#cmp-table", Static).update(Text(msg.table, no_wrap=True, overflow="crop"))
        self._draw()

    def on_compare_screen_done(self, msg: Done) -> None:
        if msg.token != self._token:
            return
        self.running = False
        if msg.error:
            self._error("Could not run: " + msg.error)
            return
        self.query_one("#cmp-progress", ProgressBar).update(progress=100)
        n_div = sum(1 for c in self.curves if c.diverged)
        done = f"Done: {len(self.curves)} runs, {self.epochs} epochs"
        if n_div:
            done += f"; {n_div} diverged (stopped, marked in the legend and the table)"
        self.query_one("#cmp-status", Label).update(done + ".")

    def _draw(self) -> None:
        chart = self.query_one("#cmp-chart", PlotextPlot)
        plt = chart.plt
        plt.clear_data()
        plt.clear_figure()
        log = self.log_scale
        top = plot_ceiling([c.loss for c in self.curves])
        clipped = False
        shown: list[float] = []
        keys: list[str] = []

        def ok(y: np.ndarray) -> np.ndarray:
            m = np.isfinite(y)
            return m & (y > 0) if log else m

        for c, color in zip(self.curves, COLORS, strict=False):
            x = np.arange(1, len(c.loss) + 1, dtype=float)
            label = c.label + (" DIVERGED" if c.diverged else "")
            for y, line in ((c.loss, True), (c.val, False)):
                m = ok(y)
                if not m.any():
                    continue
                clipped = clipped or bool(y[m].max() > top)
                v = log10_list(np.minimum(y[m], top)) if log else np.minimum(y[m], top).tolist()
                shown.extend(v)
                if line:  # no plotext label: its legend would sit on the curves
                    plt.plot(x[m].tolist(), v, color=rgb(color), marker="braille")
                else:
                    plt.scatter(x[m].tolist(), v, color=rgb(color), marker="•")
            keys.append(f"{color}: {label}")
        if log:
            set_log_ticks(plt, shown)
        if shown:
            last = max((len(c.loss) for c in self.curves), default=1)
            apply_axes(
                plt,
                (1.0, float(last)),
                shown,
                rows=chart.size.height,
                cols=chart.size.width,
                log_ticks=log,
            )
        plt.xlabel("epoch")
        wide = chart.size.width >= 90
        title = "train loss (lines), validation loss (•)" if wide else "train (lines), val (•)"
        if log:
            title += ", log scale"
        if clipped:
            title += f"; clipped at {fmt(top)}"
        plt.title("; ".join(keys) + " | " + title)
        chart.refresh()

    # ------------------------------------------------------------ keys
    def action_toggle_log(self) -> None:
        self.log_scale = not self.log_scale
        self._draw()

    def action_close(self) -> None:
        self._stop.set()
        self.workers.cancel_group(self, "compare")
        self.dismiss(None)

    def on_unmount(self) -> None:
        self._release()

    def _release(self) -> None:
        """Free the previous runs (a torch fork holds a copy of the model)."""
        if self.session is None:
            return  # NumPy runs are plain arrays: nothing to free
        tools = tools_for(self.session)
        for r in self.runs:
            tools.release(r.session)
