#!/usr/bin/env bash
# HTTP/2 through the proxy, side by side: `h2load -n N -c 64 -m 16` over TLS (ALPN h2) against HAProxy
# 2.6 (`alpn h2,http/1.1`) and a standalone Starling SE (`enable_http2`), each on one core (CPU 1), the
# same four nginx backends as l7-bench (HTTP/1.1, kept alive) and h2load on CPU 0. Loopback only.
# Prints per proxy the median over REPS runs of: requests/s, proxy CPU µs per request, p50/p99 latency.
#
#   Benchmarks/h2/run.sh                      # builds the release binary first
#   REPS=1 REQUESTS=50000 STARLING=/path/to/starling Benchmarks/h2/run.sh
#   PERF=1 PROXIES=starling REPS=1 Benchmarks/h2/run.sh   # perf record of the first run: $RUN/perf-*.data
# Needs: haproxy nginx nghttp2-client (h2load) openssl python3 util-linux (taskset).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SHARED=${SHARED:-$(cd .. && pwd)/shared}
BACKEND_CONF=$SHARED/tools/l7-bench/conf/backend-nginx.conf
[[ -f $BACKEND_CONF ]] || { echo "l7-bench backend config not found at $BACKEND_CONF (set SHARED)" >&2; exit 2; }
for tool in haproxy nginx h2load openssl taskset python3; do
    command -v "$tool" > /dev/null || { echo "missing: $tool" >&2; exit 2; }
done
REPS=${REPS:-3}
REQUESTS=${REQUESTS:-200000}
CLIENTS=${CLIENTS:-64}
STREAMS=${STREAMS:-16}
PROXIES=${PROXIES:-haproxy starling}
if [[ -z ${STARLING:-} ]]; then
    swift build -c release --product starling >&2
    STARLING=$(swift build -c release --show-bin-path)/starling
fi
RUN=$(mktemp -d /tmp/h2-bench.XXXXXX)
mkdir -p "$RUN/tmp"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -- "-$p" 2> /dev/null || true; done; }
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
    -keyout "$RUN/key.pem" -out "$RUN/cert.pem" 2> /dev/null
cat "$RUN/cert.pem" "$RUN/key.pem" > "$RUN/certkey.pem"

start() { # $1 cpu, rest: command; echoes the process group id
    local cpu=$1
    shift
    setsid taskset -c "$cpu" "$@" > "$RUN/$(basename "$1").log" 2>&1 &
    echo $!
}
wait_port() { for _ in $(seq 100); do ss -Hltn "( sport = :$1 )" | grep -q . && return 0; sleep 0.1; done; return 1; }
ticks() { # utime+stime of a process and its threads (clock ticks)
    awk '{print $14 + $15}' "/proc/$1/stat"
}

sed "s|@RUN@|$RUN|g" "$BACKEND_CONF" > "$RUN/backend.conf"
pids+=("$(start 0 nginx -c "$RUN/backend.conf" -e "$RUN/backend-error.log")")
wait_port 9004

cat > "$RUN/haproxy.cfg" <<CFG
global
    nbthread 1
    maxconn 8000
defaults
    mode http
    option http-keep-alive
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    maxconn 8000
frontend fe_h2
    bind 127.0.0.1:8443 backlog 4096 ssl crt $RUN/certkey.pem alpn h2,http/1.1
    default_backend be_http
backend be_http
    balance roundrobin
    http-reuse always
    server b1 127.0.0.1:9001
    server b2 127.0.0.1:9002
    server b3 127.0.0.1:9003
    server b4 127.0.0.1:9004
CFG

export L7B_HTTP_ADDR=127.0.0.1:8080 L7B_TLS_ADDR=127.0.0.1:8443 L7B_TCP_ADDR=127.0.0.1:8081 L7B_H2=1 \
    L7B_BACKENDS=127.0.0.1:9001,127.0.0.1:9002,127.0.0.1:9003,127.0.0.1:9004 L7B_CERT=$RUN/cert.pem \
    L7B_KEY=$RUN/key.pem L7B_RUN_DIR=$RUN STARLING

