"""Command line: open the app, or list/check/run/trace headless.

Exit statuses: 0 success, 1 unexpected internal error (and ``find``: not
found), 2 bad input (scenario, arguments, checkpoint, an output path), 3
training became non-finite, 4 stopped at a breakpoint (``run --break``), 128+N
stopped by signal N (``run`` saves a checkpoint first).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from tui_trainer import __version__
from tui_trainer.safe_text import markup_safe, visible

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT, EXIT_NONFINITE, EXIT_BREAK = 0, 1, 2, 3, 4
EXIT_NOT_FOUND = 1  # find: the condition never became true
COMMANDS = (
    "open",
    "list",
    "check",
    "run",
    "find",
    "trace",
    "compare",
    "serve",
    "learn",
    "diagnose",
    "torch",
)

EPILOG = """\
examples:
  tui-trainer                      open the app on the default scenario (xor)
  tui-trainer lr_too_large         open a built-in scenario by name
  tui-trainer my.toml              open your own scenario file
  tui-trainer list                 built-in scenarios, one line each
  tui-trainer check my.toml        validate scenario files (exit 2 on errors)
  tui-trainer run xor --epochs 50 --metrics m.csv --save xor.npz
  tui-trainer run xor --resume xor.npz
  tui-trainer find lr_too_large "loss > 10" --json
  tui-trainer trace xor --steps 10 -o trace.npz
  tui-trainer compare xor --lr 0.01,0.3,3
  tui-trainer diagnose lr_too_large --json
