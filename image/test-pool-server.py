# Pool server for image/test: answers any GET with 200 and `server=NAME client=PEER` (PEER is the address
# the request came from, i.e. the SE that proxied it), and /health with 200 `ok`.
# Same behaviour as the lab's pool server (Sources/Lab/PoolServer.swift). Usage: python3 -u FILE NAME PORT
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME = sys.argv[1]
PORT = int(sys.argv[2])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, send_body):
        if self.path == "/health":
            body = b"ok\n"
        else:
            body = ("server=%s client=%s\n" % (NAME, self.client_address[0])).encode()
        self.send_response(200)
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
    daemon_threads = True
    allow_reuse_address = True


sys.stdout.write("pool server %s listening on port %d\n" % (NAME, PORT))
sys.stdout.flush()
Server(("0.0.0.0", PORT), Handler).serve_forever()
