"""Checkpoints with lying contents, resumed through the real command line.

Each case starts from a real checkpoint of the built-in ``xor`` scenario
(saved mid-step, after an optimizer switch and a learning-rate change, so
every kind of member is present) and rewrites one thing in it: an array
member, the JSON state record, or only what the zip's central directory
declares. ``tui-trainer run xor --resume FILE`` must then refuse it with exit
status 2 and one line naming the file and the field, never a traceback, and
never by silently running on nonsense.

The subprocess runs under an address-space limit: a checkpoint that makes
the loader allocate what its header claims fails here rather than eating the
machine's memory, and no test needs more than a few megabytes of data.
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tui_trainer.cli import load
from tui_trainer.engine.checkpoint import load_checkpoint, save_checkpoint

TIMEOUT = 60
MEMORY_LIMIT = 1 << 30  # bytes of address space for the resumed process


# ------------------------------------------------------------ crafting


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asanyarray(array), allow_pickle=False)
    return buf.getvalue()


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def _array(data: bytes) -> np.ndarray:
    return np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)


def write_members(
    path: Path, members: dict[str, bytes], declared_sizes: dict[str, int] | None = None
) -> Path:
    """Write an .npz from raw member bytes; ``declared_sizes`` overrides what the
    central directory says a member inflates to (the data itself stays small)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
        for info in z.filelist:
            size = (declared_sizes or {}).get(info.filename)
            if size is not None:
                info.file_size = size
    return path


def with_meta(edit: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, bytes]], None]:
    """A crafting step that edits the JSON state record."""

    def craft(members: dict[str, bytes]) -> None:
        meta = json.loads(str(_array(members["state.npy"])))
        edit(meta)
        members["state.npy"] = _npy(np.array(json.dumps(meta)))

    return craft


def with_array(name: str, make: Callable[[np.ndarray], np.ndarray]) -> Callable:
    def craft(members: dict[str, bytes]) -> None:
        members[f"{name}.npy"] = _npy(make(_array(members[f"{name}.npy"])))

    return craft


