"""Extreme but valid scenarios: the engine copes and the app stays usable.

A layer of 2,000 units, 20 layers, 50,000 samples, one sample, one
feature, a batch larger than the data set: every view is drawn (big
matrices summarised), stepping and step-back work, memory stays bounded.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from tui_trainer.engine.config import Dataset, LayerSpec, TrainConfig
from tui_trainer.engine.session import Session
from tui_trainer.ui.app import TrainerApp
from tui_trainer.ui.widgets.matrix_view import MatrixView


def _data(n: int, features: int, val: int = 0, classes: int = 2) -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n + val, features))
    y = rng.integers(0, classes, n + val)
    return Dataset(x[:n], y[:n], x[n:], y[n:], "classification", classes)


def _cfg(
    hidden: list[tuple[int, str]], batch: int, epochs: int = 3, classes: int = 2
) -> TrainConfig:
    layers = tuple(LayerSpec(u, a) for u, a in hidden) + (LayerSpec(classes, "linear"),)
    return TrainConfig(layers=layers, loss="cross_entropy", batch_size=batch, epochs=epochs, seed=1)


CASES = {
    "layer of 2000 units": (_cfg([(2000, "relu")], 32), _data(500, 2, val=100)),
    "20 layers": (_cfg([(8, "tanh")] * 20, 32), _data(200, 2, val=50)),
    "50000 samples": (_cfg([(16, "relu")], 512, epochs=2), _data(50_000, 2, val=1000)),
    "one sample": (_cfg([(4, "tanh")], 10), _data(1, 2)),
    "one feature": (_cfg([(4, "tanh")], 10), _data(60, 1, val=20)),
    "batch larger than the data": (_cfg([(4, "tanh")], 1000), _data(20, 2, val=5)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_engine_handles_extreme_configs(name: str) -> None:
    cfg, data = CASES[name]
    s = Session(cfg, data)
    s.advance("layer")
    s.advance("phase", 3)
    s.run(max_steps=5)
    w = [p.copy() for p in s.net.params()]
    s.back("phase")
    s.goto(s.position + 1)
    s.advance("step")
    assert s.nonfinite is None
    assert all(np.isfinite(p).all() for p in w)
    rep = s.memory_report()
    assert rep["history_bytes"] <= s.cfg.history_bytes + s.keyframe_bytes


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
def test_app_draws_every_view_for_extreme_configs(name: str, size: tuple[int, int]) -> None:
    cfg, data = CASES[name]
    app = TrainerApp(Session(cfg, data), name=name)

    async def body() -> None:
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            for key in ("s", "n", "n", "n", "N", "f"):
                await pilot.press(key)
            for key in ("v", "v", "v", "v", "v", "2", "3", "4", "1", "l", "i", "m", "down", "m"):
                await pilot.press(key)
                await pilot.pause()
            t0 = time.perf_counter()
            await pilot.press("e")  # a whole epoch runs in the worker
            while app.running and time.perf_counter() - t0 < 60:
                await pilot.pause(0.05)
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert not app.running
            s = app.session
            assert s.nonfinite is None
            assert s.epoch >= 1 or s.finished
            # big matrices are summarised: never more text than the widget holds
            mv = app.query_one(MatrixView)
            shot = app.export_screenshot()
            assert "Traceback" not in shot
            assert mv.size.width <= size[0]

    asyncio.run(body())
