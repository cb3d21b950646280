#!/usr/bin/env bash
# BGP ECMP demo: a BIRD 2 router and three anycast speakers on one segment, all in private network
# namespaces. Each speaker announces 192.0.2.50/32 with itself as next hop; the router merges the three
# paths (`merge paths on`) into one multipath kernel route, which the script prints. Then it stops one
# speaker, prints the route again, and tears everything down.
#
#   sudo scripts/demo-bgp.sh                  # speakers are `starling bgp` (built by `make build`)
#   sudo SPEAKER=bird scripts/demo-bgp.sh     # speakers are BIRD instances (no Starling needed)
#
# Addresses: segment 198.18.1.0/24 (router .1, speakers .11-.13), VIP 192.0.2.50/32 (DESIGN §5).
# Nothing leaves the namespaces this script creates; they are deleted on exit, even on error.
set -euo pipefail
cd "$(dirname "$0")/.."

SPEAKER=${SPEAKER:-starling}
VIP=192.0.2.50/32
RTR_IP=198.18.1.1
N=3
ID=stdemo-$$
WORK=$(mktemp -d /tmp/starling-demo.XXXXXX)
chmod 755 "$WORK"

[ "$(id -u)" = 0 ] || { echo "demo-bgp: needs root (network namespaces)" >&2; exit 1; }
for b in ip bird birdc curl; do command -v $b >/dev/null || { echo "demo-bgp: missing $b (scripts/install-deps.sh)" >&2; exit 1; }; done
if [ "$SPEAKER" = starling ]; then
  if [ -z "${STARLING_BIN:-}" ]; then
    command -v swift >/dev/null || export PATH=/opt/swift/usr/bin:$PATH
    STARLING_BIN=$(swift build --show-bin-path)/starling
  fi
  [ -x "$STARLING_BIN" ] || { echo "demo-bgp: $STARLING_BIN not built (make build)" >&2; exit 1; }
fi

NSES=()
cleanup() {
  local ns p
  for ns in "${NSES[@]}"; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  done
  sleep 0.5
  for ns in "${NSES[@]}"; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() {  # wait_for SECONDS DESCRIPTION CMD...
  local t=$1 what=$2 i; shift 2
  for i in $(seq $((t * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "demo-bgp: timeout waiting for $what" >&2
  for f in "$WORK"/*.log; do echo "--- $f"; tail -20 "$f"; done >&2
  return 1
}

# ---- topology: router namespace with bridge br0, one veth per speaker
R=$ID-router
ip netns add "$R"; NSES+=("$R")
ip -n "$R" link set lo up
ip -n "$R" link add br0 type bridge forward_delay 0 stp_state 0
ip -n "$R" addr add $RTR_IP/24 dev br0
ip -n "$R" link set br0 up
for i in $(seq 1 $N); do
  S=$ID-speaker$i
  ip netns add "$S"; NSES+=("$S")
  ip -n "$S" link set lo up
  ip link add eth0 netns "$S" type veth peer name sp$i netns "$R"
  ip -n "$R" link set sp$i master br0
  ip -n "$R" link set sp$i up
  ip -n "$S" addr add 198.18.1.$((10 + i))/24 dev eth0
  ip -n "$S" link set eth0 up
done

# ---- router: BIRD with kernel export and merge paths
{
  echo "log stderr all;"
  echo "router id $RTR_IP;"
  echo "protocol device { scan time 10; }"
  echo "protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; merge paths on; }"
  for i in $(seq 1 $N); do
    echo "protocol bgp speaker$i { local $RTR_IP as 65000; neighbor 198.18.1.$((10 + i)) as 65001; passive on;"
    echo "  ipv4 { import all; export none; }; }"
  done
} > "$WORK/router.conf"
ip netns exec "$R" bird -f -c "$WORK/router.conf" -s "$WORK/router.ctl" -P "$WORK/router.pid" \
  > "$WORK/router.log" 2>&1 &
disown $!
wait_for 20 "BIRD router" birdc -s "$WORK/router.ctl" show status

# ---- speakers
for i in $(seq 1 $N); do
  S=$ID-speaker$i
  ME=198.18.1.$((10 + i))
  if [ "$SPEAKER" = bird ]; then
    cat > "$WORK/speaker$i.conf" <<CONF
log stderr all;
router id $ME;
protocol device { scan time 10; }
protocol static { ipv4; route $VIP blackhole; }
protocol bgp upstream { local $ME as 65001; neighbor $RTR_IP as 65000; hold time 9; connect retry time 1;
  ipv4 { import none; export where source = RTS_STATIC; }; }
CONF
    ip netns exec "$S" bird -f -c "$WORK/speaker$i.conf" -s "$WORK/speaker$i.ctl" -P "$WORK/speaker$i.pid" \
      > "$WORK/speaker$i.log" 2>&1 &
    disown $!
  else
    cat > "$WORK/speaker$i.json" <<CONF
{"asn": 65001, "router_id": "$ME",
 "peers": [{"address": "$RTR_IP", "asn": 65000, "local_address": "$ME", "hold_time": 9, "passive": false}],
 "announce": ["$VIP"]}
CONF
    ip netns exec "$S" "$STARLING_BIN" bgp --config "$WORK/speaker$i.json" --api 127.0.0.1:8179 \
      > "$WORK/speaker$i.log" 2>&1 &
    disown $!
  fi
done

nexthops() { ip -n "$R" route show "${VIP%/32}" | grep -c "via" || true; }
has_nexthops() { [ "$(nexthops)" = "$1" ]; }
wait_for 60 "three ECMP next hops" has_nexthops 3
echo "== BIRD router (namespace $R): BGP sessions"
birdc -s "$WORK/router.ctl" show protocols | grep -E "^speaker|^Name"
echo "== kernel route for $VIP in the router namespace: ECMP over the $N speakers ($SPEAKER)"
ip -n "$R" route show "${VIP%/32}"
if [ "$SPEAKER" = starling ]; then
  echo "== starling bgp /peers on speaker1"
  ip netns exec "$ID-speaker1" curl -sS http://127.0.0.1:8179/peers; echo
fi

echo "== stopping speaker2 (SIGKILL)"
for p in $(ip netns pids "$ID-speaker2"); do kill -9 "$p"; done
wait_for 15 "two ECMP next hops" has_nexthops 2
ip -n "$R" route show "${VIP%/32}"
echo "== tearing down"
