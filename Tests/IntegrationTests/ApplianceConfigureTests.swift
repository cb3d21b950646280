import Foundation
import Lab
import XCTest

/// `starling appliance configure` against a real kernel: a namespace stands in for the VM (its NIC is a veth
/// with a known MAC) and a scratch folder for the root file system, so the fw_cfg file, the kernel command
/// line and the persisted copy sit where the appliance looks for them.
final class ApplianceConfigureTests: XCTestCase {
    private func scratchRoot(_ lab: Lab) throws -> String {
        let root = try lab.makeDirectory("root")
        try FileManager.default.createDirectory(atPath: root + "/proc", withIntermediateDirectories: true)
        try "BOOT_IMAGE=/vmlinuz root=/dev/vda2 console=ttyS0 starling.role=se\n"
            .write(toFile: root + "/proc/cmdline", atomically: true, encoding: .utf8)
        return root
    }

    private func deliverByFirmwareConfig(_ text: String, root: String) throws {
        let folder = root + "/sys/firmware/qemu_fw_cfg/by_name/opt/org.starling/config"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try text.write(toFile: folder + "/raw", atomically: true, encoding: .utf8)
    }

    /// `index: name: <FLAGS> mtu N` of every link (the qdisc a link gets once it was up is left out).
    private func linkSummary(_ vm: Namespace) throws -> [String] {
        try vm.ip(["-o", "link", "show"]).split(separator: "\n").map { line in
            let words = line.split(separator: " ")
            return words.prefix(5).joined(separator: " ")
        }
    }

    private func addNIC(_ vm: Namespace, _ name: String, mac: String) throws {
        _ = try vm.ip(["link", "add", name, "address", mac, "type", "veth", "peer", "name", "p-\(name)"])
    }

