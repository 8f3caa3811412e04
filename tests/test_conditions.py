"""Tests for the breakpoint / watch expression language."""

from __future__ import annotations

import math
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui_trainer.engine import conditions as cond_module
from tui_trainer.engine.conditions import (
    DEFAULT_NAMES,
    BoolOp,
    Compare,
    Condition,
    ConditionError,
    DictContext,
    EvalContext,
    Not,
    parse,
)


def make_ctx(**overrides: object) -> DictContext:
    base: dict[str, object] = dict(
        scalars={
            "loss": 0.5,
            "val_loss": 0.412,
            "accuracy": 0.9,
            "val_accuracy": 0.85,
            "epoch": 7.0,
            "step": 700.0,
            "lr": 0.01,
            "batch": 3.0,
            "nonfinite": False,
        },
        layers={
            "grad_norm": [12.3, 0.5, 0.01],
            "weight_norm": [1.0, 2.0, 3.0],
            "update_ratio": [1e-3, 2e-3, 3e-3],
            "dead_fraction": [0.0, 0.25, 0.5],
            "act_mean": [0.1, 0.2, 0.3],
            "act_std": [1.0, 1.1, 1.2],
        },
        weights={
            "W": [np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4) * 10],
            "dW": [np.full((2, 3), 0.5), np.full((3, 4), -0.5)],
            "b": [np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0, 7.0])],
            "db": [np.zeros(3), np.ones(4)],
        },
        epoch_history={
            "val_loss": [0.3, 0.40, 0.401, 0.405, 0.41, 0.411, 0.412],
            "loss": [1.0, 0.8, 0.6, 0.5],
            "grad_norm": [[1, 2, 3], [3, 2, 1], [5, 5, 5]],
        },
        step_history={
            "loss": [0.5] * 10 + [0.5001],
            "grad_norm": [[10, 9, 8, 7, 6, 5], [1, 2], [1, 1]],
        },
    )
    base.update(overrides)
    return DictContext(**base)  # type: ignore[arg-type]


CTX = make_ctx()


def ev(source: str, ctx: DictContext = CTX, known: list[str] | None = None) -> float | bool:
    return parse(source, known).evaluate(ctx)


def error_of(source: str, known: list[str] | None = None) -> ConditionError:
    with pytest.raises(ConditionError) as info:
        parse(source, known)
    return info.value


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 + 2 * 3", 7.0),
        ("(1 + 2) * 3", 9.0),
        ("2 - 3 - 4", -5.0),
        ("8 / 4 / 2", 1.0),
        ("-2 * 3", -6.0),
        ("- -2", 2.0),
        ("+2", 2.0),
        ("2 * -3", -6.0),
        ("-(1 + 2)", -3.0),
        (".5", 0.5),
        ("1e-3", 1e-3),
        ("2.", 2.0),
        ("1.5E2", 150.0),
        ("abs(-3)", 3.0),
        ("log10(1000)", 3.0),
        ("max(1, 2) + min(1, 2)", 3.0),
        ("max(1 + 1, 3 * 1)", 3.0),
        ("true + 1", 2.0),
    ],
)
def test_arithmetic(source: str, expected: float) -> None:
    value = ev(source)
    assert isinstance(value, float) and not isinstance(value, bool)
    assert value == pytest.approx(expected)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 + 2 * 3 == 7", True),
        ("1 + 2 * 3 == 9", False),
        ("1 < 2", True),
        ("2 <= 2", True),
        ("3 > 4", False),
        ("4 >= 4", True),
        ("1 != 1", False),
        ("true", True),
        ("FALSE", False),
        ("True and not False", True),
        ("not not true", True),
        ("1 < 2 and 3 < 2", False),
        ("1 < 2 or 3 < 2", True),
        ("false and true or true", True),  # (false and true) or true
        ("true or true and false", True),  # true or (true and false)
        ("not 1 > 2 and 2 > 1", True),
    ],
)
def test_boolean(source: str, expected: bool) -> None:
    value = ev(source)
    assert isinstance(value, bool)
    assert value is expected


def test_not_binds_like_python() -> None:
    cond = parse("not a > 1 or b", known=["a", "b"])
    root = cond.root
    assert isinstance(root, BoolOp) and root.op == "or"
    assert isinstance(root.left, Not)
    assert isinstance(root.left.operand, Compare)
    for a in (0.0, 1.0, 2.0):
        for b in (0.0, 1.0):
            ctx = DictContext(scalars={"a": a, "b": b})
            assert cond.is_true(ctx) == bool(not a > 1 or b)


