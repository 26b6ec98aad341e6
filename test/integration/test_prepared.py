"""Protocol-level prepared statements in transaction pooling, across servers and
across primary and replica pools (max_prepared_statements, default 200)."""

import psycopg
import pytest

import harness
from harness import query1

pytestmark = harness.pgsplit_only("prepared statements in transaction mode need PgBouncer 1.21+")


def tx_pooler(pooler, cluster, routed=False, **settings):
    p = pooler(start=False, pool_mode="transaction", **settings)
    if routed:
        reps = ",".join("127.0.0.1:%d" % r.port for r in cluster.replicas)
        for db in ("app", "bench"):
            p.databases[db] = p.connstr(db, replicas=reps)
    p.start()
    return p


@pytest.mark.parametrize("script", [["-S"], []], ids=["select-only", "tpcb"])
def test_pgbench_prepared_with_routing(pooler, cluster, script):
    p = tx_pooler(pooler, cluster, routed=True)
    res = harness.pgbench(p, script + ["-M", "prepared", "-c", "20", "-j", "2", "-T", "4"])
    assert res.failed == 0 and res.processed and res.processed > 100, res.out


def test_psycopg_prepares_across_many_servers_and_replicas(pooler, cluster):
    p = tx_pooler(pooler, cluster, routed=True, default_pool_size=3, read_your_writes="off")
    conns = [p.connect(prepare_threshold=0) for _ in range(6)]
    seen = set()
    for i in range(60):
        c = conns[i % len(conns)]
        row = c.execute("SELECT %s::int + 1, pg_is_in_recovery(), inet_server_port()", (i,)).fetchone()
        assert row[0] == i + 1
        seen.add(row[2])
        # a write prepared the same way lands on the primary
        assert c.execute("SELECT %s::int, pg_is_in_recovery() FROM (SELECT txid_current()) t",
                         (i,)).fetchone() == (i, False)
    assert {r.port for r in cluster.replicas} <= seen  # reads did spread over replicas


def test_statement_survives_a_server_restart(pooler, cluster):
    p = tx_pooler(pooler, cluster)
    c = p.connect(prepare_threshold=0)
    assert query1(c, "SELECT %s::int * 2", (21,)) == 42
    # the server connection behind it goes away (terminated on the server side)
    cluster.primary.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE usename = 'app' AND backend_type = 'client backend'")
    for _ in range(3):
        try:
            assert query1(c, "SELECT %s::int * 2", (4,)) == 8
            break
        except psycopg.OperationalError:
            # the client whose server died mid-use may see one error (and be closed)
            if c.closed:
                c = p.connect(prepare_threshold=0)
    assert query1(c, "SELECT %s::int * 2", (5,)) == 10


def test_more_statements_than_the_server_cache(pooler, cluster):
    p = tx_pooler(pooler, cluster, max_prepared_statements=5, default_pool_size=1)
    c = p.connect(prepare_threshold=0)
    for rnd in range(3):
        for i in range(20):
            sql = "SELECT %%s::int + %d" % i
            assert query1(c, sql, (rnd,)) == rnd + i


def test_same_name_different_sql_in_two_clients(pooler, cluster):
    p = tx_pooler(pooler, cluster, default_pool_size=1)
    a = p.connect()
    b = p.connect()
    pa, pb = a.pgconn, b.pgconn
    pa.prepare(b"s1", b"SELECT 'from a'")
    pb.prepare(b"s1", b"SELECT 'from b', 2")
    for _ in range(3):
        ra = pa.exec_prepared(b"s1", [])
        rb = pb.exec_prepared(b"s1", [])
        assert ra.get_value(0, 0) == b"from a"
        assert rb.get_value(0, 0) == b"from b" and rb.nfields == 2


def test_parse_error_then_reuse_of_the_name(pooler, cluster):
    p = tx_pooler(pooler, cluster)
    c = p.connect()
    pg = c.pgconn
    res = pg.prepare(b"s2", b"SELEC broken")
    assert res.status == psycopg.pq.ExecStatus.FATAL_ERROR
    res = pg.exec_prepared(b"s2", [])
    assert res.status == psycopg.pq.ExecStatus.FATAL_ERROR  # does not exist
    res = pg.prepare(b"s2", b"SELECT 7")
    assert res.status == psycopg.pq.ExecStatus.COMMAND_OK
    assert pg.exec_prepared(b"s2", []).get_value(0, 0) == b"7"


