"""Fuzzing the scenario loader: any input loads or raises ScenarioError, nothing else.

Three sources of input, over 5,000 cases in all:

* random documents with the scenario's shape (its sections and keys, their
  common misspellings and unknown keys) filled with random values: valid
  ones, and nan, inf, huge or negative numbers, empty and non-ASCII strings,
  lists, inline tables, dates; written by a small TOML writer below;
* the built-in scenarios' text, mutated: lines deleted, duplicated, replaced,
  values swapped or replaced, junk characters inserted, the text cut short;
* the same mutated text as a file's bytes (invalid UTF-8, NUL, a BOM), read
  with ``load_scenario``.

Whatever loads must also get through ``load_data()`` and ``train_config()``
raising nothing but ScenarioError (and, for small models, build a Session and
take one training step, as ``tui-trainer`` does when it opens a scenario).
No problem may be an "internal error" (the checker's own crash, caught).
"""

from __future__ import annotations

import json
import math
import re
import string
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui_trainer.engine.config import ACTIVATIONS, INITS, LOSSES, OPTIMIZERS
from tui_trainer.engine.session import Session, SessionError
from tui_trainer.scenario import (
    BREAKPOINT_PHASES,
    DTYPES,
    Scenario,
    ScenarioError,
    builtin_dir,
    builtin_names,
    load_scenario,
    parse_scenario,
)

MAX_LOAD_SAMPLES = 5000  # larger data sets are checked but not generated (speed)
MAX_SESSION_PARAMS = 50_000  # only small models are built and stepped

FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ------------------------------------------------------------------ a tiny TOML writer

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else toml_string(key)


def toml_string(s: str) -> str:
    # JSON escapes are TOML basic-string escapes; TOML also wants DEL escaped.
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


class Date(str):
    """A TOML local date, written bare."""


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        text = repr(v)
        return text if any(c in text for c in ".e") else text + ".0"
    if isinstance(v, Date):
        return str(v)
    if isinstance(v, str):
        return toml_string(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def toml_document(doc: dict[str, Any]) -> str:
    """Top-level scalars first, then one [table] per dict, [[array]] for lists of dicts."""
    lines = []
    tables = []
    for k, v in doc.items():
        if isinstance(v, dict):
            tables.append((k, v))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v) and len(v) % 2:
            tables.append((k, v))  # odd-length lists of tables as [[k]] (even: inline)
        else:
            lines.append(f"{toml_key(k)} = {toml_value(v)}")
    for name, body in tables:
        if isinstance(body, list):
            for item in body:
                lines.append(f"\n[[{toml_key(name)}]]")
                lines += [f"{toml_key(k)} = {toml_value(x)}" for k, x in item.items()]
            continue
        lines.append(f"\n[{toml_key(name)}]")
        subtables = []
        for k, v in body.items():
            if isinstance(v, list) and v and all(isinstance(x, dict) for x in v) and len(v) % 2:
                subtables.append((k, v))
            else:
                lines.append(f"{toml_key(k)} = {toml_value(v)}")
        for k, items in subtables:
            for item in items:
                lines.append(f"\n[[{toml_key(name)}.{toml_key(k)}]]")
                lines += [f"{toml_key(kk)} = {toml_value(x)}" for kk, x in item.items()]
    return "\n".join(lines) + "\n"


def test_toml_writer_round_trips() -> None:
    import tomllib

    doc = {
        "name": 'x\u00e9"\\\x01\x7f',
        "seed": -(2**63),
        "data": {"n_samples": 10**30, "noise": float("nan"), "when": Date("1979-05-27")},
        "model": {"layers": [{"units": 3}], "hidden": [1, 2.5, "a"]},
        "training": {"breakpoints": [{"condition": "loss > 1"}]},
        "top": [{"a": 1}, {"b": 2}],
        "weird key": {"k.k": float("-inf")},
    }
    back = tomllib.loads(toml_document(doc))
    assert back["name"] == doc["name"] and back["seed"] == doc["seed"]
    assert back["data"]["n_samples"] == 10**30 and math.isnan(back["data"]["noise"])
    assert back["model"]["layers"] == [{"units": 3}]
    assert back["training"]["breakpoints"] == [{"condition": "loss > 1"}]
    assert back["top"] == [{"a": 1}, {"b": 2}]
    assert back["weird key"]["k.k"] == float("-inf")


# ------------------------------------------------------------------ random values