"""


class InputError(Exception):
    """Bad input from the user: printed as one message, exit status 2."""


def say(text: object, *, err: bool = False) -> None:
    """Print a line the CLI shows: every message can carry text from a file
    (a scenario name, a key, a path, a CSV header), so control characters are
    made visible here, once, for everything the CLI prints."""
    print(visible(text, keep_newlines=True), file=sys.stderr if err else sys.stdout)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line plus usage, exit 2
        usage = self.format_usage()
        if usage.count("\n") > 3:  # many options: the error must not scroll away
            names = [
                str(a.metavar or a.dest)
                for a in self._actions
                if not a.option_strings and a.nargs != argparse.PARSER
            ]
            usage = f"usage: {self.prog} [options] {' '.join(names)} (--help lists them)\n"
        print(usage, end="", file=sys.stderr)
        say(f"{self.prog}: error: {message}", err=True)
        raise SystemExit(EXIT_INPUT)


def _number(conv: Any, what: str, ok: Any, rule: str) -> Any:
    """An argparse type: ``conv`` the text, then require ``ok(value)``."""

    def parse(text: str) -> Any:
        try:
            v = conv(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not ok(v):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text}")
        return v

    return parse


_positive_int = _number(int, "a whole number", lambda v: v >= 1, ">= 1")
_nonneg_int = _number(int, "a whole number", lambda v: v >= 0, ">= 0")
_positive_float = _number(
    float, "a number", lambda v: math.isfinite(v) and v > 0, "a positive finite number"
)
_nonneg_float = _number(
    float, "a number", lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0"
)


def _size(text: str) -> int:
    """An argparse type for ``--max-memory``: ``2G``, ``500M``, ``1048576``."""
    from tui_trainer.engine.memory import parse_size

    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


_MAX_MEMORY_HELP = "refuse scenarios estimated to need more (e.g. 2G, 500M; default: available)"


_SET_HELP = (
    "override a scenario setting, e.g. --set lr=0.3 --set model.hidden=[8,8] "
    '--set \'data.features=["x1","x1^2"]\' (repeatable; checked like the file)'
)


def _add_set(parser: argparse.ArgumentParser) -> None:
    """The --set option, the same for every command that opens a scenario."""
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", default=[], help=_SET_HELP)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="tui-trainer",
        description="A terminal step-through debugger for neural-network training.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"tui-trainer {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    o = sub.add_parser(
        "open",
        help="open the app (the default command)",
        description="Open the step-through debugger on a scenario (the default command: "
        "`tui-trainer xor` is `tui-trainer open xor`).",
    )
    o.add_argument(
        "scenario", nargs="?", default="xor", help="a built-in name or a .toml path (default xor)"
    )
    o.add_argument("--resume", metavar="CKPT", help="start from a checkpoint saved with ctrl+s")
    o.add_argument("--max-memory", type=_size, metavar="SIZE", help=_MAX_MEMORY_HELP)
    o.add_argument(
        "--mouse",
        action="store_true",
        help="clicks select a layer, a weight, a unit of the network picture or a panel "
        "(off by default: the terminal's own text selection keeps working; every click "
        "has a key)",
    )
    _add_set(o)

    le = sub.add_parser(
        "learn",
        help="the course: guided lessons on how a network learns",
        description="Open the course: a menu of lessons, each a guided walk through a "
        "built-in scenario. Progress is saved under $XDG_STATE_HOME/tui-trainer/ and the "
        "menu offers the first lesson not yet completed.",
    )
    le.add_argument(
        "lesson",
        nargs="?",
        type=_positive_int,
        help="open this lesson directly (1 is the first), without the menu",
    )
    le.add_argument("--max-memory", type=_size, metavar="SIZE", help=_MAX_MEMORY_HELP)

    sub.add_parser(
        "list",
        help="list the built-in scenarios",
        description="List the built-in scenarios, each with the first sentence of its lesson.",
    )

    c = sub.add_parser(
        "check",
        help="validate scenario files",
        description="Validate scenario files without training: every problem with its "
        "file:line, field and what is allowed (exit 2), and for a valid file the memory "
        "it needs.",
    )
    c.add_argument(
        "files", nargs="+", metavar="FILE", help="scenario .toml files or built-in names"
    )
    c.add_argument("--max-memory", type=_size, metavar="SIZE", help=_MAX_MEMORY_HELP)
    _add_set(c)

    r = sub.add_parser(
        "run",
        help="train headless with a progress bar",
        description="Train without the app (scripts, CI): a progress bar, then a summary. "
        "Exit 0 when training ends, 3 when it diverges (NaN/Inf), 4 at a breakpoint "
        "(--break), 2 for bad input; SIGTERM, SIGINT or SIGHUP save a checkpoint to "
        "resume from.",
    )
    r.add_argument("scenario", help="a built-in name or a .toml path")
    r.add_argument(
        "--epochs",
        type=_positive_int,
        help="override the number of epochs (with --resume: train on to this many)",
    )
    r.add_argument("--lr", type=_positive_float, help="override the learning rate")
    r.add_argument("--seed", type=_nonneg_int, help="override the seed (data and weights)")
    r.add_argument("--metrics", metavar="FILE", help="per-epoch metrics: .csv or .jsonl")
    r.add_argument("--save", metavar="CKPT", help="save a checkpoint at the end (.npz)")
    r.add_argument("--resume", metavar="CKPT", help="continue from a checkpoint")
    r.add_argument(
        "--break", dest="use_breaks", action="store_true", help="stop at breakpoints (exit 4)"
    )
    r.add_argument("--quiet", "-q", action="store_true", help="only the summary line")
    r.add_argument("--max-memory", type=_size, metavar="SIZE", help=_MAX_MEMORY_HELP)
    _add_set(r)

    fd = sub.add_parser(
        "find",
        help="the first step where a condition became true",
        description="Train headless from the start and print the first step, epoch, phase "
        "and layer where CONDITION became true (the pause `run --break` would stop at), "
        "with the values involved. Memory stays that of the step-back history, however "
        "long the run. Exit 0 found, 1 not found, 2 bad input.",
    )
    fd.add_argument("scenario", help="a built-in name or a .toml path")
    fd.add_argument(
        "condition",
        help="a breakpoint condition, e.g. 'loss > 10' or nonfinite (docs/conditions.md)",
    )
    fd.add_argument(
        "--phase",
        default="step",
        choices=("step", "epoch", "forward", "loss", "backward", "update", "any"),
        help="where the condition is checked (default step: after every step)",
    )
    fd.add_argument("--epochs", type=_positive_int, help="override the number of epochs")
    fd.add_argument("--lr", type=_positive_float, help="override the learning rate")
    fd.add_argument("--seed", type=_nonneg_int, help="override the seed (data and weights)")
    fd.add_argument("--json", action="store_true", help="print the result as one JSON object")
    fd.add_argument("--max-memory", type=_size, metavar="SIZE", help=_MAX_MEMORY_HELP)
    _add_set(fd)

    t = sub.add_parser(
        "trace",
        help="record the first N steps in full to an .npz",
        description="Record the first N training steps in full (inputs, outputs, loss, every "
        "weight and gradient) to an .npz, for checking against another framework; the keys "
        "are listed in the README.",
    )
    t.add_argument("scenario", help="a built-in name or a .toml path")
    t.add_argument("--steps", type=_positive_int, required=True, help="how many steps to record")
    t.add_argument("-o", "--output", required=True, metavar="FILE.npz", help="the .npz to write")
    t.add_argument("--max-memory", type=_size, metavar="SIZE", help=_MAX_MEMORY_HELP)
    _add_set(t)

    cmp_ = sub.add_parser(
        "compare",
        help="run one scenario with up to four values of one setting",
        description="Train one scenario with up to four values of one setting, in lockstep, "
        "and print a table of the results (learning rates by default).",
    )
    cmp_.add_argument("scenario", help="a built-in name or a .toml path")
    group = cmp_.add_mutually_exclusive_group()
    group.add_argument("--lr", type=_float_list, help="learning rates, e.g. 0.01,0.3,3 (default)")
    group.add_argument("--batch-size", type=_int_list, help="batch sizes, e.g. 1,10,100")
    group.add_argument("--l2", type=_float_list, help="L2 strengths, e.g. 0,0.001,0.01")
    group.add_argument("--l1", type=_float_list, help="L1 strengths, e.g. 0,0.001,0.01")
    group.add_argument("--momentum", type=_float_list, help="momentum values, e.g. 0,0.9")
    group.add_argument("--optimizer", type=_name_list, help="optimizers, e.g. sgd,momentum,adam")
    cmp_.add_argument("--epochs", type=_positive_int, help="epochs for every run")
    _add_set(cmp_)

    tc = sub.add_parser(
        "torch",
        help="train your own PyTorch model through the debugger (needs tui-trainer[torch])",
        description="Open the debugger app on your own PyTorch model: "
        "FILE is YOUR Python file and it is executed (as `python FILE` would, but not as "
        "__main__), then its function make() is called; make() returns a dict with model, "
        "loss_fn, optimizer, train (a pair (X, y) or a DataLoader) and optionally val, "
        "batch_size, epochs, seed, modules, depth, or a tuple (model, loss_fn, optimizer, "
        "train[, val]). Only run files you trust. With --headless (or when the output is "
        "not a terminal) it trains without the app: a line per epoch, then a summary; a "
        "NaN/Inf is reported at the module and phase that produced it. Exit 0 at the end, "
        "3 on divergence, 2 for a bad file or make().",
    )
    tc.add_argument("target", metavar="FILE.py[:make]", help="your file and its function")
    tc.add_argument(
        "--headless", action="store_true", help="train without the app (also when not a terminal)"
    )
    tc.add_argument("--steps", type=_positive_int, help="headless: stop after this many steps")
    tc.add_argument("--epochs", type=_positive_int, help="override the number of epochs")
    tc.add_argument("--quiet", "-q", action="store_true", help="only the summary line")

    dg = sub.add_parser(
        "diagnose",
        help="train headless and print what the diagnosis finds, with fixes",
        description="Train each scenario headless and print every finding of the diagnosis: "
        "its code, the layer, the step it was first seen, the evidence and one or two fixes "
        "(scenario fields with new values). Exit 0 whatever it finds, 2 for a bad file "
        "(the other files are still diagnosed).",
    )
    dg.add_argument(
        "scenarios", nargs="+", metavar="SCENARIO", help="built-in names or .toml paths"
    )
    dg.add_argument("--epochs", type=_positive_int, help="override the number of epochs")
    dg.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per finding and line (scenario, code, severity, layer, step, "
        "evidence, fixes, ...)",
    )
    dg.add_argument("--max-memory", type=_size, metavar="SIZE", help=_MAX_MEMORY_HELP)
    _add_set(dg)

    sv = sub.add_parser(
        "serve",
        help="serve the app to a web browser (needs tui-trainer[web])",
        description=(
            "Serve the app to a web browser: each browser tab runs its own copy. "
            "Open the URL printed at start; it carries a random token, without which "
            "the page and its websocket are refused (403), and the websocket must come "
            "from this server's own page (its Origin), so other web pages open in the "
            "browser cannot start or drive the app."
        ),
    )
    sv.add_argument(
        "scenario", nargs="?", default="xor", help="a built-in name or a .toml path (default xor)"
    )
    sv.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1: this machine only; "
        "anything else warns, since the token then crosses the network unencrypted)",
    )
    sv.add_argument("--port", type=_positive_int, default=8000, help="port (default 8000)")
    sv.add_argument(
        "--token",
        help="the access token, 16-256 of A-Z a-z 0-9 . _ ~ - (default: $TUI_TRAINER_TOKEN, "
        "else a new random one each start); other users can see command lines, "
        "so prefer the environment variable",
    )
    sv.add_argument(
        "--max-sessions",
        type=_positive_int,
        default=4,
        metavar="N",
        help="browser sessions (app processes) running at once; more are refused (default 4)",
    )
    _add_set(sv)
    return p


def _list_of(conv: Any, what: str) -> Any:
    def parse(text: str) -> list:
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not 1 <= len(items) <= 4:
            raise argparse.ArgumentTypeError(f"give one to four {what} separated by commas")
        return [conv(t) for t in items]

    return parse


def _optimizer_name(text: str) -> str:
    if text not in ("sgd", "momentum", "adam"):
        raise argparse.ArgumentTypeError(f"optimizer {text!r} is not one of sgd, momentum, adam")
    return text


_float_list = _list_of(_nonneg_float, "numbers")
_int_list = _list_of(_positive_int, "whole numbers")
_name_list = _list_of(_optimizer_name, "optimizer names")


# ------------------------------------------------------------------ loading
def open_scenario(arg: str, sets: Any = ()) -> Any:
    """A scenario name or path -> its checked Scenario, with the ``--set``
    overrides applied (scenario/overrides.py). Raises ScenarioError."""
    from tui_trainer.scenario import load_scenario, resolve_scenario
    from tui_trainer.scenario.overrides import apply_sets

    return apply_sets(load_scenario(resolve_scenario(arg)), list(sets or ()))


def _sets(args: argparse.Namespace) -> list[str]:
    return list(getattr(args, "set", None) or ())


def load(
    arg: str, seed: int | None = None, max_memory: int | None = None, sets: Any = ()
) -> tuple[Any, Any]:
    """A scenario name or path -> (Scenario, Session). Raises ScenarioError.

    ``sets`` are ``--set KEY=VALUE`` overrides. Refuses (before building the
    network) a scenario estimated to need more than ``max_memory`` bytes, or
    the available memory when that is None.
    """
    from tui_trainer.engine.session import Session, SessionError
    from tui_trainer.scenario import Problem, ScenarioError

    sc = open_scenario(arg, sets)
    if getattr(sc, "backend", "numpy") != "numpy":
        # Refused rather than silently trained with the NumPy engine.
        raise ScenarioError(
            [
                Problem(
                    sc.file,
                    "training.backend",
                    sc.line_of("training.backend"),
                    f'backend "{sc.backend}" runs from Python only so far '
                    "(tui_trainer.torch.scenario.session_from_scenario); the app and the "
                    "commands train with the NumPy engine",
                    '"numpy", or remove the key',
                )
            ]
        )
    if seed is not None:
        sc = dataclasses.replace(sc, seed=seed)
    data = sc.load_data()
    cfg = sc.train_config(data)
    check_memory(sc, cfg, data, max_memory)
    try:
        return sc, Session(cfg, data)
    except (SessionError, ValueError) as e:
        raise ScenarioError([Problem(sc.file, "data", None, str(e))]) from None


def check_memory(sc: Any, cfg: Any, data: Any, max_memory: int | None) -> Any:
    """The run's MemoryEstimate; ScenarioError (exit 2) if it does not fit.

    The limit is ``max_memory`` (``--max-memory``) or else the memory the
    system has available; the problem points at the setting behind the
    largest part of the estimate.
    """
    from tui_trainer.engine.memory import (
        FIELD_OF_PART,
        available_memory,
        estimate_memory,
        over_limit,
    )
    from tui_trainer.scenario import Problem, ScenarioError

    y = data.y_train
    est = estimate_memory(
        cfg,
        n_features=data.n_features,
        n_train=int(data.x_train.shape[0]),
        n_val=int(data.x_val.shape[0]),
        target_width=int(y.shape[1]) if y.ndim == 2 else 1,
    )
    if max_memory is not None:
        message = over_limit(est, max_memory, "--max-memory")
    else:
        message = over_limit(est, available_memory(), "the available memory")
    if message:
        where = FIELD_OF_PART[est.largest[0]]
        if where == "model.hidden" and "model.layers" in sc.lines:
            where = "model.layers"
        raise ScenarioError(
            [
                Problem(
                    sc.file,
                    where,
                    sc.line_of(where),
                    message,
                    "a smaller model, batch, data set or run, or a larger --max-memory",
                )
            ]
        )
    return est


def breakpoint_set(sc: Any) -> Any:
    from tui_trainer.engine.breakpoints import BreakpointSet

    bps = BreakpointSet()
    for spec in sc.breakpoints:
        bps.add(spec.condition, spec.phase, spec.enabled, spec.ignore, spec.every)
    return bps


# ------------------------------------------------------------------ commands
def cmd_list() -> int:
    from tui_trainer.scenario import builtin_dir, builtin_names, load_scenario

    names = builtin_names()
    width = max((len(n) for n in names), default=10)
    for name in names:
        try:
            sc = load_scenario(builtin_dir() / f"{name}.toml")
            desc = " ".join(sc.description.split())
            first = desc.split(". ")[0].rstrip(".")
        except Exception as e:  # noqa: BLE001 - a broken built-in is listed, not fatal
            first = f"(broken: {e})"
        say(f"{name:<{width}}  {first}")
    return EXIT_OK


def cmd_check(files: list[str], max_memory: int | None = None, sets: Any = ()) -> int:
    from tui_trainer.scenario import ScenarioError

    status = EXIT_OK
    for f in files:
        try:
            sc = open_scenario(f, sets)
            data = sc.load_data()
            cfg = sc.train_config(data)
            est = check_memory(sc, cfg, data, max_memory)
            say(f"{f}: ok, needs about {est.summary()}")
        except ScenarioError as e:
            say(e, err=True)
            status = EXIT_INPUT
    return status


def _epoch_rows(session: Any) -> list[dict[str, float]]:
    h = session.history.epochs
    rows = []
    for i in range(h.n):
        rows.append(
            {
                "epoch": i + 1,
                "step": int(h.data[i, h.index["step"]]),
                "loss": float(h.data[i, h.index["loss"]]),
                "val_loss": float(h.data[i, h.index["val_loss"]]),
                "accuracy": float(h.data[i, h.index["accuracy"]]),
                "val_accuracy": float(h.data[i, h.index["val_accuracy"]]),
            }
        )
    return rows


def write_metrics(session: Any, path: Path) -> None:
    from tui_trainer.engine.atomic import write_text_atomic

    rows = _epoch_rows(session)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        text = "".join(
            json.dumps(
                {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            )
            + "\n"
            for r in rows
        )
    elif path.suffix.lower() == ".csv":
        cols = ["epoch", "step", "loss", "val_loss", "accuracy", "val_accuracy"]
        lines = [",".join(cols)]
        for r in rows:
            lines.append(
                ",".join(
                    "" if isinstance(r[c], float) and math.isnan(r[c]) else repr(r[c]) for c in cols
                )
            )
        text = "\n".join(lines) + "\n"
    else:
        raise InputError(f"--metrics {path}: use a .csv or .jsonl file name")
    write_text_atomic(path, text)


def _fmt(value: float, spec: str = ".4g", measured: bool = True) -> str:
    """A metric for run's output: "-" before it was first measured (no epoch
    has ended yet), "n/a" when it is NaN or infinite (a diverged run)."""
    if not measured:
        return "-"
    return format(value, spec) if math.isfinite(value) else "n/a"


def _epoch_metrics(session: Any, sep: str = ", ", eq: str = " ") -> str:
    """The last epoch's train loss, validation loss (and accuracy), as run prints them."""
    h = session.history.epochs
    seen = h.n > 0
    out = (
        f"train_loss{eq}{_fmt(h.last('loss'), measured=seen)}{sep}"
        f"val_loss{eq}{_fmt(h.last('val_loss'), measured=seen)}"
    )
    if session.classification:
        out += f"{sep}val_accuracy{eq}{_fmt(h.last('val_accuracy'), '.1%', measured=seen)}"
    return out


