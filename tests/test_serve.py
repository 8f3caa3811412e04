"""``tui-trainer serve``: the app in a web browser (textual-serve), end to end.

The server is started as a real subprocess on a free loopback port. The tests
read the URL it prints (with its token), fetch the page over HTTP, then play
the browser's part over the websocket the page names (the same messages
textual-serve's page sends: ``["stdin", keys]``, with the page's ``Origin``),
read the app's screen from the terminal output it streams back, and finally
stop the server with SIGTERM as a service manager would. Nothing listens on
anything but 127.0.0.1 unless asked.

The attacks of issue 13 are played with a real websocket client (aiohttp): a
page from another site, no token, a wrong token, a DNS-rebinding host name,
one session too many. Each must be refused before an app process starts; a
refused connection that got through would go on to overwrite a file with the
app's "write scenario" key, as the attack did.

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
from typing import Any

import pytest

from terminal import free_port, isolated_env, processes_with, wait, write_scenario
from tui_trainer.cli import build_parser

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
SCREEN_TIMEOUT = 20.0
ANSI = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")
URL_RX = re.compile(
    r"serving tui-trainer: open (http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9._~-]+))\n"
)
WS_URL_RX = re.compile(r'data-session-websocket-url="([^"]+)"')
STATUS = r"epoch 1/20 \| step 0 \|"  # the name and batch make room at 100 columns
FIXED_TOKEN = "a-token-the-user-chose-0123456789"


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    return write_scenario(tmp_path / "webrun.toml")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, **isolated_env(tmp_path), **extra}
    env.pop("TEXTUAL", None)
    if "TUI_TRAINER_TOKEN" not in extra:
        env.pop("TUI_TRAINER_TOKEN", None)
    return env


class ServeProcess:
    """``python -m tui_trainer serve`` with its output in files (never a full pipe)."""

    def __init__(self, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.out = tmp_path / "serve.out"
        self.err = tmp_path / "serve.err"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tui_trainer", "serve", *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=_env(tmp_path, **(env or {})),
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

    def url(self) -> tuple[str, str]:
        """The URL serve printed for the browser, and the token in it."""
        found: list[re.Match[str]] = []

        def printed() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited with {self.proc.returncode}:\n{self.output()}")
            found[:] = [m for m in [URL_RX.search(self.output())] if m]
            return bool(found)

        wait(printed, START_TIMEOUT, lambda: f"serve printed no URL:\n{self.output()}", 0.1)
        return found[0].group(1), found[0].group(3)

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


def _get(url: str, timeout: float = 5.0, **headers: str) -> tuple[int, str]:
    """Status and body, also for an error status."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


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


def _start(tmp_path: Path, scenario: Path, started: list[ServeProcess], *args: str, **env: str):
    """A server on a free port; its page's URL, the token, and the page's websocket URL
    (with the ``?width=..&height=..`` textual.js adds)."""
    port = free_port()
    server = ServeProcess(tmp_path, str(scenario), "--port", str(port), *args, env=env)
    started.append(server)
    url, token = server.url()
    page = _wait_http(server, url)
    m = WS_URL_RX.search(page)
    assert m, f"the page names no websocket:\n{page}"
    return server, port, token, page, m.group(1) + "?width=100&height=30"


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
    server, port, token, page, ws_url = _start(tmp_path, scenario, started)

    # A fresh random token each start (token_urlsafe(32): 43 characters), in the URL printed.
    assert len(token) == 43
    assert "warning" not in server.output().lower()  # loopback: nothing to warn about
    # The page is textual-serve's browser terminal, titled and wired to this server,
    # its websocket URL carrying the token.
    assert "textual" in page.lower()
    assert "tui-trainer" in page
    assert ws_url.startswith(f"ws://127.0.0.1:{port}/ws/{token}?")
    # Only the loopback interface listens: the app is not on the network by default.
    assert _listening_addresses(port) == {"127.0.0.1"}

    # Play the browser: the app starts, shows its status line and takes keys.
    screen = asyncio.run(_browser_session(ws_url, ["f", "f", "n"], origin=_own(port)))
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


def _own(port: int) -> str:
    """The Origin a browser sends for this server's own page."""
    return f"http://127.0.0.1:{port}"


async def _until(ws: Any, pattern: str) -> str:
    """Read the app's terminal output until ``pattern`` shows; return the text read."""
    import aiohttp

    raw = b""
    text = ""
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
            return text
    raise AssertionError(f"{pattern!r} never appeared; the app sent:\n{text[-3000:]}")


