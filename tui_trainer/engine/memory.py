"""How much memory a run needs, worked out before anything big is allocated.

A scenario within the documented limits can still need far more memory than
the machine has (64 layers of 4,096 units, a full batch of a million samples
through a wide layer, a one-hot target of 30,000 classes). Allocating until
NumPy raises ``MemoryError`` mid-way gives a traceback or an OpenBLAS abort;
estimating first lets ``check`` show the figure and every command refuse with
a message saying what dominates it.

Everything here is pure arithmetic on shapes, so it is cheap and testable
without allocating anything.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from tui_trainer.engine.config import TrainConfig
from tui_trainer.engine.history import (
    EPOCH_LAYER_METRICS,
    EPOCH_SCALARS,
    LAYER_METRICS,
    STEP_SCALARS,
)

# Mirrors Session: a keyframe at least every 16 steps.
_KEYFRAME_MIN_INTERVAL = 16
_OPT_BUFFERS = {"sgd": 0, "momentum": 1, "adam": 2}
_FLOAT64 = 8


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a run needs, by component (names are shown to the user)."""

    parts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    @property
    def largest(self) -> tuple[str, int]:
        """The component that dominates the estimate."""
        return max(self.parts.items(), key=lambda kv: kv[1])

    def summary(self) -> str:
        """``"1.2 MiB (largest: parameters 800.0 KiB)"``."""
        name, size = self.largest
        return f"{format_bytes(self.total)} (largest: {name} {format_bytes(size)})"


def estimate_memory(
    cfg: TrainConfig,
    n_features: int,
    n_train: int,
    n_val: int,
    target_width: int,
) -> MemoryEstimate:
    """Estimate the peak memory of training ``cfg`` on data of these shapes.

    ``target_width`` is the width of the raw targets (1 for class labels,
    the number of targets for regression). Components:

    - parameters: weights and biases, their gradients and last updates (3x);
    - optimizer state: 0, 1 or 2 parameter-sized buffers (sgd, momentum, adam);
    - activations: per layer the pre-activation, activation, their gradients
      and the input gradient of one batch (the whole training set when
      ``batch_size`` is 0 or larger than it), plus the evaluation
      pass over the validation set (chunked) at the end of each epoch;
    - data: float64 features and targets, the session's copies in ``dtype``
      and the prepared targets (one-hot for ``mse`` on class labels);
    - step-back keyframes: the ring covering ``history_steps`` steps;
    - metric history: one row per step and per epoch for the whole run.
    """
    item = 4 if cfg.dtype == "float32" else _FLOAT64
    widths = [n_features, *(ly.units for ly in cfg.layers)]
    n_params = sum(widths[i] * widths[i + 1] + widths[i + 1] for i in range(len(cfg.layers)))
    param_bytes = n_params * item
    batch = n_train if cfg.batch_size <= 0 else min(cfg.batch_size, n_train)
    per_row = sum(4 * widths[i + 1] + widths[i] for i in range(len(cfg.layers)))
    activations = batch * per_row * item
    # Each epoch ends with Network.predict on the validation set: chunks of
    # 8192 rows, then the joined outputs and the per-sample losses.
    n_eval = n_val
    evaluation = (min(n_eval, 8192) * 2 * max(widths) + 2 * n_eval * widths[-1]) * item
    n_all = n_train + n_val
    n_out = cfg.layers[-1].units
    raw = n_all * (n_features + target_width) * _FLOAT64
    prepared_width = n_out if (cfg.loss == "mse" and target_width == 1) else target_width
    prepared = n_all * (n_features + prepared_width) * item
    kf_bytes = param_bytes * 3
    interval = max(
        min(_KEYFRAME_MIN_INTERVAL, cfg.history_steps),
        math.ceil(cfg.history_steps * kf_bytes / max(1, cfg.history_bytes)),
    )
    # The ring covers history_steps plus one keyframe before it, and a new one
    # is stored before the oldest is dropped; each holds the parameters and
    # the optimizer's buffers.
    n_keyframes = math.ceil(cfg.history_steps / interval) + 2
    keyframes = n_keyframes * param_bytes * (1 + _OPT_BUFFERS.get(cfg.optimizer, 2))
    n_layers = len(cfg.layers)
    steps_per_epoch = math.ceil(n_train / max(1, batch))
    step_cols = len(STEP_SCALARS) + len(LAYER_METRICS) * n_layers
    epoch_cols = len(EPOCH_SCALARS) + len(EPOCH_LAYER_METRICS) * n_layers
    metrics = (
        _table_capacity(cfg.epochs * steps_per_epoch) * step_cols
        + _table_capacity(cfg.epochs) * epoch_cols
    ) * _FLOAT64
    return MemoryEstimate(
        {
            "parameters": 3 * param_bytes,
            "optimizer state": _OPT_BUFFERS.get(cfg.optimizer, 2) * param_bytes,
            "activations": activations + evaluation,
            "data": raw + prepared,
            "step-back history": keyframes,
            "metric history": metrics,
        }
    )


def _table_capacity(rows: int) -> int:
    """Rows a ``history.Table`` holds at its peak to store ``rows``.

    It doubles from 64 rows, and while growing holds the old array beside
    the new one: 1.5 times the final capacity.
    """
    cap = 64
    while cap < rows:
        cap *= 2
    return cap + cap // 2


def trace_bytes(
    layer_shapes: Sequence[tuple[int, int]],
    batch: int,
    width_in: int,
    target_width: int,
    n_out: int,
    steps: int,
) -> int:
    """Uncompressed size of a ``trace`` of ``steps`` steps (float64 arrays).

    Per step: the batch's inputs, targets and outputs, the loss, and every
    layer's weights, biases and their gradients; plus the final weights.
    """
    params = sum(a * b + b for a, b in layer_shapes)
    per_step = (batch * (width_in + target_width + n_out) + 1 + 2 * params) * _FLOAT64
    return steps * per_step + params * _FLOAT64


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """``"2G"`` -> 2147483648. Accepts a number of bytes or K, M, G, T (binary
    multiples, with an optional ``B``/``iB``). Raises ValueError otherwise."""
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"expected a size such as 500M or 2G, got {text!r}")
    value = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if not math.isfinite(value) or value < 1:
        raise ValueError(f"expected a size of at least 1 byte, got {text!r}")
    return int(value)


def format_bytes(n: float) -> str:
    """1536 -> ``"1.5 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def available_memory(meminfo: str = "/proc/meminfo") -> int | None:
    """Bytes the system can give a new allocation without swapping, if known.

    Linux's ``MemAvailable`` when readable, else free physical pages from
    ``os.sysconf``; None when neither is available.
    """
    try:
        with open(meminfo, encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, AttributeError):
        return None


# Which scenario setting to point at when a component is too big.
FIELD_OF_PART = {
    "parameters": "model.hidden",
    "optimizer state": "training.optimizer",
    "activations": "training.batch_size",
    "data": "data",
    "step-back history": "training.history_steps",
    "metric history": "training.epochs",
}


def over_limit(estimate: MemoryEstimate, limit: int | None, source: str) -> str:
    """A message when ``estimate`` exceeds ``limit`` bytes ("" when it fits).

    ``source`` says where the limit came from (``"--max-memory"`` or
    ``"available memory"``), so the user knows which knob to turn.
    """
    if limit is None or estimate.total <= limit:
        return ""
    name, size = estimate.largest
    return (
        f"needs about {format_bytes(estimate.total)} of memory but {source} is "
        f"{format_bytes(limit)}; the largest part is {name} ({format_bytes(size)})"
    )
