"""The scenario schema: limits, section keys, aliases and the checked data classes.

What a scenario file may hold (the keys of each section, the ranges, the
other spellings used for did-you-mean hints) and what a checked one is:
:class:`Scenario` with its :class:`DataSpec`, :class:`ModelSpec` and
:class:`BreakpointSpec`, and the :class:`Problem` list a
:class:`ScenarioError` carries. Reading and checking a file is in
``load.py``, ``sections.py`` and ``check.py``, writing one in ``write.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_trainer.engine.config import Dataset, LayerSpec, TrainConfig
from tui_trainer.safe_text import visible
from tui_trainer.scenario.kinds import (
    _BUILTIN_DATA,
    _LOSS_ALLOWED,
    _data_label,
    _generator_params,
    _loss_misfit,
    _static_task,
)
from tui_trainer.scenario.positions import _lookup_line

# --------------------------------------------------------------------------
# Limits and allowed values
# --------------------------------------------------------------------------

DTYPES: tuple[str, ...] = ("float64", "float32")
BREAKPOINT_PHASES: tuple[str, ...] = (
    "any",
    "forward",
    "loss",
    "backward",
    "update",
    "step",
    "epoch",
)
TASKS: tuple[str, ...] = ("classification", "regression")

MAX_LAYERS = 64
MAX_UNITS = 4096
MAX_EPOCHS = 1_000_000
MAX_LR = 100.0
MIN_SAMPLES = 4
MAX_SAMPLES = 1_000_000
MAX_CLASSES = 10
MAX_DEGREE = 20
MAX_INIT = 100.0  # init_std, init_scale, |bias_init|: far beyond useful, far below overflow

DEFAULT_HIDDEN: tuple[int, ...] = (4, 2)
DEFAULT_ACTIVATION = "tanh"


# Section keys, in the order they are documented and written by ``to_toml``.
_TOP_KEYS = ("name", "description", "watch", "seed", "data", "model", "training")
_TOP_EXTRA = ("breakpoints", "watches")  # also accepted at the top level
_LESSON_KEY = "lesson"  # [[lesson]] steps: see tui_trainer/lessons.py and docs/lessons.md
_DATA_KEYS = (
    "kind",
    "n_samples",
    "noise",
    "val_fraction",
    "data_seed",
    "added_points",
    "removed_points",
    "classes",
    "degree",
    "path",
    "target",
    "features",
    "task",
    "standardize",
)
_MODEL_KEYS = (
    "hidden",
    "activation",
    "output_activation",
    "init",
    "init_std",
    "init_scale",
    "bias_init",
    "leaky_slope",
    "layers",
    "dropout",
)
_TRAINING_KEYS = (
    "loss",
    "optimizer",
    "lr",
    "momentum",
    "beta1",
    "beta2",
    "eps",
    "l2",
    "l1",
    "schedule",
    "warmup_epochs",
    "step_size",
    "gamma",
    "min_lr",
    "t_max",
    "batch_size",
    "epochs",
    "dtype",
    "backend",
    "history_steps",
    "breakpoints",
    "watches",
)
# Which engine trains the network: the NumPy engine, or the same network as a
# torch.nn.Sequential through tui_trainer.torch (needs the torch extra; the
# loader itself never imports torch).
BACKENDS = ("numpy", "torch")
_LAYER_KEYS = ("units", "activation", "dropout")
MAX_DROPOUT = 0.95  # keeps 1/(1-p) small; a rate near 1 drops nearly every unit
# The schedule parameters and the schedules that use them (warmup_epochs: all).
SCHEDULE_KEYS: dict[str, tuple[str, ...]] = {
    "step_size": ("step",),
    "gamma": ("step", "exponential"),
    "min_lr": ("cosine",),
    "t_max": ("cosine",),
}
DEFAULT_GAMMA: dict[str, float] = {"step": 0.1, "exponential": 0.95}
_BREAKPOINT_KEYS = ("condition", "phase", "enabled", "ignore", "every")
MAX_IGNORE = 1_000_000_000

_SECTION_OF: dict[str, str] = {
    **{
        k: "at the top level (before any [section])"
        for k in ("name", "description", "watch", "seed")
    },
    **{k: "in [data]" for k in _DATA_KEYS},
    **{k: "in [model]" for k in _MODEL_KEYS},
    **{k: "in [training]" for k in _TRAINING_KEYS if k not in ("breakpoints", "watches")},
}

# Common other spellings, used only for "did you mean" suggestions.
_KEY_ALIASES: dict[str, str] = {
    "learning_rate": "lr",
    "learningrate": "lr",
    "rate": "lr",
    "alpha": "lr",
    "batch": "batch_size",
    "batchsize": "batch_size",
    "minibatch": "batch_size",
    "n_epochs": "epochs",
    "num_epochs": "epochs",
    "max_epochs": "epochs",
    "weight_decay": "l2",
    "l2_reg": "l2",
    "l1_reg": "l1",
    "lasso": "l1",
    "lr_schedule": "schedule",
    "scheduler": "schedule",
    "lr_scheduler": "schedule",
    "warmup": "warmup_epochs",
    "warm_up": "warmup_epochs",
    "warmup_steps": "warmup_epochs",
    "t": "t_max",
    "tmax": "t_max",
    "eta_min": "min_lr",
    "lr_min": "min_lr",
    "decay": "gamma",
    "decay_rate": "gamma",
    "drop_rate": "dropout",
    "dropout_rate": "dropout",
    "drop": "dropout",
    "lambda": "l2",
    "regularization": "l2",
    "epsilon": "eps",
    "opt": "optimizer",
    "optim": "optimizer",
    "solver": "optimizer",
    "criterion": "loss",
    "loss_fn": "loss",
    "precision": "dtype",
    "history": "history_steps",
    "hidden_layers": "hidden",
    "hidden_units": "hidden",
    "layer_sizes": "hidden",
    "units": "hidden",
    "activation_fn": "activation",
    "act": "activation",
    "weight_init": "init",
    "initializer": "init",
    "initialization": "init",
    "dataset": "kind",
    "type": "kind",
    "samples": "n_samples",
    "num_samples": "n_samples",
    "n_points": "n_samples",
    "points": "n_samples",
    "size": "n_samples",
    "n_classes": "classes",
    "num_classes": "classes",
    "arms": "classes",
    "validation": "val_fraction",
    "validation_split": "val_fraction",
    "val_split": "val_fraction",
    "test_size": "val_fraction",
    "file": "path",
    "label": "target",
    "labels": "target",
    "y": "target",
    "x": "features",
    "columns": "features",
    "inputs": "features",
    "crosses": "features",
    "draw": "data_seed",
    "data_random_seed": "data_seed",
    "normalize": "standardize",
    "scale": "standardize",
    "train": "training",
    "optimizer_settings": "training",
    "network": "model",
    "net": "model",
    "dataset_settings": "data",
    "title": "name",
    "random_seed": "seed",
    "rng_seed": "seed",
    "expr": "condition",
    "when": "condition",
    "cond": "condition",
    "enable": "enabled",
    "active": "enabled",
    "neurons": "units",
}

_VALUE_ALIASES: dict[str, dict[str, str]] = {
    "activation": {
        "identity": "linear",
        "none": "linear",
        "lrelu": "leaky_relu",
        "leakyrelu": "leaky_relu",
        "logistic": "sigmoid",
        "sigm": "sigmoid",
    },
    "init": {
        "glorot": "xavier",
        "glorot_uniform": "xavier",
        "xavier_uniform": "xavier",
        "kaiming": "he",
        "kaiming_normal": "he",
        "he_normal": "he",
        "gaussian": "normal",
        "random": "uniform",
        "zero": "zeros",
    },
    "loss": {
        "ce": "cross_entropy",
        "crossentropy": "cross_entropy",
        "categorical_crossentropy": "cross_entropy",
        "nll": "cross_entropy",
        "softmax": "cross_entropy",
        "bce": "binary_cross_entropy",
        "binary_crossentropy": "binary_cross_entropy",
        "logistic": "binary_cross_entropy",
        "mean_squared_error": "mse",
        "l2": "mse",
        "squared": "mse",
    },
    "optimizer": {"gd": "sgd", "sgd_momentum": "momentum", "nesterov": "momentum"},
    "dtype": {
        "float": "float64",
        "double": "float64",
        "f64": "float64",
        "fp64": "float64",
        "single": "float32",
        "f32": "float32",
        "fp32": "float32",
    },
    "schedule": {
        "cos": "cosine",
        "cosineannealing": "cosine",
        "cosine_annealing": "cosine",
        "cosineannealinglr": "cosine",
        "steplr": "step",
        "multistep": "step",
        "exp": "exponential",
        "exponentiallr": "exponential",
        "none": "constant",
        "fixed": "constant",
        "const": "constant",
    },
    "phase": {"fwd": "forward", "bwd": "backward", "backprop": "backward", "optim": "update"},
}

_VALUE_HINTS: dict[tuple[str, str], str] = {
    ("activation", "softmax"): (
        'softmax is fused into loss = "cross_entropy"; use a hidden activation'
    ),
    ("output_activation", "softmax"): (
        'softmax is fused into loss = "cross_entropy"; keep output_activation = "linear"'
    ),
}


# --------------------------------------------------------------------------
# Problems and errors
# --------------------------------------------------------------------------


@dataclass
class Problem:
    """One thing wrong with a scenario, located as precisely as possible.

    ``field`` is a dotted path such as ``training.lr`` or
    ``model.layers[1].units`` (``toml`` for syntax errors, empty for problems
    with the file itself); ``line`` is 1-based or None when unknown;
    ``allowed`` says briefly what would be accepted.
    """

    file: str
    field: str
    line: int | None
    message: str
    allowed: str = ""

    def __str__(self) -> str:
        # The path, the field (an unknown key is the file's own text) and the
        # message (a did-you-mean, a CSV header) may hold control characters:
        # shown visibly, on one line.
        where = self.file or "<scenario>"
        if self.line is not None:
            where += f":{self.line}"
        parts = [where]
        if self.field:
            parts.append(self.field)
        text = self.message
        if self.allowed and self.allowed not in self.message:
            text += f" (allowed: {self.allowed})"
        parts.append(text)
        return visible(": ".join(parts))


class ScenarioError(Exception):
    """A scenario could not be loaded; ``problems`` lists every reason found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems) or "invalid scenario"


