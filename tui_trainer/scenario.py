"""Scenario files: a whole reproducible training run described in TOML.

A scenario names the data, the model, the hyperparameters, the breakpoints and
the watches of one run. :func:`load_scenario` reads and checks a file and
either returns a :class:`Scenario` or raises :class:`ScenarioError` listing
*every* problem found, each with the file, the dotted field (``training.lr``,
``model.layers[1].units``), the line where it was written and what is allowed.
Nothing in here raises anything else for a bad file: unreadable files, invalid
UTF-8, malformed TOML and wrong values all become :class:`Problem` objects.

The schema is documented, with one complete annotated example, in
``docs/scenarios.md``. Typical use::

    scenario = load_scenario(resolve_scenario("xor"))
    dataset = scenario.load_data()
    config = scenario.train_config(dataset)
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import stat
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from tui_trainer.engine.config import (
    ACTIVATIONS,
    INITS,
    LOSSES,
    OPTIMIZERS,
    Dataset,
    LayerSpec,
    TrainConfig,
)
from tui_trainer.safe_text import visible

__all__ = [
    "BREAKPOINT_PHASES",
    "DTYPES",
    "BreakpointSpec",
    "DataSpec",
    "ModelSpec",
    "Problem",
    "Scenario",
    "ScenarioError",
    "builtin_dir",
    "builtin_names",
    "load_scenario",
    "parse_scenario",
    "resolve_scenario",
]

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

# Fallbacks used only when tui_trainer.engine.data cannot be imported.
_FALLBACK_GENERATED: dict[str, tuple[str, tuple[str, ...]]] = {
    "xor": ("classification", ()),
    "circles": ("classification", ()),
    "gauss": ("classification", ("classes",)),
    "spiral": ("classification", ("classes",)),
    "moons": ("classification", ()),
    "linear": ("classification", ()),
    "sine": ("regression", ()),
    "polynomial": ("regression", ("degree",)),
    "surface": ("regression", ()),
    "plane": ("regression", ()),
}
_FALLBACK_ALIASES: dict[str, str] = {
    "circle": "circles",
    "blobs": "gauss",
    "gaussian": "gauss",
    "spirals": "spiral",
}
_BUILTIN_DATA: dict[str, int] = {"iris": 3, "digits": 10}  # kind -> number of classes
_FIXED_CLASSES = 2  # every generated classification kind without a ``classes`` parameter

# Section keys, in the order they are documented and written by ``to_toml``.
_TOP_KEYS = ("name", "description", "watch", "seed", "data", "model", "training")
_TOP_EXTRA = ("breakpoints", "watches")  # also accepted at the top level
_LESSON_KEY = "lesson"  # [[lesson]] steps: see tui_trainer/lessons.py and docs/lessons.md
_DATA_KEYS = (
    "kind",
    "n_samples",
    "noise",
    "val_fraction",
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
_LAYER_KEYS = ("units", "activation")
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
    "step_size": "lr",
    "batch": "batch_size",
    "batchsize": "batch_size",
    "minibatch": "batch_size",
    "n_epochs": "epochs",
    "num_epochs": "epochs",
    "max_epochs": "epochs",
    "weight_decay": "l2",
    "l2_reg": "l2",
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
                gen = data_mod.generate(spec.kind, spec.n_samples, spec.noise, self.seed, **params)
            return data_mod.split(gen, spec.val_fraction, self.seed, gen.name or spec.kind)
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
        doc = self._document(relative_to)
        for key, value in overrides.items():
            _apply_override(doc, key, value, relative_to)
        text = _emit(doc)
        base: Path | None
        if relative_to is not None:
            base = Path(relative_to) / "saved.toml"  # only its directory matters
        else:
            base = self.source
        parse_scenario(text, base)  # raises ScenarioError if an override is invalid
        return text

    def _document(self, relative_to: str | Path | None) -> dict[str, dict[str, Any]]:
        """The settings as nested plain values, in the order the file lists them."""
        top: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "watch": self.watch,
            "seed": self.seed,
        }
        d = self.data
        keys = _data_keys_for(d.kind)
        data: dict[str, Any] = {"kind": d.kind}
        for key in ("n_samples", "noise", "val_fraction", "classes", "degree"):
            if key in keys:
                data[key] = getattr(d, key)
        if "path" in keys and d.path is not None:
            data["path"] = _path_text(d, relative_to)
        for key in ("target", "task", "standardize"):
            if key in keys and getattr(d, key) is not None:
                data[key] = getattr(d, key)
        if "features" in keys and d.features is not None:
            data["features"] = list(d.features)
        m = self.model
        model: dict[str, Any] = {}
        acts = {layer.activation for layer in m.hidden}
        if m.per_layer or len(acts) > 1:
            model["layers"] = [{"units": s.units, "activation": s.activation} for s in m.hidden]
        else:
            model["hidden"] = [s.units for s in m.hidden]
            model["activation"] = acts.pop() if acts else m.activation
        model.update(
            output_activation=m.output_activation,
            init=m.init,
            init_std=m.init_std,
            init_scale=m.init_scale,
            bias_init=m.bias_init,
            leaky_slope=m.leaky_slope,
        )
        training: dict[str, Any] = {}
        if self.loss is not None:
            training["loss"] = self.loss
        training.update(
            optimizer=self.optimizer,
            lr=self.lr,
            momentum=self.momentum,
            beta1=self.beta1,
            beta2=self.beta2,
            eps=self.eps,
            l2=self.l2,
            batch_size=self.batch_size,
            epochs=self.epochs,
            dtype=self.dtype,
            history_steps=self.history_steps,
            breakpoints=list(self.breakpoints),
            watches=list(self.watches),
        )
        if self.backend != "numpy":
            training["backend"] = self.backend
        return {"": top, "data": data, "model": model, "training": training}


# --------------------------------------------------------------------------
# Data-set metadata (from tui_trainer.engine.data when available)
# --------------------------------------------------------------------------


def _data_module() -> Any | None:
    try:
        from tui_trainer.engine import data as data_mod
    except Exception:  # noqa: BLE001 - a broken or missing module falls back to built-in tables
        return None
    return data_mod


def _generated_info() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Generated kind -> (task, accepted parameters)."""
    mod = _data_module()
    gens = getattr(mod, "GENERATORS", None) if mod is not None else None
    if not isinstance(gens, Mapping):
        return dict(_FALLBACK_GENERATED)
    try:
        return {k: (str(v.task), tuple(v.params)) for k, v in gens.items()}
    except AttributeError:
        return dict(_FALLBACK_GENERATED)


def _generated_kinds() -> tuple[str, ...]:
    return tuple(_generated_info())


