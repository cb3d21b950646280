import Foundation
import Netlink
import XCTest

@testable import starling

/// The appliance's first-boot document: what is accepted, and that every mistake names its field.
final class ApplianceConfigTests: XCTestCase {
    let se = """
        role: se
        hostname: se1
        interfaces:
          - {mac: "52:54:00:10:00:11", name: mgmt0, addresses: ["198.19.3.11/24"]}
          - {mac: "52:54:00:20:00:11", name: data0, addresses: ["198.19.1.11/24", "2001:db8:1::11/64"], mtu: 9000}
        routes:
          - {to: default, via: 198.19.1.1}
          - {to: "198.19.4.0/24", via: 198.19.1.1}
          - {to: "::/0", via: "2001:db8:1::1"}
        se: {controller: "http://198.19.3.10:8443", token: tok123, data_address: 198.19.1.11}
        """

    func testServiceEngineDocument() throws {
        let plan = try ApplianceConfigLoader.parse(se)
        XCTAssertEqual(plan.role, .se)
        XCTAssertEqual(plan.hostname, "se1")
        XCTAssertEqual(plan.interfaces.map(\.mac), ["52:54:00:10:00:11", "52:54:00:20:00:11"])
        XCTAssertEqual(plan.interfaces[1].addresses.map(\.description), ["198.19.1.11/24", "2001:db8:1::11/64"])
        XCTAssertEqual(plan.interfaces[1].mtu, 9000)
        XCTAssertEqual(plan.routes.map(\.destination.description), ["0.0.0.0/0", "198.19.4.0/24", "::/0"])
        XCTAssertEqual(
            plan.settings,
            .se(
                controller: "http://198.19.3.10:8443", token: "tok123", name: "se1", dataAddress: "198.19.1.11",
                vipInterface: "lo"))
        XCTAssertEqual(
            ApplianceLaunch.arguments(for: plan, paths: AppliancePaths(root: "/nonexistent")),
            [
                "se", "--controller=http://198.19.3.10:8443", "--token-file=/nonexistent/etc/starling/se-token",
                "--name=se1",
                "--data-address=198.19.1.11", "--vip-interface=lo", "--state-dir=/nonexistent/var/lib/starling/se",
            ])
    }

