"""Dashboard sessions (issue 18 item 5): a random signing key, Secure behind a trusted proxy, an atomic
login limit, streams that end at logout or expiry, and no scope that skips the login check."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import hashlib
import hmac
import logging
import os
import stat
import time
import warnings
from typing import Any

import httpx
import pytest
from dashboard_helpers import PASSWORD
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

with warnings.catch_warnings():  # starlette nags about httpx vs httpx2 on import
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from dashboard.app import create_app
from dashboard.auth import hash_password
from dashboard.server import build
from edge.config import load_config
from edge.errors import ConfigError


def deployment(data_dir, *, local: bool = True, env: dict[str, str] | None = None, **dash: object):
    overrides = {f"dashboard.{k}": v for k, v in dash.items()}
    environ = {"MICROEXPR_DATA_DIR": str(data_dir), "MICROEXPR_DASHBOARD_PASSWORD": PASSWORD,
               "MICROEXPR_DEVICE_ID": "unit-local", **(env or {})}
    if not local:
        environ["MICROEXPR_MQTT_URL"] = "mqtt://127.0.0.1:1"  # never connected: on_start does not run here
    d = build(load_config(overrides=overrides, environ=environ), local=local)
    return d


def arun(coro: Any) -> Any:
    """asyncio.run on a thread of its own: Playwright's sync API (the browser tests) keeps a loop running here."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def old_style_cookie(secret: str) -> str:
    """A cookie signed the way f2b78b9 did: a key derived from the password (or its hash) with a fixed salt."""
    key = hashlib.scrypt(secret.encode(), salt=b"microexpr-dashboard-cookie", n=2**14, r=8, p=1, dklen=32)
    body = f"{int(time.time()) + 3600}.forgedforgedforged"
    sig = base64.urlsafe_b64encode(hmac.new(key, body.encode(), hashlib.sha256).digest()).decode().rstrip("=")
    return f"{body}.{sig}"


def test_the_signing_key_is_random_and_kept_not_derived_from_the_password(tmp_path):
    a = deployment(tmp_path / "a")
    assert not a.auth.valid(old_style_cookie(PASSWORD))  # knowing the password is not knowing the key
    hashed = hash_password(PASSWORD)
    h = deployment(tmp_path / "h", password_hash=hashed, env={"MICROEXPR_DASHBOARD_PASSWORD": ""})
    assert not h.auth.valid(old_style_cookie(hashed))  # nor is reading the stored hash
    cookie = a.auth.issue()
    assert a.auth.valid(cookie)
    # the same password on another unit (another data dir) signs with another key
    assert not deployment(tmp_path / "b").auth.valid(cookie)
    # the key is kept: a restart accepts the cookie; the key file is the service's alone
    assert deployment(tmp_path / "a").auth.valid(cookie)
    key_files = list((tmp_path / "a").glob("dashboard-session.key"))
    assert len(key_files) == 1 and stat.S_IMODE(key_files[0].stat().st_mode) == 0o600
    for d in (a, h):
        d.store.close()


def test_instances_sharing_a_store_share_the_key_on_purpose(tmp_path, monkeypatch):
    shared = f"sqlite://{tmp_path / 'shared.sqlite3'}"
    one = deployment(tmp_path / "one", local=False, database=shared)
    two = deployment(tmp_path / "two", local=False, database=shared)
    other = deployment(tmp_path / "three", local=False)
    cookie = one.auth.issue()
    assert two.auth.valid(cookie) and not other.auth.valid(cookie)
    # ... or given as a credential, which instances with different stores then share
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "dashboard_session_key").write_bytes(os.urandom(32))
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))  # as systemd's LoadCredential= sets it
    x = deployment(tmp_path / "x", local=False)
    y = deployment(tmp_path / "y")
    assert y.auth.valid(x.auth.issue()) and not one.auth.valid(x.auth.issue())
    # A binary key is taken byte for byte, whitespace at its ends included; a text key loses its newline.
    (creds / "binary").write_bytes(b"\n" + bytes(range(0x80, 0x9e)) + b" ")
    (creds / "text").write_bytes(b"c2Vzc2lvbiBrZXkgb2YgMzIgYnl0ZXMgYXQgbGVhc3Q=\n")
    for name in ("binary", "text"):
        a = deployment(tmp_path / f"{name}-a", session_key_file=str(creds / name))
        b = deployment(tmp_path / f"{name}-b", session_key_file=str(creds / name))
        assert b.auth.valid(a.auth.issue())
    (creds / "short").write_bytes(b"too short")
    with pytest.raises(Exception, match="session_key_file: .*at least 32 bytes"):
        deployment(tmp_path / "z", session_key_file=str(creds / "short"))


