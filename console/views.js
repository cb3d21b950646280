// The console's pages. Each view is `async (root, args, current)`: it fills `root`, and `current()` says
// whether the page is still the one shown (a slow response for a page left behind is dropped).
"use strict";

const Views = {};

const SPARK = {
  rps: ["l7_client.avg_complete_responses", "l7_client.avg_total_requests"],
  latency: ["l7_client.avg_resp_latency", "l7_client.avg_client_txn_latency"],
  errors: ["l7_client.avg_error_responses"],
};

// MARK: Metrics

/// Metric ids the controller answers for virtual services and SEs (learnt from its 400 for an unknown id;
/// null until known). Pools have their own ids (l4_server.*, l7_server.*): App.knownPoolMetrics.
App.knownMetrics = null;
App.knownPoolMetrics = null;

function knownFor(entity) { return entity === "pool" ? App.knownPoolMetrics : App.knownMetrics; }
function setKnown(entity, ids) { if (entity === "pool") App.knownPoolMetrics = ids; else App.knownMetrics = ids; }

async function learnMetrics(entity, uuid) {
  if (knownFor(entity)) return knownFor(entity);
  try {
    await api("GET", `/api/analytics/metrics/${entity}/${encodeURIComponent(uuid)}?metric_id=_&limit=1`);
  } catch (e) {
    const m = /known: (.*)$/.exec(e.message || "");
    if (m) setKnown(entity, m[1].split(/,\s*/).filter(Boolean));
  }
  return knownFor(entity);
}

/// The series `ids` of an entity as {id: [[t, v], ...]}; ids the controller does not know are skipped
/// (one retry after learning which it knows). `objId`: one object of the entity (a pool's server,
/// `ip:port`, `[ipv6]:port`).
async function fetchMetrics(entity, uuid, ids, step, limit, objId) {
  const known = knownFor(entity);
  let want = known ? ids.filter((i) => known.includes(i)) : ids.slice();
  if (!want.length) return {};
  const obj = objId ? "&obj_id=" + encodeURIComponent(objId) : "";
  const get = (list) => api("GET", `/api/analytics/metrics/${entity}/${encodeURIComponent(uuid)}?metric_id=${list.join(",")}&step=${step}&limit=${limit}${obj}`);
  let r;
  try {
    r = await get(want);
  } catch (e) {
    const m = e.status === 400 && /known: (.*)$/.exec(e.message || "");
    if (!m) throw e;
    setKnown(entity, m[1].split(/,\s*/).filter(Boolean));
    want = ids.filter((i) => knownFor(entity).includes(i));
    if (!want.length) return {};
    r = await get(want);
  }
  const out = {};
  for (const s of r.series || []) {
    out[s.header.name] = (s.data || []).map((p) => [Date.parse(p.timestamp) / 1000, Number(p.value) || 0]);
  }
  return out;
}

/// The first of `candidates` present in `metrics`.
function pick(metrics, candidates) {
  for (const c of candidates) if (metrics && metrics[c]) return metrics[c];
  return [];
}

// MARK: Inventory (dashboard data)

/// Virtual services with runtime, health and last-hour series: the inventory endpoint when the controller
/// has it, else the object list plus one runtime and one metrics request per service. `progress(items)`
/// is called once the rows can be drawn; the promise resolves when every row is complete.
async function loadVSInventory(onRows, onRow, current) {
  let inv = null;
  try {
    inv = await pagedInventory("virtualservice-inventory");
  } catch (e) {
    if (e.status !== 404) throw e;
  }
  if (inv) {
    const items = inv.map((r) => {
      const cfg = r.config || {};
      const hs = r.health_score || {};
      const st = (r.runtime && r.runtime.oper_status) || {};
      const m = r.metrics || {};
      return { uuid: r.uuid || cfg.uuid, name: cfg.name, config: cfg, vips: r.vip || [], state: st.state,
        reason: reasonText(st.reason), health: hs.health_score, healthReasons: hs.reasons || [],
        rps: pick(m, SPARK.rps), latency: pick(m, SPARK.latency), errors: pick(m, SPARK.errors), complete: true };
    });
    onRows(items, "inventory");
    return items;
  }
  const [vss, vips] = await Promise.all([listAll("virtualservice"), listAll("vsvip").catch(() => [])]);
  const vipByUUID = new Map(vips.map((v) => [v.uuid, v]));
  const items = vss.map((cfg) => {
    const vsvip = vipByUUID.get(refUUID(cfg.vsvip_ref));
    const addrs = vsvip ? vsvip.vip.flatMap((v) => [v.ip_address, v.ip6_address].filter(Boolean).map((a) => a.addr)) : [];
    return { uuid: cfg.uuid, name: cfg.name, config: cfg, vips: addrs, state: null, reason: "", health: null,
      healthReasons: [], rps: [], latency: [], errors: [], complete: false };
  });
  onRows(items, "fallback");
  if (items.length) await learnMetrics("virtualservice", items[0].uuid);
  await pool(items, 6, async (it) => {
    if (!current()) return;
    const [rt, m] = await Promise.all([
      api("GET", `/api/virtualservice/${encodeURIComponent(it.uuid)}/runtime`).catch((e) => ({ oper_status: { state: "UNKNOWN", reason: e.message } })),
      fetchMetrics("virtualservice", it.uuid, [...SPARK.rps, ...SPARK.latency, ...SPARK.errors], 5, 720).catch(() => ({})),
    ]);
    it.state = rt.oper_status && rt.oper_status.state;
    it.reason = reasonText(rt.oper_status && rt.oper_status.reason);
    it.rps = Charts.rebucket(pick(m, SPARK.rps), 60);
    it.latency = Charts.rebucket(pick(m, SPARK.latency), 60);
    it.errors = Charts.rebucket(pick(m, SPARK.errors), 60);
    Object.assign(it, localHealth(it, rt));
    it.complete = true;
    onRow(it);
  });
  return items;
}

async function pagedInventory(path) {
  let page = 1, out = [];
  for (;;) {
    const r = await api("GET", `/api/${path}?page_size=1000&page=${page}`);
    out = out.concat(r.results || []);
    if (!(r.results || []).length || out.length >= (r.count || 0) || !r.next) return out;
    page++;
  }
}

/// A health score for controllers without the inventory endpoint: state, SEs not serving it, error ratio.
function localHealth(it, rt) {
  if (it.state === "OPER_DISABLED") return { health: null, healthReasons: ["the virtual service is disabled"] };
  if (it.state !== "OPER_UP") return { health: 0, healthReasons: ["down: " + (it.reason || "unknown")] };
  let score = 100;
  const reasons = [];
  const placement = rt.placement || [];
  const notUp = placement.filter((p) => p.oper_state !== "OPER_UP");
  if (notUp.length) {
    score -= Math.round((30 * notUp.length) / placement.length);
    reasons.push(`${notUp.length} of ${placement.length} SE(s) do not serve it: ` + notUp.map((p) => `${p.se_name}: ${p.reason}`).join("; "));
  }
  const down = placement.reduce((n, p) => n + ((p.servers_total || 0) - (p.servers_up || 0)), 0);
  const total = placement.reduce((n, p) => n + (p.servers_total || 0), 0);
  if (total && down) {
    score -= Math.round((30 * down) / total);
    reasons.push(`${down} of ${total} server checks down`);
  }
  const resp = it.rps.reduce((a, p) => a + p[1], 0), err = it.errors.reduce((a, p) => a + p[1], 0);
  if (resp > 0 && err > 0) {
    const ratio = err / resp;
    score -= Math.min(40, Math.round(ratio * 100));
    reasons.push(`${(ratio * 100).toFixed(1)}% error responses in the last hour`);
  }
  if (!reasons.length) reasons.push("up on every SE it is placed on, no errors in the last hour");
  reasons.push("(score computed by the console: this controller has no health score API)");
  return { health: Math.max(0, score), healthReasons: reasons };
}

