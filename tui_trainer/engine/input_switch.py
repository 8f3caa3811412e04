"""Changing a network's inputs mid-run (x1^2 on, sin(x2) off): the first layer rebuilt.

The rule, the same live and in a replay, so step-back stays bit-identical:

* an input kept keeps its row of the first weight matrix ``W0`` and that
  row's optimizer state (momentum, Adam's moments);
* a new input gets a fresh row drawn from the scenario's ``init`` with the
  fan-in of the network's first inputs, from a generator seeded by
  ``(seed, step, the input's text)``: the same switch at the same step
  always draws the same row, in whatever order inputs were toggled;
  its optimizer state starts at zero;
* an input dropped loses its row.

Biases, the other layers and every other optimizer value are untouched. The
session applies the switch at a step boundary (engine/session.py,
``set_hyper(features=...)``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from tui_trainer.engine.config import TrainConfig
from tui_trainer.engine.network import init_weights

_STREAM = 5  # default_rng([seed, 5, step, input]): new first-layer rows (1: weights, 2: shuffles)


def _text_key(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


def fresh_row(cfg: TrainConfig, fan_in: int, n_out: int, step: int, feature: str) -> np.ndarray:
    """The first-layer weights of ``feature`` when it is switched on at ``step``."""
    rng = np.random.default_rng([cfg.seed, _STREAM, step, _text_key(feature)])
    w = init_weights(
        rng, max(1, fan_in), n_out, cfg.init, cfg.init_std, cfg.init_scale, np.dtype(cfg.dtype)
    )
    return w[0]


def remap_rows(
    old: np.ndarray, old_features: Sequence[str], new_features: Sequence[str], fill: np.ndarray
) -> np.ndarray:
    """``old``'s rows for the inputs kept, in the new order; ``fill[j]`` for new ones."""
    out = np.array(fill, dtype=old.dtype, copy=True)
    for j, f in enumerate(new_features):
        if f in old_features:
            out[j] = old[list(old_features).index(f)]
    return out


def remap_state(
    state: dict[str, np.ndarray],
    param_shapes: Sequence[tuple[int, ...]],
    old_features: Sequence[str],
    new_features: Sequence[str],
) -> dict[str, np.ndarray]:
    """An optimizer's ``get_state()`` for the new inputs: W0's rows remapped
    (zeros for new inputs), everything else kept.

    Works whether the state is one vector laid out like the flat parameters
    (W0, b0, W1, ...) or one array per parameter.
    """
    sizes = [int(np.prod(s)) for s in param_shapes]
    n_out = int(param_shapes[0][1])
    zeros = np.zeros((len(new_features), n_out))
    out: dict[str, np.ndarray] = {}
    for key, arr in state.items():
        index = key[len(key.rstrip("0123456789")) :]
        if arr.ndim == 0 or index != "0":  # the step count, or another parameter's state
            out[key] = arr.copy()
            continue
        if arr.shape == tuple(param_shapes[0]):  # per-parameter state: this is W0's
            out[key] = remap_rows(arr, old_features, new_features, zeros.astype(arr.dtype))
        elif arr.ndim == 1 and arr.size == sum(sizes):  # flat: W0 is the first block
            w0 = arr[: sizes[0]].reshape(param_shapes[0])
            new_w0 = remap_rows(w0, old_features, new_features, zeros.astype(arr.dtype))
            out[key] = np.concatenate([new_w0.ravel(), arr[sizes[0] :]])
        else:
            out[key] = arr.copy()
    return out