    func testConfigureAppliesPersistsAndIsIdempotent() throws {
        try withLab("appliance-configure", requires: []) { lab in
            let binary = try starlingBinary()
            let vm = try lab.namespace("vm")
            try addNIC(vm, "eth7", mac: "52:54:00:aa:00:01")
            try addNIC(vm, "eth8", mac: "52:54:00:aa:00:02")
            let root = try scratchRoot(lab)
            let document = """
                hostname: se1
                interfaces:
                  - {mac: "52:54:00:AA:00:01", name: mgmt0, addresses: ["198.51.100.11/24"]}
                  - {mac: "52:54:00:aa:00:02", name: data0, addresses: ["203.0.113.11/24", "2001:db8:5::11/64"], mtu: 1400}
                routes:
                  - {to: default, via: 203.0.113.1}
                  - {to: "192.0.2.0/24", via: 198.51.100.1}
                se: {controller: "http://198.51.100.5:8443", token: tok-1, data_address: 203.0.113.11}
                """
            try deliverByFirmwareConfig(document, root: root)

            let first = try vm.run([binary, "appliance", "configure", "--root", root, "--wait", "3"])
            XCTAssertEqual(first.status, 0, first.description)
            XCTAssertTrue(first.stderr.contains("configuration from qemu fw_cfg"), first.stderr)
            XCTAssertTrue(first.stderr.contains("configured as Service Engine se1"), first.stderr)

            let links = try vm.ip(["-o", "link", "show"])
            XCTAssertTrue(links.contains("mgmt0@"), links)
            XCTAssertTrue(links.contains("data0@") && links.contains("mtu 1400"), links)
            XCTAssertFalse(links.contains(": eth7@") || links.contains(": eth8@"), links)
            let addresses = try vm.ip(["-o", "addr", "show"])
            for expected in ["198.51.100.11/24", "203.0.113.11/24", "2001:db8:5::11/64"] {
                XCTAssertTrue(addresses.contains(expected), "\(expected) missing: \(addresses)")
            }
            let routes = try vm.ip(["route", "show"])
            XCTAssertTrue(routes.contains("default via 203.0.113.1 dev data0 proto static"), routes)
            XCTAssertTrue(routes.contains("192.0.2.0/24 via 198.51.100.1 dev mgmt0 proto static"), routes)

            // The document is kept (0600) and marks the role for systemd.
            let persisted = root + "/etc/starling/appliance.yaml"
            XCTAssertEqual(try String(contentsOfFile: persisted, encoding: .utf8), document)
            let mode = try FileManager.default.attributesOfItem(atPath: persisted)[.posixPermissions] as? Int
            XCTAssertEqual(mode, 0o600)
            let tokenFile = root + "/etc/starling/se-token"
            XCTAssertEqual(try String(contentsOfFile: tokenFile, encoding: .utf8), "tok-1\n")
            XCTAssertEqual(
                try FileManager.default.attributesOfItem(atPath: tokenFile)[.posixPermissions] as? Int, 0o600)
            XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/run/starling/role-se"))
            XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/run/starling/role-controller"))
            let banner = try String(contentsOfFile: root + "/run/starling/issue", encoding: .utf8)
            XCTAssertTrue(banner.contains("Service Engine · se1"), banner)
            XCTAssertTrue(banner.contains("data0    52:54:00:aa:00:02  203.0.113.11/24"), banner)

            // The role unit's command line.
            let exec = try vm.run([binary, "appliance", "exec", "se", "--root", root, "--dry-run"])
            XCTAssertEqual(
                exec.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                "starling se --controller=http://198.51.100.5:8443 --token-file=\(root)/etc/starling/se-token --name=se1 "
                    + "--data-address=203.0.113.11 --vip-interface=lo --state-dir=\(root)/var/lib/starling/se",
                exec.description)
            let wrongRole = try vm.run([binary, "appliance", "exec", "controller", "--root", root])
            XCTAssertEqual(wrongRole.status, 1)
            XCTAssertTrue(wrongRole.stderr.contains("is a se, not a controller"), wrongRole.stderr)

            // Next boot: the persisted copy wins over a changed seed; applying again changes nothing.
            try deliverByFirmwareConfig("role: controller\n", root: root)
            let second = try vm.run([binary, "appliance", "configure", "--root", root, "--wait", "3"])
            XCTAssertEqual(second.status, 0, second.description)
            XCTAssertTrue(second.stderr.contains("configuration from persisted copy"), second.stderr)
            XCTAssertTrue(second.stderr.contains("already there"), second.stderr)
            XCTAssertEqual(try vm.ip(["-o", "addr", "show"]), addresses)
        }
    }

