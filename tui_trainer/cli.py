"""Command line: open the app, or list/check/run/trace headless.

Exit statuses: 0 success, 1 unexpected internal error, 2 bad input (scenario,
arguments, checkpoint), 3 training became non-finite, 4 stopped at a
breakpoint (``run --break``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from tui_trainer import __version__

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT, EXIT_NONFINITE, EXIT_BREAK = 0, 1, 2, 3, 4
COMMANDS = ("open", "list", "check", "run", "trace", "compare", "serve")

EPILOG = """\
examples:
  tui-trainer                      open the app on the default scenario (xor)
  tui-trainer lr_too_large         open a built-in scenario by name
  tui-trainer my.toml              open your own scenario file
  tui-trainer list                 built-in scenarios, one line each
  tui-trainer check my.toml        validate scenario files (exit 2 on errors)
  tui-trainer run xor --epochs 50 --metrics m.csv --save xor.npz
  tui-trainer run xor --resume xor.npz
  tui-trainer trace xor --steps 10 -o trace.npz
  tui-trainer compare xor --lr 0.01,0.3,3
"""


class InputError(Exception):
    """Bad input from the user: printed as one message, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line plus usage, exit 2
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
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


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="tui-trainer",
        description="A terminal step-through debugger for neural-network training.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"tui-trainer {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    o = sub.add_parser("open", help="open the app (the default command)")
    o.add_argument("scenario", nargs="?", default="xor", help="built-in name or .toml path")
    o.add_argument("--resume", metavar="CKPT", help="start from a checkpoint")

    sub.add_parser("list", help="list the built-in scenarios")

    c = sub.add_parser("check", help="validate scenario files")
    c.add_argument("files", nargs="+", metavar="FILE")

    r = sub.add_parser("run", help="train headless with a progress bar")
    r.add_argument("scenario")
    r.add_argument("--epochs", type=_positive_int, help="override the number of epochs")
    r.add_argument("--lr", type=_positive_float, help="override the learning rate")
    r.add_argument("--seed", type=_nonneg_int, help="override the seed (data and weights)")
    r.add_argument("--metrics", metavar="FILE", help="per-epoch metrics: .csv or .jsonl")
    r.add_argument("--save", metavar="CKPT", help="save a checkpoint at the end (.npz)")
    r.add_argument("--resume", metavar="CKPT", help="continue from a checkpoint")
    r.add_argument(
        "--break", dest="use_breaks", action="store_true", help="stop at breakpoints (exit 4)"
    )
    r.add_argument("--quiet", "-q", action="store_true", help="only the summary line")

    t = sub.add_parser("trace", help="record the first N steps in full to an .npz")
    t.add_argument("scenario")
    t.add_argument("--steps", type=_positive_int, required=True)
    t.add_argument("-o", "--output", required=True, metavar="FILE.npz")

    cmp_ = sub.add_parser("compare", help="run one scenario with up to four values of one setting")
    cmp_.add_argument("scenario")
    group = cmp_.add_mutually_exclusive_group()
    group.add_argument("--lr", type=_float_list, help="learning rates, e.g. 0.01,0.3,3 (default)")
    group.add_argument("--batch-size", type=_int_list, help="batch sizes, e.g. 1,10,100")
    group.add_argument("--l2", type=_float_list, help="L2 strengths, e.g. 0,0.001,0.01")
    group.add_argument("--momentum", type=_float_list, help="momentum values, e.g. 0,0.9")
    group.add_argument("--optimizer", type=_name_list, help="optimizers, e.g. sgd,momentum,adam")
    cmp_.add_argument("--epochs", type=_positive_int, help="epochs for every run")

    sv = sub.add_parser("serve", help="serve the app to a web browser (needs tui-trainer[web])")
    sv.add_argument("scenario", nargs="?", default="xor")
    sv.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    sv.add_argument("--port", type=_positive_int, default=8000)
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
def load(arg: str, seed: int | None = None) -> tuple[Any, Any]:
    """A scenario name or path -> (Scenario, Session). Raises ScenarioError."""
    from tui_trainer.engine.session import Session, SessionError
    from tui_trainer.scenario import Problem, ScenarioError, load_scenario, resolve_scenario

    sc = load_scenario(resolve_scenario(arg))
    if seed is not None:
        sc = dataclasses.replace(sc, seed=seed)
    data = sc.load_data()
    cfg = sc.train_config(data)
    try:
        return sc, Session(cfg, data)
    except (SessionError, ValueError) as e:
        raise ScenarioError([Problem(sc.file, "data", None, str(e))]) from None


def breakpoint_set(sc: Any) -> Any:
    from tui_trainer.engine.breakpoints import BreakpointSet

    bps = BreakpointSet()
    for spec in sc.breakpoints:
        bps.add(spec.condition, spec.phase, spec.enabled)
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
        print(f"{name:<{width}}  {first}")
    return EXIT_OK


def cmd_check(files: list[str]) -> int:
    from tui_trainer.scenario import ScenarioError, load_scenario, resolve_scenario

    status = EXIT_OK
    for f in files:
        try:
            sc = load_scenario(resolve_scenario(f))
            data = sc.load_data()
            sc.train_config(data)
            print(f"{f}: ok")
        except ScenarioError as e:
            print(str(e), file=sys.stderr)
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


def cmd_run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from tui_trainer.engine.checkpoint import load_checkpoint, save_checkpoint

    sc, session = load(args.scenario, args.seed)
    metrics_path = Path(args.metrics) if args.metrics else None
    if metrics_path and metrics_path.suffix.lower() not in (".csv", ".jsonl", ".ndjson"):
        raise InputError(f"--metrics {metrics_path}: use a .csv or .jsonl file name")
    if args.resume:
        load_checkpoint(session, args.resume)
    if args.epochs is not None:
        if args.resume and args.epochs < session.epoch:
            raise InputError(
                f"--epochs {args.epochs}: the checkpoint is already at epoch {session.epoch}"
            )
        session.set_hyper(epochs=args.epochs)
    if args.lr is not None:
        session.set_hyper(lr=args.lr)
    bps = breakpoint_set(sc) if args.use_breaks else None
    hit: list[Any] = [None]

    def until(s: Any) -> bool:
        if bps is not None and bps.items:
            h = bps.check(s, None)
            if h is not None:
                hit[0] = h
                return True
        return False

    event_check = None
    if bps is not None and bps.needs_events:

        def event_check(s: Any, ev: Any) -> bool:
            h = bps.check(s, ev)
            if h is not None and h.breakpoint.phase not in ("step", "epoch"):
                hit[0] = h
                return True
            return False

    err = Console(stderr=True)
    t0 = time.perf_counter()
    steps0 = session.step
    reason = None
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("epoch {task.completed:.0f}/{task.total:.0f}"),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=err,
        disable=args.quiet,
        transient=False,
    ) as progress:
        task = progress.add_task(sc.name, total=session.epochs, completed=session.epoch, info="")
        while True:
            reason = session.run(until, max_steps=200, event_check=event_check)
            elapsed = max(1e-9, time.perf_counter() - t0)
            h = session.history
            info = (
                f"train loss {h.epochs.last('loss'):.4g} val loss {h.epochs.last('val_loss'):.4g}"
                + (
                    f" val acc {h.epochs.last('val_accuracy'):.1%}"
                    if session.classification
                    else ""
                )
                + f" {(session.step - steps0) / elapsed:,.0f} steps/s"
            )
            progress.update(task, completed=session.epoch, info=info)
            if reason.kind != "limit":
                break
    elapsed = max(1e-9, time.perf_counter() - t0)
    if metrics_path:
        write_metrics(session, metrics_path)
    if args.save:
        save_checkpoint(session, args.save, sc.text)
    h = session.history
    summary = (
        f"{sc.name}: epoch {session.epoch}/{session.epochs}, step {session.step}, "
        f"train_loss {h.epochs.last('loss'):.4g}, val_loss {h.epochs.last('val_loss'):.4g}"
    )
    if session.classification:
        summary += f", val_accuracy {h.epochs.last('val_accuracy'):.1%}"
    summary += f" ({(session.step - steps0) / elapsed:,.0f} steps/s)"
    if reason.kind == "diverged":
        nf = session.nonfinite
        where = nf.phase.label + ("" if nf.layer is None else f" layer {nf.layer + 1}")
        print(
            f"{sc.name}: training became non-finite ({nf.what}) at epoch {session.epoch + 1}, "
            f"step {nf.step}, phase {where}. Try a smaller learning rate.",
            file=sys.stderr,
        )
        print(summary)
        return EXIT_NONFINITE
    print(summary)
    if reason.kind == "predicate" and hit[0] is not None:
        print(f"stopped at breakpoint '{hit[0].breakpoint.source}': {hit[0].explanation}")
        return EXIT_BREAK
    return EXIT_OK


