"""Multiply-adds of a training step and a run, against counts done by hand."""

from __future__ import annotations

from pilot import xor_session
from tui_trainer.engine.compute import (
    GPT3_MACS,
    run_macs,
    session_counts,
    si,
    step_macs,
)


def test_step_of_2_4_2_on_10_samples_by_hand() -> None:
    # forward: x(10x2)@W(2x4) = 80, h(10x4)@W(4x2) = 80            -> 160
    # backward: dW1 = x.T@dz (2x10 @ 10x4) = 80 (no dx for layer 1),
    #           dW2 = h.T@dz (4x10 @ 10x2) = 80, dx = dz@W2.T = 80  -> 240
    # update: 2*4+4 + 4*2+2 = 22                                    -> 22
    c = step_macs([2, 4, 2], 10)
    assert (c.forward, c.backward, c.update, c.total) == (160, 240, 22, 422)


def test_step_of_3_16_16_1_on_32_samples_by_hand() -> None:
    # forward: 32*(3*16 + 16*16 + 16*1) = 32*320 = 10240
    # backward: 32*3*16 + 2*32*16*16 + 2*32*16*1 = 1536 + 16384 + 1024 = 18944
    # update: (48+16) + (256+16) + (16+1) = 353
    c = step_macs([3, 16, 16, 1], 32)
    assert (c.forward, c.backward, c.update) == (10240, 18944, 353)


def test_run_counts_the_short_last_batch() -> None:
    # 25 samples in batches of 10: two steps of 10 and one of 5, per epoch
    per_epoch = 2 * step_macs([2, 4, 2], 10).total + step_macs([2, 4, 2], 5).total
    assert run_macs([2, 4, 2], 25, 10, 3) == 3 * per_epoch


def test_session_counts_follow_the_network_and_batch() -> None:
    s = xor_session()  # 2 -> 4 -> 2, batches of 10, 160 samples, 20 epochs
    step, run, samples = session_counts(s)
    assert step == 422 and run == 20 * 16 * 422 and samples == 20 * 160


def test_gpt3_compute_is_3_mult_adds_per_parameter_per_token() -> None:
    assert GPT3_MACS == 3 * 175e9 * 300e9
    assert si(1234567) == "1.23M" and si(999) == "999"
