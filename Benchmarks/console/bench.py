#!/usr/bin/env python3
"""Creates COUNT virtual services through the API, then times the console's dashboard and virtual
service page in headless Chromium (see run.sh)."""

import argparse
import base64
import json
import statistics
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def call(url, auth, method, path, body=None):
    req = urllib.request.Request(url + path, method=method, data=None if body is None else json.dumps(body).encode())
    req.add_header("Authorization", auth)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def create(url, auth, i):
    name = "bench-vs-%04d" % i
    addr = "10.%d.%d.%d" % (1 + i // 65024, (i // 254) % 256, 1 + i % 254)
    for path, body in (
        ("/api/vsvip", {"name": name + "-vip", "vip": [{"vip_id": "0", "ip_address": {"addr": addr, "type": "V4"}}]}),
        ("/api/pool", {"name": name + "-pool", "servers": [{"ip": {"addr": "192.168.%d.%d" % (i // 250, 1 + i % 250), "type": "V4"}}]}),
        ("/api/virtualservice", {"name": name, "vsvip_ref": "/api/vsvip/?name=%s-vip" % name,
                                 "pool_ref": "/api/pool/?name=%s-pool" % name, "services": [{"port": 80}]}),
    ):
        status, r = call(url, auth, "POST", path, body)
        if status != 201:
            raise SystemExit("bench: POST %s %s: %d %s" % (path, name, status, r))


def summary(label, xs, unit="ms"):
    print("%-38s median %7.0f %s   min %7.0f   max %7.0f   (%d runs)" % (label, statistics.median(xs), unit, min(xs), max(xs), len(xs)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--clients", type=int, default=8)
    args = ap.parse_args()
    url = args.url.rstrip("/")
    auth = "Basic " + base64.b64encode(("admin:" + args.password).encode()).decode()

    t0 = time.time()
    with ThreadPoolExecutor(args.clients) as ex:
        list(ex.map(lambda i: create(url, auth, i), range(args.count)))
    print("created %d virtual services (vsvip + pool each) in %.1f s with %d clients" % (
        args.count, time.time() - t0, args.clients))
    inventory = call(url, auth, "GET", "/api/virtualservice-inventory?page_size=1")[0]
    print("inventory endpoint: %s" % ("available" if inventory == 200 else "not available (HTTP %d): per-service fallback" % inventory))

    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        opts.add_argument(a)
    opts.binary_location = "/usr/bin/chromium"
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        d.get(url + "/")
        WebDriverWait(d, 30).until(lambda d: d.find_element(By.ID, "login").is_displayed())
        d.find_element(By.ID, "login-username").send_keys("admin")
        d.find_element(By.ID, "login-password").send_keys(args.password)
        d.find_element(By.ID, "login-submit").click()
        WebDriverWait(d, 30).until(lambda d: d.find_element(By.ID, "shell").is_displayed())

        def measure(hash_, page_id, rows=None):
            d.get("about:blank")
            d.get(url + "/" + hash_)
            sel = "#%s[data-loaded='true']" % page_id
            WebDriverWait(d, 300).until(lambda d: d.find_elements(By.CSS_SELECTOR, sel))
            el = d.find_element(By.CSS_SELECTOR, sel)
            if rows is not None:
                n = len(d.find_elements(By.CSS_SELECTOR, "tr.vs-row"))
                if n != rows:
                    raise SystemExit("bench: the dashboard shows %d rows, expected %d" % (n, rows))
            nav = d.execute_script("const n = performance.getEntriesByType('navigation')[0]; return [n.domContentLoadedEventEnd, n.loadEventEnd];")
            api = d.execute_script("return performance.getEntriesByType('resource').filter(e => e.name.includes('/api/')).length")
            return float(el.get_attribute("data-loaded-at")), nav[0], api

        dash = [measure("#/dashboard", "dashboard", args.count) for _ in range(args.runs)]
        summary("dashboard, %d rows rendered" % args.count, [x[0] for x in dash])
        summary("dashboard, DOMContentLoaded", [x[1] for x in dash])
        print("dashboard API requests per load: %s" % sorted({x[2] for x in dash}))
        uuid = call(url, auth, "GET", "/api/virtualservice?name=bench-vs-0500")[1]["results"][0]["uuid"]
        vs = [measure("#/vs/" + uuid, "vs-detail") for _ in range(args.runs)]
        summary("virtual service page, charts rendered", [x[0] for x in vs])
        print("virtual service page API requests per load: %s" % sorted({x[2] for x in vs}))
    finally:
        d.quit()


if __name__ == "__main__":
    sys.exit(main())
