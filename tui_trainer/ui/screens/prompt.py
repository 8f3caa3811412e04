"""A one-line input dialog (run to, add breakpoint, save path)."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label

from tui_trainer.safe_text import plain
from tui_trainer.ui.screens.dialog import Dialog


class PromptScreen(Dialog[str | None]):
    """Ask for one value; ``validate`` returns an error message or None."""

    BINDINGS = [Binding("escape", "cancel", "cancel", id="prompt_cancel")]

    def __init__(
        self,
        title: str,
        placeholder: str = "",
        value: str = "",
        validate: Callable[[str], str | None] | None = None,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder
        self.value = value
        self.validate_fn = validate

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box"):
            yield Label(self.title_text, id="prompt-title")
            yield Input(value=self.value, placeholder=self.placeholder, id="prompt-input")
            yield Label("", id="prompt-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if self.validate_fn is not None:
            err = self.validate_fn(text)
            if err:
                # plain text: an error may quote what was typed (a path, "[")
                self.query_one("#prompt-error", Label).update(
                    plain(err, keep_newlines=True, style="red")
                )
                return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)
