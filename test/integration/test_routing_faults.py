"""Routing and read-your-writes under faults: replicas that
crash, freeze, fall behind, get promoted or all go away while clients keep reading.

These tests stop, freeze and promote servers, so they never touch the shared session
cluster: a module-scoped cluster of their own serves the tests that can put it back
(restart, SIGCONT, resume replay), and a fresh cluster per test serves promotion,
which cannot be undone.  Every case is judged by the server that answered
(pg_is_in_recovery(), inet_server_port()); the pooler's log is only used to learn
*when* it noticed a fault, so that "no error for transactions started afterwards"
can be checked.
"""

import os
import re
import signal
import subprocess
import threading
import time
import uuid

import psycopg
import pytest

import harness
from harness import pgcluster, query1
from tcprelay import TcpRelay

# One xdist worker runs this module (--dist loadgroup): its module fixtures are made once.
pytestmark = [pytest.mark.xdist_group("routing_faults"),
              harness.pgsplit_only("read/write routing is pgsplit's own feature")]

WHERE = "SELECT pg_is_in_recovery(), inet_server_port()"
PG_CTL = os.path.join(pgcluster.PG_BIN, "pg_ctl")

# pids stopped with SIGSTOP and not yet continued: every cleanup path continues them,
# or the cluster's own teardown would hang on a frozen postmaster.
_frozen = set()


# ---- clusters ---------------------------------------------------------------------

def new_cluster():
    return harness.create_cluster("pgsplit-faults-")


def server_running(server):
    res = pgcluster.run_as_pg([PG_CTL, "-D", server.datadir, "status"], check=False)
    return res.returncode == 0


def heal(cluster):
    """Put the module cluster back: nothing frozen, every replica running and replaying."""
    thaw(list(_frozen))
    for r in cluster.replicas:
        if not server_running(r):
            r.start()
    for r in cluster.replicas:
        r.psql("SELECT pg_wal_replay_resume()", check=False)
    cluster.wait_replay()


def destroy(cluster):
    thaw(list(_frozen))
    cluster.destroy()


@pytest.fixture(scope="module")
def _module_cluster():
    c = new_cluster()
    yield c
    destroy(c)


@pytest.fixture
def fcluster(_module_cluster):
    """The module's cluster, healthy at the start and at the end of each test."""
    heal(_module_cluster)
    yield _module_cluster
    heal(_module_cluster)


@pytest.fixture
def fresh_cluster():
    """A cluster for one destructive test (promotion)."""
    c = new_cluster()
    yield c
    destroy(c)


# ---- poolers ----------------------------------------------------------------------

@pytest.fixture
def make_pooler(request):
    """Factory: make_pooler(cluster, replicas=None, **settings) -> a started Pooler whose
    `app` database routes to `replicas` (default: all of the cluster's).  Teardown as in
    conftest.py's pooler fixture: a crash or a sanitizer report fails the test.  With
    FAULTS_KEEP_LOG=DIR in the environment each pooler's whole log is copied there."""
    made = []

    def factory(cluster, replicas=None, **settings):
        settings.setdefault("pool_mode", "transaction")
        reps = replicas if replicas is not None else cluster.replicas
        reps = ",".join("127.0.0.1:%d" % r.port for r in reps)

        def build():
            p = harness.Pooler(cluster, settings)
            p.databases["app"] = p.connstr("app", replicas=reps)
            return p
        return harness.start_pooler(made, build)

    yield factory
    harness.finish_test_poolers(request, made, os.environ.get("FAULTS_KEEP_LOG"), tail=8000)


# ---- faults -----------------------------------------------------------------------

def postmaster_pid(server):
    with open(os.path.join(server.datadir, "postmaster.pid")) as f:
        return int(f.readline())


