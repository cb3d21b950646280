import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import XCTest

@testable import SE

/// The HTTP health-monitor probe reads the server's answer with the proxy's head parser: what the proxy
/// would refuse with a 502 fails the check.
final class HTTPProbeTests: XCTestCase {
    /// Judges `text` as the server's whole answer (nil: more bytes needed).
    private func judge(_ text: String, expected: [ExpectedCode] = [.http2xx]) -> (Bool, String)? {
        var buffer = ByteBuffer(string: text)
        var scanned = 0
        return HTTPProbeHandler.judge(&buffer, scanned: &scanned, expected: expected)
    }

    func testAValidHeadPasses() throws {
        let outcome = try XCTUnwrap(judge("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
        XCTAssertTrue(outcome.0)
        XCTAssertEqual(outcome.1, "HTTP 200")
    }

    func testMalformedStatusLineIsAFailedProbe() throws {
        for line in ["HTTP/1.1 2OO OK", "HTTP/2 200 OK", "HTTP/1.1  200 OK", "http/1.1 200 OK", "HTTP/1.1 200OK"] {
            let outcome = try XCTUnwrap(judge(line + "\r\n\r\n"), line)
            XCTAssertFalse(outcome.0, line)
            XCTAssertEqual(outcome.1, "bad status line \"\(line)\"", line)
        }
    }

    func testAHeadTheProxyRefusesIsAFailedProbe() throws {
        let smuggling = try XCTUnwrap(
            judge("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"))
        XCTAssertFalse(smuggling.0)
        XCTAssertEqual(smuggling.1, "bad response head (Content-Length with Transfer-Encoding)")
        let spaceBeforeColon = try XCTUnwrap(judge("HTTP/1.1 200 OK\r\nServer : x\r\n\r\n"))
        XCTAssertFalse(spaceBeforeColon.0)
        XCTAssertEqual(spaceBeforeColon.1, "bad response head (header field name)")
    }

    func testInformationalHeadsAreSkipped() throws {
        let outcome = try XCTUnwrap(judge("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\r\n\r\n"))
        XCTAssertEqual(outcome.1, "HTTP 503 not in HTTP_2XX")
        XCTAssertNil(judge("HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"), "the final head is still to come")
    }

    func testAnIncompleteHeadWaitsForMoreBytes() {
        XCTAssertNil(judge("HTTP/1.1 200 OK\r\nServer: x\r\n"))
    }

    func testATooLargeHeadIsAFailedProbe() throws {
        let outcome = try XCTUnwrap(
            judge("HTTP/1.1 200 OK\r\n" + String(repeating: "X-Filler: 0123456789\r\n", count: 4000)))
        XCTAssertFalse(outcome.0)
        XCTAssertEqual(outcome.1, "no complete response head in the first 65536 bytes")
    }

    // MARK: the handler

    /// Runs a probe on an embedded channel: the answer arrives in `parts`, then the server closes when
    /// `close`. Returns the request sent and the outcome.
    private func probe(_ parts: [String], close: Bool) throws -> (request: String, outcome: (Bool, String)?) {
        let channel = EmbeddedChannel()
        let promise = channel.eventLoop.makePromise(of: (Bool, String).self)
        let outcome = NIOLockedValueBox<(Bool, String)?>(nil)
        promise.futureResult.whenSuccess { value in outcome.withLockedValue { $0 = value } }
        try channel.pipeline.syncOperations.addHandler(
            HTTPProbeHandler(request: "GET / HTTP/1.0\r\n\r\n", expected: [.http2xx], result: promise))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 80)).wait()
        let request = try channel.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } ?? ""
        for part in parts { try channel.writeInbound(ByteBuffer(string: part)) }
        if close { try channel.close().wait() }
        if !close { _ = try? channel.finish() }
        return (request, outcome.withLockedValue { $0 })
    }

    func testTheHandlerJudgesAHeadSplitOverReads() throws {
        let (request, outcome) = try probe(["HTTP/1.0 204 No", " Content\r\nServer: x\r", "\n\r\n"], close: false)
        XCTAssertEqual(request, "GET / HTTP/1.0\r\n\r\n")
        XCTAssertEqual(outcome?.0, true)
        XCTAssertEqual(outcome?.1, "HTTP 204")
    }

    func testTheHandlerFailsAMalformedStatusLine() throws {
        let (_, outcome) = try probe(["SSH-2.0-OpenSSH_9.6\r\n"], close: true)
        XCTAssertEqual(outcome?.0, false)
        XCTAssertEqual(outcome?.1, "connection closed before the end of the response head")
        let (_, garbage) = try probe(["HTTP/1.1 OK\r\n\r\n"], close: false)
        XCTAssertEqual(garbage?.0, false)
        XCTAssertEqual(garbage?.1, "bad status line \"HTTP/1.1 OK\"")
    }

    func testTheHandlerFailsAnAnswerCutInItsHead() throws {
        let (_, outcome) = try probe(["HTTP/1.1 200 OK\r\n"], close: true)
        XCTAssertEqual(outcome?.0, false)
        XCTAssertEqual(outcome?.1, "connection closed before the end of the response head")
        let (_, nothing) = try probe([], close: true)
        XCTAssertEqual(nothing?.1, "connection closed without a response")
    }
}
