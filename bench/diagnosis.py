"""How often is the diagnosis right? A labelled benchmark of broken and healthy runs.

Usage::

    python bench/diagnosis.py [--half tune|tune2|heldout|heldout2|heldout3|tuning] [--quick]
                              [--workers N]
                              [--out DIR] [--no-repair] [--json FILE] [--show]

It generates scenario files (``--out``, default a directory under the
system's temporary directory): broken runs, each with one fault put in on
purpose (the *label*, a diagnosis code), and healthy runs. Data kind, size,
network, optimizer and seed vary from run to run. Five seed sets with
disjoint generator and scenario seeds (asserted by ``check_disjoint``):
``tune``, ``tune2``, ``heldout`` and ``heldout2`` are tuning sets
(``heldout`` and ``heldout2`` were scored in earlier rounds); ``heldout3``
is scored once, after tuning.

Before scoring, every broken candidate is checked without the diagnosis
(``validity``): its fault must show, i.e. the same run with the fault undone
must end with a validation loss 0.8x the broken run's and 0.05 chance levels
lower (for overfitting: the run stopped at its best epoch). Runs whose fault
does not show are dropped and the next candidate of that fault is taken
(``select``: the first 12 of 24); healthy runs must end finite and not
overfit. How many each fault loses is printed.

Each run trains headless with the diagnosis checked about 100 times over the
run (``run_diagnosed``, as ``tui-trainer diagnose`` does), and is scored on
the findings at the end of the run:

* per fault, *recall*: the share of runs with that fault whose findings
  include its code; *precision*: of the runs (broken or healthy) where the
  code was reported, the share where it is true. A few codes are also true
  of some other faults (a too-large learning rate also makes the run
  diverge; linear hidden layers also underfit): a variant lists those as
  ``also`` and they are neither a hit nor a false positive;
* *false alarms*: the share of healthy runs with any finding at all;
* *steps*: the median step count at which a check first reported the right
  code (in any layer), and that as a share of the run's steps;
* *repair*: the first fix of the first (most severe, earliest) finding that has one is
  applied to the scenario (``tui_trainer.fixes.apply_fix``) and run again
  from the start; repaired when its validation loss at the last epoch of
  the broken run is at least 20% lower than the broken run's (a diverged
  broken run counts as infinitely bad). A run with no finding is not
  repaired.

``--quick`` takes a third of the runs of each fault and of the healthy set.
Runs use at most ``--workers`` processes (default 2; BLAS on one thread).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import copy  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from multiprocessing import get_context  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

# Generator seeds for the two halves and the ranges their scenario seeds come from:
# disjoint, so nothing tuned on one half has seen a run of the other.
HALVES = {
    "tune": (11, 0),
    "heldout": (23, 100_000),
    "tune2": (37, 200_000),
    "heldout2": (53, 300_000),
    "heldout3": (71, 400_000),
}
# "tune2" is a second tuning set (its own generator and scenario seeds), for
# checking that a rule tuned on "tune" carries over. "heldout" (round 2) and
# "heldout2" (round 3) were scored and looked at in earlier rounds, so they
# are tuning sets now too; the score to report is "heldout3", run once at the
# end of round 4.
TUNING = ("tune", "tune2", "heldout", "heldout2")
PER_FAULT = 12  # valid runs per fault and half (the first 12 whose fault shows)
CANDIDATES = 24  # runs generated per fault and half to find them
HEALTHY = 96  # healthy runs generated per half
HEALTHY_KEEP = 80  # healthy runs kept per half (the first valid ones)
FAULT_SEED_STRIDE = 1_000  # scenario seed of run i of fault k: seed0 + 1000 k + i + 1
HEALTHY_SEED0 = 50_000  # scenario seed of healthy run i: seed0 + 50000 + i + 1
MANIFEST_GAIN = 0.8  # a fault shows when undoing it makes the val loss <= 0.8x
MANIFEST_FLOOR = 0.05  # ... and lower by at least 0.05x the chance-level loss


def _seed_sets() -> dict[str, set[int]]:
    """Every scenario seed each half can use (at the largest sizes)."""
    out = {}
    for half, (_, seed0) in HALVES.items():
        seeds = {
            seed0 + FAULT_SEED_STRIDE * k + i + 1
            for k in range(len(FAULTS))
            for i in range(CANDIDATES)
        }
        seeds |= {seed0 + HEALTHY_SEED0 + i + 1 for i in range(HEALTHY)}
        out[half] = seeds
    return out


def check_disjoint() -> None:
    """The halves share no generator seed and no scenario seed (an honest score)."""
    gens = [g for g, _ in HALVES.values()]
    assert len(set(gens)) == len(gens), "two halves share a generator seed"
    sets = _seed_sets()
    names = list(sets)
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            common = sets[names[a]] & sets[names[b]]
            assert not common, (
                f"{names[a]} and {names[b]} share scenario seeds {sorted(common)[:5]}"
            )


REPAIR_GAIN = 0.8  # repaired: val loss <= 0.8x the broken run's

FAULTS = (
    "lr_too_large",
    "lr_too_small",
    "vanishing_gradients",
    "exploding_gradients",
    "dead_relu",
    "saturated",
    "unstandardized_inputs",
    "init_loss",
    "overfitting",
    "underfitting",
    "missing_nonlinearity",
    "loss_mismatch",
    "l2_too_strong",
    "plateau",
)


@dataclass
class Case:
    """One generated run: its scenario (as nested settings), label and extra files."""

    name: str
    fault: str  # a diagnosis code, or "healthy"
    variant: str
    also: tuple[str, ...] = ()
    top: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    csv: str | None = None  # the text of data.csv for kind = "csv"
    # The paired healthy run (the fault undone, for the label-validity check):
    # the model and training settings of the healthy run the fault was put
    # into, plus data settings to change (unstandardized inputs: standardize).
    # None for a fault whose pair is the same run stopped at its best epoch.
    pair_model: dict[str, Any] | None = None
    pair_training: dict[str, Any] | None = None
    pair_data: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------ writing
def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return str(v)


def toml_text(c: Case) -> str:
    lines = [f"{k} = {_value(v)}" for k, v in c.top.items()]
    for section in ("data", "model", "training"):
        lines += ["", f"[{section}]"]
        lines += [f"{k} = {_value(v)}" for k, v in getattr(c, section).items()]
    return "\n".join(lines) + "\n"


def write_cases(cases: list[Case], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for c in cases:
        if c.csv is not None:
            (out / f"{c.name}.csv").write_text(c.csv)
            c.data["path"] = f"{c.name}.csv"
        p = out / f"{c.name}.toml"
        p.write_text(toml_text(c))
        paths.append(p)
    return paths


# ------------------------------------------------------------------ generating
def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(f"{math.exp(rng.uniform(math.log(lo), math.log(hi))):.3g}")


def _pick(rng: np.random.Generator, options: list[Any] | tuple[Any, ...]) -> Any:
    return options[int(rng.integers(len(options)))]


CLASSIFY = ("moons", "circles", "gauss", "xor", "blobs_csv")
REGRESS = ("sine", "plane")


def _csv_blobs(rng: np.random.Generator, n: int, scale: float, offset: float) -> str:
    """Three Gaussian classes in 3-D, every feature scaled and shifted (a raw-units csv)."""
    k = 3
    centres = rng.normal(0, 2.0, size=(k, 3))
    y = rng.integers(0, k, size=n)
    x = centres[y] + rng.normal(0, 1.0, size=(n, 3))
    scales = scale * np.exp(rng.uniform(-0.5, 0.5, size=3))
    x = x * scales + offset * rng.uniform(0.5, 1.5, size=3)
    rows = ["f1,f2,f3,label"] + [",".join(f"{v:.6g}" for v in x[i]) + f",c{y[i]}" for i in range(n)]
    return "\n".join(rows) + "\n"


def _base(rng: np.random.Generator, seed: int, kinds: tuple[str, ...] | None = None) -> Case:
    """A healthy run: data, a network that fits it, a suitable optimizer."""
    kind = _pick(rng, kinds or (*CLASSIFY, *CLASSIFY, *REGRESS))
    n = int(_pick(rng, (200, 240, 300, 400)))
    c = Case(name="", fault="healthy", variant=kind)
    c.top = {"name": "bench", "seed": seed}
    if kind == "blobs_csv":
        c.data = {"kind": "csv", "target": "label"}
        c.csv = _csv_blobs(rng, n, scale=float(_pick(rng, (1.0, 50.0, 800.0))), offset=100.0)
    else:
        noise = {"moons": 0.1, "circles": 0.05, "gauss": 0.1, "xor": 0.0}.get(kind, 0.1)
        c.data = {"kind": kind, "n_samples": n, "noise": noise}
    act = _pick(rng, ("tanh", "relu", "tanh", "relu", "leaky_relu"))
    width = int(_pick(rng, (8, 16, 16)))
    hidden = _pick(rng, ([width], [width, width], [width, 8]))
    c.model = {"hidden": hidden, "activation": act, "init": "xavier" if act == "tanh" else "he"}
    opt = _pick(rng, ("sgd", "sgd", "momentum", "adam"))
    regression = kind in REGRESS
    lr = {
        "sgd": _log_uniform(rng, 0.01, 0.03) if regression else _log_uniform(rng, 0.03, 0.1),
        "momentum": _log_uniform(rng, 0.005, 0.02),
        "adam": _log_uniform(rng, 0.003, 0.01),
    }[opt]
    c.training = {
        "optimizer": opt,
        "lr": lr,
        "batch_size": int(_pick(rng, (10, 16, 32))),
        "epochs": int(_pick(rng, (30, 40, 50))),
    }
    c.pair_model = copy.deepcopy(c.model)
    c.pair_training = copy.deepcopy(c.training)
    return c


def _classify(rng: np.random.Generator, seed: int) -> Case:
    return _base(rng, seed, ("moons", "circles", "gauss", "xor", "blobs_csv"))


def _nonlinear(rng: np.random.Generator, seed: int) -> Case:
    """Data no straight line separates (or fits)."""
    return _base(rng, seed, ("circles", "xor", "circles", "xor", "sine"))


Variant = Callable[[np.random.Generator, int], Case]


def _lr_large(rng: np.random.Generator, seed: int, i: int) -> Case:
    c = _base(rng, seed)
    v = i % 4
    if v == 0:
        c.training.update(optimizer="sgd", lr=_log_uniform(rng, 3.0, 20.0))
        c.variant = "sgd"
    elif v == 1:
        c.training.update(optimizer="momentum", lr=_log_uniform(rng, 1.0, 5.0))
        c.variant = "momentum"
    elif v == 2:
        c.training.update(optimizer="adam", lr=_log_uniform(rng, 0.5, 3.0))
        c.variant = "adam"
    else:
        c.training.update(optimizer="sgd", lr=_log_uniform(rng, 10.0, 40.0), batch_size="full")
        c.training["epochs"] = 300
        c.variant = "sgd-full-batch"
    c.also = ("diverged", "dead_relu")
    return c


def _lr_small(rng: np.random.Generator, seed: int, i: int) -> Case:
    c = _base(rng, seed)
    v = i % 3
    opt = ("sgd", "momentum", "adam")[v]
    lo, hi = {"sgd": (1e-5, 1e-4), "momentum": (1e-6, 1e-5), "adam": (1e-6, 1e-5)}[opt]
    c.training.update(optimizer=opt, lr=_log_uniform(rng, lo, hi))
    c.variant = opt
    c.also = ("underfitting",)
    return c


def _vanishing(rng: np.random.Generator, seed: int, i: int) -> Case:
    c = _classify(rng, seed)
    depth = int(rng.integers(6, 10))
    if i % 2 == 0:
        c.model.update(hidden=[8] * depth, activation="sigmoid", init="xavier")
        c.variant = f"sigmoid-x{depth}"
    else:
        std = float(_pick(rng, (0.03, 0.05, 0.08)))
        c.model.update(hidden=[8] * depth, activation="tanh", init="normal", init_std=std)
        c.variant = f"tanh-x{depth}-std{std}"
    c.training.update(optimizer="sgd", lr=_log_uniform(rng, 0.03, 0.1))
    c.also = ("underfitting",)
    return c


def _exploding(rng: np.random.Generator, seed: int, i: int) -> Case:
    c = _base(rng, seed)
    depth = int(rng.integers(4, 7))
    if i % 2 == 0:
        std = float(_pick(rng, (1.5, 2.0, 3.0)))
        c.model.update(hidden=[16] * depth, activation="relu", init="normal", init_std=std)
        c.variant = f"relu-x{depth}-std{std}"
    else:
        scale = float(_pick(rng, (2.0, 3.0)))
        c.model.update(hidden=[16] * depth, activation="relu", init="uniform", init_scale=scale)
        c.variant = f"relu-x{depth}-uniform{scale}"
    c.training.update(optimizer="sgd", lr=_log_uniform(rng, 0.01, 0.05))
    c.also = ("diverged", "init_loss", "dead_relu", "lr_too_large")
    return c


def _dead(rng: np.random.Generator, seed: int, i: int) -> Case:
    c = _base(rng, seed)
    bias = -float(_pick(rng, (4.0, 6.0, 10.0)))
    if i % 2 == 0:
        c.model.update(activation="relu", init="he", bias_init=bias)
        c.variant = f"he-bias{bias}"
    else:
        c.model.update(activation="relu", init="normal", init_std=0.3, bias_init=bias)
        c.variant = f"normal-bias{bias}"
    c.also = ("underfitting",)
    return c


def _saturated(rng: np.random.Generator, seed: int, i: int) -> Case:
    c = _base(rng, seed, ("moons", "circles"))
    std = float(_pick(rng, (8.0, 10.0, 15.0)))
    act = "tanh" if i % 2 == 0 else "sigmoid"
    c.model.update(hidden=[16, 16], activation=act, init="normal", init_std=std)
    c.training.update(optimizer="sgd", lr=_log_uniform(rng, 0.03, 0.1))
    c.variant = f"{act}-std{std}"
    c.also = ("init_loss", "underfitting", "vanishing_gradients")
    return c


def _unstandardized(rng: np.random.Generator, seed: int, i: int) -> Case:
    c = _base(rng, seed, ("blobs_csv",))
    scale = float(_pick(rng, (100.0, 300.0, 1000.0)))
    c.csv = _csv_blobs(rng, int(c.data.get("n_samples", 300)), scale=scale, offset=scale * 5)
    c.data["standardize"] = False
    act = ("tanh", "relu", "sigmoid")[i % 3]
    c.model.update(activation=act, init="he" if act == "relu" else "xavier")
    c.variant = f"{act}-x{scale:g}"
    c.also = ("saturated", "init_loss", "diverged", "exploding_gradients", "dead_relu")
    # The pair: this very network and training on the standardized csv (the
    # activation above is part of the variant, not of the fault).
    c.pair_model, c.pair_training = copy.deepcopy(c.model), copy.deepcopy(c.training)
    c.pair_data = {"standardize": True}
    return c


def _init_loss(rng: np.random.Generator, seed: int, i: int) -> Case:
    c = _base(rng, seed, ("moons", "circles", "gauss", "xor", "blobs_csv"))
    if i % 2 == 0:
        std = float(_pick(rng, (3.0, 4.0, 6.0)))
        c.model.update(hidden=[16], activation="relu", init="normal", init_std=std)
        c.variant = f"relu-std{std}"
    else:
        scale = float(_pick(rng, (5.0, 7.0, 10.0)))
        c.model.update(hidden=[16], activation="relu", init="uniform", init_scale=scale)
        c.variant = f"relu-uniform{scale}"
    c.training.update(optimizer="adam", lr=_log_uniform(rng, 0.003, 0.01))
    return c


def _overfit(rng: np.random.Generator, seed: int, i: int) -> Case:
    kind = _pick(rng, ("moons", "circles", "xor"))
    c = _base(rng, seed, (kind,))
    c.data.update(n_samples=int(_pick(rng, (40, 50, 60))), val_fraction=0.5)
    c.data["noise"] = 0.3 if kind != "sine" else 0.3
    if kind == "circles":
        c.data["noise"] = 0.25
    c.model.update(hidden=[64, 64], activation="relu", init="he")
    c.training.update(optimizer="adam", lr=0.01, batch_size="full", epochs=300)
    c.variant = kind
    c.pair_model = c.pair_training = None  # the pair: this run at its best epoch
    return c


def _underfit(rng: np.random.Generator, seed: int, i: int) -> Case:
    c = _base(rng, seed, ("circles", "xor"))
    if i % 3 == 2:
        c.model.update(hidden=[], activation="tanh", init="xavier")
        c.variant = "no-hidden-layer"
    else:
        act = _pick(rng, ("tanh", "relu"))
        c.model.update(hidden=[1], activation=act, init="he" if act == "relu" else "xavier")
        c.variant = f"{act}-1"
    c.training["epochs"] = 40
    return c


def _linear(rng: np.random.Generator, seed: int, i: int) -> Case:
    c = _nonlinear(rng, seed)
    c.model.update(activation="linear", init="xavier")
    c.variant = f"linear-{c.data['kind']}"
    c.also = ("underfitting",)
    return c


def _mismatch(rng: np.random.Generator, seed: int, i: int) -> Case:
    if i % 2 == 0:
        c = _base(rng, seed, ("moons", "circles", "gauss", "xor"))
        out = _pick(rng, ("relu", "sigmoid", "tanh"))
        c.variant = f"ce-{out}"
    else:
        c = _base(rng, seed, ("sine", "plane"))
        out = _pick(rng, ("relu", "sigmoid"))
        c.variant = f"mse-{out}"
    c.model["output_activation"] = out
    c.also = ("underfitting", "dead_relu")
    return c


def _l2(rng: np.random.Generator, seed: int, i: int) -> Case:
    c = _base(rng, seed)
    opt = ("sgd", "momentum", "adam")[i % 3]
    lr = {"sgd": 0.05, "momentum": 0.01, "adam": 0.005}[opt]
    c.training.update(optimizer=opt, lr=lr, l2=_log_uniform(rng, 0.3, 3.0))
    c.also = ("underfitting",)
    c.variant = f"{opt}-l2"
    c.also = ("underfitting",)
    return c


def _plateau(rng: np.random.Generator, seed: int, i: int) -> Case:
    c = _base(rng, seed, ("circles", "xor", "moons"))
    std = float(_pick(rng, (0.001, 0.003, 0.01)))
    c.model.update(hidden=[16, 16], activation="tanh", init="normal", init_std=std)
    c.training.update(optimizer="sgd", lr=_log_uniform(rng, 0.03, 0.1))
    c.variant = f"tanh-std{std}"
    c.also = ("underfitting",)
    return c


MAKERS: dict[str, Callable[[np.random.Generator, int, int], Case]] = {
    "lr_too_large": _lr_large,
    "lr_too_small": _lr_small,
    "vanishing_gradients": _vanishing,
    "exploding_gradients": _exploding,
    "dead_relu": _dead,
    "saturated": _saturated,
    "unstandardized_inputs": _unstandardized,
    "init_loss": _init_loss,
    "overfitting": _overfit,
    "underfitting": _underfit,
    "missing_nonlinearity": _linear,
    "loss_mismatch": _mismatch,
    "l2_too_strong": _l2,
    "plateau": _plateau,
}


def generate(half: str, quick: bool = False) -> list[Case]:
    """Every candidate run of one half: ``CANDIDATES`` per fault, then the healthy runs.

    ``select`` keeps the first ``PER_FAULT`` of each fault whose fault shows.
    """
    check_disjoint()
    gen_seed, seed0 = HALVES[half]
    candidates = CANDIDATES // 3 if quick else CANDIDATES
    healthy = HEALTHY // 3 if quick else HEALTHY
    cases: list[Case] = []
    # One generator stream and one scenario seed per run, so that changing one
    # fault's variants (or the number of runs) leaves every other run as it was.
    for k, fault in enumerate(FAULTS):
        for i in range(candidates):
            rng = np.random.default_rng([gen_seed, k, i])
            c = MAKERS[fault](rng, seed0 + FAULT_SEED_STRIDE * k + i + 1, i)
            c.fault = fault
            c.name = f"{half}-{fault}-{i:02d}"
            cases.append(c)
    for i in range(healthy):
        rng = np.random.default_rng([gen_seed, len(FAULTS), i])
        c = _base(rng, seed0 + HEALTHY_SEED0 + i + 1)
        c.name = f"{half}-healthy-{i:02d}"
        cases.append(c)
    return cases


def pair_case(c: Case) -> Case | None:
    """The healthy run ``c``'s fault was put into (same data and seed), or None."""
    if c.pair_model is None or c.pair_training is None:
        return None
    return Case(
        name=f"{c.name}-pair",
        fault="pair",
        variant=c.variant,
        top=dict(c.top),
        data={**{k: v for k, v in c.data.items() if k != "path"}, **c.pair_data},
        model=copy.deepcopy(c.pair_model),
        # compared at the broken run's last epoch
        training={**c.pair_training, "epochs": c.training["epochs"]},
        csv=c.csv,
    )


