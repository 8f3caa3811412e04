"""Engine throughput: the engine vs a plain NumPy loop vs PyTorch (CPU), in one run.

Usage::

    python bench/engine.py [--quick] [--optimizer sgd|momentum|adam]
                           [--rounds N] [--seconds S] [--profile ROW]

Every row trains the same network (tanh hidden layers, linear output,
cross-entropy with fused softmax, float64) from the same initial weights on
the same mini-batches (per-epoch permutation drawn exactly as the engine draws
it) three ways:

1. the engine at full speed with all per-step metrics on:
   ``Session(cfg, data).run(max_steps=N)``;
2. a plain hand-written NumPy loop: forward, loss, backward, update, nothing else;
3. PyTorch on the CPU (float64, one thread), only if ``import torch`` works.

Repetitions are interleaved (every round runs every method on every row for
about ``--seconds`` worth of steps, the method order rotating between rounds)
and the median steps/s per method is reported, so machine noise hits all
methods alike. Before timing, each row checks once that the plain loop (and
torch) give the same losses and weights as the engine after a few steps.

BLAS is pinned to one thread (like ``torch.set_num_threads(1)``) unless
``OPENBLAS_NUM_THREADS`` or ``OMP_NUM_THREADS`` is already set; the same
count is given to torch. torch is never a dependency of the project: to
include it, run this script with an interpreter that has torch installed.

glibc's malloc returns freed memory to the OS and maps large blocks afresh,
so a loop that frees its ~2 MB activations every step (the plain loop) pays
thousands of page faults per step while one that keeps them alive (the engine
caches them) does not. To time the work rather than the allocator, the
script raises glibc's trim and mmap thresholds for the whole process (all
methods alike); ``--no-mallopt`` keeps the default allocator behaviour.

``--profile ROW`` (e.g. ``--profile 2-8-8-2``) skips the comparison and runs
the engine on that row under cProfile, printing the top entries.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Thread counts must be fixed before NumPy (and its BLAS) is imported.
_THREADS = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or "1"
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, _THREADS)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from tui_trainer.engine.config import Dataset, LayerSpec, TrainConfig  # noqa: E402
from tui_trainer.engine.session import Session  # noqa: E402

SEED = 0
LR = 0.05
ENGINE_NUMPY_TARGET = 0.85  # engine must reach >= 0.85x the plain loop on every row (issue 18)
TORCH_PARAM_LIMIT = 10_000  # below this, the engine must beat torch


@dataclass(frozen=True)
class Row:
    widths: tuple[int, ...]  # input, hidden..., output
    n: int  # training points
    batch: int  # 0 = full batch
    data: str  # "random" or "digits"

    @property
    def name(self) -> str:
        return "-".join(str(w) for w in self.widths)

    @property
    def n_params(self) -> int:
        return sum((a + 1) * b for a, b in zip(self.widths, self.widths[1:], strict=False))

    @property
    def batch_label(self) -> str:
        return f"full ({self.n})" if self.batch <= 0 else str(self.batch)


ROWS = (
    Row((2, 8, 8, 2), 200, 0, "random"),
    Row((2, 16, 16, 2), 1000, 32, "random"),
    Row((64, 32, 10), 1797, 64, "digits"),
    Row((64, 128, 128, 10), 1797, 0, "digits"),
)


def tune_malloc() -> bool:
    """Keep freed memory in glibc's heap (see the module docstring); False if not glibc."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        ok_trim = libc.mallopt(m_trim_threshold, 1 << 30)
        ok_mmap = libc.mallopt(m_mmap_threshold, 32 << 20)  # glibc's maximum on 64-bit
        return bool(ok_trim and ok_mmap)
    except (OSError, AttributeError):
        return False