def _kind_aliases() -> dict[str, str]:
    mod = _data_module()
    aliases = getattr(mod, "KIND_ALIASES", None) if mod is not None else None
    return dict(aliases) if isinstance(aliases, Mapping) else dict(_FALLBACK_ALIASES)


def _all_kinds() -> tuple[str, ...]:
    return (*_generated_kinds(), "csv", *_BUILTIN_DATA)


def _generator_params(kind: str) -> tuple[str, ...]:
    info = _generated_info().get(kind)
    return info[1] if info else ()


def _data_keys_for(kind: str) -> set[str]:
    """The ``[data]`` keys that mean something for ``kind``."""
    keys = {"kind", "val_fraction"}
    if kind in _generated_kinds():
        keys |= {"n_samples", "noise", *_generator_params(kind)}
    if kind == "csv":
        keys |= {"path", "target", "features", "task"}
    if kind == "csv" or kind in _BUILTIN_DATA:
        keys.add("standardize")
    return keys


def _static_task(spec: DataSpec) -> str | None:
    if spec.kind == "csv":
        return spec.task
    if spec.kind in _BUILTIN_DATA:
        return "classification"
    info = _generated_info().get(spec.kind)
    return info[0] if info else None


def _static_classes(spec: DataSpec) -> int | None:
    if spec.kind in _BUILTIN_DATA:
        return _BUILTIN_DATA[spec.kind]
    info = _generated_info().get(spec.kind)
    if info is None or info[0] != "classification":
        return None
    return spec.classes if "classes" in info[1] else _FIXED_CLASSES


def _data_label(spec: DataSpec) -> str:
    if spec.kind == "csv" and spec.path is not None:
        return spec.path.name
    return spec.kind


_LOSS_ALLOWED = (
    "mse for any data; cross_entropy for class labels; binary_cross_entropy for 2 classes"
)


def _loss_misfit(loss: str, task: str | None, n_classes: int | None, data_name: str) -> str:
    """Why ``loss`` cannot train on this data, or "" when it can (or it is unknown yet)."""
    if loss in ("cross_entropy", "binary_cross_entropy") and task == "regression":
        return (
            f"loss {loss!r} needs class labels, but data {data_name!r} is a regression task; "
            'use loss = "mse"'
        )
    if loss == "binary_cross_entropy" and task == "classification" and n_classes is not None:
        if n_classes != 2:
            return (
                f"loss 'binary_cross_entropy' needs exactly 2 classes, but data {data_name!r} "
                f'has {n_classes}; use loss = "cross_entropy"'
            )
    return ""


# --------------------------------------------------------------------------
# Line numbers: a lenient scan of the (already valid) TOML text
# --------------------------------------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _parent(path: str) -> str:
    cut = max(path.rfind("."), path.rfind("["))
    return path[:cut] if cut > 0 else ""


def _lookup_line(lines: Mapping[str, int], path: str) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        path = _parent(path)
    return None


class _Locator:
    """Maps dotted field paths to the 1-based line where each was written.

    ``tomllib`` reports no positions, so this scans the raw text: table
    headers (``[a.b]``, ``[[a]]`` counted as ``a[0]``, ``a[1]``...), ``key =``
    lines (dotted keys too), array items (``key[2]``) and inline-table keys.
    It runs only on text ``tomllib`` accepted and gives up quietly (keeping
    what it found) on anything it does not understand.
    """

    def __init__(self, text: str) -> None:
        self.s = text
        self.n = len(text)
        self.i = 0
        self.line = 1
        self.lines: dict[str, int] = {}
        self._arrays: dict[str, int] = {}
        try:
            self._document()
        except Exception:  # noqa: BLE001 - best effort, see the docstring
            pass

    def _record(self, path: str, line: int) -> None:
        self.lines.setdefault(path, line)

    def _skip_blank(self) -> None:
        s, n = self.s, self.n
        while self.i < n and s[self.i] in " \t":
            self.i += 1

    def _skip_space(self) -> None:
        """Skip whitespace, newlines and comments."""
        s, n = self.s, self.n
        while self.i < n:
            c = s[self.i]
            if c in " \t\r":
                self.i += 1
            elif c == "\n":
                self.i += 1
                self.line += 1
            elif c == "#":
                end = s.find("\n", self.i)
                self.i = n if end < 0 else end
            else:
                return

    def _string(self) -> str:
        """Consume a string at ``i`` and return its raw text (quotes included)."""
        s, start = self.s, self.i
        triple = s[start : start + 3]
        if triple in ('"""', "'''"):
            j = start + 3
            while True:
                k = s.find(triple, j)
                if k < 0:
                    raise ValueError("unterminated string")
                if triple == '"""':
                    slashes = 0
                    while s[k - 1 - slashes] == "\\":
                        slashes += 1
                    if slashes % 2:
                        j = k + 1
                        continue
                break
            end = k + 3
            while end < self.n and s[end] == triple[0] and end - k < 5:
                end += 1
        elif s[start] == '"':
            j = start + 1
            while s[j] != '"':
                j += 2 if s[j] == "\\" else 1
            end = j + 1
        else:
            end = s.index("'", start + 1) + 1
        raw = s[start:end]
        self.line += raw.count("\n")
        self.i = end
        return raw

    def _key(self) -> list[str]:
        parts: list[str] = []
        while True:
            self._skip_blank()
            c = self.s[self.i]
            if c in "\"'":
                raw = self._string()
                parts.append(str(tomllib.loads(f"k = {raw}")["k"]))
            else:
                m = _BARE_KEY.match(self.s, self.i)
                if not m:
                    raise ValueError("bad key")
                parts.append(m.group())
                self.i = m.end()
            self._skip_blank()
            if self.i < self.n and self.s[self.i] == ".":
                self.i += 1
                continue
            return parts

    def _key_path(self, prefix: str, parts: list[str], line: int) -> str:
        path = prefix
        for part in parts:
            path = _join(path, part)
            self._record(path, line)
        return path

    def _header(self, parts: list[str], array: bool, line: int) -> str:
        path = ""
        for idx, part in enumerate(parts):
            path = _join(path, part)
            self._record(path, line)
            if array and idx == len(parts) - 1:
                count = self._arrays.get(path, -1) + 1
                self._arrays[path] = count
                self._record(path, line)
                path = f"{path}[{count}]"
            elif path in self._arrays:
                path = f"{path}[{self._arrays[path]}]"
        self._record(path, line)
        return path

    def _document(self) -> None:
        table = ""
        while True:
            self._skip_space()
            if self.i >= self.n:
                return
            line = self.line
            if self.s[self.i] == "[":
                array = self.s.startswith("[[", self.i)
                self.i += 2 if array else 1
                parts = self._key()
                self.i += 2 if array else 1
                table = self._header(parts, array, line)
            else:
                path = self._key_path(table, self._key(), line)
                self._assignment(path)

    def _assignment(self, path: str) -> None:
        self._skip_blank()
        if self.s[self.i] != "=":
            raise ValueError("expected '='")
        self.i += 1
        self._skip_blank()
        self._value(path)

    def _value(self, path: str) -> None:
        s = self.s
        c = s[self.i]
        if c in "\"'":
            self._string()
        elif c == "[":
            self.i += 1
            k = 0
            while True:
                self._skip_space()
                if s[self.i] == "]":
                    self.i += 1
                    return
                item = f"{path}[{k}]"
                self._record(item, self.line)
                self._value(item)
                self._skip_space()
                if s[self.i] == ",":
                    self.i += 1
                k += 1
        elif c == "{":
            self.i += 1
            while True:
                self._skip_space()
                if s[self.i] == "}":
                    self.i += 1
                    return
                line = self.line
                key_path = self._key_path(path, self._key(), line)
                self._assignment(key_path)
                self._skip_space()
                if s[self.i] == ",":
                    self.i += 1
        else:
            j = self.i
            while j < self.n and s[j] not in ",]}\n\r#":
                j += 1
            if j == self.i:
                raise ValueError("empty value")
            self.i = j


