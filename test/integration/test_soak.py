"""A bounded soak (issue 8): mixed reads and writes through a routing pooler with
read_your_writes = lsn, clients that disconnect at random (cleanly, or by cutting the
socket in the middle of a transaction), and one replica restarted half-way through.

Judged as a user would: no stale read (every writer reads back its own unique row at
once), no aborted row ever visible, no client error outside the replica restart,
pooler memory stable (RSS at start and end are printed), and SHOW POOLS back to idle
once the clients are gone.  PGSPLIT_SOAK_SECONDS lengthens it (default 30).
The cluster is the module's own: restarting a replica must not disturb other tests.
"""

import os
import random
import socket
import threading
import time
import uuid

import psycopg
import pytest

import harness

pytestmark = harness.pgsplit_only("read/write routing is pgsplit's own feature")

SOAK_SECONDS = float(os.environ.get("PGSPLIT_SOAK_SECONDS", "30"))
WRITERS, READERS = 6, 3
DISCONNECT_P = 0.03          # per operation


@pytest.fixture(scope="module")
def soak_cluster():
    c = harness.create_cluster("pgsplit-soak-")
    yield c
    c.destroy()


@pytest.fixture
def soak_pooler(soak_cluster, request):
    made = []
    reps = ",".join("127.0.0.1:%d" % r.port for r in soak_cluster.replicas)

    def build(settings):
        p = harness.Pooler(soak_cluster, settings)
        p.databases["app"] = p.connstr("app", replicas=reps)
        return p

    def factory(**settings):
        return harness.start_pooler(made, lambda: build(settings))

    yield factory
    harness.finish_test_poolers(request, made, tail=8000)



def cut(conn):
    """Drop the connection without a Terminate message, as a crashed client would."""
    try:
        s = socket.socket(fileno=os.dup(conn.fileno()))
        s.shutdown(socket.SHUT_RDWR)
        s.close()
    except OSError:
        pass
    try:
        conn.close()
    except Exception:
        pass


class Soak:
    def __init__(self, pooler, seconds):
        self.pooler = pooler
        self.until = time.time() + seconds
        self.lock = threading.Lock()
        self.ops = {"write": 0, "read": 0, "disconnect": 0, "cut": 0}
        self.ports = {}             # (reader|readback, server port) -> reads it answered
        self.stale = []             # keys a writer could not read back
        self.aborted = []           # keys inserted in a transaction cut before COMMIT
        self.errors = []            # (time, who, exception)
        self.threads = [threading.Thread(target=self._writer, args=(i,), daemon=True)
                        for i in range(WRITERS)]
        self.threads += [threading.Thread(target=self._reader, args=(i,), daemon=True)
                         for i in range(READERS)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def _count(self, kind, n=1):
        with self.lock:
            self.ops[kind] += n

    def _served(self, what, port):
        with self.lock:
            self.ports[(what, port)] = self.ports.get((what, port), 0) + 1

    def _error(self, who, e):
        with self.lock:
            self.errors.append((time.time(), who, e))

    def _maybe_disconnect(self, conn, rnd, who):
        """With a small probability end the connection: cleanly, or cut mid-transaction."""
        if rnd.random() >= DISCONNECT_P:
            return conn
        if rnd.random() < 0.5:
            conn.close()
            self._count("disconnect")
            return None
        key = "%s-aborted-%s" % (who, uuid.uuid4().hex)
        try:
            conn.execute("BEGIN")
            conn.execute("INSERT INTO soak(k, w) VALUES (%s, 0)", (key,))
            with self.lock:
                self.aborted.append(key)
        except psycopg.Error as e:
            self._error(who, e)
        cut(conn)
        self._count("cut")
        return None

    def _writer(self, i):
        rnd = random.Random(i)
        who = "w%d" % i
        conn = None
        while time.time() < self.until:
            try:
                if conn is None:
                    conn = harness.connect(self.pooler, track=False, connect_timeout=5)
                key = "%s-%s" % (who, uuid.uuid4().hex)
                if rnd.random() < 0.3:
                    with conn.transaction():
                        conn.execute("INSERT INTO soak(k, w) VALUES (%s, %s)", (key, i))
                else:
                    conn.execute("INSERT INTO soak(k, w) VALUES (%s, %s)", (key, i))
                self._count("write")
                n, port = conn.execute("SELECT count(*), inet_server_port() FROM soak "
                                       "WHERE k = %s", (key,)).fetchone()
                self._count("read")
                self._served("readback", port)
                if n != 1:
                    with self.lock:
                        self.stale.append(key)
                conn = self._maybe_disconnect(conn, rnd, who)
            except psycopg.Error as e:
                self._error(who, e)
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.05)
        if conn is not None:
            conn.close()

    def _reader(self, i):
        rnd = random.Random(100 + i)
        who = "r%d" % i
        conn = None
        while time.time() < self.until:
            try:
                if conn is None:
                    conn = harness.connect(self.pooler, track=False, connect_timeout=5)
                _n, port = conn.execute("SELECT count(*), inet_server_port() "
                                        "FROM soak").fetchone()
                self._count("read")
                self._served("reader", port)
                conn = self._maybe_disconnect(conn, rnd, who)
            except psycopg.Error as e:
                self._error(who, e)
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.05)
        if conn is not None:
            conn.close()

    def join(self, timeout):
        deadline = time.time() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.time()))
        return [t for t in self.threads if t.is_alive()]