_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)),  # TOML strings hold scalar values
    max_size=12,
)
_floats = st.one_of(
    st.sampled_from(
        [0.0, -0.0, 1.0, -1.0, 0.5, 1e-300, 5e-324, 1e308, -1e308, 1e20, float("nan")]
        + [float("inf"), float("-inf"), 0.999999, 1.0000001, 100.0, 100.00001]
    ),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-2, max_value=2),
)
_ints = st.one_of(
    st.sampled_from([0, 1, -1, 2, 3, 4, 10, 64, 65, 4096, 4097, 10**6, 10**6 + 1]),
    st.sampled_from([2**31, 2**63 - 1, -(2**63), 10**30, -(10**30)]),
    st.integers(min_value=-100, max_value=10_000),
    st.integers(),
)
_dates = st.dates().map(lambda d: Date(d.isoformat()))
scalars = st.one_of(_ints, _floats, _text, st.booleans(), _dates, st.just(""))
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(["units", "activation", "condition", "phase", "x", ""]),
            inner,
            max_size=3,
        ),
    ),
    max_leaves=8,
)


KINDS = ["xor", "circles", "gauss", "spiral", "moons", "linear", "sine", "polynomial"]
KINDS += ["surface", "plane", "circle", "blobs", "spirals"]
CONDITIONS = [
    "loss > 1",
    "val_loss rising for 5 epochs",
    "grad_norm[0] > 10",
    "epoch >= 3",
    "W[0][1,2] > 0.5",
    "update_ratio[1] < 1e-6",
    "loss != loss",
    "step >= 2 and loss < 100",
]
BAD_CONDITIONS = ["loss >", "", "((((", "grad_norm[99] > 1", "nope(loss)", "W[0][9,9] > 0"]
WATCHES = ["loss", "accuracy", "val_accuracy", "grad_norm[0]", "W[0][1,0]", "b[0][0]"]
BAD_WATCHES = ["nope(", "", "W[7][0,0]", "loss >"]
CSV_FILES = ["good.csv", "regress.csv", "bad_cells.csv", "header_only.csv", "one_col.csv"]
CSV_FILES += ["bom.csv", "missing.csv", "sub", "sub/../good.csv", "not a file \u00e9.csv"]


def edgy(good: st.SearchStrategy[Any], edges: list[Any]) -> st.SearchStrategy[Any]:
    """A plausible value, or (one time in ten) one on or past the edge of what is allowed."""
    return st.integers(0, 9).flatmap(lambda r: st.sampled_from(edges) if r == 0 else good)


def choice(good: list[str], odd: list[str]) -> st.SearchStrategy[str]:
    """An allowed name, or (one time in ten) an alias or misspelling."""
    return edgy(st.sampled_from(good), odd)


UNIT = edgy(st.integers(1, 12), [1, 0, -1, 4096, 4097])


@st.composite
def valid_data(draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from([*KINDS, *KINDS, "csv", "csv", "iris", "digits"]))
    d: dict[str, Any] = {"kind": kind}
    if kind in ("csv", "iris", "digits"):
        if kind == "csv":
            d["path"] = draw(st.sampled_from(CSV_FILES))
            if draw(st.booleans()):
                d["target"] = draw(choice(["label", "y", "a", "b"], ["nope", "", "0"]))
            if draw(st.integers(0, 3)) == 0:
                d["features"] = draw(st.lists(st.sampled_from(["a", "b", "c", "zz"]), max_size=3))
            if draw(st.integers(0, 3)) == 0:
                d["task"] = draw(st.sampled_from(["classification", "regression"]))
        if draw(st.booleans()):
            d["standardize"] = draw(st.booleans())
    else:
        if draw(st.integers(0, 4)):
            d["n_samples"] = draw(
                edgy(st.integers(4, 600), [3, 4, 5, 4999, 5000, 10**6, 10**6 + 1])
            )
        if draw(st.booleans()):
            d["noise"] = draw(edgy(st.floats(0, 1), [0.0, 1.0, 1.0000001, -0.0, 1e-320]))
        if kind in ("gauss", "spiral", "blobs", "spirals") and draw(st.booleans()):
            d["classes"] = draw(edgy(st.integers(2, 10), [0, 1, 2, 10, 11]))
        if kind == "polynomial" and draw(st.booleans()):
            d["degree"] = draw(edgy(st.integers(1, 20), [0, 1, 20, 21]))
    if draw(st.booleans()):
        d["val_fraction"] = draw(edgy(st.floats(0, 0.9), [0.0, 0.99, 0.999999, 1.0, 0.5]))
    return d


