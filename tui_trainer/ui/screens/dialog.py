"""Base class of every dialog: closing twice is harmless.

Keys arrive faster than screens change: two Enters or Escapes queued behind
each other would dismiss a dialog that is already gone, and Textual would
then try to pop the debugger's own screen.
"""

from __future__ import annotations

from typing import Any, TypeVar

from textual.screen import ModalScreen

R = TypeVar("R")


class Dialog(ModalScreen[R]):
    def dismiss(self, result: Any = None) -> Any:  # type: ignore[override]
        if not self.is_current:
            return None
        return super().dismiss(result)
