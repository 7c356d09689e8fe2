// Administration: schools, caseloads, desks (enrolment codes, revoking), deletion, the access log.
"use strict";

(async () => {
  const { el } = FM;
  try { await FM.start("admin"); } catch (err) { FM.fail(err); return; }
  const val = (id) => document.getElementById(id).value.trim();

  async function schools() {
    const list = await FM.api("/api/schools");
    document.getElementById("schools").replaceChildren(...list.map((n) => el("li", { text: n })));
    for (const id of ["cl-school", "code-school"]) {
      document.getElementById(id).replaceChildren(...list.map((n) => el("option", { value: n, text: n })));
    }
  }
  async function desks() {
    const list = await FM.api("/api/desks");
    document.querySelector("#desks tbody").replaceChildren(...list.map((d) => el("tr", {},
      el("td", { text: d.name }), el("td", { text: d.school }),
      el("td", { text: FM.dateTime(d.enrolled_at) }),
      el("td", { class: d.revoked_at ? "bad" : "ok", text: d.revoked_at ? "revoked " + FM.date(d.revoked_at) : "active" }),
      el("td", {}, d.revoked_at ? "" : el("button", { type: "button", onclick: () => revoke(d) }, "Revoke " + d.name)))));
  }
  async function revoke(d) {
    if (!confirm(`Revoke desk "${d.name}"? It is cut off at once and must be enrolled again.`)) return;
    try { await FM.api(`/api/desks/${d.id}/revoke`, { method: "POST" }); FM.say(`Desk "${d.name}" revoked.`, "ok"); await desks(); } catch (err) { FM.fail(err); }
  }
  async function audit() {
    const who = val("audit-student");
    const list = await FM.api("/api/audit" + (who ? "?student=" + encodeURIComponent(who) : ""));
    document.querySelector("#audit tbody").replaceChildren(...list.slice(0, 300).map((a) => el("tr", {},
      el("td", { text: FM.dateTime(a.at) }), el("td", { text: a.actor }), el("td", { text: a.action }),
      el("td", { text: a.student || "" }), el("td", { text: a.detail }), el("td", { text: a.reason }))));
  }
  const on = (id, fn) => document.getElementById(id).addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try { await fn(); } catch (err) { FM.fail(err); }
  });
  on("school-form", async () => {
    await FM.api("/api/schools", { method: "POST", body: { name: val("school-name") } });
    FM.say("School added.", "ok"); await schools();
  });
  on("caseload-form", async () => {
    const got = await FM.api("/api/caseloads", { method: "POST", body: { email: val("cl-email"), student: val("cl-student"), school: document.getElementById("cl-school").value } });
    FM.say(`Student ${got.student} is on ${val("cl-email")}'s caseload at ${got.school}.`, "ok");
  });
  on("code-form", async () => {
    const got = await FM.api("/api/enrol-codes", { method: "POST", body: { school: document.getElementById("code-school").value } });
    document.getElementById("code").textContent = `Enrolment code: ${got.code} (single use, valid until ${FM.dateTime(got.expires_at)}). On the desk: finemotor enrol with this code.`;
  });
  on("delete-form", async () => {
    const who = val("del-student");
    if (!confirm(`Delete everything about student ${who}? This cannot be undone.`)) return;
    const got = await FM.api("/api/students/" + encodeURIComponent(who), { method: "DELETE", body: { reason: val("del-reason") } });
    document.getElementById("deleted").textContent = got.confirmation;
  });
  on("audit-form", audit);
  try { await Promise.all([schools(), desks(), audit()]); } catch (err) { FM.fail(err); }
  document.body.dataset.ready = "1";
})();
