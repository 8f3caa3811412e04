"""UI performance of the running app: throughput, responsiveness, start-up, output, memory.

Usage::

    python bench/ui.py --all [--quick]           # everything, one markdown table at the end
    python bench/ui.py throughput respond ...    # only some items
    python bench/ui.py --all --scenarios xor     # fewer scenarios

Items (each prints its own details, then the summary table):

``throughput``
    Pilot (``App.run_test``) in this process with the real ``TrainerApp`` and
    widgets at 80x24: press ``c``, let it run, press ``p``; steps/s while
    running vs ``Session.run`` headless on a fresh session of the same scenario
    in the same process. Rounds are interleaved (app, headless, headless, app,
    ...) and the median of the per-round ratios is reported. Every frame the
    compositor produces is also turned into terminal escape codes (as a real
    terminal driver does; the headless driver skips that step), so the UI
    thread pays the same rendering cost as in a terminal.
``pty``
    The installed ``tui-trainer`` command in a pseudo-terminal of a fixed size
    (80x24 and 120x40), output drained continuously by a thread: bytes/s
    written while fast-forwarding, and steps/s read back from the status line
    after ``p`` vs headless ``Session.run`` in this process, interleaved.
``respond``
    Latency from a key press to the first frame that shows its effect, while
    the app runs at full speed: ``tab`` (the chart panel's title appears),
    ``p`` (the phase bar says PAUSED), then ``N`` after the pause (the phase bar
    shows [BACKPROP]). Measured both in Pilot (frames captured where the app
    writes them) and end to end in a pty (bytes read from the terminal).
``startup``
    Wall time from spawning ``tui-trainer xor`` in an 80x24 pty to the first
    frame with both the footer ("help") and the status line, vs
    ``python -c "import textual, numpy"``; interleaved, medians.
``memory``
    Peak RSS (VmHWM) of a fresh process after 10,000 steps of digits with the
    default step-back history, both engine-only and in the app (Pilot), and
    the history's share from ``Session.memory_report()``.
``engine``
    Runs ``bench/engine.py --quick`` and includes its table (engine vs plain NumPy).
``profile`` (not part of ``--all``)
    pyinstrument on the UI thread of the running app at 120x40 (needs
    ``pip install pyinstrument``): where the event loop spends its time.

Scenarios are the built-ins with the number of epochs raised so a run never
ends during a measurement. Keymaps and recovery files go to a temporary
XDG config/state directory. The pty runs use TERM=xterm-256color and
COLORTERM=truecolor, and byte-code caching into a private prefix (a shell
with PYTHONDONTWRITEBYTECODE=1 would otherwise compile every module of the
package on every start). Pilot's console is set to truecolor too.
The machine may be noisy: compare the ratios, which are measured in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import codecs
import contextlib
import fcntl
import json
import math
import os
import pty
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_TMP = Path(tempfile.mkdtemp(prefix="tui-trainer-bench-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
os.environ["XDG_CONFIG_HOME"] = str(_TMP / "config")  # no user keymap
os.environ["XDG_STATE_HOME"] = str(_TMP / "state")  # no stray recovery offers
# Pilot's console would otherwise render 16 colours; a real terminal here gets truecolor.
os.environ.setdefault("TEXTUAL_COLOR_SYSTEM", "truecolor")

BIG_EPOCHS = 1_000_000
MEMORY_STEPS = 10_000

# targets
THROUGHPUT_TARGET = 0.8  # app / headless
LATENCY_MEDIAN_MS = 50.0
LATENCY_P95_MS = 100.0
STARTUP_RATIO = 2.0
BYTES_TARGET_KIB = 40.0  # KiB/s at 120x40, default views
MEMORY_TARGET_MB = 300.0
ENGINE_TARGET = 0.85
PROFILE_MIN = 0.02  # profile lines shown: at least this share of the wall time

ANSI = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|P[^\x1b]*\x1b\\|[()][0-9A-Za-z]|[@-Z\\-_78=>])"
)


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


# --------------------------------------------------------------------------- results
@dataclass
class Row:
    item: str
    scenario: str
    size: str
    measured: str
    target: str
    ok: bool | None  # None: informational

    @property
    def verdict(self) -> str:
        return "-" if self.ok is None else ("pass" if self.ok else "FAIL")


ROWS: list[Row] = []


def add(item: str, scenario: str, size: str, measured: str, target: str, ok: bool | None) -> None:
    ROWS.append(Row(item, scenario, size, measured, target, ok))


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def p95(xs: list[float]) -> float:
    s = sorted(xs)
    return s[max(0, math.ceil(0.95 * len(s)) - 1)]


def say(msg: str = "") -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- sessions
def scenario_session(name: str, epochs: int = BIG_EPOCHS) -> tuple[Any, Any]:
    """A built-in scenario's (Scenario, Session) with the epochs raised."""
    from tui_trainer.cli import load

    sc, s = load(name)
    s.set_hyper(epochs=epochs)
    return sc, s


