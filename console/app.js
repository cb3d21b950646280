// Core of the console: DOM helper, the API client (session cookie + X-CSRFToken + X-Avi-Tenant), the
// signed-in user's privileges per object kind, and the hash router. Pages live in views.js and forms.js.
"use strict";

/// h("div", {class: "x", onclick: fn, dataset: {a: 1}}, child, "text", [children]): a DOM element.
/// Text is always set as text (never HTML), so API data cannot inject markup.
function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  if (attrs) {
    for (const k in attrs) {
      const v = attrs[k];
      if (v == null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k === "dataset") Object.assign(e.dataset, v);
      else if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
      else if (k === "value") e.value = v;
      else if (k === "checked" || k === "disabled" || k === "selected" || k === "multiple") e[k] = !!v;
      else e.setAttribute(k, v === true ? "" : v);
    }
  }
  append(e, children);
  return e;
}

function append(e, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(e, c);
    else if (c instanceof Node) e.appendChild(c);
    else e.appendChild(document.createTextNode(String(c)));
  }
  return e;
}

function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); return e; }

/// An API failure: HTTP status and the controller's `error` text.
class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

const App = {
  user: null,          // GET /api/useraccount
  roles: [],           // GET /api/role
  tenants: [],         // tenants the user may switch to: [{name, uuid}]
  tenant: null,        // current tenant name (sent as X-Avi-Tenant)
  grants: [],          // [{tenant: uuid|null, privileges: {PERMISSION_X: level}, role: name}]
  requests: 0,         // API requests made since the page loaded (the benchmark reads it)
  leaving: [],         // cleanups of the current page (timers)
  routeSeq: 0,
};
window.App = App;

function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]*)/);
  return m ? decodeURIComponent(m[1]) : "";
}

