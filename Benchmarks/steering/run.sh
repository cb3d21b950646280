#!/usr/bin/env bash
# Flow steering between SEs (issue 15): what forwarding a packet from one SE to another costs.
#
#   1. Added latency of a forwarded flow: one keep-alive HTTP connection held by SE B does N GETs, in rounds
#      of 100 that alternate between the client's route to the VIP pointing at B (direct) and at SE A (as an
#      ECMP change does: A's tc program passes every packet of the connection on to B, forwarded).
#      Round-trip times of the two paths side by side.
#   2. Program cost per packet on one core (BPF_PROG_TEST_RUN through `bpftool prog run`, REPEAT runs):
#      the SE's program on a packet it passes on (not held here, chained to the next SE: return 7,
#      TC_ACT_REDIRECT) and on a SYN it delivers (return 0). This is the program's share of a forward, not
#      the kernel's transmit.
#   3. The flow table's memory (the kernel's own accounting, /proc/PID/fdinfo of the SE's LRU hash map) per
#      100k flows.
#
# Namespaces sb-r (client, bridge), sb-a and sb-b (two SEs, standalone, `--scaleout-members` both),
# sb-s (pool server). Root.
#
#   sudo Benchmarks/steering/run.sh                 # uses .build/debug/starling unless STARLING is set
#   N=5000 REPEAT=2000000 STARLING=/path/to/starling Benchmarks/steering/run.sh
# Needs: iproute2 python3 bpftool.
set -euo pipefail
cd "$(dirname "$0")/../.."
for tool in ip python3 bpftool; do
    command -v "$tool" > /dev/null || { echo "missing: $tool" >&2; exit 2; }
done
[[ $(id -u) == 0 ]] || { echo "needs root (network namespaces, BPF)" >&2; exit 2; }
N=${N:-3000}
REPEAT=${REPEAT:-1000000}
STARLING=${STARLING:-.build/debug/starling}
[[ -x $STARLING ]] || { echo "no starling binary at $STARLING (swift build, or set STARLING)" >&2; exit 2; }
RUN=$(mktemp -d /tmp/steering-bench.XXXXXX)
VIP=192.0.2.90
namespaces=(sb-r sb-a sb-b sb-s)
cleanup() {
    for n in "${namespaces[@]}"; do
        for p in $(ip netns pids "$n" 2> /dev/null); do kill -9 "$p" 2> /dev/null || true; done
        ip netns del "$n" 2> /dev/null || true
    done
}
trap cleanup EXIT
cleanup

for n in "${namespaces[@]}"; do ip netns add "$n" && ip -n "$n" link set lo up; done
ip -n sb-r link add br0 type bridge
ip -n sb-r link set br0 up
ip -n sb-r addr add 198.18.30.1/24 dev br0
host=11
for n in sb-a sb-b sb-s; do
    [[ $n == sb-s ]] && host=14
    ip link add eth0 netns "$n" type veth peer name "p$n" netns sb-r
    ip -n sb-r link set "p$n" master br0 up
    ip -n "$n" link set eth0 up
    ip -n "$n" addr add "198.18.30.$host/24" dev eth0
    host=$((host + 1))
done
ip netns exec sb-s "$STARLING" lab pool-server srv 8080 > "$RUN/server.log" 2>&1 &

cat > "$RUN/se.json" << EOF
{
  "pool": [{"name": "p", "servers": [{"ip": {"addr": "198.18.30.14", "type": "V4"}, "port": 8080}]}],
  "vsvip": [{"name": "v", "vip": [{"vip_id": "0", "ip_address": {"addr": "$VIP", "type": "V4"}}]}],
  "virtualservice": [{"name": "web", "vsvip_ref": "/api/vsvip/?name=v", "services": [{"port": 80}],
    "pool_ref": "/api/pool/?name=p", "application_profile_ref": "/api/applicationprofile/?name=System-HTTP"}]
}
EOF
for se in a b; do
    address=198.18.30.11
    [[ $se == b ]] && address=198.18.30.12
    ip netns exec "sb-$se" "$STARLING" se --config "$RUN/se.json" --data-address "$address" \
        --scaleout-members 198.18.30.11,198.18.30.12 > "$RUN/se-$se.log" 2>&1 &
done
ip -n sb-r route add "$VIP/32" via 198.18.30.12
for _ in $(seq 300); do
    if ip netns exec sb-r python3 -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://$VIP/', timeout=1).status == 200 else 1)" 2> /dev/null; then
        break
    fi
    sleep 0.1
done

echo "== 1. latency: $N GETs on one keep-alive connection, direct to SE B, then forwarded by SE A to B"
cat > "$RUN/latency.py" << 'EOF'
import http.client, statistics, subprocess, sys, time
vip, n = sys.argv[1], int(sys.argv[2])

def route(via):
    subprocess.run(["ip", "route", "replace", vip + "/32", "via", via], check=True)

def rtts(conn, count):
    out = []
    for _ in range(count):
        t = time.perf_counter_ns()
        conn.request("GET", "/")
        r = conn.getresponse()
        body = r.read()
        out.append((time.perf_counter_ns() - t) / 1000)
        assert r.status == 200, r.status
    return out, body.decode().split("client=")[-1].strip()

def row(name, values, se):
    values = sorted(values)
    p = lambda q: values[min(len(values) - 1, int(q * len(values)))]
    print("%-34s %-14s %9.0f %9.0f %9.0f" % (name, se, statistics.mean(values), p(0.5), p(0.99)))
    return p(0.5)

