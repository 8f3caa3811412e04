"""Line numbers for dotted field paths: a lenient scan of the (already valid) TOML text.

``tomllib`` reports no positions, so :class:`_Locator` finds where each
field (``training.lr``, ``model.layers[1].units``) was written, and
``_lookup_line`` falls back to the nearest enclosing table for a field the
file does not spell out.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _parent(path: str) -> str:
    cut = max(path.rfind("."), path.rfind("["))
    return path[:cut] if cut > 0 else ""


def _lookup_line(lines: Mapping[str, int], path: str) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        path = _parent(path)
    return None


class _Locator:
    """Maps dotted field paths to the 1-based line where each was written.

    ``tomllib`` reports no positions, so this scans the raw text: table
    headers (``[a.b]``, ``[[a]]`` counted as ``a[0]``, ``a[1]``...), ``key =``
    lines (dotted keys too), array items (``key[2]``) and inline-table keys.
    It runs only on text ``tomllib`` accepted and gives up quietly (keeping
    what it found) on anything it does not understand.
    """

    def __init__(self, text: str) -> None:
        self.s = text
        self.n = len(text)
        self.i = 0
        self.line = 1
        self.lines: dict[str, int] = {}
        self._arrays: dict[str, int] = {}
        try:
            self._document()
        except Exception:  # noqa: BLE001 - best effort, see the docstring
            pass

    def _record(self, path: str, line: int) -> None:
        self.lines.setdefault(path, line)

    def _skip_blank(self) -> None:
        s, n = self.s, self.n
        while self.i < n and s[self.i] in " \t":
            self.i += 1

    def _skip_space(self) -> None:
        """Skip whitespace, newlines and comments."""
        s, n = self.s, self.n
        while self.i < n:
            c = s[self.i]
            if c in " \t\r":
                self.i += 1
            elif c == "\n":
                self.i += 1
                self.line += 1
            elif c == "#":
                end = s.find("\n", self.i)
                self.i = n if end < 0 else end
            else:
                return

    def _string(self) -> str:
        """Consume a string at ``i`` and return its raw text (quotes included)."""
        s, start = self.s, self.i
        triple = s[start : start + 3]
        if triple in ('"""', "'''"):
            j = start + 3
            while True:
                k = s.find(triple, j)
                if k < 0:
                    raise ValueError("unterminated string")
                if triple == '"""':
                    slashes = 0
                    while s[k - 1 - slashes] == "\\":
                        slashes += 1
                    if slashes % 2:
                        j = k + 1
                        continue
                break
            end = k + 3
            while end < self.n and s[end] == triple[0] and end - k < 5:
                end += 1
        elif s[start] == '"':
            j = start + 1
            while s[j] != '"':
                j += 2 if s[j] == "\\" else 1
            end = j + 1
        else:
            end = s.index("'", start + 1) + 1
        raw = s[start:end]
        self.line += raw.count("\n")
        self.i = end
        return raw

    def _key(self) -> list[str]:
        parts: list[str] = []
        while True:
            self._skip_blank()
            c = self.s[self.i]
            if c in "\"'":
                raw = self._string()
                parts.append(str(tomllib.loads(f"k = {raw}")["k"]))
            else:
                m = _BARE_KEY.match(self.s, self.i)
                if not m:
                    raise ValueError("bad key")
                parts.append(m.group())
                self.i = m.end()
            self._skip_blank()
            if self.i < self.n and self.s[self.i] == ".":
                self.i += 1
                continue
            return parts

    def _key_path(self, prefix: str, parts: list[str], line: int) -> str:
        path = prefix
        for part in parts:
            path = _join(path, part)
            self._record(path, line)
        return path

    def _header(self, parts: list[str], array: bool, line: int) -> str:
        path = ""
        for idx, part in enumerate(parts):
            path = _join(path, part)
            self._record(path, line)
            if array and idx == len(parts) - 1:
                count = self._arrays.get(path, -1) + 1
                self._arrays[path] = count
                self._record(path, line)
                path = f"{path}[{count}]"
            elif path in self._arrays:
                path = f"{path}[{self._arrays[path]}]"
        self._record(path, line)
        return path

    def _document(self) -> None:
        table = ""
        while True:
            self._skip_space()
            if self.i >= self.n:
                return
            line = self.line
            if self.s[self.i] == "[":
                array = self.s.startswith("[[", self.i)
                self.i += 2 if array else 1
                parts = self._key()
                self.i += 2 if array else 1
                table = self._header(parts, array, line)
            else:
                path = self._key_path(table, self._key(), line)
                self._assignment(path)

    def _assignment(self, path: str) -> None:
        self._skip_blank()
        if self.s[self.i] != "=":
            raise ValueError("expected '='")
        self.i += 1
        self._skip_blank()
        self._value(path)

    def _value(self, path: str) -> None:
        s = self.s
        c = s[self.i]
        if c in "\"'":
            self._string()
        elif c == "[":
            self.i += 1
            k = 0
            while True:
                self._skip_space()
                if s[self.i] == "]":
                    self.i += 1
                    return
                item = f"{path}[{k}]"
                self._record(item, self.line)
                self._value(item)
                self._skip_space()
                if s[self.i] == ",":
                    self.i += 1
                k += 1
        elif c == "{":
            self.i += 1
            while True:
                self._skip_space()
                if s[self.i] == "}":
                    self.i += 1
                    return
                line = self.line
                key_path = self._key_path(path, self._key(), line)
                self._assignment(key_path)
                self._skip_space()
                if s[self.i] == ",":
                    self.i += 1
        else:
            j = self.i
            while j < self.n and s[j] not in ",]}\n\r#":
                j += 1
            if j == self.i:
                raise ValueError("empty value")
            self.i = j
