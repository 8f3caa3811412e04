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