def _check_outputs(args: argparse.Namespace) -> tuple[Path | None, Path | None]:
    """(metrics, save) paths, each checked writable before any training starts.

    Minutes of training must not end in a bad output path: a missing
    directory, a file where a directory should be, no permission.
    """
    from tui_trainer.engine.atomic import check_writable

    metrics = Path(args.metrics) if args.metrics else None
    save = Path(args.save) if args.save else None
    if metrics and metrics.suffix.lower() not in (".csv", ".jsonl", ".ndjson"):
        raise InputError(f"--metrics {metrics}: use a .csv or .jsonl file name")
    if metrics and save and metrics.resolve() == save.resolve():
        raise InputError(f"--metrics and --save name the same file {save}: give two files")
    for flag, path in (("--metrics", metrics), ("--save", save)):
        if path is None:
            continue
        try:
            check_writable(path)
        except OSError as e:
            raise InputError(f"{flag} {path}: cannot write there ({e.strerror or e})") from None
    return metrics, save


class _StopSignals:
    """SIGTERM, SIGINT and SIGHUP ask a headless run to stop at the next step.

    The handlers only record the signal; the training loop polls it every
    step, so the session is whole when it is saved. The previous handlers are
    restored on exit.
    """

    SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP")

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _StopSignals:
        import signal

        for name in self.SIGNALS:
            sig = getattr(signal, name, None)
            if sig is not None:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        for sig, old in self._old.items():
            signal.signal(sig, old)

    def _handle(self, signum: int, frame: object) -> None:
        if self.signum is None:
            self.signum = signum

    def requested(self) -> bool:
        return self.signum is not None


