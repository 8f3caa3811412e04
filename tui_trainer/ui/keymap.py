"""User key remapping from ``$XDG_CONFIG_HOME/tui-trainer/keys.toml``.

Every binding has an id; the file maps ids to comma-separated keys::

    [keys]
    next_phase = "n,right"
    continue = "c,g"

A broken file, or a broken binding in it, is left out with a message (shown
by the app when it starts), never a crash: the app keeps its own keys there.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from tui_trainer.safe_text import visible

ALLOWED = 'key names separated by commas, e.g. "n,right" or "ctrl+s"'


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tui-trainer"


def _bad_keys(value: str) -> str | None:
    """Why ``value`` cannot be a list of keys, or None. A key is drawn on the key
    bar, so a control character (an escape sequence) or bidi control in it is
    refused, not only escaped."""
    keys = [k.strip() for k in value.split(",")]
    if not value.strip() or not all(keys):
        return "has an empty key"
    for key in keys:
        if not key.isprintable() or any(ch.isspace() for ch in key):
            return f"key '{visible(key)}' has a control or space character"
    return None


def load_keymap(path: Path | None = None) -> tuple[dict[str, str], list[str]]:
    """The bindings of the user's keys.toml, and a message for each thing left
    out (the file's path, the binding, what was wrong and what is allowed)."""
    path = path or config_dir() / "keys.toml"
    where = visible(path)
    try:
        if not path.is_file():
            return {}, []
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        return {}, [f"{where}: ignored: nested too deeply (allowed: a [keys] table of strings)"]
    except tomllib.TOMLDecodeError as e:
        return {}, [f"{where}: ignored: invalid TOML: {visible(e)}"]
    except UnicodeDecodeError:
        return {}, [f"{where}: ignored: not a UTF-8 text file"]
    except (OSError, ValueError) as e:
        return {}, [f"{where}: ignored: {visible(getattr(e, 'strerror', None) or e)}"]
    keys = data.get("keys", {})
    if not isinstance(keys, dict):
        return {}, [f"{where}: ignored: keys must be a table, e.g. [keys] (allowed: {ALLOWED})"]
    out: dict[str, str] = {}
    problems = []
    for name, value in keys.items():
        field = f"{where}: keys.{visible(name)}"
        if not isinstance(value, str):
            problems.append(f"{field}: ignored: not a string (allowed: {ALLOWED})")
        elif (why := _bad_keys(value)) is not None:
            problems.append(f"{field}: ignored: {why} (allowed: {ALLOWED})")
        else:
            out[str(name)] = value
    return out, problems
