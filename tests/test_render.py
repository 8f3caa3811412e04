"""Tests for the pure rendering functions in ``tui_trainer.ui.render``."""

from __future__ import annotations

import numpy as np
import pytest
from rich.console import Console
from rich.text import Text

from tui_trainer.ui.render import (
    confusion_matrix,
    confusion_table,
    decision_map,
    diverging_levels,
    diverging_style,
    fmt,
    grid_points,
    histogram,
    histogram_counts,
    image_tiles,
    legend,
    map_grid_size,
    matrix_heatmap,
    pool_matrix,
    sequential_style,
    sparkline,
)
from tui_trainer.ui.render.colors import (
    BAD_LEVEL,
    DIVERGING_LEVELS,
    DIVERGING_PALETTE,
    NEUTRAL_COLOR,
)

SIZES = [(80, 24), (200, 60), (40, 10), (20, 5), (12, 3), (5, 2), (1, 1)]


def lines_of(text: Text) -> list[Text]:
    return text.split("\n", allow_blank=True) if text.plain else []


def assert_fits(text: Text, width: int, height: int) -> None:
    """At most ``height`` lines, none wider than ``width`` cells."""
    assert isinstance(text, Text)
    lines = lines_of(text)
    assert len(lines) <= height, (len(lines), height, text.plain)
    for line in lines:
        assert line.cell_len <= width, (line.cell_len, width, line.plain)


def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


# --------------------------------------------------------------------------- fmt


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0123, "0.0123"),
        (-1.2e-5, "-1.2e-5"),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (float("-inf"), "-inf"),
        (12345, "12345"),
        (0, "0"),
        (3.14159, "3.142"),
        (1234567890, "1.235e9"),
    ],
)
def test_fmt_examples(value: float, expected: str) -> None:
    assert fmt(value) == expected


@pytest.mark.parametrize("width", range(1, 12))
def test_fmt_never_longer_than_width(width: int) -> None:
    values = [
        0.0,
        1.0,
        -1.0,
        0.5,
        -0.05,
        1e-100,
        -1e-100,
        1e300,
        -1e300,
        123456.789,
        -98765432.1,
        0.000123456,
        float("nan"),
        float("inf"),
        float("-inf"),
        np.float32(2.5),
        np.int64(-7),
    ]
    for v in values:
        for sign in (False, True):
            s = fmt(v, width, sign=sign)
            assert 0 < len(s) <= width, (v, width, s)


def test_fmt_sign_and_precision() -> None:
    assert fmt(0.25, 6, sign=True) == "+0.25"
    assert fmt(-0.25, 6, sign=True) == "-0.25"
    assert float(fmt(0.123456, 7)) == pytest.approx(0.123456, rel=1e-3)
    assert float(fmt(-1.2e-5, 7)) == pytest.approx(-1.2e-5)


# --------------------------------------------------------------------------- colours


def test_diverging_levels_symmetric_and_bad() -> None:
    v = np.array([-1.0, -0.5, 0.0, 0.5, 1.0, np.nan, np.inf, -np.inf, 5.0])
    lv = diverging_levels(v, vmax=1.0)
    assert lv[0] == 0 and lv[4] == DIVERGING_LEVELS - 1
    assert lv[2] == DIVERGING_LEVELS // 2
    assert lv[1] + lv[3] == DIVERGING_LEVELS - 1  # mirror images
    assert (lv[5:8] == BAD_LEVEL).all()
    assert lv[8] == DIVERGING_LEVELS - 1  # clipped
    styles = diverging_style(v, vmax=1.0)
    assert len(styles) == v.size
    assert styles[2] == NEUTRAL_COLOR
    assert all(s.startswith("#") and len(s) == 7 for s in styles)
    assert len(set(DIVERGING_PALETTE)) == DIVERGING_LEVELS