def _write_outputs(session: Any, sc: Any, metrics: Path | None, save: Path | None) -> list[str]:
    """Write the checkpoint, then the metrics; one failing never costs the other.

    Returns one message per output that could not be written.
    """
    from tui_trainer.engine.checkpoint import save_checkpoint

    failed = []
    if save is not None:
        try:
            save_checkpoint(session, save, sc.text)
        except OSError as e:
            failed.append(f"--save {save}: could not write it ({e.strerror or e})")
    if metrics is not None:
        try:
            write_metrics(session, metrics)
        except OSError as e:
            failed.append(f"--metrics {metrics}: could not write it ({e.strerror or e})")
    return failed


def _save_interrupted(session: Any, sc: Any, save: Path | None) -> tuple[Path | None, list[str]]:
    """Save an interrupted run: to ``save`` if given, else (or if that fails) to the
    recovery directory. Returns (where it was saved or None, what failed)."""
    from tui_trainer.engine.checkpoint import save_checkpoint
    from tui_trainer.recovery import recovery_path

    failed = []
    targets = [save] if save is not None else []
    targets.append(recovery_path(sc.name, sc.source, sc.text, prefix="run-"))
    for target in targets:
        try:
            if target is not save:
                target.parent.mkdir(parents=True, exist_ok=True)
            save_checkpoint(session, target, sc.text)
            return target, failed
        except OSError as e:
            where = e.filename or target
            failed.append(f"could not save a checkpoint to {target} ({where}: {e.strerror or e})")
    return None, failed


