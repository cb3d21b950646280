import StarlingModel
import XCTest
import Yams

@testable import starling

/// The one reader of `starling bgp --config`, `starling se --config`, `starling appliance` and `ctl -f`.
final class ConfigDocumentTests: XCTestCase {
    private func error<T>(_ body: () throws -> T) -> ConfigError? {
        do {
            _ = try body()
            return nil
        } catch let error as ConfigError {
            return error
        } catch {
            XCTFail("not a ConfigError: \(error)")
            return nil
        }
    }

    func testCoreSchemaScalars() throws {
        let node = try XCTUnwrap(
            try ConfigDocument.document(
                """
                a: yes
                b: on
                c: 010
                d: 0x1F
                e: 1:30
                f: 2024-01-01
                g: true
                h: ~
                i: 1.5
                j: "12"
                """))
        let json = try ConfigDocument.json(from: node)
        XCTAssertEqual(
            json,
            .object([
                "a": .string("yes"), "b": .string("on"), "c": .int(10), "d": .int(31), "e": .string("1:30"),
                "f": .string("2024-01-01"), "g": .bool(true), "h": .null, "i": .double(1.5), "j": .string("12"),
            ]))
    }

    func testTypedDecodeKeepsStringTextAndNamesTheField() throws {
        struct Settings: Decodable {
            struct Inner: Decodable { var port: UInt16 }
            var password: String
            var inner: [Inner]
        }
        let node = try XCTUnwrap(try ConfigDocument.document("password: 0123\ninner: [{port: 80}]\n"))
        XCTAssertEqual(try ConfigDocument.decode(Settings.self, from: node).password, "0123")

        let bad = try XCTUnwrap(try ConfigDocument.document("password: x\ninner: [{port: 80}, {port: 70000}]\n"))
        XCTAssertEqual(
            error { try ConfigDocument.decode(Settings.self, from: bad) },
            ConfigError(field: "inner[1].port", message: "expected a number in range"))
        let missing = try XCTUnwrap(try ConfigDocument.document("inner: []\n"))
        XCTAssertEqual(
            error { try ConfigDocument.decode(Settings.self, from: missing) },
            ConfigError(field: "password", message: "is required"))
    }

    func testUnknownKeysAreNamedWithTheirPath() throws {
        let node = try XCTUnwrap(try ConfigDocument.document("peers: [{address: 1.2.3.4, pasive: true}]"))
        let peer = node.mapping?["peers"]?.sequence?.first
        XCTAssertEqual(
            error { try ConfigDocument.checkKeys(peer, allowed: ["address", "passive"], path: "peers[0]") },
            ConfigError(field: "peers[0].pasive", message: "unknown setting (known here: address, passive)"))
    }

    func testLimitsAndBrokenInput() {
        var bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 {
            let previous = level == 1 ? "a" : "l\(level - 1)"
            bomb += "l\(level): &l\(level) [*\(previous), *\(previous), *\(previous), *\(previous), *\(previous)]\n"
        }
        XCTAssertEqual(
            error { try ConfigDocument.documents(bomb) }?.message,
            "the document has more than 2000000 values (counting what its aliases repeat)")
        let small = ConfigDocument.Limits(bytes: 64, nodes: 100)
        XCTAssertEqual(
            error { try ConfigDocument.documents(String(repeating: "x", count: 65), limits: small) }?.message,
            "the document is larger than 64 bytes")
        XCTAssertTrue(
            error { try ConfigDocument.documents("a: [1\n") }?.message.hasPrefix("not valid YAML or JSON") == true)
        XCTAssertEqual(
            error { try ConfigDocument.document("a: 1\n---\nb: 2\n") }?.message,
            "expected one document, found 2 (separated by ---)")
        XCTAssertEqual(try ConfigDocument.documents("a: 1\n---\n").count, 1, "a trailing --- adds no document")
        XCTAssertNil(try ConfigDocument.document(""))
    }

    /// The three settings files go through the same reader: the same input gets the same kind of answer.
    func testEveryCommandSharesTheReader() {
        let bgp = error {
            try BGPConfigLoader.parse("asn: 65001\nrouter_id: 10.0.0.1\npeers: [{address: 10.0.0.2, asn: yes}]\n")
        }
        XCTAssertEqual(bgp, ConfigError(field: "peers[0].asn", message: "expected a number in range"))
        let appliance = error { try ApplianceConfigLoader.parse("role: se\nhostname: [a]\n") }
        XCTAssertEqual(
            appliance, ConfigError(field: "hostname", message: "expected a single value, not a list or a mapping"))
        XCTAssertEqual(
            error { try BGPConfigLoader.parse("") },
            ConfigError(field: "", message: "the configuration document is empty"))
        XCTAssertThrowsError(try ObjectSetFile.decode("pool: [{name: a, srvers: []}]")) { error in
            XCTAssertTrue("\(error)".contains("srvers"), "\(error)")
        }
    }
}
