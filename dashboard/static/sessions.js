// Sessions: start/stop on a device (an MQTT command with a reply), list and exports.
"use strict";

const msg = document.getElementById("control-msg");
function say(text, kind) { msg.textContent = text; msg.className = "msg " + (kind || ""); }

function sessionRow(s) {
  const enc = encodeURIComponent(s.session);
  return el("tr", { "data-session": s.session },
    el("th", { scope: "row" }, el("a", { href: sessionHref(s.session) }, s.session)),
    el("td", {}, s.device),
    el("td", { class: "num" }, s.events), el("td", { class: "num" }, s.micro), el("td", { class: "num" }, s.macro),
    el("td", {}, fmtTime(s.first_utc)), el("td", {}, fmtTime(s.last_utc)),
    el("td", {},
      el("a", { href: `/sessions/${enc}/report`, "aria-label": `Printable report of ${s.session}` }, "Print"), " · ",
      el("a", { href: `/api/sessions/${enc}/report.csv`, "aria-label": `CSV of ${s.session}` }, "CSV"), " · ",
      el("a", { href: `/api/sessions/${enc}/report.json`, "aria-label": `JSON of ${s.session}` }, "JSON")));
}

async function loadSessions() {
  const { sessions } = await api("/api/sessions");
  const body = document.querySelector("#sessions tbody");
  body.replaceChildren(...(sessions.length ? sessions.map(sessionRow)
    : [el("tr", {}, el("td", { colspan: 8, class: "empty" }, "No sessions with events yet."))]));
}

function renderDevices(devices) {
  const select = document.getElementById("c-device");
  const chosen = select.value;
  select.replaceChildren(...devices.map((d) => {
    const running = d.session && d.session.state === "running" ? `, session ${d.session.id} running` : "";
    return el("option", { value: d.id }, `${d.id} (${d.state}${running})`);
  }));
  if (chosen && devices.some((d) => d.id === chosen)) select.value = chosen;
}

async function command(path, body, what) {
  for (const b of document.querySelectorAll("#control button")) b.disabled = true;
  say(what + "…", "");
  try {
    const r = await postJSON(path, body);
    const s = (r.reply && r.reply.result) || {};
    say(`${what}: done${s.id ? " (session " + s.id + ", " + s.state + ")" : ""}.`, "ok");
    loadSessions();
  } catch (err) {
    say(`${what} failed: ${err.message}`, "error");
  } finally {
    for (const b of document.querySelectorAll("#control button")) b.disabled = false;
  }
}

document.getElementById("control").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const device = document.getElementById("c-device").value;
  const interview = document.getElementById("c-interview").value.trim();
  if (!interview) { say("Enter an interview id to start a session.", "error"); document.getElementById("c-interview").focus(); return; }
  command("/api/sessions/start", { device, interview_id: interview }, `Start ${interview} on ${device}`);
});
document.getElementById("stop").addEventListener("click", () => {
  const device = document.getElementById("c-device").value;
  command("/api/sessions/stop", { device }, `Stop the session on ${device}`);
});

async function init() {
  const { devices } = await api("/api/devices");
  renderDevices(devices);
  await loadSessions();
  let pending = null;
  liveStream({
    fleet: renderDevices,
    event: () => { clearTimeout(pending); pending = setTimeout(loadSessions, 1000); },
  });
}

init().catch((err) => console.error(err));
