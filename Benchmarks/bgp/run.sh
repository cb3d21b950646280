#!/usr/bin/env bash
# BGP benchmarks: Starling's speaker side by side with BIRD 2 in the same run (root; network namespaces).
#
#   sudo Benchmarks/bgp/run.sh                  # ingest 1M (RUNS=3) + originate 10k VIPs
#   RUNS=5 N=100000 Benchmarks/bgp/run.sh ingest
#   BLAST_ARGS="--per-update 4 --path-min 2 --path-max 6" Benchmarks/bgp/run.sh ingest   # realistic mix
#
# ingest:    ../shared/tools/bgpblast.py sends N IPv4 prefixes (packed, ~1000 per attribute set) to the
#            daemon under test; time from first UPDATE until the daemon reports N prefixes; peak RSS
#            (VmHWM) and CPU seconds of the daemon. Starling is polled through its status API
#            (/peers prefixes_received), BIRD through its control socket.
# originate: `starling bgp` announces V /32 VIPs to a BIRD peer; time from BIRD seeing the session
#            Established to BIRD having imported all V routes (birdwatch.py, one persistent control
#            socket connection), and to bgpblast recv's End-of-RIB when bgpblast is the receiver.
# vipchange: a VIP added to (then removed from) `starling bgp`'s config with SIGHUP: time from the
#            signal until a BIRD peer has (no longer has) the route (vipchange.py, 20 tries). This
#            includes re-reading the config file; the speaker's own part is the UPDATE it sends.
# Topology: netns sbench-dut (198.18.0.1/24) <-veth-> netns sbench-peer (198.18.0.2/24); nothing
# leaves them. Starling is the release build (swift build -c release).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
BLAST=$SHARED/tools/bgpblast.py
BIRDCONF=$SHARED/tools/bgp-baselines/bird.conf
RUNS=${RUNS:-3}
N=${N:-1000000}
V=${V:-10000}
WORK=${WORK:-/tmp/starling-bgp-bench}
DUT=sbench-dut
PEER=sbench-peer
GROUPS_SEL=${*:-"ingest originate vipchange"}
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root" >&2; exit 1; }
STARLING=${STARLING:-$ROOT/.build/release/starling}
[ -x "$STARLING" ] || { echo "run.sh: build first: swift build -c release --product starling" >&2; exit 1; }

rm -rf "$WORK"; mkdir -p "$WORK"
cleanup() {
  [ -n "${DPID:-}" ] && kill "$DPID" 2>/dev/null || true
  [ -n "${RPID:-}" ] && kill "$RPID" 2>/dev/null || true
  ip netns del $DUT 2>/dev/null || true
  ip netns del $PEER 2>/dev/null || true
}
trap cleanup EXIT
ip netns del $DUT 2>/dev/null || true; ip netns del $PEER 2>/dev/null || true
ip netns add $DUT; ip netns add $PEER
ip link add dut0 netns $DUT type veth peer name peer0 netns $PEER
ip -n $DUT link set lo up; ip -n $PEER link set lo up
ip -n $DUT addr add 198.18.0.1/24 dev dut0; ip -n $DUT link set dut0 up
ip -n $PEER addr add 198.18.0.2/24 dev peer0; ip -n $PEER link set peer0 up
sleep 1

wait_for() { local i; for i in $(seq 300); do eval "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "timeout: $1" >&2; return 1; }
stop_pid() { kill "$1" 2>/dev/null || true; for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done; kill -9 "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get(sys.argv[2]))' "$1" "$2"; }
procinfo() {  # PID -> "hwm_mib cpu_s"
  awk '/VmHWM/{printf "%.1f ", $2/1024}' "/proc/$1/status"
  awk '{printf "%.2f\n", ($14+$15)/100}' "/proc/$1/stat"
}

start_starling_passive() {
  cat > "$WORK/starling.yaml" <<YAML
asn: 65000
router_id: 198.18.0.1
listen: {addresses: [198.18.0.1]}
peers:
  - {address: 198.18.0.2, asn: 65001, local_address: 198.18.0.1, passive: true, hold_time: 240}
YAML
  ip netns exec $DUT "$STARLING" bgp --config "$WORK/starling.yaml" --api 127.0.0.1:8179 --log-level warning \
    2>>"$WORK/starling.log" &
  DPID=$!
  wait_for "ip netns exec $DUT curl -sf 127.0.0.1:8179/peers"
}
start_bird() {
  rm -f "$WORK/bird.ctl"
  ip netns exec $DUT bird -f -c "$BIRDCONF" -s "$WORK/bird.ctl" -P "$WORK/bird.pid" 2>>"$WORK/bird.log" &
  DPID=$!
  wait_for "birdc -s $WORK/bird.ctl show status"
}

ingest() {  # ingest DAEMON RUN
  local d=$1 run=$2 R="$WORK/ingest-$1-$2" until rx
  start_$d
  case $d in
    starling*) until="ip netns exec $DUT curl -s 127.0.0.1:8179/peers"; rx='"prefixes_received":(\d+)' ;;
    bird) until="bird:$WORK/bird.ctl:show protocols all peerA"; rx='Routes:\s+(\d+) imported' ;;
  esac
  ip netns exec $PEER python3 "$BLAST" send --peer 198.18.0.1 --local 198.18.0.2 --asn 65001 --peer-asn 65000 \
    -n "$N" ${BLAST_ARGS:-} --until "$until" --until-regex "$rx" --until-interval 0.005 --until-timeout 300 --json "$R.json" \
    --after "cat /proc/$DPID/status > $R.status; cat /proc/$DPID/stat > $R.stat" >"$R.out" 2>&1 || true
  local secs hwm cpu
  secs=$(field "$R.json" seconds)
  hwm=$(awk '/VmHWM/{printf "%.1f", $2/1024}' "$R.status" 2>/dev/null || echo -1)
  cpu=$(awk '{printf "%.2f", ($14+$15)/100}' "$R.stat" 2>/dev/null || echo -1)
  echo "${d%_passive} run=$run prefixes=$N seconds=$secs peak_rss_mib=$hwm cpu_s=$cpu ok=$(field "$R.json" ok)" | tee -a "$WORK/ingest.txt"
  stop_pid "$DPID"; DPID=""
}

