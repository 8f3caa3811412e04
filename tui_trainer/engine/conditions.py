"""A small, safe expression language for breakpoints and watch expressions.

User text is split into tokens by a hand-written tokenizer, parsed by a
recursive-descent (Pratt) parser into a tree of small frozen dataclasses and
evaluated by walking that tree.  Nothing is ever handed to ``eval``/``exec``.

Grammar (lowest precedence first; ``{...}`` repeats, ``[...]`` is optional)::

    expr       := or_expr
    or_expr    := and_expr { "or" and_expr }
    and_expr   := not_expr { "and" not_expr }
    not_expr   := "not" not_expr | comparison
    comparison := sum [ compop sum ]                   # not chained
                | target trend                         # trend predicate
    compop     := "<" | "<=" | ">" | ">=" | "==" | "!="
    trend      := ("rising" | "falling") "for" INT unit
                | "plateau" "for" INT unit [ "within" NUMBER ]
    unit       := "epochs" | "steps" | "epoch" | "step"
    sum        := product { ("+" | "-") product }
    product    := unary { ("*" | "/") unary }
    unary      := ("-" | "+") unary | primary
    primary    := NUMBER | "nan" | "inf" | "true" | "false"
                | NAME                                 # scalar: loss, lr, nonfinite, ...
                | NAME "[" INDEX "]"                   # per-layer value: grad_norm[0]
                | ("W" | "dW") "[" INDEX "]" "[" INDEX "," INDEX "]"
                | ("b" | "db") "[" INDEX "]" "[" INDEX "]"
                | FUNC "(" expr { "," expr } ")"       # abs(x) log10(x) max(a,b) min(a,b)
                | "(" expr ")"
    target     := NAME | NAME "[" INDEX "]"
    NUMBER     := 1 | 0.5 | 1e-3 | .5 | 2.             # decimal literals
    INDEX      := ["-"] digits                         # negative counts from the end

Precedence follows Python: ``not a > 1 or b`` is ``(not (a > 1)) or b`` and
``not`` may not appear directly inside arithmetic or a comparison (write
``a == (not b)``).  The keywords ``true false nan inf and or not`` are
case-insensitive; names are case-sensitive.

Scalar names known by default: ``batch_loss train_loss val_loss
batch_accuracy train_accuracy val_accuracy epoch step lr batch nonfinite``
(``batch_*``: the last batch; ``train_*``: the mean over the training
batches of the last completed epoch; ``val_*``: the validation set after the
last completed epoch). ``loss`` and ``accuracy`` are older names kept as
aliases: ``batch_*`` as a value or per step, ``train_*`` per epoch (``loss
plateau for 20 epochs`` reads ``train_loss``); explanations show the
unambiguous name (see ``ALIASES``). Per-layer names: ``grad_norm weight_norm
update_ratio dead_fraction act_mean act_std``; single weights: ``W dW b db``.
``parse(source, known=...)`` replaces that vocabulary with the names an
engine actually knows.  An unknown name is an error that lists the known
names and suggests the closest one.

Semantics:

* Arithmetic yields ``float`` and follows IEEE 754: ``x / 0`` is ``inf`` or
  ``nan``, never an exception.  ``max``/``min`` propagate NaN, ``log10`` of 0
  is ``-inf`` and of a negative number ``nan``.  Booleans used as numbers are
  1.0 / 0.0.
* Comparisons, ``and``/``or``/``not`` and trend predicates yield ``bool``.
  Comparisons with NaN are False except ``!=``, which is True.
* A number used as a truth value is true when it is non-zero and not NaN.
* ``nonfinite`` is a boolean: true when the engine has seen a NaN/Inf.
* ``x rising for N epochs`` is true when the last N consecutive differences
  of the per-epoch history of ``x`` are all > 0 (so it needs N+1 values);
  ``falling`` needs all < 0.  ``x plateau for N steps [within TOL]`` is true
  when the last N values are finite and ``(max - min) / max(|max|, |min|)``
  is below TOL (default ``1e-3``).  With too little history a trend is False.
  ``epochs`` reads the per-epoch history, ``steps`` the per-step history.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "ALIASES",
    "DEFAULT_NAMES",
    "FUNCTIONS",
    "LAYER_NAMES",
    "SCALAR_NAMES",
    "WEIGHT_NAMES",
    "Condition",
    "canonical_name",
    "ConditionError",
    "DictContext",
    "EvalContext",
    "parse",
]

SCALAR_NAMES: tuple[str, ...] = (
    "batch_loss",
    "train_loss",
    "val_loss",
    "batch_accuracy",
    "train_accuracy",
    "val_accuracy",
    "loss",
    "accuracy",
    "epoch",
    "step",
    "lr",
    "batch",
    "nonfinite",
)
LAYER_NAMES: tuple[str, ...] = (
    "grad_norm",
    "weight_norm",
    "update_ratio",
    "dead_fraction",
    "act_mean",
    "act_std",
)
# name -> number of indices after the layer index
WEIGHT_NAMES: dict[str, int] = {"W": 2, "dW": 2, "b": 1, "db": 1}
DEFAULT_NAMES: frozenset[str] = (
    frozenset(SCALAR_NAMES) | frozenset(LAYER_NAMES) | frozenset(WEIGHT_NAMES)
)
FUNCTIONS: dict[str, int] = {"abs": 1, "log10": 1, "max": 2, "min": 2}
# Old names that meant two quantities: (as a value or per step, per epoch).
ALIASES: dict[str, tuple[str, str]] = {
    "loss": ("batch_loss", "train_loss"),
    "accuracy": ("batch_accuracy", "train_accuracy"),
}


def canonical_name(name: str, per: str | None = None) -> str:
    """The unambiguous name an alias stands for (``per``: "steps", "epochs" or None)."""
    if name not in ALIASES:
        return name
    return ALIASES[name][1 if per == "epochs" else 0]


def _series_hint(name: str, per: str) -> str:
    """Where the history ``name`` lacks lives, for the error message."""
    for prefix, other, unit in (("batch_", "train_", "epochs"), ("train_", "batch_", "steps")):
        if name.startswith(prefix) and per == unit:
            what = "the epoch's mean" if other == "train_" else "the loss of each batch"
            return f" ({other}{name[len(prefix) :]} has it: {what})"
    return ""


DEFAULT_PLATEAU_TOLERANCE = 1e-3
# Limits that keep the parser and the tree walkers far from Python's recursion limit.
MAX_DEPTH = 100  # parentheses / unary operators / function calls nested in the source
MAX_TREE_DEPTH = 200  # depth of the syntax tree (``1+1+...`` is one level per operator)
_MAX_INT_DIGITS = 9

_LITERAL_WORDS = {"true": True, "false": False, "nan": math.nan, "inf": math.inf}
_TRENDS = ("rising", "falling", "plateau")
_RESERVED = frozenset({"and", "or", "not", "for", "within", *_TRENDS, *_LITERAL_WORDS})
_UNITS = {"epochs": "epochs", "epoch": "epochs", "steps": "steps", "step": "steps"}
_COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")

# binding powers
_BP_OR, _BP_AND, _BP_NOT, _BP_CMP, _BP_SUM, _BP_PRODUCT, _BP_UNARY = 10, 20, 30, 40, 50, 60, 70


# --------------------------------------------------------------------------- errors


class ConditionError(ValueError):
    """A condition that cannot be parsed or evaluated.

    ``column`` is the 0-based column of the offending token in the source.
    """

    def __init__(self, message: str, column: int = 0) -> None:
        self.message = message
        self.column = max(0, int(column))
        super().__init__(f"{message} at column {self.column}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.column))

    def pretty(self, source: str) -> str:
        """Three lines: the source, a caret under the column, the message."""
        line = re.sub(r"[\t\r\n\f\v]", " ", source)
        return f"{line}\n{' ' * self.column}^\n{self.message}"


# --------------------------------------------------------------------------- context


@runtime_checkable
class EvalContext(Protocol):
    """What a condition needs from the engine.

    Layer indices may be negative (counting from the end); implementations
    raise ``IndexError`` when out of range and ``KeyError`` for unknown names.
    """

    def scalar(self, name: str) -> float: ...

    def layer_value(self, name: str, layer: int) -> float: ...

    def weight(self, name: str, layer: int, index: tuple[int, ...]) -> float: ...

    def series(self, name: str, layer: int | None, per: str) -> Sequence[float]: ...

    def known_names(self) -> Iterable[str]: ...


def _pick(seq: Any, i: int, what: str) -> Any:
    n = len(seq)
    if not -n <= i < n:
        raise IndexError(f"{what} {i} out of range ({n} available)")
    return seq[i]


@dataclass
class DictContext:
    """An ``EvalContext`` backed by plain dicts (tests, notebooks).

    * ``scalars``: ``{"loss": 0.3, "nonfinite": False, ...}``
    * ``layers``: per-layer values, ``{"grad_norm": [g0, g1, ...]}``
    * ``weights``: per-layer arrays, ``{"W": [W0, W1], "b": [b0, b1]}``
    * ``epoch_history`` / ``step_history``: most recent last; a scalar name
      maps to a sequence of values, a per-layer name to one sequence per layer
      (``{"loss": [...], "grad_norm": [[...layer 0...], [...layer 1...]]}``).
    """

    scalars: Mapping[str, float] = field(default_factory=dict)
    layers: Mapping[str, Sequence[float]] = field(default_factory=dict)
    weights: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    epoch_history: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    step_history: Mapping[str, Sequence[Any]] = field(default_factory=dict)

    def scalar(self, name: str) -> float:
        return float(self.scalars[name])

    def layer_value(self, name: str, layer: int) -> float:
        return float(_pick(self.layers[name], layer, "layer"))

    def weight(self, name: str, layer: int, index: tuple[int, ...]) -> float:
        arr = np.asarray(_pick(self.weights[name], layer, "layer"))
        if arr.ndim != len(index):
            raise IndexError(
                f"{name}[{layer}] has {arr.ndim} dimension(s) but {len(index)} indices were given"
            )
        for axis, (i, n) in enumerate(zip(index, arr.shape, strict=True)):
            if not -n <= i < n:
                raise IndexError(f"index {i} out of range for axis {axis} of size {n}")
        return float(arr[index])

    def series(self, name: str, layer: int | None, per: str) -> Sequence[float]:
        if per == "epochs":
            history = self.epoch_history
        elif per == "steps":
            history = self.step_history
        else:
            raise ValueError(f"per must be 'epochs' or 'steps', not {per!r}")
        data = history[name]
        if layer is not None:
            data = _pick(data, layer, "layer")
        return [float(v) for v in data]

    def known_names(self) -> Iterable[str]:
        names: set[str] = set()
        for mapping in (
            self.scalars,
            self.layers,
            self.weights,
            self.epoch_history,
            self.step_history,
        ):
            names.update(mapping)
        return sorted(names)


# --------------------------------------------------------------------------- AST


class Node:
    """Base of the syntax tree; ``start``/``end`` index the source text.

    Nodes are immutable, compare and hash by value (``depth`` aside) and are
    built with keywords, like frozen dataclasses. They are plain slotted
    classes because fourteen frozen dataclasses took about 7 ms to create at
    import, a noticeable share of the app's start-up.
    """

    __slots__ = ("start", "end", "depth")
    _fields: tuple[str, ...] = ()  # a subclass's own fields, in order
    _defaults: dict[str, Any] = {}
    start: int
    end: int
    depth: int  # height of the subtree, bounded by MAX_TREE_DEPTH

    def __init__(self, *, start: int, end: int, depth: int = 1, **fields: Any) -> None:
        init = object.__setattr__
        init(self, "start", start)
        init(self, "end", end)
        init(self, "depth", depth)
        for name in self._fields:
            if name in fields:
                init(self, name, fields.pop(name))
            elif name in self._defaults:
                init(self, name, self._defaults[name])
            else:
                raise TypeError(f"{type(self).__name__} needs {name}=")
        if fields:
            raise TypeError(f"{type(self).__name__} has no field {next(iter(fields))}")

    def _values(self) -> tuple[Any, ...]:
        return (self.start, self.end, *(getattr(self, f) for f in self._fields))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._values() == self._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        names = ("start", "end", *self._fields)
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in names)})"

    def replace(self, **changes: Any) -> Node:
        """A copy with some fields changed (``depth`` is kept)."""
        values = {n: getattr(self, n) for n in ("start", "end", "depth", *self._fields)}
        return type(self)(**{**values, **changes})

    def children(self) -> tuple[Node, ...]:
        return ()


class Num(Node):
    __slots__ = _fields = ("value",)
    value: float


class BoolLit(Node):
    __slots__ = _fields = ("value",)
    value: bool


class Name(Node):
    __slots__ = _fields = ("name",)
    name: str

    def label(self) -> str:
        return self.name


class Indexed(Node):
    __slots__ = _fields = ("name", "layer")
    name: str
    layer: int

    def label(self) -> str:
        return f"{self.name}[{self.layer}]"


class Weight(Node):
    __slots__ = _fields = ("name", "layer", "index")
    name: str
    layer: int
    index: tuple[int, ...]

    def label(self) -> str:
        return f"{self.name}[{self.layer}][{','.join(map(str, self.index))}]"


class Unary(Node):
    __slots__ = _fields = ("op", "operand")
    op: str
    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


class _Pair(Node):
    """An operator between two operands (arithmetic, comparison, and/or)."""

    __slots__ = _fields = ("op", "left", "right")
    op: str
    left: Node
    right: Node

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


class Binary(_Pair):
    __slots__ = ()  # op: + - * /


class Call(Node):
    __slots__ = _fields = ("func", "args")
    func: str
    args: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.args


class Compare(_Pair):
    __slots__ = ()  # op: < <= > >= == !=


class BoolOp(_Pair):
    __slots__ = ()  # op: and, or


class Not(Node):
    __slots__ = _fields = ("operand",)
    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


class Trend(Node):
    __slots__ = _fields = ("kind", "target", "count", "per", "tolerance")
    _defaults = {"tolerance": DEFAULT_PLATEAU_TOLERANCE}
    kind: str  # rising | falling | plateau
    target: Name | Indexed
    count: int
    per: str  # epochs | steps
    tolerance: float

    def children(self) -> tuple[Node, ...]:
        return (self.target,)

    def needed(self) -> int:
        return self.count if self.kind == "plateau" else self.count + 1


_LEAVES = (Name, Indexed, Weight)
_BOOLEAN_NODES = (BoolLit, Compare, BoolOp, Not, Trend)


# --------------------------------------------------------------------------- tokenizer


@dataclass(frozen=True)
class _Token:
    kind: str  # num | name | op | eof
    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)

    def describe(self) -> str:
        return "the end of the input" if self.kind == "eof" else f"'{self.text}'"


_NUMBER_RE = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_NUMBER_TAIL_RE = re.compile(r"[A-Za-z0-9_.]+", re.ASCII)
_TWO_CHAR_OPS = ("<=", ">=", "==", "!=")
_ONE_CHAR_OPS = "+-*/()[],<>"
_BAD_CHAR_HINTS = {
    "=": "unexpected '='; use '==' to compare",
    "!": "unexpected '!'; use 'not' or '!='",
    "&": "unexpected '&'; use 'and'",
    "|": "unexpected '|'; use 'or'",
    "^": "unexpected '^'; powers are not supported",
}


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch in " \t\r\n\f\v":
            i += 1
            continue
        if ch.isascii() and (ch.isdigit() or (ch == "." and source[i + 1 : i + 2].isdigit())):
            m = _NUMBER_RE.match(source, i)
            assert m is not None
            text = m.group()
            tail = _NUMBER_TAIL_RE.match(source, m.end())
            if tail is not None:
                raise ConditionError(f"malformed number '{text + tail.group()}'", i)
            tokens.append(_Token("num", text, i))
            i = m.end()
            continue
        m = _NAME_RE.match(source, i)
        if m is not None:
            tokens.append(_Token("name", m.group(), i))
            i = m.end()
            continue
        two = source[i : i + 2]
        if two in _TWO_CHAR_OPS:
            tokens.append(_Token("op", two, i))
            i += 2
            continue
        if two == "**":
            raise ConditionError("'**' (power) is not supported", i)
        if ch in _ONE_CHAR_OPS:
            tokens.append(_Token("op", ch, i))
            i += 1
            continue
        raise ConditionError(_BAD_CHAR_HINTS.get(ch, f"unexpected character {ch!r}"), i)
    tokens.append(_Token("eof", "", n))
    return tokens


# --------------------------------------------------------------------------- parser


def _keyword(tok: _Token) -> str | None:
    """The reserved word a name token spells, if any."""
    if tok.kind != "name":
        return None
    low = tok.text.lower()
    if low in _LITERAL_WORDS or low in ("and", "or", "not"):
        return low
    return tok.text if tok.text in _RESERVED else None


def _unknown_name_message(name: str, known: Iterable[str]) -> str:
    known = sorted(set(known))
    msg = f"unknown name '{name}'"
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        msg += f"; did you mean '{close[0]}'?"
    if known:
        msg += f" (known names: {', '.join(known)})"
    return msg


class _Parser:
    def __init__(self, source: str, allowed: frozenset[str], custom: bool) -> None:
        self.source = source
        self.allowed = allowed
        self.custom = custom  # a caller-supplied vocabulary
        self.tokens = _tokenize(source)
        self.pos = 0
        self.nesting = 0

    # token helpers
    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def previous(self) -> _Token | None:
        return self.tokens[self.pos - 1] if self.pos > 0 else None

    def advance(self) -> _Token:
        tok = self.tokens[self.pos]
        if tok.kind != "eof":
            self.pos += 1
        return tok

    def at_op(self, text: str) -> bool:
        tok = self.peek()
        return tok.kind == "op" and tok.text == text

    def expect_op(self, text: str, context: str) -> _Token:
        tok = self.peek()
        if tok.kind == "op" and tok.text == text:
            return self.advance()
        raise ConditionError(f"expected '{text}' {context}, found {tok.describe()}", tok.start)

    def make(self, cls: type[Node], *, col: int | None = None, **kw: Any) -> Any:
        depth = 1 + max((c.depth for c in _kw_children(kw)), default=0)
        if depth > MAX_TREE_DEPTH:
            raise ConditionError(
                "expression is too long or nested too deeply", kw["start"] if col is None else col
            )
        return cls(depth=depth, **kw)

    # entry point
    def parse(self) -> Node:
        if self.peek().kind == "eof":
            raise ConditionError("empty condition", 0)
        node = self.expr(0)
        tok = self.peek()
        if tok.kind != "eof":
            if tok.kind == "op" and tok.text == ")":
                raise ConditionError("unbalanced ')'", tok.start)
            raise ConditionError(
                f"unexpected {tok.describe()} after a complete expression; expected an operator",
                tok.start,
            )
        return node

    def binding_power(self, tok: _Token) -> int:
        if tok.kind == "op":
            if tok.text in _COMPARISONS:
                return _BP_CMP
            if tok.text in "+-":
                return _BP_SUM
            if tok.text in "*/":
                return _BP_PRODUCT
            return 0
        kw = _keyword(tok)
        if kw == "or":
            return _BP_OR
        if kw == "and":
            return _BP_AND
        if kw in _TRENDS:
            return _BP_CMP
        return 0

    def expr(self, rbp: int) -> Node:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise ConditionError("expression is nested too deeply", self.peek().start)
        try:
            left = self.nud(self.advance(), rbp)
            while True:
                tok = self.peek()
                lbp = self.binding_power(tok)
                if lbp <= rbp:
                    return left
                self.advance()
                left = self.led(tok, left)
        finally:
            self.nesting -= 1

    def operand_error(self, tok: _Token) -> ConditionError:
        prev = self.previous_of(tok)
        where = f" after '{prev.text}'" if prev is not None else ""
        found = "" if tok.kind == "eof" else f", found {tok.describe()}"
        return ConditionError(f"expected a number or name{where}{found}", tok.start)

    def previous_of(self, tok: _Token) -> _Token | None:
        idx = self.tokens.index(tok)
        return self.tokens[idx - 1] if idx > 0 else None

    # prefix positions
    def nud(self, tok: _Token, rbp: int) -> Node:
        if tok.kind == "num":
            return self.make(Num, value=float(tok.text), start=tok.start, end=tok.end)
        if tok.kind == "op":
            if tok.text in "+-":
                operand = self.expr(_BP_UNARY)
                return self.make(
                    Unary, op=tok.text, operand=operand, start=tok.start, end=operand.end
                )
            if tok.text == "(":
                return self.group(tok)
            raise self.operand_error(tok)
        if tok.kind == "name":
            kw = _keyword(tok)
            if kw in _LITERAL_WORDS:
                value = _LITERAL_WORDS[kw]
                if isinstance(value, bool):
                    return self.make(BoolLit, value=value, start=tok.start, end=tok.end)
                return self.make(Num, value=value, start=tok.start, end=tok.end)
            if kw == "not":
                if rbp > _BP_NOT:
                    raise ConditionError(
                        "'not' needs parentheses here, e.g. 'x == (not y)'", tok.start
                    )
                operand = self.expr(_BP_NOT)
                return self.make(Not, operand=operand, start=tok.start, end=operand.end)
            if kw is not None:
                raise self.operand_error(tok)
            return self.name(tok)
        raise self.operand_error(tok)

    def group(self, open_tok: _Token) -> Node:
        inner = self.expr(0)
        tok = self.peek()
        if tok.kind == "op" and tok.text == ")":
            close = self.advance()
            return _respan(inner, open_tok.start, close.end)
        if tok.kind == "eof":
            raise ConditionError("unclosed '('", open_tok.start)
        raise ConditionError(f"expected ')' or an operator, found {tok.describe()}", tok.start)

    def name(self, tok: _Token) -> Node:
        name = tok.text
        if self.at_op("("):
            if name not in FUNCTIONS:
                raise ConditionError(
                    f"unknown function '{name}'; functions are {', '.join(FUNCTIONS)}", tok.start
                )
            return self.call(tok)
        if self.at_op("["):
            if name in WEIGHT_NAMES:
                return self.weight(tok)
            if name in SCALAR_NAMES:
                raise ConditionError(f"'{name}' is a single value and cannot be indexed", tok.start)
            self.check_known(tok)
            self.advance()
            layer = self.integer("layer index")
            close = self.expect_op("]", "to close the layer index")
            return self.make(Indexed, name=name, layer=layer, start=tok.start, end=close.end)
        if name in FUNCTIONS and name not in self.allowed:
            raise ConditionError(f"'{name}' is a function; write {name}(...)", tok.start)
        self.check_known(tok)
        if name in LAYER_NAMES:
            raise ConditionError(f"'{name}' is per layer; write {name}[layer]", tok.start)
        if name in WEIGHT_NAMES and not self.custom:
            raise ConditionError(f"'{name}' needs indices; write {_weight_hint(name)}", tok.start)
        return self.make(Name, name=name, start=tok.start, end=tok.end)

    def check_known(self, tok: _Token) -> None:
        if tok.text not in self.allowed:
            raise ConditionError(_unknown_name_message(tok.text, self.allowed), tok.start)

    def integer(self, what: str) -> int:
        tok = self.peek()
        sign = 1
        if tok.kind == "op" and tok.text == "-":
            self.advance()
            sign = -1
            tok = self.peek()
        if tok.kind != "num" or not tok.text.isdigit():
            raise ConditionError(
                f"{what} must be a whole number, found {tok.describe()}", tok.start
            )
        if len(tok.text) > _MAX_INT_DIGITS:
            raise ConditionError(f"{what} is too large", tok.start)
        self.advance()
        return sign * int(tok.text)

    def weight(self, tok: _Token) -> Node:
        name = tok.text
        self.check_known(tok)
        self.advance()  # [
        layer = self.integer("layer index")
        self.expect_op("]", "to close the layer index")
        want = WEIGHT_NAMES[name]
        if not self.at_op("["):
            nxt = self.peek()
            raise ConditionError(
                f"expected '[' after {name}[{layer}]; write {_weight_hint(name)}", nxt.start
            )
        open_tok = self.advance()
        index = [self.integer("index")]
        while self.at_op(","):
            self.advance()
            index.append(self.integer("index"))
        close = self.expect_op("]", f"after the indices; write {_weight_hint(name)}")
        if len(index) != want:
            raise ConditionError(
                f"{name} takes {want} ind{'ex' if want == 1 else 'ices'} after the layer "
                f"({_weight_hint(name)}), got {len(index)}",
                open_tok.start,
            )
        return self.make(
            Weight, name=name, layer=layer, index=tuple(index), start=tok.start, end=close.end
        )

    def call(self, tok: _Token) -> Node:
        func = tok.text
        self.advance()  # (
        args = [self.expr(0)]
        while self.at_op(","):
            self.advance()
            args.append(self.expr(0))
        close = self.peek()
        if not (close.kind == "op" and close.text == ")"):
            if close.kind == "eof":
                raise ConditionError(f"unclosed '(' of {func}()", tok.end)
            raise ConditionError(
                f"expected ',' or ')' in {func}(...), found {close.describe()}", close.start
            )
        self.advance()
        want = FUNCTIONS[func]
        if len(args) != want:
            plural = "argument" if want == 1 else "arguments"
            raise ConditionError(f"{func}() takes {want} {plural}, got {len(args)}", tok.start)
        return self.make(Call, func=func, args=tuple(args), start=tok.start, end=close.end)

    # infix / postfix positions
    def led(self, tok: _Token, left: Node) -> Node:
        kw = _keyword(tok)
        if kw in ("and", "or"):
            right = self.expr(_BP_AND if kw == "and" else _BP_OR)
            return self.make(
                BoolOp,
                col=tok.start,
                op=kw,
                left=left,
                right=right,
                start=left.start,
                end=right.end,
            )
        if kw in _TRENDS:
            node = self.trend(tok, left)
        elif tok.text in _COMPARISONS:
            right = self.expr(_BP_CMP)
            node = self.make(
                Compare,
                col=tok.start,
                op=tok.text,
                left=left,
                right=right,
                start=left.start,
                end=right.end,
            )
        else:  # + - * /
            bp = self.binding_power(tok)
            right = self.expr(bp)
            return self.make(
                Binary,
                col=tok.start,
                op=tok.text,
                left=left,
                right=right,
                start=left.start,
                end=right.end,
            )
        nxt = self.peek()
        if self.binding_power(nxt) == _BP_CMP:
            if _keyword(nxt) in _TRENDS:
                raise ConditionError(
                    f"'{nxt.text}' applies to a name, e.g. 'loss {nxt.text} for 5 epochs'",
                    nxt.start,
                )
            raise ConditionError(
                "comparisons cannot be chained; combine them with 'and'", nxt.start
            )
        return node

    def trend(self, tok: _Token, left: Node) -> Node:
        kind = tok.text
        if not isinstance(left, Name | Indexed):
            raise ConditionError(
                f"'{kind}' applies to a name like 'loss' or 'grad_norm[0]', not to an expression",
                left.start,
            )
        nxt = self.peek()
        if _keyword(nxt) != "for":
            raise ConditionError(
                f"expected 'for' after '{kind}', e.g. 'loss {kind} for 5 epochs'", nxt.start
            )
        self.advance()
        count_tok = self.peek()
        count = self.integer("the number of epochs or steps")
        if count < 1 or (kind == "plateau" and count < 2):
            least = 2 if kind == "plateau" else 1
            raise ConditionError(f"'{kind}' needs a count of at least {least}", count_tok.start)
        unit_tok = self.peek()
        if unit_tok.kind != "name" or unit_tok.text not in _UNITS:
            raise ConditionError(
                f"expected 'epochs' or 'steps' after '{count}', found {unit_tok.describe()}",
                unit_tok.start,
            )
        self.advance()
        end = unit_tok.end
        tolerance = DEFAULT_PLATEAU_TOLERANCE
        if _keyword(self.peek()) == "within":
            within = self.advance()
            if kind != "plateau":
                raise ConditionError("'within' only applies to 'plateau'", within.start)
            num = self.peek()
            if num.kind != "num":
                raise ConditionError(
                    f"expected a tolerance number after 'within', found {num.describe()}",
                    num.start,
                )
            self.advance()
            tolerance = float(num.text)
            end = num.end
        return self.make(
            Trend,
            kind=kind,
            target=left,
            count=count,
            per=_UNITS[unit_tok.text],
            tolerance=tolerance,
            start=left.start,
            end=end,
        )


def _kw_children(kw: Mapping[str, Any]) -> Iterable[Node]:
    for value in kw.values():
        if isinstance(value, Node):
            yield value
        elif isinstance(value, tuple):
            yield from (v for v in value if isinstance(v, Node))


def _respan(node: Node, start: int, end: int) -> Node:
    return node.replace(start=start, end=end)


def _weight_hint(name: str) -> str:
    return f"{name}[layer][row,col]" if WEIGHT_NAMES[name] == 2 else f"{name}[layer][i]"


# --------------------------------------------------------------------------- evaluation


def _as_float(value: float | bool) -> float:
    return float(value)


def _truthy(value: float | bool) -> bool:
    if isinstance(value, bool):
        return value
    return value != 0 and not math.isnan(value)


def _divide(a: float, b: float) -> float:
    try:
        return a / b
    except ZeroDivisionError:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _log10(x: float) -> float:
    if math.isnan(x) or x < 0:
        return math.nan
    if x == 0:
        return -math.inf
    if math.isinf(x):
        return math.inf
    return math.log10(x)


def _max(a: float, b: float) -> float:
    return math.nan if math.isnan(a) or math.isnan(b) else max(a, b)


def _min(a: float, b: float) -> float:
    return math.nan if math.isnan(a) or math.isnan(b) else min(a, b)


_FUNC_IMPLS = {"abs": abs, "log10": _log10, "max": _max, "min": _min}


def _compare(op: str, a: float, b: float) -> bool:
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    if op == "==":
        return a == b
    return a != b


def _context_error(node: Node, exc: Exception, ctx: EvalContext) -> ConditionError:
    label = node.label() if isinstance(node, _LEAVES) else ""
    if isinstance(node, Trend):
        label = node.target.label()
        if isinstance(exc, KeyError):
            return ConditionError(
                f"no per-{node.per[:-1]} history for '{label}'"
                + _series_hint(node.target.name, node.per),
                node.start,
            )
    if isinstance(exc, KeyError):
        try:
            known: Iterable[str] = list(ctx.known_names())
        except Exception:  # noqa: BLE001 - only used for a hint
            known = ()
        name = getattr(node, "name", label)
        return ConditionError(_unknown_name_message(name, known), node.start)
    detail = exc.args[0] if exc.args else type(exc).__name__
    return ConditionError(f"{label}: {detail}" if label else str(detail), node.start)


def _fetch(node: Node, ctx: EvalContext, fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except ConditionError:
        raise
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise _context_error(node, exc, ctx) from exc


def _trend_window(node: Trend, ctx: EvalContext) -> tuple[bool, list[float]]:
    """Whether the trend holds and the window of values it looked at."""
    target = node.target
    layer = target.layer if isinstance(target, Indexed) else None
    series = _fetch(node, ctx, ctx.series, target.name, layer, node.per)
    values = _fetch(node, ctx, lambda s: [float(v) for v in s], series)
    need = node.needed()
    window = values[-need:]
    if len(values) < need:
        return False, window
    if node.kind == "rising":
        return all(b > a for a, b in zip(window, window[1:], strict=False)), window
    if node.kind == "falling":
        return all(b < a for a, b in zip(window, window[1:], strict=False)), window
    return _relative_range(window) < node.tolerance, window


def _relative_range(window: Sequence[float]) -> float:
    if not all(math.isfinite(v) for v in window):
        return math.nan
    hi, lo = max(window), min(window)
    if hi == lo:
        return 0.0
    return (hi - lo) / max(abs(hi), abs(lo))


def _evaluate(node: Node, ctx: EvalContext) -> float | bool:
    match node:
        case Num(value=value):
            return value
        case BoolLit(value=value):
            return value
        case Name(name="nonfinite"):
            return bool(_fetch(node, ctx, ctx.scalar, "nonfinite"))
        case Name(name=name):
            return _fetch(node, ctx, lambda: float(ctx.scalar(name)))
        case Indexed(name=name, layer=layer):
            return _fetch(node, ctx, lambda: float(ctx.layer_value(name, layer)))
        case Weight(name=name, layer=layer, index=index):
            return _fetch(node, ctx, lambda: float(ctx.weight(name, layer, index)))
        case Unary(op=op, operand=operand):
            value = _as_float(_evaluate(operand, ctx))
            return -value if op == "-" else value
        case Binary(op=op, left=left, right=right):
            a = _as_float(_evaluate(left, ctx))
            b = _as_float(_evaluate(right, ctx))
            if op == "+":
                return a + b
            if op == "-":
                return a - b
            if op == "*":
                return a * b
            return _divide(a, b)
        case Call(func=func, args=args):
            values = [_as_float(_evaluate(a, ctx)) for a in args]
            return float(_FUNC_IMPLS[func](*values))
        case Compare(op=op, left=left, right=right):
            a = _as_float(_evaluate(left, ctx))
            b = _as_float(_evaluate(right, ctx))
            return _compare(op, a, b)
        case BoolOp(op="and", left=left, right=right):
            return _truthy(_evaluate(left, ctx)) and _truthy(_evaluate(right, ctx))
        case BoolOp(left=left, right=right):
            return _truthy(_evaluate(left, ctx)) or _truthy(_evaluate(right, ctx))
        case Not(operand=operand):
            return not _truthy(_evaluate(operand, ctx))
        case Trend():
            return _trend_window(node, ctx)[0]
    raise TypeError(f"unknown node {node!r}")  # pragma: no cover


def _leaf(ctx: EvalContext, name: str, layer: int | None, index: Any) -> Any:
    """A context's own fast reader for a leaf, if it offers one (``leaf``)."""
    leaf = getattr(ctx, "leaf", None)
    return leaf(name, layer, index) if leaf is not None else None