def test_and_binds_tighter_than_or() -> None:
    root = parse("a or b and a", known=["a", "b"]).root
    assert isinstance(root, BoolOp) and root.op == "or"
    assert isinstance(root.right, BoolOp) and root.right.op == "and"


def test_whitespace_is_insignificant() -> None:
    assert ev("  grad_norm [ 0 ]>10\t") is True
    assert ev("W [0] [1 , 2]") == 5.0


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("source", "column", "fragment"),
    [
        ("", 0, "empty condition"),
        ("   ", 0, "empty condition"),
        ("loss >", 6, "expected a number or name after '>'"),
        ("loss > ", 7, "expected a number or name after '>'"),
        ("loss > and 1", 7, "expected a number or name after '>', found 'and'"),
        ("loss > )", 7, "expected a number or name after '>', found ')'"),
        ("* 2", 0, "expected a number or name, found '*'"),
        ("(1 + 2", 0, "unclosed '('"),
        ("(1 + 2 3)", 7, "expected ')'"),
        ("1 + 2)", 5, "unbalanced ')'"),
        ("1 2", 2, "after a complete expression"),
        ("loss loss", 5, "after a complete expression"),
        ("vall_loss > 1", 0, "did you mean 'val_loss'"),
        ("loss > foo", 7, "unknown name 'foo'"),
        ("loss[0]", 0, "cannot be indexed"),
        ("grad_norm > 1", 0, "grad_norm[layer]"),
        ("W > 1", 0, "W[layer][row,col]"),
        ("W[0]", 4, "expected '['"),
        ("W[0][1]", 4, "W takes 2 indices"),
        ("b[0][1,2]", 4, "b takes 1 index"),
        ("grad_norm[1.5]", 10, "layer index must be a whole number"),
        ("grad_norm[x]", 10, "layer index must be a whole number"),
        ("grad_norm[0", 11, "expected ']'"),
        ("grad_norm[9999999999]", 10, "too large"),
        ("1 < 2 < 3", 6, "cannot be chained"),
        ("loss + 1 rising for 3 epochs", 0, "applies to a name"),
        ("(loss) * 2 falling for 3 steps", 0, "applies to a name"),
        ("loss > 1 rising for 3 epochs", 9, "applies to a name"),
        ("loss rising 3 epochs", 12, "expected 'for'"),
        ("loss rising for epochs", 16, "whole number"),
        ("loss rising for 3", 17, "expected 'epochs' or 'steps'"),
        ("loss rising for 3 days", 18, "expected 'epochs' or 'steps'"),
        ("loss rising for 0 epochs", 16, "at least 1"),
        ("loss plateau for 1 epochs", 17, "at least 2"),
        ("loss rising for 3 epochs within 0.1", 25, "only applies to 'plateau'"),
        ("loss plateau for 3 epochs within", 32, "expected a tolerance"),
        ("1 + not 2", 4, "'not' needs parentheses"),
        ("loss == not 2", 8, "'not' needs parentheses"),
        ("sqrt(2)", 0, "unknown function 'sqrt'"),
        ("max(1)", 0, "max() takes 2 arguments"),
        ("abs(1, 2)", 0, "abs() takes 1 argument"),
        ("abs(1 2)", 6, "expected ',' or ')'"),
        ("max(1,", 6, "expected a number or name after ','"),
        ("abs", 0, "is a function"),
        ("1e", 0, "malformed number"),
        ("1.2.3", 0, "malformed number"),
        ("2x", 0, "malformed number"),
        ("loss = 1", 5, "use '=='"),
        ("!loss", 0, "use 'not'"),
        ("a && b", 2, "use 'and'"),
        ("a || b", 2, "use 'or'"),
        ("2 ** 3", 2, "not supported"),
        ("loss $ 1", 5, "unexpected character '$'"),
        ("loss > 1 and", 12, "expected a number or name after 'and'"),
    ],
)
def test_parse_errors(source: str, column: int, fragment: str) -> None:
    err = error_of(source)
    assert err.column == column, err
    assert fragment in err.message
    assert isinstance(err, ValueError)
    assert str(err) == f"{err.message} at column {column}"
    lines = err.pretty(source).split("\n")
    assert len(lines) == 3
    assert lines[1] == " " * column + "^"
    assert lines[2] == err.message


