// Searchable event list; new events that match the filters are added live.
"use strict";

const form = document.getElementById("filters");
let current = new URLSearchParams();
let offset = 0;
const PAGE = 100;

for (const e of EMOTIONS) document.getElementById("f-emotion").append(el("option", { value: e }, e));

function toISO(local) { return local ? new Date(local).toISOString() : ""; }
function toLocal(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function paramsFromForm() {
  const p = new URLSearchParams();
  const data = new FormData(form);
  for (const [k, v] of data.entries()) {
    const value = String(v).trim();
    if (!value || (k === "min_confidence" && Number(value) === 0)) continue;
    p.set(k, k === "since" || k === "until" ? toISO(value) : value);
  }
  return p;
}

function formFromParams(p) {
  for (const [k, v] of p.entries()) {
    const input = form.elements.namedItem(k);
    if (input) input.value = k === "since" || k === "until" ? toLocal(v) : v;
  }
}

function matches(e) {
  const p = current;
  if (p.get("device") && e.device !== p.get("device")) return false;
  if (p.get("session") && e.session !== p.get("session")) return false;
  if (p.get("emotion") && e.emotion !== p.get("emotion")) return false;
  if (p.get("type") && e.type !== p.get("type")) return false;
  if (p.get("min_confidence") && e.confidence < Number(p.get("min_confidence"))) return false;
  if (p.get("since") && new Date(e.apex_utc) < new Date(p.get("since"))) return false;
  if (p.get("until") && new Date(e.apex_utc) > new Date(p.get("until"))) return false;
  return true;
}

async function search(append) {
  const msg = document.getElementById("result-count");
  const body = document.querySelector("#events tbody");
  if (!append) offset = 0;
  const p = new URLSearchParams(current);
  p.set("limit", PAGE); p.set("offset", offset);
  try {
    const r = await api("/api/events?" + p.toString());
    const rows = r.events.map(eventRow);
    if (append) body.append(...rows); else body.replaceChildren(...rows);
    offset += r.events.length;
    msg.className = "msg";
    msg.textContent = `${r.total} matching event${r.total === 1 ? "" : "s"}` + (r.total > offset ? `, showing ${offset}` : "");
    document.getElementById("more").hidden = offset >= r.total;
  } catch (err) {
    msg.className = "msg error";
    msg.textContent = "Search failed: " + err.message;
  }
}

form.addEventListener("submit", (ev) => {
  ev.preventDefault();
  current = paramsFromForm();
  history.replaceState(null, "", "/events" + (current.toString() ? "?" + current : ""));
  search(false);
});
form.addEventListener("reset", () => setTimeout(() => form.requestSubmit(), 0));
document.getElementById("more").addEventListener("click", () => search(true));

async function init() {
  current = new URLSearchParams(location.search);
  formFromParams(current);
  api("/api/devices").then(({ devices }) => {
    document.getElementById("device-list").replaceChildren(...devices.map((d) => el("option", { value: d.id })));
  });
  await search(false);
  liveStream({
    event: (e) => {
      if (!matches(e)) return;
      const body = document.querySelector("#events tbody");
      if (body.querySelector(`[data-id="${CSS.escape(e.id)}"]`)) return;
      const row = eventRow(e);
      row.classList.add("new");
      body.prepend(row);
    },
  });
}

init().catch((err) => console.error(err));