async def _browser_session(
    ws_url: str, keys: list[str], origin: str | None = None, close: bool = True
) -> str:
    """Connect like the page does, press ``keys`` one by one, return the screen text."""
    import aiohttp

    headers = {"Origin": origin} if origin else {}
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(ws_url, headers=headers) as ws:
            text = await _until(ws, STATUS)
            step = 0
            for key in keys:
                await ws.send_json(["stdin", key])
                if key == "f":  # the status describes the step just updated
                    text = await _until(ws, rf"\| step {step} \| phase UPDATE")
                    step += 1
                elif key == "n":
                    text = await _until(ws, rf"\| step {step} \| phase FORWARD")
            if close:
                await ws.close()
    return text


async def _attack(ws_url: str, headers: dict[str, str], victim: Path) -> int:
    """A hostile page's websocket: the handshake's status (101: connected). If it gets
    through, do what the attack of issue 13 did: ``w``, ctrl+u, a path, Enter, which
    writes scenario TOML over ``victim``."""
    import aiohttp

    async with aiohttp.ClientSession() as http:
        try:
            ws = await http.ws_connect(ws_url, headers=headers)
        except aiohttp.WSServerHandshakeError as e:
            return e.status
        async with ws:
            await _until(ws, STATUS)
            await ws.send_json(["stdin", "w"])
            await _until(ws, "Write scenario")
            # ctrl+u clears the suggested name; then the path, one key a message at
            # a typist's pace (a burst right after the prompt opens can be lost)
            for key in ["\x15", *str(victim)]:
                await ws.send_json(["stdin", key])
                await asyncio.sleep(0.05)
            await _until(ws, re.escape(victim.name))
            await ws.send_json(["stdin", "\r"])
            deadline = time.monotonic() + SCREEN_TIMEOUT
            while victim.read_text() == "precious\n" and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        return 101


