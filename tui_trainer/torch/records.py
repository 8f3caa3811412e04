"""The small records a TorchSession step keeps: where a NaN appeared, what the step
produced, a keyframe, the hooks' shared state and the optimizer's parameter plan."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from tui_trainer.engine.stepper import Event, Phase
from tui_trainer.torch.runner import Pause


@dataclass
class TorchNonFinite:
    """Where the first NaN/Inf appeared, named by qualified module name."""

    step: int
    phase: Phase
    layer: int | None
    module: str
    what: str

    def describe(self) -> str:
        where = self.phase.label + (f" {self.module}" if self.module else "")
        return f"non-finite {self.what} at step {self.step}, {where}"


class _Stop(Exception):  # noqa: N818 - control flow
    """Ends a step at a non-finite value (no update is made)."""

    def __init__(self, ev: Event) -> None:
        self.ev = ev


@dataclass
class StepRecord:
    """What the current step produced (outputs are kept only while single-stepping)."""

    step: int = 0
    epoch: int = 0
    x: torch.Tensor | None = None
    y: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    out: torch.Tensor | None = None
    loss: float = math.nan
    per_sample: torch.Tensor | None = None  # single-stepping only
    lr: float = math.nan
    correct: int = 0
    counted: bool = True  # False: ``correct`` is counted later (FastForward._count_pending)
    n: int = 0
    nonfinite: TorchNonFinite | None = None


@dataclass
class TorchKeyframe:
    step: int
    epoch: int
    cursor: int
    model: dict[str, torch.Tensor]
    optim: dict[str, Any]
    rng: dict[str, Any]
    epoch_rng: dict[str, Any] | None
    batch_size: int
    epochs: int
    acc: dict[str, Any]
    n_step_rows: int
    n_epoch_rows: int
    # Steps before the keyframe whose train accuracy a run had not counted yet:
    # (row, logits, labels, n), counted into ``acc`` after a load (FastForward._count_pending).
    pending: tuple[tuple[int, Any, Any, int], ...] = ()


class _StepState:
    """Per-step bookkeeping the hooks share (reset when a step begins)."""

    def __init__(self, n_modules: int, remaining: list[int]) -> None:
        self.fwd_seen = [False] * n_modules
        self.bwd_seen = [False] * n_modules
        self.fwd_n = 0
        self.bwd_n = 0
        self.remaining = list(remaining)
        self.by_input = [False] * n_modules
        # fast-forward: module outputs and input gradients, checked in one go
        self.fwd_out: list[tuple[int, int, torch.Tensor]] = []
        self.bwd_in: list[tuple[int, torch.Tensor]] = []
        self.active: list[torch.Tensor | None] = [None] * n_modules
        self.outputs: list[torch.Tensor | None] = [None] * n_modules
        self.pause: Pause | None = None
        # single-stepping: tensors whose gradient hook is registered, and its modules
        self.input_hooks: dict[int, tuple[torch.Tensor, list[int]]] = {}
        self.lean = False  # a lean fast-forward step (only its own hooks act)
        self.out_seen = [False] * n_modules  # lean, a scheduled step: outputs collected


class _ParamPlan:
    """The optimizer's parameters in order, with each pause module's positions in
    that list and the buffers the parameters are copied to before an update: built
    once, reused while the parameter list (and shapes) stay the same."""

    def __init__(self, s: Any, params: list[torch.Tensor], key: list[Any]) -> None:
        self.params = params
        self.key = key
        pos = {id(p): k for k, p in enumerate(params)}
        self.w_pos = [[pos[id(p)] for p in ws if id(p) in pos] for ws in s._weights]
        self.t_pos = [[pos[id(p)] for p in ts if id(p) in pos] for ts in s._trainable]
        self.w_all = sorted({k for ws in self.w_pos for k in ws})
        self.names = [s._pnames.get(id(p)) for p in params]
        self.before = [torch.empty_like(p, memory_format=torch.contiguous_format) for p in params]