/// One API call. Writes carry X-CSRFToken; every call carries the working tenant. A 401 ends the
/// session (back to the login form with the reason) unless opts.noAuthRedirect.
async function api(method, path, body, opts) {
  opts = opts || {};
  const headers = { Accept: "application/json" };
  if (App.tenant && !opts.noTenant) headers["X-Avi-Tenant"] = opts.tenant || App.tenant;
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  App.requests++;
  let r;
  try {
    r = await fetch(path, { method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, "the controller cannot be reached (" + e.message + ")");
  }
  let data = null;
  const text = await r.text();
  if (text) { try { data = JSON.parse(text); } catch (_) { data = { error: text.slice(0, 200) }; } }
  if (!r.ok) {
    const msg = (data && data.error) || `HTTP ${r.status}`;
    if (r.status === 401 && !opts.noAuthRedirect && App.user) {
      sessionEnded(msg);
    }
    throw new ApiError(r.status, msg);
  }
  return data;
}

/// Every object of a type (follows `next` pages).
async function listAll(type, params, opts) {
  const q = new URLSearchParams(Object.assign({ page_size: "1000" }, params || {}));
  let page = 1, out = [];
  for (;;) {
    q.set("page", String(page));
    const r = await api("GET", `/api/${type}?${q}`, undefined, opts);
    out = out.concat(r.results || []);
    if (!r.next || !(r.results || []).length || out.length >= (r.count || 0)) return out;
    page++;
  }
}

/// Runs `fn` over `items` with at most `n` at a time.
async function pool(items, n, fn) {
  let i = 0;
  const worker = async () => { while (i < items.length) { const k = i++; await fn(items[k], k); } };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

// MARK: References

/// The uuid a reference names (`http://h/api/pool/pool-1#name` → `pool-1`); null for `?name=` refs.
function refUUID(ref) {
  if (!ref) return null;
  const path = String(ref).split("#")[0];
  if (path.includes("?")) return null;
  const parts = path.split("/").filter(Boolean);
  return parts[parts.length - 1] || null;
}

/// The name carried by an include_name reference, else the `?name=` value, else the uuid.
function refName(ref) {
  if (!ref) return "";
  const s = String(ref);
  if (s.includes("#")) return s.slice(s.indexOf("#") + 1);
  const m = s.match(/[?&]name=([^&]*)/);
  if (m) return decodeURIComponent(m[1]);
  return refUUID(s) || s;
}

// MARK: Privileges

const KINDS = {
  virtualservice: { perm: "PERMISSION_VIRTUALSERVICE", label: "Virtual Service" },
  pool: { perm: "PERMISSION_POOL", label: "Pool" },
  healthmonitor: { perm: "PERMISSION_HEALTHMONITOR", label: "Health Monitor" },
  vsvip: { perm: "PERMISSION_VSVIP", label: "VS VIP" },
  sslkeyandcertificate: { perm: "PERMISSION_SSLKEYANDCERTIFICATE", label: "Certificate" },
  serviceenginegroup: { perm: "PERMISSION_SERVICEENGINEGROUP", label: "SE Group", global: true, sysadmin: true },
  serviceengine: { perm: "PERMISSION_SERVICEENGINE", label: "Service Engine", global: true },
  applicationprofile: { perm: "PERMISSION_APPLICATIONPROFILE", label: "Application Profile" },
  sslprofile: { perm: "PERMISSION_SSLPROFILE", label: "SSL Profile" },
  user: { perm: "PERMISSION_USER", label: "User", global: true, sysadmin: true },
  role: { perm: "PERMISSION_ROLE", label: "Role", global: true, sysadmin: true },
  tenant: { perm: "PERMISSION_TENANT", label: "Tenant", global: true, sysadmin: true },
};
const LEVEL = { NO_ACCESS: 0, READ_ACCESS: 1, WRITE_ACCESS: 2 };

function tenantUUID(name) {
  const t = App.tenants.find((x) => x.name === name);
  return t ? t.uuid : name;
}

/// The user's level on `perm` in tenant `tenant` (uuid): the highest of the entries covering it.
function level(perm, tenant) {
  if (App.user && App.user.is_superuser) return 2;
  let best = 0;
  for (const g of App.grants) {
    if (g.tenant === null || g.tenant === tenant) best = Math.max(best, LEVEL[g.privileges[perm]] || 0);
  }
  return best;
}

function isSystemAdmin() {
  if (App.user && App.user.is_superuser) return true;
  return App.grants.some((g) => g.role === "System-Admin" && (g.tenant === null || g.tenant === "admin" ||
    g.tenantName === "admin"));
}

function canRead(kind) {
  const k = KINDS[kind];
  return level(k.perm, tenantUUID(App.tenant)) >= 1;
}

/// Whether the user may create, change and delete `kind` objects in the working tenant (the controller's
/// rules: System-Admin only kinds; system-wide kinds with the privilege held in tenant admin).
function canWrite(kind) {
  const k = KINDS[kind];
  if (k.sysadmin) return isSystemAdmin();
  return level(k.perm, k.global ? "admin" : tenantUUID(App.tenant)) >= 2;
}

async function loadIdentity(account) {
  App.user = account || await api("GET", "/api/useraccount", undefined, { noTenant: true });
  try {
    App.roles = await listAll("role", {}, { noTenant: true });
  } catch (e) {
    App.roles = [];
  }
  let tenants = [];
  try {
    tenants = await listAll("tenant", {}, { noTenant: true });
  } catch (e) {
    tenants = [];
  }
  const access = App.user.access || [];
  App.grants = access.map((a) => {
    const roleUUID = refUUID(a.role_ref);
    const role = App.roles.find((r) => r.uuid === roleUUID || r.name === refName(a.role_ref));
    // A role the user may not read: assume read access everywhere (the controller still decides).
    const privileges = role ? {} : new Proxy({}, { get: () => "READ_ACCESS" });
    for (const p of (role && role.privileges) || []) privileges[p.resource] = p.type;
    const tu = a.all_tenants ? null : refUUID(a.tenant_ref) || refName(a.tenant_ref);
    const tn = tenants.find((t) => t.uuid === tu || t.name === refName(a.tenant_ref));
    return { tenant: a.all_tenants ? null : tn ? tn.uuid : tu, tenantName: tn ? tn.name : tu,
      role: role ? role.name : refName(a.role_ref), privileges };
  });
  const all = App.user.is_superuser || App.grants.some((g) => g.tenant === null);
  let usable = tenants.map((t) => ({ name: t.name, uuid: t.uuid }));
  if (!all) usable = usable.filter((t) => App.grants.some((g) => g.tenant === t.uuid));
  for (const g of App.grants) {
    if (g.tenant && !usable.some((t) => t.uuid === g.tenant)) usable.push({ name: g.tenantName || g.tenant, uuid: g.tenant });
  }
  if (!usable.length && all) usable = [{ name: "admin", uuid: "admin" }];
  App.tenants = usable.sort((a, b) => a.name.localeCompare(b.name));
  const saved = sessionStorage.getItem("starling.tenant");
  const def = refUUID(App.user.default_tenant_ref);
  const pick = App.tenants.find((t) => t.name === saved) || App.tenants.find((t) => t.uuid === def) ||
    App.tenants.find((t) => t.name === "admin") || App.tenants[0];
  App.tenant = pick ? pick.name : null;
}

// MARK: Session

function showLogin(message, info) {
  App.user = null;
  stopPage();
  document.getElementById("shell").classList.add("hidden");
  document.getElementById("login").classList.remove("hidden");
  const m = document.getElementById("login-message");
  if (message) {
    m.textContent = message;
    m.classList.toggle("info", !!info);
    m.classList.remove("hidden");
  } else {
    m.classList.add("hidden");
  }
  document.getElementById("login-username").focus();
}

function sessionEnded(msg) {
  showLogin(`Your session has expired or was ended (${msg.replace(/:.*$/, "")}). Please log in again.`);
}

async function login(username, password) {
  const r = await fetch("/login", { method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ username, password }) });
  App.requests++;
  if (!r.ok) {
    let msg = `HTTP ${r.status}`;
    try { msg = (await r.json()).error || msg; } catch (_) { /* not JSON */ }
    throw new ApiError(r.status, msg);
  }
}

