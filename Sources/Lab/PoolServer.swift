/// The demo lab's pool server: a small threaded HTTP/1.1 server (Python's standard library) that answers any
/// GET with 200 and `server=NAME client=PEER`, so a test sees which SE proxied the request (the SE connects
/// from its data address), and `/health` with 200 `ok`; a path starting with `/slow` answers after 300 ms (a
/// request in flight while an SE changes); `/status/NNN` answers with status NNN (the demo's errors). Run as
/// `python3 -u pool-server.py NAME PORT`.
public enum PoolServer {
    /// The Python source; write it to a file and run it with `python3 -u FILE NAME PORT`.
    public static let script = #"""
        # Starling demo lab pool server (generated; see Sources/Lab/PoolServer.swift).
        import socket
        import sys
        import time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        NAME = sys.argv[1]
        PORT = int(sys.argv[2])


        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Head and body go out in two writes: without TCP_NODELAY the body waits for a delayed ACK.
            disable_nagle_algorithm = True

            def reply(self, send_body):
                peer = self.client_address[0]
                if peer.startswith("::ffff:"):
                    peer = peer[len("::ffff:"):]
                if self.path.startswith("/slow"):
                    time.sleep(0.3)
                status = 200
                if self.path.startswith("/status/") and self.path[8:11].isdigit():
                    status = max(200, min(599, int(self.path[8:11])))
                if self.path == "/health":
                    body = b"ok\n"
                else:
                    body = ("server=%s client=%s\n" % (NAME, peer)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send_body:
                    self.wfile.write(body)

            def do_GET(self):
                self.reply(True)

            def do_HEAD(self):
                self.reply(False)

            def log_message(self, fmt, *args):
                if not self.path.startswith("/health"):
                    sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))


        class Server(ThreadingHTTPServer):
            address_family = socket.AF_INET6
            daemon_threads = True
            allow_reuse_address = True
            # socketserver's default listen backlog is 5: a burst of new connections from the SEs (hundreds
            # of clients arriving at once) overflowed it, the kernel dropped SYNs and some connects waited
            # for the third SYN retransmission (7 s). A real pool server has a backlog in the hundreds.
            request_queue_size = 1024

            def server_bind(self):
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                super().server_bind()


        sys.stdout.write("pool server %s listening on port %d\n" % (NAME, PORT))
        sys.stdout.flush()
        Server(("::", PORT), Handler).serve_forever()
        """#
}
