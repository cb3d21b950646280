/// The lab's long-lived connection load for "no connection is reset" checks (issue 15: scale-out, scale-in and
/// SIGTERM of an SE under ECMP): N keep-alive connections to URL, each sending `GET /` every INTERVAL seconds
/// until the stop file appears, then `{"connections", "total", "failed", "resets", "reopened", "renewed",
/// "moved", "per_se", "errors"}` as JSON. Run as `python3 -u FILE URL N INTERVAL STOP-FILE OUT-FILE [PER-CONN]`:
/// with PER-CONN, each connection is closed by the client after that many requests and replaced (`renewed`),
/// staggered, so that new connections keep arriving beside the long-lived ones.
///
/// - A reset (ECONNRESET, or the connection closed with no `Connection: close` before a response) counts in
///   `resets` and `failed`; a timeout, a status other than 200 or another body counts in `failed`.
/// - A response with `Connection: close` (an SE draining), or the SE's FIN seen while idle, closes the
///   connection cleanly: the next request goes on a new one (`reopened`), as every HTTP client does.
/// - The body of the ``PoolServer`` names the SE (`client=ADDR`): `per_se` counts responses by SE, and a
///   connection whose SE changes without a reopen counts in `moved` (it cannot: the SE proxies it).
public enum KeepAliveLoad {
    /// The Python source (asyncio, one task per connection).
    public static let script = #"""
        import asyncio, json, os, sys, time, urllib.parse
        url, count, interval, stop, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
        per_connection = int(sys.argv[6]) if len(sys.argv) > 6 else 0
        u = urllib.parse.urlparse(url)
        host, port = u.hostname, u.port or 80
        figures = {"connections": count, "total": 0, "failed": 0, "resets": 0, "reopened": 0, "renewed": 0, "moved": 0,
                   "per_se": {}, "errors": []}

        def failure(kind, why):
            figures["failed"] += 1
            if kind == "reset":
                figures["resets"] += 1
            if len(figures["errors"]) < 20:
                figures["errors"].append("%s at %.3f: %s" % (kind, time.time(), why))

        async def request(reader, writer):
            writer.write(("GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % host).encode())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ")[1])
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            return status, body, headers.get("connection", "").lower() == "close"

        async def connection(index):
            await asyncio.sleep(index * 0.002)
            reader = writer = None
            se = None
            sent = index
            while not os.path.exists(stop):
                if writer is not None and reader.at_eof():
                    # Closed cleanly by the SE while idle (after a response): a new connection, no failure.
                    figures["reopened"] += 1
                    writer.close()
                    writer = None
                if writer is None:
                    try:
                        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
                    except Exception as e:
                        figures["total"] += 1
                        failure("connect", repr(e))
                        await asyncio.sleep(interval)
                        continue
                    se = None
                figures["total"] += 1
                try:
                    status, body, close = await asyncio.wait_for(request(reader, writer), 5)
                except (ConnectionResetError, asyncio.IncompleteReadError, BrokenPipeError) as e:
                    failure("reset", repr(e))
                    writer.close()
                    writer = None
                    continue
                except Exception as e:
                    failure("error", repr(e))
                    writer.close()
                    writer = None
                    continue
                text = body.decode("latin-1")
                if status != 200 or not text.startswith("server="):
                    failure("answer", "status %d body %r" % (status, text[:60]))
                served = text.split("client=")[-1].strip()
                figures["per_se"][served] = figures["per_se"].get(served, 0) + 1
                if se is not None and served != se:
                    figures["moved"] += 1
                se = served
                sent += 1
                if per_connection and sent % per_connection == 0 and not close:
                    # Churn: this client's connection ends here, the next request opens a new one.
                    figures["renewed"] += 1
                    writer.close()
                    writer = None
                elif close:
                    figures["reopened"] += 1
                    writer.close()
                    writer = None
                await asyncio.sleep(interval)
            if writer is not None:
                writer.close()

        async def main():
            await asyncio.gather(*(connection(i) for i in range(count)))

        asyncio.run(main())
        with open(out, "w") as f:
            json.dump(figures, f)
        print(json.dumps(figures))
        """#
}