# --------------------------------------------------------------------------
# Checking values
# --------------------------------------------------------------------------

_MISSING: Any = object()


def _describe(value: object) -> str:
    """``a string "ten"``, ``an integer 3``... for "expected X, got Y" messages."""
    if isinstance(value, bool):
        return f"a boolean {'true' if value else 'false'}"
    if isinstance(value, int):
        return f"an integer {value}"
    if isinstance(value, float):
        return f"a number {_num(value)}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string {json.dumps(shown, ensure_ascii=False)}"
    if isinstance(value, list):
        return "an empty array" if not value else f"an array of {len(value)} items"
    if isinstance(value, dict):
        return "a table"
    return f"a date/time {value}"


def _num(value: float | int) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    return str(value)


def _bound(value: float | int) -> str:
    """A range limit as people write it: ``0`` rather than ``0.0``."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return _num(value)


def _suggest(word: str, options: Sequence[str], aliases: Mapping[str, str] | None = None) -> str:
    """The option ``word`` was probably meant to be, or ""."""
    w = word.strip().lower()
    if aliases and w in aliases and aliases[w] in options:
        return aliases[w]
    for option in options:
        if option.lower() == w:
            return option
    squashed = {o.replace("_", "").replace("-", ""): o for o in options}
    key = w.replace("_", "").replace("-", "").replace(" ", "")
    if key in squashed:
        return squashed[key]
    close = difflib.get_close_matches(w, list(options), n=1, cutoff=0.6)
    return close[0] if close else ""


def _quote_list(options: Iterable[str]) -> str:
    return ", ".join(options)


class _Checker:
    """Collects problems while reading values out of the parsed TOML tables."""

    def __init__(self, file: str, lines: dict[str, int]) -> None:
        self.file = file
        self.lines = lines
        self.problems: list[Problem] = []

    def add(self, path: str, message: str, allowed: str = "", at: str | None = None) -> None:
        line = _lookup_line(self.lines, at or path)
        self.problems.append(Problem(self.file, path, line, message, allowed))

    # -- structure --------------------------------------------------------

    def keys(
        self, table: Mapping[str, Any], prefix: str, allowed: Sequence[str], section: bool = False
    ) -> set[str]:
        """Report keys of ``table`` that are not in ``allowed``; return the suggested keys."""
        suggested: set[str] = set()
        for key, value in table.items():
            if key in allowed:
                continue
            path = _join(prefix, key)
            home = _SECTION_OF.get(key)
            here = f"in [{prefix}]" if prefix else "at the top level (before any [section])"
            suggestion = _suggest(key, allowed, _KEY_ALIASES)
            what = "unknown section" if section and isinstance(value, dict) else "unknown key"
            if home is not None and home != here:
                message = f"{what} here; '{key}' belongs {home}"
            elif suggestion:
                message = f"{what}; did you mean '{suggestion}'?"
                suggested.add(suggestion)
            else:
                message = what
            self.add(path, message, "one of " + _quote_list(allowed))
        return suggested

    def table(self, parent: Mapping[str, Any], prefix: str, key: str) -> dict[str, Any]:
        if key not in parent:
            return {}
        value = parent[key]
        path = _join(prefix, key)
        if isinstance(value, dict):
            return value
        message = f"expected a table [{path}], got {_describe(value)}"
        if isinstance(value, list):
            message += f"; write [{path}] with single brackets"
        elif key == "data" and isinstance(value, str):
            message += f'; write [data] and then kind = "{value}" on the next line'
        self.add(path, message, f"a [{path}] section")
        return {}

    # -- scalars ----------------------------------------------------------

    def integer(
        self,
        table: Mapping[str, Any],
        prefix: str,
        key: str,
        default: Any,
        lo: int | None = None,
        hi: int | None = None,
        allowed: str = "",
    ) -> Any:
        if key not in table:
            return default
        return self.check_int(table[key], _join(prefix, key), default, lo, hi, allowed)

    def check_int(
        self,
        value: Any,
        path: str,
        default: Any,
        lo: int | None = None,
        hi: int | None = None,
        allowed: str = "",
    ) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            message = f"expected an integer, got {_describe(value)}"
            if isinstance(value, float) and math.isfinite(value) and value.is_integer():
                message += f"; write {int(value)} without the decimal point"
            elif isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
                message += f"; remove the quotes: {value.strip()}"
            self.add(path, message, allowed)
            return default
        if lo is not None and value < lo:
            self.add(path, f"must be >= {lo}, got {value}", allowed)
            return default
        if hi is not None and value > hi:
            self.add(path, f"must be <= {hi}, got {value}", allowed)
            return default
        return value

    def number(
        self,
        table: Mapping[str, Any],
        prefix: str,
        key: str,
        default: float,
        lo: float | None = None,
        hi: float | None = None,
        lo_open: bool = False,
        hi_open: bool = False,
        allowed: str = "",
    ) -> float:
        if key not in table:
            return default
        value = table[key]
        path = _join(prefix, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            message = f"expected a number, got {_describe(value)}"
            if isinstance(value, str):
                try:
                    float(value)
                except ValueError:
                    pass
                else:
                    message += f"; remove the quotes: {value.strip()}"
            self.add(path, message, allowed)
            return default
        x = float(value)
        if not math.isfinite(x):
            self.add(path, f"must be a finite number, got {_num(x)}", allowed)
            return default
        if lo is not None and (x <= lo if lo_open else x < lo):
            self.add(
                path, f"must be {'>' if lo_open else '>='} {_bound(lo)}, got {_num(value)}", allowed
            )
            return default
        if hi is not None and (x >= hi if hi_open else x > hi):
            self.add(
                path, f"must be {'<' if hi_open else '<='} {_bound(hi)}, got {_num(value)}", allowed
            )
            return default
        return x

    def string(
        self,
        table: Mapping[str, Any],
        prefix: str,
        key: str,
        default: Any,
        nonempty: bool = False,
        allowed: str = "",
    ) -> Any:
        if key not in table:
            return default
        return self.check_str(table[key], _join(prefix, key), default, nonempty, allowed)

    def check_str(
        self, value: Any, path: str, default: Any, nonempty: bool = False, allowed: str = ""
    ) -> Any:
        if not isinstance(value, str):
            self.add(path, f"expected a string, got {_describe(value)}", allowed or "a string")
            return default
        if nonempty and not value.strip():
            self.add(path, "must not be empty", allowed or "a non-empty string")
            return default
        return value

    def boolean(self, table: Mapping[str, Any], prefix: str, key: str, default: Any) -> Any:
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, bool):
            message = f"expected true or false, got {_describe(value)}"
            if isinstance(value, str) and value.strip().lower() in ("true", "false"):
                message += f"; remove the quotes: {value.strip().lower()}"
            self.add(_join(prefix, key), message, "true or false")
            return default
        return value

    def choice(
        self,
        table: Mapping[str, Any],
        prefix: str,
        key: str,
        default: Any,
        options: Sequence[str],
        alias_key: str | None = None,
        accept: Mapping[str, str] | None = None,
    ) -> Any:
        """A string from ``options``; ``accept`` maps extra accepted spellings."""
        if key not in table:
            return default
        value = table[key]
        path = _join(prefix, key)
        allowed = _quote_list(options)
        if not isinstance(value, str):
            self.add(path, f"expected a string, got {_describe(value)}", "one of " + allowed)
            return default
        if value in options:
            return value
        if accept and value in accept:
            return accept[value]
        message = f"{key} {value!r} is not one of {allowed}"
        hint = _VALUE_HINTS.get((key, value.strip().lower()))
        suggestion = _suggest(value, options, _VALUE_ALIASES.get(alias_key or key))
        if hint:
            message += f"; {hint}"
        elif suggestion:
            message += f"; did you mean '{suggestion}'?"
        self.add(path, message, allowed)
        return default

    def strings(
        self, table: Mapping[str, Any], prefix: str, key: str, allow_empty: bool = True
    ) -> list[str] | None:
        """An array of non-empty strings, or None (missing or invalid)."""
        if key not in table:
            return None
        value = table[key]
        path = _join(prefix, key)
        if not isinstance(value, list):
            message = f"expected an array of strings, got {_describe(value)}"
            if isinstance(value, str):
                message += f"; write {key} = [{json.dumps(value, ensure_ascii=False)}]"
            self.add(path, message, 'an array of strings, e.g. ["a", "b"]')
            return None
        if not value and not allow_empty:
            self.add(path, "must not be empty", "an array of at least one string")
            return None
        out: list[str] = []
        for i, item in enumerate(value):
            checked = self.check_str(item, f"{path}[{i}]", None, nonempty=True)
            if checked is None:
                return None
            out.append(checked)
        return out


# --------------------------------------------------------------------------
# Building a Scenario from parsed TOML
# --------------------------------------------------------------------------


def _read_data(ck: _Checker, raw: Mapping[str, Any], source: Path | None) -> DataSpec:
    d = ck.table(raw, "", "data")
    ck.keys(d, "data", _DATA_KEYS)
    kinds = _all_kinds()
    chosen = ck.choice(d, "data", "kind", _MISSING, kinds, alias_key="kind", accept=_kind_aliases())
    kind_ok = chosen is not _MISSING or "kind" not in d  # a bad kind skips kind-specific checks
    kind = "xor" if chosen is _MISSING else chosen
    generated = _generated_kinds()
    params = _generator_params(kind)
    relevant = _data_keys_for(kind)
    info = _generated_info()
    users = {
        "n_samples": f"generated data ({_quote_list(generated)})",
        "noise": f"generated data ({_quote_list(generated)})",
        "classes": "kind = " + " or ".join(f'"{k}"' for k, v in info.items() if "classes" in v[1]),
        "degree": "kind = " + " or ".join(f'"{k}"' for k, v in info.items() if "degree" in v[1]),
        "standardize": 'kind = "csv", "iris" or "digits"',
    }

    def applies(key: str) -> bool:
        """Whether to read ``key``; reports it when it does not apply to the kind."""
        if key not in d or not kind_ok or key in relevant:
            return True
        where = users.get(key, 'kind = "csv"')
        ck.add(
            f"data.{key}",
            f'only used with {where}, not with kind = "{kind}"',
            f"remove {key}, or change kind",
        )
        return False

    n_samples, noise, classes, degree = 200, 0.0, 2, 3
    if applies("n_samples"):
        n_samples = ck.integer(
            d,
            "data",
            "n_samples",
            200,
            MIN_SAMPLES,
            MAX_SAMPLES,
            f"an integer from {MIN_SAMPLES} to {MAX_SAMPLES}, e.g. 200",
        )
    if applies("noise"):
        noise = ck.number(d, "data", "noise", 0.0, 0.0, 1.0, allowed="a number in [0, 1], e.g. 0.1")
    val_fraction = ck.number(
        d,
        "data",
        "val_fraction",
        0.2,
        0.0,
        1.0,
        hi_open=True,
        allowed="a number in [0, 1), e.g. 0.2",
    )
    if applies("classes"):
        classes = ck.integer(
            d, "data", "classes", 2, 2, MAX_CLASSES, f"an integer from 2 to {MAX_CLASSES}"
        )
    if applies("degree"):
        degree = ck.integer(
            d, "data", "degree", 3, 1, MAX_DEGREE, f"an integer from 1 to {MAX_DEGREE}"
        )
    if "classes" in params and "classes" in d and "n_samples" in d and classes > n_samples:
        ck.add(
            "data.n_samples",
            f"must be at least the number of classes ({classes}), got {n_samples}",
        )

    path: Path | None = None
    path_text: str | None = None
    target = features = task = None
    if applies("path"):
        path_text = ck.string(
            d, "data", "path", None, nonempty=True, allowed="a path to a .csv file"
        )
        if path_text is not None:
            path = _resolve_data_path(ck, path_text, source)
        elif kind == "csv" and "path" not in d:
            ck.add(
                "data.path",
                'required when kind = "csv"',
                'a path to a .csv file, relative to the scenario file, e.g. "data/points.csv"',
                at="data.kind",
            )
    if applies("target"):
        target = ck.string(d, "data", "target", None, nonempty=True, allowed="a column name")
    if applies("features"):
        feats = ck.strings(d, "data", "features", allow_empty=False)
        if feats is not None:
            dupes = sorted({f for f in feats if feats.count(f) > 1})
            if dupes:
                ck.add("data.features", f"column {dupes[0]!r} is listed twice", "distinct names")
            elif target is not None and target in feats:
                ck.add(
                    "data.features",
                    f"the target column {target!r} cannot also be a feature",
                    "columns other than the target",
                )
            else:
                features = tuple(feats)
    if applies("task"):
        task = ck.choice(d, "data", "task", None, TASKS)
    standardize = None
    if applies("standardize"):
        standardize = ck.boolean(d, "data", "standardize", None)
    return DataSpec(
        kind=kind,
        n_samples=n_samples,
        noise=noise,
        val_fraction=val_fraction,
        classes=classes,
        degree=degree,
        path=path,
        target=target,
        features=features,
        task=task,
        standardize=standardize,
        path_text=path_text,
    )


def _resolve_data_path(ck: _Checker, text: str, source: Path | None) -> Path | None:
    """The absolute path of a csv ``path``, or None after reporting why not.

    ``~`` and ``~user`` are expanded (an unknown user is an error); the file
    must exist and be a regular file, so a FIFO or a device is refused here
    (``os.stat`` does not open it) rather than hanging the loader.
    """
    allowed = "a path to a .csv file"
    if text.startswith("~"):
        user = text[1:].split("/", 1)[0].split(os.sep, 1)[0]
        try:
            expanded = os.path.expanduser(text)
        except (KeyError, RuntimeError, ValueError):
            expanded = text
        if expanded == text or expanded.startswith("~"):
            who = f"unknown user {user!r} in" if user else "no home directory for"
            ck.add("data.path", f"{who} {_short(text)}", allowed)
            return None
        text = expanded
    try:
        given = Path(text)
        base = source.parent if source is not None else Path.cwd()
        path = given if given.is_absolute() else base / given
        path = Path(os.path.abspath(path))
        info = os.stat(path)
    except FileNotFoundError:
        where = "the scenario file's directory" if source is not None else "the current directory"
        ck.add(
            "data.path",
            f"file not found: {path} (relative paths start from {where})",
            "an existing .csv file",
        )
        return None
    except (OSError, ValueError, RuntimeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        ck.add("data.path", f"not a usable path: {reason}", allowed)
        return None
    if stat.S_ISDIR(info.st_mode):
        ck.add("data.path", f"{path} is a directory, not a file", allowed)
        return None
    if not stat.S_ISREG(info.st_mode):
        ck.add("data.path", f"{path} is not a regular file (a device, pipe or socket)", allowed)
        return None
    return path


def _short(text: str, limit: int = 60) -> str:
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


def _read_model(ck: _Checker, raw: Mapping[str, Any]) -> ModelSpec:
    m = ck.table(raw, "", "model")
    ck.keys(m, "model", _MODEL_KEYS)
    activation = ck.choice(m, "model", "activation", DEFAULT_ACTIVATION, ACTIVATIONS)
    per_layer = "layers" in m
    hidden: tuple[LayerSpec, ...] = tuple(LayerSpec(u, activation) for u in DEFAULT_HIDDEN)
    if per_layer:
        for other in ("hidden", "activation"):
            if other in m:
                ck.add(
                    "model.layers",
                    f"'layers' and '{other}' are mutually exclusive: use either "
                    'hidden = [...] with activation = "...", or '
                    'layers = [{ units = 8, activation = "relu" }, ...]',
                    "one of the two forms",
                )
        hidden = _read_layers(ck, m["layers"]) or ()
    elif "hidden" in m:
        value = m["hidden"]
        units_allowed = (
            f"an array of up to {MAX_LAYERS} integers from 1 to {MAX_UNITS}, e.g. [4, 2]"
        )
        if not isinstance(value, list):
            message = f"expected an array of integers, got {_describe(value)}"
            if isinstance(value, int) and not isinstance(value, bool):
                message += f"; write hidden = [{value}]"
            ck.add("model.hidden", message, units_allowed)
        elif len(value) > MAX_LAYERS:
            ck.add("model.hidden", f"at most {MAX_LAYERS} layers, got {len(value)}", units_allowed)
        else:
            units = [
                ck.check_int(u, f"model.hidden[{i}]", None, 1, MAX_UNITS, units_allowed)
                for i, u in enumerate(value)
            ]
            if all(u is not None for u in units):
                hidden = tuple(LayerSpec(u, activation) for u in units)
    return ModelSpec(
        hidden=hidden,
        activation=activation,
        output_activation=ck.choice(
            m, "model", "output_activation", "linear", ACTIVATIONS, alias_key="activation"
        ),
        init=ck.choice(m, "model", "init", "xavier", INITS),
        init_std=ck.number(
            m,
            "model",
            "init_std",
            0.1,
            0.0,
            MAX_INIT,
            lo_open=True,
            allowed=f"a positive number up to {MAX_INIT:g}, e.g. 0.1",
        ),
        init_scale=ck.number(
            m,
            "model",
            "init_scale",
            0.5,
            0.0,
            MAX_INIT,
            lo_open=True,
            allowed=f"a positive number up to {MAX_INIT:g}, e.g. 0.5",
        ),
        bias_init=ck.number(
            m,
            "model",
            "bias_init",
            0.0,
            -MAX_INIT,
            MAX_INIT,
            allowed=f"a number from {-MAX_INIT:g} to {MAX_INIT:g}, e.g. 0.0",
        ),
        leaky_slope=ck.number(
            m, "model", "leaky_slope", 0.01, 0.0, 1.0, allowed="a number in [0, 1], e.g. 0.01"
        ),
        per_layer=per_layer,
    )


def _read_layers(ck: _Checker, value: Any) -> tuple[LayerSpec, ...] | None:
    form = 'an array of tables like [{ units = 8, activation = "relu" }]'
    if isinstance(value, dict):
        ck.add(
            "model.layers",
            "expected an array of tables, got a table; write [[model.layers]] "
            "(double brackets) before each layer",
            form,
        )
        return None
    if not isinstance(value, list):
        ck.add("model.layers", f"expected an array of tables, got {_describe(value)}", form)
        return None
    if len(value) > MAX_LAYERS:
        ck.add("model.layers", f"at most {MAX_LAYERS} layers, got {len(value)}", form)
        return None
    out: list[LayerSpec] = []
    ok = True
    for i, item in enumerate(value):
        path = f"model.layers[{i}]"
        if not isinstance(item, dict):
            message = (
                f'expected a table like {{ units = 8, activation = "relu" }}, got {_describe(item)}'
            )
            ck.add(path, message, form)
            ok = False
            continue
        misspelt = ck.keys(item, path, _LAYER_KEYS)
        if "units" not in item:
            if "units" not in misspelt:
                ck.add(f"{path}.units", "missing: every layer needs units = N", f"1 to {MAX_UNITS}")
            ok = False
            continue
        units = ck.check_int(
            item["units"], f"{path}.units", None, 1, MAX_UNITS, f"an integer from 1 to {MAX_UNITS}"
        )
        act = ck.choice(item, path, "activation", DEFAULT_ACTIVATION, ACTIVATIONS)
        if units is None:
            ok = False
        else:
            out.append(LayerSpec(units, act))
    return tuple(out) if ok else None


def _read_training(ck: _Checker, raw: Mapping[str, Any], data: DataSpec) -> dict[str, Any]:
    t = ck.table(raw, "", "training")
    ck.keys(t, "training", _TRAINING_KEYS)
    loss = ck.choice(t, "training", "loss", None, LOSSES)
    if loss is not None:
        message = _loss_misfit(loss, _static_task(data), _static_classes(data), _data_label(data))
        if message:
            ck.add("training.loss", message, _LOSS_ALLOWED)
    out: dict[str, Any] = {
        "loss": loss,
        "optimizer": ck.choice(t, "training", "optimizer", "sgd", OPTIMIZERS),
        "lr": ck.number(
            t,
            "training",
            "lr",
            0.03,
            0.0,
            MAX_LR,
            lo_open=True,
            allowed=f"a positive number up to {_bound(MAX_LR)}, e.g. 0.03",
        ),
        "momentum": ck.number(
            t,
            "training",
            "momentum",
            0.9,
            0.0,
            1.0,
            hi_open=True,
            allowed="a number in [0, 1), e.g. 0.9",
        ),
        "beta1": ck.number(
            t,
            "training",
            "beta1",
            0.9,
            0.0,
            1.0,
            hi_open=True,
            allowed="a number in [0, 1), e.g. 0.9",
        ),
        "beta2": ck.number(
            t,
            "training",
            "beta2",
            0.999,
            0.0,
            1.0,
            hi_open=True,
            allowed="a number in [0, 1), e.g. 0.999",
        ),
        "eps": ck.number(
            t, "training", "eps", 1e-8, 0.0, lo_open=True, allowed="a positive number, e.g. 1e-8"
        ),
        "l2": ck.number(t, "training", "l2", 0.0, 0.0, allowed="a number >= 0, e.g. 0.001"),
        "epochs": ck.integer(
            t,
            "training",
            "epochs",
            100,
            1,
            MAX_EPOCHS,
            f"an integer from 1 to {MAX_EPOCHS}, e.g. 100",
        ),
        "dtype": ck.choice(t, "training", "dtype", "float64", DTYPES),
        "backend": ck.choice(t, "training", "backend", "numpy", BACKENDS),
        "history_steps": ck.integer(
            t, "training", "history_steps", 1000, 1, allowed="an integer >= 1, e.g. 1000"
        ),
    }
    batch_allowed = 'an integer >= 1, or "full" for the whole training set'
    batch: int | str = 10
    if "batch_size" in t:
        value = t["batch_size"]
        if isinstance(value, str):
            if value == "full":
                batch = "full"
            else:
                message = f'expected an integer or "full", got {_describe(value)}'
                if re.fullmatch(r"\s*\d+\s*", value):
                    message += f"; remove the quotes: {value.strip()}"
                elif _suggest(value, ["full"], {"all": "full", "batch": "full", "whole": "full"}):
                    message += "; did you mean 'full'?"
                ck.add("training.batch_size", message, batch_allowed)
        else:
            batch = ck.check_int(value, "training.batch_size", 10, 1, None, batch_allowed)
    out["batch_size"] = batch
    return out


def _read_breakpoints(ck: _Checker, value: Any, prefix: str) -> list[BreakpointSpec]:
    form = 'an array of conditions, e.g. ["nonfinite", "epoch >= 50"], or [[breakpoints]] tables'
    if isinstance(value, dict):
        ck.add(
            prefix,
            f"expected an array, got a table; write [[{prefix}]] (double brackets)",
            form,
        )
        return []
    if not isinstance(value, list):
        message = f"expected an array of conditions, got {_describe(value)}"
        if isinstance(value, str):
            message += f"; write breakpoints = [{json.dumps(value, ensure_ascii=False)}]"
        ck.add(prefix, message, form)
        return []
    check = _condition_checker()
    out: list[BreakpointSpec] = []
    phases = _quote_list(BREAKPOINT_PHASES)
    for i, item in enumerate(value):
        path = f"{prefix}[{i}]"
        if isinstance(item, str):
            cond_path = path
            condition = ck.check_str(item, path, None, nonempty=True, allowed="a condition")
            phase, enabled, ignore, every = "step", True, 0, False
        elif isinstance(item, dict):
            ck.keys(item, path, _BREAKPOINT_KEYS)
            cond_path = f"{path}.condition"
            if "condition" not in item:
                ck.add(
                    cond_path, 'missing: every breakpoint needs condition = "..."', "a condition"
                )
                condition = None
            else:
                condition = ck.string(item, path, "condition", None, nonempty=True)
            phase = ck.choice(item, path, "phase", "step", BREAKPOINT_PHASES)
            enabled = ck.boolean(item, path, "enabled", True)
            ignore = ck.integer(
                item, path, "ignore", 0, 0, MAX_IGNORE, f"an integer 0..{MAX_IGNORE:_}"
            )
            every = ck.boolean(item, path, "every", False)
        else:
            ck.add(
                path,
                'expected a condition string or a table { condition = "...", phase = "..." }, '
                f"got {_describe(item)}",
                f"a string, or a table with condition, phase ({phases}), enabled, ignore, every",
            )
            continue
        if condition is None:
            continue
        if check is not None:
            error = check(condition)
            if error:
                ck.add(cond_path, error, "a breakpoint condition, see docs/scenarios.md")
                continue
        out.append(BreakpointSpec(condition, phase, enabled, ignore, every))
    return out


def _condition_checker() -> Callable[[str], str] | None:
    """A function returning an error message for a bad condition ("" if fine), if available."""
    try:
        from tui_trainer.engine import conditions
    except Exception:  # noqa: BLE001 - not written yet or broken: shape checks only
        return None
    parse = getattr(conditions, "parse", None)
    error_type = getattr(conditions, "ConditionError", None)
    if not callable(parse):
        return None

    def check(text: str) -> str:
        try:
            parse(text)
        except Exception as exc:  # noqa: BLE001
            if error_type is not None and isinstance(exc, error_type):
                message = str(getattr(exc, "message", exc))
                column = getattr(exc, "column", None)
                where = f" (column {column + 1})" if isinstance(column, int) else ""
                return f"invalid condition {text!r}: {message}{where}"
            return f"could not check condition {text!r}: {type(exc).__name__}: {exc}"
        return ""

    return check


def _build(ck: _Checker, raw: dict[str, Any], text: str, source: Path | None) -> Scenario:
    ck.keys(raw, "", (*_TOP_KEYS, *_TOP_EXTRA, _LESSON_KEY), section=True)
    default_name = source.stem if source is not None and source.stem else "untitled"
    name = ck.string(raw, "", "name", default_name, nonempty=True, allowed="a short name")
    description = ck.string(raw, "", "description", "")
    watch = ck.string(raw, "", "watch", "")
    seed = ck.integer(raw, "", "seed", 0, 0, allowed="an integer >= 0, e.g. 0")
    data = _read_data(ck, raw, source)
    model = _read_model(ck, raw)
    training = _read_training(ck, raw, data)
    t = raw["training"] if isinstance(raw.get("training"), dict) else {}
    lists: dict[str, Any] = {}
    for key in ("breakpoints", "watches"):
        if key in raw and key in t:
            ck.add(
                f"training.{key}",
                f"{key} given both at the top level and in [training]; keep one",
                "one list",
            )
        if key in t:
            lists[key] = (t[key], f"training.{key}")
        elif key in raw:
            lists[key] = (raw[key], key)
    breakpoints = _read_breakpoints(ck, *lists["breakpoints"]) if "breakpoints" in lists else []
    watches: list[str] = []
    if "watches" in lists:
        value, path = lists["watches"]
        prefix, _, key = path.rpartition(".")
        watches = ck.strings({key: value}, prefix, key) or []
        check = _condition_checker()
        if check is not None:
            for i, expr in enumerate(watches):
                error = check(expr)
                if error:
                    ck.add(f"{path}[{i}]", error.replace("condition", "watch expression", 1))
    lesson: list[Any] = []
    if _LESSON_KEY in raw:
        from tui_trainer.lessons import read_lesson

        lesson = read_lesson(ck, raw[_LESSON_KEY], _LESSON_KEY, _static_task(data))
    return Scenario(
        name=name,
        description=description,
        watch=watch,
        seed=seed,
        data=data,
        model=model,
        breakpoints=breakpoints,
        watches=watches,
        lesson=lesson,
        source=source,
        text=text,
        lines=dict(ck.lines),
        **training,
    )


# --------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------

_TOML_POSITION = re.compile(
    r"^(?P<msg>.*?)\s*\(at (?:line (?P<line>\d+), column (?P<col>\d+)|end of document)\)\s*$", re.S
)

_TOML_HINTS: tuple[tuple[str, str], ...] = (
    ("Cannot overwrite a value", "duplicate key: each key may be set only once per table"),
    ("Cannot declare", "duplicate table: each [section] may appear only once"),
    (
        "Invalid value",
        'a value is missing or malformed; strings need double quotes, e.g. kind = "xor"',
    ),
    ("Expected '=' after a key", "each setting is written key = value, e.g. lr = 0.03"),
    ("Unclosed array", "an array is missing its closing ]"),
    ("Illegal character", "a string is missing its closing quote"),
)


def _toml_problem(file: str, exc: tomllib.TOMLDecodeError) -> Problem:
    text = str(exc)
    match = _TOML_POSITION.match(text)
    line: int | None = None
    message = text
    if match:
        message = match.group("msg")
        if match.group("line"):
            line = int(match.group("line"))
            message += f" (column {match.group('col')})"
        else:
            message += " (at the end of the file)"
    for needle, hint in _TOML_HINTS:
        if needle in text:
            message += f"; {hint}"
            break
    return Problem(file, "toml", line, f"invalid TOML: {message}", "TOML 1.0 syntax")


def parse_scenario(text: str, source: str | Path | None = None) -> Scenario:
    """Check scenario ``text``; ``source`` names the file (for messages, the
    default name and resolving a relative csv ``path``). Raises :class:`ScenarioError`."""
    source = Path(source) if source is not None else None
    file = str(source) if source is not None else "<scenario>"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([_toml_problem(file, exc)]) from None
    except RecursionError:
        raise ScenarioError(
            [Problem(file, "toml", None, "invalid TOML: nested too deeply")]
        ) from None
    ck = _Checker(file, _Locator(text).lines)
    try:
        scenario = _build(ck, raw, text, source)
    except RecursionError:
        ck.add("", "the file is nested too deeply to check")
        scenario = None
    except Exception as exc:  # noqa: BLE001 - never a traceback for a bad file
        ck.add("", f"internal error while checking the scenario: {type(exc).__name__}: {exc}")
        scenario = None
    if ck.problems or scenario is None:
        problems = sorted(ck.problems, key=lambda p: (p.line is None, p.line or 0))
        raise ScenarioError(problems)
    return scenario


MAX_SCENARIO_BYTES = 4 * 1024 * 1024


def _read_regular(p: Path, file: str) -> bytes:
    """The bytes of a regular file of at most MAX_SCENARIO_BYTES.

    Opened non-blocking and checked with ``fstat``: a FIFO, a device or a
    pseudo-file such as ``/proc/kmsg`` (which would block) or
    ``/proc/self/environ`` (whose size reads as 0) is refused, not read.
    """
    fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(fd)
        allowed = "a .toml file"
        if not stat.S_ISREG(info.st_mode):
            raise ScenarioError(
                [Problem(file, "", None, "not a regular file (a device, pipe or socket)", allowed)]
            )
        if info.st_size > MAX_SCENARIO_BYTES:
            raise ScenarioError(
                [
                    Problem(
                        file,
                        "",
                        None,
                        f"too large for a scenario file ({info.st_size:,} bytes)",
                        f"at most {MAX_SCENARIO_BYTES // 2**20} MiB",
                    )
                ]
            )
        try:
            data = os.read(fd, info.st_size + 1) if info.st_size else os.read(fd, 1)
        except BlockingIOError:
            data = b"?"  # would block: not a plain file's content
        if len(data) != info.st_size:
            raise ScenarioError(
                [
                    Problem(
                        file,
                        "",
                        None,
                        "its size does not match what it holds (a /proc or /sys pseudo-file, "
                        "or it changed while being read)",
                        allowed,
                    )
                ]
            )
        return data
    finally:
        os.close(fd)


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file. Raises only :class:`ScenarioError`."""
    file = str(path)
    try:
        p = Path(path)
        if p.is_dir():
            raise ScenarioError(
                [Problem(file, "", None, "is a directory, not a scenario file", "a .toml file")]
            )
        data = _read_regular(p, file)
    except ScenarioError:
        raise
    except FileNotFoundError:
        raise ScenarioError([Problem(file, "", None, "file not found", "a .toml file")]) from None
    except PermissionError:
        raise ScenarioError([Problem(file, "", None, "permission denied")]) from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ScenarioError([Problem(file, "", None, f"cannot read the file: {reason}")]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ScenarioError(
            [
                Problem(
                    file,
                    "",
                    line,
                    f"not a UTF-8 text file (byte 0x{data[exc.start]:02x} at offset {exc.start})",
                    "a UTF-8 encoded .toml file",
                )
            ]
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return parse_scenario(text, p)


def builtin_dir() -> Path:
    """The directory of the scenarios shipped with the package."""
    return Path(str(resources.files("tui_trainer").joinpath("scenarios")))


def builtin_names() -> list[str]:
    """Names (file stems) of the built-in scenarios, sorted."""
    try:
        return sorted(p.stem for p in builtin_dir().glob("*.toml") if p.is_file())
    except OSError:
        return []


def resolve_scenario(arg: str) -> Path:
    """``arg`` as an existing file, else the built-in scenario of that name.

    Raises :class:`ScenarioError` (with a did-you-mean) when neither exists.
    """
    names = builtin_names()
    listing = _quote_list(names) if names else "(none installed)"
    allowed = f"a path to a .toml file, or a built-in scenario: {listing}"
    try:
        p = Path(arg).expanduser()
        if p.is_file():
            return p
        if p.is_dir():
            raise ScenarioError(
                [Problem(arg, "", None, "is a directory, not a scenario file", allowed)]
            )
    except RuntimeError:  # ~user with an unknown user
        user = arg[1:].split("/", 1)[0]
        raise ScenarioError(
            [Problem(arg, "", None, f"unknown user {user!r} in the path", allowed)]
        ) from None
    except (OSError, ValueError):
        pass
    stem = arg[:-5] if arg.endswith(".toml") else arg
    if stem in names:
        return builtin_dir() / f"{stem}.toml"
    message = f"no scenario file or built-in scenario named {arg!r}"
    suggestion = _suggest(stem, names) if names else ""
    if suggestion:
        message += f"; did you mean '{suggestion}'?"
    raise ScenarioError([Problem(arg, "", None, message, allowed)])


# --------------------------------------------------------------------------
# Writing TOML
# --------------------------------------------------------------------------

_OVERRIDE_SECTION: dict[str, str] = {
    **{k: "" for k in ("name", "description", "watch", "seed")},
    **{k: "data" for k in _DATA_KEYS},
    **{k: "model" for k in _MODEL_KEYS},
    **{k: "training" for k in _TRAINING_KEYS},
}


def _path_text(spec: DataSpec, relative_to: str | Path | None) -> str:
    assert spec.path is not None
    if relative_to is not None:
        try:
            return Path(os.path.relpath(spec.path, Path(relative_to).resolve())).as_posix()
        except ValueError:  # different drives on Windows
            return spec.path.as_posix()
    return spec.path_text if spec.path_text is not None else spec.path.as_posix()


def _plain(value: Any) -> Any:
    """Convert override values (LayerSpec, BreakpointSpec, Path, tuples) to TOML values."""
    if isinstance(value, LayerSpec):
        return {"units": value.units, "activation": value.activation}
    if isinstance(value, BreakpointSpec):
        return value
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _apply_override(
    doc: dict[str, dict[str, Any]], key: str, value: Any, relative_to: str | Path | None
) -> None:
    if key not in _OVERRIDE_SECTION:
        raise TypeError(f"to_toml() got an unknown scenario setting {key!r}")
    section = doc[_OVERRIDE_SECTION[key]]
    value = _plain(value)
    model = doc["model"]
    if key == "path" and relative_to is not None and value is not None:
        p = Path(value)
        if p.is_absolute():
            value = Path(os.path.relpath(p, Path(relative_to).resolve())).as_posix()
    if key == "kind" and isinstance(value, str):
        value = _kind_aliases().get(value, value)
        keep = _data_keys_for(value)
        for other in [k for k in section if k not in keep]:
            del section[other]
    if key == "hidden":
        if "layers" in model:
            acts = {layer["activation"] for layer in model.pop("layers")}
            model.setdefault("activation", acts.pop() if len(acts) == 1 else DEFAULT_ACTIVATION)
        if isinstance(value, list) and any(isinstance(v, dict) for v in value):
            model.pop("activation", None)
            model["layers"] = value
            return
    elif key == "layers":
        shared = model.pop("activation", DEFAULT_ACTIVATION)
        model.pop("hidden", None)
        if isinstance(value, list) and all(isinstance(v, int) for v in value):
            value = [{"units": u, "activation": shared} for u in value]
    elif key == "activation" and "layers" in model:
        model["hidden"] = [layer["units"] for layer in model.pop("layers")]
    if value is None:
        section.pop(key, None)
    else:
        section[key] = value
    if key in ("hidden", "activation") and "hidden" in model:
        # keep hidden/activation together, in their documented order
        rest = {k: v for k, v in model.items() if k not in ("hidden", "activation")}
        ordered = {
            "hidden": model["hidden"],
            "activation": model.get("activation", DEFAULT_ACTIVATION),
        }
        model.clear()
        model.update(ordered)
        model.update(rest)


def _literal_ok(text: str) -> bool:
    """Whether ``text`` can be written verbatim as a multi-line literal string."""
    if "'''" in text or text.endswith("'"):
        return False
    return not any((ord(c) < 0x20 and c not in "\n\t") or c == "\x7f" for c in text)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _num(value)
    if isinstance(value, str):
        if "\n" in value and _literal_ok(value):
            return "'''\n" + value + "'''"  # the newline after the opening quotes is dropped
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, Path):
        return _toml_value(value.as_posix())
    if isinstance(value, BreakpointSpec):
        if value.phase == "step" and value.enabled and not value.ignore and not value.every:
            return _toml_value(value.condition)
        parts = {"condition": value.condition, "phase": value.phase}
        if not value.enabled:
            parts["enabled"] = False  # type: ignore[assignment]
        if value.ignore:
            parts["ignore"] = value.ignore  # type: ignore[assignment]
        if value.every:
            parts["every"] = True  # type: ignore[assignment]
        return _toml_value(parts)
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }"
    if isinstance(value, (list, tuple)):
        items = [_toml_value(v) for v in value]
        one_line = "[" + ", ".join(items) + "]"
        if len(one_line) <= 72 or len(items) < 2:
            return one_line
        return "[\n" + "".join(f"    {item},\n" for item in items) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _emit(doc: Mapping[str, Mapping[str, Any]]) -> str:
    lines = ["# tui-trainer scenario"]
    for key, value in doc[""].items():
        lines.append(f"{key} = {_toml_value(value)}")
    for section in ("data", "model", "training"):
        lines.append("")
        lines.append(f"[{section}]")
        for key, value in doc[section].items():
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"
