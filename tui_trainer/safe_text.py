"""Text from files, made safe to show on a terminal.

A scenario's ``name``, a CSV header, a keys.toml binding or a path can hold
anything, including escape sequences that retitle the window, clear the
screen or write the clipboard (OSC 52), bidi overrides that reorder what is
shown, and Rich/Textual markup (``[link=...]``). Such text is shown through
these helpers at the place it is rendered, never sent raw.

The convention for what is made visible (Python's own escapes, so a reader
of tracebacks and ``repr`` knows them): ``\\t``, ``\\n``, ``\\r`` for tab,
newline and carriage return, ``\\x1b`` (two hex digits) for every other C0
control, DEL and the C1 controls U+0080-U+009F, and ``\\u202e`` (four hex
digits) for the bidi controls U+061C, U+200E, U+200F, U+202A-U+202E and
U+2066-U+2069. A backslash is left as it is: the display form is for
reading, and is made only of printable characters, so applying
:func:`visible` twice gives the same text (layers may each apply it).

Raw values are kept everywhere else (the name is written back to a saved
scenario, a class label must match the file): the text is changed only on
its way to the screen.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rich is imported when used: ``visible`` alone stays cheap to import
    from rich.text import Text

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_KEEP_NL = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def _show(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: object, *, keep_newlines: bool = False) -> str:
    """``text`` with every control character (and bidi control) written out
    as an escape, e.g. ESC as ``\\x1b``; ``keep_newlines`` keeps ``\\n`` as a
    line break for multi-line text (descriptions, messages of several lines)."""
    s = text if isinstance(text, str) else str(text)
    return (_UNSAFE_KEEP_NL if keep_newlines else _UNSAFE).sub(_show, s)


def markup_safe(text: object, *, keep_newlines: bool = False) -> str:
    """:func:`visible` text escaped for Rich console markup (``Console.print``,
    a ``Progress`` column), so ``[link=...]`` is shown, not applied.

    Only for Rich's markup: Textual's markup reads more tags (``[$accent]``,
    ``[B]``) and backslashes differently, so Textual widgets get :func:`plain`.
    """
    from rich.markup import escape

    return escape(visible(text, keep_newlines=keep_newlines))


def plain(text: object, *, keep_newlines: bool = False, **kw: object) -> Text:
    """:func:`visible` text as a Rich ``Text``: a Textual widget shows it as
    it is, without parsing markup (``kw`` goes to ``Text``: style, no_wrap...)."""
    from rich.text import Text

    return Text(visible(text, keep_newlines=keep_newlines), **kw)  # type: ignore[arg-type]
