"""An MLP with batch norm and dropout on the bundled 8x8 digits, for ``tui-trainer torch``.

    tui-trainer torch examples/torch_mlp.py:make

``make()`` returns what a TorchSession needs; this file is the user's own
code: tui-trainer runs it, unchanged, to get them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from tui_trainer.engine.data import load_builtin, split


def digits() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The bundled digits (1797 8x8 images, pixel values 0..16 scaled to 0..1), split 80/20."""
    d = split(load_builtin("digits"), val_fraction=0.2, seed=0)
    return (d.x_train / 16.0, d.y_train), (d.x_val / 16.0, d.y_val)


def make(seed: int = 0) -> dict[str, Any]:
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(64, 64),
        nn.BatchNorm1d(64),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(64, 32),
        nn.ReLU(),
        nn.Linear(32, 10),
    )
    train, val = digits()
    return {
        "model": model,
        "loss_fn": nn.CrossEntropyLoss(),
        "optimizer": torch.optim.Adam(model.parameters(), lr=1e-3),
        "train": (torch.tensor(train[0], dtype=torch.float32), torch.tensor(train[1])),
        "val": (torch.tensor(val[0], dtype=torch.float32), torch.tensor(val[1])),
        "batch_size": 32,
        "epochs": 5,
        "seed": seed,
    }
