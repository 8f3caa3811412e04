"""Writing a :class:`Scenario` back as TOML, with some settings overridden.

Used by :meth:`Scenario.to_toml` (the Save dialog, ``run --set``): the
settings become a plain document in the order the docs list them, the
overrides are applied, and the text is checked by parsing it again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tui_trainer.engine.config import LayerSpec
from tui_trainer.scenario.check import _num
from tui_trainer.scenario.kinds import _data_keys_for, _kind_aliases
from tui_trainer.scenario.load import parse_scenario
from tui_trainer.scenario.schema import (
    _DATA_KEYS,
    _MODEL_KEYS,
    _TRAINING_KEYS,
    DEFAULT_ACTIVATION,
    SCHEDULE_KEYS,
    BreakpointSpec,
    DataSpec,
    Scenario,
)


def to_toml(
    scenario: Scenario, relative_to: str | Path | None, overrides: Mapping[str, Any]
) -> str:
    """The work of :meth:`Scenario.to_toml` (see there): write, override, check."""
    doc = _document(scenario, relative_to)
    for key, value in overrides.items():
        _apply_override(doc, key, value, relative_to)
    text = _emit(doc)
    base: Path | None
    if relative_to is not None:
        base = Path(relative_to) / "saved.toml"  # only its directory matters
    else:
        base = scenario.source
    parse_scenario(text, base)  # raises ScenarioError if an override is invalid
    return text


def _document(scenario: Scenario, relative_to: str | Path | None) -> dict[str, dict[str, Any]]:
    """The settings as nested plain values, in the order the file lists them."""
    top: dict[str, Any] = {
        "name": scenario.name,
        "description": scenario.description,
        "watch": scenario.watch,
        "seed": scenario.seed,
    }
    d = scenario.data
    keys = _data_keys_for(d.kind)
    data: dict[str, Any] = {"kind": d.kind}
    for key in ("n_samples", "noise", "val_fraction", "classes", "degree"):
        if key in keys:
            data[key] = getattr(d, key)
    if d.data_seed is not None:
        data["data_seed"] = d.data_seed
    if d.added_points:
        data["added_points"] = [[x1, x2, c] for x1, x2, c in d.added_points]
    if d.removed_points:
        data["removed_points"] = list(d.removed_points)
    if "path" in keys and d.path is not None:
        data["path"] = _path_text(d, relative_to)
    for key in ("target", "task", "standardize"):
        if key in keys and getattr(d, key) is not None:
            data[key] = getattr(d, key)
    if "features" in keys and d.features is not None:
        data["features"] = list(d.features)
    m = scenario.model
    model: dict[str, Any] = {}
    acts = {layer.activation for layer in m.hidden}
    drops = {layer.dropout for layer in m.hidden}
    if m.per_layer or len(acts) > 1 or drops - {m.dropout}:
        model["layers"] = [_layer_table(s, m.dropout) for s in m.hidden]
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
    if m.dropout:
        model["dropout"] = m.dropout
    training: dict[str, Any] = {}
    if scenario.loss is not None:
        training["loss"] = scenario.loss
    training.update(
        optimizer=scenario.optimizer,
        lr=scenario.lr,
        momentum=scenario.momentum,
        beta1=scenario.beta1,
        beta2=scenario.beta2,
        eps=scenario.eps,
        l2=scenario.l2,
    )
    # Written only when used, so files without them stay as they were.
    if scenario.l1:
        training["l1"] = scenario.l1
    if scenario.schedule != "constant" or scenario.warmup_epochs:
        training["schedule"] = scenario.schedule
        if scenario.warmup_epochs:
            training["warmup_epochs"] = scenario.warmup_epochs
        for key, users in SCHEDULE_KEYS.items():
            value = getattr(scenario, key)
            if scenario.schedule in users and value is not None:
                training[key] = value
    training.update(
        batch_size=scenario.batch_size,
        epochs=scenario.epochs,
        dtype=scenario.dtype,
        history_steps=scenario.history_steps,
        breakpoints=list(scenario.breakpoints),
        watches=list(scenario.watches),
    )
    if scenario.backend != "numpy":
        training["backend"] = scenario.backend
    return {"": top, "data": data, "model": model, "training": training}


_OVERRIDE_SECTION: dict[str, str] = {
    **{k: "" for k in ("name", "description", "watch", "seed")},
    **{k: "data" for k in _DATA_KEYS},
    **{k: "model" for k in _MODEL_KEYS},
    **{k: "training" for k in _TRAINING_KEYS},
}


def _layer_table(spec: LayerSpec, shared_dropout: float = 0.0) -> dict[str, Any]:
    """One ``layers = [...]`` entry; its dropout when it differs from ``[model] dropout``."""
    table: dict[str, Any] = {"units": spec.units, "activation": spec.activation}
    if spec.dropout != shared_dropout:
        table["dropout"] = spec.dropout
    return table


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
        return _layer_table(value)
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
    if key == "schedule" and isinstance(value, str):
        for other, users in SCHEDULE_KEYS.items():  # parameters the new schedule does not use
            if value not in users:
                section.pop(other, None)
    if key == "dropout" and "layers" in model:  # one rate for every hidden layer
        for layer in model["layers"]:
            if isinstance(layer, dict):
                layer.pop("dropout", None)
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
