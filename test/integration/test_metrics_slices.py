"""A /metrics exposition too large for one slice of the event loop (2,000 databases) is
rendered over several loop turns (the longest slice, reported by the next scrape, is
shorter than the whole render): it must come out whole and well-formed, scrapes that
overlap must each get a whole one, clients must be served meanwhile, and a scraper that
hangs up in the middle of a render must cost nothing but its socket.
"""

import re
import socket
import threading

import harness
from harness import free_port, query1
from test_http import http_get, parse_exposition

pytestmark = harness.pgsplit_only("the HTTP endpoint is pgsplit's own")

N_DATABASES = 2000


def big_pooler(pooler):
    port = free_port()
    p = pooler(start=False, http_listen_port=port)
    for i in range(N_DATABASES):
        p.databases["many%d" % i] = p.connstr("app")
    p.http_port = port
    return p.start()


def pool_sizes(text):
    return set(re.findall(r'^pgbouncer_databases_pool_size\{name="([^"]*)"', text, re.M))


def gauge(text, name):
    return float(re.search(r"^%s (\S+)$" % name, text, re.M).group(1))


def hang_up_after_request(port, read_bytes):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    if read_bytes:
        s.recv(read_bytes)
    s.close()


def test_large_exposition_in_slices(pooler):
    p = big_pooler(pooler)
    status, _, text = http_get(p.http_port, "/metrics")
    assert status == 200
    parse_exposition(text)  # well-formed as a whole
    names = pool_sizes(text)
    assert {"many0", "many%d" % (N_DATABASES - 1)} <= names and len(names) >= N_DATABASES
    # the next scrape reports the first one's render: more than one slice
    text = http_get(p.http_port, "/metrics")[2]
    total, longest = gauge(text, "pgsplit_last_scrape_duration_seconds"), \
        gauge(text, "pgsplit_last_scrape_longest_slice_seconds")
    assert 0 < longest < total, (longest, total)

    # overlapping scrapes each get a whole exposition, and a client is served meanwhile
    results = []

    def scrape():
        results.append(http_get(p.http_port, "/metrics"))
    threads = [threading.Thread(target=scrape) for _ in range(4)]
    for t in threads:
        t.start()
    c = p.connect()
    assert query1(c, "SELECT 1") == 1
    for t in threads:
        t.join()
    assert [r[0] for r in results] == [200] * 4
    assert all(pool_sizes(r[2]) == names for r in results)

    # scrapers that hang up before or during the answer
    for i in range(20):
        hang_up_after_request(p.http_port, 0 if i % 2 else 1000)
    status, _, text = http_get(p.http_port, "/metrics")
    assert status == 200 and pool_sizes(text) == names
    assert query1(c, "SELECT 1") == 1

    # a reload that moves the listener while renders are under way drops them cleanly
    for _ in range(3):
        hang_up_after_request(p.http_port, 0)
    other = free_port()
    harness.admin(p, "SET http_listen_port = %d" % other)
    assert harness.wait_until(lambda: http_get(other, "/metrics")[0] == 200, 3.0)
    assert p.proc.poll() is None
