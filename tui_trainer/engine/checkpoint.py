"""Checkpoints: the complete session state in one ``.npz``, written atomically.

Loaded with ``allow_pickle=False``: a checkpoint is data, never code. The
file carries ``kind`` and ``format`` keys and the training configuration, so
loading the wrong file, or a checkpoint of a different model, is a clear
error rather than a crash.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from tui_trainer.engine.atomic import atomic_writer
from tui_trainer.engine.session import Session, SessionError, config_to_dict

KIND = "tui-trainer-checkpoint"
FORMAT = 1


class CheckpointError(Exception):
    """The file is not a usable checkpoint for this session."""


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
    """Read and sanity-check a checkpoint file; never unpickles."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: is a directory, not a checkpoint") from None
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, KeyError) as e:
        raise CheckpointError(f"{path}: not a readable .npz checkpoint ({e})") from None
    if "kind" not in arrays or arrays["kind"].shape != () or str(arrays["kind"]) != KIND:
        raise CheckpointError(f"{path}: not a tui-trainer checkpoint (no 'kind' = {KIND!r})")
    fmt = arrays.get("format")
    try:
        ok = fmt is not None and fmt.shape == () and int(fmt) == FORMAT
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise CheckpointError(
            f"{path}: checkpoint format {fmt} is not supported (expected {FORMAT})"
        )
    return arrays


def load_checkpoint(session: Session, path: str | Path) -> None:
    """Restore ``session`` from ``path``; the model must match."""
    arrays = read_checkpoint(path)
    try:
        meta = json.loads(str(arrays["state"]))
        if not isinstance(meta, dict):
            raise ValueError("state is not a JSON object")
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"{path}: damaged state record ({e})") from None
    saved = meta.get("config", {})
    if not isinstance(saved, dict):
        saved = {}
    mine = config_to_dict(session.cfg)
    if saved.get("layers") != mine["layers"] or saved.get("loss") != mine["loss"]:
        raise CheckpointError(
            f"{path}: checkpoint is for a different model "
            f"({saved.get('layers')}, {saved.get('loss')}) than this scenario"
        )
    if meta.get("data") not in (None, session.data_fingerprint()):
        raise CheckpointError(
            f"{path}: checkpoint was made with different data (the data's seed, noise, "
            "sample count or file changed); it cannot continue this run"
        )
    try:
        session.load_state_arrays(arrays)
        pos = int(arrays.get("resume_position", session.position))
        if pos > session.position:
            session.goto(pos)
    except (KeyError, ValueError, TypeError, IndexError, AttributeError, SessionError) as e:
        # A damaged file must never leave a half-loaded session behind.
        session.restart()
        raise CheckpointError(f"{path}: damaged or incompatible checkpoint ({e!r})") from None
