"""The loss landscape around the current parameters, and the slice along the gradient.

Left: ``L(theta + a d1 + b d2)`` on a grid (``engine.landscape.surface``),
drawn with half blocks (``▀``: the foreground is the upper grid cell, the
background the lower one) on a sequential scale of log(loss), with the
optimizer's path projected onto the plane (``•``) and the current point
(``◆`` at the centre). Right: the loss along the negative gradient
(``engine.landscape.gradient_slice``) with the point where a step of size lr
lands, and one sentence on whether that step over- or undershoots.

Both are computed in a thread worker on a copy of the session (taken under
the app's lock), so the user's session is never touched. The backend's own
functions do the work (``engine.backend_tools.tools_for``: the NumPy engine's
``engine/landscape.py``, a PyTorch model's ``tui_trainer/torch/landscape.py``).
"""

from __future__ import annotations

import math
import textwrap
import threading
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
from rich.text import Span, Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Label, ProgressBar, Static
from textual.worker import get_current_worker

from tui_trainer.engine.advice import findings_advice
from tui_trainer.engine.backend_tools import tools_for
from tui_trainer.engine.diagnostics import Finding
from tui_trainer.engine.landscape import Landscape, Slice
from tui_trainer.engine.session import Session
from tui_trainer.ui.render.colors import (
    BAD_COLOR,
    SEQUENTIAL_CELL_STYLES,
    SEQUENTIAL_GLYPHS,
    SEQUENTIAL_LEVELS,
    SEQUENTIAL_PALETTE,
    assemble_lines,
    contrast_text,
    sequential_levels,
)
from tui_trainer.ui.render.numbers import fmt
from tui_trainer.ui.screens.dialog import Dialog
from tui_trainer.ui.screens.sanity import post, snapshot
from tui_trainer.ui.widgets.safe_plot import SafePlot as PlotextPlot

RESOLUTIONS = (11, 21, 31, 51)
SPANS = (0.25, 0.5, 1.0, 2.0)
SLICE_POINTS = 61
GUTTER = 7  # beta labels left of the map
PALETTE = (*SEQUENTIAL_PALETTE, BAD_COLOR)
BAD = SEQUENTIAL_LEVELS  # the level sequential_levels gives NaN/Inf


# ------------------------------------------------------------------ checks
def plottable(s: Session) -> str:
    """Why the landscape cannot be computed for ``s`` (empty string: it can).

    A diverged run can leave parameters so large that their squares overflow;
    projecting the path onto a plane then fails in the linear algebra.
    """
    return tools_for(s).plottable(s)


def verdict(sl: Slice, findings: list[Finding] | None = None) -> str:
    """One sentence on where the step of size lr lands along the gradient.

    Whether the learning rate is too large is the diagnosis's to say (the
    ``lr_too_large`` finding, over the run), not one step's: a single
    mini-batch step overshoots now and then in a healthy run. With
    ``findings`` (the debug panel's), an overshoot is called a too-large
    learning rate only when the diagnosis says so, and otherwise the
    diagnosis's own advice follows; without them only the facts are given.
    """
    vals = np.asarray(sl.values, dtype=float)
    if not np.isfinite(vals).any():
        return "The loss along the gradient is not finite anywhere: the run has diverged."
    t_min, lr = sl.t_min, sl.lr
    at0 = sl.value_at_0
    if sl.overshoots and t_min < 0.75 * lr:
        up = math.isfinite(at0) and not sl.value_at_lr < at0
        fact = "The step of size lr overshoots the minimum along the gradient" + (
            " so far that the loss goes UP" if up else ""
        )
        if findings is None:
            return fact + "."
        if any(f.code == "lr_too_large" for f in findings):
            return fact + ": the learning rate is too large (the diagnosis agrees: lr_too_large)."
        advice = findings_advice(findings)
        return (
            fact
            + "; over the run the diagnosis does not find the learning rate too large. "
            + (advice or "One step overshooting now and then is normal with mini-batches.")
        )
    if t_min > 1.5 * lr:
        end = " (the end of the plot)" if t_min >= float(sl.ts[-1]) else ""
        return (
            f"The step of size lr undershoots: the loss falls until t = {fmt(t_min)}{end};"
            " a larger step would get further."
        )
    return "The step of size lr is about right: it lands near the minimum along the gradient."


