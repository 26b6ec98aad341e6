"""Read-your-writes consistency with replicas whose replay is paused
for real (pg_wal_replay_pause()), so a read that reaches a replica is stale."""

import contextlib
import threading
import time
import uuid

import psycopg
import pytest

import harness
from harness import query1

pytestmark = harness.pgsplit_only("read-your-writes is pgsplit's own feature")


@contextlib.contextmanager
def replay_paused(cluster):
    for r in cluster.replicas:
        r.pause_replay()
    try:
        yield
    finally:
        for r in cluster.replicas:
            r.psql("SELECT pg_wal_replay_resume()")


def setup_table(cluster):
    cluster.primary.psql("CREATE TABLE IF NOT EXISTS ryw(k text PRIMARY KEY, v int); "
                         "GRANT ALL ON ryw TO app", db="app")
    cluster.wait_replay()


def ryw_pooler(pooler, cluster, **settings):
    settings.setdefault("replica_max_lag", "1000")
    p = pooler(start=False, pool_mode="transaction", **settings)
    reps = ",".join("127.0.0.1:%d" % r.port for r in cluster.replicas)
    p.databases["app"] = p.connstr("app", replicas=reps)
    p.start()
    return p


def write_then_read(writer, reader, n):
    """n times: insert a unique row on writer, read it back at once on reader."""
    stale = 0
    for _ in range(n):
        key = uuid.uuid4().hex
        writer.execute("INSERT INTO ryw VALUES (%s, 1)", (key,))
        if query1(reader, "SELECT count(*) FROM ryw WHERE k = %s", (key,)) != 1:
            stale += 1
    return stale


def test_lsn_mode_never_reads_stale(pooler, cluster):
    setup_table(cluster)
    p = ryw_pooler(pooler, cluster, read_your_writes="lsn")
    c = p.connect()
    with replay_paused(cluster):
        assert write_then_read(c, c, 500) == 0


def test_off_mode_reads_stale_which_proves_the_test_can_fail(pooler, cluster):
    setup_table(cluster)
    p = ryw_pooler(pooler, cluster, read_your_writes="off")
    c = p.connect()
    with replay_paused(cluster):
        assert write_then_read(c, c, 50) > 0


def test_window_mode_longer_than_the_lag(pooler, cluster):
    setup_table(cluster)
    p = ryw_pooler(pooler, cluster, read_your_writes="window", write_window="30")
    c = p.connect()
    with replay_paused(cluster):
        assert write_then_read(c, c, 500) == 0


def test_user_scope_covers_other_connections(pooler, cluster):
    setup_table(cluster)
    p = ryw_pooler(pooler, cluster, read_your_writes="lsn", read_your_writes_scope="user")
    a, b = p.connect(), p.connect()
    with replay_paused(cluster):
        assert write_then_read(a, b, 500) == 0


def test_client_scope_does_not_hold_back_other_clients(pooler, cluster):
    setup_table(cluster)
    p = ryw_pooler(pooler, cluster, read_your_writes="lsn", read_your_writes_scope="client")
    a, b = p.connect(), p.connect()
    a.execute("INSERT INTO ryw VALUES (%s, 1)", (uuid.uuid4().hex,))
    assert query1(b, "SELECT pg_is_in_recovery()") is True


def test_replicas_used_again_once_caught_up(pooler, cluster):
    setup_table(cluster)
    p = ryw_pooler(pooler, cluster, read_your_writes="lsn")
    c = p.connect()
    for _ in range(20):
        c.execute("INSERT INTO ryw VALUES (%s, 1)", (uuid.uuid4().hex,))
    cluster.wait_replay()
    time.sleep(1.0)
    reads = [query1(c, "SELECT pg_is_in_recovery()") for _ in range(50)]
    # on failure, what the pooler thought of the replicas and of the client's floor
    assert sum(reads) >= 45, (reads, harness.admin(p, "SHOW REPLICAS"),
                              harness.admin(p, "SHOW ROUTING"))


def test_floor_is_the_first_check_after_the_write(pooler, cluster):
    """A write's floor is the primary's position at the first monitor check after it.
    WAL that others write later must not raise it: here a direct connection writes
    while replay is paused on both replicas, which already hold the client's row. The
    client's next reads go to a replica (with the row), not to the primary (a floor
    taken from the newest check sat past both replicas)."""
    setup_table(cluster)
    p = ryw_pooler(pooler, cluster, read_your_writes="lsn")
    c = p.connect()
    key = uuid.uuid4().hex
    c.execute("INSERT INTO ryw VALUES (%s, 1)", (key,))
    time.sleep(0.5)                     # the checks after the write have answered
    cluster.wait_replay()               # both replicas have the row
    with replay_paused(cluster):
        with psycopg.connect(cluster.primary.dsn("app"), autocommit=True) as other:
            other.execute("INSERT INTO ryw SELECT gen_random_uuid()::text, 0 "
                          "FROM generate_series(1, 1000)")
        time.sleep(0.5)                 # the monitor has seen the primary move on
        rows = [c.execute("SELECT v, pg_is_in_recovery() FROM ryw WHERE k = %s",
                          (key,)).fetchone() for _ in range(10)]
    assert rows == [(1, True)] * 10, (rows, harness.admin(p, "SHOW REPLICAS"))


