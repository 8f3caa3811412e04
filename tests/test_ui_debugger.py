"""Issue 12, items 2-4, driven as a person would: the app on the real scenarios.

2. ``c`` from a breakpoint hit runs until the condition becomes true again
   (or the end), not one step;
3. the ``B`` dialog at 80x24: instructions fully visible, every field
   labelled, the first row highlighted so space acts at once;
4. a watch records one value per step while running, trimmed on step back.
"""

from __future__ import annotations

import asyncio
import html
import re

from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import Input, Label, OptionList, Select

from pilot import WORKER_TIMEOUT, run_app, wait_until
from tui_trainer.cli import breakpoint_set, load
from tui_trainer.ui.app import TrainerApp
from tui_trainer.ui.screens.breakpoints import BreakpointsScreen


def open_app(name: str) -> TrainerApp:
    """The app as ``tui-trainer NAME`` builds it (scenario breakpoints and watches)."""
    sc, s = load(name)
    app = TrainerApp(
        s,
        name=sc.name,
        watch_text=sc.watch,
        breakpoints=breakpoint_set(sc),
        watches=list(sc.watches),
        scenario_text=sc.text,
    )
    app.scenario = sc
    return app


async def settle(app: TrainerApp, pilot: Pilot) -> None:
    await asyncio.wait_for(app.workers.wait_for_complete(), WORKER_TIMEOUT * 4)
    await wait_until(pilot, lambda: not app.running)
    await pilot.pause()


_SVG_TEXT = re.compile(r'<text class="[^"]*-r\d+" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>')


def screen_rows(app: TrainerApp) -> list[str]:
    rows: dict[float, list[tuple[float, str]]] = {}
    for x, y, run in _SVG_TEXT.findall(app.export_screenshot()):
        rows.setdefault(float(y), []).append((float(x), html.unescape(run)))
    return [
        "".join(t for _, t in sorted(runs)).replace("\xa0", " ") for _, runs in sorted(rows.items())
    ]


def words(text: str) -> str:
    return " ".join(re.sub(r"[│┃▌▐█▊▎▍▋▏▕]", " ", text).split())


# ------------------------------------------------------------------ item 2


def test_xor_val_accuracy_breakpoint_second_c_runs_on():
    app = open_app("xor")
    s = app.session

    async def body(pilot: Pilot) -> None:
        await pilot.press("b")
        await pilot.pause()
        await pilot.press(*"val_accuracy > 0.9")
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("c")
        await settle(app, pilot)
        assert app._state_label() == "at breakpoint"
        first = s.step
        assert s.history.epochs.last("val_accuracy") > 0.9
        await pilot.press("c")
        await settle(app, pilot)
        assert s.step > first + 1, "c from a hit stopped again one step later"
        if app._state_label() == "at breakpoint":  # a new false -> true edge
            va = s.history.epoch_series("val_accuracy")
            at = s.history.epoch_series("step")
            assert (va[(at > first) & (at < s.step)] <= 0.9).any()
        else:
            assert s.finished
        (bp,) = [b for b in app.breakpoints.items if b.source == "val_accuracy > 0.9"]
        assert bp.hits >= 1

    run_app(app, body, size=(100, 32))


def test_lr_too_large_loss_above_10_stops_only_when_it_becomes_true():
    app = open_app("lr_too_large")  # its scenario declares "loss > 10" and "nonfinite"
    s = app.session

    async def body(pilot: Pilot) -> None:
        stops = []
        for _ in range(4):
            await pilot.press("c")
            await settle(app, pilot)
            if app._state_label() != "at breakpoint":
                break
            stops.append(s.step)
        assert stops, "loss > 10 never fired"
        loss = s.history.step_series("loss")
        for step in stops:
            assert loss[step - 1] > 10
            assert step < 2 or not loss[step - 2] > 10, f"fired at step {step} without an edge"

    run_app(app, body, size=(100, 32))


# ------------------------------------------------------------------ item 3


def _with_dialog(check) -> None:  # noqa: ANN001
    app = open_app("lr_too_large")  # two breakpoints from its scenario

    async def body(pilot: Pilot) -> None:
        await pilot.press("B")
        await pilot.pause()
        assert isinstance(app.screen, BreakpointsScreen)
        await check(app, pilot)

    run_app(app, body, size=(80, 24))


def test_breakpoints_dialog_instructions_fully_visible_at_80x24():
    async def check(app: TrainerApp, pilot: Pilot) -> None:
        box = app.screen.query_one("#bp-box").content_region
        for label in app.screen.query(Label):
            # what the label draws in its size, and all of that size is inside the box
            drawn = " ".join(s.text for s in label.render_lines(Region(0, 0, *label.size)))
            text = words(str(label.content))
            assert text in words(drawn), f"cut off at 80x24: {text!r} shows {drawn!r}"
            visible = label.region.intersection(box)
            assert visible.size == label.region.size, f"clipped at 80x24: {text!r}"
        shown = words(" ".join(screen_rows(app)))
        assert "0 hits" in shown  # hit counts are shown

    _with_dialog(check)


def test_breakpoints_dialog_phase_dropdown_has_a_label():
    async def check(app: TrainerApp, pilot: Pilot) -> None:
        sel = app.screen.query_one("#bp-phase", Select)
        row = screen_rows(app)[sel.region.y + 1]
        assert re.search(r"[A-Za-z]{3}", row[: sel.region.x]), f"unlabelled dropdown: {row!r}"

    _with_dialog(check)


def test_breakpoints_dialog_space_toggles_the_first_row_right_after_opening():
    async def check(app: TrainerApp, pilot: Pilot) -> None:
        bps = app.breakpoints
        assert app.screen.query_one("#bp-list", OptionList).highlighted == 0
        assert bps.items[0].enabled
        await pilot.press("space")
        assert not bps.items[0].enabled
        assert app.session.position == 0

    _with_dialog(check)


# ------------------------------------------------------------------ item 4


def test_watch_records_every_step_while_running_and_trims_on_step_back():
    app = open_app("xor")  # watches: loss, accuracy, val_accuracy
    s = app.session

    async def body(pilot: Pilot) -> None:
        await pilot.press("b")
        await pilot.pause()
        await pilot.press(*"step >= 240")
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("c")
        await settle(app, pilot)
        assert s.step == 240
        w = app.watches.items[0]
        assert w.source == "batch_loss"  # the xor scenario's first watch
        assert [k for k, _ in w.history] == list(range(1, 241))
        assert [v for _, v in w.history] == list(s.history.step_series("loss"))
        assert [e for e, _ in w.epochs] == list(range(1, 16))
        await pilot.press("F")  # back one step
        await pilot.pause()
        assert s.step == 239
        assert [k for k, _ in w.history] == list(range(1, 240))

    run_app(app, body, size=(100, 32))


def test_breakpoints_dialog_sets_ignore_and_every_time():
    async def check(app: TrainerApp, pilot: Pilot) -> None:
        bps = app.breakpoints
        scr = app.screen
        scr.query_one("#bp-mode", Select).value = "every"
        ignore = scr.query_one("#bp-ignore", Input)
        ignore.value = "x"
        scr.query_one("#bp-input", Input).focus()
        await pilot.press(*"epoch >= 2", "enter")
        await pilot.pause()
        assert "Ignore must be" in str(scr.query_one("#bp-error", Label).content)
        assert len(bps.items) == 2
        ignore.value = "3"
        scr.query_one("#bp-input", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        bp = bps.items[-1]
        assert (bp.source, bp.every, bp.ignore) == ("epoch >= 2", True, 3)
        assert "every time" in words(" ".join(screen_rows(app)))

    _with_dialog(check)
