#!/usr/bin/env bash
# Admin Console load time with 1,000 virtual services: starts a controller on 127.0.0.1 (a free port, a
# temporary data directory), creates 1,000 virtual services (each with its vsvip 10.x.y.z and a pool) with a
# few parallel API clients, then measures in headless Chromium the time from navigation to the dashboard
# having rendered every row (and to the virtual service page having its charts), 5 runs each: median, min,
# max, and the API requests the page made. Stops the controller and removes its directory at the end.
#
#   Benchmarks/console/run.sh [path/to/starling]     (default: $(swift build --show-bin-path)/starling; not built here)
#
# Env: VS_COUNT (1000), RUNS (5), CLIENTS (8).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=${1:-}
if [[ -z "$bin" ]]; then bin="$(cd "$repo" && swift build --show-bin-path)/starling"; fi
[[ -x "$bin" ]] || { echo "run.sh: no controller binary at $bin (build it first)" >&2; exit 1; }
py=/usr/bin/python3   # Debian's, with python3-selenium
dir=$(mktemp -d /tmp/starling-console-bench.XXXXXX)
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
password=bench-admin-pass
pid=
cleanup() {
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
STARLING_ADMIN_PASSWORD=$password "$bin" controller --listen "127.0.0.1:$port" --insecure-http --data-dir "$dir/data" \
  --password-iterations 1000 >"$dir/controller.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/api/initial-data" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$dir/controller.log" >&2; exit 1; }
  sleep 0.1
done
echo "controller $bin on 127.0.0.1:$port (pid $pid)"
"$py" "$here/bench.py" --url "http://127.0.0.1:$port" --password "$password" \
  --count "${VS_COUNT:-1000}" --runs "${RUNS:-5}" --clients "${CLIENTS:-8}"
