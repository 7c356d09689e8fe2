// The progress report: one page per student for a date range, in the words a school team
// reads (goal, baseline, current, trend), printable from the browser; provenance at the end.
"use strict";

(async () => {
  const { el } = FM;
  const code = decodeURIComponent(location.pathname.split("/")[2]);
  const base = "/api/students/" + encodeURIComponent(code);
  document.getElementById("student").textContent = code;
  const sl = document.getElementById("student-link");
  sl.href = "/students/" + encodeURIComponent(code);
  sl.textContent = "Student " + code;
  try { await FM.start("therapist"); } catch (err) { FM.fail(err); return; }
  let p;
  try { p = await FM.api(base + "/progress"); } catch (err) { FM.fail(err); return; }
  const q = new URLSearchParams(location.search);
  const from = document.getElementById("from"), to = document.getElementById("to");
  const first = p.sessions.length ? FM.date(p.sessions[0].started_at) : "";
  from.value = q.get("from") || first;
  to.value = q.get("to") || FM.date(Date.now() / 1000);
  document.getElementById("print").addEventListener("click", () => print());
  const dayStart = (d) => d ? new Date(d + "T00:00:00").getTime() / 1000 : -Infinity;

  function draw() {
    const lo = dayStart(from.value), hi = to.value ? dayStart(to.value) + 86400 : Infinity;
    const inRange = p.sessions.filter((s) => s.started_at >= lo && s.started_at < hi);
    document.getElementById("period").textContent =
      `From ${from.value || "the first session"} to ${to.value || "today"}: ${inRange.length} session(s).`;
    const goals = document.getElementById("goals");
    goals.replaceChildren();
    if (!p.goals.length) goals.append(el("p", { text: "No goals are set for this student." }));
    for (const g of p.goals) {
      const pts = inRange.filter((s) => s.values[g.metric] !== null);
      const base = pts.length ? pts[0].values[g.metric] : null;
      const cur = pts.length ? pts[pts.length - 1].values[g.metric] : null;
      const t = g.trend;
      const dir = g.direction === "at_least" ? "at least" : "at most";
      goals.append(el("article", { class: "card" },
        el("h3", { text: FM.label(g.metric) }),
        el("p", {}, `Goal: ${dir} ${FM.fmtMetric(g.metric, g.target)}` + (g.by ? ` by ${g.by}.` : ".")),
        el("p", {}, `Baseline: ${FM.fmtMetric(g.metric, base)}. Current: ${FM.fmtMetric(g.metric, cur)}, from ${pts.length} session(s) in this period.`),
        el("p", {}, `Trend over all sessions: ${t.trend}` + (t.projected ? `; at this rate the goal is reached about ${t.projected} (${t.status}).` : `; ${t.status}.`)),
        g.note ? el("p", { class: "muted", text: g.note }) : null));
    }
    const body = document.querySelector("#sessions tbody");
    body.replaceChildren(...inRange.map((s) => el("tr", {},
      el("td", { text: FM.date(s.started_at) }),
      ...["grip_peak_right", "grip_peak_left", "pen_cv", "pen_endurance"].map((m) =>
        el("td", { text: FM.fmtMetric(m, s.values[m]) })))));
    const prov = document.getElementById("provenance");
    prov.replaceChildren(
      el("p", {}, "Every value is recomputed on the server from the session's raw samples and the kits' stored calibration. Grip strength is measured in newtons and shown in kgf (1 kgf = 9.80665 N)."),
      el("ul", {}, Object.entries(p.metrics).map(([k, m]) => el("li", {}, el("strong", { text: FM.label(k) }), `: ${m.description}; stored in ${m.unit}.`))),
      el("p", {}, "Trend: least-squares slope per week across all sessions, shown with ± two standard errors; a direction is named only when the slope is at least twice its standard error. The projected date extends that line to the target."),
      el("ul", {}, inRange.map((s) => el("li", {}, `${FM.dateTime(s.started_at)} (session ${s.id}): pen values from ${s.pen_source}` +
        (Object.keys(s.why).length ? "; missing: " + Object.entries(s.why).map(([k, v]) => FM.label(k) + " (" + v + ")").join(", ") : "")))));
    document.body.dataset.ready = "1";
  }
  document.getElementById("range").addEventListener("submit", (ev) => { ev.preventDefault(); draw(); });
  draw();
})();
