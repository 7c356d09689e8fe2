// A session: its forces on one session clock (each device's own clock moved by the offset the
// desk's stamped events give), zoomable and refined from the server on zoom; marks and tasks
// on the timeline; metrics with their reasons; calibration and data quality; the note.
"use strict";

(async () => {
  const { el } = FM;
  const sid = location.pathname.split("/")[2];
  const base = "/api/sessions/" + encodeURIComponent(sid);
  try { await FM.start("therapist"); } catch (err) { FM.fail(err); return; }
  let s;
  try { s = await FM.api(base); } catch (err) { FM.fail(err); return; }

  document.getElementById("title").textContent = FM.dateTime(s.started_at);
  document.title = "Session " + FM.dateTime(s.started_at) + " · finemotor";
  const sl = document.getElementById("student-link");
  sl.href = "/students/" + encodeURIComponent(s.student);
  sl.textContent = "Student " + s.student;
  document.getElementById("pdf").href = base + "/report.pdf";
  const facts = [
    ["Student", s.student], ["School", s.school], ["Desk", s.desk],
    ["Started", FM.dateTime(s.started_at)], ["Duration", FM.duration(s.duration_s)],
    ["Upload", s.upload.state === "complete" ? "complete" : "still uploading"],
  ];
  if (s.note) facts.push(["Desk's note", s.note]);
  document.getElementById("facts").append(...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
  document.getElementById("note").value = s.therapist_note || "";

  // --- the session clock: session seconds = device seconds + offset - started_at ----------
  const devices = s.devices.filter((d) => d.samples > 0 && (d.kind === "stylus" || d.kind === "grip"));
  const shift = new Map();
  const unaligned = [];
  for (const d of devices) {
    if (d.clock.offset_s !== null) shift.set(d.name, d.clock.offset_s - s.started_at);
    else unaligned.push(d.name);
  }
  document.getElementById("clock-note").textContent = "Time is minutes:seconds from the session's start, the same clock for every device" +
    (devices.length ? " (" + devices.filter((d) => shift.has(d.name)).map((d) =>
      `${d.name} aligned from ${d.clock.events} stamped event(s)` + (d.clock.events > 1 ? `, spread ${(1000 * d.clock.spread_s).toFixed(0)} ms` : "")).join("; ") + ")" : "") +
    (unaligned.length ? ". Not aligned (no event stamped on both clocks): " + unaligned.join(", ") + ", drawn from its first sample." : ".");

  // marks per device on the session clock (one row per mark)
  const marks = s.marks.map((m) => {
    let t = m.host_t - s.started_at;
    return { text: m.text, t, device: m.device, device_t: m.device_t };
  });
  const tasks = [];
  for (const d of devices) {
    for (const k of d.tasks) tasks.push({ device: d.name, name: k.name, from: k.from, to: k.to, ended: k.ended });
  }
  const mb = document.querySelector("#marks tbody");
  mb.replaceChildren(...marks.map((m) => el("tr", {},
    el("td", { text: FM.clock(m.t) }), el("td", { text: m.text }),
    el("td", { class: "wide muted", text: m.device ? `${m.device} at ${m.device_t === null ? "?" : m.device_t.toFixed(2)} s` : "desk" }))));
  if (!marks.length) mb.append(el("tr", {}, el("td", { colspan: 3, text: "No marks in this session." })));

  // --- charts ---------------------------------------------------------------------------
  const host = document.getElementById("charts");
  const charts = [];
  const full = { lo: Infinity, hi: -Infinity };
  // The view is one range for every chart. A change of view (drag, buttons) moves every
  // chart and, 150 ms later, asks the server for that range in detail; an answer for a view
  // the therapist has already left is dropped. uPlot reports scale changes after the fact
  // (in a microtask), so a chart reporting the view it already shows is not a change.
  let view = null, gen = 0, refineTimer = null;
  const width = () => Math.max(280, Math.min(host.clientWidth || 640, 900));
  const points = () => Math.min(20000, Math.max(400, 2 * Math.round(width())));

  function toShow(d, sig) {
    if (d.kind === "grip" && sig.unit === "N") return { unit: "kgf", k: 1 / FM.KGF_N };
    return { unit: sig.unit, k: 1 };
  }
  async function fetchTraces(d, range) {
    const q = new URLSearchParams({ device: d.name, points: String(points()) });
    const off = shift.has(d.name) ? shift.get(d.name) : null;
    if (range && off !== null) {
      q.set("from", String(range[0] - off));
      q.set("to", String(range[1] - off));
    }
    const tr = await FM.api(base + "/traces?" + q.toString());
    if (!shift.has(d.name)) shift.set(d.name, tr.span ? -tr.span[0] : 0);
    return tr;
  }
  function dataOf(d, tr) {
    const off = shift.get(d.name);
    const t = (tr.signals[0] || { t: [] }).t.map((x) => x + off);
    return [t, ...tr.signals.map((sig) => { const k = toShow(d, sig).k; return sig.y.map((y) => y === null ? null : y * k); })];
  }
  function markPlugin(dev) {
    return { hooks: { draw: [(u) => {
      const ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
      ctx.save();
      for (const k of tasks.filter((x) => x.device === dev)) {
        const a = u.valToPos(k.from + shift.get(dev), "x", true), b = u.valToPos(k.to + shift.get(dev), "x", true);
        ctx.fillStyle = "rgba(10,107,45,0.10)";
        ctx.fillRect(Math.min(a, b), top, Math.abs(b - a), h);
      }
      ctx.strokeStyle = "#8a4b00"; ctx.fillStyle = "#8a4b00"; ctx.lineWidth = 1;
      ctx.font = Math.round(11 * devicePixelRatio) + "px system-ui, sans-serif";
      for (const m of marks) {
        const x = u.valToPos(m.t, "x", true);
        if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
        ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + h); ctx.stroke();
        ctx.fillText(m.text.slice(0, 24), x + 3, top + 12 * devicePixelRatio);
      }
      ctx.restore();
    }] } };
  }
  const same = (a, b) => view !== null && Math.abs(a - view[0]) < 1e-9 && Math.abs(b - view[1]) < 1e-9;
  function onScale(u, key) {
    if (key !== "x") return;
    const { min, max } = u.scales.x;
    if (min === null || max === null || same(min, max)) return;
    view = [min, max];
    for (const c of charts) if (c !== u) c.setScale("x", { min, max });
    showRange(min, max);
    const my = ++gen;
    clearTimeout(refineTimer);
    refineTimer = setTimeout(() => refine(my), 150);
  }
  function showRange(a, b) {
    document.getElementById("z-range").textContent = `showing ${FM.clock(a)} to ${FM.clock(b)}`;
  }
  async function refine(my) {
    const [a, b] = view;
    const whole = a <= full.lo && b >= full.hi;
    try {
      const got = await Promise.all(charts.map((c) => fetchTraces(c.fmDevice, whole ? null : [a, b])));
      if (my !== gen) return;
      got.forEach((tr, i) => {
        const c = charts[i];
        c.setData(dataOf(c.fmDevice, tr), false);
        c.setScale("x", { min: a, max: b });
        c.root.dataset.samples = tr.samples;
      });
    } catch (err) { FM.fail(err); }
  }

  const first = await Promise.all(devices.map((d) => fetchTraces(d, null).catch((err) => err)));
  const drawn = devices.map((d, i) => first[i] instanceof Error ? null : dataOf(d, first[i]));
  for (const data of drawn) {
    if (data && data[0].length) { full.lo = Math.min(full.lo, data[0][0]); full.hi = Math.max(full.hi, data[0][data[0].length - 1]); }
  }
  // Every chart starts on the whole session (both devices), which is the first view.
  if (Number.isFinite(full.lo)) view = [full.lo, full.hi];
  devices.forEach((d, i) => {
    const tr = first[i];
    if (tr instanceof Error) { host.append(el("p", { class: "why", text: d.name + ": " + tr.message })); return; }
    const data = drawn[i];
    const colors = ["#0b4fb3", "#b3261e", "#0a6b2d"];
    const unit = tr.signals.length ? toShow(d, tr.signals[0]).unit : "";
    const series = [{ value: (u, v) => v === null ? "–" : FM.clock(v) }].concat(tr.signals.map((sig, j) => ({
      label: sig.label, stroke: colors[j % 3], width: 1,
      value: (u, v) => v === null ? "–" : v.toFixed(2) + " " + toShow(d, sig).unit,
    })));
    const fig = el("figure", { "data-device": d.name });
    const cap = el("figcaption", {}, el("strong", { text: d.name }), ` (${d.kind}) in ${unit}` +
      (unit === "raw" ? ": not calibrated, raw counts" : "") + `, ${tr.samples} samples`);
    const box = el("div", { class: "chart", role: "img",
      "aria-label": `${d.name} force over the session; the marks are listed below the charts` });
    fig.append(cap, box);
    host.append(fig);
    const u = new uPlot({
      width: width(), height: 200, series,
      scales: { x: { time: false } },
      axes: [{ values: (u, vals) => vals.map((v) => FM.clock(v).replace(/\.\d$/, "")) }, { label: unit, size: 56 }],
      cursor: { sync: { key: "fm-session" }, drag: { x: true, y: false } },
      hooks: { setScale: [onScale] },
      plugins: [markPlugin(d.name)],
    }, data, box);
    if (view) u.setScale("x", { min: view[0], max: view[1] });
    u.fmDevice = d;
    u.root.dataset.samples = tr.samples;
    charts.push(u);
  });
  if (!devices.length) host.append(el("p", { class: "muted", text: "No force samples in this session." }));
  if (Number.isFinite(full.lo)) showRange(full.lo, full.hi);
  document.body.dataset.charts = String(charts.length);

  // buttons (keyboard): zoom and pan the view
  function setView(a, b) {
    if (!charts.length || view === null) return;
    const span = full.hi - full.lo;
    const w = Math.min(b - a, span);
    a = Math.max(full.lo, Math.min(a, full.hi - w));
    charts[0].setScale("x", { min: a, max: a + w });
  }
  const zoom = (f) => { if (view) { const c = (view[0] + view[1]) / 2, w = (view[1] - view[0]) * f / 2; setView(c - w, c + w); } };
  const pan = (f) => { if (view) { const w = view[1] - view[0]; setView(view[0] + f * w, view[1] + f * w); } };
  document.getElementById("z-in").addEventListener("click", () => zoom(0.5));
  document.getElementById("z-out").addEventListener("click", () => zoom(2));
  document.getElementById("z-left").addEventListener("click", () => pan(-0.5));
  document.getElementById("z-right").addEventListener("click", () => pan(0.5));
  document.getElementById("z-all").addEventListener("click", () => setView(full.lo, full.hi));

  // --- tasks, metrics, devices, quality ---------------------------------------------------
  document.getElementById("tasks").replaceChildren(...tasks.map((k) => el("li", {},
    `Task "${k.name}" on ${k.device}: ${FM.clock(k.from + shift.get(k.device))} to ${FM.clock(k.to + shift.get(k.device))}` +
    (k.ended ? "" : " (no end mark: runs to the end of the recording)"))));

  // What each metric means comes from the library (finemotor.metrics.definitions), keyed by
  // its dotted path with "*" for a hand, a trial or a minute.
  const defs = Object.entries(s.definitions || {}).map(([k, v]) => [k.split("."), v]);
  const defOf = (path) => {
    const hit = defs.find(([parts]) => parts.length === path.length && parts.every((p, i) => p === "*" || p === path[i]));
    return hit ? hit[1].text : "";
  };
  const mhost = document.getElementById("metrics");
  for (const d of s.devices) {
    const rows = [];
    const walk = (obj, path) => {
      if (obj && typeof obj === "object" && !Array.isArray(obj)) {
        if ("value" in obj && "unit" in obj) {
          const val = obj.value === null ? null : (obj.display ? `${obj.display.value.toFixed(1)} ${obj.display.unit} (${obj.value.toFixed(1)} ${obj.unit})` : `${Number(obj.value).toFixed(2)} ${obj.unit}`);
          rows.push(el("tr", {},
            el("th", { scope: "row", text: path.join(" · ").replaceAll("_", " ") }),
            el("td", {}, val === null ? el("span", { class: "why", text: "absent: " + (obj.reason || "not measured") }) : val,
              obj.note ? el("div", { class: "why", text: obj.note }) : null),
            el("td", { class: "def wide", text: defOf(path) })));
          return;
        }
        for (const [k, v] of Object.entries(obj)) if (k !== "quality" && k !== "units") walk(v, path.concat(k));
      }
    };
    walk(d.metrics ? { force: d.metrics.force, timing: d.metrics.timing, tremor: d.metrics.tremor, barrel: d.metrics.barrel, hands: d.metrics.hands, pinch: d.metrics.pinch } : {}, []);
    const box = el("details", { open: s.devices.length === 1 },
      el("summary", { text: `${d.name} (${d.kind}): ${rows.length} metric(s)` }),
      d.notes.length ? el("ul", {}, d.notes.map((n) => el("li", { class: "why", text: n }))) : null,
      rows.length ? el("div", { class: "scroll" }, el("table", {}, el("thead", {}, el("tr", {},
        el("th", { scope: "col", text: "Metric" }), el("th", { scope: "col", text: "Value" }), el("th", { scope: "col", class: "wide", text: "What it means" }))),
        el("tbody", {}, rows))) : el("p", { class: "why", text: d.metrics ? "no metrics" : "no metrics: " + (d.notes[0] || "this device is not analysed") }));
    mhost.append(box);
  }
  mhost.append(el("p", { class: "def" }, "Metrics are recomputed on the server from the raw samples and the stored calibration, as the desk's report does."));

  document.querySelector("#devices tbody").replaceChildren(...s.devices.map((d) => el("tr", {},
    el("th", { scope: "row", text: `${d.name} (${d.kind})` }),
    el("td", { class: d.calibrated ? "ok" : "warn", text: d.calibrated
      ? "calibrated" + (d.calibrated_at ? " " + FM.date(d.calibrated_at) : "")
      : "not calibrated: forces in raw counts" }),
    el("td", { class: "num", text: d.samples }),
    el("td", { class: "num", text: d.rate_hz ? d.rate_hz.toFixed(0) + " Hz" : "–" }),
    el("td", { text: d.notes.join("; ") }))));
  const lost = s.devices.map((d) => {
    const q = d.metrics && d.metrics.quality;
    return q && q.dropped !== undefined ? `${d.name}: ${q.dropped} sample(s) lost` : null;
  }).filter(Boolean);
  document.getElementById("quality").textContent = `Data quality: ${s.quality.link_drops} link drop(s)` +
    (lost.length ? "; " + lost.join("; ") : "") + `; ${s.quality.events} event(s) recorded.`;

  document.getElementById("note-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await FM.api(base + "/note", { method: "PUT", body: { text: document.getElementById("note").value } });
      FM.say("Note saved.", "ok");
    } catch (err) { FM.fail(err); }
  });
  document.body.dataset.ready = "1";
})();
