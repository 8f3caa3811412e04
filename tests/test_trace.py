"""trace streams each array to disk and refuses a trace the disk cannot hold."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
from test_cli import cli, write

from helpers import make_session
from tui_trainer.engine.trace import NpzStream, estimate_trace_bytes, record_trace


def test_npz_stream_reads_back_with_np_load(tmp_path: Path) -> None:
    arrays = {"0/x": np.arange(6.0).reshape(2, 3), "0/loss": np.array(1.5), "meta": np.array("{}")}
    with open(tmp_path / "t.npz", "wb") as f:
        stream = NpzStream(f)
        for name, a in arrays.items():
            stream.add(name, a)
        stream.close()
    with np.load(tmp_path / "t.npz", allow_pickle=False) as z:
        assert sorted(z.files) == sorted(arrays)
        for name, a in arrays.items():
            assert np.array_equal(z[name], a)


def test_npz_stream_memory_does_not_grow_with_the_arrays_written(tmp_path: Path) -> None:
    block = np.random.default_rng(0).standard_normal(125_000)  # 1 MB
    with open(tmp_path / "t.npz", "wb") as f:
        stream = NpzStream(f)
        tracemalloc.start()
        try:
            for k in range(40):
                stream.add(f"{k}/W0", block)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        stream.close()
    assert peak < 8 * 1_000_000  # 40 MB written, a few MB held at most
    assert (tmp_path / "t.npz").stat().st_size > 30 * 1_000_000


def test_record_trace_keys_and_estimate(tmp_path: Path) -> None:
    s = make_session(hidden=(5,), batch_size=16, epochs=1)
    with open(tmp_path / "t.npz", "wb") as f:
        stream = NpzStream(f)
        recorded = record_trace(s, 2, stream, {"format": 1})
        stream.close()
    assert recorded == 2
    with np.load(tmp_path / "t.npz", allow_pickle=False) as z:
        names = set(z.files)
        stored = sum(z[n].nbytes for n in names if n != "meta")
    assert {"0/x", "0/y", "0/out", "0/loss", "1/dW1", "2/W0", "2/b1", "meta"} <= names
    s2 = make_session(hidden=(5,), batch_size=16, epochs=1)
    assert estimate_trace_bytes(s2, 2) >= stored


def test_trace_that_cannot_fit_on_disk_is_refused_up_front(tmp_path: Path) -> None:
    path = write(tmp_path / "wide.toml", "[model]\nhidden = [512, 512]\n")
    proc = cli("trace", path, "--steps", 10**9, "-o", tmp_path / "t.npz")
    assert proc.returncode == 2
    assert "need about" in proc.stderr and "free; trace fewer --steps" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wide.toml"]
