"""The dashboard's routes: pages, JSON API, the live stream (SSE), exports and clips.

Pages are static HTML with vanilla JS (no build step) that read the JSON API;
``RequireLogin`` wraps everything, so a route added here is protected by default.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from dashboard import reports
from dashboard.auth import (
    COOKIE,
    Authenticator,
    Proxies,
    RequireLogin,
    login_page,
    peer_of,
    safe_next,
    session_cookie,
)
from dashboard.commands import CommandError
from dashboard.erase_routes import api_erase, api_erasures
from dashboard.local import ClipStore
from dashboard.records import EventQuery, QueryError, device_view, dumps
from dashboard.store import Store
from edge.publish.commands import SESSION_ID

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
POLL_S = 0.5
HEARTBEAT_S = 15.0


class SessionControl(Protocol):
    def start(self, device: str, interview_id: str) -> dict[str, Any]: ...
    def stop(self, device: str) -> dict[str, Any]: ...


@dataclass
class Deployment:
    """Everything the routes need, built by dashboard.server."""

    store: Store
    control: SessionControl
    auth: Authenticator
    local: bool
    clips: ClipStore | None = None
    proxies: Proxies = field(default_factory=Proxies)
    stats: Any = None  # () -> dict, the ingester's counters (central deployment)
    on_start: list[Any] = field(default_factory=list)
    on_stop: list[Any] = field(default_factory=list)


def dep(request: Request) -> Deployment:
    return request.app.state.deployment


CHROME_MARK = "<!--chrome-->"


def page(name: str) -> Any:
    """A page with the header every page shares (skip link, navigation, live status, sign-out, `<main>`)
    put in place of its CHROME_MARK; composed once, when the app is built."""
    chrome = (STATIC / "chrome.html").read_text(encoding="utf-8").rstrip("\n")
    html = (STATIC / name).read_text(encoding="utf-8").replace(CHROME_MARK, chrome)

    async def handler(request: Request) -> Response:
        return HTMLResponse(html, headers={"cache-control": "no-store"})
    handler.__name__ = f"page_{name.split('.')[0]}"
    return handler


async def favicon(request: Request) -> Response:
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml", headers={"cache-control": "max-age=86400"})


async def login_get(request: Request) -> Response:
    return HTMLResponse(login_page(next_path=safe_next(request.query_params.get("next", "/"))))


async def login_post(request: Request) -> Response:
    d, peer = dep(request), peer_of(request.scope)
    ip = peer.ip
    form = await request.form()
    nxt = safe_next(str(form.get("next") or "/"))
    wait = d.auth.limiter.reserve(ip)  # reserved before scrypt: a concurrent burst cannot pass the limit
    if wait:
        log.warning("login refused for %s: too many failed attempts", ip)
        return HTMLResponse(login_page(f"Too many failed attempts. Try again in {wait} s.", nxt), status_code=429,
                            headers={"retry-after": str(wait)})
    ok = await run_in_threadpool(d.auth.check_password, str(form.get("password") or ""))
    if not ok:  # the reservation stays, as this failure
        log.warning("failed login from %s", ip)
        return HTMLResponse(login_page("Wrong password.", nxt), status_code=401)
    d.auth.limiter.succeeded(ip)
    log.info("login from %s", ip)
    resp = RedirectResponse(nxt, status_code=303)
    resp.set_cookie(COOKIE, d.auth.issue(), max_age=d.auth.ttl_s, httponly=True, samesite="strict",
                    secure=peer.scheme == "https", path="/")
    return resp


async def logout(request: Request) -> Response:
    dep(request).auth.revoke(request.cookies.get(COOKIE))
    log.info("logout from %s", peer_of(request.scope).ip)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(COOKIE, path="/")
    return resp


def fleet(store: Store) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [device_view(r, now) for r in store.devices()]


async def api_devices(request: Request) -> Response:
    return JSONResponse({"devices": await run_in_threadpool(fleet, dep(request).store)})


async def api_events(request: Request) -> Response:
    try:
        q = EventQuery.from_params(request.query_params)
    except QueryError as e:
        return JSONResponse({"error": str(e)}, status_code=400)
    store = dep(request).store
    events = await run_in_threadpool(store.query_events, q)
    total = await run_in_threadpool(store.count_events, q)
    return JSONResponse({"events": events, "total": total, "limit": q.limit, "offset": q.offset})


async def api_event(request: Request) -> Response:
    e = await run_in_threadpool(dep(request).store.event, request.path_params["event_id"])
    return JSONResponse(e) if e else JSONResponse({"error": "no such event"}, status_code=404)


async def api_sessions(request: Request) -> Response:
    d = dep(request)
    sessions = await run_in_threadpool(d.store.sessions)
    return JSONResponse({"sessions": sessions, "local": d.local})


async def api_session_events(request: Request) -> Response:
    s = request.path_params["session"]
    events = await run_in_threadpool(dep(request).store.session_events, s)
    return JSONResponse({"session": s, "events": events})


async def report(request: Request) -> Response:
    s, fmt = request.path_params["session"], request.path_params.get("fmt", "html")
    if fmt not in ("csv", "json", "html"):
        return JSONResponse({"error": "report formats: csv, json, html"}, status_code=404)
    events = await run_in_threadpool(dep(request).store.session_events, s)
    if not events:
        return JSONResponse({"error": f"no events in session {s!r}"}, status_code=404)
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in s)
    if fmt == "csv":
        return Response(reports.report_csv(events), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="session-{stem}.csv"'})
    if fmt == "json":
        return JSONResponse(reports.report_json(s, events),
                            headers={"content-disposition": f'attachment; filename="session-{stem}.json"'})
    return HTMLResponse(reports.report_html(s, events))


async def _command(request: Request, name: str) -> Response:
    d = dep(request)
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"error": "expected a JSON body"}, status_code=400)
    device = str(body.get("device") or "").strip()
    interview = str(body.get("interview_id") or "").strip()
    if not device:
        return JSONResponse({"error": "device: required"}, status_code=400)
    if name == "start_session" and not SESSION_ID.match(interview):
        return JSONResponse({"error": "interview_id: 1-64 letters, digits and ._:@- (starting with a letter or digit)"},
                            status_code=400)
    try:
        if name == "start_session":
            reply = await run_in_threadpool(d.control.start, device, interview)
        else:
            reply = await run_in_threadpool(d.control.stop, device)
    except CommandError as e:
        return JSONResponse({"error": str(e)}, status_code=504 if "no reply" in str(e) else 502)
    log.info("%s %s on %s by %s", name, interview, device, peer_of(request.scope).ip)
    return JSONResponse({"ok": True, "reply": reply})


async def session_start(request: Request) -> Response:
    return await _command(request, "start_session")


async def session_stop(request: Request) -> Response:
    return await _command(request, "stop_session")


async def api_stats(request: Request) -> Response:
    d = dep(request)
    stats = d.stats() if d.stats else {}
    total = await run_in_threadpool(d.store.count_events)
    return JSONResponse({"local": d.local, "events_stored": total, "ingest": stats})


async def api_clip(request: Request) -> Response:
    clips = dep(request).clips
    meta = clips.meta(request.path_params["event_id"]) if clips else None
    if meta is None:
        return JSONResponse({"error": "no clip for this event (clips stay on the device)"}, status_code=404)
    return JSONResponse(meta)


async def api_clip_frame(request: Request) -> Response:
    clips = dep(request).clips
    p = clips.frame(request.path_params["event_id"], request.path_params["frame"]) if clips else None
    if p is None:
        return JSONResponse({"error": "no such frame"}, status_code=404)
    return FileResponse(p, media_type="image/jpeg", headers={"cache-control": "private, max-age=3600"})


async def stream(request: Request) -> Response:
    """Server-sent events: ``fleet`` when any device changes, ``event`` per new event.

    The session is checked again on every poll, so a stream ends (``logout``)
    when its session is signed out or expires, not only when it connects.
    """
    store, auth = dep(request).store, dep(request).auth
    token = session_cookie(request.scope)

    async def gen() -> AsyncIterator[str]:
        cursor, seed = await run_in_threadpool(store.recent_events, None)
        sent: dict[str, None] = dict.fromkeys(e["id"] for e in seed)
        last_fleet = ""
        quiet = 0.0
        yield "retry: 2000\n\n"
        while True:
            if not auth.valid(token):
                yield "event: logout\ndata: {}\n\n"
                return
            devices = dumps(await run_in_threadpool(fleet, store))
            if devices != last_fleet:
                last_fleet = devices
                yield f"event: fleet\ndata: {devices}\n\n"
                quiet = 0.0
            cursor, events = await run_in_threadpool(store.recent_events, cursor)
            for e in events:
                if e["id"] not in sent:
                    sent[e["id"]] = None
                    yield f"event: event\ndata: {dumps(e)}\n\n"
                    quiet = 0.0
            while len(sent) > 5000:
                sent.pop(next(iter(sent)))
            if quiet >= HEARTBEAT_S:
                yield ": keep-alive\n\n"
                quiet = 0.0
            await asyncio.sleep(POLL_S)
            quiet += POLL_S

    return StreamingResponse(gen(), media_type="text/event-stream",
                             headers={"cache-control": "no-store", "x-accel-buffering": "no"})


def routes() -> list[Any]:
    return [
        Route("/login", login_get, methods=["GET"]),
        Route("/login", login_post, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/favicon.ico", favicon),
        Route("/", page("fleet.html")),
        Route("/events", page("events.html")),
        Route("/sessions", page("sessions.html")),
        Route("/sessions/{session}", page("timeline.html")),
        Route("/sessions/{session}/report", report),
        Route("/review/{event_id}", page("review.html")),
        Route("/api/devices", api_devices),
        Route("/api/events", api_events),
        Route("/api/events/{event_id}", api_event),
        Route("/api/sessions", api_sessions),
        Route("/api/sessions/start", session_start, methods=["POST"]),
        Route("/api/sessions/stop", session_stop, methods=["POST"]),
        Route("/api/sessions/{session}/events", api_session_events),
        Route("/api/sessions/{session}/report.{fmt:str}", report),
        Route("/api/stats", api_stats),
        Route("/api/erase", api_erase, methods=["POST"]),
        Route("/api/erasures", api_erasures),
        Route("/api/clips/{event_id}", api_clip),
        Route("/api/clips/{event_id}/{frame}", api_clip_frame),
        Route("/api/stream", stream),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


def create_app(d: Deployment) -> Any:
    """The Starlette app wrapped in the login guard (the guard is the outermost layer)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for fn in d.on_start:
            await run_in_threadpool(fn)
        try:
            yield
        finally:
            for fn in d.on_stop:
                await run_in_threadpool(fn)

    app = Starlette(routes=routes(), lifespan=lifespan)
    app.state.deployment = d
    guarded = RequireLogin(app, d.auth, d.proxies)
    guarded.routes = app.routes  # type: ignore[attr-defined]  # for the route-coverage test
    guarded.state = app.state  # type: ignore[attr-defined]
    return guarded