def long_scenario_file(name: str, epochs: int = BIG_EPOCHS) -> Path:
    """A copy of a built-in scenario file with ``epochs`` raised (for the CLI)."""
    from tui_trainer.scenario import builtin_dir

    text = (builtin_dir() / f"{name}.toml").read_text(encoding="utf-8")
    text, n = re.subn(r"(?m)^epochs\s*=.*$", f"epochs = {epochs}", text)
    if n != 1:
        raise SystemExit(f"{name}.toml: expected one 'epochs =' line, found {n}")
    path = (
        _TMP / "scenarios" / (f"{name}.toml" if epochs == BIG_EPOCHS else f"{name}-{epochs}.toml")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def make_app(name: str) -> tuple[Any, Any]:
    """The real TrainerApp on a long run of a built-in scenario, as ``cmd_open`` builds it."""
    from tui_trainer.cli import breakpoint_set
    from tui_trainer.ui.app import TrainerApp

    sc, s = scenario_session(name)
    app = TrainerApp(
        s,
        name=sc.name,
        watch_text=sc.watch,
        breakpoints=breakpoint_set(sc),
        watches=list(sc.watches),
        scenario_text=sc.text,
    )
    app.scenario = sc
    return app, s


def headless_rate(session: Any, seconds: float, chunk: int = 64) -> float:
    """Steps/s of ``Session.run`` for about ``seconds``."""
    n = 0
    t0 = time.perf_counter()
    while True:
        r = session.run(max_steps=chunk)
        if r.kind != "limit":
            raise RuntimeError(f"headless run stopped: {r.kind} {r.message}")
        n += chunk
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return n / dt


# --------------------------------------------------------------------------- output stream
class Stream:
    """Terminal output as it arrives: byte count, a tail, and 'when did X appear'."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.nbytes = 0
        self.frames = 0
        self.tail = ""
        self._patterns: list[re.Pattern[str]] | None = None
        self._buf = ""
        self.found: float | None = None
        self.captured = ""
        self.recording: list[str] | None = None

    def feed(self, data: str, nbytes: int, t: float) -> None:
        with self.cond:
            self.nbytes += nbytes
            self.frames += 1
            self.tail = (self.tail + data)[-200_000:]
            if self.recording is not None:
                self.recording.append(data)
            if self._patterns is not None and self.found is None:
                self._buf += data
                text = strip_ansi(self._buf)
                if all(p.search(text) for p in self._patterns):
                    self.found = t
                    self.captured = text
            self.cond.notify_all()

    def expect(self, *patterns: str) -> None:
        """Watch the output from now on for all ``patterns`` (regexes)."""
        with self.cond:
            self._patterns = [re.compile(p) for p in patterns]
            self._buf = ""
            self.found = None
            self.captured = ""

    def wait(self, timeout: float) -> float | None:
        with self.cond:
            self.cond.wait_for(lambda: self.found is not None, timeout)
            return self.found

    def record(self) -> None:
        with self.cond:
            self.recording = []

    def recorded(self) -> str:
        with self.cond:
            text = "".join(self.recording or [])
            self.recording = None
            return text

    def last_step(self) -> int | None:
        """The step on the most recent status line in the output."""
        with self.cond:
            hits = re.findall(r"\| step (\d+) \|", strip_ansi(self.tail))
        return int(hits[-1]) if hits else None


def press(app: Any, key: str) -> None:
    """Post a key event the way the terminal driver does.

    ``Pilot.press`` also waits for the process to go idle (``wait_for_idle``
    compares CPU time with wall time), which never happens while the training
    thread runs: each press would stall the test for 2 s. The latency is
    measured from here to the frame anyway.
    """
    from textual import events

    char = {"tab": "\t"}.get(key, key if len(key) == 1 else None)
    event = events.Key(key, char)
    event.set_sender(app)
    app.post_message(event)


def probe_frames(app: Any) -> Stream:
    """Capture every frame of a Pilot app as the escape codes a terminal would get."""
    from textual._compositor import CompositorUpdate

    stream = Stream()
    original = app._display

    def display(screen: Any, renderable: Any) -> None:
        if isinstance(renderable, CompositorUpdate) and not app._batch_count:
            text = renderable.render_segments(app.console)
            stream.feed(text, len(text.encode()), time.perf_counter())
        original(screen, renderable)

    app._display = display
    return stream


# --------------------------------------------------------------------------- pty
def cli_command() -> list[str]:
    """The installed console script next to this interpreter (no pyenv shim)."""
    exe = Path(sys.executable).parent / "tui-trainer"
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("tui-trainer")
    return [found] if found else [sys.executable, "-m", "tui_trainer"]


def pty_env() -> dict[str, str]:
    """A typical user's terminal: truecolor, and byte-code caching on (into a private
    prefix, so nothing is written next to the sources) even if this shell has
    PYTHONDONTWRITEBYTECODE set, which would compile every module on every start."""
    env = dict(os.environ)
    for k in ("COLUMNS", "LINES", "TMUX", "TEXTUAL_COLOR_SYSTEM", "PYTHONDONTWRITEBYTECODE"):
        env.pop(k, None)
    env.update(
        TERM="xterm-256color",
        COLORTERM="truecolor",
        PYTHONPYCACHEPREFIX=str(_TMP / "pycache"),
    )
    return env


class PtyApp:
    """A command in a pseudo-terminal of a fixed size; output drained by a thread."""

    def __init__(
        self, argv: list[str], cols: int, rows: int, env: dict[str, str] | None = None
    ) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.stream = Stream()
        self.t_spawn = time.perf_counter()
        self.proc = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env or pty_env(),
            cwd=_TMP,
            start_new_session=True,
            close_fds=True,
        )
        os.close(slave)
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        dec = codecs.getincrementaldecoder("utf-8")("replace")
        while True:
            try:
                data = os.read(self.master, 1 << 16)
            except OSError:
                break
            if not data:
                break
            self.stream.feed(dec.decode(data), len(data), time.perf_counter())

    def send(self, keys: str) -> float:
        t = time.perf_counter()
        os.write(self.master, keys.encode())
        return t

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.thread.join(timeout=2)
        with contextlib.suppress(OSError):
            os.close(self.master)


def wait_first_frame(app: PtyApp, name: str, timeout: float = 30.0) -> float:
    """Seconds from spawn to the first frame with the footer and the status line."""
    deadline = time.perf_counter() + timeout
    t = None
    while t is None and time.perf_counter() < deadline and app.proc.poll() is None:
        t = app.stream.wait(0.05)
    if t is None:
        app.close()
        raise RuntimeError(
            f"no first frame of {name} (exit status {app.proc.returncode}); output:\n"
            + strip_ansi(app.stream.tail)[-3000:]
        )
    return t - app.t_spawn


def spawn_app(
    name: str,
    cols: int,
    rows: int,
    long: bool = True,
    epochs: int = BIG_EPOCHS,
    argv: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> tuple[PtyApp, float]:
    target = str(long_scenario_file(name, epochs)) if long else name
    app = PtyApp([*(argv or cli_command()), target], cols, rows, env)
    # the scenario name is the first field the status line drops on a narrow terminal
    app.stream.expect(r"\bhelp\b", r"\bepoch 1/\d+ \| step 0 \|")
    return app, wait_first_frame(app, name)


# --------------------------------------------------------------------------- 1. throughput
async def _pilot_throughput(name: str, rounds: int, seconds: float) -> dict[str, Any]:
    app, s = make_app(name)
    frames = probe_frames(app)
    _, ref = scenario_session(name)
    headless_rate(ref, 0.2)  # warm-up
    app_rates: list[float] = []
    ref_rates: list[float] = []
    ratios: list[float] = []
    kib: list[float] = []
    fps: list[float] = []
    ui_cpu: list[float] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        for r in range(rounds):
            h_first = r % 2 == 1
            if h_first:
                ref_rates.append(headless_rate(ref, seconds))
            press(app, "c")
            await asyncio.sleep(0.2)  # past the chunk-size ramp
            s0, b0, f0 = s.step, frames.nbytes, frames.frames
            c0, t0 = time.thread_time(), time.perf_counter()
            await asyncio.sleep(seconds)
            s1, b1, f1 = s.step, frames.nbytes, frames.frames
            c1, t1 = time.thread_time(), time.perf_counter()
            if not app.running:
                raise RuntimeError(f"{name}: the run stopped by itself ({app.message_text!r})")
            press(app, "p")
            while app.running:
                await asyncio.sleep(0.005)
            app_rates.append((s1 - s0) / (t1 - t0))
            kib.append((b1 - b0) / (t1 - t0) / 1024)
            fps.append((f1 - f0) / (t1 - t0))
            ui_cpu.append((c1 - c0) / (t1 - t0))  # this (the UI) thread's CPU share
            if not h_first:
                ref_rates.append(headless_rate(ref, seconds))
            ratios.append(app_rates[-1] / ref_rates[-1])
    return {
        "app": statistics.median(app_rates),
        "headless": statistics.median(ref_rates),
        "ratio": statistics.median(ratios),
        "ratios": ratios,
        "kib": statistics.median(kib),
        "fps": statistics.median(fps),
        "ui_cpu": statistics.median(ui_cpu),
    }


def item_throughput(scenarios: list[str], quick: bool) -> None:
    rounds, seconds = (4, 0.5) if quick else (8, 0.75)
    say(
        f"## 1. Fast-forward throughput (Pilot, 80x24, {rounds} interleaved rounds of {seconds} s; "
        "UI CPU = the event-loop thread's CPU time per second while running)"
    )
    table = []
    for name in scenarios:
        r = asyncio.run(_pilot_throughput(name, rounds, seconds))
        table.append(
            [
                name,
                f"{r['app']:,.0f}",
                f"{r['headless']:,.0f}",
                f"{r['ratio']:.2f}",
                " ".join(f"{x:.2f}" for x in r["ratios"]),
                f"{100 * r['ui_cpu']:.0f}%",
                f"{r['fps']:.1f}",
                f"{r['kib']:.1f}",
            ]
        )
        add(
            "throughput app/headless (Pilot)",
            name,
            "80x24",
            f"{r['ratio']:.2f}x ({r['app']:,.0f} vs {r['headless']:,.0f} steps/s; "
            f"UI thread {100 * r['ui_cpu']:.0f}% CPU)",
            f">= {THROUGHPUT_TARGET}x",
            r["ratio"] >= THROUGHPUT_TARGET,
        )
    say(
        markdown(
            [
                "scenario",
                "app steps/s",
                "headless steps/s",
                "median ratio",
                "per-round ratios",
                "UI CPU",
                "frames/s",
                "KiB/s rendered",
            ],
            table,
        )
    )
    say()


@contextlib.asynccontextmanager
async def running_app(name: str, cols: int, rows: int, warmup: float) -> Any:
    """The real app in Pilot at ``cols x rows`` (frames turned into escape codes),
    running (``c``) for ``warmup`` seconds; paused (``p``) and stopped on exit."""
    app, _ = make_app(name)
    probe_frames(app)
    async with app.run_test(size=(cols, rows)) as pilot:
        await pilot.pause()
        press(app, "c")
        await asyncio.sleep(warmup)
        yield app
        press(app, "p")
        while app.running:
            await asyncio.sleep(0.01)


async def _profile_ui(name: str, cols: int, rows: int, seconds: float) -> None:
    from pyinstrument import Profiler

    async with running_app(name, cols, rows, 0.3):
        prof = Profiler(interval=0.001, async_mode="disabled")
        c0, t0 = time.thread_time(), time.perf_counter()
        prof.start()
        await asyncio.sleep(seconds)
        prof.stop()
        c1, t1 = time.thread_time(), time.perf_counter()
    say(
        f"UI thread of {name} at {cols}x{rows} while running: {100 * (c1 - c0) / (t1 - t0):.0f}% "
        f"CPU. Wall-clock call tree, entries >= {PROFILE_MIN:.0%} of the time "
        "(epoll.poll is idle; [self] under a 'with self.lock' is waiting for the training thread):"
    )
    say("```")
    total = t1 - t0
    for line in prof.output_text(unicode=False, color=False, show_all=True).splitlines():
        m = re.match(r"^[\s|`-]*(\d+\.\d+) ", line)
        if m and float(m.group(1)) >= PROFILE_MIN * total:
            say(line[:150])
    say("```")


def item_profile(scenarios: list[str], quick: bool) -> None:
    """Not part of --all: pyinstrument on the UI thread while the app runs."""
    try:
        import pyinstrument  # noqa: F401
    except ImportError:
        say("## profile: needs pyinstrument (pip install pyinstrument)")
        return
    say("## Profile of the UI thread while running (Pilot, frames rendered to escape codes)")
    for name in scenarios:
        asyncio.run(_profile_ui(name, 120, 40, 2.0 if quick else 4.0))
    say()


async def _cpu_ui(name: str, cols: int, rows: int, seconds: float) -> None:
    """The UI thread's CPU time while running, and the parts it goes to."""
    from textual._compositor import Compositor
    from textual.screen import Screen
    from textual.widget import Widget

    from tui_trainer.ui import app as app_mod

    spent: dict[str, float] = {}
    calls: dict[str, int] = {}
    on = [False]
    undo: list[tuple[Any, str, Any]] = []

    def wrap(owner: Any, attr: str, label: str | None = None) -> None:
        orig = getattr(owner, attr)
        undo.append((owner, attr, orig))

        def timed(*a: Any, **k: Any) -> Any:
            if not on[0]:
                return orig(*a, **k)
            c0 = time.thread_time()
            try:
                return orig(*a, **k)
            finally:
                key = label or f"render {type(a[0]).__name__}#{a[0].id}"
                spent[key] = spent.get(key, 0.0) + time.thread_time() - c0
                calls[key] = calls.get(key, 0) + 1

        setattr(owner, attr, timed)

    wrap(Widget, "render_lines")
    wrap(Compositor, "reflow", "layout (Compositor.reflow)")
    wrap(Screen, "_on_timer_update", "frames (Screen._on_timer_update, all of a frame)")
    wrap(app_mod.TrainerApp, "refresh_status", "TrainerApp.refresh_status")
    wrap(app_mod.TrainerApp, "refresh_heavy", "TrainerApp.refresh_heavy")
    wrap(app_mod, "diagnose", "diagnose (in refresh_heavy)")
    try:
        async with running_app(name, cols, rows, 0.5):
            on[0] = True
            c0, t0 = time.thread_time(), time.perf_counter()
            await asyncio.sleep(seconds)
            c1, t1 = time.thread_time(), time.perf_counter()
            on[0] = False
    finally:
        for owner, attr, orig in undo:
            setattr(owner, attr, orig)
    total = c1 - c0
    say(
        f"UI thread of {name} at {cols}x{rows} while running: {total:.3f} s CPU in "
        f"{t1 - t0:.1f} s, {100 * total / (t1 - t0):.1f}% (load {os.getloadavg()[0]:.1f})"
    )
    rows_out = [
        [k, f"{1000 * v / (t1 - t0):.1f}", str(calls[k]), f"{100 * v / total:.0f}%"]
        for k, v in sorted(spent.items(), key=lambda kv: -kv[1])
        if v >= 0.01 * total
    ]
    say(markdown(["part", "CPU ms per s of run", "calls", "share of UI CPU"], rows_out))
    say()