async function loadSEInventory() {
  try {
    const inv = await pagedInventory("serviceengine-inventory");
    return inv.map((r) => ({ uuid: r.uuid || r.config.uuid, config: r.config || {}, runtime: r.runtime || {} }));
  } catch (e) {
    if (e.status !== 404) throw e;
  }
  const ses = await listAll("serviceengine", { include_name: "true" });
  const out = ses.map((c) => ({ uuid: c.uuid, config: c, runtime: null }));
  await pool(out, 6, async (s) => {
    s.runtime = await api("GET", `/api/serviceengine/${encodeURIComponent(s.uuid)}/runtime`).catch((e) => ({ oper_status: { state: "UNKNOWN", reason: e.message } }));
  });
  return out;
}

// MARK: Dashboard

function healthButton(score, reasons, onclick) {
  const b = h("button", { type: "button", class: "health " + healthClass(score), title: (reasons || []).join("\n"),
    dataset: { score: score == null ? "" : String(score) }, onclick }, score == null ? "–" : String(Math.round(score)));
  return b;
}

function sparkCell(points, cls, units, title) {
  const last = points.length ? points[points.length - 1][1] : null;
  return h("div", { class: "spark-wrap" }, Charts.sparkline(points, { cls, title }),
    h("span", { class: "spark-val", text: Charts.fmt(last, units) }));
}

Views.dashboard = async (root, args, current) => {
  const writable = canWrite("virtualservice");
  let vsBody = h("tbody");
  const search = h("input", { type: "search", placeholder: "Filter by name, VIP or state", id: "vs-filter" });
  const counts = h("div", { class: "cards", id: "summary" });
  const source = h("span", { class: "muted small" });
  const seBox = h("div", { class: "card-body flush", id: "se-box" }, h("div", { class: "loading", text: "Loading service engines…" }));
  root.id = "dashboard";
  root.dataset.loaded = "false";
  append(root, [
    pageHead("Dashboard", null, writable ? h("a", { class: "btn primary", href: "#/new/virtualservice", id: "create-vs" }, "Create virtual service") : null,
      h("button", { class: "btn", type: "button", onclick: () => route() }, "Refresh")),
    counts,
    card("Virtual services", h("div", { class: "card-body flush table-scroll" },
      h("table", { class: "tbl", id: "vs-table" },
        h("thead", {}, h("tr", {}, ["Name", "VIP", "State", "Health", "Requests/s (1 h)", "Latency ms", "Errors/s", ""].map((c) => h("th", { text: c })))),
        vsBody)), source, search),
    card("Service engines", seBox),
  ]);
  let rows = new Map();
  let items = [];

  function row(it) {
    const expand = h("tr", { class: "expand hidden" }, h("td", { colspan: 8 },
      h("b", {}, "Health score reasons"), h("ul", { class: "reasons" }, it.healthReasons.map((r) => h("li", { text: r }))),
      it.reason ? h("div", { class: "small muted", text: "State: " + it.reason }) : null));
    const tr = h("tr", { class: "vs-row", dataset: { uuid: it.uuid, name: it.name, complete: String(!!it.complete) } },
      h("td", {}, h("a", { href: "#/vs/" + encodeURIComponent(it.uuid), class: "vs-name", text: it.name })),
      h("td", { class: "mono", text: it.vips.join(", ") }),
      h("td", {}, it.state ? stateBadge(it.state) : h("span", { class: "muted", text: "…" }),
        h("div", { class: "reason", title: it.reason, text: it.reason })),
      h("td", { class: "health-cell" }, it.complete ? healthButton(it.health, it.healthReasons, () => expand.classList.toggle("hidden")) : h("span", { class: "muted", text: "…" })),
      h("td", { class: "spark-cell rps" }, sparkCell(it.rps, "s0", "", "requests/s")),
      h("td", { class: "spark-cell latency" }, sparkCell(it.latency, "s1", "ms", "latency ms")),
      h("td", { class: "spark-cell errors" }, sparkCell(it.errors, "s3", "", "errors/s")),
      h("td", { class: "right nowrap" }, writable ? [
        h("a", { class: "btn small", href: "#/edit/virtualservice/" + encodeURIComponent(it.uuid), title: "Edit" }, "Edit"), " ",
        h("button", { class: "btn small danger", type: "button", onclick: async () => { if (await deleteObject("virtualservice", it.config)) route(); } }, "Delete")] : null));
    return [tr, expand];
  }

  function applyFilter() {
    const q = search.value.trim().toLowerCase();
    for (const it of items) {
      const [tr, ex] = rows.get(it.uuid) || [];
      if (!tr) continue;
      const show = !q || it.name.toLowerCase().includes(q) || it.vips.join(" ").includes(q) || String(it.state || "").toLowerCase().includes(q);
      tr.classList.toggle("hidden", !show);
      if (!show) ex.classList.add("hidden");
    }
  }
  search.addEventListener("input", applyFilter);

  function summary() {
    const up = items.filter((i) => i.state === "OPER_UP").length;
    const down = items.filter((i) => i.state && i.state !== "OPER_UP" && i.state !== "OPER_DISABLED").length;
    const scored = items.filter((i) => i.health != null);
    const avg = scored.length ? Math.round(scored.reduce((a, i) => a + i.health, 0) / scored.length) : null;
    const rps = items.reduce((a, i) => a + (i.rps.length ? i.rps[i.rps.length - 1][1] : 0), 0);
    clear(counts);
    const stat = (label, value, sub, id) => h("div", { class: "stat", id }, h("div", { class: "label", text: label }), h("div", { class: "value", text: value }), h("div", { class: "sub", text: sub || "" }));
    append(counts, [stat("Virtual services", String(items.length), `${up} up · ${down} down`, "stat-vs"),
      stat("Average health", avg == null ? "–" : String(avg), scored.length ? `over ${scored.length} services` : "", "stat-health"),
      stat("Requests/s now", Charts.fmt(rps), "all services", "stat-rps")]);
  }

  /// Loads everything; a refresh builds a new table body and swaps it in when complete (no flicker, and
  /// the rows shown stay whole).
  async function load(refreshing) {
    const body = refreshing ? h("tbody") : vsBody;
    const newRows = new Map();
    let newItems = [];
    let how = null;
    const sePromise = canRead("serviceengine") ? loadSEInventory().catch((e) => e) : Promise.resolve(null);
    await loadVSInventory((list, kind) => {
      if (!current()) return;
      how = kind;
      newItems = list.sort((a, b) => a.name.localeCompare(b.name));
      const frag = document.createDocumentFragment();
      for (const it of newItems) { const r = row(it); newRows.set(it.uuid, r); frag.appendChild(r[0]); frag.appendChild(r[1]); }
      body.appendChild(frag);
      if (!newItems.length) body.appendChild(h("tr", {}, h("td", { colspan: 8, class: "empty" }, "No virtual services in tenant " + App.tenant + ".")));
      if (!refreshing) { items = newItems; rows = newRows; summary(); }
    }, (it) => {
      if (!current()) return;
      const [oldTr, oldEx] = newRows.get(it.uuid);
      const [tr, ex] = row(it);
      tr.classList.toggle("hidden", oldTr.classList.contains("hidden"));
      body.replaceChild(tr, oldTr);
      body.replaceChild(ex, oldEx);
      newRows.set(it.uuid, [tr, ex]);
    }, current);
    const ses = await sePromise;
    if (!current()) return how;
    if (refreshing) { vsBody.replaceWith(body); vsBody = body; }
    items = newItems;
    rows = newRows;
    applyFilter();
    summary();
    source.textContent = `${items.length} services` + (how === "inventory" ? "" : " (per-service queries)") +
      " · updated " + new Date().toLocaleTimeString([], { hour12: false });
    clear(seBox);
    if (ses === null) seBox.appendChild(h("div", { class: "empty", text: "Your role cannot read service engines." }));
    else if (ses instanceof Error) seBox.appendChild(h("div", { class: "notice error", text: "Service engines: " + ses.message }));
    else seBox.appendChild(seTable(ses, items));
    return how;
  }

  const how = await load(false);
  if (!current()) return;
  root.dataset.rows = String(items.length);
  root.dataset.loadedAt = String(Math.round(performance.now()));
  root.dataset.loaded = "true";
  // The inventory is one request: every 15 s. Per-service queries are two per service: every minute.
  let busy = false;
  every(how === "inventory" ? 15000 : 60000, async () => {
    if (busy) return;
    busy = true;
    try { await load(true); } catch (e) { source.textContent = "refresh failed: " + e.message; } finally { busy = false; }
  });
};

