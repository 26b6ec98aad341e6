"""Routing of pipelined batches (issue 14, finding 1).

A driver that pipelines (Postgres.js by default, node-postgres with pipeline: true)
sends its next Sync-delimited batch before the earlier ones are answered.  Each batch
must be routed on its own merits: a write pipelined behind a read never runs on the
replica the read went to, and a writing function pipelined behind a read is re-run on
the primary as it is when sent alone.  Raw protocol messages make the pipelining exact:
every batch below goes out in one write, before any answer is read.
"""

import random
import struct

import pytest

import harness
import pgwire

pytestmark = pytest.mark.timeout(60)


def parse(sql):
    return pgwire.msg(b"P", b"\0" + sql.encode() + b"\0" + struct.pack("!H", 0))


def batch(sql):
    """Parse/Bind/Describe/Execute/Sync of an unnamed statement, as drivers send it."""
    return (parse(sql) + pgwire.msg(b"B", b"\0\0" + struct.pack("!HHH", 0, 0, 0))
            + pgwire.msg(b"D", b"P\0") + pgwire.msg(b"E", b"\0" + struct.pack("!I", 0))
            + pgwire.msg(b"S"))


def read_batches(raw, n):
    """Answers to n batches: per batch the first column of its rows, or the SQLSTATE."""
    out, rows, err = [], [], None
    while len(out) < n:
        kind, body = raw.read_msg()
        if kind == b"D":
            (length,) = struct.unpack("!i", body[2:6])
            rows.append(body[6:6 + length].decode() if length >= 0 else None)
        elif kind == b"E":
            err = pgwire.parse_fields(body).get("C")
        elif kind == b"Z":
            out.append(err if err else rows)
            rows, err = [], None
    return out


@pytest.fixture
def routed(pooler, cluster):
    cluster.primary.psql(
        "CREATE TABLE IF NOT EXISTS pipe_t(x int); GRANT ALL ON pipe_t TO app;"
        "CREATE OR REPLACE FUNCTION pipe_bump() RETURNS int LANGUAGE sql AS "
        "'INSERT INTO pipe_t VALUES (7) RETURNING x'", db="app")
    cluster.wait_replay()
    p = pooler(start=False, pool_mode="transaction", read_your_writes="off")
    reps = ",".join("127.0.0.1:%d" % r.port for r in cluster.replicas)
    p.databases["app"] = p.connstr("app", replicas=reps)
    p.start()
    return p


def login(p):
    raw = pgwire.Raw(p.host, p.port)
    raw.login("app", "app", "apppass")
    return raw


def test_write_pipelined_behind_read_runs_on_primary(routed):
    with login(routed) as raw:
        for _ in range(5):
            raw.send(batch("SELECT pg_is_in_recovery()::text")
                     + batch("INSERT INTO pipe_t VALUES (1) RETURNING pg_is_in_recovery()::text")
                     + batch("SELECT pg_is_in_recovery()::text"))
            # the read on a replica, the write on the primary; the read pipelined behind
            # the write follows it there without waiting (as read-your-writes would)
            assert read_batches(raw, 3) == [["true"], ["false"], ["false"]]


def test_writing_function_pipelined_behind_read_is_rerun_on_primary(routed):
    with login(routed) as raw:
        for _ in range(5):
            raw.send(batch("SELECT pg_is_in_recovery()::text") + batch("SELECT pipe_bump()::text")
                     + batch("SELECT 'after'"))
            assert read_batches(raw, 3) == [["true"], ["7"], ["after"]]


def test_pipeline_of_reads_stays_on_one_replica(routed, cluster):
    with login(routed) as raw:
        raw.send(b"".join(batch("SHOW port") for _ in range(20)))
        ports = {r[0] for r in read_batches(raw, 20)}
    assert len(ports) == 1 and int(ports.pop()) in {r.port for r in cluster.replicas}


def test_pipelined_transaction_stays_on_its_server(routed):
    """BEGIN READ ONLY pipelined with what follows: the transaction stays where it began,
    and a write inside it fails as it would on a direct connection."""
    with login(routed) as raw:
        raw.send(batch("BEGIN READ ONLY") + batch("SELECT pg_is_in_recovery()::text")
                 + batch("INSERT INTO pipe_t VALUES (2)") + batch("ROLLBACK")
                 + batch("SELECT 'next'"))
        answers = read_batches(raw, 5)
    assert answers == [[], ["true"], "25006", [], ["next"]]


@pytest.fixture
def ryw_routed(pooler, cluster):
    """Routing with read-your-writes at its default (lsn) and replicas that do not
    replay; the primary takes reads too (primary_read_weight), so some go there."""
    cluster.primary.psql("CREATE TABLE IF NOT EXISTS pipe_t(x int); GRANT ALL ON pipe_t TO app",
                         db="app")
    cluster.wait_replay()
    p = pooler(start=False, pool_mode="transaction", primary_read_weight=1)
    reps = ",".join("127.0.0.1:%d" % r.port for r in cluster.replicas)
    p.databases["app"] = p.connstr("app", replicas=reps)
    p.start()
    for r in cluster.replicas:
        r.pause_replay()
    try:
        yield p
    finally:
        for r in cluster.replicas:
            r.psql("SELECT pg_wal_replay_resume()", check=False)


def insert_then_read(p, first):
    """On a new connection (no floor yet): `first` and an INSERT pipelined in one write,
    then, once both are answered, a read of that row.  Returns first's answer and the
    count the read saw."""
    key = random.randrange(10**6, 2**31)  # pipe_t is shared: a key of its own
    with login(p) as raw:
        raw.send(batch(first) + batch("INSERT INTO pipe_t VALUES (%d)" % key))
        answers = read_batches(raw, 2)
        assert answers[1] == [], answers
        raw.send(batch("SELECT count(*)::text FROM pipe_t WHERE x = %d" % key))
        return answers[0], read_batches(raw, 1)[0]


def test_write_pipelined_behind_a_set_sets_the_floor(ryw_routed):
    """A SET goes to the primary and writes nothing; an INSERT pipelined behind it joins
    it there unrouted.  The client's next read must see that INSERT: it once went to a
    replica that had not replayed it."""
    for _ in range(3):
        assert insert_then_read(ryw_routed, "SET work_mem = '8MB'")[1] == ["1"]


def test_write_pipelined_behind_a_read_on_the_primary_sets_the_floor(ryw_routed):
    """node-postgres with pipeline: true sent a read, an INSERT and a read; when the first
    read ran on the primary, the INSERT joined it there and the last read went to a
    replica without it (n = 0).  Here reads reach the primary by its read weight."""
    on_primary = 0
    for _ in range(15):
        where, seen = insert_then_read(ryw_routed, "SELECT pg_is_in_recovery()::text")
        assert seen == ["1"], "read after its own pipelined INSERT (first read in recovery: %s)" % where
        on_primary += where == ["false"]
        if on_primary >= 3:
            break
    assert on_primary >= 3, "the first read never ran on the primary"