def item_cpu(scenarios: list[str], quick: bool) -> None:
    """Not part of --all: the UI thread's CPU per second of run, by part (load-independent).

    The training thread pays for every millisecond of Python on the UI thread
    through the GIL, so this share is what a fast-forward loses to the app; it
    is CPU time, so it does not depend on the machine's load the way
    wall-clock ratios do. Pilot, frames rendered to escape codes.
    """
    say("## UI thread CPU while running, by part (Pilot; thread CPU time)")
    for name in scenarios:
        for cols, rows in ((120, 40), (160, 45)):
            asyncio.run(_cpu_ui(name, cols, rows, 3.0 if quick else 8.0))


# --------------------------------------------------------------------------- 4. pty output (+ throughput)
WIDGETS = ("phase-bar", "status", "network", "matrix", "explain", "keys")
BREAKDOWN_COLUMNS = (*WIDGETS, "cursor moves", "other")
CUP = re.compile(r"\x1b\[(\d+);(\d+)H")


async def _regions(name: str, cols: int, rows: int) -> dict[str, Any]:
    """Where each widget is on the screen at this size (from the real layout)."""
    app, _ = make_app(name)
    async with app.run_test(size=(cols, rows)) as pilot:
        await pilot.pause()
        return {w: app.query_one(f"#{w}").region for w in WIDGETS}


