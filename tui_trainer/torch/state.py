"""A TorchSession's complete state as plain arrays and JSON (checkpoints, forks): no pickle.

Model and optimizer tensors become NumPy arrays keyed ``model/<name>`` and
``optim/<param index>/<name>``; the random states of torch, NumPy and Python
become arrays plus JSON; everything else (position, hyperparameter log,
param groups, accumulators) is one JSON record under ``state``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from tui_trainer.engine.session import SessionError
from tui_trainer.torch.data import LoaderData, get_rng, set_rng

if TYPE_CHECKING:
    from tui_trainer.torch.session import TorchSession


def state_arrays(session: TorchSession) -> dict[str, np.ndarray]:
    """The complete state at the current step boundary as plain arrays plus JSON (no pickle)."""
    if session.pos != 0 or session.nonfinite is not None:
        raise SessionError("state is taken at a step boundary")
    session._count_pending()
    out: dict[str, np.ndarray] = {}
    for k, v in session.model.state_dict().items():
        out[f"model/{k}"] = v.detach().cpu().numpy().copy()
    sd = session.optimizer.state_dict()
    scalars: dict[str, Any] = {}
    for idx, st in sd["state"].items():
        for name, v in st.items():
            if isinstance(v, torch.Tensor):
                out[f"optim/{idx}/{name}"] = v.detach().cpu().numpy().copy()
            else:
                scalars[f"{idx}/{name}"] = v
    rng_meta = _rng_to_arrays("rng", get_rng(), out)
    epoch_rng = getattr(session.data, "epoch_rng", None)
    if epoch_rng is not None:
        rng_meta["epoch"] = _rng_to_arrays("epoch_rng", epoch_rng, out)
    for i, a in enumerate(session._acc["active"]):
        if a is not None:
            out[f"acc/active{i}"] = a.cpu().numpy().copy()
    out["history/steps"] = session.history.steps.rows()
    out["history/epochs"] = session.history.epochs.rows()
    meta = {
        "step": session.step,
        "epoch": session.epoch,
        "cursor": session.cursor,
        "batch_size": int(session.data.batch_size),
        "epochs": session.epochs,
        "hp_log": {str(k): v for k, v in session._hp_log.items()},
        "acc": {k: session._acc[k] for k in ("loss_sum", "count", "correct")},
        "param_groups": sd["param_groups"],
        "optim_scalars": scalars,
        "rng": rng_meta,
        "data": session.data_fingerprint(),
        "model": session._describe_model(),
        "modules": session.module_names,
    }
    out["state"] = np.array(json.dumps(meta))
    return out


def load_state_arrays(session: TorchSession, arrays: dict[str, np.ndarray]) -> None:
    """Restore what ``state_arrays`` produced; the model and data must be the same."""
    try:
        meta = json.loads(str(arrays["state"]))
        if meta["model"] != session._describe_model():
            raise SessionError("the checkpoint is of a different model (parameter shapes differ)")
        if meta["data"] != session.data_fingerprint():
            raise SessionError("the checkpoint was taken on different training data")
        if meta["modules"] != session.module_names:
            raise SessionError("the checkpoint pauses at different modules")
        model_sd = {}
        for k, v in session.model.state_dict().items():
            a = arrays[f"model/{k}"]
            if tuple(a.shape) != tuple(v.shape) or a.dtype != v.detach().cpu().numpy().dtype:
                raise SessionError(f"checkpoint member model/{k}: wrong shape or type")
            model_sd[k] = torch.from_numpy(np.array(a)).to(v.device)
        state: dict[int, dict[str, Any]] = {}
        for key, a in arrays.items():
            if key.startswith("optim/"):
                _, idx, name = key.split("/", 2)
                state.setdefault(int(idx), {})[name] = torch.from_numpy(np.array(a))
        for key, v in meta["optim_scalars"].items():
            idx, name = key.split("/", 1)
            state.setdefault(int(idx), {})[name] = v
        groups = meta["param_groups"]
        for g in groups:
            if "betas" in g:
                g["betas"] = tuple(g["betas"])
        rng = _rng_from_arrays("rng", meta["rng"], arrays)
        epoch_rng = (
            _rng_from_arrays("epoch_rng", meta["rng"]["epoch"], arrays)
            if "epoch" in meta["rng"]
            else None
        )
    except (KeyError, ValueError, TypeError) as e:
        raise SessionError(f"damaged or incompatible checkpoint ({e!r})") from None
    session._abort_step()
    session._setup_state()
    with torch.no_grad():
        session.model.load_state_dict(model_sd)
    session.optimizer.load_state_dict({"state": state, "param_groups": groups})
    set_rng(rng)
    if isinstance(session.data, LoaderData):
        session.data.epoch_rng = epoch_rng
    session.data.batch_size = int(meta["batch_size"])
    session.epochs = int(meta["epochs"])
    session.step, session.epoch, session.cursor = meta["step"], meta["epoch"], meta["cursor"]
    session._hp_log = {int(k): v for k, v in meta["hp_log"].items()}
    session._acc = {
        **meta["acc"],
        "active": [
            torch.from_numpy(np.array(arrays[f"acc/active{i}"]))
            if f"acc/active{i}" in arrays
            else None
            for i in range(session.n_layers)
        ],
    }
    session.history.steps.load(np.asarray(arrays["history/steps"], dtype=np.float64))
    session.history.epochs.load(np.asarray(arrays["history/epochs"], dtype=np.float64))
    session.keyframes[session.step] = session._keyframe()


def _rng_to_arrays(prefix: str, st: dict[str, Any], out: dict[str, np.ndarray]) -> dict[str, Any]:
    """Random states as arrays (into ``out``) plus JSON-able metadata."""
    out[f"{prefix}/torch"] = st["torch"].numpy().copy()
    name, keys, pos, has_gauss, cached = st["numpy"]
    out[f"{prefix}/numpy"] = np.asarray(keys, dtype=np.uint32).copy()
    version, internal, gauss = st["python"]
    out[f"{prefix}/python"] = np.asarray(internal, dtype=np.uint64)
    meta: dict[str, Any] = {"numpy": [name, int(pos), int(has_gauss), float(cached)]}
    meta["python"] = [version, gauss]
    if "cuda" in st:
        for i, t in enumerate(st["cuda"]):
            out[f"{prefix}/cuda{i}"] = t.numpy().copy()
        meta["cuda"] = len(st["cuda"])
    return meta


def _rng_from_arrays(
    prefix: str, meta: dict[str, Any], arrays: dict[str, np.ndarray]
) -> dict[str, Any]:
    name, pos, has_gauss, cached = meta["numpy"]
    version, gauss = meta["python"]
    st: dict[str, Any] = {
        "torch": torch.from_numpy(np.array(arrays[f"{prefix}/torch"], dtype=np.uint8)),
        "numpy": (
            str(name),
            np.array(arrays[f"{prefix}/numpy"], dtype=np.uint32),
            int(pos),
            int(has_gauss),
            float(cached),
        ),
        "python": (version, tuple(int(v) for v in arrays[f"{prefix}/python"]), gauss),
    }
    if "cuda" in meta:
        st["cuda"] = [
            torch.from_numpy(np.array(arrays[f"{prefix}/cuda{i}"], dtype=np.uint8))
            for i in range(int(meta["cuda"]))
        ]
    return st