def test_spec_example_message() -> None:
    err = error_of("loss > ")
    assert str(err) == "expected a number or name after '>' at column 7"


def test_pretty_aligns_with_tabs() -> None:
    source = "\tloss >"
    err = error_of(source)
    src_line, caret, _ = err.pretty(source).split("\n")
    assert src_line[caret.index("^") - 1] == ">"


def test_unknown_name_lists_known_names() -> None:
    err = error_of("vall_loss > 1")
    for name in DEFAULT_NAMES:
        assert name in err.message


def test_known_vocabulary_replaces_default() -> None:
    assert parse("foo + bar", known=["foo", "bar"]).evaluate(
        DictContext(scalars={"foo": 1, "bar": 2})
    ) == pytest.approx(3.0)
    err = error_of("loss > 1", known=["foo", "lost"])
    assert "unknown name 'loss'" in err.message
    assert "did you mean 'lost'" in err.message


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    for source in ("(" * 500 + "1" + ")" * 500, "-" * 2000 + "1", "+".join(["1"] * 2000)):
        with pytest.raises(ConditionError):
            parse(source)
    assert parse("(" * 50 + "1" + ")" * 50).evaluate(CTX) == 1.0
    assert parse("+".join(["1"] * 150)).evaluate(CTX) == 150.0


def test_error_pickles() -> None:
    err = error_of("loss >")
    again = pickle.loads(pickle.dumps(err))
    assert (again.message, again.column) == (err.message, err.column)


# --------------------------------------------------------------------------- evaluation


def test_scalars_and_layers() -> None:
    assert ev("loss") == 0.5
    assert ev("val_loss > 0.4") is True
    assert ev("grad_norm[0] > 10") is True
    assert ev("grad_norm[-1]") == 0.01
    assert ev("grad_norm[-3] == grad_norm[0]") is True
    assert ev("dead_fraction[2] >= 0.5 and act_std[1] > 1") is True
    assert ev("update_ratio[1] / update_ratio[0]") == pytest.approx(2.0)
    assert ev("log10(update_ratio[0]) < -2") is True


def test_weights() -> None:
    assert ev("W[0][1,2]") == 5.0
    assert ev("W[-1][2,3]") == 110.0
    assert ev("W[1][-1,-1]") == 110.0
    assert ev("dW[0][0,0] + dW[1][0,0]") == 0.0
    assert ev("b[0][2]") == 3.0
    assert ev("b[-1][-1]") == 7.0
    assert ev("db[1][0] == 1") is True


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("grad_norm[3] > 1", "out of range"),
        ("grad_norm[-4] > 1", "out of range"),
        ("W[2][0,0]", "out of range"),
        ("W[0][2,0]", "out of range"),
        ("W[0][0,3]", "out of range"),
        ("W[0][0,-4]", "out of range"),
        ("b[0][3]", "out of range"),
    ],
)
def test_runtime_index_errors(source: str, fragment: str) -> None:
    cond = parse(source)
    with pytest.raises(ConditionError) as info:
        cond.is_true(CTX)
    assert fragment in info.value.message
    assert info.value.column == 0
    assert info.value.pretty(source).split("\n")[1] == "^"


def test_runtime_unknown_name() -> None:
    ctx = DictContext(scalars={"loss": 1.0, "val_loss": 2.0})
    source = "1 < val_los"
    cond = parse(source, known=["loss", "val_los"])
    with pytest.raises(ConditionError) as info:
        cond.evaluate(ctx)
    assert info.value.column == 4
    assert "unknown name 'val_los'" in info.value.message
    assert "did you mean 'val_loss'" in info.value.message


def test_runtime_missing_history() -> None:
    with pytest.raises(ConditionError, match="no per-step history for 'lr'"):
        parse("lr rising for 2 steps").is_true(CTX)


def test_nan_follows_ieee() -> None:
    ctx = make_ctx(scalars={"loss": math.nan, "lr": 0.0, "nonfinite": True})
    assert ev("loss > 1", ctx) is False
    assert ev("loss < 1", ctx) is False
    assert ev("loss == loss", ctx) is False
    assert ev("loss != loss", ctx) is True
    assert math.isnan(ev("loss + 1", ctx))  # type: ignore[arg-type]
    assert parse("loss").is_true(ctx) is False
    assert parse("nan").is_true(ctx) is False
    assert parse("inf").is_true(ctx) is True
    assert ev("nan == nan") is False
    assert math.isnan(ev("max(nan, 1)"))  # type: ignore[arg-type]
    assert math.isnan(ev("min(1, loss)", ctx))  # type: ignore[arg-type]
    assert ev("nonfinite", ctx) is True
    assert ev("not nonfinite", ctx) is False
    assert ev("nonfinite") is False
    assert ev("nonfinite or loss > 1", ctx) is True


