import Foundation
import XCTest

@testable import starling

/// `starling se --config FILE`: API objects grouped by type, refs by name, strict like the API.
final class SEConfigTests: XCTestCase {
    private func load(_ text: String, ext: String = "yaml") throws -> StandaloneConfig {
        let path = NSTemporaryDirectory() + "se-config-\(UUID().uuidString).\(ext)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try StandaloneConfig.load(path: path)
    }

    func testYAMLWithRefsByNameAndSystemDefaults() throws {
        let config = try load(
            """
            pool:
              - name: p
                servers: [{ip: {addr: 127.0.0.1, type: V4}, port: 9001}]
            vsvip:
              - name: v
                vip: [{vip_id: "0", ip_address: {addr: 127.0.0.1, type: V4}}]
            virtualservice:
              - name: web
                vsvip_ref: /api/vsvip/?name=v
                services: [{port: 8080}]
                pool_ref: /api/pool/?name=p
                application_profile_ref: /api/applicationprofile/?name=System-L4-Application
            """)
        XCTAssertEqual(config.services.count, 1)
        XCTAssertEqual(config.services[0].pool?.name, "p")
        XCTAssertEqual(config.services[0].application_profile.type, .l4)
        XCTAssertNil(config.vrf)
    }

    func testJSONFromDesignDocument() throws {
        let config = try load(
            #"{"pool": [{"name": "p", "servers": [{"ip": {"addr": "127.0.0.1", "type": "V4"}, "port": 9001}]}], "vsvip": [{"name": "v", "vip": [{"vip_id": "0", "ip_address": {"addr": "127.0.0.1", "type": "V4"}}]}], "virtualservice": [{"name": "web", "vsvip_ref": "/api/vsvip/?name=v", "services": [{"port": 8080}], "pool_ref": "/api/pool/?name=p", "application_profile_ref": "/api/applicationprofile/?name=System-HTTP"}]}"#,
            ext: "json")
        XCTAssertEqual(config.services.first?.application_profile.type, .http)
    }

    func testBadFilesAreRefusedNamingTheField() {
        let cases: [(String, String)] = [
            (#"{"pool": [{"name": "p", "srvers": []}]}"#, "pool[0].srvers: unknown field"),
            (
                #"{"pool": [{"name": "p", "servers": [{"ip": {"addr": "x", "type": "V4"}, "port": 80}]}]}"#,
                "servers[0].ip"
            ),
            (
                #"{"vsvip": [{"name": "v", "vip": [{"vip_id": "0", "ip_address": {"addr": "192.0.2.1", "type": "V4"}}]}], "virtualservice": [{"name": "w", "vsvip_ref": "/api/vsvip/?name=v", "services": [{"port": 80}], "pool_ref": "/api/pool/?name=missing"}]}"#,
                "pool_ref"
            ),
            ("[1, 2]", "top level"),
            ("{", "not valid YAML or JSON"),
            ("", "empty"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try load(text), text) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(text): \(error)")
                XCTAssertFalse("\(error)".contains("\n"), "one line: \(error)")
            }
        }
    }
}
