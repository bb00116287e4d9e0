"""The login password: scrypt hashes for dashboard.password_hash, and checking a guess against one."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from edge.config import DashboardConfig
from edge.errors import ConfigError

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$key`` for dashboard.password_hash."""
    salt = salt or secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt)}${b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    _, n, r, p, salt, key = stored.split("$")
    got = hashlib.scrypt(password.encode(), salt=unb64(salt), n=int(n), r=int(r), p=int(p),
                         maxmem=256 * 1024 * 1024, dklen=len(unb64(key)))
    return hmac.compare_digest(got, unb64(key))


def check_hash_format(stored: str) -> None:
    parts = stored.split("$")
    try:
        ok = len(parts) == 6 and parts[0] == "scrypt" and all(int(x) > 0 for x in parts[1:4])
        ok = ok and len(unb64(parts[4])) >= 8 and len(unb64(parts[5])) >= 16
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError("dashboard.password_hash: not an scrypt hash from `microexpr dashboard --hash-password`")


class Password:
    """The configured password, held only as an scrypt hash."""

    def __init__(self, cfg: DashboardConfig) -> None:
        if cfg.password_hash:
            check_hash_format(cfg.password_hash)
            self.stored = cfg.password_hash
            self.identity = cfg.password_hash.encode()
        elif cfg.password:
            self.stored = hash_password(cfg.password)
            self.identity = cfg.password.encode()
        else:
            raise ConfigError(
                "dashboard: no password configured; set MICROEXPR_DASHBOARD_PASSWORD, "
                "dashboard.password_file or dashboard.password_hash"
            )

    def check(self, guess: str) -> bool:
        return verify_password(guess, self.stored)
