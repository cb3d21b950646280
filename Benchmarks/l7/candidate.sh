#!/usr/bin/env bash
# The l7-bench candidate: a standalone Starling SE (`starling se --config FILE --threads 1`) built from
# the harness's environment (L7B_HTTP_ADDR, L7B_TCP_ADDR, L7B_BACKENDS, L7B_RUN_DIR). TLS (L7B_TLS_ADDR)
# is not served yet, so the harness reports rps=NA for the tls-* scenarios.
set -euo pipefail
STARLING=${STARLING:?set STARLING to the starling binary (a release build)}
run=${L7B_RUN_DIR:-/tmp}
http_port=${L7B_HTTP_ADDR##*:}
tcp_port=${L7B_TCP_ADDR##*:}
servers=""
IFS=, read -ra backends <<<"${L7B_BACKENDS}"
for b in "${backends[@]}"; do
    servers+="${servers:+, }{\"ip\": {\"addr\": \"${b%:*}\", \"type\": \"V4\"}, \"port\": ${b##*:}}"
done
cat >"$run/starling-se.json" <<JSON
{
  "pool": [{"name": "backends", "lb_algorithm": "LB_ALGORITHM_ROUND_ROBIN", "servers": [${servers}]}],
  "vsvip": [{"name": "bench", "vip": [{"vip_id": "0", "ip_address": {"addr": "127.0.0.1", "type": "V4"}}]}],
  "virtualservice": [
    {"name": "http", "vsvip_ref": "/api/vsvip/?name=bench", "services": [{"port": ${http_port}}],
     "pool_ref": "/api/pool/?name=backends", "application_profile_ref": "/api/applicationprofile/?name=System-HTTP"},
    {"name": "tcp", "vsvip_ref": "/api/vsvip/?name=bench", "services": [{"port": ${tcp_port}}],
     "pool_ref": "/api/pool/?name=backends",
     "application_profile_ref": "/api/applicationprofile/?name=System-L4-Application"}
  ]
}
JSON
exec "$STARLING" se --config "$run/starling-se.json" --threads 1 --mgmt-listen off --log-level warning
