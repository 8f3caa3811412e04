"""A lesson under ``tui-trainer serve``: the lesson panel reaches the browser and
its keys work over the websocket (the server and browser are played as in
tests/test_serve.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from test_serve import ServeProcess, _own, _start, _until, started  # noqa: F401 (fixture)
from tui_trainer.lessons import course_files


async def _walk(ws_url: str, origin: str) -> tuple[str, str]:
    """The screen text when the lesson panel first shows, and after ``]``."""
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(ws_url, headers={"Origin": origin}) as ws:
            first = await _until(ws, r"Lesson: The four-step cycle\s+step 1/\d+")
            await ws.send_json(["stdin", "]"])
            # ] goes on to the question, which opens in its dialog with the choices
            after = await _until(ws, r"step 2/\d+[\s\S]*about half the time")
            await ws.close()
    return first, after


def test_a_lesson_is_served_with_its_panel_and_keys(
    tmp_path: Path,
    started: list[ServeProcess],  # noqa: F811
) -> None:
    pytest.importorskip("textual_serve")
    lesson = course_files()[0]
    _server, port, _token, _page, ws_url = _start(tmp_path, lesson, started)
    first, after = asyncio.run(_walk(ws_url, _own(port)))
    assert "] next" in first  # the lesson panel's keys are on the browser's screen
    assert "How often will the first guesses be right?" in " ".join(after.split())