def _plain_run(path: str) -> dict[str, float]:
    """Train a scenario without diagnosis: last and lowest epoch validation loss."""
    from tui_trainer.engine.session import Session
    from tui_trainer.scenario import load_scenario

    sc = load_scenario(path)
    data = sc.load_data()
    s = Session(sc.train_config(data), data)
    s.run()
    ep = s.history.epochs
    vals = ep.data[: ep.n, ep.index["val_loss"]]
    finite = vals[np.isfinite(vals)]
    if s.classification:
        chance = math.log(max(2, int(s.net.layers[-1].n_out)))
    else:
        chance = float(np.var(s.data.y_train))
    return {
        "last": _val_loss(s),
        "best": float(np.min(finite)) if s.nonfinite is None and finite.size else math.inf,
        "chance": chance,
    }


def _key(c: Case) -> str:
    """The run's identity: its settings (not where its csv is written) and csv text."""
    bare = copy.copy(c)
    bare.data = {k: v for k, v in c.data.items() if k != "path"}
    return hashlib.sha256((toml_text(bare) + (c.csv or "")).encode()).hexdigest()[:20]


def validity(cases: list[Case], out: Path, workers: int) -> dict[str, dict[str, Any]]:
    """Does each broken run's fault show? Decided without the diagnosis.

    The rule (bench/README.md): the fault shows when the paired healthy run
    (the same scenario and seed with the fault undone, trained to the same
    epoch) ends with a validation loss at most 0.8x the broken run's (the
    repair bar), a diverged broken run counting as infinitely bad and a
    diverged pair as no better. For overfitting the pair is the broken run
    itself stopped at its lowest epoch validation loss. The difference must
    also be at least 0.05x the chance-level loss (ln C, or the variance of the
    targets), so that 0.019 against 0.014 on a solved task does not count. A
    healthy run is valid when it ends finite and does not overfit by that
    same rule (its end 1.25x and 0.05 chance levels above its best epoch's
    validation loss). Results are cached in
    ``out/validity2.json`` by the scenario texts (they do not depend on the rules).
    """
    cache_path = out / "validity2.json"
    cache: dict[str, dict[str, float]] = {}
    if cache_path.exists():
        cache = json.loads(cache_path.read_text())
    todo: dict[str, Case] = {}
    for c in cases:
        for x in (c, pair_case(c)):
            if x is not None and _key(x) not in cache:
                todo[_key(x)] = x
    if todo:
        keys = list(todo)
        paths = write_cases([todo[k] for k in keys], out / "validity")
        for k, r in zip(keys, _pool_map(_plain_run, [str(p) for p in paths], workers), strict=True):
            cache[k] = r
        tmp = cache_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(cache, default=str))
        tmp.replace(cache_path)
    verdict = {}
    for c in cases:
        own = cache[_key(c)]
        broken = float(own["last"])
        if c.fault == "healthy":
            # Valid when it ends finite and does not overfit by the overfitting
            # rule below (its own best epoch not 0.8x and 0.05 chance below its end).
            best = float(own["best"])
            overfits = math.isfinite(broken) and (
                best <= MANIFEST_GAIN * broken and broken - best >= MANIFEST_FLOOR * own["chance"]
            )
            valid = math.isfinite(broken) and not overfits
            verdict[c.name] = {"broken": broken, "reference": best, "shows": valid}
            continue
        pair = pair_case(c)
        ref = float(own["best"] if pair is None else cache[_key(pair)]["last"])
        shows = math.isfinite(ref) and (
            not math.isfinite(broken)
            or (ref <= MANIFEST_GAIN * broken and broken - ref >= MANIFEST_FLOOR * own["chance"])
        )
        verdict[c.name] = {"broken": broken, "reference": ref, "shows": shows}
    return verdict


