"""The debug panel: diagnosis findings, breakpoints with hit counts, watches."""

from __future__ import annotations

import math

from rich.text import Text
from textual.widgets import Static

from tui_trainer.engine.backend_tools import tools_for
from tui_trainer.engine.breakpoints import BreakpointSet
from tui_trainer.engine.layer_view import is_dense
from tui_trainer.engine.session import Session
from tui_trainer.engine.watches import WatchList
from tui_trainer.safe_text import visible
from tui_trainer.ui.render.histogram import sparkline
from tui_trainer.ui.widgets.main_area import RedrawOnResize

SEVERITY_STYLE = {"error": "bold white on red", "warning": "bold black on yellow", "info": "bold"}


def _fmt(x: float) -> str:
    if math.isnan(x):
        return "-"
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
        return f"{x:.3e}"
    return f"{x:.4g}"


def inspector_text(
    findings: list,
    bps: BreakpointSet,
    watches: WatchList,
    width: int,
    diagnosed: bool = True,
    scope: str = "",
) -> Text:
    """``scope``: what the diagnosis checks on this backend when not everything."""
    t = Text(no_wrap=False)
    t.append("Diagnosis", style="bold underline")
    t.append("\n")
    if scope:
        t.append(f"  {scope}\n", style="dim")
    if not diagnosed:
        t.append("  not available for this session\n", style="dim")
    elif not findings:
        t.append("  nothing suspicious so far\n", style="dim")
    for f in findings:
        t.append(f" {f.severity.upper()} ", style=SEVERITY_STYLE.get(f.severity, ""))
        # names in findings come from files (a csv's columns, a model's modules)
        t.append(f" {visible(f.title)}", style="bold")
        t.append(f" (from step {f.step})\n")
        t.append(f"  {visible(f.evidence)}\n", style="")
        t.append(f"  Try: {visible(f.advice)}\n", style="italic")
    t.append("Breakpoints", style="bold underline")
    t.append("  (b add, B manage)\n", style="dim")
    if not bps.items:
        t.append("  none\n", style="dim")
    for bp in bps.items:
        mark = "●" if bp.enabled else "○"
        t.append(f"  {mark} {visible(bp.condition.display())}", style="" if bp.enabled else "dim")
        t.append(f"  [{bp.describe()}]\n", style="dim")
    t.append("Watches", style="bold underline")
    t.append("  (W add)\n", style="dim")
    if not watches.items:
        t.append("  none\n", style="dim")
    spark_w = max(8, min(40, width - 40))
    for w in watches.items:
        vals = [v for _, v in w.history]
        # Old names show as the quantity they read ("accuracy" as batch_accuracy).
        t.append(f"  {visible(w.condition.display())} = ")
        if w.error:
            t.append(visible(w.error), style="red")
        else:
            t.append(_fmt(w.value), style="bold")
            t.append("  " + sparkline(vals, spark_w), style="cyan")
        t.append("\n")
    return t


class Inspector(RedrawOnResize, Static):
    """Findings, breakpoints and watches for the session being debugged."""

    def show(self, s: Session, findings: list, bps: BreakpointSet, watches: WatchList) -> None:
        scope = "" if is_dense(s) else tools_for(s).diagnosis_scope()
        self.update(inspector_text(findings, bps, watches, self.size.width, True, scope))
