"""Watch expressions compiled once into readers of one step's metric row.

Watches are recorded at every step of a fast-forward, where walking the
syntax tree, or even calling one closure per node and per leaf, costs a
noticeable share of a step. :func:`compile_watch` turns an arithmetic
expression (names, per-layer metrics, single weights, ``+ - * /``, unary
minus, ``abs log10 max min``, constants) into one :class:`Plan`: either a
plain column of the row (read inline by the recorder, no call at all) or one
function of the row, with constant subtrees folded and an operator between
two columns or a column and a constant done in a single closure.

A function of the row is called as ``fn(row, i)``: ``row`` is the step
table's array as a flat float64 memoryview and ``i`` where its last row
starts, so ``row[i + column]`` is a column of the last step (no list of the
row is built, only the floats asked for are read, as Python floats, without
numpy's per-call machinery): the same numbers ``SessionContext`` reads from
the tables at a step boundary. Per-epoch values are read from their table. The
plan is only valid at a step boundary of a session that has seen no NaN/Inf
(``batch_loss`` then reads the live loss): the recorder checks that. Any
failure of a compiled function is for the caller to hand to the general
evaluator, which raises the proper ``ConditionError``; expressions with
comparisons, logic or trends are not compiled (``None``). A plan says whether
it reads nothing but the tables' columns (``rows_only``, ``tables_only``): the
watch recorder then reads its past values off the tables instead of recording
them, with ``epoch_at`` standing for the per-epoch rows of a past step.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tui_trainer.engine.conditions import (
    _FUNC_IMPLS,
    Binary,
    BoolLit,
    Call,
    Indexed,
    Name,
    Node,
    Num,
    Unary,
    Weight,
    _divide,
    canonical_name,
)
from tui_trainer.engine.context import SessionContext
from tui_trainer.engine.session import Session

RowFn = Callable[[memoryview, int], float]  # (flat step table, start of the last row)
# [rows of the per-epoch table to read, flat view of its array] (a mutable pair)
EpochAt = list[Any]

# scalar name (after aliasing) -> (table, column): what SessionContext.scalar reads
# at a step boundary of a session without NaN/Inf.
_SCALAR_COLUMNS: dict[str, tuple[str, str]] = {
    "batch_loss": ("steps", "loss"),
    "batch_accuracy": ("steps", "accuracy"),
    "train_loss": ("epochs", "loss"),
    "train_accuracy": ("epochs", "accuracy"),
    "val_loss": ("epochs", "val_loss"),
    "val_accuracy": ("epochs", "val_accuracy"),
}
# per-layer metrics SessionContext.layer_value reads from the last step's row
# (grad_norm's live value is the same number at a boundary)
_LAYER_COLUMNS = ("grad_norm", "update_ratio")
_OPS: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": _divide,
}


@dataclass(frozen=True)
class Plan:
    """How to get a watch's value from the row: ``column`` (an index into the
    row) when it is a plain column, else ``fn(row, i)``, which returns a float."""

    column: int | None = None
    fn: RowFn | None = None
    # what the value depends on: the last step row alone (``rows_only``), or
    # that and the last per-epoch row (``tables_only``), nothing else (weight,
    # position, live quantity): then its series can be read off the tables
    rows_only: bool = False
    tables_only: bool = False


# A compiled node: ("const", value) | ("col", index) | ("fn", fn(row, i))
_Part = tuple[str, Any]


class _Compiler:
    def __init__(self, s: Session, ctx: SessionContext, epoch_at: EpochAt | None) -> None:
        self.s = s
        self.ctx = ctx
        self.steps = s.history.steps
        self.epochs = s.history.epochs
        self.epoch_at = epoch_at
        self.reads_epochs = False  # a per-epoch column read
        self.reads_other = False  # anything but a column of the tables read

    def column(self, table: str, name: str) -> _Part:
        if table == "steps":
            return ("col", self.steps.index[name])
        self.reads_epochs = True
        # per-epoch values: read where they are (a row of their own would be
        # copied at every step for a value that changes once an epoch)
        e, c, width, nan = self.epochs, self.epochs.index[name], len(self.epochs.columns), math.nan
        at = self.epoch_at
        if at is not None:  # rows and table given by the caller

            def read_at(row: memoryview, i: int) -> float:
                n, flat = at
                return flat[(n - 1) * width + c] if n else nan  # type: ignore[no-any-return]

            return ("fn", read_at)
        seen: list[Any] = [None, None]  # the table's array, a flat view of it

        def read(row: memoryview, i: int) -> float:
            n = e.n
            if not n:
                return nan
            data = e.data
            if data is not seen[0]:  # the table grew into a new array
                seen[0], seen[1] = data, flat_view(data)
            flat = seen[1]
            return flat[(n - 1) * width + c] if flat is not None else data.item(n - 1, c)

        return ("fn", read)

    def node(self, node: Node) -> _Part | None:
        if isinstance(node, Num | BoolLit):
            return ("const", float(node.value))
        if isinstance(node, Name):
            return self.name(node.name)
        if isinstance(node, Indexed):
            return self.indexed(node.name, node.layer)
        if isinstance(node, Weight):
            return self.weight(node.name, node.layer, node.index)
        if isinstance(node, Unary):
            part = self.node(node.operand)
            return part if part is None or node.op == "+" else _negate(part)
        if isinstance(node, Binary):
            a, b = self.node(node.left), self.node(node.right)
            return None if a is None or b is None else _binary(_OPS[node.op], a, b)
        if isinstance(node, Call):
            args = [self.node(a) for a in node.args]
            if any(a is None for a in args):
                return None
            return _call(_FUNC_IMPLS[node.func], args)  # type: ignore[arg-type]
        return None  # comparisons, logic, trends: the general evaluator's business

    def name(self, name: str) -> _Part:
        s = self.s
        canon = canonical_name(name)
        if canon in _SCALAR_COLUMNS:
            return self.column(*_SCALAR_COLUMNS[canon])
        self.reads_other = True
        if canon == "step":
            return ("fn", lambda row, i: float(s.step))
        if canon == "epoch":
            return ("fn", lambda row, i: float(s.epoch))
        scalar = self.ctx.scalar
        return ("fn", lambda row, i: float(scalar(name)))

    def indexed(self, name: str, layer: int) -> _Part:
        n = self.s.n_layers
        if name in _LAYER_COLUMNS and -n <= layer < n:
            return self.column("steps", f"{name}[{layer % n}]")
        self.reads_other = True
        layer_value = self.ctx.layer_value  # raises what the general path reports
        return ("fn", lambda row, i: float(layer_value(name, layer)))

    def weight(self, name: str, layer: int, index: tuple[int, ...]) -> _Part:
        self.reads_other = True
        if not hasattr(self.s, "net"):  # a torch session: the general path says why not
            weight = self.ctx.weight
            return ("fn", lambda row, i: float(weight(name, layer, index)))
        layers = self.s.net.layers
        n = len(layers)
        if name in ("W", "b") and -n <= layer < n:
            ly = layers[layer % n]
            shape = getattr(ly, name).shape
            if len(index) == len(shape) and all(
                -k <= i < k for i, k in zip(index, shape, strict=True)
            ):
                arr, view = getattr(ly, name), flat_view(getattr(ly, name))
                # the element's place in the flat view (indices normalized)
                k = 0
                for j, size in zip(index, shape, strict=True):
                    k = k * size + j % size
                if name == "W":
                    r, c = index
                    if view is None:
                        return ("fn", lambda row, i: ly.W.item(r, c))
                    # the optimizer updates W in place; a new array is read as usual
                    return ("fn", lambda row, i: view[k] if ly.W is arr else ly.W.item(r, c))
                (c,) = index
                if view is None:
                    return ("fn", lambda row, i: ly.b.item(c))
                return ("fn", lambda row, i: view[k] if ly.b is arr else ly.b.item(c))
        weight = self.ctx.weight
        return ("fn", lambda row, i: float(weight(name, layer, index)))


def flat_view(arr: Any) -> memoryview | None:
    """A flat view of a C-contiguous float64/float32 array: indexing it gives
    the element as a Python float without numpy's per-call machinery."""
    if not arr.flags.c_contiguous or arr.dtype.char not in "fd":
        return None
    return memoryview(arr).cast("B").cast(arr.dtype.char)


