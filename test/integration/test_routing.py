"""Read/write routing to streaming replicas.

Every case is observed through the server that answered: pg_is_in_recovery() and
inet_server_port(), never through the pooler's own counters alone.
"""

import os
import time

import psycopg
import pytest

import harness
from harness import query1

pytestmark = harness.pgsplit_only("read/write routing is pgsplit's own feature")


def routed_db(pooler_factory, cluster, replicas=None, start=True, **kw):
    """A pooler whose `app` database has the cluster's replicas (or `replicas`)."""
    p = pooler_factory(start=False, pool_mode=kw.pop("pool_mode", "transaction"), **kw)
    reps = replicas if replicas is not None else ["127.0.0.1:%d" % r.port for r in cluster.replicas]
    extra = kw.pop("db_extra", {}) if "db_extra" in kw else {}
    p.databases["app"] = p.connstr("app", replicas=",".join(reps), **extra)
    if start:
        p.start()
    return p


def where(conn, sql="SELECT pg_is_in_recovery(), inet_server_port()", params=None):
    return tuple(conn.execute(sql, params).fetchone())


def eventually_on_replica(conn, sql, params=None, timeout=3.0):
    """pg_is_in_recovery() of the first column, retried until it is True or time is up."""
    deadline = time.time() + timeout
    while True:
        on_replica = conn.execute(sql, params).fetchone()[0]
        if on_replica or time.time() > deadline:
            return on_replica
        time.sleep(0.05)


def replica_ports(cluster):
    return {r.port for r in cluster.replicas}


@pytest.fixture
def routed(pooler, cluster):
    return routed_db(pooler, cluster)


def test_autocommit_select_goes_to_a_replica(routed, cluster):
    c = routed.connect()
    in_recovery, port = where(c)
    assert in_recovery is True
    assert port in replica_ports(cluster)


@pytest.mark.parametrize("sql", [
    "WITH w AS (INSERT INTO route_t VALUES (1) RETURNING x) SELECT pg_is_in_recovery() FROM w",
    "SELECT pg_is_in_recovery() FROM route_t FOR UPDATE",
    "SELECT pg_is_in_recovery(), nextval('route_seq')",
    "SELECT pg_is_in_recovery() INTO TEMP route_tmp",
    "/* pgsplit:primary */ SELECT pg_is_in_recovery()",
])
def test_writes_and_unsafe_reads_go_to_the_primary(routed, cluster, sql):
    cluster.primary.psql("CREATE TABLE IF NOT EXISTS route_t(x int); "
                         "CREATE SEQUENCE IF NOT EXISTS route_seq; "
                         "INSERT INTO route_t SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM route_t)",
                         db="app")
    cluster.primary.psql("GRANT ALL ON route_t, route_seq TO app", db="app")
    c = routed.connect()
    if "INTO TEMP" in sql:
        c.execute(sql)
        assert query1(c, "SELECT pg_is_in_recovery()") in (True, False)  # session still fine
        return
    assert query1(c, sql) is False


def test_explicit_transaction_goes_to_the_primary(routed):
    c = routed.connect(autocommit=False)
    assert query1(c, "SELECT pg_is_in_recovery()") is False  # psycopg opened BEGIN
    c.rollback()


def test_begin_read_only_goes_to_a_replica(routed, cluster):
    c = routed.connect()
    c.execute("BEGIN READ ONLY")
    first = where(c)
    second = where(c)
    c.execute("COMMIT")
    assert first[0] is True
    assert first == second  # the whole transaction stays on one server


def test_session_default_read_only_routes_transactions_to_replicas(routed):
    c = routed.connect(options="-c default_transaction_read_only=on")
    c.execute("BEGIN")
    assert query1(c, "SELECT pg_is_in_recovery()") is True
    c.execute("COMMIT")


def test_replica_hint(routed):
    c = routed.connect()
    assert query1(c, "/* pgsplit:replica */ SELECT pg_is_in_recovery()") is True


