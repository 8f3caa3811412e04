"""Each optimizer's update equals a hand computation of PyTorch's formula."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tui_trainer.engine.optim import Hyper, make_optimizer

GRADS = [np.array([[0.5, -1.0], [2.0, 0.0]]), np.array([0.1, -0.3])]
GRADS2 = [np.array([[-0.2, 0.4], [1.0, 3.0]]), np.array([0.0, 0.7])]


def test_sgd():
    opt = make_optimizer("sgd", [g.shape for g in GRADS], np.dtype("float64"))
    d = opt.deltas(GRADS, Hyper(lr=0.1))
    np.testing.assert_allclose(d[0], -0.1 * GRADS[0])
    d = opt.deltas(GRADS2, Hyper(lr=0.5))  # lr changes between steps
    np.testing.assert_allclose(d[1], -0.5 * GRADS2[1])


def test_momentum_pytorch_convention():
    mu, lr = 0.9, 0.1
    opt = make_optimizer("momentum", [g.shape for g in GRADS], np.dtype("float64"))
    d1 = opt.deltas(GRADS, Hyper(lr=lr, momentum=mu))
    np.testing.assert_allclose(d1[0], -lr * GRADS[0])  # v1 = g1
    d2 = opt.deltas(GRADS2, Hyper(lr=lr, momentum=mu))
    v2 = mu * GRADS[0] + GRADS2[0]
    np.testing.assert_allclose(d2[0], -lr * v2)
    d3 = opt.deltas(GRADS, Hyper(lr=0.2, momentum=mu))
    np.testing.assert_allclose(d3[0], -0.2 * (mu * v2 + GRADS[0]))


def test_adam_bias_correction_hand_computed():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    opt = make_optimizer("adam", [g.shape for g in GRADS], np.dtype("float64"))
    m = [np.zeros_like(g) for g in GRADS]
    v = [np.zeros_like(g) for g in GRADS]
    for t, grads in enumerate([GRADS, GRADS2, GRADS], start=1):
        d = opt.deltas(grads, Hyper(lr=lr, beta1=b1, beta2=b2, eps=eps))
        for i, g in enumerate(grads):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            mhat = m[i] / (1 - b1**t)
            vhat = v[i] / (1 - b2**t)
            np.testing.assert_allclose(d[i], -lr * mhat / (np.sqrt(vhat) + eps), rtol=1e-12)
    # first Adam step moves every non-zero-gradient weight by about lr
    opt2 = make_optimizer("adam", [(3,)], np.dtype("float64"))
    d = opt2.deltas([np.array([5.0, -0.001, 0.0])], Hyper(lr=lr))
    assert d[0][0] == pytest.approx(-lr) and d[0][1] == pytest.approx(lr, rel=1e-4)
    assert d[0][2] == 0.0
    assert opt.t == 3 and math.isfinite(float(d[0].sum()))


def test_optimizer_state_roundtrip():
    opt = make_optimizer("adam", [g.shape for g in GRADS], np.dtype("float64"))
    opt.deltas(GRADS, Hyper(lr=0.1))
    st = opt.get_state()
    other = make_optimizer("adam", [g.shape for g in GRADS], np.dtype("float64"))
    other.set_state(st)
    a = opt.deltas(GRADS2, Hyper(lr=0.1))
    b = other.deltas(GRADS2, Hyper(lr=0.1))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
def test_deltas_into_given_arrays_equal_new_ones(name: str) -> None:
    """The engine writes updates into preallocated buffers (views the UI shows)."""
    shapes = [g.shape for g in GRADS]
    fresh = make_optimizer(name, shapes, np.dtype("float64"))
    into = make_optimizer(name, shapes, np.dtype("float64"))
    h = Hyper(lr=0.1, momentum=0.9)
    out = [np.full(s, np.nan) for s in shapes]
    for grads in (GRADS, GRADS2, GRADS):
        want = fresh.deltas(grads, h)
        got = into.deltas(grads, h, out=out)
        for w, g, o in zip(want, got, out, strict=True):
            assert g is o
            np.testing.assert_array_equal(g, w)
