#!/usr/bin/env python3
"""Simulated SEs heart-beating to a Starling controller with analytics counters (Benchmarks/analytics).

Usage: sim.py URL SES VS_PER_SE RPS SECONDS CONTROLLER_PID STORE_PATH

Registers SES service engines (one join token each), creates VS_PER_SE virtual services per SE (Default-Group
places each on one SE), then every second sends each SE's heartbeat: the counters of the services the
controller placed on it, growing at RPS requests per second per SE (2% 4xx, 4 ms each, 2 KB per request).
With LOGS=N (default 0), each heartbeat also carries N request logs per SE per second (what the SEs'
default throttles let through: the significant requests, 10 a second per service at most). After 10 s of
warm-up, measures for SECONDS: the controller's CPU time (/proc/PID/stat) and the metrics and request-log rows
and bytes the store gained. Prints one JSON line.
"""
import base64, json, os, sys, time, urllib.request

URL, SES, VS_PER_SE, RPS, SECONDS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
PID, DB = sys.argv[6], sys.argv[7]
# COUNTERS=0: heartbeats without the analytics counters (what the controller costs without analytics).
COUNTERS = os.environ.get("COUNTERS", "1") != "0"
LOGS = int(os.environ.get("LOGS", "0"))
TICK = os.sysconf("SC_CLK_TCK")


def cpu():
    fields = open("/proc/%s/stat" % PID).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rows():
    import sqlite3
    db = sqlite3.connect(DB)
    n, size = db.execute("SELECT count(*), coalesce(sum(length(sample) + length(entity) + 24), 0) FROM metrics").fetchone()
    logs, log_bytes = db.execute(
        "SELECT count(*), coalesce(sum(length(json) + length(vs) + length(se) + length(se_name) + length(client_ip)"
        " + length(method) + length(uri_path) + length(server_ip) + 40), 0) FROM request_logs").fetchone()
    db.close()
    return n, size, logs, log_bytes
AUTH = "Basic " + base64.b64encode(("admin:" + os.environ["STARLING_ADMIN_PASSWORD"]).encode()).decode()


def call(method, path, body=None, headers=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {"Authorization": AUTH})
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(URL + path, data=data, method=method, headers=h)
    with urllib.request.urlopen(req, timeout=30) as r:
        text = r.read()
        return json.loads(text) if text else None


call("POST", "/api/pool", {"name": "p", "servers": [{"ip": {"addr": "198.51.100.1", "type": "V4"}, "port": 80}]})
# Room for every simulated SE and service (Default-Group's own limits are 10 SEs and 10 services per SE).
group = call("GET", "/api/serviceenginegroup?name=Default-Group")["results"][0]
call("PATCH", "/api/serviceenginegroup/" + group["uuid"],
     {"replace": {"max_se": max(SES, 1), "max_vs_per_se": max(VS_PER_SE, 1)}})
ses = []
for i in range(SES):
    token = call("GET", "/api/securetoken-generate")["auth_token"]
    r = call("POST", "/api/se-agent/register", {"token": token, "name": "sim%d" % i,
             "data_address": {"addr": "198.51.100.%d" % (10 + i), "type": "V4"}}, headers={})
    ses.append({"uuid": r["se_uuid"], "auth": {"Authorization": "Bearer " + r["se_secret"]}, "counters": {}})


def request_log(vs, i):
    now = int(time.time() * 1000)
    return {"timestamp_ms": now - 4, "vs_uuid": vs, "client_ip": "203.0.113.%d" % (i % 250 + 1),
            "client_src_port": 30000 + i % 30000, "method": "GET", "uri_path": "/api/items/%d" % (i % 997),
            "uri_query": "page=2", "host": "shop.example", "http_version": "HTTP/1.1", "response_code": 404,
            "total_time_ms": 4.2, "request_length": 310, "response_length": 153, "server_ip": "198.51.100.1",
            "server_port": 80, "significant": True, "significance": "client error response (404)"}


def beat(se):
    status = {"se_uuid": se["uuid"], "applied_version": 0, "draining": False, "bgp_peers": [], "connections": 0,
              "virtual_services": []}
    if LOGS and se.get("placed"):
        status["request_logs"] = [request_log(se["placed"][i % len(se["placed"])], i) for i in range(LOGS)]
        status["request_logs_dropped"] = 0
    for uuid, c in se["counters"].items():
        status["virtual_services"].append({
            "uuid": uuid, "name": uuid, "oper_state": "OPER_UP", "reason": "", "advertised": True,
            "advertise_reason": "", "servers": [], "active_connections": 10, "requests": c["requests"]})
        if COUNTERS:
            status["virtual_services"][-1]["counters"] = c
    call("POST", "/api/se-agent/%s/heartbeat" % se["uuid"], status, headers=se["auth"])


for se in ses:
    beat(se)  # up before the services are placed
for i in range(SES * VS_PER_SE):
    call("POST", "/api/vsvip", {"name": "v%d" % i, "vip": [{"vip_id": "0", "ip_address": {"addr": "192.0.2.%d" % (i % 250 + 1), "type": "V4"}}]})
    call("POST", "/api/virtualservice", {"name": "vs%d" % i, "vsvip_ref": "/api/vsvip/?name=v%d" % i,
         "pool_ref": "/api/pool/?name=p", "services": [{"port": 80 + i // 250}]})



def run(seconds):
    beats = 0
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        tick = time.monotonic()
        for se in ses:
            # The placement, read every 10 s (a real SE long-polls it; its cost is not analytics').
            if time.monotonic() - se.get("read", 0) > 10:
                se["placed"] = [v["virtualservice"]["uuid"] for v in call(
                    "GET", "/api/se-agent/%s/desired" % se["uuid"], headers=se["auth"])["virtual_services"]]
                se["read"] = time.monotonic()
            placed = se["placed"]
            per = RPS // max(1, len(placed))
            for uuid in placed:
                c = se["counters"].setdefault(uuid, {"connections": 0, "requests": 0, "bytes_in": 0, "bytes_out": 0,
                                                      "responses": [0, 0, 0, 0, 0], "timed_responses": 0,
                                                      "latency_us": 0})
                c["connections"] += per // 10
                c["requests"] += per
                c["bytes_in"] += per * 500
                c["bytes_out"] += per * 1500
                c["responses"][1] += per - per // 50
                c["responses"][3] += per // 50
                c["timed_responses"] += per
                c["latency_us"] += per * 4000
            beat(se)
            beats += 1
        time.sleep(max(0, 1 - (time.monotonic() - tick)))
    return beats, time.monotonic() - start


run(10)
cpu0, (rows0, bytes0, logs0, log_bytes0) = cpu(), rows()
beats, elapsed = run(SECONDS)
cpu1, (rows1, bytes1, logs1, log_bytes1) = cpu(), rows()
print(json.dumps({"counters": COUNTERS, "logs_per_se_second": LOGS, "request_logs": logs1 - logs0,
                  "request_log_bytes": log_bytes1 - log_bytes0, "ses": SES, "services": SES * VS_PER_SE, "heartbeats": beats, "seconds": round(elapsed, 1),
                  "controller_cpu_seconds": round(cpu1 - cpu0, 3), "metrics_rows": rows1 - rows0,
                  "metrics_bytes": bytes1 - bytes0, "bytes_per_row": round((bytes1 - bytes0) / max(1, rows1 - rows0))}))
