"""``tui-trainer serve`` in a real headless browser (Debian's Chromium, driven by
Playwright for Python): the page shows the debugger, keys typed into the page
drive it, and its top row is not clipped.

Needs Chromium (``/usr/bin/chromium``; ``.ci/run`` installs it with apt-get) and
the ``playwright`` package (in the test extra). Playwright only drives the
browser here: it never downloads one. Skips with the reason where either is
missing.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from terminal import free_port, write_scenario
from test_serve import ServeProcess

CHROMIUM = os.environ.get("TUI_TRAINER_CHROMIUM") or shutil.which("chromium") or ""
TIMEOUT_MS = 30_000
FLAGS = [  # as this workplace's probe starts it: a closed network, no first-run work
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.skipif(not CHROMIUM, reason="no Chromium (apt-get install chromium)"),
]


@pytest.fixture
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield b
        finally:
            b.close()


ANSI = re.compile(r"\x1b\[[0-9;?<>=$]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][0-9A-Za-z]|\x1b[=>]")


class PageSocket:
    """What the page's own websocket received, as terminal text without escapes.

    xterm.js draws into a canvas, so the page's DOM holds no text; the bytes
    the page received and drew are the screen's content.
    """

    def __init__(self, page: Any) -> None:
        self.frames: list[str] = []
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, payload: str | bytes) -> None:
        text = payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
        self.frames.append(text)

    def text(self, since: int = 0) -> str:
        return ANSI.sub("", "".join(self.frames[since:]))

    def wait_for(self, page: Any, pattern: str, since: int = 0) -> str:
        rx = re.compile(pattern)
        for _ in range(TIMEOUT_MS // 100):
            if rx.search(self.text(since)):
                return self.text(since)
            page.wait_for_timeout(100)
        raise AssertionError(f"the page never received {pattern!r}: {self.text(since)[-2000:]!r}")


@pytest.mark.parametrize("viewport", [(1280, 800), (1024, 600)])
def test_serve_in_a_real_browser(tmp_path: Path, browser: Any, viewport: tuple[int, int]) -> None:
    scenario = write_scenario(tmp_path / "webrun.toml")
    port = free_port()
    server = ServeProcess(tmp_path, str(scenario), "--port", str(port))
    try:
        url, _token = server.url()
        page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        received = PageSocket(page)
        page.goto(url, timeout=TIMEOUT_MS)
        received.wait_for(page, r"FORWARD\s+>\s+LOSS\s+>\s+BACKPROP\s+>\s+UPDATE")
        received.wait_for(page, r"epoch 1/20 \| step 0")
        # The whole grid is inside the page: the top row is not cut off.
        box = page.evaluate(
            """() => {
                const r = document.querySelector('.xterm-screen').getBoundingClientRect();
                return [r.top, r.bottom, window.innerHeight];
            }"""
        )
        assert box[0] >= 0 and box[1] <= box[2], box
        # Keys typed into the page drive the debugger: n runs the forward pass.
        page.mouse.click(viewport[0] // 2, viewport[1] // 2)
        mark = len(received.frames)
        page.keyboard.press("n")
        received.wait_for(page, r"FORWARD L1|phase FORWARD", since=mark)
        shot = tmp_path / "serve.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000  # a picture of a page, not an empty one
    finally:
        server.stop()
