"""``tui-trainer serve``: textual-serve with a token, an Origin check and a session limit.

Threat model (the one Jupyter's notebook server answers). Whoever can open a
websocket to the server starts a copy of the app and types into it: the app
saves scenarios and checkpoints to any path the user types, so a session is
as good as a shell's write access to the user's files. textual-serve itself
accepts every connection. Binding to 127.0.0.1 keeps other machines out, but
not the user's own browser: any web page open while ``serve`` runs can make
the browser connect to ``ws://127.0.0.1:PORT/ws`` (websockets are not covered
by the same-origin policy) and drive the app.

So, before any app process starts:

- **Token.** The server makes a random token (``secrets.token_urlsafe(32)``,
  or ``--token`` / ``$TUI_TRAINER_TOKEN``) and prints the one URL that carries
  it (``http://127.0.0.1:8000/?token=...``). The page and the websocket
  refuse a request without it (403). A foreign page cannot read the token:
  the same-origin policy hides the page that contains it.
- **Origin.** A browser always says which page opened a websocket; the
  ``Origin`` must be this server's own address (as the browser sent it in
  ``Host``), even with the right token. Without an ``Origin`` (not a browser,
  e.g. a script of the user's) the token alone admits.
- **Host.** When bound to a loopback address, a ``Host`` header that is not a
  loopback name is refused: that is a DNS-rebinding page pretending to be
  same-origin (it still would not know the token).
- **Session limit.** Each session is a process of its own (about 60 MB), so at
  most ``max_sessions`` run at once; one more websocket is closed at once
  with code 1013 (try again later) and a reason, without starting anything.

Static files (the page's JavaScript, CSS, fonts) stay open: they start nothing
and hold no secret. Plain HTTP is not encrypted: on a non-loopback ``--host``
the token crosses the network in clear, which ``cmd_serve`` warns about.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
from aiohttp import WSCloseCode, web
from textual_serve.server import Server, to_int

TOKEN_ENV = "TUI_TRAINER_TOKEN"
MIN_TOKEN_LENGTH = 16
MAX_TOKEN_LENGTH = 256
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9._~-]+")  # URL-safe: goes into paths and queries as is
_WEBSOCKET_ROUTES = frozenset({"websocket", "websocket_token"})
_TOKEN_ROUTES = frozenset({"index"}) | _WEBSOCKET_ROUTES

NEEDS_TOKEN = (
    "403 Forbidden: this tui-trainer server needs its token.\n"
    "Open the URL that `tui-trainer serve` printed when it started "
    "(http://HOST:PORT/?token=...).\n"
)
FOREIGN_ORIGIN = (
    "403 Forbidden: this websocket was opened by a page from another site ({origin}).\n"
    "Only the page this server serves may start the app.\n"
)
FOREIGN_HOST = (
    "403 Forbidden: this server listens on a loopback address only and does not "
    "answer to the host name {host!r}.\n"
)


def new_token() -> str:
    """A fresh random token: 32 bytes, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def token_problem(token: str) -> str | None:
    """Why ``token`` may not be used (None when it may): long enough to guess in no
    practical time, and made of characters that need no escaping in a URL."""
    if not MIN_TOKEN_LENGTH <= len(token) <= MAX_TOKEN_LENGTH:
        return (
            f"use {MIN_TOKEN_LENGTH} to {MAX_TOKEN_LENGTH} characters "
            f"(got {len(token)}); leave it out for a random one"
        )
    if not _TOKEN_CHARS.fullmatch(token):
        return "use only the characters A-Z a-z 0-9 . _ ~ -"
    return None


def is_loopback(host: str) -> bool:
    """True for ``localhost`` (and ``*.localhost``) and addresses in 127.0.0.0/8 or ::1."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def url_host(host: str) -> str:
    """``host`` as it is written in a URL (IPv6 addresses in brackets)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def browser_url(host: str, port: int, token: str) -> str:
    """The URL to open: the page, with the token."""
    return f"http://{url_host(host)}:{port}/?token={token}"


def _host_name(host_header: str) -> str:
    """The name part of a ``Host`` header value (``[::1]:8000`` -> ``::1``)."""
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")] if "]" in host_header else host_header
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def same_origin(origin: str, host_header: str) -> bool:
    """Whether the browser's ``Origin`` is this server as the browser addressed it
    (``Host``): same host and port; http or https (https behind a TLS proxy)."""
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host_header.lower()


class GuardedServer(Server):
    """textual-serve's ``Server`` that admits only token holders, from its own page,
    up to ``max_sessions`` at a time. See the module docstring for why."""

    def __init__(
        self,
        command: str,
        *,
        host: str,
        port: int,
        token: str,
        max_sessions: int,
        title: str = "tui-trainer",
    ) -> None:
        super().__init__(command, host=host, port=port, title=title)
        self.token = token
        self.max_sessions = max_sessions
        self.sessions = 0
        self._loopback_only = is_loopback(host)

    # ------------------------------------------------------------ checks

    def _has_token(self, request: web.Request) -> bool:
        given = request.match_info.get("token") or request.query.get("token", "")
        # bytes: compare_digest rejects non-ASCII str with TypeError, not False
        return hmac.compare_digest(given.encode("utf-8"), self.token.encode("utf-8"))

    def refusal(self, request: web.Request) -> str | None:
        """Why ``request`` is refused (the 403 body), or None to let it through."""
        if self._loopback_only and not is_loopback(_host_name(request.host)):
            return FOREIGN_HOST.format(host=request.host)
        route = request.match_info.route.name
        if route not in _TOKEN_ROUTES:
            return None  # static files
        if route in _WEBSOCKET_ROUTES:
            origin = request.headers.get("Origin")
            if origin is not None and not same_origin(origin, request.host):
                return FOREIGN_ORIGIN.format(origin=origin[:200])
        if not self._has_token(request):
            return NEEDS_TOKEN
        return None

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        # The page's websocket URL carries the token in its path: textual.js appends
        # "?width=..&height=.." to it, which would garble a query string.
        app.router.add_get("/ws/{token}", self.handle_websocket, name="websocket_token")

        @web.middleware
        async def guard(
            request: web.Request,
            handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        ) -> web.StreamResponse:
            reason = self.refusal(request)
            if reason is not None:
                raise web.HTTPForbidden(text=reason)
            return await handler(request)

        app.middlewares.append(guard)
        return app

    # ------------------------------------------------------------ handlers

    async def on_startup(self, app: web.Application) -> None:
        """Quiet: textual-serve's banner would print a URL without the token."""

    async def handle_index(self, request: web.Request) -> web.StreamResponse:  # type: ignore[override]
        """The page, wired to a websocket URL with the token, on the host the browser used."""
        scheme = "wss" if request.secure else "ws"
        context: dict[str, Any] = {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": f"{scheme}://{request.host}/ws/{self.token}",
            "config": {"static": {"url": "/static/"}},
            "application": {"name": self.title},
        }
        response = aiohttp_jinja2.render_template("app_index.html", request, context)
        response.headers["Referrer-Policy"] = "no-referrer"  # the URL holds the token
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """One app session, unless ``max_sessions`` already run: then close with 1013."""
        if self.sessions >= self.max_sessions:
            reason = f"too many sessions: this server runs {self.max_sessions} at a time"
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            # shown in the page's terminal; the close reason is for other clients
            await ws.send_bytes(f"tui-trainer: {reason}; close one and reload.\r\n".encode())
            await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=reason.encode())
            return ws
        self.sessions += 1  # before any await: no two handlers see the same count
        try:
            return await super().handle_websocket(request)
        finally:
            self.sessions -= 1
