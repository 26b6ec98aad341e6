"""Limits and timeouts with PgBouncer's meanings and error texts."""

import threading
import time

import psycopg
import pytest

import pgwire
from harness import admin, query1


def test_max_client_conn(pooler):
    p = pooler(max_client_conn=3)
    held = [p.connect() for _ in range(3)]
    with pytest.raises(psycopg.OperationalError) as ei:
        p.connect()
    assert "no more connections allowed (max_client_conn)" in str(ei.value)
    # Existing clients are unaffected and a slot frees up after a close.
    assert query1(held[0], "SELECT 1") == 1
    held.pop().close()
    time.sleep(0.2)
    c = p.connect()
    assert query1(c, "SELECT 2") == 2


def test_pool_size_and_query_wait_timeout(pooler):
    p = pooler(pool_mode="session", default_pool_size=1, query_wait_timeout=2)
    a = p.connect()
    assert query1(a, "SELECT 1") == 1
    t0 = time.time()
    with pytest.raises(psycopg.OperationalError) as ei:
        b = p.connect()
        b.execute("SELECT 1")
    elapsed = time.time() - t0
    assert "query_wait_timeout" in str(ei.value)
    assert 1.5 <= elapsed <= 8, elapsed
    assert query1(a, "SELECT 3") == 3


