"""The lesson panel and the driver that moves a lesson along.

The panel shows the current step (its narration with live values, the
question and, once answered, why; what to do), its number out of the total
and the keys to go on or back. The driver applies a step's ``set`` and
``show`` when the step begins, asks its question in a dialog, and moves on
when its ``until`` condition becomes true: checked after every key, and by
the training worker after every step of a run (which then stops there, so a
lesson's ``epoch >= 20`` stops the run at epoch 20).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.widgets import Static

from tui_trainer.engine.context import SessionContext
from tui_trainer.lessons import (
    HYPER_KEYS,
    REBUILD_KEYS,
    Lesson,
    LessonContext,
    Until,
    describe_rebuild,
    fill,
    rebuild,
)
from tui_trainer.safe_text import visible


class LessonPanel(Static):
    """The current step of the lesson (all text from the file shown as plain text)."""

    def show(self, lesson: Lesson, ctx: Any, feedback: str, note: str = "") -> None:
        n = len(lesson.steps)
        head = f"Lesson {lesson.number}: " if lesson.number else "Lesson: "
        if lesson.done:
            self.border_title = Text(visible(f"{head}{lesson.title}  done"))
            self.update(
                Text(
                    "Lesson complete. Well done! Keep exploring with any key, "
                    "[ goes back a step, q quits."
                )
            )
            return
        step = lesson.step
        self.border_title = Text(visible(f"{head}{lesson.title}  step {lesson.index + 1}/{n}"))
        out = Text()
        if step.say:
            out.append(visible(fill(step.say, ctx), keep_newlines=True))
        if step.ask:
            if out:
                out.append("\n")
            out.append("Q: " + visible(fill(step.ask, ctx), keep_newlines=True), style="bold")
            if lesson.index in lesson.answers:
                out.append("\n" + feedback, style="bold green" if "right" in feedback else "bold")
                out.append("\n" + visible(fill(step.why, ctx), keep_newlines=True))
            else:
                out.append("\n(press ] to answer)", style="dim")
        if step.do:
            out.append("\n> " + visible(step.do, keep_newlines=True), style="bold cyan")
        if note:
            out.append("\n" + visible(note), style="bold yellow")
        keys = "] next  [ back" if lesson.index else "] next"
        if step.until and lesson.index not in lesson.fired:
            keys += "  (moves on by itself once you have done it)"
        out.append("\n" + keys, style="dim")
        self.update(out)


class LessonDriver:
    """Moves ``lesson`` along inside the app ``app`` (a TrainerApp)."""

    def __init__(
        self, app: Any, lesson: Lesson, on_complete: Callable[[Lesson], None] | None = None
    ) -> None:
        self.app = app
        self.lesson = lesson
        self.on_complete = on_complete
        self.until: Until | None = None
        self.fired = False  # the until condition fired (maybe in the training worker)
        self.feedback = ""
        self.note = ""  # what the step's set did to the session (a rebuild)
        self.before: Any = None  # the session before the last rebuild (its before_ names)
        self.asking = False

    def ctx(self, session: Any = None) -> LessonContext:
        before = SessionContext(self.before) if self.before is not None else None
        return LessonContext(SessionContext(session or self.app.session), before)

    # -- moving -----------------------------------------------------------
    def enter(self, index: int) -> None:
        """Begin step ``index``: its set, its panel, its until armed, its question."""
        lesson = self.lesson
        lesson.index = index
        self.fired = False
        self.until = None
        self.feedback = ""
        self.note = ""
        if lesson.done:
            self.redraw()
            if self.on_complete is not None:
                self.on_complete(lesson)
            return
        step = lesson.step
        app = self.app
        if any(k in step.set for k in REBUILD_KEYS):
            self._rebuild(step.set)
        with app.lock:
            hyper = {k: v for k, v in step.set.items() if k in HYPER_KEYS}
            if hyper:
                app.session.set_hyper(**hyper)
            if step.until:
                self.until = Until(step.until)
                self.until.arm(self.ctx())
        if step.show:
            app.panel = step.show
        if step.set:
            app.refresh_all()
        self.redraw()
        if self.lesson.waiting_answer():
            app.call_after_refresh(self.ask)

    def _rebuild(self, changes: Any) -> None:
        """A new network (hidden sizes, loss, activation) from epoch 0, said in the panel."""
        with self.app.lock:
            try:
                session = rebuild(self.app.session, changes)
            except ValueError as e:  # a loss that does not fit this data
                self.note = f"The lesson could not change the network: {e}"
                return
        self.before = self.app.session
        self.app.replace_session(session)
        self.note = describe_rebuild(session, changes)

    def next(self) -> None:
        if self.lesson.done:
            return
        coming = self.lesson.index + 1
        if self.app.running and coming < len(self.lesson.steps):
            if any(k in self.lesson.steps[coming].set for k in REBUILD_KEYS):
                self.app.action_pause()  # a new network: not under a running worker
                return
        if self.lesson.waiting_answer():
            self.ask()
            return
        self.enter(self.lesson.index + 1)

    def back(self) -> None:
        if self.lesson.index > 0:
            self.enter(self.lesson.index - 1)

    def ask(self) -> None:
        from tui_trainer.ui.screens.ask import AskScreen

        lesson = self.lesson
        if self.asking or not lesson.waiting_answer():
            return
        self.asking = True
        index = lesson.index

        def done(choice: str | None) -> None:
            self.asking = False
            if choice is None or lesson.index != index:
                return
            right = lesson.answer(choice)
            self.feedback = (
                f"You said: {visible(choice)}. That's right."
                if right
                else f"You said: {visible(choice)}. Not quite: it is {visible(lesson.step.answer)}."
            )
            self.redraw()
            if self.fired:
                self.next()

        self.app.push_screen(
            AskScreen(fill(lesson.step.ask, self.ctx()), lesson.step.choices), done
        )

    # -- until --------------------------------------------------------------
    def check_in_run(self, session: Any) -> bool:
        """Called by the training worker after every step (under the app's lock):
        True stops the run here because the lesson moves on."""
        if self.until is None or self.fired:
            return False
        if self.until.check(self.ctx(session)):
            self.fired = True
            self.lesson.fired.add(self.lesson.index)
            return True
        return False

    def poll(self) -> None:
        """After every key and redraw while paused: move on if until became true."""
        if self.app.running or self.lesson.done:
            return
        if not self.fired and self.until is not None:
            with self.app.lock:
                self.fired = self.until.check(self.ctx())
            if self.fired:
                self.lesson.fired.add(self.lesson.index)
        if self.fired and not self.lesson.waiting_answer():
            self.enter(self.lesson.index + 1)
        else:
            self.redraw()

    def redraw(self) -> None:
        with self.app.lock:
            self.app.query_one(LessonPanel).show(self.lesson, self.ctx(), self.feedback, self.note)