def _drop_resumed(args: argparse.Namespace, kept: Path) -> None:
    """Delete the run's own kind of recovery file it resumed from, once its work
    is saved in ``kept``: recovery files of interrupted runs do not pile up.
    Only ``run-*.npz`` in the recovery directory; any other checkpoint is the user's."""
    from tui_trainer.recovery import discard, state_dir

    if not args.resume:
        return
    resumed = Path(args.resume)
    with contextlib.suppress(OSError):
        if (
            resumed.name.startswith("run-")
            and resumed.suffix == ".npz"
            and resumed.parent.resolve() == state_dir().resolve()
            and resumed.resolve() != kept.resolve()
        ):
            discard(resumed)


def _resume_command(args: argparse.Namespace, checkpoint: Path) -> str:
    """The command that continues an interrupted run with the same options."""
    parts = ["tui-trainer", "run", args.scenario, "--resume", str(checkpoint)]
    for flag, value in (
        ("--epochs", args.epochs),
        ("--lr", args.lr),
        ("--seed", args.seed),
        ("--metrics", args.metrics),
        ("--save", args.save),
    ):
        if value is not None:
            parts += [flag, str(value)]
    parts += ["--break"] if args.use_breaks else []
    parts += ["--quiet"] if args.quiet else []
    import shlex

    return shlex.join(parts)


def _say(*lines: str) -> None:
    """Print to stderr; a terminal that hung up (EIO) or a closed pipe is no error."""
    for line in lines:
        try:
            print(visible(line, keep_newlines=True), file=sys.stderr, flush=True)
        except (OSError, ValueError):
            return


def cmd_run(args: argparse.Namespace) -> int:
    import signal

    from tui_trainer.engine.checkpoint import load_checkpoint

    sc, session = load(args.scenario, args.seed, args.max_memory, _sets(args))
    metrics_path, save_path = _check_outputs(args)
    if args.resume:
        load_checkpoint(session, args.resume)
        if session.finished and (args.epochs is None or args.epochs <= session.epoch):
            say(
                f"tui-trainer: {args.resume} has finished all {session.epochs} epochs: nothing "
                f"left to train; pass --epochs N (more than {session.epoch}) to train on",
                err=True,
            )
    if args.epochs is not None:
        if args.resume and args.epochs < session.epoch:
            raise InputError(
                f"--epochs {args.epochs}: the checkpoint is already at epoch {session.epoch}"
            )
        session.set_hyper(epochs=args.epochs)
    if args.lr is not None:
        session.set_hyper(lr=args.lr)
    from tui_trainer.engine.breakpoints import BreakpointSet, Trap

    trap = Trap(breakpoint_set(sc) if args.use_breaks else BreakpointSet(), session)

    # From here until the outputs are written, a stop signal never loses work:
    # training stops at the next step and is saved, and the final writes finish.
    with _StopSignals() as stop:
        reason, rate = _train(args, sc, session, trap, stop)
        if stop.signum is not None:
            return _interrupted(args, sc, session, stop.signum, metrics_path, save_path)
        failed = _write_outputs(session, sc, metrics_path, save_path)
        if save_path is not None and not any(m.startswith("--save") for m in failed):
            _drop_resumed(args, save_path)
    summary = (
        f"{sc.name}: {session.epoch}/{session.epochs} epochs done, step {session.step}, "
        f"{_epoch_metrics(session)} ({rate:,.0f} steps/s)"
    )
    for message in failed:
        say(f"tui-trainer: {message}", err=True)
    if stop.signum is not None:  # arrived while the finished run was written: all kept
        say(summary)
        _say(f"tui-trainer: {signal.Signals(stop.signum).name} after the run finished")
        return 128 + stop.signum
    if reason.kind == "diverged":
        from tui_trainer.engine.advice import divergence_advice, findings_advice
        from tui_trainer.engine.diagnostics import diagnose
        from tui_trainer.engine.layer_view import is_dense

        nf = session.nonfinite
        where = nf.phase.label + ("" if nf.layer is None else f" layer {nf.layer + 1}")
        # The advice is the diagnosis's (what the debug panel and `diagnose` say);
        # the diagnosis reads the NumPy engine's layers.
        advice = (
            findings_advice(diagnose(session), details=f"tui-trainer diagnose {args.scenario}")
            if is_dense(session)
            else divergence_advice(nf, session.cfg)
        )
        say(
            f"{sc.name}: training became non-finite ({nf.what}) in epoch {session.epoch + 1} "
            f"({session.epoch} of {session.epochs} epochs done), step {nf.step}, phase {where}. "
            f"{advice}",
            err=True,
        )
        say(summary)
        return EXIT_INPUT if failed else EXIT_NONFINITE
    say(summary)
    if failed:
        return EXIT_INPUT
    if reason.kind == "predicate" and trap.hit is not None:
        say(f"stopped at breakpoint '{trap.hit.breakpoint.source}': {trap.hit.explanation}")
        return EXIT_BREAK
    return EXIT_OK


