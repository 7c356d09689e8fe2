// What every page of the workspace shares: the JSON API with the CSRF token, sign-out (also
// after 30 idle minutes), messages for people, element building and number formatting.
// Forces come from the API in newtons; grip strength is shown in kgf (display only).
"use strict";

const FM = (() => {
  const KGF_N = 9.80665;
  const IDLE_MS = 30 * 60 * 1000;
  let csrf = null;

  function el(tag, attrs, ...kids) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined) continue;
      node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return node;
  }

  let leaving = false;  // signing out: a request refused meanwhile says nothing more

  function signInAgain(why) {
    if (leaving) return;
    leaving = true;
    const next = location.pathname + location.search;
    location.assign("/signin?why=" + why + "&next=" + encodeURIComponent(next));
  }

  // A refusal from the API: its sentence, its reason tag and status.
  class ApiError extends Error {
    constructor(status, reason, message) {
      super(message);
      this.status = status;
      this.reason = reason;
    }
  }

  async function api(path, opts) {
    const o = Object.assign({ method: "GET" }, opts || {});
    const headers = { Accept: "application/json" };
    if (o.body !== undefined) headers["Content-Type"] = "application/json";
    if (o.method !== "GET") {
      if (csrf === null && !o.noCsrf) await me();
      if (csrf) headers["X-CSRF-Token"] = csrf;
    }
    let resp;
    try {
      resp = await fetch(path, {
        method: o.method, headers, credentials: "same-origin",
        body: o.body === undefined ? undefined : JSON.stringify(o.body),
      });
    } catch (e) {
      throw new ApiError(0, "network", "the server cannot be reached: check the connection and try again");
    }
    if (resp.status === 401 && !o.noRedirect) {
      signInAgain("expired");
      throw new ApiError(401, "signed_out", "your sign-in has expired: sign in again");
    }
    if (resp.status === 204) return null;
    const type = resp.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await resp.json() : null;
    if (!resp.ok) {
      const msg = data && data.error ? data.error : "the server answered " + resp.status;
      throw new ApiError(resp.status, data && data.reason, msg);
    }
    return data;
  }

  async function me() {
    const who = await api("/api/me", { noCsrf: true });
    csrf = who.csrf;
    return who;
  }

  function setCsrf(token) { csrf = token; }

  async function signOut(why) {
    if (leaving) return;
    leaving = true;
    try { await api("/api/logout", { method: "POST", noRedirect: true }); } catch (e) { /* gone */ }
    location.assign("/signin" + (why ? "?why=" + why : "?why=out"));
  }

  // A sentence in the page's message area (role=alert for problems, status otherwise).
  function say(text, kind) {
    const box = document.getElementById("msg");
    if (!box) return;
    box.textContent = text || "";
    box.hidden = !text;
    box.className = "msg " + (kind || "info");
    box.setAttribute("role", kind === "bad" ? "alert" : "status");
  }

  function fail(err) { say(err && err.message ? err.message : String(err), "bad"); }

  function idle() {
    let timer = null;
    const reset = () => {
      clearTimeout(timer);
      timer = setTimeout(() => signOut("idle"), IDLE_MS);
    };
    for (const ev of ["keydown", "pointerdown", "wheel", "touchstart"]) {
      addEventListener(ev, reset, { passive: true });
    }
    reset();
  }

  // The header every signed-in page has: who, and the sign-out button.
  async function start(role) {
    const who = await me();
    const name = document.getElementById("who");
    if (name) name.textContent = who.email;
    const out = document.getElementById("signout");
    if (out) out.addEventListener("click", () => signOut("out"));
    if (who.must_change && location.pathname !== "/password") location.assign("/password?first=1");
    else if (role && who.role !== role) location.assign("/");
    idle();
    return who;
  }

  const pad = (n) => String(n).padStart(2, "0");
  function date(t) {
    if (t === null || t === undefined) return "–";
    const d = new Date(t * 1000);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate());
  }
  function dateTime(t) {
    if (t === null || t === undefined) return "–";
    const d = new Date(t * 1000);
    return date(t) + " " + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }
  function duration(s) {
    if (s === null || s === undefined) return "–";
    const m = Math.floor(s / 60), sec = Math.round(s % 60);
    return m >= 60 ? Math.floor(m / 60) + " h " + pad(m % 60) + " min" : m + " min " + pad(sec) + " s";
  }
  function clock(s) {
    const neg = s < 0; s = Math.abs(s);
    const m = Math.floor(s / 60), sec = s - 60 * m;
    return (neg ? "-" : "") + m + ":" + (sec < 10 ? "0" : "") + sec.toFixed(1);
  }

  // The goal metrics, their display unit and how a value is shown.
  const METRICS = {
    grip_peak_right: { label: "Grip strength, right hand", unit: "kgf", scale: 1 / KGF_N, digits: 1 },
    grip_peak_left: { label: "Grip strength, left hand", unit: "kgf", scale: 1 / KGF_N, digits: 1 },
    pen_cv: { label: "Pen force variability (CV)", unit: "%", scale: 1, digits: 1 },
    pen_endurance: { label: "Pen endurance (force slope)", unit: "%/min", scale: 1, digits: 2 },
  };
  function shown(metric, value) {
    const m = METRICS[metric];
    return value === null || value === undefined ? null : value * (m ? m.scale : 1);
  }
  function fmtMetric(metric, value) {
    const m = METRICS[metric];
    if (value === null || value === undefined) return "–";
    return shown(metric, value).toFixed(m ? m.digits : 2) + " " + (m ? m.unit : "");
  }
  function label(metric) { return METRICS[metric] ? METRICS[metric].label : metric; }

  // A compact sparkline (SVG) of values, with the target as a dashed line.
  function sparkline(values, target, title) {
    const NS = "http://www.w3.org/2000/svg";
    const w = 96, h = 24, p = 2;
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    svg.setAttribute("width", w); svg.setAttribute("height", h);
    svg.setAttribute("class", "spark");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", title);
    const pts = values.filter((v) => v !== null && v !== undefined);
    const all = target === null || target === undefined ? pts : pts.concat([target]);
    if (!all.length) return svg;
    let lo = Math.min(...all), hi = Math.max(...all);
    if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
    const y = (v) => h - p - (v - lo) / (hi - lo) * (h - 2 * p);
    const x = (i) => pts.length < 2 ? w / 2 : p + i * (w - 2 * p) / (pts.length - 1);
    if (target !== null && target !== undefined) {
      const line = document.createElementNS(NS, "line");
      line.setAttribute("x1", 0); line.setAttribute("x2", w);
      line.setAttribute("y1", y(target)); line.setAttribute("y2", y(target));
      line.setAttribute("class", "spark-target");
      svg.append(line);
    }
    if (pts.length > 1) {
      const path = document.createElementNS(NS, "polyline");
      path.setAttribute("points", pts.map((v, i) => x(i).toFixed(1) + "," + y(v).toFixed(1)).join(" "));
      path.setAttribute("class", "spark-line");
      svg.append(path);
    }
    const dot = document.createElementNS(NS, "circle");
    dot.setAttribute("cx", x(pts.length - 1)); dot.setAttribute("cy", y(pts[pts.length - 1] ?? target));
    dot.setAttribute("r", 2.2); dot.setAttribute("class", "spark-dot");
    svg.append(dot);
    return svg;
  }

  return {
    KGF_N, el, api, me, setCsrf, signOut, say, fail, start, date, dateTime, duration, clock,
    METRICS, shown, fmtMetric, label, sparkline, ApiError,
  };
})();
