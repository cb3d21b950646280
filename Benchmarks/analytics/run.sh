#!/usr/bin/env bash
# The cost of analytics at the controller: SES simulated SEs heart-beat once a second, each with VS_PER_SE
# virtual services and RPS requests per second in their counters (sim.py), measured over SECONDS after a
# 10 s warm-up. Prints the controller's CPU time per SE-hour (the whole process: heartbeats, the API the
# simulated SEs poll, the reconciler and the analytics), and the store's growth: metrics rows and bytes per
# SE-hour, and the steady-state size per SE (5 s samples kept an hour, 5 min a day, 1 h a week, per
# service and per SE). The counters do not grow with the request rate: the cost is per heartbeat and per
# service. No root; loopback only.
#
#   Benchmarks/analytics/run.sh                                 # builds the release binary first
#   SES=20 VS_PER_SE=10 SECONDS=120 STARLING=/path/to/starling Benchmarks/analytics/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
SES=${SES:-10}
VS_PER_SE=${VS_PER_SE:-10}
RPS=${RPS:-1000}
DURATION=${SECONDS_RUN:-60}
if [[ -z ${STARLING:-} ]]; then
    swift build -c release --product starling >&2
    STARLING=$(swift build -c release --show-bin-path)/starling
fi
run() {
    local run
    run=$(mktemp -d /tmp/analytics-bench.XXXXXX)
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    STARLING_ADMIN_PASSWORD=bench-password-1 "$STARLING" controller --listen "127.0.0.1:$port" \
        --insecure-http --data-dir "$run/data" --password-iterations 1000 --se-down-after 30 > "$run/controller.log" 2>&1 &
    local ctl=$!
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/api/initial-data" > /dev/null && break
        sleep 0.1
    done
    STARLING_ADMIN_PASSWORD=bench-password-1 COUNTERS=$1 LOGS=${2:-0} python3 Benchmarks/analytics/sim.py \
        "http://127.0.0.1:$port" "$SES" "$VS_PER_SE" "$RPS" "$DURATION" "$ctl" "$run/data/controller.sqlite"
    kill "$ctl"
    wait "$ctl" 2> /dev/null || true
    rm -rf "$run"
}
without=$(run 0)
with=$(run 1)
# Request logs at what the default throttles let through at 1,000 rps with 2% errors: 20 a second per SE.
logs=$(run 1 "${LOGS:-20}")
echo "$without"
echo "$with"
echo "$logs"
python3 - "$without" "$with" "$VS_PER_SE" "$logs" << 'PY'
import json, sys
off, on, vs, logs = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
def per_se_hour(r):
    return r["controller_cpu_seconds"] / (r["ses"] * r["seconds"] / 3600)
print("controller CPU per SE-hour: %.1f s without counters, %.1f s with analytics (+%.1f s; %.2f%% of a core "
      "for %d SEs)" % (per_se_hour(off), per_se_hour(on), per_se_hour(on) - per_se_hour(off),
                       100 * on["controller_cpu_seconds"] / on["seconds"], on["ses"]))
se_hours = on["ses"] * on["seconds"] / 3600
print("store growth: %d metrics rows, %.0f KiB per SE-hour" % (on["metrics_rows"] / se_hours,
      on["metrics_bytes"] / se_hours / 1024))
# Steady state per SE: its services and itself, each with 720 + 288 + 168 rows.
rows = (vs + 1) * (720 + 288 + 168)
print("steady-state store per SE (%d services): %d rows, %.1f MiB" % (vs, rows, rows * on["bytes_per_row"] / 2**20))
log_hours = logs["ses"] * logs["seconds"] / 3600
print("with %d request logs per SE-second: controller CPU %.1f s per SE-hour (+%.1f s over the counters alone); "
      "%d logs, %.1f MiB per SE-hour (%.0f bytes per log; the store keeps --request-log-max-rows, 500,000 by "
      "default: about %.0f MiB)" % (logs["logs_per_se_second"], per_se_hour(logs), per_se_hour(logs) - per_se_hour(on),
      logs["request_logs"] / log_hours, logs["request_log_bytes"] / log_hours / 2**20,
      logs["request_log_bytes"] / max(1, logs["request_logs"]),
      5e5 * logs["request_log_bytes"] / max(1, logs["request_logs"]) / 2**20))
PY