# The same connection (held by B) alternates between the two paths in rounds of 100 requests, so that
# drift on a shared machine falls on both columns alike.
print("%-34s %-14s %9s %9s %9s" % ("path", "served by", "mean µs", "p50 µs", "p99 µs"))
held = http.client.HTTPConnection(vip, 80, timeout=5)
rtts(held, 200)
direct, forwarded = [], []
for _ in range(max(1, n // 100)):
    route("198.18.30.12")
    values, se_d = rtts(held, 100)
    direct += values
    route("198.18.30.11")
    values, se_f = rtts(held, 100)
    forwarded += values
d = row("direct (route via B)", direct, se_d)
f = row("forwarded (route via A, held by B)", forwarded, se_f)
print("added latency of the forward (p50): %.0f µs per round trip" % (f - d))
EOF
ip netns exec sb-r python3 "$RUN/latency.py" "$VIP" "$N"
ip netns exec sb-a curl -s 127.0.0.1:9180/status | python3 -c '
import json, sys
s = json.load(sys.stdin)["steering"]
print("SE A counters:", {k: v for k, v in s["counters"].items() if v})'

echo
echo "== 2. program cost per packet, one core ($REPEAT runs each, bpftool prog run)"
prog=$(ip netns exec sb-a bpftool -j net show dev eth0 | python3 -c '
import json, sys
for entry in json.load(sys.stdin):
    for tc in entry.get("tc", []):
        if tc.get("name", "").startswith("starling"):
            print(tc["id"])')
mac_a=$(ip -n sb-a -j link show eth0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
mac_r=$(ip -n sb-r -j link show br0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
python3 - "$RUN" "$mac_a" "$mac_r" "$VIP" << 'EOF'
import socket, struct, sys
run, dst, src, vip = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
mac = lambda m: bytes(int(x, 16) for x in m.split(":"))
def checksum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF
def packet(flags, sport):
    tcp = struct.pack("!HHIIBBHHH", sport, 80, 1000, 2000, 5 << 4, flags, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 1, 0x4000, 64, 6, 0,
                     socket.inet_aton("198.18.30.1"), socket.inet_aton(vip))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return mac(dst) + mac(src) + b"\x08\x00" + ip + tcp + b"\x00" * 6
open(run + "/ack.bin", "wb").write(packet(0x10, 40000))   # ACK of a connection A does not hold
open(run + "/syn.bin", "wb").write(packet(0x02, 40001))   # SYN: A listens, delivered
EOF
# A connection A holds: the "new connection" of part 1 ended; open one and keep it while measuring.
# A forwarded packet leaves with its TTL lowered, and the test run feeds the same buffer again: an ACK is
# measured in batches of 60 runs (TTL 64 → 4), median of 200 batches; the SYN (left as it is) in one batch.
printf '%-44s %s\n' "packet" "ns per packet (pps per core)"
measure() { # KIND REPEAT → average ns of one batch, and the return code
    ip netns exec sb-a bpftool prog run id "$prog" data_in "$RUN/$1.bin" repeat "$2" 2>&1 |
        python3 -c 'import re,sys; t=sys.stdin.read(); print(re.search(r"duration \(average\): (\d+)", t).group(1), re.search(r"Return value: (\d+)", t).group(1))'
}
batches=()
for _ in $(seq 200); do batches+=("$(measure ack 60)"); done
read -r ns ret < <(printf '%s\n' "${batches[@]}" | sort -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}')
printf '%-44s %s ns (%s Mpps)\n' "ACK not held here → next SE (return $ret)" "$ns" "$(python3 -c "print(round(1000 / max($ns, 1), 2))")"
read -r ns ret < <(measure syn "$REPEAT")
printf '%-44s %s ns (%s Mpps)\n' "SYN, listener here → delivered (return $ret)" "$ns" "$(python3 -c "print(round(1000 / max($ns, 1), 2))")"
ip netns exec sb-a curl -s 127.0.0.1:9180/status | python3 -c '
import json, sys
s = json.load(sys.stdin)["steering"]
print("SE A counters after the runs:", {k: v for k, v in s["counters"].items() if v})'

echo
echo "== 3. flow table memory (the SE's LRU hash, kernel accounting)"
for size in 131072 1048576; do
    pid=$(ip netns pids sb-b | while read -r p; do
        grep -q "se" "/proc/$p/cmdline" 2> /dev/null && tr '\0' ' ' < "/proc/$p/cmdline" | grep -q -- "--config" && echo "$p"
    done | head -1)
    if [[ $size != 131072 ]]; then
        kill "$pid"
        sleep 3
        ip netns exec sb-b "$STARLING" se --config "$RUN/se.json" --data-address 198.18.30.12 \
            --scaleout-members 198.18.30.11,198.18.30.12 --flow-table-size "$size" > "$RUN/se-b2.log" 2>&1 &
        sleep 3
        pid=$!
        pid=$(ip netns pids sb-b | while read -r p; do
            tr '\0' ' ' < "/proc/$p/cmdline" 2> /dev/null | grep -q -- "--flow-table-size" && echo "$p"
        done | head -1)
    fi
    for fd in /proc/"$pid"/fdinfo/*; do
        if grep -q '^map_type:\s*9$' "$fd" 2> /dev/null; then
            entries=$(awk '/^max_entries/ {print $2}' "$fd")
            memlock=$(awk '/^memlock/ {print $2}' "$fd")
            printf 'flow table of %8d entries: %10d bytes; per 100k flows: %.1f MiB (%d bytes per flow)\n' \
                "$entries" "$memlock" "$(python3 -c "print($memlock * 100000 / $entries / 1048576)")" \
                "$((memlock / entries))"
        fi
    done
done