async def _login(app, peer: str, headers: dict[str, str] | None = None, password: str = PASSWORD) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://dash.example") as c:
        return await c.post("/login", data={"password": password}, headers=headers or {})


def test_secure_cookie_and_client_address_behind_a_trusted_proxy(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="dashboard")
    https = {"x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.7"}
    plain = create_app(deployment(tmp_path / "p"))
    r = arun(_login(plain, "10.0.0.2", https))
    assert r.status_code == 303 and "secure" not in r.headers["set-cookie"].lower()  # nobody is trusted
    proxied = create_app(deployment(tmp_path / "q", trusted_proxies="10.0.0.2, ::1"))
    r = arun(_login(proxied, "10.0.0.2", https))
    assert r.status_code == 303 and "; secure" in r.headers["set-cookie"].lower()
    r = arun(_login(proxied, "10.0.0.9", https))  # the same headers from a host that is not the proxy
    assert r.status_code == 303 and "secure" not in r.headers["set-cookie"].lower()
    assert any(m.getMessage().startswith("203.0.113.7 POST /login 303") for m in caplog.records)
    # the login limit counts the client behind the proxy, not the proxy
    for _ in range(5):
        assert arun(_login(proxied, "10.0.0.2", https, password="guess")).status_code == 401
    assert arun(_login(proxied, "10.0.0.2", https, password="guess")).status_code == 429
    other = {**https, "x-forwarded-for": "198.51.100.4, 203.0.113.8"}
    assert arun(_login(proxied, "10.0.0.2", other)).status_code == 303
    with pytest.raises(ConfigError, match=r"^dashboard.trusted_proxies: 'proxy.example' is not an IP address"):
        deployment(tmp_path / "r", trusted_proxies="10.0.0.0/8, proxy.example")


def test_a_concurrent_burst_of_logins_cannot_pass_the_limit(tmp_path):
    app = create_app(deployment(tmp_path / "d"))

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=app, client=("192.0.2.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://dash.example", timeout=60) as c:
            rs = await asyncio.gather(*[c.post("/login", data={"password": f"guess{i}"}) for i in range(20)])
            rs.append(await c.post("/login", data={"password": PASSWORD}))
            return [r.status_code for r in rs]

    codes = arun(burst())
    assert sorted(codes[:20]) == [401] * 5 + [429] * 15
    assert codes[20] == 429  # even the right password, until the window passes


async def _stream_until_closed(app, *, revoke_after_s: float | None, timeout_s: float) -> str:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://dash.example", timeout=60) as c:
        assert (await c.post("/login", data={"password": PASSWORD})).status_code == 303
        streaming = asyncio.create_task(c.get("/api/stream"))
        if revoke_after_s is not None:
            await asyncio.sleep(revoke_after_s)
            assert (await c.post("/logout")).status_code == 303
        r = await asyncio.wait_for(streaming, timeout_s)  # the transport returns once the stream ends
        return r.text


def test_an_open_event_stream_ends_at_logout(tmp_path):
    app = create_app(deployment(tmp_path / "d"))
    body = arun(_stream_until_closed(app, revoke_after_s=1.0, timeout_s=5.0))
    assert body.startswith("retry:") and body.rstrip().endswith("data: {}") and "event: logout" in body


def test_an_open_event_stream_ends_when_the_session_expires(tmp_path):
    d = deployment(tmp_path / "d")
    d.auth.ttl_s = 2
    body = arun(_stream_until_closed(create_app(d), revoke_after_s=None, timeout_s=6.0))
    assert "event: logout" in body


def test_websockets_and_other_scopes_do_not_skip_the_login(tmp_path):
    app = create_app(deployment(tmp_path / "d"))

    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("fleet data")
        await ws.close()
    app.routes.append(WebSocketRoute("/ws", echo))  # a websocket route someone adds later
    with TestClient(app) as client:
        with pytest.raises(WebSocketDisconnect) as refused:
            with client.websocket_connect("/ws") as ws:
                ws.receive_text()
        assert refused.value.code == 1008
        assert client.post("/login", data={"password": PASSWORD}, follow_redirects=False).status_code == 303
        with client.websocket_connect("/ws") as ws:  # logged in: allowed
            assert ws.receive_text() == "fleet data"
        with pytest.raises(WebSocketDisconnect):  # a cross-site page using the cookie: refused
            with client.websocket_connect("/ws", headers={"origin": "http://evil.example"}) as ws:
                ws.receive_text()

    async def unknown_scope() -> list[dict]:
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "x"}

        async def send(m: dict) -> None:
            sent.append(m)
        await app({"type": "webtransport", "path": "/api/events", "headers": []}, receive, send)
        return sent
    assert arun(unknown_scope()) == []  # never reaches the app
