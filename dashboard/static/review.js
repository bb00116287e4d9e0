// Event review: the clip's frames in slow motion (1/2 to 1/16 speed) with onset, apex and offset marked.
"use strict";

const eventId = decodeURIComponent(location.pathname.split("/")[2] || "");
const SPEEDS = [["0.5", "1/2"], ["0.25", "1/4"], ["0.125", "1/8"], ["0.0625", "1/16"]];

function facts(e) {
  const dl = el("dl", { class: "facts" });
  const aus = Object.entries(e.aus || {}).map(([k, v]) => `${k} ${num(v, 2)}`).join(", ") || "—";
  for (const [k, v] of [["Emotion", emotionBadge(e.emotion)], ["Type", e.type], ["Confidence", num(e.confidence, 2)],
    ["Device", e.device], ["Session", e.session ? el("a", { href: sessionHref(e.session) }, e.session) : "—"],
    ["Onset", fmtPrecise(e.onset_utc)], ["Apex", fmtPrecise(e.apex_utc)], ["Offset", fmtPrecise(e.offset_utc)],
    ["Duration", num(e.duration_ms) + " ms"], ["Frames", `${e.onset_frame} / ${e.apex_frame} / ${e.offset_frame}`],
    ["Action units", aus]]) {
    dl.append(el("dt", {}, k), el("dd", {}, v));
  }
  return dl;
}

// The spotting score over its threshold on each clip frame (clip.json "level"; null where the face was
// not measured), with the threshold and a cursor at the frame shown: how the score rose and fell.
function levelTrace(clip, n) {
  const lv = Array.isArray(clip.level) && clip.level.length === n ? clip.level : null;
  const known = lv ? lv.filter((v) => typeof v === "number") : [];
  if (!known.length) return null;
  const W = 600, H = 80, top = Math.max(1.5, ...known) * 1.05;
  const x = (k) => (n > 1 ? (W * k) / (n - 1) : 0);
  const y = (v) => H - (H * Math.min(v, top)) / top;
  let d = "", pen = false;
  lv.forEach((v, k) => {
    if (typeof v !== "number") { pen = false; return; }
    d += `${pen ? "L" : "M"}${x(k).toFixed(1)} ${y(v).toFixed(1)} `;
    pen = true;
  });
  const cursor = svg("line", { id: "level-cursor", x1: 0, x2: 0, y1: 0, y2: H });
  const chart = svg("svg", { id: "level-trace", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img",
    "aria-label": "Spotting score over its threshold, frame by frame" },
    svg("line", { class: "threshold", x1: 0, x2: W, y1: y(1), y2: y(1) }),
    svg("path", { id: "level-path", d: d.trim(), "data-points": known.length }),
    cursor);
  return { chart, move: (k) => { cursor.setAttribute("x1", x(k)); cursor.setAttribute("x2", x(k)); } };
}

