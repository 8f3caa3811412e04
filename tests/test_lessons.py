"""Lessons: the [[lesson]] schema, its checks, live values, until edges and progress."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import expectation
from tui_trainer.engine.context import SessionContext
from tui_trainer.lessons import (
    LessonContext,
    Until,
    course_files,
    fill,
    load_progress,
    next_lesson,
    progress_file,
    save_progress,
)
from tui_trainer.scenario import ScenarioError, load_scenario, parse_scenario

HERE = Path(__file__).parent
BROKEN_LESSONS = sorted((HERE / "broken_scenarios").glob("lesson_*.toml"))

GOOD = """\
    name = "tiny lesson"
    [[lesson]]
    say = "The learning rate is {lr}; literal {{braces}}."
    do = "press n"
    until = "phase == FORWARD"
    show = "chart"

    [[lesson]]
    ask = "Which way does the loss go?"
    choices = ["down", "up"]
    answer = "down"
    why = "A small step downhill."
    set = { lr = 0.5, epochs = 3 }
    """


def test_a_good_lesson_is_read_with_its_lines() -> None:
    sc = parse_scenario(textwrap.dedent(GOOD), "good.toml")
    assert [s.line for s in sc.lesson] == [2, 8]
    first, second = sc.lesson
    assert (first.until, first.show, first.do) == ("phase == FORWARD", "chart", "press n")
    assert second.choices == ("down", "up") and second.answer == "down"
    assert dict(second.set) == {"lr": 0.5, "epochs": 3}


@pytest.mark.parametrize("path", BROKEN_LESSONS, ids=lambda p: p.stem)
def test_each_lesson_mistake_gets_exactly_one_clear_error(path: Path) -> None:
    field, substring, line = expectation(path)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    problems = info.value.problems
    assert len(problems) == 1, str(info.value)
    assert problems[0].field == field and substring in problems[0].message
    assert problems[0].line == line


def test_check_exits_2_on_each_broken_lesson() -> None:
    assert len(BROKEN_LESSONS) >= 5
    for path in BROKEN_LESSONS:
        proc = subprocess.run(
            [sys.executable, "-m", "tui_trainer", "check", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        _, substring, line = expectation(path)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count(f"{path}:") == 1
        assert f"{path}:{line}: " in proc.stderr and substring in proc.stderr
        assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "step, message",
    [
        ('ask = "?"\nchoices = ["a", "b"]\nwhy = "w"', "question (ask) needs answer"),
        ('say = "x"\nanswer = "a"', "answer belongs to a question"),
        ('say = "x"\nset = { lr = -1 }', "got -1"),
        ('say = "x"\nset = { layers = 3 }', "unknown key"),
        ('say = "x"\nset = { hidden = 3 }', "expected an array of layer sizes"),
        ('say = "x"\nset = { hidden = [2, 1000] }', "expected an array of layer sizes"),
        ('say = "x"\nset = { loss = "hinge" }', "unknown loss"),
        ('say = "x"\nset = { activation = "gelu" }', "unknown activation"),
        ('say = "x"\nuntil = "epoch >= "', "invalid condition"),
        ('do = "n"', "needs say"),
        ('say = "x"\nchoices = ["a"]', "expected 2 to 6"),
        ('say = "x"\nset = { l1 = -0.1 }', "got -0.1"),
        ('say = "x"\nset = { schedule = "warp" }', "unknown schedule"),
        ('say = "x"\nset = { step_size = 0 }', "got 0"),
        ('say = "x"\nset = { gamma = 0.0 }', "got 0.0"),
        ('say = "x"\nset = { warmup_epochs = 2.5 }', "got 2.5"),
    ],
)
def test_other_step_mistakes(step: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(f"[[lesson]]\n{step}\n", "x.toml")
    assert any(message in p.message for p in info.value.problems), str(info.value)


def test_set_of_l1_and_a_schedule_is_read() -> None:
    sc = parse_scenario(
        '[[lesson]]\nsay = "x"\nset = { l1 = 0.001, schedule = "step", step_size = 5, '
        "gamma = 0.5, warmup_epochs = 2, min_lr = 0.001, t_max = 40 }\n",
        "x.toml",
    )
    assert dict(sc.lesson[0].set) == {
        "l1": 0.001,
        "schedule": "step",
        "step_size": 5,
        "gamma": 0.5,
        "warmup_epochs": 2,
        "min_lr": 0.001,
        "t_max": 40,
    }


def test_set_of_the_network_is_read() -> None:
    sc = parse_scenario(
        '[[lesson]]\nsay = "x"\nset = { hidden = [2, 3], loss = "mse", activation = "relu" }\n',
        "x.toml",
    )
    assert dict(sc.lesson[0].set) == {"hidden": (2, 3), "loss": "mse", "activation": "relu"}


def test_rebuild_starts_a_new_network_with_the_same_seed_and_data() -> None:
    """Rebuilding with the file's own shape gives the file's run back bit for bit;
    other sizes, loss and activation change the layers; hyperparameters set so far
    are kept."""
    import numpy as np

    from pilot import xor_session
    from tui_trainer.lessons import rebuild

    s = xor_session()
    s.set_hyper(lr=0.5)
    s.advance("epoch")
    same = rebuild(s, {"hidden": [ly.units for ly in s.cfg.layers[:-1]]})
    fresh = xor_session()
    fresh.set_hyper(lr=0.5)
    assert same.epoch == 0 and same.data is s.data
    np.testing.assert_array_equal(same.net.layers[0].W, fresh.net.layers[0].W)
    same.advance("epoch")
    fresh.advance("epoch")
    np.testing.assert_array_equal(same.net.layers[0].W, fresh.net.layers[0].W)
    other = rebuild(s, {"hidden": [3, 2], "activation": "relu", "loss": "mse"})
    assert [(ly.units, ly.activation) for ly in other.cfg.layers[:-1]] == [(3, "relu"), (2, "relu")]
    assert other.cfg.loss == "mse" and other.hyper.lr == 0.5
    assert other.cfg.layers[-1].units == s.data.n_outputs


def test_lesson_must_be_an_array_of_tables() -> None:
    with pytest.raises(ScenarioError, match="double brackets"):
        parse_scenario('[lesson]\nsay = "x"\n', "x.toml")


def test_quoted_values_and_phase_follow_the_session() -> None:
    from pilot import xor_session

    s = xor_session()
    ctx = LessonContext(SessionContext(s))
    assert fill("lr {lr}, loss {batch_loss}, {{x}}", ctx) == "lr 0.1, loss -, {x}"
    until = Until("phase == BACKPROP")
    until.arm(ctx)
    s.advance("phase")  # FORWARD
    s.advance("phase")  # LOSS
    assert not until.check(ctx)
    s.advance("phase")  # BACKPROP
    assert until.check(ctx)
    assert fill("{batch_loss}", ctx) == f"{s.rec.loss:.4g}"


def test_before_names_quote_the_run_before_a_rebuild() -> None:
    from pilot import xor_session
    from tui_trainer.lessons import rebuild

    old = xor_session()
    old.advance("epoch")
    new = rebuild(old, {"loss": "mse"})
    assert fill("{before_val_accuracy}", LessonContext(SessionContext(new))) == "-"
    ctx = LessonContext(SessionContext(new), SessionContext(old))
    acc = old.history.epochs.last("val_accuracy")
    assert fill("{before_val_accuracy} {before_epoch}", ctx) == f"{acc:.4g} 1"


def test_until_fires_when_it_becomes_true_not_when_already_true() -> None:
    from pilot import xor_session

    s = xor_session()
    ctx = LessonContext(SessionContext(s))
    until = Until("step >= 0")
    until.arm(ctx)  # true already when the step begins
    s.advance("step")
    assert not until.check(ctx)


def test_progress_is_saved_under_xdg_state_home(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert load_progress() == {"completed": [], "last": 0}
    save_progress(1, completed=True)
    save_progress(2, completed=False)
    assert progress_file() == tmp_path / "tui-trainer" / "course.json"
    assert json.loads(progress_file().read_text()) == {"completed": [1], "last": 2}
    assert next_lesson(3) == 2
    progress_file().write_text("{not json")
    assert load_progress() == {"completed": [], "last": 0}  # damaged: a fresh start


def test_shipped_lessons_load() -> None:
    for path in course_files():
        sc = load_scenario(path)
        assert sc.lesson, path


def test_rebuild_with_data_switches_the_problem() -> None:
    """``set = { data = ... }`` generates the new data with the session's seed
    (the same arrays as a scenario with that data section and seed), builds the
    output layer for it, and keeps the hyperparameters set so far."""
    import numpy as np

    from tui_trainer.lessons import rebuild

    sine = parse_scenario(
        'seed = 4\n[data]\nkind = "sine"\n[training]\nloss = "mse"\n', "sine.toml"
    )
    gauss = parse_scenario(
        'seed = 4\n[data]\nkind = "gauss"\nclasses = 3\nn_samples = 120\nnoise = 0.3\n'
        '[training]\nloss = "cross_entropy"\n',
        "gauss.toml",
    )
    from tui_trainer.engine.session import Session

    s = Session(sine.train_config(sine.load_data()), sine.load_data())
    s.set_hyper(lr=0.05)
    s.advance("epoch")
    spec = {"kind": "gauss", "classes": 3, "n_samples": 120, "noise": 0.3}
    new = rebuild(s, {"data": spec, "loss": "cross_entropy"})
    want = gauss.load_data()
    assert new.epoch == 0 and new.data.task == "classification" and new.data.n_classes == 3
    np.testing.assert_array_equal(new.data.x_train, want.x_train)
    np.testing.assert_array_equal(new.data.y_val, want.y_val)
    assert new.cfg.layers[-1].units == 3 and new.cfg.loss == "cross_entropy"
    assert new.hyper.lr == 0.05
