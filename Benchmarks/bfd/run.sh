#!/usr/bin/env bash
# BFD failover as a router sees it: a BGP speaker announces 192.0.2.10/32 to BIRD 2 (the router, with
# `protocol bfd` at 100 ms × 3 and `bfd on`, routes exported to its kernel table); the speaker is frozen
# with SIGSTOP (process stopped, TCP session still open, hold time 30 s) and the time until the route
# leaves the router's kernel table is taken from `ip monitor route`. TRIES times per speaker, SIGCONT and
# re-establishment between tries. Side by side: Starling (`starling bgp`, `bfd: true`) and BIRD as the
# speaker (the anchor), each in its own pair of namespaces. Root; loopback-free (veth in namespaces).
# Both speakers restart at once after the router drops them (Starling `idle_hold_time: 0`; BIRD
# `error wait time 1, 5`), so that twenty freezes in a row are not damped.
#
#   sudo Benchmarks/bfd/run.sh                          # builds the release binary first
#   TRIES=5 SPEAKERS=starling STARLING=/path/to/starling Benchmarks/bfd/run.sh
#   LOAD=1 Benchmarks/bfd/run.sh                        # the same while every CPU runs a busy loop
#   SOAK=600 LOAD=1 SPEAKERS=starling Benchmarks/bfd/run.sh   # 10 min loaded: counts false BFD downs
# Needs: bird birdc iproute2 python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
for tool in bird birdc ip python3; do
    command -v "$tool" > /dev/null || { echo "missing: $tool" >&2; exit 2; }
done
[[ $(id -u) == 0 ]] || { echo "needs root (network namespaces)" >&2; exit 2; }
TRIES=${TRIES:-20}
SPEAKERS=${SPEAKERS:-starling bird}
LOAD=${LOAD:-0}
SOAK=${SOAK:-0}
if [[ -z ${STARLING:-} ]]; then
    swift build -c release --product starling >&2
    STARLING=$(swift build -c release --show-bin-path)/starling
fi
RUN=$(mktemp -d /tmp/bfd-bench.XXXXXX)
pids=()
namespaces=()
cleanup() {
    for p in "${pids[@]}"; do kill -CONT "$p" 2> /dev/null || true; kill "$p" 2> /dev/null || true; done
    for n in "${namespaces[@]}"; do ip netns del "$n" 2> /dev/null || true; done
}
trap cleanup EXIT

if [[ $LOAD == 1 ]]; then
    for _ in $(seq "$(nproc)"); do
        python3 -c 'while True: pass' &
        pids+=($!)
    done
    echo "load: $(nproc) busy loops" >&2
fi

router_conf() { # $1 neighbor address
    cat << EOF
router id 198.18.9.2;
protocol device { scan time 10; }
protocol bfd { interface "*" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }; }
protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; }
protocol bgp speaker {
  local 198.18.9.2 as 65000; neighbor $1 as 65001; passive on; bfd on; hold time 30;
  connect retry time 1; error wait time 1, 5;
  ipv4 { import all; export none; };
}
EOF
}

for speaker in $SPEAKERS; do
    s=bfdb-$speaker-s
    r=bfdb-$speaker-r
    namespaces+=("$s" "$r")
    ip netns add "$s"
    ip netns add "$r"
    ip link add bfdbs type veth peer name bfdbr
    ip link set bfdbs netns "$s"
    ip link set bfdbr netns "$r"
    ip -n "$s" addr add 198.18.9.1/30 dev bfdbs
    ip -n "$r" addr add 198.18.9.2/30 dev bfdbr
    for n in "$s" "$r"; do ip -n "$n" link set lo up; done
    ip -n "$s" link set bfdbs up
    ip -n "$r" link set bfdbr up
    router_conf 198.18.9.1 > "$RUN/$speaker-router.conf"
    ip netns exec "$r" bird -f -c "$RUN/$speaker-router.conf" -s "$RUN/$speaker-router.ctl" > "$RUN/$speaker-router.log" 2>&1 &
    pids+=($!)
    case $speaker in
    starling)
        cat > "$RUN/starling.yaml" << EOF
asn: 65001
router_id: 198.18.9.1
peers:
  - {address: 198.18.9.2, asn: 65000, local_address: 198.18.9.1, hold_time: 30, bfd: true, idle_hold_time: 0}
