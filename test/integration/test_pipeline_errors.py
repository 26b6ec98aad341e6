"""Errors inside a pipeline whose Sync has not arrived yet (psycopg pipeline mode).

PostgreSQL answers an error at once and then discards every message up to the next
Sync, including messages that arrive after the error.  A client such as psycopg reads
the error and the aborted results before it sends its Sync, so the pooler must
forward the error as soon as the server sends it and keep its own view of the batch
(prepared statements, routing, re-run state) equal to the server's.  Each test runs
the same script directly against PostgreSQL and through the pooler and compares.
"""

import json
import struct
import subprocess
import sys
import time

import psycopg
import pytest

import harness
import pgwire

pytestmark = pytest.mark.timeout(60)

MODES = ["session", "transaction", "statement"]


def make_pooler(pooler, cluster, mode, routed, **settings):
    p = pooler(start=False, pool_mode=mode, **settings)
    if routed:
        reps = ",".join("127.0.0.1:%d" % r.port for r in cluster.replicas)
        p.databases["app"] = p.connstr("app", replicas=reps)
    p.start()
    return p


def rows(result):
    return [list(r) for r in result]


def direct_dsn(cluster):
    return "host=127.0.0.1 port=%d dbname=app user=app password=apppass" % cluster.primary.port


def pooled_dsn(p):
    return "host=127.0.0.1 port=%d dbname=app user=app password=apppass" % p.port


