"""One line of advice for a run that became non-finite, matching its cause.

"Try a smaller learning rate" is right when an update blew the weights up,
and wrong when the very first forward or backward pass overflowed: no update
has happened yet, so the learning rate played no part and the initial
weights (or the scale of the inputs) did.

``findings_advice`` gives the one line the explain panel shows, taken from the
diagnosis findings (the debug panel's list), so the panels cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence

from tui_trainer.engine.config import TrainConfig
from tui_trainer.engine.diagnostics import Finding, fix_label
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


def findings_advice(findings: Sequence[Finding]) -> str:
    """One sentence of advice taken from the diagnosis, so every panel says the same.

    The most severe, earliest finding that names a cause (``diverged`` only
    says that the numbers overflowed, so a cause found next to it comes
    first), with its first fix written as scenario settings.
    """
    if not findings:
        return ""
    causes = [f for f in findings if f.code != "diverged"] or list(findings)
    top = causes[0]
    text = f"Diagnosis: {top.title.lower()}"
    if top.fixes:
        text += f"; try {fix_label(top.fixes[0])}"
        if len(top.fixes) > 1:
            text += f" (or {fix_label(top.fixes[1])})"
    return text + " (details: 4)."
