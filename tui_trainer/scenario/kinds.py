"""Data-set metadata: which data kinds exist, their task, classes and parameters.

Read from ``tui_trainer.engine.data`` when it imports, else from the fallback
tables below, so a scenario can still be checked when the data module is
broken. Also says whether a loss fits a task (``_loss_misfit``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tui_trainer.scenario.schema import DataSpec


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


def _generated_columns(kind: str) -> list[str] | None:
    """The columns of a generated kind (``x1``, ``x2``, or ``x`` for 1-D), None otherwise."""
    if kind not in _generated_kinds():
        return None
    mod = _data_module()
    gens = getattr(mod, "GENERATORS", None) if mod is not None else None
    info = gens.get(kind) if isinstance(gens, Mapping) else None
    n = getattr(info, "n_features", 2)
    if info is None:
        n = 1 if kind in ("sine", "polynomial") else 2
    return ["x"] if n == 1 else [f"x{i + 1}" for i in range(n)]


def _generator_params(kind: str) -> tuple[str, ...]:
    info = _generated_info().get(kind)
    return info[1] if info else ()


def _data_keys_for(kind: str) -> set[str]:
    """The ``[data]`` keys that mean something for ``kind``."""
    keys = {"kind", "val_fraction", "data_seed", "features"}
    if kind in _generated_kinds():
        keys |= {"n_samples", "noise", *_generator_params(kind)}
        if _generated_info()[kind][0] == "classification" and _generated_columns(kind) == [
            "x1",
            "x2",
        ]:  # points added or removed by hand (a click in the data view)
            keys |= {"added_points", "removed_points"}
    if kind == "csv":
        keys |= {"path", "target", "task"}
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
