"""The network picture and the mouse: clicks select a layer, a panel, a weight
and a unit; the picture's renderer keeps to its cells whatever the network."""

from __future__ import annotations

import math

import numpy as np
import pytest
from textual.pilot import Pilot

from pilot import run_app, sine_session, wait_until, xor_session
from tui_trainer.ui.app import TrainerApp
from tui_trainer.ui.render.netpic import picture, picture_layout, unit_list
from tui_trainer.ui.widgets.matrix_view import MatrixView
from tui_trainer.ui.widgets.network_view import NetworkView
from tui_trainer.ui.widgets.picture_view import PictureView, unit_maps

BORDER = 1  # the panels' round border: content starts one cell in


def test_click_selects_a_layer() -> None:
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        # The narrow list: "input" on line 0, then two lines per layer.
        await pilot.click(NetworkView, offset=(BORDER + 3, BORDER + 3))
        await pilot.pause()
        assert app.selected_layer == 1
        assert app.query_one(NetworkView).selected == 1
        await pilot.click(NetworkView, offset=(BORDER + 3, BORDER + 1))
        await pilot.pause()
        assert app.selected_layer == 0

    run_app(app, body)


def test_click_on_a_weight_moves_the_cursor_there() -> None:
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        mv = app.query_one(MatrixView)
        # W of layer 1 is 2x4, drawn as numbers: each value 7 cells after a
        # 2-cell row label, on the line that starts with the row's number.
        lines = str(mv.content).split("\n")
        row1 = next(i for i, line in enumerate(lines) if line.startswith("1 "))
        assert lines[row1 - 1].startswith("0 ")
        await pilot.click(MatrixView, offset=(BORDER + 2 + 7 * 2 + 3, BORDER + row1))
        await pilot.pause()
        assert app.cell == (1, 2)
        assert app.focused is mv  # the cursor is on, as after m
        assert s.position == 0
        await pilot.click(MatrixView, offset=(BORDER + 2 + 3, BORDER + row1))
        await pilot.pause()  # the cursor line moved the rows down by one: row 0 now
        assert app.cell == (0, 0)
        await pilot.click(MatrixView, offset=(BORDER + 1, BORDER + 0))  # the cursor line
        await pilot.pause()
        assert app.cell == (0, 0)  # not a weight: nothing moves

    run_app(app, body)


def test_click_on_a_unit_selects_it() -> None:
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("f", "5")
        pv = app.query_one(PictureView)
        await wait_until(pilot, lambda: bool(pv.tiles))
        tile = next(t for t in pv.tiles if (t.layer, t.unit) == (0, 2))
        await pilot.click(PictureView, offset=(BORDER + tile.x + 1, BORDER + tile.y + 1))
        await pilot.pause()
        assert app.selected_layer == 0 and app.cell == (0, 2)
        assert "▶" in str(pv.content)
        assert "W[0,2]" in str(app.query_one("#explain").content)
        out = next(t for t in pv.tiles if t.unit == -1)
        await pilot.click(PictureView, offset=(BORDER + out.x, BORDER + out.y))
        await pilot.pause()
        assert app.selected_layer == 1  # the output layer
        assert app.query_one(NetworkView).selected == 1

    run_app(app, body, size=(120, 40))


def test_click_in_the_unit_list_at_80_columns() -> None:
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("5")
        pv = app.query_one(PictureView)
        await wait_until(pilot, lambda: bool(pv.rows))
        assert not pv.tiles  # 80 columns: the compact list
        line, layer, unit = pv.rows[3]
        await pilot.click(PictureView, offset=(BORDER + 2, BORDER + line))
        await pilot.pause()
        assert (app.selected_layer, app.cell[1] if app.cell else None) == (layer, unit)

    run_app(app, body)


def test_click_brings_a_panel_forward_on_a_big_terminal() -> None:
    app = TrainerApp(xor_session(), name="xor")

    async def body(pilot: Pilot) -> None:
        assert app.panel == "matrix"
        await pilot.click("#chart", offset=(5, 5))
        await pilot.pause()
        assert app.panel == "chart"
        await pilot.click("#data", offset=(5, 5))
        await pilot.pause()
        assert app.panel == "data"

    run_app(app, body, size=(200, 60))