def test_division_by_zero_does_not_raise() -> None:
    assert ev("1 / 0") == math.inf
    assert ev("-1 / 0") == -math.inf
    assert ev("1 / -0") == -math.inf
    assert math.isnan(ev("0 / 0"))  # type: ignore[arg-type]
    assert math.isnan(ev("nan / 0"))  # type: ignore[arg-type]
    assert ev("loss / lr > 1e6", make_ctx(scalars={"loss": 1.0, "lr": 0.0})) is True
    assert ev("log10(0)") == -math.inf
    assert math.isnan(ev("log10(-1)"))  # type: ignore[arg-type]
    assert ev("log10(inf)") == math.inf
    assert math.isnan(ev("inf - inf"))  # type: ignore[arg-type]


def test_is_true_on_numbers() -> None:
    assert parse("loss").is_true(CTX) is True
    assert parse("loss - 0.5").is_true(CTX) is False


# --------------------------------------------------------------------------- trends


def series_ctx(epochs: list[float] | None = None, steps: list[float] | None = None) -> DictContext:
    return DictContext(
        scalars={"loss": 0.0},
        epoch_history={"loss": epochs or []},
        step_history={"loss": steps or []},
    )


def test_rising_needs_n_plus_one_values() -> None:
    cond = parse("loss rising for 5 epochs")
    assert cond.is_true(series_ctx([1, 2, 3, 4, 5, 6])) is True
    assert cond.is_true(series_ctx([9, 9, 1, 2, 3, 4, 5, 6])) is True  # only the tail counts
    assert cond.is_true(series_ctx([2, 3, 4, 5, 6])) is False  # not enough history
    assert cond.is_true(series_ctx([])) is False
    assert cond.is_true(series_ctx([1, 2, 3, 3, 5, 6])) is False  # flat step
    assert cond.is_true(series_ctx([1, 2, 3, math.nan, 5, 6])) is False


def test_falling_and_units() -> None:
    assert parse("loss falling for 3 epochs").is_true(series_ctx([4, 3, 2, 1])) is True
    assert parse("loss falling for 3 epochs").is_true(series_ctx([4, 3, 2, 2])) is False
    assert parse("loss falling for 1 epoch").is_true(series_ctx([2, 1])) is True
    # epochs and steps read different series
    ctx = series_ctx(epochs=[1, 2, 3], steps=[3, 2, 1])
    assert parse("loss rising for 2 epochs").is_true(ctx) is True
    assert parse("loss rising for 2 steps").is_true(ctx) is False
    assert parse("loss falling for 2 step").is_true(ctx) is True


def test_plateau() -> None:
    assert parse("loss plateau for 3 steps").is_true(series_ctx(steps=[5, 1, 1, 1.0005])) is True
    assert parse("loss plateau for 4 steps").is_true(series_ctx(steps=[5, 1, 1, 1.0005])) is False
    assert parse("loss plateau for 3 steps").is_true(series_ctx(steps=[1, 1.01, 1])) is False
    assert (
        parse("loss plateau for 3 steps within 0.02").is_true(series_ctx(steps=[1, 1.01, 1]))
        is True
    )
    assert parse("loss plateau for 3 steps").is_true(series_ctx(steps=[0, 0, 0])) is True
    assert parse("loss plateau for 3 steps").is_true(series_ctx(steps=[1, 1])) is False
    assert parse("loss plateau for 2 steps").is_true(series_ctx(steps=[math.nan] * 2)) is False
    assert parse("loss plateau for 2 steps").is_true(series_ctx(steps=[math.inf] * 2)) is False
    assert parse("loss plateau for 10 steps within 0.01").is_true(CTX) is True
    assert parse("loss plateau for 11 steps within 0.0001").is_true(CTX) is False


def test_layer_trends() -> None:
    assert parse("grad_norm[0] falling for 5 steps").is_true(CTX) is True
    assert parse("grad_norm[-3] falling for 5 steps").is_true(CTX) is True
    assert parse("grad_norm[0] falling for 6 steps").is_true(CTX) is False
    assert parse("grad_norm[1] rising for 2 epochs").is_true(CTX) is False
    assert parse("grad_norm[0] rising for 2 epochs").is_true(CTX) is True
    assert parse("grad_norm[2] plateau for 3 epochs").is_true(CTX) is True
    with pytest.raises(ConditionError, match="out of range"):
        parse("grad_norm[5] rising for 2 epochs").is_true(CTX)


