#!/usr/bin/env bash
# Leader failover of a controller cluster on etcd: one etcd member and NODES controller nodes (release
# binary) on loopback; the leader is killed with SIGKILL (no lease revocation: the cluster notices by
# itself, within the lease's 5 s), ROUNDS times, the killed node restarted as a follower each time. Prints
# per round the time until another node leads (GET /api/cluster/runtime on a survivor), and until a write
# through a survivor is accepted (followers keep accepting writes: this checks it). No root; loopback only.
#
#   Benchmarks/controller-store/failover.sh            # builds the release binary first
#   NODES=3 ROUNDS=5 STARLING=/path/to/starling Benchmarks/controller-store/failover.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ -z ${STARLING:-} ]]; then
    swift build -c release --product starling >&2
    STARLING=$(swift build -c release --show-bin-path)/starling
fi
command -v etcd >/dev/null || { echo "etcd is not installed (apt-get install etcd-server)" >&2; exit 1; }
echo "$(uname -r), $(nproc) CPUs"
exec python3 - "$STARLING" "${NODES:-3}" "${ROUNDS:-5}" <<'PY'
import base64, http.client, json, os, shutil, signal, socket, subprocess, sys, tempfile, time
starling, nodes, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
run = tempfile.mkdtemp(prefix="failover-bench.")
procs = []
def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
def wait_http(url):
    for _ in range(200):
        try:
            c = http.client.HTTPConnection(url[0], url[1], timeout=1); c.request("GET", url[2]); ok = c.getresponse().status == 200; c.close()
            if ok: return
        except Exception: pass
        time.sleep(0.1)
    raise SystemExit(f"no answer from {url}")
client, peer = free_port(), free_port()
procs.append(subprocess.Popen(["etcd", "--name", "bench", "--data-dir", f"{run}/etcd",
    "--listen-client-urls", f"http://127.0.0.1:{client}", "--advertise-client-urls", f"http://127.0.0.1:{client}",
    "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
    "--initial-cluster", f"bench=http://127.0.0.1:{peer}", "--max-txn-ops", "4096", "--log-level", "error"],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
wait_http(("127.0.0.1", client, "/health"))
ports = [free_port() for _ in range(nodes)]
node = {}
def start(i):
    d = f"{run}/n{i}"; os.makedirs(d, exist_ok=True)
    if os.path.exists(f"{run}/secrets.key"): shutil.copy(f"{run}/secrets.key", f"{d}/secrets.key")
    env = dict(os.environ, STARLING_ADMIN_PASSWORD="bench-password-1")
    p = subprocess.Popen([starling, "controller", "--listen", f"127.0.0.1:{ports[i]}", "--insecure-http", "--data-dir", d,
        "--password-iterations", "1000", "--store", "etcd", "--etcd-endpoints", f"http://127.0.0.1:{client}",
        "--node-name", f"n{i}"], env=env, stdout=subprocess.DEVNULL, stderr=open(f"{d}.log", "a"))
    procs.append(p); node[i] = p
    wait_http(("127.0.0.1", ports[i], "/api/initial-data"))
    if not os.path.exists(f"{run}/secrets.key"): shutil.copy(f"{d}/secrets.key", f"{run}/secrets.key")
auth = {"Authorization": "Basic " + base64.b64encode(b"admin:bench-password-1").decode(), "Content-Type": "application/json"}
def call(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    c.request(method, path, json.dumps(body) if body is not None else None, auth)
    r = c.getresponse(); data = r.read(); c.close()
    return r.status, (json.loads(data) if data else None)
def leader(port):
    try:
        s, b = call(port, "GET", "/api/cluster/runtime")
        return next((n["name"] for n in b["node_states"] if n["role"] == "CLUSTER_LEADER"), None) if s == 200 else None
    except Exception:
        return None
try:
    for i in range(nodes): start(i)
    print(f"{nodes} controller nodes on one etcd member, lease TTL 5 s")
    for _ in range(100):
        if leader(ports[0]): break
        time.sleep(0.1)
    led_times, write_times = [], []
    for r in range(rounds):
        old = leader(ports[0]) or leader(ports[1])
        i = int(old[1:]); survivor = ports[(i + 1) % nodes]
        node[i].send_signal(signal.SIGKILL); node[i].wait()
        t0 = time.perf_counter(); led = wrote = None
        while (led is None or wrote is None) and time.perf_counter() - t0 < 30:
            now = time.perf_counter() - t0
            if wrote is None:
                try:
                    if call(survivor, "POST", "/api/pool", {"name": f"after-kill-{r}"})[0] == 201: wrote = time.perf_counter() - t0
                except Exception: pass
            if led is None:
                l = leader(survivor)
                if l and l != old: led = now
            time.sleep(0.02)
        print(f"round {r + 1}: SIGKILL {old}; {leader(survivor)} leads after {led:.2f} s; "
              f"a write through a survivor accepted after {wrote * 1000:.0f} ms")
        led_times.append(led); write_times.append(wrote)
        start(i)
    led_times.sort(); write_times.sort()
    print(f"new leader: median {led_times[len(led_times)//2]:.2f} s, max {led_times[-1]:.2f} s; "
          f"writes through a survivor: max {write_times[-1] * 1000:.0f} ms ({rounds} rounds)")
finally:
    for p in procs:
        try: p.kill(); p.wait()
        except Exception: pass
    shutil.rmtree(run, ignore_errors=True)
PY