    func testAFailedStepUndoesEverythingAndStartsNoRole() throws {
        try withLab("appliance-rollback", requires: []) { lab in
            let binary = try starlingBinary()
            let vm = try lab.namespace("vm")
            try addNIC(vm, "eth7", mac: "52:54:00:aa:00:01")
            try addNIC(vm, "eth8", mac: "52:54:00:aa:00:02")
            let root = try scratchRoot(lab)
            // The kernel refuses the second interface's IPv6 address (IPv6 is off on that link): found only
            // when applying, after the first interface was renamed and addressed.
            _ = try vm.exec(["sysctl", "-w", "net.ipv6.conf.eth8.disable_ipv6=1"])
            try deliverByFirmwareConfig(
                """
                interfaces:
                  - {mac: "52:54:00:aa:00:01", name: data0, addresses: ["203.0.113.11/24"]}
                  - {mac: "52:54:00:aa:00:02", addresses: ["2001:db8:7::11/64"]}
                routes: [{to: default, via: 203.0.113.1}]
                se: {controller: "http://198.51.100.5:8443", token: tok-1, data_address: 203.0.113.11}
                """, root: root)
            let before = try linkSummary(vm)
            let result = try vm.run([binary, "appliance", "configure", "--root", root, "--wait", "2"])
            XCTAssertEqual(result.status, 1)
            XCTAssertTrue(result.stderr.contains("FAILED: add 2001:db8:7::11/64 to eth8"), result.stderr)
            XCTAssertTrue(result.stderr.contains("undo: remove 203.0.113.11/24 from data0"), result.stderr)
            XCTAssertTrue(result.stderr.contains("undo: rename data0 back to eth7"), result.stderr)
            XCTAssertTrue(result.stderr.contains("nothing is started"), result.stderr)
            XCTAssertEqual(try linkSummary(vm), before)
            XCTAssertFalse(try vm.ip(["-o", "addr", "show"]).contains("203.0.113.11"))
            XCTAssertFalse(try vm.ip(["route", "show"]).contains("default"))
            XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/run/starling/role-se"))
            XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/etc/starling/appliance.yaml"))
            XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/etc/hostname"))

            // A wanted name held by an interface the document does not rename: refused before any change.
            try deliverByFirmwareConfig(
                """
                interfaces:
                  - {mac: "52:54:00:aa:00:01", name: data0, addresses: ["203.0.113.11/24"]}
                  - {mac: "52:54:00:aa:00:02", name: p-eth7}
                se: {controller: "http://198.51.100.5:8443", token: tok-1, data_address: 203.0.113.11}
                """, root: root)
            let taken = try vm.run([binary, "appliance", "configure", "--root", root, "--wait", "2"])
            XCTAssertEqual(taken.status, 1)
            XCTAssertTrue(
                taken.stderr.contains("FAILED: interfaces[1].name: p-eth7 is already the name"), taken.stderr)
            XCTAssertFalse(taken.stderr.contains("undo:"), taken.stderr)
            XCTAssertEqual(try linkSummary(vm), before)
            let banner = try String(contentsOfFile: root + "/run/starling/issue", encoding: .utf8)
            XCTAssertTrue(banner.contains("NOT CONFIGURED"), banner)

            // An invalid document: refused before anything is touched.
            try deliverByFirmwareConfig("role: se\nse: {controller: \"http://x:1\", token: t}\n", root: root)
            let invalid = try vm.run([
                binary, "appliance", "configure", "--root", root, "--wait", "1", "--seed-wait", "1",
            ])
            XCTAssertEqual(invalid.status, 1)
            XCTAssertTrue(invalid.stderr.contains("FAILED: se.data_address: is required"), invalid.stderr)
            XCTAssertEqual(try linkSummary(vm), before)

            // No document anywhere.
            try FileManager.default.removeItem(atPath: root + "/sys")
            let missing = try vm.run([
                binary, "appliance", "configure", "--root", root, "--wait", "1", "--seed-wait", "1",
            ])
            XCTAssertEqual(missing.status, 1)
            XCTAssertTrue(missing.stderr.contains("FAILED: no configuration after 1 s"), missing.stderr)
        }
    }

    func testNamesMayBeSwappedBetweenNICs() throws {
        try withLab("appliance-swap", requires: []) { lab in
            let binary = try starlingBinary()
            let vm = try lab.namespace("vm")
            try addNIC(vm, "eth7", mac: "52:54:00:aa:00:01")
            try addNIC(vm, "eth8", mac: "52:54:00:aa:00:02")
            let root = try scratchRoot(lab)
            try deliverByFirmwareConfig(
                """
                interfaces:
                  - {mac: "52:54:00:aa:00:01", name: eth8, addresses: ["203.0.113.11/24"]}
                  - {mac: "52:54:00:aa:00:02", name: eth7}
                se: {controller: "http://198.51.100.5:8443", token: tok-1, data_address: 203.0.113.11}
                """, root: root)
            let result = try vm.run([binary, "appliance", "configure", "--root", root, "--wait", "2"])
            XCTAssertEqual(result.status, 0, result.description)
            let links = try vm.ip(["-o", "link", "show"])
            XCTAssertTrue(links.contains(": eth8@") && links.contains("52:54:00:aa:00:01"), links)
            let eth8 = try vm.ip(["-o", "link", "show", "eth8"])
            XCTAssertTrue(eth8.contains("52:54:00:aa:00:01"), eth8)
            let eth7 = try vm.ip(["-o", "link", "show", "eth7"])
            XCTAssertTrue(eth7.contains("52:54:00:aa:00:02"), eth7)
            XCTAssertTrue(try vm.ip(["-o", "addr", "show", "eth8"]).contains("203.0.113.11/24"))
        }
    }

