"""``tui-trainer serve``: the app in a web browser (textual-serve), end to end.

The server is started as a real subprocess on a free loopback port. The tests
fetch the page over HTTP, then play the browser's part over the websocket
(the same messages textual-serve's page sends: ``["stdin", keys]``), read the
app's screen from the terminal output it streams back, and finally stop the
server with SIGTERM as a service manager would. Nothing listens on anything
but 127.0.0.1 unless asked.

Needs the ``web`` extra (``pip install 'tui-trainer[web]'``); the tests that
need it skip without it.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from terminal import free_port, isolated_env, processes_with, wait, write_scenario
from tui_trainer.cli import build_parser

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
SCREEN_TIMEOUT = 20.0
ANSI = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    return write_scenario(tmp_path / "webrun.toml")


def _env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, **isolated_env(tmp_path)}
    env.pop("TEXTUAL", None)
    return env


class ServeProcess:
    """``python -m tui_trainer serve`` with its output in files (never a full pipe)."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.out = tmp_path / "serve.out"
        self.err = tmp_path / "serve.err"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tui_trainer", "serve", *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=_env(tmp_path),
                cwd=tmp_path,
            )

    def output(self) -> str:
        text = ""
        for f in (self.out, self.err):
            try:
                text += f.read_text(errors="replace")
            except OSError:
                pass
        return text

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)


@pytest.fixture
def started() -> Iterator[list[ServeProcess]]:
    procs: list[ServeProcess] = []
    yield procs
    for p in procs:
        p.stop()


def _get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode("utf-8", "replace")


def _wait_http(server: ServeProcess, url: str) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    last: object = None
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise AssertionError(f"serve exited with {server.proc.returncode}:\n{server.output()}")
        try:
            status, body = _get(url)
            if status == 200:
                return body
            last = status
        except (urllib.error.URLError, ConnectionError, OSError) as e:
            last = e
        time.sleep(0.1)
    raise AssertionError(
        f"{url} did not answer 200 within {START_TIMEOUT} s ({last}):\n{server.output()}"
    )


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of the TCP sockets listening on ``port`` (Linux /proc/net)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state = fields[1], fields[3]
            addr_hex, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(addr_hex)
            if len(raw) == 4:
                found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
            else:  # four little-endian 32-bit words
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


def _app_processes(scenario: Path) -> list[int]:
    """The apps serve runs for the browsers (``python -m tui_trainer open <scenario>``)."""
    return processes_with(str(scenario), "open")


# ------------------------------------------------------------------ without the extra