# --------------------------------------------------------------------------
# The scenario model
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class BreakpointSpec:
    """A breakpoint condition and the phase of a step at which it is checked.

    ``ignore`` skips that many hits (gdb's ``ignore``); ``every`` makes it stop
    at every check where the condition holds instead of only when it becomes
    true (see docs/conditions.md).
    """

    condition: str
    phase: str = "step"
    enabled: bool = True
    ignore: int = 0
    every: bool = False


@dataclass(frozen=True)
class DataSpec:
    """Where the data comes from. ``kind`` is canonical (``circle`` -> ``circles``).

    Fields that do not apply to ``kind`` keep their defaults. ``path`` is
    absolute (resolved against the scenario file's directory) and ``path_text``
    is what the file said. ``standardize=None`` means the kind's default:
    z-scored for csv and iris, pixel values divided by 16 for digits.
    ``features`` are the network's inputs: a csv's column names or crosses of
    the data's columns (``x1^2``, ``x1*x2``, ``sin(x1)``: engine/features.py);
    None means every column. ``data_seed`` draws and splits the data (None:
    the scenario's ``seed``), so a new draw keeps the same initial weights.
    """

    kind: str = "xor"
    n_samples: int = 200
    noise: float = 0.0
    val_fraction: float = 0.2
    classes: int = 2
    degree: int = 3
    path: Path | None = None
    target: str | None = None
    features: tuple[str, ...] | None = None
    task: str | None = None
    standardize: bool | None = None
    path_text: str | None = None
    data_seed: int | None = None
    # Training points added by hand ((x1, x2, class), appended) and removed
    # (indices into the training set as split): engine/data.py edit_points.
    added_points: tuple[tuple[float, float, int], ...] = ()
    removed_points: tuple[int, ...] = ()


