"""One line of advice for a run that became non-finite, matching its cause.

"Try a smaller learning rate" is right when an update blew the weights up,
and wrong when the very first forward or backward pass overflowed: no update
has happened yet, so the learning rate played no part and the initial
weights (or the scale of the inputs) did.
"""

from __future__ import annotations

from tui_trainer.engine.config import TrainConfig
from tui_trainer.engine.stepper import NonFinite, Phase


def divergence_advice(nf: NonFinite, cfg: TrainConfig) -> str:
    """What to change, given where the first NaN/Inf appeared."""
    if nf.step == 0 and nf.phase is not Phase.UPDATE:
        if cfg.init == "normal":
            setting = f"a smaller init_std (now {cfg.init_std:g})"
        elif cfg.init == "uniform":
            setting = f"a smaller init_scale (now {cfg.init_scale:g})"
        else:
            setting = f"a smaller bias_init (now {cfg.bias_init:g})" if cfg.bias_init else ""
        parts = [x for x in (setting, 'init = "he" or "xavier"', "standardized inputs") if x]
        fixes = ", ".join(parts[:-1]) + ", or " + parts[-1]
        return (
            "It overflowed before the first update, so the learning rate is not the "
            f"cause: the initial weights or the inputs are too large. Try {fixes}."
        )
    return "Try a smaller learning rate."
