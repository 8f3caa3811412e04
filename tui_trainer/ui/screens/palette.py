"""Textual's command palette, minus the crashes of fast typing.

Textual 8.2.8's palette takes the whole app down when keys arrive in a burst
(as they do over a laggy SSH link): closing it while its search worker runs
raises ``NoMatches 'CommandList'`` in that worker, and two selections queued
behind each other (Enter on the list, then on the input) dismiss it twice,
the second time popping the screen under it: a dialog, or the debugger itself
("Can't pop screen"). Here a search that outlives its palette ends quietly,
and only the palette on top can be dismissed. (Its page keys are fixed for every list in
``tui_trainer/ui/textual_fixes.py``, and the dialogs under it cannot close in
its place: ``tui_trainer/ui/screens/dialog.py``.) Everything else is
Textual's palette unchanged.
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.command import CommandPalette
from textual.css.query import NoMatches

from tui_trainer.ui.screens.dialog import on_top


class SafeCommandPalette(CommandPalette):
    def dismiss(self, result: Any = None) -> Any:  # type: ignore[override]
        if not on_top(self):
            return None  # a second queued selection: this palette is already gone
        return super().dismiss(result)

    @work(exclusive=True, group=CommandPalette._GATHER_COMMANDS_GROUP)
    async def _gather_commands(self, search_value: str) -> None:
        try:
            await CommandPalette._gather_commands.__wrapped__(self, search_value)  # type: ignore[attr-defined]
        except NoMatches:
            pass  # the palette was closed while it searched