def _set(*path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(meta: dict[str, Any]) -> None:
        d = meta
        for key in path[:-1]:
            d = d[key]
        d[path[-1]] = value

    return edit


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda meta: meta.pop(key)


def _fake_header_member(shape: tuple[int, ...], dtype: str = "<f8") -> bytes:
    """An .npy header claiming ``shape``, followed by only 64 KiB of zeros."""
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + bytes(65536)


# ------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real checkpoint of xor: step 20 of 32 (epoch 2 of 2), two layer events
    into the step, momentum (switched to at step 18), lr changed at step 20."""
    _, s = load("xor")
    s.set_hyper(epochs=2)
    s.advance("step", 18)
    s.set_hyper(optimizer="momentum")
    s.advance("step", 2)
    s.set_hyper(lr=0.05)
    s.advance("layer", 2)
    path = tmp_path_factory.mktemp("ckpt") / "base.npz"
    save_checkpoint(s, path, "")
    return path


def craft(base: Path, dest: Path, *steps: Callable[[dict[str, bytes]], None]) -> Path:
    members = _members(base)
    for step in steps:
        step(members)
    return write_members(dest, members)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def resume(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "tui_trainer", "run", "xor", "--resume", str(path), "-q", *extra],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=TIMEOUT,
        env=env,
        preexec_fn=_limit_memory,
    )


def assert_refused(proc: subprocess.CompletedProcess[str], path: Path, *words: str) -> None:
    """Exit 2, no traceback, one line that names the file and every word."""
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert path.name in lines[0], lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])


# ------------------------------------------------------------ the attacks

BIG_ROWS = 200_000_000  # 200e6 x 16 float64 = 23.8 GiB

# (id, crafting steps, words the message must contain)
CRASHERS: list[tuple[str, list[Callable], tuple[str, ...]]] = [
    (
        "zip_bomb_23_8_GiB",
        [lambda m: m.__setitem__("history/steps.npy", _fake_header_member((BIG_ROWS, 16)))],
        ("history/steps", "(200000000, 16)"),
    ),
    (
        "header_1e6_by_1e6",
        [lambda m: m.__setitem__("param/W0.npy", _fake_header_member((10**6, 10**6)))],
        ("param/W0", "(1000000, 1000000)", "(2, 4)"),
    ),
    ("accuracy_string", [with_meta(_set("acc", "correct", value="12"))], ("acc.correct",)),
    ("batch_size_string", [with_meta(_set("hyper", "batch_size", value="10"))], ("batch_size",)),
    ("lr_string", [with_meta(_set("hyper", "lr", value="0.05"))], ("hyper.lr",)),
    (
        "hp_log_string",
        [with_meta(_set("hp_log", "25", value={"lr": "fast"}))],
        ("hp_log", "lr"),
    ),
    ("cursor_negative", [with_meta(_set("cursor", value=-7))], ("cursor",)),
    ("cursor_huge", [with_meta(_set("cursor", value=10**9))], ("cursor",)),
    (
        "optimizer_unknown",
        [with_meta(_set("hp_log", "25", value={"optimizer": "rmsprop"}))],
        ("optimizer", "rmsprop"),
    ),
]

SILENT: list[tuple[str, list[Callable], tuple[str, ...]]] = [
    ("step_negative", [with_meta(_set("step", value=-68))], ("step",)),
    ("step_fractional", [with_meta(_set("step", value=80.5))], ("step",)),
    (
        "complex_weights",
        [with_array("param/W0", lambda a: a + 1j)],
        ("param/W0", "complex"),
    ),
    ("no_data_fingerprint", [with_meta(_drop("data"))], ("data",)),
    ("batch_size_negative", [with_meta(_set("hyper", "batch_size", value=-3))], ("batch_size",)),
]

# Further lies the validation must catch (not in the list).
MORE: list[tuple[str, list[Callable], tuple[str, ...]]] = [
    (
        "optimizer_unknown_now",
        [with_meta(_set("hyper", "optimizer", value="rmsprop"))],
        ("optimizer",),
    ),
    ("lr_nan", [with_meta(_set("hyper", "lr", value=float("nan")))], ("hyper.lr",)),
    ("step_boolean", [with_meta(_set("step", value=True))], ("step",)),
    ("step_huge", [with_meta(_set("step", value=10**12))], ("step",)),
    ("epoch_beyond_step", [with_meta(_set("epoch", value=5000))], ("epoch",)),
    ("count_not_cursor", [with_meta(_set("acc", "count", value=3))], ("acc.count",)),
    ("fingerprint_other", [with_meta(_set("data", value="0123456789abcdef"))], ("data",)),
    ("hp_log_key", [with_meta(_set("hp_log", " 7", value={"lr": 0.1}))], ("hp_log",)),
    ("hp_log_field", [with_meta(_set("hp_log", "25", value={"shell": 1}))], ("hp_log", "shell")),
    ("edits_not_list", [with_meta(_set("edits", value={"0": 1}))], ("edits",)),
    ("edits_entry_short", [with_meta(_set("edits", value=[[25, 1, 0]]))], ("edits[0]",)),
    ("edits_before_step", [with_meta(_set("edits", value=[[3, 1, 0, 0, 1.0]]))], ("edits[0][0]",)),
    ("edits_layer_huge", [with_meta(_set("edits", value=[[25, 9, 0, 0, 1.0]]))], ("edits[0][1]",)),
    (
        "edits_input_unknown",
        [with_meta(_set("edits", value=[[25, 0, "__import__('os')", 0, 1.0]]))],
        ("edits[0][2]",),
    ),
    ("edits_row_index", [with_meta(_set("edits", value=[[25, 0, 0, 0, 1.0]]))], ("edits[0][2]",)),
    ("edits_col_outside", [with_meta(_set("edits", value=[[25, 1, 0, 7, 1.0]]))], ("edits[0][3]",)),
    (
        "edits_value_huge",
        [with_meta(_set("edits", value=[[25, 1, 0, 0, 1e300]]))],
        ("edits[0][4]",),
    ),
    (
        "edits_too_many",
        [with_meta(_set("edits", value=[[25, 1, 0, 0, 1.0]] * 100_001))],
        ("edits", "100001"),
    ),
    (
        "json_nesting",
        [lambda m: m.__setitem__("state.npy", _npy(np.array("[" * 100000 + "]" * 100000)))],
        ("state",),
    ),
    ("state_not_object", [lambda m: m.__setitem__("state.npy", _npy(np.array("[1]")))], ("state",)),
    (
        "weights_object_dtype",
        [lambda m: m.__setitem__("param/W0.npy", _fake_header_member((2, 4), "|O"))],
        ("param/W0",),
    ),
    ("weights_wrong_shape", [with_array("param/W0", lambda a: a.T.copy())], ("param/W0", "(4, 2)")),
    ("weights_float32", [with_array("param/W0", lambda a: a.astype(np.float32))], ("param/W0",)),
    ("weights_nan", [with_array("param/W0", lambda a: a * np.nan)], ("param/W0",)),
    ("opt_state_missing", [lambda m: m.pop("opt/v0.npy")], ("opt/v0",)),
    ("opt_t_negative", [with_array("opt/t", lambda a: np.array(-5))], ("opt/t",)),
    ("history_rows", [with_array("history/steps", lambda a: a[:-3].copy())], ("history/steps",)),
    ("active_int", [with_array("acc/active0", lambda a: a.astype(np.int64))], ("acc/active0",)),
    ("extra_member", [lambda m: m.__setitem__("evil.npy", _npy(np.zeros(3)))], ("evil",)),
    (
        "many_members",
        [lambda m: m.update({f"pad/{i}.npy": _npy(np.zeros(0)) for i in range(2000)})],
        ("2018 members",),
    ),
    (
        "resume_position_far",
        [with_array("resume_position", lambda a: np.array(10**15))],
        ("resume_position",),
    ),
    (
        "state_huge_string",
        [lambda m: m.__setitem__("state.npy", _fake_header_member((), "<U100000000"))],
        ("state",),
    ),
]


def _case(cases: list[tuple[str, list[Callable], tuple[str, ...]]]) -> list[Any]:
    return [pytest.param(steps, words, id=name) for name, steps, words in cases]


@pytest.mark.parametrize(("steps", "words"), _case(CRASHERS))
def test_crashing_checkpoint_is_refused(base: Path, tmp_path: Path, steps, words) -> None:
    path = craft(base, tmp_path / "lying.npz", *steps)
    assert_refused(resume(path), path, *words)


@pytest.mark.parametrize(("steps", "words"), _case(SILENT))
def test_silently_accepted_checkpoint_is_refused(base: Path, tmp_path: Path, steps, words) -> None:
    path = craft(base, tmp_path / "lying.npz", *steps)
    assert_refused(resume(path), path, *words)


@pytest.mark.parametrize(("steps", "words"), _case(MORE))
def test_other_lying_checkpoint_is_refused(base: Path, tmp_path: Path, steps, words) -> None:
    path = craft(base, tmp_path / "lying.npz", *steps)
    assert_refused(resume(path), path, *words)


def test_declared_size_is_checked_before_inflating(base: Path, tmp_path: Path) -> None:
    """The central directory claims a member inflates to 23.8 GiB: refused from
    the directory alone (the member's data is a few bytes)."""
    members = _members(base)
    huge = BIG_ROWS * 16 * 8
    path = write_members(tmp_path / "bomb.npz", members, {"history/steps.npy": huge})
    assert_refused(resume(path), path, "history/steps")


def test_full_batch_zero_is_accepted(base: Path, tmp_path: Path) -> None:
    """``batch_size = 0`` is what the hyperparameter dialog and what-if write
    for "full": a checkpoint carrying it is the app's own and resumes."""
    path = craft(base, tmp_path / "full.npz", with_meta(_set("hyper", "batch_size", value=0)))
    proc = resume(path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr


def test_real_checkpoint_still_resumes_bit_identically(base: Path, tmp_path: Path) -> None:
    """The validation refuses nothing the engine writes: a rewritten but
    unchanged copy resumes, and runs to the same weights as the original."""
    copy = craft(base, tmp_path / "copy.npz")
    _, a = load("xor")
    _, b = load("xor")
    load_checkpoint(a, base)
    load_checkpoint(b, copy)
    a.run()
    b.run()
    for p, q in zip(a.net.params(), b.net.params(), strict=True):
        assert np.array_equal(p, q)
    assert a.epoch == 2
    proc = resume(copy, "--save", str(tmp_path / "end.npz"))
    assert proc.returncode == 0, proc.stderr
    assert "2/2 epochs done" in proc.stdout


def _odd_states() -> list[Any]:
    """Sessions in the states a user can save from: the checks must accept them all."""

    def fresh(s):
        pass

    def rewound(s):
        s.advance("step", 30)
        s.set_hyper(batch_size=0)  # "full" from the hyperparameter dialog
        s.advance("step", 4)
        s.goto(12 * s.E + 3)

    def switched(s):
        s.advance("step", 7)
        s.set_hyper(optimizer="adam", lr=0.5, batch_size=7)
        s.advance("step", 11)
        s.advance("layer", 3)
        s.set_hyper(optimizer="sgd", l2=0.01)  # logged for the next step

    def diverged(s):
        s.set_hyper(lr=1e300)
        s.run()
        assert s.diverged

    def finished_then_fewer_epochs(s):
        s.run()
        s.set_hyper(epochs=2)

    return [
        pytest.param({}, fresh, id="step-0"),
        pytest.param({}, rewound, id="rewound-full-batch"),
        pytest.param({"optimizer": "momentum"}, switched, id="optimizer-switches"),
        pytest.param({"loss": "mse", "dtype": "float32"}, diverged, id="diverged-float32-mse"),
        pytest.param({"loss": "binary_cross_entropy"}, finished_then_fewer_epochs, id="finished"),
    ]


@pytest.mark.parametrize(("kw", "drive"), _odd_states())
def test_engine_checkpoints_in_odd_states_are_accepted(tmp_path: Path, kw, drive) -> None:
    from helpers import make_session

    s = make_session(**kw)
    drive(s)
    path = save_checkpoint(s, tmp_path / "odd.npz")
    t = make_session(**kw)
    load_checkpoint(t, path)
    assert t.position == s.position
    assert t.hyperparameters() == s.hyperparameters()
    s.run()
    t.run()
    for p, q in zip(s.net.params(), t.net.params(), strict=True):
        assert np.array_equal(p, q)