def _train(
    args: argparse.Namespace, sc: Any, session: Any, trap: Any, stop: Any
) -> tuple[Any, float]:
    """Train with the progress bar until the end, a breakpoint, divergence or a
    stop signal; returns the session's StopReason and the steps per second."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    t0 = time.perf_counter()
    steps0 = session.step
    reason = None
    try:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("epoch {task.completed:.0f}/{task.total:.0f}"),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=args.quiet,
            transient=False,
        ) as progress:
            task = progress.add_task(
                markup_safe(sc.name), total=session.epochs, completed=session.epoch, info=""
            )
            while True:
                reason = trap.run(session, max_steps=200, should_stop=stop.requested)
                elapsed = max(1e-9, time.perf_counter() - t0)
                info = (
                    _epoch_metrics(session, sep=" ", eq=" ").replace("_", " ")
                    + f" {(session.step - steps0) / elapsed:,.0f} steps/s"
                )
                progress.update(task, completed=session.epoch, info=info)
                if reason.kind != "limit" or stop.requested():
                    break
    except OSError:
        if not stop.requested():  # a hung-up terminal (EIO) while drawing: we are stopping
            raise
    if reason is None:  # the terminal failed before the first chunk
        from tui_trainer.engine.session import StopReason

        reason = StopReason("cancelled")
    return reason, (session.step - steps0) / max(1e-9, time.perf_counter() - t0)


def _interrupted(
    args: argparse.Namespace,
    sc: Any,
    session: Any,
    signum: int,
    metrics: Path | None,
    save: Path | None,
) -> int:
    """Save an interrupted run, say where and how to resume it; exit 128+signal."""
    import signal

    name = signal.Signals(signum).name
    if session.position == 0:
        _say(f"tui-trainer: interrupted by {name} before any training; nothing to save")
        return 128 + signum
    here = f"epoch {session.epoch + 1}, step {session.step}"
    saved_to, failed = _save_interrupted(session, sc, save)
    if saved_to is None:
        _say(
            *(f"tui-trainer: {m}" for m in failed),
            f"tui-trainer: interrupted by {name} at {here}; the run was NOT saved",
        )
        return 128 + signum
    failed += _write_outputs(session, sc, metrics, None)
    _drop_resumed(args, saved_to)
    _say(
        *(f"tui-trainer: {m}" for m in failed),
        f"tui-trainer: interrupted by {name} at {here}; saved a checkpoint to {saved_to}",
        f"resume with: {_resume_command(args, saved_to)}",
    )
    return 128 + signum


def cmd_find(args: argparse.Namespace) -> int:
    """``find``: run forward to the first pause where the condition becomes true."""
    from tui_trainer.engine.conditions import ConditionError, parse
    from tui_trainer.engine.reverse import find

    try:
        condition = parse(args.condition)
    except ConditionError as e:
        raise InputError(f"condition {args.condition!r}: {e.message}") from None
    sc, session = load(args.scenario, args.seed, args.max_memory, _sets(args))
    if args.epochs is not None:
        session.set_hyper(epochs=args.epochs)
    if args.lr is not None:
        session.set_hyper(lr=args.lr)
    try:
        pause, outcome = find(session, condition, args.phase)
    except ConditionError as e:
        raise InputError(f"condition {args.condition!r}: {e.message}") from None
    result: dict[str, Any] = {
        "scenario": sc.name,
        "condition": condition.source,
        "phase": args.phase,
        "found": pause is not None,
        "outcome": outcome,
    }
    if pause is not None:
        result.update(
            position=pause.position,
            step=pause.step,
            epoch=pause.epoch + 1,
            steps_done=pause.steps_done,
            at=pause.phase,
            layer=None if pause.layer is None else pause.layer + 1,
            explanation=pause.explanation,
            values={k: (v if math.isfinite(v) else str(v)) for k, v in pause.values.items()},
        )
    else:
        result.update(steps_done=session.step, epochs_done=session.epoch)
    if args.json:
        say(json.dumps(result))
    elif pause is not None:
        say(
            f"{sc.name}: '{condition.source}' became true at {pause.where()} "
            f"({pause.steps_done} steps done): {pause.explanation}"
        )
    else:
        end = (
            f"training diverged at step {session.nonfinite.step}"
            if session.nonfinite is not None
            else f"{session.epoch}/{session.epochs} epochs done, step {session.step}"
        )
        say(f"{sc.name}: '{condition.source}' never became true ({end})")
    return EXIT_OK if pause is not None else EXIT_NOT_FOUND


def cmd_trace(args: argparse.Namespace) -> int:
    import shutil

    from tui_trainer.engine.atomic import atomic_writer
    from tui_trainer.engine.memory import format_bytes
    from tui_trainer.engine.session import config_to_dict
    from tui_trainer.engine.trace import (
        TRACE_FORMAT,
        TRACE_KEYS,
        NpzStream,
        estimate_trace_bytes,
        record_trace,
    )

    sc, s = load(args.scenario, max_memory=args.max_memory, sets=_sets(args))
    output = Path(args.output)
    need = estimate_trace_bytes(s, args.steps)
    try:
        free = shutil.disk_usage(output.parent if str(output.parent) else ".").free
    except OSError:
        free = None  # a missing directory is reported when the file is created
    if free is not None and need > free:
        raise InputError(
            f"-o {output}: {args.steps:,} steps of {sc.name} need about {format_bytes(need)} "
            f"(every step's weights and gradients) but the disk has {format_bytes(free)} free; "
            "trace fewer --steps"
        )
    meta = {
        "scenario": sc.name,
        "config": config_to_dict(s.cfg),
        "task": s.data.task,
        "n_classes": s.data.n_classes,
        "format": TRACE_FORMAT,
        "keys": TRACE_KEYS,
    }
    # Streamed: each array goes to the (temporary) file as it is recorded.
    with atomic_writer(output) as f:
        stream = NpzStream(f)
        recorded = record_trace(s, args.steps, stream, meta)
        stream.close()
    say(f"{args.output}: {recorded} steps of {sc.name}")
    if recorded < args.steps:
        say(f"training ended or diverged after {recorded} steps", err=True)
        return EXIT_NONFINITE if s.nonfinite is not None else EXIT_OK
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    from rich.console import Console

    from tui_trainer.engine.compare import format_table, make_runs, run_lockstep

    param, values = "lr", args.lr
    for name in ("batch_size", "l2", "l1", "momentum", "optimizer"):
        if getattr(args, name) is not None:
            param, values = name, getattr(args, name)
    if values is None:
        values = [0.01, 0.3, 3.0]
    if param == "lr" and any(v <= 0 for v in values):
        raise InputError("--lr values must be > 0")
    sc, session = load(args.scenario, sets=_sets(args))
    try:
        runs = make_runs(session.cfg, session.data, param, values)
    except ValueError as e:
        raise InputError(str(e)) from None
    err = Console(stderr=True)
    total = args.epochs or session.epochs

    def on_epoch(e: int) -> None:
        if err.is_terminal:
            err.print(f"epoch {e}/{total}", end="\r", highlight=False)

    run_lockstep(runs, epochs=args.epochs, on_epoch=on_epoch)
    if err.is_terminal:
        err.print(" " * 20, end="\r")
    say(f"{sc.name}: {param} compared over {total} epochs")
    say(format_table(runs))
    return EXIT_OK


def cmd_diagnose(args: argparse.Namespace) -> int:
    """Train each scenario headless, diagnosing on a schedule; print the findings.

    Layers are numbered from 1 as on screen (null: the whole network); ``step``
    is where the evidence begins and ``seen_step`` the step count at which a
    scheduled check first reported it.
    """
    from tui_trainer.engine.diagnostics import fix_label
    from tui_trainer.engine.diagnostics.headless import run_diagnosed
    from tui_trainer.scenario import ScenarioError

    status = EXIT_OK
    for arg in args.scenarios:
        try:
            sc, session = load(arg, None, args.max_memory, _sets(args))
        except ScenarioError as e:
            say(e, err=True)
            status = EXIT_INPUT
            continue
        if args.epochs is not None:
            session.set_hyper(epochs=args.epochs)
        result = run_diagnosed(session)
        if not args.json:
            end = "diverged" if result.diverged else f"{result.epochs} epochs"
            n = len(result.findings)
            say(f"{arg}: {n or 'no'} finding{'' if n == 1 else 's'} ({end}, {result.steps} steps)")
        for f in result.findings:
            layer = None if f.layer is None else f.layer + 1
            if args.json:
                record = {
                    "scenario": arg,
                    "code": f.code,
                    "severity": f.severity,
                    "layer": layer,
                    "step": f.step,
                    "seen_step": result.seen_at(f),
                    "epoch": f.epoch + 1,
                    "title": f.title,
                    "evidence": f.evidence,
                    "advice": f.advice,
                    "fixes": [dict(x) for x in f.fixes],
                }
                say(json.dumps(record, ensure_ascii=False))
                continue
            where = "" if layer is None else f" layer {layer},"
            say(
                f"  {f.code} ({f.severity}):{where} from step {f.step}, "
                f"seen at step {result.seen_at(f)}"
            )
            say(f"    {f.evidence}")
            if f.fixes:
                say("    try: " + " | ".join(fix_label(x) for x in f.fixes))
    return status


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the app behind a token, an Origin check and a session limit (tui_trainer.web)."""
    try:
        from tui_trainer import web
    except ImportError:
        raise InputError("serve needs the web extra: pip install 'tui-trainer[web]'") from None
    import os

    token, source = args.token, "--token"
    if token is None:
        token, source = os.environ.get(web.TOKEN_ENV) or web.new_token(), f"${web.TOKEN_ENV}"
    problem = web.token_problem(token)
    if problem:
        raise InputError(f"{source}: {problem}")
    load(args.scenario, sets=_sets(args))  # validate before serving
    command = f"{sys.executable} -m tui_trainer open {_shell_quote(args.scenario)}"
    command += "".join(f" --set {_shell_quote(item)}" for item in _sets(args))
    if not web.is_loopback(args.host):
        say(
            f"tui-trainer: warning: {args.host} is not a loopback address: other machines can "
            "connect, and over plain http the token can be read on the network",
            err=True,
        )
    import socket

    try:  # a clear message for a busy port or a bad address, before serving
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((args.host, args.port))
    except OSError as e:
        raise InputError(f"cannot serve on {args.host}:{args.port}: {e.strerror or e}") from None
    server = web.GuardedServer(
        command, host=args.host, port=args.port, token=token, max_sessions=args.max_sessions
    )
    url = web.browser_url(args.host, args.port, token)
    print(f"serving tui-trainer: open {url}", file=sys.stderr)
    try:
        server.serve()
    except OSError as e:
        raise InputError(f"cannot serve on {args.host}:{args.port}: {e.strerror or e}") from None
    return EXIT_OK


