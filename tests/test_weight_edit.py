"""Editing a weight by hand: recorded like a hyperparameter change, so step-back
undoes it bit for bit and every replay (goto, replay from the start) redoes it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from helpers import make_session
from tui_trainer.engine.reverse import replay_from_origin
from tui_trainer.engine.session import MAX_EDIT, SessionError, fork_session


def params(s):
    return [p.copy() for p in s.net.params()]


def assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y, equal_nan=True)


def train_loss(s) -> float:
    return s.evaluate(s.x_train, s.y_train, s.labels_train)[0]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_edit_at_a_boundary_then_back_restores_bit_exactly(optimizer):
    s = make_session(optimizer=optimizer)
    s.advance("step", 5)
    before, loss0 = params(s), train_loss(s)
    at, old = s.edit_weight(0, 1, 0, 3.5)
    assert at == 5 and old == before[0][1, 0]
    assert s.net.layers[0].W[1, 0] == 3.5
    assert train_loss(s) != loss0  # the loss of the edited network, at once
    # The last update of the edited layer no longer leads to its weights: it is
    # not shown (explain would print a wrong "old" and "new"); the others' are.
    assert not s.net.layers[0].delta_valid and s.net.layers[1].delta_valid
    s.advance("step", 3)
    edited_future = params(s)
    s.goto(5 * s.E)  # back to the boundary the edit was made at: the edit is there
    assert s.net.layers[0].W[1, 0] == 3.5
    s.back("step")  # before it: the weights exactly as they were
    s.advance("step")
    s.goto(8 * s.E)  # and forward again through the edit: the same future
    assert_same(params(s), edited_future)
    s.goto(4 * s.E)
    s.advance("step")  # arriving at step 5 by training sets the edited weight again
    assert s.net.layers[0].W[1, 0] == 3.5


def test_back_before_the_edit_restores_every_weight():
    s = make_session()
    s.advance("step", 5)
    s.advance("layer", 1)
    s.back("layer")  # at the boundary of step 5
    s.back("step")  # boundary of step 4
    want = params(s)
    s.advance("step")
    s.edit_weight(1, 0, 0, -2.0)
    s.back("step")
    assert_same(params(s), want)


def test_edit_inside_a_step_replays_the_step_with_the_new_weight():
    s = make_session()
    s.advance("step", 3)
    s.advance("phase", 2)  # forward and loss done
    here, loss_before = s.position, s.rec.loss
    at, _ = s.edit_weight(0, 0, 0, 5.0)
    assert at == 3 and s.position == here
    assert s.rec.loss != loss_before  # the step's loss is the edited network's
    ref = make_session()
    ref.advance("step", 3)
    ref.edit_weight(0, 0, 0, 5.0)
    ref.advance("phase", 2)
    assert s.rec.loss == ref.rec.loss
    assert_same(params(s), params(ref))


def test_replay_from_the_start_reproduces_the_edit():
    s = make_session()
    s.advance("step", 4)
    s.edit_weight(0, 1, 1, -1.25)
    s.advance("step", 6)
    want = params(s)
    t = replay_from_origin(s)
    t.goto(s.position)
    assert_same(params(t), want)
    f = fork_session(s)
    f.goto(2 * f.E)
    f.goto(s.position)
    assert_same(params(f), want)


def test_an_edit_rewrites_the_future():
    s = make_session()
    s.advance("step", 6)
    s.edit_weight(0, 0, 1, 1.0)
    s.set_hyper(lr=0.2)
    s.goto(3 * s.E)
    s.edit_weight(0, 0, 0, 2.0)  # an edit at step 3 drops the later changes
    assert list(s._edit_log) == [3]
    assert s._hp_log == {}


@pytest.mark.parametrize(
    "where,value",
    [
        ((0, 0, 0), math.nan),
        ((0, 0, 0), math.inf),
        ((0, 0, 0), MAX_EDIT * 2),
        ((5, 0, 0), 1.0),
        ((0, 99, 0), 1.0),
        ((0, 0, -1), 1.0),
    ],
)
def test_bad_edits_are_refused_and_change_nothing(where, value):
    s = make_session()
    s.advance("step", 2)
    want = params(s)
    with pytest.raises(SessionError):
        s.edit_weight(*where, value)
    assert_same(params(s), want)
    assert s._edit_log == {}


def test_a_checkpoint_keeps_the_edits_ahead_of_it(tmp_path):
    """Step back before two hand edits and save a checkpoint: resuming it and
    running on sets both weights again at their steps, as the session would
    (a checkpoint keeps the future's hyperparameter changes, and so its edits)."""
    from tui_trainer.engine.checkpoint import load_checkpoint, save_checkpoint
    from tui_trainer.engine.session import Session

    s = make_session(optimizer="adam")
    s.advance("step", 4)
    s.edit_weight(0, 1, 0, 3.5)
    s.advance("step", 2)
    s.edit_weight(1, 0, 1, -1.25)
    s.advance("step", 4)
    end = params(s)
    s.goto(2 * s.E)
    path = save_checkpoint(s, tmp_path / "before-edits.npz")
    t = Session(s.cfg, s.data0)
    load_checkpoint(t, path)
    assert t.step == 2
    t.advance("step", 8)
    assert_same(params(t), end)
