"""Manage breakpoints: add, edit, enable/disable, delete; hit counts shown.

Everything must fit an 80x24 terminal: the instructions wrap inside the box
(never cut off), every form field has a label, and the list's first row is
highlighted on open so space/d/enter act on it without a Down first.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, OptionList, Select
from textual.widgets.option_list import Option

from tui_trainer.engine.breakpoints import PHASES, Breakpoint, BreakpointSet
from tui_trainer.engine.conditions import ConditionError
from tui_trainer.safe_text import plain
from tui_trainer.ui.screens.dialog import Dialog


class BreakpointsScreen(Dialog[None]):
    """space toggles, d deletes, enter edits the selected breakpoint into the form."""

    DEFAULT_CSS = """
    BreakpointsScreen {
        align: center middle;
    }
    BreakpointsScreen #bp-box {
        width: 72;
        height: auto;
        max-height: 90%;
        border: thick $accent;
        background: $surface;
        padding: 0 1;
    }
    BreakpointsScreen .bp-help {
        width: 100%;
        color: $text-muted;
    }
    BreakpointsScreen #bp-list {
        height: auto;
        max-height: 6;
    }
    BreakpointsScreen .bp-form {
        height: 3;
    }
    BreakpointsScreen .bp-form Label {
        height: 3;
        content-align: left middle;
        padding: 0 1 0 0;
    }
    BreakpointsScreen #bp-phase {
        width: 14;
    }
    BreakpointsScreen #bp-mode {
        width: 20;
    }
    BreakpointsScreen #bp-ignore {
        width: 8;
    }
    BreakpointsScreen #bp-input {
        width: 1fr;
    }
    BreakpointsScreen #bp-error {
        height: auto;
    }
    """

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
        with Vertical(id="bp-box") as box:
            box.border_title = "Breakpoints"
            yield Label(
                "List: space enable/disable, d delete, enter edit, Esc close. "
                "Form (tab): a condition, Enter adds it (or saves the edit). "
                "A breakpoint stops when its condition becomes true; "
                "'every time' stops at every check while it holds.",
                classes="bp-help",
            )
            yield OptionList(id="bp-list")
            with Horizontal(classes="bp-form"):
                yield Label("Check at")
                yield Select(
                    [(p, p) for p in PHASES], value="step", allow_blank=False, id="bp-phase"
                )
                yield Label(" Stop")
                yield Select(
                    [("becomes true", "becomes"), ("every time", "every")],
                    value="becomes",
                    allow_blank=False,
                    id="bp-mode",
                )
                yield Label(" Ignore")
                yield Input("0", type="integer", id="bp-ignore")
            with Horizontal(classes="bp-form"):
                yield Label("Condition")
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
            ol.add_option(Option(plain(f"{mark} {bp.source}   [{bp.describe()}]"), id=str(i)))
        if not self.bps.items:
            ol.add_option(Option("(no breakpoints yet)", id="none", disabled=True))
        else:
            ol.highlighted = 0 if keep is None else min(keep, len(self.bps.items) - 1)

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
        self.query_one("#bp-mode", Select).value = bp.mode
        self.query_one("#bp-ignore", Input).value = str(bp.ignore)
        self.query_one("#bp-input", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = self.query_one("#bp-input", Input).value.strip()
        if not text:
            return
        phase = str(self.query_one("#bp-phase", Select).value)
        every = self.query_one("#bp-mode", Select).value == "every"
        ignore_text = self.query_one("#bp-ignore", Input).value.strip() or "0"
        error = self.query_one("#bp-error", Label)
        try:
            ignore = int(ignore_text)
        except ValueError:
            ignore = -1
        if not 0 <= ignore <= 1_000_000_000:
            error.update(
                plain(
                    f"Ignore must be a whole number 0..1000000000, got {ignore_text}", style="red"
                )
            )
            return
        try:
            bp = Breakpoint.from_text(text, phase, ignore=ignore, every=every)
        except ConditionError as e:
            error.update(plain(e.pretty(text), keep_newlines=True, style="red"))
            return
        if self.editing is not None and self.editing < len(self.bps.items):
            bp.hits = self.bps.items[self.editing].hits
            self.bps.items[self.editing] = bp
        else:
            self.bps.items.append(bp)
        self.editing = None
        self.query_one("#bp-input", Input).value = ""
        self.query_one("#bp-ignore", Input).value = "0"
        self.query_one("#bp-error", Label).update("")
        self._fill()

    def action_close(self) -> None:
        self.dismiss(None)
