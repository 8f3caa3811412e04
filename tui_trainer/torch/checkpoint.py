"""Checkpoints of a TorchSession: one ``.npz`` of plain arrays and JSON, written atomically.

No pickle anywhere (``torch.save`` would pickle): model and optimizer tensors
are stored as NumPy arrays, everything else as JSON, and the file is read
with ``allow_pickle=False``. Loading checks the model's parameter shapes, the
pause modules and the training data against the session before anything is
restored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tui_trainer.engine.atomic import atomic_writer
from tui_trainer.engine.session import SessionError
from tui_trainer.torch.session import TorchSession

KIND = "tui-trainer-torch-checkpoint"
FORMAT = 1
MAX_MEMBERS = 100_000


class TorchCheckpointError(SessionError):
    """A torch checkpoint that cannot be loaded into this session."""


def save_torch_checkpoint(session: TorchSession, path: str | Path) -> Path:
    """Save the state at the start of the current step (replaying back if needed)."""
    path = Path(path)
    here = session.position
    arrays = session.step_start_state()
    arrays["kind"] = np.array(KIND)
    arrays["format"] = np.array(FORMAT)
    arrays["resume_position"] = np.array(here, dtype=np.int64)
    with atomic_writer(path) as f:
        np.savez_compressed(f, **arrays)
    return path


def load_torch_checkpoint(session: TorchSession, path: str | Path) -> None:
    """Restore ``session`` from ``path`` and go to the position it was saved at."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            if len(z.files) > MAX_MEMBERS:
                raise TorchCheckpointError(f"{path}: too many members ({len(z.files)})")
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError) as e:
        raise TorchCheckpointError(f"{path}: not a readable checkpoint ({e})") from None
    if str(arrays.get("kind", "")) != KIND or int(arrays.get("format", -1)) != FORMAT:
        raise TorchCheckpointError(f"{path}: not a tui-trainer torch checkpoint (format {FORMAT})")
    try:
        session.load_state_arrays(arrays)
    except SessionError as e:
        session.restart()
        raise TorchCheckpointError(f"{path}: {e}") from None
    pos = int(arrays["resume_position"])
    if pos > session.position:
        session.goto(pos)
