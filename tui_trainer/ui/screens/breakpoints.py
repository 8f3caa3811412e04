"""Manage breakpoints: add, edit, enable/disable, delete; hit counts shown."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label, OptionList, Select
from textual.widgets.option_list import Option

from tui_trainer.engine.breakpoints import PHASES, Breakpoint, BreakpointSet
from tui_trainer.engine.conditions import ConditionError
from tui_trainer.safe_text import plain
from tui_trainer.ui.screens.dialog import Dialog


class BreakpointsScreen(Dialog[None]):
    """space toggles, d deletes, enter edits the selected breakpoint into the form."""

    BINDINGS = [
        Binding("escape", "close", "close", id="bp_close"),
        Binding("space", "toggle", "enable/disable", id="bp_toggle"),
        Binding("d,delete", "delete", "delete", id="bp_delete"),
    ]

    def __init__(self, bps: BreakpointSet) -> None:
        super().__init__()
        self.bps = bps
        self.editing: int | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="open-box"):
            yield Label(
                "Breakpoints: space enable/disable, d delete, enter edit, Esc close. "
                "New or edited: type a condition and press Enter."
            )
            yield OptionList(id="bp-list")
            yield Select([(p, p) for p in PHASES], value="step", allow_blank=False, id="bp-phase")
            yield Input(placeholder="e.g. val_loss rising for 5 epochs", id="bp-input")
            yield Label("", id="bp-error")

    def on_mount(self) -> None:
        self._fill()

    def _fill(self) -> None:
        ol = self.query_one("#bp-list", OptionList)
        keep = ol.highlighted
        ol.clear_options()
        for i, bp in enumerate(self.bps.items):
            mark = "●" if bp.enabled else "○"
            ol.add_option(
                Option(plain(f"{mark} {bp.source}   [{bp.phase}, {bp.hits} hits]"), id=str(i))
            )
        if not self.bps.items:
            ol.add_option(Option("(no breakpoints yet)", id="none", disabled=True))
        elif keep is not None:
            ol.highlighted = min(keep, len(self.bps.items) - 1)

    def _selected(self) -> int | None:
        ol = self.query_one("#bp-list", OptionList)
        if ol.highlighted is None or not self.bps.items:
            return None
        return ol.highlighted if ol.highlighted < len(self.bps.items) else None

    def action_toggle(self) -> None:
        i = self._selected()
        if i is not None:
            self.bps.items[i].enabled = not self.bps.items[i].enabled
            self._fill()

    def action_delete(self) -> None:
        i = self._selected()
        if i is not None:
            del self.bps.items[i]
            self._fill()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        i = self._selected()
        if i is None:
            return
        bp = self.bps.items[i]
        self.editing = i
        self.query_one("#bp-input", Input).value = bp.source
        self.query_one("#bp-phase", Select).value = bp.phase
        self.query_one("#bp-input", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        phase = str(self.query_one("#bp-phase", Select).value)
        try:
            bp = Breakpoint.from_text(text, phase)
        except ConditionError as e:
            self.query_one("#bp-error", Label).update(f"[red]{_escape(e.pretty(text))}[/red]")
            return
        if self.editing is not None and self.editing < len(self.bps.items):
            bp.hits = self.bps.items[self.editing].hits
            self.bps.items[self.editing] = bp
        else:
            self.bps.items.append(bp)
        self.editing = None
        event.input.value = ""
        self.query_one("#bp-error", Label).update("")
        self._fill()

    def action_close(self) -> None:
        self.dismiss(None)


def _escape(text: str) -> str:
    return text.replace("[", "\\[")