# ------------------------------------------------------------------ the map
def _axis_line(lo: float, hi: float, width: int, zero_col: int, name: str) -> str:
    """``lo`` at the left, ``name 0`` with the 0 under ``zero_col``, ``hi`` at the right."""
    buf = [" "] * max(width, 1)
    left, right = fmt(lo, 6), fmt(hi, 6)
    mid = f"{name} 0"

    def place(text: str, at: int) -> None:
        at = max(0, min(at, len(buf) - len(text)))
        if at + len(text) <= len(buf):
            buf[at : at + len(text)] = list(text)

    place(mid, zero_col - len(mid) + 1)
    place(left, 0)
    place(right, width - len(right))
    return "".join(buf).rstrip()


def _describe(L: Landscape) -> str:
    n = len(L.alphas)
    if L.directions == "pca":
        ev = L.explained_variance
        d = "PCA of the path"
        if ev is not None:
            d += f" ({ev[0]:.0%} + {ev[1]:.0%} of its variance)"
    else:
        d = "random filter-normalised directions"
    return f"{d}; {n}×{n} grid, {L.n_samples} samples"


def _log_values(loss: np.ndarray) -> tuple[np.ndarray, float, float, float, float]:
    """log10(loss) (NaN where not finite), its finite min / max, and the loss min / max."""
    a = np.asarray(loss, dtype=float)
    ok = np.isfinite(a)
    if not ok.any():
        return np.full(a.shape, np.nan), 0.0, 0.0, math.nan, math.nan
    pos = a[ok & (a > 0)]
    floor = float(pos.min()) if pos.size else 1e-300
    with np.errstate(all="ignore"):
        lg = np.where(ok, np.log10(np.maximum(np.where(ok, a, floor), floor)), np.nan)
    lo, hi = float(np.nanmin(lg)), float(np.nanmax(lg))
    return lg, lo, hi, float(a[ok].min()), float(a[ok].max())


