"""Clients that try to grow the pooler's memory without limit (issue 21).

Each test logs in a client that sends a flood and never reads what it is sent, then
watches the pooler's resident memory while the flood runs, checks that another client
is answered at once, and that the pooler is still alive afterwards.  The floods are the
shapes an attack session found: pooler-made replies (named Parse + Close of a cached
statement, console SHOW CONFIG, SET pgsplit.min_lsn), one huge DataRow the client does
not read, and one huge Query sent while the server is busy.  The same tests run against
PgBouncer (PGSPLIT_BIN=/usr/sbin/pgbouncer) where the flood applies to it; run with -s
for the figures.
"""

import socket
import struct
import threading
import time

import pytest

import harness
import pgwire
from harness import query1

pytestmark = pytest.mark.timeout(120)

# Growth allowed while a flood runs: far above what bounded queues need (a few socket
# buffers and pkt_buf per connection; each flood below grows pgsplit by under 1 MB),
# far below what an unbounded queue reaches (the Parse + Close flood reached 16 to 64 MB
# before the pooler stopped reading a client whose server owes 4,096 replies).
MAX_GROWTH_MB = 8



def parse(name, sql):
    return pgwire.msg(b"P", name.encode() + b"\0" + sql.encode() + b"\0" + struct.pack("!H", 0))


def close_stmt(name):
    return pgwire.msg(b"C", b"S" + name.encode() + b"\0")


def flush():
    return pgwire.msg(b"H")


class Flood:
    """A logged-in raw client that sends `chunk` over and over for `seconds` and never
    reads; a thread does the sending, as the pooler is expected to stop reading it."""

    def __init__(self, p, chunk, user="app", db="app", seconds=5.0, first=b""):
        self.raw = pgwire.Raw(p.host, p.port)
        self.raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.raw.login(user, db, harness.DEFAULT_PASSWORDS[user])
        self.chunk, self.first, self.seconds = chunk, first, seconds
        self.sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        deadline = time.time() + self.seconds
        self.raw.sock.settimeout(0.5)
        data = self.first
        try:
            while time.time() < deadline:
                if not data and not self.chunk:
                    time.sleep(0.05)
                    continue
                if not data:
                    data = self.chunk
                try:
                    n = self.raw.sock.send(data)
                except socket.timeout:
                    continue
                self.sent += n
                data = data[n:]
        except OSError:
            pass

    def start(self):
        self.thread.start()
        return self

    def finish(self):
        self.thread.join(self.seconds + 5)
        self.raw.close()


def watch(p, flood):
    """RSS before, peak during the flood; the time another client took meanwhile."""
    pid = p.proc.pid
    base = harness.rss_kb(pid)
    flood.start()
    peak = base
    other_s = None
    t_end = time.time() + flood.seconds
    while time.time() < t_end:
        peak = max(peak, harness.rss_kb(pid))
        if other_s is None and time.time() > t_end - flood.seconds / 2:
            t0 = time.time()
            with p.connect() as other:
                assert query1(other, "SELECT 41 + 1") == 42
            other_s = time.time() - t0
        time.sleep(0.1)
    peak = max(peak, harness.rss_kb(pid))
    flood.finish()
    return base, peak, other_s


def check(p, name, flood):
    base, peak, other_s = watch(p, flood)
    growth = (peak - base) / 1024.0
    print("\n%s: %s sent %.1f MB; pooler RSS %d kB -> peak %d kB (+%.1f MB); another client %.3f s"
          % (name, harness.flavor(), flood.sent / 1e6, base, peak, growth, other_s))
    assert p.alive(), "the pooler died under the flood"
    assert growth < MAX_GROWTH_MB, "%s grew the pooler by %.1f MB" % (name, growth)
    assert other_s < 2, "another client took %.2f s during the flood" % other_s
    with p.connect() as after:
        assert query1(after, "SELECT 1") == 1


@harness.pgsplit_only("max_prepared_statements needs PgBouncer 1.21+")
@pytest.mark.skipif(harness.is_sanitizer_build(), reason="memory figures are meaningless under ASan")
def test_parse_close_flood_of_cached_statement(pooler):
    """Named Parse + Close of a statement the server has: each Parse is prepared again on
    the server (a direct connection's would be), so the replies owed pile up unless the
    client waits for them."""
    p = pooler(pool_mode="transaction", max_prepared_statements="100")
    with p.connect(prepare_threshold=0) as warm:
        warm.execute("SELECT 1 AS cached").fetchall()
    chunk = (parse("s1", "SELECT 1 AS cached") + close_stmt("s1")) * 2000 + flush()
    check(p, "Parse+Close flood", Flood(p, chunk))


