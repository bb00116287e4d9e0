// Per-session timeline: an SVG of events on a time axis, one lane per emotion;
// diamonds are micro expressions at their apex, bars macro ones from onset to offset.
"use strict";

const session = decodeURIComponent(location.pathname.split("/")[2] || "");
const enc = encodeURIComponent(session);
let events = [];
let selectedId = null;

const s = svg;  // common.js

function niceStep(span) {
  const steps = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];
  return steps.find((st) => span / st <= 10) || 7200;
}

function rel(sec) {
  const m = Math.floor(sec / 60), r = sec - 60 * m;
  return `${m}:${r < 10 ? "0" : ""}${Number.isInteger(r) ? r : r.toFixed(1)}`;
}

function draw() {
  const svg = document.getElementById("timeline");
  svg.replaceChildren();
  if (!events.length) {
    svg.setAttribute("viewBox", "0 0 1000 60");
    svg.append(s("text", { x: 20, y: 35 }, "No events in this session yet."));
    return;
  }
  const lanes = EMOTIONS.filter((e) => events.some((x) => x.emotion === e));
  if (events.some((x) => !x.emotion)) lanes.push("");
  const W = 1000, left = 110, right = 20, top = 34, lane = 36;
  const H = top + lanes.length * lane + 10;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const t = (iso) => new Date(iso).getTime() / 1000;
  let t0 = Math.min(...events.map((e) => t(e.onset_utc)));
  let t1 = Math.max(...events.map((e) => t(e.offset_utc)));
  if (t1 - t0 < 1) t1 = t0 + 1;
  const pad = (t1 - t0) * 0.02;
  t0 -= pad; t1 += pad;
  const x = (sec) => left + ((sec - t0) / (t1 - t0)) * (W - left - right);
  const start = Math.min(...events.map((e) => t(e.onset_utc)));

  const axis = s("g", { "aria-hidden": "true" });
  const step = niceStep(t1 - t0);
  for (let v = Math.ceil((t0 - start) / step) * step; start + v <= t1; v += step) {
    const px = x(start + v);
    axis.append(s("line", { x1: px, x2: px, y1: top - 6, y2: H - 10, stroke: "#d5dae0" }),
      s("text", { x: px, y: top - 12, "text-anchor": "middle" }, rel(Math.round(v * 10) / 10)));
  }
  lanes.forEach((name, i) => {
    const y = top + i * lane + lane / 2;
    axis.append(s("line", { x1: left, x2: W - right, y1: y, y2: y, stroke: "#eef1f4" }),
      s("text", { x: left - 10, y: y + 4, "text-anchor": "end", style: `fill:${COLOURS[name]};font-weight:600` }, name || "unknown"));
  });
  svg.append(axis);

  for (const e of events) {
    const i = lanes.indexOf(e.emotion || "");
    const y = top + i * lane + lane / 2;
    const colour = COLOURS[e.emotion || ""];
    const label = `${e.emotion || "unknown"} ${e.type} at ${fmtClock(e.apex_utc)}, confidence ${num(e.confidence, 2)}`;
    const g = s("g", { class: "mark" + (e.id === selectedId ? " selected" : ""), tabindex: 0, role: "button",
      "aria-label": label, "data-id": e.id, "data-type": e.type, "data-emotion": e.emotion || "" }, s("title", {}, label));
    if (e.type === "micro") {
      const cx = x(t(e.apex_utc)), r = 6 + 5 * e.confidence;
      g.append(s("polygon", { class: "shape", points: `${cx},${y - r} ${cx + r},${y} ${cx},${y + r} ${cx - r},${y}`,
        fill: colour, stroke: "#fff", "stroke-width": 1 }));
    } else {
      const x0 = x(t(e.onset_utc)), x1 = Math.max(x(t(e.offset_utc)), x0 + 5);
      g.append(s("rect", { class: "shape", x: x0, y: y - 8, width: x1 - x0, height: 16, rx: 4, fill: colour,
        "fill-opacity": 0.45 + 0.55 * e.confidence, stroke: colour }));
    }
    const choose = () => select(e.id);
    g.addEventListener("click", choose);
    g.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); choose(); } });
    svg.append(g);
  }
}

function select(id) {
  selectedId = id;
  for (const g of document.querySelectorAll("#timeline .mark")) g.classList.toggle("selected", g.dataset.id === id);
  const e = events.find((x) => x.id === id);
  const aus = Object.entries(e.aus || {}).map(([k, v]) => `${k} ${num(v, 2)}`).join(", ") || "—";
  const scores = Object.entries(e.scores || {}).sort((a, b) => b[1] - a[1]).slice(0, 3)
    .map(([k, v]) => `${k} ${num(v, 2)}`).join(", ");
  const dl = el("dl", { class: "facts" });
  for (const [k, v] of [["Emotion", emotionBadge(e.emotion)], ["Type", e.type], ["Confidence", num(e.confidence, 2)],
    ["Onset", fmtPrecise(e.onset_utc)], ["Apex", fmtPrecise(e.apex_utc)], ["Duration", num(e.duration_ms) + " ms"],
    ["Top scores", scores], ["Action units", aus], ["Device", e.device]]) {
    dl.append(el("dt", {}, k), el("dd", {}, v));
  }
  document.getElementById("detail").replaceChildren(dl, el("p", {}, el("a", { href: reviewHref(e.id) }, "Review this event")));
}

async function load() {
  const r = await api(`/api/sessions/${enc}/events`);
  events = r.events;
  const micro = events.filter((e) => e.type === "micro").length;
  document.getElementById("summary").textContent = events.length
    ? `${events.length} events (${micro} micro, ${events.length - micro} macro) from ${fmtTime(events[0].onset_utc)} on ${[...new Set(events.map((e) => e.device))].join(", ")}`
    : "No events yet.";
  draw();
}

async function init() {
  document.getElementById("title").textContent = "Session " + session;
  document.title = `Session ${session} · microexpr dashboard`;
  document.getElementById("x-csv").href = `/api/sessions/${enc}/report.csv`;
  document.getElementById("x-json").href = `/api/sessions/${enc}/report.json`;
  document.getElementById("x-html").href = `/sessions/${enc}/report`;
  document.getElementById("legend").replaceChildren(...EMOTIONS.map((e) => el("span", { style: "--c:" + COLOURS[e] }, e)));
  await load();
  liveStream({ event: (e) => { if (e.session === session && !events.some((x) => x.id === e.id)) { events.push(e); events.sort((a, b) => a.onset_utc.localeCompare(b.onset_utc)); draw(); } } });
}

init().catch((err) => console.error(err));
