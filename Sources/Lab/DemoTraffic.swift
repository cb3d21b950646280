/// The demo lab's steady client traffic, so that the Admin Console's dashboard and the analytics have
/// something to show: about 10 requests a second to the demo VIP from the client namespace, over
/// keep-alive connections renewed every 20 requests (the router's ECMP spreads them over the SEs), with
/// a few 404s and 500s, slow requests and an API path among them. A summary line every minute goes to its
/// log. Run as `python3 -u demo-traffic.py VIP RATE`.
public enum DemoTraffic {
    /// The Python source; write it to a file and run it with `python3 -u FILE VIP RATE`.
    public static let script = #"""
        # Starling demo lab traffic (generated; see Sources/Lab/DemoTraffic.swift).
        import http.client
        import random
        import sys
        import time

        VIP = sys.argv[1]
        RATE = float(sys.argv[2])
        PATHS = [("/", 80), ("/slow", 5), ("/status/404", 5), ("/status/500", 3), ("/api/cart?item=%d", 7)]
        WEIGHTS = [w for _, w in PATHS]

        conn = None
        sent = 0
        counts = {}
        last = time.monotonic()
        while True:
            start = time.monotonic()
            path = random.choices(PATHS, WEIGHTS)[0][0]
            if "%d" in path:
                path = path % random.randint(1, 50)
            try:
                if conn is None or sent % 20 == 0:
                    if conn is not None:
                        conn.close()
                    conn = http.client.HTTPConnection(VIP, 80, timeout=3)
                conn.request("GET", path, headers={"User-Agent": "starling-demo-traffic"})
                response = conn.getresponse()
                response.read()
                key = str(response.status)
            except Exception as error:
                key = type(error).__name__
                conn = None
            sent += 1
            counts[key] = counts.get(key, 0) + 1
            if time.monotonic() - last >= 60:
                sys.stderr.write("demo traffic: %d requests, by outcome %s\n" % (sent, sorted(counts.items())))
                sys.stderr.flush()
                last = time.monotonic()
            time.sleep(max(0.0, 1.0 / RATE - (time.monotonic() - start)))
        """#
}
