"""Checking a checkpoint before any of it is used: a file is data, and data lies.

A checkpoint is an ``.npz`` (a zip of ``.npy`` members) plus a JSON state
record. Every member's ``.npy`` header and the zip's central directory are
read first, and nothing is inflated until both agree with each other and
with what the scenario's network needs: a header that claims a
(200e6, 16) array, or a member whose directory entry declares 23.8 GiB,
is refused from a few hundred bytes. The JSON record is then checked field
by field (type, range, consistency with the other fields and the data), so
restoring it cannot crash later, in the middle of a run, or quietly continue
from nonsense (a negative step, a fractional step, a complex weight).

Every problem is a :class:`CheckpointError` naming the file and the field.
"""

from __future__ import annotations

import ast
import json
import math
import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from tui_trainer.engine.config import OPTIMIZERS, SCHEDULES
from tui_trainer.engine.describe import describe_value
from tui_trainer.engine.history import History
from tui_trainer.engine.session import HYPER_FIELDS

KIND = "tui-trainer-checkpoint"
FORMAT = 1
# Text members (the state record, the scenario's text), in characters.
MAX_TEXT_CHARS = 16 * 1024 * 1024
# The most a checkpoint may inflate to in all: its history grows with the
# number of steps, and a longer history than this is a lie, not a run.
MAX_TOTAL_BYTES = 4 * 1024**3
MAX_HEADER_BYTES = 10_000  # numpy's own limit for a safe .npy header
MAX_INT = 2**62
# Members of the largest network a scenario allows (64 layers), with room to spare.
MAX_MEMBERS = 512
NPY_MAGIC = b"\x93NUMPY"
# numpy kinds a checkpoint member may hold: bool, signed/unsigned int, float, text.
SAFE_KINDS = "biufU"
# Hyperparameters added after the checkpoint format: an older file lacks them.
NEWER_HYPER = ("l1", "schedule", "warmup_epochs", "step_size", "gamma", "min_lr", "t_max")
OPT_KEYS = {"sgd": (), "momentum": ("v",), "adam": ("m", "v")}
STATE_FIELDS = {
    "step": "the number of steps done",
    "epoch": "the number of epochs done",
    "cursor": "the position in the shuffled training set",
    "hyper": "the hyperparameters in effect",
    "hp_log": "the hyperparameter changes and their steps",
    "acc": "this epoch's loss and accuracy so far",
    "config": "the training configuration",
    "data": "the fingerprint of the data the checkpoint was made with, which must match",
}
STATE_KEYS = tuple(STATE_FIELDS)


class CheckpointError(Exception):
    """The file is not a usable checkpoint for this session."""


@dataclass(frozen=True)
class Member:
    """One ``.npy`` member as its header and the zip's directory describe it."""

    name: str  # without ".npy"
    info: zipfile.ZipInfo
    dtype: np.dtype
    shape: tuple[int, ...]
    header_bytes: int

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    def describe(self) -> str:
        return f"{self.dtype} array of shape {self.shape}"


@dataclass(frozen=True)
class Spec:
    """What one member must be: numpy kind(s), shape (None: any scalar text)."""

    kinds: str
    shape: tuple[int, ...]
    why: str = ""
    itemsize: int | None = None


# ------------------------------------------------------------ the zip


def open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: is a directory, not a checkpoint") from None
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as e:
        raise CheckpointError(f"{path}: not a readable .npz checkpoint ({e})") from None


