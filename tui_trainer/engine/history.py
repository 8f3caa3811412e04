"""Metric history: one row per step and one per epoch, in growable arrays.

Rows are plain float64 arrays (no Python objects) so recording a step costs
a row write, truncating on step-back is setting a length, and a checkpoint
saves them as they are.
"""

from __future__ import annotations

import numpy as np

STEP_SCALARS = ("loss", "accuracy", "lr", "epoch")
LAYER_METRICS = ("grad_norm", "weight_norm", "update_ratio", "dead_fraction")
EPOCH_SCALARS = ("loss", "val_loss", "accuracy", "val_accuracy", "step")
EPOCH_LAYER_METRICS = ("dead_fraction",)


class Table:
    """A growable 2-D float array with named columns."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = columns
        self.index = {c: i for i, c in enumerate(columns)}
        self.data = np.full((64, len(columns)), np.nan)
        self.n = 0

    def new_row(self) -> np.ndarray:
        if self.n == self.data.shape[0]:
            grown = np.full((self.data.shape[0] * 2, len(self.columns)), np.nan)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        # No reset: rows start as NaN and every column is either written at
        # every append or never (e.g. dead_fraction of a tanh layer), so a
        # row reused after a rewind holds no stale value.
        row = self.data[self.n]
        self.n += 1
        return row

    def column(self, name: str) -> np.ndarray:
        """A read-only view of one column (valid until the next append)."""
        v = self.data[: self.n, self.index[name]]
        v.flags.writeable = False
        return v

    def last(self, name: str, default: float = float("nan")) -> float:
        return float(self.data[self.n - 1, self.index[name]]) if self.n else default

    def truncate(self, n: int) -> None:
        self.n = min(self.n, n)

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)

    def rows(self) -> np.ndarray:
        return self.data[: self.n].copy()

    def load(self, rows: np.ndarray) -> None:
        cap = max(64, 1 << int(np.ceil(np.log2(max(1, rows.shape[0] + 1)))))
        self.data = np.full((cap, len(self.columns)), np.nan)
        self.data[: rows.shape[0]] = rows
        self.n = rows.shape[0]


def layer_columns(metrics: tuple[str, ...], n_layers: int) -> list[str]:
    return [f"{m}[{i}]" for m in metrics for i in range(n_layers)]


class History:
    """Per-step and per-epoch metrics of one session."""

    def __init__(self, n_layers: int) -> None:
        self.n_layers = n_layers
        self.steps = Table(list(STEP_SCALARS) + layer_columns(LAYER_METRICS, n_layers))
        self.epochs = Table(list(EPOCH_SCALARS) + layer_columns(EPOCH_LAYER_METRICS, n_layers))
        self._layer_base = {
            m: len(STEP_SCALARS) + k * n_layers for k, m in enumerate(LAYER_METRICS)
        }

    def layer_slice(self, metric: str) -> slice:
        base = self._layer_base[metric]
        return slice(base, base + self.n_layers)

    def step_series(self, name: str, layer: int | None = None) -> np.ndarray:
        return self.steps.column(name if layer is None else f"{name}[{layer}]")

    def epoch_series(self, name: str, layer: int | None = None) -> np.ndarray:
        return self.epochs.column(name if layer is None else f"{name}[{layer}]")

    @property
    def nbytes(self) -> int:
        return self.steps.nbytes + self.epochs.nbytes