def test_serve_refuses_other_pages_and_missing_or_wrong_tokens(
    tmp_path: Path, scenario: Path, started: list[ServeProcess]
) -> None:
    """Issue 13: any web page open in the browser could start the app and type into it."""
    pytest.importorskip("aiohttp")
    pytest.importorskip("textual_serve")
    server, port, token, _page, ws_url = _start(tmp_path, scenario, started)
    base = f"http://127.0.0.1:{port}"
    size = "?width=100&height=30"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")

    # The page: only with the token, and a short plain explanation otherwise.
    for url in (f"{base}/", f"{base}/?token=wrong", f"{base}/?token=%C3%A9t%C3%A9", f"{base}/?x=1"):
        status, body = _get(url)
        assert status == 403, (url, status)
        assert "needs its token" in body and "?token=" in body
    assert _get(f"{base}/static/js/textual.js")[0] == 200  # static files stay open
    # A DNS-rebinding page (its own name resolving to 127.0.0.1) is refused even with the token.
    status, body = _get(f"{base}/?token={token}", Host=f"evil.example:{port}")
    assert status == 403 and "evil.example" in body

    evil = "http://evil.example"
    attacks = {
        "foreign Origin, right token": (ws_url, {"Origin": evil}),
        "foreign Origin, right token in the query": (f"{base}/ws?token={token}", {"Origin": evil}),
        "sandboxed page (Origin null), right token": (ws_url, {"Origin": "null"}),
        "another local server's page (other port), right token": (
            ws_url,
            {"Origin": f"http://127.0.0.1:{port + 1}"},
        ),
        "no token": (f"{base}/ws{size}", {"Origin": _own(port)}),
        "no token, no Origin": (f"{base}/ws{size}", {}),
        "wrong token in the path": (f"{base}/ws/{'x' * len(token)}{size}", {"Origin": _own(port)}),
        "wrong token in the query": (f"{base}/ws?token=wrong&width=100", {}),
        "token with a character dropped": (f"{base}/ws/{token[:-1]}{size}", {}),
        "DNS rebinding (Host and Origin agree), right token": (
            ws_url,
            {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"},
        ),
    }
    for what, (url, headers) in attacks.items():
        status = asyncio.run(_attack(url, headers, victim))
        assert status == 403, f"{what}: handshake answered {status}"
        assert victim.read_text() == "precious\n", f"{what}: the victim file was overwritten"
        assert not _app_processes(scenario), f"{what}: an app process was started"

    # The right token and no Origin (a script of the user's, not a browser): admitted.
    screen = asyncio.run(_browser_session(ws_url, ["f"]))
    assert re.search(r"\| step 0 \| phase UPDATE", screen)
    assert "Traceback" not in server.output()


def test_serve_limits_simultaneous_sessions(
    tmp_path: Path, scenario: Path, started: list[ServeProcess]
) -> None:
    """Issue 13: 20 connections started 20 app processes (1.2 GB)."""
    pytest.importorskip("aiohttp")
    pytest.importorskip("textual_serve")
    import aiohttp

    _server, port, token, _page, ws_url = _start(
        tmp_path, scenario, started, "--max-sessions", "2", "--token", FIXED_TOKEN
    )
    assert token == FIXED_TOKEN  # --token is the one in the URL
    headers = {"Origin": _own(port)}

    async def sessions() -> None:
        async with aiohttp.ClientSession() as http:
            first = await http.ws_connect(ws_url, headers=headers)
            second = await http.ws_connect(ws_url, headers=headers)
            await _until(first, STATUS)
            await _until(second, STATUS)
            for _ in range(3):  # one more, three times: closed at once, nothing started
                extra = await http.ws_connect(ws_url, headers=headers)
                shown = await _until(extra, "too many sessions")
                assert "runs 2 at a time" in shown
                msg = await extra.receive()
                assert msg.type == aiohttp.WSMsgType.CLOSE, msg
                assert msg.data == aiohttp.WSCloseCode.TRY_AGAIN_LATER
                assert "too many sessions" in msg.extra
                assert len(_app_processes(scenario)) == 2
            await first.close()
            await second.close()

    asyncio.run(sessions())
    wait(  # the closed sessions' apps end and free their places
        lambda: not _app_processes(scenario),
        STOP_TIMEOUT,
        lambda: f"app processes left: {_app_processes(scenario)}",
        interval=0.1,
    )
    screen = asyncio.run(_browser_session(ws_url, ["f"], origin=_own(port)))
    assert re.search(r"\| step 0 \| phase UPDATE", screen)


def test_serve_token_must_be_long_and_url_safe(tmp_path: Path, scenario: Path) -> None:
    pytest.importorskip("textual_serve")
    cases = {
        ("--token", "short"): "--token: use 16 to 256 characters (got 5)",
        ("--token", "has space and more than 16"): "--token: use only the characters",
        ("--token", ""): "--token: use 16 to 256 characters (got 0)",
    }
    for args, message in cases.items():
        r = subprocess.run(
            [sys.executable, "-m", "tui_trainer", "serve", str(scenario), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=_env(tmp_path),
        )
        assert r.returncode == 2, (args, r.stderr)
        assert message in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "tui_trainer", "serve", str(scenario)],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(tmp_path, TUI_TRAINER_TOKEN="x/y"),
    )
    assert r.returncode == 2 and "$TUI_TRAINER_TOKEN: use 16 to 256" in r.stderr


def test_serve_help_explains_the_token() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "tui_trainer", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    text = " ".join(r.stdout.split())
    for words in ("--token", "TUI_TRAINER_TOKEN", "--max-sessions", "Origin", "403"):
        assert words in text, words


def test_serve_warns_when_not_on_loopback(tmp_path: Path, scenario: Path) -> None:
    """A non-loopback --host is reachable from the network: say so. (192.0.2.1 is a
    documentation address no machine has, so nothing is actually served.)"""
    pytest.importorskip("textual_serve")
    r = subprocess.run(
        [sys.executable, "-m", "tui_trainer", "serve", str(scenario), "--host", "192.0.2.1"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(tmp_path),
    )
    assert "warning: 192.0.2.1 is not a loopback address" in r.stderr
    assert r.returncode == 2 and "cannot serve on 192.0.2.1" in r.stderr


def test_loopback_addresses() -> None:
    pytest.importorskip("textual_serve")
    from tui_trainer.web import is_loopback, same_origin

    for host in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST", "a.localhost"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.168.1.2", "example.com", "localhost.evil.example", ""):
        assert not is_loopback(host), host
    assert same_origin("http://127.0.0.1:8000", "127.0.0.1:8000")
    assert same_origin("https://example.com", "example.com")  # behind a TLS proxy
    for origin in ("http://127.0.0.1:8001", "http://evil.example", "null", "file://", ""):
        assert not same_origin(origin, "127.0.0.1:8000"), origin


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
    server, port, token, _page, ws_url = _start(
        tmp_path, scenario, started, TUI_TRAINER_TOKEN=FIXED_TOKEN
    )
    assert token == FIXED_TOKEN  # the environment variable sets the token
    asyncio.run(_browser_session(ws_url, ["f", "f", "f"], origin=_own(port)))
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