def select(
    cases: list[Case], verdict: dict[str, dict[str, Any]], quick: bool = False
) -> tuple[list[Case], dict[str, tuple[int, int]]]:
    """The first ``PER_FAULT`` candidates of each fault whose fault shows, and the healthy runs.

    Also per fault: (candidates looked at, of which the fault did not show).
    """
    want = PER_FAULT // 3 if quick else PER_FAULT
    kept: list[Case] = []
    lost: dict[str, tuple[int, int]] = {}
    for fault in FAULTS:
        looked = dropped = taken = 0
        for c in cases:
            if c.fault != fault or taken >= want:
                continue
            looked += 1
            if verdict[c.name]["shows"]:
                kept.append(c)
                taken += 1
            else:
                dropped += 1
        lost[fault] = (looked, dropped)
    keep = HEALTHY_KEEP // 3 if quick else HEALTHY_KEEP
    looked = dropped = 0
    for c in cases:
        if c.fault != "healthy" or looked - dropped >= keep:
            continue
        looked += 1
        if verdict[c.name]["shows"]:
            kept.append(c)
        else:
            dropped += 1
    lost["healthy"] = (looked, dropped)
    return kept, lost


# ------------------------------------------------------------------ running
def _val_loss(s: Any) -> float:
    """The last epoch's validation loss (inf if the run diverged)."""
    if s.nonfinite is not None:
        return math.inf
    v = s.history.epochs.last("val_loss")
    return float(v) if math.isfinite(v) else math.inf


