"""What a diagnosis reports: the :class:`Finding` and its fixes.

A *fix* is a mapping of dotted scenario fields to new values, for example
``{"training.lr": 0.003}``, ``{"model.init": "he"}``,
``{"data.standardize": True}`` or ``{"model.hidden": [16, 16]}``. The field
names are the scenario file's (section ``.`` key), so a fix can be shown to
the user as the line they would write, applied to a scenario with
:func:`tui_trainer.fixes.apply_fix` (which checks it like
a loaded file), or, when it changes only hyperparameters that a running
session can take (:func:`~tui_trainer.engine.diagnostics.fixes.hyper_change`),
tried as a what-if fork from the current step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# One code per cause, kept stable (listed in the README's Diagnosis section).
CODES = (
    "diverged",
    "lr_too_large",
    "lr_too_small",
    "vanishing_gradients",
    "exploding_gradients",
    "dead_relu",
    "saturated",
    "unstandardized_inputs",
    "init_loss",
    "overfitting",
    "underfitting",
    "missing_nonlinearity",
    "loss_mismatch",
    "l2_too_strong",
    "plateau",
)
SEVERITIES = ("error", "warning", "info")

Fix = dict[str, Any]
"""Dotted scenario field -> value, e.g. ``{"training.lr": 0.003}``."""


@dataclass(frozen=True)
class Finding:
    """One diagnosed problem, with the numbers behind it and what to try."""

    code: str
    title: str
    severity: str
    step: int
    epoch: int
    evidence: str
    advice: str
    layer: int | None = None
    # Every (layer, quantity) the finding is about, so each view that marks a
    # layer (the network panel's "dead"/"saturated" flags, the explain panel's
    # advice) takes it from here: quantity is "dead" (units never active),
    # "saturated", "gradient" (vanishing/exploding) or "update" (update ratio).
    involves: tuple[tuple[int, str], ...] = ()
    # One or two concrete fixes, most likely first (see the module docstring).
    # Not part of the hash: findings are used as dict keys by the explain panel.
    fixes: tuple[Fix, ...] = field(default=(), hash=False)


def involvements(findings: Sequence[Finding], layer: int) -> list[tuple[str, Finding]]:
    """The quantities of ``layer`` the findings name, with the finding naming each."""
    return [(q, f) for f in findings for i, q in f.involves if i == layer]


def fix_label(fix: Fix) -> str:
    """A fix as the scenario lines it changes: ``lr = 0.003, init = "he"``."""
    parts = []
    for key, value in fix.items():
        name = key.rsplit(".", 1)[-1]
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            text = f'"{value}"'
        elif isinstance(value, float):
            text = f"{value:g}"
        else:
            text = str(value).replace("'", '"')
        parts.append(f"{name} = {text}")
    return ", ".join(parts)
