"""Faults a pooler must survive without falling over (issue 8): the primary killed
under load, clients that misbehave (half a startup packet, a reader that never reads,
thousands of idle clients, a connect/disconnect storm) and SIGHUP reloads in a loop.

Every test judges what a user would notice: the error a client gets, whether the
pooler process and its admin console are still there, whether new clients work, the
pooler's resident memory (/proc/<pid>/status), and whether SHOW POOLS / SHOW SERVERS
return to idle once the clients are gone (no leaked server connection).  The primary
kill uses a module-scoped cluster of its own; the other tests use the shared one.
Numbers worth keeping (RSS, memory per idle client) are printed: run with -s.
"""

import os
import random
import resource
import signal
import socket
import subprocess
import threading
import time

import psycopg
import pytest

import harness
import pgwire
from harness import query1

PGBOUNCER = "/usr/sbin/pgbouncer"


# ---- helpers ----------------------------------------------------------------------


def raise_fd_limit(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if soft == resource.RLIM_INFINITY or soft >= want:
        return soft
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def pool_totals(p, db=None, console=None):
    """Sum of cl_active, cl_waiting, sv_active over SHOW POOLS (optionally one db),
    leaving out the admin console's own pool.  `console`: an open admin connection
    (psycopg waits with select(), so a new one fails once fds pass 1024)."""
    if console is None:
        rows = harness.admin(p, "SHOW POOLS")
    else:
        cur = console.execute("SHOW POOLS")
        cols = [d.name for d in cur.description]
        rows = [dict(zip(cols, row)) for row in cur.fetchall()]
    # The console connection asking is itself a client of the admin pseudo-database.
    rows = [r for r in rows if r["database"] != "pgbouncer" and (db is None or r["database"] == db)]
    return {k: sum(int(r[k]) for r in rows) for k in ("cl_active", "cl_waiting", "sv_active")}


def wait_pools_idle(p, timeout=10, db=None):
    """Poll SHOW POOLS until no client and no active server remain; returns the last
    totals (the caller asserts on them)."""
    deadline = time.time() + timeout
    while True:
        t = pool_totals(p, db)
        if all(v == 0 for v in t.values()) or time.time() > deadline:
            return t
        time.sleep(0.2)


def console_answers(p):
    return isinstance(harness.admin(p, "SHOW VERSION"), list)


def postmaster_pid(server):
    with open(os.path.join(server.datadir, "postmaster.pid")) as f:
        return int(f.readline())


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def wait_gone(pids, timeout=15):
    deadline = time.time() + timeout
    left = set(pids)
    while left and time.time() < deadline:
        for pid in list(left):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                left.discard(pid)
        time.sleep(0.05)
    return left


class BinPooler(harness.Pooler):
    """A Pooler running a given binary (to compare pgsplit with PgBouncer in one test)."""

    def __init__(self, binary, *a, **kw):
        super().__init__(*a, **kw)
        self.binary = binary
        if "pgbouncer" in os.path.basename(binary):
            self.settings.pop("replica_monitor_user", None)  # pgsplit's setting only

    def command(self, *args):
        return [self.binary] + list(args) + [self.ini_path]


@pytest.fixture
def any_pooler(cluster, request):
    """Factory: any_pooler(binary=None, **settings) -> started Pooler; binary None is
    the binary under test.  Teardown fails the test on a crash or sanitizer report."""
    made = []

    def factory(binary=None, **settings):
        return harness.start_pooler(
            made, lambda: harness.Pooler(cluster, settings) if binary is None
            else BinPooler(binary, cluster, settings))

    yield factory
    harness.finish_test_poolers(request, made)


# ---- primary killed with SIGKILL ----------------------------------------------------

def _checkpoint(c):
    # the cluster runs with synchronous_commit = off: without a checkpoint a SIGKILL
    # soon after set-up can lose the freshly created tables along with the load's rows
    c.primary.psql("CHECKPOINT")


@pytest.fixture(scope="module")
def kill_cluster():
    """A primary of its own: killing the shared session cluster's would break other tests."""
    c = harness.create_cluster("pgsplit-kill-", replicas=0, after_create=_checkpoint)
    yield c
    c.destroy()


@pytest.fixture
def kill_pooler(kill_cluster, request):
    made = []

    def factory(**settings):
        return harness.start_pooler(made, lambda: harness.Pooler(kill_cluster, settings))

    yield factory
    harness.finish_test_poolers(request, made)


class MixedLoad:
    """`n` client threads in a loop of short writes and reads (with a little server-side
    sleep, so a transaction is usually in flight).  A broken connection is replaced.
    Records (time, None) for a success and (time, exception) for a failure."""

    def __init__(self, pooler, n=4):
        self.pooler = pooler
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.events = []
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(n)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def _one(self, conn, i, k):
        if k % 2:
            conn.execute("INSERT INTO items(v) VALUES (%s)", ("kill-%d-%d" % (i, k),))
        else:
            conn.execute("SELECT count(*), pg_sleep(0.02) FROM items").fetchone()

    def _run(self, i):
        conn, k = None, 0
        while not self.done.is_set():
            k += 1
            try:
                if conn is None:
                    conn = harness.connect(self.pooler, track=False, connect_timeout=5)
                self._one(conn, i, k)
                ev = (time.time(), None)
            except psycopg.Error as e:
                ev = (time.time(), e)
                if conn is not None:
                    conn.close()
                conn = None
            with self.lock:
                self.events.append(ev)
            if ev[1] is not None:
                time.sleep(0.1)
        if conn is not None:
            conn.close()

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def stop(self, timeout=30):
        self.done.set()
        deadline = time.time() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.time()))
        return [t for t in self.threads if t.is_alive()]


