/// The lab's HTTP load client for "no request fails" checks (a restart, a drain): workers send GETs until a
/// stop file appears, then write `{"total", "failed", "errors"}` as JSON. Run as
/// `python3 -u FILE URL STOP-FILE OUT-FILE` (or `starling lab http-load`).
public enum HTTPLoad {
    /// Four workers on URL's host and port until the stop file appears: two open a connection per `GET /`,
    /// two keep one connection alive (one of them asks the ``PoolServer``'s `/slow`, 300 ms at the server,
    /// so that requests are in flight when a process stops accepting). A request on a kept-alive connection
    /// that the server closed while idle is sent again once on a new connection, as browsers and curl do
    /// for a GET; anything else (no answer, a status other than 200, another body) is a failure.
    public static let script = #"""
        import http.client, json, os, sys, threading, time, urllib.parse
        url, stop, out = sys.argv[1], sys.argv[2], sys.argv[3]
        u = urllib.parse.urlparse(url)
        lock = threading.Lock()
        counts = {"total": 0, "failed": 0, "errors": []}

        def record(ok, why=None):
            with lock:
                counts["total"] += 1
                if not ok:
                    counts["failed"] += 1
                    if len(counts["errors"]) < 20:
                        counts["errors"].append(why)

        def get(conn, path="/"):
            conn.request("GET", path)
            r = conn.getresponse()
            body = r.read()
            return r.status, body, r.getheader("Connection", "")

        def fresh():
            while not os.path.exists(stop):
                conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=5)
                try:
                    status, body, _ = get(conn)
                    record(status == 200 and body.startswith(b"server="), "status %d" % status)
                except Exception as e:
                    record(False, "new connection: %r" % e)
                finally:
                    conn.close()
                time.sleep(0.001)

        def kept(path="/"):
            conn = None
            while not os.path.exists(stop):
                reused = conn is not None
                if conn is None:
                    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=5)
                try:
                    status, body, connection = get(conn, path)
                    record(status == 200 and body.startswith(b"server="), "status %d" % status)
                    if connection.lower() == "close":
                        conn.close()
                        conn = None
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                    conn.close()
                    conn = None
                    if not reused:
                        record(False, "keep-alive first request: %r" % e)
                        continue
                    # The idle connection was closed under us: once more on a new one.
                    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=5)
                    try:
                        status, body, _ = get(conn, path)
                        record(status == 200 and body.startswith(b"server="), "status %d" % status)
                    except Exception as e2:
                        record(False, "retry: %r" % e2)
                        conn.close()
                        conn = None
                except Exception as e:
                    record(False, "keep-alive: %r" % e)
                    conn.close()
                    conn = None
                time.sleep(0.001)

        threads = [threading.Thread(target=f) for f in (fresh, fresh, kept)]
        threads.append(threading.Thread(target=kept, args=("/slow",)))
        for t in threads: t.start()
        for t in threads: t.join()
        with open(out, "w") as f:
            json.dump(counts, f)
        """#
}
