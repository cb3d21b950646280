#!/usr/bin/env bash
# Configuration write latency of the controller on its two stores, side by side in one run: SQLite
# (`--data-dir`) and etcd (`--store etcd`, one local etcd member started here with its data on /tmp).
# For each store: WRITES sequential writes through the REST API on one kept-alive connection (a PUT of one
# pool, alternating its port, which also runs the reconciler's pass), then the same with CONCURRENT clients
# each PUTting its own pool; prints p50/p99/max latency in ms and writes per second, and the controller's
# CPU time per write. No root; loopback only.
#
#   Benchmarks/controller-store/run.sh                       # builds the release binary first
#   WRITES=2000 CONCURRENT=4 STARLING=/path/to/starling Benchmarks/controller-store/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
WRITES=${WRITES:-1000}
CONCURRENT=${CONCURRENT:-4}
if [[ -z ${STARLING:-} ]]; then
    swift build -c release --product starling >&2
    STARLING=$(swift build -c release --show-bin-path)/starling
fi
command -v etcd >/dev/null || { echo "etcd is not installed (apt-get install etcd-server)" >&2; exit 1; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() {
    for _ in $(seq 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
    echo "no answer from $1" >&2; return 1
}

run() {
    local store=$1 run port ctl etcd_pid=
    run=$(mktemp -d /tmp/store-bench.XXXXXX)
    port=$(free_port)
    local flags=(--insecure-http --data-dir "$run/data")
    if [[ $store == etcd ]]; then
        local client peer
        client=$(free_port); peer=$(free_port)
        etcd --name bench --data-dir "$run/etcd" --listen-client-urls "http://127.0.0.1:$client" \
            --advertise-client-urls "http://127.0.0.1:$client" --listen-peer-urls "http://127.0.0.1:$peer" \
            --initial-advertise-peer-urls "http://127.0.0.1:$peer" --initial-cluster "bench=http://127.0.0.1:$peer" \
            --max-txn-ops 4096 --log-level error > "$run/etcd.log" 2>&1 &
        etcd_pid=$!
        wait_http "http://127.0.0.1:$client/health"
        flags+=(--store etcd --etcd-endpoints "http://127.0.0.1:$client")
    fi
    STARLING_ADMIN_PASSWORD=bench-password-1 "$STARLING" controller --listen "127.0.0.1:$port" \
        --password-iterations 1000 "${flags[@]}" > "$run/controller.log" 2>&1 &
    ctl=$!
    wait_http "http://127.0.0.1:$port/api/initial-data"
    local before after
    before=$(awk '{print $14 + $15}' "/proc/$ctl/stat")
    python3 - "$port" "$WRITES" "$CONCURRENT" "$store" <<'PY'
import base64, http.client, json, sys, threading, time
port, writes, concurrent, store = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
auth = {"Authorization": "Basic " + base64.b64encode(b"admin:bench-password-1").decode(),
        "Content-Type": "application/json"}
def client():
    return http.client.HTTPConnection("127.0.0.1", port, timeout=30)
def pool(c, name):
    c.request("POST", "/api/pool", json.dumps({"name": name}), auth)
    r = c.getresponse(); body = json.loads(r.read())
    assert r.status == 201, body
    return body["uuid"]
def put_loop(name, n, out):
    c = client(); uuid = pool(c, name)
    for i in range(n):
        body = json.dumps({"name": name, "default_server_port": 8000 + i % 2})
        t = time.perf_counter()
        c.request("PUT", "/api/pool/" + uuid, body, auth)
        r = c.getresponse(); r.read()
        out.append(time.perf_counter() - t)
        assert r.status == 200, r.status
def report(label, lat, wall):
    lat.sort()
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
    print(f"{store:6} {label:14} writes {len(lat):5}  p50 {q(0.50):6.2f} ms  p99 {q(0.99):6.2f} ms  "
          f"max {lat[-1]*1000:6.1f} ms  {len(lat)/wall:7.0f} writes/s")
lat = []; t = time.perf_counter(); put_loop("seq", writes, lat); report("sequential", lat, time.perf_counter() - t)
lat = []; threads = [threading.Thread(target=put_loop, args=(f"c{i}", writes // concurrent, lat)) for i in range(concurrent)]
t = time.perf_counter()
for th in threads: th.start()
for th in threads: th.join()
report(f"{concurrent} concurrent", lat, time.perf_counter() - t)
PY
    after=$(awk '{print $14 + $15}' "/proc/$ctl/stat")
    local ticks
    ticks=$(getconf CLK_TCK)
    python3 -c "print(f'$store   controller CPU per write: {($after - $before) / $ticks / (2 * $WRITES) * 1000:.2f} ms (both runs)')"
    kill "$ctl"; wait "$ctl" 2>/dev/null || true
    if [[ -n $etcd_pid ]]; then kill "$etcd_pid"; wait "$etcd_pid" 2>/dev/null || true; fi
    rm -rf "$run"
}
echo "$(uname -r), $(nproc) CPUs, WRITES=$WRITES CONCURRENT=$CONCURRENT"
run sqlite
run etcd
