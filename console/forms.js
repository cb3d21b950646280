// Create and edit forms (#/new/<kind>, #/edit/<kind>/<uuid>), driven by one spec per object kind.
// The controller validates; its error names the field at fault (`servers[0].ip.addr: ...`), and the form
// shows the message next to that field (or at the top when no field of the form matches).
"use strict";

/// Field types: text, number, password, textarea, checkbox, select, ref (one object), refs (several),
/// list (rows of sub-fields), checks (several enum values), csv (strings, comma separated).
/// `key` is the path in the object; `paths` are other error paths the field answers for.
const FORMS = {
  virtualservice: {
    fields: [
      { key: "name", label: "Name", type: "text", required: true },
      { key: "description", label: "Description", type: "text" },
      { key: "enabled", label: "Enabled", type: "checkbox", default: true },
      { key: "vsvip_ref", label: "VS VIP", type: "ref", kind: "vsvip", required: true, help: "The virtual IP addresses it listens on" },
      { key: "services", label: "Services", type: "list", addLabel: "Add port", min: 1, sub: [
        { key: "port", label: "Port", type: "number", default: 80 },
        { key: "port_range_end", label: "Range end", type: "number" },
        { key: "enable_ssl", label: "TLS", type: "checkbox" },
        { key: "enable_http2", label: "HTTP/2", type: "checkbox" }] },
      { key: "pool_ref", label: "Pool", type: "ref", kind: "pool" },
      { key: "se_group_ref", label: "SE group", type: "ref", kind: "serviceenginegroup", none: "(default: Default-Group)" },
      { key: "application_profile_ref", label: "Application profile", type: "ref", kind: "applicationprofile", none: "(default: System-HTTP)" },
      { key: "ssl_key_and_certificate_refs", label: "Certificates", type: "refs", kind: "sslkeyandcertificate", help: "Needed by TLS ports" },
      { key: "ssl_profile_ref", label: "SSL profile", type: "ref", kind: "sslprofile", none: "(default: System-Standard)" },
      { key: "enable_rhi", label: "Advertise VIP with BGP", type: "checkbox" },
      { key: "scaleout_ecmp", label: "Scale out with ECMP", type: "checkbox" },
    ],
  },
  pool: {
    fields: [
      { key: "name", label: "Name", type: "text", required: true },
      { key: "description", label: "Description", type: "text" },
      { key: "enabled", label: "Enabled", type: "checkbox", default: true },
      { key: "default_server_port", label: "Default server port", type: "number", placeholder: "80" },
      { key: "lb_algorithm", label: "Load balancing", type: "select", options: ["", "LB_ALGORITHM_LEAST_CONNECTIONS", "LB_ALGORITHM_ROUND_ROBIN",
        "LB_ALGORITHM_CONSISTENT_HASH", "LB_ALGORITHM_RANDOM", "LB_ALGORITHM_FEWEST_SERVERS"] },
      { key: "servers", label: "Servers", type: "list", addLabel: "Add server", sub: [
        { key: "ip", label: "IP address", type: "ip", placeholder: "10.0.0.10" },
        { key: "port", label: "Port", type: "number", placeholder: "default" },
        { key: "ratio", label: "Ratio", type: "number", placeholder: "1" },
        { key: "enabled", label: "Enabled", type: "checkbox", default: true }] },
      { key: "health_monitor_refs", label: "Health monitors", type: "refs", kind: "healthmonitor" },
      { key: "ssl_profile_ref", label: "Re-encrypt (SSL profile)", type: "ref", kind: "sslprofile", help: "TLS to the servers when set" },
      { key: "server_name", label: "Server name (SNI)", type: "text" },
    ],
  },
  healthmonitor: {
    fields: [
      { key: "name", label: "Name", type: "text", required: true },
      { key: "description", label: "Description", type: "text" },
      { key: "type", label: "Type", type: "select", required: true, options: ["HEALTH_MONITOR_TCP", "HEALTH_MONITOR_HTTP", "HEALTH_MONITOR_HTTPS", "HEALTH_MONITOR_PING", "HEALTH_MONITOR_UDP"] },
      { key: "send_interval", label: "Send interval (s)", type: "number", placeholder: "10" },
      { key: "receive_timeout", label: "Receive timeout (s)", type: "number", placeholder: "4" },
      { key: "successful_checks", label: "Successful checks", type: "number", placeholder: "2" },
      { key: "failed_checks", label: "Failed checks", type: "number", placeholder: "2" },
      { key: "monitor_port", label: "Monitor port", type: "number", placeholder: "the server's" },
      { key: "http.http_request", label: "HTTP request", type: "text", placeholder: "HEAD / HTTP/1.0", http: true,
        paths: ["http_monitor.http_request", "https_monitor.http_request", "http_monitor", "https_monitor"] },
      { key: "http.http_response_code", label: "Accepted responses", type: "checks", http: true,
        options: ["HTTP_ANY", "HTTP_1XX", "HTTP_2XX", "HTTP_3XX", "HTTP_4XX", "HTTP_5XX"], paths: ["http_monitor.http_response_code", "https_monitor.http_response_code"] },
      { key: "http.http_response", label: "Body contains", type: "text", http: true, paths: ["http_monitor.http_response", "https_monitor.http_response"] },
    ],
    // The HTTP fields live in http_monitor or https_monitor depending on the type.
    load(o) { const m = o.http_monitor || o.https_monitor; if (m) o.http = m; return o; },
    save(body) {
      const m = body.http;
      delete body.http;
      delete body.http_monitor;
      delete body.https_monitor;
      if (m && Object.keys(m).length) {
        if (body.type === "HEALTH_MONITOR_HTTP") body.http_monitor = m;
        else if (body.type === "HEALTH_MONITOR_HTTPS") body.https_monitor = m;
      }
      return body;
    },
  },
  vsvip: {
    fields: [
      { key: "name", label: "Name", type: "text", required: true },
      { key: "description", label: "Description", type: "text" },
      { key: "vip", label: "VIPs", type: "list", addLabel: "Add VIP", min: 1, sub: [
        { key: "vip_id", label: "VIP id", type: "text", placeholder: "0", autoIndex: true },
        { key: "ip_address", label: "IPv4 address", type: "ip", placeholder: "10.0.0.1" },
        { key: "ip6_address", label: "IPv6 address", type: "ip", placeholder: "2001:db8::1" },
        { key: "enabled", label: "Enabled", type: "checkbox", default: true }] },
      { key: "bgp_peer_labels", label: "BGP peer labels", type: "csv", help: "Advertise only to peers with these labels (comma separated); all peers when empty" },
    ],
  },
  sslkeyandcertificate: {
    fields: [
      { key: "name", label: "Name", type: "text", required: true },
      { key: "description", label: "Description", type: "text" },
      { key: "certificate.certificate", label: "Certificate (PEM)", type: "textarea", placeholder: "-----BEGIN CERTIFICATE-----", help: "Leaf first, then intermediates. Leave empty to create a self-signed certificate." },
      { key: "key", label: "Private key (PEM)", type: "textarea", writeOnly: true, placeholder: "-----BEGIN PRIVATE KEY-----", help: "Write-only: the controller never shows it back. Leave empty to keep the current key." },
      { key: "key_passphrase", label: "Key passphrase", type: "password", writeOnly: true },
      { key: "certificate.subject.common_name", label: "Self-signed: common name", type: "text", newOnly: true, paths: ["certificate.subject"] },
      { key: "certificate.subject_alt_names", label: "Self-signed: SANs", type: "csv", newOnly: true, help: "DNS names or IPs, comma separated" },
      { key: "certificate.days_until_expire", label: "Self-signed: days valid", type: "number", newOnly: true, placeholder: "365" },
    ],
    save(body, isNew) {
      const c = body.certificate || {};
      if (isNew && !c.certificate && c.subject && c.subject.common_name) c.self_signed = true;
      body.certificate = c;
      return body;
    },
    patch: true,
  },
  serviceenginegroup: {
    fields: [
      { key: "name", label: "Name", type: "text", required: true },
      { key: "description", label: "Description", type: "text" },
      { key: "ha_mode", label: "HA mode", type: "select", options: ["", "HA_MODE_SHARED", "HA_MODE_SHARED_PAIR"] },
      { key: "algo", label: "Placement", type: "select", options: ["", "PLACEMENT_ALGO_PACKED", "PLACEMENT_ALGO_DISTRIBUTED"] },
      { key: "min_scaleout_per_vs", label: "Min scale-out per VS", type: "number", placeholder: "1" },
      { key: "max_scaleout_per_vs", label: "Max scale-out per VS", type: "number", placeholder: "4" },
      { key: "max_se", label: "Max SEs", type: "number", placeholder: "10" },
      { key: "max_vs_per_se", label: "Max VS per SE", type: "number", placeholder: "10" },
      { key: "buffer_se", label: "Buffer SEs", type: "number", placeholder: "1" },
    ],
  },
  serviceengine: {
    fields: [
      { key: "name", label: "Name", type: "text", required: true },
      { key: "description", label: "Description", type: "text" },
      { key: "se_group_ref", label: "SE group", type: "ref", kind: "serviceenginegroup" },
    ],
  },
  tenant: {
    fields: [
      { key: "name", label: "Name", type: "text", required: true },
      { key: "description", label: "Description", type: "text" },
      { key: "local", label: "Has its own SEs", type: "checkbox" },
    ],
  },
  user: {
    fields: [
      { key: "name", label: "Name", type: "text", required: true },
      { key: "username", label: "Username", type: "text", help: "The login name; the name when empty" },
      { key: "password", label: "Password", type: "password", writeOnly: true, help: "At least 8 characters; leave empty to keep the current one" },
      { key: "full_name", label: "Full name", type: "text" },
      { key: "email", label: "Email", type: "text" },
      { key: "default_tenant_ref", label: "Default tenant", type: "ref", kind: "tenant", global: true },
      { key: "access", label: "Access", type: "list", addLabel: "Add access", initial: 1, sub: [
        { key: "role_ref", label: "Role", type: "ref", kind: "role", global: true },
        { key: "tenant_ref", label: "Tenant", type: "ref", kind: "tenant", global: true },
        { key: "all_tenants", label: "All tenants", type: "checkbox" }] },
    ],
  },
  role: {
    fields: [
      { key: "name", label: "Name", type: "text", required: true },
      { key: "privileges", label: "Privileges", type: "privileges" },
    ],
  },
};

