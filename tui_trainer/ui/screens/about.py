"""The scenario card (``d``): what this scenario teaches and what to watch.

A scenario's ``description`` and ``watch`` are its lesson text. The explain
panel shows them when the scenario opens (until the first phase runs); this
dialog brings them back at any time, scrollable at any terminal size. The
text comes from a file, so it is rendered as plain ``Text`` (never markup)
with control characters made visible.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui_trainer.safe_text import visible
from tui_trainer.ui.screens.dialog import Dialog


def lesson_text(name: str, description: str, watch: str) -> Text:
    """The scenario's name, description and what to watch, as plain text."""
    out = Text()
    out.append(visible(name), style="bold")
    out.append("\n")
    out.append(visible(" ".join(description.split())) or "(this scenario has no description)")
    if watch.strip():
        out.append("\n\nWhat to watch: ", style="bold")
        out.append(visible(" ".join(watch.split())))
    return out


class AboutScreen(Dialog[None]):
    """The scenario's description and what to watch; Esc, d or q closes."""

    BINDINGS = [Binding("escape,q,d,enter", "close", "close", id="about_close")]

    def __init__(self, name: str, description: str, watch: str, command: str = "") -> None:
        super().__init__()
        self._text = lesson_text(name, description, watch)
        if command:  # the terminal's answer to Playground's URL: this setup in one line
            self._text.append("\n\nThis setup in one line: ", style="bold")
            self._text.append(visible(command))

    def action_close(self) -> None:
        self.dismiss(None)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="about-body") as body:
            body.border_title = "About this scenario"
            yield Static(self._text, id="about-text")
            yield Static(Text("Esc, d or Enter closes.", style="dim"))
