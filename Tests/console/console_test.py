#!/usr/bin/env python3
"""Browser test of the Admin Console: what an operator would check by hand, in headless Chromium.

    console_test.py --url https://HOST:PORT --password ADMINPASS --vs NAME --out DIR [--ca-file CA.pem] [--no-traffic]

As admin, through the login form: the dashboard lists virtual service NAME with a health score and a
requests sparkline with real (non-zero) traffic; its detail page has an rps chart with non-zero points and
the request-log table (or says why the controller has none); its pool's page has a last-hour responses
chart with non-zero points and a server with non-zero responses/s in the last 5 minutes; a pool created
through the form exists in the API; a pool with an invalid server IP gets the API's validation error next
to that server's IP field; the tenant switcher is there. Then as a user with the predefined role
Application-Operator (reads application objects, writes none), created through the API: the virtual
services are listed and no create, edit or delete control is offered. A screenshot of every page visited
goes to DIR. `--no-traffic` (a controller without SEs) skips only the non-zero traffic checks. Prints
`console_test: PASS`, or exits 1 with the failed check.
"""

import argparse
import base64
import hashlib
import json
import os
import random
import ssl
import sys
import urllib.error
import urllib.request

try:
    from selenium import webdriver
except ImportError:
    # Debian's python3-selenium lives with /usr/bin/python3; another python3 may be first on PATH.
    if os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

WAIT = 30


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)
    print("ok:", what)


class API:
    """The controller's REST API with admin's Basic auth (setup and verification only)."""

    def __init__(self, url, password, ca_file=None):
        self.url = url.rstrip("/")
        self.auth = "Basic " + base64.b64encode(("admin:" + password).encode()).decode()
        # An https:// controller is verified against its cluster CA.
        self.tls = ssl.create_default_context(cafile=ca_file) if ca_file else None

    def call(self, method, path, body=None):
        req = urllib.request.Request(self.url + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
        req.add_header("Authorization", self.auth)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.tls) as r:
                text = r.read().decode()
                return r.status, json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, {"error": text}


