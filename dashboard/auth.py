"""The login guard (every scope, every route), the client behind a trusted proxy, and the login page.

Every request and websocket needs a valid session except the login page and its
stylesheet; any other kind of ASGI scope never reaches the app. Behind a TLS
reverse proxy listed in ``dashboard.trusted_proxies`` the client's address and
scheme come from X-Forwarded-For / X-Forwarded-Proto; from anyone else those
headers are ignored. Cookies and passwords: dashboard/sessions.py, dashboard/passwords.py.
"""

from __future__ import annotations

import html
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import quote

from dashboard.passwords import check_hash_format, hash_password, verify_password
from dashboard.sessions import Authenticator, LoginLimiter
from edge.errors import ConfigError

__all__ = ["Authenticator", "LoginLimiter", "Peer", "Proxies", "RequireLogin", "check_hash_format", "client_ip",
           "hash_password", "login_page", "peer_of", "safe_next", "session_cookie", "verify_password"]

log = logging.getLogger("dashboard.access")

COOKIE = "microexpr_session"
PUBLIC_PATHS = frozenset({"/login", "/static/login.css", "/favicon.ico"})
PEER_KEY = "microexpr.peer"

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


@dataclass(frozen=True)
class Peer:
    """Who is asking, as far as can be believed: the client's address and http/https."""

    ip: str
    scheme: str


class Proxies:
    """The reverse proxies whose forwarding headers are believed (``dashboard.trusted_proxies``)."""

    def __init__(self, spec: str = "") -> None:
        self.nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for item in filter(None, (x.strip() for x in spec.split(","))):
            try:
                self.nets.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ConfigError(f"dashboard.trusted_proxies: {item!r} is not an IP address or network") from None

    def trusted(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(addr in net for net in self.nets)

    def peer(self, scope: Scope) -> Peer:
        direct = client_ip(scope)
        scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"), scope.get("scheme", "http"))
        if not self.nets or not self.trusted(direct):
            return Peer(direct, scheme)
        ip = direct
        for hop in reversed([h.strip() for h in _header(scope, b"x-forwarded-for").split(",") if h.strip()]):
            ip = hop
            if not self.trusted(hop):
                break  # the first address from the right that no trusted proxy added: the client
        proto = _header(scope, b"x-forwarded-proto").split(",")[-1].strip().lower()
        return Peer(ip, proto if proto in ("http", "https") else scheme)


def peer_of(scope: Scope) -> Peer:
    """The peer the guard worked out for this request."""
    return scope.get(PEER_KEY) or Peer(client_ip(scope), scope.get("scheme", "http"))


def client_ip(scope: Scope) -> str:
    c = scope.get("client")
    return c[0] if c else "-"


def session_cookie(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            jar = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except CookieError:
                return None
            if COOKIE in jar:
                return jar[COOKIE].value
    return None


def _header(scope: Scope, key: bytes) -> str:
    for name, value in scope.get("headers", []):
        if name == key:
            return value.decode("latin-1")
    return ""


class RequireLogin:
    """ASGI middleware: refuse what is not logged in, reject cross-site writes, log access."""

    def __init__(self, app: ASGIApp, auth: Authenticator, proxies: Proxies | None = None) -> None:
        self.app = app
        self.auth = auth
        self.proxies = proxies or Proxies()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self.app(scope, receive, send)
            return
        if kind not in ("http", "websocket"):
            log.warning("refused an ASGI %s scope: only http and websocket are served", kind)
            return
        peer = self.proxies.peer(scope)
        scope[PEER_KEY] = peer
        if kind == "websocket":
            await self._websocket(scope, receive, send, peer)
            return
        path, method = scope["path"], scope["method"]
        authed = self.auth.valid(session_cookie(scope))
        status = {"code": 0}

        async def logged_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            if path not in PUBLIC_PATHS and not authed:
                await self._refuse(scope, logged_send)
            elif method not in ("GET", "HEAD") and not self._same_origin(scope):
                await _plain(logged_send, 403, "cross-site request refused")
            else:
                await self.app(scope, receive, logged_send)
        finally:
            log.info("%s %s %s %s user=%s", peer.ip, method, path, status["code"] or "-", "operator" if authed else "-")

    async def _websocket(self, scope: Scope, receive: Any, send: Any, peer: Peer) -> None:
        """A websocket needs the session and a same-site page, like a write (the cookie rides along cross-site)."""
        authed = self.auth.valid(session_cookie(scope))
        if authed and self._same_origin(scope):
            log.info("%s WEBSOCKET %s user=operator", peer.ip, scope["path"])
            await self.app(scope, receive, send)
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1008, "reason": "login required"})
        log.info("%s WEBSOCKET %s refused user=%s", peer.ip, scope["path"], "operator" if authed else "-")

    async def _refuse(self, scope: Scope, send: Any) -> None:
        path = scope["path"]
        if path.startswith(("/api/", "/static/")) or scope["method"] not in ("GET", "HEAD"):
            await _plain(send, 401, "login required", extra=[(b"www-authenticate", b'Cookie realm="microexpr"')])
            return
        nxt = path + (("?" + scope["query_string"].decode("latin-1")) if scope.get("query_string") else "")
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", f"/login?next={quote(nxt, safe='')}".encode()),
                                (b"content-length", b"0"), (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    def _same_origin(scope: Scope) -> bool:
        origin = _header(scope, b"origin")
        if not origin:
            return True  # non-browser clients; the SameSite=Strict cookie covers browsers
        host = _header(scope, b"host")
        return origin.split("://", 1)[-1] == host


async def _plain(send: Any, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store"),
                            *(extra or [])]})
    await send({"type": "http.response.body", "body": body})


def login_page(error: str = "", next_path: str = "/") -> str:
    """The only page served without a session."""
    err = f'<p class="error" role="alert" id="login-error">{html.escape(error)}</p>' if error else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · microexpr dashboard</title><link rel="stylesheet" href="/static/login.css"></head>
<body><main class="login">
<h1>microexpr dashboard</h1>
<p class="note">This dashboard shows sensitive data about people's emotional expressions. Access is logged.</p>
<form method="post" action="/login">
<input type="hidden" name="next" value="{html.escape(next_path)}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required autofocus
 aria-describedby="{'login-error' if error else ''}">
<button type="submit">Sign in</button>
{err}
</form></main></body></html>"""


def safe_next(value: str) -> str:
    """Only same-site paths after login: never an open redirect."""
    return value if value.startswith("/") and not value.startswith("//") and "\\" not in value else "/"
