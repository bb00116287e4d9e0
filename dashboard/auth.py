"""Login, signed session cookies, failed-login rate limit and the access log.

Every route needs a valid session except the login page and its stylesheet.
The password comes from $MICROEXPR_DASHBOARD_PASSWORD, dashboard.password(_file)
or an scrypt hash in dashboard.password_hash. The cookie-signing key is derived
from that secret, so instances sharing a configuration accept each other's
cookies and changing the password signs everyone out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import logging
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import quote

from edge.config import DashboardConfig
from edge.errors import ConfigError

log = logging.getLogger("dashboard.access")

COOKIE = "microexpr_session"
PUBLIC_PATHS = frozenset({"/login", "/static/login.css", "/favicon.ico"})
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$key`` for dashboard.password_hash."""
    salt = salt or secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    _, n, r, p, salt, key = stored.split("$")
    got = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p),
                         maxmem=256 * 1024 * 1024, dklen=len(_unb64(key)))
    return hmac.compare_digest(got, _unb64(key))


def check_hash_format(stored: str) -> None:
    parts = stored.split("$")
    try:
        ok = len(parts) == 6 and parts[0] == "scrypt" and all(int(x) > 0 for x in parts[1:4])
        ok = ok and len(_unb64(parts[4])) >= 8 and len(_unb64(parts[5])) >= 16
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError("dashboard.password_hash: not an scrypt hash from `microexpr dashboard --hash-password`")


@dataclass
class FailedLogins:
    """Per-address failures in a sliding window; too many locks that address out for a while."""

    limit: int = 5
    window_s: float = 300.0
    _seen: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    def _prune(self, ip: str, now: float) -> deque[float]:
        q = self._seen[ip]
        while q and now - q[0] > self.window_s:
            q.popleft()
        return q

    def retry_after(self, ip: str) -> int:
        """Seconds until this address may try again; 0 if it may now."""
        now = time.monotonic()
        q = self._prune(ip, now)
        if len(q) < self.limit:
            return 0
        return max(1, int(q[0] + self.window_s - now) + 1)

    def fail(self, ip: str) -> None:
        self._seen[ip].append(time.monotonic())

    def clear(self, ip: str) -> None:
        self._seen.pop(ip, None)


class Authenticator:
    """Checks passwords and issues/verifies session cookies."""

    def __init__(self, cfg: DashboardConfig, session_hours: float = 12.0) -> None:
        if cfg.password_hash:
            check_hash_format(cfg.password_hash)
            self._stored = cfg.password_hash
            secret = cfg.password_hash
        elif cfg.password:
            self._stored = hash_password(cfg.password)
            secret = cfg.password
        else:
            raise ConfigError(
                "dashboard: no password configured; set MICROEXPR_DASHBOARD_PASSWORD, "
                "dashboard.password_file or dashboard.password_hash"
            )
        self._key = hashlib.scrypt(secret.encode(), salt=b"microexpr-dashboard-cookie", n=SCRYPT_N,
                                   r=SCRYPT_R, p=SCRYPT_P, dklen=32)
        self.ttl_s = int(session_hours * 3600)
        self.failures = FailedLogins()
        self._revoked: dict[str, int] = {}  # signed-out token bodies -> their expiry

    def check_password(self, password: str) -> bool:
        return verify_password(password, self._stored)

    def issue(self) -> str:
        body = f"{int(time.time()) + self.ttl_s}.{secrets.token_urlsafe(12)}"
        return f"{body}.{self._sign(body)}"

    def valid(self, token: str | None) -> bool:
        if not token or token.count(".") != 2:
            return False
        body, _, sig = token.rpartition(".")
        if not hmac.compare_digest(sig, self._sign(body)):
            return False
        expires = body.split(".")[0]
        return expires.isdigit() and int(expires) > time.time() and body not in self._revoked

    def revoke(self, token: str | None) -> None:
        """Sign out: this instance refuses the token from now on, even if a client keeps it."""
        if not token or not self.valid(token):
            return
        now = time.time()
        self._revoked = {b: e for b, e in self._revoked.items() if e > now}
        body = token.rpartition(".")[0]
        self._revoked[body] = int(body.split(".")[0])

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())


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

    def __init__(self, app: ASGIApp, auth: Authenticator) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method, ip = scope["path"], scope["method"], client_ip(scope)
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
            log.info("%s %s %s %s user=%s", ip, method, path, status["code"] or "-", "operator" if authed else "-")

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