const RESOURCES = ["PERMISSION_VIRTUALSERVICE", "PERMISSION_POOL", "PERMISSION_HEALTHMONITOR", "PERMISSION_VSVIP",
  "PERMISSION_APPLICATIONPROFILE", "PERMISSION_SSLKEYANDCERTIFICATE", "PERMISSION_SSLPROFILE", "PERMISSION_PKIPROFILE",
  "PERMISSION_VRFCONTEXT", "PERMISSION_SERVICEENGINE", "PERMISSION_SERVICEENGINEGROUP", "PERMISSION_CLOUD",
  "PERMISSION_TENANT", "PERMISSION_ROLE", "PERMISSION_USER"];

function getPath(o, path) {
  return path.split(".").reduce((a, k) => (a == null ? undefined : a[k]), o);
}

function setPath(o, path, v) {
  const ks = path.split(".");
  let a = o;
  for (const k of ks.slice(0, -1)) { if (a[k] == null || typeof a[k] !== "object") a[k] = {}; a = a[k]; }
  if (v === undefined) delete a[ks[ks.length - 1]];
  else a[ks[ks.length - 1]] = v;
}

/// Drops empty objects left behind by cleared nested fields.
function prune(o) {
  for (const k of Object.keys(o)) {
    const v = o[k];
    if (v && typeof v === "object" && !Array.isArray(v)) {
      prune(v);
      if (!Object.keys(v).length) delete o[k];
    }
  }
  return o;
}

