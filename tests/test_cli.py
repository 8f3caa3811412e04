"""The command line, run as a real process: list, check, run, trace, flags, exit statuses.

Every invocation goes through :func:`cli`, which also asserts that no Python
traceback ever reaches the user. Scenarios are tiny files written into a
temporary directory (xor, 200 points, a few epochs) so the whole module runs
in a few seconds; only two tests touch the built-in scenarios.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import expectation
from tui_trainer import __version__
from tui_trainer.scenario import builtin_names

HERE = Path(__file__).parent
BROKEN = sorted((HERE / "broken_scenarios").glob("*.toml"))
SCRIPT = shutil.which("tui-trainer")
TIMEOUT = 60
COLUMNS = ["epoch", "step", "loss", "val_loss", "accuracy", "val_accuracy"]

# 200 points with val_fraction 0.2 -> 160 training points, 8 batches of 20 per epoch.
STEPS_PER_EPOCH = 8


def cli(
    *args: object, cwd: Path | None = None, script: bool = False
) -> subprocess.CompletedProcess:
    """Run ``python -m tui_trainer`` (or the installed ``tui-trainer`` script)."""
    if script:
        if SCRIPT is None:
            pytest.skip("the tui-trainer console script is not on PATH")
        cmd = [SCRIPT]
    else:
        cmd = [sys.executable, "-m", "tui_trainer"]
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.run(
        [*cmd, *(str(a) for a in args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=TIMEOUT,
        env=env,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout, proc.stdout
    return proc


def xor_toml(epochs: int = 4, extra: str = "", **changes: object) -> str:
    """A small, fast xor scenario; ``extra`` lines go into [training]."""
    values: dict[str, object] = {
        "seed": 1,
        "n_samples": 200,
        "hidden": "[4]",
        "optimizer": '"sgd"',
        "lr": 0.1,
        "l2": 0.0,
    }
    values.update(changes)
    return (
        'name = "tiny"\n'
        f"seed = {values['seed']}\n"
        "[data]\n"
        'kind = "xor"\n'
        f"n_samples = {values['n_samples']}\n"
        "[model]\n"
        f"hidden = {values['hidden']}\n"
        "[training]\n"
        f"optimizer = {values['optimizer']}\n"
        f"lr = {values['lr']}\n"
        f"l2 = {values['l2']}\n"
        "batch_size = 20\n"
        f"epochs = {epochs}\n"
        f"{extra}\n"
    )


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def read_metrics(path: Path) -> list[dict[str, float]]:
    """Rows of a metrics file (.csv or .jsonl); empty cells / null become nan."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        assert reader.fieldnames == COLUMNS
        raw = list(reader)
    else:
        raw = [json.loads(line) for line in text.splitlines() if line.strip()]
        for r in raw:
            assert list(r) == COLUMNS
    return [{k: math.nan if v in ("", None) else float(v) for k, v in r.items()} for r in raw]