start_bird_receiver() {  # BIRD in the peer namespace, passive, importing what starling (AS 65000) sends
  cat > "$WORK/bird-recv.conf" <<BIRD
router id 198.18.0.2;
protocol device { scan time 60; }
protocol bgp starling {
  local 198.18.0.2 as 65001; neighbor 198.18.0.1 as 65000; passive on; hold time 240;
  ipv4 { import all; export none; };
}
BIRD
  rm -f "$WORK/bird-recv.ctl"
  ip netns exec $PEER bird -f -c "$WORK/bird-recv.conf" -s "$WORK/bird-recv.ctl" -P "$WORK/bird-recv.pid" 2>>"$WORK/bird-recv.log" &
  RPID=$!
  wait_for "birdc -s $WORK/bird-recv.ctl show status"
}

originate() {  # originate RUN: starling (active) -> BIRD in the peer namespace
  local run=$1 R="$WORK/originate-$1"
  start_bird_receiver
  python3 - "$V" > "$WORK/vips.yaml" <<'PY'
import sys, ipaddress
n = int(sys.argv[1]); base = int(ipaddress.IPv4Address("198.19.0.0"))
print("asn: 65000\nrouter_id: 198.18.0.1\nlisten: {port: 0}\npeers:\n  - {address: 198.18.0.2, asn: 65001, local_address: 198.18.0.1, hold_time: 240}\nannounce:")
for i in range(n): print("  - %s/32" % ipaddress.IPv4Address(base + i))
PY
  python3 "$HERE/birdwatch.py" "$WORK/bird-recv.ctl" starling "$V" --timeout 120 --json "$R.json" > "$R.out" 2>&1 &
  local WPID=$!
  sleep 0.2
  ip netns exec $DUT "$STARLING" bgp --config "$WORK/vips.yaml" --log-level warning 2>>"$WORK/starling-orig.log" &
  DPID=$!
  wait "$WPID" || true
  echo "originate run=$run vips=$V established_to_all_imported_at_bird=$(field "$R.json" seconds) ok=$(field "$R.json" ok)" | tee -a "$WORK/originate.txt"
  stop_pid "$DPID"; DPID=""
  stop_pid "$RPID"; RPID=""
}

vipchange() {
  local R="$WORK/vipchange"
  start_bird_receiver
  cat > "$WORK/vip.template" <<YAML
asn: 65000
router_id: 198.18.0.1
listen: {port: 0}
peers:
  - {address: 198.18.0.2, asn: 65001, local_address: 198.18.0.1, hold_time: 240}
announce:
  - 192.0.2.10/32
{extra}
YAML
  sed 's/^{extra}$//' "$WORK/vip.template" > "$WORK/vip.yaml"
  ip netns exec $DUT "$STARLING" bgp --config "$WORK/vip.yaml" --log-level warning 2>>"$WORK/starling-vip.log" &
  DPID=$!
  wait_for "birdc -s $WORK/bird-recv.ctl show route 192.0.2.10/32 | grep -q 192.0.2.10"
  python3 "$HERE/vipchange.py" "$WORK/bird-recv.ctl" "$DPID" "$WORK/vip.template" "$WORK/vip.yaml" --json "$R.json" \
    | sed 's/^/vipchange /' | tee -a "$WORK/vipchange.txt"
  stop_pid "$DPID"; DPID=""
  stop_pid "$RPID"; RPID=""
}

echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) cpus; $(bird --version 2>&1 | head -1); starling $(git -C "$ROOT" rev-parse --short HEAD)"
for g in $GROUPS_SEL; do
  case $g in
    ingest) for r in $(seq "$RUNS"); do ingest bird "$r"; ingest starling_passive "$r"; done ;;
    originate) for r in $(seq "$RUNS"); do originate "$r"; done ;;
    vipchange) vipchange ;;
    *) echo "run.sh: unknown group $g" >&2; exit 2 ;;
  esac
done
