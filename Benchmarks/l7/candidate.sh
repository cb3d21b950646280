#!/usr/bin/env bash
# The l7-bench candidate: a standalone Starling SE (`starling se --config FILE --threads 1`) built from
# the harness's environment (L7B_HTTP_ADDR, L7B_TLS_ADDR, L7B_TCP_ADDR, L7B_BACKENDS, L7B_CERT, L7B_KEY,
# L7B_RUN_DIR): an HTTP virtual service, the same over TLS (System-Standard, the harness's ECDSA
# certificate as an sslkeyandcertificate object) and an L4 one.
set -euo pipefail
STARLING=${STARLING:?set STARLING to the starling binary (a release build)}
run=${L7B_RUN_DIR:-/tmp}
python3 - "$run/starling-se.json" <<'PY'
import json, os, sys
backends = [b.rsplit(":", 1) for b in os.environ["L7B_BACKENDS"].split(",")]
port = lambda var: int(os.environ[var].rsplit(":", 1)[1])
vs = lambda name, services, profile, **extra: dict(
    name=name, vsvip_ref="/api/vsvip/?name=bench", services=services, pool_ref="/api/pool/?name=backends",
    application_profile_ref=f"/api/applicationprofile/?name={profile}", **extra)
config = {
    "pool": [{"name": "backends", "lb_algorithm": "LB_ALGORITHM_ROUND_ROBIN",
              "servers": [{"ip": {"addr": a, "type": "V4"}, "port": int(p)} for a, p in backends]}],
    "vsvip": [{"name": "bench", "vip": [{"vip_id": "0", "ip_address": {"addr": "127.0.0.1", "type": "V4"}}]}],
    "virtualservice": [
        vs("http", [{"port": port("L7B_HTTP_ADDR")}], "System-HTTP"),
        vs("tcp", [{"port": port("L7B_TCP_ADDR")}], "System-L4-Application"),
    ],
}
if os.environ.get("L7B_TLS_ADDR") and os.environ.get("L7B_CERT"):
    config["sslkeyandcertificate"] = [{
        "name": "bench", "certificate": {"certificate": open(os.environ["L7B_CERT"]).read()},
        "key": open(os.environ["L7B_KEY"]).read()}]
    # L7B_H2=1 (Benchmarks/h2): the TLS port offers HTTP/2 too.
    tls_service = {"port": port("L7B_TLS_ADDR"), "enable_ssl": True}
    if os.environ.get("L7B_H2") == "1":
        tls_service["enable_http2"] = True
    config["virtualservice"].append(vs(
        "https", [tls_service], "System-HTTP",
        ssl_key_and_certificate_refs=["/api/sslkeyandcertificate/?name=bench"]))
json.dump(config, open(sys.argv[1], "w"), indent=1)
PY
exec "$STARLING" se --config "$run/starling-se.json" --threads 1 --mgmt-listen off --log-level warning
