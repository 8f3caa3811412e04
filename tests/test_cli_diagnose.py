"""``tui-trainer diagnose``: headless diagnosis, text and JSON, exit statuses."""

from __future__ import annotations

import json
from pathlib import Path

from test_cli import cli

from tui_trainer.engine.diagnostics import CODES

REQUIRED = {"scenario", "code", "severity", "layer", "step", "evidence", "fixes"}

BROKEN_LR = """\
name = "too big a step"
seed = 3
[data]
kind = "xor"
n_samples = 200
[model]
hidden = [8]
activation = "tanh"
[training]
lr = 50.0
epochs = 10
"""

HEALTHY = """\
name = "healthy"
seed = 1
[data]
kind = "gauss"
n_samples = 200
[model]
hidden = [8]
activation = "tanh"
init = "normal"
init_std = 0.1
[training]
lr = 0.05
epochs = 10
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_json_has_one_object_per_finding_with_its_fixes(tmp_path: Path) -> None:
    bad = _write(tmp_path, "bad.toml", BROKEN_LR)
    proc = cli("diagnose", bad, "--json")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert rows
    for row in rows:
        assert REQUIRED <= set(row)
        assert row["scenario"] == str(bad)
        assert row["code"] in CODES
        assert row["seen_step"] >= 0
    lr = [r for r in rows if r["code"] == "lr_too_large"]
    assert lr, rows
    assert lr[0]["fixes"][0] == {"training.lr": 0.03}  # far off: sgd's typical rate


def test_text_names_code_layer_step_and_fixes_and_exit_0_even_with_findings(
    tmp_path: Path,
) -> None:
    bad = _write(tmp_path, "bad.toml", BROKEN_LR)
    ok = _write(tmp_path, "ok.toml", HEALTHY)
    proc = cli("diagnose", bad, ok, "--epochs", "8")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"{bad}: " in out and "lr_too_large (warning): layer" in out
    assert "seen at step" in out and "try: lr = 0.03" in out
    assert f"{ok}: no findings (8 epochs" in out


def test_bad_file_exits_2_with_the_usual_message_and_the_others_still_run(
    tmp_path: Path,
) -> None:
    broken = _write(tmp_path, "broken.toml", HEALTHY.replace("lr = 0.05", 'lr = "fast"'))
    ok = _write(tmp_path, "ok.toml", HEALTHY)
    proc = cli("diagnose", broken, ok, "--json")
    assert proc.returncode == 2
    assert "broken.toml:" in proc.stderr and "training.lr" in proc.stderr
    assert proc.stdout == ""  # the healthy file was diagnosed: nothing found
    missing = cli("diagnose", tmp_path / "nope.toml")
    assert missing.returncode == 2 and "nope.toml" in missing.stderr
    usage = cli("diagnose", ok, "--epochs", "0")
    assert usage.returncode == 2 and "--epochs" in usage.stderr
