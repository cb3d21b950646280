#!/usr/bin/env python3
"""Drives a Starling controller with the unmodified Avi Python SDK (avisdk).

    avisdk_test.py --port PORT --password PASSWORD [--controller 127.0.0.1]

avisdk speaks HTTPS unless the controller address carries a scheme: `controller_ip="http://127.0.0.1"`
with `port=PORT` makes it use http://127.0.0.1:PORT (ApiSession's documented prefix rule), which is what
Starling serves. Logs in, creates a pool and a virtual service with its vsvip, reads them by name,
replaces them (PUT), patches one, deletes them, and checks each answer. Exits non-zero on any failure.
"""
import argparse
import sys
import warnings

from avi.sdk.avi_api import ApiSession


def check(cond, what):
    if not cond:
        print("avisdk_test: FAILED: " + what, file=sys.stderr)
        sys.exit(1)
    print("avisdk_test: ok: " + what)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--controller", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", default="admin")
    ap.add_argument("--password", required=True)
    args = ap.parse_args()
    warnings.simplefilter("ignore")

    api = ApiSession.get_session("http://" + args.controller, args.user, args.password,
                                 port=args.port, tenant="admin", api_version="22.1.3")
    check(api.remote_api_version.get("Version") == "22.1.3", "login returns the version")

    pool = {"name": "sdk-pool", "default_server_port": 8080,
            "lb_algorithm": "LB_ALGORITHM_ROUND_ROBIN",
            "servers": [{"ip": {"addr": "198.18.1.10", "type": "V4"}, "port": 8080},
                        {"ip": {"addr": "198.18.1.11", "type": "V4"}}],
            "health_monitor_refs": ["/api/healthmonitor/?name=System-TCP"]}
    rsp = api.post("pool", data=pool)
    check(rsp.status_code == 201, "create pool (%d %s)" % (rsp.status_code, rsp.text))
    pool_uuid = rsp.json()["uuid"]

    rsp = api.post("pool", data=pool)
    check(rsp.status_code == 409, "a second pool with the same name is refused (%d)" % rsp.status_code)

    bad = dict(pool, name="bad-pool", servers=[{"ip": {"addr": "198.18.1.12", "type": "V4"}, "port": 70000}])
    rsp = api.post("pool", data=bad)
    check(rsp.status_code == 400 and "servers[0].port" in rsp.text,
          "an out-of-range port is refused naming the field (%d %s)" % (rsp.status_code, rsp.text))

    rsp = api.post("vsvip", data={"name": "sdk-vip", "vip": [
        {"vip_id": "0", "ip_address": {"addr": "192.0.2.80", "type": "V4"}}]})
    check(rsp.status_code == 201, "create vsvip (%d %s)" % (rsp.status_code, rsp.text))
    vip_uuid = rsp.json()["uuid"]

    vs = {"name": "sdk-vs", "vsvip_ref": "/api/vsvip/?name=sdk-vip", "pool_ref": "/api/pool/?name=sdk-pool",
          "services": [{"port": 80}], "application_profile_ref": "/api/applicationprofile/?name=System-HTTP",
          "enable_rhi": True}
    rsp = api.post("virtualservice", data=vs)
    check(rsp.status_code == 201, "create virtualservice (%d %s)" % (rsp.status_code, rsp.text))
    vs_uuid = rsp.json()["uuid"]

    got = api.get_object_by_name("pool", "sdk-pool")
    check(got is not None and got["uuid"] == pool_uuid, "get pool by name")
    check(len(got["servers"]) == 2, "pool has its two servers")
    got_vs = api.get_object_by_name("virtualservice", "sdk-vs")
    check(got_vs is not None and api.get_slug_from_uri(got_vs["pool_ref"]) == pool_uuid,
          "virtualservice pool_ref points at the pool's uuid")
    check(api.get_slug_from_uri(got_vs["vsvip_ref"]) == vip_uuid, "virtualservice vsvip_ref points at the vsvip")
    check(api.get_object_by_name("pool", "no-such-pool") is None, "an unknown name gives None")

    got["servers"].append({"ip": {"addr": "198.18.1.13", "type": "V4"}, "port": 8081, "ratio": 3})
    rsp = api.put("pool/%s" % pool_uuid, data=got)
    check(rsp.status_code == 200, "put pool (%d %s)" % (rsp.status_code, rsp.text))
    check(len(api.get("pool/%s" % pool_uuid).json()["servers"]) == 3, "pool now has three servers")

    rsp = api.put_by_name("virtualservice", "sdk-vs", data=dict(got_vs, services=[{"port": 8080}]))
    check(rsp.status_code == 200, "put_by_name virtualservice (%d %s)" % (rsp.status_code, rsp.text))
    check(api.get_object_by_name("virtualservice", "sdk-vs")["services"][0]["port"] == 8080,
          "virtualservice listens on 8080 after the put")

    rsp = api.patch("virtualservice/%s" % vs_uuid, data={"replace": {"enabled": False}})
    check(rsp.status_code == 200 and rsp.json().get("enabled") is False, "patch replace enabled=false")

    rsp = api.delete("pool/%s" % pool_uuid)
    check(rsp.status_code == 409, "deleting a pool still used by a virtual service is refused (%d)" % rsp.status_code)

    rsp = api.delete_by_name("virtualservice", "sdk-vs")
    check(rsp.status_code == 204, "delete virtualservice (%d %s)" % (rsp.status_code, rsp.text))
    rsp = api.delete("pool/%s" % pool_uuid)
    check(rsp.status_code == 204, "delete pool (%d %s)" % (rsp.status_code, rsp.text))
    rsp = api.delete("vsvip/%s" % vip_uuid)
    check(rsp.status_code == 204, "delete vsvip (%d %s)" % (rsp.status_code, rsp.text))
    check(api.get_object_by_name("pool", "sdk-pool") is None, "pool is gone")

    count = api.get("pool", params={"page_size": 1}).json()["count"]
    check(count == 0, "pool collection is empty")

    https(api)
    tenant_admin(api, args)
    print("avisdk_test: PASS")


