"""Data for training runs: generated toy sets, CSV files and the bundled real data.

Everything here is deterministic given a seed, so that a scenario file (or a
notebook cell) reproduces the same points bit for bit: generators draw only
from ``np.random.default_rng(seed)`` and :func:`split` shuffles with its own seed.

The pipeline is ``generate`` / ``load_csv`` / ``load_builtin`` -> a
:class:`GeneratedData` (all rows, no split yet) -> :func:`split` -> the
:class:`~tui_trainer.engine.config.Dataset` the trainer consumes.

Conventions for every source:

* ``x`` is float64 with shape ``(n, features)``.
* classification: ``y`` holds class indices, int64, shape ``(n,)``, and
  ``class_names[i]`` names class ``i``;
* regression: ``y`` is float64 with shape ``(n, targets)`` (here always 1 target).

Problems the user can fix (a typo in a column name, a bad cell in a CSV file,
an unknown data set kind) raise :class:`DataError`, whose ``field`` names the
scenario setting at fault so that a UI can point at it.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import numbers
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from tui_trainer.engine.config import Dataset
from tui_trainer.engine.features import (
    FeatureError,
    check_finite,
    compute_features,
    is_default,
    looks_like_cross,
    parse_features,
    referenced_columns,
)
from tui_trainer.engine.memory import format_bytes

__all__ = [
    "BUILTIN_KINDS",
    "DATASET_KINDS",
    "GENERATORS",
    "KIND_ALIASES",
    "DataError",
    "GeneratedData",
    "GeneratorInfo",
    "canonical_kind",
    "generate",
    "load_builtin",
    "load_csv",
    "select_features",
    "split",
    "with_features",
]

MIN_CSV_ROWS = 4
"""A CSV file needs at least this many data rows: fewer cannot be split sensibly."""

MAX_CSV_ROWS = 1_000_000
"""At most this many data rows: the same limit as generated data's ``n_samples``."""

MAX_CSV_BYTES = 256 * 1024 * 1024
"""Larger files are refused before reading: parsing one costs several times its size."""

MAX_LISTED = 10
"""Messages list at most this many column names, then say how many more there are."""

MAX_QUOTED = 40
"""Text from a file is quoted in a message up to this many characters."""

MAX_INFERRED_CLASSES = 20
"""With ``task=None`` an integer target with at most this many distinct values is
taken to be class labels rather than a quantity to regress."""


class DataError(ValueError):
    """A problem with the requested data that the user can fix.

    ``field`` names the setting at fault (``"path"``, ``"target"``,
    ``"features"``, ``"task"``, ``"kind"``, ``"n_samples"``, ``"noise"``,
    ``"val_fraction"`` or a generator parameter such as ``"classes"``), so a
    scenario editor can highlight it next to ``message``.
    """

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass
class GeneratedData:
    """All rows of a data set before it is split into training and validation.

    ``image_shape`` is set when each row is a flattened image (``(8, 8)`` for
    the digits) so the UI can draw samples; ``target_name`` and ``name`` are
    for display only.
    """

    x: np.ndarray
    y: np.ndarray
    task: str = "classification"
    n_classes: int = 0
    feature_names: list[str] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)
    image_shape: tuple[int, int] | None = None
    target_name: str = ""
    name: str = ""
    # Set by with_features when the inputs are crosses: the columns they are
    # computed from, their names, and the inputs' texts.
    base: np.ndarray | None = None
    base_names: list[str] | None = None
    features: tuple[str, ...] | None = None

    @property
    def n_samples(self) -> int:
        return int(self.x.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.x.shape[1])


# --------------------------------------------------------------------------
# Generated data sets
# --------------------------------------------------------------------------

# A generator takes (rng, n_samples, noise, **params) and returns
# (x, y, class_names); class_names is empty for regression.
GeneratorFn = Callable[..., tuple[np.ndarray, np.ndarray, list[str]]]


@dataclass(frozen=True)
class GeneratorInfo:
    """What a generated data set kind is, for dispatch and for pickers in the UI."""

    func: GeneratorFn
    description: str
    task: str
    n_features: int = 2
    params: tuple[str, ...] = ()


def _class_sizes(n: int, k: int) -> list[int]:
    """Split ``n`` samples over ``k`` classes as evenly as possible (first ones get extra)."""
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def _labels(sizes: Sequence[int]) -> np.ndarray:
    return np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)


def _check_classes(value: object, n: int, minimum: int = 2) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise DataError(f"classes must be an integer >= {minimum}, got {value!r}", "classes")
    k = int(value)
    if n < k:
        raise DataError(
            f"n_samples ({n}) must be at least the number of classes ({k})", "n_samples"
        )
    return k