function seTable(ses, vsItems) {
  const vipsOf = new Map((vsItems || []).map((v) => [v.uuid, v]));
  const rows = ses.sort((a, b) => (a.config.name || "").localeCompare(b.config.name || "")).map((s) => {
    const rt = s.runtime || {};
    const st = rt.oper_status || s.config.oper_status || {};
    const peers = rt.bgp_peers || [];
    const est = peers.filter((p) => p.state === "Established").length;
    const adv = (rt.virtual_services || []).filter((v) => v.advertised);
    const advText = adv.map((v) => { const it = vipsOf.get(v.uuid); return it && it.vips.length ? it.vips.join(", ") : v.name; });
    const placed = (rt.placed_virtual_services || []).length;
    return h("tr", { class: "se-row", dataset: { uuid: s.uuid, name: s.config.name } },
      h("td", {}, h("a", { href: "#/se/" + encodeURIComponent(s.uuid), text: s.config.name })),
      h("td", { class: "mono", text: (s.config.data_address && s.config.data_address.addr) || "" }),
      h("td", {}, stateBadge(st.state), rt.draining ? h("span", { class: "badge warn", text: "DRAINING" }) : null,
        h("div", { class: "reason", title: reasonText(st.reason), text: reasonText(st.reason) })),
      h("td", { class: "num", text: rt.connections == null ? "–" : String(rt.connections) }),
      h("td", { class: "num", text: String(placed) }),
      h("td", { title: peers.map((p) => `${p.peer_ip} ${p.state}${p.prefixes_advertised != null ? ", " + p.prefixes_advertised + " prefixes" : ""}`).join("\n") },
        peers.length ? [h("span", { class: "dot " + (est === peers.length ? "up" : est ? "warn" : "down") }), `${est}/${peers.length} established`] : h("span", { class: "muted", text: "none" })),
      h("td", { class: "mono small", title: advText.join("\n"), text: advText.length ? advText.slice(0, 4).join(", ") + (advText.length > 4 ? ` +${advText.length - 4}` : "") : "–" }),
      h("td", { class: "num muted", text: rt.last_heartbeat_age == null ? "–" : rt.last_heartbeat_age.toFixed(1) + " s" }));
  });
  return table(["Name", "Data address", "State", "#Connections", "#Virtual services", "BGP peers", "Advertised VIPs", "#Last heartbeat"], rows,
    { id: "se-table", empty: "No service engines have registered yet." });
}

// MARK: Virtual service detail

Views.vs = async (root, [uuid], current) => {
  const vs = await api("GET", `/api/virtualservice/${encodeURIComponent(uuid)}?include_name=true`);
  if (!current()) return;
  const writable = canWrite("virtualservice");
  const stateSlot = h("span");
  const runtimeBox = h("div", { class: "card-body" }, h("div", { class: "loading", text: "Loading runtime…" }));
  const chartBox = h("div", { class: "card-body charts", id: "vs-charts" }, h("div", { class: "loading", text: "Loading metrics…" }));
  const refreshed = h("span", { class: "muted small" });
  root.id = "vs-detail";
  root.dataset.loaded = "false";
  append(root, [
    pageHead(vs.name, [h("a", { href: "#/dashboard", text: "Dashboard" }), " / Virtual service "],
      stateSlot,
      writable ? h("button", { class: "btn", type: "button", id: "scale-out", onclick: () => scale("scaleout") }, "Scale out") : null,
      writable ? h("button", { class: "btn", type: "button", id: "scale-in", onclick: () => scale("scalein") }, "Scale in") : null,
      writable ? h("a", { class: "btn", href: "#/edit/virtualservice/" + encodeURIComponent(uuid), id: "edit-vs" }, "Edit") : null,
      writable ? h("button", { class: "btn danger", type: "button", id: "delete-vs", onclick: async () => { if (await deleteObject("virtualservice", vs)) location.hash = "#/dashboard"; } }, "Delete") : null),
    h("div", { class: "grid2" }, card("Configuration", h("div", { class: "card-body" }, await vsSummary(vs))), card("Placement and state", runtimeBox)),
    card("Last hour", chartBox, refreshed),
  ]);
  root.appendChild(requestLogs(uuid));

  async function scale(action) {
    try {
      await api("POST", `/api/virtualservice/${encodeURIComponent(uuid)}/${action}`, {});
      toast(action === "scaleout" ? "Scaled out" : "Scaled in");
      await refresh();
    } catch (e) { toast(`${action}: ${e.message}`, true); }
  }

  async function refresh() {
    const [rt, metrics] = await Promise.all([
      api("GET", `/api/virtualservice/${encodeURIComponent(uuid)}/runtime`).catch((e) => ({ error: e.message })),
      vsMetrics(uuid).catch((e) => ({ error: e.message })),
    ]);
    if (!current()) return;
    clear(stateSlot);
    if (rt.oper_status) stateSlot.appendChild(stateBadge(rt.oper_status.state));
    clear(runtimeBox).appendChild(rt.error ? h("div", { class: "notice error", text: rt.error }) : runtimeView(rt));
    clear(chartBox);
    if (metrics.error) chartBox.appendChild(h("div", { class: "notice error", text: "Metrics: " + metrics.error }));
    else for (const c of metrics.charts) chartBox.appendChild(h("div", {}, h("div", { class: "small", text: c.title }), c.el));
    refreshed.textContent = "updated " + new Date().toLocaleTimeString([], { hour12: false }) + " · every 10 s";
  }
  await refresh();
  if (!current()) return;
  root.dataset.loadedAt = String(Math.round(performance.now()));
  root.dataset.loaded = "true";
  every(10000, refresh);
};

async function vsSummary(vs) {
  const [vip, pool] = await Promise.all([
    vs.vsvip_ref ? api("GET", `/api/vsvip/${encodeURIComponent(refUUID(vs.vsvip_ref))}`).catch(() => null) : null,
    vs.pool_ref ? api("GET", `/api/pool/${encodeURIComponent(refUUID(vs.pool_ref))}`).catch(() => null) : null,
  ]);
  const dl = h("dl", { class: "kv" });
  const kv = (k, v) => { dl.appendChild(h("dt", { text: k })); dl.appendChild(h("dd", {}, v)); };
  kv("UUID", h("span", { class: "mono", text: vs.uuid }));
  kv("Enabled", vs.enabled === false ? "no" : "yes");
  kv("VIPs", vip ? h("span", { class: "mono", text: vip.vip.map((v) => [v.ip_address, v.ip6_address].filter(Boolean).map((a) => a.addr).join(", ")).join("; ") + ` (${vip.name})` }) : refName(vs.vsvip_ref));
  kv("Services", vs.services.map((s) => `${s.port}${s.port_range_end ? "-" + s.port_range_end : ""}${s.enable_ssl ? " TLS" : ""}${s.enable_http2 ? " h2" : ""}`).join(", "));
  kv("Pool", vs.pool_ref ? h("a", { href: "#/pool/" + encodeURIComponent(refUUID(vs.pool_ref)), id: "vs-pool-link", text: refName(vs.pool_ref) }) : "none");
  if (pool) kv("Servers", `${(pool.servers || []).filter((s) => s.enabled !== false).length} enabled of ${(pool.servers || []).length}`);
  kv("SE group", refName(vs.se_group_ref) || "Default-Group");
  kv("Application profile", refName(vs.application_profile_ref) || "System-HTTP");
  if ((vs.ssl_key_and_certificate_refs || []).length) kv("Certificates", vs.ssl_key_and_certificate_refs.map(refName).join(", "));
  kv("BGP (RHI)", vs.enable_rhi ? "advertised" : "off");
  kv("Scale-out", vs.scaleout_ecmp ? "ECMP" : "native");
  if (vs.description) kv("Description", vs.description);
  return dl;
}

