"""Failover without a config change: the pooler follows a promoted replica.

Each test gets a fresh cluster (a primary and two streaming replicas), because a
promotion cannot be undone.  The pooler's configuration is the one written for a
healthy cluster (host= the primary, replicas= both standbys) and is never edited.
Every case is judged by the server that answered (inet_server_port(),
pg_is_in_recovery()) and by what the clients saw.
"""

import os
import shutil
import signal
import subprocess
import threading
import time
import uuid

import psycopg
import pytest

import harness
from harness import pgcluster

pytestmark = harness.pgsplit_only("primary discovery is pgsplit's own feature")

PG_CTL = os.path.join(pgcluster.PG_BIN, "pg_ctl")
WHERE = "SELECT inet_server_port(), pg_is_in_recovery()"
CHECK_PERIOD = 0.1


@pytest.fixture
def cl():
    c = harness.create_cluster("pgsplit-failover-")
    c.primary.psql("CREATE TABLE fo(id text PRIMARY KEY, at timestamptz DEFAULT now()); "
                   "GRANT ALL ON fo TO PUBLIC", db="app")
    c.wait_replay()
    yield c
    c.destroy()


@pytest.fixture
def make_pooler(request):
    made = []

    def factory(cluster, **settings):
        settings.setdefault("pool_mode", "transaction")
        settings.setdefault("replica_check_period", CHECK_PERIOD)
        settings.setdefault("replica_lb", "round_robin")
        reps = ",".join("127.0.0.1:%d" % r.port for r in cluster.replicas)

        def build():
            p = harness.Pooler(cluster, settings)
            p.databases["app"] = p.connstr("app", replicas=reps)
            return p
        return harness.start_pooler(made, build)

    yield factory
    harness.finish_test_poolers(request, made, os.environ.get("FAILOVER_KEEP_LOG"), tail=8000)


def promote(server):
    pgcluster.run_as_pg([PG_CTL, "-D", server.datadir, "-w", "-t", "30", "promote"])


def sigkill(server):
    """SIGKILL to the postmaster and to every process it started: nothing is flushed."""
    with open(os.path.join(server.datadir, "postmaster.pid")) as f:
        pm = int(f.readline())
    children = subprocess.run(["pgrep", "-P", str(pm)], capture_output=True, text=True).stdout
    os.kill(pm, signal.SIGKILL)
    for pid in (int(x) for x in children.split()):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert harness.wait_until(lambda: not os.path.exists("/proc/%d" % pm), 10)
    os.unlink(os.path.join(server.datadir, "postmaster.pid"))


def reclone(server, source):
    """Make a stopped server a new standby of source, in the same directory and on the
    same port (pg_basebackup -R -c fast), and start it."""
    shutil.rmtree(server.datadir)
    pgcluster.run_as_pg([os.path.join(pgcluster.PG_BIN, "pg_basebackup"), "-D", server.datadir,
                         "-R", "-c", "fast", "-X", "stream", "-h", source.sockdir,
                         "-p", str(source.port), "-U", pgcluster.SUPERUSER, "--no-sync"])
    with open(os.path.join(server.datadir, "postgresql.conf"), "a") as f:
        f.write("\nport = %d\n" % server.port)
    server.start()


