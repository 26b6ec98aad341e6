"""Host lists in a database entry: host=a,b with load_balance_hosts round-robin or
disable, as PgBouncer 1.25 documents them. Two addresses on one port are made with a
relay on 127.0.0.2 (to a replica) beside the primary on 127.0.0.1; a third address
with nothing listening stands for a dead host."""

import psycopg
import pytest

import harness
from tcprelay import TcpRelay

pytestmark = harness.pgsplit_only("host lists came in PgBouncer 1.24; Debian's is 1.18")

WHERE = "SELECT inet_server_port()"


@pytest.fixture
def relay(cluster):
    r = TcpRelay(("127.0.0.1", cluster.replicas[0].port), host="127.0.0.2", port=cluster.port)
    yield r
    r.close()


def start(pooler, hosts, mode=None, **settings):
    p = pooler(start=False, pool_mode="transaction", server_login_retry=0.2, **settings)
    kw = {"host": hosts}
    if mode:
        kw["load_balance_hosts"] = mode
    p.databases["app"] = p.connstr("app", **kw)
    return p.start()


def ports_of_new_servers(p, cluster, n):
    """Each query on a fresh server connection (RECONNECT closes the last one)."""
    seen = []
    for _ in range(n):
        with p.connect() as c:
            seen.append(c.execute(WHERE).fetchone()[0])
        harness.admin(p, "RECONNECT app")
        harness.wait_until(lambda: not any(s["database"] == "app" for s in
                                           harness.admin(p, "SHOW SERVERS")), 5)
    return seen


def test_round_robin_spreads_new_connections_over_the_hosts(pooler, cluster, relay):
    p = start(pooler, "127.0.0.1,127.0.0.2")
    seen = ports_of_new_servers(p, cluster, 6)
    assert set(seen) == {cluster.port, cluster.replicas[0].port}, seen
    dbs = {d["name"]: d for d in harness.admin(p, "SHOW DATABASES")}
    assert dbs["app"]["host"] == "127.0.0.1,127.0.0.2"
    assert dbs["app"]["load_balance_hosts"] == "round-robin"


def test_disable_keeps_one_host_and_moves_on_when_it_fails(pooler, cluster, relay):
    p = start(pooler, "127.0.0.3,127.0.0.1,127.0.0.2", "disable")
    dbs = {d["name"]: d for d in harness.admin(p, "SHOW DATABASES")}
    assert dbs["app"]["load_balance_hosts"] == "disable"
    # 127.0.0.3 refuses: the pooler moves to the next host and stays there
    deadline_ok = harness.wait_until(lambda: _one_query_ok(p), 10)
    assert deadline_ok, "no query went through after the first host failed"
    seen = ports_of_new_servers(p, cluster, 4)
    assert set(seen) == {cluster.port}, seen
    assert p.wait_log(r"database app: host 127\.0\.0\.3 failed, new connections go to 127\.0\.0\.1", 1)


def _one_query_ok(p):
    try:
        with p.connect(connect_timeout=3) as c:
            c.execute(WHERE)
        return True
    except psycopg.Error:
        return False


def test_read_write_host_list_skips_a_standby(pooler, cluster, relay):
    """With target_session_attrs=read-write the standby behind 127.0.0.2 is refused, so
    every connection ends up on the primary: a host list that follows the writable host."""
    p = start(pooler, "127.0.0.2,127.0.0.1", "disable")
    p.databases["app"] += " target_session_attrs=read-write"
    p.reload()
    harness.admin(p, "RECONNECT app")  # the setting applies to new server connections
    assert harness.wait_until(lambda: _one_query_ok(p), 10)
    seen = ports_of_new_servers(p, cluster, 3)
    assert set(seen) == {cluster.port}, seen
