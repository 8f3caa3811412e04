"""Scenarios inside the documented limits that would not fit in memory, on disk or
in a message: each is refused up front with exit 2 and a located message."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli import cli, write, xor_toml

from tui_trainer import scenario as scenario_mod
from tui_trainer.engine import data as data_mod
from tui_trainer.engine.data import DataError, load_csv


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


def test_init_std_overflow_at_the_first_step_gets_init_advice(tmp_path: Path) -> None:
    # float32 overflows at 3e38: 20 relu layers with std 100 get there in the first forward pass.
    path = write(
        tmp_path / "init.toml",
        "[model]\nhidden = [" + ", ".join(["64"] * 20) + ']\nactivation = "relu"\n'
        'init = "normal"\ninit_std = 100\n[training]\nepochs = 1\ndtype = "float32"\n',
    )
    proc = cli("run", path, "-q")
    assert proc.returncode == 3
    assert "the learning rate is not the cause" in proc.stderr
    assert 'try init = "he" (or init_std = 10)' in proc.stderr
    assert "smaller learning rate" not in proc.stderr and "lr =" not in proc.stderr


# --------------------------------------------------------------------------
# CSV paths are data: bounded, regular files, never echoed
# --------------------------------------------------------------------------


def _csv_scenario(tmp_path: Path, path_text: str, extra: str = "") -> Path:
    return write(tmp_path / "csv.toml", f'[data]\nkind = "csv"\npath = "{path_text}"\n{extra}')


def test_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.csv")
    proc = cli("check", _csv_scenario(tmp_path, "pipe.csv"))
    assert proc.returncode == 2
    assert ":3: data.path: " in proc.stderr and "not a regular file" in proc.stderr


def test_fifo_swapped_in_after_the_check_is_not_waited_on(tmp_path: Path) -> None:
    """load_csv itself (the file may change after the scenario was checked)."""
    os.mkfifo(tmp_path / "pipe.csv")
    code = (
        "import sys\nfrom tui_trainer.engine.data import DataError, load_csv\n"
        "try:\n    load_csv(sys.argv[1])\nexcept DataError as e:\n    print(e.message)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "pipe.csv")],
        capture_output=True,
        text=True,
        timeout=60,  # opening a FIFO for reading used to wait for a writer forever
    )
    assert "not a regular file" in proc.stdout, proc.stderr


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_proc_environ_is_not_echoed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUI_TRAINER_SECRET", "hunter2-do-not-print")
    proc = cli("check", _csv_scenario(tmp_path, "/proc/self/environ"))
    assert proc.returncode == 2
    assert ":3: data.path: " in proc.stderr
    assert "hunter2" not in proc.stderr and "PATH=" not in proc.stderr


def test_cell_text_in_messages_is_cut_short(tmp_path: Path) -> None:
    secret = "s3cret" * 1000
    (tmp_path / "one.csv").write_text(f"{secret}\n1\n2\n3\n4\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_csv(tmp_path / "one.csv")
    assert len(info.value.message) < 300
    assert secret not in info.value.message


def test_unknown_user_in_path_is_located(tmp_path: Path) -> None:
    proc = cli("check", _csv_scenario(tmp_path, "~nonexistentuser_tt/x.csv"))
    assert proc.returncode == 2
    assert ":3: data.path: unknown user 'nonexistentuser_tt'" in proc.stderr
    assert "internal error" not in proc.stderr


def test_wrong_target_among_many_columns_gives_a_short_message(tmp_path: Path) -> None:
    n = 20_000
    header = ",".join(f"col{i}" for i in range(n))
    row = ",".join("1" for _ in range(n))
    (tmp_path / "wide.csv").write_text(header + "\n" + (row + "\n") * 4, encoding="utf-8")
    proc = cli("check", _csv_scenario(tmp_path, "wide.csv", 'target = "col1999x"\n'))
    assert proc.returncode == 2
    assert len(proc.stderr) < 1000, len(proc.stderr)
    assert "and 19990 more" in proc.stderr
    assert "Did you mean 'col1999'" in proc.stderr


def test_csv_row_limit_is_the_generated_data_limit() -> None:
    assert data_mod.MAX_CSV_ROWS == scenario_mod.MAX_SAMPLES


def test_csv_with_more_rows_than_the_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data_mod, "MAX_CSV_ROWS", 10)
    rows = "".join(f"{i},{i % 2}\n" for i in range(11))
    (tmp_path / "big.csv").write_text("x,y\n" + rows, encoding="utf-8")
    with pytest.raises(DataError, match="more than 10 data rows") as info:
        load_csv(tmp_path / "big.csv")
    assert info.value.field == "path"
    (tmp_path / "ok.csv").write_text("x,y\n" + rows[: rows.rindex("10,")], encoding="utf-8")
    assert load_csv(tmp_path / "ok.csv").x.shape == (10, 1)


def test_csv_larger_than_the_byte_cap_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data_mod, "MAX_CSV_BYTES", 100)
    (tmp_path / "big.csv").write_text("x,y\n" + "1,0\n" * 40, encoding="utf-8")
    with pytest.raises(DataError, match=r"big\.csv is 164 B; CSV files of at most 100 B are read"):
        load_csv(tmp_path / "big.csv")


# --------------------------------------------------------------------------
# The scenario file itself
# --------------------------------------------------------------------------


def test_scenario_path_with_unknown_user_is_an_input_error() -> None:
    proc = cli("check", "~nonexistentuser_tt/s.toml")
    assert proc.returncode == 2
    assert "unknown user 'nonexistentuser_tt'" in proc.stderr


def test_scenario_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "s.toml")
    code = (
        "import sys\nfrom tui_trainer.scenario import ScenarioError, load_scenario\n"
        "try:\n    load_scenario(sys.argv[1])\nexcept ScenarioError as e:\n    print(e)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "s.toml")],
        capture_output=True,
        text=True,
        timeout=60,  # reading a FIFO used to wait for a writer forever
    )
    assert "not a regular file" in proc.stdout, proc.stderr


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_scenario_from_proc_is_refused_and_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUI_TRAINER_SECRET", "hunter2-do-not-print")
    proc = cli("check", "/proc/self/environ")
    assert proc.returncode == 2
    assert "pseudo-file" in proc.stderr
    assert "hunter2" not in proc.stderr


def test_oversized_scenario_file_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_bytes(b"# " + b"x" * (4 * 1024 * 1024) + b"\n")
    proc = cli("check", big)
    assert proc.returncode == 2
    assert "too large for a scenario file" in proc.stderr


def test_memory_error_beyond_the_estimate_is_a_message_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tui_trainer import cli as cli_mod

    def boom(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(cli_mod, "cmd_check", boom)
    assert cli_mod.main(["check", "xor"]) == 2
    assert "out of memory" in capsys.readouterr().err
