"""A read whose replica dies, or whose replica connection breaks, before any row reached
the client is routed again (another replica or the primary) instead of failing; one that
had already sent rows gets the error.  The replicas are killed and restarted, so these
tests use a cluster of their own (test_routing_faults.py's fixtures)."""

import os
import signal
import subprocess
import threading
import time
import uuid

import psycopg
import pytest

import harness
from test_routing_faults import (_module_cluster, fcluster, make_pooler,  # noqa: F401
                                 postmaster_pid, wait_gone)

pytestmark = harness.pgsplit_only("read/write routing is pgsplit's own feature")

# a read that takes a while, so that some are running on the replica when it dies
SLOW_READ = "SELECT inet_server_port(), pg_is_in_recovery() FROM pg_sleep(0.01)"
SLOW_READ_EXTENDED = "SELECT inet_server_port(), pg_is_in_recovery(), %s::int FROM pg_sleep(0.01)"


class Readers:
    """`n` threads, each on its own autocommit connection, running one read in a loop;
    every read is recorded as (row, error).  prepare=True runs it as a named prepared
    statement (Parse once, then Bind/Execute of that name)."""

    def __init__(self, pooler, n, extended=False):
        self.pooler, self.extended = pooler, extended
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.records = []
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(n)]
        for t in self.threads:
            t.start()

    def _read(self, conn):
        if self.extended:
            return conn.execute(SLOW_READ_EXTENDED, (1,), prepare=True).fetchone()
        return conn.execute(SLOW_READ).fetchone()

    def _run(self):
        conn = None
        while not self.done.is_set():
            try:
                if conn is None:
                    conn = harness.connect(self.pooler, track=False, connect_timeout=5)
                rec = (tuple(self._read(conn)[:2]), None)
            except psycopg.Error as e:
                rec = (None, "%s: %s" % (type(e).__name__, str(e).strip()))
                if conn is not None:
                    conn.close()
                conn = None
            with self.lock:
                self.records.append(rec)
        if conn is not None:
            conn.close()

    def count(self):
        with self.lock:
            return len(self.records)

    def wait_for(self, pred, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline and not pred(self.snapshot()):
            time.sleep(0.02)

    def snapshot(self):
        with self.lock:
            return list(self.records)

    def stop(self):
        self.done.set()
        for t in self.threads:
            t.join(15)
        assert not any(t.is_alive() for t in self.threads), "a reader is stuck in a call"
        return self.snapshot()


def kill_postmaster(server, how):
    """SIGKILL the postmaster (its backends exit when they notice), or SIGQUIT it (what
    `pg_ctl stop -m immediate` sends).  Returns once every process of it is gone, so that
    the server can be started again."""
    pm = postmaster_pid(server)
    children = subprocess.run(["pgrep", "-P", str(pm)], capture_output=True, text=True).stdout
    os.kill(pm, signal.SIGKILL if how == "sigkill" else signal.SIGQUIT)
    for pid in [pm] + [int(x) for x in children.split()]:
        assert wait_gone(pid, 15), "process %d of the killed replica is still there" % pid


def routing_row(pooler):
    return next(r for r in harness.admin(pooler, "SHOW ROUTING") if r["database"] == "app")


# ---- 1. a replica killed under read load ------------------------------------------

@pytest.mark.timeout(90)
@pytest.mark.parametrize("how,extended", [("sigkill", False), ("immediate", False), ("sigkill", True)],
                         ids=["sigkill-simple", "immediate-simple", "sigkill-prepared"])
def test_replica_killed_under_read_load_fails_no_read(fcluster, make_pooler, how, extended):
    victim, other = fcluster.replicas
    p = make_pooler(fcluster, replica_lb="round_robin")
    readers = Readers(p, 10, extended=extended)
    try:
        ports = {victim.port, other.port}
        readers.wait_for(lambda recs: {r[0][0] for r in recs if r[0]} >= ports and len(recs) >= 200, 10)
        killed_at = readers.count()
        kill_postmaster(victim, how)
        gone_at = readers.count()
        readers.wait_for(lambda recs: len(recs) >= killed_at + 400, 10)
    finally:
        recs = readers.stop()
    errors = [e for _, e in recs if e]
    # each reader has at most one read in flight when the victim's last process is gone
    after = [row for row, _ in recs[gone_at + 10:] if row]
    print("%s, %s protocol: %d reads by 10 readers, %d failed, %d started before the kill; "
          "retry_server_lost=%s" % (how, "extended" if extended else "simple", len(recs), len(errors),
                                    killed_at, routing_row(p).get("retry_server_lost")))
    assert {r[0][0] for r in recs[:killed_at] if r[0]} >= {victim.port, other.port}, \
        "before the kill, reads did not reach both replicas"
    assert len(recs) >= killed_at + 400, "only %d reads after the kill" % (len(recs) - killed_at)
    assert not errors, "%d of %d reads failed, e.g. %s" % (len(errors), len(recs), errors[:3])
    assert all(row[0] != victim.port for row in after), "reads still answered by the killed replica"


# ---- 2. a read that had sent rows still fails -------------------------------------

@pytest.mark.timeout(60)
def test_read_that_sent_rows_gets_the_error(fcluster, make_pooler):
    p = make_pooler(fcluster, replica_lb="round_robin")
    conn = harness.connect(p, track=False)
    other_client = harness.connect(p, track=False)
    rows = conn.cursor().stream(
        "SELECT inet_server_port(), g, repeat('x', 2000) FROM generate_series(1, 2000) g "
        "WHERE pg_sleep(0.002) IS NOT NULL")
    port = next(rows)[0]  # rows are reaching the client
    victim = next(r for r in fcluster.replicas if r.port == port)
    kill_postmaster(victim, "sigkill")
    with pytest.raises(psycopg.OperationalError):
        for _ in rows:
            pass
    conn.close()
    # the pooler is fine, and so is a client that was connected all along
    for _ in range(10):
        assert other_client.execute("SELECT pg_is_in_recovery()").fetchone() is not None
    assert routing_row(p)["retry_server_lost"] == 0
    other_client.close()


# ---- 3. the replica backend serving a read is terminated --------------------------

SLEEPER = "pg_sleep(0.5)"


def terminate_sleeper(replicas, timeout=2):
    """pg_terminate_backend() of the backend running a SLEEPER read, from direct
    connections to the replicas; returns the replica it ran on (None: not seen)."""
    sql = ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE state = 'active' "
           "AND query LIKE '%%%s%%' AND pid <> pg_backend_pid()" % SLEEPER)
    direct = [(r, psycopg.connect(r.dsn(), autocommit=True)) for r in replicas]
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            for r, c in direct:
                if c.execute(sql).fetchall():
                    return r
            time.sleep(0.005)
        return None
    finally:
        for _, c in direct:
            c.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("extended", [False, True], ids=["simple", "prepared"])
def test_terminated_replica_backend_read_is_rerun(fcluster, make_pooler, extended):
    p = make_pooler(fcluster, replica_lb="round_robin")
    conn = harness.connect(p, track=False)
    # prepared: the first read sends its Parse, the next ones only Bind the name, which
    # the server the re-run lands on may not have (the pooler prepares it there)
    for _ in range(3):
        marker = "m" + uuid.uuid4().hex
        result = {}

        def read():
            try:
                if extended:
                    result["row"] = conn.execute("SELECT inet_server_port(), %%s::text FROM %s" % SLEEPER,
                                                 (marker,), prepare=True).fetchone()
                else:
                    result["row"] = conn.execute("SELECT inet_server_port(), '%s' FROM %s"
                                                 % (marker, SLEEPER)).fetchone()
            except psycopg.Error as e:
                result["error"] = e
        t = threading.Thread(target=read)
        t.start()
        killed_on = terminate_sleeper(fcluster.replicas)
        t.join(10)
        assert killed_on, "the read was not seen running on a replica"
        assert "error" not in result, "the read failed: %s" % result.get("error")
        assert result["row"][1] == marker and result["row"][0] != killed_on.port, result
    assert routing_row(p)["retry_server_lost"] >= 3
    conn.close()
