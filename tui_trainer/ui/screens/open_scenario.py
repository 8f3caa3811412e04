"""Open a scenario: the built-ins with their descriptions, or a .toml file.

Files can be typed as a path or picked in a directory tree (directories and
``.toml`` files only), starting at the current directory.

The dialog loads the choice itself: a file with mistakes shows the same
file:line list as ``tui-trainer check`` inside the dialog, which stays open
with the path in the input, ready to be corrected and tried again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DirectoryTree, Input, Label, OptionList, Static
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


Loaded = tuple[str, Any]  # the choice, and what the loader returned for it


class OpenScenarioScreen(Dialog[Loaded | None]):
    """Returns ``(choice, loader(choice))``, or None when cancelled.

    Without a loader the choice is returned as it is, with ``None`` loaded.
    """

    BINDINGS = [Binding("escape", "cancel", "cancel", id="open_cancel")]

    def __init__(
        self,
        builtins: list[tuple[str, str]],
        start: Path | None = None,
        loader: Callable[[str], Any] | None = None,
    ) -> None:
        super().__init__()
        self.builtins = builtins
        self.start = start or Path.cwd()
        self.loader = loader
        self.error = ""

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
            with VerticalScroll(id="open-error-box"):
                yield Static("", id="open-error")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self._try(str(event.option.id))

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        self._try(str(event.path))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self._try(event.value.strip())

    def _try(self, choice: str) -> None:
        if self.loader is None:
            self.dismiss((choice, None))
            return
        try:
            loaded = self.loader(choice)
        except Exception as e:  # noqa: BLE001 - any load failure is shown, never raised
            self._show_error(choice, str(e) or type(e).__name__)
            return
        self.dismiss((choice, loaded))

    def _show_error(self, choice: str, message: str) -> None:
        """The problems, as ``check`` lists them, and the path back in the input."""
        self.error = message
        box = self.query_one("#open-error-box")
        box.display = True
        self.query_one("#open-error", Static).update(
            plain(f"{choice} cannot be opened:\n", style="bold red")
            + plain(message, keep_newlines=True)
        )
        box.scroll_home(animate=False)
        path = self.query_one("#open-path", Input)
        if choice not in {name for name, _ in self.builtins}:
            path.value = choice  # a file: correct it and press Enter again
            path.cursor_position = len(choice)
        path.focus()

    def action_cancel(self) -> None:
        self.dismiss(None)
