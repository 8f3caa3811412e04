"""Small builders shared by the engine tests."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from tui_trainer.engine.config import Dataset, LayerSpec, TrainConfig
from tui_trainer.engine.session import Session


def xor_data(n: int = 120, seed: int = 0, val: int = 40) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-5, 5, (n, 2))
    y = ((x[:, 0] * x[:, 1]) > 0).astype(np.int64)
    return Dataset(x[:-val], y[:-val], x[-val:], y[-val:], "classification", 2)


def regression_data(n: int = 100, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, (n, 1))
    y = np.sin(x) + 0.1 * rng.standard_normal((n, 1))
    return Dataset(x[:80], y[:80], x[80:], y[80:], "regression", 0)


def make_session(
    hidden: tuple[int, ...] = (6, 5),
    activation: str = "tanh",
    loss: str = "cross_entropy",
    **kw: object,
) -> Session:
    data = regression_data() if loss == "mse" and kw.pop("regression", True) else xor_data()
    n_out = {"cross_entropy": 2, "binary_cross_entropy": 1}.get(loss, data.n_outputs or 2)
    layers = tuple(LayerSpec(h, activation) for h in hidden) + (LayerSpec(n_out, "linear"),)
    base = dict(layers=layers, loss=loss, lr=0.05, batch_size=16, epochs=5, seed=3)
    base.update(kw)
    return Session(TrainConfig(**base), data)  # type: ignore[arg-type]


def expectation(path: Path) -> tuple[str, str, int | None]:
    """(field, message substring, line or None) from a broken scenario file's header
    (``# expect: <field> | <message>`` and optionally ``# line: N``)."""
    head = path.read_bytes().decode("utf-8", errors="replace").splitlines()[:3]
    m = re.match(r"#\s*expect:\s*(.*?)\s*\|\s*(.+?)\s*$", head[0])
    assert m, f"{path.name}: first line must be '# expect: <field> | <message>'"
    line = None
    for text in head[1:]:
        lm = re.match(r"#\s*line:\s*(\d+)\s*$", text)
        if lm:
            line = int(lm.group(1))
    return m.group(1), m.group(2), line
