#!/usr/bin/env bash
# Restarts under load, side by side: how many requests fail while the load balancer restarts RELOADS
# times, every INTERVAL seconds, under `starling lab http-load` (four workers from a client namespace:
# two open a connection per GET, two keep one alive, one of them on a 300 ms URL so that requests are
# in flight at every restart).
#
#   starling: a standalone SE (`starling se --config`) restarted with SIGUSR2 (`systemctl reload
#             starling-se`): a successor process takes over through the handoff socket.
#   haproxy:  HAProxy in master-worker mode with `expose-fd listeners`, reloaded with SIGUSR2 to the master
#             (its seamless reload: the new worker gets the listening sockets from the old one).
#
# Each in its own three namespaces (client, load balancer, pool server), VIP 192.0.2.80 on the load
# balancer's lo. Root.
#
#   sudo Benchmarks/restart/run.sh                      # builds the release binary first
#   RELOADS=20 INTERVAL=1 LBS=starling STARLING=/path/to/starling Benchmarks/restart/run.sh
# Needs: haproxy iproute2 python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
for tool in ip python3; do
    command -v "$tool" > /dev/null || { echo "missing: $tool" >&2; exit 2; }
done
[[ $(id -u) == 0 ]] || { echo "needs root (network namespaces)" >&2; exit 2; }
RELOADS=${RELOADS:-10}
INTERVAL=${INTERVAL:-2}
LBS=${LBS:-starling haproxy}
if [[ " $LBS " == *" haproxy "* ]] && ! command -v haproxy > /dev/null; then
    echo "missing: haproxy" >&2
    exit 2
fi
if [[ -z ${STARLING:-} ]]; then
    swift build -c release --product starling >&2
    STARLING=$(swift build -c release --show-bin-path)/starling
fi
RUN=$(mktemp -d /tmp/restart-bench.XXXXXX)
VIP=192.0.2.80
pids=()
namespaces=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
    for n in "${namespaces[@]}"; do
        for p in $(ip netns pids "$n" 2> /dev/null); do kill -9 "$p" 2> /dev/null || true; done
        ip netns del "$n" 2> /dev/null || true
    done
}
trap cleanup EXIT

# topology LB: namespaces rsb-LB-c (198.18.10.1) — rsb-LB-l (198.18.10.2, 198.18.11.1) — rsb-LB-s (198.18.11.2).
topology() {
    local c=rsb-$1-c l=rsb-$1-l s=rsb-$1-s
    namespaces+=("$c" "$l" "$s")
    for n in "$c" "$l" "$s"; do ip netns add "$n" && ip -n "$n" link set lo up; done
    ip link add rsbc type veth peer name rsbl1
    ip link add rsbs type veth peer name rsbl2
    ip link set rsbc netns "$c"
    ip link set rsbl1 netns "$l"
    ip link set rsbl2 netns "$l"
    ip link set rsbs netns "$s"
    ip -n "$c" addr add 198.18.10.1/30 dev rsbc
    ip -n "$l" addr add 198.18.10.2/30 dev rsbl1
    ip -n "$l" addr add 198.18.11.1/30 dev rsbl2
    ip -n "$s" addr add 198.18.11.2/30 dev rsbs
    ip -n "$c" link set rsbc up
    ip -n "$l" link set rsbl1 up
    ip -n "$l" link set rsbl2 up
    ip -n "$s" link set rsbs up
    ip -n "$c" route add "$VIP/32" via 198.18.10.2
    ip netns exec "$s" "$STARLING" lab pool-server srv 8080 > "$RUN/$1-server.log" 2>&1 &
    pids+=($!)
}

# wait_http NS: until GET http://VIP/ answers 200 from NS (at most 30 s).
wait_http() {
    for _ in $(seq 300); do
        if ip netns exec "$1" python3 -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://$VIP/', timeout=1).status == 200 else 1)" 2> /dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "no answer from http://$VIP/ in $1" >&2
    return 1
}

