"""LayerView: the app's backend-neutral view of a layer (no torch needed here)."""

from __future__ import annotations

import numpy as np
import pytest

from pilot import xor_session
from tui_trainer.engine.layer_view import (
    as_matrix,
    is_dense,
    layer_name,
    layer_view,
    resolve_module_names,
)


def test_a_dense_layer_is_viewed_without_copying_and_only_what_this_step_computed() -> None:
    s = xor_session()
    assert is_dense(s) and layer_name(s, 1) == "L2"
    v = layer_view(s, 0)
    ly = s.net.layers[0]
    assert v.name == "L1" and v.kind == "2x4 tanh" and v.main == "W"
    assert v.params["W"] is ly.W and v.params["b"] is ly.b  # the arrays themselves
    assert v.grads["W"] is None and v.updates["W"] is None and v.output is None
    s.advance("step")
    v = layer_view(s, 0)
    assert v.grads["W"] is ly.dW and v.updates["W"] is ly.delta_W and v.output is ly.a


def test_tensors_become_pictures_in_the_engines_orientation() -> None:
    linear = np.arange(6.0).reshape(3, 2)  # torch Linear.weight: (out=3, in=2)
    assert as_matrix(linear).shape == (2, 3) and as_matrix(linear)[1, 2] == linear[2, 1]
    kernel = np.zeros((8, 2, 3, 3))  # conv: (out, in, kh, kw)
    kernel[5, 1, 2, 0] = 1.0
    m = as_matrix(kernel)
    assert m.shape == (18, 8) and m[1 * 9 + 2 * 3 + 0, 5] == 1.0
    assert as_matrix(np.ones(4)).shape == (1, 4) and as_matrix(np.float64(2.0)).shape == (1, 1)


def test_module_names_in_conditions_become_pause_indices() -> None:
    names = ["features.0", "features.1", "head"]
    text = "grad_norm[\"head\"] > 1 and dead_fraction['features.1'] > 0.5"
    assert resolve_module_names(text, names) == "grad_norm[2] > 1 and dead_fraction[1] > 0.5"
    assert resolve_module_names("grad_norm[0] > 1", names) == "grad_norm[0] > 1"
    assert resolve_module_names('grad_norm["x"]', None) == 'grad_norm["x"]'  # NumPy: untouched
    with pytest.raises(ValueError, match="no pause module named 'nope'.*features.0"):
        resolve_module_names('grad_norm["nope"] > 1', names)