def _overfit_visible(s: Any) -> float:
    """The step from which overfitting shows for good, without the diagnosis: the
    end of the epoch after the last one whose validation loss was within 1.1x of
    the lowest so far (from then on it stays above; nan if it never rose)."""
    ep = s.history.epochs
    if ep.n < 2:
        return math.nan
    v = ep.data[: ep.n, ep.index["val_loss"]]
    if not np.all(np.isfinite(v)):
        return math.nan
    near = np.flatnonzero(v <= 1.1 * np.minimum.accumulate(v))
    last = int(near[-1]) if near.size else 0
    if last >= ep.n - 1:
        return math.nan
    return float((last + 2) * s.batches_per_epoch)


def run_case(path: str) -> dict[str, Any]:
    """Train one scenario with the scheduled diagnosis; findings, steps, val loss."""
    from tui_trainer.engine.diagnostics.headless import run_diagnosed
    from tui_trainer.engine.session import Session
    from tui_trainer.scenario import load_scenario

    t0 = time.perf_counter()
    sc = load_scenario(path)
    data = sc.load_data()
    s = Session(sc.train_config(data), data)
    total = s.epochs * s.batches_per_epoch
    result = run_diagnosed(s, budget=None)  # every 1% of the run: how soon, not how cheap
    return {
        "path": path,
        "findings": [
            {
                "code": f.code,
                "severity": f.severity,
                "layer": f.layer,
                # the first check that reported this code, whatever the layer
                # (a static finding and the later dynamic one of the same code
                # can name different layers)
                "seen": min(
                    [st for (code, _), st in result.first_seen.items() if code == f.code]
                    or [result.seen_at(f)]
                ),
                "fixes": [dict(x) for x in f.fixes],
                "evidence": f.evidence,
            }
            for f in result.findings
            if f.severity != "info"  # scored: warnings and errors (notes are not alarms)
        ],
        "steps": result.steps,
        "total_steps": total,
        "epochs": result.epochs,
        "val_loss": _val_loss(s),
        "val_accuracy": float(s.history.epochs.last("val_accuracy")),
        "visible": _overfit_visible(s),
        "seconds": time.perf_counter() - t0,
    }


