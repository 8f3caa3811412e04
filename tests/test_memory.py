"""The memory estimate: arithmetic on shapes, checked against what a Session allocates."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import make_session, xor_data
from tui_trainer.engine.config import LayerSpec, TrainConfig
from tui_trainer.engine.memory import (
    available_memory,
    estimate_memory,
    format_bytes,
    over_limit,
    parse_size,
    trace_bytes,
)
from tui_trainer.engine.session import Session

GIB = 1 << 30


def _cfg(hidden: tuple[int, ...], out: int = 2, **kw: object) -> TrainConfig:
    layers = tuple(LayerSpec(u, "relu") for u in hidden) + (LayerSpec(out, "linear"),)
    return TrainConfig(layers=layers, **kw)  # type: ignore[arg-type]


def test_64_layers_of_4096_units_need_tens_of_gigabytes() -> None:
    est = estimate_memory(_cfg((4096,) * 64), n_features=2, n_train=160, n_val=40, target_width=1)
    # 63 weight matrices of 4096 x 4096 float64: 8.5 GB, held three times (W, dW, update).
    assert est.parts["parameters"] > 3 * 63 * 4096 * 4096 * 8
    # At least two step-back keyframes, each a copy of the parameters.
    assert est.parts["step-back history"] >= 2 * 63 * 4096 * 4096 * 8
    assert est.total > 40 * GIB


def test_full_batch_of_a_million_samples_is_dominated_by_activations() -> None:
    cfg = _cfg((4096,), batch_size=0, epochs=1)
    est = estimate_memory(cfg, n_features=2, n_train=800_000, n_val=200_000, target_width=1)
    assert est.largest[0] == "activations"
    assert est.parts["activations"] > 800_000 * 4096 * 4 * 8  # z, a, dz, da of one batch
    small = estimate_memory(
        _cfg((4096,), batch_size=10, epochs=1), 2, 800_000, 200_000, target_width=1
    )
    assert small.parts["activations"] < est.parts["activations"] / 10


def test_one_hot_targets_for_mse_on_many_classes_count_as_data() -> None:
    mse = estimate_memory(_cfg((4,), out=30_000, loss="mse"), 2, 24_000, 6_000, target_width=1)
    ce = estimate_memory(
        _cfg((4,), out=30_000, loss="cross_entropy"), 2, 24_000, 6_000, target_width=1
    )
    assert mse.parts["data"] >= 30_000 * 30_000 * 8  # the one-hot array
    assert ce.parts["data"] < 30_000 * 100


@pytest.mark.parametrize("optimizer, buffers", [("sgd", 0), ("momentum", 1), ("adam", 2)])
def test_optimizer_state_by_optimizer(optimizer: str, buffers: int) -> None:
    est = estimate_memory(_cfg((10,), optimizer=optimizer), 3, 100, 10, 1)
    n_params = 3 * 10 + 10 + 10 * 2 + 2
    assert est.parts["optimizer state"] == buffers * n_params * 8
    assert est.parts["parameters"] == 3 * n_params * 8


def test_float32_halves_parameters() -> None:
    f64 = estimate_memory(_cfg((100,)), 3, 100, 10, 1)
    f32 = estimate_memory(_cfg((100,), dtype="float32"), 3, 100, 10, 1)
    assert f32.parts["parameters"] * 2 == f64.parts["parameters"]


def test_metric_history_grows_with_the_whole_run() -> None:
    """One metric row per step is kept for the run: 64 layers, batch 1, many epochs."""
    short = estimate_memory(
        _cfg((1,) * 64, batch_size=1, epochs=10, history_steps=1), 2, 160, 40, 1
    )
    long = estimate_memory(
        _cfg((1,) * 64, batch_size=1, epochs=100_000, history_steps=1), 2, 160, 40, 1
    )
    assert long.largest[0] == "metric history"
    # 16M steps x (4 + 4 * 65) columns x 8 bytes
    assert long.parts["metric history"] >= 100_000 * 160 * 264 * 8
    assert short.parts["metric history"] < long.parts["metric history"] / 1000


def test_estimate_covers_what_a_session_holds() -> None:
    s = make_session(hidden=(32, 16), batch_size=16, epochs=5, optimizer="adam")
    s.run_to_epoch(5)
    est = estimate_memory(
        s.cfg, s.data.n_features, len(s.data.x_train), len(s.data.x_val), target_width=1
    )
    params = sum(p.nbytes for p in s.net.params())
    assert est.parts["parameters"] >= 3 * params
    assert est.parts["optimizer state"] == 2 * params
    assert est.parts["step-back history"] >= s.memory_report()["history_bytes"]
    assert est.parts["metric history"] >= s.history.nbytes


def test_trace_bytes_counts_weights_and_gradients_per_step() -> None:
    shapes = [(2, 512), (512, 512), (512, 2)]
    one = trace_bytes(shapes, batch=10, width_in=2, target_width=1, n_out=2, steps=1)
    many = trace_bytes(shapes, batch=10, width_in=2, target_width=1, n_out=2, steps=100_000)
    params = 2 * 512 + 512 + 512 * 512 + 512 + 512 * 2 + 2
    assert one >= 3 * params * 8  # W+b and dW+db of the step, final W+b
    assert many > 390 * GIB  # ~ 2 x 265k params x 8 bytes x 100k steps


@pytest.mark.parametrize(
    "text, value",
    [("2G", 2 * GIB), ("500M", 500 << 20), ("1048576", 1 << 20), ("1.5k", 1536), ("4GiB", 4 * GIB)],
)
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "lots", "-1G", "0", "1e400G", "2X", "nanG"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_over_limit_names_the_largest_part() -> None:
    est = estimate_memory(_cfg((4096,) * 64), 2, 160, 40, 1)
    assert over_limit(est, None, "x") == ""
    assert over_limit(est, est.total, "x") == ""
    message = over_limit(est, 2 * GIB, "--max-memory")
    assert "--max-memory is 2.0 GiB" in message
    assert "largest part is parameters" in message
    assert format_bytes(est.total) in message


def test_available_memory_reads_meminfo(tmp_path: Path) -> None:
    info = tmp_path / "meminfo"
    info.write_text("MemTotal:  100 kB\nMemAvailable:   2048 kB\n", encoding="ascii")
    assert available_memory(str(info)) == 2048 * 1024


def test_available_memory_falls_back_without_meminfo(tmp_path: Path) -> None:
    value = available_memory(str(tmp_path / "missing"))
    assert value is None or value > 0


def test_estimate_does_not_need_the_data_arrays() -> None:
    data = xor_data()
    est = estimate_memory(_cfg((4,)), data.n_features, 80, 40, 1)
    assert 0 < est.total < 10 * (1 << 20)


def test_with_history_steps_1_only_the_metric_table_grows_and_the_estimate_covers_it() -> None:
    """The growth seen with 64 one-unit layers and batch 1 is the per-step metric
    table (one row per step, by design); the step-back keyframes stay bounded."""
    cfg = _cfg((1,) * 64, batch_size=1, epochs=20, history_steps=1, loss="cross_entropy")
    data = xor_data(n=60, val=20)
    s = Session(cfg, data)
    s.run_to_step(100)
    keyframes_early = s.memory_report()["history_bytes"]
    s.run_to_epoch(20)
    report = s.memory_report()
    assert report["history_bytes"] == keyframes_early  # bounded by history_steps
    assert s.history.steps.n == s.step == 20 * 40  # one metric row per step
    est = estimate_memory(cfg, 2, 40, 20, 1)
    assert est.parts["step-back history"] >= report["history_bytes"]
    assert est.parts["metric history"] >= report["metrics_bytes"]
