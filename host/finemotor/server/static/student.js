// A student: goals with what IEP progress reporting asks for, trends with the goal lines,
// the sessions, and the goal form. Targets are typed in the shown unit (kgf for grip) and sent
// to the API in its units (newtons).
"use strict";

(async () => {
  const { el } = FM;
  const code = decodeURIComponent(location.pathname.split("/")[2]);
  const base = "/api/students/" + encodeURIComponent(code);
  document.getElementById("student").textContent = code;
  document.title = "Student " + code + " · finemotor";
  document.getElementById("report-link").href = "/students/" + encodeURIComponent(code) + "/report";
  try { await FM.start("therapist"); } catch (err) { FM.fail(err); return; }

  const charts = [];
  const metricSel = document.getElementById("g-metric");
  for (const [name, m] of Object.entries(FM.METRICS)) {
    metricSel.append(el("option", { value: name, text: m.label + " (" + m.unit + ")" }));
  }
  const unitOf = () => FM.METRICS[metricSel.value].unit;
  const showUnit = () => { document.getElementById("g-unit").textContent = "(" + unitOf() + ")"; };
  metricSel.addEventListener("change", showUnit);
  showUnit();

  function trendText(g) {
    const t = g.trend, m = FM.METRICS[g.metric];
    if (t.slope_per_week === null) return t.trend;
    const s = FM.shown(g.metric, t.slope_per_week), d = m.digits + 1;
    const pm = t.slope_se === null ? "" : " ± " + (2 * FM.shown(g.metric, t.slope_se)).toFixed(d);
    return `${t.trend} (${s >= 0 ? "+" : ""}${s.toFixed(d)}${pm} ${m.unit} a week)`;
  }

  function goalCard(g) {
    const t = g.trend;
    const dir = g.direction === "at_least" ? "at least" : "at most";
    const status = t.status === "on track" || t.status === "reached" ? "ok"
      : t.status === "not on track" ? "bad" : "muted";
    return el("article", { class: "card", "data-goal": g.metric },
      el("h3", { text: FM.label(g.metric) }),
      el("dl", { class: "facts" },
        el("dt", { text: "Goal" }), el("dd", { text: `${dir} ${FM.fmtMetric(g.metric, g.target)}` + (g.by ? " by " + g.by : "") }),
        el("dt", { text: "Baseline" }), el("dd", { text: FM.fmtMetric(g.metric, t.baseline) + (t.baseline_at ? " (" + FM.date(t.baseline_at) + ")" : "") }),
        el("dt", { text: "Latest" }), el("dd", { text: FM.fmtMetric(g.metric, t.latest) + (t.latest_at ? " (" + FM.date(t.latest_at) + ")" : "") }),
        el("dt", { text: "Data points" }), el("dd", { text: t.points }),
        el("dt", { text: "Trend" }), el("dd", { text: trendText(g) }),
        el("dt", { text: "Projected" }), el("dd", { class: status, text: t.projected ? t.projected + " (" + t.status + ")" : t.status }),
      ),
      g.note ? el("p", { class: "muted", text: g.note }) : null);
  }

  function trendChart(host, title, metrics, p) {
    const xs = p.sessions.map((s) => s.started_at);
    const unit = FM.METRICS[metrics[0]].unit;
    const series = [{}];
    const data = [xs];
    const colors = ["#b3261e", "#0b4fb3", "#6a1b9a", "#0a6b2d"];
    const goalsShown = [];
    metrics.forEach((name, i) => {
      data.push(p.sessions.map((s) => FM.shown(name, s.values[name])));
      series.push({ label: FM.label(name), stroke: colors[i], width: 2, spanGaps: true,
        points: { size: 7 }, value: (u, v) => v === null ? "–" : v.toFixed(2) + " " + unit });
      const goal = p.goals.find((g) => g.metric === name);
      if (goal) {
        const y = FM.shown(name, goal.target);
        data.push(xs.map(() => y));
        series.push({ label: "goal: " + FM.label(name), stroke: colors[i], width: 1, dash: [6, 4],
          points: { show: false } });
        goalsShown.push(`${FM.label(name)}: ${goal.direction === "at_least" ? "at least" : "at most"} ${FM.fmtMetric(name, goal.target)}`);
      }
    });
    const fig = el("figure", { "data-metrics": metrics.join(" "), "data-goals": goalsShown.length });
    const box = el("div", { class: "chart" });
    const values = metrics.map((m) => p.sessions.filter((s) => s.values[m] !== null).length).reduce((a, b) => a + b, 0);
    fig.append(el("figcaption", {},
      el("strong", { text: title }), ` (${unit}) · ${values} value(s) in ${xs.length} session(s)`,
      goalsShown.length ? el("span", { class: "goal-lines", text: " · goal line: " + goalsShown.join("; ") }) : ""),
      box);
    host.append(fig);
    if (!xs.length) { box.append(el("p", { class: "muted", text: "No complete sessions yet." })); return; }
    const width = Math.max(260, Math.min(host.clientWidth || 600, 860));
    const u = new uPlot({ width, height: 180, series, scales: { x: { time: true } },
      axes: [{}, { label: unit, size: 56 }], legend: { live: false } }, data, box);
    charts.push(u);
  }

  async function load() {
    const [sessions, p, history, caseload, plan] = await Promise.all([
      FM.api(base + "/sessions"), FM.api(base + "/progress"),
      FM.api(base + "/goals?history=1"), FM.api("/api/students"), FM.api(base + "/tasks"),
    ]);
    showPlan(plan);
    const me = caseload.find((s) => s.id === code);
    const liveBox = document.getElementById("live");
    liveBox.replaceChildren(me && me.live
      ? el("a", { class: "live", href: me.live.watch }, "● in a session now: watch live")
      : el("span", { class: "muted", text: "not in a session now" }));

    const cards = document.getElementById("goal-cards");
    cards.replaceChildren(...p.goals.map(goalCard));
    if (!p.goals.length) cards.append(el("p", { class: "muted", text: "No goals set: set one below." }));

    const hist = document.querySelector("#goal-history tbody");
    hist.replaceChildren(...history.slice().reverse().map((g) => el("tr", {},
      el("td", { text: FM.dateTime(g.set_at) }), el("td", { text: FM.label(g.metric) }),
      el("td", { text: (g.direction === "at_least" ? "≥ " : "≤ ") + FM.fmtMetric(g.metric, g.target) }),
      el("td", { text: g.by || "–" }), el("td", { text: g.note || "" }),
      el("td", { text: g.set_by || "–" }),
      el("td", { text: g.replaced_at ? FM.dateTime(g.replaced_at) : "in force" }))));

    for (const u of charts.splice(0)) u.destroy();
    const trends = document.getElementById("trends");
    trends.replaceChildren();
    trendChart(trends, "Grip strength per hand (highest of the trials)", ["grip_peak_right", "grip_peak_left"], p);
    trendChart(trends, "Pen force variability", ["pen_cv"], p);
    trendChart(trends, "Pen endurance", ["pen_endurance"], p);

    const body = document.querySelector("#sessions tbody");
    const byId = new Map(p.sessions.map((s) => [s.id, s]));
    body.replaceChildren(...sessions.slice().reverse().map((s) => {
      const got = byId.get(s.id);
      const why = got ? Object.entries(got.why).map(([k, v]) => FM.label(k) + ": " + v) : [];
      return el("tr", {},
        el("td", {}, el("a", { href: "/sessions/" + s.id, text: FM.dateTime(s.started_at) })),
        el("td", { text: s.state === "complete" ? FM.duration(s.duration_s) : "uploading…" }),
        el("td", { class: "wide", text: s.devices.map((d) => `${d.name} (${d.samples} samples)`).join(", ") }),
        el("td", {}, s.note ? el("div", { text: s.note }) : null,
          got ? el("div", { class: "muted", text: "pen values from " + got.pen_source }) : null,
          why.length ? el("details", {}, el("summary", { text: "why some values are missing" }),
            el("ul", {}, why.map((w) => el("li", { text: w })))) : null),
        el("td", { text: s.therapist_note || "" }));
    }));
    if (!sessions.length) body.append(el("tr", {}, el("td", { colspan: 5, text: "No sessions uploaded yet." })));
    document.body.dataset.ready = "1";
  }

  function showPlan(plan) {
    document.getElementById("plan-state").textContent = plan.tasks.length
      ? `Set by ${plan.set_by || "–"} on ${FM.dateTime(plan.set_at)}. The desk offers these tasks, in this order.`
      : "No tasks planned: the desk offers its usual tasks (both hands' squeezes and copying text).";
    document.getElementById("plan-list").replaceChildren(...plan.tasks.map((t) => el("li", { text: t })));
    const text = document.getElementById("plan-text");
    if (document.activeElement !== text) text.value = plan.tasks.join("\n");
  }

  document.getElementById("plan-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const tasks = document.getElementById("plan-text").value.split("\n")
      .map((t) => t.trim()).filter((t) => t);
    try {
      const plan = await FM.api(base + "/tasks", { method: "PUT", body: { tasks } });
      showPlan(plan);
      FM.say(tasks.length ? `Tasks saved: ${tasks.length} for the next sessions.`
        : "Tasks cleared: the desk offers its usual tasks.", "ok");
    } catch (err) { FM.fail(err); }
  });

  document.getElementById("goal-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const metric = metricSel.value;
    const typed = parseFloat(document.getElementById("g-target").value);
    if (!Number.isFinite(typed)) { FM.say("Type the target as a number.", "bad"); return; }
    const body = { metric, target: typed / FM.METRICS[metric].scale };
    const dir = document.getElementById("g-dir").value;
    const by = document.getElementById("g-by").value;
    const note = document.getElementById("g-note").value.trim();
    if (dir) body.direction = dir;
    if (by) body.by = by;
    if (note) body.note = note;
    try {
      await FM.api(base + "/goals", { method: "POST", body });
      FM.say(`Goal saved: ${FM.label(metric)} ${typed} ${FM.METRICS[metric].unit}.`, "ok");
      document.body.dataset.ready = "";
      await load();
    } catch (err) { FM.fail(err); }
  });

  try { await load(); } catch (err) { FM.fail(err); }
})();