def repair_case(args: tuple[str, dict[str, Any], int]) -> dict[str, Any]:
    """Apply ``fix`` to the scenario, train to ``epochs`` epochs: the val loss there."""
    from tui_trainer.engine.session import Session
    from tui_trainer.fixes import apply_fix
    from tui_trainer.scenario import load_scenario

    path, fix, epochs = args
    try:
        sc = apply_fix(load_scenario(path), fix)
        data = sc.load_data()
        s = Session(sc.train_config(data), data)
    except Exception as e:  # noqa: BLE001 - a fix that does not apply is a failed repair
        return {"path": path, "val_loss": math.inf, "error": str(e)}
    s.run_to_epoch(max(1, epochs))
    return {"path": path, "val_loss": _val_loss(s), "error": ""}


def use_baseline(ref: str) -> Path:
    """Score the whole package as it was at git ``ref`` (rules, fixes and engine).

    Extracts ``tui_trainer/`` at ``ref`` (``git archive``) into a temporary
    directory and puts it first on ``sys.path``, before anything imports the
    package; the processes forked for the runs inherit it. The generator and
    the label-validity check are this version's, so both sides score the
    same runs.
    """
    import io
    import subprocess
    import tarfile

    if "tui_trainer" in sys.modules:
        raise RuntimeError("--baseline must be set up before tui_trainer is imported")
    root = Path(__file__).resolve().parents[1]
    tar = subprocess.run(
        ["git", "archive", ref, "tui_trainer"], cwd=root, capture_output=True, check=True
    ).stdout
    where = Path(tempfile.mkdtemp(prefix=f"tui-trainer-{ref.replace('/', '_')}-"))
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        t.extractall(where, filter="data")
    sys.path.insert(0, str(where))
    return where


