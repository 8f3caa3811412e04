"""The course menu of ``tui-trainer learn``: the lessons in order, the ones done ticked."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from tui_trainer.safe_text import plain


class CourseMenu(App[int | None]):
    """Returns the chosen lesson's number (1-based), or None when the learner quits."""

    CSS = """
    Screen { align: center middle; }
    #course { width: 76; height: auto; max-height: 100%; border: round $accent; padding: 0 1; }
    #course-list { height: auto; max-height: 14; }
    .hint { color: $text-muted; }
    """
    BINDINGS = [Binding("q,escape", "quit_menu", "quit", id="course_quit")]

    def __init__(self, lessons: list[tuple[str, str]], completed: set[int], first: int) -> None:
        super().__init__()
        self.lessons = lessons
        self.completed = completed
        self.first = first

    def compose(self) -> ComposeResult:
        from textual.containers import Vertical

        with Vertical(id="course"):
            yield Label("How a network learns: the course", classes="title")
            options = []
            for n, (title, blurb) in enumerate(self.lessons, 1):
                mark = "✓" if n in self.completed else " "
                options.append(Option(plain(f"{mark} {n}. {title}: {blurb}"), id=str(n)))
            yield OptionList(*options, id="course-list")
            yield Label(
                "↑↓ choose · enter opens · q quits · `tui-trainer learn N` opens lesson N",
                classes="hint",
            )

    def on_mount(self) -> None:
        ol = self.query_one(OptionList)
        ol.highlighted = max(0, min(self.first - 1, len(self.lessons) - 1))
        ol.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.exit(int(event.option.id or 1))

    def action_quit_menu(self) -> None:
        self.exit(None)
