"""Every analytic gradient equals a central-difference gradient in float64."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tui_trainer.engine.activations import make_activation
from tui_trainer.engine.config import LayerSpec, TrainConfig
from tui_trainer.engine.gradcheck import analytic_grads, gradcheck, objective
from tui_trainer.engine.losses import make_loss
from tui_trainer.engine.network import Network

ACTS = ["relu", "leaky_relu", "tanh", "sigmoid", "linear"]
LOSSES = ["mse", "cross_entropy", "binary_cross_entropy"]


def _problem(loss_name: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((7, 3))
    if loss_name == "cross_entropy":
        y, n_out = rng.integers(0, 4, 7), 4
    elif loss_name == "binary_cross_entropy":
        y, n_out = rng.integers(0, 2, (7, 1)).astype(np.float64), 1
    else:
        y, n_out = rng.standard_normal((7, 2)), 2
    return x, y, n_out


@pytest.mark.parametrize(
    "act,out_act,loss_name,l2",
    [(a, o, loss, l2) for a, o, loss in itertools.product(ACTS, ACTS, LOSSES) for l2 in (0.0, 0.1)],
)
def test_network_gradients_match_numerical(act: str, out_act: str, loss_name: str, l2: float):
    x, y, n_out = _problem(loss_name)
    cfg = TrainConfig(
        layers=(LayerSpec(5, act), LayerSpec(4, act), LayerSpec(n_out, out_act)),
        loss=loss_name,
        init="normal",
        init_std=0.7,
        bias_init=0.05,  # keeps ReLU pre-activations away from the kink at 0
        seed=11,
    )
    net = Network.build(cfg, 3)
    loss = make_loss(loss_name)
    for res in gradcheck(net, loss, x, y, l2=l2, max_per_param=None):
        assert res.max_rel_error < 1e-6, (res.name, res.max_rel_error)
        assert res.checked == res.total


@pytest.mark.parametrize("name", ACTS)
def test_activation_derivative(name: str):
    act = make_activation(name, 0.1)
    z = np.linspace(-3, 3, 41) + 0.013  # avoid exactly 0 (the kink)
    h = 1e-6
    num = (act.forward(z + h) - act.forward(z - h)) / (2 * h)
    ana = act.backward(z, act.forward(z), np.ones_like(z))
    np.testing.assert_allclose(ana, num, rtol=1e-6, atol=1e-9)


def test_l2_enters_dW_not_db():
    x, y, n_out = _problem("mse")
    cfg = TrainConfig(layers=(LayerSpec(3, "tanh"), LayerSpec(n_out, "linear")), seed=1)
    net = Network.build(cfg, 3)
    loss = make_loss("mse")
    g0 = analytic_grads(net, loss, x, y, 0.0)
    g1 = analytic_grads(net, loss, x, y, 0.3)
    for i, layer in enumerate(net.layers):
        np.testing.assert_allclose(g1[2 * i], g0[2 * i] + 0.3 * layer.W, rtol=0, atol=1e-15)
        np.testing.assert_array_equal(g1[2 * i + 1], g0[2 * i + 1])
    # and the objective includes l2/2 * sum(W^2)
    w2 = sum(float((ly.W**2).sum()) for ly in net.layers)
    assert objective(net, loss, x, y, 0.3) == pytest.approx(
        objective(net, loss, x, y, 0) + 0.15 * w2
    )


def test_losses_are_stable_for_huge_logits():
    out = np.array([[1000.0, -1000.0], [-800.0, 900.0]])
    ce = make_loss("cross_entropy")
    ps, mean, g = ce.forward(out, np.array([1, 1]))
    assert np.isfinite(ps).all() and np.isfinite(g).all()
    assert ps[0] == pytest.approx(2000.0) and ps[1] == pytest.approx(0.0)
    bce = make_loss("binary_cross_entropy")
    ps = bce.per_sample(np.array([[1000.0], [-1000.0]]), np.array([[0.0], [0.0]]))
    assert np.isfinite(ps).all() and ps[0] == pytest.approx(1000.0) and ps[1] == pytest.approx(0.0)


def test_loss_conventions_match_pytorch_definitions():
    out = np.array([[0.2, -1.0, 0.5], [1.5, 0.3, -0.2]])
    y = np.array([2, 0])
    ce = make_loss("cross_entropy")
    logp = out - np.log(np.exp(out).sum(1, keepdims=True))
    assert ce.forward(out, y)[1] == pytest.approx(-(logp[0, 2] + logp[1, 0]) / 2)
    mse = make_loss("mse")
    t = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]])
    assert mse.forward(out, t)[1] == pytest.approx(((out - t) ** 2).mean())
    bce = make_loss("binary_cross_entropy")
    z = np.array([[0.3], [-2.0]])
    t = np.array([[1.0], [0.0]])
    s = 1 / (1 + np.exp(-z))
    expect = -(t * np.log(s) + (1 - t) * np.log(1 - s)).mean()
    assert bce.forward(z, t)[1] == pytest.approx(expect)


def test_initialisers_follow_their_definitions():
    cfg = TrainConfig(layers=(LayerSpec(400, "relu"),), init="he", seed=0)
    w = Network.build(cfg, 300).layers[0].W
    assert w.std() == pytest.approx(np.sqrt(2 / 300), rel=0.02)
    cfg = TrainConfig(layers=(LayerSpec(400, "tanh"),), init="xavier", seed=0)
    w = Network.build(cfg, 300).layers[0].W
    assert np.abs(w).max() <= np.sqrt(6 / 700)
    assert w.std() == pytest.approx(np.sqrt(2 / 700), rel=0.02)
    cfg = TrainConfig(layers=(LayerSpec(4, "tanh"),), init="zeros", seed=0)
    assert not Network.build(cfg, 3).layers[0].W.any()
    cfg = TrainConfig(layers=(LayerSpec(4, "tanh"),), init="normal", init_std=0.1, seed=5)
    a, b = Network.build(cfg, 3).layers[0].W, Network.build(cfg, 3).layers[0].W
    np.testing.assert_array_equal(a, b)
    assert Network.build(cfg, 3).layers[0].W.dtype == np.float64
    cfg32 = TrainConfig(layers=(LayerSpec(4, "tanh"),), dtype="float32")
    assert Network.build(cfg32, 3).layers[0].W.dtype == np.float32