def scan(zf: zipfile.ZipFile, path: Path) -> dict[str, Member]:
    """Every member's header, read without inflating any array data."""
    members: dict[str, Member] = {}
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise CheckpointError(
            f"{path}: {len(infos)} members; a checkpoint has at most {MAX_MEMBERS}"
        )
    for info in infos:
        raw = info.filename
        if not raw.endswith(".npy") or info.is_dir():
            raise CheckpointError(f"{path}: member {raw!r} is not an .npy array")
        name = raw[:-4]
        if name in members:
            raise CheckpointError(f"{path}: member {name} appears twice")
        if info.flag_bits & 0x1:
            raise CheckpointError(f"{path}: member {name} is encrypted")
        try:
            with zf.open(info) as fp:
                dtype, shape, header_bytes = read_header(fp)
        except CheckpointError as e:
            raise CheckpointError(f"{path}: member {name}: {e}") from None
        except (OSError, zipfile.BadZipFile, ValueError, EOFError, NotImplementedError) as e:
            raise CheckpointError(f"{path}: member {name}: unreadable ({e})") from None
        members[name] = Member(name, info, dtype, shape, header_bytes)
    return members


def read_header(fp: IO[bytes]) -> tuple[np.dtype, tuple[int, ...], int]:
    """(dtype, shape, header length) of an .npy stream, reading only the header.

    Parsed here rather than by numpy so that the declared header length is
    bounded before it is read and a nested literal cannot exhaust the stack.
    """
    magic = fp.read(8)
    if len(magic) < 8 or magic[:6] != NPY_MAGIC:
        raise CheckpointError("not an .npy array")
    major = magic[6]
    if major == 1:
        size_bytes, fmt = 2, "<H"
    elif major == 2:
        size_bytes, fmt = 4, "<I"
    else:
        raise CheckpointError(f".npy format version {major} is not supported (1 or 2)")
    (length,) = struct.unpack(fmt, fp.read(size_bytes).ljust(size_bytes, b"\0"))
    if length > MAX_HEADER_BYTES:
        raise CheckpointError(f"its .npy header is {length} bytes (at most {MAX_HEADER_BYTES})")
    text = fp.read(length)
    if len(text) < length:
        raise CheckpointError("its .npy header is cut short")
    try:
        d = ast.literal_eval(text.decode("latin1"))
    except (ValueError, SyntaxError, RecursionError, MemoryError, TypeError):
        raise CheckpointError("its .npy header cannot be parsed") from None
    if not isinstance(d, dict) or set(d) != {"descr", "fortran_order", "shape"}:
        raise CheckpointError("its .npy header is not a {descr, fortran_order, shape} record")
    descr, shape = d["descr"], d["shape"]
    if not isinstance(descr, str):
        raise CheckpointError("structured arrays are not allowed")
    try:
        dtype = np.dtype(descr)
    except (TypeError, ValueError):
        raise CheckpointError(f"unknown dtype {descr!r}") from None
    if dtype.kind == "c":
        raise CheckpointError(f"{dtype} (complex) array; a checkpoint holds only real numbers")
    if dtype.kind not in SAFE_KINDS or dtype.hasobject or dtype.fields or dtype.subdtype:
        raise CheckpointError(f"{dtype} array; allowed are bool, integer, float and text arrays")
    if (
        not isinstance(shape, tuple)
        or len(shape) > 8
        or not all(type(n) is int and 0 <= n <= MAX_INT for n in shape)
    ):
        raise CheckpointError(f"its .npy header has an invalid shape {shape!r}")
    if not isinstance(d["fortran_order"], bool):
        raise CheckpointError("its .npy header has an invalid fortran_order")
    return dtype, shape, 6 + 2 + size_bytes + length


def check_sizes(members: dict[str, Member], path: Path) -> None:
    """Each member's declared inflated size matches its header; the total is bounded."""
    total = 0
    for m in members.values():
        want = m.header_bytes + m.nbytes
        if m.info.file_size != want:
            raise CheckpointError(
                f"{path}: member {m.name}: its header describes a {m.describe()} "
                f"({want} bytes with the header) but the zip declares {m.info.file_size} bytes"
            )
        total += want
    if total > MAX_TOTAL_BYTES:
        raise CheckpointError(
            f"{path}: the checkpoint would inflate to {total} bytes "
            f"(at most {MAX_TOTAL_BYTES} are loaded)"
        )