def test_extended_protocol_and_pipeline_route_reads(routed):
    c = routed.connect()
    assert query1(c, "SELECT pg_is_in_recovery() WHERE %s = 1", (1,)) is True
    # A batch whose Sync comes more than 5 ms after its first message goes to the primary
    # (correct, only slower); a starved test process can be that slow, so the pipeline may
    # take three tries to show that it can run on a replica. Its results are checked each time.
    for attempt in range(3):
        with c.pipeline():
            curs = [c.execute("SELECT pg_is_in_recovery(), %s::int", (i,)) for i in range(5)]
        rows = [cur.fetchone() for cur in curs]
        assert [r[1] for r in rows] == list(range(5))
        if all(r[0] for r in rows):
            break
    assert rows == [(True, i) for i in range(5)]
    # a write in the extended protocol still reaches the primary
    assert query1(c, "SELECT pg_is_in_recovery() FROM (SELECT txid_current()) t WHERE %s = 1", (1,)) is False


def test_round_robin_uses_every_replica(pooler, cluster):
    p = routed_db(pooler, cluster, replica_lb="round_robin")
    c = p.connect()
    ports = {where(c)[1] for _ in range(10)}
    assert ports == replica_ports(cluster)


def test_routing_primary_and_replica_modes(pooler, cluster):
    p = pooler(start=False, pool_mode="transaction")
    reps = ",".join("127.0.0.1:%d" % r.port for r in cluster.replicas)
    p.databases["app"] = p.connstr("app", replicas=reps, routing="primary")
    p.databases["app2"] = p.connstr("app", replicas=reps, routing="replica")
    p.start()
    assert query1(p.connect(db="app"), "SELECT pg_is_in_recovery()") is False
    ro = p.connect(db="app2")
    assert query1(ro, "SELECT pg_is_in_recovery() FROM (SELECT 1) x") is True
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        ro.execute("CREATE TEMP TABLE nope(x int)")


def test_session_mode_stays_on_the_primary(pooler, cluster):
    p = routed_db(pooler, cluster, pool_mode="session")
    assert query1(p.connect(), "SELECT pg_is_in_recovery()") is False


def test_dead_replica_is_skipped_without_client_errors(pooler, cluster):
    dead = harness.free_port()
    live = cluster.replicas[0].port
    p = routed_db(pooler, cluster, replicas=["127.0.0.1:%d" % dead, "127.0.0.1:%d" % live],
                  replica_lb="round_robin")
    c = p.connect()
    seen = [where(c) for _ in range(12)]
    assert all(r == (True, live) for r in seen), seen
    assert "is down" in p.output()


def test_all_replicas_down_reads_fall_back_to_primary(pooler, cluster):
    p = routed_db(pooler, cluster, replicas=["127.0.0.1:%d" % harness.free_port()])
    c = p.connect()
    assert [query1(c, "SELECT pg_is_in_recovery()") for _ in range(5)] == [False] * 5


def test_reload_adds_a_replica_without_dropping_clients(pooler, cluster):
    first, second = cluster.replicas[0].port, cluster.replicas[1].port
    p = routed_db(pooler, cluster, replicas=["127.0.0.1:%d" % first], replica_lb="round_robin")
    c = p.connect()
    assert {where(c)[1] for _ in range(4)} == {first}
    reps = "127.0.0.1:%d,127.0.0.1:%d" % (first, second)
    p.databases["app"] = p.connstr("app", replicas=reps)
    p.reload()
    assert {where(c)[1] for _ in range(6)} == {first, second}


def test_pgbench_select_only_through_routing(pooler, cluster):
    p = pooler(start=False, pool_mode="transaction")
    reps = ",".join("127.0.0.1:%d" % r.port for r in cluster.replicas)
    p.databases["bench"] = p.connstr("bench", replicas=reps)
    p.start()
    for mode in ("simple", "extended"):
        res = harness.pgbench(p, ["-S", "-c", "20", "-j", "2", "-t", "50", "-M", mode])
        assert res.failed == 0 and res.processed == 1000, res.out


def make_rerun_function(cluster):
    """rerun_fn() writes, but nothing in its call tells the classifier so."""
    cluster.primary.psql(
        "CREATE TABLE IF NOT EXISTS rerun_t(x int); GRANT ALL ON rerun_t TO app; "
        "CREATE OR REPLACE FUNCTION rerun_fn() RETURNS int LANGUAGE sql "
        "AS 'INSERT INTO rerun_t VALUES (7) RETURNING x'", db="app")
    cluster.wait_replay()


def rerun_rows(cluster):
    return int(cluster.primary.psql("SELECT count(*) FROM rerun_t", db="app").strip())