# --------------------------------------------------------------------------- data
def make_data(row: Row) -> tuple[Dataset, str]:
    """The training set for a row (no validation set: same work in every method)."""
    n_in, n_out = row.widths[0], row.widths[-1]
    if row.data == "digits":
        try:
            from tui_trainer.engine.data import load_builtin

            d = load_builtin("digits", standardize=True)
            if d.x.shape == (row.n, n_in) and d.n_classes == n_out:
                x = np.asarray(d.x, dtype=np.float64)
                y = np.asarray(d.y, dtype=np.int64)
                return _dataset(x, y, n_out), "digits"
        except Exception:  # the bundled data is optional here: fall back to random
            pass
    rng = np.random.default_rng([SEED, 99, row.n, n_in])
    x = rng.standard_normal((row.n, n_in))
    if n_out == 2:
        y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)  # xor-like, learnable
    else:
        y = rng.integers(0, n_out, row.n).astype(np.int64)
    return _dataset(x, y, n_out), "random"


def _dataset(x: np.ndarray, y: np.ndarray, n_classes: int) -> Dataset:
    return Dataset(
        x_train=x,
        y_train=y,
        x_val=x[:0],
        y_val=y[:0],
        task="classification",
        n_classes=n_classes,
    )


def make_config(row: Row, optimizer: str) -> TrainConfig:
    hidden = tuple(LayerSpec(w, "tanh") for w in row.widths[1:-1])
    return TrainConfig(
        layers=hidden + (LayerSpec(row.widths[-1], "linear"),),
        loss="cross_entropy",
        optimizer=optimizer,
        lr=LR,
        batch_size=row.batch if row.batch > 0 else row.n,
        epochs=10**9,  # never finishes during the benchmark
        seed=SEED,
        dtype="float64",
    )


def epoch_perm(n: int, epoch: int) -> np.ndarray:
    """The engine's shuffle of epoch ``epoch`` (seed stream 2), so batches are identical."""
    return np.random.default_rng([SEED, 2, epoch]).permutation(n)


# --------------------------------------------------------------------------- plain NumPy
class PlainNumpy:
    """Hand-written training loop: forward, loss, backward, update, nothing else."""

    def __init__(
        self, params: list[np.ndarray], data: Dataset, batch: int, cfg: TrainConfig
    ) -> None:
        self.W = [p.copy() for p in params[0::2]]
        self.b = [p.copy() for p in params[1::2]]
        self.x = np.ascontiguousarray(data.x_train, dtype=np.float64)
        self.y = np.asarray(data.y_train, dtype=np.int64)
        self.n = len(self.x)
        self.bs = self.n if batch <= 0 else min(batch, self.n)
        self.epoch = 0
        self.cursor = 0
        self.perm = epoch_perm(self.n, 0)
        self.cfg = cfg
        self.t = 0
        shapes = [p.shape for p in params]
        self.m = [np.zeros(s) for s in shapes] if cfg.optimizer == "adam" else []
        self.v = [np.zeros(s) for s in shapes] if cfg.optimizer in ("momentum", "adam") else []

    def params(self) -> list[np.ndarray]:
        return [p for pair in zip(self.W, self.b, strict=True) for p in pair]

    def run(self, steps: int) -> None:
        step = self.step
        for _ in range(steps):
            step()

    def step(self) -> float:
        if self.bs >= self.n:
            x, y = self.x, self.y
        else:
            if self.cursor == 0 and self.epoch > 0:
                self.perm = epoch_perm(self.n, self.epoch)
            idx = self.perm[self.cursor : self.cursor + self.bs]
            x, y = self.x[idx], self.y[idx]
        loss = self._train(x, y)
        self.cursor += len(x)
        if self.cursor >= self.n:
            self.cursor = 0
            self.epoch += 1
        return loss

    def _train(self, x: np.ndarray, y: np.ndarray) -> float:
        Ws, bs = self.W, self.b
        L = len(Ws)
        acts = [x]
        a = x
        for i in range(L - 1):
            a = np.tanh(a @ Ws[i] + bs[i])
            acts.append(a)
        z = a @ Ws[-1] + bs[-1]
        m = len(x)
        rows = np.arange(m)
        s = z - z.max(axis=1, keepdims=True)
        e = np.exp(s)
        tot = e.sum(axis=1)
        loss = float((np.log(tot) - s[rows, y]).mean())
        g = e / tot[:, None]
        g[rows, y] -= 1.0
        g /= m
        grads: list[np.ndarray] = [g] * (2 * L)
        for i in range(L - 1, -1, -1):
            grads[2 * i] = acts[i].T @ g
            grads[2 * i + 1] = g.sum(axis=0)
            if i:
                h = acts[i]
                g = (g @ Ws[i].T) * (1.0 - h * h)
        self._update(grads)
        return loss

    def _update(self, grads: list[np.ndarray]) -> None:
        cfg = self.cfg
        lr = cfg.lr
        params = self.params()
        if cfg.optimizer == "sgd":
            for p, g in zip(params, grads, strict=True):
                p -= lr * g
        elif cfg.optimizer == "momentum":
            for p, v, g in zip(params, self.v, grads, strict=True):
                v *= cfg.momentum
                v += g
                p -= lr * v
        else:  # adam, the engine's (= torch's) formula
            self.t += 1
            b1, b2 = cfg.beta1, cfg.beta2
            step_size = lr / (1.0 - b1**self.t)
            sqrt_bc2 = math.sqrt(1.0 - b2**self.t)
            for p, m, v, g in zip(params, self.m, self.v, grads, strict=True):
                m *= b1
                m += (1.0 - b1) * g
                v *= b2
                v += (1.0 - b2) * (g * g)
                denom = np.sqrt(v)
                denom /= sqrt_bc2
                denom += cfg.eps
                p -= step_size * (m / denom)