async function logout() {
  try { await fetch("/logout", { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() } }); }
  catch (_) { /* gone anyway */ }
  sessionStorage.removeItem("starling.tenant");
  showLogin("You have logged out.", true);
}

async function startShell(account) {
  await loadIdentity(account);
  document.getElementById("login").classList.add("hidden");
  document.getElementById("shell").classList.remove("hidden");
  document.getElementById("whoami").textContent = App.user.full_name || App.user.username || App.user.name;
  const sel = document.getElementById("tenant-switcher");
  clear(sel);
  for (const t of App.tenants) sel.appendChild(h("option", { value: t.name, text: t.name }));
  sel.value = App.tenant || "";
  sel.disabled = App.tenants.length < 2;
  renderNav();
  if (!location.hash || location.hash === "#" || location.hash === "#/") location.hash = "#/dashboard";
  else route();
}

function switchTenant(name) {
  App.tenant = name;
  sessionStorage.setItem("starling.tenant", name);
  renderNav();
  const r = parseRoute();
  // An object page of the old tenant means nothing in the new one: go to its list.
  const lists = { vs: "dashboard", pool: "pools", se: "serviceengines", edit: null, new: null };
  if (r.page in lists) location.hash = "#/" + (lists[r.page] || (r.args[0] === "virtualservice" ? "dashboard" : listPageOf(r.args[0])));
  else route();
}

// MARK: Navigation and routing

const NAV = [
  ["Applications", [
    ["dashboard", "Dashboard", "virtualservice"], ["pools", "Pools", "pool"],
    ["healthmonitors", "Health Monitors", "healthmonitor"], ["vsvips", "VS VIPs", "vsvip"],
    ["certificates", "Certificates", "sslkeyandcertificate"]]],
  ["Infrastructure", [
    ["serviceengines", "Service Engines", "serviceengine"], ["segroups", "SE Groups", "serviceenginegroup"],
    ["cluster", "Controller Cluster", null]]],
  ["Administration", [
    ["users", "Users", "user"], ["roles", "Roles", "role"], ["tenants", "Tenants", "tenant"], ["logs", "Audit Trail", null]]],
];

function listPageOf(kind) {
  return { virtualservice: "dashboard", pool: "pools", healthmonitor: "healthmonitors", vsvip: "vsvips",
    sslkeyandcertificate: "certificates", serviceenginegroup: "segroups", serviceengine: "serviceengines",
    user: "users", role: "roles", tenant: "tenants" }[kind] || "dashboard";
}

function renderNav() {
  const nav = clear(document.getElementById("nav"));
  for (const [section, items] of NAV) {
    const visible = items.filter(([, , kind]) => !kind || canRead(kind));
    if (!visible.length) continue;
    nav.appendChild(h("div", { class: "nav-section", text: section }));
    for (const [page, label] of visible) {
      nav.appendChild(h("a", { href: "#/" + page, id: "nav-" + page, dataset: { page }, text: label }));
    }
  }
  markNav();
}

function markNav() {
  const r = parseRoute();
  const page = { vs: "dashboard", pool: "pools", se: "serviceengines" }[r.page] ||
    (r.page === "edit" || r.page === "new" ? listPageOf(r.args[0]) : r.page);
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === page);
}

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] || "dashboard", args: parts.slice(1) };
}

function stopPage() {
  for (const f of App.leaving) { try { f(); } catch (_) { /* ignore */ } }
  App.leaving = [];
}

/// Runs `fn` every `ms` while the current page stays shown.
function every(ms, fn) {
  const id = setInterval(fn, ms);
  App.leaving.push(() => clearInterval(id));
}