def test_trends_combine() -> None:
    assert ev("val_loss rising for 5 epochs and loss falling for 3 epochs") is True
    assert ev("not val_loss rising for 5 epochs") is False
    assert ev("(val_loss rising for 6 epochs) or grad_norm[0] > 10") is True


# --------------------------------------------------------------------------- names / explain


def test_names() -> None:
    assert parse("1 + 2").names() == set()
    assert parse("loss > 2 * val_loss or nonfinite").names() == {"loss", "val_loss", "nonfinite"}
    assert parse("grad_norm[0] > 10 and W[1][0,0] < b[0][1]").names() == {"grad_norm", "W", "b"}
    assert parse("val_loss rising for 5 epochs").names() == {"val_loss"}
    assert parse("max(abs(dW[0][0,0]), db[0][0])").names() == {"dW", "db"}


def test_explain() -> None:
    assert parse("grad_norm[0] > 10").explain(CTX) == "grad_norm[0] = 12.3 > 10"
    assert parse("10 < grad_norm[0]").explain(CTX) == "10 < 12.3 = grad_norm[0]"
    text = parse("val_loss rising for 5 epochs").explain(CTX)
    assert text.startswith("val_loss = 0.412 (rising 5 epochs: 0.4 0.401 ")
    # the old name `loss` is shown as the quantity it reads: the last batch's loss
    assert parse("loss / lr").explain(CTX) == "batch_loss / lr = 50 (batch_loss = 0.5, lr = 0.01)"
    both = parse("grad_norm[0] > 10 and loss < 1").explain(CTX)
    assert both == "grad_norm[0] = 12.3 > 10; batch_loss = 0.5 < 1"
    # for `or`, only the parts that are true
    assert parse("loss > 1 or lr < 1").explain(CTX) == "lr = 0.01 < 1"
    assert "only 4 of 6 values" in parse("loss rising for 5 epochs").explain(CTX)
    plateau = parse("loss plateau for 10 steps within 0.01").explain(CTX)
    assert "plateau 10 steps" in plateau and "relative range" in plateau
    assert parse("nonfinite").explain(CTX) == "nonfinite = false"


# --------------------------------------------------------------------------- API details


def test_condition_value_semantics() -> None:
    a = Condition("loss > 1")
    b = parse("loss > 1")
    assert a == b and hash(a) == hash(b)
    assert str(a) == "loss > 1"
    assert a.is_predicate and not parse("loss * 2").is_predicate
    assert parse("nonfinite").is_predicate
    with pytest.raises(ConditionError):
        Condition("loss >")


def test_dict_context_is_an_eval_context() -> None:
    assert isinstance(CTX, EvalContext)
    assert {"loss", "grad_norm", "W", "b"} <= set(CTX.known_names())


def test_no_eval_and_no_ui_imports() -> None:
    text = Path(cond_module.__file__).read_text()
    assert not re.search(r"(?<![\w.])(eval|exec|compile)\s*\(", text)
    assert "literal_eval" not in text
    assert not re.search(r"^\s*(import|from)\s+(textual|rich|plotext)", text, re.M)


# --------------------------------------------------------------------------- properties


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_parse_only_raises_condition_error(source: str) -> None:
    try:
        parse(source)
    except ConditionError as err:
        assert 0 <= err.column <= len(source)


TOKENS = [
    *sorted(DEFAULT_NAMES),
    *("abs", "log10", "max", "min", "and", "or", "not", "true", "false", "nan", "inf"),
    *("rising", "falling", "plateau", "for", "within", "epochs", "steps"),
    *("0", "1", "2", "-1", "0.5", "1e-3", ".5", "3"),
    *("+", "-", "*", "/", "(", ")", "[", "]", ",", "<", "<=", ">", ">=", "==", "!="),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=14))
def test_token_soup_only_raises_condition_error(tokens: list[str]) -> None:
    source = " ".join(tokens)
    try:
        cond = parse(source)
    except ConditionError as err:
        assert 0 <= err.column <= len(source)
        return
    try:
        value = cond.evaluate(CTX)
        assert isinstance(value, bool | float)
        assert isinstance(cond.explain(CTX), str)
    except ConditionError as err:
        assert 0 <= err.column <= len(source)


