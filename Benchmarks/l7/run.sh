#!/usr/bin/env bash
# Side-by-side L7/L4 proxy benchmark: HAProxy, NGINX and a standalone Starling SE on one core each,
# with ../shared/tools/l7-bench/run.sh (loopback only). Prints the harness's medians and ratio lines.
#
#   Benchmarks/l7/run.sh                          # builds the release binary first
#   REPS=1 DURATION=5 SCENARIOS="http-ka http-close" Benchmarks/l7/run.sh
#   STARLING=/path/to/starling SHARED=/work/shared Benchmarks/l7/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED=${SHARED:-$(cd .. && pwd)/shared}
HARNESS=$SHARED/tools/l7-bench/run.sh
[[ -x $HARNESS ]] || { echo "l7-bench harness not found at $HARNESS (set SHARED)" >&2; exit 2; }
if [[ -z ${STARLING:-} ]]; then
    swift build -c release --product starling >&2
    STARLING=$(swift build -c release --show-bin-path)/starling
fi
export STARLING
export SCENARIOS=${SCENARIOS:-http-ka http-close tcp-ka tcp-close tls-ka tls-close tls-resume}
CANDIDATE_NAME=${CANDIDATE_NAME:-starling} exec "$HARNESS" "$PWD/Benchmarks/l7/candidate.sh"