def test_replica_25006_is_rerun_on_the_primary_invisibly(routed, cluster):
    """A function that writes looks like a read to the classifier: the replica refuses
    it with 25006 and the client gets the primary's answer instead, with no error."""
    make_rerun_function(cluster)
    c = routed.connect()
    for _ in range(3):
        assert where(c, "SELECT rerun_fn(), pg_is_in_recovery()") == (7, False)
    # the session is still fine and reads still go to replicas (once they have replayed
    # the re-run writes: a re-run write counts as a write for read-your-writes)
    assert eventually_on_replica(c, "SELECT pg_is_in_recovery()") is True
    assert query1(c, "SELECT count(*) FROM rerun_t WHERE x = 7") >= 0


@pytest.mark.parametrize("prepare_threshold", [None, 0], ids=["unnamed", "named"])
def test_replica_25006_rerun_in_the_extended_protocol(routed, cluster, prepare_threshold):
    """With parameters psycopg sends Parse/Bind/Describe/Execute/Sync (unnamed, or a
    named prepared statement with prepare_threshold=0): the replica's 25006 is re-run
    on the primary as for a simple Query, each call runs its insert exactly once, and
    the statement keeps working on later calls and other servers."""
    make_rerun_function(cluster)
    c = routed.connect(prepare_threshold=prepare_threshold)
    before = rerun_rows(cluster)
    for _ in range(5):
        assert where(c, "SELECT rerun_fn(), pg_is_in_recovery() WHERE %s", (True,)) == (7, False)
    assert rerun_rows(cluster) == before + 5
    # reads with parameters still go to the replicas, on the same connection (once
    # they have replayed the re-run writes)
    assert eventually_on_replica(c, "SELECT pg_is_in_recovery() WHERE %s", (True,)) is True
    st = harness.admin(routed, "SHOW STATS")
    # the first call was re-run; a re-run write raises a read-your-writes floor, so calls
    # right after it may go to the primary at once instead of being refused again
    assert next(r for r in st if r["database"] == "app")["total_rerun_25006"] >= 1


def test_replica_weights_and_primary_read_weight(pooler, cluster):
    r1, r2 = cluster.replicas[0].port, cluster.replicas[1].port
    p = pooler(start=False, pool_mode="transaction", replica_lb="round_robin", primary_read_weight=1)
    reps = "127.0.0.1:%d,127.0.0.1:%d" % (r1, r2)
    p.databases["app"] = p.connstr("app", replicas=reps, replica_weights="2,0")
    p.start()
    c = p.connect()
    seen = [where(c)[1] for _ in range(12)]
    assert r2 not in seen  # weight 0: out of rotation
    assert seen.count(r1) == 8 and seen.count(cluster.port) == 4, seen  # 2:1


def test_replica_weights_must_match_the_replica_list(pooler, cluster):
    p = pooler(start=False)
    p.databases["app"] = p.connstr("app", replicas="127.0.0.1:%d" % cluster.replicas[0].port,
                                   replica_weights="1,2")
    p.expect_exit = True
    with pytest.raises(harness.PoolerStartError) as ei:
        p.start()
    assert "replica_weights" in str(ei.value) or "replica_weights" in p.output()


def test_replica_fallback_error(pooler, cluster):
    p = routed_db(pooler, cluster, replicas=["127.0.0.1:%d" % harness.free_port()],
                  replica_fallback="error")
    c = p.connect()
    with pytest.raises(psycopg.errors.CannotConnectNow):
        c.execute("SELECT 1")
    with pytest.raises(psycopg.errors.CannotConnectNow):
        c.execute("SELECT %s::int", (1,))  # extended protocol: the whole batch
    # writes still work on the same connection
    assert query1(c, "SELECT pg_is_in_recovery() FROM (SELECT txid_current()) t") is False


def test_disable_and_enable_replica(pooler, cluster):
    r1, r2 = cluster.replicas[0].port, cluster.replicas[1].port
    p = routed_db(pooler, cluster, replica_lb="round_robin")
    c = p.connect()
    assert {where(c)[1] for _ in range(6)} == {r1, r2}
    harness.admin(p, "DISABLE REPLICA 127.0.0.1:%d" % r1)
    assert {where(c)[1] for _ in range(6)} == {r2}
    states = {r["port"]: r["state"] for r in harness.admin(p, "SHOW REPLICAS")}
    assert states[r1] == "disabled"
    harness.admin(p, "ENABLE REPLICA 127.0.0.1:%d" % r1)
    assert {where(c)[1] for _ in range(6)} == {r1, r2}
    with pytest.raises(psycopg.Error):
        harness.admin(p, "DISABLE REPLICA 127.0.0.1:1")


