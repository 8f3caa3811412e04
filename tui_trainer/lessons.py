"""Lessons: a scenario's ``[[lesson]]`` steps, how they are checked, and course progress.

A lesson walks a learner through a scenario one short step at a time (see
docs/lessons.md). This module holds the schema and its checks (called by the
scenario loader, so ``tui-trainer check`` reports lesson mistakes with
file:line like any other), the live side (quoting values in the narration,
``until`` conditions that fire when they *become* true, like breakpoints) and
the course progress file under ``$XDG_STATE_HOME/tui-trainer/``.

No UI imports here: the app's lesson panel (ui/widgets/lesson_panel.py) uses it.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_trainer.engine.atomic import write_text_atomic
from tui_trainer.engine.conditions import DEFAULT_NAMES, Condition, ConditionError, parse
from tui_trainer.engine.config import ACTIVATIONS, LOSSES, SCHEDULES
from tui_trainer.engine.session import SCHEDULE_FIELDS

#: The panels a step may ``show`` (the app's main panels).
LESSON_PANELS = ("matrix", "chart", "data", "debug")
#: Keys of one ``[[lesson]]`` table.
STEP_KEYS = ("say", "ask", "choices", "answer", "why", "do", "until", "set", "show")
#: What ``set`` may change. The hyperparameters apply from the next step, as
#: the h dialog does; the network's shape and loss (REBUILD_KEYS) cannot change
#: under trained weights, so they rebuild the session from the start, with the
#: same seed and data (see :func:`rebuild`).
HYPER_KEYS = ("lr", "momentum", "l2", "l1", "epochs", "optimizer", *SCHEDULE_FIELDS)
REBUILD_KEYS = ("hidden", "loss", "activation", "data")
#: What ``set = { data = {...} }`` may say: a generated data set (the lesson
#: switches problems, e.g. from a regression to a classification). Files
#: (csv) are not allowed here: a lesson's data is generated from its seed.
DATA_SET_KEYS = ("kind", "n_samples", "noise", "val_fraction", "classes", "degree")
MAX_LESSON_SAMPLES = 5000  # a lesson's data set stays small enough to watch
SET_KEYS = HYPER_KEYS + REBUILD_KEYS
OPTIMIZERS = ("sgd", "momentum", "adam")
MAX_HIDDEN_LAYERS = 8  # a lesson's network stays small enough to step through
MAX_HIDDEN_UNITS = 256
#: Extra names ``until`` and quoted values know besides the condition language's:
#: ``phase`` (the phase just run, -1 before any) compared with the phase names,
#: and ``layer`` (the layer just run, -1 when none).
PHASE_VALUES = {"FORWARD": 0.0, "LOSS": 1.0, "BACKPROP": 2.0, "UPDATE": 3.0}
#: The scale of training (engine/compute.py): this network's multiply-adds per
#: step and per run, the samples a run sees, and GPT-3's figures beside them.
SCALE_NAMES = (
    "macs_step",
    "macs_run",
    "samples_run",
    "gpt3_macs",
    "gpt3_tokens",
    "gpt3_usd",
    "gpt3_years",
    "year_seconds",
)
#: The last values of the run before the lesson's latest rebuild (``set`` of
#: hidden, loss or activation), so a step can set the two runs side by side:
#: ``{before_val_accuracy}`` beside ``{val_accuracy}``.
BEFORE_NAMES = {
    f"before_{n}": n for n in ("epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy")
}
LESSON_NAMES = (
    frozenset(DEFAULT_NAMES)
    | {"phase", "layer"}
    | set(PHASE_VALUES)
    | set(SCALE_NAMES)
    | set(BEFORE_NAMES)
)
MAX_STEPS = 200
MAX_TEXT = 600  # characters of say/ask/why: a step must fit the 80x24 lesson panel
MAX_CHOICES = 6
MAX_CHOICE_TEXT = 60
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class LessonStep:
    """One step of a lesson; every field but one of ``say``/``ask`` is optional."""

    say: str = ""
    ask: str = ""
    choices: tuple[str, ...] = ()
    answer: str = ""
    why: str = ""
    do: str = ""
    until: str = ""
    set: Mapping[str, Any] = field(default_factory=dict)
    show: str = ""
    line: int | None = None


def parse_lesson_condition(text: str) -> Condition:
    """A condition in the lesson vocabulary (raises ConditionError)."""
    return parse(text, known=LESSON_NAMES)


def placeholders(text: str) -> list[str]:
    """The ``{expression}`` quotes of a narration text (``{{`` and ``}}`` are literal braces)."""
    return [m.group(1) for m in _PLACEHOLDER.finditer(text.replace("{{", "").replace("}}", ""))]


def read_lesson(
    ck: Any, value: Any, prefix: str = "lesson", task: str | None = None
) -> list[LessonStep]:
    """Check a ``[[lesson]]`` array with the scenario loader's checker ``ck``
    (problems are collected there, with their lines) and return its steps.
    ``task`` (the data's, when known before loading it) lets a ``set`` of the
    loss be checked against the data."""
    form = "[[lesson]] tables, each with say or ask (see docs/lessons.md)"
    if isinstance(value, dict):
        ck.add(prefix, "expected an array of steps; write [[lesson]] (double brackets)", form)
        return []
    if not isinstance(value, list) or not value:
        ck.add(prefix, "expected a non-empty array of [[lesson]] steps", form)
        return []
    if len(value) > MAX_STEPS:
        ck.add(prefix, f"{len(value)} steps is too many", f"at most {MAX_STEPS} steps")
        return []
    steps: list[LessonStep] = []
    for i, item in enumerate(value):
        path = f"{prefix}[{i}]"
        if not isinstance(item, dict):
            ck.add(path, f"expected a [[lesson]] table, got {type(item).__name__}", form)
            continue
        before = len(ck.problems)
        ck.keys(item, path, STEP_KEYS)
        text = {k: _text(ck, item, path, k, MAX_TEXT) for k in ("say", "ask", "why", "do")}
        if not text["say"] and not text["ask"]:
            ck.add(path, "a step needs say (narration) or ask (a question)", "say or ask")
        choices = _choices(ck, item, path)
        answer = _text(ck, item, path, "answer", MAX_CHOICE_TEXT)
        if text["ask"]:
            for key, have in (("choices", choices), ("answer", answer), ("why", text["why"])):
                if not have:
                    ck.add(f"{path}.{key}", f"missing: a question (ask) needs {key}", key, at=path)
            if answer and choices and answer not in choices:
                ck.add(
                    f"{path}.answer",
                    f"the answer {answer!r} is not one of the choices",
                    "one of " + ", ".join(repr(c) for c in choices),
                )
        else:
            for key in ("choices", "answer", "why"):
                if key in item:
                    ck.add(f"{path}.{key}", f"{key} belongs to a question; add ask", "ask")
        for key in ("say", "ask", "why"):
            for expr in placeholders(text[key]):
                error = _condition_error(expr)
                if error:
                    ck.add(f"{path}.{key}", f"the quoted value {{{expr}}}: {error}", _QUOTE_HELP)
        until = _text(ck, item, path, "until", 200)
        if until:
            error = _condition_error(until)
            if error:
                ck.add(f"{path}.until", f"invalid condition {until!r}: {error}", _UNTIL_HELP)
        show = _text(ck, item, path, "show", 40)
        if show and show not in LESSON_PANELS:
            from tui_trainer.scenario import _suggest

            hint = _suggest(show, LESSON_PANELS)
            ck.add(
                f"{path}.show",
                f"unknown panel {show!r}" + (f"; did you mean '{hint}'?" if hint else ""),
                "one of " + ", ".join(LESSON_PANELS),
            )
        changes = _set(ck, item, path, task)
        if "data" in changes:  # later steps' losses are checked against the new data
            task = _generator(changes["data"]["kind"]).task
        if len(ck.problems) == before:
            steps.append(
                LessonStep(
                    say=text["say"],
                    ask=text["ask"],
                    choices=choices,
                    answer=answer,
                    why=text["why"],
                    do=text["do"],
                    until=until,
                    set=changes,
                    show=show,
                    line=ck.lines.get(path),
                )
            )
    return steps


_QUOTE_HELP = "an expression such as {train_loss}, {lr} or {dW[0][0,1]}"
_UNTIL_HELP = "a condition, e.g. phase == BACKPROP, epoch >= 20 (see docs/lessons.md)"


def _condition_error(text: str) -> str:
    try:
        parse_lesson_condition(text)
    except ConditionError as e:
        where = f" (column {e.column + 1})" if isinstance(e.column, int) else ""
        return f"{getattr(e, 'message', e)}{where}"
    return ""


def _text(ck: Any, item: Mapping[str, Any], path: str, key: str, limit: int) -> str:
    if key not in item:
        return ""
    value = item[key]
    if not isinstance(value, str) or not value.strip():
        ck.add(f"{path}.{key}", f"expected a non-empty string, got {value!r:.40}", "a string")
        return ""
    if len(value) > limit:
        ck.add(f"{path}.{key}", f"{len(value)} characters is too long", f"at most {limit}")
        return ""
    return value.strip()


def _choices(ck: Any, item: Mapping[str, Any], path: str) -> tuple[str, ...]:
    if "choices" not in item:
        return ()
    value = item["choices"]
    allowed = f"2 to {MAX_CHOICES} different short strings"
    ok = (
        isinstance(value, list)
        and 2 <= len(value) <= MAX_CHOICES
        and all(isinstance(c, str) and c.strip() and len(c) <= MAX_CHOICE_TEXT for c in value)
        and len(set(value)) == len(value)
    )
    if not ok:
        ck.add(f"{path}.choices", f"expected {allowed}, got {value!r:.60}", allowed)
        return ()
    return tuple(c.strip() for c in value)


def _set(ck: Any, item: Mapping[str, Any], path: str, task: str | None) -> dict[str, Any]:
    if "set" not in item:
        return {}
    value = item["set"]
    spath = f"{path}.set"
    if not isinstance(value, dict) or not value:
        ck.add(spath, "expected a table such as set = { lr = 5.0 }", "keys " + ", ".join(SET_KEYS))
        return {}
    ck.keys(value, spath, SET_KEYS)
    out: dict[str, Any] = {}
    if "data" in value:
        data = _set_data(ck, value["data"], f"{spath}.data")
        if data is not None:
            out["data"] = data
            task = _generator(data["kind"]).task
    for key, v in value.items():
        if key == "data":
            continue
        if key not in SET_KEYS:
            continue
        where = f"{spath}.{key}"
        number = isinstance(v, (int, float)) and not isinstance(v, bool)
        if key == "optimizer":
            if v in OPTIMIZERS:
                out[key] = v
            else:
                ck.add(where, f"unknown optimizer {v!r}", "one of " + ", ".join(OPTIMIZERS))
        elif key == "epochs":
            if isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1_000_000:
                out[key] = v
            else:
                ck.add(where, f"expected a whole number 1..1000000, got {v!r}", "1..1000000")
        elif key in ("loss", "activation"):
            allowed = LOSSES if key == "loss" else ACTIVATIONS
            if key == "loss" and task == "regression" and v != "mse":
                ck.add(where, f"loss {v!r} needs class labels; this data is a regression", "mse")
            elif v in allowed:
                out[key] = v
            else:
                ck.add(where, f"unknown {key} {v!r:.40}", "one of " + ", ".join(allowed))
        elif key == "hidden":
            units = _hidden(v)
            if units is None:
                ck.add(where, f"expected an array of layer sizes, got {v!r:.40}", _HIDDEN_HELP)
            else:
                out[key] = units
        elif key == "lr" and number and 0 < v <= 100 and math.isfinite(v):
            out[key] = float(v)
        elif key == "momentum" and number and 0 <= v < 1:
            out[key] = float(v)
        elif key in ("l2", "l1") and number and 0 <= v <= 10:
            out[key] = float(v)
        elif key == "schedule":
            if v in SCHEDULES:
                out[key] = v
            else:
                ck.add(where, f"unknown schedule {v!r:.40}", "one of " + ", ".join(SCHEDULES))
        elif key in ("warmup_epochs", "t_max") and _whole(v) and 0 <= v <= 1_000_000:
            out[key] = int(v)
        elif key == "step_size" and _whole(v) and 1 <= v <= 1_000_000:
            out[key] = int(v)
        elif key == "gamma" and number and 0 < v <= 1:
            out[key] = float(v)
        elif key == "min_lr" and number and 0 <= v <= 100 and math.isfinite(v):
            out[key] = float(v)
        else:
            rng = {
                "lr": "a number > 0 and <= 100",
                "momentum": "0 <= m < 1",
                "l2": "0..10",
                "l1": "0..10",
                "warmup_epochs": "a whole number 0..1000000",
                "t_max": "a whole number 0..1000000",
                "step_size": "a whole number 1..1000000",
                "gamma": "0 < gamma <= 1",
                "min_lr": "0..100",
            }
            ck.add(where, f"got {v!r:.40}", rng[key])
    return out


def _whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _generator(kind: str) -> Any:
    from tui_trainer.engine.data import GENERATORS

    return GENERATORS[kind]


def _set_data(ck: Any, value: Any, where: str) -> dict[str, Any] | None:
    """Check ``set = { data = { kind = ..., ... } }``: a generated kind and its
    parameters, each in range. Returns the checked table, None on a problem."""
    from tui_trainer.engine.data import GENERATORS

    kinds = ", ".join(sorted(GENERATORS))
    if not isinstance(value, dict):
        ck.add(where, 'expected a table such as data = { kind = "sine" }', "keys kind, ...")
        return None
    before = len(ck.problems)
    ck.keys(value, where, DATA_SET_KEYS)
    kind = value.get("kind")
    if not isinstance(kind, str) or kind not in GENERATORS:
        ck.add(f"{where}.kind", f"expected a generated data kind, got {kind!r:.40}", kinds)
        return None
    params = GENERATORS[kind].params
    out: dict[str, Any] = {"kind": kind}
    ranges: dict[str, tuple[type, float, float, str]] = {
        "n_samples": (int, 8, MAX_LESSON_SAMPLES, f"a whole number 8..{MAX_LESSON_SAMPLES}"),
        "noise": (float, 0.0, 1.0, "a number in [0, 1]"),
        "val_fraction": (float, 0.05, 0.5, "a number in [0.05, 0.5]"),
        "classes": (int, 2, 10, "a whole number 2..10"),
        "degree": (int, 1, 20, "a whole number 1..20"),
    }
    for key, v in value.items():
        if key not in ranges:
            continue
        if key in ("classes", "degree") and key not in params:
            ck.add(f"{where}.{key}", f"{kind!r} has no {key}", "parameters of " + kind)
            continue
        kind_of, low, high, allowed = ranges[key]
        whole = isinstance(v, int) and not isinstance(v, bool)
        number = whole or isinstance(v, float)
        ok = (whole if kind_of is int else number) and math.isfinite(v) and low <= v <= high
        if not ok:
            ck.add(f"{where}.{key}", f"got {v!r:.40}", allowed)
            continue
        out[key] = kind_of(v)
    return out if len(ck.problems) == before else None


_HIDDEN_HELP = (
    f"1 to {MAX_HIDDEN_LAYERS} whole numbers from 1 to {MAX_HIDDEN_UNITS}, e.g. hidden = [2]"
)


def _hidden(value: Any) -> tuple[int, ...] | None:
    ok = (
        isinstance(value, list)
        and 1 <= len(value) <= MAX_HIDDEN_LAYERS
        and all(
            isinstance(u, int) and not isinstance(u, bool) and 1 <= u <= MAX_HIDDEN_UNITS
            for u in value
        )
    )
    return tuple(value) if ok else None


def rebuild(session: Any, changes: Mapping[str, Any]) -> Any:
    """A new Session like ``session`` but with the hidden sizes, loss or
    activation in ``changes``: from the start (epoch 0), the same seed and
    data, the hyperparameters as they are now. Raises ValueError (with a
    sentence for the learner) when the change does not fit the data.

    A lesson uses it to set two networks side by side in time: the same
    problem with a network too small, then a big enough one.
    """
    from tui_trainer.engine.config import LayerSpec
    from tui_trainer.engine.session import Session

    cfg, data = session.cfg, session.data
    if "data" in changes:
        data = lesson_data(changes["data"], cfg.seed)
    loss = str(changes.get("loss", cfg.loss))
    classification = data.task == "classification"
    if loss != "mse" and not classification:
        raise ValueError(f"loss {loss!r} needs class labels; this data is a regression")
    if loss == "binary_cross_entropy" and data.n_classes != 2:
        raise ValueError(f"loss 'binary_cross_entropy' needs 2 classes, not {data.n_classes}")
    hidden = cfg.layers[:-1]
    activation = str(changes.get("activation", hidden[0].activation if hidden else "tanh"))
    units = changes.get("hidden", tuple(ly.units for ly in hidden))
    out = cfg.layers[-1]
    width = {"cross_entropy": data.n_classes, "binary_cross_entropy": 1}.get(loss, data.n_outputs)
    layers = (
        *(LayerSpec(int(u), activation) for u in units),
        LayerSpec(width, out.activation),
    )
    now = {k: v for k, v in session.hyperparameters().items() if hasattr(cfg, k)}
    return Session(cfg.with_changes(**now, layers=layers, loss=loss), data)


def lesson_data(spec: Mapping[str, Any], seed: int) -> Any:
    """The data set a lesson's ``set = { data = ... }`` asks for, generated and
    split with the scenario's seed like a scenario's own data."""
    from tui_trainer.engine import data as data_mod

    kind = str(spec["kind"])
    params = {k: spec[k] for k in ("classes", "degree") if k in spec}
    gen = data_mod.generate(
        kind, int(spec.get("n_samples", 200)), float(spec.get("noise", 0.0)), seed, **params
    )
    return data_mod.split(gen, float(spec.get("val_fraction", 0.2)), seed, gen.name or kind)


def describe_rebuild(session: Any, changes: Mapping[str, Any] | None = None) -> str:
    """What a rebuilt network is, for the lesson panel's note."""
    layers = session.cfg.layers
    sizes = ", ".join(str(ly.units) for ly in layers[:-1])
    act = layers[0].activation if len(layers) > 1 else "-"
    if changes and "data" in changes:
        data = session.data
        what = f"{data.n_classes} classes" if data.task == "classification" else "a regression"
        n = int(data.x_train.shape[0] + data.x_val.shape[0])
        return (
            f"The lesson switched to new data: {data.name or changes['data']['kind']} "
            f"({what}, {n} points), hidden [{sizes}] ({act}), loss {session.cfg.loss}. "
            "Training starts again at epoch 0, with the same seed."
        )
    return (
        f"The lesson rebuilt the network: hidden [{sizes}] ({act}), loss {session.cfg.loss}. "
        "Training starts again at epoch 0, with the same seed and data."
    )


# --------------------------------------------------------------------------
# The live side: values quoted in the text, until conditions
# --------------------------------------------------------------------------


class LessonContext:
    """An evaluation context that adds ``phase``, ``layer`` and the phase names
    to a session context (anything with ``scalar``/``weight``/... and ``s``)."""

    def __init__(self, inner: Any, before: Any = None) -> None:
        self.inner = inner
        self.before = before  # a context of the run before the last rebuild, or None

    def scalar(self, name: str) -> float:
        if name in PHASE_VALUES:
            return PHASE_VALUES[name]
        ev = self.inner.s.last_event
        if name == "phase":
            return float(ev.phase.value) if ev is not None else -1.0
        if name == "layer":
            return float(ev.layer) if ev is not None and ev.layer is not None else -1.0
        if name in SCALE_NAMES:
            return _scale(self.inner.s, name)
        if name in BEFORE_NAMES:
            if self.before is None:
                raise LookupError("no run before a rebuild yet")  # quoted as "-"
            return float(self.before.scalar(BEFORE_NAMES[name]))
        return float(self.inner.scalar(name))

    def __getattr__(self, name: str) -> Any:
        if name in ("layer_value", "weight", "series", "known_names"):
            return getattr(self.inner, name)
        raise AttributeError(name)


def _scale(session: Any, name: str) -> float:
    from tui_trainer.engine import compute

    if name.startswith("gpt3_") or name == "year_seconds":
        return {
            "gpt3_macs": compute.GPT3_MACS,
            "gpt3_tokens": compute.GPT3_TOKENS,
            "gpt3_usd": compute.GPT3_USD,
            "gpt3_years": compute.GPT3_YEARS_ONE_4090,
            "year_seconds": compute.SECONDS_PER_YEAR,
        }[name]
    step, run, samples = compute.session_counts(session)
    return float({"macs_step": step, "macs_run": run, "samples_run": samples}[name])


def number(v: float) -> str:
    """A value for a learner: 4 significant digits, thousands as 675,200, very
    large or very small ones as 2.33 x 10^17 rather than 2.33e+17."""
    if v != 0 and (abs(v) >= 1e7 or abs(v) < 1e-4):
        exponent = math.floor(math.log10(abs(v)))
        mantissa = v / 10**exponent
        if round(abs(mantissa), 2) >= 10:
            mantissa, exponent = mantissa / 10, exponent + 1
        return f"{mantissa:.3g} x 10^{exponent}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.4g}"


def fill(text: str, ctx: Any) -> str:
    """``text`` with each ``{expression}`` replaced by its value now (4 digits)."""

    def value(match: re.Match[str]) -> str:
        try:
            v = parse_lesson_condition(match.group(1)).evaluate(ctx)
        except Exception:  # noqa: BLE001 - not measured yet, an index out of range
            return "-"
        if isinstance(v, bool):
            return "true" if v else "false"
        if not math.isfinite(v):
            return "-" if math.isnan(v) else str(v)
        return number(v)

    parts = text.split("{{")
    out = []
    for part in parts:
        out.append("}".join(_PLACEHOLDER.sub(value, p) for p in part.split("}}")))
    return "{".join(out)


class Until:
    """An ``until`` condition with breakpoint edge semantics: it fires when it
    becomes true (false at the previous check, true now), never because it was
    already true when the step began."""

    def __init__(self, text: str) -> None:
        self.condition = parse_lesson_condition(text)
        self.was_true = False

    def _now(self, ctx: Any) -> bool:
        try:
            return self.condition.is_true(ctx)
        except Exception:  # noqa: BLE001 - a value not measured yet is not true
            return False

    def arm(self, ctx: Any) -> None:
        self.was_true = self._now(ctx)

    def check(self, ctx: Any) -> bool:
        now = self._now(ctx)
        fired = now and not self.was_true
        self.was_true = now
        return fired


class Lesson:
    """Where a learner is in a lesson's steps, and what they answered."""

    def __init__(self, title: str, steps: Iterable[LessonStep], number: int | None = None) -> None:
        self.title = title
        self.steps = list(steps)
        self.number = number
        self.index = 0
        self.answers: dict[int, str] = {}
        self.fired: set[int] = set()  # steps whose until condition fired

    @property
    def step(self) -> LessonStep:
        return self.steps[self.index]

    @property
    def done(self) -> bool:
        """The last step reached, its question answered and its until met."""
        return self.index >= len(self.steps)

    def waiting_answer(self) -> bool:
        return not self.done and bool(self.step.ask) and self.index not in self.answers

    def answer(self, choice: str) -> bool:
        """Record the learner's answer to this step's question; True if right."""
        self.answers[self.index] = choice
        return choice == self.step.answer


# --------------------------------------------------------------------------
# Course progress
# --------------------------------------------------------------------------


def progress_file() -> Path:
    """``$XDG_STATE_HOME/tui-trainer/course.json`` (beside the recovery folder)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "tui-trainer" / "course.json"


def load_progress() -> dict[str, Any]:
    """``{"completed": [numbers], "last": number}``; a missing or damaged file is a fresh start."""
    try:
        raw = json.loads(progress_file().read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {"completed": [], "last": 0}
    completed = raw.get("completed") if isinstance(raw, dict) else None
    last = raw.get("last") if isinstance(raw, dict) else None
    return {
        "completed": sorted(
            {n for n in completed or [] if isinstance(n, int) and not isinstance(n, bool)}
        )
        if isinstance(completed, list)
        else [],
        "last": last if isinstance(last, int) and not isinstance(last, bool) else 0,
    }


def save_progress(number: int, completed: bool) -> None:
    """Record that lesson ``number`` was opened (and completed), atomically."""
    data = load_progress()
    data["last"] = number
    if completed and number not in data["completed"]:
        data["completed"] = sorted([*data["completed"], number])
    path = progress_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(data, indent=1) + "\n")


def next_lesson(count: int) -> int:
    """The lesson to offer first: the first one not completed (1-based)."""
    done = set(load_progress()["completed"])
    for n in range(1, count + 1):
        if n not in done:
            return n
    return 1


def course_dir() -> Path:
    """The folder of the shipped lessons (scenario files with ``[[lesson]]``)."""
    return Path(__file__).parent / "scenarios" / "lessons"


def course_files() -> list[Path]:
    """The shipped lessons in course order (their names start with the number)."""
    return sorted(course_dir().glob("[0-9][0-9]_*.toml"))
