"""Base class of every dialog: closing twice is harmless.

Keys arrive faster than screens change: two Enters or Escapes queued behind
each other would dismiss a dialog that is already gone, and Textual would
then try to pop the debugger's own screen. Textual's ``dismiss`` always pops
the top screen, so a dialog may only dismiss itself while it is on top: not
after it closed, and not while the command palette is open over it (an Enter
typed before ctrl+p would otherwise close the palette in its place and leave
the dialog to be closed twice). Such a key is dropped; the dialog stays open.
"""

from __future__ import annotations

from typing import Any, TypeVar

from textual.app import ScreenStackError
from textual.screen import ModalScreen, Screen

R = TypeVar("R")


class Dialog(ModalScreen[R]):
    def dismiss(self, result: Any = None) -> Any:  # type: ignore[override]
        if not on_top(self):
            return None
        return super().dismiss(result)


def on_top(screen: Screen[Any]) -> bool:
    """Is ``screen`` the top of the stack (``Screen.is_current`` is also true
    for a modal's background screens, which ``dismiss`` would not pop)?"""
    try:
        return screen.app.screen is screen
    except ScreenStackError:
        return False


# Layout shared by the dialogs that run training and chart it (compare, what
# if): a bordered box filling the screen, a one-row form, notes, a progress
# bar, the chart and a table. Each dialog adds its own field widths.
RUN_DIALOG_CSS = """
.run-box {
    width: 100%;
    height: 100%;
    background: $surface;
    border: round $primary;
    border-title-align: left;
}
.run-form {
    height: 3;
}
.run-form Label {
    height: 3;
    content-align: left middle;
    padding: 0 1;
}
.run-note {
    height: auto;
    max-height: 2;
    width: 100%;
    padding: 0 1;
}
.run-help {
    height: 1;
    color: $text-muted;
}
.run-progress {
    height: 1;
    padding: 0 1;
}
.run-progress Bar {
    width: 1fr;
}
.run-chart {
    height: 1fr;
    min-height: 6;
}
.run-table {
    height: auto;
    padding: 0 1;
}
"""