function runtimeView(rt) {
  const st = rt.oper_status || {};
  const placement = rt.placement || [];
  const rows = placement.map((p) => h("tr", { class: "placement-row" },
    h("td", {}, h("a", { href: "#/se/" + encodeURIComponent(p.se_uuid), text: p.se_name })),
    h("td", {}, stateBadge(p.se_oper_state), h("div", { class: "reason", title: p.se_oper_reason, text: p.se_oper_reason })),
    h("td", {}, stateBadge(p.oper_state), h("div", { class: "reason", title: p.reason, text: p.reason })),
    h("td", { title: p.advertise_reason || "" }, p.advertised == null ? "–" : p.advertised ? stateBadge("UP", "ADVERTISED") : h("span", { class: "muted", text: "no" }),
      p.advertise_reason ? h("div", { class: "reason", text: p.advertise_reason }) : null),
    h("td", { class: "num", text: p.servers_total == null ? "–" : `${p.servers_up}/${p.servers_total}` }),
    h("td", { class: "reason", title: p.placement_reason, text: p.placement_reason })));
  const decisions = rt.decisions || [];
  return h("div", {},
    h("div", { class: "toolbar" }, stateBadge(st.state), h("span", { text: reasonText(st.reason) })),
    h("div", { class: "card-body flush" }, table(["SE", "SE state", "Service on SE", "BGP", "#Servers up", "Why placed"], rows, { id: "placement-table", empty: "Not placed on any SE." })),
    decisions.length ? h("details", {}, h("summary", { class: "small muted", text: `Placement decisions (${decisions.length})` }),
      h("ul", { class: "reasons small" }, decisions.map((d) => h("li", { text: `${d.kind} (${d.cause})${d.se_uuid ? " on " + d.se_uuid : ""}: ${d.reason}` })))) : null);
}

async function vsMetrics(uuid) {
  const known = await learnMetrics("virtualservice", uuid);
  const latencyIds = SPARK.latency.concat((known || []).filter((i) => /latency/.test(i) && /p50|p90|p95|p99|pct|percentile/i.test(i)));
  const ids = ["l7_client.avg_total_requests", "l7_client.avg_complete_responses", "l4_client.avg_bandwidth",
    "l4_client.avg_rx_bytes", "l4_client.avg_tx_bytes", "l7_client.avg_error_responses", "l7_client.avg_resp_4xx",
    "l7_client.avg_resp_5xx", ...latencyIds];
  const m = await fetchMetrics("virtualservice", uuid, ids, 5, 720);
  const to = Date.now() / 1000, from = to - 3600;
  const s = (name, id, cls) => (m[id] ? { name, points: m[id], cls } : null);
  const latency = [s("average", SPARK.latency.find((i) => m[i]), "s1")];
  for (const id of latencyIds.slice(SPARK.latency.length)) {
    const n = /(\d+)$/.exec(id);
    if (m[id]) latency.push(s(n ? "p" + n[1] : id.replace(/^.*\./, ""), id, ["s0", "s2", "s3"][(latency.length - 1) % 3]));
  }
  const defs = [
    ["chart-rps", "Requests per second", [s("requests/s", "l7_client.avg_total_requests", "s0"), s("responses/s", "l7_client.avg_complete_responses", "s1")], ""],
    ["chart-bandwidth", "Bandwidth (bits/s)", [s("bandwidth", "l4_client.avg_bandwidth", "s0"), s("from clients B/s", "l4_client.avg_rx_bytes", "s1"), s("to clients B/s", "l4_client.avg_tx_bytes", "s2")], ""],
    ["chart-latency", "Latency (ms)", latency, "ms"],
    ["chart-errors", "Errors per second", [s("4xx+5xx", "l7_client.avg_error_responses", "s3"), s("4xx", "l7_client.avg_resp_4xx", "s2"), s("5xx", "l7_client.avg_resp_5xx", "s1")], ""],
  ];
  return { charts: defs.map(([id, title, series, units]) => ({ title, el: Charts.lineChart(series.filter(Boolean), { id, units, from, to }) })) };
}

/// The request-log card: filters, table, pages. Shows why when the controller has no request logs.
function requestLogs(uuid) {
  const status = h("input", { type: "text", placeholder: "e.g. 404", id: "log-status", size: 6 });
  const statusOp = h("select", { id: "log-status-op" }, h("option", { value: "eq", text: "status =" }), h("option", { value: "ge", text: "status ≥" }));
  const client = h("input", { type: "text", placeholder: "client IP", id: "log-client", size: 14 });
  const uri = h("input", { type: "text", placeholder: "URI contains", id: "log-uri", size: 16 });
  const latency = h("input", { type: "number", placeholder: "latency ≥ ms", id: "log-latency", min: 0 });
  const msg = h("div", { id: "request-logs-status", class: "muted small" });
  const body = h("div", { class: "card-body flush" });
  const pager = h("div", { class: "pager" });
  let page = 1;
  const pageSize = 50;

  async function load() {
    const q = new URLSearchParams({ type: "1", virtualservice: uuid, page_size: String(pageSize), page: String(page) });
    if (status.value.trim()) q.append("filter", `${statusOp.value}(response_code,${status.value.trim()})`);
    if (client.value.trim()) q.append("filter", `eq(client_ip,${client.value.trim()})`);
    if (uri.value.trim()) q.append("filter", `co(uri_path,${uri.value.trim()})`);
    if (latency.value !== "") q.append("filter", `ge(total_time,${latency.value})`);
    msg.textContent = "Loading…";
    let r;
    try {
      r = await api("GET", "/api/analytics/logs?" + q);
    } catch (e) {
      clear(body).appendChild(h("div", { class: "notice", id: "request-logs-unavailable",
        text: `Request logs are not available from this controller (HTTP ${e.status}: ${e.message}).` }));
      msg.textContent = "";
      clear(pager);
      return;
    }
    const results = r.results || [];
    const rows = results.map((l) => h("tr", { class: "log-row" + (l.significant ? " significant" : "") },
      h("td", { class: "nowrap small", text: fmtTime(l.report_timestamp) }),
      h("td", { class: "mono", text: `${l.client_ip}${l.client_src_port ? ":" + l.client_src_port : ""}` }),
      h("td", { text: l.method || "" }),
      h("td", { class: "mono", title: (l.uri_path || "") + (l.uri_query ? "?" + l.uri_query : ""), text: (l.uri_path || "") + (l.uri_query ? "?" + l.uri_query : "") }),
      h("td", {}, h("span", { class: "badge " + (l.response_code >= 500 ? "down" : l.response_code >= 400 ? "warn" : "up"), text: String(l.response_code) })),
      h("td", { class: "num", text: l.total_time == null ? "" : String(l.total_time) }),
      h("td", { class: "mono small", text: l.server_name || l.server_ip || "" }),
      h("td", { class: "small", text: l.service_engine || "" }),
      h("td", { class: "num small", text: `${l.request_length || 0} / ${l.response_length || 0}` }),
      h("td", { class: "small muted", text: l.significant ? l.significance || "significant" : "" })));
    clear(body).appendChild(table(["Time", "Client", "Method", "URI", "Status", "#Total ms", "Server", "SE", "#Bytes in/out", "Significance"], rows,
      { id: "request-log-table", empty: "No requests match these filters." }));
    const count = r.count || 0;
    msg.textContent = `${count} request${count === 1 ? "" : "s"}`;
    clear(pager);
    const pages = Math.max(1, Math.ceil(count / pageSize));
    append(pager, [h("button", { class: "btn small", type: "button", disabled: page <= 1, onclick: () => { page--; load(); } }, "‹ Newer"),
      h("span", { class: "muted small", text: `page ${page} of ${pages}` }),
      h("button", { class: "btn small", type: "button", disabled: page >= pages, onclick: () => { page++; load(); } }, "Older ›")]);
  }

  const form = h("form", { class: "toolbar", id: "log-filters", onsubmit: (e) => { e.preventDefault(); page = 1; load(); } },
    statusOp, status, client, uri, latency, h("button", { class: "btn primary small", type: "submit" }, "Apply"),
    h("button", { class: "btn small", type: "button", onclick: () => { status.value = client.value = uri.value = latency.value = ""; page = 1; load(); } }, "Clear"), msg);
  load();
  return h("div", { class: "card", id: "request-logs" },
    h("div", { class: "card-head" }, h("h2", { text: "Request logs" }), form), body, pager);
}

// MARK: Pools

