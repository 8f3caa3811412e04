"""How much arithmetic training takes: multiply-adds of one step and of a run,
and the figures of GPT-3's training to set them against (lesson 5).

A multiply-add (one ``a * b + c``) is the unit of a matrix product. What is
counted, for a dense layer with ``n_in`` inputs, ``n_out`` units and a batch
of ``B`` samples:

* forward: ``x @ W``, ``B * n_in * n_out``;
* backward: ``dW = x.T @ dz``, ``B * n_in * n_out``, and ``dx = dz @ W.T``,
  another ``B * n_in * n_out``, except in the first layer (nothing below the
  input needs ``dx``; the engine skips it too);
* update: one per parameter (``w - lr * g``), ``n_in * n_out + n_out``.

Element-wise work (activations, the loss, bias additions, optimizer state
such as Adam's moments) is left out: it grows with the number of units, not
with the number of weights, and is small beside the products.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tui_trainer.engine.session import Session

#: GPT-3 as "How AI learns: the training loop" gives it: 300 billion training
#: tokens, about $100 million of compute, 355 years on one RTX 4090. The
#: parameter count (175 billion) is the published one; a transformer's
#: training costs about 6 floating-point operations per parameter per token
#: (2 forward, 4 backward), i.e. 3 multiply-adds.
GPT3_TOKENS = 300e9
GPT3_PARAMS = 175e9
GPT3_MACS = 3 * GPT3_PARAMS * GPT3_TOKENS
GPT3_USD = 100e6
GPT3_YEARS_ONE_4090 = 355.0
SECONDS_PER_YEAR = 365.25 * 24 * 3600


@dataclass(frozen=True)
class StepCount:
    """Multiply-adds of one training step, by phase."""

    forward: int
    backward: int
    update: int

    @property
    def total(self) -> int:
        return self.forward + self.backward + self.update


def step_macs(widths: Sequence[int], batch: int) -> StepCount:
    """One step of a dense network with layer widths ``widths`` (input first)
    on a batch of ``batch`` samples."""
    forward = backward = update = 0
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=False)):
        product = batch * n_in * n_out
        forward += product
        backward += product if i == 0 else 2 * product
        update += n_in * n_out + n_out
    return StepCount(forward, backward, update)


def run_macs(widths: Sequence[int], n_train: int, batch: int, epochs: int) -> int:
    """Every step of ``epochs`` epochs over ``n_train`` samples in batches of
    ``batch`` (the last batch of an epoch may be smaller)."""
    batch = max(1, min(batch, n_train))
    full, rest = divmod(n_train, batch)
    per_epoch = full * step_macs(widths, batch).total
    if rest:
        per_epoch += step_macs(widths, rest).total
    return epochs * per_epoch


def session_counts(s: Session) -> tuple[int, int, int]:
    """(multiply-adds of one full-size step, of the whole run, samples seen
    in the whole run) for a session, with its current batch size and epochs."""
    layers = s.net.layers
    widths = [layers[0].n_in, *(ly.n_out for ly in layers)]
    n_train = int(s.n_train)
    batch = n_train if s.batch_size <= 0 else min(int(s.batch_size), n_train)
    epochs = int(s.epochs)
    return (
        step_macs(widths, batch).total,
        run_macs(widths, n_train, batch, epochs),
        n_train * epochs,
    )


def si(n: float) -> str:
    """3 significant digits with k, M, G, T, P, E (1234567 -> '1.23M')."""
    for factor, suffix in (
        (1e18, "E"),
        (1e15, "P"),
        (1e12, "T"),
        (1e9, "G"),
        (1e6, "M"),
        (1e3, "k"),
    ):
        if abs(n) >= factor:
            return f"{n / factor:.3g}{suffix}"
    return f"{n:.3g}"