def breakdown(raw: str, regions: dict[str, Any]) -> dict[str, int]:
    """Bytes of terminal output per widget: each run after a cursor move is charged to
    the widget at that position; the cursor moves themselves go to 'cursor moves'."""
    out = dict.fromkeys(regions, 0)
    out["cursor moves"] = 0
    out["other"] = 0
    pos = 0
    where = "other"
    for m in CUP.finditer(raw):
        out[where] += len(raw[pos : m.start()].encode())
        out["cursor moves"] += len(m.group(0))
        y, x = int(m.group(1)) - 1, int(m.group(2)) - 1
        where = next((k for k, r in regions.items() if r.contains(x, y)), "other")
        pos = m.end()
    out[where] += len(raw[pos:].encode())
    return out


def _pty_run(app: PtyApp, seconds: float) -> tuple[float, float, int | None, str, float]:
    """One c ... p cycle: (bytes/s while running, seconds, steps done, output, its seconds)."""
    st = app.stream
    before = st.last_step() or 0
    st.expect(r"RUNNING")
    b0 = st.nbytes
    st.record()
    t0 = app.send("c")
    if st.wait(5.0) is None:
        raise RuntimeError("the app did not start running after c")
    time.sleep(max(0.0, seconds - (time.perf_counter() - t0)))
    b1, t1 = st.nbytes, time.perf_counter()
    raw = st.recorded()
    st.expect(r"PAUSED")
    t2 = app.send("p")
    if st.wait(5.0) is None:
        raise RuntimeError("the app did not pause after p")
    time.sleep(0.15)  # let the pause frame finish
    after = st.last_step()
    steps = None if after is None else after - before
    return (b1 - b0) / (t1 - t0), t2 - t0, steps, raw, t1 - t0