def _pool_map(fn: Callable[[Any], Any], items: list[Any], workers: int) -> list[Any]:
    if workers <= 1:
        return [fn(x) for x in items]
    with get_context("fork").Pool(workers) as pool:
        return pool.map(fn, items, chunksize=1)


# ------------------------------------------------------------------ scoring
def score(cases: list[Case], results: list[dict[str, Any]]) -> dict[str, Any]:
    by_code: dict[str, dict[str, Any]] = {}
    reported: dict[str, list[bool]] = {}  # code -> [true?] over runs that reported it
    healthy_alarms = 0
    healthy_total = 0
    for c, r in zip(cases, results, strict=True):
        codes = {f["code"] for f in r["findings"]}
        truth = {c.fault, *c.also} if c.fault != "healthy" else set()
        for code in codes:
            if code in c.also and code != c.fault:
                continue  # also true of this fault: neither hit nor false positive
            # "diverged" states a fact (a NaN appeared), true whenever it is reported
            reported.setdefault(code, []).append(code in truth or code == "diverged")
        if c.fault == "healthy":
            healthy_total += 1
            healthy_alarms += bool(codes)
            continue
        row = by_code.setdefault(
            c.fault, {"runs": 0, "hits": 0, "steps": [], "share": [], "repaired": 0, "fixed": 0}
        )
        row["runs"] += 1
        hit = [f for f in r["findings"] if f["code"] == c.fault]
        if hit:
            row["hits"] += 1
            row["steps"].append(hit[0]["seen"])
            row["share"].append(hit[0]["seen"] / max(1, r["total_steps"]))
        if c.fault == "overfitting" and math.isfinite(r.get("visible", math.nan)):
            share = r["visible"] / max(1, r["total_steps"])
            row.setdefault("visible", []).append(share)
            if share <= 0.1:  # visible in the first 10%: found there too?
                found_early = bool(hit) and hit[0]["seen"] <= 0.1 * r["total_steps"]
                row.setdefault("early", []).append(found_early)
        if r.get("repaired") is not None:
            row["fixed"] += 1
            row["repaired"] += bool(r["repaired"])
    table = {}
    for fault in FAULTS:
        row = by_code.get(fault, {"runs": 0, "hits": 0, "steps": [], "share": [], "repaired": 0})
        rep = reported.get(fault, [])
        table[fault] = {
            "runs": row["runs"],
            "recall": row["hits"] / row["runs"] if row["runs"] else math.nan,
            "precision": sum(rep) / len(rep) if rep else math.nan,
            "reported": len(rep),
            "median_step": statistics.median(row["steps"]) if row["steps"] else math.nan,
            "median_share": statistics.median(row["share"]) if row["share"] else math.nan,
            "visible_share": statistics.median(row["visible"]) if row.get("visible") else math.nan,
            "early": (sum(row.get("early", [])), len(row.get("early", []))),
            "repair": row["repaired"] / row["runs"]
            if row["runs"] and row.get("fixed")
            else math.nan,
        }
    others = {k: (sum(v), len(v)) for k, v in reported.items() if k not in FAULTS}
    return {
        "faults": table,
        "other_codes": others,
        "false_alarms": healthy_alarms / healthy_total if healthy_total else math.nan,
        "healthy": healthy_total,
        "healthy_alarms": healthy_alarms,
    }