def _as_fn(part: _Part) -> RowFn:
    kind, x = part
    if kind == "fn":
        return x  # type: ignore[no-any-return]
    if kind == "col":
        return lambda row, i: row[i + x]
    return lambda row, i: x


def _negate(part: _Part) -> _Part:
    kind, x = part
    if kind == "const":
        return ("const", -x)
    if kind == "col":
        return ("fn", lambda row, i: -row[i + x])
    return ("fn", lambda row, i: -x(row, i))


def _binary(op: Callable[[float, float], float], a: _Part, b: _Part) -> _Part:
    """``op(a, b)`` in one closure where both sides are columns or constants."""
    (ka, xa), (kb, xb) = a, b
    if ka == "const" and kb == "const":
        return ("const", op(xa, xb))
    if ka == "col" and kb == "col":
        return ("fn", lambda row, i: op(row[i + xa], row[i + xb]))
    if ka == "col" and kb == "const":
        return ("fn", lambda row, i: op(row[i + xa], xb))
    if ka == "const" and kb == "col":
        return ("fn", lambda row, i: op(xa, row[i + xb]))
    if ka == "fn" and kb == "col":
        return ("fn", lambda row, i: op(xa(row, i), row[i + xb]))
    if ka == "col" and kb == "fn":
        return ("fn", lambda row, i: op(row[i + xa], xb(row, i)))
    if ka == "fn" and kb == "const":
        return ("fn", lambda row, i: op(xa(row, i), xb))
    if ka == "const" and kb == "fn":
        return ("fn", lambda row, i: op(xa, xb(row, i)))
    fa, fb = _as_fn(a), _as_fn(b)
    return ("fn", lambda row, i: op(fa(row, i), fb(row, i)))