def read_member(zf: zipfile.ZipFile, m: Member, path: Path) -> np.ndarray:
    """The member's array; call only after its header and size were checked."""
    try:
        with zf.open(m.info) as fp:
            arr = np.lib.format.read_array(fp, allow_pickle=False)
            if fp.read(1):  # also makes zipfile verify the CRC
                raise ValueError("data after the array")
    except MemoryError:
        raise CheckpointError(
            f"{path}: member {m.name}: not enough memory for a {m.describe()}"
        ) from None
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as e:
        raise CheckpointError(f"{path}: member {m.name}: damaged ({e})") from None
    if arr.dtype != m.dtype or arr.shape != m.shape:  # the header was read twice
        raise CheckpointError(f"{path}: member {m.name}: changed while it was read")
    return arr


def check_member(m: Member | None, spec: Spec, name: str, path: Path) -> Member:
    if m is None:
        raise CheckpointError(f"{path}: member {name} is missing")
    kind_names = {"b": "bool", "i": "integer", "u": "integer", "f": "float", "U": "text"}
    wanted = " or ".join(dict.fromkeys(kind_names[k] for k in spec.kinds))
    if m.dtype.kind not in spec.kinds or (
        spec.itemsize is not None and m.dtype.itemsize != spec.itemsize
    ):
        size = f"{spec.itemsize * 8}-bit " if spec.itemsize and spec.kinds != "b" else ""
        raise CheckpointError(
            f"{path}: member {name}: holds {m.dtype}, expected {size}{wanted}"
            + (f" ({spec.why})" if spec.why else "")
        )
    if m.shape != spec.shape:
        raise CheckpointError(
            f"{path}: member {name}: shape {m.shape}, expected {spec.shape}"
            + (f" ({spec.why})" if spec.why else "")
        )
    return m


def read_text(zf: zipfile.ZipFile, members: dict[str, Member], name: str, path: Path) -> str:
    m = check_member(members.get(name), Spec("U", ()), name, path)
    if m.dtype.itemsize > 4 * MAX_TEXT_CHARS:
        raise CheckpointError(
            f"{path}: member {name}: {m.dtype.itemsize // 4} characters (at most {MAX_TEXT_CHARS})"
        )
    check_sizes({name: m}, path)
    return str(read_member(zf, m, path))


# ------------------------------------------------------------ the JSON record


def _describe(value: object) -> str:
    return describe_value(value, "json")