def _closure(node: Node, ctx: EvalContext) -> Callable[[], float | bool]:
    """Closures computing exactly what ``_evaluate`` computes for ``node``."""
    match node:
        case Num(value=value) | BoolLit(value=value):
            return lambda: value
        case Name(name="nonfinite"):
            scalar = ctx.scalar
            return lambda: bool(scalar("nonfinite"))
        case Name(name=name):
            if (leaf := _leaf(ctx, name, None, None)) is not None:
                return leaf
            scalar = ctx.scalar
            return lambda: float(scalar(name))
        case Indexed(name=name, layer=layer):
            if (leaf := _leaf(ctx, name, layer, None)) is not None:
                return leaf
            layer_value = ctx.layer_value
            return lambda: float(layer_value(name, layer))
        case Weight(name=name, layer=layer, index=index):
            if (leaf := _leaf(ctx, name, layer, index)) is not None:
                return leaf
            weight = ctx.weight
            return lambda: float(weight(name, layer, index))
        case Unary(op="-", operand=operand):
            f = _closure(operand, ctx)
            return lambda: -_as_float(f())
        case Binary(op=op, left=left, right=right):
            fa, fb = _closure(left, ctx), _closure(right, ctx)
            arith = {
                "+": lambda a, b: a + b,
                "-": lambda a, b: a - b,
                "*": lambda a, b: a * b,
            }.get(op, _divide)
            return lambda: arith(_as_float(fa()), _as_float(fb()))
        case Compare(op=op, left=left, right=right):
            fa, fb = _closure(left, ctx), _closure(right, ctx)
            return lambda: _compare(op, _as_float(fa()), _as_float(fb()))
        case BoolOp(op="and", left=left, right=right):
            fa, fb = _closure(left, ctx), _closure(right, ctx)
            return lambda: _truthy(fa()) and _truthy(fb())
        case BoolOp(left=left, right=right):
            fa, fb = _closure(left, ctx), _closure(right, ctx)
            return lambda: _truthy(fa()) or _truthy(fb())
        case Not(operand=operand):
            f = _closure(operand, ctx)
            return lambda: not _truthy(f())
    # Calls, unary plus, trends: rare in watches, evaluated as usual.
    return lambda: _evaluate(node, ctx)


