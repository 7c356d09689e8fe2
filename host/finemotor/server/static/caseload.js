// The caseload: one row per student, drawn from GET /api/students at once; each goal's
// latest value and sparkline come from the student's progress, fetched a few at a time so
// the list is usable straight away even at 100 students.
"use strict";

(async () => {
  const { el } = FM;
  const LIVE_EVERY_MS = 10000;
  try { await FM.start("therapist"); } catch (err) { FM.fail(err); return; }
  let students;
  try {
    students = await FM.api("/api/students");
  } catch (err) { FM.fail(err); return; }
  const body = document.querySelector("#students tbody");
  const liveCells = new Map();
  function liveLink(s) {
    return s.live
      ? el("a", { class: "live", href: s.live.watch, "aria-label": "watch " + s.id + " live" }, "● watch live")
      : el("span", { class: "muted", text: "–" });
  }
  function summarise(live) {
    document.getElementById("summary").textContent =
      `${students.length} student${students.length === 1 ? "" : "s"}` +
      (live ? `, ${live} in a session now` : "");
  }
  summarise(students.filter((s) => s.live).length);
  if (!students.length) {
    body.append(el("tr", {}, el("td", { colspan: 6, text: "No students on your caseload yet: your admin adds them." })));
  }
  const goalCells = new Map();
  for (const s of students) {
    const href = "/students/" + encodeURIComponent(s.id);
    const goals = el("td", { class: "goal-cell" });
    if (!s.goals.length) goals.append(el("span", { class: "muted", text: "no goals set" }));
    else goals.append(el("span", { class: "muted", text: s.goals.length + " goal(s)…" }));
    goalCells.set(s.id, goals);
    const liveCell = el("td", {}, liveLink(s));
    liveCells.set(s.id, liveCell);
    body.append(el("tr", { "data-student": s.id },
      el("th", { scope: "row" }, el("a", { href, text: s.id })),
      el("td", { class: "wide", text: s.school }),
      el("td", { text: s.last_session ? FM.date(s.last_session) : "none yet" }),
      el("td", { class: "num", text: s.sessions_this_month }),
      liveCell,
      goals,
    ));
  }
  // Who is in a session changes while the page is open: the live column follows it.
  window.setInterval(async () => {
    let live;
    try { live = await FM.api("/api/live"); } catch (err) { return; }
    const watch = new Map(live.map((x) => [x.id, x.watch]));
    summarise(watch.size);
    for (const [id, cell] of liveCells) {
      const href = watch.get(id) || null;
      const link = cell.querySelector("a");
      if ((link ? link.getAttribute("href") : null) !== href) {
        cell.replaceChildren(liveLink({ id, live: href ? { watch: href } : null }));
      }
    }
  }, LIVE_EVERY_MS);
  const filter = document.getElementById("filter");
  filter.addEventListener("input", () => {
    const f = filter.value.trim().toLowerCase();
    for (const row of body.querySelectorAll("tr[data-student]")) {
      row.hidden = f !== "" && !row.dataset.student.toLowerCase().includes(f);
    }
  });

  async function fill(s) {
    const cell = goalCells.get(s.id);
    const p = await FM.api("/api/students/" + encodeURIComponent(s.id) + "/progress");
    const list = el("ul", { class: "goals" });
    for (const g of p.goals) {
      const values = p.sessions.map((x) => FM.shown(g.metric, x.values[g.metric]));
      const tr = g.trend;
      const text = `${FM.label(g.metric)}: ${FM.fmtMetric(g.metric, tr.latest)} vs ${FM.fmtMetric(g.metric, g.target)}`;
      list.append(el("li", {},
        FM.sparkline(values, FM.shown(g.metric, g.target), text + " (" + tr.status + ")"),
        el("span", { text: text + " · " + tr.status })));
    }
    cell.replaceChildren(list);
  }
  const queue = students.filter((s) => s.goals.length);
  const worker = async () => {
    while (queue.length) {
      const s = queue.shift();
      try { await fill(s); } catch (err) {
        goalCells.get(s.id).replaceChildren(el("span", { class: "why", text: err.message }));
      }
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  document.body.dataset.ready = "1";
})();
