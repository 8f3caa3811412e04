"""Turn the user's ``make()`` (``file.py:make``) into a TorchSession.

``tui-trainer torch path/file.py:make`` *executes the user's own file*
(``runpy.run_path``, as ``python path/file.py`` would, but with
``__name__ != "__main__"``) and calls ``make()``. That is the point: the
model is their code. It is never done for a scenario or checkpoint, which
stay data only.

``make()`` returns either a dict with the keys of :data:`KEYS` (``model``,
``loss_fn``, ``optimizer`` and ``train`` required) or a tuple
``(model, loss_fn, optimizer, train[, val])``.
"""

from __future__ import annotations

import runpy
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tui_trainer.torch.session import TorchSession

REQUIRED = ("model", "loss_fn", "optimizer", "train")
OPTIONAL = ("val", "batch_size", "epochs", "seed", "modules", "depth", "history_steps")
KEYS = REQUIRED + OPTIONAL


class MakeError(Exception):
    """The target, the file or what ``make()`` returned is not usable (one clear message)."""


def split_target(target: str) -> tuple[Path, str]:
    """``path/file.py:make`` -> (path, "make"); the function defaults to ``make``."""
    path, sep, func = target.rpartition(":")
    if not sep or not func.isidentifier() or "/" in func or "\\" in func:
        path, func = target, "make"
    p = Path(path)
    if p.suffix != ".py":
        raise MakeError(f"{target}: expected a Python file and function, e.g. model.py:make")
    if not p.is_file():
        raise MakeError(f"{p}: no such file")
    return p, func


def _where(e: BaseException, path: Path) -> str:
    """The innermost line of the user's file in a traceback (or '')."""
    frames = [f for f in traceback.extract_tb(e.__traceback__) if Path(f.filename) == path]
    return f" (line {frames[-1].lineno})" if frames else ""


def load_make(target: str) -> Callable[[], Any]:
    """Run the user's file and return its ``make`` function."""
    path, func = split_target(target)
    try:
        ns = runpy.run_path(str(path), run_name="__tui_trainer_user__")
    except SyntaxError as e:
        raise MakeError(f"{path}:{e.lineno}: syntax error: {e.msg}") from None
    except Exception as e:  # their module raised while loading
        raise MakeError(f"{path}{_where(e, path)}: {type(e).__name__}: {e}") from None
    fn = ns.get(func)
    if not callable(fn):
        raise MakeError(f"{path}: no function {func}() in the file")
    return fn  # type: ignore[no-any-return]


def call_make(fn: Callable[[], Any], path: Path | None = None) -> dict[str, Any]:
    """Call ``make()`` and check what it returned."""
    name = getattr(fn, "__name__", "make")
    try:
        result = fn()
    except Exception as e:
        where = _where(e, path) if path is not None else ""
        raise MakeError(f"{name}(){where} raised {type(e).__name__}: {e}") from None
    return normalise(result, name)


def normalise(result: Any, name: str = "make") -> dict[str, Any]:
    if isinstance(result, (tuple, list)):
        if not 4 <= len(result) <= 5:
            raise MakeError(
                f"{name}() returned {len(result)} values; expected "
                "(model, loss_fn, optimizer, train[, val]) or a dict"
            )
        result = dict(zip(("model", "loss_fn", "optimizer", "train", "val"), result, strict=False))
    if not isinstance(result, dict):
        raise MakeError(f"{name}() returned {type(result).__name__}; expected a dict or a tuple")
    unknown = sorted(set(result) - set(KEYS))
    if unknown:
        raise MakeError(
            f"{name}() returned unknown key(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(KEYS)}"
        )
    missing = [k for k in REQUIRED if k not in result]
    if missing:
        raise MakeError(f"{name}() did not return {', '.join(missing)}")
    if not isinstance(result["model"], nn.Module):
        raise MakeError(f"{name}(): model must be a torch.nn.Module")
    if not isinstance(result["optimizer"], torch.optim.Optimizer):
        raise MakeError(f"{name}(): optimizer must be a torch.optim.Optimizer")
    if not callable(result["loss_fn"]):
        raise MakeError(f"{name}(): loss_fn must be callable, e.g. nn.CrossEntropyLoss()")
    for key in ("batch_size", "epochs", "seed", "depth", "history_steps"):
        v = result.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise MakeError(f"{name}(): {key} must be an integer >= 0, got {v!r}")
    return result


def session_from_make(spec: dict[str, Any]) -> TorchSession:
    kw = {k: v for k, v in spec.items() if k not in ("model", "loss_fn", "optimizer", "train")}
    try:
        return TorchSession(spec["model"], spec["loss_fn"], spec["optimizer"], spec["train"], **kw)
    except (TypeError, ValueError) as e:
        raise MakeError(str(e)) from None