def render_surface(L: Landscape, width: int, height: int) -> Text:
    """The surface as half-block text of at most ``width`` x ``height`` cells.

    Columns are alpha (left to right), rows beta (top = largest). Each grid
    point is one or more square "pixels" (half a cell tall), stretched to the
    space available; when the grid is bigger than the space, grid points are
    sampled. Path points are ``•``, the current point ``◆``; NaN/Inf cells are
    magenta.
    """
    width, height = max(int(width), 1), max(int(height), 1)
    n_a, n_b = len(L.alphas), len(L.betas)
    lg, lo, hi, lmin, lmax = _log_values(L.loss)
    finite = np.isfinite(L.loss)
    path = np.asarray(L.path, dtype=float).reshape(-1, 2)
    a0, a1 = float(L.alphas[0]), float(L.alphas[-1])
    b0, b1 = float(L.betas[0]), float(L.betas[-1])

    def inside(a: float, b: float) -> bool:
        return (
            math.isfinite(a)
            and math.isfinite(b)
            and a0 - 1e-12 <= a <= a1 + 1e-12
            and b0 - 1e-12 <= b <= b1 + 1e-12
        )

    info: list[str] = []
    if finite.any():
        i, j = np.unravel_index(int(np.argmin(np.where(finite, L.loss, np.inf))), L.loss.shape)
        info.append(
            f"lowest {fmt(lmin)} at α={fmt(float(L.alphas[i]), 6)}, β={fmt(float(L.betas[j]), 6)};"
            f" now {fmt(L.center_loss)}."
        )
    else:
        info.append("no finite loss on this grid.")
    if len(path) > 1:
        outside = sum(1 for a, b in path[:-1] if not inside(float(a), float(b)))
        info.append(
            f"path: {len(path)} points (steps {int(L.path_steps[0])}..{int(L.path_steps[-1])}),"
            f" {L.path_in_plane:.0%} of it in this plane"
            + (f", {outside} outside the plot." if outside else ".")
        )
    if L.note:
        info.append(L.note + ".")
    if not L.complete:
        info.append("(incomplete: stopped early)")
    n_bad = int(L.loss.size - np.count_nonzero(finite))
    if n_bad:
        info.insert(0, f"! = nan/inf ({n_bad} points).")
    wrap = max(width, 10)
    head_lines = textwrap.wrap(_describe(L), wrap)[: 2 if height >= 16 else 1]
    info_lines = textwrap.wrap(" ".join(info), wrap)[: 3 if height >= 12 else 1]

    fixed = len(head_lines) + 2 + len(info_lines)  # + axis, legend
    avail_h = max(1, height - fixed)
    avail_w = max(1, width - GUTTER)
    px = max(1, min(avail_w, 2 * avail_h))
    # nearest grid point for each pixel: every point shows when px >= n
    cols = (
        (np.arange(px) * n_a) // px
        if px >= n_a
        else np.round(np.linspace(0, n_a - 1, px)).astype(int)
    )
    rows = (
        (np.arange(px) * n_b) // px
        if px >= n_b
        else np.round(np.linspace(0, n_b - 1, px)).astype(int)
    )
    # display: rows are beta descending, columns alpha ascending
    disp = lg.T[::-1][rows][:, cols]
    levels = sequential_levels(disp - lo, hi - lo if hi > lo else 1.0)
    ph, pw = levels.shape
    n_rows = (ph + 1) // 2

    def cell(a: float, b: float) -> tuple[int, int] | None:
        if not inside(a, b) or a1 <= a0 or b1 <= b0:
            return None
        c = min(pw - 1, int((a - a0) / (a1 - a0) * pw))
        r = min(ph - 1, int((b1 - b) / (b1 - b0) * ph))
        return r // 2, c

    marks: dict[tuple[int, int], str] = {}
    for a, b in path[:-1]:
        at = cell(float(a), float(b))
        if at is not None:
            marks[at] = "•"
    centre = cell(0.0, 0.0) or (n_rows // 2, pw // 2)
    if inside(0.0, 0.0):
        marks[centre] = "◆"

    lines: list[Text | str] = [Text(h, style="bold") for h in head_lines]
    label_rows = {0: fmt(b1, 6), n_rows - 1: fmt(b0, 6)}
    label_rows.setdefault(centre[0], "β " + fmt(0.0))
    for tr in range(n_rows):
        upper = levels[2 * tr]
        lower = levels[2 * tr + 1] if 2 * tr + 1 < ph else None
        chars: list[str] = []
        spans: list[Span] = []
        gutter = label_rows.get(tr, "").rjust(GUTTER - 1)[: GUTTER - 1] + " "
        chars.append(gutter)
        pos = len(gutter)
        run_style, run_start = "", pos
        for c in range(pw):
            u = int(upper[c])
            lw = int(lower[c]) if lower is not None else u
            if (tr, c) in marks:
                bg = PALETTE[u]
                style = f"bold {contrast_text(bg)} on {bg}"
                ch = marks[(tr, c)]
            elif u == BAD or lw == BAD:
                style, ch = SEQUENTIAL_CELL_STYLES[BAD], "!"
            elif lower is None:
                style = PALETTE[u]
                ch = "▀"
            else:
                style = f"{PALETTE[u]} on {PALETTE[int(lower[c])]}"
                ch = "▀"
            if style != run_style:
                if run_style and pos > run_start:
                    spans.append(Span(run_start, pos, run_style))
                run_style, run_start = style, pos
            chars.append(ch)
            pos += 1
        if run_style and pos > run_start:
            spans.append(Span(run_start, pos, run_style))
        lines.append(Text("".join(chars), spans=spans, no_wrap=True))
    lines.append(" " * GUTTER + _axis_line(a0, a1, pw, centre[1], "α"))

    leg = Text(no_wrap=True)
    leg.append(fmt(lmin) + " ")
    rep = 2 if width >= 48 else 1
    for k in range(SEQUENTIAL_LEVELS):
        leg.append(SEQUENTIAL_GLYPHS[k] * rep, style=SEQUENTIAL_CELL_STYLES[k])
    leg.append(" " + fmt(lmax))
    leg.append(" (log) " if rep == 2 else " ", style="dim")
    leg.append("◆ now • path")
    lines.append(leg)
    lines.extend(Text(s, style="dim") for s in info_lines)
    return assemble_lines(lines, width, height)


class SurfaceView(Static):
    """Redraws the surface to its own size."""

    def __init__(self, **kw: Any) -> None:
        super().__init__("", **kw)
        self.landscape: Landscape | None = None
        self.message = ""

    def show(self, landscape: Landscape | None, message: str = "") -> None:
        self.landscape = landscape
        self.message = message
        self.redraw()

    def redraw(self) -> None:
        w, h = self.content_size
        if self.landscape is None or w < 4 or h < 3:
            self.update(Text(self.message, style="dim" if not self.message.startswith("!") else ""))
            return
        self.update(render_surface(self.landscape, w, h))

    def on_resize(self, event: events.Resize) -> None:
        self.redraw()


def draw_slice(plot: PlotextPlot, sl: Slice) -> None:
    """Loss vs step size t along the negative gradient, with t = lr and the minimum marked."""
    plt = plot.plt
    plt.clear_data()
    plt.clear_figure()
    ts = np.asarray(sl.ts, dtype=float)
    vals = np.asarray(sl.values, dtype=float)
    ok = np.isfinite(vals) & np.isfinite(ts)
    if not ok.any():
        plt.title("no finite loss along the gradient")
        plot.refresh()
        return
    top = min(max(abs(float(vals[ok][0])), 1e-12) * 1e6, 1e30)  # plotext fails past ~1e50
    v = np.minimum(vals[ok], top)
    logy = False  # plotext's log scale breaks on re-render; the slice spans little
    plt.plot(ts[ok].tolist(), v.tolist(), color="cyan", marker="braille")
    plt.vline(sl.lr, "orange")
    if math.isfinite(sl.value_min):
        plt.scatter([sl.t_min], [sl.value_min], color="green", marker="x")
    if math.isfinite(sl.value_at_lr) and (sl.value_at_lr > 0 or not logy):
        plt.scatter([sl.lr], [sl.value_at_lr], color="orange", marker="◆")
        t0, t1 = float(ts[ok].min()), float(ts[ok].max())
        frac = (sl.lr - t0) / (t1 - t0) if t1 > t0 else 0.5
        cols = max(0, plot.size.width - 8)  # about the width of the plot area
        full = "your step lands here"
        if len(full) + 2 <= (1 - frac) * cols:
            label, align = "◆ " + full, "left"
        elif len(full) + 2 <= frac * cols:
            label, align = full + " ◆", "right"
        else:
            label, align = ("◆ your step", "left") if frac < 0.6 else ("your step ◆", "right")
        plt.text(label, sl.lr, sl.value_at_lr, color="orange", alignment=align)
    plt.xlabel("step size t")
    wide = plot.size.width >= 56
    plt.title(
        ("loss at θ - t·g   (│ t = lr, x minimum)" if wide else "│ t = lr   x minimum")
        + (" log" if logy else "")
    )
    plot.refresh()


# ------------------------------------------------------------------ screen
class LandscapeScreen(Dialog[None]):
    """Loss surface (left) and the 1-D slice along the gradient (right)."""

    DEFAULT_CSS = """
    LandscapeScreen {
        align: center middle;
    }
    #ls-box {
        width: 100%;
        height: 100%;
        background: $surface;
    }
    #ls-status, #ls-help {
        height: 1;
        width: 100%;
        padding: 0 1;
    }
    #ls-help {
        color: $text-muted;
    }
    #ls-progress {
        height: 1;
        width: 100%;
        padding: 0 1;
    }
    #ls-progress Bar {
        width: 1fr;
    }
    #ls-body {
        height: 1fr;
    }
    #ls-map {
        width: 1fr;
        height: 100%;
        border: round $primary-darken-2;
        border-title-align: left;
    }
    #ls-side {
        width: 1fr;
        height: 100%;
    }
    #ls-slice {
        height: 1fr;
        border: round $primary-darken-2;
        border-title-align: left;
    }
    #ls-verdict {
        height: auto;
        max-height: 50%;
        padding: 0 1;
    }
    """

    BINDINGS = [
        Binding("escape", "close", "close", id="landscape_close"),
        Binding("plus,equals_sign", "resolution(1)", "finer", id="landscape_finer"),
        Binding("minus", "resolution(-1)", "coarser", id="landscape_coarser"),
        Binding("d", "toggle_directions", "directions", id="landscape_directions"),
        Binding("left_square_bracket", "span(-1)", "smaller span", id="landscape_span_down"),
        Binding("right_square_bracket", "span(1)", "larger span", id="landscape_span_up"),
        Binding("r", "new_seed", "new seed", id="landscape_seed"),
    ]

    class Progress(Message):
        def __init__(self, token: int, value: float) -> None:
            self.token = token
            self.value = value
            super().__init__()

    class SliceDone(Message):
        def __init__(self, token: int, sl: Slice | None, error: str) -> None:
            self.token = token
            self.sl = sl
            self.error = error
            super().__init__()

    class SurfaceDone(Message):
        def __init__(self, token: int, landscape: Landscape | None, error: str) -> None:
            self.token = token
            self.landscape = landscape
            self.error = error
            super().__init__()

    def __init__(self, session: Session, lock: Any) -> None:
        super().__init__()
        self.session = session
        self.lock = lock
        self.res_index = RESOLUTIONS.index(21)
        self.span_index = SPANS.index(1.0)
        self.directions = "random"
        self.seed = 0
        self.landscape: Landscape | None = None
        self.slice: Slice | None = None
        self.error = ""
        self.running = False
        self._token = 0
        self._stop = threading.Event()
        self._snap: tuple[Session, AbstractContextManager[Any]] | None = None
        self._snap_lock = threading.Lock()
        self.tools = tools_for(session)

    @property
    def steps(self) -> int:
        return RESOLUTIONS[self.res_index]

    @property
    def span(self) -> float:
        return SPANS[self.span_index]

    def compose(self) -> ComposeResult:
        with Vertical(id="ls-box"):
            yield Label("", id="ls-status")
            yield ProgressBar(total=100, show_eta=False, id="ls-progress")
            with Horizontal(id="ls-body"):
                yield SurfaceView(id="ls-map")
                with Vertical(id="ls-side"):
                    yield PlotextPlot(id="ls-slice")
                    yield Static("", id="ls-verdict")
            yield Label(
                "+ - resolution   d random/PCA   [ ] span   r new seed   Esc close", id="ls-help"
            )

    def on_mount(self) -> None:
        self.query_one("#ls-map").border_title = "Loss surface L(θ + α·d1 + β·d2)"
        self.query_one("#ls-slice").border_title = "Along the gradient"
        self.start()

    # ------------------------------------------------------------ work
    def _settings(self) -> str:
        span = f"±{self.span:g}" if self.directions == "random" else f"{self.span:g}×1.25× the path"
        d = "random directions" if self.directions == "random" else "PCA directions"
        return f"{self.steps}×{self.steps} points, span {span}, {d}, seed {self.seed}"

    def start(self) -> None:
        self._stop.set()
        self._stop = threading.Event()
        self._token += 1
        self.running = True
        self.error = ""
        self.query_one("#ls-progress", ProgressBar).update(progress=0)
        self.query_one("#ls-status", Label).update(f"Computing: {self._settings()}...")
        token, stop = self._token, self._stop
        args = (token, stop, self.steps, self.span, self.seed, self.directions)
        self.run_worker(lambda: self._work(*args), thread=True, exclusive=True, group="landscape")

    def _snapshot(self) -> tuple[Session, AbstractContextManager[Any]]:
        with self._snap_lock:
            if self._snap is None:
                self._snap = snapshot(self.session, self.lock)
            return self._snap

    def _work(
        self, token: int, stop: threading.Event, steps: int, span: float, seed: int, directions: str
    ) -> None:
        worker = get_current_worker()

        def cancelled() -> bool:
            return stop.is_set() or worker.is_cancelled

        s, guard = self._snapshot()
        with guard:
            why = plottable(s)
            sl: Slice | None = None
            err = ""
            try:
                with np.errstate(all="ignore"):
                    sl = self.tools.gradient_slice(s, SLICE_POINTS)
            except Exception as e:  # noqa: BLE001 - shown in the dialog
                err = f"could not compute the gradient slice: {type(e).__name__}: {e}"
            if cancelled():
                return
            post(self, self.SliceDone(token, sl, err))
            if why:
                post(self, self.SurfaceDone(token, None, why))
                return
            try:
                with np.errstate(all="ignore"):
                    land = self.tools.surface(
                        s,
                        steps,
                        span,
                        seed,
                        progress=lambda f: post(self, self.Progress(token, f)),
                        should_stop=cancelled,
                        directions=directions,
                    )
            except Exception as e:  # noqa: BLE001 - shown in the dialog
                post(self, self.SurfaceDone(token, None, f"{type(e).__name__}: {e}"))
                return
        if not cancelled():
            post(self, self.SurfaceDone(token, land, ""))

    def on_landscape_screen_progress(self, msg: Progress) -> None:
        if msg.token == self._token:
            self.query_one("#ls-progress", ProgressBar).update(progress=100 * msg.value)

    def on_landscape_screen_slice_done(self, msg: SliceDone) -> None:
        if msg.token != self._token:
            return
        self.slice = msg.sl
        box = self.query_one("#ls-verdict", Static)
        plot = self.query_one("#ls-slice", PlotextPlot)
        if msg.sl is None:
            plot.plt.clear_data()
            plot.plt.clear_figure()
            plot.refresh()
            box.update(Text(msg.error, style="red"))
            return
        sl = msg.sl
        draw_slice(plot, sl)
        text = Text()
        with self.lock:
            findings = self.tools.diagnose(self.session)
        text.append(verdict(sl, findings), style="bold")
        if not np.isfinite(np.asarray(sl.values, dtype=float)).any():
            box.update(text)
            return
        text.append("\n")
        text.append(
            f"lr {fmt(sl.lr)}: loss {fmt(sl.value_at_0)} now, {fmt(sl.value_at_lr)} after a step "
            f"of size lr; lowest {fmt(sl.value_min)} at t = {fmt(sl.t_min)}. "
        )
        grads = "this step's backward pass" if sl.grads_from == "session" else sl.grads_from
        extra = f"|g| = {fmt(sl.grad_norm)} ({grads}), batch of {sl.n_samples}."
        opt = str(self.session.hyperparameters().get("optimizer", "sgd"))
        if opt != "sgd":
            extra += f" {opt} does not step along the plain gradient: this is where SGD would land."
        text.append(extra, style="dim")
        box.update(text)

    def on_landscape_screen_surface_done(self, msg: SurfaceDone) -> None:
        if msg.token != self._token:
            return
        self.running = False
        self.landscape = msg.landscape
        self.error = msg.error
        self.query_one("#ls-progress", ProgressBar).update(progress=100)
        view = self.query_one("#ls-map", SurfaceView)
        if msg.landscape is None:
            self.query_one("#ls-status", Label).update(
                Text("No surface: " + msg.error, style="red")
            )
            view.show(None, msg.error)
            return
        self.query_one("#ls-status", Label).update(self._settings())
        view.show(msg.landscape)

    # ------------------------------------------------------------ keys
    def action_resolution(self, delta: int) -> None:
        self.res_index = max(0, min(len(RESOLUTIONS) - 1, self.res_index + delta))
        self.start()

    def action_span(self, delta: int) -> None:
        self.span_index = max(0, min(len(SPANS) - 1, self.span_index + delta))
        self.start()

    def action_toggle_directions(self) -> None:
        self.directions = "pca" if self.directions == "random" else "random"
        self.start()

    def action_new_seed(self) -> None:
        self.seed += 1
        self.start()

    def action_close(self) -> None:
        self._stop.set()
        self.workers.cancel_group(self, "landscape")
        self.dismiss(None)

    def on_unmount(self) -> None:
        """The snapshot goes with the dialog (a torch fork: its copy of the model)."""
        snap = self._snap
        if snap is not None and snap[0] is not self.session:
            self.tools.release(snap[0])