# --------------------------------------------------------------------------- torch
def import_torch() -> Any | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(int(_THREADS))
    return torch


class TorchLoop:
    """The idiomatic PyTorch loop: zero_grad, forward, cross_entropy, backward, step."""

    def __init__(
        self, torch: Any, params: list[np.ndarray], data: Dataset, batch: int, cfg: TrainConfig
    ) -> None:
        self.torch = torch
        nn = torch.nn
        layers: list[Any] = []
        pairs = list(zip(params[0::2], params[1::2], strict=True))
        for i, (W, b) in enumerate(pairs):
            lin = nn.Linear(W.shape[0], W.shape[1], dtype=torch.float64)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
                lin.bias.copy_(torch.from_numpy(b.copy()))
            layers.append(lin)
            if i < len(pairs) - 1:
                layers.append(nn.Tanh())
        self.model = nn.Sequential(*layers)
        ps = self.model.parameters()
        if cfg.optimizer == "sgd":
            self.opt = torch.optim.SGD(ps, lr=cfg.lr)
        elif cfg.optimizer == "momentum":
            self.opt = torch.optim.SGD(ps, lr=cfg.lr, momentum=cfg.momentum)
        else:
            self.opt = torch.optim.Adam(ps, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)
        self.loss_fn = nn.functional.cross_entropy
        self.x = torch.from_numpy(np.ascontiguousarray(data.x_train, dtype=np.float64))
        self.y = torch.from_numpy(np.asarray(data.y_train, dtype=np.int64))
        self.n = len(self.x)
        self.bs = self.n if batch <= 0 else min(batch, self.n)
        self.epoch = 0
        self.cursor = 0
        self.perm = torch.from_numpy(epoch_perm(self.n, 0))

    def params(self) -> list[np.ndarray]:
        out = []
        for lin in self.model:
            if isinstance(lin, self.torch.nn.Linear):
                out += [lin.weight.detach().numpy().T, lin.bias.detach().numpy()]
        return out

    def run(self, steps: int) -> None:
        step = self.step
        for _ in range(steps):
            step()

    def step(self) -> Any:
        if self.bs >= self.n:
            x, y = self.x, self.y
        else:
            if self.cursor == 0 and self.epoch > 0:
                self.perm = self.torch.from_numpy(epoch_perm(self.n, self.epoch))
            idx = self.perm[self.cursor : self.cursor + self.bs]
            x, y = self.x[idx], self.y[idx]
        self.opt.zero_grad()
        loss = self.loss_fn(self.model(x), y)
        loss.backward()
        self.opt.step()
        self.cursor += len(x)
        if self.cursor >= self.n:
            self.cursor = 0
            self.epoch += 1
        return loss


