import Foundation
import Lab
import XCTest

/// Damping off (issue 13): `starling bgp` with a peer at `idle_hold_time: 0` takes 100 sessions in a row
/// that each reach Established and then send a malformed message (a header with Length 18, RFC 4271 §6.1
/// Bad Message Length): every one gets its NOTIFICATION, none is refused, and a good session right after
/// comes up and receives the announcement. Real sockets, inside a namespace of its own.
final class MalformedSessionTests: XCTestCase {
    func testHundredMalformedSessionsNeverRefuseAGoodOne() throws {
        try withLab("malformed", requires: ["python3"]) { lab in
            let binary = try starlingBinary()
            let ns = try lab.namespace("bgp")
            let config = lab.path("bgp.json")
            try """
            {"asn": 65010, "router_id": "10.0.0.1", "listen": {"addresses": ["127.0.0.1"], "port": 179},
             "peers": [{"address": "127.0.0.2", "asn": 65002, "local_address": "127.0.0.1", "hold_time": 9,
                        "passive": true, "idle_hold_time": 0}],
             "announce": ["192.0.2.10/32"]}
            """.write(toFile: config, atomically: true, encoding: .utf8)
            let speaker = try lab.start(
                "starling-bgp", [binary, "bgp", "--config", config, "--api", "127.0.0.1:8179"], in: ns)
            try Wait.until("starling bgp listening", timeout: 10) { try ns.isListening(port: 179) }

            let script = lab.path("peer.py")
            try Self.peerScript.write(toFile: script, atomically: true, encoding: .utf8)
            let result = try ns.run(["python3", script, "100"], timeout: 120)
            print(
                "IntegrationTests: malformed sessions: \(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))"
            )
            XCTAssertEqual(result.status, 0, "\(result.stdout)\(result.stderr)\n\(speaker.logTail())")
            XCTAssertTrue(result.stdout.contains("100 malformed sessions: 100 Established, 100 NOTIFICATION 1/2"))
            XCTAssertTrue(result.stdout.contains("good session: Established, 192.0.2.10/32 received"))
            XCTAssertTrue(speaker.isRunning, speaker.logTail())
            let peers = try ns.exec(["curl", "-sS", "-m", "5", "http://127.0.0.1:8179/peers"])
            XCTAssertTrue(peers.contains("\"established_transitions\":101"), "100 bad and the good one: \(peers)")
        }
    }

    /// The peer: `python3 peer.py N`: N sessions that reach Established then send a header with Length 18,
    /// then one good session; prints what it saw and exits 1 on anything unexpected.
    static let peerScript = #"""
        import socket, struct, sys, time

        def open_msg(asn, hold, rid):
            caps = bytes([1, 4, 0, 1, 0, 1]) + bytes([65, 4]) + struct.pack("!I", asn)
            opt = bytes([2, len(caps)]) + caps
            body = struct.pack("!BHH4sB", 4, asn, hold, socket.inet_aton(rid), len(opt)) + opt
            return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), 1) + body

        KEEPALIVE = b"\xff" * 16 + struct.pack("!HB", 19, 4)
        BAD = b"\xff" * 16 + struct.pack("!HB", 18, 4)

        def recvn(s, n):
            data = b""
            while len(data) < n:
                chunk = s.recv(n - len(data))
                if not chunk:
                    return None
                data += chunk
            return data

        def read_msg(s):
            head = recvn(s, 19)
            if head is None:
                return None, None
            length, kind = struct.unpack("!HB", head[16:19])
            body = recvn(s, length - 19) if length > 19 else b""
            return kind, body

        def connect():
            s = socket.socket()
            s.bind(("127.0.0.2", 0))
            s.settimeout(5)
            s.connect(("127.0.0.1", 179))
            s.sendall(open_msg(65002, 9, "10.0.0.2"))
            kind, _ = read_msg(s)
            if kind != 1:
                raise SystemExit("expected OPEN, got %r" % kind)
            s.sendall(KEEPALIVE)
            kind, body = read_msg(s)
            if kind != 4:
                raise SystemExit("expected KEEPALIVE, got %r %r" % (kind, body))
            return s

        n = int(sys.argv[1])
        established = notified = 0
        for i in range(n):
            s = connect()
            established += 1
            s.sendall(BAD)
            while True:
                kind, body = read_msg(s)
                if kind is None:
                    raise SystemExit("cycle %d: closed without NOTIFICATION" % i)
                if kind == 3:
                    if body[:2] != bytes([1, 2]):
                        raise SystemExit("cycle %d: NOTIFICATION %r" % (i, body[:2]))
                    notified += 1
                    break
            s.close()
        print("%d malformed sessions: %d Established, %d NOTIFICATION 1/2" % (n, established, notified))

        s = connect()
        deadline = time.time() + 3
        got = False
        while time.time() < deadline:
            try:
                kind, body = read_msg(s)
            except socket.timeout:
                break
            if kind is None or kind == 3:
                raise SystemExit("good session ended: %r %r" % (kind, body))
            if kind == 2 and bytes([32, 192, 0, 2, 10]) in body:
                got = True
                break
        if not got:
            raise SystemExit("good session: no UPDATE for 192.0.2.10/32")
        time.sleep(1)
        s.sendall(KEEPALIVE)
        print("good session: Established, 192.0.2.10/32 received")
        """#
}
