import ArgumentParser
import XCTest

@testable import starling

/// `starling controller` store flags: wrong combinations get one line naming the flag.
final class ControllerFlagsTests: XCTestCase {
    let base = ["--listen", "127.0.0.1:8443", "--data-dir", "/tmp/starling-flags"]

    private func refusal(_ extra: [String]) -> String {
        do {
            _ = try ControllerCommand.parse(base + extra)
            return ""
        } catch {
            return ControllerCommand.message(for: error)
        }
    }

    func testTLSFlags() throws {
        XCTAssertTrue(refusal(["--tls-cert", "/etc/hostname"]).contains("give both or neither"))
        XCTAssertTrue(
            refusal(["--tls-cert", "/nonexistent/c.pem", "--tls-key", "/etc/hostname"]).contains(
                "--tls-cert: cannot read /nonexistent/c.pem"))
        let both = refusal(["--insecure-http", "--tls-cert", "/etc/hostname", "--tls-key", "/etc/hostname"])
        XCTAssertTrue(both.contains("exclude each other"), both)
        XCTAssertFalse(try ControllerCommand.parse(base).insecureHttp, "HTTPS unless asked otherwise")
        XCTAssertTrue(try ControllerCommand.parse(base + ["--insecure-http"]).insecureHttp)
    }

    func testStoreFlags() throws {
        XCTAssertTrue(refusal(["--store", "etcd"]).contains("--etcd-endpoints"), refusal(["--store", "etcd"]))
        XCTAssertTrue(refusal(["--store", "zookeeper"]).contains("--store"))
        XCTAssertTrue(refusal(["--etcd-endpoints", "http://127.0.0.1:2379"]).contains("only with --store etcd"))
        let bare = refusal(["--store", "etcd", "--etcd-endpoints", "127.0.0.1:2379"])
        XCTAssertTrue(bare.contains("http://HOST:PORT"), bare)
        let prefix = refusal(["--store", "etcd", "--etcd-endpoints", "http://a:2379", "--etcd-prefix", "starling"])
        XCTAssertTrue(prefix.contains("--etcd-prefix"), prefix)
        XCTAssertTrue(refusal(["--node-name", ""]).contains("--node-name"))
        let etcd = ["--store", "etcd", "--etcd-endpoints", "https://127.0.0.1:2379"]
        XCTAssertTrue(refusal(etcd + ["--etcd-cert", "/etc/hostname"]).contains("give both or neither"))
        XCTAssertTrue(
            refusal(etcd + ["--etcd-cacert", "/nonexistent/ca.crt"]).contains("cannot read /nonexistent/ca.crt"))
        let plain = ["--store", "etcd", "--etcd-endpoints", "http://127.0.0.1:2379", "--etcd-cacert", "/etc/hostname"]
        XCTAssertTrue(refusal(plain).contains("must all be https://"), refusal(plain))
        XCTAssertTrue(refusal(["--etcd-cacert", "/etc/hostname"]).contains("only with --store etcd"))

        let ok = try ControllerCommand.parse(
            base + [
                "--store", "etcd", "--etcd-endpoints", "http://10.0.0.1:2379,https://10.0.0.2:2379", "--node-name",
                "c1",
            ])
        XCTAssertEqual(ok.store, "etcd")
        XCTAssertEqual(ok.nodeName, "c1")
        XCTAssertEqual(ok.etcdPrefix, "/starling/")
    }
}