def test_picture_for_data_that_is_not_2d_says_so() -> None:
    app = TrainerApp(sine_session(), name="sine")

    async def body(pilot: Pilot) -> None:
        await pilot.press("5")
        await pilot.pause()
        pv = app.query_one(PictureView)
        await wait_until(pilot, lambda: "two input features" in str(pv.content))
        assert not pv.tiles and not pv.rows

    run_app(app, body, size=(120, 40))


@pytest.mark.parametrize("size", [(82, 27), (44, 14), (98, 22), (200, 50), (30, 6)])
@pytest.mark.parametrize("hidden", [(4,), (32, 32), (3, 8, 3)])
def test_picture_keeps_to_its_cells(size: tuple[int, int], hidden: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    sizes = [2, *hidden, 2]
    weights = [rng.normal(size=(a, b)) for a, b in zip(sizes, sizes[1:], strict=False)]
    weights[0][0, 0] = math.nan  # a diverged weight is drawn, not a crash
    maps = [rng.normal(size=(6, 6, n)) for n in sizes]
    maps[1][0, 0, 0] = math.inf
    names = [f"c{k}" for k in range(len(sizes))]
    w, h = size
    text, tiles = picture(maps, weights, None, names, [1.0] * len(sizes), w, h, selected=(0, 1))
    lines = text.plain.split("\n")
    assert len(lines) <= h and all(len(line) <= w for line in lines)
    for t in tiles:
        assert 0 <= t.x and t.x + t.w <= w and 1 <= t.y and t.y + t.h <= h - 1
    if picture_layout([2, *hidden, 2], w, h) is not None:
        assert tiles and {t.layer for t in tiles} == set(range(-1, len(hidden) + 1))
    text, rows = unit_list(maps, weights, names, [1.0] * len(sizes), w, h)
    lines = text.plain.split("\n")
    assert len(lines) <= h and all(len(line) <= w for line in lines)


def test_unit_maps_are_the_units_outputs() -> None:
    s = xor_session()
    ext = (-1.0, 1.0, -1.0, 1.0)
    maps = unit_maps(s, ext, 4, 3)
    assert [m.shape for m in maps] == [(3, 4, 2), (3, 4, 4), (3, 4, 2)]
    x = maps[0].reshape(-1, 2)
    assert np.allclose(maps[1].reshape(-1, 4), np.tanh(x @ s.net.layers[0].W + s.net.layers[0].b))
    assert maps[0][0, 0, 1] > maps[0][-1, 0, 1]  # the top row is the largest x2


@pytest.mark.parametrize("argv,mouse", [(["xor"], False), (["xor", "--mouse"], True)])
def test_mouse_is_off_unless_asked(
    argv: list[str], mouse: bool, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """Off by default (the terminal's text selection works, over SSH too);
    ``--mouse`` turns the clicks on."""
    from tui_trainer import cli

    seen: dict[str, object] = {}
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setattr(TrainerApp, "run", lambda self, **kw: seen.update(kw))
    assert cli.main(argv) == 0
    assert seen == {"mouse": mouse}


def test_picture_is_redrawn_at_the_slow_rate_while_running() -> None:
    """Like the data view: the 1 Hz redraw (slow=False) leaves the picture, the
    0.5 Hz one redraws it; unchanged weights cost no model evaluation."""
    s = xor_session()
    app = TrainerApp(s, name="xor")

    async def body(pilot: Pilot) -> None:
        await pilot.press("5")
        pv = app.query_one(PictureView)
        await wait_until(pilot, lambda: bool(pv.tiles))
        made = pv.evaluations
        with app.lock:
            s.advance("step", 3)  # as a run does between redraws
        app.running = True
        try:
            app.refresh_heavy(slow=False)
            assert pv.evaluations == made
            app.refresh_heavy(slow=True)
            assert pv.evaluations == made + 1
            app.refresh_heavy(slow=True)
            assert pv.evaluations == made + 1  # the same step: from the cache
        finally:
            app.running = False

    run_app(app, body, size=(120, 40))
