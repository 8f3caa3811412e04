"""``o`` on a scenario file with mistakes: the same file:line list as ``check``,
in the dialog, which stays open for a corrected path (issue 12, item 10)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from pilot import run_app, xor_session
from tui_trainer.cli import COMMANDS, build_parser  # noqa: F401  (the CLI's own loader below)
from tui_trainer.ui.app import TrainerApp
from tui_trainer.ui.screens.open_scenario import OpenScenarioScreen

BROKEN = """\
name = "broken"
seed = 0

[data]
kind = "xor"
n_samples = 200

[model]
hidden = [4]
activation = "tanhh"

[training]
lr = -1
epochs = 5
"""


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)


def _cli_loader():
    """The loader ``tui-trainer`` gives the app (see ``cmd_open``)."""
    from tui_trainer.cli import load

    def loader(choice: str):
        sc, s = load(choice)
        return s, {"name": sc.name, "description": sc.description, "watch_text": sc.watch}

    return loader


def _screen(app: TrainerApp) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def test_broken_file_lists_every_problem_in_the_dialog_and_stays_open(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_text(BROKEN, encoding="utf-8")
    check = subprocess.run(
        [sys.executable, "-m", "tui_trainer", "check", "broken.toml"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 2
    problems = [line for line in check.stderr.splitlines() if line.startswith("broken.toml:")]
    assert len(problems) >= 2  # activation and lr, each with its line
    old = xor_session()
    app = TrainerApp(old, name="xor", builtins=[("xor", "")], loader=_cli_loader())

    async def body(pilot: Pilot) -> None:
        await pilot.press("o")
        await pilot.pause()
        for _ in range(6):
            if isinstance(app.focused, Input):
                break
            await pilot.press("tab")
        await pilot.press(*"broken.toml", "enter")
        await pilot.pause()
        assert isinstance(app.screen, OpenScenarioScreen)
        shown = _screen(app)
        for line in problems:  # each problem's file:line and field, as check prints it
            assert line.split(": ")[0] in shown, line
        assert app.screen.error.strip() == check.stderr.strip()
        assert app.session is old
        # Correct the file, press Enter again: it opens.
        (tmp_path / "broken.toml").write_text(
            BROKEN.replace("tanhh", "tanh").replace("lr = -1", "lr = 0.1"), encoding="utf-8"
        )
        path = app.screen.query_one("#open-path", Input)
        assert path.value == "broken.toml" and app.focused is path
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, OpenScenarioScreen)
        assert app.session is not old and app.scenario_name == "broken"

    run_app(app, body, size=(120, 40))