class _Fields:
    """Checks of one JSON object; every failure names ``file: state.<field>``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, field: str, message: str, allowed: str = "") -> CheckpointError:
        text = f"{self.path}: state.{field}: {message}"
        return CheckpointError(text + (f" (allowed: {allowed})" if allowed else ""))

    def obj(self, value: Any, field: str, keys: tuple[str, ...] | None = None) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(field, f"expected an object, got {_describe(value)}")
        if keys is not None:
            missing = [k for k in keys if k not in value]
            if missing:
                what = STATE_FIELDS.get(missing[0], "") if not field else ""
                raise self.fail(
                    f"{field}.{missing[0]}".lstrip("."), "missing" + (f": {what}" if what else "")
                )
            extra = [k for k in value if k not in keys]
            if extra:
                raise self.fail(f"{field}.{extra[0]}".lstrip("."), "unknown field")
        return value

    def integer(self, value: Any, field: str, lo: int, hi: int, allowed: str = "") -> int:
        allowed = allowed or f"an integer from {lo} to {hi}"
        if type(value) is not int:
            raise self.fail(field, f"expected an integer, got {_describe(value)}", allowed)
        if not lo <= value <= hi:
            raise self.fail(field, f"{value} is out of range", allowed)
        return value

    def number(
        self,
        value: Any,
        field: str,
        lo: float,
        hi: float = math.inf,
        lo_open: bool = False,
        hi_open: bool = False,
    ) -> float:
        if math.isinf(hi):
            allowed = f"a finite number {'>' if lo_open else '>='} {lo:g}"
        else:
            lb, rb = ("(" if lo_open else "["), (")" if hi_open else "]")
            allowed = f"a finite number in {lb}{lo:g}, {hi:g}{rb}"
        if type(value) not in (int, float):
            raise self.fail(field, f"expected a number, got {_describe(value)}", allowed)
        v = float(value)
        if not math.isfinite(v):
            raise self.fail(field, f"{_describe(value)} is not finite", allowed)
        if (v <= lo if lo_open else v < lo) or (v >= hi if hi_open else v > hi):
            raise self.fail(field, f"{_describe(value)} is out of range", allowed)
        return v

    def hyper_value(self, key: str, value: Any, field: str) -> Any:
        """One hyperparameter, with the same ranges the scenario, CLI and dialogs allow."""
        if key == "lr":
            return self.number(value, field, 0.0, lo_open=True)
        if key in ("momentum", "beta1", "beta2"):
            return self.number(value, field, 0.0, 1.0, hi_open=True)
        if key == "eps":
            return self.number(value, field, 0.0, lo_open=True)
        if key in ("l2", "l1", "min_lr"):
            return self.number(value, field, 0.0)
        if key == "gamma":
            return self.number(value, field, 0.0, 1.0, lo_open=True)
        if key in ("warmup_epochs", "t_max"):
            return self.integer(value, field, 0, MAX_INT, "an integer >= 0")
        if key == "step_size":
            return self.integer(value, field, 1, MAX_INT, "an integer >= 1")
        if key == "schedule":
            if value not in SCHEDULES:
                shown = json.dumps(value) if isinstance(value, str) else _describe(value)
                raise self.fail(field, f"unknown schedule {shown}", ", ".join(SCHEDULES))
            return value
        if key == "batch_size":
            return self.integer(
                value, field, 0, MAX_INT, "an integer >= 1, or 0 for the full training set"
            )
        if key == "epochs":
            return self.integer(value, field, 1, MAX_INT, "an integer >= 1")
        if key == "features":
            from tui_trainer.engine.features import MAX_FEATURE_TEXT, MAX_FEATURES

            allowed = f'a list of 1 to {MAX_FEATURES} input names such as "x1^2"'
            ok = (
                isinstance(value, list)
                and 1 <= len(value) <= MAX_FEATURES
                and all(isinstance(v, str) and len(v) <= MAX_FEATURE_TEXT for v in value)
            )
            if not ok:
                raise self.fail(field, f"expected {allowed}, got {_describe(value)}", allowed)
            return list(value)
        if key == "optimizer":
            if value not in OPTIMIZERS:
                shown = json.dumps(value) if isinstance(value, str) else _describe(value)
                raise self.fail(field, f"unknown optimizer {shown}", ", ".join(OPTIMIZERS))
            return value
        raise self.fail(field, "unknown hyperparameter", ", ".join(HYPER_FIELDS))


def parse_state(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError, MemoryError) as e:
        msg = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        raise CheckpointError(f"{path}: state: damaged record, not readable JSON ({msg})") from None


def check_state(meta: Any, session: Any, path: Path) -> dict[str, Any]:
    """The state record, checked against ``session`` and normalised (floats are floats)."""
    from tui_trainer.engine.session import config_to_dict

    f = _Fields(path)
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: state: expected a JSON object, got {_describe(meta)}")
    edits = meta.pop("edits", [])  # saved before weights could be edited: none
    f.obj(meta, "", STATE_KEYS)
    saved = f.obj(meta["config"], "config")
    mine = config_to_dict(session.cfg)
    if isinstance(saved.get("layers"), list):  # saved before layers had a dropout rate
        saved = {
            **saved,
            "layers": [
                {"dropout": 0.0, **ly} if isinstance(ly, dict) else ly for ly in saved["layers"]
            ],
        }
    if any(saved.get(k) != mine[k] for k in ("layers", "loss", "dtype")):
        shown = (saved.get("layers"), saved.get("loss"), saved.get("dtype"))
        raise CheckpointError(
            f"{path}: checkpoint is for a different model {shown} than this scenario"
        )
    data = meta["data"]
    if not isinstance(data, str) or data != session.data_fingerprint():
        raise f.fail(
            "data",
            "the checkpoint was made with different data (the data's seed, noise, sample "
            "count or file changed); it cannot continue this run",
            "the fingerprint of this scenario's data",
        )
    n = session.n_train
    hyper = f.obj(meta["hyper"], "hyper")
    # Saved before L1 and schedules: the config's values; saved before the
    # inputs could change: the scenario's inputs.
    hyper = {**{k: getattr(session.cfg, k) for k in NEWER_HYPER}, **hyper}
    if "features" not in hyper:
        hyper = {**hyper, "features": list(session.features0)}
    hyper = f.obj(hyper, "hyper", HYPER_FIELDS)
    hyper = {k: f.hyper_value(k, hyper[k], f"hyper.{k}") for k in HYPER_FIELDS}
    _check_inputs(f, hyper["features"], session, "hyper.features")
    cursor = f.integer(
        meta["cursor"], "cursor", 0, n - 1, f"an integer from 0 to {n - 1}: {n} training samples"
    )
    step = f.integer(meta["step"], "step", 0, MAX_INT, "an integer >= 0")
    epoch = f.integer(meta["epoch"], "epoch", 0, step, f"an integer from 0 to step ({step})")
    # Every step takes at least one sample and an epoch ends when they run out.
    if step > epoch * n + cursor:
        raise f.fail(
            "step",
            f"{step} steps cannot fit in {epoch} epoch(s) of {n} samples and {cursor} more",
            f"at most {epoch * n + cursor}",
        )
    log = f.obj(meta["hp_log"], "hp_log")
    hp_log: dict[str, dict[str, Any]] = {}
    for key, changes in log.items():
        if not re.fullmatch(r"0|[1-9][0-9]{0,17}", key):
            raise f.fail(f"hp_log.{key!r}", "not a step number", 'a step number like "12"')
        entry = f.obj(changes, f"hp_log.{key}")
        hp_log[key] = {k: f.hyper_value(k, v, f"hp_log.{key}.{k}") for k, v in entry.items()}
        if "features" in hp_log[key]:
            _check_inputs(f, hp_log[key]["features"], session, f"hp_log.{key}.features")
    clean_edits = _check_edits(f, edits, session, step)
    acc = f.obj(meta["acc"], "acc", ("loss_sum", "count", "correct"))
    count = f.integer(
        acc["count"], "acc.count", cursor, cursor, f"{cursor}, the samples done this epoch"
    )
    clean_acc = {
        "loss_sum": f.number(acc["loss_sum"], "acc.loss_sum", 0.0),
        "count": count,
        "correct": f.integer(acc["correct"], "acc.correct", 0, count),
    }
    return {
        **meta,
        "step": step,
        "epoch": epoch,
        "cursor": cursor,
        "hyper": hyper,
        "hp_log": hp_log,
        "edits": clean_edits,
        "acc": clean_acc,
    }


MAX_EDITS = 100_000  # weights set by hand; a person types each one


def _check_edits(f: _Fields, edits: Any, session: Any, step: int) -> list[list[Any]]:
    """``[[step, layer, row, col, value], ...]``: weights set by hand at a step
    boundary at or after the checkpoint's step; the first layer's row is the
    name of an input (an input switch may change which inputs exist)."""
    from tui_trainer.engine.session import MAX_EDIT

    if not isinstance(edits, list):
        raise f.fail("edits", f"expected a list, got {_describe(edits)}")
    if len(edits) > MAX_EDITS:
        raise f.fail("edits", f"{len(edits)} entries", f"at most {MAX_EDITS}")
    shapes = [ly.W.shape for ly in session.net.layers]
    out: list[list[Any]] = []
    inputs_checked: set[str] = set()  # an input's name is parsed once, however many edits
    for i, e in enumerate(edits):
        field = f"edits[{i}]"
        if not isinstance(e, list) or len(e) != 5:
            raise f.fail(field, f"expected [step, layer, row, col, value], got {_describe(e)}")
        at = f.integer(e[0], f"{field}[0]", step, MAX_INT, f"a step from {step} on")
        layer = f.integer(e[1], f"{field}[1]", 0, len(shapes) - 1, "a layer index")
        if layer == 0:
            if not isinstance(e[2], str):
                raise f.fail(f"{field}[2]", f"expected an input's name, got {_describe(e[2])}")
            if e[2] not in inputs_checked:
                _check_inputs(f, [e[2]], session, f"{field}[2]")
                inputs_checked.add(e[2])
            row: int | str = e[2]
        else:
            row = f.integer(e[2], f"{field}[2]", 0, shapes[layer][0] - 1)
        col = f.integer(e[3], f"{field}[3]", 0, shapes[layer][1] - 1)
        value = f.number(e[4], f"{field}[4]", -MAX_EDIT, MAX_EDIT)
        out.append([at, layer, row, col, value])
    return out


# ------------------------------------------------------------ members vs. the network


def _check_inputs(f: _Fields, features: list[str], session: Any, field: str) -> None:
    """The network's inputs must be computable from this scenario's data columns."""
    from tui_trainer.engine.features import FeatureError, parse_features

    try:
        parse_features(features, session.data0.columns[2])
    except FeatureError as e:
        raise f.fail(field, e.message, "inputs computed from this scenario's data") from None


def expected_members(session: Any, meta: dict[str, Any]) -> dict[str, Spec]:
    """Every member a checkpoint of ``meta`` for ``session`` holds, and its shape."""
    size = session.dtype.itemsize
    net = session.net
    features = tuple(meta["hyper"].get("features", session.features))
    if features != tuple(session.features):  # inputs switched during the run: another W0
        from tui_trainer.engine.network import Network

        net = Network.build(session.cfg, len(features))
    out: dict[str, Spec] = {
        "kind": Spec("U", ()),
        "format": Spec("iu", ()),
        "resume_position": Spec("iu", ()),
        "scenario": Spec("U", ()),
        "state": Spec("U", ()),
    }
    for name, p in zip(net.param_names(), net.params(), strict=True):
        out[f"param/{name}"] = Spec("f", p.shape, "the scenario's network", size)
    opt = meta["hyper"]["optimizer"]
    out["opt/t"] = Spec("iu", (), "the optimizer's step count")
    for key in OPT_KEYS[opt]:
        for i, shape in enumerate(net.opt_shapes()):
            out[f"opt/{key}{i}"] = Spec("f", shape, f"{opt} state for this network", size)
    for i, layer in enumerate(session.net.layers):
        out[f"acc/active{i}"] = Spec("b", (layer.n_out,), f"one flag per unit of layer {i + 1}")
    h = History(session.n_layers)
    out["history/steps"] = Spec(
        "f", (meta["step"], len(h.steps.columns)), "one row per step done", 8
    )
    out["history/epochs"] = Spec(
        "f", (meta["epoch"], len(h.epochs.columns)), "one row per epoch done", 8
    )
    return out


def check_values(arrays: dict[str, np.ndarray], meta: dict[str, Any], E: int, path: Path) -> None:
    """What shapes cannot say: ranges of the scalars and the engine's invariants."""
    step = meta["step"]
    t = int(arrays["opt/t"])
    if not 0 <= t <= step:
        raise CheckpointError(
            f"{path}: member opt/t: {t} optimizer steps, expected 0 to {step} (the steps done)"
        )
    pos = int(arrays["resume_position"])
    # Inside the step (its last event included: a diverged update stops there).
    if not step * E <= pos <= (step + 1) * E:
        raise CheckpointError(
            f"{path}: member resume_position: {pos} is not inside step {step} "
            f"(expected {step * E} to {(step + 1) * E})"
        )
    for name, a in arrays.items():
        # Weights at a step boundary are finite: an update that is not ends the run.
        if name.startswith("param/W") and not np.isfinite(a).all():
            raise CheckpointError(f"{path}: member {name}: holds NaN or infinite weights")
    epochs_col = arrays["history/steps"][:, 3]
    steps_col = arrays["history/epochs"][:, 4]
    for name, col, hi in (
        ("history/steps", epochs_col, meta["epoch"]),
        ("history/epochs", steps_col, step),
    ):
        ok = np.isfinite(col) & (col >= 0) & (col <= hi) & (col == np.floor(col))
        if not ok.all():
            raise CheckpointError(
                f"{path}: member {name}: its {'epoch' if name.endswith('steps') else 'step'} "
                f"column holds values that are not whole numbers from 0 to {hi}"
            )


