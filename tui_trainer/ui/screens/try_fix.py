"""Try a fix the diagnosis suggests: the run as it is against the run with the fix.

Every finding carries one or two concrete fixes (``lr = 0.03``, ``init =
"he"``; see :mod:`tui_trainer.engine.diagnostics.finding`). ``y`` lists them
(:class:`FixPicker`); the chosen one runs in :class:`TryFixScreen`, the what-if
dialog with the change filled in:

* a fix of hyperparameters a running session can take (``lr``, ``l2``,
  ``optimizer`` ...) forks the run *here*, exactly like ``x`` (what if);
* a fix that changes the start (the network, the initialization, the data)
  builds the fixed scenario, trains it *from the start* to the same epoch as
  the run as it is plus the epochs asked for, and sets the two whole runs side
  by side at the same epoch.

``1`` keeps the run as it is, ``2`` keeps the fixed run (for a fix of the
start the app's scenario becomes the fixed one, so ``w`` writes it), Esc keeps
neither.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from tui_trainer.engine.diagnostics import Finding, Fix, fix_label, hyper_change
from tui_trainer.engine.session import Session, fork_session
from tui_trainer.safe_text import plain
from tui_trainer.ui.screens.dialog import Dialog
from tui_trainer.ui.screens.sanity import post
from tui_trainer.ui.screens.whatif import MAX_EPOCHS_AHEAD, Future, WhatIfScreen, capture


@dataclass(frozen=True)
class FixChoice:
    """One fix of one finding, and how it can be tried here."""

    finding: Finding
    fix: Fix
    hyper: dict[str, Any] | None  # set_hyper arguments when it can be tried from here
    problem: str = ""  # why it cannot be tried ("" when it can)

    @property
    def label(self) -> str:
        return fix_label(self.fix)

    @property
    def where(self) -> str:
        return "from here" if self.hyper is not None else "from the start"


def fix_choices(findings: list[Finding], can_restart: bool) -> list[FixChoice]:
    """Every fix of every finding, most severe finding first (the diagnosis's order)."""
    out: list[FixChoice] = []
    for f in findings:
        for fix in f.fixes:
            hyper = hyper_change(fix)
            problem = ""
            if hyper is None and not can_restart:
                problem = "changes the start: open the run from a scenario file to try it"
            out.append(FixChoice(f, dict(fix), hyper, problem))
    return out


class FixPicker(Dialog[FixChoice | None]):
    """The findings' fixes, numbered: a number or enter tries one, Esc closes."""

    DEFAULT_CSS = """
    FixPicker { align: center middle; }
    #fixpick-box { width: 76; max-width: 100%; height: auto; max-height: 100%;
                   border: round $accent; padding: 0 1; background: $surface; }
    #fixpick-list { height: auto; max-height: 14; }
    .fixpick-note { color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "close", "close", id="fixpick_close")]

    def __init__(self, choices: list[FixChoice]) -> None:
        super().__init__()
        self.choices = choices

    def compose(self) -> ComposeResult:
        options = []
        for i, c in enumerate(self.choices, 1):
            layer = f" (layer {c.finding.layer + 1})" if c.finding.layer is not None else ""
            line = f"{i}. {c.finding.code}{layer}: {c.label}  [{c.where}]"
            if c.problem:
                line += f" - {c.problem}"
            options.append(Option(plain(line), id=str(i - 1), disabled=bool(c.problem)))
        with Vertical(id="fixpick-box"):
            yield OptionList(*options, id="fixpick-list")
            yield Label(
                "A number or enter runs the fix beside the run as it is; Esc closes.",
                classes="fixpick-note",
            )

    def on_mount(self) -> None:
        self.query_one("#fixpick-box").border_title = "Try a fix the diagnosis suggests"
        self.query_one(OptionList).focus()

    def on_key(self, event: Any) -> None:
        if event.character and event.character.isdigit():
            i = int(event.character) - 1
            if 0 <= i < len(self.choices) and not self.choices[i].problem:
                event.stop()
                self.dismiss(self.choices[i])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        choice = self.choices[int(event.option.id or 0)]
        if not choice.problem:
            self.dismiss(choice)

    def action_close(self) -> None:
        self.dismiss(None)


class TryFixScreen(WhatIfScreen):
    """The what-if dialog with the fix filled in, started at once.

    ``fresh`` builds the fixed run from the start (a fix of the network, the
    initialization or the data); without it the fix is a hyperparameter change
    tried from the current step.
    """

    def __init__(
        self,
        session: Session,
        lock: Any,
        choice: FixChoice,
        fresh: Callable[[], Session] | None = None,
        epochs: int = 5,
    ) -> None:
        super().__init__(session, lock, epochs)
        self.choice = choice
        self.fresh = fresh

    # The what-if dialog's own handlers of these events must not run after
    # these (Textual calls every class's handler unless the default is prevented).
    def on_mount(self, event: events.Mount) -> None:
        event.prevent_default()
        c = self.choice
        self.query_one(
            "#whatif-box"
        ).border_title = f"Try a fix for {c.finding.code}: {c.label} ({c.where}, {self.where})"
        change = self.query_one("#whatif-change", Input)
        change.value = c.label
        change.disabled = True
        self.query_one("#whatif-help", Label).update(
            "Enter run again   1 keep as is   2 keep the fix   Esc keep neither"
        )
        self.query_one("#whatif-epochs", Input).focus()
        self.call_after_refresh(self._submit)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        event.prevent_default()
        self._submit()

    def _submit(self) -> None:
        raw = self.query_one("#whatif-epochs", Input).value.strip()
        try:
            ahead = int(raw)
            if not 1 <= ahead <= MAX_EPOCHS_AHEAD:
                raise ValueError
        except ValueError:
            self._error(f"epochs ahead must be a whole number from 1 to {MAX_EPOCHS_AHEAD}")
            return
        with self.lock:
            s = self.session
            if self.fresh is None and s.nonfinite is not None:
                self._error("The run has diverged here: step back (F) to try this fix from there.")
                return
            left = s.epochs - s.epoch
        if left <= 0:
            self._error(f"Training has finished ({s.epochs} epochs): raise the epochs (h) first.")
            return
        self._error("")
        self.start(self.choice.hyper or {}, min(ahead, left), ahead > left)
        self.query_one("#whatif-status", Label).update(
            Text(f"Running the run as it is and the fix ({self.choice.label}) ...")
        )

    def on_what_if_screen_done(self, msg: WhatIfScreen.Done) -> None:
        msg.prevent_default()
        super().on_what_if_screen_done(msg)
        if msg.token == self._token:
            self.query_one("#whatif-status", Label).update(
                Text(
                    f"Done: as is vs the fix ({self.choice.label}). Keep one with 1 or 2; "
                    "Esc leaves your session where it was."
                )
            )

    def _work(self, token: int, stop: threading.Event, change: dict[str, Any], ahead: int) -> None:
        if self.fresh is None:
            super()._work(token, stop, change, ahead)
            return
        worker = get_current_worker()

        def cancelled() -> bool:
            return stop.is_set() or worker.is_cancelled

        try:
            with self.lock:
                original = fork_session(self.session)
            alt = self.fresh()
        except Exception as e:  # noqa: BLE001 - shown in the dialog
            post(
                self, self.Failed(token, f"could not build the fixed run: {type(e).__name__}: {e}")
            )
            return
        runs = [(original, "as is"), (alt, self.choice.label)]
        target = original.epoch + ahead

        def snap() -> list[Future]:  # whole runs from step 0: the fix changed the start
            return [capture(s, label, 0, 0) for s, label in runs]

        self._run_both(token, runs, 1, target, snap, cancelled)