def test_diverging_default_vmax_and_sequential() -> None:
    lv = diverging_levels(np.array([-2.0, 2.0]))
    assert lv.tolist() == [0, DIVERGING_LEVELS - 1]
    assert diverging_levels(np.zeros(3)).tolist() == [DIVERGING_LEVELS // 2] * 3
    seq = sequential_style(np.array([0.0, 0.5, 1.0]))
    assert len(set(seq)) == 3


def test_legend_values() -> None:
    t = legend(-0.5, 0.5, 30)
    bar, labels = t.plain.split("\n")
    assert len(bar) == 30
    assert labels.startswith("-0.5") and labels.endswith("0.5")
    assert " 0 " in labels
    assert "=" in bar and "#" in bar  # sign-bearing glyphs for NO_COLOR
    seq = legend(0.0, 3.0, 20)
    assert seq.plain.split("\n")[1].startswith("0") and seq.plain.endswith("3")
    for w in (1, 2, 5):
        assert_fits(legend(-1.0, 2.0, w), w, 2)


# --------------------------------------------------------------------------- heatmap


def test_heatmap_small_shows_numbers() -> None:
    m = np.array([[0.12, -0.5, 0.0], [1.0, -1.0, 0.25]])
    t = matrix_heatmap(m, 80, 24, title="W1")
    assert_fits(t, 80, 24)
    plain = t.plain
    assert "+0.12" in plain and "-0.5" in plain and "+0.25" in plain
    header = plain.split("\n")[0]
    assert "W1" in header and "2x3" in header
    assert "min -1" in header and "max 1" in header
    assert "shown as" not in plain
    # Backgrounds: at least one cell carries the strongest red and blue.
    styles = " ".join(str(s.style) for s in t.spans)
    assert DIVERGING_PALETTE[-1] in styles and DIVERGING_PALETTE[0] in styles


def test_heatmap_vector_is_one_row() -> None:
    b = np.linspace(-1, 1, 8)
    t = matrix_heatmap(b, 80, 24, title="b1")
    lines = t.plain.split("\n")
    number_rows = [ln for ln in lines if "+1" in ln and "-1" in ln and "0" in ln]
    assert number_rows, t.plain
    assert "8 (out)" in lines[0]
    # Too many for numbers: a single row of blocks.
    long = np.linspace(-1, 1, 70)
    t2 = matrix_heatmap(long, 80, 24)
    assert_fits(t2, 80, 24)
    body = t2.plain.split("\n")[1:-1]
    assert len(body) == 1 and len(body[0]) == 70


def test_heatmap_blocks_when_medium() -> None:
    m = rng().normal(size=(16, 30))
    t = matrix_heatmap(m, 80, 24)
    assert_fits(t, 80, 24)
    lines = t.plain.split("\n")
    assert "shown as" not in lines[0]
    assert len(lines) == 1 + 16 + 1
    assert any(ch in t.plain for ch in "=#")  # glyphs, not numbers


def test_heatmap_pooled_header_mentions_pooling() -> None:
    m = rng().normal(size=(128, 128))
    t = matrix_heatmap(m, 80, 24)
    assert_fits(t, 80, 24)
    assert "shown as" in t.plain.split("\n")[0]
    assert "max|v| of" in t.plain
    tm = matrix_heatmap(m, 80, 24, pool="mean")
    assert "mean of" in tm.plain


def test_heatmap_huge_matrix_renders() -> None:
    m = rng().normal(size=(2000, 2000)).astype(np.float32)
    for w, h in [(80, 24), (200, 60)]:
        t = matrix_heatmap(m, w, h, title="W")
        assert_fits(t, w, h)
        assert "2000x2000" in t.plain and "shown as" in t.plain
        assert len(t.spans) <= w * h


def test_heatmap_nonfinite_indicated() -> None:
    m = rng().normal(size=(4, 5))
    m[1, 2] = np.nan
    m[3, 0] = np.inf
    t = matrix_heatmap(m, 80, 24)
    assert "2 NaN/Inf" in t.plain
    assert "nan" in t.plain and "inf" in t.plain
    big = rng().normal(size=(300, 300))
    big[10, 10] = np.nan
    tb = matrix_heatmap(big, 80, 24)
    assert "1 NaN/Inf" in tb.plain
    body = "\n".join(tb.plain.split("\n")[1:-1])
    assert "!" in body
    all_nan = matrix_heatmap(np.full((3, 3), np.nan), 80, 24)
    assert "no finite values" in all_nan.plain


def test_heatmap_show_numbers_forced_and_off() -> None:
    m = rng().normal(size=(40, 40))
    t = matrix_heatmap(m, 80, 24, show_numbers=True)
    assert_fits(t, 80, 24)
    assert "showing" in t.plain.split("\n")[0]
    small = np.eye(3)
    off = matrix_heatmap(small, 80, 24, show_numbers=False)
    body = off.plain.split("\n")[1:-1]
    assert len(body) == 3 and all("+1" not in ln for ln in body)


def test_pool_matrix_modes() -> None:
    a = np.arange(16, dtype=float).reshape(4, 4) - 8
    mean = pool_matrix(a, 2, 2, "mean")
    assert mean.shape == (2, 2)
    assert mean[0, 0] == pytest.approx(a[:2, :2].mean())
    mx = pool_matrix(a, 2, 2, "maxabs")
    assert mx[0, 0] == -8 and mx[1, 1] == 7
    odd = pool_matrix(np.ones((5, 3)), 2, 2, "mean")
    assert odd.shape == (3, 2) and np.allclose(odd, 1.0)  # partial blocks not diluted
    a[0, 0] = np.nan
    assert np.isnan(pool_matrix(a, 2, 2)[0, 0])
    b = rng().normal(size=(37, 53))
    for how in ("maxabs", "mean"):
        got = pool_matrix(b, 5, 7, how)
        assert got.shape == (8, 8)
        for i in range(8):
            for j in range(8):
                blk = b[i * 5 : (i + 1) * 5, j * 7 : (j + 1) * 7]
                ref = blk.flat[np.abs(blk).argmax()] if how == "maxabs" else blk.mean()
                assert got[i, j] == pytest.approx(ref)


@pytest.mark.parametrize("shape", [(0,), (1,), (3, 4), (7, 90), (50, 3), (64, 64), (2, 3, 4)])
@pytest.mark.parametrize(("width", "height"), SIZES)
def test_heatmap_bounded(shape: tuple[int, ...], width: int, height: int) -> None:
    m = rng().normal(size=shape)
    assert_fits(matrix_heatmap(m, width, height, title="a long title here"), width, height)


# --------------------------------------------------------------------------- image tiles


def test_image_tiles_layout() -> None:
    w = np.zeros((64, 12))
    w[0, :] = 1.0  # top-left pixel red in every tile
    t = image_tiles(w, (8, 8), 80, 24, title="W1")
    assert_fits(t, 80, 24)
    lines = t.plain.split("\n")
    assert "12 units as 8x8" in lines[0]
    assert lines[1].startswith("▀" * 8 + " " + "▀" * 8)
    # 9 tiles per row at 80 columns: labels 0..8, then 9..11.
    assert lines[5].split() == [str(i) for i in range(9)]
    assert "+" not in lines[0].split("8x8")[1].replace("±", "")  # nothing hidden
    start = len(lines[0]) + 1
    first = next(sp for sp in t.spans if sp.start == start)
    assert str(first.style).startswith(DIVERGING_PALETTE[-1])  # upper pixel (fg) = +max


def test_image_tiles_more_and_glyph_mode() -> None:
    w = rng().normal(size=(64, 100))
    t = image_tiles(w, (8, 8), 80, 24)
    assert_fits(t, 80, 24)
    shown = 9 * ((24 - 2) // 5)
    assert f"+{100 - shown} more" in t.plain.split("\n")[0]
    g = image_tiles(w, (8, 8), 80, 24, half_blocks=False, per_unit=True)
    assert_fits(g, 80, 24)
    assert "▀" not in g.plain and "more" in g.plain
    with pytest.raises(ValueError):
        image_tiles(np.zeros((10, 3)), (8, 8), 80, 24)
    odd = image_tiles(rng().normal(size=(15, 4)), (5, 3), 40, 12)
    assert_fits(odd, 40, 12)
    for width, height in SIZES:
        assert_fits(image_tiles(w, (8, 8), width, height), width, height)


# --------------------------------------------------------------------------- histogram


def test_histogram_counts_sum_to_finite() -> None:
    v = rng().normal(size=1000)
    v[:7] = np.nan
    v[7:10] = np.inf
    counts, edges, n_bad = histogram_counts(v, 30)
    assert counts.sum() == 990 and n_bad == 10
    assert len(edges) == 31
    t = histogram(v, 60, 12, title="grad")
    assert_fits(t, 60, 12)
    header = t.plain.split("\n")[0]
    assert "n=990" in header and "10 NaN/Inf excluded" in header
    assert "█" in t.plain


def test_histogram_edge_cases() -> None:
    assert "no data" in histogram(np.array([]), 40, 8).plain
    assert "no finite values" in histogram(np.full(5, np.nan), 40, 8).plain
    const = histogram(np.full(10, 3.0), 40, 8)
    assert "all = 3" in const.plain and "n=10" in const.plain
    assert_fits(const, 40, 8)
    labels = histogram(np.array([-2.0, 0.0, 2.0]), 40, 6).plain.split("\n")[-1]
    assert labels.startswith("-2") and labels.endswith("2") and " 0 " in labels
    for width, height in SIZES:
        assert_fits(histogram(rng().normal(size=500), width, height, bins=25), width, height)


def test_sparkline() -> None:
    assert len(sparkline(range(500), 40)) == 40
    assert len(sparkline([1.0, 2.0], 40)) == 2
    assert sparkline([], 10) == ""
    s = sparkline([0.0, 1.0, np.nan, 2.0], 10)
    assert s[0] == "▁" and s[2] == " " and s[3] == "█"
    assert "!" in sparkline([1.0, np.inf, 2.0], 10)
    assert len(set(sparkline([5.0] * 4, 10))) == 1
    last = sparkline(np.arange(100.0), 10, mode="last")
    assert len(last) == 10 and last[-1] == "█"
    rising = sparkline(np.arange(1000.0), 20)
    assert rising[0] == "▁" and rising[-1] == "█"


# --------------------------------------------------------------------------- decision map


def test_grid_points_order() -> None:
    g = grid_points((0.0, 4.0, 0.0, 2.0), 4, 2)
    assert g.shape == (8, 2)
    assert g[0].tolist() == [0.5, 1.5]  # top-left first
    assert g[3].tolist() == [3.5, 1.5]
    assert g[4].tolist() == [0.5, 0.5]


def test_decision_map_point_in_right_cell() -> None:
    width, height = 10, 6
    gw, gh = map_grid_size(width, height)
    assert (gw, gh) == (10, 10)
    ext = (0.0, 1.0, 0.0, 1.0)
    g = grid_points(ext, gw, gh)
    probs = (g[:, 0] > 0.5).astype(float).reshape(gh, gw)  # class 1 on the right
    pts = np.array([[0.05, 0.95], [0.95, 0.05], [0.55, 0.45], [5.0, 5.0]])
    labels = np.array([0, 1, 0, 1])
    t = decision_map(probs, pts, labels, ext, width, height, 2, marker="digit")
    assert_fits(t, width, height)
    rows = t.plain.split("\n")
    assert rows[0][0] == "0"  # top-left
    assert rows[4][9] == "1"  # bottom-right (y increases upward)
    assert rows[2][5] == "0"  # y=0.45 -> pixel row 5 -> text row 2
    assert "1 outside" in decision_map(probs, pts, labels, ext, 60, height, 2).plain
    # Background: left half orange-ish, right half blue-ish; points in bold.
    dot = decision_map(probs, pts, labels, ext, width, height, 2)
    assert dot.plain.split("\n")[0][0] == "●"
    assert any("bold" in str(s.style) for s in dot.spans)


def test_decision_map_multiclass_and_glyph_mode() -> None:
    width, height = 30, 10
    gw, gh = map_grid_size(width, height, half_blocks=False)
    g = grid_points((-1.0, 1.0, -1.0, 1.0), gw, gh)
    logits = np.stack([g[:, 0] * 3, g[:, 1] * 3, -(g[:, 0] + g[:, 1]) * 2], axis=1)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = (e / e.sum(axis=1, keepdims=True)).reshape(gh, gw, 3)
    pts = rng().uniform(-1, 1, size=(40, 2))
    lab = rng().integers(0, 3, size=40)
    t = decision_map(probs, pts, lab, (-1.0, 1.0, -1.0, 1.0), width, height, 3, half_blocks=False)
    assert_fits(t, width, height)
    assert "▀" not in t.plain and "·" in t.plain  # boundary band marked
    # Mismatched grid is resampled; NaN probabilities do not crash.
    probs2 = probs[::3, ::2].copy()
    probs2[0, 0, :] = np.nan
    for width2, height2 in SIZES:
        out = decision_map(probs2, pts, lab, (-1.0, 1.0, -1.0, 1.0), width2, height2, 3)
        assert_fits(out, width2, height2)


# --------------------------------------------------------------------------- confusion


def test_confusion_matrix_counts() -> None:
    yt = np.array([0, 0, 1, 1, 2, 2, 2, 5])
    yp = np.array([0, 1, 1, 1, 2, 0, 2, 0])
    cm = confusion_matrix(yt, yp, 3)
    expected = np.array([[1, 1, 0], [0, 2, 0], [1, 0, 2]])
    assert (cm == expected).all()  # label 5 ignored
    assert cm.dtype == np.int64


def test_confusion_table_fits_and_recall() -> None:
    cm = np.array([[8, 2], [1, 9]])
    t = confusion_table(cm, ["cat", "dog"], 80, 24)
    assert_fits(t, 80, 24)
    plain = t.plain
    assert "[8]" in plain and "[9]" in plain
    assert "80%" in plain and "90%" in plain
    assert "acc 85.0%" in plain
    big = np.diag(np.full(30, 10)) + 1
    tb = confusion_table(big, None, 80, 12)
    assert_fits(tb, 80, 12)
    assert "most confused" in tb.plain
    assert "no data" in confusion_table(np.zeros((3, 3), int), None, 40, 5).plain
    for width, height in SIZES:
        assert_fits(confusion_table(big, None, width, height), width, height)
        assert_fits(confusion_table(cm, ["cat", "dog"], width, height), width, height)


# --------------------------------------------------------------------------- console


def test_renderables_print_on_console() -> None:
    r = rng()
    samples = [
        matrix_heatmap(r.normal(size=(5, 6)), 60, 12, title="W2"),
        matrix_heatmap(r.normal(size=(300, 200)), 60, 12, title="W1"),
        image_tiles(r.normal(size=(64, 10)), (8, 8), 60, 12),
        histogram(r.normal(size=300), 60, 8, title="acts"),
        Text(sparkline(r.normal(size=300).cumsum(), 60)),
        decision_map(
            r.random((20, 60)),
            r.uniform(size=(10, 2)),
            r.integers(0, 2, 10),
            (0.0, 1.0, 0.0, 1.0),
            60,
            11,
            2,
        ),
        confusion_table(
            confusion_matrix(r.integers(0, 4, 200), r.integers(0, 4, 200), 4), None, 60, 10
        ),
        legend(-1.0, 1.0, 40),
    ]
    for color_system in ("truecolor", "standard", None):
        console = Console(record=True, width=60, color_system=color_system, force_terminal=True)
        for s in samples:
            console.print(s)
        text = console.export_text()
        assert "W2" in text and "acts" in text
        assert max(len(line) for line in text.splitlines()) <= 60
