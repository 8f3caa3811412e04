"""The key hints on the bottom line: the keys that matter now, one widget.

Textual's ``Footer`` mounts one widget per key and recomposes them all
whenever the focus changes; with a dozen keys that was a fifth of the
time to the first frame and work on every focus change. This bar draws the
same hints (key in the theme's footer colours, then the description,
disabled keys dimmed) as one line of text, redrawn when the bindings
change. On top of the footer's job it puts the keys that matter in the
current state first (``set_lead``: pause while running), lists more keys
when the terminal is wide (``extras``), and never crops the ``keep`` keys
(help, quit). Mouse clicks are not needed: the app runs with the mouse off.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widget import Widget

from tui_trainer.safe_text import visible

Hint = tuple[str, str, bool, str]  # key as displayed, description, enabled, action


class KeyBar(Widget):
    """The bindings of the screen this bar is on, e.g. `` n next  s layer ... ? help``."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"key-bar--key", "key-bar--description"}
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        text-wrap: nowrap;
        text-overflow: clip;
        color: $footer-foreground;
        background: $footer-background;
        .key-bar--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        .key-bar--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
    }
    """

    def __init__(
        self, *, keep: tuple[str, ...] = (), extras: tuple[str, ...] = (), **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.keep = keep  # actions never dropped for width (help, quit), shown last
        self.extras = extras  # unshown bindings listed too when the terminal is wide
        self.lead: tuple[str, ...] = ()

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Any) -> None:
        if screen is self.screen:
            self.refresh()

    def set_lead(self, actions: tuple[str, ...]) -> None:
        """Actions that matter now (``pause`` while running, ``restart`` after
        divergence), shown first and highlighted, even if their binding is not
        normally on the bar."""
        if actions != self.lead:
            self.lead = actions
            self.refresh()

    def hints(self) -> list[Hint]:
        """What the bar shows when there is room, in order: the lead actions, the
        shown bindings (in the order the app declares them, so a key remapped by a
        user keymap keeps its place), the extras, then the ``keep`` actions."""
        declared = [b.action for b in type(self.app).BINDINGS if isinstance(b, Binding)]
        rank = {action: i for i, action in reversed(list(enumerate(declared)))}
        first: dict[str, Hint] = {}
        shown = []
        for _node, binding, enabled, _tooltip in self.screen.active_bindings.values():
            action = binding.action
            if action in first:
                continue
            key = visible(self.app.get_key_display(binding))  # may come from keys.toml
            hint = (key, visible(binding.description), enabled, action)
            first[action] = hint
            if binding.show and action not in self.lead:
                shown.append((rank.get(action, len(rank)), len(shown), hint))
        ordered = [hint for *_, hint in sorted(shown)]
        taken = {*self.lead, *(h[3] for h in ordered)}
        extra = [first[a] for a in self.extras if a in first and a not in taken]
        return (
            [first[a] for a in self.lead if a in first]
            + [h for h in ordered if h[3] not in self.keep]
            + extra
            + [h for h in ordered if h[3] in self.keep]
        )

    def fitted(self, width: int) -> list[Hint]:
        """The hints that fit in ``width`` cells: extras are dropped first, then
        the shown bindings, last first; the lead and ``keep`` actions stay."""
        hints = self.hints()

        def cells(hs: list[Hint]) -> int:
            lead = any(h[3] in self.lead for h in hs)
            return sum(len(k) + len(d) + 3 for k, d, _, _ in hs) + (2 if lead else 0)

        while cells(hints) > width:
            droppable = [i for i, h in enumerate(hints) if h[3] not in (*self.keep, *self.lead)]
            extras = [i for i in droppable if hints[i][3] in self.extras]
            if not droppable:
                break
            del hints[(extras or droppable)[-1]]
        return hints

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-bar--key")
        desc_style = self.get_component_rich_style("key-bar--description")
        text = Text(no_wrap=True, overflow="crop", end="")
        in_lead = False
        for key, description, enabled, action in self.fitted(self.size.width):
            if in_lead and action not in self.lead:
                text.append("│ ", desc_style)  # the keys that matter now | the usual ones
            in_lead = action in self.lead
            part = Text.assemble((f" {key} ", key_style), (f"{description} ", desc_style))
            if in_lead:
                part.stylize("bold", len(key) + 2)
            if not enabled:
                part.stylize("dim")
            text.append_text(part)
        return text