def item_pty(scenarios: list[str], quick: bool) -> None:
    # Windows of 5 s: each window starts (c) and ends (p) with a full redraw of
    # every panel, which 1-s windows counted as if it came every second.
    rounds, seconds = (2, 2.5) if quick else (3, 5.0)
    sizes = [(80, 24), (120, 40)]
    say(
        f"## 4. Terminal output while fast-forwarding (pty, {rounds} rounds of {seconds} s; "
        "steps/s from the status line vs headless in this process, interleaved)"
    )
    table = []
    per_widget: list[list[str]] = []
    for name in scenarios:
        _, ref = scenario_session(name)
        headless_rate(ref, 0.2)
        for cols, rows in sizes:
            regions = asyncio.run(_regions(name, cols, rows))
            app, _ = spawn_app(name, cols, rows)
            by_widget: dict[str, int] = {}
            running = 0.0
            try:
                time.sleep(0.5)  # let the first heavy refresh finish
                kib, ratios, rates, refs = [], [], [], []
                for r in range(rounds):
                    if r % 2 == 1:
                        refs.append(headless_rate(ref, seconds))
                    bps, dt, steps, raw, run_s = _pty_run(app, seconds)
                    for k, v in breakdown(raw, regions).items():
                        by_widget[k] = by_widget.get(k, 0) + v
                    running += run_s
                    kib.append(bps / 1024)
                    rates.append(float("nan") if steps is None else steps / dt)
                    if r % 2 == 0:
                        refs.append(headless_rate(ref, seconds))
                    ratios.append(rates[-1] / refs[-1])
            finally:
                app.close()
            k = statistics.median(kib)
            ratio = statistics.median(ratios)
            size = f"{cols}x{rows}"
            table.append(
                [
                    name,
                    size,
                    f"{k:.1f}",
                    f"{statistics.median(rates):,.0f}",
                    f"{statistics.median(refs):,.0f}",
                    f"{ratio:.2f}",
                ]
            )
            per_widget.append(
                [name, size]
                + [f"{by_widget.get(w, 0) / running / 1024:.1f}" for w in BREAKDOWN_COLUMNS]
            )
            add(
                "output while running",
                name,
                size,
                f"{k:.1f} KiB/s",
                f"< {BYTES_TARGET_KIB:g} KiB/s",
                k < BYTES_TARGET_KIB,
            )
            add(
                "throughput app/headless (pty)",
                name,
                size,
                f"{ratio:.2f}x ({statistics.median(rates):,.0f} vs "
                f"{statistics.median(refs):,.0f} steps/s)",
                f">= {THROUGHPUT_TARGET}x",
                ratio >= THROUGHPUT_TARGET,
            )
    say(
        markdown(
            ["scenario", "size", "KiB/s", "app steps/s", "headless steps/s", "ratio"],
            table,
        )
    )
    say()
    say("KiB/s written per widget while running (by the cursor position of each write):")
    say(markdown(["scenario", "size", *BREAKDOWN_COLUMNS], per_widget))
    say()


# --------------------------------------------------------------------------- 2. responsiveness
KEYS = (
    # (label, key for Pilot, bytes for the pty, regex of its visible effect)
    # (a classifier's chart title goes on: "Loss (l: log scale, a: accuracy)")
    ("tab (running)", "tab", "\t", r"Loss \(l: log scale[,)]"),
    ("p (running)", "p", "p", r"PAUSED"),
    ("N (after p)", "N", "N", r"\[BACKPROP\]"),
)


async def _pilot_respond(name: str, trials: int) -> dict[str, list[float]]:
    app, s = make_app(name)
    frames = probe_frames(app)
    out: dict[str, list[float]] = {k[0]: [] for k in KEYS}
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        for _ in range(trials):
            press(app, "c")
            await asyncio.sleep(0.3)
            if not app.running:
                raise RuntimeError(f"{name}: not running after c")
            for label, key, _b, pattern in KEYS:
                frames.expect(pattern)
                t0 = time.perf_counter()
                press(app, key)
                deadline = t0 + 2.0
                while frames.found is None and time.perf_counter() < deadline:
                    await asyncio.sleep(0.002)
                t = frames.found
                out[label].append(2000.0 if t is None else (t - t0) * 1000)
                if key == "tab":
                    await asyncio.sleep(0.15)  # keep running a little
            press(app, "1")  # back to the matrix panel (not timed)
            await asyncio.sleep(0.05)
    return out


