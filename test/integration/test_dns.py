"""DNS: resolv_conf and dns_zone_check_period against a tiny DNS server of our own.

The server (UDP, stdlib only) answers A and SOA records from dicts the test changes
while the pooler runs.  c-ares 1.18 takes no port in resolv.conf, so it listens on port
53 of a spare loopback address, which needs root: without it the tests skip.  To see a
server connection move to a new address, a TCP forwarder on 127.0.0.2 relays to the
primary, which listens on 127.0.0.1 only.
"""

import errno
import os
import socket
import struct
import threading
import time

import pytest

from harness import admin, is_pgbouncer, pgsplit_only, query1
from tcprelay import TcpRelay

ZONE = "pgsplit.test"
HOST = "db." + ZONE

T_A, T_SOA, T_AAAA = 1, 6, 28
RCODE_NXDOMAIN = 3


# ---- a tiny authoritative DNS server ---------------------------------------------------

def _encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def _parse_question(msg):
    """(id, flags, qname bytes as sent, qname lower-case text, qtype) or None."""
    if len(msg) < 12:
        return None
    qid, flags, qdcount = struct.unpack("!HHH", msg[:6])
    if qdcount != 1 or flags & 0x8000:
        return None
    pos, labels = 12, []
    while pos < len(msg) and msg[pos] != 0:
        n = msg[pos]
        if n & 0xC0:
            return None  # no compression in questions from resolvers
        labels.append(msg[pos + 1:pos + 1 + n].decode("ascii", "replace"))
        pos += 1 + n
    if pos + 5 > len(msg):
        return None
    qname = msg[12:pos + 1]
    qtype, qclass = struct.unpack("!HH", msg[pos + 1:pos + 5])
    return qid, flags, qname + struct.pack("!HH", qtype, qclass), ".".join(labels).lower(), qtype


class TinyDns:
    """A records (name -> IPv4 text) and zones (name -> SOA serial), changeable live.
    AAAA of a known name gets an empty NOERROR, unknown names NXDOMAIN."""

    def __init__(self):
        self.a = {}
        self.soa = {}
        self.queries = []  # (name, qtype), for checks that a name was asked
        self.lock = threading.Lock()
        self.sock = None
        self.addr = None
        self.thread = None
        self.stopping = False

    def bind(self):
        """Port 53 of the first free 127.0.77.x; pytest.skip without the right to bind."""
        for last in range(1, 60):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.bind(("127.0.77.%d" % last, 53))
            except OSError as e:
                s.close()
                if e.errno in (errno.EACCES, errno.EPERM):
                    pytest.skip("binding UDP port 53 needs root: %s" % e)
                if e.errno == errno.EADDRINUSE:
                    continue
                pytest.skip("cannot bind a loopback DNS server: %s" % e)
            s.settimeout(0.2)
            self.sock, self.addr = s, "127.0.77.%d" % last
            return
        pytest.skip("no free 127.0.77.x:53 for the test DNS server")

    def start(self):
        self.bind()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.stopping = True
        if self.thread:
            self.thread.join(5)
        if self.sock:
            self.sock.close()

    def _serve(self):
        while not self.stopping:
            try:
                msg, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            reply = self.answer(msg)
            if reply:
                self.sock.sendto(reply, peer)

    def _records(self, name, qtype):
        """(rcode, [(type, rdata)])"""
        with self.lock:
            a, soa = self.a.get(name), self.soa.get(name)
        if a is None and soa is None:
            return RCODE_NXDOMAIN, []
        if qtype == T_A and a is not None:
            return 0, [(T_A, socket.inet_aton(a))]
        if qtype == T_SOA and soa is not None:
            rdata = _encode_name("ns." + name) + _encode_name("admin." + name)
            rdata += struct.pack("!IIIII", soa, 3600, 600, 86400, 60)
            return 0, [(T_SOA, rdata)]
        return 0, []

    def answer(self, msg):
        q = _parse_question(msg)
        if q is None:
            return None
        qid, flags, question, name, qtype = q
        with self.lock:
            self.queries.append((name, qtype))
        rcode, records = self._records(name, qtype)
        # QR, AA, RA; opcode and RD copied from the query
        out_flags = 0x8000 | (flags & 0x7900) | 0x0400 | 0x0080 | rcode
        out = struct.pack("!HHHHHH", qid, out_flags, 1, len(records), 0, 0) + question
        for rtype, rdata in records:
            # the owner is the question's name: a pointer to offset 12
            out += struct.pack("!HHHIH", 0xC00C, rtype, 1, 5, len(rdata)) + rdata
        return out

    def set_a(self, name, addr):
        with self.lock:
            self.a[name] = addr

    def set_serial(self, zone, serial):
        with self.lock:
            self.soa[zone] = serial

    def asked(self, name, qtype):
        with self.lock:
            return (name, qtype) in self.queries


