"""Session reports: CSV and JSON for records, a printable HTML page for people."""

from __future__ import annotations

import csv
import html
import io
from collections import Counter
from typing import Any

from dashboard.records import utc_now
from edge.events.record import EMOTIONS

CSV_COLUMNS = (
    "id", "device", "session", "type", "emotion", "confidence", "onset_utc", "apex_utc", "offset_utc",
    "duration_ms", "onset_frame", "apex_frame", "offset_frame", "aus", "video",
)

# Same palette as the timeline (static/common.js), distinguishable and readable on white.
COLOURS = {
    "anger": "#c62828", "contempt": "#6d4c41", "disgust": "#2e7d32", "fear": "#6a1b9a",
    "happiness": "#b45309", "sadness": "#1565c0", "surprise": "#00717c", "": "#616161",
}


def summary(session: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    by_emotion = Counter(e.get("emotion") or "unknown" for e in events)
    return {
        "session": session,
        "generated_utc": utc_now(),
        "devices": sorted({str(e.get("device", "")) for e in events}),
        "events": len(events),
        "micro": sum(e.get("type") == "micro" for e in events),
        "macro": sum(e.get("type") == "macro" for e in events),
        "first_utc": min((e["onset_utc"] for e in events), default=""),
        "last_utc": max((e["offset_utc"] for e in events), default=""),
        "by_emotion": {k: by_emotion[k] for k in (*EMOTIONS, "unknown") if by_emotion[k]},
    }


def report_json(session: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"summary": summary(session, events), "events": events}


def report_csv(events: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for e in events:
        aus = e.get("aus") or {}
        row = {**e, "aus": "+".join(k.removeprefix("AU") for k in aus)}
        w.writerow([_cell(row.get(c, "")) for c in CSV_COLUMNS])
    return buf.getvalue()


def _cell(v: Any) -> str:
    """No spreadsheet formula injection from a device-supplied string."""
    s = str(v)
    return "'" + s if s[:1] in ("=", "+", "-", "@") and not _is_number(s) else s


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def report_html(session: str, events: list[dict[str, Any]]) -> str:
    s = summary(session, events)
    esc = html.escape
    emotions = "".join(
        f'<tr><th scope="row"><span class="swatch" style="background:{COLOURS.get(k, "#616161")}"></span>{esc(k)}</th>'
        f"<td>{n}</td></tr>" for k, n in s["by_emotion"].items()
    )
    rows = "".join(
        "<tr>"
        f"<td>{esc(e['onset_utc'][11:23])}</td><td>{esc(e.get('type', ''))}</td>"
        f"<td>{esc(e.get('emotion') or 'unknown')}</td><td>{float(e.get('confidence', 0)):.2f}</td>"
        f"<td>{float(e.get('duration_ms', 0)):.0f}</td><td>{esc(e.get('device', ''))}</td>"
        f"<td>{esc('+'.join(k.removeprefix('AU') for k in (e.get('aus') or {})))}</td>"
        "</tr>"
        for e in events
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Session {esc(session)} · report</title>
<link rel="stylesheet" href="/static/report.css"></head>
<body><main>
<h1>Session report: {esc(session)}</h1>
<p class="confidential">Confidential: automated estimates of facial expressions of a person. They are cues for a
trained interviewer, not evidence of what anyone feels or whether anyone is truthful.</p>
<dl class="facts">
<dt>Device</dt><dd>{esc(', '.join(s['devices']) or '—')}</dd>
<dt>From</dt><dd>{esc(s['first_utc'] or '—')}</dd><dt>To</dt><dd>{esc(s['last_utc'] or '—')}</dd>
<dt>Events</dt><dd>{s['events']} ({s['micro']} micro, {s['macro']} macro)</dd>
<dt>Generated</dt><dd>{esc(s['generated_utc'])}</dd>
</dl>
<h2>By emotion</h2>
<table class="counts"><thead><tr><th scope="col">Emotion</th><th scope="col">Events</th></tr></thead>
<tbody>{emotions}</tbody></table>
<h2>Events</h2>
<table class="events"><thead><tr><th scope="col">Onset (UTC)</th><th scope="col">Type</th><th scope="col">Emotion</th>
<th scope="col">Confidence</th><th scope="col">Duration ms</th><th scope="col">Device</th><th scope="col">AUs</th></tr></thead>
<tbody>{rows}</tbody></table>
<p class="noprint"><button type="button" id="print">Print</button> <a href="/sessions/{esc(_q(session))}">Back to the timeline</a></p>
</main><script src="/static/report.js"></script></body></html>"""


def _q(s: str) -> str:
    from urllib.parse import quote

    return quote(s, safe="")
