// Shared helpers for every dashboard page: API calls, the live stream, formatting.
"use strict";

const EMOTIONS = ["anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise"];
// Distinguishable hues, each with at least 4.5:1 contrast on white (same as reports.py).
const COLOURS = {
  anger: "#c62828", contempt: "#6d4c41", disgust: "#2e7d32", fear: "#6a1b9a",
  happiness: "#b45309", sadness: "#1565c0", surprise: "#00717c", "": "#616161",
};

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

const SVGNS = "http://www.w3.org/2000/svg";

// An SVG element (the timeline's marks, the review's score trace): attributes set as given.
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

async function api(path, options) {
  const resp = await fetch(path, Object.assign({ credentials: "same-origin", headers: { accept: "application/json" } }, options || {}));
  if (resp.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search); throw new Error("login required"); }
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(body.error || resp.statusText);
  return body;
}

function postJSON(path, data) {
  return api(path, { method: "POST", headers: { "content-type": "application/json", accept: "application/json" }, body: JSON.stringify(data) });
}

// One EventSource per page; handlers receive parsed payloads. Reconnects on its own.
function liveStream(handlers) {
  const status = document.getElementById("live-status");
  const es = new EventSource("/api/stream");
  const set = (text, cls) => { if (status) { status.textContent = text; status.className = "live " + cls; } };
  es.onopen = () => set("Live", "on");
  es.onerror = () => set("Reconnecting…", "off");
  // The server ends the stream when the session is signed out or expires: back to the login page.
  es.addEventListener("logout", () => {
    es.close();
    location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
  });
  for (const [name, fn] of Object.entries(handlers)) {
    es.addEventListener(name, (msg) => fn(JSON.parse(msg.data)));
  }
  return es;
}

function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString(undefined, { hour12: false });
}

// With milliseconds: micro expressions last a fraction of a second.
function fmtPrecise(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString(undefined, { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

function fmtClock(iso) {
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleTimeString(undefined, { hour12: false });
}

function ago(iso) {
  if (!iso) return "never";
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 5) return "just now";
  if (s < 90) return Math.round(s) + " s ago";
  if (s < 5400) return Math.round(s / 60) + " min ago";
  if (s < 129600) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " d ago";
}

function num(v, digits) {
  return v === null || v === undefined || v === "" ? "—" : Number(v).toFixed(digits === undefined ? 0 : digits);
}

function emotionBadge(emotion) {
  const name = emotion || "unknown";
  return el("span", { class: "badge emotion", style: "--c:" + (COLOURS[emotion || ""] || COLOURS[""]) }, name);
}

function sessionHref(session) { return "/sessions/" + encodeURIComponent(session); }
function reviewHref(id) { return "/review/" + encodeURIComponent(id); }

function eventRow(e) {
  return el("tr", { "data-id": e.id, "data-emotion": e.emotion || "" },
    el("td", {}, el("time", { datetime: e.apex_utc }, fmtTime(e.apex_utc))),
    el("td", {}, e.device),
    el("td", {}, e.session ? el("a", { href: sessionHref(e.session) }, e.session) : "—"),
    el("td", {}, emotionBadge(e.emotion)),
    el("td", {}, e.type),
    el("td", { class: "num" }, num(e.confidence, 2)),
    el("td", { class: "num" }, num(e.duration_ms)),
    el("td", {}, el("a", { href: reviewHref(e.id), "aria-label": "Review event " + e.id }, "Review")));
}

function markNav() {
  const here = location.pathname === "/" ? "/" : "/" + location.pathname.split("/")[1];
  for (const a of document.querySelectorAll("nav.top a")) {
    if (a.getAttribute("href") === here) a.setAttribute("aria-current", "page");
  }
}

document.addEventListener("DOMContentLoaded", markNav);