@pytest.mark.timeout(int(SOAK_SECONDS) + 180)
def test_soak_routing_ryw_disconnects_replica_restart(soak_pooler, soak_cluster):
    soak_cluster.primary.psql("CREATE TABLE IF NOT EXISTS soak(k text PRIMARY KEY, w int); "
                              "GRANT ALL ON soak TO app", db="app")
    soak_cluster.wait_replay()
    p = soak_pooler(pool_mode="transaction", default_pool_size="10",
                    read_your_writes="lsn", max_client_conn="200")
    pid = p.proc.pid
    t0 = time.time()
    soak = Soak(p, SOAK_SECONDS).start()
    time.sleep(min(3.0, SOAK_SECONDS / 10))
    rss_start = harness.rss_kb(pid)
    rss_peak = rss_start

    # One replica restart in the middle.
    while time.time() < t0 + SOAK_SECONDS / 2:
        rss_peak = max(rss_peak, harness.rss_kb(pid))
        time.sleep(0.5)
    victim = soak_cluster.replicas[0]
    restart_begin = time.time()
    victim.stop(mode="fast")
    time.sleep(1.0)
    victim.start()
    restart_end = time.time()

    while time.time() < soak.until:
        rss_peak = max(rss_peak, harness.rss_kb(pid))
        time.sleep(0.5)
    stuck = soak.join(30)
    rss_end = harness.rss_kb(pid)
    elapsed = time.time() - t0

    totals = None
    deadline = time.time() + 15
    while time.time() < deadline:
        rows = [r for r in harness.admin(p, "SHOW POOLS") if r["database"] != "pgbouncer"]
        totals = {k: sum(int(r[k]) for r in rows)
                  for k in ("cl_active", "cl_waiting", "sv_active")}
        if not any(totals.values()):
            break
        time.sleep(0.2)
    servers = [s for s in harness.admin(p, "SHOW SERVERS") if s["database"] != "pgbouncer"]

    aborted_visible = 0
    if soak.aborted:
        # a long soak cuts thousands of transactions: pass their keys as one array
        with psycopg.connect(soak_cluster.primary.dsn(db="app"), autocommit=True) as direct:
            aborted_visible = direct.execute("SELECT count(*) FROM soak WHERE k = ANY(%s)",
                                             (list(soak.aborted),)).fetchone()[0]
    window = (restart_begin - 0.5, restart_end + 5.0)
    outside = [(t, w, e) for t, w, e in soak.errors if not window[0] <= t <= window[1]]
    unclear = [e for _t, _w, e in soak.errors if not isinstance(e, psycopg.OperationalError)]
    print("\nsoak %.0f s: %s; %d stale reads; %d aborted rows visible; %d client errors "
          "(%d outside the replica restart at +%.1f..+%.1f s); replica restart took %.1f s; "
          "pooler RSS start %d kB, peak %d kB, end %d kB; %d server connections at the end, "
          "SHOW POOLS %s" % (
              elapsed, soak.ops, len(soak.stale), aborted_visible, len(soak.errors),
              len(outside), restart_begin - t0, restart_end - t0, restart_end - restart_begin,
              rss_start, rss_peak, rss_end, len(servers), totals))
    names = {s.port: s.name for s in soak_cluster.servers}
    print("  reads answered: %s" % ", ".join(
        "%s@%s=%d" % (what, names.get(port, port), n)
        for (what, port), n in sorted(soak.ports.items(), key=str)))
    for t, w, e in soak.errors[:10]:
        print("  error at +%.2f s (%s): %s: %s" % (t - t0, w, type(e).__name__,
                                                  str(e).strip()[:200]))

    assert not stuck, "%d client threads stuck" % len(stuck)
    assert p.alive(), "pooler died during the soak"
    assert soak.ops["write"] > 100 and soak.ops["read"] > 100, soak.ops
    replica_ports = {r.port for r in soak_cluster.replicas}
    assert any(port in replica_ports for (_w, port) in soak.ports), \
        "no read reached a replica: routing was not exercised (%s)" % soak.ports
    assert not soak.stale, "%d stale reads, e.g. %s" % (len(soak.stale), soak.stale[:5])
    assert aborted_visible == 0, "%d rows from cut transactions are visible" % aborted_visible
    assert not unclear, "errors that are not OperationalError: %r" % unclear[:5]
    assert not outside, "%d client errors outside the replica restart, e.g. %s" % (
        len(outside), [(round(t - t0, 2), w, str(e)[:120]) for t, w, e in outside[:5]])
    if not harness.is_sanitizer_build():  # ASan's quarantine grows on purpose
        assert rss_end - rss_start < 32 * 1024, "pooler RSS grew from %d kB to %d kB" % (
        rss_start, rss_end)
    assert totals == {"cl_active": 0, "cl_waiting": 0, "sv_active": 0}, \
        "SHOW POOLS not idle after the clients left: %s" % totals
    active = [s for s in servers if s.get("state") == "active"]
    assert not active, "server connections still active: %s" % active
