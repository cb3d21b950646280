#!/usr/bin/env python3
"""Poll a BIRD control socket (one persistent connection, no fork per poll) and report, in
CLOCK_MONOTONIC seconds, when protocol PROTO became Established and when it had imported N routes.

    birdwatch.py SOCKET PROTO N [--timeout S] [--json FILE]
"""
import argparse, json, re, socket, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("sock"); ap.add_argument("proto"); ap.add_argument("n", type=int)
ap.add_argument("--timeout", type=float, default=120); ap.add_argument("--json")
a = ap.parse_args()

s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
deadline = time.monotonic() + a.timeout
while True:
    try:
        s.connect(a.sock); break
    except OSError:
        if time.monotonic() > deadline: sys.exit("birdwatch: cannot connect to " + a.sock)
        time.sleep(0.01)
f = s.makefile("rb")
def reply():
    out = []
    while True:
        line = f.readline().decode(errors="replace")
        if not line: raise SystemExit("birdwatch: BIRD closed the socket")
        out.append(line)
        if re.match(r"^\d{4} ", line) and not line.startswith("1002-"):
            code = line[:4]
            if code in ("0000", "0013") or code.startswith(("8", "9")): return "".join(out)
f.readline()  # greeting: "0001 BIRD x.y ready."
est = done = None
while time.monotonic() < deadline:
    s.sendall(("show protocols all %s\n" % a.proto).encode())
    r = reply()
    now = time.monotonic()
    if est is None and "Established" in r: est = now
    m = re.search(r"Routes:\s+(\d+) imported", r)
    if est is not None and m and int(m.group(1)) >= a.n:
        done = now; break
res = {"ok": done is not None, "established": est, "done": done,
       "seconds": (done - est) if done and est else None}
if a.json:
    open(a.json, "w").write(json.dumps(res))
print(json.dumps(res))