const refOptions = new Map();
/// Objects a ref field may name (the working tenant's plus those shared from admin).
async function optionsFor(kind) {
  const key = kind + "@" + App.tenant;
  if (!refOptions.has(key)) refOptions.set(key, listAll(kind).catch(() => []));
  return refOptions.get(key);
}

Views.new = (root, [kind], current) => objectForm(root, kind, null, current);
Views.edit = (root, [kind, uuid], current) => objectForm(root, kind, uuid, current);

async function objectForm(root, kind, uuid, current) {
  const spec = FORMS[kind];
  if (!spec) throw new Error("no form for " + kind);
  refOptions.clear();
  const label = KINDS[kind].label;
  const isNew = !uuid;
  let original = {};
  if (!isNew) original = await api("GET", `/api/${kind}/${encodeURIComponent(uuid)}`);
  if (!current()) return;
  const writable = canWrite(kind);
  const values = spec.load ? spec.load(JSON.parse(JSON.stringify(original))) : JSON.parse(JSON.stringify(original));
  const formError = h("div", { class: "notice error form-error hidden", id: "form-error" });
  const form = h("form", { class: "form card-body", id: "object-form", dataset: { kind }, novalidate: true });
  const readers = [];   // () => [path, value]
  const errorSlots = []; // {match(path) -> {el, field} or null}

  for (const f of spec.fields) {
    if (f.newOnly && !isNew) continue;
    const id = "f-" + f.key.replace(/\W/g, "-");
    const slot = h("div", { class: "field", dataset: { path: f.key } });
    const labelEl = h("label", { for: id }, f.label, f.required ? h("span", { class: "req", text: "*" }) : null);
    const control = h("div");
    slot.appendChild(labelEl);
    slot.appendChild(control);
    const cur = getPath(values, f.key);
    let read;
    if (f.type === "list") {
      read = await listControl(control, f, cur || (isNew && (f.min || f.initial) ? [{}] : []), errorSlots, kind);
    } else if (f.type === "privileges") {
      read = privilegeControl(control, cur || []);
    } else {
      read = await simpleControl(control, f, id, cur, isNew);
    }
    if (f.help) control.appendChild(h("div", { class: "help", text: f.help }));
    if (f.http) slot.classList.add("http-only");
    readers.push([f, read]);
    const paths = [f.key].concat(f.paths || []);
    errorSlots.push({ match: (p) => (paths.includes(p) ? { el: control, field: slot } : null) });
    form.appendChild(slot);
  }
  const typeSel = form.querySelector("#f-type");
  const syncHttp = () => { for (const el of form.querySelectorAll(".http-only")) el.classList.toggle("hidden", !/HTTP/.test(typeSel.value)); };
  if (kind === "healthmonitor" && typeSel) { typeSel.addEventListener("change", syncHttp); syncHttp(); }

  const save = h("button", { class: "btn primary", type: "submit", id: "form-save", disabled: !writable }, isNew ? "Create" : "Save");
  form.appendChild(h("div", { class: "form-actions" }, save,
    h("a", { class: "btn", href: "#/" + listPageOf(kind) }, "Cancel"),
    !isNew && writable && kind !== "role" ? h("button", { class: "btn danger", type: "button", onclick: async () => { if (await deleteObject(kind, original)) location.hash = "#/" + listPageOf(kind); } }, "Delete") : null));

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors();
    let body = isNew ? {} : JSON.parse(JSON.stringify(original));
    for (const k of ["url", "_last_modified"]) delete body[k];
    if (kind === "healthmonitor") { body.http = body.http_monitor || body.https_monitor; }
    for (const [f, read] of readers) {
      const v = read();
      if (v === undefined && f.writeOnly) continue;
      setPath(body, f.key, v);
    }
    if (spec.save) body = spec.save(body, isNew);
    prune(body);
    save.disabled = true;
    try {
      let saved;
      if (isNew) saved = await api("POST", `/api/${kind}`, body);
      else if (spec.patch) saved = await api("PATCH", `/api/${kind}/${encodeURIComponent(uuid)}`, { replace: body });
      else saved = await api("PUT", `/api/${kind}/${encodeURIComponent(uuid)}`, body);
      toast(`${label} ${saved.name} ${isNew ? "created" : "saved"}`);
      const detail = { virtualservice: "vs", pool: "pool", serviceengine: "se" }[kind];
      location.hash = detail ? `#/${detail}/${encodeURIComponent(saved.uuid)}` : "#/" + listPageOf(kind);
    } catch (e) {
      if (e.status === 401) return;
      showError(e.message);
    } finally {
      save.disabled = false;
    }
  });

  function clearErrors() {
    formError.classList.add("hidden");
    for (const el of form.querySelectorAll(".field-error")) el.remove();
    for (const el of form.querySelectorAll(".has-error")) el.classList.remove("has-error");
  }

  /// Puts the message by the field its leading path names: the longest path prefix a field answers for.
  function showError(message) {
    const m = /^([A-Za-z_][\w]*(?:\[\d+\])?(?:\.[A-Za-z_]\w*(?:\[\d+\])?)*): ([\s\S]*)$/.exec(message);
    if (m) {
      let path = m[1];
      for (;;) {
        const target = errorSlots.map((s) => s.match(path)).find(Boolean);
        if (target) {
          const err = h("div", { class: "field-error", dataset: { path: m[1] }, text: m[2] });
          target.el.appendChild(err);
          target.field.classList.add("has-error");
          err.scrollIntoView({ block: "center" });
          return;
        }
        const shorter = path.replace(/(\.[A-Za-z_]\w*|\[\d+\])$/, "");
        if (shorter === path) break;
        path = shorter;
      }
    }
    formError.textContent = message;
    formError.classList.remove("hidden");
    formError.scrollIntoView({ block: "center" });
  }

  append(root, [pageHead(isNew ? `Create ${label.toLowerCase()}` : `Edit ${label.toLowerCase()} ${original.name}`,
    [h("a", { href: "#/" + listPageOf(kind), text: { virtualservice: "Dashboard" }[kind] || NAV.flatMap((s) => s[1]).find((i) => i[0] === listPageOf(kind))[1] }), " / "]),
    !writable ? h("div", { class: "notice", text: `Your role can read but not change ${label.toLowerCase()} objects.` }) : null,
    formError, h("div", { class: "card" }, form)]);
  root.dataset.loaded = "true";
  const first = form.querySelector("input, select, textarea");
  if (first) first.focus();
}

