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
from test_routing_faults import (_frozen, _module_cluster, down_re, fcluster,  # noqa: F401
                                 freeze, make_pooler, postmaster_pid, ReadLoad, thaw, wait_gone)

pytestmark = harness.pgsplit_only("read/write routing is pgsplit's own feature")

# a read that takes a while, so that some are running on the replica when it dies
SLOW_READ = "SELECT pg_is_in_recovery(), inet_server_port() FROM pg_sleep(0.01)"
SLOW_READ_EXTENDED = "SELECT pg_is_in_recovery(), inet_server_port(), %s::int FROM pg_sleep(0.01)"


def start_readers(pooler, extended=False):
    """10 reader threads (test_routing_faults.ReadLoad); extended=True runs the read as
    a named prepared statement (Parse once, then Bind/Execute of that name)."""
    if extended:
        return ReadLoad(pooler, 10, read=lambda conn: conn.execute(SLOW_READ_EXTENDED, (1,),
                                                                   prepare=True).fetchone()).start()
    return ReadLoad(pooler, 10, sql=SLOW_READ).start()


def wait_both_replicas_then_count(readers, cluster, n):
    """Wait until both replicas answered and n reads were done; returns the count."""
    ports = {r.port for r in cluster.replicas}
    readers.wait_until(lambda recs: readers.ports_seen(recs) >= ports and len(recs) >= n, 10)
    assert readers.ports_seen() >= ports, "reads did not reach both replicas"
    return len(readers.snapshot())


def stop_readers(readers):
    stuck = readers.stop()
    assert not stuck, "%d readers stuck in a call" % len(stuck)
    recs = readers.snapshot()
    return recs, [r.error for r in recs if r.error]


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
    victim = fcluster.replicas[0]
    p = make_pooler(fcluster, replica_lb="round_robin")
    readers = start_readers(p, extended)
    try:
        killed_at = wait_both_replicas_then_count(readers, fcluster, 200)
        kill_postmaster(victim, how)
        gone_at = len(readers.snapshot())
        readers.wait_until(lambda recs: len(recs) >= killed_at + 400, 10)
    finally:
        recs, errors = stop_readers(readers)
    # each reader has at most one read in flight when the victim's last process is gone
    after = [r.row for r in recs[gone_at + 10:] if r.row]
    print("%s, %s protocol: %d reads by 10 readers, %d failed, %d started before the kill; "
          "retry_server_lost=%s" % (how, "extended" if extended else "simple", len(recs), len(errors),
                                    killed_at, routing_row(p).get("retry_server_lost")))
    assert len(recs) >= killed_at + 400, "only %d reads after the kill" % (len(recs) - killed_at)
    assert not errors, "%d of %d reads failed, e.g. %s" % (len(errors), len(recs), errors[:3])
    assert all(row[1] != victim.port for row in after), "reads still answered by the killed replica"


# ---- 2. a replica that stops answering ---------------------------------------------

@pytest.mark.timeout(60)
def test_reads_on_a_frozen_replica_are_rerun_once_its_check_times_out(fcluster, make_pooler):
    """SIGSTOP: the replica's connections stay open and silent.  Its check times out
    after 2 s; the reads waiting on it then run elsewhere, well before query_timeout."""
    victim = fcluster.replicas[0]
    # server_connect_timeout: a read routed to the frozen replica when its retry time
    # comes waits for a login that never ends; after 2 s it moves elsewhere (as in
    # test_routing_faults' frozen replica), well before query_timeout
    p = make_pooler(fcluster, replica_lb="round_robin", query_timeout=6, server_connect_timeout=2)
    readers = start_readers(p)
    try:
        frozen_at = wait_both_replicas_then_count(readers, fcluster, 100)
        freeze(victim)
        noticed = p.wait_log(down_re(victim), 10)
        readers.wait_until(lambda recs: len(recs) >= frozen_at + 300, 10)
    finally:
        thaw(list(_frozen))
        recs, errors = stop_readers(readers)
    print("frozen replica: %d reads by 10 readers, %d failed; retry_server_lost=%s" % (
        len(recs), len(errors), routing_row(p).get("retry_server_lost")))
    assert noticed, "the frozen replica was not found down"
    assert not errors, "%d of %d reads failed, e.g. %s" % (len(errors), len(recs), errors[:3])
    assert routing_row(p)["retry_server_lost"] >= 1


# ---- 3. a read that had sent rows still fails -------------------------------------

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


# ---- 4. the replica backend serving a read is terminated --------------------------

SLEEPER = "pg_sleep(1)"


def terminate_sleeper(direct, timeout=3):
    """pg_terminate_backend() of the backend running a SLEEPER read, through `direct`
    ((replica, superuser connection to it) pairs); returns the replica it ran on (None:
    not seen)."""
    sql = ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE state = 'active' "
           "AND query LIKE '%%%s%%' AND pid <> pg_backend_pid()" % SLEEPER)
    deadline = time.time() + timeout
    while time.time() < deadline:
        for r, c in direct:
            if c.execute(sql).fetchall():
                return r
        time.sleep(0.005)
    return None


@pytest.mark.timeout(60)
@pytest.mark.parametrize("extended", [False, True], ids=["simple", "prepared"])
def test_terminated_replica_backend_read_is_rerun(fcluster, make_pooler, extended):
    p = make_pooler(fcluster, replica_lb="round_robin")
    conn = harness.connect(p, track=False)
    direct = [(r, psycopg.connect(r.dsn(), autocommit=True)) for r in fcluster.replicas]
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
        killed_on = terminate_sleeper(direct)
        t.join(10)
        assert killed_on, "the read was not seen running on a replica"
        assert "error" not in result, "the read failed: %s" % result.get("error")
        assert result["row"][1] == marker and result["row"][0] != killed_on.port, result
    assert routing_row(p)["retry_server_lost"] >= 3
    conn.close()
    for _, c in direct:
        c.close()