    /// Two controller cluster nodes (two namespaces on one link): `configure` gives each node's etcd member a
    /// certificate from the CA both derive from the secrets key, the members (run by `appliance exec etcd`)
    /// form their cluster over TLS, a client needs a certificate of that CA, and the controllers (run by
    /// `appliance exec controller`) share one store through them.
    func testClusterNodesTalkTLSToEtcdAndBetweenMembers() throws {
        try withLab("appliance-etcd-tls", requires: ["etcd", "curl", "openssl"]) { lab in
            let binary = try starlingBinary()
            let key = Data((0..<32).map { UInt8($0) }).base64EncodedString()
            let (vm1, vm2) = (try lab.namespace("ctl1"), try lab.namespace("ctl2"))
            try vm1.connect("eth7", to: vm2, as: "eth7")
            var roots: [String] = []
            for (index, vm) in [vm1, vm2].enumerated() {
                let node = index + 1
                _ = try vm.ip(["link", "set", "eth7", "address", "52:54:00:bb:00:0\(node)"])
                let root = try lab.makeDirectory("root\(node)")
                try FileManager.default.createDirectory(atPath: root + "/proc", withIntermediateDirectories: true)
                try "console=ttyS0 starling.role=controller\n".write(
                    toFile: root + "/proc/cmdline", atomically: true, encoding: .utf8)
                try deliverByFirmwareConfig(
                    """
                    role: controller
                    hostname: ctl\(node)
                    interfaces: [{mac: "52:54:00:bb:00:0\(node)", addresses: [198.51.100.2\(node)/24]}]
                    controller:
                      admin_password: s3cret
                      cluster:
                        node_name: ctl\(node)
                        secrets_key: "\(key)"
                        peers: [{name: ctl1, address: 198.51.100.21}, {name: ctl2, address: 198.51.100.22}]
                    """, root: root)
                let configured = try vm.run([binary, "appliance", "configure", "--root", root, "--wait", "3"])
                XCTAssertEqual(configured.status, 0, configured.description)
                let tls = root + "/etc/starling/etcd-tls"
                XCTAssertEqual(
                    try FileManager.default.attributesOfItem(atPath: tls + "/member.key")[.posixPermissions] as? Int,
                    0o600)
                roots.append(root)
            }
            func tls(_ node: Int) -> [String] {
                let folder = roots[node - 1] + "/etc/starling/etcd-tls"
                return [
                    "--cacert", folder + "/ca.pem", "--cert", folder + "/member.pem", "--key", folder + "/member.key",
                ]
            }
            // Each member trusts the other's certificate: one CA, derived alike on both nodes.
            let crossed = try Command.run([
                "openssl", "verify", "-CAfile", roots[0] + "/etc/starling/etcd-tls/ca.pem",
                roots[1] + "/etc/starling/etcd-tls/member.pem",
            ])
            XCTAssertEqual(crossed.status, 0, crossed.description)

            _ = try lab.start("etcd1", [binary, "appliance", "exec", "etcd", "--root", roots[0]], in: vm1)
            _ = try lab.start("etcd2", [binary, "appliance", "exec", "etcd", "--root", roots[1]], in: vm2)
            for (node, vm, address) in [(1, vm1, "127.0.0.1"), (2, vm2, "198.51.100.22")] {
                try Wait.until("etcd member ctl\(node) is healthy over TLS", timeout: 30, interval: 0.3) {
                    try vm.run(["curl", "-s", "--max-time", "2"] + tls(node) + ["https://\(address):2379/health"])
                        .stdout.contains("\"health\":\"true\"")
                }
            }
            // Written through ctl1's member with ctl1's certificate, read from ctl2's member: the members
            // replicate over their TLS peer link.
            let put = try vm1.run(
                ["curl", "-s", "--max-time", "5"] + tls(1) + [
                    "-d", #"{"key":"dGxzLWNoZWNr","value":"b25lIENB"}"#, "https://127.0.0.1:2379/v3/kv/put",
                ])
            XCTAssertTrue(put.stdout.contains("revision"), put.description)
            let range = try vm1.run(
                ["curl", "-s", "--max-time", "5"] + tls(1) + [
                    "-d", #"{"key":"dGxzLWNoZWNr"}"#, "https://198.51.100.22:2379/v3/kv/range",
                ])
            XCTAssertTrue(range.stdout.contains("b25lIENB"), range.description)
            // No way in without TLS or without a certificate of the CA (each probe reaches the member: curl's
            // exit 7 or 28, unreachable, would prove nothing).
            for port in [2379, 2380] {
                let plain = try vm1.run([
                    "curl", "-s", "--max-time", "3", "-o", "/dev/null", "-w", "%{http_code}",
                    "http://198.51.100.22:\(port)/health",
                ])
                XCTAssertNotEqual(plain.stdout, "200", "plain HTTP to \(port): \(plain.description)")
                XCTAssertFalse([7, 28].contains(plain.status), "plain HTTP to \(port) reached: \(plain.description)")
                let anonymous = try vm1.run([
                    "curl", "-s", "--max-time", "3", "--cacert", roots[0] + "/etc/starling/etcd-tls/ca.pem",
                    "https://198.51.100.22:\(port)/health",
                ])
                XCTAssertTrue(
                    [35, 55, 56].contains(anonymous.status),
                    "no client certificate to \(port): the TLS handshake fails: \(anonymous.description)")
            }

            // The controllers' command lines name the member's certificate: both find the one cluster CA the
            // first of them stored in etcd.
            _ = try lab.start("controller1", [binary, "appliance", "exec", "controller", "--root", roots[0]], in: vm1)
            _ = try lab.start("controller2", [binary, "appliance", "exec", "controller", "--root", roots[1]], in: vm2)
            var authorities: [String] = []
            for (vm, address) in [(vm1, "198.51.100.21"), (vm2, "198.51.100.22")] {
                authorities.append(
                    try Wait.value("the controller at \(address) answers", timeout: 60, interval: 0.5) {
                        let answer = try vm.run([
                            "curl", "-s", "-k", "--max-time", "2", "https://\(address):8443/api/cluster/ca-certificate",
                        ])
                        return answer.stdout.contains("BEGIN CERTIFICATE") ? answer.stdout : nil
                    })
            }
            XCTAssertEqual(authorities[0], authorities[1], "one cluster CA through the TLS etcd cluster")
        }
    }