function player(clip) {
  const frames = clip.frames;
  const n = frames.length;
  const tms = Array.isArray(clip.t_ms) && clip.t_ms.length === n ? clip.t_ms : frames.map((_, i) => (1000 * i) / (clip.fps || 30));
  const urls = frames.map((f) => `/api/clips/${encodeURIComponent(eventId)}/${encodeURIComponent(f)}`);
  urls.forEach((u) => { const im = new Image(); im.src = u; });
  let i = 0, timer = null;
  const img = el("img", { src: urls[0], alt: "Face region, frame 1" });
  const range = el("input", { type: "range", min: 0, max: n - 1, value: 0, step: 1, id: "scrub", "aria-label": "Frame" });
  const label = el("span", { id: "frame-label", "aria-live": "off" });
  const speed = el("select", { id: "speed" }, ...SPEEDS.map(([v, t]) => el("option", { value: v }, t)));
  speed.value = "0.125";
  const play = el("button", { type: "button", id: "play" }, "Play");
  const ticks = el("div", { class: "scrubber" });
  for (const name of ["onset", "apex", "offset"]) {
    const at = clip[name];
    if (typeof at !== "number") continue;
    ticks.append(el("span", { class: "tick " + name, style: `left:${n > 1 ? (100 * at) / (n - 1) : 0}%`, title: `${name}: frame ${at + 1}` }, name));
  }
  ticks.append(range);
  const trace = levelTrace(clip, n);
  const levels = trace ? clip.level : null;

  function phase(k) {
    if (k === clip.apex) return "apex";
    if (k === clip.onset) return "onset";
    if (k === clip.offset) return "offset";
    if (k > clip.onset && k < clip.apex) return "rising";
    if (k > clip.apex && k < clip.offset) return "falling";
    return "";
  }
  function show(k) {
    i = Math.max(0, Math.min(n - 1, k));
    img.src = urls[i];
    img.alt = `Face region, frame ${i + 1} of ${n}`;
    range.value = i;
    const p = phase(i);
    const lv = levels && typeof levels[i] === "number" ? ` · score ${num(levels[i], 2)}× threshold` : "";
    label.textContent = `Frame ${i + 1} / ${n} · ${num(tms[i] - tms[0])} ms${p ? " · " + p : ""}${lv}`;
    if (trace) trace.move(i);
  }
  function stop() { clearTimeout(timer); timer = null; play.textContent = "Play"; }
  function tick() {
    if (i >= n - 1) { stop(); return; }
    const dt = (tms[i + 1] - tms[i]) / Number(speed.value);
    timer = setTimeout(() => { show(i + 1); tick(); }, Math.max(dt, 1));
  }
  play.addEventListener("click", () => {
    if (timer) { stop(); return; }
    if (i >= n - 1) show(0);
    play.textContent = "Pause";
    tick();
  });
  range.addEventListener("input", () => { stop(); show(Number(range.value)); });
  const step = (d) => el("button", { type: "button", class: "secondary", onclick: () => { stop(); show(i + d); }, "aria-label": d < 0 ? "Previous frame" : "Next frame" }, d < 0 ? "◀" : "▶");
  const jump = (name) => el("button", { type: "button", class: "secondary", onclick: () => { stop(); show(clip[name]); } }, name);
  show(typeof clip.onset === "number" ? Math.max(0, clip.onset - 2) : 0);
  document.addEventListener("keydown", (ev) => {
    if (ev.target instanceof HTMLInputElement || ev.target instanceof HTMLSelectElement) return;
    if (ev.key === " ") { ev.preventDefault(); play.click(); }
    if (ev.key === "ArrowLeft") { stop(); show(i - 1); }
    if (ev.key === "ArrowRight") { stop(); show(i + 1); }
  });
  return el("div", { class: "player" }, img, ticks, trace ? trace.chart : null, label,
    el("div", { class: "controls" }, play, step(-1), step(1), jump("onset"), jump("apex"), jump("offset"),
      el("div", {}, el("label", { for: "speed" }, "Speed"), speed)),
    el("p", { class: "note" }, `Captured at ${num(clip.fps)} fps. Space plays or pauses, arrow keys step one frame.` +
      (trace ? " The trace is the spotting score over its threshold (dashed line) on each frame." : "")));
}

async function init() {
  const e = await api(`/api/events/${encodeURIComponent(eventId)}`);
  document.getElementById("facts").replaceChildren(facts(e));
  const box = document.getElementById("player");
  try {
    box.replaceChildren(player(await api(`/api/clips/${encodeURIComponent(eventId)}`)));
  } catch (err) {
    box.replaceChildren(el("p", { class: "empty" }, "No clip for this event. Clips never leave the device: review them on the unit's own dashboard (microexpr dashboard --local)."));
  }
}

init().catch((err) => {
  document.getElementById("player").replaceChildren(el("p", { class: "msg error" }, "Cannot load this event: " + err.message));
});
document.getElementById("live-status").hidden = true;