async function simpleControl(control, f, id, cur, isNew) {
  let el;
  switch (f.type) {
    case "checkbox":
      el = h("input", { type: "checkbox", id, checked: cur == null ? !!f.default : !!cur });
      control.appendChild(el);
      return () => el.checked;
    case "number":
      el = h("input", { type: "number", id, placeholder: f.placeholder || "", value: cur == null ? "" : String(cur) });
      control.appendChild(el);
      return () => numberOf(el.value);
    case "textarea":
      el = h("textarea", { id, placeholder: f.placeholder || "", spellcheck: "false" });
      if (!f.writeOnly && cur != null) el.value = cur;
      control.appendChild(el);
      return () => (el.value.trim() ? el.value.trim() + "\n" : f.writeOnly ? undefined : undefined);
    case "password":
      el = h("input", { type: "password", id, autocomplete: "new-password", placeholder: isNew ? "" : "unchanged" });
      control.appendChild(el);
      return () => (el.value ? el.value : undefined);
    case "select":
      el = h("select", { id }, f.options.map((o) => h("option", { value: o, text: o === "" ? "(default)" : o })));
      el.value = cur == null ? f.options[0] : cur;
      control.appendChild(el);
      return () => el.value || undefined;
    case "checks": {
      const set = new Set(cur || []);
      const boxes = f.options.map((o) => h("input", { type: "checkbox", value: o, checked: set.has(o) }));
      control.appendChild(h("div", { class: "checks", id }, f.options.map((o, i) => h("label", {}, boxes[i], " ", o))));
      return () => { const v = boxes.filter((b) => b.checked).map((b) => b.value); return v.length ? v : undefined; };
    }
    case "csv":
      el = h("input", { type: "text", id, value: (cur || []).join(", ") });
      control.appendChild(el);
      return () => { const v = el.value.split(",").map((s) => s.trim()).filter(Boolean); return v.length ? v : undefined; };
    case "ref":
      el = await refSelect(f.kind, cur, id, !f.required, f.none);
      control.appendChild(el);
      return () => el.value || undefined;
    case "refs": {
      const objs = await optionsFor(f.kind);
      const chosen = new Set((cur || []).map(refUUID));
      el = h("select", { id, multiple: true, size: Math.min(6, Math.max(3, objs.length)) },
        objs.map((o) => h("option", { value: `/api/${f.kind}/${o.uuid}`, text: o.name, selected: chosen.has(o.uuid) })));
      control.appendChild(el);
      return () => { const v = [...el.selectedOptions].map((o) => o.value); return v.length ? v : undefined; };
    }
    default:
      el = h("input", { type: "text", id, placeholder: f.placeholder || "", value: cur == null ? "" : String(cur), required: f.required });
      control.appendChild(el);
      return () => (el.value.trim() ? el.value.trim() : undefined);
  }
}