Views.pools = async (root, args, current) => {
  const writable = canWrite("pool");
  const [pools, vss, hms] = await Promise.all([listAll("pool", { include_name: "true" }),
    canRead("virtualservice") ? listAll("virtualservice", { include_name: "true" }).catch(() => []) : [],
    canRead("healthmonitor") ? listAll("healthmonitor").catch(() => []) : []]);
  if (!current()) return;
  const hmName = new Map(hms.map((m) => [m.uuid, m.name]));
  const rows = pools.sort((a, b) => a.name.localeCompare(b.name)).map((p) => {
    const servers = p.servers || [];
    const users = vss.filter((v) => refUUID(v.pool_ref) === p.uuid);
    return h("tr", { class: "pool-row", dataset: { uuid: p.uuid, name: p.name } },
      h("td", {}, h("a", { href: "#/pool/" + encodeURIComponent(p.uuid), text: p.name })),
      h("td", { class: "num", text: `${servers.filter((s) => s.enabled !== false).length} / ${servers.length}` }),
      h("td", { class: "mono small", title: servers.map((s) => `${s.ip.addr}:${s.port || p.default_server_port || 80}`).join("\n"),
        text: servers.slice(0, 3).map((s) => `${s.ip.addr}:${s.port || p.default_server_port || 80}`).join(", ") + (servers.length > 3 ? ` +${servers.length - 3}` : "") }),
      h("td", { text: (p.lb_algorithm || "LB_ALGORITHM_LEAST_CONNECTIONS").replace("LB_ALGORITHM_", "").replace(/_/g, " ").toLowerCase() }),
      h("td", { text: (p.health_monitor_refs || []).map((r) => hmName.get(refUUID(r)) || refName(r)).join(", ") || "–" }),
      h("td", {}, users.length ? users.map((v, i) => [i ? ", " : "", h("a", { href: "#/vs/" + encodeURIComponent(v.uuid), text: v.name })]) : h("span", { class: "muted", text: "unused" })),
      h("td", {}, p.enabled === false ? stateBadge("DISABLED") : stateBadge("UP", "ENABLED")),
      rowActions("pool", p, writable));
  });
  append(root, [pageHead("Pools", null, writable ? h("a", { class: "btn primary", href: "#/new/pool", id: "create-pool" }, "Create pool") : null),
    card(`${pools.length} pools`, h("div", { class: "card-body flush" }, table(["Name", "#Servers enabled", "Servers", "Algorithm", "Health monitors", "Used by", "State", ""], rows, { id: "pool-table", empty: "No pools." })))]);
  root.dataset.loaded = "true";
};

function rowActions(kind, obj, writable, noEdit) {
  if (!writable) return h("td");
  return h("td", { class: "right nowrap" },
    noEdit ? null : h("a", { class: "btn small", href: `#/edit/${kind}/${encodeURIComponent(obj.uuid)}` }, "Edit"), " ",
    h("button", { class: "btn small danger", type: "button", onclick: async () => { if (await deleteObject(kind, obj)) route(); } }, "Delete"));
}

/// Pool metric ids: per server and for the whole pool.
const POOL_METRICS = {
  responses: "l7_server.avg_complete_responses", errors: "l7_server.avg_error_responses",
  latency: "l7_server.avg_resp_latency", conns: "l4_server.avg_new_established_conns",
  connErrors: "l4_server.avg_connection_errors",
};

/// How the controller names a pool server in obj_id: `ip:port`, `[ipv6]:port`.
function serverObjId(addr, port) {
  return (String(addr).includes(":") ? `[${addr}]` : addr) + ":" + port;
}

/// A server's figures from its 5-second samples of the last minutes: the mean rates over the samples the
/// controller has (an SE reporting the server sends one every 5 s, zero when idle), and the latency averaged
/// over its responses. null when the controller has no sample of it.
function serverFigures(m) {
  const series = (id) => m[id] || [];
  if (!Object.values(m).some((pts) => pts.length)) return null;
  const rate = (id) => (m[id] && m[id].length ? series(id).reduce((a, p) => a + p[1], 0) / m[id].length : null);
  const resp = new Map(series(POOL_METRICS.responses).map((p) => [p[0], p[1]]));
  let wsum = 0, wn = 0;
  for (const [t, v] of series(POOL_METRICS.latency)) {
    const n = resp.get(t) || 0;
    if (n > 0) { wsum += v * n; wn += n; }
  }
  return { responses: rate(POOL_METRICS.responses), errors: rate(POOL_METRICS.errors),
    latency: wn > 0 ? wsum / wn : null, connErrors: rate(POOL_METRICS.connErrors) };
}

/// Server health: the pool's runtime when the controller has one, else what the SEs running the pool's
/// virtual services report, else nothing (configuration only). {health: Map("ip:port" → [{se, up, reason}]), source}.
async function poolHealth(uuid, ctx) {
  const health = new Map();
  let source = "configuration only (no SE reports this pool's servers)";
  if (ctx.runtime !== false) {
    const rt = await api("GET", `/api/pool/${encodeURIComponent(uuid)}/runtime`).catch((e) => { if (e.status === 404) ctx.runtime = false; return null; });
    if (rt && Array.isArray(rt.servers)) {
      for (const s of rt.servers) health.set(`${s.ip.addr || s.ip}:${s.port}`, [{ se: "", up: s.up, reason: s.reason || "" }]);
      return { health, source: "pool runtime" };
    }
  }
  if (!canRead("virtualservice")) return { health, source };
  if (!ctx.vss) ctx.vss = (await listAll("virtualservice").catch(() => [])).filter((v) => refUUID(v.pool_ref) === uuid);
  const runtimes = await Promise.all(ctx.vss.map((v) => api("GET", `/api/virtualservice/${encodeURIComponent(v.uuid)}/runtime`).catch(() => null)));
  for (const r of runtimes) {
    for (const pl of (r && r.placement) || []) {
      for (const s of pl.servers || []) {
        const k = `${s.ip.addr}:${s.port}`;
        if (!health.has(k)) health.set(k, []);
        health.get(k).push({ se: pl.se_name, up: s.up, reason: s.reason });
      }
    }
  }
  if (health.size) source = "health checks reported by the SEs";
  return { health, source };
}