@st.composite
def valid_model(draw: Any) -> dict[str, Any]:
    m: dict[str, Any] = {}
    if draw(st.integers(0, 3)) == 0:
        m["layers"] = [
            {"units": draw(UNIT), "activation": draw(st.sampled_from(ACTIVATIONS))}
            for _ in range(draw(st.integers(0, 3)))
        ]
    elif draw(st.integers(0, 4)):
        m["hidden"] = draw(st.lists(UNIT, max_size=3))
    if draw(st.integers(0, 9) if "layers" in m else st.integers(0, 1)) == 1:
        m["activation"] = draw(choice(list(ACTIVATIONS), ["identity", "lrelu", "softmax"]))
    if draw(st.integers(0, 3)) == 0:
        m["output_activation"] = draw(st.sampled_from(ACTIVATIONS))
    if draw(st.booleans()):
        m["init"] = draw(choice(list(INITS), ["glorot", "kaiming"]))
    for key, hi in (
        ("init_std", 2.0),
        ("init_scale", 3.0),
        ("bias_init", 1.0),
        ("leaky_slope", 0.5),
    ):
        if draw(st.integers(0, 3)) == 0:
            m[key] = draw(edgy(st.floats(0.001, hi), [0.0, -0.0, 1e-300, 1e300, -1.0]))
    return m


@st.composite
def valid_training(draw: Any) -> dict[str, Any]:
    t: dict[str, Any] = {}
    if draw(st.integers(0, 2)) == 0:
        t["loss"] = draw(choice(list(LOSSES), ["ce", "bce"]))
    if draw(st.booleans()):
        t["optimizer"] = draw(choice(list(OPTIMIZERS), ["gd", "nesterov"]))
    if draw(st.booleans()):
        t["lr"] = draw(edgy(st.floats(1e-4, 10), [1e-300, 5e-324, 100.0, 100.0000001, 0.0]))
    for key in ("momentum", "beta1", "beta2"):
        if draw(st.integers(0, 3)) == 0:
            t[key] = draw(edgy(st.floats(0, 0.999), [0.0, 0.9999999999, 1.0, -0.0]))
    if draw(st.integers(0, 3)) == 0:
        t["eps"] = draw(edgy(st.floats(1e-12, 1e-2), [5e-324, 0.0, 1e300]))
    if draw(st.integers(0, 3)) == 0:
        t["l2"] = draw(edgy(st.floats(0, 0.1), [0.0, 1e300, -0.0]))
    if draw(st.booleans()):
        t["batch_size"] = draw(edgy(st.integers(1, 64), ["full", 1, 10**9, 0]))
    if draw(st.booleans()):
        t["epochs"] = draw(edgy(st.integers(1, 50), [1, 10**6, 10**6 + 1, 0]))
    if draw(st.integers(0, 3)) == 0:
        t["dtype"] = draw(choice(list(DTYPES), ["f32", "double", "float16"]))
    if draw(st.integers(0, 3)) == 0:
        t["history_steps"] = draw(edgy(st.integers(1, 2000), [1, 10**9]))
    if draw(st.integers(0, 2)) == 0:
        t["breakpoints"] = draw(
            st.lists(
                st.one_of(
                    st.sampled_from(CONDITIONS),
                    st.fixed_dictionaries(
                        {"condition": st.sampled_from(CONDITIONS)},
                        optional={
                            "phase": choice(list(BREAKPOINT_PHASES), ["fwd", "nope"]),
                            "enabled": st.booleans(),
                        },
                    ),
                ),
                max_size=3,
            )
        )
    if draw(st.integers(0, 2)) == 0:
        t["watches"] = draw(st.lists(st.sampled_from(WATCHES), max_size=3))
    return t


