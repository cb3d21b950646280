#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each for SECONDS:
#   bgp   Tests/Fuzz/BGPDecodeFuzz.swift with Sources/BGPSpeaker/Wire (seeds Tests/Fuzz/seeds/)
#   http  Tests/Fuzz/HTTPCodecFuzz.swift with Sources/SE/DataPlane/HTTPCodec.swift (seeds Tests/Fuzz/http-seeds/)
#
#   scripts/fuzz.sh [SECONDS] [extra libFuzzer flags...]     (default 60 s each; FUZZ_TARGETS="bgp http")
#
# How: `swift build --build-tests` (debug) provides NIOCore's .swiftmodule and object files. A target's
# sources and its entry point are compiled together with `-sanitize=fuzzer,address`, so the codec is
# instrumented for coverage and ASan; NIOCore and its dependencies are linked from the debug build as they
# are. Crashes go to Tests/Fuzz/crashes/; the working corpora live in .build-fuzz/corpus-<target>.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_TO_RUN=${1:-60}
shift || true
LOCK=/tmp/starling-build.lock
OUT=$ROOT/.build-fuzz
TARGETS=${FUZZ_TARGETS:-bgp http}
mkdir -p "$ROOT/Tests/Fuzz/crashes"

flock "$LOCK" swift build --build-tests 2>&1 | grep -E "error|warning:" || true
BIN=$(swift build --show-bin-path)
[ -f "$BIN/Modules/NIOCore.swiftmodule" ] || { echo "fuzz.sh: no NIOCore module under $BIN/Modules" >&2; exit 1; }

# Clang module maps of the C targets NIOCore and its dependencies import.
CFLAGS=()
while IFS= read -r map; do
    CFLAGS+=(-Xcc "-fmodule-map-file=$map" -Xcc -I -Xcc "$(dirname "$map")")
done < <(find "$BIN" -maxdepth 2 -path '*.build/module.modulemap'; \
         find "$ROOT/.build/checkouts" -path '*/Sources/*/include/module.modulemap')

# Object files of IPAddresses and NIOCore's dependency closure (debug build, not instrumented).
OBJS=()
for target in IPAddresses NIOCore NIOConcurrencyHelpers _NIOBase64 _NIODataStructures CNIOLinux CNIODarwin CNIOWindows \
    CNIOWASI CNIOAtomics Atomics _AtomicsShims DequeModule InternalCollectionsUtilities ContainersPreview; do
    [ -d "$BIN/$target.build" ] || continue
    while IFS= read -r o; do OBJS+=("$o"); done < <(find "$BIN/$target.build" -name '*.o')
done

# The Swift runtime's own crash backtracer fights ASan's handler (it reads the stack with memcpy and
# ASan reports that instead of the real crash), so leave crash reporting to libFuzzer/ASan.
export SWIFT_BACKTRACE=enable=no
for target in $TARGETS; do
    case $target in
    bgp)
        mapfile -t SOURCES < <(find "$ROOT/Sources/BGPSpeaker/Wire" -name '*.swift' | sort)
        ENTRY=$ROOT/Tests/Fuzz/BGPDecodeFuzz.swift SEEDS=$ROOT/Tests/Fuzz/seeds MODULE=BGPFuzz MAXLEN=8192 ;;
    http)
        SOURCES=("$ROOT/Sources/SE/DataPlane/HTTPCodec.swift")
        ENTRY=$ROOT/Tests/Fuzz/HTTPCodecFuzz.swift SEEDS=$ROOT/Tests/Fuzz/http-seeds MODULE=HTTPFuzz MAXLEN=4096 ;;
    *) echo "fuzz.sh: unknown target $target (bgp, http)" >&2; exit 2 ;;
    esac
    echo "fuzz.sh: $target: compiling ${#SOURCES[@]} sources + fuzz target"
    flock "$LOCK" swiftc -module-name "$MODULE" -parse-as-library -swift-version 6 -O -g \
        -sanitize=fuzzer,address -use-ld=lld \
        -I "$BIN/Modules" -module-cache-path "$OUT/ModuleCache" "${CFLAGS[@]}" \
        "${SOURCES[@]}" "$ENTRY" "${OBJS[@]}" \
        -o "$OUT/$target-fuzz"
    mkdir -p "$OUT/corpus-$target"
    echo "fuzz.sh: $target: running for ${SECONDS_TO_RUN}s"
    "$OUT/$target-fuzz" -max_total_time="$SECONDS_TO_RUN" -max_len=$MAXLEN -print_final_stats=1 \
        -use_value_profile=1 -artifact_prefix="$ROOT/Tests/Fuzz/crashes/$target-" "$@" "$OUT/corpus-$target" "$SEEDS"
done