def run_isolated(scenario, dsn, timeout=25, **kw):
    """Run a scenario in a child interpreter: a client hung by the pooler becomes a
    failure after `timeout` seconds instead of hanging the test (psycopg's pipeline
    exit would wait again for the answer that never comes)."""
    code = ("import json, sys; sys.path.insert(0, %r); import test_pipeline_errors as t; "
            "print(json.dumps(t.%s(*json.loads(sys.argv[1]), **json.loads(sys.argv[2]))))"
            % (harness.HERE, scenario))
    try:
        out = subprocess.run([sys.executable, "-c", code, json.dumps([dsn]), json.dumps(kw)],
                             capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "client hung for %d s" % timeout
    if out.returncode != 0:
        return "client failed: " + out.stderr[-2000:]
    return json.loads(out.stdout)


def failing_pipeline(dsn, error_at=0, late_sync=0.1, failing_sql="SELECT aaaa"):
    """The issue's script: the statement at error_at fails while only Flush has been
    sent; the client reads the error and the aborted results, sends Sync later, then
    runs a prepared statement.  Returns what the client saw, in order."""
    seen = []
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("SELECT 1", prepare=True).fetchone()
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        with conn.pipeline() as p, conn.cursor() as cur:
            for i in range(error_at):
                cur.execute("SELECT %s::int" % (10 + i))
            cur.execute(failing_sql)
            time.sleep(late_sync)
            try:
                cur.execute("SELECT 123")
                seen.append(["ok", rows(cur.fetchall())])
            except psycopg.errors.UndefinedColumn:
                seen.append("UndefinedColumn")
            except psycopg.Error as e:
                seen.append(type(e).__name__)
            try:
                seen.append(["ok", rows(cur.fetchall())])
            except psycopg.Error as e:
                seen.append(type(e).__name__)
            p.sync()
            cur.execute("SELECT 1", prepare=True)
            seen.append(["ok", rows(cur.fetchall())])
        seen.append(["after", rows(conn.execute("SELECT 2").fetchall())])
    return seen


@pytest.mark.parametrize("routed", [False, True], ids=["primary-only", "replicas"])
@pytest.mark.parametrize("mode", MODES)
def test_pipeline_error_before_sync(pooler, cluster, mode, routed):
    p = make_pooler(pooler, cluster, mode, routed)
    want = run_isolated("failing_pipeline", direct_dsn(cluster))
    assert want[-2:] == [["ok", [[1]]], ["after", [[2]]]]
    assert run_isolated("failing_pipeline", pooled_dsn(p)) == want


@pytest.mark.parametrize("error_at", [1, 2])
@pytest.mark.parametrize("routed", [False, True], ids=["primary-only", "replicas"])
def test_pipeline_error_later_in_batch(pooler, cluster, error_at, routed):
    p = make_pooler(pooler, cluster, "transaction", routed)
    want = run_isolated("failing_pipeline", direct_dsn(cluster), error_at=error_at)
    assert run_isolated("failing_pipeline", pooled_dsn(p), error_at=error_at) == want


@pytest.mark.parametrize("routed", [False, True], ids=["primary-only", "replicas"])
def test_pipeline_error_sync_one_second_late(pooler, cluster, routed):
    p = make_pooler(pooler, cluster, "transaction", routed)
    want = run_isolated("failing_pipeline", direct_dsn(cluster), late_sync=1.0)
    assert run_isolated("failing_pipeline", pooled_dsn(p), late_sync=1.0) == want


def parse_or_bind_error(dsn, kind):
    """A pipeline whose Parse (bad SQL) or Bind (bad parameter) fails, read before Sync."""
    seen = []
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        with conn.pipeline() as p, conn.cursor() as cur:
            cur.execute("SELECT 7")
            if kind == "parse":
                cur.execute("SELEC 1")
            else:
                cur.execute("SELECT %s::int", ("not a number",))
            time.sleep(0.1)
            for _ in range(3):
                try:
                    seen.append(["ok", rows(cur.fetchall())])
                except psycopg.Error as e:
                    seen.append(type(e).__name__)
                    break
            try:
                cur.execute("SELECT 8")
                seen.append(["ok", rows(cur.fetchall())])
            except psycopg.Error as e:
                seen.append(type(e).__name__)
            p.sync()
            cur.execute("SELECT 9", prepare=True)
            seen.append(["ok", rows(cur.fetchall())])
        seen.append(["after", rows(conn.execute("SELECT 2").fetchall())])
    return seen


@pytest.mark.parametrize("kind", ["parse", "bind"])
@pytest.mark.parametrize("routed", [False, True], ids=["primary-only", "replicas"])
def test_pipeline_parse_and_bind_errors(pooler, cluster, kind, routed):
    p = make_pooler(pooler, cluster, "transaction", routed)
    want = run_isolated("parse_or_bind_error", direct_dsn(cluster), kind=kind)
    assert want[-1] == ["after", [[2]]]
    assert run_isolated("parse_or_bind_error", pooled_dsn(p), kind=kind) == want


def _parse(name, sql):
    return pgwire.msg(b"P", name.encode() + b"\0" + sql.encode() + b"\0" + struct.pack("!HI", 1, 23))


def _bind_execute_sync(name, value):
    v = str(value).encode()
    bind = (b"\0" + name.encode() + b"\0" + struct.pack("!H", 0) + struct.pack("!H", 1)
            + struct.pack("!I", len(v)) + v + struct.pack("!H", 0))
    return (pgwire.msg(b"B", bind) + pgwire.msg(b"E", b"\0" + struct.pack("!I", 0))
            + pgwire.msg(b"S"))


def _answer(raw):
    """Up to ReadyForQuery: the first column of the row, or the error's SQLSTATE."""
    got = None
    for kind, body in raw.read_until((b"Z",)):
        if kind == b"D":
            (n,) = struct.unpack("!i", body[2:6])
            got = body[6:6 + n].decode()
        elif kind == b"E" and got is None:
            got = pgwire.parse_fields(body).get("C")
    return got


def evicted_in_failed_part(host, port):
    """Named Parses, more than max_prepared_statements, sent after a statement that
    fails and before the Sync: the server skips them, so they do not exist afterwards
    (Bind says 26000), and preparing them again works. Raw protocol, so the order of
    messages is exact."""
    seen = []
    with pgwire.Raw(host, port) as raw:
        raw.login("plainuser", "app", "plainpass")
        failing = (pgwire.msg(b"P", b"\0SELECT 1/0\0" + struct.pack("!H", 0))
                   + pgwire.msg(b"B", b"\0\0" + struct.pack("!HHH", 0, 0, 0))
                   + pgwire.msg(b"E", b"\0" + struct.pack("!I", 0)))
        raw.send(failing + b"".join(_parse("s%d" % i, "SELECT $1::int + %d" % i) for i in range(6)))
        seen.append(raw.expect_error().get("C"))  # answered before the Sync is sent
        raw.send(pgwire.msg(b"S"))
        seen.append(_answer(raw))
        for i in range(6):
            raw.send(_bind_execute_sync("s%d" % i, i))
            seen.append(_answer(raw))
        for i in range(6):
            raw.send(_parse("s%d" % i, "SELECT $1::int + %d" % i) + _bind_execute_sync("s%d" % i, i))
            seen.append(_answer(raw))
    return seen


@pytest.mark.parametrize("routed", [False, True], ids=["primary-only", "replicas"])
def test_pipeline_error_with_evicted_statements(pooler, cluster, routed):
    p = make_pooler(pooler, cluster, "transaction", routed, max_prepared_statements="3")
    want = evicted_in_failed_part("127.0.0.1", cluster.primary.port)
    assert want == ["22012", None] + ["26000"] * 6 + [str(2 * i) for i in range(6)]
    assert evicted_in_failed_part(p.host, p.port) == want
    assert harness.query1(p.connect(), "SELECT 5") == 5