def test_causal_token_reported_and_accepted(pooler, cluster):
    setup_table(cluster)
    p = ryw_pooler(pooler, cluster, read_your_writes="lsn")
    writer = p.connect()
    key = uuid.uuid4().hex
    with replay_paused(cluster):
        writer.execute("INSERT INTO ryw VALUES (%s, 1)", (key,))
        deadline = time.time() + 5
        token = None
        while not token and time.time() < deadline:  # empty: the write's token is still coming
            writer.execute("SELECT 1")
            token = writer.info.parameter_status("pgsplit.last_write_lsn")
        assert token and "/" in token
        # another service (another connection, another user scope) hands the token back
        reader = p.connect()
        reader.execute("SET pgsplit.min_lsn = '%s'" % token)
        assert query1(reader, "SELECT count(*) FROM ryw WHERE k = %s", (key,)) == 1
        # as a startup setting too (options=-c ...)
        other = p.connect(options="-c pgsplit.min_lsn=%s" % token)
        assert query1(other, "SELECT count(*) FROM ryw WHERE k = %s", (key,)) == 1
        # without the token a fresh client reads from a (stale) replica
        fresh = p.connect()
        assert query1(fresh, "SELECT count(*) FROM ryw WHERE k = %s", (key,)) == 0


@pytest.mark.parametrize("wait", ["5", "0"])
def test_causal_wait_waits_for_a_replica_to_catch_up(pooler, cluster, wait):
    setup_table(cluster)
    p = ryw_pooler(pooler, cluster, read_your_writes="lsn", causal_wait=wait)
    c = p.connect()
    key = uuid.uuid4().hex
    with replay_paused(cluster):
        c.execute("INSERT INTO ryw VALUES (%s, 1)", (key,))
        time.sleep(0.3)  # the write's position is known; the replicas are behind it
        resumer = threading.Timer(1.0, lambda: [r.psql("SELECT pg_wal_replay_resume()")
                                                for r in cluster.replicas])
        resumer.start()
        t0 = time.time()
        row = c.execute("SELECT pg_is_in_recovery(), count(*) FROM ryw WHERE k = %s", (key,)).fetchone()
        took = time.time() - t0
        resumer.join()
    assert row[1] == 1  # never stale
    if wait == "5":
        assert row[0] is True and 0.7 < took < 5, (row, took)  # waited, then a replica
    else:
        assert row[0] is False and took < 0.7, (row, took)  # no waiting: the primary


def test_show_clients_and_stats_report_read_your_writes(pooler, cluster):
    setup_table(cluster)
    p = ryw_pooler(pooler, cluster, read_your_writes="lsn")
    c = p.connect()
    with replay_paused(cluster):
        c.execute("INSERT INTO ryw VALUES (%s, 1)", (uuid.uuid4().hex,))
        assert query1(c, "SELECT pg_is_in_recovery()") is False  # kept on the primary
        # the floor is the first primary check sent after the write: it may still be out
        deadline = time.time() + 3
        while True:
            rows = [r for r in harness.admin(p, "SHOW CLIENTS") if r["database"] == "app"]
            if any("/" in r["write_lsn"] for r in rows) or time.time() > deadline:
                break
            time.sleep(0.05)
        assert any("/" in r["write_lsn"] for r in rows), rows
        stats = [r for r in harness.admin(p, "SHOW STATS") if r["database"] == "app"][0]
        assert stats["total_ryw_kept_on_primary"] >= 1


def test_admin_set_changes_the_mode_for_new_transactions(pooler, cluster):
    setup_table(cluster)
    p = ryw_pooler(pooler, cluster, read_your_writes="lsn")
    c = p.connect()
    with replay_paused(cluster):
        assert write_then_read(c, c, 20) == 0
        harness.admin(p, "SET read_your_writes = 'off'")
        assert write_then_read(c, c, 20) > 0  # the guarantee is off now


@pytest.mark.parametrize("stmt", ["SET application_name = 'PostgreSQL JDBC Driver'", "DISCARD ALL",
                                  "SET search_path TO public; RESET timezone"])
def test_session_statements_raise_no_floor(pooler, cluster, stmt):
    """A driver's start-up SETs (pgjdbc sends two) and other session statements change no
    data: the reads after them still go to a replica, even one that replays nothing."""
    setup_table(cluster)
    p = ryw_pooler(pooler, cluster, read_your_writes="lsn")
    c = p.connect()
    with replay_paused(cluster):
        # another session's write (straight to the primary): the replicas are now behind
        # the primary, so any floor raised by the statement would keep the reads there
        cluster.primary.psql("INSERT INTO ryw VALUES ('%s', 1)" % uuid.uuid4().hex, db="app")
        c.execute(stmt)
        assert [query1(c, "SELECT pg_is_in_recovery()") for _ in range(3)] == [True] * 3