def write_goes_to(p, timeout=10):
    """The port that takes a write through the pooler (a new client each try)."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            with p.connect(connect_timeout=3) as c:
                key = "probe-%s" % uuid.uuid4().hex
                c.execute("INSERT INTO fo(id) VALUES (%s)", (key,))
                return c.execute("SELECT inet_server_port() FROM fo WHERE id = %s FOR UPDATE",
                                 (key,)).fetchone()[0]
        except psycopg.Error as e:
            last = e
            time.sleep(0.05)
    raise AssertionError("no write went through within %ss: %s" % (timeout, last))


class Load:
    """Writers (a unique id per write, then the same client reads it back) and readers,
    each on its own client connection through the pooler, reconnecting after an error."""

    def __init__(self, p, writers=20, readers=4):
        self.p = p
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.acked = []         # (id, monotonic time the INSERT returned)
        self.write_errors = []  # monotonic times
        self.stale = []         # ids a client wrote and then did not see
        self.read_ok = []       # monotonic times of successful reads
        self.read_errors = []
        self.threads = [threading.Thread(target=self.writer, args=(i,)) for i in range(writers)]
        self.threads += [threading.Thread(target=self.reader) for _ in range(readers)]
        for t in self.threads:
            t.start()

    def conn(self):
        while not self.stop_flag.is_set():
            try:
                return self.p.connect(connect_timeout=5)
            except psycopg.Error:
                time.sleep(0.05)
        return None

    def writer(self, n):
        c = self.conn()
        i = 0
        while c and not self.stop_flag.is_set():
            key = "w%d-%d" % (n, i)
            i += 1
            try:
                c.execute("INSERT INTO fo(id) VALUES (%s)", (key,))
                acked_at = time.monotonic()
                with self.lock:
                    self.acked.append((key, acked_at))
                seen = c.execute("SELECT count(*) FROM fo WHERE id = %s", (key,)).fetchone()[0]
                if seen != 1:
                    with self.lock:
                        self.stale.append((key, acked_at, time.monotonic()))
            except psycopg.Error:
                with self.lock:
                    self.write_errors.append(time.monotonic())
                c.close()
                time.sleep(0.02)
                c = self.conn()
        if c:
            c.close()

    def reader(self):
        c = self.conn()
        while c and not self.stop_flag.is_set():
            try:
                c.execute("SELECT count(*) FROM fo").fetchone()
                with self.lock:
                    self.read_ok.append(time.monotonic())
            except psycopg.Error:
                with self.lock:
                    self.read_errors.append(time.monotonic())
                c.close()
                c = self.conn()
            time.sleep(0.005)
        if c:
            c.close()

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(30)

    def acked_after(self, t):
        return [k for k, at in self.acked if at > t]

    def longest_read_gap(self, start, end):
        times = [start] + sorted(x for x in self.read_ok if start <= x <= end) + [end]
        return max(b - a for a, b in zip(times, times[1:]))


@pytest.mark.timeout(120)
def test_writes_follow_a_replica_promoted_after_the_primary_is_killed(cl, make_pooler):
    """SIGKILL the primary while 20 clients write and 4 read, promote a replica: writes
    resume there with no config change, every acknowledged write made after the
    promotion is on the new primary, no client reads stale data after its own write,
    and reads never stop."""
    old, (new, other) = cl.primary, cl.replicas
    p = make_pooler(cl, read_your_writes="lsn")
    assert write_goes_to(p) == old.port
    load = Load(p)
    try:
        time.sleep(1.0)
        t_kill = time.monotonic()
        sigkill(old)
        time.sleep(0.3)  # what an orchestrator takes to decide (Patroni: seconds)
        t_promote = time.monotonic()
        promote(new)
        t_promoted = time.monotonic()
        assert p.wait_log(r"database app: the primary is 127\.0\.0\.1:%d now" % new.port, 5), \
            "the pooler did not take the promoted replica as the primary"
        time.sleep(2.0)
        t_end = time.monotonic()
    finally:
        load.stop()

    resumed = [at for _k, at in load.acked if at > t_promoted]
    assert resumed, "no write succeeded after the promotion"
    unavailable = min(resumed) - t_promoted
    print("write unavailability: kill->promote %.2fs, promote took %.2fs, "
          "promoted->first write %.3fs; %d writes acked, %d write errors; %d reads, "
          "%d read errors; longest gap between reads %.3fs"
          % (t_promote - t_kill, t_promoted - t_promote, unavailable, len(load.acked),
             len(load.write_errors), len(load.read_ok), len(load.read_errors),
             load.longest_read_gap(t_kill, t_end)))
    assert unavailable < 2 * CHECK_PERIOD + 1.0, \
        "writes came back %.2fs after the promotion" % unavailable
    # reads go on from the replicas while the primary is gone
    assert load.longest_read_gap(t_kill, t_end) < 1.0
    assert len(load.read_errors) <= 4, "each reader may lose at most its one in-flight read"
    # a writer loses the INSERT that was running on the killed primary, nothing after it
    assert len(load.write_errors) <= 20, "%d write errors" % len(load.write_errors)

    on_new = set(r[0] for r in psycopg.connect(new.dsn("app"), autocommit=True)
                 .execute("SELECT id FROM fo").fetchall())
    after = load.acked_after(t_promoted)
    assert after and all(k in on_new for k in after), \
        "writes acknowledged after the promotion are missing on the new primary"
    # a read that missed its own write is the pooler's fault only if the row exists on
    # the new primary; otherwise PostgreSQL lost the write (asynchronous replication)
    stale = [s for s in load.stale if s[0] in on_new]
    assert stale == [], "stale reads after own writes (id, acked, read; kill at %.3f, " \
        "promoted at %.3f): %s" % (t_kill, t_promoted, stale[:5])
    lost_by_postgres = [k for k, at in load.acked if at < t_kill + 0.5 and k not in on_new]
    print("acknowledged before the kill and not on the new primary (asynchronous "
          "replication, lost by PostgreSQL): %d of %d" % (len(lost_by_postgres),
                                                          len([1 for _k, at in load.acked
                                                               if at < t_kill])))
    assert write_goes_to(p) == new.port
    roles = {(r["host"], r["port"]): r for r in harness.admin(p, "SHOW REPLICAS")}
    assert roles[("127.0.0.1", new.port)]["role"] == "primary"
    assert roles[("127.0.0.1", new.port)]["timeline"] == 2
    assert roles[("127.0.0.1", other.port)]["role"] == "replica"
    dbs = {r["name"]: r for r in harness.admin(p, "SHOW DATABASES")}
    assert dbs["app"]["port"] == new.port, "SHOW DATABASES does not show the new primary"


@pytest.mark.timeout(120)
def test_two_primaries_hold_writes_until_the_operator_chooses(cl, make_pooler):
    """A replica promoted while the primary still runs: both answer as a primary. No
    write goes to either (the client waits, then gets query_wait_timeout's error), the
    pooler logs an error at every check, reads go on; CHOOSE PRIMARY settles it."""
    old, (rival, other) = cl.primary, cl.replicas
    p = make_pooler(cl, query_wait_timeout=2)
    assert write_goes_to(p) == old.port
    promote(rival)
    assert p.wait_log(r"database app: more than one server claims to be the primary", 5)
    t0 = time.time()
    with p.connect() as c:
        with pytest.raises(psycopg.OperationalError, match="query_wait_timeout"):
            c.execute("INSERT INTO fo(id) VALUES ('split')")
    assert time.time() - t0 >= 1.5, "the write was refused at once instead of waiting"
    for srv in (old, rival):
        assert srv.psql("SELECT count(*) FROM fo WHERE id = 'split'", db="app") == "0"
    n_errors = p.log_text().count("more than one server claims to be the primary")
    time.sleep(5 * CHECK_PERIOD)
    assert p.log_text().count("more than one server claims to be the primary") > n_errors, \
        "the split brain is logged once, not at every check"
    with p.connect() as c:  # reads do not wait
        port, in_recovery = c.execute(WHERE).fetchone()
        assert in_recovery and port == other.port

    harness.admin(p, "CHOOSE PRIMARY app 127.0.0.1:%d" % rival.port)
    assert write_goes_to(p, timeout=5) == rival.port
    assert p.wait_log(r"database app: the primary is 127\.0\.0\.1:%d now" % rival.port, 2)
    with pytest.raises(psycopg.Error, match="no such member"):
        harness.admin(p, "CHOOSE PRIMARY app 127.0.0.1:1")


@pytest.mark.timeout(150)
def test_switchover_then_the_old_primary_rejoins_or_is_shut_out(cl, make_pooler):
    """A planned switchover: the primary stops cleanly, a replica is promoted, writes
    follow. The old primary started again as a primary (no rewind, no standby.signal)
    claims the primary role on the old timeline: writes wait, it gets no traffic.
    Stopped and started as a standby of the new primary, it joins the reads."""
    old, (new, other) = cl.primary, cl.replicas
    p = make_pooler(cl, query_wait_timeout=3)
    old.stop("fast")
    promote(new)
    assert write_goes_to(p) == new.port
    with p.connect() as c:
        c.execute("INSERT INTO fo(id) VALUES ('after-switchover')")

    old.start()  # as a primary, on the old timeline
    assert p.wait_log(r"more than one server claims to be the primary", 5), \
        "the old primary back as a primary was not seen as a second primary"
    with p.connect() as c:
        with pytest.raises(psycopg.OperationalError, match="query_wait_timeout"):
            c.execute("INSERT INTO fo(id) VALUES ('to-nowhere')")
    assert old.psql("SELECT count(*) FROM fo WHERE id = 'to-nowhere'", db="app") == "0"

    old.stop("fast")
    assert write_goes_to(p) == new.port, "writes did not resume once the old primary left"
    reclone(old, new)  # it wrote WAL on the old timeline: it cannot follow without this
    seen = set()
    deadline = time.time() + 10
    with p.connect() as writer, p.connect() as reader:
        while time.time() < deadline and old.port not in seen:
            writer.execute("INSERT INTO fo(id) VALUES (%s)", ("tick-%s" % uuid.uuid4().hex,))
            seen.add(reader.execute(WHERE).fetchone()[0])
            time.sleep(0.02)
    assert old.port in seen, "the old primary, now a standby, never served a read: %s" % seen
    rows = {(r["host"], r["port"]): r for r in harness.admin(p, "SHOW REPLICAS")}
    assert rows[("127.0.0.1", old.port)]["role"] == "replica"