def _fmt(value: float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.4g}"


def _walk(node: Node) -> Iterable[Node]:
    yield node
    for child in node.children():
        yield from _walk(child)


def _flatten(node: Node, op: str) -> list[Node]:
    if isinstance(node, BoolOp) and node.op == op:
        return _flatten(node.left, op) + _flatten(node.right, op)
    return [node]


def _renamed(source: str, root: Node, lo: int = 0, hi: int | None = None) -> str:
    """``source[lo:hi]`` with every alias replaced by the unambiguous name it stands for."""
    hi = len(source) if hi is None else hi
    spans: dict[int, tuple[int, str]] = {}
    for node in _walk(root):
        if isinstance(node, Trend) and node.target.name in ALIASES:
            t = node.target
            spans[t.start] = (t.start + len(t.name), canonical_name(t.name, node.per))
        elif isinstance(node, Name | Indexed) and node.name in ALIASES:
            spans.setdefault(node.start, (node.start + len(node.name), canonical_name(node.name)))
    out = source
    for start in sorted(spans, reverse=True):
        end, name = spans[start]
        if lo <= start and end <= hi:
            out = out[:start] + name + out[end:]
            hi += len(name) - (end - start)
    return out[lo:hi]


class _Explainer:
    def __init__(self, source: str, ctx: EvalContext, aliases: bool = False) -> None:
        self.source = source
        self.ctx = ctx
        self.aliases = aliases

    def text(self, node: Node, per: str | None = None) -> str:
        text = self.source[node.start : node.end].strip()
        if not self.aliases:
            return text
        if text in ALIASES:
            return canonical_name(text, per)
        return _renamed(self.source, node, node.start, node.end).strip()

    def explain(self, node: Node) -> str:
        ctx = self.ctx
        if isinstance(node, BoolOp):
            parts = _flatten(node, node.op)
            if node.op == "or":
                true_parts = [p for p in parts if _truthy(_evaluate(p, ctx))]
                parts = true_parts or parts
            else:
                false_parts = [p for p in parts if not _truthy(_evaluate(p, ctx))]
                parts = false_parts or parts
            joiner = "; " if len(parts) > 1 else ""
            return joiner.join(self.explain(p) for p in parts)
        if isinstance(node, Not):
            return f"not ({self.explain(node.operand)})"
        if isinstance(node, Compare):
            left = self.side(node.left, first=True)
            right = self.side(node.right, first=False)
            return f"{left} {node.op} {right}"
        if isinstance(node, Trend):
            return self.trend(node)
        if isinstance(node, Num | BoolLit):
            return self.text(node)
        value = _evaluate(node, ctx)
        out = f"{self.text(node)} = {_fmt(value)}"
        if not isinstance(node, _LEAVES):
            leaves = self.leaves(node)
            if leaves:
                out += f" ({', '.join(leaves)})"
        return out

    def side(self, node: Node, *, first: bool) -> str:
        if isinstance(node, Num | BoolLit):
            return self.text(node)
        value = _fmt(_evaluate(node, self.ctx))
        return f"{self.text(node)} = {value}" if first else f"{value} = {self.text(node)}"

    def leaves(self, node: Node) -> list[str]:
        seen: dict[str, str] = {}
        for sub in _walk(node):
            label = sub.label() if isinstance(sub, _LEAVES) else ""
            if self.aliases and isinstance(sub, Name):
                label = canonical_name(label)
            if isinstance(sub, _LEAVES) and label not in seen:
                seen[label] = _fmt(_evaluate(sub, self.ctx))
        return [f"{k} = {v}" for k, v in seen.items()]

    def trend(self, node: Trend) -> str:
        ok, window = _trend_window(node, self.ctx)
        unit = node.per if node.count != 1 else node.per[:-1]
        label = self.text(node.target, node.per)
        current = _fmt(window[-1]) if window else "n/a"
        shown = " ".join(_fmt(v) for v in window)
        if len(window) > 8:
            shown = " ".join(
                [*(_fmt(v) for v in window[:3]), "...", *(_fmt(v) for v in window[-3:])]
            )
        detail = (
            f"{node.kind} {node.count} {unit}: {shown}" if window else f"{node.kind}: no history"
        )
        if len(window) < node.needed():
            detail += f" (only {len(window)} of {node.needed()} values)"
        elif node.kind == "plateau":
            detail += f"; relative range {_fmt(_relative_range(window))}"
            detail += " < " if ok else " >= "
            detail += _fmt(node.tolerance)
        return f"{label} = {current} ({detail})"