    /// A NoCloud seed volume made by mkfs.vfat is recognised by its label (mounting it needs a block device,
    /// which image/test covers in a VM).
    func testSeedVolumeIsFoundByLabel() throws {
        try withLab("appliance-seed", requires: ["mkfs.vfat"]) { lab in
            let root = try lab.makeDirectory("root")
            for folder in ["sys/class/block/vdb", "sys/class/block/vda", "dev"] {
                try FileManager.default.createDirectory(atPath: "\(root)/\(folder)", withIntermediateDirectories: true)
            }
            let seed = root + "/dev/vdb"
            XCTAssertTrue(FileManager.default.createFile(atPath: seed, contents: nil))
            try FileHandle(forWritingAtPath: seed)!.truncate(atOffset: 4 << 20)
            _ = try Command.check(["mkfs.vfat", "-n", "cidata", seed])
            XCTAssertTrue(
                FileManager.default.createFile(atPath: root + "/dev/vda", contents: Data(repeating: 0, count: 65_536)))
            let result = try Command.run([
                try starlingBinary(), "appliance", "configure", "--root", root, "--wait", "1",
            ])
            // Found, then the mount of a plain file fails: the message names the device and the label was read.
            XCTAssertEqual(result.status, 1)
            XCTAssertTrue(result.stderr.contains("cannot mount seed volume \(seed) (vfat)"), result.stderr)
        }
    }
}
