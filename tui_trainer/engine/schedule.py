"""Learning-rate schedules: the lr a step uses, from the base lr and its epoch.

The schedule is stepped once per epoch, as PyTorch's schedulers usually are:
every step of epoch ``e`` (0-based) uses the same lr. With ``base`` the
learning rate the user set (``[training] lr``, the ``h`` dialog) and ``W`` the
warm-up epochs:

* warm-up, ``e < W``:  ``base * (e + 1) / (W + 1)``
  (``LinearLR(start_factor=1/(W+1), total_iters=W)``); after it the schedule
  below runs with ``k = e - W`` (``SequentialLR(milestones=[W])``), else ``k = e``.
* ``constant``:     ``base``
* ``step``:         ``base * gamma ** (k // step_size)``           (``StepLR``)
* ``exponential``:  ``base * gamma ** k``                           (``ExponentialLR``)
* ``cosine``:       ``min_lr + (base - min_lr) * (1 + cos(pi * min(k, T) / T)) / 2``
  with ``T = t_max``, or the epochs after the warm-up when ``t_max`` is 0
  (``CosineAnnealingLR``'s closed form; past ``T`` it stays at ``min_lr``
  where PyTorch's would rise again).

The base lr is a hyperparameter like any other: changing it while a schedule
runs (the ``h`` dialog) changes what the schedule scales from the next step
on, at the schedule's current epoch; the schedule is not restarted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tui_trainer.engine.config import SCHEDULES

__all__ = ["SCHEDULES", "Schedule", "scheduled_lr"]


@dataclass(frozen=True)
class Schedule:
    """A schedule and its parameters (see the module docstring)."""

    name: str = "constant"
    warmup_epochs: int = 0
    step_size: int = 10
    gamma: float = 0.1
    min_lr: float = 0.0
    t_max: int = 0

    @property
    def active(self) -> bool:
        """Whether the lr ever differs from the base lr."""
        return self.name != "constant" or self.warmup_epochs > 0


def scheduled_lr(base: float, epoch: int, s: Schedule, epochs: int) -> float:
    """The lr of every step in ``epoch`` (0-based) of a run of ``epochs`` epochs."""
    w = s.warmup_epochs
    if epoch < w:
        return base * (epoch + 1) / (w + 1)
    k = epoch - w
    if s.name == "step":
        return base * s.gamma ** (k // max(1, s.step_size))
    if s.name == "exponential":
        return base * s.gamma**k
    if s.name == "cosine":
        t = s.t_max if s.t_max > 0 else max(1, epochs - w)
        return s.min_lr + (base - s.min_lr) * (1.0 + math.cos(math.pi * min(k, t) / t)) / 2.0
    return base
