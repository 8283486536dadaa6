// The dashboard page: renders each snapshot the server pushes (Server-Sent Events, at most
// one a second). Everything is set as text; nothing from the engine is parsed as HTML.
"use strict";
(function () {
  const EQUITY_COLOUR = "#1f5fbf";
  const ZERO_COLOUR = "#9aa4ae";
  const token = new URLSearchParams(location.search).get("token");
  const query = token ? "?token=" + encodeURIComponent(token) : "";
  const $ = (id) => document.getElementById(id);
  let updates = 0;

  function money(x) {
    if (x === null || x === undefined || !isFinite(x)) return "—";
    return (x < 0 ? "−₹" : "₹") + Math.abs(x).toLocaleString("en-IN", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }
  function num(x, digits) {
    if (x === null || x === undefined || !isFinite(x)) return "—";
    return Number(x).toFixed(digits);
  }
  function sign(x) {
    return x > 0 ? "pos" : x < 0 ? "neg" : "";
  }
  function time(t) {
    return t ? String(t).slice(0, 19).replace("T", " ") : "—";
  }
  function setMoney(id, x) {
    const el = $(id);
    el.textContent = money(x);
    el.className = "value " + sign(x);
  }
  function badge(id, text, level) {
    const el = $(id);
    el.textContent = text;
    el.className = "badge " + level;
  }

  // Fills table `id`'s body: one row per item, one cell per column {v, num, cls}.
  function fill(id, items, cols, key) {
    const body = $(id).tBodies[0];
    body.replaceChildren();
    if (!items || items.length === 0) {
      const tr = document.createElement("tr");
      tr.className = "empty";
      const td = document.createElement("td");
      td.colSpan = cols.length;
      td.textContent = items ? "none" : "not answering";
      tr.appendChild(td);
      body.appendChild(tr);
      return;
    }
    for (const it of items) {
      const tr = document.createElement("tr");
      if (key) tr.dataset.key = key(it);
      for (const c of cols) {
        const td = document.createElement("td");
        td.textContent = c.v(it);
        const cls = [c.num ? "num" : "", c.wrap ? "wrap" : "", c.cls ? c.cls(it) : ""].join(" ").trim();
        if (cls) td.className = cls;
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
  }

  function chart(points) {
    const cv = $("equity");
    const ctx = cv.getContext("2d");
    ctx.clearRect(0, 0, cv.width, cv.height);
    if (!points || points.length === 0) return;
    const xs = points.map((p) => p[0]);
    const ys = points.map((p) => p[1]).concat([0]);
    const x0 = Math.min(...xs), x1 = Math.max(...xs);
    const y0 = Math.min(...ys), y1 = Math.max(...ys);
    const pad = 12;
    const X = (x) => pad + (x1 > x0 ? (x - x0) / (x1 - x0) : 1) * (cv.width - 2 * pad);
    const Y = (y) => cv.height - pad - (y1 > y0 ? (y - y0) / (y1 - y0) : 0.5) * (cv.height - 2 * pad);
    ctx.strokeStyle = ZERO_COLOUR;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(pad, Y(0));
    ctx.lineTo(cv.width - pad, Y(0));
    ctx.stroke();
    ctx.strokeStyle = EQUITY_COLOUR;
    ctx.lineWidth = 3;
    ctx.beginPath();
    points.forEach((p, i) => (i ? ctx.lineTo(X(p[0]), Y(p[1])) : ctx.moveTo(X(p[0]), Y(p[1]))));
    if (points.length === 1) ctx.lineTo(X(points[0][0]) - 6, Y(points[0][1]));
    ctx.stroke();
    // The range, top and bottom, in rupees.
    ctx.fillStyle = ZERO_COLOUR;
    ctx.font = "12px sans-serif";
    ctx.fillText(money(y1), pad + 4, pad + 10);
    ctx.fillText(money(y0), pad + 4, cv.height - pad - 4);
  }

  function render(s) {
    const st = s.state || {};
    badge("mode", "mode " + (st.mode || "—"), "");
    const trading = st.trading || "—";
    badge("trading", trading, trading === "active" ? "ok" : trading === "paused" ? "warn" : "bad");
    const f = s.feed || {};
    badge("feed-state", "feed " + (f.kind || "—") + (f.connected ? " connected" : " DISCONNECTED"), f.connected ? "ok" : "bad");
    $("data-time").textContent = time(f.data_time);
    const p = s.pnl || {};
    setMoney("day-realized", p.day_realized);
    setMoney("unrealized", p.open_net ?? p.unrealized);
    setMoney("day-net", p.day_net);
    $("open-count").textContent = p.open_positions === null || p.open_positions === undefined ? "—" : String(p.open_positions);
    $("equity-day").textContent = s.equity && s.equity.day ? s.equity.day : "";
    chart(s.equity ? s.equity.points : []);
    fill("positions", s.positions, [
      { v: (r) => r.option_symbol },
      { v: (r) => r.strategy },
      { v: (r) => r.mode },
      { v: (r) => String(r.quantity), num: true },
      { v: (r) => num(r.entry, 2), num: true },
      { v: (r) => num(r.mark, 2), num: true },
      { v: (r) => num(r.stop, 2), num: true },
      { v: (r) => num(r.target, 2), num: true },
      { v: (r) => money(r.net_pnl), num: true, cls: (r) => sign(r.net_pnl) },
      { v: (r) => time(r.entry_time) },
    ], (r) => r.position_id);
    fill("feed", f.symbols, [
      { v: (r) => r.symbol },
      { v: (r) => num(r.last_price, 2), num: true },
      { v: (r) => time(r.last_tick) },
    ], (r) => r.symbol);
    fill("alarms", s.alarms, [
      { v: (r) => time(r.time) },
      { v: (r) => r.kind, cls: (r) => (r.severity === "critical" ? "neg" : "") },
      { v: (r) => r.message, wrap: true },
    ]);
    fill("actors", s.actors, [
      { v: (r) => r.actor },
      { v: (r) => String(r.depth), num: true },
      { v: (r) => String(r.max_depth), num: true },
      { v: (r) => num(r.per_second, 1), num: true },
      { v: (r) => (r.latency_samples > 0 ? num(r.p50_ms, 3) : "—"), num: true },
      { v: (r) => (r.latency_samples > 0 ? num(r.p99_ms, 3) : "—"), num: true },
      { v: (r) => String(r.restarts), num: true, cls: (r) => (r.restarts > 0 ? "neg" : "") },
      { v: (r) => r.last_error || "", wrap: true },
    ], (r) => r.actor);
    fill("signals", s.signals, [
      { v: (r) => time(r.time) },
      { v: (r) => r.symbol + (r.strategy ? " · " + r.strategy : "") },
      { v: (r) => r.action },
      { v: (r) => num(r.price, 2), num: true },
      { v: (r) => num(r.confidence, 2), num: true },
    ]);
    fill("decisions", s.decisions, [
      { v: (r) => time(r.time) },
      { v: (r) => r.symbol },
      { v: (r) => r.outcome, cls: (r) => (r.outcome === "rejected" ? "neg" : "pos") },
      { v: (r) => (r.reason ? r.reason + (r.detail ? ": " : "") : "") + (r.detail || ""), wrap: true },
    ]);
  }

  const es = new EventSource("/events" + query);
  es.addEventListener("snapshot", (e) => {
    const s = JSON.parse(e.data);
    render(s);
    updates += 1;
    document.body.dataset.updates = String(updates);
    $("live").textContent = "live · update " + updates + " · " + time(s.at) + " IST";
  });
  es.onerror = () => {
    $("live").textContent = "disconnected — reconnecting…";
  };
})();