function numberOf(s) {
  s = String(s).trim();
  if (!s) return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : s;
}

async function refSelect(kind, cur, id, optional, none) {
  const objs = await optionsFor(kind);
  const sel = h("select", { id }, optional ? h("option", { value: "", text: none || "(none)" }) : h("option", { value: "", text: "— choose —" }),
    objs.map((o) => h("option", { value: `/api/${kind}/${o.uuid}`, text: o.name + (o.tenant_ref && refUUID(o.tenant_ref) !== tenantUUID(App.tenant) && kind !== "tenant" && kind !== "role" ? ` (${refName(o.tenant_ref)})` : "") })));
  const u = refUUID(cur);
  if (u) {
    if (!objs.some((o) => o.uuid === u)) sel.appendChild(h("option", { value: `/api/${kind}/${u}`, text: refName(cur) }));
    sel.value = `/api/${kind}/${u}`;
  } else if (cur) {
    sel.appendChild(h("option", { value: cur, text: refName(cur) }));
    sel.value = cur;
  }
  return sel;
}

/// A list of rows (servers, services, VIPs, access entries): each row keeps the fields the form does not
/// show. Cells carry data-path `servers[0].ip` for the error placement.
async function listControl(control, f, rows, errorSlots, kind) {
  const tbody = h("tbody");
  const entries = [];
  const renumber = () => entries.forEach((e, i) => {
    e.tr.dataset.index = String(i);
    for (const c of e.cells) c.td.dataset.path = `${f.key}[${i}].${c.sub.key}`;
    e.tr.dataset.path = `${f.key}[${i}]`;
  });
  async function addRow(orig) {
    const cells = [];
    const tr = h("tr", { class: "sub-row " + f.key + "-row" });
    for (const sub of f.sub) {
      const td = h("td", { class: sub.type === "checkbox" ? "chk" : "" });
      const cur = orig[sub.key];
      let read;
      if (sub.type === "checkbox") {
        const el = h("input", { type: "checkbox", class: "sub-" + sub.key, checked: cur == null ? !!sub.default : !!cur });
        read = () => el.checked;
        td.appendChild(el);
      } else if (sub.type === "number") {
        const el = h("input", { type: "text", inputmode: "numeric", class: "sub-" + sub.key, placeholder: sub.placeholder || "", value: cur == null ? (orig.__new && sub.default != null ? String(sub.default) : "") : String(cur) });
        read = () => numberOf(el.value);
        td.appendChild(el);
      } else if (sub.type === "ip") {
        const el = h("input", { type: "text", class: "sub-" + sub.key, placeholder: sub.placeholder || "", value: cur ? cur.addr : "" });
        read = () => { const a = el.value.trim(); if (!a) return undefined; return { addr: a, type: a.includes(":") ? "V6" : /^[\d.]+$/.test(a) ? "V4" : (cur && cur.type) || "V4" }; };
        td.appendChild(el);
      } else if (sub.type === "ref") {
        const el = await refSelect(sub.kind, cur, null, true);
        el.classList.add("sub-" + sub.key);
        read = () => el.value || undefined;
        td.appendChild(el);
      } else {
        const el = h("input", { type: "text", class: "sub-" + sub.key, placeholder: sub.placeholder || "", value: cur == null ? (sub.autoIndex ? String(entries.length) : "") : String(cur) });
        read = () => (el.value.trim() ? el.value.trim() : undefined);
        td.appendChild(el);
      }
      cells.push({ sub, td, read });
      tr.appendChild(td);
    }
    const entry = { tr, cells, orig };
    tr.appendChild(h("td", {}, h("button", { class: "btn small", type: "button", title: "Remove", onclick: () => {
      entries.splice(entries.indexOf(entry), 1); tr.remove(); renumber(); } }, "✕")));
    entries.push(entry);
    tbody.appendChild(tr);
    renumber();
  }
  for (const r of rows) await addRow(Object.assign({}, r, Object.keys(r).length ? {} : { __new: true }));
  control.appendChild(h("table", { class: "sub-table", id: "list-" + f.key },
    h("thead", {}, h("tr", {}, f.sub.map((s) => h("th", { text: s.label })), h("th"))), tbody));
  control.appendChild(h("button", { class: "btn small", type: "button", id: "add-" + f.key, onclick: () => addRow({ __new: true }) }, "+ " + (f.addLabel || "Add")));
  // Error paths inside rows resolve to the cell (servers[0].ip) or the row (servers[0]).
  errorSlots.push({ match(path) {
    for (const e of entries) {
      if (path === e.tr.dataset.path) return { el: e.tr.lastChild, field: e.tr };
      const c = e.cells.find((x) => x.td.dataset.path === path);
      if (c) return { el: c.td, field: c.td };
    }
    return null;
  } });
  return () => {
    const out = entries.map((e) => {
      const o = Object.assign({}, e.orig);
      delete o.__new;
      for (const c of e.cells) { const v = c.read(); if (v === undefined) delete o[c.sub.key]; else o[c.sub.key] = v; }
      return o;
    });
    return out.length ? out : f.min ? [] : undefined;
  };
}

/// The privilege matrix of a role: one select per resource.
function privilegeControl(control, cur) {
  const have = new Map(cur.map((p) => [p.resource, p.type]));
  const sels = RESOURCES.map((r) => h("select", { class: "priv", dataset: { resource: r } },
    ["NO_ACCESS", "READ_ACCESS", "WRITE_ACCESS"].map((t) => h("option", { value: t, text: t, selected: (have.get(r) || "NO_ACCESS") === t }))));
  control.appendChild(h("table", { class: "sub-table perm-table" }, h("tbody", {}, RESOURCES.map((r, i) => h("tr", {}, h("td", { class: "mono small", text: r }), h("td", {}, sels[i]))))));
  return () => sels.filter((s) => s.value !== "NO_ACCESS").map((s) => ({ resource: s.dataset.resource, type: s.value }));
}
