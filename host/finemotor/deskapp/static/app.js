// The desk app's page: shows what the desk app on this computer says (GET api/state, every
// second) and sends what the buttons ask (POST api/...). Plain JavaScript, no inline code (the
// page's Content-Security-Policy allows only this file).
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const STUDENT = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
  const STUDENT_HINT = "Use the code the therapist gave you, never the name.";
  const STUDENT_BAD =
    "That is not a student code. Use the code the therapist gave you, like S-014: letters " +
    "and numbers (and - _ .), no spaces, never the student's name.";
  let state = null;
  let screen = null;
  let kitsKey = "";
  let tasksKey = "";
  let studentsKey = "";
  let devsKey = "";
  let lastDown = {};
  let lastWatching;

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? "" : v);
    }
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function say(text) {
    const live = $("live");
    live.textContent = "";
    window.setTimeout(() => { live.textContent = text; }, 50);
  }

  function cap(s) { return s.charAt(0).toUpperCase() + s.slice(1); }

  function clock(s) {
    const t = Math.max(0, Math.floor(s || 0));
    const m = Math.floor(t / 60), r = t % 60;
    return String(m).padStart(2, "0") + ":" + String(r).padStart(2, "0");
  }

  async function post(action, body) {
    let answer = null;
    try {
      const r = await fetch("api/" + action, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body || {}),
        cache: "no-store",
      });
      answer = await r.json();
    } catch (e) {
      offline(true);
      return null;
    }
    offline(false);
    if (answer.state) render(answer.state);
    if (answer.problem) showProblem(answer.problem);
    return answer;
  }

  function showProblem(text) {
    const where = screen === "ended" ? $("ended-problems") : $("home-problems");
    where.replaceChildren(el("p", {}, text));
    say(text);
  }

  function offline(on) { $("offline").hidden = !on; }

  async function poll() {
    try {
      const r = await fetch("api/state", { cache: "no-store" });
      if (!r.ok) throw new Error(String(r.status));
      offline(false);
      render(await r.json());
    } catch (e) {
      offline(true);
    }
  }

  function which(s) {
    const st = s.session.state;
    if (st === "starting") return "starting";
    if (st === "running" || st === "stopping") return "running";
    if (st === "ended") return "ended";
    if (st === "blocked") return "blocked";
    if (s.pairing) return "pairing";
    return "home";
  }

  function show(name) {
    if (name === screen) return;
    for (const id of ["home", "pairing", "starting", "blocked", "running", "ended"]) {
      $(id).hidden = id !== name;
    }
    screen = name;
    const title = $(name + "-title") || $("pair-title");
    if (title) {
      title.focus();
      if (name !== "home" && name !== "pairing") say(title.textContent);
    }
  }

  // -- home: the kits and the session's start ------------------------------------------------

  function kitCard(k) {
    const card = el("div", { class: "card " + k.state, id: "kit-" + k.kind });
    card.append(el("img", { src: k.kind === "stylus" ? "pen.svg" : "grip.svg", alt: "" }));
    const body = el("div");
    const name = cap(k.noun) + (k.kit_id ? " " + k.kit_id : "");
    body.append(el("h4", {}, name));
    const words = {
      unpaired: "Not paired with this computer yet.",
      paired: "Paired. Not checked yet.",
      checking: k.message || "Checking…",
      ready: "Ready.",
      problem: "Needs attention.",
    };
    body.append(el("p", { class: k.state === "ready" ? "ok" : k.state === "problem" ? "bad" : "" },
      words[k.state] || k.state));
    if (k.battery !== null && k.state !== "checking") {
      body.append(el("p", {}, "Battery " + k.battery + " %"));
    }
    if (k.state === "ready" || (k.state === "problem" && k.battery !== null)) {
      body.append(el("p", {}, k.calibrated_on ? "Calibrated on " + k.calibrated_on
        : "Not calibrated"));
    }
    const pairLabel = k.kit_id ? "Pair the " + k.noun + " again" : "Pair the " + k.noun;
    const b = el("button", { type: "button", id: "pair-" + k.kind, class: k.kit_id ? "" : "primary" },
      pairLabel);
    b.addEventListener("click", () => post("pair", { kind: k.kind }));
    body.append(b);
    card.append(body);
    if (k.problems.length) {
      const ul = el("ul", { class: "problems" });
      for (const p of k.problems) ul.append(el("li", {}, p));
      card.append(ul);
    }
    return card;
  }

  function renderKits(s) {
    const key = JSON.stringify(s.kits);
    if (key === kitsKey) return;
    const focused = document.activeElement && document.activeElement.id;
    const before = kitsKey ? JSON.parse(kitsKey) : [];
    kitsKey = key;
    $("kits").replaceChildren(...s.kits.map(kitCard));
    if (focused && $(focused) && $("kits").contains($(focused))) $(focused).focus();
    for (const k of s.kits) {
      const old = before.find((o) => o.kind === k.kind);
      if (old && old.state === "checking" && k.state !== "checking") {
        say(cap(k.noun) + ": " + (k.state === "ready" ? "ready" : k.problems.join(" ")));
      }
    }
  }

  function renderStudents(s) {
    const list = s.students.list;
    const key = JSON.stringify(s.students);
    if (key === studentsKey) return;
    studentsKey = key;
    $("student-pick").hidden = !list;
    $("student-type").hidden = !!list;
    if (list) {
      const sel = $("student-list");
      const keep = sel.value;
      const opts = [el("option", { value: "" }, "Choose the student…")];
      for (const code of list) opts.push(el("option", { value: code }, code));
      sel.replaceChildren(...opts);
      if (list.includes(keep)) sel.value = keep;
    }
    if (s.students.problem) $("student-msg").textContent = s.students.problem;
  }

  function renderTasks(s) {
    const who = student();
    const planned = s.students.plans ? s.students.plans[who] : undefined;
    const tasks = planned || s.tasks;
    const key = JSON.stringify([who, tasks]);
    if (key === tasksKey) return;
    tasksKey = key;
    let from = "";
    if (planned) from = "The therapist planned these tasks for " + who + ".";
    else if (s.students.list && who) from = "The therapist planned no tasks for " + who +
      ": these are the usual ones.";
    $("tasks-from").textContent = from;
    $("tasks-from").hidden = !from;
    const rows = tasks.map((t, i) => {
      const label = el("label", { class: "task" });
      const box = el("input", { type: "checkbox", checked: true, value: t, id: "task-" + i });
      label.append(box, document.createTextNode(t));
      return label;
    });
    $("tasks").replaceChildren(...rows);
  }

  function student() {
    return (state && state.students.list ? $("student-list").value : $("student").value).trim();
  }

  function checkStudent(final) {
    const typed = !(state && state.students.list);
    const v = student();
    const msg = $("student-msg");
    let problem = null;
    if (!v) problem = final ? (typed ? "Type the student's code." : "Choose the student first.")
      : null;
    else if (!STUDENT.test(v)) problem = STUDENT_BAD;
    msg.textContent = problem || (state && state.students.problem) || STUDENT_HINT;
    msg.className = problem ? "hint bad" : "hint";
    if (typed) $("student").setAttribute("aria-invalid", problem ? "true" : "false");
    return problem;
  }

  function renderHome(s) {
    renderKits(s);
    renderStudents(s);
    renderTasks(s);
    $("check").disabled = !!s.busy || !s.kits.some((k) => k.kit_id);
    $("check").textContent = s.busy === "Checking the kits" ? "Checking…" : "Check the kits";
    const probs = s.session.problems.concat(s.session.message ? [s.session.message] : []);
    const key = JSON.stringify(probs);
    if ($("home-problems").dataset.key !== key) {
      $("home-problems").dataset.key = key;
      $("home-problems").replaceChildren(...probs.map((p) => el("p", {}, p)));
      if (probs.length) say(probs.join(" "));
    }
  }

  function start(anyway) {
    const problem = checkStudent(true);
    if (problem) {
      showProblem(problem);
      (state.students.list ? $("student-list") : $("student")).focus();
      return;
    }
    const tasks = [...$("tasks").querySelectorAll("input:checked")].map((b) => b.value);
    $("home-problems").replaceChildren();
    post("start", { student: student(), tasks: tasks, anyway: !!anyway });
  }

  // -- pairing --------------------------------------------------------------------------------

  function renderPairing(s) {
    const p = s.pairing;
    const n = p.noun;
    $("pair-pic").src = p.kind === "stylus" ? "pen.svg" : "grip.svg";
    const buttons = { press: false, yes: false, no: false, done: false, retry: false };
    let title = "Pairing the " + n, text = "", detail = "";
    if (p.step === "press") {
      title = "Press the button on the " + n;
      text = "Press the button on the " + n + " once. Its light starts blinking slowly.";
      detail = "Waiting for the button…";
      buttons.press = s.sim;
    } else if (p.step === "connecting") {
      title = "Found the " + n + " " + p.kit_id;
      text = "Found the " + n + " with the label " + p.kit_id + ". Connecting…";
    } else if (p.step === "confirm") {
      title = "Is the light blinking?";
      text = "Is the light on the " + n + " on your desk blinking quickly now?";
      detail = "Its label says " + p.kit_id + ".";
      buttons.yes = buttons.no = true;
    } else if (p.step === "checking") {
      title = "Paired: the " + n + " " + p.kit_id;
      text = p.message || "Checking…";
    } else if (p.step === "done") {
      title = "The " + n + " is paired";
      text = "The " + n + " " + p.kit_id + " is this desk's " + n + " now. This computer " +
        "remembers it for next time.";
      const bits = [];
      if (p.battery !== null) bits.push("Battery " + p.battery + " %.");
      bits.push(p.calibrated_on ? "Calibrated on " + p.calibrated_on + "." : "");
      detail = bits.join(" ");
      buttons.done = true;
    } else if (p.step === "problem") {
      title = "The " + n + " is not paired";
      text = p.message || "";
      buttons.retry = true;
    }
    const changed = $("pair-title").textContent !== title;
    $("pair-title").textContent = title;
    $("pair-text").textContent = text;
    $("pair-detail").textContent = detail;
    $("pairing").querySelector(".step").classList.toggle("blink", p.step === "confirm");
    $("pair-problems").replaceChildren(...p.problems.map((t) => el("li", {}, t)));
    $("pair-press").textContent = "Press the button on the pretend " + n;
    for (const [k, on] of Object.entries(buttons)) $("pair-" + k).hidden = !on;
    $("pair-cancel").hidden = p.step === "done";
    $("pair-cancel").textContent = p.step === "problem" ? "Back" : "Cancel";
    if (changed && screen === "pairing") {
      const first = ["yes", "done", "retry", "press"].find((k) => buttons[k]);
      if (first) $("pair-" + first).focus(); else $("pair-title").focus();
      say(title + ". " + text + " " + detail);
    }
  }

  // -- the session ----------------------------------------------------------------------------

  function renderRunning(s) {
    const ss = s.session;
    $("run-student").textContent = "(student " + ss.student + ")";
    $("clock").textContent = clock(ss.elapsed_s);
    const key = JSON.stringify(ss.devices);
    if (key !== devsKey) {
      devsKey = key;
      $("devs").replaceChildren(...ss.devices.map((d) => {
        const box = el("div", { class: "dev" + (d.connected ? "" : " down"), id: "dev-" + d.kind });
        box.append(el("h3", {}, cap(d.noun)));
        box.append(el("p", { class: "state " + (d.connected ? "ok" : "warn") },
          d.connected ? "Connected" : "Reconnecting…"));
        box.append(el("p", {}, d.flowing ? "Data is coming in" : "Waiting for data…"));
        box.append(el("p", {}, d.battery !== null ? "Battery " + d.battery + " %" : "Battery: not known"));
        box.append(el("p", { class: "muted" }, d.samples.toLocaleString("en") + " samples" +
          (d.lost ? ", " + d.lost + " lost" : "")));
        return box;
      }));
      for (const d of ss.devices) {
        if (lastDown[d.kind] !== undefined && lastDown[d.kind] !== !d.connected) {
          say(cap(d.noun) + (d.connected ? " is connected again." : " is reconnecting."));
        }
        lastDown[d.kind] = !d.connected;
      }
    }
    let view;
    if (!ss.view_on && !ss.view_problem) view = "The therapist's live view is off.";
    else if (ss.view_problem) view = "The therapist cannot watch right now (" + ss.view_problem +
      "). Everything is still recorded here.";
    else if (ss.watching > 0) view = "The therapist is watching.";
    else if (ss.server) view = "The therapist is not watching yet. She can open this session " +
      "in her workspace at any time.";
    else if (ss.view_here_only) view = "The therapist is not watching yet. The link below " +
      "works on this computer only. For a therapist elsewhere, ask whoever set up finemotor " +
      "for your school's address.";
    else view = "The therapist is not watching yet. Send her the link below.";
    if (lastWatching !== undefined && (lastWatching > 0) !== (ss.watching > 0)) {
      say(ss.watching > 0 ? "The therapist is watching." : "The therapist stopped watching.");
    }
    lastWatching = ss.watching;
    $("view").textContent = view;
    $("view").className = "say " + (ss.view_problem ? "warn" : "ok") +
      (ss.watching > 0 ? " watching" : "");
    $("view-link").hidden = !ss.view_url;
    if (ss.view_url && $("view-url").value !== ss.view_url) $("view-url").value = ss.view_url;
    $("saving").hidden = !ss.recording_problem;
    $("saving").textContent = ss.recording_problem ? "Not saving: " + ss.recording_problem : "";
    const n = ss.tasks.length;
    let now;
    if (!n) now = "No tasks were chosen. The therapist leads the session.";
    else if (ss.current < n) now = "Task " + (ss.current + 1) + " of " + n + ": " + ss.tasks[ss.current];
    else now = "All " + n + " tasks are done.";
    if ($("task-now").textContent !== now) $("task-now").textContent = now;
    $("next").hidden = !n || ss.current >= n;
    $("next").textContent = ss.current + 1 >= n ? "Finish the last task" : "Next task";
    const stopping = ss.state === "stopping";
    $("stop").disabled = stopping;
    $("next").disabled = stopping;
    $("stop").textContent = stopping ? "Saving everything…" : "Stop the session";
  }

  function renderEnded(s) {
    const sum = s.session.summary;
    if (!sum) return;
    const rows = [];
    const mins = Math.floor(sum.seconds / 60), secs = Math.floor(sum.seconds % 60);
    rows.push("Session " + sum.session_id + " for student " + sum.student + ": " + mins +
      " min " + String(secs).padStart(2, "0") + " s.");
    for (const [name, d] of Object.entries(sum.devices)) {
      const noun = name === "stylus" ? "Pen" : "Grip";
      const lost = d.lost ? d.lost.toLocaleString("en") + " lost" : "none lost";
      rows.push(noun + ": " + d.samples_recorded.toLocaleString("en") + " samples recorded, " + lost + ".");
    }
    rows.push(sum.marks.length + " task" + (sum.marks.length === 1 ? "" : "s") + " marked.");
    const key = JSON.stringify(rows);
    if ($("summary").dataset.key !== key) {
      $("summary").dataset.key = key;
      $("summary").replaceChildren(...rows.map((r) => el("li", {}, r)));
    }
    $("upload").textContent = sum.upload === null ? "It is saved on this computer."
      : sum.upload.startsWith("uploaded") ? "It is saved on this computer and on the school's server."
      : "It is saved on this computer. It is not on the school's server yet: it will be sent later.";
    const probs = s.session.problems.concat(sum.recording_problem ? [sum.recording_problem] : []);
    $("ended-problems").replaceChildren(...probs.map((p) => el("li", {}, p)));
  }

  function renderBlocked(s) {
    const key = JSON.stringify(s.session.problems);
    if ($("blocked-list").dataset.key !== key) {
      $("blocked-list").dataset.key = key;
      $("blocked-list").replaceChildren(...s.session.problems.map((p) => el("li", {}, p)));
    }
  }

  function render(s) {
    state = s;
    $("sim-note").hidden = !s.sim;
    const name = which(s);
    show(name);  // first: a step then puts the keyboard on its one action
    if (name === "home") renderHome(s);
    if (name === "pairing") renderPairing(s);
    if (name === "starting") $("starting-msg").textContent = s.session.message || "Connecting…";
    if (name === "running") renderRunning(s);
    if (name === "ended") renderEnded(s);
    if (name === "blocked") renderBlocked(s);
  }

  // -- wiring -----------------------------------------------------------------------------------

  $("check").addEventListener("click", () => post("check"));
  $("student").addEventListener("input", () => checkStudent(false));
  $("student-list").addEventListener("change", () => {
    checkStudent(false);
    if (state) renderTasks(state);
  });
  $("start").addEventListener("click", () => start(false));
  $("anyway").addEventListener("click", () => start(true));
  $("back").addEventListener("click", () => post("new"));
  $("pair-press").addEventListener("click", () => post("pair/press"));
  $("pair-yes").addEventListener("click", () => post("pair/answer", { yes: true }));
  $("pair-no").addEventListener("click", () => post("pair/answer", { yes: false }));
  $("pair-done").addEventListener("click", () => post("pair/close"));
  $("pair-cancel").addEventListener("click", () => post("pair/close"));
  $("pair-retry").addEventListener("click", () => {
    if (state && state.pairing) post("pair", { kind: state.pairing.kind });
  });
  $("next").addEventListener("click", () => post("next"));
  $("stop").addEventListener("click", () => post("stop"));
  $("new").addEventListener("click", () => {
    post("new");
  });
  poll();
  window.setInterval(poll, 1000);
})();