# --------------------------------------------------------------------------- engine
def engine_runner(session: Session) -> Callable[[int], None]:
    def run(steps: int) -> None:
        stop = session.run(max_steps=steps)
        if stop.kind != "limit":
            raise RuntimeError(f"engine stopped early: {stop.kind} {stop.message}")

    return run


# --------------------------------------------------------------------------- checks
def verify(row: Row, data: Dataset, cfg: TrainConfig, torch: Any | None) -> list[str]:
    """Same losses and weights after a few steps from the same initial weights?"""
    s = Session(cfg, data)
    init = [p.copy() for p in s.net.params()]
    bpe = s.batches_per_epoch
    k = max(5, min(60, bpe + 3))  # crosses an epoch boundary when mini-batching
    s.run(max_steps=k)
    eng_loss = np.array(s.history.step_series("loss")[-k:])
    eng_params = s.net.params()

    def compare(what: str, losses: list[float], params: list[np.ndarray], tol: float) -> str:
        dl = float(np.max(np.abs(np.array(losses) - eng_loss)))
        dp = max(float(np.max(np.abs(p - q))) for p, q in zip(params, eng_params, strict=True))
        ok = dl <= tol and dp <= tol
        verdict = "match" if ok else "DIFFERENT"
        return f"{what:>6} vs engine after {k} steps: {verdict} (max |dloss| {dl:.1e}, max |dparam| {dp:.1e})"

    plain = PlainNumpy(init, data, row.batch, cfg)
    out = [compare("numpy", [plain.step() for _ in range(k)], plain.params(), 1e-12)]
    if torch is not None:
        tl = TorchLoop(torch, init, data, row.batch, cfg)
        losses = [float(tl.step().item()) for _ in range(k)]
        out.append(compare("torch", losses, tl.params(), 1e-9))
    return out


# --------------------------------------------------------------------------- timing
def calibrate(run: Callable[[int], None], seconds: float) -> int:
    """Steps that take about ``seconds`` (also serves as warm-up)."""
    k = 1
    while True:
        t0 = time.perf_counter()
        run(k)
        dt = time.perf_counter() - t0
        if dt >= min(0.05, seconds / 3):
            return max(1, math.ceil(k * seconds / dt))
        k *= 2


CLOCK = time.perf_counter  # --cpu: time.thread_time (BLAS and torch run on this thread)


def timed(run: Callable[[int], None], steps: int) -> float:
    t0 = CLOCK()
    run(steps)
    return steps / (CLOCK() - t0)


def fmt_rate(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}"


def fmt_ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return "-"
    return f"{a / b:.2f}x"


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    right = [False, True, True, True, True, True, True, True, True]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if right[i] else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    print(line(header))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---:" if right[i] else "---" for i in range(len(header))) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


