// Sign in: a sentence for a wrong password, too many tries, or an expired or idle sign-in.
"use strict";

(() => {
  const q = new URLSearchParams(location.search);
  const why = {
    expired: ["Your sign-in has expired: sign in again.", "bad"],
    idle: ["You were signed out after 30 minutes without activity: sign in again.", "info"],
    out: ["You are signed out.", "ok"],
  }[q.get("why")];
  if (why) FM.say(why[0], why[1]);
  const next = q.get("next");
  const safeNext = next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
  const form = document.getElementById("signin-form");
  document.getElementById("email").focus();
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    FM.say("Signing in…", "info");
    try {
      await FM.api("/api/login", {
        method: "POST", noCsrf: true, noRedirect: true,
        body: {
          email: document.getElementById("email").value,
          password: document.getElementById("password").value,
        },
      });
      location.assign(safeNext);
    } catch (err) {
      FM.fail(err);
      document.getElementById("password").select();
    } finally {
      button.disabled = false;
    }
  });
})();