@st.composite
def valid_document(draw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if draw(st.booleans()):
        doc["name"] = draw(st.sampled_from(["fuzz", "x" * 300, "\u00e9 \u4e2d", "a/b"]))
    if draw(st.integers(0, 3)) == 0:
        doc["description"] = draw(_text)
    if draw(st.integers(0, 3)) == 0:
        doc["watch"] = draw(_text)
    if draw(st.booleans()):
        doc["seed"] = draw(edgy(st.integers(0, 1000), [0, 2**32 - 1, 2**32, 2**63 - 1, -1]))
    for name, strategy in (
        ("data", valid_data),
        ("model", valid_model),
        ("training", valid_training),
    ):
        if draw(st.integers(0, 9)):
            doc[name] = draw(strategy())
    return doc


MISSPELT = ["learning_rate", "batch", "units", "n_classes", "weight_decay", "samples", "zzz", ""]
SPOTS = [("",), ("data",), ("model",), ("training",)]


@st.composite
def scenario_documents(draw: Any) -> dict[str, Any]:
    """A valid-looking document with zero to three things wrong in it."""
    doc = draw(valid_document())
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        spot = draw(st.sampled_from(SPOTS))[0]
        table = doc if spot == "" else doc.get(spot)
        if not isinstance(table, dict):
            continue
        what = draw(st.sampled_from(["junk value", "edge", "unknown key", "drop", "section"]))
        keys = sorted(table)
        if what == "junk value" and keys:
            table[draw(st.sampled_from(keys))] = draw(junk)
        elif what == "edge" and keys:
            table[draw(st.sampled_from(keys))] = draw(scalars)
        elif what == "unknown key":
            table[draw(st.sampled_from(MISSPELT))] = draw(junk)
        elif what == "drop" and keys:
            del table[draw(st.sampled_from(keys))]
        elif what == "section" and spot:
            doc[spot] = draw(junk)
        elif what == "section":
            doc[draw(st.sampled_from(["breakpoints", "watches"]))] = draw(
                st.one_of(junk, st.lists(st.sampled_from(BAD_CONDITIONS + BAD_WATCHES), max_size=2))
            )
    return doc


# ------------------------------------------------------------------ the property


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small CSV files the random documents point at (relative paths)."""
    d = tmp_path_factory.mktemp("fuzz")
    rows = "\n".join(
        f"{i % 7 * 0.5},{(i * 3) % 5 - 2},{i % 3 - 1.5},{'ab'[i % 2]}" for i in range(40)
    )
    (d / "good.csv").write_text("a,b,c,label\n" + rows + "\n", encoding="utf-8")
    rows = "\n".join(f"{i * 0.1},{i * 0.37 % 1},{(i * 0.1) ** 2 + 0.123 * i}" for i in range(30))
    (d / "regress.csv").write_text("a,b,y\n" + rows + "\n", encoding="utf-8")
    (d / "bad_cells.csv").write_text("a,b,label\n1,x,0\n2,,1\n3,nan,0\n4,inf,1\n", encoding="utf-8")
    (d / "header_only.csv").write_text("a,b,label\n", encoding="utf-8")
    (d / "one_col.csv").write_text("label\n1\n2\n1\n2\n1\n", encoding="utf-8")
    (d / "bom.csv").write_bytes(b"\xef\xbb\xbfa,label\n1,0\n2,1\n3,0\n4,1\n5,0\n")
    (d / "sub").mkdir()
    return d


def _params(sc: Scenario, cfg: Any, n_features: int) -> int:
    total, fan_in = 0, n_features
    for layer in cfg.layers:
        total += (fan_in + 1) * layer.units
        fan_in = layer.units
    return total


def check_loaded(sc: Scenario, text: str) -> str:
    """Data and config raise only ScenarioError; small models train one step."""
    spec = sc.data
    if spec.kind == "digits" or (
        spec.kind not in ("csv", "iris") and spec.n_samples > MAX_LOAD_SAMPLES
    ):
        return "loaded"
    try:
        data = sc.load_data()
        cfg = sc.train_config(data)
    except ScenarioError as e:
        _no_internal_error(e, text)
        return "data error"
    if _params(sc, cfg, data.x_train.shape[1]) > MAX_SESSION_PARAMS:
        return "config"
    try:
        session = Session(cfg, data)
    except (SessionError, ValueError):  # reported as a ScenarioError by the command line
        return "session error"
    with np.errstate(all="ignore"):
        session.advance("step")  # a loaded scenario must be trainable without a crash
    assert session.step == 1 or session.nonfinite is not None
    return "trained"


def _no_internal_error(e: ScenarioError, text: str) -> None:
    assert e.problems, "a ScenarioError without problems"
    n_lines = text.count("\n") + 1
    for p in e.problems:
        assert "internal error" not in p.message, f"{p}\n--- input ---\n{text}"
        assert p.line is None or 1 <= p.line <= n_lines, f"{p}: line out of range\n{text}"
        assert str(p)  # formats


def load_text(text: str, source: Path) -> Scenario | None:
    try:
        return parse_scenario(text, source)
    except ScenarioError as e:
        _no_internal_error(e, text)
        return None


@settings(FUZZ, max_examples=2500)
@given(doc=scenario_documents())
def test_random_documents(doc: dict[str, Any], fuzz_dir: Path) -> None:
    text = toml_document(doc)
    sc = load_text(text, fuzz_dir / "fuzz.toml")
    if sc is not None:
        check_loaded(sc, text)


# ------------------------------------------------------------------ mutated built-ins

BUILTIN_TEXTS = {
    n: (builtin_dir() / f"{n}.toml").read_text(encoding="utf-8") for n in builtin_names()
}
ALL_LINES = sorted({ln for t in BUILTIN_TEXTS.values() for ln in t.splitlines()})
JUNK_CHARS = ["=", "[", "]", "{", "}", '"', "'", '"""', "#", ",", ".", "\\", "\n", "\t", " "]
JUNK_CHARS += ["\x00", "\ufeff", "\u00e9", "nan", "inf", "-", "1e999", "0x", "true", "\r\n", "\r"]
# Value-level changes most often: they reach the checks behind the TOML parser.
MUTATIONS = ["value"] * 4 + ["swap"] * 3 + ["delete"] * 2 + ["replace", "insert"]
MUTATIONS += ["duplicate", "junk", "cut"]
VALUE_RX = re.compile(r"^(\s*[A-Za-z0-9_\".-]+\s*=\s*)(.+)$")


@st.composite
def mutated_builtin(draw: Any) -> str:
    name = draw(st.sampled_from(sorted(BUILTIN_TEXTS)))
    lines = BUILTIN_TEXTS[name].splitlines()
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(MUTATIONS))
        if not lines:
            lines = [""]
        i = draw(st.integers(0, len(lines) - 1))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "replace":
            lines[i] = draw(st.sampled_from(ALL_LINES))
        elif op == "insert":
            lines.insert(i, draw(st.sampled_from(ALL_LINES)))
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            mi, mj = VALUE_RX.match(lines[i]), VALUE_RX.match(lines[j])
            if mi and mj:
                lines[i], lines[j] = mi.group(1) + mj.group(2), mj.group(1) + mi.group(2)
        elif op == "value":
            m = VALUE_RX.match(lines[i])
            if m:
                lines[i] = m.group(1) + toml_value(draw(junk))
        elif op == "junk":
            at = draw(st.integers(0, len(lines[i])))
            bit = draw(
                st.one_of(st.sampled_from(JUNK_CHARS), st.text(string.printable, max_size=3))
            )
            lines[i] = lines[i][:at] + bit + lines[i][at:]
        elif op == "cut":
            at = draw(st.integers(0, len(lines[i])))
            lines = lines[:i] + [lines[i][:at]]
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n"]))


