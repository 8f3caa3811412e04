"""A small convolutional network on the bundled 8x8 digits, for ``tui-trainer torch``.

    tui-trainer torch examples/torch_cnn_digits.py:make

The training data is a ``DataLoader`` that shuffles (its order is drawn
from torch's global generator, which the debugger's keyframes restore, so
stepping back replays the same batches).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tui_trainer.engine.data import load_builtin, split


def make(seed: int = 0) -> dict[str, Any]:
    torch.manual_seed(seed)
    d = split(load_builtin("digits"), val_fraction=0.2, seed=0)

    def images(x: Any) -> torch.Tensor:
        return torch.tensor(x / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)

    train = TensorDataset(images(d.x_train), torch.tensor(d.y_train))
    val = TensorDataset(images(d.x_val), torch.tensor(d.y_val))
    model = nn.Sequential(
        nn.Conv2d(1, 8, kernel_size=3, padding=1),  # 8x8 -> 8x8, 8 channels
        nn.ReLU(),
        nn.MaxPool2d(2),  # -> 4x4
        nn.Conv2d(8, 16, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 10),
    )
    return {
        "model": model,
        "loss_fn": nn.CrossEntropyLoss(),
        "optimizer": torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
        "train": DataLoader(train, batch_size=32, shuffle=True),
        "val": DataLoader(val, batch_size=256),
        "epochs": 3,
        "seed": seed,
    }