def freeze(server):
    """SIGSTOP the postmaster first (so it forks no more), then all of its children."""
    pm = postmaster_pid(server)
    os.kill(pm, signal.SIGSTOP)
    _frozen.add(pm)
    out = subprocess.run(["pgrep", "-P", str(pm)], capture_output=True, text=True).stdout
    for pid in (int(x) for x in out.split()):
        try:
            os.kill(pid, signal.SIGSTOP)
            _frozen.add(pid)
        except ProcessLookupError:
            pass
    return pm


def thaw(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        _frozen.discard(pid)


def crash(server):
    """Immediate shutdown by signal, returning at once (pg_ctl -w would add ~100 ms)."""
    pm = postmaster_pid(server)
    os.kill(pm, signal.SIGQUIT)
    return pm


def wait_gone(pid, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def promote(server):
    pgcluster.run_as_pg([PG_CTL, "-D", server.datadir, "-w", "-t", "30", "promote"])


def down_re(server):
    return r"replica 127\.0\.0\.1:%d is down" % server.port


def promoted_re(server):
    return r"replica 127\.0\.0\.1:%d is no longer in recovery" % server.port


def primary_conn(cluster, db="app"):
    """A superuser connection straight to the primary (not through the pooler)."""
    return psycopg.connect(host=cluster.sockdir, port=cluster.port, user="postgres", dbname=db,
                           autocommit=True)


# ---- client load ------------------------------------------------------------------

class Rec:
    __slots__ = ("after", "error", "row")

    def __init__(self, after, error, row):
        self.after, self.error, self.row = after, error, row

    def __repr__(self):
        return "Rec(after=%s, %s)" % (self.after, self.error or self.row)


class ReadLoad:
    """`n` client threads, each on its own connection, running autocommit reads through
    the pooler until stopped.  Each result records whether the `noticed` event was set
    when its transaction (or the reconnect before it) started.  A client whose
    connection broke reconnects.  read(conn) -> row, if given, runs each read instead
    of `sql`."""

    def __init__(self, pooler, n=20, sql=WHERE, read=None):
        self.pooler, self.sql = pooler, sql
        self.read = read or (lambda conn: conn.execute(self.sql).fetchone())
        self.noticed = threading.Event()
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.records = []
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(n)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def _run(self):
        conn = None
        while not self.done.is_set():
            after = self.noticed.is_set()
            try:
                if conn is None:
                    conn = harness.connect(self.pooler, track=False, connect_timeout=5)
                rec = Rec(after, None, tuple(self.read(conn)))
            except psycopg.Error as e:
                rec = Rec(after, "%s: %s" % (type(e).__name__, str(e).strip()), None)
                if conn is not None:
                    conn.close()
                conn = None
            with self.lock:
                self.records.append(rec)
            if rec.error:
                time.sleep(0.05)
        if conn is not None:
            conn.close()

    def snapshot(self):
        with self.lock:
            return list(self.records)

    def after(self):
        return [r for r in self.snapshot() if r.after]

    def wait_until(self, pred, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if pred(self.snapshot()):
                return True
            time.sleep(0.05)
        return pred(self.snapshot())

    def ports_seen(self, recs=None):
        recs = self.snapshot() if recs is None else recs
        return {r.row[1] for r in recs if r.row}

    def stop(self, timeout=15):
        """Stop the clients; returns the threads still stuck in a call."""
        self.done.set()
        deadline = time.time() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.time()))
        return [t for t in self.threads if t.is_alive()]


def check_after_notice(load, good_rows, n=200, timeout=20):
    """Run until `n` transactions started after the pooler noticed the fault; every
    one of them must have succeeded on a server in `good_rows`."""
    load.noticed.set()
    load.wait_until(lambda recs: sum(r.after for r in recs) >= n, timeout)
    stuck = load.stop()
    after = load.after()
    errors = [r for r in after if r.error]
    before = [r for r in load.snapshot() if not r.after]
    print("transactions before the notice: %d (%d errors), after: %d (%d errors)" % (
        len(before), sum(1 for r in before if r.error), len(after), len(errors)))
    wrong = [r for r in after if r.row and r.row not in good_rows]
    assert not stuck, "%d client threads stuck in a call" % len(stuck)
    assert len(after) >= n, "only %d transactions completed after the pooler noticed" % len(after)
    assert not errors, "%d of %d transactions after the notice failed, e.g. %s" % (
        len(errors), len(after), errors[:5])
    assert not wrong, "%d reads after the notice answered by the wrong server, e.g. %s" % (
        len(wrong), wrong[:5])
    return after


def start_load_on_both(pooler, cluster, n=20):
    """A started load that has already been answered by both replicas."""
    load = ReadLoad(pooler, n).start()
    ports = {r.port for r in cluster.replicas}
    ok = load.wait_until(lambda recs: load.ports_seen(recs) >= ports, 10)
    if not ok:
        load.stop()
    assert ok, "before the fault, reads did not reach both replicas: %s" % load.snapshot()[-10:]
    errors = [r for r in load.snapshot() if r.error]
    assert not errors, "errors before any fault: %s" % errors[:5]
    return load


def comes_back(pooler, server, timeout=10, n=20):
    """Under a concurrent read load, the server's port is seen again within `timeout`,
    with no client error meanwhile."""
    load = ReadLoad(pooler, n).start()
    try:
        seen = load.wait_until(lambda recs: server.port in load.ports_seen(recs), timeout)
    finally:
        stuck = load.stop()
    recs = load.snapshot()
    errors = [r for r in recs if r.error]
    assert seen, "replica %d not back in rotation after %ss; ports seen %s" % (
        server.port, timeout, load.ports_seen(recs))
    assert not stuck and not errors, "while the replica came back: %d stuck, errors %s" % (
        len(stuck), errors[:5])


def reads_on(conn, n):
    return [tuple(conn.execute(WHERE).fetchone()) for _ in range(n)]


# ---- 1. a replica crashes under load ----------------------------------------------

@pytest.mark.timeout(120)
@pytest.mark.parametrize("lb", ["round_robin", "least_connections"])
def test_replica_stopped_under_read_load(fcluster, make_pooler, lb):
    victim, other = fcluster.replicas
    p = make_pooler(fcluster, replica_lb=lb)
    load = start_load_on_both(p, fcluster)
    try:
        victim.stop(mode="immediate")
        noticed = p.wait_log(down_re(victim), 10)
        assert noticed, "no 'is down' line within 10 s of stopping replica %d" % victim.port
        check_after_notice(load, {(True, other.port)})
    finally:
        load.stop()
    victim.start()
    comes_back(p, victim)


# ---- 2. a replica freezes (SIGSTOP) -----------------------------------------------

@pytest.mark.timeout(120)
def test_replica_frozen_then_continued(fcluster, make_pooler):
    other, victim = fcluster.replicas
    p = make_pooler(fcluster, replica_lb="round_robin", query_timeout=2, server_connect_timeout=2)
    load = start_load_on_both(p, fcluster)
    try:
        freeze(victim)
        t0 = time.time()
        noticed = p.wait_log(r"%s|:%d closing because: replica check timed out"
                             % (down_re(victim), victim.port), 15)
        assert noticed, "frozen replica %d not taken out within 15 s" % victim.port
        print("pooler noticed the frozen replica after %.1fs: %s" % (time.time() - t0, noticed.group(0)))
        check_after_notice(load, {(True, other.port)})
    finally:
        load.stop()
        thaw(list(_frozen))
    comes_back(p, victim)


# ---- 3. a replica is promoted -----------------------------------------------------

@pytest.mark.timeout(120)
def test_promoted_replica_leaves_rotation(fresh_cluster, make_pooler):
    other, victim = fresh_cluster.replicas
    p = make_pooler(fresh_cluster, replica_lb="round_robin")
    load = start_load_on_both(p, fresh_cluster)
    try:
        promote(victim)
        assert victim.psql("SELECT pg_is_in_recovery()") == "f"
        noticed = p.wait_log(promoted_re(victim), 10)
        assert noticed, "no 'no longer in recovery' line within 10 s of promoting %d" % victim.port
        check_after_notice(load, {(True, other.port)})
    finally:
        load.stop()
    # a fresh client too, on one connection, many transactions
    c = p.connect()
    assert set(reads_on(c, 30)) == {(True, other.port)}


# ---- 4. a replica lags over replica_max_lag ----------------------------------------

class PrimaryWriter:
    """Writes on the primary every 50 ms (straight to it, not through the pooler)."""

    def __init__(self, cluster):
        self.conn = primary_conn(cluster)
        self.conn.execute("CREATE TABLE IF NOT EXISTS fault_lag(id serial, at timestamptz)")
        cluster.wait_replay()  # the table exists on every replica before one is paused
        self.done = threading.Event()
        self.errors = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.done.is_set():
            try:
                self.conn.execute("INSERT INTO fault_lag(at) VALUES (now())")
            except psycopg.Error as e:
                self.errors.append(e)
            time.sleep(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join(5)
        self.conn.close()


@pytest.mark.timeout(120)
def test_lagging_replica_leaves_and_rejoins(fcluster, make_pooler):
    victim, other = fcluster.replicas
    p = make_pooler(fcluster, replica_lb="round_robin", replica_max_lag=1)
    c = p.connect()
    assert {port for _ri, port in reads_on(c, 10)} == {victim.port, other.port}
    with PrimaryWriter(fcluster) as writer:
        victim.pause_replay()
        try:
            lagging = p.wait_log(r"replica 127\.0\.0\.1:%d: \w+ -> lagging" % victim.port, 10)
            assert lagging, "replica %d with replay paused not marked lagging in 10 s" % victim.port
            # the replica really is behind, and no read reaches it any more
            assert int(victim.psql("SELECT count(*) FROM fault_lag", db="app")) < \
                int(fcluster.primary.psql("SELECT count(*) FROM fault_lag", db="app"))
            rows = reads_on(c, 40)
            assert set(rows) == {(True, other.port)}, rows
        finally:
            victim.psql("SELECT pg_wal_replay_resume()")
        back = p.wait_log(r"replica 127\.0\.0\.1:%d: lagging -> up" % victim.port, 10)
        assert back, "replica %d not back up within 10 s of resuming replay" % victim.port
        deadline = time.time() + 5
        seen = set()
        while victim.port not in seen and time.time() < deadline:
            seen |= {port for _ri, port in reads_on(c, 4)}
        assert victim.port in seen, "caught-up replica not used again: %s" % seen
        assert not writer.errors


# ---- 5. every replica down, with each replica_fallback ----------------------------

@pytest.mark.timeout(120)
def test_all_replicas_down_fallback_primary_and_error(fcluster, make_pooler):
    fb_primary = make_pooler(fcluster, replica_lb="round_robin", replica_fallback="primary")
    fb_error = make_pooler(fcluster, replica_lb="round_robin", replica_fallback="error")
    cp, ce = fb_primary.connect(), fb_error.connect()
    # both poolers route reads to replicas before the fault (and their monitors run)
    assert all(ri for ri, _port in reads_on(cp, 4))
    assert all(ri for ri, _port in reads_on(ce, 4))
    for r in fcluster.replicas:
        r.stop(mode="immediate")
    for p in (fb_primary, fb_error):
        for r in fcluster.replicas:
            assert p.wait_log(down_re(r), 10), "pooler %s: no 'is down' for %d" % (p.port, r.port)

    # fallback = primary: reads succeed, answered by the primary; many transactions,
    # long enough for the down replicas' retry backoff to pass (they get probed)
    deadline = time.time() + 2.5
    rows = []
    while time.time() < deadline:
        rows += reads_on(cp, 5)
    assert set(rows) == {(False, fcluster.port)}, set(rows)
    assert set(reads_on(fb_primary.connect(), 5)) == {(False, fcluster.port)}

    # fallback = error: reads fail with 57P03 (simple and extended protocol) ...
    for _ in range(3):
        with pytest.raises(psycopg.errors.CannotConnectNow) as ei:
            ce.execute("SELECT pg_is_in_recovery()")
        assert ei.value.sqlstate == "57P03"
        with pytest.raises(psycopg.errors.CannotConnectNow):
            ce.execute("SELECT pg_is_in_recovery() WHERE %s = 1", (1,))
        time.sleep(0.5)  # across the down replicas' retry backoff
    with pytest.raises(psycopg.errors.CannotConnectNow):
        fb_error.connect().execute("SELECT 1")
    # ... and writes still work, on the same connection and on a new one
    assert query1(ce, "SELECT pg_is_in_recovery() FROM (SELECT txid_current()) t") is False
    assert query1(fb_error.connect(), "SELECT pg_is_in_recovery() FROM (SELECT txid_current()) t") is False

    # replicas back: the error pooler serves reads from them again
    for r in fcluster.replicas:
        r.start()
    deadline = time.time() + 10
    last = None
    while time.time() < deadline:
        try:
            last = tuple(ce.execute(WHERE).fetchone())
            if last[0]:
                break
        except psycopg.errors.CannotConnectNow as e:
            last = e
        time.sleep(0.1)
    assert isinstance(last, tuple) and last[0] is True, "no replica read after restart: %r" % (last,)


# ---- 6. read-your-writes across a replica failure / promotion ----------------------

def ryw_table(cluster):
    cluster.primary.psql("CREATE TABLE IF NOT EXISTS ryw_fault(k text PRIMARY KEY, v int); "
                         "GRANT ALL ON ryw_fault TO app", db="app")
    cluster.wait_replay()


READ_KEY = ("SELECT count(*), pg_is_in_recovery(), inet_server_port() FROM ryw_fault "
            "WHERE k = %s")


def parse_lsn(text):
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def wait_observed(pooler, primary, replica, timeout=10):
    """Wait until the pooler's monitor has seen `replica` replay everything the primary
    has written so far (SHOW REPLICAS), so that a read with the latest write's floor
    may be routed to it.  Only a synchronisation aid: nothing is judged from it."""
    target = parse_lsn(query1(primary, "SELECT pg_current_wal_insert_lsn()::text"))
    deadline = time.time() + timeout
    while time.time() < deadline:
        for row in pooler.admin("SHOW REPLICAS"):
            if row["port"] == replica.port and row["replay_lsn"] and \
                    parse_lsn(row["replay_lsn"]) >= target and row["state"] == "up":
                return True
        time.sleep(0.02)
    return False


class RywRun:
    """Write a unique row, read it back at once on the same client; count stale reads
    (the row not there) and errors, per iteration."""

    def __init__(self, pooler):
        self.pooler = pooler
        self.conn = pooler.connect()
        self.stale, self.errors, self.rows = [], [], []

    def one(self, i, before_read=None):
        key = uuid.uuid4().hex
        try:
            self.conn.execute("INSERT INTO ryw_fault VALUES (%s, 1)", (key,))
            if before_read:
                before_read()
            row = tuple(self.conn.execute(READ_KEY, (key,)).fetchone())
        except psycopg.Error as e:
            self.errors.append((i, "%s: %s" % (type(e).__name__, str(e).strip())))
            self.conn.close()
            self.conn = self.pooler.connect()
            return None
        self.rows.append((i, row))
        if row[0] != 1:
            self.stale.append((i, row))
        return key

    def served_by(self, port, first=0, last=10 ** 9):
        return [(i, row) for i, row in self.rows if first <= i <= last and row[2] == port]


def stale_reader_sees(pooler, key, replica, tries=20):
    """Control: a client with no writes of its own reads `key` from `replica` and does
    not find it (so that replica is in rotation and stale; the test could fail)."""
    c = pooler.connect()
    rows = [tuple(c.execute(READ_KEY, (key,)).fetchone()) for _ in range(tries)]
    return (0, True, replica.port) in rows, rows


@pytest.mark.timeout(120)
def test_ryw_when_a_replica_goes_down_with_a_pending_write(fcluster, make_pooler):
    """Replica A's replay is paused (stale); replica B crashes mid-run.  The crash comes
    right after a write that the pooler has seen B replay, with a slow check period, so
    the read that follows is routed to B while the pooler still believes it is up: it
    finds B dead and must then go to the primary, never to A."""
    stale_rep, victim = fcluster.replicas
    ryw_table(fcluster)
    p = make_pooler(fcluster, read_your_writes="lsn", replica_max_lag=1000, replica_lb="round_robin",
                    replica_check_period=1)
    primary = primary_conn(fcluster)
    run = RywRun(p)
    crash_at = 50
    pm = None

    def victim_caught_up():
        assert wait_observed(p, primary, victim), "the monitor never saw replica B catch up"

    def crash_victim():
        nonlocal pm
        victim_caught_up()
        pm = crash(victim)
        time.sleep(0.05)  # its backends are gone, the pooler's idle links see EOF

    stale_rep.pause_replay()
    try:
        for i in range(200):
            if i == crash_at:
                run.one(i, crash_victim)
                assert wait_gone(pm), "replica %d did not exit after SIGQUIT" % victim.port
                assert p.wait_log(down_re(victim), 5), "crash of replica %d not noticed" % victim.port
            else:
                run.one(i, victim_caught_up if i < crash_at and i % 10 == 5 else None)
        last_key = run.one(200)
        seen_stale, control = stale_reader_sees(p, last_key, stale_rep)
    finally:
        stale_rep.psql("SELECT pg_wal_replay_resume()")
        primary.close()
    print("re-routes: %s" % re.findall(r"re-routing waiting client.*", p.output()))
    print("reads by server: %s" % sorted({(row[1], row[2]) for _i, row in run.rows}))
    assert not run.stale, "%d stale reads: %s" % (len(run.stale), run.stale[:10])
    late_errors = [e for e in run.errors if e[0] != crash_at]
    assert not late_errors, "errors after the pooler noticed: %s" % late_errors
    if run.errors:
        print("error in the crash iteration (started before the pooler noticed): %s" % run.errors)
    # the scenario really happened: B served reads with a floor before it crashed, and A
    # was in rotation and stale throughout
    assert run.served_by(victim.port, 0, crash_at - 1), "replica B never served a read"
    assert seen_stale, "control failed: the paused replica never answered a fresh client: %s" % control


@pytest.mark.timeout(120)
def test_ryw_when_a_replica_is_promoted_mid_run(fresh_cluster, make_pooler):
    """Replica A's replay is paused (stale); replica B is promoted mid-run right after
    it replayed the client's write.  A promoted B never sees later writes: no read may
    reach it once it is out of rotation, and none may be stale.  The primary keeps
    running, so with primary_discovery on this is a split brain and writes would wait
    (test_failover.py covers that); this test is about reads, with discovery off."""
    stale_rep, victim = fresh_cluster.replicas
    ryw_table(fresh_cluster)
    p = make_pooler(fresh_cluster, read_your_writes="lsn", replica_max_lag=1000,
                    replica_lb="round_robin", replica_check_period=0.05, primary_discovery=0)
    primary = primary_conn(fresh_cluster)
    run = RywRun(p)
    promote_at = 50

    def victim_caught_up():
        assert wait_observed(p, primary, victim), "the monitor never saw replica B catch up"

    def promote_victim():
        victim_caught_up()
        promote(victim)

    stale_rep.pause_replay()
    try:
        for i in range(200):
            if i == promote_at:
                run.one(i, promote_victim)
                assert p.wait_log(promoted_re(victim), 5), "promotion not noticed in 5 s"
            else:
                run.one(i, victim_caught_up if i < promote_at and i % 5 == 2 else None)
        last_key = run.one(200)
        seen_stale, control = stale_reader_sees(p, last_key, stale_rep)
    finally:
        stale_rep.psql("SELECT pg_wal_replay_resume()")
        primary.close()
    print("reads by server: %s" % sorted({(row[1], row[2]) for _i, row in run.rows}))
    assert not run.stale, "%d stale reads: %s" % (len(run.stale), run.stale[:10])
    assert not run.errors, "client errors: %s" % run.errors[:10]
    late = run.served_by(victim.port, promote_at + 1)
    assert not late, "reads reached the promoted server: %s" % late[:10]
    assert run.served_by(victim.port, 0, promote_at - 1), "replica B never served a read"
    assert seen_stale, "control failed: the paused replica never answered a fresh client: %s" % control


# ---- 4. the primary itself changes (failover) ----------------------------------------

def wait_replayed_to(server, lsn_text, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.psql("SELECT pg_last_wal_replay_lsn() >= '%s'" % lsn_text) == "t":
            return
        time.sleep(0.05)
    raise AssertionError("%s never replayed %s" % (server.name, lsn_text))


def clone_replica(cluster, source, name):
    """A new streaming replica of `source` (pg_basebackup -R -c fast), started."""
    rep = pgcluster.Server(name, os.path.join(cluster.basedir, name), pgcluster.free_port(),
                           cluster.sockdir)
    pgcluster.run_as_pg([os.path.join(pgcluster.PG_BIN, "pg_basebackup"), "-D", rep.datadir,
                         "-R", "-c", "fast", "-X", "stream", "-h", cluster.sockdir,
                         "-p", str(source.port), "-U", pgcluster.SUPERUSER, "--no-sync"])
    with open(os.path.join(rep.datadir, "postgresql.conf"), "a") as f:
        f.write("\nport = %d\n" % rep.port)
    rep.start()
    cluster.replicas.append(rep)  # stopped and removed with the cluster
    return rep


@pytest.mark.timeout(150)
def test_failover_clears_floors_and_drops_a_replica_of_the_old_timeline(fresh_cluster, make_pooler):
    """A real failover: replica A (stopped early, so behind) is promoted after the primary
    dies; replica B had replayed the old primary further than A ever will, so it is on a
    history the new primary does not share.  After the pooler is re-pointed at A:
    - B never serves a read (its position would satisfy any new floor, and every row
      written on A would be missing there);
    - a client's floor from the old primary no longer holds its reads on the primary
      once a clean replica of A is in rotation (floors belong to a timeline);
    - a write on A is always visible to the same client's next read."""
    cl = fresh_cluster
    old_primary = cl.primary
    new_primary, diverged = cl.replicas
    cl.primary.psql("CREATE TABLE fo_t(k text); GRANT ALL ON fo_t TO app", db="app")
    cl.wait_replay()
    p = make_pooler(cl, read_your_writes="lsn", replica_check_period=0.05,
                    replica_lb="round_robin", replica_max_lag=0)
    new_primary.stop("fast")

    # an old-timeline writer: its floor is far beyond where A stopped
    old_writer = p.connect(prepare_threshold=None)
    old_writer.execute("INSERT INTO fo_t SELECT 'bulk' FROM generate_series(1, 20000)")
    old_floor = cl.primary.psql("SELECT pg_current_wal_lsn()")
    wait_replayed_to(diverged, old_floor)

    old_primary.stop("immediate")
    new_primary.start()
    promote(new_primary)
    assert new_primary.psql("SELECT pg_is_in_recovery()") == "f"
    p.databases["app"] = p.connstr("app", port=new_primary.port,
                                   replicas="127.0.0.1:%d" % diverged.port)
    p.reload()
    assert p.wait_log(r"the primary of database app (is on timeline|went back)", 10), \
        "the pooler never noticed the new primary"
    assert p.wait_log(r"replica 127\.0\.0\.1:%d has replayed .* another timeline" % diverged.port, 10), \
        "the replica of the old timeline stayed in rotation"

    writer = p.connect(prepare_threshold=None)
    for i in range(20):
        writer.execute("INSERT INTO fo_t VALUES (%s)", ("new-%d" % i,))
        n, in_recovery, port = writer.execute(
            "SELECT count(*), pg_is_in_recovery(), inet_server_port() FROM fo_t WHERE k = %s",
            ("new-%d" % i,)).fetchone()
        assert n == 1, "read after own write on the new primary was stale (served by %d)" % port
        assert port != diverged.port
    fresh = p.connect(prepare_threshold=None)
    ports = {tuple(fresh.execute(WHERE).fetchone())[1] for _ in range(10)}
    assert diverged.port not in ports, "a read reached the replica of the old timeline"

    # a clean replica of the new primary joins: the old writer's floor (old timeline,
    # beyond anything the new primary has written) must not keep its reads on the primary
    clean = clone_replica(cl, new_primary, "replica3")
    p.databases["app"] = p.connstr("app", port=new_primary.port,
                                   replicas="127.0.0.1:%d,127.0.0.1:%d" % (diverged.port, clean.port))
    p.reload()
    deadline = time.time() + 15
    served = set()
    while time.time() < deadline and clean.port not in served:
        served.add(tuple(old_writer.execute(WHERE).fetchone())[1])
        time.sleep(0.05)
    assert clean.port in served, \
        "a floor from the old primary kept the client's reads on the new primary: %s" % served
    assert diverged.port not in served
    # and a new write by that client is still read back (from A or the caught-up clone)
    old_writer.execute("INSERT INTO fo_t VALUES ('old-writer-again')")
    assert old_writer.execute("SELECT count(*) FROM fo_t WHERE k = 'old-writer-again'").fetchone()[0] == 1


# ---- 5. the network to a replica goes black ------------------------------------------

@pytest.mark.timeout(120)
def test_replica_network_black_holed_mid_run(fcluster, make_pooler):
    """Replica B is reached through a relay that goes silent mid-run (connections stay
    open, nothing comes back, new connections are accepted and never answered).  The
    pooler must take B out within its timeouts and keep every later read flowing to A
    without an error or a stuck client; when the network heals, B comes back."""
    other, victim = fcluster.replicas
    proxy = TcpRelay(("127.0.0.1", victim.port))

    class Via:
        port = proxy.port

    try:
        # query_timeout also bounds a client's wait for a server; 5 s, not 2, because in
        # the sanitizer pass under CI load a new server connection through the Python
        # relay once took over 2 s before any fault (reads failed with query_timeout)
        p = make_pooler(fcluster, replicas=[other, Via], replica_lb="round_robin",
                        query_timeout=5, server_connect_timeout=2, replica_check_period=0.2)
        load = start_load_on_both(p, fcluster)
        try:
            proxy.dark.set()
            t0 = time.time()
            noticed = p.wait_log(r"replica 127\.0\.0\.1:%d is down|:%d closing because: replica check timed out"
                                 % (proxy.port, proxy.port), 15)
            assert noticed, "black-holed replica not taken out within 15 s"
            print("pooler noticed the black hole after %.1fs: %s" % (time.time() - t0, noticed.group(0)))
            check_after_notice(load, {(True, other.port)})
        finally:
            load.stop()
        # a fresh client is not held up by the dark replica either
        t0 = time.time()
        c = harness.connect(p, track=False, connect_timeout=5, prepare_threshold=None)
        rows = reads_on(c, 20)
        c.close()
        assert set(rows) == {(True, other.port)} and time.time() - t0 < 5, (rows, time.time() - t0)
        proxy.dark.clear()
        comes_back(p, victim, timeout=20)
    finally:
        proxy.close()