def _gen_circles(rng: np.random.Generator, n: int, noise: float) -> tuple:
    """TensorFlow Playground's "circle": a disc of class 1 inside a ring of class 0.

    Half the points get a radius U(0, 2.5), half U(3.5, 5), angles U(0, 2*pi).
    As in the playground, the label is decided on a jittered copy of the point
    (``p + U(-5, 5) * noise`` per coordinate, inside iff radius < 2.5) while the
    stored point stays unjittered, so noise shows up as wrongly coloured points
    near the boundary. With ``noise=0`` inside points are class 1, ring points
    class 0.
    """
    n_inside, n_outside = _class_sizes(n, 2)
    radius = np.concatenate([rng.uniform(0.0, 2.5, n_inside), rng.uniform(3.5, 5.0, n_outside)])
    angle = rng.uniform(0.0, 2.0 * np.pi, n)
    x = np.column_stack([radius * np.sin(angle), radius * np.cos(angle)])
    jittered = x + rng.uniform(-5.0, 5.0, (n, 2)) * noise
    y = (np.hypot(jittered[:, 0], jittered[:, 1]) < 2.5).astype(np.int64)
    return x, y, ["outside", "inside"]


def _gen_xor(rng: np.random.Generator, n: int, noise: float) -> tuple:
    """TensorFlow Playground's "exclusive or": class 1 where x1 * x2 > 0.

    Coordinates are U(-5, 5), pushed 0.3 away from the axes so that with
    ``noise=0`` no point sits on the boundary. As in the playground the label is
    taken from a jittered copy ``p + U(-5, 5) * noise``. Classes are balanced
    only in expectation.
    """
    x = rng.uniform(-5.0, 5.0, (n, 2))
    x += np.where(x > 0, 0.3, -0.3)
    jittered = x + rng.uniform(-5.0, 5.0, (n, 2)) * noise
    y = (jittered[:, 0] * jittered[:, 1] >= 0).astype(np.int64)
    return x, y, ["different signs", "same sign"]


def _gen_gauss(rng: np.random.Generator, n: int, noise: float, classes: int = 2) -> tuple:
    """TensorFlow Playground's "gaussian": one isotropic normal cluster per class.

    For two classes the centres are the playground's (-2, -2) (class 0) and
    (2, 2) (class 1). In general the ``classes`` centres sit evenly on a circle
    of radius ``max(2*sqrt(2), classes / 2)`` starting at 225 degrees, so
    neighbouring clusters stay about 3 apart however many there are. The
    variance is the playground's ``0.5 + 7 * noise`` (0.5 to 4 for noise 0 to 0.5).
    """
    k = _check_classes(classes, n)
    sizes = _class_sizes(n, k)
    radius = max(2.0 * math.sqrt(2.0), k / 2.0)
    angles = 1.25 * np.pi + 2.0 * np.pi * np.arange(k) / k
    centres = radius * np.column_stack([np.cos(angles), np.sin(angles)])
    y = _labels(sizes)
    std = math.sqrt(0.5 + 7.0 * noise)
    x = centres[y] + rng.normal(0.0, std, (n, 2))
    return x, y, [f"cluster {i}" for i in range(k)]


def _gen_spiral(rng: np.random.Generator, n: int, noise: float, classes: int = 2) -> tuple:
    """TensorFlow Playground's "spiral", generalised to ``classes`` arms.

    Arm ``a`` with ``m`` points has, for ``i < m``, radius ``r = 5 i / m`` and
    angle ``t = 1.75 * 2*pi * i / m + a * 2*pi / classes``; the point is
    ``(r sin t, r cos t)`` plus ``U(-1, 1) * noise`` per coordinate (with two arms
    this is exactly the playground's pair offset by pi).
    """
    k = _check_classes(classes, n)
    sizes = _class_sizes(n, k)
    parts = []
    for arm, m in enumerate(sizes):
        frac = np.arange(m) / m
        r = 5.0 * frac
        t = 1.75 * 2.0 * np.pi * frac + arm * 2.0 * np.pi / k
        parts.append(np.column_stack([r * np.sin(t), r * np.cos(t)]))
    x = np.concatenate(parts) + rng.uniform(-1.0, 1.0, (n, 2)) * noise
    return x, _labels(sizes), [f"arm {i}" for i in range(k)]


def _gen_moons(rng: np.random.Generator, n: int, noise: float) -> tuple:
    """Two interleaving half circles, scikit-learn's ``make_moons`` shape.

    Class 0 is ``(cos a, sin a)``, class 1 is ``(1 - cos a, 0.5 - sin a)``.
    Unlike scikit-learn, ``a ~ U(0, pi)`` rather than evenly spaced, so the
    seed matters even at ``noise=0``. Gaussian noise with std ``noise`` is
    added to both coordinates (0.1 to 0.3 gives the familiar picture).
    """
    sizes = _class_sizes(n, 2)
    a_upper = rng.uniform(0.0, np.pi, sizes[0])
    a_lower = rng.uniform(0.0, np.pi, sizes[1])
    upper = np.column_stack([np.cos(a_upper), np.sin(a_upper)])
    lower = np.column_stack([1.0 - np.cos(a_lower), 0.5 - np.sin(a_lower)])
    x = np.concatenate([upper, lower]) + rng.normal(0.0, noise, (n, 2))
    return x, _labels(sizes), ["upper moon", "lower moon"]


_LINEAR_NORMAL = np.array([1.0, 2.0]) / math.sqrt(5.0)