for proxy in $PROXIES; do
    case $proxy in
        haproxy) pgid=$(start 1 haproxy -f "$RUN/haproxy.cfg" -db) ;;
        starling) pgid=$(start 1 bash "$ROOT/Benchmarks/l7/candidate.sh") ;;
        *) echo "unknown proxy $proxy" >&2; exit 2 ;;
    esac
    pids+=("$pgid")
    wait_port 8443 || { echo "$proxy did not listen on 8443" >&2; cat "$RUN"/*.log >&2; exit 1; }
    sleep 0.5
    pid=$(pgrep -g "$pgid" -n -f "haproxy|starling se")
    for rep in $(seq "$REPS"); do
        before=$(ticks "$pid")
        perf_pid=
        if [[ ${PERF:-0} == 1 && $rep == 1 ]]; then
            perf record -F ${PERF_FREQ:-499} ${PERF_CALLGRAPH:--g} -p "$pid" -o "$RUN/perf-$proxy.data" > /dev/null 2>&1 &
            perf_pid=$!
        fi
        taskset -c 0 h2load -n "$REQUESTS" -c "$CLIENTS" -m "$STREAMS" --log-file="$RUN/$proxy-$rep.tsv" \
            https://127.0.0.1:8443/ > "$RUN/$proxy-$rep.out" 2>&1 || true
        after=$(ticks "$pid")
        if [[ -n $perf_pid ]]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
        python3 - "$proxy" "$RUN/$proxy-$rep.out" "$RUN/$proxy-$rep.tsv" "$((after - before))" \
            "$(getconf CLK_TCK)" >> "$RUN/results.txt" <<'PY'
import re, sys
proxy, out, log, ticks, hz = sys.argv[1], open(sys.argv[2]).read(), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
rps = float(re.search(r"finished in [^,]+, ([0-9.]+) req/s", out).group(1))
m = re.search(r"requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
total, ok, failed, errored = (int(x) for x in m.groups())
status = re.search(r"status codes: (\d+) 2xx", out)
proto = re.search(r"Application protocol: (\S+)", out)
lat = sorted(int(line.split()[2]) for line in open(log) if line.strip())
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] / 1000
print(f"{proxy} rps={rps:.0f} us_per_req={ticks / hz * 1e6 / max(ok, 1):.1f} p50_ms={p(0.5):.2f} "
      f"p99_ms={p(0.99):.2f} ok={ok} failed={failed + errored} protocol={proto.group(1) if proto else '?'}")
PY
        tail -1 "$RUN/results.txt" >&2
    done
    kill -- "-$pgid" 2> /dev/null || true
    for _ in $(seq 50); do ss -Hltn "( sport = :8443 )" | grep -q . || break; sleep 0.1; done
done

python3 - "$RUN/results.txt" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, *kv = line.split()
    rows.setdefault(name, []).append(dict(x.split("=") for x in kv))
med = lambda rs, k: statistics.median(float(r[k]) for r in rs)
for name, rs in rows.items():
    print(f"{name} h2 rps={med(rs, 'rps'):.0f} us_per_req={med(rs, 'us_per_req'):.1f} "
          f"p50_ms={med(rs, 'p50_ms'):.2f} p99_ms={med(rs, 'p99_ms'):.2f} failed={max(int(r['failed']) for r in rs)} "
          f"protocol={rs[0]['protocol']}")
if "haproxy" in rows and "starling" in rows:
    print(f"starling/haproxy h2 rps_ratio={med(rows['starling'], 'rps') / med(rows['haproxy'], 'rps'):.2f} "
          f"us_per_req_ratio={med(rows['starling'], 'us_per_req') / med(rows['haproxy'], 'us_per_req'):.2f}")
PY
echo "# files: $RUN" >&2
