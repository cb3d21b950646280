#!/bin/sh
# Builds the RIB benchmark in release mode (whole-module, -O) from the library sources and runs it.
# Usage: Benchmarks/RIBBench/run.sh [packed] [mixed]
set -eu
cd "$(dirname "$0")/../.."
out="${TMPDIR:-/tmp}/starling-ribbench-$$"
files=$(ls Sources/BGPSpeaker/Wire/*.swift | grep -v UpdateCodec.swift)
flock /tmp/starling-build.lock swiftc -O -wmo -module-name RIBBench \
    $files Sources/BGPSpeaker/RIB/*.swift Benchmarks/RIBBench/main.swift -o "$out"
"$out" "$@"
rm -f "$out"