def _gen_linear(rng: np.random.Generator, n: int, noise: float) -> tuple:
    """Two classes in [-5, 5]^2 separated by the line x1 + 2 x2 = 0.

    Class 1 lies where ``x1 + 2 x2 > 0``. Points closer to the line than
    ``1 - noise`` are rejected, so the empty band between the classes is
    ``2 * (1 - noise)`` wide at ``noise=0`` and vanishes at ``noise >= 1``; the
    data stays linearly separable either way (it is the easy baseline).
    """
    half_margin = max(0.0, 1.0 - noise)
    sizes = _class_sizes(n, 2)
    parts = []
    for sign, m in ((-1.0, sizes[0]), (1.0, sizes[1])):
        chunks: list[np.ndarray] = []
        have = 0
        while have < m:
            candidates = rng.uniform(-5.0, 5.0, (2 * m + 16, 2))
            keep = candidates[sign * (candidates @ _LINEAR_NORMAL) > half_margin]
            chunks.append(keep)
            have += len(keep)
        parts.append(np.concatenate(chunks)[:m])
    return np.concatenate(parts), _labels(sizes), ["below", "above"]


def _gen_sine(rng: np.random.Generator, n: int, noise: float) -> tuple:
    """1-D regression: ``x ~ U(-3, 3)``, ``y = sin(x) + N(0, noise)``."""
    x = rng.uniform(-3.0, 3.0, (n, 1))
    y = np.sin(x) + rng.normal(0.0, noise, (n, 1))
    return x, y, []


def _gen_polynomial(rng: np.random.Generator, n: int, noise: float, degree: int = 3) -> tuple:
    """1-D regression: ``x ~ U(-1, 1)``, ``y = T_degree(x) + N(0, noise)``.

    ``T_d`` is the Chebyshev polynomial of the first kind, chosen because its
    coefficients are fixed and well known (``T_1 = x``, ``T_2 = 2x^2 - 1``,
    ``T_3 = 4x^3 - 3x``, ``T_4 = 8x^4 - 8x^2 + 1``, ...) and it oscillates
    exactly within [-1, 1] on [-1, 1], with ``degree - 1`` turning points.
    """
    if (
        isinstance(degree, bool)
        or not isinstance(degree, numbers.Integral)
        or not 1 <= degree <= 20
    ):
        raise DataError(f"degree must be an integer from 1 to 20, got {degree!r}", "degree")
    x = rng.uniform(-1.0, 1.0, (n, 1))
    coefficients = np.zeros(int(degree) + 1)
    coefficients[-1] = 1.0
    y = np.polynomial.chebyshev.chebval(x, coefficients) + rng.normal(0.0, noise, (n, 1))
    return x, y, []


# (centre x1, centre x2, sign): the playground's six "regression gaussian" bumps.
_SURFACE_BUMPS = (
    (-4.0, 2.5, 1.0),
    (0.0, 2.5, -1.0),
    (4.0, 2.5, 1.0),
    (-4.0, -2.5, -1.0),
    (0.0, -2.5, 1.0),
    (4.0, -2.5, -1.0),
)
_SURFACE_WIDTH = 1.5


def _playground_regression_points(
    rng: np.random.Generator, n: int, noise: float
) -> tuple[np.ndarray, np.ndarray]:
    """Points U(-6, 6)^2 and the jittered copies the playground evaluates the target at."""
    x = rng.uniform(-6.0, 6.0, (n, 2))
    return x, x + rng.uniform(-6.0, 6.0, (n, 2)) * noise


def _gen_surface(rng: np.random.Generator, n: int, noise: float) -> tuple:
    """2-D regression: six gaussian bumps of alternating sign on [-6, 6]^2.

    Centres (-4, 2.5)+, (0, 2.5)-, (4, 2.5)+, (-4, -2.5)-, (0, -2.5)+,
    (4, -2.5)- as in the playground's "regression gaussian"; here the target is
    the smooth sum of ``sign * exp(-d^2 / (2 * 1.5^2))`` (so about [-1, 1]).
    Noise works as in the playground: the target is evaluated at the point
    jittered by ``U(-6, 6) * noise``.
    """
    x, at = _playground_regression_points(rng, n, noise)
    y = np.zeros(n)
    for cx, cy, sign in _SURFACE_BUMPS:
        d2 = (at[:, 0] - cx) ** 2 + (at[:, 1] - cy) ** 2
        y += sign * np.exp(-d2 / (2.0 * _SURFACE_WIDTH**2))
    return x, y[:, None], []


def _gen_plane(rng: np.random.Generator, n: int, noise: float) -> tuple:
    """2-D regression, TensorFlow Playground's "plane": ``y = (x1 + x2) / 10`` on [-6, 6]^2.

    Noise as in the playground: the target is evaluated at the point jittered
    by ``U(-6, 6) * noise``.
    """
    x, at = _playground_regression_points(rng, n, noise)
    return x, ((at[:, 0] + at[:, 1]) / 10.0)[:, None], []