def test_close_and_deallocate(pooler, cluster):
    p = tx_pooler(pooler, cluster)
    c = p.connect()
    pg = c.pgconn
    assert pg.prepare(b"s3", b"SELECT 3").status == psycopg.pq.ExecStatus.COMMAND_OK
    assert pg.exec_prepared(b"s3", []).get_value(0, 0) == b"3"
    c.execute("DEALLOCATE s3")
    assert pg.exec_prepared(b"s3", []).status == psycopg.pq.ExecStatus.FATAL_ERROR
    assert pg.prepare(b"s3", b"SELECT 33").status == psycopg.pq.ExecStatus.COMMAND_OK
    assert pg.exec_prepared(b"s3", []).get_value(0, 0) == b"33"
    c.execute("DEALLOCATE ALL")
    assert pg.exec_prepared(b"s3", []).status == psycopg.pq.ExecStatus.FATAL_ERROR


def test_prepared_statements_visible_in_stats(pooler, cluster):
    p = tx_pooler(pooler, cluster)
    c = p.connect(prepare_threshold=0)
    for i in range(10):
        c.execute("SELECT %s::int", (i,))
    rows = [r for r in harness.admin(p, "SHOW STATS") if r["database"] == "app"]
    assert rows and rows[0]["total_client_parse_count"] >= 1
    assert rows[0]["total_bind_count"] >= 10
    assert rows[0]["total_server_parse_count"] <= rows[0]["total_client_parse_count"] + 1


def test_prepared_statement_counts_in_show_clients_and_servers(pooler, cluster):
    p = tx_pooler(pooler, cluster, default_pool_size=1)
    c = p.connect()
    pg = c.pgconn
    for i in range(3):
        assert pg.prepare(b"q%d" % i, b"SELECT %d" % i).status == psycopg.pq.ExecStatus.COMMAND_OK
    clients = [r for r in harness.admin(p, "SHOW CLIENTS") if r["database"] == "app"]
    servers = [r for r in harness.admin(p, "SHOW SERVERS") if r["database"] == "app"]
    assert max(r["prepared_statements"] for r in clients) == 3
    assert max(r["prepared_statements"] for r in servers) == 3


def test_prepared_statement_with_a_huge_parameter(pooler, cluster):
    """A Bind of a named statement larger than the pooler holds whole is renamed from its
    head and streamed."""
    p = tx_pooler(pooler, cluster)
    c = p.connect(prepare_threshold=0)
    for n in (10, 3 * 1024 * 1024, 5):
        big = "x" * n
        assert query1(c, "SELECT length(%s::text)", (big,)) == n


def test_max_prepared_statements_zero_turns_tracking_off(pooler, cluster):
    """With tracking off (PgBouncer's behaviour) a statement lives only on the server
    that prepared it: the client's name reaches the server unchanged."""
    p = tx_pooler(pooler, cluster, max_prepared_statements=0, default_pool_size=1)
    c = p.connect()
    pg = c.pgconn
    assert pg.prepare(b"plain_name", b"SELECT 1").status == psycopg.pq.ExecStatus.COMMAND_OK
    names = [r[0] for r in c.execute("SELECT name FROM pg_prepared_statements").fetchall()]
    assert "plain_name" in names


def test_duplicate_statement_name_is_an_error_like_postgresql(pooler, cluster):
    p = tx_pooler(pooler, cluster)
    c = p.connect()
    pg = c.pgconn
    assert pg.prepare(b"dup", b"SELECT 1").status == psycopg.pq.ExecStatus.COMMAND_OK
    res = pg.prepare(b"dup", b"SELECT 2")
    assert res.status == psycopg.pq.ExecStatus.FATAL_ERROR
    assert res.error_field(psycopg.pq.DiagnosticField.SQLSTATE) == b"42P05"
    # the first statement is intact and the session usable
    assert pg.exec_prepared(b"dup", []).get_value(0, 0) == b"1"
    assert query1(c, "SELECT 3") == 3
