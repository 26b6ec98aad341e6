"""Malformed, truncated, oversized and stalled input: an ErrorResponse or a clean
close, no crash, no effect on a concurrent normal client."""

import socket
import struct
import time

import pytest

import pgwire
from harness import is_pgbouncer, pgsplit_only, query1


@pytest.fixture
def setup(pooler):
    """A pooler with a normal client already in an open transaction."""
    p = pooler(pool_mode="transaction", client_login_timeout=2, max_packet_size=1048576)
    c = p.connect(autocommit=False)
    c.execute("SELECT 1")
    yield p, c
    # The bystander is unaffected and new clients are served.
    assert p.alive(), "pooler died"
    assert query1(c, "SELECT 42") == 42
    c.commit()
    n = p.connect()
    assert query1(n, "SELECT 7") == 7


def raw(p):
    return pgwire.Raw(p.host, p.port)


def assert_rejected(r, wait=10.0):
    """An ErrorResponse (returned) or a close; never silence forever."""
    fields = r.error_or_close(wait)
    if fields:
        assert fields.get("S") in ("FATAL", "ERROR")
        assert r.is_closed(5), "error sent but connection left open"
    return fields


def test_garbage_before_startup(setup):
    p, _ = setup
    with raw(p) as r:
        r.send(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n")
        assert_rejected(r)


def test_random_binary_garbage(setup):
    p, _ = setup
    with raw(p) as r:
        r.send(bytes(range(256)) * 4)
        assert_rejected(r)


def test_oversized_startup_length(setup):
    p, _ = setup
    with raw(p) as r:
        r.send(struct.pack("!II", 0x7FFFFFFF, pgwire.PROTO_V3))
        assert_rejected(r)


def test_too_short_startup_length(setup):
    p, _ = setup
    with raw(p) as r:
        r.send(struct.pack("!I", 4))
        assert_rejected(r)


def test_startup_without_user(setup):
    p, _ = setup
    with raw(p) as r:
        r.send(pgwire.startup_packet({"database": "app"}))
        assert_rejected(r)


def test_startup_not_nul_terminated(setup):
    p, _ = setup
    body = struct.pack("!I", pgwire.PROTO_V3) + b"user\0app\0database\0app"
    with raw(p) as r:
        r.send(struct.pack("!I", len(body) + 4) + body)
        assert_rejected(r)


def test_truncated_startup_then_close(setup):
    p, _ = setup
    pkt = pgwire.startup_packet({"user": "app", "database": "app"})
    for cut in (1, 3, 4, 7, len(pkt) - 1):
        r = raw(p)
        r.send(pkt[:cut])
        r.close()
    time.sleep(0.3)


@pytest.mark.parametrize("version", [(2, 0), (4, 0), (1234, 5678)])
def test_unknown_protocol_version(setup, version):
    p, _ = setup
    with raw(p) as r:
        r.send(pgwire.startup_packet({"user": "app", "database": "app"},
                                     version=(version[0] << 16) | version[1]))
        assert_rejected(r)


@pgsplit_only("1.18 does not send NegotiateProtocolVersion")
def test_newer_minor_version_negotiated(setup):
    p, _ = setup
    with raw(p) as r:
        r.send(pgwire.startup_packet({"user": "app", "database": "app",
                                      "_pq_.some_extension": "1"},
                                     version=(3 << 16) | 9))
        k, body = r.read_msg()
        assert k == b"v", (k, body)
        (minor, nopts) = struct.unpack("!II", body[:8])
        assert minor == 0
        assert b"_pq_.some_extension" in body[8:]


def test_stall_mid_startup_packet(setup):
    p, _ = setup
    pkt = pgwire.startup_packet({"user": "app", "database": "app"})
    with raw(p) as r:
        r.send(pkt[:6])
        t0 = time.time()
        assert r.is_closed(8), "stalled client not dropped (client_login_timeout=2)"
        assert time.time() - t0 >= 1.0


def test_stall_during_password(setup):
    p, _ = setup
    with raw(p) as r:
        r.send(pgwire.startup_packet({"user": "app", "database": "app"}))
        k, _ = r.read_msg()
        assert k == b"R"          # the password request; never answer it
        assert r.is_closed(8)


def test_vanish_during_auth(setup):
    p, _ = setup
    for _ in range(5):
        r = raw(p)
        r.send(pgwire.startup_packet({"user": "app", "database": "app"}))
        r.read_msg()
        r.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        r.close()                 # RST instead of FIN
    time.sleep(0.3)


def test_ssl_request_answered_n(setup):
    p, _ = setup
    with raw(p) as r:
        r.send(struct.pack("!II", 8, pgwire.SSL_CODE))
        assert r.read_byte() == b"N"
        r.login("app", "app", "apppass")
        rows, errs = r.simple("SELECT 'plain'")
        assert rows == [["plain"]]


def test_gssenc_request_refused(setup):
    p, _ = setup
    with raw(p) as r:
        r.send(struct.pack("!II", 8, pgwire.GSSENC_CODE))
        try:
            first = r.read_byte()
        except pgwire.Closed:
            first = None            # PgBouncer 1.18 closes instead of answering N
        if first is None:
            assert is_pgbouncer(), "GSSENCRequest must be answered with N"
            return
        assert first == b"N"
        r.login("app", "app", "apppass")
        rows, _ = r.simple("SELECT 1")
        assert rows == [["1"]]


def test_bogus_cancel_request(setup):
    p, _ = setup
    with raw(p) as r:
        r.send(struct.pack("!IIII", 16, pgwire.CANCEL_CODE, 12345, 67890))
        assert r.is_closed(5)


def test_short_cancel_request(setup):
    p, _ = setup
    with raw(p) as r:
        r.send(struct.pack("!III", 12, pgwire.CANCEL_CODE, 12345))
        assert r.is_closed(5)


def _logged_in(p):
    r = raw(p)
    r.login("app", "app", "apppass")
    return r


def test_bad_message_length_after_login(setup):
    p, _ = setup
    with _logged_in(p) as r:
        r.send(b"Q" + struct.pack("!I", 2))
        assert_rejected(r)


def test_oversized_message_after_login(setup):
    p, _ = setup
    with _logged_in(p) as r:
        r.send(b"Q" + struct.pack("!I", 0x7FFFFFF0) + b"SELECT ")
        assert_rejected(r)


def test_unknown_message_type_after_login(setup):
    p, _ = setup
    with _logged_in(p) as r:
        r.send(pgwire.msg(b"?", b"whatever"))
        fields = r.error_or_close(10)
        # Either the pooler or the server complains; the bystander is fine.
        assert fields == {} or fields.get("S") in ("FATAL", "ERROR")


def test_truncated_message_then_close(setup):
    p, _ = setup
    r = _logged_in(p)
    r.send(b"Q" + struct.pack("!I", 100) + b"SELECT")
    r.close()
    time.sleep(0.3)


def test_stall_mid_message_after_login_does_not_block_others(setup):
    """A logged-in client that stops mid-message holds at most its own server."""
    p, c = setup
    r = _logged_in(p)
    try:
        r.send(b"Q" + struct.pack("!I", 100) + b"SELECT")
        other = p.connect()
        assert query1(other, "SELECT 'still served'") == "still served"
    finally:
        r.close()


def test_many_garbage_connections(setup):
    p, _ = setup
    socks = []
    for i in range(40):
        r = raw(p)
        r.send(b"\x00\x00\x00\x10garbage!garbage" if i % 2 else b"\xff" * 64)
        socks.append(r)
    for r in socks:
        r.error_or_close(10)
        r.close()


def _answer_before_close(host, port, data):
    """Every byte a server sends back before it closes, for `data` sent before any
    startup packet."""
    r = pgwire.Raw(host, port)
    r.send(data)
    closed = r.is_closed(wait=5)
    got = r.buf
    r.close()
    return closed, got


@pytest.mark.parametrize("data", [pgwire.terminate(), b"GET / HTTP/1.1\r\n\r\n", b"\0\0\0\2xx"],
                         ids=["terminate", "http", "short-length"])
def test_nothing_valid_before_startup_closes_silently_as_postgresql(setup, cluster, data):
    """node-postgres's connect(); end() sends a Terminate first: PostgreSQL closes without
    a word, so a FATAL from the pooler surfaced as an unhandled error event."""
    p, _ = setup
    direct = _answer_before_close("127.0.0.1", cluster.primary.port, data)
    assert direct == (True, b"")
    assert _answer_before_close(p.host, p.port, data) == direct
