"""Workarounds for Textual bugs that would end a session, applied on import.

``OptionList`` (used by the command palette, every ``Select`` and the open
and breakpoint dialogs) raises ``KeyError`` on page up/down when the key
arrives before the list has been laid out: over a laggy SSH link keys come
in bursts, so ``ctrl+p``, a letter and page-down typed quickly took the whole
app down (Textual 8.2.8). Textual's own ``scroll_to_highlight`` already
treats that ``KeyError`` as "nothing to do"; page keys now do the same.

Under ``tui-trainer serve`` each browser session is an app process reading
its input from the server through a pipe. When the server dies (killed, out
of memory) the pipe ends, and Textual's web driver only stops reading: the
app lived on with nobody to see it, one orphan per session. An input stream
that ends without the app asking now closes the app, which saves its
recovery checkpoint on the way out (``TrainerApp.on_unmount``).
"""

from __future__ import annotations

from typing import Any

from textual.drivers.web_driver import WebDriver
from textual.widgets import OptionList

_move_page = OptionList._move_page


def _move_page_when_laid_out(self: OptionList, direction: Any) -> None:
    try:
        _move_page(self, direction)
    except (KeyError, IndexError):
        pass  # not laid out yet: the key does nothing, as on an empty list


OptionList._move_page = _move_page_when_laid_out  # type: ignore[method-assign]


_run_input_thread = WebDriver.run_input_thread


def _exit_when_input_ends(self: WebDriver) -> None:
    try:
        _run_input_thread(self)
    finally:
        if not self.exit_event.is_set():  # the server went away, not the app
            app = self._app
            try:
                app.call_from_thread(app.exit)
            except RuntimeError:
                pass  # the app is already closing


WebDriver.run_input_thread = _exit_when_input_ends  # type: ignore[method-assign]
