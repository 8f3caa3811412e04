"""The dialog of ``M`` (or enter on the weight cursor): a new value for one weight.

The value is checked here (a finite number within the engine's bound) so a
typo is answered in the dialog; the engine checks it again when it records
the edit.
"""

from __future__ import annotations

import math

from tui_trainer.engine.session import MAX_EDIT
from tui_trainer.ui.render.numbers import fmt
from tui_trainer.ui.screens.prompt import PromptScreen


def parse_weight(text: str) -> float | None:
    """The number typed, or None when it is not a finite number within ±MAX_EDIT."""
    try:
        v = float(text.strip())
    except ValueError:
        return None
    return v if math.isfinite(v) and abs(v) <= MAX_EDIT else None


def weight_error(text: str) -> str | None:
    if parse_weight(text) is None:
        return f"type a number like 0.5 or -1.2e-3 (finite, within ±{MAX_EDIT:g})"
    return None


def edit_weight_screen(layer: int, row: int, col: int, value: float) -> PromptScreen:
    """Ask for ``W[layer][row,col]``'s new value, the current one filled in."""
    now = fmt(value, 10).strip()
    return PromptScreen(
        f"New value of W[{layer}][{row},{col}] (layer L{layer + 1}, input {row + 1} -> "
        f"unit {col + 1}; now {now}). Recorded at this step: step back to undo it.",
        placeholder="e.g. 0.5",
        value=repr(float(value)),
        validate=weight_error,
    )
