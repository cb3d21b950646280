#!/usr/bin/env bash
# Builds the libFuzzer target Tests/Fuzz/BGPDecodeFuzz.swift with the Wire/ sources and runs it.
#
#   scripts/fuzz.sh [SECONDS] [extra libFuzzer flags...]     (default 60 s)
#
# How: `swift build --build-tests` (debug) provides NIOCore's .swiftmodule and object files. The Wire
# sources and the fuzz entry point are compiled together (module BGPFuzz) with
# `-sanitize=fuzzer,address`, so the codec is instrumented for coverage and ASan; NIOCore and its
# dependencies are linked from the debug build as they are. Crashes go to Tests/Fuzz/crashes/; the
# working corpus lives in .build-fuzz/corpus, seeded from Tests/Fuzz/seeds/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_TO_RUN=${1:-60}
shift || true
LOCK=/tmp/starling-build.lock
OUT=$ROOT/.build-fuzz
mkdir -p "$OUT/corpus" "$ROOT/Tests/Fuzz/crashes"

flock "$LOCK" swift build --build-tests 2>&1 | grep -E "error|warning:" || true
BIN=$(swift build --show-bin-path)
[ -f "$BIN/Modules/NIOCore.swiftmodule" ] || { echo "fuzz.sh: no NIOCore module under $BIN/Modules" >&2; exit 1; }

# Clang module maps of the C targets NIOCore and its dependencies import.
CFLAGS=()
while IFS= read -r map; do
    CFLAGS+=(-Xcc "-fmodule-map-file=$map" -Xcc -I -Xcc "$(dirname "$map")")
done < <(find "$BIN" -maxdepth 2 -path '*.build/module.modulemap'; \
         find "$ROOT/.build/checkouts" -path '*/Sources/*/include/module.modulemap')

# Object files of NIOCore's dependency closure (debug build, not instrumented).
OBJS=()
for target in NIOCore NIOConcurrencyHelpers _NIOBase64 _NIODataStructures CNIOLinux CNIODarwin CNIOWindows \
    CNIOWASI CNIOAtomics Atomics _AtomicsShims DequeModule InternalCollectionsUtilities ContainersPreview; do
    [ -d "$BIN/$target.build" ] || continue
    while IFS= read -r o; do OBJS+=("$o"); done < <(find "$BIN/$target.build" -name '*.o')
done

mapfile -t SOURCES < <(find "$ROOT/Sources/BGPSpeaker/Wire" -name '*.swift' | sort)
echo "fuzz.sh: compiling ${#SOURCES[@]} Wire sources + fuzz target"
flock "$LOCK" swiftc -module-name BGPFuzz -parse-as-library -swift-version 6 -O -g \
    -sanitize=fuzzer,address -use-ld=lld \
    -I "$BIN/Modules" -module-cache-path "$OUT/ModuleCache" "${CFLAGS[@]}" \
    "${SOURCES[@]}" "$ROOT/Tests/Fuzz/BGPDecodeFuzz.swift" "${OBJS[@]}" \
    -o "$OUT/bgp-decode-fuzz"

echo "fuzz.sh: running for ${SECONDS_TO_RUN}s"
# The Swift runtime's own crash backtracer fights ASan's handler (it reads the stack with memcpy and
# ASan reports that instead of the real crash), so leave crash reporting to libFuzzer/ASan.
export SWIFT_BACKTRACE=enable=no
"$OUT/bgp-decode-fuzz" -max_total_time="$SECONDS_TO_RUN" -max_len=8192 -print_final_stats=1 -use_value_profile=1 \
    -artifact_prefix="$ROOT/Tests/Fuzz/crashes/" "$@" "$OUT/corpus" "$ROOT/Tests/Fuzz/seeds"
