#!/usr/bin/env python3
"""VIP change latency: rewrite a `starling bgp` config to add (then remove) one /32, send SIGHUP,
and time until a BIRD peer has (then no longer has) the route. BIRD is polled over one persistent
control-socket connection. Times are CLOCK_MONOTONIC; each try is bounded.

    vipchange.py BIRD_SOCKET STARLING_PID CONFIG_TEMPLATE CONFIG_PATH [--tries N]

CONFIG_TEMPLATE holds the config with the line `{extra}` where the added announce entry goes.
"""
import argparse, json, os, re, signal, socket, statistics, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("sock"); ap.add_argument("pid", type=int); ap.add_argument("template"); ap.add_argument("config")
ap.add_argument("--tries", type=int, default=20); ap.add_argument("--json")
a = ap.parse_args()

s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(a.sock)
f = s.makefile("rb"); f.readline()
def query(cmd):
    s.sendall((cmd + "\n").encode()); out = []
    while True:
        line = f.readline().decode(errors="replace")
        if not line: sys.exit("vipchange: BIRD closed the socket")
        out.append(line)
        if re.match(r"^(0000|8\d\d\d|9\d\d\d) ", line): return "".join(out)

template = open(a.template).read()
def write(extra):
    tmp = a.config + ".tmp"
    open(tmp, "w").write(template.replace("{extra}", extra)); os.replace(tmp, a.config)

def wait(prefix, present, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = query("show route %s" % prefix)
        if (prefix in r) == present: return time.monotonic()
    return None

adds, dels = [], []
for i in range(a.tries):
    prefix = "192.0.2.%d/32" % (100 + i)
    write("  - %s\n" % prefix)
    t0 = time.monotonic(); os.kill(a.pid, signal.SIGHUP); t1 = wait(prefix, True)
    if t1: adds.append(t1 - t0)
    write("")
    t2 = time.monotonic(); os.kill(a.pid, signal.SIGHUP); t3 = wait(prefix, False)
    if t3: dels.append(t3 - t2)
    time.sleep(0.05)
res = {"tries": a.tries, "announce_ok": len(adds), "withdraw_ok": len(dels),
       "announce_median_ms": statistics.median(adds) * 1000 if adds else None,
       "announce_min_ms": min(adds) * 1000 if adds else None,
       "withdraw_median_ms": statistics.median(dels) * 1000 if dels else None,
       "withdraw_min_ms": min(dels) * 1000 if dels else None}
print(json.dumps(res))
if a.json: open(a.json, "w").write(json.dumps(res))
