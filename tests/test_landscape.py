"""Loss landscapes (Li et al., 2018): directions, surface, path projection, gradient slice."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import make_session
from tui_trainer.engine import landscape as ls
from tui_trainer.engine.gradcheck import analytic_grads


def trained(steps: int = 100, **kw):
    base = dict(hidden=(8, 8), optimizer="sgd", lr=0.05, epochs=100)
    base.update(kw)
    s = make_session(**base)
    s.run(max_steps=steps)
    return s


def snapshot(s):
    return (
        [p.copy() for p in s.net.params()],
        {k: v.copy() for k, v in s.opt.get_state().items()},
        s.position,
        s.history.steps.rows(),
        s.history.epochs.rows(),
        sorted(s.keyframes),
        [(ly.dW.copy(), ly.dW_valid) for ly in s.net.layers],
    )


def assert_untouched(a, b):
    for p, q in zip(a[0], b[0], strict=True):
        np.testing.assert_array_equal(p, q)
    assert a[1].keys() == b[1].keys()
    for k in a[1]:
        np.testing.assert_array_equal(a[1][k], b[1][k])
    assert a[2] == b[2]
    np.testing.assert_array_equal(a[3], b[3])
    np.testing.assert_array_equal(a[4], b[4])
    assert a[5] == b[5]
    for (g, v), (h, w) in zip(a[6], b[6], strict=True):
        np.testing.assert_array_equal(g, h)
        assert v == w


# ------------------------------------------------------------ directions
def test_random_direction_is_filter_normalised():
    s = trained(10)
    d = ls.random_direction(s.net, np.random.default_rng(0))
    assert [x.shape for x in d] == [p.shape for p in s.net.params()]
    for i, ly in enumerate(s.net.layers):
        np.testing.assert_allclose(
            np.linalg.norm(d[2 * i], axis=0), np.linalg.norm(ly.W, axis=0), rtol=1e-12
        )
        assert not d[2 * i + 1].any()
    other = ls.random_direction(s.net, np.random.default_rng(1))
    assert not np.allclose(d[0], other[0])


def test_random_direction_with_a_zero_column():
    s = trained(0)
    s.net.layers[0].W[:, 2] = 0.0
    d = ls.random_direction(s.net, np.random.default_rng(0))
    assert not d[0][:, 2].any()
    assert np.isfinite(d[0]).all()


# ------------------------------------------------------------ surface
def test_surface_center_is_the_current_loss_and_the_session_is_untouched():
    s = trained(60)
    s.advance("layer", 3)  # pause mid-step
    before = snapshot(s)
    fractions: list[float] = []
    land = ls.surface(s, steps=11, progress=fractions.append)
    assert_untouched(before, snapshot(s))
    loss, _ = s.evaluate(s.x_train, s.y_train, s.labels_train)
    assert land.n_samples == s.n_train
    assert np.isclose(land.center_loss, loss)
    assert np.isclose(land.loss[5, 5], loss)  # (0, 0) is on an odd grid
    assert land.loss.shape == (11, 11)
    assert land.alphas[0] == -1.0 and land.alphas[-1] == 1.0
    assert np.isfinite(land.loss).all()
    assert land.complete and land.directions == "random"
    assert fractions == pytest.approx([(i + 1) / 11 for i in range(11)])
    # directions: filter-normalised, zero biases
    for d in (land.d1, land.d2):
        for i, ly in enumerate(s.net.layers):
            np.testing.assert_allclose(
                np.linalg.norm(d[2 * i], axis=0), np.linalg.norm(ly.W, axis=0), rtol=1e-12
            )
            assert not d[2 * i + 1].any()
    # moving away from a trained point costs loss, on average
    assert np.nanmean(land.loss) > loss


def test_surface_on_a_given_subset_and_on_a_capped_sample():
    s = trained(30)
    x, y = s.x_train[:10], s.y_train[:10]
    land = ls.surface(s, steps=3, x=x, y=y)
    assert np.isclose(land.center_loss, float(s.loss.per_sample(s.net.predict(x), y).mean()))
    assert np.isclose(land.loss[1, 1], land.center_loss)
    capped = ls.surface(s, steps=3, max_samples=25, seed=4)
    assert capped.n_samples == 25
    xs, ys = ls.data_subset(s, 25, seed=4)
    assert np.isclose(capped.center_loss, float(s.loss.per_sample(s.net.predict(xs), ys).mean()))


def test_surface_includes_l2_in_the_objective():
    s = trained(30, l2=0.1)
    land = ls.surface(s, steps=3)
    loss, _ = s.evaluate(s.x_train, s.y_train, s.labels_train)
    w2 = sum(float((ly.W**2).sum()) for ly in s.net.layers)
    assert np.isclose(land.center_loss, loss + 0.05 * w2)


def test_surface_can_be_cancelled_between_rows():
    s = trained(10)
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 3

    land = ls.surface(s, steps=9, should_stop=stop)
    assert not land.complete
    assert np.isfinite(land.loss[:3]).all()
    assert np.isnan(land.loss[3:]).all()


def test_path_projection_ends_at_the_origin():
    s = trained(100)
    land = ls.surface(s, steps=3)
    assert land.path.shape == (len(land.path_steps), 2)
    assert land.path_steps[-1] == s.step
    assert list(land.path_steps) == sorted(land.path_steps)
    np.testing.assert_allclose(land.path[-1], [0.0, 0.0], atol=1e-12)
    # random directions are nearly orthogonal to the path
    assert 0.0 <= land.path_in_plane < 0.5


def test_projection_recovers_in_plane_points():
    s = trained(5)
    rng = np.random.default_rng(2)
    d1 = ls.random_direction(s.net, rng)
    d2 = ls.random_direction(s.net, rng)
    theta = s.net.get_params()
    pts = [(0.3, -0.2), (1.5, 0.7), (0.0, 0.0)]
    thetas = [[t + a * u + b * v for t, u, v in zip(theta, d1, d2, strict=True)] for a, b in pts]
    coords, captured = ls.project(thetas, theta, d1, d2)
    np.testing.assert_allclose(coords, pts, atol=1e-9)
    assert captured == pytest.approx(1.0)


# ------------------------------------------------------------ PCA
def test_pca_directions_capture_the_sgd_path():
    s = trained(160)  # keyframes every 16 steps: 10 trajectory points + the current one
    thetas, steps = ls.trajectory(s)
    assert len(thetas) >= 3 and steps[-1] == s.step
    d1, d2 = ls.pca_directions(thetas)
    v1, v2 = ls.flatten(d1), ls.flatten(d2)
    assert v1 @ v1 == pytest.approx(1.0)
    assert v2 @ v2 == pytest.approx(1.0)
    assert abs(v1 @ v2) < 1e-10
    land = ls.surface(s, steps=5, directions="pca")
    assert land.directions == "pca" and land.note == ""
    assert sum(land.explained_variance) > 0.5
    assert land.path_in_plane > 0.5
    np.testing.assert_allclose(land.path[-1], [0.0, 0.0], atol=1e-12)
    # the grid covers the whole path
    assert land.alphas[-1] >= np.abs(land.path).max()
    assert np.isclose(land.loss[2, 2], land.center_loss)


def test_pca_falls_back_to_random_directions_on_a_short_path():
    s = trained(3)
    land = ls.surface(s, steps=3, directions="pca")
    assert land.directions == "random"
    assert "PCA" in land.note
    with pytest.raises(ValueError):
        ls.pca_directions(ls.trajectory(s)[0])
    with pytest.raises(ValueError):
        ls.surface(s, directions="sideways")


# ------------------------------------------------------------ gradient slice
def test_gradient_slice_descends_at_first_and_leaves_the_session_alone():
    s = trained(20)
    before = snapshot(s)
    sl = ls.gradient_slice(s)
    assert_untouched(before, snapshot(s))
    assert sl.ts[0] == 0.0 and sl.ts[-1] == pytest.approx(2.5 * s.hyper.lr)
    assert len(sl.values) == 41
    assert sl.values[1] < sl.values[0]
    assert sl.slope < 0 and sl.slope == pytest.approx(-(sl.grad_norm**2))
    tiny = ls.gradient_slice(s, n=2, max_step=1e-6)
    fd = (tiny.values[1] - tiny.values[0]) / tiny.ts[1]
    assert fd == pytest.approx(sl.slope, rel=1e-3)
    # the value at t = lr is where an SGD step lands: the next step's loss on this batch
    x, y, _ = ls.position_batch(s)
    s.advance("step")
    assert np.isclose(sl.value_at_lr, float(s.loss.per_sample(s.net.predict(x), y).mean()))


def test_gradient_slice_shows_the_overshoot_of_a_huge_learning_rate():
    s = trained(3, hidden=(6, 5), lr=20.0)
    sl = ls.gradient_slice(s)
    assert sl.value_at_lr > sl.value_at_0
    assert sl.overshoots
    assert sl.t_min < sl.lr
    calm = ls.gradient_slice(trained(3, hidden=(6, 5), lr=1e-3))
    assert not calm.overshoots


def test_gradient_slice_reuses_the_step_gradients_after_backprop():
    s = trained(5)
    s.advance("layer", 2 * s.n_layers + 1)  # forward, loss, whole backward: before UPDATE
    sl = ls.gradient_slice(s, n=3)
    assert sl.grads_from == "session"
    grads, x, _, _ = ls.current_gradients(s)
    np.testing.assert_array_equal(x, s.rec.x)
    fresh = analytic_grads(ls.clone_net(s.net), s.loss, s.rec.x, s.rec.y, s.l2)
    for g, f in zip(grads, fresh, strict=True):
        np.testing.assert_allclose(g, f, rtol=1e-10, atol=1e-14)
    s.advance("layer")  # UPDATE: the caches are now stale for the new parameters
    assert ls.gradient_slice(s, n=3).grads_from == "recomputed"
