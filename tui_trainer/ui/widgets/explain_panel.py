"""The explain panel: what the phase that just ran did, in plain words."""

from __future__ import annotations

from textual.widgets import Static


class ExplainPanel(Static):
    """Plain-language explanation text (see ``tui_trainer.explain``)."""