def bind_execute():
    return (pgwire.msg(b"B", b"\0\0" + struct.pack("!HHH", 0, 0, 0))
            + pgwire.msg(b"E", b"\0" + struct.pack("!I", 0)))


def read_kinds(raw, n):
    return [raw.read_msg()[0] for _ in range(n)]


@harness.pgsplit_only("max_prepared_statements needs PgBouncer 1.21+")
@pytest.mark.timeout(30)
def test_client_waiting_for_replies_is_not_left_hanging(pooler):
    """Past 4,096 replies owed the pooler stops reading the client; replies the server
    holds back until the client's Flush (which sits unread behind them) must still come:
    one Parse, 6,000 Closes the pooler answers itself, then Flush, all before reading."""
    p = pooler(pool_mode="transaction", max_prepared_statements="100")
    with pgwire.Raw(p.host, p.port) as raw:
        raw.login("app", "app", harness.DEFAULT_PASSWORDS["app"])
        raw.send(parse("fresh", "SELECT 2") + close_stmt("never_made") * 6000 + flush())
        kinds = read_kinds(raw, 6001)
        assert kinds == [b"1"] + [b"3"] * 6000
        raw.send(pgwire.msg(b"S"))
        assert raw.read_msg()[0] == b"Z"


@harness.pgsplit_only("max_prepared_statements needs PgBouncer 1.21+")
@pytest.mark.timeout(30)
def test_long_pipeline_sent_before_reading_is_answered_in_full(pooler):
    """A driver that sends a long pipeline before it reads: 5,000 Bind + Execute of one
    statement and a Sync (10,000 replies owed) get every answer, in order."""
    p = pooler(pool_mode="transaction", max_prepared_statements="100")
    with pgwire.Raw(p.host, p.port) as raw:
        raw.login("app", "app", harness.DEFAULT_PASSWORDS["app"])
        raw.send(parse("", "SELECT 7") + bind_execute() * 5000 + pgwire.msg(b"S"))
        kinds = read_kinds(raw, 1 + 5000 * 3 + 1)
        assert kinds == [b"1"] + [b"2", b"D", b"C"] * 5000 + [b"Z"]


@harness.pgsplit_only("PgBouncer 1.18 garbles a concurrent client's login under this flood (seen here)")
@pytest.mark.skipif(harness.is_sanitizer_build(), reason="memory figures are meaningless under ASan")
def test_console_show_config_flood(pooler):
    p = pooler(stats_users="stats")
    check(p, "SHOW CONFIG flood", Flood(p, pgwire.query("SHOW CONFIG") * 200, user="stats", db="pgbouncer"))


@harness.pgsplit_only("the causal token is pgsplit's")
@pytest.mark.skipif(harness.is_sanitizer_build(), reason="memory figures are meaningless under ASan")
def test_min_lsn_set_flood(pooler, cluster):
    p = pooler(start=False, pool_mode="transaction")
    reps = ",".join("127.0.0.1:%d" % r.port for r in cluster.replicas)
    p.databases["app"] = p.connstr("app", replicas=reps)
    p.start()
    check(p, "SET pgsplit.min_lsn flood",
          Flood(p, pgwire.query("SET pgsplit.min_lsn = '0/1'") * 2000))


@pytest.mark.skipif(harness.is_sanitizer_build(), reason="memory figures are meaningless under ASan")
def test_huge_data_row_not_read(pooler):
    """One 200 MB DataRow: relayed in pieces as the client reads, never held whole."""
    p = pooler(pool_mode="transaction")
    flood = Flood(p, b"", seconds=6, first=pgwire.query("SELECT repeat('x', 200000000)"))
    check(p, "200 MB DataRow not read", flood)


@pytest.mark.skipif(harness.is_sanitizer_build(), reason="memory figures are meaningless under ASan")
def test_huge_query_while_server_busy(pooler):
    """A 100 MB Query pipelined behind a running pg_sleep: the server reads nothing
    meanwhile, so the pooler must stop reading the client, not hold the Query."""
    p = pooler(pool_mode="transaction")
    big = pgwire.query("SELECT length('" + "y" * 100_000_000 + "')")
    flood = Flood(p, b"", seconds=5, first=pgwire.query("BEGIN; SELECT pg_sleep(8)") + big)
    check(p, "100 MB Query behind a busy server", flood)
