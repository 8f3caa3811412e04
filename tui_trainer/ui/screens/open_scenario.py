"""Open a scenario: the built-ins with their descriptions, or a file path."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option


class OpenScenarioScreen(ModalScreen[str | None]):
    """Returns a built-in name or a path, or None."""

    BINDINGS = [Binding("escape", "cancel", "cancel", id="open_cancel")]

    def __init__(self, builtins: list[tuple[str, str]]) -> None:
        super().__init__()
        self.builtins = builtins

    def compose(self) -> ComposeResult:
        with Vertical(id="open-box"):
            yield Label("Open a scenario: pick a built-in (Enter) or type a path to a .toml file")
            yield OptionList(
                *[Option(f"{name:22} {desc}", id=name) for name, desc in self.builtins],
                id="open-list",
            )
            yield Input(placeholder="path/to/scenario.toml", id="open-path")
            yield Label("", id="open-error")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
