import Foundation
import StarlingModel
import XCTest

@testable import starling

/// Table and runtime rendering, YAML/JSON object files, argument validation and exit codes of `starling ctl`.
final class CtlTests: XCTestCase {
    // MARK: Tables

    func testTableAlignsColumnsAndMarksEmptyCells() {
        let table = CtlTable(headers: ["NAME", "UUID", "X"], rows: [["a", "pool-1", ""], ["longer-name", "p", "z"]])
        XCTAssertEqual(
            table.render(),
            """
            NAME         UUID    X
            a            pool-1  -
            longer-name  p       z
            """)
    }

    func testVirtualServiceTableResolvesVIPAndPoolNames() throws {
        let vs = try json(
            """
            {"name": "demo-vs", "uuid": "virtualservice-1", "vsvip_ref": "/api/vsvip/vsvip-1",
             "pool_ref": "/api/pool/pool-1", "services": [{"port": 80}, {"port": 443, "enable_ssl": true}],
             "enabled": true}
            """)
        let disabled = try json(
            """
            {"name": "off", "uuid": "virtualservice-2", "vsvip_ref": "https://c/api/vsvip/vsvip-9#other-vip",
             "services": [], "enabled": false}
            """)
        let lookup = CtlRefLookup(related: [
            try json(
                #"{"name": "demo-vip", "uuid": "vsvip-1", "vip": [{"vip_id": "0", "ip_address": {"addr": "192.0.2.10", "type": "V4"}}, {"vip_id": "1", "ip_address": {"addr": "2001:db8::10", "type": "V6"}}]}"#
            ),
            try json(#"{"name": "demo-pool", "uuid": "pool-1"}"#),
        ])
        let text = CtlViews.table(type: "virtualservice", objects: [vs, disabled], lookup: lookup).render()
        XCTAssertEqual(
            text,
            """
            NAME     UUID              VIP                      PORTS       POOL       ENABLED
            demo-vs  virtualservice-1  192.0.2.10,2001:db8::10  80,443/ssl  demo-pool  yes
            off      virtualservice-2  other-vip                -           -          no
            """)
    }

    func testPoolServiceEngineAndVrfTables() throws {
        let pool = try json(
            """
            {"name": "demo-pool", "uuid": "pool-1", "default_server_port": 8080, "lb_algorithm": "LB_ALGORITHM_LEAST_CONNECTIONS",
             "servers": [{"ip": {"addr": "198.18.1.21", "type": "V4"}, "port": 80},
                         {"ip": {"addr": "198.18.1.22", "type": "V4"}, "enabled": false}],
             "health_monitor_refs": ["/api/healthmonitor/healthmonitor-1"]}
            """)
        let lookup = CtlRefLookup(related: [
            try json(#"{"name": "demo-http", "uuid": "healthmonitor-1"}"#),
            try json(#"{"name": "Default-Group", "url": "/api/serviceenginegroup/serviceenginegroup-1"}"#),
        ])
        XCTAssertEqual(
            CtlViews.table(type: "pool", objects: [pool], lookup: lookup).render(),
            """
            NAME       UUID    SERVERS                                    LB_ALGORITHM                    HEALTH_MONITORS
            demo-pool  pool-1  198.18.1.21:80,198.18.1.22:8080(disabled)  LB_ALGORITHM_LEAST_CONNECTIONS  demo-http
            """)
        let se = try json(
            """
            {"name": "se1", "uuid": "serviceengine-1", "data_address": {"addr": "198.18.1.11", "type": "V4"},
             "se_group_ref": "/api/serviceenginegroup/serviceenginegroup-1",
             "oper_status": {"state": "OPER_UP"}, "se_connected": true}
            """)
        let lost = try json(
            #"{"name": "se2", "uuid": "serviceengine-2", "oper_status": {"state": "OPER_DOWN", "reason": "missed 3 heartbeats"}}"#
        )
        XCTAssertEqual(
            CtlViews.table(type: "serviceengine", objects: [se, lost], lookup: lookup).render(),
            """
            NAME  UUID             DATA_ADDRESS  GROUP          OPER_STATE                       CONNECTED
            se1   serviceengine-1  198.18.1.11   Default-Group  OPER_UP                          yes
            se2   serviceengine-2  -             -              OPER_DOWN (missed 3 heartbeats)  -
            """)
        let vrf = try json(
            """
            {"name": "global", "uuid": "vrfcontext-1", "bgp_profile": {"local_as": 65001,
             "peers": [{"peer_ip": {"addr": "198.18.1.1", "type": "V4"}, "remote_as": 65000}]}}
            """)
        XCTAssertEqual(
            CtlViews.table(type: "vrfcontext", objects: [vrf], lookup: CtlRefLookup()).render(),
            """
            NAME    UUID          LOCAL_AS  BGP_PEERS
            global  vrfcontext-1  65001     198.18.1.1@AS65000
            """)
        XCTAssertEqual(
            CtlViews.table(
                type: "tenant", objects: [try json(#"{"name": "admin", "url": "/api/tenant/tenant-1"}"#)],
                lookup: CtlRefLookup()
            ).render(),
            "NAME   UUID\nadmin  tenant-1")
    }

    func testAnalyticsTableHasARowPerSampleAndAColumnPerMetric() throws {
        let answer = try json(
            """
            {"series": [
              {"header": {"name": "l7_client.avg_total_requests", "units": "PER_SECOND"},
               "data": [{"timestamp": "2026-12-06T10:00:05+00:00", "value": 100.0},
                        {"timestamp": "2026-12-06T10:00:10+00:00", "value": 50.5}]},
              {"header": {"name": "l7_client.avg_client_txn_latency", "units": "MILLISECONDS"},
               "data": [{"timestamp": "2026-12-06T10:00:10+00:00", "value": 4.25}]}]}
            """)
        XCTAssertEqual(
            CtlAnalytics.table(answer).render(),
            """
            time                       l7_client.avg_total_requests (per second)  l7_client.avg_client_txn_latency (milliseconds)
            2026-12-06T10:00:05+00:00  100                                        -
            2026-12-06T10:00:10+00:00  50.50                                      4.25
            """)
    }

    func testRequestLogTableShowsOneRequestPerRow() throws {
        let answer = try json(
            """
            {"count": 7, "results": [
              {"report_timestamp": "2026-12-07T02:30:00.125Z", "client_ip": "198.18.2.10", "client_src_port": 40112,
               "method": "GET", "uri_path": "/missing", "uri_query": "a=1", "response_code": 404, "total_time": 1.25,
               "response_length": 153, "server_ip": "198.18.1.21", "server_dest_port": 80, "service_engine": "se1",
               "significance": "client error response (404)"},
              {"report_timestamp": "2026-12-07T02:29:59.000Z", "client_ip": "198.18.2.10", "client_src_port": 40110,
               "method": "POST", "uri_path": "/", "uri_query": "", "response_code": 503, "total_time": 0.5,
               "response_length": 40, "server_ip": "", "server_dest_port": 0, "service_engine": "se2",
               "significance": "answered by the SE: Service Unavailable"}]}
            """)
        XCTAssertEqual(
            CtlLogs.table(answer).render(),
            """
            time                      client             request           status  ms   bytes out  server          se   why
            2026-12-07T02:30:00.125Z  198.18.2.10:40112  GET /missing?a=1  404     1.2  153        198.18.1.21:80  se1  client error response (404)
            2026-12-07T02:29:59.000Z  198.18.2.10:40110  POST /            503     0.5  40         -               se2  answered by the SE: Service Unavailable
            """)
    }

    func testVirtualServiceRuntimeShowsPlacementAndAdvertisement() throws {
        let runtime = try json(
            """
            {"oper_status": {"state": "OPER_UP", "reason": "placed on 2 of 3 SEs"},
             "placement": [
               {"se_name": "se1", "se_uuid": "serviceengine-1", "reason": "distributed", "oper_state": "OPER_UP",
                "advertised": true, "advertise_reason": "virtual service is up", "servers_up": 2},
               {"se_name": "se2", "se_uuid": "serviceengine-2", "oper_state": "OPER_DOWN",
                "advertised": false, "advertise_reason": "no pool server is up", "servers_up": 0}
             ],
             "num_se_requested": 3, "vip": ["192.0.2.10"], "extra": {"nested": {"deep": 1}}}
            """)
        let text = CtlViews.runtime(runtime, title: "runtime:")
        XCTAssertEqual(
            text,
            """
            runtime:
              vip: 192.0.2.10
              oper_status: OPER_UP (placed on 2 of 3 SEs)
              placement:
                SE_NAME  SE_UUID          OPER_STATE  REASON       ADVERTISED  ADVERTISE_REASON       SERVERS_UP
                se1      serviceengine-1  OPER_UP     distributed  yes         virtual service is up  2
                se2      serviceengine-2  OPER_DOWN   -            no          no pool server is up   0
              extra:
                nested:
                  deep: 1
              num_se_requested: 3
            """)
    }

    func testClusterTableShowsEachNodesRole() throws {
        let runtime = try JSONValue.parse(
            Array(
                """
                {"cluster_state": {"state": "CLUSTER_UP_HA_COMPROMISED", "up_since": "2026-12-07T16:00:00.000000Z"},
                 "node_states": [
                   {"name": "ctl1", "role": "CLUSTER_LEADER", "state": "CLUSTER_ACTIVE", "up_since": "2026-12-07T16:00:00.000000Z"},
                   {"name": "ctl2", "role": "CLUSTER_FOLLOWER", "state": "CLUSTER_ACTIVE", "up_since": "2026-12-07T16:01:00.000000Z"}]}
                """.utf8))
        XCTAssertEqual(
            CtlViews.cluster(runtime),
            """
            cluster: CLUSTER_UP_HA_COMPROMISED
            NAME  ROLE      STATE           UP_SINCE
            ctl1  LEADER    CLUSTER_ACTIVE  2026-12-07T16:00:00.000000Z
            ctl2  FOLLOWER  CLUSTER_ACTIVE  2026-12-07T16:01:00.000000Z
            """)
    }

    func testRuntimeToleratesMissingAndOddFields() throws {
        XCTAssertEqual(CtlViews.runtime(try json("{}"), title: "runtime:"), "runtime:")
        XCTAssertEqual(
            CtlViews.runtime(
                try json(#"{"placement": [], "oper_status": {"state": "OPER_DOWN", "reason": ["a", "b"]}}"#), title: "t"
            ),
            "t\n  oper_status: OPER_DOWN (a; b)\n  placement: none")
        XCTAssertEqual(
            CtlViews.runtime(try json(#"{"mixed": [1, {"a": 2}]}"#), title: "t"),
            #"t"# + "\n" + #"  mixed: [1,{"a":2}]"#)
    }

    // MARK: Object files

    func testYAMLListBecomesJSONObjects() throws {
        let objects = try ObjectFile.objects(
            from: """
                - name: demo-pool
                  lb_algorithm: LB_ALGORITHM_ROUND_ROBIN
                  servers:
                    - ip: {addr: 198.18.1.21, type: V4}
                      port: 80
                      enabled: true
                      ratio: 1.5
                  description: yes
                  note: 010
                  when: 2024-01-01
                  nothing: ~
                - {"name": "second", "port": "80"}
                """, source: "f.yaml")
        XCTAssertEqual(objects.count, 2)
        let expected = try json(
            """
            {"name": "demo-pool", "lb_algorithm": "LB_ALGORITHM_ROUND_ROBIN",
             "servers": [{"ip": {"addr": "198.18.1.21", "type": "V4"}, "port": 80, "enabled": true, "ratio": 1.5}],
             "description": "yes", "note": 10, "when": "2024-01-01", "nothing": null}
            """)
        XCTAssertEqual(JSONValue.object(objects[0]), expected)
        XCTAssertEqual(objects[1]["port"], .string("80"), "a quoted number stays a string")
    }

    func testJSONObjectAndMultiDocumentYAML() throws {
        let one = try ObjectFile.objects(
            from: #"{"name": "v", "vip": [{"vip_id": "0"}], "n": -3, "x": 1e3}"#, source: "f")
        XCTAssertEqual(one.count, 1)
        XCTAssertEqual(one[0]["vip"], .array([.object(["vip_id": .string("0")])]))
        XCTAssertEqual(one[0]["n"], .int(-3))
        XCTAssertEqual(one[0]["x"], .double(1000))
        let docs = try ObjectFile.objects(from: "name: a\n---\nname: b\n---\n", source: "f")
        XCTAssertEqual(docs.map { $0["name"] }, [.string("a"), .string("b")])
    }

    func testBadObjectFilesNameTheProblem() {
        let cases: [(String, String)] = [
            ("42", "f.yaml: document 1 is not an object or a list of objects"),
            ("[{name: a}, 3]", "f.yaml: item 1 of the list is not an object"),
            ("", "f.yaml: no object in the file"),
            ("{name: [unclosed", "f.yaml: not valid YAML or JSON"),
            ("? [a, b]\n: c\n", "f.yaml: a mapping key is not a plain string"),
        ]
        for (text, message) in cases {
            XCTAssertThrowsError(try ObjectFile.objects(from: text, source: "f.yaml"), text) { error in
                let ctl = error as? CtlError
                XCTAssertEqual(ctl?.exitCode, 2, text)
                XCTAssertTrue(ctl?.message.hasPrefix(message) == true, "\(text): \(ctl?.message ?? "\(error)")")
                XCTAssertFalse(ctl?.message.contains("\n") ?? true, "one line")
            }
        }
    }

    // MARK: Arguments and exit codes

    func testGlobalOptionsBeforeOrAfterTheSubcommand() throws {
        for args in [
            ["--controller", "http://c:8443", "get", "pool", "web", "-o", "json"],
            ["get", "pool", "web", "--controller", "http://c:8443", "--output", "json"],
        ] {
            let get = try XCTUnwrap(try CtlRoot.parseAsRoot(args) as? CtlGet, "\(args)")
            XCTAssertEqual(get.global.controller, "http://c:8443")
            XCTAssertEqual(get.type, "pool")
            XCTAssertEqual(get.name, "web")
            XCTAssertEqual(get.output, .json)
        }
        let login = try XCTUnwrap(try CtlRoot.parseAsRoot(["login", "--username", "ops"]) as? CtlLogin)
        XCTAssertEqual(login.global.username, "ops")
        XCTAssertNil(login.global.password)
    }

    func testUsageErrorsExitTwoWithOneLine() async throws {
        let home = try temporaryHome()
        let cases: [([String], String)] = [
            ([], "missing subcommand"),
            (["frobnicate"], "Unexpected argument 'frobnicate'"),
            (["get"], "Missing expected argument '<type>'"),
            (["get", "po/ol"], "TYPE 'po/ol' is not an object type"),
            (["get", "pool", "-o", "xml"], "The value 'xml' is invalid for '-o <output>'"),
            (["delete", "pool"], "Missing expected argument '<name>'"),
            (["create", "pool"], "Missing expected argument '--file <file>'"),
            (["show", "pool", "p"], "TYPE 'pool' has no runtime"),
            (["get", "pool"], "no controller: pass --controller"),
            (["--controller", "ftp://c", "get", "pool"], "--controller: bad URL 'ftp://c'"),
            (
                ["--controller", "https://127.0.0.1:1", "--ca-fingerprint", "ab", "get", "pool"],
                "--ca-fingerprint: 'ab'"
            ),
            (
                ["--controller", "https://127.0.0.1:1", "--ca-file", "\(home)/missing.pem", "get", "pool"],
                "--ca-file: \(home)/missing.pem is not a readable PEM certificate"
            ),
            (
                ["--controller", "http://127.0.0.1:1", "create", "pool", "-f", "\(home)/missing.yaml"],
                "-f \(home)/missing.yaml: cannot read the file"
            ),
            (["--controller", "http://127.0.0.1:1", "login"], "no password"),
            (["analytics", "healthmonitor", "p"], "TYPE 'healthmonitor' has no metrics"),
            (["analytics", "vs", "web", "--server", "10.0.0.1:80"], "--server: only with pool"),
            (["analytics", "pool", "p", "--metric", "l7_client.avg_total_requests"], "--metric: unknown metric"),
            (["analytics", "vs", "web", "--step", "60"], "--step: 5, 300 or 3600 seconds"),
            (["analytics", "vs", "web", "--metric", "l7_client.nope"], "--metric: unknown metric l7_client.nope"),
            (["logs", "web", "--filter", "response_code>500"], "--filter: 'response_code>500' is not op(field,value)"),
            (["logs", "web", "--page-size", "0"], "--page-size: 1-1000"),
            (["logs"], "Missing expected argument '<name>'"),
        ]
        for (args, message) in cases {
            let result = await runCtl(args, home: home)
            XCTAssertEqual(result.status, 2, "\(args): \(result.err)")
            XCTAssertTrue(result.err.hasPrefix("starling ctl: \(message)"), "\(args): \(result.err)")
            XCTAssertEqual(result.err.split(separator: "\n").count, 1, "\(args): one line: \(result.err)")
            XCTAssertEqual(result.out, "", "\(args)")
        }
    }

    func testHelpExitsZero() async throws {
        let result = await runCtl(["--help"], home: try temporaryHome())
        XCTAssertEqual(result.status, 0)
        XCTAssertTrue(result.out.contains("SUBCOMMANDS:"), result.out)
        let get = await runCtl(["get", "--help"], home: try temporaryHome())
        XCTAssertEqual(get.status, 0)
        XCTAssertTrue(get.out.contains("-o, --output"), get.out)
    }

    func testConnectionRefusedIsAnAPIError() async throws {
        let home = try temporaryHome()
        let result = await runCtl(
            ["get", "pool"], home: home, variables: ["STARLING_CONTROLLER": "http://127.0.0.1:1"])
        XCTAssertEqual(result.status, 1)
        XCTAssertEqual(result.err, "starling ctl: cannot connect to 127.0.0.1:1: connection refused\n")
    }

    func testTypeAliases() throws {
        XCTAssertEqual(try CtlAPI.objectType("vs"), "virtualservice")
        XCTAssertEqual(try CtlAPI.objectType("SE"), "serviceengine")
        XCTAssertEqual(try CtlAPI.objectType("pool"), "pool")
        XCTAssertEqual(try CtlShow.runtimeType("virtualservice"), "virtualservice")
        XCTAssertThrowsError(try CtlShow.runtimeType("vsvip"))
    }

    // MARK: Auth and session

    func testAuthHeaders() {
        XCTAssertEqual(
            CtlAuth.basic(username: "admin", password: "p:w").headers(method: "GET").map { "\($0.0): \($0.1)" },
            ["Authorization: Basic YWRtaW46cDp3"])
        let session = CtlAuth.session(sessionID: "s1", csrfToken: "c1")
        XCTAssertEqual(
            session.headers(method: "GET").map { "\($0.0): \($0.1)" }, ["Cookie: sessionid=s1; csrftoken=c1"])
        XCTAssertEqual(
            session.headers(method: "PATCH").map { "\($0.0): \($0.1)" },
            ["Cookie: sessionid=s1; csrftoken=c1", "X-CSRFToken: c1"])
    }

    func testSessionFileIsPrivateAndRoundTrips() throws {
        let home = try temporaryHome()
        XCTAssertNil(try CtlSession.load(home: home))
        let session = CtlSession(
            controller: "http://198.18.3.1:8443", username: "admin", sessionid: "s", csrftoken: "c")
        try session.save(home: home)
        XCTAssertEqual(try CtlSession.load(home: home), session)
        let attributes = try FileManager.default.attributesOfItem(atPath: CtlSession.path(home: home))
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        try "garbage".write(toFile: CtlSession.path(home: home), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try CtlSession.load(home: home)) { error in
            XCTAssertTrue("\(error)".contains("not a saved session"), "\(error)")
        }
    }

    func testSessionIsUsedOnlyForItsController() async throws {
        let home = try temporaryHome()
        try CtlSession(controller: "http://198.18.3.1:8443", username: "admin", sessionid: "s", csrftoken: "c")
            .save(home: home)
        let environment = CtlEnvironment(variables: [:], home: home, readPassword: { _ in nil })
        var options = try CtlGlobalOptions.parse([])
        let connected1 = try await options.connection(environment)
        XCTAssertEqual(connected1.auth, .session(sessionID: "s", csrfToken: "c"))
        let connected2 = try await options.connection(environment)
        XCTAssertEqual(connected2.client.baseURL, "http://198.18.3.1:8443")
        options = try CtlGlobalOptions.parse(["--controller", "http://198.18.3.1:8443/"])
        let connected3 = try await options.connection(environment)
        XCTAssertEqual(connected3.auth, .session(sessionID: "s", csrfToken: "c"))
        options = try CtlGlobalOptions.parse(["--controller", "http://127.0.0.1:8443"])
        let connected4 = try await options.connection(environment)
        XCTAssertEqual(connected4.auth, CtlAuth.none)
        options = try CtlGlobalOptions.parse(["--password", "pw"])
        let connected5 = try await options.connection(environment)
        XCTAssertEqual(connected5.auth, .basic(username: "admin", password: "pw"))
        let withEnv = CtlEnvironment(variables: ["STARLING_PASSWORD": "envpw"], home: home, readPassword: { _ in nil })
        options = try CtlGlobalOptions.parse(["--username", "ops"])
        let connected6 = try await options.connection(withEnv)
        XCTAssertEqual(connected6.auth, .basic(username: "ops", password: "envpw"))
    }

    func testNextPageURLBecomesAPath() {
        XCTAssertEqual(CtlAPI.path(of: "http://198.18.3.1:8443/api/pool?page=2"), "/api/pool?page=2")
        XCTAssertEqual(CtlAPI.path(of: "/api/pool?page=3"), "/api/pool?page=3")
        XCTAssertNil(CtlAPI.path(of: "page=2"))
        XCTAssertEqual(CtlAPI.refUUID("https://c/api/pool/pool-1#web"), "pool-1")
        XCTAssertNil(CtlAPI.refUUID("/api/pool/?name=web"))
        XCTAssertEqual(CtlAPI.percentEncoded("a b&c"), "a%20b%26c")
    }

    // MARK: Helpers

    private func json(_ text: String) throws -> JSONValue {
        try JSONValue.parse(Array(text.utf8))
    }

    private func temporaryHome() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ctl-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }
}

/// Output captured from ``CtlMain/run(_:context:)``.
final class CapturedOutput: @unchecked Sendable {
    private let lock = NSLock()
    private var outText = ""
    private var errText = ""
    var out: String { lock.withLock { outText } }
    var err: String { lock.withLock { errText } }
    func appendOut(_ text: String) { lock.withLock { outText += text + "\n" } }
    func appendErr(_ text: String) { lock.withLock { errText += text + "\n" } }
}

/// Runs `starling ctl args` in-process with `home` as the home directory and no terminal.
func runCtl(_ args: [String], home: String, variables: [String: String] = [:]) async -> (
    status: Int32, out: String, err: String
) {
    let captured = CapturedOutput()
    let context = CtlContext(
        environment: CtlEnvironment(variables: variables, home: home, readPassword: { _ in nil }),
        out: { captured.appendOut($0) }, err: { captured.appendErr($0) })
    let status = await CtlMain.run(args, context: context)
    return (status, captured.out, captured.err)
}
