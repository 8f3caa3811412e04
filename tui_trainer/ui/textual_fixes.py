"""Workarounds for Textual bugs that would end a session, applied on import.

``OptionList`` (used by the command palette, every ``Select`` and the open
and breakpoint dialogs) raises ``KeyError`` on page up/down when the key
arrives before the list has been laid out: over a laggy SSH link keys come
in bursts, so ``ctrl+p``, a letter and page-down typed quickly took the whole
app down (Textual 8.2.8). Textual's own ``scroll_to_highlight`` already
treats that ``KeyError`` as "nothing to do"; page keys now do the same.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import OptionList

_move_page = OptionList._move_page


def _move_page_when_laid_out(self: OptionList, direction: Any) -> None:
    try:
        _move_page(self, direction)
    except (KeyError, IndexError):
        pass  # not laid out yet: the key does nothing, as on an empty list


OptionList._move_page = _move_page_when_laid_out  # type: ignore[method-assign]