def _shell_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def cmd_open(args: argparse.Namespace) -> int:
    from tui_trainer.engine.checkpoint import load_checkpoint
    from tui_trainer.scenario import builtin_dir, builtin_names, load_scenario

    sc, session = load(args.scenario, max_memory=args.max_memory, sets=_sets(args))
    lesson = getattr(args, "lesson_obj", None)
    if lesson is None and sc.lesson:  # any scenario file with [[lesson]] steps
        from tui_trainer.lessons import Lesson

        lesson = Lesson(sc.name, sc.lesson)
    if args.resume:
        load_checkpoint(session, args.resume)

    def loader(choice: str) -> tuple[Any, dict[str, Any]]:
        sc2, s2 = load(choice, max_memory=args.max_memory)
        return s2, {
            "scenario": sc2,
            "watches": list(sc2.watches),
            "name": sc2.name,
            "watch_text": sc2.watch,
            "description": sc2.description,
            "breakpoints": breakpoint_set(sc2),
            "scenario_text": sc2.text,
        }

    def builtins() -> list[tuple[str, str]]:  # read when the open dialog needs them
        out = []
        for name in builtin_names():
            try:
                d = load_scenario(builtin_dir() / f"{name}.toml").description
                out.append((name, " ".join(d.split()).split(". ")[0]))
            except Exception:  # noqa: BLE001 - a broken built-in is listed without text
                out.append((name, ""))
        return out

    from tui_trainer.recovery import recovery_path
    from tui_trainer.ui.app import TrainerApp

    app = TrainerApp(
        session,
        name=sc.name,
        watch_text=sc.watch,
        description=sc.description,
        breakpoints=breakpoint_set(sc),
        watches=list(sc.watches),
        scenario_text=sc.text,
        builtins=builtins,
        loader=loader,
        recovery_file=None if args.resume else recovery_path(sc.name, sc.source, sc.text),
        lesson=lesson,
        on_lesson_complete=getattr(args, "on_lesson_complete", None),
    )
    app.scenario = sc
    app.run(mouse=bool(getattr(args, "mouse", False)))
    return app.return_code or EXIT_OK