@settings(FUZZ, max_examples=2500)
@given(text=mutated_builtin())
def test_mutated_builtins(text: str, fuzz_dir: Path) -> None:
    sc = load_text(text, fuzz_dir / "mutant.toml")
    if sc is not None:
        check_loaded(sc, text)


@settings(FUZZ, max_examples=400)
@given(
    text=mutated_builtin(),
    prefix=st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff", b"\x00"]),
    cut=st.integers(0, 4000),
    bad=st.sampled_from([b"", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00"]),
)
def test_mutated_files(text: str, prefix: bytes, cut: int, bad: bytes, fuzz_dir: Path) -> None:
    """As files: BOMs, invalid UTF-8 and NULs are problems too, not crashes."""
    raw = text.encode("utf-8")
    raw = prefix + raw[:cut] + bad + raw[cut:]
    path = fuzz_dir / "file.toml"
    path.write_bytes(raw)
    try:
        sc = load_scenario(path)
    except ScenarioError as e:
        _no_internal_error(e, raw.decode("utf-8", "replace"))
        return
    check_loaded(sc, text)


def test_builtins_survive_the_checks(fuzz_dir: Path) -> None:
    """The unmutated built-ins load and (except digits) train a step: the baseline."""
    outcomes = {}
    for name, text in BUILTIN_TEXTS.items():
        sc = parse_scenario(text, builtin_dir() / f"{name}.toml")
        outcomes[name] = check_loaded(sc, text)
    assert outcomes["digits"] == "loaded"
    assert all(v == "trained" for k, v in outcomes.items() if k != "digits"), outcomes
