#!/usr/bin/env bash
# Build everything (including tests) and run every test, unit and integration.
#
#   scripts/test.sh [extra swift test args, e.g. --filter IntegrationTests]
#
# With STARLING_BUILD_LOCK set, each swift command runs under `flock` on that file
# (STARLING_BUILD_LOCK=1 means /tmp/starling-build.lock), for machines where several people build.
# Integration tests need root and skip (with a reason) otherwise. The output of `swift test` is not
# filtered, so XCTest's closing summary is the last thing printed.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v swift >/dev/null && [ -x /opt/swift/usr/bin/swift ]; then
  export PATH=/opt/swift/usr/bin:$PATH
fi

LOCK=()
if [ -n "${STARLING_BUILD_LOCK:-}" ]; then
  lockfile=$STARLING_BUILD_LOCK
  [ "$lockfile" = 1 ] && lockfile=/tmp/starling-build.lock
  LOCK=(flock "$lockfile")
fi

# The tree stays formatted (.swift-format): a lint finding fails the run.
if ! swift format lint --strict --recursive Sources Tests Package.swift; then
  echo "format: run 'swift format --in-place --recursive Sources Tests Package.swift'" >&2
  exit 1
fi
echo "format: clean"

"${LOCK[@]}" swift build --build-tests

# Fuzz smoke test: the BGP decoder under libFuzzer + ASan for a bounded time (STARLING_FUZZ_SECONDS,
# default 60; 0 skips). A crash fails the run and leaves its input in Tests/Fuzz/crashes/.
FUZZ_SECONDS=${STARLING_FUZZ_SECONDS:-60}
if [ "$FUZZ_SECONDS" != 0 ] && [ $# -eq 0 ]; then
  mkdir -p .build-fuzz
  if scripts/fuzz.sh "$FUZZ_SECONDS" > .build-fuzz/fuzz.log 2>&1; then
    echo "fuzz: no crash in ${FUZZ_SECONDS}s ($(grep -Eo 'Done [0-9]+ runs' .build-fuzz/fuzz.log | tail -1))"
  else
    tail -40 .build-fuzz/fuzz.log
    echo "fuzz: FAILED (crash inputs in Tests/Fuzz/crashes/, log in .build-fuzz/fuzz.log)" >&2
    exit 1
  fi
fi

# The appliance image (image/README.md): build it, then boot a controller VM and two SE VMs under qemu with a
# BIRD router (image/test). Needs root (mmdebstrap, namespaces, taps); image/test itself skips with a reason
# without qemu or /dev/net/tun. STARLING_IMAGE_TEST=0 skips both; only with no test filter given.
if [ "${STARLING_IMAGE_TEST:-1}" != 0 ] && [ $# -eq 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "image: skipped (building and booting the appliance image needs root)"
  else
    image/build
    image/test
  fi
fi

# Every test is XCTest; Swift Testing's own (empty) run is disabled so the last lines are XCTest's
# summary, followed by one plain "N passed, N failed" line taken from it.
LOG=$(mktemp /tmp/starling-test.XXXXXX)
set +e
"${LOCK[@]}" swift test --skip-build --disable-swift-testing "$@" 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}
set -e
summary=$(grep -E "Executed [0-9]+ tests?, with " "$LOG" | tail -1)
rm -f "$LOG"
re='Executed ([0-9]+) tests?, with (([0-9]+) tests? skipped and )?([0-9]+) failures?'
if [[ $summary =~ $re ]]; then
  total=${BASH_REMATCH[1]}; skipped=${BASH_REMATCH[3]:-0}; failed=${BASH_REMATCH[4]}
  echo "tests: $((total - failed - skipped)) passed, $failed failed, $skipped skipped"
fi
exit "$status"