def test_routing_totals_in_show_stats_and_show_routing(routed, cluster):
    c = routed.connect()
    for _ in range(5):
        c.execute("SELECT 1")
    c.execute("SELECT pg_is_in_recovery() FROM (SELECT txid_current()) t")
    row = [r for r in harness.admin(routed, "SHOW STATS") if r["database"] == "app"][0]
    assert row["total_routed_replica"] >= 5
    assert row["total_routed_primary"] >= 1
    routing = [r for r in harness.admin(routed, "SHOW ROUTING") if r["database"] == "app"][0]
    assert routing["classified_read"] >= 5 and routing["write"] >= 1


def test_random_spreads_over_replicas(pooler, cluster):
    p = routed_db(pooler, cluster, replica_lb="random")
    c = p.connect()
    assert {where(c)[1] for _ in range(40)} == replica_ports(cluster)


def test_least_lag_prefers_the_fresher_replica(pooler, cluster):
    stale, fresh = cluster.replicas[0], cluster.replicas[1]
    p = routed_db(pooler, cluster, replica_lb="least_lag", replica_max_lag="1000",
                  read_your_writes="off")
    c = p.connect()
    stale.pause_replay()
    try:
        cluster.primary.psql("CREATE TABLE IF NOT EXISTS lag_t(x int)", db="app")
        for _ in range(5):
            cluster.primary.psql("INSERT INTO lag_t VALUES (1)", db="app")
            time.sleep(0.2)
        ports = [where(c)[1] for _ in range(10)]
        assert set(ports) == {fresh.port}, ports
    finally:
        stale.psql("SELECT pg_wal_replay_resume()")
        cluster.wait_replay()


def _replicated(pooler, cluster, **kw):
    p = pooler(start=False, pool_mode="transaction", **kw)
    reps = ",".join("127.0.0.1:%d" % r.port for r in cluster.replicas)
    p.databases["app"] = p.connstr("app", replicas=reps)
    return p.start()


def _replica_states(p):
    return sorted(r["state"] for r in harness.admin(p, "SHOW REPLICAS") if r["database"] == "app")


@harness.pgsplit_only("replica routing is pgsplit's own")
def test_made_up_user_first_does_not_choose_monitor_user(pooler, cluster):
    """A startup packet with a made-up user right after start (login fails) does not
    decide who the monitor logs in as: the replicas stay up and serve reads."""
    p = _replicated(pooler, cluster)
    with pytest.raises(psycopg.OperationalError):
        harness.connect(p, user="nobody_%d" % os.getpid(), password="x")
    time.sleep(1.0)                     # several replica_check_period
    assert _replica_states(p) == ["up", "up"]
    c = p.connect()
    assert all(query1(c, "SELECT pg_is_in_recovery()") is True for _ in range(5))
    # no server login was tried as the made-up user
    assert not [ln for ln in p.output().splitlines() if " S-" in ln and "nobody_" in ln]


@harness.pgsplit_only("replica routing is pgsplit's own")
def test_no_monitor_user_keeps_replicas_out_and_says_so(pooler, cluster):
    p = _replicated(pooler, cluster, replica_monitor_user=None)
    assert p.wait_log(r"database app has replicas but no user to check them with")
    with pytest.raises(psycopg.OperationalError):
        harness.connect(p, user="nobody_%d" % os.getpid(), password="x")
    c = p.connect()
    assert all(query1(c, "SELECT pg_is_in_recovery()") is False for _ in range(5))
    assert _replica_states(p) == ["down", "down"]
    # configuring a user puts them back
    harness.admin(p, "SET replica_monitor_user = 'app'")
    deadline = time.time() + 10
    while _replica_states(p) != ["up", "up"] and time.time() < deadline:
        time.sleep(0.1)
    assert _replica_states(p) == ["up", "up"]
    assert query1(c, "SELECT pg_is_in_recovery()") is True
