"""Automatic diagnosis of a training run: what is going wrong, and what to try.

``diagnose(session)`` returns the findings for the session as it is now, each
with one or two concrete fixes (dotted scenario fields -> values). The rules
are in :mod:`.rules` (documented there), the fixes in :mod:`.fixes`, the
:class:`Finding` type and the stable list of codes in :mod:`.finding`.
"""

from __future__ import annotations

from tui_trainer.engine.diagnostics.finding import (
    CODES,
    SEVERITIES,
    Finding,
    Fix,
    fix_label,
    involvements,
)
from tui_trainer.engine.diagnostics.fixes import fixes_for, hyper_change
from tui_trainer.engine.diagnostics.rules import (
    SATURATED_FRACTION,
    diagnose,
    negative_fraction,
    saturated_fraction,
)

__all__ = [
    "CODES",
    "SATURATED_FRACTION",
    "SEVERITIES",
    "Finding",
    "Fix",
    "diagnose",
    "fix_label",
    "fixes_for",
    "hyper_change",
    "involvements",
    "negative_fraction",
    "saturated_fraction",
]