@pytest.mark.timeout(120)
def test_primary_sigkill_under_load(kill_pooler, kill_cluster):
    p = kill_pooler(pool_mode="transaction", default_pool_size="5",
                    query_timeout="20", server_connect_timeout="3")
    load = MixedLoad(p, 4).start()
    try:
        deadline = time.time() + 10
        while sum(1 for _t, e in load.snapshot() if e is None) < 40 and time.time() < deadline:
            time.sleep(0.05)
        before = load.snapshot()
        assert not [e for _t, e in before if e], "errors before the kill: %s" % before[-5:]

        primary = kill_cluster.primary
        pm = postmaster_pid(primary)
        kids = children(pm)
        killed_at = time.time()
        os.kill(pm, signal.SIGKILL)
        # The backends notice the postmaster is gone and exit; the old shared memory
        # must be released before the primary can start again.
        left = wait_gone([pm] + kids, 15)
        assert not left, "PostgreSQL processes still alive after the postmaster kill: %s" % left
        time.sleep(1.0)          # let the clients hit the dead server for a while
        assert p.alive(), "pooler died when the primary was killed"
        assert console_answers(p), "admin console does not answer with the primary down"

        primary.start()
        restarted_at = time.time()
        # A brand-new client works again within a few seconds.
        back_after = None
        while time.time() < restarted_at + 15:
            try:
                c = harness.connect(p, track=False, connect_timeout=5)
                try:
                    assert query1(c, "SELECT 1") == 1
                finally:
                    c.close()
                back_after = time.time() - restarted_at
                break
            except psycopg.Error:
                time.sleep(0.2)
    finally:
        stuck = load.stop()
    events = load.snapshot()
    after_kill = [(t, e) for t, e in events if t >= killed_at]
    errors = [e for _t, e in after_kill if e is not None]
    unclear = [e for e in errors if not isinstance(e, psycopg.OperationalError)]
    ok_after_restart = sum(1 for t, e in events if e is None and t > restarted_at)
    print("\nprimary SIGKILL: %d transactions before, %d errors after the kill (kinds: %s), "
          "new client OK %.2f s after restart, %d transactions after restart" % (
              len(before), len(errors), sorted({type(e).__name__ for e in errors}),
              back_after if back_after is not None else -1, ok_after_restart))
    for msg in sorted({str(e).strip().splitlines()[0][:160] for e in errors})[:6]:
        print("  client error: %s" % msg)
    assert not stuck, "%d client threads stuck in a call" % len(stuck)
    assert errors, "no client noticed the primary being killed"
    assert not unclear, "errors that are not OperationalError: %r" % unclear[:5]
    assert back_after is not None and back_after < 10, \
        "new connections did not work within 10 s of the primary's restart"
    assert ok_after_restart > 0, "the load's clients never recovered after the restart"
    assert p.alive()
    totals = wait_pools_idle(p, 10)
    assert totals == {"cl_active": 0, "cl_waiting": 0, "sv_active": 0}, \
        "SHOW POOLS not idle after the clients left: %s" % totals


