"""Session cookies: a random signing key kept in the dashboard's state, and an atomic login limit.

The key is never derived from the password: whoever reads the password hash (or
the config) cannot mint a session, and a captured cookie allows no offline
guessing. It comes from ``dashboard.session_key_file`` or the systemd credential
``dashboard_session_key``, else it is made once at random and kept in the store
(instances sharing a store share it on purpose) or, for ``--local``, in a 0600
file in the data dir. The signing key mixes in the password, so changing the
password still signs everyone out.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from dashboard.passwords import Password, b64, unb64
from edge.config import DashboardConfig
from edge.errors import ConfigError


KEY_NAME = "session_key"
KEY_FILE = "dashboard-session.key"
CREDENTIAL = "dashboard_session_key"
MIN_KEY_BYTES = 32


class KeyKeeper(Protocol):
    """Keeps one named secret: the first caller's ``make()`` wins, every later caller reads it."""

    def shared_secret(self, name: str, make: Callable[[], str]) -> str: ...


class FileKeeper:
    """Secrets as 0600 files in a folder (the --local dashboard, which has no store of its own)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def shared_secret(self, name: str, make: Callable[[], str]) -> str:
        path = self.folder / (KEY_FILE if name == KEY_NAME else f"dashboard-{name}")
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(make())
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)  # atomic: a racing instance keeps the first one's key
            except FileExistsError:
                pass
        finally:
            tmp.unlink(missing_ok=True)
        return path.read_text(encoding="ascii").strip()


def _key_from_file(path: Path, what: str) -> bytes:
    """A text key (base64, hex: `openssl rand -base64 32`) loses the newline an editor or `echo`
    added; a binary one (`head -c 32 /dev/urandom`) is taken byte for byte, since any of its bytes,
    the first and last included, may be a whitespace character."""
    try:
        raw = path.read_bytes()
        key = raw.strip() if raw.isascii() else raw
    except OSError as e:
        raise ConfigError(f"{what}: cannot read {path} ({e.strerror})") from None
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"{what}: {path} holds {len(key)} bytes; the key needs at least 32 bytes")
    return key


def load_session_key(cfg: DashboardConfig, keeper: KeyKeeper, environ: Mapping[str, str] | None = None) -> bytes:
    """The cookie-signing secret: a configured file, the credential, else the keeper's random one."""
    env = os.environ if environ is None else environ
    if cfg.session_key_file:
        return _key_from_file(Path(cfg.session_key_file), "dashboard.session_key_file")
    creds = env.get("CREDENTIALS_DIRECTORY")
    if creds and (Path(creds) / CREDENTIAL).is_file():
        return _key_from_file(Path(creds) / CREDENTIAL, f"$CREDENTIALS_DIRECTORY/{CREDENTIAL}")
    return unb64(keeper.shared_secret(KEY_NAME, lambda: b64(secrets.token_bytes(32))))


@dataclass
class LoginLimiter:
    """Failed logins per client in a sliding window; too many lock that client out for a while.

    An attempt is reserved before the password is checked (and kept if it fails),
    all under one lock, so a concurrent burst cannot slip past the limit while
    scrypt runs.
    """

    limit: int = 5
    window_s: float = 300.0
    _seen: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reserve(self, client: str) -> int:
        """0 if this client may try now (the attempt is counted as a failure until ``succeeded``);
        else the seconds it must wait."""
        with self._lock:
            now = time.monotonic()
            q = self._seen[client]
            while q and now - q[0] > self.window_s:
                q.popleft()
            if len(q) >= self.limit:
                return max(1, int(q[0] + self.window_s - now) + 1)
            q.append(now)
            return 0

    def succeeded(self, client: str) -> None:
        """A right password: this client's failures are forgotten (its reservation too)."""
        with self._lock:
            self._seen.pop(client, None)


class Authenticator:
    """Checks passwords and issues/verifies signed session cookies."""

    def __init__(self, cfg: DashboardConfig, secret: bytes, session_hours: float = 12.0) -> None:
        self.password = Password(cfg)
        if len(secret) < MIN_KEY_BYTES:
            raise ConfigError("dashboard: the session key needs at least 32 bytes")
        self._key = hmac.new(secret, b"microexpr-dashboard-session\0" + self.password.identity, hashlib.sha256).digest()
        self.ttl_s = int(session_hours * 3600)
        self.limiter = LoginLimiter()
        self._revoked: dict[str, int] = {}  # signed-out token bodies -> their expiry
        self._lock = threading.Lock()

    def check_password(self, password: str) -> bool:
        return self.password.check(password)

    def issue(self) -> str:
        body = f"{int(time.time()) + self.ttl_s}.{secrets.token_urlsafe(12)}"
        return f"{body}.{self._sign(body)}"

    def valid(self, token: str | None) -> bool:
        """Signed by this key, not expired, not signed out; checked on every request and by open streams."""
        if not token or token.count(".") != 2:
            return False
        body, _, sig = token.rpartition(".")
        if not hmac.compare_digest(sig, self._sign(body)):
            return False
        expires = body.split(".")[0]
        with self._lock:
            revoked = body in self._revoked
        return expires.isdigit() and int(expires) > time.time() and not revoked

    def revoke(self, token: str | None) -> None:
        """Sign out: this instance refuses the token from now on, even if a client keeps it."""
        if not token or not self.valid(token):
            return
        now = time.time()
        body = token.rpartition(".")[0]
        with self._lock:
            self._revoked = {b: e for b, e in self._revoked.items() if e > now}
            self._revoked[body] = int(body.split(".")[0])

    def _sign(self, body: str) -> str:
        return b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())