def test_transaction_mode_queues_clients(pooler):
    """More clients than servers: they queue and all finish."""
    p = pooler(pool_mode="transaction", default_pool_size=2)
    conns = [p.connect() for _ in range(10)]
    results = []

    def work(c):
        for _ in range(5):
            results.append(query1(c, "SELECT pg_sleep(0.02)::text || 'ok'"))

    threads = [threading.Thread(target=work, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == ["ok"] * 50
    pids = {query1(c, "SELECT pg_backend_pid()") for c in conns}
    assert len(pids) <= 2
    pools = [r for r in admin(p, "SHOW POOLS") if r["database"] == "app"]
    assert pools and pools[0]["sv_active"] + pools[0]["sv_idle"] + pools[0]["sv_used"] <= 2


def test_reserve_pool(pooler):
    p = pooler(pool_mode="session", default_pool_size=1, reserve_pool_size=1,
               reserve_pool_timeout=0.5, query_wait_timeout=3)
    a = p.connect()
    a.execute("SELECT 1")
    t0 = time.time()
    b = p.connect()
    assert query1(b, "SELECT 2") == 2          # served from the reserve pool
    assert time.time() - t0 >= 0.4
    with pytest.raises(psycopg.OperationalError) as ei:
        c = p.connect()
        c.execute("SELECT 3")
    assert "query_wait_timeout" in str(ei.value)


def test_max_db_connections(pooler):
    p = pooler(pool_mode="session", max_db_connections=1, query_wait_timeout=2)
    a = p.connect(user="app")
    a.execute("SELECT 1")
    with pytest.raises(psycopg.OperationalError) as ei:
        b = p.connect(user="md5user")
        b.execute("SELECT 1")
    assert "query_wait_timeout" in str(ei.value)
    # When the first client leaves, another user's pool may use the slot.
    a.close()
    time.sleep(0.3)
    c = p.connect(user="md5user")
    assert query1(c, "SELECT current_user") == "md5user"


def test_full_pool_database_and_user_logged_as_pgbouncer_does(pooler):
    """With -v -v a client that cannot get a server logs why, in PgBouncer 1.25's words."""
    p = pooler(pool_mode="session", default_pool_size=1, verbose=2, query_wait_timeout=1)
    a = p.connect()
    a.execute("SELECT 1")
    with pytest.raises(psycopg.OperationalError):
        p.connect().execute("SELECT 1")
    assert p.wait_log(r"launch_new_connection: pool full \(1 >= 1\)")

    q = pooler(pool_mode="session", max_db_connections=1, max_user_connections=1,
               verbose=2, query_wait_timeout=1)
    held = q.connect(user="app")
    held.execute("BEGIN")
    with pytest.raises(psycopg.OperationalError):
        q.connect(user="md5user").execute("SELECT 1")
    assert q.wait_log(r"launch_new_connection: database 'app' full \(1 >= 1\)")
    with pytest.raises(psycopg.OperationalError):
        q.connect(db="app2", user="app").execute("SELECT 1")
    assert q.wait_log(r"launch_new_connection: user 'app' full \(1 >= 1\)")


def test_idle_server_of_another_pool_evicted_at_max_db_connections(pooler):
    p = pooler(pool_mode="session", max_db_connections=1, query_wait_timeout=3)
    a = p.connect(user="app")
    a.execute("SELECT 1")
    a.close()                                  # its server stays idle in app's pool
    time.sleep(0.2)
    b = p.connect(user="md5user")
    assert query1(b, "SELECT current_user") == "md5user"
    assert p.wait_log(r"S-\d+: app/app@\S+ closing because: evicted \(age=")


def test_max_db_connections_in_connstr(pooler):
    p = pooler(start=False, pool_mode="session", query_wait_timeout=2)
    p.databases["app"] = p.connstr("app", max_db_connections=1)
    p.start()
    a = p.connect()
    a.execute("SELECT 1")
    with pytest.raises(psycopg.OperationalError) as ei:
        b = p.connect(user="md5user")
        b.execute("SELECT 1")
    assert "query_wait_timeout" in str(ei.value)
    # Another database is not limited.
    c = p.connect(db="app2")
    assert query1(c, "SELECT 1") == 1


def test_max_user_connections(pooler):
    p = pooler(pool_mode="session", max_user_connections=1, query_wait_timeout=2)
    a = p.connect(db="app")
    a.execute("SELECT 1")
    with pytest.raises(psycopg.OperationalError) as ei:
        b = p.connect(db="app2")
        b.execute("SELECT 1")
    assert "query_wait_timeout" in str(ei.value)
    c = p.connect(db="app2", user="md5user")
    assert query1(c, "SELECT 1") == 1


def test_per_database_pool_size_and_pool_mode(pooler):
    p = pooler(start=False, pool_mode="session", query_wait_timeout=2)
    p.databases["app"] = p.connstr("app", pool_size=1, pool_mode="transaction")
    p.start()
    conns = [p.connect() for _ in range(4)]
    pids = {query1(c, "SELECT pg_backend_pid()") for c in conns}
    assert len(pids) == 1
    dbs = {r["name"]: r for r in admin(p, "SHOW DATABASES")}
    assert dbs["app"]["pool_size"] == 1
    assert dbs["app"]["pool_mode"] == "transaction"


def test_users_section_pool_mode(pooler):
    p = pooler(pool_mode="session", default_pool_size=1, users={"md5user": "pool_mode=transaction"})
    conns = [p.connect(user="md5user") for _ in range(3)]
    assert len({query1(c, "SELECT pg_backend_pid()") for c in conns}) == 1


def test_min_pool_size(pooler):
    p = pooler(pool_mode="transaction", min_pool_size=3, default_pool_size=5)
    c = p.connect()
    c.execute("SELECT 1")
    deadline = time.time() + 5
    total = 0
    while time.time() < deadline:
        pools = [r for r in admin(p, "SHOW POOLS") if r["database"] == "app"]
        total = sum(pools[0][k] for k in ("sv_active", "sv_idle", "sv_used", "sv_tested",
                                         "sv_login"))
        if total >= 3:
            break
        time.sleep(0.2)
    assert total >= 3


def test_query_timeout(pooler):
    p = pooler(pool_mode="transaction", query_timeout=1)
    c = p.connect()
    t0 = time.time()
    with pytest.raises(psycopg.OperationalError) as ei:
        c.execute("SELECT pg_sleep(5)")
    assert "query timeout" in str(ei.value)
    assert time.time() - t0 < 4
    c2 = p.connect()
    assert query1(c2, "SELECT 1") == 1


def test_client_idle_timeout(pooler):
    p = pooler(pool_mode="transaction", client_idle_timeout=1)
    c = p.connect()
    assert query1(c, "SELECT 1") == 1
    time.sleep(3)
    with pytest.raises(psycopg.OperationalError):
        c.execute("SELECT 1")
    assert p.wait_log("client_idle_timeout")


def test_idle_transaction_timeout(pooler):
    p = pooler(pool_mode="transaction", idle_transaction_timeout=1, default_pool_size=1)
    c = p.connect(autocommit=False)
    c.execute("SELECT 1")
    time.sleep(2.5)
    with pytest.raises(psycopg.OperationalError):
        c.execute("SELECT 1")
    assert p.wait_log("idle transaction timeout")
    other = p.connect()
    assert query1(other, "SELECT 1") == 1


def test_server_lifetime(pooler):
    p = pooler(pool_mode="transaction", server_lifetime=1, default_pool_size=1)
    c = p.connect()
    pid1 = query1(c, "SELECT pg_backend_pid()")
    time.sleep(2)
    query1(c, "SELECT 1")        # released after this one; too old now
    time.sleep(0.5)
    pid2 = query1(c, "SELECT pg_backend_pid()")
    assert pid1 != pid2


def test_server_idle_timeout(pooler):
    p = pooler(pool_mode="transaction", server_idle_timeout=1)
    c = p.connect()
    c.execute("SELECT 1")
    deadline = time.time() + 6
    while time.time() < deadline:
        servers = [s for s in admin(p, "SHOW SERVERS") if s["database"] == "app"]
        if not servers:
            break
        time.sleep(0.25)
    assert not servers
    assert query1(c, "SELECT 2") == 2


def test_server_round_robin_setting_accepted(pooler):
    p = pooler(pool_mode="transaction", server_round_robin=1, default_pool_size=3)
    conns = [p.connect() for _ in range(3)]
    for c in conns:
        assert query1(c, "SELECT 1") == 1


def test_server_check_query(pooler):
    p = pooler(pool_mode="transaction", server_check_delay=0, server_check_query="SELECT 1",
               default_pool_size=1)
    c = p.connect()
    for _ in range(5):
        assert query1(c, "SELECT 1") == 1


def test_max_packet_size(pooler):
    p = pooler(pool_mode="transaction", max_packet_size=65536)
    c = p.connect()
    assert query1(c, "SELECT length(%s)", ("x" * 1000,)) == 1000
    with pytest.raises(psycopg.OperationalError):
        c.execute("SELECT length(%s)", ("x" * 200000,))
    # The pooler survives and serves others.
    c2 = p.connect()
    assert query1(c2, "SELECT 1") == 1


def test_wildcard_database(pooler, cluster):
    p = pooler(start=False)
    p.databases = {"*": "host=127.0.0.1 port=%d" % cluster.port}
    p.start()
    c = p.connect(db="app2")
    assert query1(c, "SELECT current_database()") == "app2"
    with pytest.raises(psycopg.OperationalError):
        p.connect(db="does_not_exist_db")


def test_unknown_database(pooler):
    p = pooler()
    with pytest.raises(psycopg.OperationalError) as ei:
        p.connect(db="nosuchdb")
    assert 'no such database: nosuchdb' in str(ei.value)


def _read_results(r, n_queries):
    """Rows of n_queries simple queries read off a raw connection, in order."""
    out = []
    for _ in range(n_queries):
        rows = []
        while True:
            k, b = r.read_msg()
            if k == b"D":
                rows.append(b[6:].decode())  # one text column
            elif k == b"E":
                rows.append("error")
            elif k == b"Z":
                break
        out.append(rows)
    return out


def test_queued_client_that_keeps_sending(pooler):
    """A client queued for a server may send more queries, or go away, while it waits:
    the queries run in order once it gets a server; a vanished one affects nobody."""
    p = pooler(pool_mode="transaction", default_pool_size=1)
    holder = p.connect()
    holder.execute("BEGIN")
    holder.execute("SELECT 1")  # holds the only server
    waiting = pgwire.Raw(p.host, p.port)
    waiting.login("app", "app", "apppass")
    gone = pgwire.Raw(p.host, p.port)
    gone.login("app", "app", "apppass")
    try:
        waiting.send(pgwire.query("SELECT 'first'"))
        gone.send(pgwire.query("SELECT 'never'"))
        time.sleep(0.3)  # both are queued now
        waiting.send(pgwire.query("SELECT 'second'") + pgwire.query("SELECT 'third'"))
        gone.close()
        time.sleep(0.3)
        holder.execute("COMMIT")
        assert _read_results(waiting, 3) == [["first"], ["second"], ["third"]]
        waiting.send(pgwire.terminate())
    finally:
        waiting.close()
    assert query1(holder, "SELECT 4") == 4
    pools = [r for r in admin(p, "SHOW POOLS") if r["database"] == "app"]
    assert pools[0]["cl_waiting"] == 0