Views.pool = async (root, [uuid], current) => {
  const p = await api("GET", `/api/pool/${encodeURIComponent(uuid)}?include_name=true`);
  if (!current()) return;
  const writable = canWrite("pool");
  const servers = (p.servers || []).map((s, i) => {
    const port = s.port || p.default_server_port || 80;
    return { cfg: s, index: i, port, key: `${s.ip.addr}:${port}`, objId: serverObjId(s.ip.addr, port) };
  });
  const figure = (cls, label) => h("td", { class: "num " + cls, title: label, dataset: { label }, text: "…" });
  const rows = servers.map((s) => {
    s.health = h("td", {}, h("span", { class: "muted", text: "…" }));
    s.detail = h("td", { class: "reason" });
    s.cells = { responses: figure("srv-rps", "responses/s"), errors: figure("srv-5xx", "5xx responses/s"),
      latency: figure("srv-latency", "mean latency, ms"), connErrors: figure("srv-conn-errors", "failed connection attempts/s") };
    s.row = h("tr", { class: "server-row", dataset: { index: String(s.index), server: s.objId } },
      h("td", { class: "mono", text: s.cfg.ip.addr }), h("td", { class: "num", text: String(s.port) }),
      h("td", { class: "num", text: String(s.cfg.ratio || 1) }),
      h("td", {}, s.cfg.enabled === false ? stateBadge("DISABLED") : stateBadge("UP", "ENABLED")),
      s.health, s.detail, s.cells.responses, s.cells.errors, s.cells.latency, s.cells.connErrors);
    return s.row;
  });
  const dl = h("dl", { class: "kv" });
  const kv = (k, v) => { dl.appendChild(h("dt", { text: k })); dl.appendChild(h("dd", {}, v)); };
  kv("UUID", h("span", { class: "mono", text: p.uuid }));
  kv("Enabled", p.enabled === false ? "no" : "yes");
  kv("Algorithm", p.lb_algorithm || "LB_ALGORITHM_LEAST_CONNECTIONS");
  kv("Default server port", String(p.default_server_port || 80));
  kv("Health monitors", (p.health_monitor_refs || []).map(refName).join(", ") || "none");
  if (p.ssl_profile_ref) kv("Re-encrypt SSL profile", refName(p.ssl_profile_ref));
  if (p.description) kv("Description", p.description);
  const chartBox = h("div", { class: "card-body charts", id: "pool-charts" }, h("div", { class: "loading", text: "Loading metrics…" }));
  const refreshed = h("span", { class: "muted small" });
  const serverNote = h("span", { class: "muted small", id: "server-figures-note" });
  const serverTable = table(["IP", "#Port", "#Ratio", "Admin state", "Health", "Detail", "#Resp/s", "#5xx/s", "#Latency ms", "#Conn err/s"], rows,
    { id: "server-table", empty: "No servers." });
  const heads = serverTable.querySelectorAll("th");
  for (let i = 6; i < heads.length; i++) heads[i].title = "mean over the last 5 minutes (per-server metrics)";
  const serverError = h("div", { class: "card-foot muted small hidden", id: "server-figures-error" });
  root.dataset.loaded = "false";
  append(root, [pageHead(p.name, [h("a", { href: "#/pools", text: "Pools" }), " / Pool "],
    writable ? h("a", { class: "btn", href: "#/edit/pool/" + encodeURIComponent(uuid), id: "edit-pool" }, "Edit") : null,
    writable ? h("button", { class: "btn danger", type: "button", onclick: async () => { if (await deleteObject("pool", p)) location.hash = "#/pools"; } }, "Delete") : null),
    card("Configuration", h("div", { class: "card-body" }, dl)),
    card("Last hour", chartBox, refreshed),
    card("Servers", h("div", {}, h("div", { class: "card-body flush table-scroll" }, serverTable), serverError), serverNote)]);

  /// The whole pool's last hour: responses/s with 5xx/s, and the mean latency.
  async function charts() {
    let m;
    try {
      m = await fetchMetrics("pool", uuid, [POOL_METRICS.responses, POOL_METRICS.errors, POOL_METRICS.latency], 5, 720);
    } catch (e) {
      m = { error: e };
    }
    if (!current()) return;
    clear(chartBox);
    if (m.error || !Object.keys(m).length) {
      chartBox.appendChild(h("div", { class: "empty", id: "pool-metrics-unavailable",
        text: m.error ? `Pool metrics are not available (${m.error.status ? "HTTP " + m.error.status + ": " : ""}${m.error.message}).`
          : "This controller reports no pool metrics." }));
      return;
    }
    const to = Date.now() / 1000, from = to - 3600;
    const s = (name, id, cls) => (m[id] ? { name, points: m[id], cls } : null);
    const defs = [
      ["chart-pool-rps", "Server responses per second", [s("responses/s", POOL_METRICS.responses, "s0"), s("5xx/s", POOL_METRICS.errors, "s3")], ""],
      ["chart-pool-latency", "Server latency (ms)", [s("mean latency", POOL_METRICS.latency, "s1")], "ms"],
    ];
    for (const [id, title, series, units] of defs) {
      chartBox.appendChild(h("div", {}, h("div", { class: "small", text: title }),
        Charts.lineChart(series.filter(Boolean), { id, units, from, to })));
    }
  }

  /// Every server's last 5 minutes (one request per server, a few at a time).
  async function figures() {
    const failed = [];
    const ids = [POOL_METRICS.responses, POOL_METRICS.errors, POOL_METRICS.latency, POOL_METRICS.connErrors];
    const results = new Map();
    await pool(servers, 4, async (s) => {
      if (!current()) return;
      try {
        results.set(s, serverFigures(await fetchMetrics("pool", uuid, ids, 5, 60, s.objId)));
      } catch (e) {
        results.set(s, { error: e });
        failed.push(`${s.objId}: ${e.message}`);
      }
    });
    if (!current()) return;
    for (const s of servers) {
      const f = results.get(s);
      for (const k in s.cells) {
        const td = s.cells[k];
        const v = f && !f.error ? f[k] : null;
        td.textContent = v == null ? "–" : Charts.fmt(v);
        td.dataset.value = v == null ? "" : String(v);
        td.classList.toggle("muted", v == null);
        td.title = td.dataset.label + (f && f.error ? ": " + f.error.message : f == null ? ": no samples in the last 5 minutes" : "");
        td.classList.toggle("bad", v != null && v > 0 && (k === "errors" || k === "connErrors"));
      }
      s.row.dataset.figures = f == null ? "none" : f.error ? "error" : "ok";
    }
    serverError.textContent = failed.length ? `Per-server figures are not available for ${failed.length} of ${servers.length} server(s): ${failed[0]}` +
      (failed.length > 1 ? ` (and ${failed.length - 1} more)` : "") : "";
    serverError.classList.toggle("hidden", !failed.length);
  }

  const healthCtx = {};
  async function health() {
    const { health: hm, source } = await poolHealth(uuid, healthCtx).catch((e) => ({ health: new Map(), source: "unavailable: " + e.message }));
    if (!current()) return;
    for (const s of servers) {
      const hs = hm.get(s.key) || [];
      const up = hs.filter((x) => x.up).length;
      clear(s.health).appendChild(hs.length ? stateBadge(up === hs.length ? "UP" : up ? "WARN" : "DOWN", up === hs.length ? "UP" : up ? `UP ON ${up}/${hs.length}` : "DOWN")
        : h("span", { class: "muted", text: "–" }));
      s.detail.title = hs.map((x) => `${x.se}: ${x.up ? "up" : "down"} ${x.reason}`).join("\n");
      s.detail.textContent = hs.map((x) => `${x.se ? x.se + ": " : ""}${x.reason}`).join("; ");
    }
    serverNote.dataset.source = source;
  }

  // Per-server queries are one request per server: every 10 s for small pools, else every minute.
  const serverEvery = servers.length <= 12 ? 1 : 6;
  let tick = 0, busy = false;
  async function refresh() {
    const withServers = tick++ % serverEvery === 0;
    await Promise.all([charts(), health(), withServers ? figures() : null]);
    if (!current()) return;
    const t = new Date().toLocaleTimeString([], { hour12: false });
    refreshed.textContent = "updated " + t + " · every 10 s";
    serverNote.textContent = "figures: mean of the last 5 min" + (serverEvery > 1 ? " (every minute)" : "") + " · health from " + serverNote.dataset.source;
  }
  await refresh();
  if (!current()) return;
  root.dataset.loadedAt = String(Math.round(performance.now()));
  root.dataset.loaded = "true";
  every(10000, async () => {
    if (busy) return;
    busy = true;
    try { await refresh(); } catch (e) { refreshed.textContent = "refresh failed: " + e.message; } finally { busy = false; }
  });
};

// MARK: Simple object lists

/// A list page: title, kind, columns [[header, obj => content]].
async function objectList(root, current, kind, title, cols, opts) {
  opts = opts || {};
  const writable = canWrite(kind) && !opts.readOnly;
  const objs = await listAll(kind, { include_name: "true" });
  if (!current()) return;
  const rows = objs.sort((a, b) => a.name.localeCompare(b.name)).map((o) =>
    h("tr", { class: "obj-row", dataset: { uuid: o.uuid, name: o.name } }, cols.map(([hd, f]) => {
      const v = f(o);
      return h("td", { class: hd.startsWith("#") ? "num" : "" }, v instanceof Node || Array.isArray(v) ? v : String(v == null ? "" : v));
    }), rowActions(kind, o, writable && !(opts.locked && opts.locked(o)), opts.noEdit)));
  append(root, [pageHead(title, null, writable && !opts.noCreate ? h("a", { class: "btn primary", href: "#/new/" + kind, id: "create-" + kind }, "Create " + KINDS[kind].label.toLowerCase()) : null),
    card(`${objs.length} ${title.toLowerCase()}`, h("div", { class: "card-body flush" }, table(cols.map((c) => c[0]).concat([""]), rows, { id: kind + "-table", empty: "None." })))]);
  root.dataset.loaded = "true";
  return objs;
}

const nameLink = (kind) => (o) => canWrite(kind) ? h("a", { href: `#/edit/${kind}/${encodeURIComponent(o.uuid)}`, text: o.name }) : o.name;