GENERATORS: dict[str, GeneratorInfo] = {
    "xor": GeneratorInfo(
        _gen_xor, "four quadrants, class = sign of x1*x2 (playground XOR)", "classification"
    ),
    "circles": GeneratorInfo(
        _gen_circles, "a disc inside a ring (playground circle)", "classification"
    ),
    "gauss": GeneratorInfo(
        _gen_gauss,
        "one gaussian cluster per class (param classes, default 2)",
        "classification",
        params=("classes",),
    ),
    "spiral": GeneratorInfo(
        _gen_spiral,
        "interleaved spiral arms, one per class (param classes, default 2)",
        "classification",
        params=("classes",),
    ),
    "moons": GeneratorInfo(_gen_moons, "two interleaving half circles", "classification"),
    "linear": GeneratorInfo(
        _gen_linear,
        "two classes split by a straight line; margin shrinks with noise",
        "classification",
    ),
    "sine": GeneratorInfo(
        _gen_sine, "1-D regression y = sin(x) on [-3, 3]", "regression", n_features=1
    ),
    "polynomial": GeneratorInfo(
        _gen_polynomial,
        "1-D regression on a Chebyshev polynomial (param degree, default 3)",
        "regression",
        n_features=1,
        params=("degree",),
    ),
    "surface": GeneratorInfo(
        _gen_surface, "2-D regression: six gaussian bumps of alternating sign", "regression"
    ),
    "plane": GeneratorInfo(
        _gen_plane, "2-D regression y = (x1 + x2) / 10 (playground plane)", "regression"
    ),
}
"""Every generated kind, with a one-line description, its task and its extra parameters."""

KIND_ALIASES: dict[str, str] = {
    "circle": "circles",
    "blobs": "gauss",
    "gaussian": "gauss",
    "spirals": "spiral",
}
"""Other accepted spellings of generated kinds (playground and scikit-learn names)."""

BUILTIN_KINDS: tuple[str, ...] = ("iris", "digits")
"""Real data sets shipped in ``tui_trainer/scenarios/data``."""

DATASET_KINDS: tuple[str, ...] = (*GENERATORS, "csv", *BUILTIN_KINDS)
"""Every canonical data set kind a scenario may name (aliases not repeated)."""


def _did_you_mean(name: str, choices: Sequence[str], n: int = 1) -> str:
    """`` Did you mean 'x'?`` for up to ``n`` close names ("" when none is close)."""
    lowered = {c.lower(): c for c in choices}
    if name.lower() in lowered:
        return f" Did you mean {_quote(lowered[name.lower()])}?"
    # difflib is quadratic in a name's length and linear in the names: bound both.
    close = difflib.get_close_matches(name[:100], list(choices[:10_000]), n=n, cutoff=0.6)
    return f" Did you mean {' or '.join(_quote(c) for c in close)}?" if close else ""


def _quote(text: str) -> str:
    """``text`` quoted for a message: control characters visible, long text cut.

    File contents never go into a message whole (a CSV path may name any file,
    e.g. ``/proc/self/environ``): at most :data:`MAX_QUOTED` characters.
    """
    cut = text[:MAX_QUOTED] + ("..." if len(text) > MAX_QUOTED else "")
    return repr(cut)


def _clip(text: str) -> str:
    """``text`` unquoted but cut short, control characters made visible."""
    cut = text[:MAX_QUOTED] + ("..." if len(text) > MAX_QUOTED else "")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in cut)


def _name_list(names: Sequence[str]) -> str:
    """The first :data:`MAX_LISTED` names, then how many more."""
    shown = ", ".join(_clip(n) for n in names[:MAX_LISTED])
    more = len(names) - MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def canonical_kind(kind: str) -> str:
    """The canonical name for ``kind`` (resolving aliases such as ``"circle"``).

    Raises :class:`DataError` (field ``"kind"``) listing the valid kinds, so a
    typo in a scenario is reported rather than silently replaced.
    """
    if not isinstance(kind, str):
        raise DataError(f"data set kind must be a string, got {kind!r}", "kind")
    name = kind.strip().lower()
    name = KIND_ALIASES.get(name, name)
    if name not in DATASET_KINDS:
        raise DataError(
            f"unknown data set kind {kind!r}; choose one of {', '.join(DATASET_KINDS)}."
            + _did_you_mean(kind, [*DATASET_KINDS, *KIND_ALIASES]),
            "kind",
        )
    return name


def generate(
    kind: str, n_samples: int = 200, noise: float = 0.0, seed: int = 0, **params: object
) -> GeneratedData:
    """Generate a toy data set; the same arguments always give the same arrays.

    ``noise`` follows TensorFlow Playground, where the noise slider's 0..50
    becomes 0..0.5: 0 is clean, 0.1-0.3 is the interesting range and 0.5 is the
    playground's maximum; values up to 1 (or beyond) are accepted. How each
    kind uses it is in that generator's docstring (label jitter for circles,
    xor, surface, plane; cluster variance for gauss; coordinate jitter
    ``U(-1, 1) * noise`` for spiral; gaussian std for moons, sine, polynomial;
    margin ``1 - noise`` for linear).

    Rows are shuffled (with the same seed) so that taking a prefix, or batching
    without further shuffling, does not see one class at a time.
    ``params`` are kind-specific (``classes`` for gauss and spiral, ``degree``
    for polynomial); unknown ones are errors rather than silently ignored.
    """
    name = canonical_kind(kind)
    if name not in GENERATORS:
        loader = "load_csv" if name == "csv" else "load_builtin"
        raise DataError(f"{name!r} data is loaded, not generated: use {loader}()", "kind")
    info = GENERATORS[name]
    for key in params:
        if key not in info.params:
            allowed = ", ".join(info.params) if info.params else "none"
            raise DataError(
                f"{name} does not take a parameter {key!r} (parameters: {allowed})", key
            )
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 2:
        raise DataError(f"n_samples must be an integer >= 2, got {n_samples!r}", "n_samples")
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not 0 <= noise < math.inf:
        raise DataError(f"noise must be a finite number >= 0, got {noise!r}", "noise")
    n = int(n_samples)
    rng = np.random.default_rng(seed)
    x, y, class_names = info.func(rng, n, float(noise), **params)
    order = rng.permutation(n)
    x = np.ascontiguousarray(x[order], dtype=np.float64)
    if info.task == "classification":
        y = np.ascontiguousarray(y[order], dtype=np.int64)
        target_name = "class"
    else:
        y = np.ascontiguousarray(y[order], dtype=np.float64)
        target_name = "y"
    feature_names = ["x"] if info.n_features == 1 else [f"x{i + 1}" for i in range(info.n_features)]
    return GeneratedData(
        x=x,
        y=y,
        task=info.task,
        n_classes=len(class_names),
        feature_names=feature_names,
        class_names=class_names,
        target_name=target_name,
        name=name,
    )


