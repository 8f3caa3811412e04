"""The main panel area, which tells the app when its size changes.

The matrix panel is sized to its content with the loss chart below it when
there is room (see ``TrainerApp._fit_matrix``); that choice depends on this
area's height, which changes without a terminal resize (the scenario's
lesson text in the explain panel shrinks after the first step).
"""

from __future__ import annotations

from textual import events
from textual.containers import Container
from textual.message import Message


class PanelResized(Message):
    """A panel that draws itself at its own size (data, matrix, chart,
    debug) has a new size: the app redraws the panels at their real sizes.

    Without it a panel drawn in the same frame as it was shown (a lesson's
    ``show``, the run stopping) kept the picture it drew at size 0."""


class RedrawOnResize:
    """Mixin for panel widgets: post :class:`PanelResized` when resized."""

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width and event.size.height:
            self.post_message(PanelResized())  # type: ignore[attr-defined]


class MainArea(Container):
    """A plain container that posts ``Resized`` when its size changes."""

    class Resized(Message):
        """The main area has a new size."""

    class PanelClicked(Message):
        """A click landed in one of the panels: it becomes the current one."""

        def __init__(self, panel: str) -> None:
            self.panel = panel
            super().__init__()

    def on_click(self, event: events.Click) -> None:
        node = event.widget
        while node is not None and node.parent is not self:
            node = node.parent
        if node is not None and node.id:
            self.post_message(self.PanelClicked(node.id))

    def on_resize(self, event: events.Resize) -> None:
        self.post_message(self.Resized())
