"""`tui-trainer torch FILE.py:make` and the two examples it is shown with."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # CI installs torch (the test extra); users may not

from tui_trainer.cli import main  # noqa: E402
from tui_trainer.engine.stepper import Phase  # noqa: E402
from tui_trainer.torch.user import call_make, load_make, session_from_make  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "model.py"
    p.write_text(textwrap.dedent(body))
    return p


GOOD = """
    import torch
    from torch import nn

    def make():
        torch.manual_seed(0)
        x = torch.randn(40, 3)
        y = (x[:, 0] > 0).long()
        m = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
        return m, nn.CrossEntropyLoss(), torch.optim.SGD(m.parameters(), lr=0.1), (x, y), (x, y)
"""


def test_runs_a_users_file_to_the_end(tmp_path, capsys):
    p = write(tmp_path, GOOD)
    assert main(["torch", f"{p}:make", "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "epoch 2/2" in out and "2/2 epochs" in out


@pytest.mark.parametrize(
    "body, target, message",
    [
        (GOOD, "{p}:nothere", "no function nothere()"),
        ("def make(:\n", "{p}", "syntax error"),
        ("raise ValueError('at import')\n", "{p}", "ValueError: at import"),
        ("def make():\n    return 42\n", "{p}", "expected a dict or a tuple"),
        ("def make():\n    return {'model': 1}\n", "{p}", "did not return loss_fn"),
        ("def make():\n    raise KeyError('mine')\n", "{p}:make", "raised KeyError"),
        (GOOD, "{d}/missing.py:make", "no such file"),
        (GOOD, "{d}/notes.txt", "expected a Python file"),
    ],
)
def test_bad_file_or_make_is_one_message_exit_2(tmp_path, capsys, body, target, message):
    p = write(tmp_path, body)
    assert main(["torch", target.format(p=p, d=tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_unknown_key_from_make_is_named(tmp_path, capsys):
    extra = """
    def make2():
        keys = ("model", "loss_fn", "optimizer", "train")
        d = dict(zip(keys, make()))
        d["lr"] = 1
        return d
"""
    p = write(tmp_path, GOOD + extra)
    assert main(["torch", f"{p}:make2"]) == 2
    assert "unknown key(s) 'lr'" in capsys.readouterr().err


def test_a_nan_is_reported_at_its_module_exit_3(tmp_path, capsys):
    p = write(
        tmp_path,
        GOOD
        + """
    class Bad(nn.Module):
        def forward(self, x):
            return x * float("nan")

    def broken():
        m, loss, opt, train, val = make()
        m = nn.Sequential(m[0], m[1], Bad(), m[2])
        return m, loss, torch.optim.SGD(m.parameters(), lr=0.1), train, val
""",
    )
    assert main(["torch", f"{p}:broken"]) == 3
    err = capsys.readouterr().err
    assert "non-finite output at step 0, FORWARD 2" in err


def test_installed_command_on_the_cnn_example():
    exe = Path(sys.executable).with_name("tui-trainer")
    out = subprocess.run(
        [str(exe), "torch", str(EXAMPLES / "torch_cnn_digits.py") + ":make", "--steps", "3"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "step 3" in out.stdout


@pytest.mark.parametrize("example", ["torch_mlp.py", "torch_cnn_digits.py"])
def test_examples_step_phase_by_phase_and_back(example: str):
    path = EXAMPLES / example
    with session_from_make(call_make(load_make(f"{path}:make"), path)) as s:
        s.run(max_steps=3)
        want = {k: v.clone() for k, v in s.model.state_dict().items()}
        phases = []
        while True:
            ev = s.advance("phase")
            phases.append(ev.phase)
            if s.pos == 0:
                break
        assert phases == [Phase.FORWARD, Phase.LOSS, Phase.BACKWARD, Phase.UPDATE]
        assert len(s.module_outputs()) == s.n_layers
        after = {k: v.clone() for k, v in s.model.state_dict().items()}
        s.back("step")
        for k, v in s.model.state_dict().items():
            assert torch.equal(v, want[k]), k
        s.advance("step")
        for k, v in s.model.state_dict().items():
            assert torch.equal(v, after[k]), k
        assert np.isfinite(s.history.steps.last("loss"))