announce: [192.0.2.10/32]
EOF
        ip netns exec "$s" "$STARLING" bgp --config "$RUN/starling.yaml" > "$RUN/starling.log" 2>&1 &
        speaker_pid=$!
        ;;
    bird)
        cat > "$RUN/bird-speaker.conf" << EOF
router id 198.18.9.1;
protocol device { scan time 10; }
protocol bfd { interface "*" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }; }
protocol static { ipv4; route 192.0.2.10/32 blackhole; }
protocol bgp uplink {
  local 198.18.9.1 as 65001; neighbor 198.18.9.2 as 65000; bfd on; hold time 30;
  connect retry time 1; error wait time 1, 5;
  ipv4 { import none; export where source = RTS_STATIC; };
}
EOF
        ip netns exec "$s" bird -f -c "$RUN/bird-speaker.conf" -s "$RUN/bird-speaker.ctl" > "$RUN/bird-speaker.log" 2>&1 &
        speaker_pid=$!
        ;;
    *) echo "unknown speaker $speaker" >&2; exit 2 ;;
    esac
    pids+=("$speaker_pid")
    python3 - "$speaker" "$speaker_pid" "$r" "$TRIES" "$SOAK" "$RUN/$speaker-router.ctl" << 'EOF'
import os, select, signal, subprocess, sys, time
speaker, pid, ns, tries, soak, ctl = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]

def has_route():
    out = subprocess.run(["ip", "-n", ns, "route", "show", "192.0.2.10"], capture_output=True).stdout
    return b"192.0.2.10" in out

def bfd_up():
    out = subprocess.run(["birdc", "-s", ctl, "show", "bfd", "sessions"], capture_output=True, text=True).stdout
    return any(l.startswith("198.18.9.1 ") and " Up " in l for l in out.splitlines())

def wait(cond, what, timeout=60):
    end = time.time() + timeout
    while not cond():
        if time.time() > end:
            sys.exit(f"{speaker}: {what} not true after {timeout} s")
        time.sleep(0.05)

wait(has_route, "route at the router")
wait(bfd_up, "BFD Up at the router")
time.sleep(2)  # past the Poll Sequence to 100 ms
if soak:
    def since():
        out = subprocess.run(["birdc", "-s", ctl, "show", "protocols", "speaker"], capture_output=True, text=True).stdout
        return [l for l in out.splitlines() if l.startswith("speaker")]
    before = since()
    mon = subprocess.Popen(["ip", "-n", ns, "monitor", "route"], stdout=subprocess.PIPE)
    end = time.time() + soak
    deletions = 0
    while time.time() < end:
        r, _, _ = select.select([mon.stdout], [], [], 1)
        if r:
            line = mon.stdout.readline()
            if line.startswith(b"Deleted") and b"192.0.2.10" in line:
                deletions += 1
    mon.kill()
    after = since()
    print(f"{speaker}: soak {soak} s: route withdrawn {deletions} times, BGP session "
          f"{'unchanged' if before == after else 'RESET'} ({after[0].split()[4:6] if after else '?'})")
    sys.exit(0)
results = []
for i in range(tries):
    wait(has_route, "route back at the router")
    wait(bfd_up, "BFD Up again")
    time.sleep(1.5)
    mon = subprocess.Popen(["ip", "-n", ns, "monitor", "route"], stdout=subprocess.PIPE)
    time.sleep(0.2)
    os.kill(pid, signal.SIGSTOP)
    t0 = time.monotonic()
    elapsed = None
    while True:
        r, _, _ = select.select([mon.stdout], [], [], 5)
        if not r:
            break
        line = mon.stdout.readline()
        if line.startswith(b"Deleted") and b"192.0.2.10" in line:
            elapsed = (time.monotonic() - t0) * 1000
            break
    mon.kill()
    os.kill(pid, signal.SIGCONT)
    if elapsed is None:
        sys.exit(f"{speaker}: try {i + 1}: route still there 5 s after SIGSTOP")
    results.append(elapsed)
results.sort()
def pct(p):
    return results[min(len(results) - 1, int(round(p / 100 * (len(results) - 1))))]
print(f"{speaker:9s} tries {len(results):3d}  route gone after: min {results[0]:6.1f}  p50 {pct(50):6.1f}  "
      f"p99 {pct(99):6.1f}  max {results[-1]:6.1f} ms")
EOF
    kill "$speaker_pid" 2> /dev/null || true
done
echo "logs: $RUN" >&2
