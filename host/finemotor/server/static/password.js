// Change my password: every other sign-in ends; this browser gets a fresh one. After a
// first sign-in with a one-time password, choosing one's own comes before anything else.
"use strict";

(async () => {
  let who;
  try { who = await FM.start(); } catch (err) { FM.fail(err); return; }
  const first = who.must_change;
  if (first) {
    document.getElementById("current").labels[0].firstChild.textContent = "The password you were given ";
    FM.say("Welcome. Choose your own password before you go on: the one you were given works only this once.", "info");
  }
  const form = document.getElementById("pw-form");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const nw = document.getElementById("new").value;
    if (nw !== document.getElementById("again").value) {
      FM.say("The two new passwords are not the same: type the new one twice.", "bad");
      return;
    }
    try {
      const got = await FM.api("/api/password", {
        method: "POST", body: { current: document.getElementById("current").value, new: nw },
      });
      FM.setCsrf(got.csrf);
      form.reset();
      if (first) { location.assign("/"); return; }
      FM.say("Your password is changed. Your other sign-ins have ended.", "ok");
    } catch (err) {
      FM.fail(err);
    }
  });
})();