    func testControllerDocumentAsJSONAndDefaults() throws {
        let plan = try ApplianceConfigLoader.parse(
            #"{"role": "controller", "controller": {"admin_password": "s3cret"}}"#)
        XCTAssertEqual(plan.role, .controller)
        XCTAssertEqual(plan.hostname, "starling-controller")
        XCTAssertEqual(plan.settings, .controller(listen: "0.0.0.0:8443", adminPassword: "s3cret"))
        XCTAssertEqual(
            ApplianceLaunch.arguments(for: plan, paths: AppliancePaths(root: "/nonexistent")),
            ["controller", "--listen", "0.0.0.0:8443", "--data-dir", "/nonexistent/var/lib/starling/controller"])
    }

    /// A controller cluster node: its etcd member's command line, and the controller on etcd at its own
    /// address with the local member first.
    func testControllerClusterNode() throws {
        let key = Data(repeating: 7, count: 32).base64EncodedString()
        func document(node: String = "ctl2", key: String = key, peers: String? = nil) -> String {
            """
            role: controller
            hostname: controller2
            interfaces: [{mac: "52:54:00:19:03:22", addresses: [198.19.3.22/24]}]
            controller:
              admin_password: s3cret
              cluster:
                node_name: \(node)
                secrets_key: "\(key)"
                peers: \(peers ?? "[{name: ctl1, address: 198.19.3.10}, {name: ctl2, address: 198.19.3.22}, {name: ctl3, address: 198.19.3.23}]")
            """
        }
        let plan = try ApplianceConfigLoader.parse(document())
        let paths = AppliancePaths(root: "/nonexistent")
        XCTAssertEqual(
            ApplianceLaunch.arguments(for: plan, paths: paths),
            [
                "controller", "--listen", "198.19.3.22:8443", "--data-dir", "/nonexistent/var/lib/starling/controller",
                "--store", "etcd", "--etcd-endpoints",
                "https://127.0.0.1:2379,https://198.19.3.10:2379,https://198.19.3.23:2379", "--node-name", "ctl2",
                "--etcd-cacert", "/nonexistent/etc/starling/etcd-tls/ca.pem", "--etcd-cert",
                "/nonexistent/etc/starling/etcd-tls/member.pem", "--etcd-key",
                "/nonexistent/etc/starling/etcd-tls/member.key",
            ])
        guard case .controller(_, _, _, let cluster?) = plan.settings else { return XCTFail("no cluster: \(plan)") }
        XCTAssertEqual(cluster.secretsKey, Array(repeating: 7, count: 32))
        XCTAssertEqual(
            ApplianceLaunch.etcdArguments(for: cluster, paths: paths),
            [
                "--name", "ctl2", "--data-dir", "/nonexistent/var/lib/starling/etcd", "--listen-client-urls",
                "https://198.19.3.22:2379,https://127.0.0.1:2379", "--advertise-client-urls",
                "https://198.19.3.22:2379", "--listen-peer-urls", "https://198.19.3.22:2380",
                "--initial-advertise-peer-urls", "https://198.19.3.22:2380", "--initial-cluster",
                "ctl1=https://198.19.3.10:2380,ctl2=https://198.19.3.22:2380,ctl3=https://198.19.3.23:2380",
                "--initial-cluster-state", "new", "--initial-cluster-token", "starling", "--max-txn-ops", "4096",
                // TLS for clients and peers, each side presenting a certificate of the members' CA.
                "--cert-file", "/nonexistent/etc/starling/etcd-tls/member.pem", "--key-file",
                "/nonexistent/etc/starling/etcd-tls/member.key", "--trusted-ca-file",
                "/nonexistent/etc/starling/etcd-tls/ca.pem", "--client-cert-auth", "--peer-cert-file",
                "/nonexistent/etc/starling/etcd-tls/member.pem", "--peer-key-file",
                "/nonexistent/etc/starling/etcd-tls/member.key", "--peer-trusted-ca-file",
                "/nonexistent/etc/starling/etcd-tls/ca.pem", "--peer-client-cert-auth",
            ])
        // The TLS files are made by `configure` after it checked the document: the check does not need them.
        XCTAssertNoThrow(try ApplianceLaunch.check(plan, paths: paths))
        assertField(
            try ApplianceConfigLoader.parse(document(node: "ctl9")), "controller.cluster.node_name",
            contains: "not among")
        assertField(
            try ApplianceConfigLoader.parse(document(key: "c2hvcnQ=")), "controller.cluster.secrets_key",
            contains: "32 bytes")
        assertField(
            try ApplianceConfigLoader.parse(
                document(peers: "[{name: ctl2, address: 198.19.3.22}, {name: ctl2, address: 198.19.3.10}]")),
            "controller.cluster.peers[1]", contains: "listed twice")
        assertField(
            try ApplianceConfigLoader.parse(document(peers: "[{name: ctl2, address: 198.19.3.99}]")),
            "controller.cluster.peers", contains: "not one of the interfaces' addresses")
        assertField(
            try ApplianceConfigLoader.parse(document(peers: "[{name: ctl2, address: 198.19.3.22, port: 1}]")),
            "controller.cluster.peers[0]", contains: "port")
        // An SE of the cluster lists every node.
        let urls = "https://198.19.3.10:8443,https://198.19.3.22:8443,https://198.19.3.23:8443"
        let seOfCluster = try ApplianceConfigLoader.parse(
            se.replacingOccurrences(of: "http://198.19.3.10:8443", with: urls))
        XCTAssertNoThrow(try ApplianceLaunch.check(seOfCluster, paths: paths))
    }

    func testCloudConfigWrapperAndKernelCommandLineRole() throws {
        let text = "#cloud-config\nstarling:\n  controller: {listen: \"198.19.3.10:8443\"}\n"
        let plan = try ApplianceConfigLoader.parse(text, cmdlineRole: "controller")
        XCTAssertEqual(plan.settings, .controller(listen: "198.19.3.10:8443", adminPassword: nil))
        XCTAssertEqual(
            ApplianceConfigLoader.role(
                fromKernelCommandLine: "BOOT_IMAGE=/vmlinuz root=/dev/vda2 starling.role=se quiet\n"), "se")
        XCTAssertNil(ApplianceConfigLoader.role(fromKernelCommandLine: "root=/dev/vda2 xstarling.role=se"))
        // The command line may give the role alone ...
        XCTAssertEqual(
            try ApplianceConfigLoader.parse(se.replacingOccurrences(of: "role: se\n", with: ""), cmdlineRole: "se")
                .role, .se)
        // ... but must agree with the document.
        assertField(try ApplianceConfigLoader.parse(se, cmdlineRole: "controller"), "role", contains: "disagrees")
        assertField(try ApplianceConfigLoader.parse(se, cmdlineRole: "router"), "starling.role", contains: "not a role")
    }

    func testCloudConfigValuesAreNotConverted() throws {
        // Unquoted, a MAC is a base-60 number and 0123 an octal one to a YAML 1.1 loader: the fields' own
        // types decide here.
        let text = """
            #cloud-config
            starling:
              role: controller
              interfaces:
                - {mac: 52:54:00:12:34:56, addresses: [198.19.3.10/24]}
              controller: {admin_password: 0123}
            """
        let plan = try ApplianceConfigLoader.parse(text)
        XCTAssertEqual(plan.interfaces.first?.mac, "52:54:00:12:34:56")
        XCTAssertEqual(plan.settings, .controller(listen: "0.0.0.0:8443", adminPassword: "0123"))
    }

    func testAliasesAndOversizedDocumentsAreRefused() {
        var bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...8 {
            let previous = level == 1 ? "a" : "l\(level - 1)"
            bomb += "l\(level): &l\(level) [*\(previous), *\(previous), *\(previous), *\(previous), *\(previous)]\n"
        }
        assertField(try ApplianceConfigLoader.parse(bomb + "role: se\n"), "", contains: "aliases")
        let many = "role: se\nroutes:\n" + String(repeating: "  - {to: default, via: 198.19.1.1}\n", count: 4_000)
        assertField(try ApplianceConfigLoader.parse(many), "", contains: "more than 10000 values")
    }

    func testLaunchIsCheckedWithTheDaemonsOwnParser() throws {
        let paths = AppliancePaths(root: "/nonexistent")
        let dashes = try ApplianceConfigLoader.parse(
            se.replacingOccurrences(of: "token: tok123", with: "token: \"-tok\", name: \"-se1\""))
        XCTAssertNoThrow(try ApplianceLaunch.check(dashes, paths: paths))
        // The default: the controller over HTTPS (the token names its CA).
        let https = try ApplianceConfigLoader.parse(
            se.replacingOccurrences(of: "http://198.19.3.10:8443", with: "https://198.19.3.10:8443"))
        XCTAssertNoThrow(try ApplianceLaunch.check(https, paths: paths))
        let noPort = try ApplianceConfigLoader.parse(
            se.replacingOccurrences(of: "http://198.19.3.10:8443", with: "http://198.19.3.10"))
        assertField(
            try {
                try ApplianceLaunch.check(noPort, paths: paths); return noPort
            }(), "se", contains: "HOST:PORT")
        let managed = ["--controller=http://198.19.3.10:8443", "--name=se1", "--data-address=198.19.1.11"]
        XCTAssertThrowsError(try SECommand.parse(managed + ["--token=t", "--token-file=/etc/starling/se-token"]))
        XCTAssertThrowsError(try SECommand.parse(managed))
        XCTAssertNoThrow(try SECommand.parse(managed + ["--token-file=/etc/starling/se-token"]))
        // Hitless restart: one handoff socket per SE name, or the one given, or none.
        let withToken = managed + ["--token-file=/etc/starling/se-token"]
        XCTAssertEqual(try SECommand.parse(withToken).handoffPath?.hasPrefix("/run/starling/se-"), true)
        XCTAssertEqual(
            SECommand.defaultHandoffSocket(name: "edge/se 1", dataAddress: nil), "/run/starling/se-edge_se_1.handoff")
        XCTAssertEqual(
            SECommand.defaultHandoffSocket(name: nil, dataAddress: "2001:db8::1"),
            "/run/starling/se-2001_db8__1.handoff")
        XCTAssertNil(try SECommand.parse(withToken + ["--handoff-socket", "off"]).handoffPath)
        XCTAssertThrowsError(try SECommand.parse(withToken + ["--handoff-socket", "relative.sock"]))
        XCTAssertThrowsError(try SECommand.parse(withToken + ["--graceful-restart-time", "4096"]))
        XCTAssertNoThrow(try SECommand.parse(withToken + ["--graceful-restart-time", "0"]))
        // Flow steering: the members include this SE's data address; the flags are checked before anything runs.
        let members = ["--scaleout-members", "198.19.1.11,198.19.1.12,198.19.1.13"]
        XCTAssertNoThrow(try SECommand.parse(withToken + members + ["--native-return", "via-primary"]))
        for bad in [
            ["--scaleout-members", "198.19.1.12,198.19.1.13"], ["--scaleout-members", "198.19.1.11,not-an-ip"],
            ["--scaleout-members", (11...27).map { "198.19.1.\($0)" }.joined(separator: ",")],
            members + ["--native-return", "sideways"], members + ["--heartbeat-interval", "5"],
            members + ["--heartbeat-port", "0"], members + ["--flow-table-size", "10"],
            members + ["--data-interface", "lo"],
        ] {
            XCTAssertThrowsError(try SECommand.parse(withToken + bad), "\(bad)")
        }
        XCTAssertThrowsError(
            try SECommand.parse(["--config=/etc/starling/se.json"] + members), "--scaleout-members needs --data-address"
        )
        let controller = try ApplianceConfigLoader.parse("role: controller\ncontroller: {listen: \"[::]:8443\"}")
        XCTAssertNoThrow(try ApplianceLaunch.check(controller, paths: paths))
    }

    func testMistakesNameTheirField() {
        let cases: [(String, String, String)] = [
            ("", "", "empty"),
            ("- a\n- b", "", "mapping"),
            ("role: se\nrole: controller\n", "", "YAML"),
            (se + "\nextra: 1", "extra", "unknown setting"),
            (se.replacingOccurrences(of: "mtu: 9000", with: "mtu: 9000, speed: 10"), "interfaces[1].speed", "unknown"),
            (se.replacingOccurrences(of: "role: se", with: "role: router"), "role", "not a role"),
            (se.replacingOccurrences(of: "role: se\n", with: ""), "role", "required"),
            (
                se.replacingOccurrences(of: "52:54:00:10:00:11", with: "52:54:00:10:00"), "interfaces[0].mac",
                "not a MAC"
            ),
            (se.replacingOccurrences(of: "52:54:00:10:00:11", with: "52:54:00:20:00:11"), "interfaces[1].mac", "twice"),
            (se.replacingOccurrences(of: "name: mgmt0", with: "name: data0"), "interfaces[1].name", "twice"),
            (
                se.replacingOccurrences(of: "name: mgmt0", with: "name: averyveryverylongname"), "interfaces[0].name",
                "interface name"
            ),
            (
                se.replacingOccurrences(of: "198.19.3.11/24", with: "198.19.3.11"), "interfaces[0].addresses[0]",
                "prefix length"
            ),
            (
                se.replacingOccurrences(of: "198.19.3.11/24", with: "198.19.1.11/24"), "interfaces[1].addresses[0]",
                "twice"
            ),
            (se.replacingOccurrences(of: "mtu: 9000", with: "mtu: 20"), "interfaces[1].mtu", "between"),
            (se.replacingOccurrences(of: "mtu: 9000", with: "mtu: many"), "interfaces[1].mtu", "number"),
            (
                se.replacingOccurrences(of: "to: default, via: 198.19.1.1", with: "to: default, via: 10.9.9.9"),
                "routes[0].via", "none of the interfaces"
            ),
            (
                se.replacingOccurrences(of: "to: \"198.19.4.0/24\"", with: "to: \"198.19.4.1/24\""), "routes[1].to",
                "not a prefix"
            ),
            (se.replacingOccurrences(of: "to: \"198.19.4.0/24\"", with: "to: default"), "routes[1].to", "twice"),
            (se.replacingOccurrences(of: "to: \"::/0\"", with: "to: \"10.0.0.0/8\""), "routes[2].via", "family"),
            (se.replacingOccurrences(of: "http://198.19.3.10:8443", with: "198.19.3.10"), "se.controller", "URL"),
            (se.replacingOccurrences(of: "token: tok123", with: "token: \"\""), "se.token", "join token"),
            (se.replacingOccurrences(of: "token: tok123, ", with: ""), "se.token", "required"),
            (
                se.replacingOccurrences(of: "data_address: 198.19.1.11", with: "data_address: 198.19.1.99"),
                "se.data_address", "not one of"
            ),
            (
                se.replacingOccurrences(of: "data_address: 198.19.1.11", with: "data_address: se1"), "se.data_address",
                "not an IP"
            ),
            ("role: se\n", "se", "required for role se"),
            (se + "\ncontroller: {listen: \"0.0.0.0:8443\"}", "controller", "for role controller"),
            ("role: controller\ncontroller: {listen: \"8443\"}", "controller.listen", "ADDR:PORT"),
            ("role: controller\ncontroller: {admin_password: \"\"}", "controller.admin_password", "empty"),
            ("role: controller\nhostname: \"-bad\"", "hostname", "host name"),
            ("role: controller\nhostname: " + String(repeating: "a", count: 65), "hostname", "64 bytes"),
            ("#cloud-config\nstarling: {role: se}\nusers: []", "users", "beside"),
        ]
        for (text, field, words) in cases {
            assertField(try ApplianceConfigLoader.parse(text), field, contains: words)
        }
    }

    private func assertField(
        _ expression: @autoclosure () throws -> AppliancePlan, _ field: String, contains words: String,
        line: UInt = #line
    ) {
        do {
            let plan = try expression()
            XCTFail("accepted, expected an error at '\(field)': \(plan)", line: line)
        } catch let error as ConfigError {
            XCTAssertTrue(
                error.field.hasPrefix(field), "field '\(error.field)' is not '\(field)': \(error)", line: line)
            XCTAssertTrue(
                error.description.lowercased().contains(words.lowercased()), "'\(error)' lacks '\(words)'", line: line)
        } catch {
            XCTFail("unexpected error \(error)", line: line)
        }
    }

    func testSeedLabelsFromFirstSectors() {
        var fat16 = [UInt8](repeating: 0, count: 512)
        fat16[510] = 0x55
        fat16[511] = 0xAA
        fat16.replaceSubrange(43..<54, with: Array("cidata     ".utf8))
        fat16.replaceSubrange(54..<62, with: Array("FAT16   ".utf8))
        XCTAssertEqual(ApplianceSeedLocator.probeLabel(fat16).map { "\($0.0) \($0.1)" }, "vfat cidata")

        var fat32 = [UInt8](repeating: 0, count: 512)
        fat32[510] = 0x55
        fat32[511] = 0xAA
        fat32.replaceSubrange(71..<82, with: Array("CONFIG-2   ".utf8))
        fat32.replaceSubrange(82..<90, with: Array("FAT32   ".utf8))
        XCTAssertEqual(ApplianceSeedLocator.probeLabel(fat32).map { "\($0.0) \($0.1)" }, "vfat CONFIG-2")

        var iso = [UInt8](repeating: 0, count: 34_816)
        iso.replaceSubrange(32_769..<32_774, with: Array("CD001".utf8))
        iso.replaceSubrange(32_808..<32_814, with: Array("cidata".utf8))
        XCTAssertEqual(ApplianceSeedLocator.probeLabel(iso).map { "\($0.0) \($0.1)" }, "iso9660 cidata")

        var unlabelled = fat16
        unlabelled.replaceSubrange(43..<54, with: Array("NO NAME    ".utf8))
        XCTAssertNil(ApplianceSeedLocator.probeLabel(unlabelled))
        XCTAssertNil(ApplianceSeedLocator.probeLabel([UInt8](repeating: 0, count: 4096)))
    }

    func testBannerKeepsTextLiteralForGetty() {
        var facts = ApplianceBanner.Facts(role: .se, hostname: "se1")
        facts.interfaces = [("data0", "52:54:00:20:00:11", ["198.19.1.11/24"], true)]
        facts.state = [#"odd \n text"#]
        let text = ApplianceBanner.render(facts)
        XCTAssertTrue(text.contains("Starling appliance · Service Engine · se1"))
        XCTAssertTrue(text.contains("data0    52:54:00:20:00:11  198.19.1.11/24"))
        XCTAssertTrue(text.contains(#"odd \\n text"#), text)
        let failed = ApplianceBanner.render(
            .init(role: nil, hostname: "starling", failure: "se.token: must be a join token"))
        XCTAssertTrue(failed.contains("NOT CONFIGURED"))
        XCTAssertTrue(failed.contains("configuration failed: se.token: must be a join token"))
    }
}