def _pty_respond(name: str, trials: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {k[0]: [] for k in KEYS}
    app, _ = spawn_app(name, 80, 24)
    try:
        time.sleep(0.5)
        st = app.stream
        for _ in range(trials):
            st.expect(r"RUNNING")
            app.send("c")
            if st.wait(5.0) is None:
                raise RuntimeError(f"{name}: not running after c")
            time.sleep(0.3)
            for label, _key, keys, pattern in KEYS:
                st.expect(pattern)
                t0 = app.send(keys)
                t = st.wait(2.0)
                out[label].append(2000.0 if t is None else (t - t0) * 1000)
                if keys == "\t":
                    time.sleep(0.15)
            app.send("1")
            time.sleep(0.1)
    finally:
        app.close()
    return out


def item_respond(scenarios: list[str], quick: bool) -> None:
    trials = 10 if quick else 30
    say(
        f"## 2. Responsiveness while running at full speed ({trials} trials, 80x24; "
        "key press -> first frame showing the effect)"
    )
    table = []
    for name in scenarios:
        for how, res in (
            ("Pilot", asyncio.run(_pilot_respond(name, trials))),
            ("pty", _pty_respond(name, trials)),
        ):
            for label, ms in res.items():
                med, hi = statistics.median(ms), p95(ms)
                table.append(
                    [name, how, label, f"{med:.1f}", f"{hi:.1f}", f"{max(ms):.1f}", str(len(ms))]
                )
                add(
                    f"latency {label} ({how})",
                    name,
                    "80x24",
                    f"median {med:.0f} ms, p95 {hi:.0f} ms (n={len(ms)})",
                    f"median < {LATENCY_MEDIAN_MS:g}, p95 < {LATENCY_P95_MS:g} ms",
                    med < LATENCY_MEDIAN_MS and hi < LATENCY_P95_MS,
                )
    say(markdown(["scenario", "via", "key", "median ms", "p95 ms", "max ms", "n"], table))
    say()


# --------------------------------------------------------------------------- 3. start-up
def item_startup(quick: bool) -> None:
    runs = 5 if quick else 11
    say(f"## 3. Start-up (80x24 pty, {runs} interleaved runs, medians)")
    app_t: list[float] = []
    imp_t: list[float] = []
    imp_app_t: list[float] = []
    env = pty_env()
    # warm-up: fill the byte-code cache for both commands (not timed)
    spawn_app("xor", 80, 24, long=False)[0].close()
    subprocess.run([sys.executable, "-c", "import textual.app, numpy"], env=env, check=True)
    for r in range(runs):
        order = ["app", "imp", "imp_app"]
        for what in order[r % 3 :] + order[: r % 3]:
            if what == "app":
                app, dt = spawn_app("xor", 80, 24, long=False)
                app.close()
                app_t.append(dt)
            else:
                code = "import textual, numpy" if what == "imp" else "import textual.app, numpy"
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-c", code], env=env, check=True)
                (imp_t if what == "imp" else imp_app_t).append(time.perf_counter() - t0)
    a, i, ia = (statistics.median(x) * 1000 for x in (app_t, imp_t, imp_app_t))
    best = min(app_t) / min(imp_t)  # the fastest runs: least disturbed by other load
    say(
        markdown(
            ["what", "median ms", "all runs ms"],
            [
                ["tui-trainer xor: spawn -> first full frame", f"{a:.0f}", _ms(app_t)],
                ['python -c "import textual, numpy"', f"{i:.0f}", _ms(imp_t)],
                ['python -c "import textual.app, numpy" (context)', f"{ia:.0f}", _ms(imp_app_t)],
            ],
        )
    )
    say()
    add(
        "start-up / import textual,numpy",
        "xor",
        "80x24",
        f"{a / i:.2f}x ({a:.0f} vs {i:.0f} ms; fastest runs {best:.2f}x)",
        f"< {STARTUP_RATIO:g}x",
        a / i < STARTUP_RATIO,
    )


def _ms(xs: list[float]) -> str:
    return " ".join(f"{x * 1000:.0f}" for x in xs)


# --------------------------------------------------------------------------- 5. memory
def _vm(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def memory_child(mode: str) -> None:
    """Run in a fresh process: 10,000 steps of digits, print JSON."""
    if mode == "engine":
        _, s = scenario_session("digits")
        base = _vm("VmRSS")
        r = s.run(max_steps=MEMORY_STEPS)
        assert r.kind == "limit", r
    else:
        app, s = make_app("digits")
        base = _vm("VmRSS")

        async def drive() -> None:
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.pause()
                app._start_run("step", MEMORY_STEPS)  # what 't' with 's10000' does
                deadline = time.perf_counter() + 120
                while (app.running or s.step < MEMORY_STEPS) and time.perf_counter() < deadline:
                    await asyncio.sleep(0.05)
                await pilot.pause()

        asyncio.run(drive())
    rep = s.memory_report()
    print(
        json.dumps(
            {
                "step": s.step,
                "hwm": _vm("VmHWM"),
                "rss": _vm("VmRSS"),
                "base": base,
                **rep,
                "history_steps": s.cfg.history_steps,
                "history_limit": s.cfg.history_bytes,
            }
        )
    )


def item_memory() -> None:
    say(f"## 5. Memory after {MEMORY_STEPS:,} steps of digits (fresh process, default history)")
    table = []
    for mode in ("engine", "app"):
        p = subprocess.run(
            [sys.executable, __file__, "--memory-child", mode],
            capture_output=True,
            text=True,
            check=True,
        )
        d = json.loads(p.stdout.strip().splitlines()[-1])
        mb = 1024 * 1024
        hwm = d["hwm"] / mb
        hist = d["history_bytes"] / mb
        table.append(
            [
                mode,
                str(d["step"]),
                f"{hwm:.1f}",
                f"{d['base'] / mb:.1f}",
                f"{hist:.2f}",
                f"{100 * d['history_bytes'] / d['hwm']:.1f}%",
                f"{d['metrics_bytes'] / mb:.2f}",
                f"{d['keyframes']} every {d['keyframe_interval']} steps",
            ]
        )
        add(
            f"peak RSS ({mode})",
            "digits",
            "80x24" if mode == "app" else "-",
            f"{hwm:.0f} MB; step-back history {hist:.1f} MB ({100 * d['history_bytes'] / d['hwm']:.1f}%)",
            f"< {MEMORY_TARGET_MB:g} MB",
            hwm < MEMORY_TARGET_MB,
        )
    say(
        markdown(
            [
                "process",
                "step",
                "peak RSS MB",
                "RSS before training MB",
                "history MB",
                "history share",
                "metrics MB",
                "keyframes",
            ],
            table,
        )
    )
    say()


# --------------------------------------------------------------------------- 7. whole runs
FINISH_RUNS = {"spiral": 800, "digits": 120}  # epochs (issue 18), raised to FINISH_SECONDS
FINISH_SECONDS = 5.0  # every run at least this long headless
_finish_epochs: dict[str, int] = {}


def finish_scenario(name: str) -> tuple[int, Path]:
    """(epochs, scenario file) of a whole run lasting at least FINISH_SECONDS headless.

    Starts from the issue's epochs and raises them if the engine has become
    faster than that (the warm-up run also fills the byte-code cache).
    """
    if name not in _finish_epochs:
        epochs = FINISH_RUNS[name]
        seconds, _, _ = headless_run(long_scenario_file(name, epochs))
        if seconds < FINISH_SECONDS:
            epochs = math.ceil(epochs * FINISH_SECONDS * 1.2 / seconds)
        _finish_epochs[name] = epochs
    epochs = _finish_epochs[name]
    return epochs, long_scenario_file(name, epochs)


FINISH_MEDIAN = 0.9
FINISH_WORST = 0.8

HEADLESS_CHILD = """
import sys, time
from tui_trainer.cli import load
sc, s = load(sys.argv[1])
t0, c0 = time.perf_counter(), time.process_time()
r = s.run()
print(time.perf_counter() - t0, s.step, r.kind, time.process_time() - c0)
"""


def headless_run(path: Path) -> tuple[float, int, float]:
    """(seconds, steps, CPU seconds) of ``Session.run`` to the end, in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", HEADLESS_CHILD, str(path)],
        capture_output=True,
        text=True,
        check=True,
        env=pty_env(),
        cwd=_TMP,
    ).stdout.split()
    if out[2] != "finished":
        raise RuntimeError(f"headless run of {path.name} ended: {out[2]}")
    return float(out[0]), int(out[1]), float(out[3])


def app_run(
    name: str,
    epochs: int,
    cols: int,
    rows: int,
    timeout: float,
    argv: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> float:
    """Seconds from pressing c to the frame that shows FINISHED, installed command in a pty."""
    app, _ = spawn_app(name, cols, rows, epochs=epochs, argv=argv, env=env)
    try:
        time.sleep(0.5)  # the first heavy refresh
        app.stream.expect(r"FINISHED")
        t0 = app.send("c")
        t = app.stream.wait(timeout)
        if t is None:
            raise RuntimeError(f"{name}: no FINISHED within {timeout:.0f} s")
        app.send("q")
        with contextlib.suppress(subprocess.TimeoutExpired):
            app.proc.wait(timeout=5)
        return t - t0
    finally:
        app.close()


BASELINE: Path | None = None  # --baseline: another source tree's app, run beside this one

BASELINE_CHILD = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from tui_trainer.cli import main; sys.exit(main())"
)


def baseline_argv() -> list[str]:
    """The app of the ``--baseline`` source tree (same interpreter and packages)."""
    assert BASELINE is not None
    return [sys.executable, "-c", BASELINE_CHILD, str(BASELINE), "open"]


def item_finish(scenarios: list[str], quick: bool, runs: int | None = None) -> None:
    """App fast-forward from c to FINISHED vs the same run headless (issue 18, goal 2).

    With ``--baseline DIR`` each run also times the app of the source tree DIR
    (e.g. ``git archive main | tar -x -C DIR``), interleaved with the other two
    sides, so a change is compared with what it changes under the same load.
    """
    runs = runs or (3 if quick else 5)
    cols, rows = 120, 40
    names = [n for n in scenarios if n in FINISH_RUNS] or list(FINISH_RUNS)
    say(
        f"## 7. Whole runs: c to FINISHED in a {cols}x{rows} pty vs headless "
        f"({runs} interleaved runs each, load {os.getloadavg()[0]:.1f})"
    )
    table = []
    sides = ["app", "headless"] + (["baseline"] if BASELINE is not None else [])
    for name in names:
        epochs, path = finish_scenario(name)
        ratios, apps, heads, base_ratios = [], [], [], []
        for r in range(runs):
            pair: dict[str, float] = {}
            order = sides[r % len(sides) :] + sides[: r % len(sides)]
            for what in order if r % 2 == 0 else order[::-1]:
                if what == "headless":
                    pair[what] = headless_run(path)[0]
                elif what == "app":
                    pair[what] = app_run(name, epochs, cols, rows, timeout=600)
                else:
                    pair[what] = app_run(
                        name, epochs, cols, rows, timeout=600, argv=baseline_argv()
                    )
            apps.append(pair["app"])
            heads.append(pair["headless"])
            ratios.append(pair["headless"] / pair["app"])
            base = ""
            if "baseline" in pair:
                base_ratios.append(pair["headless"] / pair["baseline"])
                base = f", baseline {pair['baseline']:.2f} s, ratio {base_ratios[-1]:.2f}"
            say(
                f"  {name} run {r + 1}: headless {heads[-1]:.2f} s, app {apps[-1]:.2f} s, "
                f"ratio {ratios[-1]:.2f}{base} (load {os.getloadavg()[0]:.1f})"
            )
        if base_ratios:
            table.append(
                [
                    f"{name} (baseline)",
                    str(epochs),
                    "",
                    "",
                    f"{statistics.median(base_ratios):.2f}",
                    f"{min(base_ratios):.2f}-{max(base_ratios):.2f}",
                    " ".join(f"{x:.2f}" for x in base_ratios),
                ]
            )
        med = statistics.median(ratios)
        table.append(
            [
                name,
                str(epochs),
                f"{statistics.median(heads):.2f}",
                f"{statistics.median(apps):.2f}",
                f"{med:.2f}",
                f"{min(ratios):.2f}-{max(ratios):.2f}",
                " ".join(f"{x:.2f}" for x in ratios),
            ]
        )
        add(
            "whole run app/headless (pty, median; worst)",
            name,
            f"{cols}x{rows}",
            f"{med:.2f}x; worst {min(ratios):.2f}x",
            f">= {FINISH_MEDIAN}x; none < {FINISH_WORST}x",
            med >= FINISH_MEDIAN and min(ratios) >= FINISH_WORST,
        )
    say(
        markdown(
            ["scenario", "epochs", "headless s", "app s", "median ratio", "spread", "runs"],
            table,
        )
    )
    say()


def item_probe(scenarios: list[str], quick: bool) -> None:
    """Where a whole run loses time: the app under bench/ui_probe.py (diagnosis, not a goal)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import ui_probe

    runs = 3 if quick else 5
    cols, rows = 120, 40
    names = [n for n in scenarios if n in FINISH_RUNS] or list(FINISH_RUNS)
    say(f"## Probe: whole runs in a {cols}x{rows} pty with timing probes ({runs} runs each)")
    # --baseline: each run also probes the app of that source tree (after this one's)
    sides = ["app", "baseline"] if BASELINE is not None else ["app"]
    for name in names:
        epochs, path = finish_scenario(name)
        cols_out: list[dict[str, float]] = []
        heads: list[str] = []
        for r in range(runs):
            head, _, head_cpu = headless_run(path)
            for side in sides if r % 2 == 0 else sides[::-1]:
                log = _TMP / f"probe-{name}-{r}-{side}.json"
                argv = [sys.executable, str(ROOT / "bench" / "ui_probe.py"), str(log), "open"]
                env = None
                if side == "baseline":
                    env = pty_env()
                    env["PYTHONPATH"] = str(BASELINE)
                app_s = app_run(name, epochs, cols, rows, timeout=600, argv=argv, env=env)
                summary = ui_probe.summarize(json.loads(log.read_text(encoding="utf-8")))
                summary = {
                    "headless": head,
                    "headless CPU": head_cpu,
                    "app (c to FINISHED)": app_s,
                    "ratio": head / app_s,
                    **summary,
                }
                # CPU ratios (load-independent): headless CPU over the app's
                # training-thread CPU, and over training + UI thread CPU
                worker = summary.get("worker CPU, first to last chunk", 0.0)
                summary["CPU ratio headless/worker"] = head_cpu / max(1e-9, worker)
                summary["CPU ratio headless/(worker+UI)"] = head_cpu / max(
                    1e-9, worker + summary.get("UI thread CPU", 0.0)
                )
                summary["UI thread CPU per s"] = summary.get("UI thread CPU", 0.0) / max(
                    1e-9, summary.get("total", 0.0)
                )
                cols_out.append(summary)
                heads.append(f"run {r + 1}" + (f" {side}" if len(sides) > 1 else ""))
        keys = list(cols_out[0])
        say(
            markdown(
                [name, *heads],
                [
                    [
                        k,
                        *[
                            f"{c[k]:.3f}" if isinstance(c[k], float) else str(c[k])
                            for c in cols_out
                        ],
                    ]
                    for k in keys
                ],
            )
        )
        say()


# --------------------------------------------------------------------------- 6. engine
def item_engine() -> None:
    say("## 6. Engine vs plain NumPy (bench/engine.py --quick)")
    p = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "engine.py"), "--quick"],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("|")]
    say("\n".join(lines))
    say()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    col = header.index("engine/numpy")
    ratios = {}
    for ln in lines[2:]:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        ratios[cells[0]] = float(cells[col].rstrip("x"))
    worst = min(ratios, key=ratios.__getitem__)
    add(
        "engine / plain NumPy (worst row)",
        worst,
        "-",
        f"{ratios[worst]:.2f}x (all: " + ", ".join(f"{v:.2f}" for v in ratios.values()) + ")",
        f">= {ENGINE_TARGET}x every row",
        all(v >= ENGINE_TARGET for v in ratios.values()),
    )


