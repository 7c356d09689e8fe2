// finemotor therapist view: one WebSocket to the relay, uPlot charts, metric tiles, events.
"use strict";
(() => {
  const MAX_PTS_PER_S = 60;
  const STALE_MS = 2500;
  const TRACES = { tip: "stylus", barrel: "stylus", force: "grip" };
  const COLORS = { tip: "#0b4fb3", barrel: "#6a1b9a", force: "#a4161a" };
  const CAPTIONS = { tip: "Pen tip force", barrel: "Barrel grip", force: "Grip force" };
  const $ = (id) => document.getElementById(id);
  const sid = location.pathname.split("/").pop();
  const token = new URLSearchParams(location.search).get("t") || "";
  // This page's instance (kept across reloads of the tab): a page that reconnects takes back
  // its own place on the relay, even when others have filled the session.
  const instance = (() => {
    const key = "fm-instance-" + sid;
    let id = null;
    try { id = sessionStorage.getItem(key); } catch (e) { /* storage off: one per load */ }
    if (!id) {
      const b = new Uint8Array(16);
      crypto.getRandomValues(b);
      id = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
      try { sessionStorage.setItem(key, id); } catch (e) { /* as above */ }
    }
    return id;
  })();
  const TOO_MANY_VIEWERS = 1013;
  const wsUrl = (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
    "/ws/view/" + encodeURIComponent(sid) + "?t=" + encodeURIComponent(token) +
    "&i=" + instance;
  const now = () => performance.timeOrigin + performance.now();

  // Everything the page knows; exposed read-only for tests and measurements.
  const st = {
    windowS: 20, relayUp: false, pubUp: false, ended: false, full: false, connects: 0, frames: 0,
    messages: 0,
    lastData: 0, gapFrom: null, gapWhy: "", gaps: [], lat: [], drawn: 0, drops: 0, tileUpdates: 0,
    points: { tip: 0, barrel: 0, force: 0 }, devices: {}, marks: [], charts: false,
  };
  window.__fm = st;
  const data = {};
  const pending = {};
  const charts = {};
  for (const name of Object.keys(TRACES)) {
    data[name] = { x: [], y: [] };
    pending[name] = null;
  }

  function makeCharts() {
    if (typeof uPlot === "undefined") {
      $("nocharts").hidden = false;
      return;
    }
    st.charts = true;
    for (const name of Object.keys(TRACES)) {
      const el = $("chart-" + name);
      const opts = {
        width: Math.max(200, el.clientWidth), height: 130,
        legend: { show: false }, cursor: { show: false },
        scales: { x: { time: true }, y: { range: (u, lo, hi) => [Math.min(0, lo), Math.max(1, hi)] } },
        axes: [{ stroke: "#111", grid: { stroke: "#e3e3e3" } }, { stroke: "#111", size: 42, grid: { stroke: "#e3e3e3" } }],
        series: [{}, { stroke: COLORS[name], width: 1.5, spanGaps: false }],
        hooks: { draw: [() => drawn(name)] },
      };
      charts[name] = new uPlot(opts, [[], []], el);
    }
    new ResizeObserver(() => {
      for (const [name, u] of Object.entries(charts)) {
        u.setSize({ width: Math.max(200, $("chart-" + name).clientWidth), height: 130 });
      }
    }).observe(document.body);
  }

  function drawn(name) {
    const tick = pending[name];
    if (tick === null) return;
    pending[name] = null;
    st.drawn += 1;
    st.lat.push(now() - tick);
    if (st.lat.length > 5000) st.lat.splice(0, 1000);
  }

  function addPoints(frame) {
    const t = frame.t;
    for (const [name, ys] of Object.entries(frame.tr || {})) {
      const d = data[name];
      if (!d) continue;
      for (let i = 0; i < t.length; i++) {
        const x = t[i] / 1000;
        const last = d.x.length ? d.x[d.x.length - 1] : -Infinity;
        if (x - last < 1 / MAX_PTS_PER_S) continue; // decimate for display
        d.x.push(x);
        d.y.push(ys[i]);
        st.points[name] += 1;
        pending[name] = t[i];
      }
    }
  }

  function gapInData(at) {
    for (const d of Object.values(data)) {
      if (d.x.length && d.y[d.y.length - 1] !== null) {
        d.x.push(d.x[d.x.length - 1] + 0.001);
        d.y.push(null);
      }
    }
    return at;
  }

  function render() {
    const edge = now() / 1000;
    for (const [name, d] of Object.entries(data)) {
      let cut = 0;
      while (cut < d.x.length && d.x[cut] < edge - st.windowS) cut++;
      if (cut) { d.x.splice(0, cut); d.y.splice(0, cut); }
      if (pending[name] !== null) {
        if (charts[name]) charts[name].setData([d.x, d.y]);
        else drawn(name);
      }
    }
    requestAnimationFrame(render);
  }

  function fmt(v, unit) {
    if (v === null || v === undefined) return "–";
    const a = Math.abs(v);
    const s = a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
    return unit && unit !== "1" ? s + " " + unit : s;
  }

  function showTiles(frame) {
    st.tileUpdates += 1;
    const box = $("tiles");
    for (const [key, tile] of Object.entries(frame.tiles || {})) {
      const id = "tile-" + frame.dev + "-" + key;
      let el = document.getElementById(id);
      if (!el) {
        el = document.createElement("div");
        el.className = "tile";
        el.id = id;
        el.append(document.createElement("dt"), document.createElement("dd"));
        box.append(el);
      }
      el.firstChild.textContent = tile.label;
      const dd = el.lastChild;
      dd.textContent = fmt(tile.value, tile.unit);
      if (tile.alt || tile.why) {
        const small = document.createElement("small");
        small.textContent = tile.value === null ? tile.why || "" : tile.alt || "";
        dd.append(small);
      }
      if (tile.note && tile.value !== null) {
        const note = document.createElement("small");
        note.className = "note";
        note.textContent = tile.note;
        dd.append(note);
      }
      el.dataset.value = tile.value === null ? "" : String(tile.value);
    }
  }

  // Chart titles say what the numbers are: newtons, or raw readings of an uncalibrated channel.
  function showUnits(units) {
    for (const [name, unit] of Object.entries(units || {})) {
      const cap = $("cap-" + name);
      if (!cap || !CAPTIONS[name]) continue;
      const text = unit === "N" ? CAPTIONS[name] + " (N)" :
        CAPTIONS[name] + " (raw readings: not calibrated, not newtons)";
      if (cap.textContent !== text) cap.textContent = text;
      cap.dataset.unit = unit;
    }
  }

  function showDevice(frame) {
    st.devices[frame.dev] = frame;
    const ul = $("devices");
    ul.replaceChildren();
    for (const [dev, s] of Object.entries(st.devices)) {
      const li = document.createElement("li");
      const link = document.createElement("strong");
      link.className = s.link === "connected" ? "ok" : "warn";
      link.textContent = s.link;
      const cal = s.cal === "valid" ? "calibration valid" : s.cal === "due" ?
        "calibration due" : "not calibrated (raw units)";
      const batt = s.battery === null || s.battery === undefined ? "battery ?" : "battery " + s.battery + " %";
      li.append(dev + ": ", link, ", " + batt + ", " + cal);
      li.id = "dev-" + dev;
      li.dataset.link = s.link;
      ul.append(li);
    }
  }

  function showMarks() {
    const ol = $("marks");
    ol.replaceChildren();
    for (const m of st.marks.slice(-20).reverse()) {
      const li = document.createElement("li");
      li.textContent = m.text + " — " + m.state;
      li.dataset.state = m.state;
      ol.append(li);
    }
  }

  function showGaps() {
    const ul = $("gaps");
    ul.replaceChildren();
    for (const g of st.gaps.slice(-10).reverse()) {
      const li = document.createElement("li");
      const from = new Date(g.from).toLocaleTimeString();
      li.textContent = from + ": " + ((g.to - g.from) / 1000).toFixed(1) + " s without data (" + g.why + ")";
      ul.append(li);
    }
  }

  function setConn(text, cls) {
    const el = $("conn");
    el.textContent = text;
    el.className = "pill " + cls;
  }

  function banner(text) {
    const el = $("banner");
    if ((text || "") === el.textContent && el.hidden === !text) return;
    el.textContent = text || "";
    el.hidden = !text;
  }

  function watch() {
    const t = now();
    if (st.ended) {
      setConn("ended", "bad");
      banner("This session has ended.");
    } else if (st.full) {
      setConn("too many viewers", "bad");
      banner("Too many viewers are watching this session: close other windows showing it. " +
        "Trying again.");
    } else if (!st.relayUp) {
      setConn("reconnecting", "warn");
      banner("The relay is unreachable: reconnecting. The charts will show the gap.");
    } else if (!st.pubUp) {
      setConn("reconnecting", "warn");
      banner("The student's computer is reconnecting to the relay.");
    } else if (st.lastData && t - st.lastData > STALE_MS) {
      setConn("reconnecting", "warn");
      banner("No data from the kit for " + ((t - st.lastData) / 1000).toFixed(0) + " s: the kit is reconnecting.");
    } else if (!st.lastData) {
      setConn("waiting", "warn");
      banner("");
    } else {
      setConn("live", "ok");
      banner(st.drops ? st.drops + " display frames skipped (slow connection)" : "");
    }
    const quiet = !st.relayUp || !st.pubUp || (st.lastData && t - st.lastData > STALE_MS);
    if (quiet && st.gapFrom === null) {
      st.gapFrom = st.lastData || t;
      st.gapWhy = !st.relayUp ? "relay unreachable" : !st.pubUp ?
        "student's computer reconnecting" : "kit reconnecting";
    }
  }

  let ws = null;
  let backoff = 500;
  function connect() {
    ws = new WebSocket(wsUrl);
    ws.onopen = () => {
      st.relayUp = true;
      st.connects += 1;
    };
    ws.onmessage = (ev) => {
      st.messages += 1;
      backoff = 500;
      st.full = false;
      let f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      onFrame(f);
    };
    ws.onclose = (ev) => {
      st.relayUp = false;
      st.pubUp = false;
      st.full = ev.code === TOO_MANY_VIEWERS;
      if (st.ended) return;
      setTimeout(connect, backoff);
      backoff = Math.min(4000, backoff * 2);
    };
  }

  function onFrame(f) {
    switch (f.k) {
      case "d": {
        // One device's points (with its tiles in m, when due), or several devices' together
        // (ds, from an earlier forwarder), each as sampled.
        const parts = Array.isArray(f.ds) ? f.ds : [f];
        if (st.gapFrom !== null) {
          const firsts = parts.filter((p) => p.t && p.t.length).map((p) => p.t[0]);
          const to = firsts.length ? Math.min(...firsts) : now();
          st.gaps.push({ from: st.gapFrom, to, why: st.gapWhy });
          st.gapFrom = null;
          gapInData();
          showGaps();
        }
        st.frames += 1;
        st.lastData = now();
        for (const p of parts) {
          showUnits(p.u);
          addPoints(p);
        }
        if (f.m && typeof f.m === "object" && f.dev) showTiles({ dev: f.dev, tiles: f.m });
        break;
      }
      case "m": showTiles(f); break;
      case "s": showDevice(f); break;
      case "hello": $("student").textContent = "· student " + f.student; break;
      case "pub": st.pubUp = !!f.up; break;
      case "drops": st.drops = f.n; break;
      case "end": st.ended = true; break;
      case "marksent": {
        const m = st.marks.find((x) => x.cid === f.cid);
        if (m) { m.id = f.id; m.state = "sent"; }
        showMarks();
        break;
      }
      case "markerr": {
        const m = st.marks.find((x) => x.cid === f.cid);
        if (m) m.state = "not recorded: " + f.why;
        showMarks();
        break;
      }
      case "ack": {
        const m = st.marks.find((x) => x.id === f.id && x.state !== "recorded");
        if (m) m.state = "recorded";
        showMarks();
        break;
      }
      default: break;
    }
  }

  let cid = 0;
  function mark(text) {
    text = (text || "").trim();
    if (!text) return;
    const m = { cid: ++cid, id: null, text, state: "sending" };
    st.marks.push(m);
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ k: "mark", text, cid: m.cid }));
    } else {
      m.state = "not recorded: not connected, mark again";
    }
    showMarks();
  }

  document.addEventListener("DOMContentLoaded", () => {
    makeCharts();
    $("window").addEventListener("change", (e) => { st.windowS = Number(e.target.value); });
    $("markform").addEventListener("submit", (e) => {
      e.preventDefault();
      mark($("marktext").value);
      $("marktext").value = "";
    });
    for (const b of document.querySelectorAll("[data-mark]")) {
      b.addEventListener("click", () => mark(b.dataset.mark));
    }
    document.addEventListener("keydown", (e) => {
      if (e.key === "m" && document.activeElement.tagName !== "INPUT" && !e.ctrlKey && !e.metaKey) {
        e.preventDefault();
        $("marktext").focus();
      }
    });
    setInterval(watch, 250);
    connect();
    requestAnimationFrame(render);
  });
})();
