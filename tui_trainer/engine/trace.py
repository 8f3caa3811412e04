"""Record the first steps of a run in full, streamed into an ``.npz`` file.

Holding every step's weights and gradients in memory until the end grew
without bound (``trace --steps 100000`` on a [512, 512] network died with
"OpenBLAS: malloc failed"). Each array is now written into the zip archive
as soon as it is recorded, so memory stays at one step's worth; the size on
disk is estimated first and a trace that cannot fit is refused.

The archive is the same as ``np.savez_compressed`` writes (one ``NAME.npy``
member per array, deflated), so ``np.load`` reads it unchanged.
"""

from __future__ import annotations

import json
import zipfile
from typing import IO, Any

import numpy as np

from tui_trainer.engine.memory import trace_bytes
from tui_trainer.engine.session import Session
from tui_trainer.engine.stepper import Phase

TRACE_FORMAT = 1
TRACE_KEYS = (
    "k/x k/y k/out k/loss k/W{i} k/b{i} k/dW{i} k/db{i}; N/W{i} N/b{i}; "
    "with dropout k/mask{i} (0 or 1/(1-p) per sample and unit of a hidden layer's output); "
    "with an lr schedule k/lr (the lr of step k)"
)


class NpzStream:
    """Write arrays one at a time into an npz archive on an open binary file."""

    def __init__(self, f: IO[bytes]) -> None:
        self._zip = zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)

    def add(self, name: str, array: np.ndarray) -> None:
        with self._zip.open(name + ".npy", mode="w", force_zip64=True) as member:
            np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)

    def close(self) -> None:
        self._zip.close()


def estimate_trace_bytes(s: Session, steps: int) -> int:
    """Uncompressed bytes of a trace of ``steps`` steps of ``s``."""
    layers = s.net.layers
    shapes = [(int(ly.W.shape[0]), int(ly.W.shape[1])) for ly in layers]
    batch = s.n_train if s.batch_size <= 0 else min(s.batch_size, s.n_train)
    y = s.data.y_train
    target_width = int(y.shape[1]) if y.ndim == 2 else 1
    masks = sum(batch * w for (_, w), sp in zip(shapes, s.cfg.layers, strict=True) if sp.dropout)
    extra = steps * (masks * s.dtype.itemsize + 8)  # dropout masks and the lr
    return trace_bytes(shapes, batch, shapes[0][0], target_width, shapes[-1][1], steps) + extra


def record_trace(s: Session, steps: int, out: NpzStream, meta: dict[str, Any]) -> int:
    """Run up to ``steps`` steps of ``s``, writing each into ``out``; steps recorded.

    Stops early when training ends or becomes non-finite. ``meta`` is written
    last, as JSON, with ``steps`` set to the number recorded.
    """
    recorded = 0
    ev = None
    for k in range(steps):
        while True:
            ev = s.advance("layer")
            if ev is None or ev.nonfinite:
                break
            if ev.phase is Phase.LOSS:
                r = s.rec
                out.add(f"{k}/x", np.asarray(r.x))
                out.add(f"{k}/y", np.asarray(r.labels if r.labels is not None else r.y))
                out.add(f"{k}/out", np.asarray(r.out))
                out.add(f"{k}/loss", np.asarray(r.loss))
                for i, ly in enumerate(s.net.layers):
                    out.add(f"{k}/W{i}", ly.W)
                    out.add(f"{k}/b{i}", ly.b)
                    if ly.mask is not None:  # so another framework can drop the same units
                        out.add(f"{k}/mask{i}", ly.mask)
                if s.schedule.active:
                    out.add(f"{k}/lr", np.asarray(s.current_lr))
            if ev.phase is Phase.BACKWARD and ev.layer == 0:
                for i, ly in enumerate(s.net.layers):
                    out.add(f"{k}/dW{i}", ly.dW)
                    out.add(f"{k}/db{i}", ly.db)
            if ev.phase is Phase.UPDATE:
                break
        if ev is None or ev.nonfinite:
            break
        recorded += 1
    for i, ly in enumerate(s.net.layers):
        out.add(f"{recorded}/W{i}", ly.W)
        out.add(f"{recorded}/b{i}", ly.b)
    out.add("meta", np.array(json.dumps({**meta, "steps": recorded})))
    return recorded