# --------------------------------------------------------------------------
# CSV files
# --------------------------------------------------------------------------


def _open_regular(path: Path) -> io.BufferedReader:
    """Open ``path`` for reading only if it is a regular, non-empty file of bounded size.

    Opened with ``O_NONBLOCK`` and checked with ``fstat`` on the open file, so a
    FIFO, a device or ``/proc/kmsg`` is refused rather than waited on, and the
    file checked is the file read. Pseudo-files (``/proc``, ``/sys``) report a
    size of 0 and are refused as empty without reading them.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise DataError(f"data file not found: {path}", "path") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a directory, not a CSV file", "path") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}", "path") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise DataError(f"{path} is a directory, not a CSV file", "path")
        if not stat.S_ISREG(info.st_mode):
            raise DataError(
                f"{path} is not a regular file (a device, pipe or socket); "
                "give the path of a .csv file",
                "path",
            )
        if info.st_size == 0:
            raise DataError(
                f"{path.name} has a size of 0 bytes (empty, or a /proc or /sys pseudo-file): "
                "expected a CSV file with a header row naming the columns, then data rows",
                "path",
            )
        if info.st_size > MAX_CSV_BYTES:
            raise DataError(
                f"{path.name} is {format_bytes(info.st_size)}; CSV files of at most "
                f"{format_bytes(MAX_CSV_BYTES)} are read",
                "path",
            )
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_csv(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, data rows and each row's line number (1-based, as an editor shows it).

    Reads at most :data:`MAX_CSV_ROWS` + 1 data rows, so an oversized file is
    refused without holding all of it.
    """
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        raw = _open_regular(path)
        # utf-8-sig: spreadsheet programs like to start the file with a BOM.
        with io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            try:
                for record in reader:
                    if not record or (len(record) == 1 and not record[0].strip()):
                        continue  # blank line
                    if header is None:
                        header = [cell.strip() for cell in record]
                        continue
                    if len(rows) == MAX_CSV_ROWS:
                        raise DataError(
                            f"{path.name} has more than {MAX_CSV_ROWS:,} data rows "
                            f"(line {reader.line_num}); at most {MAX_CSV_ROWS:,} are read, "
                            "the same limit as generated data's n_samples",
                            "path",
                        )
                    rows.append(record)
                    lines.append(reader.line_num)
            except csv.Error as exc:
                raise DataError(
                    f"{path.name}: malformed CSV at line {reader.line_num}: {exc}", "path"
                ) from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"cannot read {path}: it is not UTF-8 text ({exc.reason})", "path") from exc
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}", "path") from exc
    if header is None:
        raise DataError(
            f"{path.name} is empty: expected a header row naming the columns, then data rows",
            "path",
        )
    return header, rows, lines


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_header(path: Path, header: list[str]) -> None:
    if len(header) < 2:
        raise DataError(
            f"{path.name} has a single column {_quote(header[0])}: need at least one feature "
            "column and a target column (is the file comma-separated?)",
            "path",
        )
    if all(_is_number(name) for name in header):
        raise DataError(
            f"{path.name}: the first row must be a header row naming the columns, but it looks like data "
            f"({_name_list(header[:4])}{', ...' if len(header) > 4 else ''})",
            "path",
        )
    for i, name in enumerate(header):
        if not name:
            raise DataError(f"{path.name}: column {i + 1} has no name in the header row", "path")
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataError(
                f"{path.name}: column name {_quote(name)} appears twice in the header", "path"
            )
        seen.add(name)


def _column_index(path: Path, header: list[str], column: str | int, setting: str) -> int:
    if isinstance(column, bool) or not isinstance(column, str | numbers.Integral):
        raise DataError(f"{setting} must name a column, got {column!r}", setting)
    if isinstance(column, numbers.Integral):
        if not -len(header) <= column < len(header):
            raise DataError(
                f"column index {column} is out of range: {path.name} has {len(header)} "
                f"columns (0..{len(header) - 1})",
                setting,
            )
        return int(column) % len(header)
    if column in header:
        return header.index(column)
    raise DataError(
        f"column {_quote(column)} not found in {path.name}; available columns: "
        f"{_name_list(header)}." + _did_you_mean(column, header, n=5),
        setting,
    )


