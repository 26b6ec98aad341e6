"""target_session_attrs per database: what libpq means by it, for the servers the
pooler picks. Judged by the server that answered (inet_server_port()) and by the
errors the client sees."""

import psycopg
import pytest

import harness

pytestmark = harness.pgsplit_only("target_session_attrs is applied by pgsplit")

WHERE = "SELECT inet_server_port()"


def start(pooler, cluster, attrs, host_port=None, replicas=True, **settings):
    p = pooler(start=False, pool_mode="transaction", **settings)
    kw = {"target_session_attrs": attrs}
    if replicas:
        kw["replicas"] = ",".join("127.0.0.1:%d" % r.port for r in cluster.replicas)
    if host_port:
        kw["port"] = host_port
    p.databases["app"] = p.connstr("app", **kw)
    return p.start()


def ports_of_reads(p, n=10):
    with p.connect() as c:
        return {c.execute(WHERE).fetchone()[0] for _ in range(n)}


def replicas_checked(p, n=2):
    return harness.wait_until(
        lambda: sum(1 for r in harness.admin(p, "SHOW REPLICAS") if r["state"] == "up") >= n, 10)


@pytest.mark.parametrize("attrs", ["read-write", "primary"])
def test_writable_attrs_send_every_read_to_the_primary(pooler, cluster, attrs):
    p = start(pooler, cluster, attrs)
    assert replicas_checked(p), "the monitor still checks the members (for failover)"
    assert ports_of_reads(p) == {cluster.port}
    with p.connect() as c:
        c.execute("INSERT INTO items(v) VALUES ('tsa')")


@pytest.mark.parametrize("attrs", ["standby", "read-only"])
def test_standby_attrs_send_everything_to_replicas_and_writes_fail_there(pooler, cluster, attrs):
    p = start(pooler, cluster, attrs)
    assert replicas_checked(p)
    assert ports_of_reads(p) <= {r.port for r in cluster.replicas}
    with p.connect() as c:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            c.execute("INSERT INTO items(v) VALUES ('tsa')")
    # no standby usable: refused, not sent to the primary
    for r in cluster.replicas:
        harness.admin(p, "DISABLE REPLICA 127.0.0.1:%d" % r.port)
    with p.connect() as c:
        with pytest.raises(psycopg.errors.CannotConnectNow, match="no standby available"):
            c.execute(WHERE)


def test_prefer_standby_falls_back_to_the_primary(pooler, cluster):
    p = start(pooler, cluster, "prefer-standby", replica_fallback="error")
    assert replicas_checked(p)
    assert ports_of_reads(p) <= {r.port for r in cluster.replicas}
    for r in cluster.replicas:
        harness.admin(p, "DISABLE REPLICA 127.0.0.1:%d" % r.port)
    assert ports_of_reads(p) == {cluster.port}


def test_primary_attrs_refuse_a_host_in_hot_standby(pooler, cluster):
    """Without replicas= the configured host itself must match, as libpq checks it."""
    standby = cluster.replicas[0]
    p = start(pooler, cluster, "primary", host_port=standby.port, replicas=False,
              query_wait_timeout=3)
    # the first client's login needs a server: it fails there, with libpq's words
    with pytest.raises(psycopg.OperationalError, match="server is in hot standby mode"):
        with p.connect() as c:
            c.execute(WHERE)
    p2 = start(pooler, cluster, "standby", replicas=False, query_wait_timeout=3)
    with pytest.raises(psycopg.OperationalError, match="server is not in hot standby mode"):
        with p2.connect() as c:
            c.execute(WHERE)
    p3 = start(pooler, cluster, "standby", host_port=standby.port, replicas=False)
    assert ports_of_reads(p3) == {standby.port}
