// Fleet view: device table and live event feed, both updated from the server-sent events.
"use strict";

const ORDER = { offline: 0, degraded: 1, unknown: 2, local: 3, online: 4 };

function stateCell(d) {
  const td = el("td", {}, el("span", { class: "badge " + d.state }, d.state));
  if (d.reasons && d.reasons.length) td.append(el("span", { class: "reasons" }, d.reasons.join(", ")));
  return td;
}

function deviceRow(d) {
  const v = d.versions || {};
  const session = d.session && d.session.state === "running" ? d.session.id + " (running)" : "—";
  return el("tr", { class: "state-" + d.state, "data-device": d.id, "data-state": d.state },
    el("th", { scope: "row" }, d.id),
    stateCell(d),
    el("td", {}, [d.site, d.room].filter(Boolean).join(" / ") || "—"),
    el("td", {}, el("time", { datetime: d.last_seen_utc || "", "data-ago": d.last_seen_utc || "" }, ago(d.last_seen_utc))),
    el("td", { class: "num" }, num(d.fps, 1)),
    el("td", { class: "num" }, num(d.frames_dropped)),
    el("td", { class: "num" }, d.latency_p50_ms == null ? "—" : num(d.latency_p50_ms, 1) + " / " + num(d.latency_p99_ms, 1)),
    el("td", { class: "num" }, num(d.cpu_temp_c, 1)),
    el("td", { class: "num" }, num(d.outbox_depth)),
    el("td", {}, session),
    el("td", { class: "note" }, [v.software, v.models && "models " + v.models].filter(Boolean).join(" · ") || "—"));
}

function renderFleet(devices) {
  const body = document.querySelector("#fleet tbody");
  devices = devices.slice().sort((a, b) => (ORDER[a.state] ?? 9) - (ORDER[b.state] ?? 9) || a.id.localeCompare(b.id));
  body.replaceChildren(...(devices.length ? devices.map(deviceRow)
    : [el("tr", {}, el("td", { colspan: 11, class: "empty" }, "No devices yet."))]));
  const count = (s) => devices.filter((d) => d.state === s).length;
  document.getElementById("fleet-summary").textContent =
    `${devices.length} devices: ${count("online")} online, ${count("degraded")} degraded, ${count("offline")} offline`;
}

function feedItem(e, fresh) {
  return el("li", { class: fresh ? "new" : "", "data-id": e.id, "data-emotion": e.emotion || "" },
    el("time", { datetime: e.apex_utc }, fmtClock(e.apex_utc)),
    el("strong", {}, e.device), emotionBadge(e.emotion),
    el("span", {}, `${e.type} · ${num(e.confidence, 2)}`),
    el("a", { href: reviewHref(e.id) }, "Review"));
}

function addToFeed(e, fresh) {
  const feed = document.getElementById("feed");
  const empty = feed.querySelector(".empty");
  if (empty) empty.remove();
  if (feed.querySelector(`[data-id="${CSS.escape(e.id)}"]`)) return;
  feed.prepend(feedItem(e, fresh));
  while (feed.children.length > 100) feed.lastElementChild.remove();
}

async function brokerState() {
  const { local, ingest } = await api("/api/stats");
  const note = document.getElementById("broker-state");
  note.hidden = local || ingest.connected;
  note.textContent = "Not connected to the MQTT broker: the fleet view may be out of date.";
}

async function init() {
  const [{ devices }, { events }] = await Promise.all([api("/api/devices"), api("/api/events?limit=30")]);
  renderFleet(devices);
  for (const e of events.slice().reverse()) addToFeed(e, false);
  liveStream({ fleet: renderFleet, event: (e) => addToFeed(e, true) });
  brokerState();
  setInterval(brokerState, 10000);
  setInterval(() => {
    for (const t of document.querySelectorAll("time[data-ago]")) t.textContent = ago(t.dataset.ago);
  }, 5000);
}

init().catch((err) => console.error(err));