def _parse_float_column(
    path: Path, cells: list[str], lines: list[int], column: str, setting: str
) -> np.ndarray:
    values = np.empty(len(cells), dtype=np.float64)
    for k, text in enumerate(cells):
        text = text.strip()
        where = f"{path.name}, line {lines[k]} (data row {k + 1}), column {_quote(column)}"
        if not text:
            raise DataError(f"{where}: empty cell; every cell needs a number", setting)
        try:
            value = float(text)
        except ValueError:
            raise DataError(f"{where}: {_quote(text)} is not a number", setting) from None
        if not math.isfinite(value):
            raise DataError(f"{where}: {_quote(text)} is not a finite number", setting)
        values[k] = value
    return values


def _class_label(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:g}"


def _standardize(x: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std == 0] = 1.0  # constant columns (blank image border pixels) are only centred
    return (x - mean) / std


def load_csv(
    path: Path | str,
    target: str | int | None = None,
    features: list[str] | None = None,
    task: str | None = None,
    standardize: bool = False,
) -> GeneratedData:
    """Load a comma-separated file whose first row names the columns.

    ``target`` is a column name or index (default: the last column) and
    ``features`` the feature column names (default: every other column, in
    file order). Feature cells must be finite numbers.

    ``task=None`` infers the task from the target column: any non-numeric value,
    or integer values with at most 20 distinct values, means classification;
    anything else regression. Class labels are numbered in sorted order
    (numerically when they are all numbers, so "10" comes after "2"), and
    ``class_names`` keeps their text.

    A feature may also be a cross of columns, ``"age^2"``, ``"age*income"`` or
    ``"sin(age)"`` (engine/features.py), computed after standardisation from
    the columns it names.

    ``standardize`` z-scores every feature with the mean and standard deviation
    of the whole file, i.e. including the rows :func:`split` later puts into
    validation. That is a (small) leak of validation statistics, accepted here
    so the transformed data does not depend on the split seed. Constant
    columns are centred but not scaled.

    Errors the user can fix raise :class:`DataError` naming the file, line and
    column concerned.
    """
    path = Path(path)
    header, rows, lines = _read_csv(path)
    _check_header(path, header)
    for row, line in zip(rows, lines, strict=True):
        if len(row) != len(header):
            raise DataError(
                f"{path.name}, line {line}: expected {len(header)} cells like the header "
                f"but found {len(row)}",
                "path",
            )
    if len(rows) < MIN_CSV_ROWS:
        raise DataError(
            f"{path.name} has {len(rows)} data row{'s' if len(rows) != 1 else ''}; "
            f"at least {MIN_CSV_ROWS} are needed",
            "path",
        )
    if task is not None and task not in ("classification", "regression"):
        raise DataError(
            f"task must be 'classification', 'regression' or omitted, got {task!r}", "task"
        )

    target_index = _column_index(path, header, -1 if target is None else target, "target")
    target_name = header[target_index]
    crosses = None  # features such as "age^2", "age*income", "sin(age)": computed at the end
    if (
        isinstance(features, Sequence)
        and not isinstance(features, str)
        and any(isinstance(f, str) and f not in header and looks_like_cross(f) for f in features)
    ):
        try:
            parsed = parse_features(list(features), header)
        except FeatureError as e:
            raise DataError(f"{path.name}: {e.message}", "features") from None
        crosses = [f.text for f in parsed]
        features = [header[i] for i in referenced_columns(parsed)]
    if features is None:
        feature_indices = [i for i in range(len(header)) if i != target_index]
    else:
        if isinstance(features, str) or not isinstance(features, Sequence):
            raise DataError(
                f"features must be a list of column names, got {features!r}", "features"
            )
        if not features:
            raise DataError("features is empty: name at least one feature column", "features")
        feature_indices = [_column_index(path, header, f, "features") for f in features]
        if target_index in feature_indices:
            raise DataError(
                f"column {_quote(target_name)} is the target, so it cannot also be a feature",
                "features",
            )
        if len(set(feature_indices)) != len(feature_indices):
            raise DataError("features lists a column more than once", "features")

    columns = list(zip(*rows, strict=True))
    x = np.empty((len(rows), len(feature_indices)), dtype=np.float64)
    for j, index in enumerate(feature_indices):
        x[:, j] = _parse_float_column(path, list(columns[index]), lines, header[index], "features")

    raw_target = [cell.strip() for cell in columns[target_index]]
    for k, text in enumerate(raw_target):
        if not text:
            raise DataError(
                f"{path.name}, line {lines[k]} (data row {k + 1}): the target column "
                f"{_quote(target_name)} is empty",
                "target",
            )
    numeric = all(_is_number(text) for text in raw_target)
    if task is None:
        if not numeric:
            task = "classification"
        else:
            values = _parse_float_column(path, raw_target, lines, target_name, "target")
            integral = bool(np.all(values == np.round(values)))
            distinct = len(np.unique(values))
            task = (
                "classification" if integral and distinct <= MAX_INFERRED_CLASSES else "regression"
            )

    if task == "regression":
        if not numeric:
            bad = next(k for k, text in enumerate(raw_target) if not _is_number(text))
            raise DataError(
                f"task is regression but the target column {_quote(target_name)} holds "
                f"{_quote(raw_target[bad])} at line {lines[bad]} (data row {bad + 1}); regression "
                "needs numbers (set task to classification for labels)",
                "task",
            )
        y = _parse_float_column(path, raw_target, lines, target_name, "target")[:, None]
        class_names: list[str] = []
    else:
        if numeric:
            values = _parse_float_column(path, raw_target, lines, target_name, "target")
            classes, y = np.unique(values, return_inverse=True)
            class_names = [_class_label(float(v)) for v in classes]
        else:
            names, y = np.unique(np.array(raw_target, dtype=str), return_inverse=True)
            class_names = [str(v) for v in names]
        y = y.astype(np.int64).reshape(-1)
        if len(class_names) < 2:
            raise DataError(
                f"the target column {_quote(target_name)} has a single class "
                f"({_quote(class_names[0])}); classification needs at least two",
                "target",
            )

    if standardize:
        x = _standardize(x)
    loaded = GeneratedData(
        x=x,
        y=y,
        task=task,
        n_classes=len(class_names),
        feature_names=[header[i] for i in feature_indices],
        class_names=class_names,
        target_name=target_name,
        name=path.stem,
    )
    return with_features(loaded, crosses)