# ---- fixtures and helpers --------------------------------------------------------------

def row_for(table, **match):
    for r in table:
        if all(r.get(k) == v for k, v in match.items()):
            return r
    return None


@pytest.fixture
def dns():
    srv = TinyDns().start()
    srv.set_a(HOST, "127.0.0.1")
    srv.set_serial(ZONE, 1)
    yield srv
    srv.stop()


@pytest.fixture
def forwarder(cluster):
    try:
        fw = TcpRelay(("127.0.0.1", cluster.port), host="127.0.0.2", port=cluster.port)
    except OSError as e:
        pytest.skip("cannot listen on 127.0.0.2:%d: %s" % (cluster.port, e))
    yield fw
    fw.close()


def write_resolv_conf(p, nameserver):
    path = os.path.join(p.dir, "resolv.conf")
    with open(path, "w") as f:
        f.write("nameserver %s\noptions timeout:1 attempts:2\n" % nameserver)
    os.chmod(path, 0o644)
    return path


def start_dns_pooler(pooler, cluster, dns, **settings):
    """A pooler whose only database is at HOST, resolved through the test's DNS server.
    Transaction pooling, so a client's next transaction may take a new server."""
    settings.setdefault("dns_max_ttl", 3600)  # only a zone check can refresh the answer
    settings.setdefault("dns_zone_check_period", 1)
    p = pooler(databases={"app": "host=%s port=%d dbname=app" % (HOST, cluster.port)},
               pool_mode="transaction", start=False, **settings)
    p.settings["resolv_conf"] = write_resolv_conf(p, dns.addr)
    p.start()
    return p


def zones(p):
    return [(r["zonename"], r["serial"], r["count"]) for r in admin(p, "SHOW DNS_ZONES")]


def host_addrs(p, host=HOST):
    row = row_for(admin(p, "SHOW DNS_HOSTS"), hostname=host)
    return row["addrs"] if row else None


def wait_for(what, check, timeout=8.0):
    deadline = time.time() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.time() > deadline:
            pytest.fail("timed out waiting for " + what)
        time.sleep(0.1)


def server_addrs(p):
    return [r["addr"] for r in admin(p, "SHOW SERVERS") if r["database"] == "app"]


# ---- tests -------------------------------------------------------------------------------

def test_resolv_conf_is_used(pooler, cluster, dns):
    """Names resolve through the nameserver of resolv_conf, not the system's.  With
    dns_zone_check_period = 0 the zone is listed (as PgBouncer does) but never checked."""
    p = start_dns_pooler(pooler, cluster, dns, dns_zone_check_period=0)
    conn = p.connect()
    assert query1(conn, "SELECT 1") == 1
    assert dns.asked(HOST, T_A)
    assert "127.0.0.1" in (host_addrs(p) or "")
    time.sleep(1.5)
    assert zones(p) == [(ZONE, 0, 1)]
    assert not dns.asked(ZONE, T_SOA)


def test_zone_serial_change_moves_servers(pooler, cluster, dns, forwarder):
    p = start_dns_pooler(pooler, cluster, dns)
    conn = p.connect()
    assert query1(conn, "SELECT 1") == 1
    assert wait_for("the first serial", lambda: zones(p) == [(ZONE, 1, 1)])
    assert "127.0.0.1" in host_addrs(p)
    assert server_addrs(p) == ["127.0.0.1"]

    # A new address under the same serial: the zone check sees nothing to do.
    dns.set_a(HOST, "127.0.0.2")
    time.sleep(3)
    assert "127.0.0.1" in host_addrs(p) and "127.0.0.2" not in host_addrs(p)
    assert zones(p) == [(ZONE, 1, 1)]
    assert forwarder.accepted == 0

    # The serial moves: the host is looked up again and its servers are replaced.
    dns.set_serial(ZONE, 2)
    assert wait_for("serial 2", lambda: zones(p) == [(ZONE, 2, 1)])
    assert wait_for("the new address", lambda: "127.0.0.2" in (host_addrs(p) or ""))
    assert "127.0.0.1" not in host_addrs(p)
    # the idle old server is closed by the maintenance tick
    wait_for("the old server to close", lambda: "127.0.0.1" not in server_addrs(p))
    for i in range(5):
        assert query1(conn, "SELECT %d" % i) == i  # same client, no error
    assert forwarder.accepted >= 1
    assert server_addrs(p) == ["127.0.0.2"]
    if not is_pgbouncer():
        assert p.wait_log(r'DNS: addresses of "%s" changed; reconnecting its servers' % HOST)


