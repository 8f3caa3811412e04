"""The network panel for any backend's modules (LayerViews), e.g. a PyTorch model.

The NumPy engine's dense layers keep their own table (``network_view.py``:
activation names, saturation, the mult-add count); this one shows what every
module has: its qualified name and kind, its parameter count, the norm of its
main parameter and of its gradient, the update ratio of the last step, its
output's mean and spread, and the dead-unit share after ReLU-like modules.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from rich.table import Table
from rich.text import Text

from tui_trainer.engine.layer_view import LayerView, layer_view
from tui_trainer.safe_text import visible
from tui_trainer.ui.render.numbers import fmt


def _f(x: float) -> str:
    if x is None or math.isnan(x):
        return "-"
    if math.isinf(x):
        return "inf"
    a = abs(x)
    if a and (a < 1e-3 or a >= 1e4):
        return f"{x:.1e}"
    return f"{x:.3g}"


def _n(x: float) -> str:
    return "-" if math.isnan(x) else fmt(x, 5)


def _grad_text(v: LayerView, gn: float, show: Any) -> Text:
    """The gradient norm; ``NaN`` in red when this step's gradient is there but not
    finite (``-`` only when there is none yet)."""
    main = v.main
    live = main is not None and v.grads.get(main) is not None
    if live and not math.isfinite(gn):
        return Text("NaN" if math.isnan(gn) else "inf", style="bold red")
    return Text(show(gn))


def _si(n: int) -> str:
    for unit, k in (("M", 1e6), ("k", 1e3)):
        if n >= k:
            return f"{n / k:.3g}{unit}"
    return str(n)


def module_stats(s: Any, i: int, v: LayerView) -> tuple[float, float, float, float]:
    """|W|, |grad|, update ratio, dead share of module ``i``: live where this step has
    them, else the last completed step's row (the names conditions use)."""
    h = s.history.steps
    wn = h.last(f"weight_norm[{i}]")
    gn = h.last(f"grad_norm[{i}]")
    main = v.main
    with np.errstate(all="ignore"):
        if main is not None:
            wn = float(np.linalg.norm(v.params[main]))
            g = v.grads.get(main)
            if g is not None:
                gn = float(np.linalg.norm(g))
        dead = h.last(f"dead_fraction[{i}]")
        if v.relu_like and v.output is not None and len(v.output):
            dead = float(np.mean(~(v.output > 0).any(axis=0)))
    return wn, gn, h.last(f"update_ratio[{i}]"), dead


def _views(s: Any) -> list[LayerView]:
    return [layer_view(s, i) for i in range(s.n_layers)]


def module_lines(s: Any, selected: int, active: int | None) -> Text:
    """Two lines per module (narrow screens)."""
    t = Text(no_wrap=True, overflow="ellipsis")
    for i, v in enumerate(_views(s)):
        wn, gn, ur, dead = module_stats(s, i, v)
        style = "reverse" if i == selected else ""
        if active == i:
            style += " bold yellow"
        mark = ">" if i == selected else " "
        t.append(f"{mark} {visible(v.name)} {v.kind}", style=style.strip())
        if not math.isnan(dead):
            t.append(f" · dead {dead:.0%}")
        t.append("\n")
        base = "dim" if i != selected else ""
        if v.params:  # (a module without parameters takes one line)
            t.append(f"  |W| {_n(wn)} |grad| ", style=base)
            t.append_text(_grad_text(v, gn, _n))
            t.append(f" upd {_n(ur)}\n", style=base)
    return t


def module_table(s: Any, selected: int, active: int | None) -> Table:
    """One row per module (wide screens)."""
    t = Table(box=None, pad_edge=False, expand=False, show_edge=False, padding=(0, 1))
    cols = ("", "module", "params", "|W|", "|grad|", "upd", "out mean", "out std", "dead")
    for col in cols:
        t.add_column(col, justify="left" if col in ("", "module") else "right", no_wrap=True)
    total = 0
    for i, v in enumerate(_views(s)):
        wn, gn, ur, dead = module_stats(s, i, v)
        total += v.n_params()
        style = "reverse" if i == selected else ""
        if active == i:
            style += " bold yellow"
        out = v.output
        has = out is not None and out.size > 0
        with np.errstate(all="ignore"):
            o_mean = _f(float(out.mean())) if has else "-"  # type: ignore[union-attr]
            o_std = _f(float(out.std())) if has else "-"  # type: ignore[union-attr]
        t.add_row(
            ">" if i == selected else " ",
            Text(f"{visible(v.name)} {v.kind}", style=style.strip()),
            _si(v.n_params()) if v.params else "-",
            _f(wn) if v.params else "-",
            _grad_text(v, gn, _f) if v.params else "-",
            _f(ur) if v.params else "-",
            o_mean,
            o_std,
            f"{dead:.0%}" if not math.isnan(dead) else "-",
        )
    t.caption = f"{_si(total)} parameters in {s.n_layers} pause modules"
    t.caption_justify = "left"
    t.caption_style = "dim"
    return t
