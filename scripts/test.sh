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

"${LOCK[@]}" swift build --build-tests
"${LOCK[@]}" swift test --skip-build "$@"