def _fmt(x: float, spec: str = ".2f") -> str:
    return "-" if isinstance(x, float) and math.isnan(x) else format(x, spec)


def print_table(title: str, sc: dict[str, Any]) -> None:
    print(f"\n{title}")
    head = f"{'fault':<22} {'runs':>4} {'prec':>5} {'recall':>6} {'steps':>6} {'of run':>6} {'repair':>6}"
    print(head)
    print("-" * len(head))
    for fault, row in sc["faults"].items():
        print(
            f"{fault:<22} {row['runs']:>4} {_fmt(row['precision']):>5} {_fmt(row['recall']):>6} "
            f"{_fmt(row['median_step'], '.0f'):>6} {_fmt(row['median_share'], '.0%'):>6} "
            f"{_fmt(row['repair']):>6}"
        )
    ov = sc["faults"].get("overfitting", {})
    if math.isfinite(ov.get("visible_share", math.nan)):
        print(
            f"overfitting: visible for good (val loss above 1.1x its best from then on) at a "
            f"median {_fmt(ov['visible_share'], '.0%')} of the run; found at "
            f"{_fmt(ov['median_share'], '.0%')}; of the {ov['early'][1]} runs where it shows "
            f"in the first 10%, {ov['early'][0]} were found there"
        )
    for code, (true, n) in sorted(sc["other_codes"].items()):
        print(f"{code:<22} {'':>4} {_fmt(true / n):>5}   (reported {n}x, not a fault of its own)")
    print(
        f"false alarms: {sc['healthy_alarms']} of {sc['healthy']} healthy runs "
        f"({_fmt(sc['false_alarms'], '.0%')})"
    )


def confusion(cases: list[Case], results: list[dict[str, Any]]) -> None:
    """Per run that missed its fault or raised a false alarm: what was found instead."""
    for c, r in zip(cases, results, strict=True):
        codes = [f["code"] for f in r["findings"]]
        wrong = [x for x in codes if x != c.fault and x not in c.also]
        missed = c.fault != "healthy" and c.fault not in codes
        unrepaired = c.fault != "healthy" and r.get("repaired") is False
        if missed or wrong or unrepaired:
            fix = (
                f"  fix {r.get('fix')} -> val {r.get('fixed_val', math.nan):.3g}"
                if unrepaired
                else ""
            )
            print(
                f"  {c.name:<34} {c.variant:<22} found {codes or '-'}"
                f"  val {r['val_loss']:.3g} acc {r['val_accuracy']:.2f}{fix}"
            )


