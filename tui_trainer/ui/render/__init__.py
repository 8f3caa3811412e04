"""Pure rendering functions: NumPy arrays in, ``rich.text.Text`` out.

Every renderer takes the target ``width`` x ``height`` in terminal cells and
never returns more lines than ``height`` or a line wider than ``width``. The
output is built from few spans (runs of equal style are merged), uses hex
colours that Textual downgrades as needed, and stays readable without colour:
numbers and glyphs carry the meaning. Nothing here imports Textual or caches
results; widgets decide when to re-render.
"""

from __future__ import annotations

from .colors import (
    diverging_levels,
    diverging_style,
    legend,
    sequential_levels,
    sequential_style,
)
from .confusion import confusion_matrix, confusion_table, worst_confusions
from .decision import decision_map, grid_points, map_grid_size
from .heatmap import image_tiles, matrix_heatmap, pool_matrix
from .histogram import histogram, histogram_counts, sparkline
from .numbers import fmt

__all__ = [
    "confusion_matrix",
    "confusion_table",
    "decision_map",
    "diverging_levels",
    "diverging_style",
    "fmt",
    "grid_points",
    "histogram",
    "histogram_counts",
    "image_tiles",
    "legend",
    "map_grid_size",
    "matrix_heatmap",
    "pool_matrix",
    "sequential_levels",
    "sequential_style",
    "sparkline",
    "worst_confusions",
]