# starling_pids: the SE processes of this run.
starling_pids() { pgrep -f -- "--config $RUN/se.json" || true; }

start_lb() {
    case $1 in
    starling)
        cat > "$RUN/se.json" << EOF
{
  "healthmonitor": [{"name": "hm", "type": "HEALTH_MONITOR_HTTP", "send_interval": 2, "receive_timeout": 1,
    "successful_checks": 1, "failed_checks": 2,
    "http_monitor": {"http_request": "GET /health HTTP/1.0", "http_response_code": ["HTTP_2XX"]}}],
  "pool": [{"name": "p", "health_monitor_refs": ["/api/healthmonitor/?name=hm"],
    "servers": [{"ip": {"addr": "198.18.11.2", "type": "V4"}, "port": 8080}]}],
  "vsvip": [{"name": "v", "vip": [{"vip_id": "0", "ip_address": {"addr": "$VIP", "type": "V4"}}]}],
  "virtualservice": [{"name": "web", "vsvip_ref": "/api/vsvip/?name=v", "services": [{"port": 80}],
    "pool_ref": "/api/pool/?name=p", "application_profile_ref": "/api/applicationprofile/?name=System-HTTP"}]
}
EOF
        ip netns exec rsb-starling-l "$STARLING" se --config "$RUN/se.json" --data-address 198.18.11.1 \
            --handoff-socket "$RUN/se.handoff" --mgmt-listen off --drain-timeout 10 --log-level warning \
            >> "$RUN/starling-lb.log" 2>&1 &
        ;;
    haproxy)
        ip -n rsb-haproxy-l addr add "$VIP/32" dev lo
        cat > "$RUN/haproxy.cfg" << EOF
global
    master-worker
    stats socket $RUN/haproxy.sock mode 600 level admin expose-fd listeners
    hard-stop-after 30s
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
frontend fe
    bind $VIP:80
    default_backend be
backend be
    server srv 198.18.11.2:8080 check inter 2s
EOF
        ip netns exec rsb-haproxy-l haproxy -W -db -f "$RUN/haproxy.cfg" -p "$RUN/haproxy.pid" \
            >> "$RUN/haproxy-lb.log" 2>&1 &
        pids+=($!)
        ;;
    esac
}

reload_lb() {
    case $1 in
    starling)
        local before
        before=$(starling_pids)
        [[ $(wc -w <<< "$before") == 1 ]] || { echo "starling: not one SE process: $before" >&2; return 1; }
        kill -USR2 "$before"
        # The old process exits once its connections are done; one process (the successor) is left.
        for _ in $(seq 300); do
            kill -0 "$before" 2> /dev/null || break
            sleep 0.1
        done
        ;;
    haproxy)
        kill -USR2 "$(head -n 1 "$RUN/haproxy.pid")"
        ;;
    esac
}

printf '%-9s %8s %9s %7s  %s\n' lb reloads requests failed "first errors"
for lb in $LBS; do
    topology "$lb"
    start_lb "$lb"
    wait_http "rsb-$lb-c"
    ip netns exec "rsb-$lb-c" "$STARLING" lab http-load "http://$VIP/" "$RUN/$lb.stop" "$RUN/$lb.json" \
        > "$RUN/$lb-load.log" 2>&1 &
    load=$!
    sleep "$INTERVAL"
    for _ in $(seq "$RELOADS"); do
        reload_lb "$lb"
        sleep "$INTERVAL"
    done
    touch "$RUN/$lb.stop"
    wait "$load"
    python3 - "$lb" "$RELOADS" "$RUN/$lb.json" << 'EOF'
import json, sys
lb, reloads, path = sys.argv[1], sys.argv[2], sys.argv[3]
c = json.load(open(path))
print("%-9s %8s %9d %7d  %s" % (lb, reloads, c["total"], c["failed"], "; ".join(c["errors"][:3])))
EOF
    if [[ $lb == starling ]]; then
        for p in $(starling_pids); do kill "$p"; done
    fi
done
echo "logs: $RUN" >&2