def read_valid(session: Any, path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of a checkpoint of ``session``, every one checked; raises CheckpointError.

    ``state`` holds the normalised record. Nothing is inflated before the
    headers, the directory and the record agree with the scenario.
    """
    path = Path(path)
    with open_zip(path) as zf:
        members = scan(zf, path)
        check_identity(zf, members, path)
        meta = check_state(parse_state(read_text(zf, members, "state", path), path), session, path)
        specs = expected_members(session, meta)
        for name in members:
            if name not in specs:
                raise CheckpointError(f"{path}: unexpected member {name}")
        checked = {
            name: check_member(members.get(name), spec, name, path) for name, spec in specs.items()
        }
        if checked["scenario"].dtype.itemsize > 4 * MAX_TEXT_CHARS:
            raise CheckpointError(f"{path}: member scenario: more than {MAX_TEXT_CHARS} characters")
        check_sizes(checked, path)
        # Smallest first: a short read of a damaged file costs little.
        order = sorted(checked.values(), key=lambda m: m.nbytes)
        arrays = {m.name: read_member(zf, m, path) for m in order if m.name != "state"}
    check_values(arrays, meta, session.E, path)
    arrays["state"] = np.array(json.dumps(meta))
    return arrays


def check_identity(zf: zipfile.ZipFile, members: dict[str, Member], path: Path) -> None:
    """``kind`` and ``format`` say this is a tui-trainer checkpoint we can read."""
    m = members.get("kind")
    if m is None or m.dtype.kind != "U" or m.shape != () or m.dtype.itemsize > 4 * 64:
        raise CheckpointError(f"{path}: not a tui-trainer checkpoint (no 'kind' = {KIND!r})")
    check_sizes({"kind": m}, path)
    if str(read_member(zf, m, path)) != KIND:
        raise CheckpointError(f"{path}: not a tui-trainer checkpoint (no 'kind' = {KIND!r})")
    m = members.get("format")
    fmt: Any = None
    if m is not None and m.dtype.kind in "iu" and m.shape == ():
        check_sizes({"format": m}, path)
        fmt = int(read_member(zf, m, path))
    if fmt != FORMAT:
        raise CheckpointError(
            f"{path}: checkpoint format {fmt} is not supported (expected {FORMAT})"
        )


def read_any(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of a checkpoint, without a session to check it against.

    The headers, the directory's sizes and the total are still checked before
    anything is inflated, so even this generic read cannot be made to
    allocate what a header merely claims.
    """
    path = Path(path)
    with open_zip(path) as zf:
        members = scan(zf, path)
        check_identity(zf, members, path)
        check_sizes(members, path)
        for m in members.values():
            if m.dtype.kind == "U" and m.dtype.itemsize > 4 * MAX_TEXT_CHARS:
                raise CheckpointError(
                    f"{path}: member {m.name}: more than {MAX_TEXT_CHARS} characters"
                )
        return {m.name: read_member(zf, m, path) for m in members.values()}