Views.healthmonitors = (root, a, current) => objectList(root, current, "healthmonitor", "Health Monitors", [
  ["Name", nameLink("healthmonitor")], ["Type", (o) => o.type.replace("HEALTH_MONITOR_", "")],
  ["#Interval s", (o) => o.send_interval || 10], ["#Timeout s", (o) => o.receive_timeout || 4],
  ["#Up / down after", (o) => `${o.successful_checks || 2} / ${o.failed_checks || 2}`],
  ["Request", (o) => { const m = o.http_monitor || o.https_monitor; return m ? (m.http_request || "HEAD / HTTP/1.0") + " → " + (m.http_response_code || ["HTTP_ANY"]).join(",") : ""; }],
  ["Tenant", (o) => refName(o.tenant_ref)]], { locked: (o) => /^System-/.test(o.name) });

Views.vsvips = (root, a, current) => objectList(root, current, "vsvip", "VS VIPs", [
  ["Name", nameLink("vsvip")],
  ["Addresses", (o) => h("span", { class: "mono", text: o.vip.map((v) => [v.ip_address, v.ip6_address].filter(Boolean).map((x) => x.addr).join(", ")).join("; ") })],
  ["BGP peer labels", (o) => (o.bgp_peer_labels || []).join(", ") || "all peers"]]);

Views.certificates = (root, a, current) => objectList(root, current, "sslkeyandcertificate", "Certificates", [
  ["Name", nameLink("sslkeyandcertificate")],
  ["Subject", (o) => (o.certificate.subject && (o.certificate.subject.common_name || o.certificate.subject.distinguished_name)) || ""],
  ["Issuer", (o) => (o.certificate.issuer && (o.certificate.issuer.common_name || o.certificate.issuer.distinguished_name)) || ""],
  ["Expires", (o) => o.certificate.not_after || ""],
  ["Status", (o) => o.certificate.expiry_status ? stateBadge(o.certificate.expiry_status === "SSL_CERTIFICATE_GOOD" ? "UP" : o.certificate.expiry_status === "SSL_CERTIFICATE_EXPIRED" ? "DOWN" : "WARN", o.certificate.expiry_status.replace("SSL_CERTIFICATE_", "")) : ""],
  ["Key", (o) => o.key_params ? (o.key_params.algorithm || "").replace("SSL_KEY_ALGORITHM_", "") + " " + ((o.key_params.rsa_params && o.key_params.rsa_params.key_size) || (o.key_params.ec_params && o.key_params.ec_params.curve) || "").replace(/SSL_KEY_|_BITS|_CURVE/g, "") : ""],
  ["Self-signed", (o) => o.certificate.self_signed ? "yes" : "no"]], { locked: (o) => /^System-/.test(o.name) });

Views.segroups = (root, a, current) => objectList(root, current, "serviceenginegroup", "SE Groups", [
  ["Name", nameLink("serviceenginegroup")], ["HA mode", (o) => (o.ha_mode || "HA_MODE_SHARED").replace("HA_MODE_", "")],
  ["Placement", (o) => (o.algo || "PLACEMENT_ALGO_PACKED").replace("PLACEMENT_ALGO_", "")],
  ["#Scale-out", (o) => `${o.min_scaleout_per_vs || 1}–${o.max_scaleout_per_vs || 4}`], ["#Max SEs", (o) => o.max_se == null ? 10 : o.max_se],
  ["#VS per SE", (o) => o.max_vs_per_se || 10], ["#Buffer SEs", (o) => o.buffer_se == null ? 1 : o.buffer_se]]);

Views.tenants = (root, a, current) => objectList(root, current, "tenant", "Tenants", [
  ["Name", nameLink("tenant")], ["Description", (o) => o.description || ""], ["Local SEs", (o) => (o.local ? "yes" : "no")]],
  { locked: (o) => o.name === "admin" });

Views.users = (root, a, current) => objectList(root, current, "user", "Users", [
  ["Name", nameLink("user")], ["Username", (o) => o.username || o.name], ["Full name", (o) => o.full_name || ""],
  ["Access", (o) => (o.access || []).map((x) => `${refName(x.role_ref)} @ ${x.all_tenants ? "all tenants" : refName(x.tenant_ref)}`).join("; ") || "none"],
  ["Superuser", (o) => (o.is_superuser ? "yes" : "")]]);

Views.roles = async (root, a, current) => {
  const predefined = ["System-Admin", "Tenant-Admin", "Application-Admin", "Application-Operator", "Security-Admin"];
  const roles = await objectList(root, current, "role", "Roles", [
    ["Name", (o) => predefined.includes(o.name) ? o.name : nameLink("role")(o)],
    ["Kind", (o) => (predefined.includes(o.name) ? "predefined" : "custom")],
    ["#Write", (o) => (o.privileges || []).filter((p) => p.type === "WRITE_ACCESS").length],
    ["#Read", (o) => (o.privileges || []).filter((p) => p.type === "READ_ACCESS").length]],
    { locked: (o) => predefined.includes(o.name) });
  if (!roles || !current()) return;
  const resources = [...new Set(roles.flatMap((r) => (r.privileges || []).map((p) => p.resource)))].sort();
  const short = { WRITE_ACCESS: "write", READ_ACCESS: "read", NO_ACCESS: "–" };
  const rows = resources.map((res) => h("tr", {}, h("td", { class: "mono small", text: res.replace("PERMISSION_", "") }),
    roles.map((r) => { const p = (r.privileges || []).find((x) => x.resource === res); const t = p ? p.type : "NO_ACCESS";
      return h("td", {}, h("span", { class: "badge " + (t === "WRITE_ACCESS" ? "up" : t === "READ_ACCESS" ? "warn" : ""), text: short[t] })); })));
  root.appendChild(card("Privileges", h("div", { class: "card-body flush table-scroll" }, table(["Resource"].concat(roles.map((r) => r.name)), rows, { id: "privilege-table" }))));
};

// MARK: Service engines

Views.serviceengines = async (root, args, current) => {
  const ses = await loadSEInventory();
  if (!current()) return;
  const vs = canRead("virtualservice") ? await listAll("virtualservice").catch(() => []) : [];
  const vips = canRead("vsvip") ? await listAll("vsvip").catch(() => []) : [];
  const vipBy = new Map(vips.map((v) => [v.uuid, v.vip.flatMap((x) => [x.ip_address, x.ip6_address].filter(Boolean).map((a) => a.addr))]));
  const items = vs.map((v) => ({ uuid: v.uuid, name: v.name, vips: vipBy.get(refUUID(v.vsvip_ref)) || [] }));
  append(root, [pageHead("Service Engines", null, canWrite("serviceengine") ? h("button", { class: "btn", type: "button", id: "join-token", onclick: token }, "Generate join token") : null),
    card(`${ses.length} service engines`, h("div", { class: "card-body flush" }, seTable(ses, items)))]);
  root.dataset.loaded = "true";
  async function token() {
    try {
      const r = await api("GET", "/api/securetoken-generate");
      root.insertBefore(h("div", { class: "notice" }, "Join token (valid 24 h, registers one SE once; it carries the cluster CA's SHA-256, so the SE needs nothing else to trust the controllers): ", h("span", { class: "mono", text: r.auth_token })), root.children[1]);
    } catch (e) { toast(e.message, true); }
  }
};