def cmd_learn(args: argparse.Namespace) -> int:
    """The course: the menu (or lesson N), each lesson opened like ``open`` with its panel."""
    from tui_trainer.lessons import Lesson, course_files, load_progress, next_lesson, save_progress
    from tui_trainer.scenario import load_scenario

    files = course_files()
    if args.lesson is not None and args.lesson > len(files):
        raise InputError(f"lesson {args.lesson}: the course has lessons 1 to {len(files)}")
    while True:
        number = args.lesson
        if number is None:
            from tui_trainer.ui.course_menu import CourseMenu

            titles = []
            for f in files:
                sc = load_scenario(f)
                titles.append((sc.name, " ".join(sc.description.split()).split(". ")[0]))
            done = set(load_progress()["completed"])
            number = CourseMenu(titles, done, next_lesson(len(files))).run(mouse=False)
            if number is None:
                return EXIT_OK
        path = files[number - 1]
        sc = load_scenario(path)
        save_progress(number, completed=False)
        opened = argparse.Namespace(
            scenario=str(path),
            resume=None,
            max_memory=args.max_memory,
            lesson_obj=Lesson(sc.name, sc.lesson, number),
            on_lesson_complete=lambda lesson: save_progress(lesson.number or 0, completed=True),
        )
        code = cmd_open(opened)
        if args.lesson is not None or code != EXIT_OK:
            return code


def cmd_torch(args: argparse.Namespace) -> int:
    """``tui-trainer torch FILE.py:make``; torch is imported here, only for this command."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        raise InputError("the torch command needs PyTorch: pip install 'tui-trainer[torch]'")
    from tui_trainer.torch.cli import MakeError, UserCodeError, open_app, run

    headless = args.headless or not (sys.stdin.isatty() and sys.stdout.isatty())
    try:
        if not headless:
            return open_app(args.target, epochs=args.epochs)
        return run(args.target, steps=args.steps, epochs=args.epochs, quiet=args.quiet, say=say)
    except (MakeError, UserCodeError) as e:
        raise InputError(str(e)) from None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version")):
        argv = ["open", *argv]
    args = build_parser().parse_args(argv)
    from tui_trainer.engine.checkpoint import CheckpointError
    from tui_trainer.scenario import ScenarioError

    try:
        if args.command == "list":
            return cmd_list()
        if args.command == "check":
            return cmd_check(args.files, args.max_memory, _sets(args))
        if args.command == "run":
            return cmd_run(args)
        if args.command == "find":
            return cmd_find(args)
        if args.command == "trace":
            return cmd_trace(args)
        if args.command == "compare":
            return cmd_compare(args)
        if args.command == "serve":
            return cmd_serve(args)
        if args.command == "learn":
            return cmd_learn(args)
        if args.command == "torch":
            return cmd_torch(args)
        if args.command == "diagnose":
            return cmd_diagnose(args)
        return cmd_open(args)
    except (ScenarioError, CheckpointError, InputError) as e:
        say(f"tui-trainer: {e}" if not isinstance(e, ScenarioError) else e, err=True)
        return EXIT_INPUT
    except BrokenPipeError:  # `tui-trainer list | head`: the reader left, not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        say(f"tui-trainer: {where}{e.strerror or e}", err=True)
        return EXIT_INPUT
    except MemoryError:  # beyond what the estimate foresaw: still no traceback
        print(
            "tui-trainer: out of memory; use a smaller model, batch or data set "
            "(check shows the estimated need)",
            file=sys.stderr,
        )
        return EXIT_INPUT
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
