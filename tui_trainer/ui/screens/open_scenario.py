"""Open a scenario: the built-ins with their descriptions, or a .toml file.

Files can be typed as a path or picked in a directory tree (directories and
``.toml`` files only), starting at the current directory.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DirectoryTree, Input, Label, OptionList
from textual.widgets.option_list import Option

from tui_trainer.safe_text import plain
from tui_trainer.ui.screens.dialog import Dialog


class ScenarioTree(DirectoryTree):
    """A directory tree that shows only directories and scenario files."""

    def process_label(self, label: str | Text) -> Text:
        """File names as they are: the tree would read a name as markup, and a
        name can hold control characters."""
        return super().process_label(plain(label) if isinstance(label, str) else label)

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [
            p
            for p in paths
            if not p.name.startswith(".") and (p.is_dir() or p.suffix.lower() == ".toml")
        ]


class OpenScenarioScreen(Dialog[str | None]):
    """Returns a built-in name or a path, or None."""

    BINDINGS = [Binding("escape", "cancel", "cancel", id="open_cancel")]

    def __init__(self, builtins: list[tuple[str, str]], start: Path | None = None) -> None:
        super().__init__()
        self.builtins = builtins
        self.start = start or Path.cwd()

    def compose(self) -> ComposeResult:
        with Vertical(id="open-box"):
            yield Label(
                "Open a scenario: pick a built-in (Enter), a .toml file below, or type a path"
            )
            yield OptionList(
                *[Option(plain(f"{name:22} {desc}"), id=name) for name, desc in self.builtins],
                id="open-list",
            )
            yield ScenarioTree(self.start, id="open-tree")
            yield Input(placeholder="path/to/scenario.toml", id="open-path")
            yield Label("", id="open-error")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        self.dismiss(str(event.path))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
