// Change my password: every other sign-in ends; this browser gets a fresh one.
"use strict";

(async () => {
  try { await FM.start(); } catch (err) { FM.fail(err); return; }
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
      FM.say("Your password is changed. Your other sign-ins have ended.", "ok");
    } catch (err) {
      FM.fail(err);
    }
  });
})();