# Literals are always float syntax, so Python computes in IEEE doubles in the same
# order as the condition evaluator (plain int literals would use exact big ints).
_float_literals = st.one_of(
    st.builds(lambda i, j: f"{i}.{j}", st.integers(0, 999), st.integers(0, 99)),
    st.builds(lambda i: f"{i}.", st.integers(0, 999)),
    st.builds(lambda j: f".{j}", st.integers(0, 999)),
    st.builds(lambda i, e: f"{i}e{e}", st.integers(0, 9), st.integers(-3, 3)),
    st.builds(lambda i, e: f"{i}.5E{e:+d}", st.integers(0, 9), st.integers(-3, 3)),
)


def _extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, st.sampled_from(["+", "-", "*", "/"]), children).map(" ".join),
        children.map(lambda s: f"({s})"),
        children.map(lambda s: f"-{s}"),
        children.map(lambda s: f"abs({s})"),
        st.tuples(st.sampled_from(["max", "min"]), children, children).map(
            lambda t: f"{t[0]}({t[1]}, {t[2]})"
        ),
    )


arithmetic = st.recursive(_float_literals, _extend, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(arithmetic)
def test_arithmetic_matches_python(source: str) -> None:
    value = parse(source).evaluate(CTX)
    assert isinstance(value, float)
    try:
        # The test generated `source` itself; eval is only used here, as an oracle.
        expected = eval(source, {"__builtins__": {}}, {"abs": abs, "max": max, "min": min})
    except ZeroDivisionError:
        return  # Python raises; the condition language gives inf/nan instead
    if math.isnan(expected):
        assert math.isnan(value)
    else:
        assert math.isclose(value, expected, rel_tol=1e-12, abs_tol=1e-300), source


# ------------------------------------------------ issue 12: one name per quantity


def test_old_names_are_shown_as_the_quantity_they_read() -> None:
    """`loss plateau for 20 epochs` read the epoch's mean training loss while the status
    line's `loss` was the last batch's: explanations now name which one."""
    assert parse("loss plateau for 3 epochs").explain(CTX).startswith("train_loss = 0.5 (")
    assert parse("loss rising for 2 steps").explain(CTX).startswith("batch_loss = ")
    assert parse("accuracy > 0.5").explain(CTX) == "batch_accuracy = 0.9 > 0.5"
    c = parse("loss plateau for 20 epochs within 0.01 and (accuracy < 0.7 or loss > 1)")
    assert c.display() == (
        "train_loss plateau for 20 epochs within 0.01 and (batch_accuracy < 0.7 or batch_loss > 1)"
    )
    assert parse("val_loss - loss").display() == "val_loss - batch_loss"
    # a vocabulary of one's own keeps its names as they are
    assert parse("loss > 1", known=["loss"]).display() == "loss > 1"
    assert parse("loss > 1", known=["loss"]).explain(CTX) == "loss = 0.5 > 1"


def test_new_names_read_batch_epoch_and_validation_values() -> None:
    from pilot import xor_session
    from tui_trainer.engine.context import SessionContext

    s = xor_session(epochs=3)
    s.run(lambda x: x.step >= 20)  # one epoch (16 steps) and 4 steps of the next
    ctx = SessionContext(s)
    h = s.history
    assert parse("batch_loss").evaluate(ctx) == h.steps.last("loss")
    assert parse("loss").evaluate(ctx) == h.steps.last("loss")
    assert parse("train_loss").evaluate(ctx) == h.epochs.last("loss")
    assert parse("batch_accuracy").evaluate(ctx) == parse("accuracy").evaluate(ctx)
    assert parse("train_accuracy").evaluate(ctx) == h.epochs.last("accuracy")
    assert parse("val_accuracy").evaluate(ctx) == h.epochs.last("val_accuracy")
    assert parse("train_loss").evaluate(ctx) != parse("batch_loss").evaluate(ctx)
    assert parse("batch_loss rising for 2 steps").evaluate(ctx) is parse(
        "loss rising for 2 steps"
    ).evaluate(ctx)
    with pytest.raises(ConditionError, match=r"no per-epoch history for 'batch_loss' \(train_loss"):
        parse("batch_loss rising for 2 epochs").evaluate(ctx)
    with pytest.raises(ConditionError, match=r"no per-step history for 'train_accuracy' \(batch_"):
        parse("train_accuracy plateau for 2 steps").evaluate(ctx)