# --------------------------------------------------------------------------- main
ITEMS: dict[str, Callable[[list[str], bool], None]] = {
    "throughput": item_throughput,
    "respond": lambda sc, q: item_respond([n for n in sc if n != "spiral"] or sc, q),
    "startup": lambda sc, q: item_startup(q),
    "pty": lambda sc, q: item_pty([n for n in sc if n != "spiral"] or sc, q),
    "memory": lambda sc, q: item_memory(),
    "engine": lambda sc, q: item_engine(),
    "finish": lambda sc, q: item_finish(sc, q),
}
EXTRA: dict[str, Callable[[list[str], bool], None]] = {
    "profile": item_profile,
    "probe": item_probe,
    "cpu": item_cpu,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "items",
        nargs="*",
        metavar="ITEM",
        help="any of: " + ", ".join(ITEMS) + "; 'profile' (not in --all) profiles the UI thread",
    )
    ap.add_argument("--all", action="store_true", help="every item, then one table")
    ap.add_argument("--quick", action="store_true", help="fewer rounds and trials (~1.5 min)")
    ap.add_argument(
        "--scenarios",
        default="xor,spiral,digits",
        help="comma list (throughput uses all; pty and respond skip spiral)",
    )
    ap.add_argument(
        "--baseline",
        metavar="DIR",
        help="finish: also time the app of this source tree, interleaved (a before/after)",
    )
    ap.add_argument("--memory-child", choices=("engine", "app"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.baseline:
        global BASELINE
        BASELINE = Path(args.baseline).resolve()
        if not (BASELINE / "tui_trainer" / "cli.py").is_file():
            ap.error(f"--baseline {args.baseline}: no tui_trainer/cli.py there")
    unknown = [i for i in args.items if i not in ITEMS and i not in EXTRA]
    if unknown:
        ap.error(f"unknown item(s) {', '.join(unknown)}; choose from {', '.join([*ITEMS, *EXTRA])}")
    if args.memory_child:
        memory_child(args.memory_child)
        return 0
    items = list(ITEMS) if args.all or not args.items else args.items
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    import numpy as np
    import textual

    say(
        f"python {sys.version.split()[0]}, numpy {np.__version__}, textual {textual.__version__}, "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; command {' '.join(cli_command())}"
    )
    say()
    t0 = time.perf_counter()
    for it in items:
        {**ITEMS, **EXTRA}[it](scenarios, args.quick)
    say(f"## Summary ({time.perf_counter() - t0:.0f} s, load {os.getloadavg()[0]:.1f})")
    say(
        markdown(
            ["item", "scenario", "terminal", "measured", "target", "result"],
            [[r.item, r.scenario, r.size, r.measured, r.target, r.verdict] for r in ROWS],
        )
    )
    misses = [r for r in ROWS if r.ok is False]
    say()
    say(f"{len(misses)} of {sum(r.ok is not None for r in ROWS)} targets missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