Views.se = async (root, [uuid], current) => {
  const se = await api("GET", `/api/serviceengine/${encodeURIComponent(uuid)}?include_name=true`);
  if (!current()) return;
  const writable = canWrite("serviceengine");
  const rtBox = h("div");
  const chartBox = h("div", { class: "card-body charts" });
  append(root, [pageHead(se.name, [h("a", { href: "#/serviceengines", text: "Service engines" }), " / SE "],
    writable ? h("a", { class: "btn", href: "#/edit/serviceengine/" + encodeURIComponent(uuid) }, "Edit") : null,
    writable ? h("button", { class: "btn danger", type: "button", onclick: async () => { if (await deleteObject("serviceengine", se)) location.hash = "#/serviceengines"; } }, "Delete") : null),
    rtBox, card("Last hour", chartBox)]);
  async function refresh() {
    const rt = await api("GET", `/api/serviceengine/${encodeURIComponent(uuid)}/runtime`).catch((e) => ({ error: e.message }));
    const m = await fetchMetrics("serviceengine", uuid, ["l7_client.avg_total_requests", "l4_client.avg_bandwidth", "l4_client.avg_new_established_conns"], 5, 720).catch(() => ({}));
    if (!current()) return;
    const st = rt.oper_status || {};
    const dl = h("dl", { class: "kv" });
    const kv = (k, v) => { dl.appendChild(h("dt", { text: k })); dl.appendChild(h("dd", {}, v)); };
    kv("State", [stateBadge(st.state), " ", reasonText(st.reason)]);
    kv("Data address", (se.data_address && se.data_address.addr) || "");
    kv("SE group", refName(se.se_group_ref) || "Default-Group");
    kv("Connected", se.se_connected ? "yes" : "no");
    kv("Threads", String(se.threads || ""));
    kv("Management URL", se.mgmt_url || "");
    kv("Config version", `desired ${rt.desired_version == null ? "–" : rt.desired_version}, applied ${rt.applied_version == null ? "–" : rt.applied_version}`);
    kv("Last heartbeat", rt.last_heartbeat_age == null ? "never" : rt.last_heartbeat_age.toFixed(1) + " s ago");
    kv("Connections", String(rt.connections == null ? "–" : rt.connections));
    if (rt.draining) kv("Draining", "yes");
    if (rt.scaleout) kv("Scale-out", `position ${rt.scaleout.position}, epoch ${rt.scaleout.epoch}: ` + rt.scaleout.members.map((x) => `${x.position}=${x.se_name} (${x.data_address})`).join(", "));
    const vsRows = (rt.virtual_services || []).map((v) => h("tr", {},
      h("td", {}, h("a", { href: "#/vs/" + encodeURIComponent(v.uuid), text: v.name })),
      h("td", {}, stateBadge(v.oper_state), h("div", { class: "reason", text: v.reason })),
      h("td", {}, v.advertised ? stateBadge("UP", "ADVERTISED") : h("span", { class: "muted", text: "no" }), h("div", { class: "reason", text: v.advertise_reason })),
      h("td", { class: "num", text: `${(v.servers || []).filter((s) => s.up).length}/${(v.servers || []).length}` }),
      h("td", { class: "num", text: String(v.active_connections || 0) }), h("td", { class: "num", text: String(v.requests || 0) })));
    const peerRows = (rt.bgp_peers || []).map((p) => h("tr", {}, h("td", { class: "mono", text: p.peer_ip }),
      h("td", {}, stateBadge(p.state, p.state)), h("td", { class: "num", text: p.uptime == null ? "–" : Math.round(p.uptime) + " s" }),
      h("td", { class: "num", text: String(p.prefixes_advertised) })));
    clear(rtBox);
    append(rtBox, [rt.error ? h("div", { class: "notice error", text: rt.error }) : null,
      h("div", { class: "grid2" }, card("State", h("div", { class: "card-body" }, dl)),
        card("BGP peers", h("div", { class: "card-body flush" }, table(["Peer", "State", "#Uptime", "#Prefixes advertised"], peerRows, { id: "bgp-table", empty: "No BGP peers." })))),
      card("Virtual services on this SE", h("div", { class: "card-body flush" }, table(["Virtual service", "State", "BGP", "#Servers up", "#Connections", "#Requests"], vsRows, { empty: "None." })))]);
    clear(chartBox);
    const to = Date.now() / 1000;
    const c = (id, title, name, units) => h("div", {}, h("div", { class: "small", text: title }), Charts.lineChart(m[id] ? [{ name, points: m[id], cls: "s0" }] : [], { units, from: to - 3600, to }));
    append(chartBox, [c("l7_client.avg_total_requests", "Requests per second", "requests/s", ""), c("l4_client.avg_bandwidth", "Bandwidth (bits/s)", "bandwidth", ""),
      c("l4_client.avg_new_established_conns", "New connections per second", "connections/s", "")]);
  }
  await refresh();
  root.dataset.loaded = "true";
  every(10000, refresh);
};

// MARK: Audit trail

Views.cluster = async (root, args, current) => {
  const [cluster, runtime, ca] = await Promise.all([api("GET", "/api/cluster"), api("GET", "/api/cluster/runtime"),
    fetch("/api/cluster/ca-certificate").then((r) => (r.ok ? r.text() : ""))]);
  if (!current()) return;
  const ips = new Map((cluster.nodes || []).map((n) => [n.name, n.ip ? n.ip.addr : ""]));
  const rows = (runtime.node_states || []).map((n) => h("tr", {},
    h("td", { text: n.name }), h("td", { class: "mono", text: ips.get(n.name) || "" }),
    h("td", {}, h("span", { class: "badge " + (n.role === "CLUSTER_LEADER" ? "up" : ""), text: n.role === "CLUSTER_LEADER" ? "LEADER" : "FOLLOWER" })),
    h("td", { text: n.state }), h("td", { class: "nowrap small", text: fmtTime(n.up_since) })));
  const state = (runtime.cluster_state || {}).state || "";
  const fingerprint = h("span", { class: "mono small", id: "ca-fingerprint", text: "…" });
  append(root, [pageHead("Controller Cluster", null),
    card(`${rows.length} controller node${rows.length === 1 ? "" : "s"} · ${state}`,
      h("div", { class: "card-body flush" }, table(["Name", "Address", "Role", "State", "Up since"], rows, { id: "cluster-table", empty: "No nodes." }))),
    card("Management plane", h("div", { class: "card-body" },
      h("p", {}, "The API and the SEs' calls are HTTPS with certificates of the cluster CA; SEs prove themselves with client certificates it issues at registration."),
      h("p", {}, "Cluster CA SHA-256: ", fingerprint)))]);
  root.dataset.loaded = "true";
  fingerprint.textContent = await caFingerprint(ca);
};

/// SHA-256 of the first certificate of a PEM text, as hex (what join tokens carry and `ctl --ca-fingerprint` takes).
async function caFingerprint(pem) {
  const b64 = (pem.match(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/) || [])[1];
  if (!b64) return "not available";
  if (!(window.crypto && crypto.subtle)) return "shown in secure contexts only (HTTPS)";
  const der = Uint8Array.from(atob(b64.replace(/\s+/g, "")), (c) => c.charCodeAt(0));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

Views.logs = async (root, args, current) => {
  const type = h("select", { id: "audit-type" }, h("option", { value: "", text: "all object types" }),
    Object.keys(KINDS).filter((k) => canRead(k)).map((k) => h("option", { value: k, text: k })));
  const user = h("input", { type: "text", placeholder: "user", id: "audit-user", size: 12 });
  const body = h("div", { class: "card-body flush" });
  const pager = h("div", { class: "pager" });
  let page = 1;
  async function load() {
    const q = new URLSearchParams({ type: "2", page_size: "50", page: String(page) });
    if (type.value) q.set("obj_type", type.value);
    if (user.value.trim()) q.set("request_user", user.value.trim());
    const r = await api("GET", "/api/analytics/logs?" + q);
    if (!current()) return;
    const rows = (r.results || []).map((e) => {
      const d = Object.values(e.event_details || {})[0] || {};
      return h("tr", {}, h("td", { class: "nowrap small", text: fmtTime(e.report_timestamp) }),
        h("td", { text: d.request_user || "" }), h("td", { class: "mono small", text: d.client_ip || "" }),
        h("td", {}, h("span", { class: "badge", text: e.event_id })), h("td", { text: e.obj_type }),
        h("td", { text: e.obj_name }), h("td", { text: e.event_description }));
    });
    clear(body).appendChild(table(["Time", "User", "Client", "Event", "Type", "Object", "Description"], rows, { id: "audit-table", empty: "No events." }));
    clear(pager);
    const pages = Math.max(1, Math.ceil((r.count || 0) / 50));
    append(pager, [h("button", { class: "btn small", type: "button", disabled: page <= 1, onclick: () => { page--; load(); } }, "‹ Newer"),
      h("span", { class: "muted small", text: `page ${page} of ${pages} · ${r.count || 0} events` }),
      h("button", { class: "btn small", type: "button", disabled: page >= pages, onclick: () => { page++; load(); } }, "Older ›")]);
    root.dataset.loaded = "true";
  }
  const form = h("form", { class: "toolbar", onsubmit: (e) => { e.preventDefault(); page = 1; load(); } }, type, user,
    h("button", { class: "btn primary small", type: "submit" }, "Apply"));
  append(root, [pageHead("Audit Trail", null), h("div", { class: "card" }, h("div", { class: "card-head" }, h("h2", { text: "Configuration events" }), form), body, pager)]);
  await load();
};