class Console:
    def __init__(self, url, out):
        self.url = url.rstrip("/")
        self.out = out
        opts = webdriver.ChromeOptions()
        # The controller's certificate comes from the lab's own cluster CA, which Chromium does not know (a
        # user clicks through the warning once); the API calls above verify it.
        opts.accept_insecure_certs = True
        for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
            opts.add_argument(a)
        opts.binary_location = "/usr/bin/chromium"
        opts.set_capability("goog:loggingPrefs", {"browser": "SEVERE"})
        self.d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        self.d.set_page_load_timeout(WAIT)

    def shot(self, name):
        path = os.path.join(self.out, name)
        self.d.save_screenshot(path)
        print("screenshot:", path)

    def wait(self, cond, what, timeout=WAIT):
        try:
            return WebDriverWait(self.d, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(
                lambda d: cond(d))
        except TimeoutException:
            errors = self.d.find_elements(By.CSS_SELECTOR, ".notice.error")
            extra = "; page says: " + " | ".join(e.text for e in errors if e.text) if errors else ""
            self.shot("failure.png")
            raise Failure("timed out after %d s waiting for %s (at %s)%s" % (timeout, what, self.d.current_url, extra))

    def css(self, sel):
        return self.d.find_elements(By.CSS_SELECTOR, sel)

    def one(self, sel, what=None):
        return self.wait(lambda d: (d.find_elements(By.CSS_SELECTOR, sel) or [None])[0], what or sel)

    def go(self, hash_):
        self.d.execute_script("location.hash = arguments[0]", hash_)

    def loaded(self, page_id, what):
        return self.one("#%s[data-loaded='true']" % page_id, what)

    def login(self, user, password):
        self.one("#login-form", "the login form")
        self.wait(lambda d: d.find_element(By.ID, "login").is_displayed(), "the login form to show")
        u = self.d.find_element(By.ID, "login-username")
        u.clear()
        u.send_keys(user)
        p = self.d.find_element(By.ID, "login-password")
        p.clear()
        p.send_keys(password)
        self.d.find_element(By.ID, "login-submit").click()
        self.wait(lambda d: d.find_element(By.ID, "shell").is_displayed() or
                  (d.find_element(By.ID, "login-message").is_displayed() and d.find_element(By.ID, "login-message").text),
                  "the console after logging in as %s" % user)
        msg = self.d.find_element(By.ID, "login-message")
        if not self.d.find_element(By.ID, "shell").is_displayed():
            raise Failure("login as %s failed: %s" % (user, msg.text))

    def logout(self):
        self.d.find_element(By.ID, "logout").click()
        self.wait(lambda d: d.find_element(By.ID, "login").is_displayed(), "the login form after logging out")


ROW_INFO = """
const r = document.querySelector('tr.vs-row[data-name="' + CSS.escape(arguments[0]) + '"]');
if (!r || r.dataset.complete !== 'true') return null;
const hb = r.querySelector('.health'), sp = r.querySelector('td.rps svg.spark'), st = r.querySelector('.badge');
return {uuid: r.dataset.uuid, score: hb ? hb.dataset.score : '', reasons: hb ? hb.title : '',
        state: st ? st.textContent : '', points: +sp.dataset.points, max: +sp.dataset.max,
        controls: r.querySelectorAll('a.btn, button.danger').length};
"""


def row_info(c, vs, what, cond=lambda i: True):
    """The dashboard row of `vs`, read in one script (the dashboard refreshes its rows in the background)."""
    return c.wait(lambda d: (lambda i: i if i and cond(i) else None)(d.execute_script(ROW_INFO, vs)), what)


def dashboard_checks(c, vs, traffic):
    c.go("#/dashboard")
    dash = c.loaded("dashboard", "the dashboard to render every row (data-loaded)")
    check(True, "dashboard rendered %s virtual service rows" % dash.get_attribute("data-rows"))
    info = row_info(c, vs, "virtual service %s on the dashboard" % vs)
    if traffic:
        info = row_info(c, vs, "traffic in the requests sparkline of %s" % vs, lambda i: i["points"] > 0 and i["max"] > 0)
    c.shot("dashboard.png")
    check(info["score"] != "" and 0 <= float(info["score"]) <= 100, "%s has a health score (%s)" % (vs, info["score"]))
    check(bool(info["reasons"]), "the health score explains itself on hover (%r)" % info["reasons"][:100])
    check(bool(info["state"]), "%s shows its state (%s)" % (vs, info["state"]))
    if traffic:
        check(True, "the requests sparkline of %s has traffic (%d points, max %.2f/s)" % (vs, info["points"], info["max"]))
    else:
        print("note: --no-traffic: sparkline has %d points, max %.2f (not checked)" % (info["points"], info["max"]))
    check(bool(c.css("#se-table")), "the dashboard has the service engine table")
    return info["uuid"]


def detail_checks(c, vs, uuid, traffic):
    c.wait(lambda d: d.find_element(By.CSS_SELECTOR, "tr.vs-row[data-uuid='%s'] a.vs-name" % uuid).click() or True,
           "a click on the name of %s" % vs)
    c.loaded("vs-detail", "the virtual service page")
    check(("#/vs/" + uuid) in c.d.current_url, "the name opens the virtual service page")
    chart = c.one("#chart-rps", "the requests chart")
    if traffic:
        chart = c.wait(lambda d: (lambda e: e if int(e.get_attribute("data-nonzero") or 0) > 0 else None)(
            d.find_element(By.ID, "chart-rps")), "non-zero points in the requests chart")
        check(True, "the rps chart has %s points, %s non-zero, max %s/s" % (
            chart.get_attribute("data-points"), chart.get_attribute("data-nonzero"), chart.get_attribute("data-max")))
    else:
        print("note: --no-traffic: rps chart has %s points" % chart.get_attribute("data-points"))
    for cid in ("chart-bandwidth", "chart-latency", "chart-errors"):
        check(bool(c.css("#" + cid)), "the page has chart %s" % cid)
    check(bool(c.css("#placement-table")), "the page has the placement table")
    c.wait(lambda d: d.find_elements(By.ID, "request-log-table") or d.find_elements(By.ID, "request-logs-unavailable"),
           "the request logs (table or why there is none)")
    if c.css("#request-log-table"):
        rows = c.css("#request-log-table tr.log-row")
        check(True, "the request-log table is shown (%d rows)" % len(rows))
        if traffic and rows:
            c.d.find_element(By.ID, "log-status").send_keys("200")
            c.d.find_element(By.CSS_SELECTOR, "#log-filters button[type=submit]").click()
            c.wait(lambda d: "requests" in d.find_element(By.ID, "request-logs-status").text, "the filtered request logs")
            codes = {r.find_elements(By.TAG_NAME, "td")[4].text for r in c.css("#request-log-table tr.log-row")}
            check(codes <= {"200"}, "the status filter keeps only 200 responses (%s)" % sorted(codes))
    else:
        why = c.d.find_element(By.ID, "request-logs-unavailable").text
        print("note: request logs unavailable:", why)
    c.shot("vs-detail.png")


POOL_INFO = """
const ch = document.getElementById('chart-pool-rps');
const rows = [...document.querySelectorAll('#server-table tr.server-row')];
return {chart: !!ch, points: ch ? +ch.dataset.points : 0, nonzero: ch ? +ch.dataset.nonzero : 0, max: ch ? +ch.dataset.max : 0,
        latency: !!document.getElementById('chart-pool-latency'),
        unavailable: (document.getElementById('pool-metrics-unavailable') || {}).textContent || '',
        rows: rows.map((r) => ({server: r.dataset.server, figures: r.dataset.figures || '',
          rps: (r.querySelector('td.srv-rps') || {}).textContent || '',
          value: +((r.querySelector('td.srv-rps') || {dataset: {}}).dataset.value || 0)}))};
"""


def pool_analytics_checks(c, api, vs_uuid, traffic):
    """The pool of the virtual service (its Pool link, else the API's pool_ref): last-hour chart of the whole
    pool and each server's last-5-minute figures."""
    links = c.css("#vs-pool-link")
    if links:
        pool_uuid = links[0].get_attribute("href").split("#/pool/", 1)[1]
        links[0].click()
    else:
        status, vs = api.call("GET", "/api/virtualservice/" + vs_uuid)
        check(status == 200 and vs.get("pool_ref"), "the virtual service has a pool (%d)" % status)
        pool_uuid = vs["pool_ref"].split("#")[0].rstrip("/").split("/")[-1]
        c.go("#/pool/" + pool_uuid)
    c.loaded("page-pool", "the pool page of the virtual service")
    check(("#/pool/" + pool_uuid) in c.d.current_url, "the Pool link opens the pool page")
    info = c.wait(lambda d: (lambda i: i if i["chart"] or i["unavailable"] else None)(d.execute_script(POOL_INFO)),
                  "the pool's last-hour chart")
    check(info["chart"] and info["latency"], "the pool page has the responses and latency charts (%s)" % (info["unavailable"] or "ok"))
    check(info["rows"] and all(r["figures"] for r in info["rows"]),
          "every server row has its last-5-minute figures (%s)" % ", ".join("%s=%s" % (r["server"], r["rps"]) for r in info["rows"]))
    if traffic:
        info = c.wait(lambda d: (lambda i: i if i["nonzero"] > 0 else None)(d.execute_script(POOL_INFO)),
                      "non-zero points in the pool's responses chart")
        check(True, "the pool chart has %d points, %d non-zero, max %.2f/s" % (info["points"], info["nonzero"], info["max"]))
        info = c.wait(lambda d: (lambda i: i if any(r["value"] > 0 for r in i["rows"]) else None)(d.execute_script(POOL_INFO)),
                      "a server row with non-zero responses/s")
        busy = [r for r in info["rows"] if r["value"] > 0]
        check(True, "%d of %d servers show responses/s (%s)" % (len(busy), len(info["rows"]),
                                                               ", ".join("%s %s/s" % (r["server"], r["rps"]) for r in busy)))
    else:
        print("note: --no-traffic: pool chart has %d points, %d non-zero (not checked)" % (info["points"], info["nonzero"]))
    c.shot("pool-analytics.png")


def pool_checks(c, api, tag):
    name = "console-pool-" + tag
    c.go("#/new/pool")
    c.loaded("page-new", "the pool form")
    c.d.find_element(By.ID, "f-name").send_keys(name)
    c.d.find_element(By.ID, "add-servers").click()
    row = c.one("tr.servers-row[data-index='0']")
    row.find_element(By.CSS_SELECTOR, "input.sub-ip").send_keys("10.9.0.1")
    row.find_element(By.CSS_SELECTOR, "input.sub-port").send_keys("8080")
    c.shot("pool-form.png")
    c.d.find_element(By.ID, "form-save").click()
    c.loaded("page-pool", "the new pool's page")
    status, body = api.call("GET", "/api/pool?name=" + name)
    check(status == 200 and body["count"] == 1 and body["results"][0]["servers"][0]["ip"]["addr"] == "10.9.0.1"
          and body["results"][0]["servers"][0]["port"] == 8080,
          "the pool created through the form exists in the API with its server")
    c.shot("pool-detail.png")
    pool_uuid = body["results"][0]["uuid"]

    bad = "console-bad-" + tag
    c.go("#/new/pool")
    c.loaded("page-new", "the pool form again")
    c.d.find_element(By.ID, "f-name").send_keys(bad)
    c.d.find_element(By.ID, "add-servers").click()
    c.d.find_element(By.ID, "add-servers").click()
    rows = c.css("tr.servers-row")
    rows[0].find_element(By.CSS_SELECTOR, "input.sub-ip").send_keys("10.9.0.2")
    rows[1].find_element(By.CSS_SELECTOR, "input.sub-ip").send_keys("999.1.1.1")
    c.d.find_element(By.ID, "form-save").click()
    err = c.one("td[data-path='servers[1].ip'] .field-error", "the validation error next to servers[1].ip")
    status, api_err = api.call("POST", "/api/pool", {"name": bad, "servers": [
        {"ip": {"addr": "10.9.0.2", "type": "V4"}}, {"ip": {"addr": "999.1.1.1", "type": "V4"}}]})
    expected = api_err["error"].split(": ", 1)[1]
    check(status == 400 and err.text == expected,
          "the API's error is shown by the server's IP field (%r)" % err.text)
    check(not c.css("#form-error:not(.hidden)"), "no form-level error when the field is known")
    c.shot("pool-error.png")
    status, body = api.call("GET", "/api/pool?name=" + bad)
    check(body["count"] == 0, "the invalid pool was not created")
    return pool_uuid


def cluster_checks(c, ca_file):
    """The Controller Cluster page: the nodes with one leader, and the cluster CA's SHA-256 as the CA file has it."""
    c.go("#/cluster")
    c.loaded("page-cluster", "the cluster page")
    rows = c.css("#cluster-table tbody tr")
    roles = [r.find_elements(By.TAG_NAME, "td")[2].text for r in rows if len(r.find_elements(By.TAG_NAME, "td")) > 2]
    check(rows and roles.count("LEADER") == 1, "the cluster page lists the nodes with one leader (%s)" % roles)
    if ca_file:
        with open(ca_file) as f:
            pem = f.read()
        body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
        want = hashlib.sha256(base64.b64decode("".join(body.split()))).hexdigest()
        shown = c.wait(lambda d: (lambda t: t if len(t) == 64 else None)(c.one("#ca-fingerprint").text),
                       "the CA fingerprint")
        check(shown == want, "the cluster page shows the CA's SHA-256 (%s, the CA file's is %s)" % (shown, want))
    c.shot("cluster.png")


def operator_checks(c, api, vs, tag):
    user, password = "console-operator-" + tag, "operator-pw-" + tag
    status, body = api.call("POST", "/api/user", {
        "name": user, "password": password, "default_tenant_ref": "/api/tenant/admin",
        "access": [{"role_ref": "/api/role/?name=Application-Operator", "tenant_ref": "/api/tenant/admin"}]})
    check(status == 201, "admin creates user %s with role Application-Operator (%d %s)" % (user, status, "" if status == 201 else body))
    user_uuid = body["uuid"]
    c.logout()
    c.login(user, password)
    c.go("#/dashboard")
    c.loaded("dashboard", "the operator's dashboard")
    info = row_info(c, vs, "virtual service %s on the operator's dashboard" % vs)
    c.shot("operator-dashboard.png")
    check(not c.css("#create-vs"), "the operator gets no 'Create virtual service' button")
    check(info["controls"] == 0, "the operator's VS rows have no edit/delete controls")
    check(not c.css("#nav-users"), "the operator does not see the Users page (no PERMISSION_USER)")
    c.wait(lambda d: d.find_element(By.CSS_SELECTOR, "tr.vs-row[data-uuid='%s'] a.vs-name" % info["uuid"]).click() or True,
           "a click on the name of %s" % vs)
    c.loaded("vs-detail", "the operator's virtual service page")
    check(not c.css("#edit-vs") and not c.css("#delete-vs") and not c.css("#scale-out"),
          "the operator's virtual service page has no edit/delete/scale controls")
    c.shot("operator-vs-detail.png")
    c.go("#/pools")
    c.loaded("page-pools", "the operator's pool list")
    check(not c.css("#create-pool") and not c.css("#pool-table button.danger") and not c.css("#pool-table a.btn"),
          "the operator's pool list has no create/edit/delete controls")
    c.shot("operator-pools.png")
    c.go("#/new/pool")
    c.loaded("page-new", "the pool form as operator")
    check(not c.d.find_element(By.ID, "form-save").is_enabled(), "the operator's pool form cannot be submitted")
    c.logout()
    return user_uuid


def expiry_checks(c, password):
    c.login("admin", password)
    c.go("#/dashboard")
    c.loaded("dashboard", "the dashboard after logging in again")
    c.d.delete_cookie("sessionid")
    c.go("#/pools")
    c.wait(lambda d: d.find_element(By.ID, "login").is_displayed(), "the login form after the session ended")
    msg = c.d.find_element(By.ID, "login-message").text
    check("session" in msg.lower(), "an ended session goes back to the login form with the reason (%r)" % msg)
    c.shot("session-expired.png")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--password", required=True, help="admin's password")
    ap.add_argument("--vs", required=True, help="a virtual service with traffic")
    ap.add_argument("--out", required=True, help="directory for the screenshots")
    ap.add_argument("--no-traffic", action="store_true", help="do not require non-zero traffic data")
    ap.add_argument("--ca-file", help="the controller's cluster CA (PEM), for an https:// URL")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    api = API(args.url, args.password, args.ca_file)
    tag = "%06x" % random.randrange(1 << 24)
    traffic = not args.no_traffic
    c = Console(args.url, args.out)
    created = []
    try:
        c.d.get(args.url + "/")
        c.login("admin", args.password)
        uuid = dashboard_checks(c, args.vs, traffic)
        sw = c.css("#tenant-switcher")
        check(sw and sw[0].is_displayed() and "admin" in [o.text for o in sw[0].find_elements(By.TAG_NAME, "option")],
              "admin has the tenant switcher (tenant admin listed)")
        detail_checks(c, args.vs, uuid, traffic)
        cluster_checks(c, args.ca_file)
        pool_analytics_checks(c, api, uuid, traffic)
        created.append(("pool", pool_checks(c, api, tag)))
        c.go("#/pools")
        c.loaded("page-pools", "the pool list")
        c.shot("pools.png")
        created.append(("user", operator_checks(c, api, args.vs, tag)))
        expiry_checks(c, args.password)
        logs = [e for e in c.d.get_log("browser") if e.get("level") == "SEVERE" and "/api/" not in e.get("message", "")
                and "favicon" not in e.get("message", "")]
        check(not logs, "no script errors in the browser console (%s)" % [e["message"][:120] for e in logs])
    except Failure as e:
        print("console_test: FAIL:", e)
        sys.exit(1)
    finally:
        for kind, uuid in reversed(created):
            api.call("DELETE", "/api/%s/%s" % (kind, uuid))
        c.d.quit()
    print("console_test: PASS")


if __name__ == "__main__":
    main()