# --------------------------------------------------------------------------- public API


@dataclass(frozen=True)
class Condition:
    """A parsed breakpoint condition or watch expression.

    ``Condition("loss > 1")`` parses with the default vocabulary; use
    :func:`parse` to supply the names an engine knows.  Equality and hashing
    use ``source`` only.
    """

    source: str
    known: frozenset[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        allowed = DEFAULT_NAMES if self.known is None else frozenset(self.known)
        root = _Parser(self.source, allowed, self.known is not None).parse()
        object.__setattr__(self, "_root", root)

    @property
    def root(self) -> Node:
        """The syntax tree."""
        return self._root  # type: ignore[attr-defined, no-any-return]

    @property
    def is_predicate(self) -> bool:
        """True when the expression yields a bool (a breakpoint) rather than a number."""
        if isinstance(self.root, Name):
            return self.root.name == "nonfinite"
        return isinstance(self.root, _BOOLEAN_NODES)

    def evaluate(self, ctx: EvalContext) -> float | bool:
        """Arithmetic gives ``float``; comparisons and boolean logic give ``bool``."""
        return _evaluate(self.root, ctx)

    def is_true(self, ctx: EvalContext) -> bool:
        """Truth value (numbers: non-zero and not NaN); errors raise ConditionError."""
        return _truthy(self.evaluate(ctx))

    def closure(self, ctx: EvalContext) -> Callable[[], float | bool]:
        """The closures of :meth:`bound` without its safety net: on any failure
        they raise whatever happened; the caller re-runs :meth:`evaluate`."""
        return _closure(self.root, ctx)

    def bound(self, ctx: EvalContext) -> Callable[[], float | bool]:
        """``evaluate`` bound to ``ctx`` as nested closures, for evaluating every step.

        The tree is matched once here instead of at every call (watches are
        recorded at every step of a fast-forward, where the walk would cost
        more than the recording). Any failure re-runs the plain evaluator,
        which gives the same value or raises the same ``ConditionError``.
        """
        fast = self.closure(ctx)
        root = self.root

        def run() -> float | bool:
            try:
                return fast()
            except Exception:  # noqa: BLE001 - the plain evaluator reports it properly
                return _evaluate(root, ctx)

        return run

    def names(self) -> set[str]:
        """Base names used (``grad_norm`` for ``grad_norm[0]``, ``W`` for weights)."""
        return {n.name for n in _walk(self.root) if isinstance(n, _LEAVES)}

    def explain(self, ctx: EvalContext) -> str:
        """The values behind the result, e.g. ``grad_norm[0] = 12.3 > 10``."""
        return _Explainer(self.source, ctx, aliases=self.known is None).explain(self.root)

    def display(self) -> str:
        """The source with old names (``loss``, ``accuracy``) shown as the quantity they
        read here (``batch_loss``, or ``train_loss`` in a per-epoch trend)."""
        return self.source if self.known is not None else _renamed(self.source, self.root)

    def __str__(self) -> str:
        return self.source


def index_errors(condition: Condition, layer_shapes: Sequence[tuple[int, int]]) -> list[str]:
    """Layer and weight indices in ``condition`` that a network does not have.

    ``layer_shapes`` lists each layer's ``(inputs, units)``. Indices are
    fixed by the text and the shapes by the scenario, so a bad one is a
    mistake in the file, reported when it is checked, rather than a
    breakpoint that disables itself the first time it is evaluated.
    """
    n = len(layer_shapes)
    errors: list[str] = []
    for node in _walk(condition.root):
        if not isinstance(node, Indexed | Weight):
            continue
        if not -n <= node.layer < n:
            errors.append(
                f"{node.label()}: layer {node.layer} out of range, "
                f"the network has {n} layers (0..{n - 1})"
            )
            continue
        if isinstance(node, Weight):
            n_in, n_out = layer_shapes[node.layer % n]
            shape = (n_in, n_out) if node.name in ("W", "dW") else (n_out,)
            if len(node.index) != len(shape):
                continue  # the parser already requires the right number of indices
            for axis, (i, size) in enumerate(zip(node.index, shape, strict=True)):
                if not -size <= i < size:
                    errors.append(
                        f"{node.label()}: index {i} out of range for axis {axis} of "
                        f"{node.name}[{node.layer}], whose shape is "
                        f"{' x '.join(map(str, shape))} (0..{size - 1})"
                    )
    return errors


def parse(source: str, known: Iterable[str] | None = None) -> Condition:
    """Parse ``source``; ``known`` replaces the default vocabulary of names.

    Raises :class:`ConditionError` (with a 0-based column) on any syntax error
    or unknown name.
    """
    if not isinstance(source, str):
        raise TypeError(f"source must be a str, not {type(source).__name__}")
    return Condition(source, None if known is None else frozenset(known))
