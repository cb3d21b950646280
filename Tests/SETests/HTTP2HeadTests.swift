import NIOCore
import NIOHPACK
import XCTest

@testable import SE

/// The HTTP/2 → HTTP/1.1 request head (pure): what a client's fields become for the server, and that no
/// field list, however odd, yields a head our own strict HTTP/1.1 parser would not read back as the
/// same single request.
final class HTTP2HeadTests: XCTestCase {
    func make(_ fields: [(String, String)], body: Bool = false) -> Result<HTTP2RequestHead.Head, HTTP2Refusal> {
        HTTP2RequestHead.make(
            HPACKHeaders(fields), bodyFollows: body, clientIP: "192.0.2.1", allocator: ByteBufferAllocator())
    }

    static let base = [(":method", "GET"), (":scheme", "https"), (":path", "/x?y=1"), (":authority", "www.example")]

    func testTheHeadTheServerGets() throws {
        let head = try make(Self.base + [("cookie", "a=1"), ("cookie", "b=2"), ("accept", "*/*")], body: true).get()
        XCTAssertEqual(
            String(buffer: head.bytes),
            "GET /x?y=1 HTTP/1.1\r\nHost: www.example\r\naccept: */*\r\nCookie: a=1; b=2\r\n"
                + "Transfer-Encoding: chunked\r\nX-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: https\r\n\r\n")
        XCTAssertTrue(head.chunked)
        let sized = try make(Self.base + [("content-length", "5")], body: true).get()
        XCTAssertFalse(sized.chunked)
        XCTAssertTrue(String(buffer: sized.bytes).contains("Content-Length: 5\r\n"))
    }

    func testRefusals() {
        XCTAssertEqual(try? make([(":method", "GET"), (":path", "/")]).get().bytes, nil, "no :authority or host")
        XCTAssertEqual(make(Self.base + [("x-a", "1\r\nx-evil: 1")]).failureStatus, 400)
        XCTAssertEqual(make(Self.base + [("X-Up", "1")]).failureStatus, 400)
        XCTAssertEqual(
            make([(":method", "GET"), (":scheme", "https"), (":path", "x"), (":authority", "a")]).failureStatus, 400)
        XCTAssertEqual(make(Self.base + [("content-length", "5"), ("content-length", "6")]).failureStatus, 400)
        XCTAssertEqual(make([(":method", "CONNECT"), (":authority", "a:443")]).failureStatus, 501)
    }

    /// Random field lists (names and values from an alphabet with CR, LF, NUL, colon, space, upper
    /// case): the result is refused, or one request head that `HTTPHeadParser` reads with the same
    /// method, exactly one Host and nothing after the head.
    func testRandomFieldsNeverSmuggleARequest() throws {
        var rng = SplitMix(seed: 0x4832)
        let nameChars = Array("abcxyz-:ABC \r\n\0_")
        let valueChars = Array("abc 123=;,/:\r\n\0\t\u{7f}é")
        func random(_ chars: [Character], _ max: Int) -> String {
            String((0..<Int(rng.next() % UInt64(max))).map { _ in chars[Int(rng.next() % UInt64(chars.count))] })
        }
        var accepted = 0
        for _ in 0..<3000 {
            var fields = Self.base
            if rng.next() % 5 == 0 { fields[2].1 = "/" + random(valueChars, 8) }
            for _ in 0..<Int(rng.next() % 5) { fields.append((random(nameChars, 8), random(valueChars, 12))) }
            guard case .success(let head) = make(fields, body: rng.next() % 2 == 0) else { continue }
            accepted += 1
            var bytes = head.bytes
            var scanned = 0
            let parsed = try XCTUnwrap(
                try HTTPHeadParser.parse(&bytes, isRequest: true, limit: 1 << 20, scanned: &scanned),
                "\(fields)")
            XCTAssertEqual(bytes.readableBytes, 0, "one head, nothing after it: \(fields)")
            XCTAssertEqual(parsed.info.hostCount, 1, "\(fields)")
            XCTAssertFalse(parsed.info.isHEAD)
        }
        XCTAssertGreaterThan(accepted, 100, "the generator also makes valid requests")
    }
}

extension Result where Failure == HTTP2Refusal {
    var failureStatus: Int? {
        if case .failure(let r) = self { return r.status }
        return nil
    }
}