# --------------------------------------------------------------------------
# Bundled real data
# --------------------------------------------------------------------------

# kind -> (file name, target column, image shape)
_BUILTIN_FILES: dict[str, tuple[str, str, tuple[int, int] | None]] = {
    "iris": ("iris.csv", "species", None),
    "digits": ("digits.csv", "digit", (8, 8)),
}


def load_builtin(kind: str, standardize: bool = False) -> GeneratedData:
    """Load a real data set shipped with the package: ``"iris"`` or ``"digits"``.

    Iris: 150 rows, 4 measurements in cm, 3 species. Digits: 1797 8x8 images
    flattened to 64 pixel columns with values 0..16 (``image_shape`` is
    ``(8, 8)``), 10 classes. Sources and licences are in
    ``tui_trainer/scenarios/data/README.md``. ``standardize`` is as in
    :func:`load_csv`.
    """
    if kind not in _BUILTIN_FILES:
        raise DataError(
            f"unknown built-in data set {kind!r}; choose one of {', '.join(BUILTIN_KINDS)}."
            + _did_you_mean(str(kind), BUILTIN_KINDS),
            "kind",
        )
    filename, target, image_shape = _BUILTIN_FILES[kind]
    resource = resources.files("tui_trainer") / "scenarios" / "data" / filename
    with resources.as_file(resource) as path:
        data = load_csv(path, target=target, task="classification", standardize=standardize)
    data.image_shape = image_shape
    data.name = kind
    return data


# --------------------------------------------------------------------------
# Train / validation split
# --------------------------------------------------------------------------


def _stratified_counts(counts: np.ndarray, n_val: int) -> np.ndarray | None:
    """Validation rows per class, proportional to class size, summing to ``n_val``.

    Largest-remainder rounding; every class keeps at least one training row.
    None when that is impossible.
    """
    n = int(counts.sum())
    if n_val > n - len(counts):
        return None
    ideal = counts * n_val / n
    take = np.minimum(np.floor(ideal).astype(np.int64), counts - 1)
    remaining = n_val - int(take.sum())
    order = np.argsort(-(ideal - take), kind="stable")
    while remaining > 0:  # terminates: total room is n - classes >= n_val
        for c in order:
            if remaining and take[c] < counts[c] - 1:
                take[c] += 1
                remaining -= 1
    return take


def split(data: GeneratedData, val_fraction: float = 0.2, seed: int = 0, name: str = "") -> Dataset:
    """Shuffle with ``seed`` and hold out ``val_fraction`` of the rows for validation.

    ``val_fraction`` is in [0, 1); 0 gives empty validation arrays that still
    have the right trailing shape (``(0, features)``), so code can treat "no
    validation" uniformly. Otherwise at least one row goes to each side.

    For classification, when every class has at least two rows, the split is
    stratified: each class contributes (as nearly as rounding allows) the same
    fraction to validation, so small data sets like iris do not end up with a
    class missing from one side. ``name`` defaults to the data's own name.
    """
    if (
        isinstance(val_fraction, bool)
        or not isinstance(val_fraction, numbers.Real)
        or not 0 <= val_fraction < 1
    ):
        raise DataError(
            f"val_fraction must be a number in [0, 1), got {val_fraction!r}", "val_fraction"
        )
    n = data.n_samples
    rng = np.random.default_rng(seed)
    n_val = 0 if val_fraction == 0 or n < 2 else min(n - 1, max(1, round(n * val_fraction)))

    take = None
    if data.task == "classification" and n_val > 0 and data.n_classes > 0:
        counts = np.bincount(data.y, minlength=data.n_classes)
        if counts.min() >= 2:
            take = _stratified_counts(counts, n_val)
    if take is None:
        order = rng.permutation(n)
        val_idx, train_idx = order[:n_val], order[n_val:]
    else:
        val_parts, train_parts = [], []
        for c, k in enumerate(take):
            members = rng.permutation(np.flatnonzero(data.y == c))
            val_parts.append(members[:k])
            train_parts.append(members[k:])
        val_idx = rng.permutation(np.concatenate(val_parts))
        train_idx = rng.permutation(np.concatenate(train_parts))

    return Dataset(
        x_train=data.x[train_idx],
        y_train=data.y[train_idx],
        x_val=data.x[val_idx],
        y_val=data.y[val_idx],
        task=data.task,
        n_classes=data.n_classes,
        feature_names=list(data.feature_names),
        class_names=list(data.class_names),
        name=name or data.name,
        image_shape=data.image_shape,
        base_train=None if data.base is None else data.base[train_idx],
        base_val=None if data.base is None else data.base[val_idx],
        base_names=None if data.base_names is None else list(data.base_names),
        features=data.features,
    )


