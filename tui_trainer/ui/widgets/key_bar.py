"""The key hints on the bottom line: the screen's shown bindings, one widget.

Textual's ``Footer`` mounts one widget per key and recomposes them all
whenever the focus changes; with a dozen keys that was a fifth of the
time to the first frame and work on every focus change. This bar draws the
same hints (key in the theme's footer colours, then the description,
disabled keys dimmed) as one line of text, redrawn when the bindings
change. Mouse clicks are not needed: the app runs with the mouse off.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widget import Widget


class KeyBar(Widget):
    """The shown bindings of the screen this bar is on, e.g. ``n next  s layer``."""

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

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Any) -> None:
        if screen is self.screen:
            self.refresh()

    def hints(self) -> list[tuple[str, str, bool]]:
        """(key as displayed, description, enabled) per shown action.

        In the order the app declares its bindings, so a remapped key (a user
        keymap) keeps its place on the bar."""
        declared = [b.action for b in type(self.app).BINDINGS if isinstance(b, Binding)]
        rank = {action: i for i, action in reversed(list(enumerate(declared)))}
        seen: set[str] = set()
        out = []
        for _node, binding, enabled, _tooltip in self.screen.active_bindings.values():
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            hint = (self.app.get_key_display(binding), binding.description, enabled)
            out.append((rank.get(binding.action, len(rank)), len(out), hint))
        return [hint for *_, hint in sorted(out)]

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-bar--key")
        desc_style = self.get_component_rich_style("key-bar--description")
        text = Text(no_wrap=True, overflow="crop", end="")
        for key, description, enabled in self.hints():
            part = Text.assemble((f" {key} ", key_style), (f"{description} ", desc_style))
            if not enabled:
                part.stylize("dim")
            text.append_text(part)
        return text