def profile(row: Row, optimizer: str, seconds: float) -> None:
    import cProfile
    import pstats

    data, _ = make_data(row)
    s = Session(make_config(row, optimizer), data)
    run = engine_runner(s)
    steps = calibrate(run, seconds)
    prof = cProfile.Profile()
    prof.enable()
    run(steps)
    prof.disable()
    print(f"engine on {row.name}, batch {row.batch_label}, {steps} steps under cProfile")
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    ap.add_argument("--rounds", type=int, default=None, help="rounds (default 5, quick 3)")
    ap.add_argument("--seconds", type=float, default=None, help="seconds per method per round")
    ap.add_argument("--optimizer", default="sgd", choices=("sgd", "momentum", "adam"))
    ap.add_argument(
        "--no-mallopt", action="store_true", help="keep glibc's default trim/mmap thresholds"
    )
    ap.add_argument("--profile", metavar="ROW", help="cProfile the engine on one row and exit")
    ap.add_argument(
        "--cpu", action="store_true", help="time with this thread's CPU time (a loaded machine)"
    )
    args = ap.parse_args(argv)
    if args.cpu:
        global CLOCK
        CLOCK = time.thread_time
    rounds = args.rounds or (3 if args.quick else 5)
    seconds = args.seconds or (0.15 if args.quick else 0.3)

    malloc = "default malloc" if args.no_mallopt or not tune_malloc() else "mallopt: no trim/mmap"
    if args.profile:
        match = [r for r in ROWS if r.name == args.profile]
        if not match:
            ap.error(f"--profile: choose one of {', '.join(r.name for r in ROWS)}")
        profile(match[0], args.optimizer, max(seconds, 2.0))
        return 0

    torch = import_torch()
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        + (f"torch {torch.__version__}" if torch is not None else "torch not installed")
        + f"; BLAS/torch threads {_THREADS}; {malloc}; optimizer {args.optimizer}, float64"
    )
    print(
        f"{rounds} interleaved rounds of ~{seconds:g} s per method per row; median steps/s "
        f"({'thread CPU time' if args.cpu else 'wall clock'}), ratios: median of the rounds' "
        f"ratios; load {os.getloadavg()[0]:.1f}\n"
    )

    methods = ["engine", "numpy"] + (["torch"] if torch is not None else [])
    runners: dict[str, dict[str, Callable[[int], None]]] = {}
    sizes: dict[str, dict[str, int]] = {}
    for row in ROWS:
        data, source = make_data(row)
        cfg = make_config(row, args.optimizer)
        print(f"{row.name} ({row.n_params:,} params, batch {row.batch_label}, {source} data)")
        for msg in verify(row, data, cfg, torch):
            print("  " + msg)
        session = Session(cfg, data)
        init = [p.copy() for p in session.net.params()]
        runners[row.name] = {
            "engine": engine_runner(session),
            "numpy": PlainNumpy(init, data, row.batch, cfg).run,
        }
        if torch is not None:
            runners[row.name]["torch"] = TorchLoop(torch, init, data, row.batch, cfg).run
        sizes[row.name] = {m: calibrate(runners[row.name][m], seconds) for m in methods}
    print()

    rates: dict[str, dict[str, list[float]]] = {r.name: {m: [] for m in methods} for r in ROWS}
    for rnd in range(rounds):
        order = methods[rnd % len(methods) :] + methods[: rnd % len(methods)]
        for row in ROWS:
            for m in order:
                rates[row.name][m].append(timed(runners[row.name][m], sizes[row.name][m]))
        print(f"round {rnd + 1}/{rounds} done", file=sys.stderr)

    header = [
        "network",
        "params",
        "batch",
        "engine steps/s",
        "numpy steps/s",
        "torch steps/s",
        "engine/numpy",
        "engine/torch",
        "overhead/step",
    ]
    table = []
    misses = []
    for row in ROWS:
        med = {m: statistics.median(v) for m, v in rates[row.name].items()}
        e, n, t = med["engine"], med["numpy"], med.get("torch")
        # Ratios: the median of each round's ratio (the methods of a row run
        # back to back in a round, so a load change between rounds cancels).
        rr = rates[row.name]
        en = statistics.median(a / b for a, b in zip(rr["engine"], rr["numpy"], strict=True))
        et = (
            statistics.median(a / b for a, b in zip(rr["engine"], rr["torch"], strict=True))
            if t is not None
            else None
        )
        table.append(
            [
                row.name,
                f"{row.n_params:,}",
                row.batch_label,
                fmt_rate(e),
                fmt_rate(n),
                fmt_rate(t) if torch is not None else "not installed",
                fmt_ratio(en, 1.0),
                fmt_ratio(et, 1.0),
                f"{(1 / e - 1 / n) * 1e6:+.1f} us",  # engine's time per step over the plain loop's
            ]
        )
        if en < ENGINE_NUMPY_TARGET:
            misses.append(f"{row.name}: engine/numpy {en:.2f}x < {ENGINE_NUMPY_TARGET}x")
        if et is not None and row.n_params < TORCH_PARAM_LIMIT and et <= 1.0:
            misses.append(f"{row.name}: engine/torch {et:.2f}x, not faster than torch")
    print_table(header, table)
    print()
    print(
        f"targets: engine >= {ENGINE_NUMPY_TARGET}x numpy on every row; "
        f"engine > torch below {TORCH_PARAM_LIMIT:,} params"
        + ("" if torch is not None else " (torch not installed: not checked)")
    )
    for msg in misses or ["all targets met"]:
        print("  " + msg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