def summary(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stdout.splitlines()
    assert lines, f"no summary line on stdout; stderr:\n{proc.stderr}"
    return lines[0]


# --------------------------------------------------------------------------
# list, built-ins
# --------------------------------------------------------------------------


def test_list_prints_every_builtin_with_a_description() -> None:
    proc = cli("list", script=True)
    assert proc.returncode == 0, proc.stderr
    names = builtin_names()
    if not names:
        pytest.skip("no built-in scenarios installed")
    lines = proc.stdout.splitlines()
    assert len(lines) == len(names)
    for name, line in zip(names, lines, strict=True):
        m = re.match(rf"{re.escape(name)}\s+(\S.*)$", line)
        assert m, f"no description for {name!r}: {line!r}"
        assert "(broken" not in m.group(1), line
        assert len(m.group(1)) > 10, line


def test_run_builtin_xor_for_one_epoch(tmp_path: Path) -> None:
    if "xor" not in builtin_names():
        pytest.skip("the built-in xor scenario is not installed")
    proc = cli("run", "xor", "--epochs", "1", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert re.match(r"\S+: 1/1 epochs done, step \d+, train_loss ", summary(proc)), proc.stdout


# --------------------------------------------------------------------------
# check
# --------------------------------------------------------------------------


def test_check_good_file(tmp_path: Path) -> None:
    good = write(tmp_path / "good.toml", xor_toml())
    proc = cli("check", good, script=True)
    assert proc.returncode == 0, proc.stderr
    assert re.fullmatch(
        rf"{re.escape(str(good))}: ok, needs about [\d.]+ (B|KiB|MiB) \(largest: [a-z -]+ [\d.]+ \w+\)\n",
        proc.stdout,
    ), proc.stdout
    assert proc.stderr == ""


def test_check_empty_file_is_ok(tmp_path: Path) -> None:
    empty = write(tmp_path / "empty.toml", "")
    proc = cli("check", empty)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"{empty}: ok, needs about ")


@pytest.fixture(scope="module")
def broken_check() -> subprocess.CompletedProcess:
    # One process for all broken files keeps this fast; each file's verdict is
    # still checked separately below (no "ok" line, its own located error).
    return cli("check", *BROKEN, cwd=HERE)


def test_check_reports_every_broken_file(broken_check: subprocess.CompletedProcess) -> None:
    assert len(BROKEN) >= 32
    assert broken_check.returncode == 2
    assert broken_check.stdout == ""


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_check_broken_file(path: Path, broken_check: subprocess.CompletedProcess) -> None:
    field, substring, line = expectation(path)
    assert f"{path}: ok" not in broken_check.stdout
    where = f"{path}:{line}: " if line is not None else f"{path}:"
    prefix = where + (f"{field}: " if field else "")
    mine = [ln for ln in broken_check.stderr.splitlines() if ln.startswith(f"{path}:")]
    assert mine, f"no message names {path}"
    hits = [ln for ln in mine if ln.startswith(prefix) and substring in ln]
    assert hits, f"expected a line starting {prefix!r} containing {substring!r}; got:\n" + (
        "\n".join(mine)
    )


@pytest.mark.parametrize("name", ["malformed_toml", "not_utf8", "unknown_training_key"])
def test_check_one_broken_file_exits_2(name: str) -> None:
    path = HERE / "broken_scenarios" / f"{name}.toml"
    field, substring, line = expectation(path)
    proc = cli("check", path, script=name == "not_utf8")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert str(path) in proc.stderr and substring in proc.stderr
    assert f":{line}: " in proc.stderr


def test_check_mixed_good_and_bad(tmp_path: Path) -> None:
    good1 = write(tmp_path / "good1.toml", xor_toml())
    bad = write(tmp_path / "bad.toml", xor_toml(lr=-0.5))
    good2 = write(tmp_path / "good2.toml", xor_toml(epochs=2))
    missing = tmp_path / "missing.toml"
    proc = cli("check", good1, bad, good2, missing)
    assert proc.returncode == 2
    assert [ln.split(",")[0] for ln in proc.stdout.splitlines()] == [f"{good1}: ok", f"{good2}: ok"]
    assert re.search(rf"^{re.escape(str(bad))}:\d+: training\.lr: must be > 0", proc.stderr, re.M)
    assert str(missing) in proc.stderr
    assert str(good1) not in proc.stderr and str(good2) not in proc.stderr


# --------------------------------------------------------------------------
# run: metrics, overrides, bad input
# --------------------------------------------------------------------------


@pytest.mark.parametrize("ext", [".csv", ".jsonl"])
def test_run_writes_metrics(tmp_path: Path, ext: str) -> None:
    s = write(tmp_path / "s.toml", xor_toml(epochs=4))
    metrics = tmp_path / f"m{ext}"
    quiet = ["--quiet"] if ext == ".jsonl" else []
    proc = cli("run", s, "--metrics", metrics, *quiet, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = read_metrics(metrics)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert [r["step"] for r in rows] == [STEPS_PER_EPOCH * e for e in (1, 2, 3, 4)]
    for r in rows:
        assert math.isfinite(r["loss"]) and math.isfinite(r["val_loss"])
        assert r["loss"] > 0 and r["val_loss"] > 0
        assert 0.0 <= r["accuracy"] <= 1.0
        assert 0.0 <= r["val_accuracy"] <= 1.0
    # stdout is exactly the summary line, consistent with the last row
    assert len(proc.stdout.splitlines()) == 1
    line = summary(proc)
    assert line.startswith(f"tiny: 4/4 epochs done, step {4 * STEPS_PER_EPOCH}, ")
    assert f"train_loss {rows[-1]['loss']:.4g}" in line
    assert f"val_loss {rows[-1]['val_loss']:.4g}" in line
    assert f"val_accuracy {rows[-1]['val_accuracy']:.1%}" in line
    if quiet:
        assert proc.stderr == ""
    else:
        assert "epoch 4/4" in proc.stderr  # the progress bar


def test_run_metrics_regression_has_no_accuracy(tmp_path: Path) -> None:
    s = write(
        tmp_path / "sine.toml",
        '[data]\nkind = "sine"\nn_samples = 100\n[training]\nlr = 0.05\nepochs = 2\n',
    )
    metrics = tmp_path / "m.jsonl"
    proc = cli("run", s, "-q", "--metrics", metrics)
    assert proc.returncode == 0, proc.stderr
    raw = [json.loads(x) for x in metrics.read_text().splitlines()]
    assert len(raw) == 2
    assert all(r["accuracy"] is None and r["val_accuracy"] is None for r in raw)
    assert all(math.isfinite(r["loss"]) for r in raw)
    assert "accuracy" not in summary(proc)


@pytest.mark.parametrize("name", ["m.txt", "m", "m.json"])
def test_run_metrics_bad_extension(tmp_path: Path, name: str) -> None:
    s = write(tmp_path / "s.toml", xor_toml())
    proc = cli("run", s, "-q", "--metrics", tmp_path / name)
    assert proc.returncode == 2
    assert ".csv" in proc.stderr and ".jsonl" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert proc.stdout == ""  # refused before training
    assert not (tmp_path / name).exists()


def test_run_overrides_epochs_lr_seed(tmp_path: Path) -> None:
    base = write(tmp_path / "base.toml", xor_toml(epochs=4, lr=0.1, seed=1))
    same = write(tmp_path / "same.toml", xor_toml(epochs=2, lr=0.2, seed=3))
    overrides = ["--epochs", "2", "--lr", "0.2"]
    a = cli("run", base, "-q", *overrides, "--seed", 3, "--metrics", "a.csv", cwd=tmp_path)
    b = cli("run", same, "-q", "--metrics", "b.csv", cwd=tmp_path)
    c = cli("run", base, "-q", *overrides, "--seed", 4, "--metrics", "c.csv", cwd=tmp_path)
    for proc in (a, b, c):
        assert proc.returncode == 0, proc.stderr
        assert summary(proc).startswith(f"tiny: 2/2 epochs done, step {2 * STEPS_PER_EPOCH}, ")
    # the overrides act exactly like writing the values into the file
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    # and a different seed gives a different run
    rows_a, rows_c = read_metrics(tmp_path / "a.csv"), read_metrics(tmp_path / "c.csv")
    assert rows_a[-1]["loss"] != rows_c[-1]["loss"]


def test_run_unknown_scenario_name_suggests(tmp_path: Path) -> None:
    names = builtin_names()
    typo = "xro" if "xor" in names or not names else names[0][:-1]
    proc = cli("run", typo, "-q", cwd=tmp_path)
    assert proc.returncode == 2
    assert typo in proc.stderr
    assert "no scenario file or built-in scenario" in proc.stderr
    if names:
        assert "did you mean" in proc.stderr
    assert proc.stdout == ""


def test_run_nonexistent_file(tmp_path: Path) -> None:
    missing = tmp_path / "does" / "not" / "exist.toml"
    proc = cli("run", missing, "-q")
    assert proc.returncode == 2
    assert str(missing) in proc.stderr
    assert proc.stdout == ""


def test_run_broken_scenario_exits_2(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.toml", xor_toml(hidden="[4, 0]"))
    proc = cli("run", bad, "-q")
    assert proc.returncode == 2
    assert re.search(rf"{re.escape(str(bad))}:\d+: model\.hidden\[1\]: ", proc.stderr)


# --------------------------------------------------------------------------
# run: divergence and breakpoints
# --------------------------------------------------------------------------


def _nonfinite_line(proc: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if "non-finite" in ln]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_run_divergence_exits_3_and_says_where(tmp_path: Path) -> None:
    s = write(
        tmp_path / "diverge.toml",
        'seed = 0\n[data]\nkind = "sine"\nn_samples = 200\n[model]\nhidden = [8]\n'
        '[training]\nloss = "mse"\noptimizer = "sgd"\nlr = 50\nepochs = 5\n',
    )
    proc = cli("run", s, "--metrics", "m.csv", cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr
    line = _nonfinite_line(proc)
    epoch = int(re.search(r"\bepoch (\d+)", line).group(1))
    step = int(re.search(r"\bstep (\d+)", line).group(1))
    assert re.search(r"\bphase (\w+)", line).group(1).lower() == "loss", line
    rows = read_metrics(tmp_path / "m.csv")  # the completed epochs are still written
    assert epoch == len(rows) + 1, (line, rows)
    assert rows[-1]["step"] <= step < rows[-1]["step"] + 16  # 160 points, batches of 10
    assert summary(proc).startswith("diverge: ")


def test_run_divergence_names_the_layer(tmp_path: Path) -> None:
    s = write(
        tmp_path / "diverge2.toml",
        'seed = 0\n[data]\nkind = "sine"\nn_samples = 200\n[model]\nhidden = [8, 8]\n'
        'activation = "linear"\n[training]\nloss = "mse"\nlr = 100\nepochs = 5\n',
    )
    proc = cli("run", s, "-q", cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr
    line = _nonfinite_line(proc)
    assert re.search(r"\bepoch \d+", line) and re.search(r"\bstep \d+", line), line
    assert re.search(r"\bphase forward\b", line, re.I), line
    assert re.search(r"\blayer \d+", line), line


def test_run_break_stops_at_breakpoint(tmp_path: Path) -> None:
    s = write(tmp_path / "b.toml", xor_toml(epochs=4, extra='breakpoints = ["epoch >= 2"]'))
    proc = cli("run", s, "-q", "--break", "--metrics", "m.csv", cwd=tmp_path)
    assert proc.returncode == 4, proc.stderr
    out = proc.stdout.splitlines()
    assert out[0].startswith(f"tiny: 2/4 epochs done, step {2 * STEPS_PER_EPOCH}, ")
    stop = [ln for ln in out if "breakpoint" in ln]
    assert len(stop) == 1
    assert "'epoch >= 2'" in stop[0] and "epoch = 2" in stop[0]  # which one and why
    assert len(read_metrics(tmp_path / "m.csv")) == 2

    plain = cli("run", s, "-q", cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert summary(plain).startswith("tiny: 4/4 epochs done, ")
    assert "breakpoint" not in plain.stdout


def test_run_break_ignores_disabled_breakpoints(tmp_path: Path) -> None:
    extra = 'breakpoints = [{ condition = "epoch >= 1", phase = "epoch", enabled = false }]'
    s = write(tmp_path / "b.toml", xor_toml(epochs=2, extra=extra))
    proc = cli("run", s, "-q", "--break")
    assert proc.returncode == 0, proc.stderr
    assert summary(proc).startswith("tiny: 2/2 epochs done, ")


def test_run_break_backward_phase_sees_this_steps_gradients(tmp_path: Path) -> None:
    # A breakpoint bound to the backward phase is checked once the gradients of
    # the current step exist, so grad_norm[0] > 0 must stop inside step 0, not
    # one step later on the previous step's gradient norm.
    extra = 'breakpoints = [{ condition = "grad_norm[0] > 0", phase = "backward" }]'
    s = write(tmp_path / "b.toml", xor_toml(extra=extra))
    proc = cli("run", s, "-q", "--break")
    assert proc.returncode == 4, proc.stderr
    assert "'grad_norm[0] > 0'" in proc.stdout
    assert ", step 0, " in summary(proc), proc.stdout


# --------------------------------------------------------------------------
# run: checkpoints
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six uninterrupted epochs: full.npz and full.csv in the returned directory."""
    d = tmp_path_factory.mktemp("full")
    write(d / "s.toml", xor_toml(epochs=6))
    proc = cli("run", "s.toml", "-q", "--save", "full.npz", "--metrics", "full.csv", cwd=d)
    assert proc.returncode == 0, proc.stderr
    return d


def assert_same_state(a_path: Path, b_path: Path) -> None:
    with np.load(a_path, allow_pickle=False) as a, np.load(b_path, allow_pickle=False) as b:
        params = sorted(k for k in a.files if k.startswith("param/"))
        assert params and params == sorted(k for k in b.files if k.startswith("param/"))
        for k in params:
            assert a[k].dtype == b[k].dtype
            assert np.array_equal(a[k], b[k]), k
        for k in ("history/epochs", "history/steps"):
            assert np.array_equal(a[k], b[k], equal_nan=True), k


def test_resume_is_bit_identical(full_run: Path, tmp_path: Path) -> None:
    write(tmp_path / "s.toml", xor_toml(epochs=6))
    half = cli("run", "s.toml", "-q", "--epochs", 3, "--save", "half.npz", cwd=tmp_path)
    assert half.returncode == 0, half.stderr
    assert summary(half).startswith("tiny: 3/3 epochs done, ")
    files = ["--resume", "half.npz", "--save", "resumed.npz", "--metrics", "resumed.csv"]
    resumed = cli("run", "s.toml", "-q", "--epochs", 6, *files, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert summary(resumed).startswith(f"tiny: 6/6 epochs done, step {6 * STEPS_PER_EPOCH}, ")
    assert_same_state(full_run / "full.npz", tmp_path / "resumed.npz")

    full_lines = (full_run / "full.csv").read_text().splitlines()
    resumed_lines = (tmp_path / "resumed.csv").read_text().splitlines()
    assert full_lines[0] == resumed_lines[0] == ",".join(COLUMNS)
    by_epoch = {int(ln.split(",")[0]): ln for ln in resumed_lines[1:]}
    for line in full_lines[4:7]:  # epochs 4, 5, 6
        assert by_epoch[int(line.split(",")[0])] == line


@pytest.mark.parametrize(
    "breakpoint",
    ['"step >= 5"', '{ condition = "loss > 0.1", phase = "loss" }'],
    ids=["between-steps", "inside-a-step"],
)
def test_resume_after_break_mid_epoch_is_bit_identical(
    full_run: Path, tmp_path: Path, breakpoint: str
) -> None:
    write(tmp_path / "s.toml", xor_toml(epochs=6, extra=f"breakpoints = [{breakpoint}]"))
    stop = cli("run", "s.toml", "-q", "--break", "--save", "mid.npz", cwd=tmp_path)
    assert stop.returncode == 4, stop.stderr
    resumed = cli("run", "s.toml", "-q", "--resume", "mid.npz", "--save", "r.npz", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_state(full_run / "full.npz", tmp_path / "r.npz")


def _corrupt(full: Path, d: Path) -> Path:
    p = d / "corrupt.npz"
    p.write_bytes(full.read_bytes()[:300])
    return p


def _text(full: Path, d: Path) -> Path:
    return write(d / "text.npz", "this is not a checkpoint\n")


def _other_npz(full: Path, d: Path) -> Path:
    p = d / "other.npz"
    np.savez(p, a=np.zeros(3))
    return p


def _missing(full: Path, d: Path) -> Path:
    return d / "missing.npz"


def _tampered(**changes: object):
    def make(full: Path, d: Path) -> Path:
        with np.load(full, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        for k, v in changes.items():
            arrays[k.replace("__", "/")] = np.array(v)
        p = d / "tampered.npz"
        np.savez(p, **arrays)
        return p

    return make


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_corrupt, "not a readable"),
        (_text, "not a readable"),
        (_other_npz, "not a tui-trainer checkpoint"),
        (_missing, "no such file"),
        (_tampered(format=7), "format"),
        (_tampered(format="x"), "format"),
        (_tampered(state="[1, 2]"), ""),
        (_tampered(state="{not json"), "damaged"),
    ],
    ids=[
        "corrupt",
        "text-file",
        "not-a-checkpoint",
        "missing",
        "future-format",
        "format-not-a-number",
        "state-not-an-object",
        "state-not-json",
    ],
)
def test_resume_bad_checkpoint(full_run: Path, tmp_path: Path, make, message: str) -> None:
    ckpt = make(full_run / "full.npz", tmp_path)
    write(tmp_path / "s.toml", xor_toml())
    proc = cli("run", "s.toml", "-q", "--resume", ckpt, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert str(ckpt) in err and message in err


def test_resume_checkpoint_of_a_different_model(full_run: Path, tmp_path: Path) -> None:
    write(tmp_path / "wide.toml", xor_toml(hidden="[5]"))
    proc = cli("run", "wide.toml", "-q", "--resume", full_run / "full.npz", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "different model" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_resume_mid_epoch_checkpoint_into_smaller_dataset(tmp_path: Path) -> None:
    # Same model, but 100 points instead of 200: the saved batch position lies
    # beyond the new training set. That is an unusable checkpoint (exit 2),
    # not a crash.
    write(tmp_path / "s.toml", xor_toml(extra='breakpoints = ["step >= 5"]'))
    write(tmp_path / "small.toml", xor_toml(n_samples=100))
    stop = cli("run", "s.toml", "-q", "--break", "--save", "mid.npz", cwd=tmp_path)
    assert stop.returncode == 4, stop.stderr
    proc = cli("run", "small.toml", "-q", "--resume", "mid.npz", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "mid.npz" in proc.stderr


# --------------------------------------------------------------------------
# trace
# --------------------------------------------------------------------------


def _cross_entropy(out: np.ndarray, labels: np.ndarray) -> float:
    m = out.max(axis=1, keepdims=True)
    lse = np.log(np.exp(out - m).sum(axis=1)) + m[:, 0]
    return float(np.mean(lse - out[np.arange(len(labels)), labels]))


@pytest.mark.parametrize("l2", [0.0, 0.05])
def test_trace_round_trip(tmp_path: Path, l2: float) -> None:
    write(tmp_path / "s.toml", xor_toml(l2=l2))
    proc = cli("trace", "s.toml", "--steps", 3, "-o", "t.npz", cwd=tmp_path, script=l2 == 0)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml", "t.npz"]  # no temp files
    with np.load(tmp_path / "t.npz", allow_pickle=False) as z:
        t = {k: z[k] for k in z.files}
    meta = json.loads(str(t["meta"]))
    config = meta["config"]
    assert [ly["units"] for ly in config["layers"]] == [4, 2]
    assert config["loss"] == "cross_entropy" and config["optimizer"] == "sgd"
    assert config["lr"] == 0.1 and config["l2"] == l2 and config["batch_size"] == 20
    lr, n_layers = config["lr"], len(config["layers"])

    per_step = ["x", "y", "out", "loss"]
    per_layer = ["W", "b", "dW", "db"]
    expected = {"meta"}
    for k in range(3):
        expected |= {f"{k}/{n}" for n in per_step}
        expected |= {f"{k}/{n}{i}" for n in per_layer for i in range(n_layers)}
    expected |= {f"3/{n}{i}" for n in ("W", "b") for i in range(n_layers)}
    assert set(t) == expected

    for k in range(3):
        x, y, out = t[f"{k}/x"], t[f"{k}/y"], t[f"{k}/out"]
        assert x.shape == (20, 2) and y.shape == (20,) and out.shape == (20, 2)
        assert t[f"{k}/loss"].shape == ()
        # k/out is before softmax; k/loss is the mean cross-entropy of this batch
        assert np.isclose(float(t[f"{k}/loss"]), _cross_entropy(out, y), rtol=1e-12, atol=0)
        for i in range(n_layers):
            for p in ("W", "b"):
                before, grad, after = t[f"{k}/{p}{i}"], t[f"{k}/d{p}{i}"], t[f"{k + 1}/{p}{i}"]
                assert grad.shape == before.shape
                # plain sgd: the recorded gradients (of the full objective,
                # L2 included) are exactly the ones applied
                assert np.allclose(after, before + (-lr * grad), rtol=1e-12, atol=1e-15)
    assert not np.array_equal(t["0/x"], t["1/x"])  # successive batches


def test_trace_output_directory_missing(tmp_path: Path) -> None:
    write(tmp_path / "s.toml", xor_toml())
    out = tmp_path / "nodir" / "t.npz"
    proc = cli("trace", "s.toml", "--steps", 2, "-o", out, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert str(out) in proc.stderr  # the file the user named, not a temp file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


def test_trace_requires_steps_and_output(tmp_path: Path) -> None:
    write(tmp_path / "s.toml", xor_toml())
    proc = cli("trace", "s.toml", "--steps", 2, cwd=tmp_path)
    assert proc.returncode == 2
    assert "usage" in proc.stderr and "-o" in proc.stderr


# --------------------------------------------------------------------------
# --help, --version, bad arguments
# --------------------------------------------------------------------------


def test_help_has_examples() -> None:
    proc = cli("--help", script=True)
    assert proc.returncode == 0
    assert "examples" in proc.stdout.lower()
    for command in ("list", "check", "run", "trace"):
        assert f"tui-trainer {command}" in proc.stdout


def test_version() -> None:
    proc = cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"tui-trainer {__version__}"


@pytest.mark.parametrize(
    "args",
    [["--bogus"], ["run", "x.toml", "--bogus"], ["check"], ["run"]],
    ids=["top-level", "run", "check-no-files", "run-no-scenario"],
)
def test_bad_arguments_are_short(args: list[str], tmp_path: Path) -> None:
    proc = cli(*args, cwd=tmp_path, script=args == ["--bogus"])
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "usage" in proc.stderr.lower()
    lines = proc.stderr.strip().splitlines()
    assert len(lines) < 5, proc.stderr
    assert len([ln for ln in lines if "error:" in ln]) == 1


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--epochs", "0"),
        ("--epochs", "ten"),
        ("--lr", "nan"),
        ("--lr", "-1"),
        ("--seed", "-1"),
    ],
)
def test_bad_option_values(tmp_path: Path, flag: str, value: str) -> None:
    write(tmp_path / "s.toml", xor_toml())
    proc = cli("run", "s.toml", flag, value, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "usage" in proc.stderr.lower()
    errors = [ln for ln in proc.stderr.splitlines() if "error:" in ln]
    assert len(errors) == 1 and flag in errors[0] and value in errors[0]


# --------------------------------------------------------------------------
# run: interrupted, and its output files
# --------------------------------------------------------------------------


def _start_run(tmp_path: Path, *args: object, state: Path | None = None) -> subprocess.Popen:
    """A long headless run whose progress bar is drawn into a pipe (rich is told the
    pipe is an interactive terminal), with its recovery directory under tmp_path."""
    env = {
        **os.environ,
        "COLUMNS": "100",
        "NO_COLOR": "1",
        "PYTHONIOENCODING": "utf-8",
        "TTY_COMPATIBLE": "1",
        "TTY_INTERACTIVE": "1",
        "XDG_STATE_HOME": str(state or tmp_path / "state"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tui_trainer", "run", *(str(a) for a in args)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def _wait_epochs(proc: subprocess.Popen, epochs: int) -> bytes:
    """Read the progress until it shows ``epochs`` epochs done; return what was read."""
    seen = b""
    assert proc.stderr is not None
    while True:
        chunk = os.read(proc.stderr.fileno(), 4096)
        assert chunk, f"the run ended before {epochs} epochs:\n{seen.decode(errors='replace')}"
        seen += chunk
        done = [int(n) for n in re.findall(rb"epoch (\d+)/\d+", seen)]
        if done and max(done) >= epochs:
            return seen


def _interrupt(proc: subprocess.Popen, sig: int, seen: bytes) -> tuple[int, str, str]:
    """Send ``sig``; return (exit status, stdout, all of stderr)."""
    os.kill(proc.pid, sig)
    out, err = proc.communicate(timeout=TIMEOUT)
    stderr = (seen + err).decode("utf-8", errors="replace")
    assert "Traceback" not in stderr, stderr
    return proc.returncode, out.decode("utf-8", errors="replace"), stderr


@pytest.mark.parametrize(
    ("sig", "save"),
    [(signal.SIGTERM, True), (signal.SIGINT, False), (signal.SIGHUP, True)],
    ids=["SIGTERM-save", "SIGINT-recovery-dir", "SIGHUP-save"],
)
def test_run_interrupted_saves_a_checkpoint_and_says_how_to_resume(
    tmp_path: Path, sig: signal.Signals, save: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # also for cli()
    write(tmp_path / "s.toml", xor_toml(epochs=100000))
    extra = ("--save", "out.npz") if save else ()
    proc = _start_run(tmp_path, "s.toml", *extra)
    status, _, err = _interrupt(proc, sig, _wait_epochs(proc, 3))
    assert status == 128 + int(sig), err
    hints = [ln for ln in err.splitlines() if ln.startswith("resume with: ")]
    assert len(hints) == 1, err
    argv = shlex.split(hints[0].removeprefix("resume with: "))
    assert argv[:3] == ["tui-trainer", "run", "s.toml"]
    ckpt = Path(argv[argv.index("--resume") + 1])
    if save:
        assert ckpt == Path("out.npz") and argv[-2:] == ["--save", "out.npz"]
    else:
        assert ckpt.parent == tmp_path / "state" / "tui-trainer" / "recovery"
        assert ckpt.name.startswith("run-tiny-")
    ckpt = tmp_path / ckpt
    with np.load(ckpt, allow_pickle=False) as z:
        epoch = json.loads(str(z["state"]))["epoch"]
    assert epoch >= 3

    # The hint's command continues the run; stopped two epochs later it equals
    # a run that was never interrupted.
    resumed = cli(*argv[1:], "--epochs", epoch + 2, "--save", "resumed.npz", "-q", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    # Its work saved elsewhere, a recovery file of the run is dropped; a --save file stays.
    assert ckpt.exists() == save
    assert summary(resumed).startswith(f"tiny: {epoch + 2}/{epoch + 2} epochs done, ")
    straight = cli(
        "run", "s.toml", "--epochs", epoch + 2, "--save", "straight.npz", "-q", cwd=tmp_path
    )
    assert straight.returncode == 0, straight.stderr
    assert_same_state(tmp_path / "resumed.npz", tmp_path / "straight.npz")


def test_run_interrupted_into_unwritable_state_dir_says_where(tmp_path: Path) -> None:
    """XDG_STATE_HOME under a regular file: ENOTDIR, which stops even root."""
    blocker = write(tmp_path / "blocker", "a file\n")
    write(tmp_path / "s.toml", xor_toml(epochs=100000))
    proc = _start_run(tmp_path, "s.toml", state=blocker / "sub")
    status, _, err = _interrupt(proc, signal.SIGTERM, _wait_epochs(proc, 2))
    assert status == 143, err
    lines = [ln for ln in err.splitlines() if "could not save a checkpoint to" in ln]
    assert len(lines) == 1 and str(blocker / "sub") in lines[0], err
    assert "not a directory" in lines[0].lower(), err
    assert "NOT saved" in err and "resume with" not in err


def test_run_interrupted_save_dir_gone_falls_back_to_recovery_dir(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    write(tmp_path / "s.toml", xor_toml(epochs=100000))
    proc = _start_run(tmp_path, "s.toml", "--save", out / "c.npz")
    seen = _wait_epochs(proc, 2)
    out.rmdir()  # the --save directory went away during the run
    status, _, err = _interrupt(proc, signal.SIGTERM, seen)
    assert status == 143, err
    assert f"could not save a checkpoint to {out / 'c.npz'}" in err
    saved = list((tmp_path / "state" / "tui-trainer" / "recovery").glob("run-tiny-*.npz"))
    assert len(saved) == 1 and f"--resume {saved[0]}" in err


def test_run_metrics_path_checked_before_training(tmp_path: Path) -> None:
    """A bad --metrics path fails at once (this run would take minutes), naming the flag."""
    write(tmp_path / "s.toml", xor_toml(epochs=100000))
    proc = cli(
        "run",
        "s.toml",
        "-q",
        "--metrics",
        tmp_path / "nonexistent" / "m.csv",
        "--save",
        "ok.npz",
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--metrics" in lines[0] and "nonexistent" in lines[0], lines
    assert not (tmp_path / "ok.npz").exists()


@pytest.mark.parametrize("which", ["--save", "--metrics"])
def test_run_output_into_a_file_path_fails_before_training(tmp_path: Path, which: str) -> None:
    write(tmp_path / "s.toml", xor_toml(epochs=100000))
    write(tmp_path / "plain", "a file\n")
    name = "sub/x.npz" if which == "--save" else "sub/m.csv"
    proc = cli("run", "s.toml", "-q", which, tmp_path / "plain" / name, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert which in proc.stderr and "Not a directory" in proc.stderr


def test_run_failed_metrics_write_does_not_cost_the_checkpoint(tmp_path: Path) -> None:
    """One output failing at the end never stops the other being written."""
    from tui_trainer.cli import _write_outputs, load

    write(tmp_path / "s.toml", xor_toml(epochs=1))
    sc, session = load(str(tmp_path / "s.toml"))
    session.advance("step", 3)
    gone = tmp_path / "gone" / "m.csv"
    failed = _write_outputs(session, sc, gone, tmp_path / "ok.npz")
    assert (tmp_path / "ok.npz").is_file()
    assert len(failed) == 1 and str(gone) in failed[0]
    failed = _write_outputs(session, sc, tmp_path / "m.csv", tmp_path / "gone" / "x.npz")
    assert (tmp_path / "m.csv").is_file()
    assert len(failed) == 1 and "--save" in failed[0]


@pytest.mark.parametrize(("scenario", "lr"), [("mse_vs_ce", "1e30"), ("divergence", "1e30")])
def test_run_diverged_prints_no_nan(tmp_path: Path, scenario: str, lr: str) -> None:
    proc = cli("run", scenario, "--lr", lr, "--epochs", 3, "-q", cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr
    line = summary(proc)
    assert not re.search(r"\b(nan|inf)\b", line, re.I), line
    # "n/a" once an epoch was measured as non-finite, "-" when none ended before the NaN
    assert re.search(r"train_loss (n/a|-), val_loss (n/a|-)", line), line


@pytest.mark.parametrize("which", ["--save", "--metrics"])
def test_run_output_onto_a_fifo_is_refused(tmp_path: Path, which: str) -> None:
    """A rename would replace a device or FIFO (think --save /dev/null as root)."""
    write(tmp_path / "s.toml", xor_toml(epochs=1))
    fifo = tmp_path / ("x.npz" if which == "--save" else "m.csv")
    os.mkfifo(fifo)
    proc = cli("run", "s.toml", "-q", which, fifo, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert which in proc.stderr and "not a regular file" in proc.stderr
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
