"""A yes/no question (quit with unsaved progress)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label

from tui_trainer.safe_text import plain
from tui_trainer.ui.screens.dialog import Dialog


class ConfirmScreen(Dialog[bool]):
    BINDINGS = [
        Binding("y,enter", "answer(True)", "yes", id="confirm_yes"),
        Binding("n,escape", "answer(False)", "no", id="confirm_no"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box"):
            yield Label(plain(self.question, keep_newlines=True))  # may name a file's text
            yield Label("[b]y[/b] yes   [b]n[/b] no")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