def test_serial_change_with_same_addresses_keeps_servers(pooler, cluster, dns):
    p = start_dns_pooler(pooler, cluster, dns)
    conn = p.connect()
    assert query1(conn, "SELECT pg_backend_pid()")
    pid = query1(conn, "SELECT pg_backend_pid()")
    wait_for("the first serial", lambda: zones(p) == [(ZONE, 1, 1)])
    dns.set_serial(ZONE, 7)
    wait_for("serial 7", lambda: zones(p) == [(ZONE, 7, 1)])
    time.sleep(1.5)  # a refresh, if any, has come back by now
    assert query1(conn, "SELECT pg_backend_pid()") == pid


def test_soa_failure_keeps_serial(pooler, cluster, dns):
    p = start_dns_pooler(pooler, cluster, dns)
    assert query1(p.connect(), "SELECT 1") == 1
    wait_for("the first serial", lambda: zones(p) == [(ZONE, 1, 1)])
    with dns.lock:
        del dns.soa[ZONE]  # the zone's SOA now answers NXDOMAIN
    time.sleep(2.5)
    assert zones(p) == [(ZONE, 1, 1)]
    assert query1(p.connect(), "SELECT 1") == 1


def test_show_lists_counts_zones(pooler, cluster, dns):
    p = start_dns_pooler(pooler, cluster, dns)
    assert query1(p.connect(), "SELECT 1") == 1
    wait_for("the first serial", lambda: zones(p) == [(ZONE, 1, 1)])
    lists = {r["list"]: r["items"] for r in admin(p, "SHOW LISTS")}
    assert lists["dns_names"] == 1
    assert lists["dns_zones"] == 1


def test_zone_check_period_on_reload(pooler, cluster, dns, forwarder):
    """dns_zone_check_period is reloadable: switched on, the cached name brings its zone."""
    p = start_dns_pooler(pooler, cluster, dns, dns_zone_check_period=0)
    conn = p.connect()
    assert query1(conn, "SELECT 1") == 1
    assert zones(p) == [(ZONE, 0, 1)]
    p.settings["dns_zone_check_period"] = "1"
    p.reload()
    wait_for("the zone after reload", lambda: zones(p) == [(ZONE, 1, 1)])
    dns.set_a(HOST, "127.0.0.2")
    dns.set_serial(ZONE, 3)
    wait_for("the new address", lambda: "127.0.0.2" in (host_addrs(p) or ""))
    wait_for("the old server to close", lambda: "127.0.0.1" not in server_addrs(p))
    assert query1(conn, "SELECT 2") == 2
    assert server_addrs(p) == ["127.0.0.2"]
    # switched off again: the zone stays listed with its last serial, and is not asked
    p.settings["dns_zone_check_period"] = "0"
    p.reload()
    dns.set_serial(ZONE, 4)
    time.sleep(2.5)
    assert zones(p) == [(ZONE, 3, 1)]


@pgsplit_only("PgBouncer 1.18 starts with the system's resolver settings instead")
def test_missing_resolv_conf_stops_start(pooler, cluster):
    p = pooler(start=False, resolv_conf="/nonexistent/pgsplit-resolv.conf")
    p.expect_exit = True
    p.start(wait=False)
    try:
        rc = p.proc.wait(10)
    except Exception:
        pytest.fail("pooler kept running with an unreadable resolv_conf")
    assert rc != 0
    assert "/nonexistent/pgsplit-resolv.conf" in p.output()


@pgsplit_only("PgBouncer keeps an answer for the TTL in force when it was cached")
def test_dns_max_ttl_reload_shortens_cache(pooler, cluster):
    dbs = {"app": "host=localhost port=%d dbname=app" % cluster.port}
    p = pooler(databases=dbs, dns_max_ttl=3600)
    assert query1(p.connect(), "SELECT 1") == 1
    assert row_for(admin(p, "SHOW DNS_HOSTS"), hostname="localhost")["ttl"] > 60
    p.settings["dns_max_ttl"] = "30"
    p.reload()
    assert row_for(admin(p, "SHOW DNS_HOSTS"), hostname="localhost")["ttl"] <= 30


def test_admin_set_starts_zone_checks(pooler, cluster, dns):
    """SET dns_zone_check_period on the console takes effect at once, as a reload does."""
    p = start_dns_pooler(pooler, cluster, dns, dns_zone_check_period=0)
    assert query1(p.connect(), "SELECT 1") == 1
    assert zones(p) == [(ZONE, 0, 1)]
    admin(p, "SET dns_zone_check_period = 1")
    wait_for("the zone's serial after SET", lambda: zones(p) == [(ZONE, 1, 1)])
