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
RUN=$(mktemp -d /tmp/analytics-bench.XXXXXX)
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export STARLING_ADMIN_PASSWORD=bench-password-1
"$STARLING" controller --listen "127.0.0.1:$PORT" --data-dir "$RUN/data" --password-iterations 1000 \
    --se-down-after 30 > "$RUN/controller.log" 2>&1 &
CTL=$!
trap 'kill $CTL 2> /dev/null || true; wait $CTL 2> /dev/null || true; rm -rf "$RUN"' EXIT
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/api/initial-data" > /dev/null && break
    sleep 0.1
done
result=$(python3 Benchmarks/analytics/sim.py "http://127.0.0.1:$PORT" "$SES" "$VS_PER_SE" "$RPS" "$DURATION" \
    "$CTL" "$RUN/data/controller.sqlite")
echo "$result"
python3 - "$result" "$VS_PER_SE" << 'PY'
import json, sys
r, vs = json.loads(sys.argv[1]), int(sys.argv[2])
se_hours = r["ses"] * r["seconds"] / 3600
print("controller CPU: %.1f s per SE-hour (%.2f%% of a core for %d SEs)" % (
    r["controller_cpu_seconds"] / se_hours, 100 * r["controller_cpu_seconds"] / r["seconds"], r["ses"]))
print("store growth: %d metrics rows, %.0f KiB per SE-hour" % (r["metrics_rows"] / se_hours,
      r["metrics_bytes"] / se_hours / 1024))
# Steady state per SE: its services and itself, each with 720 + 288 + 168 rows.
rows = (vs + 1) * (720 + 288 + 168)
print("steady-state store per SE (%d services): %d rows, %.1f MiB" % (vs, rows, rows * r["bytes_per_row"] / 2**20))
PY
