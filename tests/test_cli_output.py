"""What ``tui-trainer run`` and ``--help`` say, as a person reads it (issue 12, item 11):
one epoch count in the summary and the divergence line, "-" for what was
not measured yet, a resumed run that has nothing left says so, and every
command and option explains itself."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from test_cli import STEPS_PER_EPOCH, cli, summary, write, xor_toml

from tui_trainer.cli import build_parser


def test_every_command_and_option_has_help() -> None:
    parser = build_parser()
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert subs, "no subcommands"
    helps = {c.dest: c.help for c in subs[0]._choices_actions}
    for name, sub in subs[0].choices.items():
        assert helps.get(name), f"{name}: no one-line help in the command list"
        assert sub.description, f"tui-trainer {name} --help: no description"
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            what = action.option_strings or [action.dest]
            assert action.help and action.help.strip(), f"tui-trainer {name}: {what} has no help"


def test_run_help_describes_positional_and_steps() -> None:
    out = cli("trace", "--help").stdout
    assert re.search(r"--steps STEPS\s+how many steps to record", out), out
    assert re.search(r"scenario\s+a built-in name or a \.toml path", out), out


def test_divergence_names_one_epoch_count(tmp_path: Path) -> None:
    proc = cli("run", "divergence", "-q", cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr
    reason = re.search(r"in epoch (\d+) \((\d+) of (\d+) epochs done\)", proc.stderr)
    assert reason, proc.stderr
    shown = re.search(r"divergence: (\d+)/(\d+) epochs done", summary(proc))
    assert shown, proc.stdout
    during, done, total = map(int, reason.groups())
    assert during == done + 1  # diverged in the epoch after the last one done
    assert (done, total) == tuple(map(int, shown.groups()))


def test_values_not_measured_yet_print_a_dash(tmp_path: Path) -> None:
    scenario = write(
        tmp_path / "tiny.toml", xor_toml(epochs=4, extra='breakpoints = ["step >= 3"]')
    )
    proc = cli("run", scenario, "--break", "-q", cwd=tmp_path)
    assert proc.returncode == 4, proc.stderr
    line = summary(proc)
    assert "0/4 epochs done, step 3" in line
    assert "train_loss -, val_loss -, val_accuracy -" in line
    assert "nan" not in line.lower()


def test_resume_with_nothing_left_says_so_and_epochs_extends(tmp_path: Path) -> None:
    scenario = write(tmp_path / "tiny.toml", xor_toml(epochs=2))
    done = cli("run", scenario, "--save", "done.npz", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    again = cli("run", scenario, "--resume", "done.npz", "-q", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "finished all 2 epochs" in again.stderr and "--epochs" in again.stderr
    assert summary(again).startswith(f"tiny: 2/2 epochs done, step {2 * STEPS_PER_EPOCH}, ")
    more = cli("run", scenario, "--resume", "done.npz", "--epochs", 3, "-q", cwd=tmp_path)
    assert more.returncode == 0, more.stderr
    assert "nothing left" not in more.stderr
    assert summary(more).startswith(f"tiny: 3/3 epochs done, step {3 * STEPS_PER_EPOCH}, ")