# --------------------------------------------------------------------------
# Input features (crosses)
# --------------------------------------------------------------------------


def with_features(data: GeneratedData, features: Sequence[str] | None) -> GeneratedData:
    """``data`` with the inputs ``features`` (``["x1", "x1^2", "x1*x2", "sin(x2)"]``,
    see engine/features.py) computed from its columns; None or the columns
    themselves leave it unchanged. DataError (field ``"features"``) for a
    feature that names no column, a duplicate or too many.
    """
    if features is None or is_default(features, data.feature_names):
        return data
    try:
        parsed = parse_features(list(features), data.feature_names)
        x = compute_features(data.x, parsed)
        check_finite(x, parsed)
    except FeatureError as e:
        raise DataError(e.message, "features") from None
    return GeneratedData(
        x=x,
        y=data.y,
        task=data.task,
        n_classes=data.n_classes,
        feature_names=[f.text for f in parsed],
        class_names=list(data.class_names),
        image_shape=None,
        target_name=data.target_name,
        name=data.name,
        base=data.x,
        base_names=list(data.feature_names),
        features=tuple(f.text for f in parsed),
    )


def select_features(dataset: Dataset, features: Sequence[str]) -> Dataset:
    """``dataset`` with other inputs computed from the same base columns and
    rows (the live feature toggle): the split, targets and names stay.

    DataError (field ``"features"``) as in :func:`with_features`.
    """
    base_train, base_val, names = dataset.columns
    dtype = dataset.x_train.dtype
    try:
        parsed = parse_features(list(features), names)
        x_train = compute_features(base_train, parsed).astype(dtype, copy=False)
        x_val = compute_features(base_val, parsed).astype(dtype, copy=False)
        check_finite(np.vstack([x_train, x_val]), parsed)
    except FeatureError as e:
        raise DataError(e.message, "features") from None
    plain = is_default([f.text for f in parsed], names)
    return Dataset(
        x_train=x_train,
        y_train=dataset.y_train,
        x_val=x_val,
        y_val=dataset.y_val,
        task=dataset.task,
        n_classes=dataset.n_classes,
        feature_names=[f.text for f in parsed],
        class_names=list(dataset.class_names),
        name=dataset.name,
        image_shape=dataset.image_shape if plain else None,
        base_train=None if plain else base_train,
        base_val=None if plain else base_val,
        base_names=None if plain else names,
        features=None if plain else tuple(f.text for f in parsed),
    )


MAX_EDITED_POINTS = 1000  # points added or removed by hand, each


def edit_points(
    ds: Dataset,
    added: Sequence[Sequence[float]] = (),
    removed: Sequence[int] = (),
) -> Dataset:
    """The training set with points removed and points added by hand (a click
    in the data view, ConvNetJS style, or ``[data] added_points`` and
    ``removed_points`` in a scenario).

    ``removed`` are indices into the training set as :func:`split` made it;
    ``added`` are ``(x1, x2, class)`` in the data's own columns, appended after
    the points kept, so the run is reproducible from the scenario. Inputs that
    are crosses of the columns (``x1^2``) are computed for the new points as
    for the others. Validation data is never changed. DataError (field
    ``removed_points``) for an index the training set does not have.
    """
    if not len(added) and not len(removed):
        return ds
    import dataclasses

    base_train, _, names = ds.columns
    n = len(ds.x_train)
    bad = [i for i in removed if not 0 <= int(i) < n]
    if bad:
        raise DataError(
            f"point {bad[0]} is not in the training set (it has {n} points: 0 to {n - 1})",
            "removed_points",
        )
    keep = np.ones(n, dtype=bool)
    keep[np.asarray(list(removed), dtype=np.int64)] = False
    pts = np.asarray([[float(p[0]), float(p[1])] for p in added], dtype=base_train.dtype)
    pts = pts.reshape(-1, 2)
    labels = np.asarray([int(p[2]) for p in added], dtype=ds.y_train.dtype)
    if ds.features is not None:  # the inputs are crosses of the columns
        new_x = compute_features(pts, parse_features(list(ds.features), names))
    else:
        new_x = pts
    changes: dict[str, object] = {
        "x_train": np.concatenate([ds.x_train[keep], new_x.astype(ds.x_train.dtype)]),
        "y_train": np.concatenate([ds.y_train[keep], labels]),
    }
    if ds.base_train is not None:
        changes["base_train"] = np.concatenate([ds.base_train[keep], pts])
    return dataclasses.replace(ds, **changes)