# ---- misbehaving clients ------------------------------------------------------------

@pytest.mark.timeout(60)
def test_half_startup_packet_closed_after_client_login_timeout(pooler):
    p = pooler(client_login_timeout="2")
    full = pgwire.startup_packet({"user": "app", "database": "app"})
    silent = pgwire.Raw(p.host, p.port)
    silent.send(full[:len(full) // 2])
    t0 = time.time()
    closed = silent.is_closed(wait=8)
    elapsed = time.time() - t0
    silent.close()
    print("\nhalf startup packet: closed after %.2f s (client_login_timeout=2)" % elapsed)
    assert closed, "client with half a startup packet still connected after 8 s"
    assert elapsed <= 6, "closed after %.2f s, expected about 2 s" % elapsed
    if not harness.is_pgbouncer():
        # PgBouncer 1.18 drops such a client at once; pgsplit waits for the timeout.
        assert elapsed >= 1.5, "closed after %.2f s, before client_login_timeout" % elapsed
    assert p.alive()
    with pgwire.Raw(p.host, p.port) as ok:
        ok.login("app", "app", "apppass")
        assert ok.simple("SELECT 1")[0] == [["1"]]


@pytest.mark.timeout(90)
def test_client_that_never_reads_keeps_pooler_memory_bounded(pooler):
    p = pooler(pool_mode="session")
    pid = p.proc.pid
    warm = p.connect()
    assert query1(warm, "SELECT 1") == 1
    base = harness.rss_kb(pid)
    stalled = pgwire.Raw(p.host, p.port)
    stalled.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.login("app", "app", "apppass")
    # ~200 MB of result rows that the client never reads.
    stalled.send(pgwire.query("SELECT repeat('x', 1000) FROM generate_series(1, 200000)"))
    peak = base
    deadline = time.time() + 6
    while time.time() < deadline:
        peak = max(peak, harness.rss_kb(pid))
        time.sleep(0.1)
    # Another client is not held up by the stalled one.
    t0 = time.time()
    other = p.connect()
    assert query1(other, "SELECT count(*) FROM generate_series(1, 1000)") == 1000
    other_s = time.time() - t0
    peak = max(peak, harness.rss_kb(pid))
    growth_mb = (peak - base) / 1024.0
    print("\nnon-reading client: pooler RSS %d kB before, peak %d kB (+%.1f MB); "
          "another client answered in %.3f s" % (base, peak, growth_mb, other_s))
    assert p.alive()
    assert growth_mb < 64, "pooler RSS grew by %.1f MB for a client that reads nothing" % growth_mb
    assert other_s < 3, "another client took %.2f s" % other_s
    stalled.close()
    other.close()
    warm.close()
    p.conns = []
    totals = wait_pools_idle(p, 15)
    assert totals == {"cl_active": 0, "cl_waiting": 0, "sv_active": 0}, \
        "SHOW POOLS not idle after the stalled client left: %s" % totals


def _open_idle(p, n):
    socks = []
    for _ in range(n):
        r = pgwire.Raw(p.host, p.port)
        r.login("app", "app", "apppass")
        socks.append(r)
    return socks


def _idle_cost(p, n):
    """(kB per idle client, seconds to open them, RSS before, RSS after)."""
    pid = p.proc.pid
    console = harness.connect(p, "pgbouncer", "admin", track=False)
    first = _open_idle(p, 1)          # the pool's server connection exists before the baseline
    assert first[0].simple("SELECT 1")[0] == [["1"]]
    time.sleep(0.3)
    before = harness.rss_kb(pid)
    t0 = time.time()
    socks = _open_idle(p, n)
    opened_s = time.time() - t0
    time.sleep(0.5)
    after = harness.rss_kb(pid)
    try:
        totals = pool_totals(p, "app", console)
        assert totals["cl_active"] + totals["cl_waiting"] >= n, \
            "SHOW POOLS counts %s clients, expected >= %d" % (totals, n)
        # An idle crowd does not keep a newcomer out.
        with pgwire.Raw(p.host, p.port) as extra:
            extra.login("app", "app", "apppass")
            assert extra.simple("SELECT 2")[0] == [["2"]]
        # A sample of the idle clients still works.
        for r in random.Random(1).sample(socks, 20):
            assert r.simple("SELECT 3")[0] == [["3"]]
    finally:
        for r in socks + first:
            r.close()
        console.close()
    return (after - before) / float(n), opened_s, before, after


IDLE_CLIENTS = int(os.environ.get("PGSPLIT_IDLE_CLIENTS", "10000"))
IDLE_SETTINGS = dict(pool_mode="transaction", max_client_conn=str(IDLE_CLIENTS + 500),
                     default_pool_size="5")


@pytest.mark.timeout(180)
@harness.not_under_sanitizer()
def test_idle_clients_memory_per_client(any_pooler):
    n = IDLE_CLIENTS
    raise_fd_limit(n + 1000)
    p = any_pooler(**IDLE_SETTINGS)
    per, secs, before, after = _idle_cost(p, n)
    print("\n%d idle clients on %s: RSS %d kB -> %d kB, %.2f kB per client (opened in %.1f s)"
          % (n, harness.flavor(), before, after, per, secs))
    assert p.alive() and console_answers(p)
    totals = wait_pools_idle(p, 15)
    assert totals == {"cl_active": 0, "cl_waiting": 0, "sv_active": 0}, totals
    assert per < 64, "%.1f kB per idle client" % per


@pytest.mark.skipif(not os.path.exists(PGBOUNCER), reason="no %s to compare with" % PGBOUNCER)
@pytest.mark.skipif(harness.is_pgbouncer(), reason="the binary under test is PgBouncer")
@pytest.mark.timeout(180)
@harness.not_under_sanitizer()
def test_idle_client_memory_not_above_pgbouncer(any_pooler):
    """The issue's target: an idle client costs pgsplit no more than PgBouncer, measured
    in the same run (5 % slack for malloc's and the kernel's rounding)."""
    n = IDLE_CLIENTS
    raise_fd_limit(n + 1000)
    costs = {}
    for name, binary in (("pgsplit", None), ("pgbouncer", PGBOUNCER)):
        p = any_pooler(binary=binary, **IDLE_SETTINGS)
        per, secs, before, after = _idle_cost(p, n)
        costs[name] = per
        print("\n%d idle clients on %s: RSS %d kB -> %d kB, %.2f kB per client "
              "(opened in %.1f s)" % (n, name, before, after, per, secs))
    assert costs["pgsplit"] <= costs["pgbouncer"] * 1.05, \
        "pgsplit %.2f kB per idle client vs PgBouncer %.2f kB" % (
            costs["pgsplit"], costs["pgbouncer"])


def _storm_client(p, k, rnd, errors):
    """One short-lived client; how it ends depends on k."""
    try:
        r = pgwire.Raw(p.host, p.port, timeout=15)
    except OSError as e:
        errors.append("connect: %s" % e)
        return
    try:
        how = k % 4
        if how == 0:
            return                                   # TCP connect, then gone
        if how == 1:
            r.send(pgwire.startup_packet({"user": "app", "database": "app"})[:7])
            return                                   # half a startup packet
        r.login("app", "app", "apppass")
        if how == 3:
            rows, errs = r.simple("SELECT %d" % k)
            if errs or rows != [[str(k)]]:
                errors.append("query %d: %r %r" % (k, rows, errs))
            if rnd.random() < 0.5:
                r.send(pgwire.terminate())
    except (pgwire.Closed, OSError, AssertionError) as e:
        errors.append("client %d: %s" % (k, e))
    finally:
        r.close()


@pytest.mark.timeout(180)
def test_connect_disconnect_storm(pooler):
    total, nthreads = 2000, 16
    raise_fd_limit(4096)
    p = pooler(pool_mode="transaction", max_client_conn="2000", default_pool_size="10")
    errors = []
    counter = iter(range(total))
    lock = threading.Lock()

    def worker(seed):
        rnd = random.Random(seed)
        while True:
            with lock:
                k = next(counter, None)
            if k is None:
                return
            _storm_client(p, k, rnd, errors)

    t0 = time.time()
    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(150)
    secs = time.time() - t0
    stuck = [t for t in threads if t.is_alive()]
    print("\nstorm: %d connect/disconnects by %d threads in %.1f s, %d client errors, RSS %d kB"
          % (total, nthreads, secs, len(errors), harness.rss_kb(p.proc.pid)))
    assert not stuck, "%d storm threads stuck" % len(stuck)
    assert p.alive(), "pooler died in the storm"
    assert console_answers(p)
    assert not errors, "%d client errors, e.g. %s" % (len(errors), errors[:5])
    totals = wait_pools_idle(p, 15)
    assert totals == {"cl_active": 0, "cl_waiting": 0, "sv_active": 0}, totals
    c = p.connect()
    assert query1(c, "SELECT 1") == 1


# ---- SIGHUP in a loop under load ------------------------------------------------------

@pytest.mark.timeout(120)
def test_sighup_loop_under_pgbench(pooler):
    pool_size = 10
    p = pooler(pool_mode="transaction", default_pool_size=str(pool_size))
    result = {}

    def bench():
        result["r"] = harness.pgbench(p, ["-c", "10", "-j", "2", "-T", "6", "-n"])

    t = threading.Thread(target=bench, daemon=True)
    t.start()
    time.sleep(1.0)
    reloads = 0
    for i in range(30):
        # Alternate a harmless setting so each reload really changes the config.
        p.settings["server_idle_timeout"] = str(600 + i % 2)
        p.reload(wait=0.1)
        reloads += 1
        assert p.alive(), "pooler died at reload %d" % reloads
    t.join(60)
    assert not t.is_alive(), "pgbench did not finish"
    r = result["r"]
    print("\nSIGHUP loop: %d reloads, pgbench processed %s, failed %s, tps %s"
          % (reloads, r.processed, r.failed, r.tps))
    assert r.proc.returncode == 0, "pgbench failed:\n%s" % r.out[-2000:]
    assert r.processed and r.processed > 0, r.out[-2000:]
    assert r.failed in (0, None), "%s failed transactions" % r.failed
    assert "error" not in r.proc.stderr.lower(), r.proc.stderr[-2000:]
    assert console_answers(p)
    totals = wait_pools_idle(p, 10)
    assert totals == {"cl_active": 0, "cl_waiting": 0, "sv_active": 0}, totals
    servers = [s for s in harness.admin(p, "SHOW SERVERS") if s["database"] == "bench"]
    assert len(servers) <= pool_size, "%d server connections for a pool of %d" % (
        len(servers), pool_size)
