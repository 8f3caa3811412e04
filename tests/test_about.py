"""A scenario's lesson text (``description`` and ``watch``) is in front of the user.

When a scenario opens, the explain panel shows what it teaches and what to
watch, readable without scrolling at 120x40; the ``d`` key (also in the help
and the command palette) brings it back at any time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from pilot import run_app
from tui_trainer.cli import breakpoint_set, load
from tui_trainer.ui.app import TrainerApp
from tui_trainer.ui.screens.about import AboutScreen
from tui_trainer.ui.screens.help import HelpScreen


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def _app(name: str) -> tuple[TrainerApp, Any]:
    sc, s = load(name)
    app = TrainerApp(
        s,
        name=sc.name,
        watch_text=sc.watch,
        description=sc.description,
        breakpoints=breakpoint_set(sc),
        watches=list(sc.watches),
        scenario_text=sc.text,
    )
    return app, sc


def screen_lines(app: Any) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


def _words(text: str) -> str:
    return " ".join(text.split())


def _panel_text(app: Any, selector: str) -> str:
    """The words visible inside a bordered widget on screen, joined into one line."""
    w = app.screen.query_one(selector)
    r = w.region
    lines = screen_lines(app)[r.y + 1 : r.y + r.height - 1]
    return _words(" ".join(line[r.x + 1 : r.x + r.width - 1].strip(" │") for line in lines))


def test_description_and_watch_show_when_the_scenario_opens_at_120x40() -> None:
    app, sc = _app("overfitting")

    async def body(pilot: Pilot) -> None:
        await pilot.pause()
        shown = _panel_text(app, "#explain")
        # All of it, on screen, without scrolling.
        assert _words(sc.description) in shown
        assert _words(sc.watch) in shown
        assert "About this scenario" in "\n".join(screen_lines(app))
        # After the first phase the panel explains the step again, at its usual size.
        await pilot.press("n")
        await pilot.pause()
        assert _words(sc.description) not in _panel_text(app, "#explain")
        assert app.query_one("#explain").region.height == 8

    run_app(app, body, size=(120, 40))


def test_description_starts_on_the_first_screen_at_80x24() -> None:
    app, sc = _app("overfitting")

    async def body(pilot: Pilot) -> None:
        await pilot.pause()
        first_sentence = _words(sc.description).split(". ")[0]
        assert first_sentence in _panel_text(app, "#explain")

    run_app(app, body, size=(80, 24))


def test_d_shows_the_description_any_time_and_closes() -> None:
    app, sc = _app("overfitting")

    async def body(pilot: Pilot) -> None:
        await pilot.press("n", "n")
        before = app.session.position
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, AboutScreen)
        text = _words(" ".join(screen_lines(app)).replace("│", " "))
        assert _words(sc.description)[:60] in text
        assert "What to watch" in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, AboutScreen)
        assert app.session.position == before  # d changed nothing

    run_app(app, body, size=(120, 40))


def test_d_is_listed_in_help_and_in_the_command_palette() -> None:
    app, _ = _app("xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert any("about this scenario" in desc for key, desc in app.help_rows() if key == "d")
        await pilot.press("escape")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert any(t.startswith("About this scenario") and t.endswith("(d)") for t in titles)

    run_app(app, body)


def test_markup_in_a_description_is_shown_as_text() -> None:
    app, sc = _app("xor")
    app.description = "[bold]not bold[/bold] [link=file:///etc/passwd]click[/link] \x1b]0;pwned\x07"

    async def body(pilot: Pilot) -> None:
        await pilot.pause()
        app.refresh_all()
        await pilot.pause()
        assert "[link=file:///etc/passwd]click[/link]" in _panel_text(app, "#explain")
        await pilot.press("d")
        await pilot.pause()
        shown = " ".join(screen_lines(app))
        assert "[bold]not bold[/bold]" in shown
        assert "\\x1b]0;pwned\\x07" in shown and "\x1b" not in shown

    run_app(app, body, size=(120, 40))
