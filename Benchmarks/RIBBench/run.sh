#!/bin/sh
# Builds the RIB benchmark in release mode (whole-module, -O) from the library sources and runs it.
# Usage: Benchmarks/RIBBench/run.sh [packed] [packed-reserved] [mixed]
# The compiler runs in a temporary directory so that no build product lands in the repository.
set -eu
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
files=$(ls "$root"/Sources/BGPSpeaker/Wire/*.swift | grep -v UpdateCodec.swift)
(cd "$work" && flock /tmp/starling-build.lock swiftc -O -wmo -module-name RIBBench \
    $files "$root"/Sources/BGPSpeaker/RIB/*.swift "$root"/Benchmarks/RIBBench/main.swift -o "$work/ribbench")
"$work/ribbench" "$@"