async function route() {
  if (!App.user) return;
  stopPage();
  markNav();
  const seq = ++App.routeSeq;
  const main = clear(document.getElementById("main"));
  const r = parseRoute();
  const view = Views[r.page];
  if (!view) {
    main.appendChild(h("div", { class: "notice error", text: "No such page: " + location.hash }));
    return;
  }
  const root = h("div", { class: "page", id: "page-" + r.page });
  main.appendChild(root);
  try {
    await view(root, r.args, () => seq === App.routeSeq);
  } catch (e) {
    if (seq !== App.routeSeq) return;
    if (e instanceof ApiError && e.status === 401) return;
    root.appendChild(h("div", { class: "notice error", text: "Could not load this page: " + e.message }));
    console.error(e);
  }
}

// MARK: Small UI pieces

function toast(msg, isError) {
  const t = document.getElementById("toast");
  t.textContent = msg;
  t.classList.toggle("error", !!isError);
  t.classList.remove("hidden");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.add("hidden"), isError ? 6000 : 3000);
}

/// A confirmation dialog; resolves true when confirmed.
function confirmDialog(title, text, okLabel) {
  return new Promise((resolve) => {
    const root = document.getElementById("modal-root");
    const done = (v) => { clear(root); resolve(v); };
    const ok = h("button", { class: "btn danger-solid", id: "confirm-ok", type: "button", onclick: () => done(true) }, okLabel || "Delete");
    root.appendChild(h("div", { class: "modal-back", onclick: (e) => { if (e.target === e.currentTarget) done(false); } },
      h("div", { class: "modal", role: "dialog" },
        h("h3", { text: title }), h("p", { text }),
        h("div", { class: "form-actions" },
          h("button", { class: "btn", type: "button", id: "confirm-cancel", onclick: () => done(false) }, "Cancel"), ok))));
    ok.focus();
  });
}

/// Asks, then deletes; toasts the outcome. Resolves true when deleted.
async function deleteObject(kind, obj) {
  const label = KINDS[kind] ? KINDS[kind].label : kind;
  if (!(await confirmDialog(`Delete ${label.toLowerCase()} ${obj.name}?`,
    `The ${label.toLowerCase()} "${obj.name}" will be deleted. This cannot be undone.`))) return false;
  try {
    await api("DELETE", `/api/${kind}/${encodeURIComponent(obj.uuid)}`);
    toast(`${label} ${obj.name} deleted`);
    return true;
  } catch (e) {
    toast(`Could not delete ${obj.name}: ${e.message}`, true);
    return false;
  }
}

function stateClass(state) {
  if (!state) return "";
  if (/UP|Established/i.test(state)) return "up";
  if (/DISABLED/i.test(state)) return "disabled";
  if (/DOWN|Idle/i.test(state)) return "down";
  return "warn";
}

function stateBadge(state, label) {
  return h("span", { class: "badge " + stateClass(state), text: label || (state || "UNKNOWN").replace(/^OPER_/, "") });
}

function reasonText(r) {
  if (r == null) return "";
  return Array.isArray(r) ? r.join("; ") : String(r);
}

function healthClass(score) {
  if (score == null) return "h-none";
  if (score >= 85) return "h-good";
  if (score >= 65) return "h-fair";
  if (score >= 40) return "h-poor";
  return "h-bad";
}

function pageHead(title, crumbs, ...actions) {
  return h("div", { class: "page-head" },
    h("div", {}, crumbs ? h("div", { class: "crumbs" }, crumbs) : null, h("h1", { text: title })),
    h("div", { class: "actions" }, actions));
}

function card(title, body, ...tools) {
  return h("div", { class: "card" },
    h("div", { class: "card-head" }, h("h2", { text: title }), h("div", { class: "toolbar" }, tools)), body);
}

function table(cols, rows, opts) {
  opts = opts || {};
  const tbody = h("tbody", {}, rows);
  const t = h("table", { class: "tbl", id: opts.id },
    h("thead", {}, h("tr", {}, cols.map((c) => h("th", { class: c.startsWith("#") ? "num" : "", text: c.replace(/^#/, "") })))),
    tbody);
  if (!rows.length && opts.empty) tbody.appendChild(h("tr", {}, h("td", { colspan: cols.length, class: "empty", text: opts.empty })));
  return t;
}

function fmtTime(iso) {
  if (!iso) return "";
  const d = typeof iso === "number" ? new Date(iso * 1000) : new Date(iso);
  if (isNaN(d)) return String(iso);
  return d.toLocaleString(undefined, { year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}
