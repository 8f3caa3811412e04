"""The session interface the app, the CLI and notebooks use, whatever the backend.

Two backends implement it: the NumPy ``Session`` (``engine/session.py``) and
``TorchSession`` (``tui_trainer/torch/session.py``). This module is only a
``typing.Protocol``: nothing here runs on the training path, so the NumPy
hot path pays nothing for it.

::

                 app / CLI / notebook
                        |
               TrainingSession (this Protocol)
                  /                   \\
     engine.session.Session      tui_trainer.torch.TorchSession
     (NumPy, generator stepper)  (any nn.Module; worker thread paused in hooks)

Position is one integer, the events done since the start:
``position = step * E + pos`` with ``E = 2 * n_layers + 2`` events per step
(FORWARD per layer or module, LOSS, BACKPROP per layer or module in reverse,
UPDATE). ``n_layers`` counts dense layers in NumPy and the pause modules in
torch.

Divergence (the same in both backends): the ``advance`` that meets a NaN or
Inf returns that event with ``nonfinite`` set and ``diverged`` becomes True;
``nonfinite.describe()`` says where (step, phase, layer or qualified module
name). Advancing again raises ``Diverged`` (a ``SessionError``), so a loop
``while s.step < n: s.advance()`` always ends. ``run`` returns
``StopReason("diverged")``. ``advance`` returns None once training finished.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

from tui_trainer.engine.history import History
from tui_trainer.engine.session import Diverged, SessionError, StopReason
from tui_trainer.engine.stepper import Event, Phase

__all__ = ["Diverged", "NonFiniteInfo", "SessionError", "StopReason", "TrainingSession"]


@runtime_checkable
class NonFiniteInfo(Protocol):
    """Where the first NaN/Inf appeared (``stepper.NonFinite`` in NumPy)."""

    step: int
    phase: Phase
    layer: int | None
    what: str

    def describe(self) -> str: ...


@runtime_checkable
class TrainingSession(Protocol):
    """What a front end may use of a training session (both backends)."""

    # -- where we are
    step: int
    epoch: int
    epochs: int
    pos: int
    E: int
    n_layers: int
    history: History
    last_event: Event | None
    nonfinite: Any  # NonFiniteInfo | None

    @property
    def position(self) -> int: ...
    @property
    def finished(self) -> bool: ...
    @property
    def diverged(self) -> bool: ...
    @property
    def phase(self) -> Phase | None: ...
    @property
    def oldest_position(self) -> int: ...
    @property
    def batches_per_epoch(self) -> int: ...
    def shown_counters(self) -> tuple[int, int, int, int]: ...

    # -- moving
    def advance(self, granularity: str = "phase", count: int = 1) -> Event | None: ...
    def run(
        self,
        until: Callable[[Any], bool] | None = None,
        *,
        max_steps: int | None = None,
        should_stop: Callable[[], bool] | None = None,
        event_check: Callable[[Any, Event], bool] | None = None,
    ) -> StopReason: ...
    def back(self, granularity: str = "phase") -> None: ...
    def goto(self, position: int) -> None: ...
    def restart(self) -> None: ...

    # -- settings and state
    def hyperparameters(self) -> dict[str, Any]: ...
    def set_hyper(self, **changes: Any) -> int: ...
    def state_arrays(self) -> dict[str, np.ndarray]: ...
    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None: ...
    def memory_report(self) -> dict[str, int]: ...
