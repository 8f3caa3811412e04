"""A lesson's prediction question: the learner picks an answer before seeing it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label

from tui_trainer.safe_text import plain
from tui_trainer.ui.screens.dialog import Dialog


class AskScreen(Dialog[str]):
    """Keys 1-6 pick a choice (the lesson's text is shown as plain text, never markup)."""

    BINDINGS = [
        Binding(str(n), f"pick({n})", str(n), show=False, id=f"ask_{n}") for n in range(1, 7)
    ]

    def __init__(self, question: str, choices: tuple[str, ...]) -> None:
        super().__init__()
        self.question = question
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(id="ask-box"):
            yield Label(plain("Predict first: " + self.question, keep_newlines=True))
            for n, choice in enumerate(self.choices, 1):
                yield Label(plain(f"  {n}  {choice}"), classes="choice")
            yield Label(f"Press 1-{len(self.choices)} to answer.", classes="hint")

    def action_pick(self, n: int) -> None:
        if 1 <= n <= len(self.choices):
            self.dismiss(self.choices[n - 1])