def https(api):
    """An HTTPS virtual service the way Avi users script one: a self-signed certificate, then a VS port with
    enable_ssl (and HTTP/2) referring to it and to an SSL profile, a pool that re-encrypts with a PKI
    profile; the key never comes back."""
    rsp = api.post("sslkeyandcertificate", data={
        "name": "sdk-cert", "type": "SSL_CERTIFICATE_TYPE_VIRTUALSERVICE",
        "certificate": {"self_signed": True, "subject": {"common_name": "sdk.example"}},
        "key_params": {"algorithm": "SSL_KEY_ALGORITHM_EC",
                       "ec_params": {"curve": "SSL_KEY_EC_CURVE_SECP256R1"}}})
    check(rsp.status_code == 201, "create self-signed sslkeyandcertificate (%d %s)" % (rsp.status_code, rsp.text))
    cert = api.get_object_by_name("sslkeyandcertificate", "sdk-cert")
    check("key" not in cert, "GET does not return the private key")
    check(cert["certificate"]["subject"]["common_name"] == "sdk.example", "certificate details filled in")
    check(cert["certificate"]["certificate"].startswith("-----BEGIN CERTIFICATE-----"), "the PEM is returned")
    profile = api.get_object_by_name("sslprofile", "System-Standard")
    check(profile is not None, "System-Standard sslprofile exists")
    # The pool re-encrypts to its servers, checked against a PKI profile's CA (the certificate's own PEM here).
    rsp = api.post("pkiprofile", data={"name": "sdk-pki", "crl_check": False,
                                       "ca_certs": [{"certificate": cert["certificate"]["certificate"]}]})
    check(rsp.status_code == 201, "create pkiprofile (%d %s)" % (rsp.status_code, rsp.text))
    pki = api.get_object_by_name("pkiprofile", "sdk-pki")
    rsp = api.post("pool", data={"name": "sdk-tls-pool", "ssl_profile_ref": profile["url"], "pki_profile_ref": pki["url"],
                                 "server_name": "backend.example", "host_check_enabled": True,
                                 "servers": [{"ip": {"addr": "198.18.1.90", "type": "V4"}, "port": 443}]})
    check(rsp.status_code == 201, "create re-encrypting pool (%d %s)" % (rsp.status_code, rsp.text))
    rsp = api.post("vsvip", data={"name": "sdk-tls-vip", "vip": [
        {"vip_id": "0", "ip_address": {"addr": "192.0.2.81", "type": "V4"}}]})
    check(rsp.status_code == 201, "create vsvip (%d %s)" % (rsp.status_code, rsp.text))
    rsp = api.post("virtualservice", data={
        "name": "sdk-https", "vsvip_ref": "/api/vsvip/?name=sdk-tls-vip", "pool_ref": "/api/pool/?name=sdk-tls-pool",
        "services": [{"port": 80}, {"port": 443, "enable_ssl": True, "enable_http2": True}],
        "application_profile_ref": "/api/applicationprofile/?name=System-Secure-HTTP",
        "ssl_key_and_certificate_refs": [cert["url"]], "ssl_profile_ref": profile["url"]})
    check(rsp.status_code == 201, "create HTTPS virtualservice (%d %s)" % (rsp.status_code, rsp.text))
    rsp = api.delete_by_name("sslkeyandcertificate", "sdk-cert")
    check(rsp.status_code == 409, "a certificate in use is not deleted (%d)" % rsp.status_code)
    vs = api.get_object_by_name("virtualservice", "sdk-https")
    check(vs["services"][1].get("enable_http2") is True, "enable_http2 kept on the HTTPS port")
    for kind, name in [("virtualservice", "sdk-https"), ("sslkeyandcertificate", "sdk-cert"),
                       ("vsvip", "sdk-tls-vip"), ("pool", "sdk-tls-pool"), ("pkiprofile", "sdk-pki")]:
        rsp = api.delete_by_name(kind, name)
        check(rsp.status_code == 204, "delete %s %s (%d %s)" % (kind, name, rsp.status_code, rsp.text))


