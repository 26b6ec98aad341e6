#!/usr/bin/python3
"""Cost of a /metrics scrape with many pools, and what a scrape does to a client's wait.

Owns: a throw-away primary (scripts/pgcluster.py via the integration harness, no
replicas), one pgsplit with --pools databases (db0, db1, ... all on the primary's `app`)
and its HTTP endpoint. One login per database makes one pool each; then --scrapes
scrapes are timed (pgsplit_last_scrape_duration_seconds, the pooler's own render time;
pgsplit_last_scrape_longest_slice_seconds, the longest the render held the event loop at
once; and the whole HTTP round trip), and `SELECT 1` round trips are timed with and without
a scraper running flat out next to them.
Run as root with /usr/bin/python3; servers and pgsplit run as `postgres`.

    PGSPLIT_BIN=$PWD/pgsplit /usr/bin/python3 bench/metrics.py --pools 1000
"""

import argparse
import http.client
import multiprocessing
import os
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "integration"))
import harness  # noqa: E402


def get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def gauge(body, name):
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise RuntimeError("no %s in the scrape" % name)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


USER = "trustuser"  # the server lets it in without a password exchange: quicker pools


def make_pools(p, n, threads=4):
    def login(first):
        for i in range(first, n, threads):
            c = harness.connect(p, db="db%d" % i, user=USER, track=False)
            c.execute("SELECT 1")
            c.close()
    workers = [threading.Thread(target=login, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def cpu_seconds(pid):
    """User + system CPU of the pooler so far (/proc/<pid>/stat, clock ticks)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_scrapes(port, n):
    renders, slices, trips, size = [], [], [], 0
    for _ in range(n):
        t0 = time.perf_counter()
        status, body = get(port, "/metrics")
        trips.append(time.perf_counter() - t0)
        assert status == 200
        # both about the previous scrape's render
        renders.append(gauge(body, "pgsplit_last_scrape_duration_seconds"))
        slices.append(gauge(body, "pgsplit_last_scrape_longest_slice_seconds"))
        size = len(body)
    return renders[1:], slices[1:], trips, size


def summary(values):
    return "min %s median %s p95 %s max %s (n=%d)" % (ms(min(values)), ms(statistics.median(values)),
                                                     ms(pct(values, 95)), ms(max(values)), len(values))


def scrape_loop(port, stop, count):
    while not stop.is_set():
        get(port, "/metrics")
        with count.get_lock():
            count.value += 1


def time_selects(p, seconds, scraping_port=None):
    """SELECT 1 round trips for `seconds`, with a scraper looping meanwhile if asked. The
    scraper is another process: in a thread it would share this one's interpreter lock,
    and its parse of each answer would show up as the query's latency."""
    stop = multiprocessing.Event()
    scrapes = multiprocessing.Value("i", 0)
    t = multiprocessing.Process(target=scrape_loop, args=(scraping_port, stop, scrapes)) \
        if scraping_port else None
    c = harness.connect(p, db="db0", user=USER, track=False)
    if t:
        t.start()
    lat, end = [], time.time() + seconds
    while time.time() < end:
        t0 = time.perf_counter()
        c.execute("SELECT 1")
        lat.append(time.perf_counter() - t0)
    stop.set()
    if t:
        t.join()
    c.close()
    return lat, scrapes.value


def ms(x):
    return "%.2f" % (x * 1000)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pools", type=int, default=1000)
    ap.add_argument("--scrapes", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--hold", type=float, default=0, help="keep the pooler up this long at the end (profiling)")
    args = ap.parse_args()

    cluster = harness.create_cluster("pgsplit-bench-metrics-", replicas=0)
    p = None
    try:
        http_port = harness.free_port()
        dbs = {"db%d" % i: "host=127.0.0.1 port=%d dbname=app" % cluster.port for i in range(args.pools)}
        p = harness.Pooler(cluster, databases=dbs, settings={
            "http_listen_port": http_port, "pool_mode": "transaction",
            "max_user_connections": "100", "max_client_conn": "200"})
        p.settings.pop("replica_monitor_user", None)
        p.start()
        t0 = time.time()
        make_pools(p, args.pools)
        pools = [ln for ln in get(http_port, "/metrics")[1].splitlines()
                 if ln.startswith("pgbouncer_pools_client_active_connections{")]
        print("pools: %d (made in %.1f s)" % (len(pools), time.time() - t0))
        cpu0 = cpu_seconds(p.proc.pid)
        renders, slices, trips, size = time_scrapes(http_port, args.scrapes)
        cpu = (cpu_seconds(p.proc.pid) - cpu0) / args.scrapes
        print("scrape: %d bytes, %d lines" % (size, get(http_port, "/metrics")[1].count("\n")))
        print("render, all slices (pgsplit_last_scrape_duration_seconds), ms: " + summary(renders))
        print("longest slice (pgsplit_last_scrape_longest_slice_seconds), ms: " + summary(slices))
        print("pooler CPU per scrape (render and send), ms: %s" % ms(cpu))
        print("HTTP round trip, ms: median %s p95 %s max %s" % (ms(statistics.median(trips)),
                                                              ms(pct(trips, 95)), ms(max(trips))))
        quiet, _ = time_selects(p, args.seconds)
        busy, n = time_selects(p, args.seconds, http_port)
        for name, lat, extra in (("no scraper", quiet, ""), ("scraper flat out", busy, ", %d scrapes" % n)):
            print("SELECT 1 with %s, ms: median %s p99 %s max %s (n=%d%s)" % (
                name, ms(statistics.median(lat)), ms(pct(lat, 99)), ms(max(lat)), len(lat), extra))
        if args.hold:
            print("holding: pid %d, http port %d" % (p.proc.pid, http_port), flush=True)
            time.sleep(args.hold)
    finally:
        if p:
            p.stop()
            p.cleanup()
        cluster.destroy()


if __name__ == "__main__":
    main()
