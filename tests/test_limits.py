"""Scenarios inside the documented limits that would not fit in memory, on disk or
in a message: each is refused up front with exit 2 and a located message."""

from __future__ import annotations

import re
from pathlib import Path

from test_cli import cli, write, xor_toml


def _huge_model(tmp_path: Path) -> Path:
    return write(
        tmp_path / "huge.toml",
        "[model]\nhidden = [" + ", ".join(["4096"] * 64) + "]\n[training]\nepochs = 1\n",
    )


def test_check_refuses_64_layers_of_4096_units(tmp_path: Path) -> None:
    path = _huge_model(tmp_path)
    proc = cli("check", "--max-memory", "16G", path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert re.search(
        rf"^{re.escape(str(path))}:2: model\.hidden: needs about [\d.]+ GiB of memory but "
        r"--max-memory is 16\.0 GiB; the largest part is ",
        proc.stderr,
        re.M,
    ), proc.stderr


def test_run_and_trace_refuse_before_allocating(tmp_path: Path) -> None:
    path = _huge_model(tmp_path)
    for args in (("run", path, "-q"), ("trace", path, "--steps", "1", "-o", tmp_path / "t.npz")):
        proc = cli(*args, "--max-memory", "16G")
        assert proc.returncode == 2, proc.stderr
        assert "needs about" in proc.stderr and "--max-memory is 16.0 GiB" in proc.stderr
    assert not (tmp_path / "t.npz").exists()


def test_full_batch_of_a_million_samples_is_refused_naming_the_batch(tmp_path: Path) -> None:
    path = write(
        tmp_path / "full.toml",
        '[data]\nkind = "xor"\nn_samples = 1000000\n[model]\nhidden = [4096]\n'
        '[training]\nbatch_size = "full"\nepochs = 1\n',
    )
    proc = cli("check", "--max-memory", "8G", path)
    assert proc.returncode == 2
    assert re.search(
        r":7: training\.batch_size: needs about .* largest part is activations", proc.stderr
    )


def test_mse_on_thirty_thousand_text_labels_is_refused_naming_the_data(tmp_path: Path) -> None:
    rows = "".join(f"{i % 7},{i % 5},label{i}\n" for i in range(30_000))
    (tmp_path / "many.csv").write_text("a,b,c\n" + rows, encoding="utf-8")
    path = write(
        tmp_path / "many.toml",
        '[data]\nkind = "csv"\npath = "many.csv"\n[model]\nhidden = [2]\n'
        '[training]\nloss = "mse"\nepochs = 1\n',
    )
    proc = cli("check", "--max-memory", "2G", path)
    assert proc.returncode == 2
    assert re.search(r":1: data: needs about .* largest part is data \(", proc.stderr), proc.stderr


def test_max_memory_allows_what_fits(tmp_path: Path) -> None:
    good = write(tmp_path / "good.toml", xor_toml())
    assert cli("check", "--max-memory", "500M", good).returncode == 0
    proc = cli("check", "--max-memory", "10K", good)
    assert proc.returncode == 2
    assert "--max-memory is 10.0 KiB" in proc.stderr


def test_max_memory_must_be_a_size(tmp_path: Path) -> None:
    good = write(tmp_path / "good.toml", xor_toml())
    proc = cli("check", "--max-memory", "lots", good)
    assert proc.returncode == 2
    assert "expected a size such as 500M or 2G" in proc.stderr