def _call(impl: Callable[..., float], args: list[_Part]) -> _Part:
    if all(k == "const" for k, _ in args):
        return ("const", float(impl(*(x for _, x in args))))
    if len(args) == 1:
        f = _as_fn(args[0])
        return ("fn", lambda row, i: float(impl(f(row, i))))
    fa, fb = (_as_fn(a) for a in args)
    return ("fn", lambda row, i: float(impl(fa(row, i), fb(row, i))))


def compile_watch(
    root: Node, s: Session, ctx: SessionContext, epoch_at: EpochAt | None = None
) -> Plan | None:
    """The plan computing ``float(evaluate(root))`` at a step boundary of ``s``, or
    ``None`` when ``root`` is not plain arithmetic.

    With ``epoch_at``, per-epoch values are read from the flat per-epoch table
    ``epoch_at[1]`` as if it had ``epoch_at[0]`` rows (set by the caller before
    each call): the value at a past step, the epochs then ended."""
    comp = _Compiler(s, ctx, epoch_at)
    try:
        part = comp.node(root)
    except KeyError:  # a column the tables lack: leave it to the general path
        return None
    if part is None:
        return None
    kind, x = part
    tables = not comp.reads_other
    rows = tables and not comp.reads_epochs
    if kind == "col":
        return Plan(column=x, rows_only=rows, tables_only=tables)
    if kind == "const":
        return Plan(fn=lambda row, i: x, rows_only=rows, tables_only=tables)
    return Plan(fn=x, rows_only=rows, tables_only=tables)
