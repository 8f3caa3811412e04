"""User key remapping from ``$XDG_CONFIG_HOME/tui-trainer/keys.toml``.

Every binding has an id; the file maps ids to comma-separated keys::

    [keys]
    next_phase = "n,right"
    continue = "c,g"

A broken file is ignored with a warning on stderr, never a crash.
"""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tui-trainer"


def load_keymap(path: Path | None = None) -> dict[str, str]:
    path = path or config_dir() / "keys.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        print(f"tui-trainer: ignoring {path}: {e}", file=sys.stderr)
        return {}
    keys = data.get("keys", {})
    if not isinstance(keys, dict):
        return {}
    return {str(k): str(v) for k, v in keys.items() if isinstance(v, str)}
