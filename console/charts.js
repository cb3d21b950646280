// Plain SVG charts: sparklines for the dashboard rows, line charts with axes for the detail pages.
// Points are [epochSeconds, value]. Every chart carries data-points and data-max so tests can check it
// drew real data.
"use strict";

const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";

  function svg(tag, attrs) {
    const e = document.createElementNS(NS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }

  /// A short human number: 1.2k, 3.4M; units "bps" and "B/s" scale likewise.
  function fmt(v, units) {
    if (v == null || !isFinite(v)) return "–";
    const a = Math.abs(v);
    let s;
    if (a >= 1e9) s = (v / 1e9).toFixed(a >= 1e10 ? 0 : 1) + "G";
    else if (a >= 1e6) s = (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + "M";
    else if (a >= 1e3) s = (v / 1e3).toFixed(a >= 1e4 ? 0 : 1) + "k";
    else if (a >= 100 || a === 0) s = v.toFixed(0);
    else if (a >= 10) s = v.toFixed(1);
    else s = v.toFixed(2);
    return units ? s + " " + units : s;
  }

  function clock(t) {
    const d = new Date(t * 1000);
    return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
  }

  /// Round tick values covering [0, max].
  function ticks(max, n) {
    if (!(max > 0)) return [0, 1];
    const raw = max / n;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
    const out = [];
    for (let v = 0; v <= max + step * 0.001; v += step) out.push(+v.toPrecision(12));
    if (out[out.length - 1] < max) out.push(+(out[out.length - 1] + step).toPrecision(12));
    return out;
  }

  /// Averages points into `bucket`-second buckets (for sparklines drawn from 5 s series).
  function rebucket(points, bucket) {
    const m = new Map();
    for (const [t, v] of points) {
      const k = Math.floor(t / bucket) * bucket;
      const e = m.get(k) || [0, 0];
      e[0] += v; e[1] += 1;
      m.set(k, e);
    }
    return [...m.entries()].sort((a, b) => a[0] - b[0]).map(([k, [s, n]]) => [k, s / n]);
  }

  /// A sparkline of `points` over [from, to] seconds; `cls` picks the colour (s0..s3).
  function sparkline(points, opts) {
    const w = (opts && opts.width) || 90, h = (opts && opts.height) || 22;
    const cls = (opts && opts.cls) || "s0";
    const now = Date.now() / 1000;
    const to = (opts && opts.to) || now, from = (opts && opts.from) || to - 3600;
    const pts = (points || []).filter((p) => p[0] >= from - 60 && isFinite(p[1]));
    const max = pts.reduce((m, p) => Math.max(m, p[1]), 0);
    const el = svg("svg", { class: "spark " + cls, width: w, height: h, viewBox: `0 0 ${w} ${h}` });
    el.dataset.points = String(pts.length);
    el.dataset.max = String(max);
    el.dataset.nonzero = String(pts.filter((p) => p[1] > 0).length);
    const x = (t) => Math.max(0, Math.min(w, ((t - from) / (to - from)) * w));
    const y = (v) => h - 2 - (max > 0 ? (v / max) * (h - 4) : 0);
    el.appendChild(svg("line", { x1: 0, y1: h - 1.5, x2: w, y2: h - 1.5, stroke: "#e3e8ef", "stroke-width": 1 }));
    if (pts.length) {
      const d = pts.map((p) => x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1)).join(" ");
      el.appendChild(svg("polygon", { class: "area " + cls, points: `${x(pts[0][0]).toFixed(1)},${h - 1.5} ${d} ${x(pts[pts.length - 1][0]).toFixed(1)},${h - 1.5}` }));
      el.appendChild(svg("polyline", { class: "line " + cls, points: d }));
      if (pts.length === 1) el.appendChild(svg("circle", { class: "area " + cls, cx: x(pts[0][0]), cy: y(pts[0][1]), r: 2.5, opacity: 1 }));
    }
    const title = svg("title", {});
    title.textContent = (opts && opts.title ? opts.title + ": " : "") +
      (pts.length ? `max ${fmt(max)}, last ${fmt(pts[pts.length - 1][1])}` : "no data in the last hour");
    el.appendChild(title);
    return el;
  }

  /// A line chart with axes, grid, legend and a hover read-out. series: [{name, points, cls}].
  function lineChart(series, opts) {
    opts = opts || {};
    const W = opts.width || 640, H = opts.height || 200;
    const m = { l: 52, r: 12, t: 10, b: 24 };
    const to = opts.to || Date.now() / 1000, from = opts.from || to - 3600;
    const all = series.flatMap((s) => s.points);
    const max = all.reduce((a, p) => Math.max(a, p[1]), 0);
    const yt = ticks(max, 4);
    const top = yt[yt.length - 1] || 1;
    const x = (t) => m.l + ((t - from) / (to - from)) * (W - m.l - m.r);
    const y = (v) => H - m.b - (v / top) * (H - m.t - m.b);

    const wrap = document.createElement("div");
    wrap.className = "chart";
    if (opts.id) wrap.id = opts.id;
    wrap.dataset.points = String(all.length);
    wrap.dataset.max = String(max);
    wrap.dataset.nonzero = String(all.filter((p) => p[1] > 0).length);
    const legend = document.createElement("div");
    legend.className = "chart-legend";
    for (const s of series) {
      const item = document.createElement("span");
      const sw = document.createElement("i");
      sw.className = s.cls || "s0";
      item.appendChild(sw);
      const last = s.points.length ? s.points[s.points.length - 1][1] : null;
      item.appendChild(document.createTextNode(`${s.name} (now ${fmt(last, opts.units)})`));
      legend.appendChild(item);
    }
    wrap.appendChild(legend);

    const el = svg("svg", { viewBox: `0 0 ${W} ${H}` });
    for (const v of yt) {
      el.appendChild(svg("line", { class: "grid", x1: m.l, x2: W - m.r, y1: y(v), y2: y(v) }));
      const t = svg("text", { class: "tick", x: m.l - 6, y: y(v) + 3, "text-anchor": "end" });
      t.textContent = fmt(v);
      el.appendChild(t);
    }
    for (let i = 0; i <= 6; i++) {
      const t = from + ((to - from) * i) / 6;
      const tx = svg("text", { class: "tick", x: x(t), y: H - 8, "text-anchor": i === 0 ? "start" : i === 6 ? "end" : "middle" });
      tx.textContent = clock(t);
      el.appendChild(tx);
      el.appendChild(svg("line", { class: "axis", x1: x(t), x2: x(t), y1: H - m.b, y2: H - m.b + 4 }));
    }
    el.appendChild(svg("line", { class: "axis", x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b }));
    el.appendChild(svg("line", { class: "axis", x1: m.l, x2: m.l, y1: m.t, y2: H - m.b }));
    series.forEach((s, i) => {
      const cls = s.cls || "s" + i;
      const pts = s.points.filter((p) => p[0] >= from);
      if (!pts.length) return;
      const d = pts.map((p) => x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1)).join(" ");
      if (i === 0) {
        el.appendChild(svg("polygon", { class: "area " + cls,
          points: `${x(pts[0][0]).toFixed(1)},${H - m.b} ${d} ${x(pts[pts.length - 1][0]).toFixed(1)},${H - m.b}` }));
      }
      el.appendChild(svg("polyline", { class: "line " + cls, points: d }));
      if (pts.length === 1) el.appendChild(svg("circle", { class: "dot-point area " + cls, cx: x(pts[0][0]), cy: y(pts[0][1]), r: 3 }));
    });
    if (!all.length) {
      const t = svg("text", { class: "tick", x: W / 2, y: H / 2, "text-anchor": "middle" });
      t.textContent = "no samples in the last hour";
      el.appendChild(t);
    }
    const cross = svg("line", { class: "cross", y1: m.t, y2: H - m.b, x1: -10, x2: -10 });
    el.appendChild(cross);
    wrap.appendChild(el);

    const tip = document.createElement("div");
    tip.className = "chart-tip hidden";
    wrap.appendChild(tip);
    el.addEventListener("mousemove", (ev) => {
      const r = el.getBoundingClientRect();
      const px = ((ev.clientX - r.left) / r.width) * W;
      const t = from + ((px - m.l) / (W - m.l - m.r)) * (to - from);
      if (px < m.l || px > W - m.r || !all.length) { tip.classList.add("hidden"); return; }
      cross.setAttribute("x1", px); cross.setAttribute("x2", px);
      const lines = [clock(t)];
      for (const s of series) {
        let best = null;
        for (const p of s.points) if (!best || Math.abs(p[0] - t) < Math.abs(best[0] - t)) best = p;
        if (best) lines.push(`${s.name}: ${fmt(best[1], opts.units)}`);
      }
      tip.textContent = lines.join("  ·  ");
      tip.classList.remove("hidden");
      tip.style.left = Math.min(ev.clientX - r.left + 10, r.width - tip.offsetWidth - 4) + "px";
      tip.style.top = "22px";
    });
    el.addEventListener("mouseleave", () => { tip.classList.add("hidden"); cross.setAttribute("x1", -10); cross.setAttribute("x2", -10); });
    return wrap;
  }

  return { sparkline, lineChart, fmt, rebucket, clock };
})();