def test_serve_binds_loopback_by_default() -> None:
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.scenario) == ("127.0.0.1", 8000, "xor")
    r = subprocess.run(
        [sys.executable, "-m", "tui_trainer", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0
    assert "default 127.0.0.1" in " ".join(r.stdout.split())


def test_serve_without_the_web_extra_is_a_clear_error(scenario: Path) -> None:
    code = (
        "import sys\n"
        "sys.modules['textual_serve'] = None\n"
        "sys.modules['textual_serve.server'] = None\n"
        "from tui_trainer.cli import main\n"
        f"sys.exit(main(['serve', {str(scenario)!r}]))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "pip install 'tui-trainer[web]'" in r.stderr
    assert "Traceback" not in r.stderr


# ------------------------------------------------------------------ with textual-serve


def test_serve_rejects_a_bad_scenario_before_serving(tmp_path: Path) -> None:
    pytest.importorskip("textual_serve")
    bad = tmp_path / "bad.toml"
    bad.write_text("[training]\nlr = -1\n", encoding="utf-8")
    port = free_port()
    r = subprocess.run(
        [sys.executable, "-m", "tui_trainer", "serve", str(bad), "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(tmp_path),
    )
    assert r.returncode == 2
    assert "training.lr" in r.stderr and "Traceback" not in r.stderr
    assert not _listening_addresses(port)


def test_serve_page_app_and_shutdown(
    tmp_path: Path, scenario: Path, started: list[ServeProcess]
) -> None:
    pytest.importorskip("textual_serve")
    port = free_port()
    server = ServeProcess(tmp_path, str(scenario), "--port", str(port))
    started.append(server)
    page = _wait_http(server, f"http://127.0.0.1:{port}/")

    # The page is textual-serve's browser terminal, titled and wired to this server.
    assert "textual" in page.lower()
    assert "tui-trainer" in page
    assert f"ws://127.0.0.1:{port}/ws" in page
    assert f"serving tui-trainer on http://127.0.0.1:{port}" in server.output()
    # Only the loopback interface listens: the app is not on the network by default.
    assert _listening_addresses(port) == {"127.0.0.1"}

    # Play the browser: the app starts, shows its status line and takes keys.
    screen = asyncio.run(_browser_session(port, ["f", "f", "n"]))
    assert re.search(r"epoch 1/20 \| step 2 \| phase FORWARD", screen)

    # SIGTERM (a service manager stopping it): the server exits promptly and cleanly.
    server.proc.send_signal(signal.SIGTERM)
    try:
        code = server.proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"serve ignored SIGTERM:\n{server.output()}") from None
    assert code == 0, server.output()
    assert "Traceback" not in server.output()
    wait(  # the app it ran for the browser is gone too
        lambda: not _app_processes(scenario),
        STOP_TIMEOUT,
        lambda: f"app processes left: {_app_processes(scenario)}",
        interval=0.1,
    )


async def _browser_session(port: int, keys: list[str], close: bool = True) -> str:
    """Connect like the page does, press ``keys`` one by one, return the screen text."""
    import aiohttp

    text = ""

    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"http://127.0.0.1:{port}/ws?width=100&height=30") as ws:

            async def until(pattern: str) -> None:
                nonlocal text
                raw = b""
                rx = re.compile(pattern)
                deadline = time.monotonic() + SCREEN_TIMEOUT
                while time.monotonic() < deadline:
                    try:
                        msg = await asyncio.wait_for(ws.receive(), 0.5)
                    except TimeoutError:
                        continue
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        raw += msg.data
                    elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                        break
                    text = ANSI.sub("", raw.decode("utf-8", "replace"))
                    if rx.search(text):
                        return
                raise AssertionError(f"{pattern!r} never appeared; the app sent:\n{text[-3000:]}")

            await until(r"epoch 1/20 \| step 0 \|")
            step = 0
            for key in keys:
                await ws.send_json(["stdin", key])
                if key == "f":
                    step += 1
                    await until(rf"\| step {step} \| phase UPDATE")
                elif key == "n":
                    await until(rf"\| step {step} \| phase FORWARD")
            if close:
                await ws.close()
    return text


def test_serve_port_in_use_is_a_clear_error(
    tmp_path: Path, scenario: Path, started: list[ServeProcess]
) -> None:
    pytest.importorskip("textual_serve")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        server = ServeProcess(tmp_path, str(scenario), "--port", str(port))
        started.append(server)
        try:
            code = server.proc.wait(timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"serve kept running on a busy port:\n{server.output()}") from None
    err = server.err.read_text(errors="replace")
    assert code == 2, server.output()
    assert "in use" in err.lower()
    assert str(port) in err
    assert "Traceback" not in err
    assert "tui-trainer: : " not in err  # a message, not an empty file name


def test_closing_the_browser_keeps_a_recovery_checkpoint(
    tmp_path: Path, scenario: Path, started: list[ServeProcess]
) -> None:
    """The browser tab is the terminal here: closing it must not lose the session,
    just as a dropped SSH connection (SIGHUP) does not."""
    pytest.importorskip("textual_serve")
    port = free_port()
    server = ServeProcess(tmp_path, str(scenario), "--port", str(port))
    started.append(server)
    _wait_http(server, f"http://127.0.0.1:{port}/")
    asyncio.run(_browser_session(port, ["f", "f", "f"]))
    recovery = tmp_path / "state" / "tui-trainer" / "recovery"
    wait(
        lambda: recovery.is_dir() and any(p.suffix == ".npz" for p in recovery.iterdir()),
        STOP_TIMEOUT,
        lambda: (
            f"no recovery checkpoint in {recovery} after the browser closed "
            f"(app processes: {_app_processes(scenario)})\n{server.output()[-2000:]}"
        ),
        interval=0.1,
    )