def cmd_trace(args: argparse.Namespace) -> int:
    from tui_trainer.engine.atomic import atomic_writer
    from tui_trainer.engine.session import config_to_dict
    from tui_trainer.engine.stepper import Phase

    sc, s = load(args.scenario)
    out: dict[str, np.ndarray] = {}
    meta = {
        "scenario": sc.name,
        "config": config_to_dict(s.cfg),
        "task": s.data.task,
        "n_classes": s.data.n_classes,
        "format": 1,
        "keys": "k/x k/y k/out k/loss k/W{i} k/b{i} k/dW{i} k/db{i}; N/W{i} N/b{i}",
    }
    recorded = 0
    for k in range(args.steps):
        while True:
            ev = s.advance("layer")
            if ev is None or ev.nonfinite:
                break
            if ev.phase is Phase.LOSS:
                r = s.rec
                out[f"{k}/x"] = np.array(r.x)
                out[f"{k}/y"] = np.array(r.labels if r.labels is not None else r.y)
                out[f"{k}/out"] = np.array(r.out)
                out[f"{k}/loss"] = np.array(r.loss)
                for i, ly in enumerate(s.net.layers):
                    out[f"{k}/W{i}"] = ly.W.copy()
                    out[f"{k}/b{i}"] = ly.b.copy()
            if ev.phase is Phase.BACKWARD and ev.layer == 0:
                for i, ly in enumerate(s.net.layers):
                    out[f"{k}/dW{i}"] = ly.dW.copy()
                    out[f"{k}/db{i}"] = ly.db.copy()
            if ev.phase is Phase.UPDATE:
                break
        if ev is None or ev.nonfinite:
            break
        recorded += 1
    for i, ly in enumerate(s.net.layers):
        out[f"{recorded}/W{i}"] = ly.W.copy()
        out[f"{recorded}/b{i}"] = ly.b.copy()
    meta["steps"] = recorded
    out["meta"] = np.array(json.dumps(meta))
    with atomic_writer(args.output) as f:
        np.savez_compressed(f, **out)
    print(f"{args.output}: {recorded} steps of {sc.name}")
    if recorded < args.steps:
        print(f"training ended or diverged after {recorded} steps", file=sys.stderr)
        return EXIT_NONFINITE if s.nonfinite is not None else EXIT_OK
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    from rich.console import Console

    from tui_trainer.engine.compare import format_table, make_runs, run_lockstep

    param, values = "lr", args.lr
    for name in ("batch_size", "l2", "momentum", "optimizer"):
        if getattr(args, name) is not None:
            param, values = name, getattr(args, name)
    if values is None:
        values = [0.01, 0.3, 3.0]
    if param == "lr" and any(v <= 0 for v in values):
        raise InputError("--lr values must be > 0")
    sc, session = load(args.scenario)
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
    print(f"{sc.name}: {param} compared over {total} epochs")
    print(format_table(runs))
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from textual_serve.server import Server
    except ImportError:
        raise InputError("serve needs the web extra: pip install 'tui-trainer[web]'") from None
    load(args.scenario)  # validate before serving
    command = f"{sys.executable} -m tui_trainer open {_shell_quote(args.scenario)}"
    import socket

    try:  # a clear message for a busy port or a bad address, before serving
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((args.host, args.port))
    except OSError as e:
        raise InputError(f"cannot serve on {args.host}:{args.port}: {e.strerror or e}") from None
    server = Server(command, host=args.host, port=args.port, title="tui-trainer")
    print(f"serving tui-trainer on http://{args.host}:{args.port}", file=sys.stderr)
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

    sc, session = load(args.scenario)
    if args.resume:
        load_checkpoint(session, args.resume)

    def loader(choice: str) -> tuple[Any, dict[str, Any]]:
        sc2, s2 = load(choice)
        return s2, {
            "scenario": sc2,
            "watches": list(sc2.watches),
            "name": sc2.name,
            "watch_text": sc2.watch,
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
        breakpoints=breakpoint_set(sc),
        watches=list(sc.watches),
        scenario_text=sc.text,
        builtins=builtins,
        loader=loader,
        recovery_file=None if args.resume else recovery_path(sc.name, sc.source, sc.text),
    )
    app.scenario = sc
    app.run(mouse=False)
    return app.return_code or EXIT_OK


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
            return cmd_check(args.files)
        if args.command == "run":
            return cmd_run(args)
        if args.command == "trace":
            return cmd_trace(args)
        if args.command == "compare":
            return cmd_compare(args)
        if args.command == "serve":
            return cmd_serve(args)
        return cmd_open(args)
    except (ScenarioError, CheckpointError, InputError) as e:
        print(f"tui-trainer: {e}" if not isinstance(e, ScenarioError) else str(e), file=sys.stderr)
        return EXIT_INPUT
    except BrokenPipeError:  # `tui-trainer list | head`: the reader left, not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        print(f"tui-trainer: {where}{e.strerror or e}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
