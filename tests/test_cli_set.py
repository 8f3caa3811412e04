"""``--set KEY=VALUE`` on every command that opens a scenario, and the one-line
command the app prints for its setup (scenario/overrides.py)."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tui_trainer.cli import build_parser, main, open_scenario
from tui_trainer.scenario import builtin_dir, load_scenario
from tui_trainer.scenario.overrides import apply_sets, command_line
from tui_trainer.scenario.write import _document


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_set_overrides_settings_short_and_dotted() -> None:
    sc = open_scenario(
        "xor",
        ["lr=0.3", "model.hidden=[8,8]", 'data.features=["x1","x1^2"]', "activation=relu"],
    )
    assert sc.lr == 0.3
    assert [ly.units for ly in sc.model.hidden] == [8, 8]
    assert {ly.activation for ly in sc.model.hidden} == {"relu"}
    assert sc.data.features == ("x1", "x1^2")
    assert sc.load_data().x_train.shape[1] == 2
    # What is not set stays as the file has it.
    base = load_scenario(builtin_dir() / "xor.toml")
    assert (sc.seed, sc.epochs, sc.data.kind) == (base.seed, base.epochs, base.data.kind)


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("model.hidden=[0,8]", "--set model.hidden[0]: must be >= 1"),
        ("lr=-1", "--set lr: must be > 0"),
        ("training.lr=abc", "--set training.lr: expected a number"),
        ('data.features=["x1","x3^2"]', "--set data.features[1]: unknown feature 'x3^2'"),
        ("learning_rate=0.1", "--set learning_rate: unknown setting 'learning_rate'; did you"),
        ("training.seed=3", "--set training.seed: seed is a top-level setting: write seed"),
        ("model.lr=3", "--set model.lr: lr is in [training]: write training.lr"),
        ("lr", "--set: expected KEY=VALUE"),
        ("lr=", "--set lr: has no value"),
        ("kind=spirall", "did you mean 'spiral'?"),
    ],
)
def test_bad_set_is_reported_like_the_file_with_exit_2(
    capsys: pytest.CaptureFixture[str], option: str, expected: str
) -> None:
    code, out, err = run(capsys, "check", "xor", "--set", option)
    assert code == 2
    assert expected in err
    assert "xor.toml: --set" in err or "--set:" in err  # the option, not a line number
    assert "Traceback" not in err


def test_a_setting_the_override_breaks_elsewhere_keeps_the_files_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """xor says loss = "cross_entropy": a regression kind breaks that line of the file."""
    code, _, err = run(capsys, "check", "xor", "--set", "kind=sine")
    assert code == 2
    line = load_scenario(builtin_dir() / "xor.toml").line_of("training.loss")
    assert f"xor.toml:{line}: training.loss: loss 'cross_entropy' needs class labels" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "xor"],
        ["run", "xor", "-q"],
        ["trace", "xor", "--steps", "1", "-o", "never.npz"],
        ["find", "xor", "loss < 0"],
        ["compare", "xor"],
        ["open", "xor"],
        ["xor"],
    ],
)
def test_every_command_that_opens_a_scenario_takes_set(
    capsys: pytest.CaptureFixture[str], argv: list[str], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, *argv, "--set", "model.hidden=[0]")
    assert code == 2
    assert "--set model.hidden[0]: must be >= 1" in err
    assert not (tmp_path / "never.npz").exists()


def test_serve_passes_set_to_the_app_it_starts(monkeypatch, capsys) -> None:
    pytest.importorskip("textual_serve")
    import socket

    from tui_trainer import web

    started: list[str] = []

    class Fake:
        def __init__(self, command: str, **kw: object) -> None:
            started.append(command)

        def serve(self) -> None:
            pass

    monkeypatch.setattr(web, "GuardedServer", Fake)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, _, _ = run(
        capsys, "serve", "xor", "--port", str(port), "--set", "lr=0.3", "--set", "model.hidden=[8]"
    )
    assert code == 0
    (command,) = started
    assert shlex.split(command)[-4:] == ["--set", "lr=0.3", "--set", "model.hidden=[8]"]
    code, _, err = run(capsys, "serve", "xor", "--port", str(port), "--set", "lr=0")
    assert code == 2 and "--set lr: must be > 0" in err
    assert len(started) == 1  # refused before serving


def test_run_with_set_trains_what_was_set(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "run",
        "circle_features",
        "-q",
        "--set",
        "epochs=2",
        "--set",
        'data.features=["x1","x2"]',
    )
    assert code == 0
    assert "2/2 epochs done" in out


def test_command_line_reproduces_the_setup() -> None:
    """The app's one-line command, parsed by the real argument parser and
    applied, gives the very settings it was made from."""
    base = load_scenario(builtin_dir() / "xor.toml")
    now = {
        "lr": 0.3,
        "hidden": [8, 8],
        "features": ["x1", "x2", "x1*x2", "sin(x1)"],
        "noise": 0.25,
        "val_fraction": 0.4,
        "data_seed": 7,
        "batch_size": "full",
        "optimizer": "adam",
    }
    line = command_line(base, now)
    argv = shlex.split(line)
    assert argv[:2] == ["tui-trainer", "xor"]
    args = build_parser().parse_args(["open", *argv[1:]])
    got = open_scenario(args.scenario, args.set)
    want = apply_sets(base, [])  # unchanged
    expected = _document(load_scenario(builtin_dir() / "xor.toml"), None)
    assert _document(got, None) != expected
    from tui_trainer.scenario import parse_scenario

    assert _document(got, None) == _document(parse_scenario(base.to_toml(**now)), None)
    assert want is base
    # Nothing changed: just the scenario's name.
    assert command_line(base, {}) == "tui-trainer xor"


def test_command_line_runs_in_a_shell(tmp_path: Path) -> None:
    base = load_scenario(builtin_dir() / "xor.toml")
    line = command_line(base, {"epochs": 1, "features": ["x1", "x1^2"]}, program="check")
    argv = shlex.split(line)
    proc = subprocess.run(
        [sys.executable, "-m", "tui_trainer", *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "xor: ok" in proc.stdout
