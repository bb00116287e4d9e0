"""The central store's erase API: erase a session or a device, list what was erased and who asked."""

from __future__ import annotations

import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dashboard.auth import peer_of
from dashboard.erasure import ErasureError

log = logging.getLogger("dashboard.access")

LOCAL = "this is the unit's own buffer: erase on the unit with `microexpr erase --session ID`"


def _central(request: Request) -> Any:
    d = request.app.state.deployment
    return None if d.local else d.store


async def api_erase(request: Request) -> Response:
    """``{"session", "device"?, "requested_by"}`` erases a session; ``{"device", "requested_by"}`` a device."""
    store = _central(request)
    if store is None:
        return JSONResponse({"error": LOCAL}, status_code=400)
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"error": "expected a JSON body"}, status_code=400)
    if not isinstance(body, dict) or set(body) - {"session", "device", "requested_by"}:
        return JSONResponse({"error": "fields: session and/or device, and requested_by"}, status_code=400)
    session, device = str(body.get("session") or "").strip(), str(body.get("device") or "").strip()
    who = str(body.get("requested_by") or "").strip()
    if who:
        who = f"{who} (dashboard login from {peer_of(request.scope).ip})"
    try:
        if session:
            done = await run_in_threadpool(store.erase_session, session, who, device)
        elif device:
            done = await run_in_threadpool(store.erase_device, device, who)
        else:
            raise ErasureError("give a session or a device to erase")
    except ErasureError as e:
        return JSONResponse({"error": str(e)}, status_code=400)
    return JSONResponse({"erased": done.to_dict()})


async def api_erasures(request: Request) -> Response:
    store = _central(request)
    if store is None:
        return JSONResponse({"error": LOCAL}, status_code=400)
    done = await run_in_threadpool(store.erasures)
    return JSONResponse({"erasures": [e.to_dict() for e in done]})
