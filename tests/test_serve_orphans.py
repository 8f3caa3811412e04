"""When the ``serve`` server dies (SIGKILL, out of memory), the app processes it
started must not live on as orphans: each sees its input end, saves its
recovery checkpoint and exits."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from terminal import write_scenario
from test_serve import STATUS, ServeProcess, _app_processes, _own, _start, _until


def test_apps_exit_and_keep_their_work_when_the_server_is_killed(tmp_path: Path) -> None:
    pytest.importorskip("textual_serve", reason="needs the web extra")
    import aiohttp  # comes with textual-serve

    scenario = write_scenario(tmp_path / "orphan.toml")
    started: list[ServeProcess] = []
    try:
        server, port, _token, _page, ws_url = _start(tmp_path, scenario, started)

        async def session() -> None:
            async with aiohttp.ClientSession() as http:
                async with http.ws_connect(ws_url, headers={"Origin": _own(port)}) as ws:
                    await _until(ws, STATUS)
                    await ws.send_json(["stdin", "f"])  # progress worth keeping
                    await _until(ws, r"\| step 0 \| phase UPDATE")
                    assert _app_processes(scenario), "no app process"
                    os.kill(server.proc.pid, signal.SIGKILL)  # the server dies at once
                    server.proc.wait(timeout=10)

        asyncio.run(session())
        deadline = time.monotonic() + 20
        while _app_processes(scenario) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _app_processes(scenario), "the app outlived its server"
        saved = list((tmp_path / "state" / "tui-trainer" / "recovery").glob("*.npz"))
        assert saved, "the app left without its recovery checkpoint"
    finally:
        for s in started:
            s.stop()
        for pid in _app_processes(scenario):
            os.kill(pid, signal.SIGKILL)