def overhead(rounds: int = 3) -> None:
    """The cost of the scheduled diagnosis on ``bench/engine.py``'s rows.

    Each row trains the same run three ways, interleaved round by round: the
    plain engine (``Session.run``), ``run_diagnosed`` with its 5% budget (what
    ``tui-trainer diagnose`` does) and with the fixed schedule of 100 checks
    (what this benchmark does to time the findings). Medians of the rounds;
    the ratio is what counts, not the absolute times. On a busy machine the
    end-to-end ratio is noisy; the share of time spent in the checks (timed
    inside ``run_diagnosed``) is the steadier figure.
    """
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import engine as eng  # bench/engine.py

    from tui_trainer.engine.diagnostics.headless import BUDGET, run_diagnosed
    from tui_trainer.engine.session import Session

    print(
        "\ncost of the diagnosis: time ratio to the plain engine (and, in brackets, the time "
        "in the checks as a share of the training time); medians of rounds"
    )
    print(f"{'row':<16} {'steps':>6} {'plain s':>8} {'budget':>14} {'100 checks':>14}")
    for row in eng.ROWS:
        data, _ = eng.make_data(row)
        cfg = eng.make_config(row, "sgd")
        per_epoch = max(1, math.ceil(row.n / cfg.batch_size))
        epochs = max(1, 2000 // per_epoch) if row.n_params < 20_000 else max(1, 300 // per_epoch)
        cfg = cfg.with_changes(epochs=epochs)
        times: dict[str, list[float]] = {"plain": [], "budget": [], "fixed": []}
        share: dict[str, list[float]] = {"budget": [], "fixed": []}
        for _ in range(rounds):
            for how in times:
                s = Session(cfg, data)
                t = time.perf_counter()
                if how == "plain":
                    s.run()
                else:
                    d = run_diagnosed(s, budget=BUDGET if how == "budget" else None)
                    share[how].append(d.check_seconds / max(d.train_seconds, 1e-9))
                times[how].append(time.perf_counter() - t)
        plain = statistics.median(times["plain"])
        b = statistics.median(times["budget"]) / plain
        f = statistics.median(times["fixed"]) / plain
        sb, sf = statistics.median(share["budget"]), statistics.median(share["fixed"])
        print(
            f"{row.name:<16} {epochs * per_epoch:>6} {plain:>8.2f} {b:>6.2f}x ({sb:>4.0%})"
            f" {f:>6.2f}x ({sf:>4.0%})"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--half",
        choices=(*HALVES, "tuning"),
        default="tuning",
        help="a seed set, or 'tuning' (tune, tune2, heldout, heldout2; default). Score heldout3 once.",
    )
    ap.add_argument("--quick", action="store_true", help="a third of the runs")
    ap.add_argument("--workers", type=int, default=2, help="processes (default 2, at most 2)")
    ap.add_argument(
        "--out", type=Path, default=Path(tempfile.gettempdir()) / "tui-trainer-diagnosis"
    )
    ap.add_argument("--no-repair", action="store_true", help="skip the repair runs")
    ap.add_argument("--show", action="store_true", help="list every miss and false alarm")
    ap.add_argument("--only", help="only this fault (and no healthy runs)")
    ap.add_argument("--json", type=Path, help="also write the scores as JSON")
    ap.add_argument(
        "--runs", type=Path, help="also write every run (label, findings, evidence) as JSON lines"
    )
    ap.add_argument(
        "--baseline", metavar="REF", help="score the package of git REF instead (e.g. main)"
    )
    ap.add_argument("--overhead", action="store_true", help="only measure the cost of the checks")
    args = ap.parse_args(argv)
    if args.overhead:
        overhead()
        return 0
    if args.baseline:
        print(f"scoring the package of {args.baseline} from {use_baseline(args.baseline)}")
    workers = max(1, min(2, args.workers))
    halves = TUNING if args.half == "tuning" else (args.half,)
    scores = {}
    for half in halves:
        cases = generate(half, args.quick)
        if args.only:
            cases = [c for c in cases if c.fault == args.only]
        verdict = validity(cases, args.out / half, workers)
        cases, lost = select(cases, verdict, args.quick)
        print(
            f"\n{half}: label validity, per fault: candidates looked at / dropped "
            "(the fault did not show)"
        )
        print("  " + ", ".join(f"{f} {n}/{d}" for f, (n, d) in lost.items() if n))
        paths = write_cases(cases, args.out / half)
        t0 = time.perf_counter()
        results = _pool_map(run_case, [str(p) for p in paths], workers)
        t_runs = time.perf_counter() - t0
        if not args.no_repair:
            jobs, where = [], []
            for k, (c, r) in enumerate(zip(cases, results, strict=True)):
                if c.fault == "healthy":
                    continue
                with_fix = [f for f in r["findings"] if f["fixes"]]
                if with_fix:
                    jobs.append((str(paths[k]), with_fix[0]["fixes"][0], max(1, r["epochs"])))
                    where.append(k)
                else:
                    r["repaired"] = False
            for k, rep in zip(where, _pool_map(repair_case, jobs, workers), strict=True):
                before = results[k]["val_loss"]
                after = rep["val_loss"]
                results[k]["repaired"] = bool(
                    math.isfinite(after)
                    and (not math.isfinite(before) or after <= REPAIR_GAIN * before)
                )
                results[k]["fix"] = jobs[where.index(k)][1]
                results[k]["fixed_val"] = after
        sc = score(cases, results)
        sc["label_validity"] = {f: {"looked": n, "dropped": d} for f, (n, d) in lost.items()}
        scores[half] = sc
        n_broken = sum(c.fault != "healthy" for c in cases)
        print_table(
            f"{half}: {n_broken} broken + {len(cases) - n_broken} healthy runs "
            f"({t_runs:.0f} s of runs, {workers} workers; scenarios in {args.out / half})",
            sc,
        )
        if args.show:
            confusion(cases, results)
        if args.runs:
            with args.runs.open("a") as fh:
                for c, r in zip(cases, results, strict=True):
                    fh.write(
                        json.dumps(
                            {
                                "name": c.name,
                                "fault": c.fault,
                                "variant": c.variant,
                                "also": list(c.also),
                                **r,
                            },
                            default=str,
                        )
                        + "\n"
                    )
    if args.json:
        args.json.write_text(json.dumps(scores, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
