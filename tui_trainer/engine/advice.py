"""One line of advice for a run that became non-finite, matching its cause.

"Try a smaller learning rate" is right when an update blew the weights up,
and wrong when the very first forward or backward pass overflowed: no update
has happened yet, so the learning rate played no part and the initial
weights (or the scale of the inputs) did. That choice is the ``diverged``
finding's advice (``divergence_advice`` returns the same text).

``findings_advice`` gives the one line the explain panel, the landscape
screen and ``tui-trainer run`` show, taken from the diagnosis findings (the
debug panel's list), so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence

from tui_trainer.engine.config import TrainConfig
from tui_trainer.engine.diagnostics import Finding, fix_label
from tui_trainer.engine.diagnostics.rules import divergence_cause
from tui_trainer.engine.stepper import NonFinite


def divergence_advice(nf: NonFinite, cfg: TrainConfig) -> str:
    """What to change, given where the first NaN/Inf appeared: the ``diverged``
    finding's advice (``diagnostics.rules.divergence_cause``), one text for all."""
    return divergence_cause(nf, cfg)


def findings_advice(findings: Sequence[Finding], details: str = "4") -> str:
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
    if top.code == "diverged" and top.advice:
        # its first sentence is the cause by phase ("it overflowed before the
        # first update, so the learning rate is not the cause: ...")
        cause = top.advice.split(". ")[0].rstrip(".")
        text += f": {cause[:1].lower()}{cause[1:]}"
    if top.fixes:
        text += f"; try {fix_label(top.fixes[0])}"
        if len(top.fixes) > 1:
            text += f" (or {fix_label(top.fixes[1])})"
    return text + f" (details: {details})."