def tenant_admin(api, args):
    """A Tenant-Admin works inside its tenant with the unchanged SDK, and nowhere else."""
    rsp = api.post("tenant", data={"name": "sdk-blue"})
    check(rsp.status_code == 201, "admin creates tenant sdk-blue (%d %s)" % (rsp.status_code, rsp.text))
    rsp = api.post("user", data={"name": "sdk-blue-admin", "password": "blue-admin-pw",
                                 "default_tenant_ref": "/api/tenant/?name=sdk-blue",
                                 "access": [{"role_ref": "/api/role/?name=Tenant-Admin",
                                             "tenant_ref": "/api/tenant/?name=sdk-blue"}]})
    check(rsp.status_code == 201, "admin creates a Tenant-Admin of sdk-blue (%d %s)" % (rsp.status_code, rsp.text))
    user_uuid = rsp.json()["uuid"]
    rsp = api.post("pool", data={"name": "admin-only-pool"})
    check(rsp.status_code == 201, "admin creates a pool in tenant admin (%d)" % rsp.status_code)

    blue = ApiSession.get_session("http://" + args.controller, "sdk-blue-admin", "blue-admin-pw",
                                  port=args.port, tenant="sdk-blue", api_version="22.1.3")
    rsp = blue.post("pool", data={"name": "blue-pool", "servers": [{"ip": {"addr": "198.18.1.30", "type": "V4"}}]})
    check(rsp.status_code == 201, "the tenant admin creates a pool in its tenant (%d %s)" % (rsp.status_code, rsp.text))
    got = blue.get_object_by_name("pool", "blue-pool")
    check(got is not None and got["tenant_ref"].endswith(blue.get_slug_from_uri(got["tenant_ref"])),
          "the tenant admin reads its pool by name")
    got["servers"][0]["port"] = 8080
    rsp = blue.put("pool/%s" % got["uuid"], data=got)
    check(rsp.status_code == 200, "the tenant admin replaces its pool, tenant_ref and all (%d %s)"
          % (rsp.status_code, rsp.text))
    check(blue.get_object_by_name("pool", "admin-only-pool") is None, "admin's pool is not visible from sdk-blue")
    rsp = blue.get("pool", tenant="admin")
    check(rsp.status_code == 403, "the tenant admin gets 403 in tenant admin (%d)" % rsp.status_code)
    rsp = blue.put("user/%s" % user_uuid, data={"name": "sdk-blue-admin", "password": "taken-over",
                                                "is_superuser": True})
    check(rsp.status_code == 403, "the tenant admin cannot change users, itself included (%d)" % rsp.status_code)
    check(blue.get_object_by_name("healthmonitor", "System-HTTP") is not None,
          "System-* monitors are shared with sdk-blue")

    check(api.get("pool", tenant="sdk-blue").json()["count"] == 1, "admin sees the pool in sdk-blue")
    rsp = blue.delete_by_name("pool", "blue-pool")
    check(rsp.status_code == 204, "the tenant admin deletes its pool (%d)" % rsp.status_code)
    rsp = api.get("analytics/logs", params={"type": 2, "request_user": "sdk-blue-admin"}, tenant="sdk-blue")
    check(rsp.status_code == 200 and rsp.json()["count"] == 3,
          "the audit trail has the tenant admin's three writes (%d %s)" % (rsp.status_code, rsp.text[:200]))
    for path in ["user/%s" % user_uuid, "pool/%s" % api.get_object_by_name("pool", "admin-only-pool")["uuid"]]:
        rsp = api.delete(path)
        check(rsp.status_code == 204, "admin deletes %s (%d)" % (path.split("/")[0], rsp.status_code))
    rsp = api.delete_by_name("tenant", "sdk-blue")
    check(rsp.status_code == 204, "admin deletes the tenant (%d %s)" % (rsp.status_code, rsp.text))


if __name__ == "__main__":
    main()
