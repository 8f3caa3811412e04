"""Plain-data description of a training run, independent of any file format.

The scenario loader (``tui_trainer.scenario``) turns a TOML file into a
``TrainConfig`` plus a ``Dataset``; notebook users build them directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

Activation = Literal["relu", "leaky_relu", "tanh", "sigmoid", "linear"]
Init = Literal["he", "xavier", "normal", "zeros", "uniform"]
LossName = Literal["mse", "cross_entropy", "binary_cross_entropy"]
OptimizerName = Literal["sgd", "momentum", "adam"]
Task = Literal["classification", "regression"]

ACTIVATIONS: tuple[str, ...] = ("relu", "leaky_relu", "tanh", "sigmoid", "linear")
INITS: tuple[str, ...] = ("he", "xavier", "normal", "zeros", "uniform")
LOSSES: tuple[str, ...] = ("mse", "cross_entropy", "binary_cross_entropy")
OPTIMIZERS: tuple[str, ...] = ("sgd", "momentum", "adam")
SCHEDULES: tuple[str, ...] = ("constant", "step", "exponential", "cosine")


@dataclass(frozen=True)
class LayerSpec:
    """One dense layer: ``units`` outputs followed by ``activation``.

    ``dropout`` is the probability that a unit's output is zeroed in a
    training step (inverted dropout: the kept outputs are scaled by
    ``1 / (1 - dropout)``); validation and evaluation never drop.
    """

    units: int
    activation: str = "relu"
    dropout: float = 0.0


@dataclass(frozen=True)
class TrainConfig:
    """Everything except the data that determines a run, bit for bit.

    ``layers`` lists the hidden layers and the output layer; the input width
    comes from the data. ``init`` applies to weights; biases start at
    ``bias_init`` (0 by default). ``init_std`` is used by ``normal``;
    ``init_scale`` by ``uniform`` (U(-scale, scale), TensorFlow Playground's
    U(-0.5, 0.5) is scale 0.5).

    ``l1`` and ``l2`` add ``l1 * sum|W| + l2/2 * sum W**2`` over the weight
    matrices (not the biases) to the objective. ``schedule`` scales ``lr``
    per epoch (see ``engine/schedule.py``); ``t_max = 0`` means the epochs
    after the warm-up. ``gamma`` is the step and exponential schedules' factor.
    """

    layers: tuple[LayerSpec, ...]
    loss: str = "mse"
    optimizer: str = "sgd"
    lr: float = 0.03
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    l2: float = 0.0
    l1: float = 0.0
    schedule: str = "constant"
    warmup_epochs: int = 0
    step_size: int = 10
    gamma: float = 0.1
    min_lr: float = 0.0
    t_max: int = 0
    batch_size: int = 10
    epochs: int = 100
    seed: int = 0
    init: str = "xavier"
    init_std: float = 0.1
    init_scale: float = 0.5
    bias_init: float = 0.0
    leaky_slope: float = 0.01
    dtype: str = "float64"
    history_steps: int = 1000
    history_bytes: int = 64 * 1024 * 1024

    def with_changes(self, **changes: object) -> TrainConfig:
        """A copy with some fields replaced (hyperparameter edits, forks)."""
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass
class Dataset:
    """Train and validation arrays plus what they mean.

    For classification ``y`` holds class indices (int64, shape ``(n,)``);
    for regression ``y`` is float with shape ``(n, targets)``.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    task: str = "classification"
    n_classes: int = 0
    feature_names: list[str] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)
    name: str = ""
    image_shape: tuple[int, int] | None = None
    # The columns the inputs are computed from when they are crosses (x1^2,
    # x1*x2, sin(x1): engine/features.py), and the inputs' texts; None when
    # x_train/x_val are the data's own columns.
    base_train: np.ndarray | None = None
    base_val: np.ndarray | None = None
    base_names: list[str] | None = None
    features: tuple[str, ...] | None = None

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_outputs(self) -> int:
        """Output width the network needs for this data and a loss."""
        if self.task == "classification":
            return self.n_classes
        return int(self.y_train.shape[1]) if self.y_train.ndim == 2 else 1

    @property
    def columns(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(train, validation, names) of the columns the inputs are computed from:
        the base columns when the inputs are crosses, else the inputs themselves.
        The data view draws these (x1, x2) whatever the network's inputs are."""
        if self.base_train is None or self.base_val is None or self.base_names is None:
            return self.x_train, self.x_val, list(self._own_names())
        return self.base_train, self.base_val, list(self.base_names)

    @property
    def input_names(self) -> tuple[str, ...]:
        """The texts of the network's inputs (``x1``, ``x1^2``, ...)."""
        return self.features if self.features is not None else self._own_names()

    def _own_names(self) -> tuple[str, ...]:
        """``feature_names``, or x1, x2... (x for one column) for data built without them."""
        n = self.n_features
        if len(self.feature_names) == n and len(set(self.feature_names)) == n:
            return tuple(self.feature_names)
        return ("x",) if n == 1 else tuple(f"x{i + 1}" for i in range(n))
