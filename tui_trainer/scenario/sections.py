"""Reading each section of a scenario file and building the :class:`Scenario`.

``_read_data``, ``_read_model``, ``_read_training`` and ``_read_breakpoints``
check one section each through a :class:`_Checker`; ``_build`` checks the top
level and puts the checked values together.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tui_trainer.engine.config import ACTIVATIONS, INITS, LOSSES, OPTIMIZERS, SCHEDULES, LayerSpec
from tui_trainer.engine.features import (
    MAX_FEATURE_TEXT,
    MAX_FEATURES,
    FeatureError,
    parse_feature,
)
from tui_trainer.scenario.check import _MISSING, _bound, _Checker, _describe, _quote_list, _suggest
from tui_trainer.scenario.kinds import (
    _LOSS_ALLOWED,
    _all_kinds,
    _data_keys_for,
    _data_label,
    _generated_columns,
    _generated_info,
    _generated_kinds,
    _generator_params,
    _kind_aliases,
    _loss_misfit,
    _static_classes,
    _static_task,
)
from tui_trainer.scenario.schema import (
    _BREAKPOINT_KEYS,
    _DATA_KEYS,
    _LAYER_KEYS,
    _LESSON_KEY,
    _MODEL_KEYS,
    _TOP_EXTRA,
    _TOP_KEYS,
    _TRAINING_KEYS,
    BACKENDS,
    BREAKPOINT_PHASES,
    DEFAULT_ACTIVATION,
    DEFAULT_HIDDEN,
    DTYPES,
    MAX_CLASSES,
    MAX_DEGREE,
    MAX_DROPOUT,
    MAX_EPOCHS,
    MAX_IGNORE,
    MAX_INIT,
    MAX_LAYERS,
    MAX_LR,
    MAX_SAMPLES,
    MAX_UNITS,
    MIN_SAMPLES,
    SCHEDULE_KEYS,
    TASKS,
    BreakpointSpec,
    DataSpec,
    ModelSpec,
    Scenario,
)


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
            features = _check_features(ck, feats, kind if kind_ok else None, target)
    data_seed = None
    if applies("data_seed"):
        data_seed = ck.integer(
            d,
            "data",
            "data_seed",
            None,
            0,
            allowed="an integer >= 0 (a new draw of the data; default: the scenario's seed)",
        )
    added_points: tuple[tuple[float, float, int], ...] = ()
    removed_points: tuple[int, ...] = ()
    if applies("added_points") and "added_points" in d:
        added_points = _read_added_points(
            ck, d["added_points"], classes if "classes" in params else 2
        )
    if applies("removed_points") and "removed_points" in d:
        removed_points = _read_removed_points(ck, d["removed_points"])
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
        data_seed=data_seed,
        added_points=added_points,
        removed_points=removed_points,
    )


MAX_POINT_COORD = 1e3  # far outside any generated data set, far below overflow


def _read_added_points(
    ck: _Checker, value: Any, classes: int
) -> tuple[tuple[float, float, int], ...]:
    """``added_points = [[x1, x2, class], ...]``: finite coordinates and a class
    the data has, at most MAX_EDITED_POINTS of them."""
    from tui_trainer.engine.data import MAX_EDITED_POINTS

    allowed = (
        f"at most {MAX_EDITED_POINTS} points [x1, x2, class], |x| <= {MAX_POINT_COORD:g}, "
        f"class 0 to {classes - 1}, e.g. [[0.5, -1.0, 1]]"
    )
    if not isinstance(value, list) or len(value) > MAX_EDITED_POINTS:
        ck.add("data.added_points", f"expected a list of points, got {_describe(value)}", allowed)
        return ()
    out = []
    for i, p in enumerate(value):
        ok = (
            isinstance(p, list)
            and len(p) == 3
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p[:2])
            and isinstance(p[2], int)
            and not isinstance(p[2], bool)
        )
        what = f"got {_describe(p)}"
        if ok:
            x1, x2, c = float(p[0]), float(p[1]), int(p[2])
            ok = all(math.isfinite(v) and abs(v) <= MAX_POINT_COORD for v in (x1, x2))
            what = "a coordinate is not finite or too large" if not ok else what
            if ok and not 0 <= c < classes:
                ok, what = False, f"class {c}: this data has classes 0 to {classes - 1}"
        if not ok:
            ck.add(f"data.added_points[{i}]", what, allowed)
            return ()
        out.append((x1, x2, c))
    return tuple(out)


def _read_removed_points(ck: _Checker, value: Any) -> tuple[int, ...]:
    """``removed_points = [index, ...]``: distinct indices into the training set
    (checked against its size once the data is loaded)."""
    from tui_trainer.engine.data import MAX_EDITED_POINTS

    allowed = f"at most {MAX_EDITED_POINTS} distinct whole numbers >= 0, e.g. [3, 17]"
    ok = (
        isinstance(value, list)
        and len(value) <= MAX_EDITED_POINTS
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
        and len(set(value)) == len(value)
    )
    if not ok:
        ck.add("data.removed_points", f"got {_describe(value)}", allowed)
        return ()
    return tuple(sorted(value))


_FEATURES_ALLOWED = (
    'columns of the data or their crosses, e.g. ["x1", "x2", "x1^2", "x2^2", "x1*x2", '
    '"sin(x1)", "sin(x2)"]'
)


def _check_features(
    ck: _Checker, feats: list[str], kind: str | None, target: str | None
) -> tuple[str, ...] | None:
    """The ``features`` list checked as far as possible without the data: for a
    generated kind every feature against its columns (``x1``, ``x2`` or ``x``),
    for a csv or a built-in data set the form, duplicates and the target (the
    columns themselves are checked when the file is read)."""
    if len(feats) > MAX_FEATURES:
        ck.add("data.features", f"at most {MAX_FEATURES} features, got {len(feats)}", "fewer")
        return None
    columns = _generated_columns(kind) if kind is not None else None
    ok = True
    if columns is not None:
        seen: dict[Any, str] = {}
        for i, text in enumerate(feats):
            try:
                f = parse_feature(text, columns)
            except FeatureError as e:
                ck.add(f"data.features[{i}]", e.message, _FEATURES_ALLOWED)
                ok = False
                continue
            if f.key in seen:
                same = "is listed twice" if seen[f.key] == f.text else f"is {seen[f.key]!r} again"
                ck.add(f"data.features[{i}]", f"{text!r} {same}", "each feature once")
                ok = False
            seen[f.key] = f.text
        return tuple(feats) if ok else None
    for i, text in enumerate(feats):
        if len(text) > MAX_FEATURE_TEXT:
            ck.add(
                f"data.features[{i}]",
                f"longer than {MAX_FEATURE_TEXT} characters",
                'a column name or a cross such as "age^2"',
            )
            ok = False
    dupes = sorted({f for f in feats if feats.count(f) > 1})
    if dupes:
        ck.add("data.features", f"column {dupes[0]!r} is listed twice", "distinct names")
        ok = False
    elif target is not None and target in feats:
        ck.add(
            "data.features",
            f"the target column {target!r} cannot also be a feature",
            "columns other than the target",
        )
        ok = False
    return tuple(feats) if ok else None


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
    dropout = ck.number(m, "model", "dropout", 0.0, 0.0, MAX_DROPOUT, allowed=_DROPOUT_ALLOWED)
    per_layer = "layers" in m
    hidden: tuple[LayerSpec, ...] = tuple(LayerSpec(u, activation, dropout) for u in DEFAULT_HIDDEN)
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
        hidden = _read_layers(ck, m["layers"], dropout) or ()
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
                hidden = tuple(LayerSpec(u, activation, dropout) for u in units)
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
        dropout=dropout,
    )


_DROPOUT_ALLOWED = f"a number from 0 to {MAX_DROPOUT:g}, the share of units dropped, e.g. 0.2"


def _read_layers(ck: _Checker, value: Any, dropout: float = 0.0) -> tuple[LayerSpec, ...] | None:
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
        rate = ck.number(item, path, "dropout", dropout, 0.0, MAX_DROPOUT, allowed=_DROPOUT_ALLOWED)
        if units is None:
            ok = False
        else:
            out.append(LayerSpec(units, act, rate))
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
        "l1": ck.number(t, "training", "l1", 0.0, 0.0, allowed="a number >= 0, e.g. 0.001"),
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
    out.update(_read_schedule(ck, t, out["lr"], out["epochs"]))
    return out


def _read_schedule(ck: _Checker, t: Mapping[str, Any], lr: float, epochs: int) -> dict[str, Any]:
    """The learning-rate schedule and its parameters (see engine/schedule.py).

    A parameter the chosen schedule does not use is reported (like a data
    key that does not apply to the data's kind), so a typo in ``schedule``
    or a forgotten one never leaves a parameter silently ignored.
    """
    schedule = ck.choice(t, "training", "schedule", _MISSING, SCHEDULES)
    known = schedule is not _MISSING or "schedule" not in t
    name = "constant" if schedule is _MISSING else schedule
    out: dict[str, Any] = {"schedule": name}
    for key, users in SCHEDULE_KEYS.items():
        if key in t and known and name not in users:
            where = " or ".join(f'"{u}"' for u in users)
            ck.add(
                f"training.{key}",
                f'only used with schedule = {where}, not with schedule = "{name}"',
                f"remove {key}, or change schedule",
            )
    out["warmup_epochs"] = ck.integer(
        t,
        "training",
        "warmup_epochs",
        0,
        0,
        MAX_EPOCHS,
        f"an integer from 0 to {MAX_EPOCHS}: epochs of linear warm-up, e.g. 5",
    )
    out["step_size"] = ck.integer(
        t,
        "training",
        "step_size",
        10,
        1,
        MAX_EPOCHS,
        f"an integer from 1 to {MAX_EPOCHS}: epochs between lr drops, e.g. 10",
    )
    out["gamma"] = ck.number(
        t,
        "training",
        "gamma",
        None,  # type: ignore[arg-type]
        0.0,
        1.0,
        lo_open=True,
        allowed="a number in (0, 1]: the lr factor, e.g. 0.5",
    )
    out["min_lr"] = ck.number(
        t,
        "training",
        "min_lr",
        0.0,
        0.0,
        MAX_LR,
        allowed="a number >= 0 and at most lr, e.g. 0.0001",
    )
    if "min_lr" in t and name == "cosine" and out["min_lr"] > lr:
        ck.add(
            "training.min_lr",
            f"must not exceed lr ({_bound(lr)}), got {_bound(out['min_lr'])}",
            "a number >= 0 and at most lr: cosine annealing goes down from lr to min_lr",
        )
    out["t_max"] = ck.integer(
        t,
        "training",
        "t_max",
        0,
        0,
        MAX_EPOCHS,
        "an integer >= 1: epochs from lr down to min_lr, or 0 for the rest of the run",
    )
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
