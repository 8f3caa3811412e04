"""Checkpoints: the complete session state in one ``.npz``, written atomically.

Loaded with ``allow_pickle=False``: a checkpoint is data, never code. The
file carries ``kind`` and ``format`` keys and the training configuration, so
loading the wrong file, or a checkpoint of a different model, is a clear
error rather than a crash. Before anything is restored, every member and
every field of the state record is checked against the scenario
(:mod:`tui_trainer.engine.checkpoint_check`): a checkpoint that lies about
its sizes, types or ranges is refused with one message naming the field.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tui_trainer.engine.atomic import atomic_writer
from tui_trainer.engine.checkpoint_check import (
    FORMAT,
    KIND,
    CheckpointError,
    read_any,
    read_valid,
)
from tui_trainer.engine.session import Session, SessionError

__all__ = [
    "FORMAT",
    "KIND",
    "CheckpointError",
    "load_checkpoint",
    "read_checkpoint",
    "save_checkpoint",
]


def save_checkpoint(session: Session, path: str | Path, scenario_text: str = "") -> Path:
    """Save the state at the start of the current step (replaying back if needed)."""
    path = Path(path)
    here = session.position
    arrays = session.step_start_state()
    arrays["kind"] = np.array(KIND)
    arrays["format"] = np.array(FORMAT)
    arrays["resume_position"] = np.array(here, dtype=np.int64)
    arrays["scenario"] = np.array(scenario_text)
    with atomic_writer(path) as f:
        np.savez_compressed(f, **arrays)
    return path


def read_checkpoint(path: str | Path) -> dict[str, np.ndarray]:
    """Read a checkpoint's arrays (sizes bounded, never unpickles), without a session.

    Only ``load_checkpoint`` checks the contents against a scenario.
    """
    return read_any(path)


def load_checkpoint(session: Session, path: str | Path) -> None:
    """Restore ``session`` from ``path``; every field must fit the scenario."""
    arrays = read_valid(session, path)
    pos = int(arrays["resume_position"])
    try:
        session.load_state_arrays(arrays)
        if pos > session.position:
            session.goto(pos)
    except (KeyError, ValueError, TypeError, IndexError, AttributeError, SessionError) as e:
        # Checked above, so this is a bug; still, never leave a half-loaded session.
        session.restart()
        raise CheckpointError(f"{path}: damaged or incompatible checkpoint ({e!r})") from None
