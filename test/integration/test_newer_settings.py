"""Settings added in PgBouncer 1.20 to 1.25 (track_extra_parameters for IntervalStyle,
max_db_client_connections, max_user_client_connections, transaction_timeout, [users]
query_timeout), and autodb_idle_timeout dropping an unused database made from "*"."""

import time

import psycopg
import pytest

import pgwire
from harness import admin, pgsplit_only, query1


def test_autodb_idle_timeout(pooler, cluster):
    p = pooler(start=False, autodb_idle_timeout=1, server_idle_timeout=1,
               pool_mode="transaction")
    p.databases = {"*": "host=127.0.0.1 port=%d" % cluster.port}
    p.start()
    c = p.connect(db="app2")
    assert query1(c, "SELECT 1") == 1
    assert "app2" in {r["name"] for r in admin(p, "SHOW DATABASES")}
    c.close()
    p.conns.remove(c)
    deadline = time.time() + 12
    names = None
    while time.time() < deadline:
        names = {r["name"] for r in admin(p, "SHOW DATABASES")}
        if "app2" not in names:
            break
        time.sleep(0.3)
    assert "app2" not in names

@pgsplit_only("IntervalStyle tracking (track_extra_parameters, 1.20+)")
def test_intervalstyle_tracked(pooler):
    p = pooler(pool_mode="transaction", default_pool_size=1)
    ra = pgwire.Raw(p.host, p.port)
    rb = pgwire.Raw(p.host, p.port)
    try:
        ra.login("app", "app", "apppass", {"IntervalStyle": "iso_8601"})
        rb.login("app", "app", "apppass", {"IntervalStyle": "postgres_verbose"})
        for _ in range(3):
            assert ra.simple("SHOW IntervalStyle")[0] == [["iso_8601"]]
            assert rb.simple("SHOW IntervalStyle")[0] == [["postgres_verbose"]]
    finally:
        ra.close()
        rb.close()

@pgsplit_only("max_db_client_connections (1.24+)")
def test_max_db_client_connections(pooler):
    p = pooler(max_db_client_connections=2)
    held = [p.connect() for _ in range(2)]
    with pytest.raises(psycopg.OperationalError) as ei:
        p.connect()
    assert "max_db_client_connections" in str(ei.value)
    assert query1(p.connect(db="app2"), "SELECT 1") == 1
    assert query1(held[0], "SELECT 1") == 1

@pgsplit_only("max_user_client_connections (1.24+)")
def test_max_user_client_connections(pooler):
    p = pooler(max_user_client_connections=2)
    held = [p.connect() for _ in range(2)]
    with pytest.raises(psycopg.OperationalError) as ei:
        p.connect(db="app2")
    assert "max_user_client_connections" in str(ei.value)
    assert query1(p.connect(user="md5user"), "SELECT 1") == 1
    assert query1(held[0], "SELECT 1") == 1

@pgsplit_only("transaction_timeout (1.25)")
def test_transaction_timeout(pooler):
    p = pooler(pool_mode="transaction", transaction_timeout=1)
    c = p.connect(autocommit=False)
    c.execute("SELECT 1")
    time.sleep(2.5)
    with pytest.raises(psycopg.OperationalError):
        c.execute("SELECT 1")
        c.commit()
    assert query1(p.connect(), "SELECT 1") == 1

@pgsplit_only("[users] query_timeout (1.24+)")
def test_users_query_timeout(pooler):
    p = pooler(pool_mode="transaction", users={"md5user": "query_timeout=1"})
    c = p.connect(user="md5user")
    with pytest.raises(psycopg.OperationalError):
        c.execute("SELECT pg_sleep(4)")
    assert query1(p.connect(), "SELECT pg_sleep(1.5)::text || 'x'") == "x"
