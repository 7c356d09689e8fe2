// Administration: schools, caseloads, desks (enrolment codes, revoking), retention and deletion,
// the access log.
"use strict";

(async () => {
  const { el } = FM;
  let me = null;
  try { me = (await FM.start("admin")).email; } catch (err) { FM.fail(err); return; }
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
  async function accounts() {
    const list = await FM.api("/api/accounts");
    document.querySelector("#accounts tbody").replaceChildren(...list.map((a) => el("tr", {},
      el("th", { scope: "row", text: a.email }), el("td", { text: a.role }),
      el("td", { class: "num", text: a.role === "therapist" ? a.students : "–" }),
      el("td", { class: "wide", text: a.schools.join(", ") || "–" }),
      el("td", {}, a.must_change ? el("span", { class: "muted", text: "one-time, not yet changed " }) : null,
        a.email === me ? el("span", { class: "muted", text: "you" })
          : el("button", { type: "button", onclick: () => reset(a.email) }, "New one-time password for " + a.email)))));
  }
  function showOneTime(email, password) {
    document.getElementById("one-time").replaceChildren(
      `One-time password for ${email}: `, el("code", { text: password }),
      " (shown only now; she chooses her own at her first sign-in).");
  }
  async function reset(email) {
    if (!confirm(`Give ${email} a new one-time password? Her sign-ins end at once.`)) return;
    try {
      const got = await FM.api(`/api/accounts/${encodeURIComponent(email)}/reset`, { method: "POST" });
      showOneTime(got.email, got.password);
      await accounts();
    } catch (err) { FM.fail(err); }
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
  on("account-form", async () => {
    const got = await FM.api("/api/accounts", { method: "POST", body: { email: val("acc-email"), role: document.getElementById("acc-role").value } });
    showOneTime(got.email, got.password);
    document.getElementById("acc-email").value = "";
    await accounts();
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
  async function retention() {
    const r = await FM.api("/api/retention");
    let now;
    if (r.days === null) now = "Every session is kept" + (r.source === "admin" ? "" : " (no retention set)") + ".";
    else now = `Sessions older than ${r.days} days are deleted.`;
    if (r.source === "admin") now += ` Set by ${r.set_by} on ${FM.dateTime(r.set_at)}.`;
    else if (r.source === "server") now += " Set when the server was started (--retention-days).";
    document.getElementById("retention-now").textContent = now;
    document.getElementById("ret-mode").value = r.days === null ? "all" : "days";
    document.getElementById("ret-days").value = r.days === null ? "" : String(Math.round(r.days));
    document.getElementById("ret-days").disabled = r.days === null;
  }
  document.getElementById("ret-mode").addEventListener("change", () => {
    document.getElementById("ret-days").disabled = document.getElementById("ret-mode").value === "all";
  });
  on("retention-form", async () => {
    const all = document.getElementById("ret-mode").value === "all";
    const days = all ? null : Number(val("ret-days"));
    if (!all && !(Number.isInteger(days) && days >= 30 && days <= 36500)) {
      FM.say("Type the number of days, from 30 to 36500.", "bad");
      document.getElementById("ret-days").focus();
      return;
    }
    if (!all && !confirm(`Delete every session older than ${days} days? This cannot be undone.`)) return;
    await FM.api("/api/retention", { method: "PUT", body: { days } });
    FM.say(all ? "Every session is kept from now on." : `Sessions older than ${days} days are deleted now and every hour.`, "ok");
    await Promise.all([retention(), audit()]);
  });
  on("audit-form", audit);
  try { await Promise.all([accounts(), schools(), desks(), audit(), retention()]); } catch (err) { FM.fail(err); }
  document.body.dataset.ready = "1";
})();