@dataclass(frozen=True)
class ModelSpec:
    """The hidden layers and initialisation; the output layer is added by
    :meth:`Scenario.train_config` once the data's shape is known.

    ``per_layer`` records that the file used the ``layers = [...]`` form, so
    :meth:`Scenario.to_toml` writes it back the same way.
    """

    hidden: tuple[LayerSpec, ...] = tuple(LayerSpec(u, DEFAULT_ACTIVATION) for u in DEFAULT_HIDDEN)
    activation: str = DEFAULT_ACTIVATION
    output_activation: str = "linear"
    init: str = "xavier"
    init_std: float = 0.1
    init_scale: float = 0.5
    bias_init: float = 0.0
    leaky_slope: float = 0.01
    per_layer: bool = False
    dropout: float = 0.0  # [model] dropout: the rate of hidden layers that set none


@dataclass
class Scenario:
    """A checked scenario: data, model, training settings, breakpoints, watches.

    ``loss=None`` means the default for the data's task: ``cross_entropy``
    for classification, ``mse`` for regression. ``batch_size`` is an int or
    ``"full"`` (the whole training set). ``source`` is the file it was read
    from (None when parsed from a string) and ``text`` its raw TOML.
    """

    name: str = "untitled"
    description: str = ""
    watch: str = ""
    seed: int = 0
    data: DataSpec = field(default_factory=DataSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    loss: str | None = None
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
    gamma: float | None = None  # None: the schedule's default (DEFAULT_GAMMA)
    min_lr: float = 0.0
    t_max: int = 0
    batch_size: int | str = 10
    epochs: int = 100
    dtype: str = "float64"
    backend: str = "numpy"
    history_steps: int = 1000
    breakpoints: list[BreakpointSpec] = field(default_factory=list)
    watches: list[str] = field(default_factory=list)
    lesson: list[Any] = field(default_factory=list)  # LessonStep, see lessons.py
    source: Path | None = None
    text: str = ""
    lines: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    # -- helpers ----------------------------------------------------------

    @property
    def file(self) -> str:
        """The file name used in problems (``<scenario>`` when not from a file)."""
        return str(self.source) if self.source is not None else "<scenario>"

    @property
    def task(self) -> str | None:
        """The data's task if it is known without loading it (None for an inferred csv)."""
        return _static_task(self.data)

    def line_of(self, field_path: str) -> int | None:
        """The line where ``field_path`` (or its nearest enclosing table) is written."""
        return _lookup_line(self.lines, field_path)

    def loss_for(self, task: str) -> str:
        """The loss used for data of ``task``: the explicit one or the task's default."""
        if self.loss is not None:
            return self.loss
        return "cross_entropy" if task == "classification" else "mse"

    def _problem(self, field_path: str, message: str, allowed: str = "") -> ScenarioError:
        return ScenarioError(
            [Problem(self.file, field_path, self.line_of(field_path), message, allowed)]
        )

    # -- data and config --------------------------------------------------

    def load_data(self) -> Dataset:
        """Generate or read the data and split it into training and validation.

        Uses ``tui_trainer.engine.data``; every failure (a bad CSV cell, an
        unreadable file) is raised as :class:`ScenarioError`.
        """
        try:
            from tui_trainer.engine import data as data_mod
        except ImportError as exc:  # pragma: no cover - the module ships with the package
            raise self._problem("data", f"the data module is unavailable: {exc}") from None
        spec = self.data
        seed = self.seed if spec.data_seed is None else spec.data_seed
        try:
            if spec.kind == "csv":
                if spec.path is None:
                    raise self._problem("data.path", 'required when kind = "csv"')
                standardize = True if spec.standardize is None else spec.standardize
                gen = data_mod.load_csv(
                    spec.path,
                    target=spec.target,
                    features=list(spec.features) if spec.features is not None else None,
                    task=spec.task,
                    standardize=standardize,
                )
            elif spec.kind in _BUILTIN_DATA:
                if spec.kind == "digits" and spec.standardize is None:
                    gen = data_mod.load_builtin(spec.kind, standardize=False)
                    gen.x = gen.x / 16.0
                else:
                    standardize = True if spec.standardize is None else spec.standardize
                    gen = data_mod.load_builtin(spec.kind, standardize=standardize)
            else:
                params: dict[str, object] = {}
                accepted = _generator_params(spec.kind)
                if "classes" in accepted:
                    params["classes"] = spec.classes
                if "degree" in accepted:
                    params["degree"] = spec.degree
                gen = data_mod.generate(spec.kind, spec.n_samples, spec.noise, seed, **params)
            if spec.kind != "csv":  # a csv's crosses are computed by load_csv
                gen = data_mod.with_features(gen, spec.features)
            ds = data_mod.split(gen, spec.val_fraction, seed, gen.name or spec.kind)
            return data_mod.edit_points(ds, spec.added_points, spec.removed_points)
        except ScenarioError:
            raise
        except data_mod.DataError as exc:
            sub = getattr(exc, "field", "") or ""
            path = sub if sub.startswith("data") else (f"data.{sub}" if sub else "data")
            raise self._problem(path, getattr(exc, "message", str(exc))) from None
        except (OSError, ValueError, UnicodeDecodeError, MemoryError) as exc:
            raise self._problem("data", f"cannot load the data: {exc}") from None

    def train_config(self, dataset: Dataset) -> TrainConfig:
        """The engine configuration for ``dataset``, output layer included.

        The output layer has ``n_classes`` units for ``cross_entropy``, 1 for
        ``binary_cross_entropy`` (two classes only), ``n_classes`` for ``mse``
        on class labels (one-hot targets) and the target width for regression.
        Raises :class:`ScenarioError` if the loss does not fit the data.
        """
        loss = self.loss_for(dataset.task)
        name = dataset.name or _data_label(self.data)
        message = _loss_misfit(loss, dataset.task, dataset.n_classes, name)
        if message:
            raise self._problem("training.loss", message, _LOSS_ALLOWED)
        if loss == "binary_cross_entropy":
            out = 1
        elif loss == "cross_entropy":
            out = dataset.n_classes
        else:
            out = dataset.n_outputs
        if out < 1:
            raise self._problem("data", f"data {name!r} has no outputs to predict")
        n_train = int(dataset.x_train.shape[0])
        batch = max(1, n_train) if self.batch_size == "full" else int(self.batch_size)
        layers = (*self.model.hidden, LayerSpec(out, self.model.output_activation))
        self._check_breakpoint_indices([dataset.n_features, *(ly.units for ly in layers)])
        return TrainConfig(
            layers=layers,
            loss=loss,
            optimizer=self.optimizer,
            lr=self.lr,
            momentum=self.momentum,
            beta1=self.beta1,
            beta2=self.beta2,
            eps=self.eps,
            l2=self.l2,
            l1=self.l1,
            schedule=self.schedule,
            warmup_epochs=self.warmup_epochs,
            step_size=self.step_size,
            gamma=self.gamma if self.gamma is not None else DEFAULT_GAMMA.get(self.schedule, 0.1),
            min_lr=self.min_lr,
            t_max=self.t_max,
            batch_size=batch,
            epochs=self.epochs,
            seed=self.seed,
            init=self.model.init,
            init_std=self.model.init_std,
            init_scale=self.model.init_scale,
            bias_init=self.model.bias_init,
            leaky_slope=self.model.leaky_slope,
            dtype=self.dtype,
            history_steps=self.history_steps,
        )

    def _check_breakpoint_indices(self, widths: list[int]) -> None:
        """ScenarioError for layer or weight indices the network does not have.

        Only known once the data gives the input width, so checked here
        rather than while reading the file.
        """
        from tui_trainer.engine.conditions import ConditionError, index_errors, parse

        shapes = [(widths[i], widths[i + 1]) for i in range(len(widths) - 1)]
        prefix = "training.breakpoints" if "training.breakpoints" in self.lines else "breakpoints"
        problems = []
        for i, spec in enumerate(self.breakpoints):
            try:
                errors = index_errors(parse(spec.condition), shapes)
            except ConditionError:  # reported when the file was read
                continue
            where = f"{prefix}[{i}]"
            if f"{where}.condition" in self.lines:  # a [[breakpoints]] table
                where += ".condition"
            problems += [
                Problem(self.file, where, self.line_of(where), e, "indices within the layers")
                for e in errors
            ]
        if problems:
            raise ScenarioError(problems)

    # -- saving -----------------------------------------------------------

    def to_toml(self, *, relative_to: str | Path | None = None, **overrides: Any) -> str:
        """This scenario as TOML, with some settings replaced.

        ``overrides`` use the flat setting names of the file (no two sections
        share one): ``lr=0.1``, ``epochs=50``, ``hidden=[8, 8]``,
        ``layers=[LayerSpec(8, "relu")]``, ``kind="spiral"``, ``breakpoints=[...]``
        (strings or :class:`BreakpointSpec`) and so on. A csv ``path`` is written
        as the file had it, or relative to ``relative_to`` (the directory the
        result will be saved in) when that is given. The result is checked by
        loading it again; invalid overrides raise :class:`ScenarioError`, unknown
        names :class:`TypeError`.
        """
        from tui_trainer.scenario.write import to_toml  # write imports this module

        return to_toml(self, relative_to, overrides)
