"""Access control: every route needs a login, passwords and hashes, rate limit, cookies, access log."""

from __future__ import annotations

import logging
import re
import secrets
import warnings

import pytest
from starlette.routing import Mount, Route

with warnings.catch_warnings():  # starlette nags about httpx vs httpx2 on import
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from dashboard_helpers import PASSWORD

from dashboard.app import create_app
from dashboard.auth import Authenticator, hash_password, verify_password
from dashboard.server import build
from edge.config import DashboardConfig, load_config
from edge.errors import ConfigError


@pytest.fixture
def app(tmp_path):
    cfg = load_config(environ={"MICROEXPR_DATA_DIR": str(tmp_path), "MICROEXPR_DASHBOARD_PASSWORD": PASSWORD})
    return create_app(build(cfg, local=True))


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def requests_for_every_route(app) -> list[tuple[str, str]]:
    """(method, path) for every route and method the app has, so a new route cannot escape the check."""
    out = []
    for r in app.routes:
        if isinstance(r, Route):
            for m in sorted(r.methods - {"HEAD"}):
                out.append((m, concrete(r.path)))
        elif isinstance(r, Mount):
            for name in sorted(p.name for p in r.app.directory.iterdir()):  # type: ignore[union-attr]
                out.append(("GET", f"{r.path}/{name}"))
        else:
            raise TypeError(f"unknown route type {r!r}")
    return out


def test_every_route_refuses_unauthenticated_requests(app):
    reqs = requests_for_every_route(app)
    assert len(reqs) >= 30  # every route plus every static file
    public = []
    with TestClient(app, follow_redirects=False) as client:
        for method, path in reqs:
            r = client.request(method, path)
            if r.status_code == 200 and path in ("/login", "/static/login.css", "/favicon.ico"):
                public.append(path)
                continue
            assert r.status_code in (401, 303), f"{method} {path} -> {r.status_code}"
            if r.status_code == 303:
                assert r.headers["location"].startswith("/login?next="), path
            assert "happiness" not in r.text and "room-" not in r.text
    assert sorted(public) == ["/favicon.ico", "/login", "/static/login.css"]


def test_login_logout_and_tampered_cookies(app):
    with TestClient(app, follow_redirects=False) as client:
        r = client.get("/events?emotion=fear")
        assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fevents%3Femotion%3Dfear"
        page = client.get("/login")
        assert 'type="password"' in page.text and '<label for="password">' in page.text
        assert client.post("/login", data={"password": "wrong"}).status_code == 401
        r = client.post("/login", data={"password": PASSWORD, "next": "/events?emotion=fear"})
        assert r.status_code == 303 and r.headers["location"] == "/events?emotion=fear"
        cookie = r.cookies["microexpr_session"]
        assert "httponly" in r.headers["set-cookie"].lower() and "samesite=strict" in r.headers["set-cookie"].lower()
        assert client.get("/api/devices").status_code == 200
        assert client.get("/").status_code == 200
        client.cookies.set("microexpr_session", cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB"))
        assert client.get("/api/devices").status_code == 401
        client.cookies.set("microexpr_session", cookie)
        assert client.post("/logout", headers={"origin": "http://evil.example"}).status_code == 403
        r = client.post("/logout")
        assert r.status_code == 303
        client.cookies.set("microexpr_session", cookie)  # a client that keeps the cookie anyway
        assert client.get("/api/devices").status_code == 401


def test_open_redirects_are_refused(app):
    with TestClient(app, follow_redirects=False) as client:
        r = client.post("/login", data={"password": PASSWORD, "next": "//evil.example/x"})
        assert r.headers["location"] == "/"


def test_failed_logins_are_rate_limited_and_logged(app, caplog):
    caplog.set_level(logging.INFO, logger="dashboard")
    with TestClient(app, follow_redirects=False) as client:
        codes = [client.post("/login", data={"password": f"guess{i}"}).status_code for i in range(7)]
        assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
        r = client.post("/login", data={"password": PASSWORD})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0  # even the right one, for now
    messages = [rec.getMessage() for rec in caplog.records]
    assert sum("failed login from testclient" in m for m in messages) == 5
    assert any(re.match(r"testclient POST /login 429 user=-", m) for m in messages)


def test_access_log_names_ip_route_and_user(app, caplog):
    caplog.set_level(logging.INFO, logger="dashboard.access")
    with TestClient(app, follow_redirects=False) as client:
        client.post("/login", data={"password": PASSWORD})
        client.get("/api/events?emotion=fear")
    lines = [r.getMessage() for r in caplog.records if r.name == "dashboard.access"]
    assert "testclient GET /api/events 200 user=operator" in lines


def test_password_hash_round_trip_and_config():
    h = hash_password("s3cret")
    assert h.startswith("scrypt$") and verify_password("s3cret", h) and not verify_password("s3cret!", h)
    key = secrets.token_bytes(32)
    auth = Authenticator(DashboardConfig(password_hash=h), key)
    assert auth.check_password("s3cret") and not auth.check_password("nope")
    assert auth.valid(auth.issue()) and not auth.valid("1.2.3") and not auth.valid(None)
    # Instances sharing the key (and the password) accept each other's cookies; another key or password does not.
    assert Authenticator(DashboardConfig(password_hash=h), key).valid(auth.issue())
    assert not Authenticator(DashboardConfig(password_hash=h), secrets.token_bytes(32)).valid(auth.issue())
    assert not Authenticator(DashboardConfig(password_hash=hash_password("other")), key).valid(auth.issue())
    with pytest.raises(ConfigError, match="password_hash"):
        Authenticator(DashboardConfig(password_hash="md5$abc"), key)
    with pytest.raises(ConfigError, match="no password configured"):
        Authenticator(DashboardConfig(), key)
