import ArgumentParser
import Glibc
import Logging
import NIOCore
import NIOHTTP1

/// `--log-level` of every daemon: checked in `validate()`, installed once in `run()` (logs go to stderr).
enum LogLevelOption {
    static func validate(_ text: String) throws {
        guard Logger.Level(rawValue: text) != nil else {
            throw ValidationError(
                "--log-level: '\(text)' is not one of trace, debug, info, notice, warning, error, critical")
        }
    }

    static func bootstrap(_ text: String) {
        let level = Logger.Level(rawValue: text) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

/// Writes one complete HTTP/1 response for the small JSON/text APIs (`starling bgp --api`, the SE's
/// management port), and closes the connection afterwards unless the request asked for keep-alive.
enum HTTPReply {
    static func send(
        _ status: HTTPResponseStatus, body: some Collection<UInt8>, contentType: String, for head: HTTPRequestHead,
        on context: ChannelHandlerContext
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: "\(body.count)")
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(
            NIOAny(
                HTTPServerResponsePart.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
            promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: body.count)
        buffer.writeBytes(body)
        context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(buffer))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
    }
}

/// Before `execv`: the new program starts with every signal unblocked and at its default action, whatever
/// this process set up (a signal ignored or blocked here would otherwise stay so across exec, and e.g. a
/// SIGTERM would not stop it).
func resetSignalsForExec() {
    var empty = sigset_t()
    sigemptyset(&empty)
    pthread_sigmask(SIG_SETMASK, &empty, nil)
    for signal in [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGUSR1, SIGUSR2, SIGCHLD] {
        Glibc.signal(signal, SIG_DFL)
    }
}
