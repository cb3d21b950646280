import StarlingModel
import XCTest

@testable import Controller

/// The flow-steering part of a virtual service's runtime (`GET /api/virtualservice/<uuid>/runtime`, `starling
/// ctl show vs`): per SE, the service's VIPs with their mode and primary, the epoch, flows and forwarded
/// packets per member, the program's counters.
final class SteeringRuntimeTests: XCTestCase {
    func testTheRuntimeShowsTheServicesVIPsMembersAndCounters() throws {
        let status = SteeringStatus(
            interface: "eth0", epoch: 4,
            members: [
                .init(
                    address: "198.18.1.11", position: 0, this: true, live: true, last_heard_ms: nil, mac: nil,
                    free: nil, packets_forwarded_to: 0, pinned_flows: 40),
                .init(
                    address: "198.18.1.12", position: 1, this: false, live: true, leaving: true, last_heard_ms: 20,
                    mac: "02:00:00:00:00:12", free: 0, packets_forwarded_to: 310, pinned_flows: 35),
            ],
            vips: [
                .init(
                    vip: "198.18.1.100", vs_uuid: "virtualservice-a", ports: [80], mode: "native",
                    primary: "198.18.1.11", secondaries: ["198.18.1.12"], primary_here: true),
                .init(
                    vip: "192.0.2.7", vs_uuid: "virtualservice-b", ports: [443], mode: "ecmp", primary: nil,
                    secondaries: [], primary_here: false),
            ],
            counters: ["forwarded_new_flow": 35, "delivered_here": 900], error: nil)
        // The controller takes the SE's heartbeat with it (strict decoding refuses unknown members).
        let heartbeat = SEStatus(se_uuid: "serviceengine-1", applied_version: 3, steering: status)
        let encoded = try StrictJSON.encoder().encode(heartbeat)
        XCTAssertEqual(try StrictJSON.decode(SEStatus.self, from: encoded), heartbeat)
        XCTAssertTrue(String(decoding: encoded, as: UTF8.self).contains("\"packets_forwarded_to\":310"))

        let view = Reconciler.steeringView(status, vs: "virtualservice-a")
        XCTAssertEqual(view["epoch"], .int(4))
        guard case .array(let vips) = view["vips"] ?? .null else { return XCTFail("\(view)") }
        XCTAssertEqual(vips.count, 1, "only this service's VIPs")
        XCTAssertEqual(vips.first?["vip"], .string("198.18.1.100"))
        XCTAssertEqual(vips.first?["mode"], .string("native"))
        XCTAssertEqual(vips.first?["primary"], .string("198.18.1.11"))
        XCTAssertEqual(vips.first?["secondaries"], .array([.string("198.18.1.12")]))
        guard case .array(let members) = view["members"] ?? .null else { return XCTFail("\(view)") }
        XCTAssertEqual(members.count, 2)
        XCTAssertEqual(members[1]["leaving"], .bool(true))
        XCTAssertEqual(members[1]["packets_forwarded_to"], .int(310))
        XCTAssertEqual(members[0]["pinned_flows"], .int(40))
        XCTAssertEqual(view["packets"]?["forwarded_new_flow"], .int(35))
        XCTAssertEqual(view["error"], .null)
    }

    /// The controller's pick of native primary: the placed SE that holds the VIP now, else the first placed SE
    /// that is up.
    func testNativePrimaryKeepsTheHolderElseTheFirstPlacedSEThatIsUp() {
        let addresses = ["se-1": "198.18.1.11", "se-2": "198.18.1.12", "se-3": "198.18.1.13"]
        let placed = ["se-1", "se-2", "se-3"]
        func report(primaryHere: Bool) -> SEStatus {
            SEStatus(
                se_uuid: "", applied_version: 1,
                steering: SteeringStatus(
                    interface: "eth0", epoch: 1, members: [],
                    vips: [
                        .init(
                            vip: "198.18.1.100", vs_uuid: "vs-1", ports: [80], mode: "native", primary: nil,
                            secondaries: [], primary_here: primaryHere)
                    ], counters: [:], error: nil))
        }
        XCTAssertEqual(
            ReconcilePass.nativePrimary(
                of: "vs-1", placedOn: placed, reports: [:], isUp: { _ in true }, dataAddresses: addresses),
            "198.18.1.11", "nobody holds it: the first placed SE")
        XCTAssertEqual(
            ReconcilePass.nativePrimary(
                of: "vs-1", placedOn: placed, reports: [:], isUp: { $0 != "se-1" }, dataAddresses: addresses),
            "198.18.1.12", "the first placed SE that is up")
        let reports = ["se-1": report(primaryHere: false), "se-3": report(primaryHere: true)]
        XCTAssertEqual(
            ReconcilePass.nativePrimary(
                of: "vs-1", placedOn: placed, reports: reports, isUp: { _ in true }, dataAddresses: addresses),
            "198.18.1.13", "se-3 holds it: it stays there (se-1 came back)")
        XCTAssertEqual(
            ReconcilePass.nativePrimary(
                of: "vs-2", placedOn: placed, reports: reports, isUp: { _ in true }, dataAddresses: addresses),
            "198.18.1.11", "holding another service's VIP does not count")
        XCTAssertNil(
            ReconcilePass.nativePrimary(
                of: "vs-1", placedOn: placed, reports: reports, isUp: { _ in false }, dataAddresses: addresses))
    }
}
