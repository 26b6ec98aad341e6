"""Protocol correctness through the pooler: modes, multi-statement queries,
errors in transactions, COPY, pipelines, Flush, NOTICE, NOTIFY, FunctionCall."""

import struct
import uuid

import psycopg
import pytest
from psycopg import errors

import pgwire
from harness import is_pgbouncer, query1

MODES = ["session", "transaction", "statement"]


def table_name():
    return "t_" + uuid.uuid4().hex[:10]


@pytest.mark.parametrize("mode", MODES)
def test_basic_queries(pooler, mode):
    p = pooler(pool_mode=mode)
    c = p.connect()
    assert query1(c, "SELECT 1") == 1
    assert query1(c, "SELECT %s::int + 1", (41,)) == 42
    assert query1(c, "SELECT current_user") == "app"
    assert query1(c, "SELECT current_database()") == "app"
    # The welcome carried the server's ParameterStatus set and a cancel key.
    assert c.info.parameter_status("server_version").startswith("15")
    assert c.info.parameter_status("client_encoding") == "UTF8"
    assert c.info.parameter_status("integer_datetimes") == "on"
    assert c.info.backend_pid != 0
    rows = c.execute("SELECT g, repeat('x', g) FROM generate_series(1, 2000) g").fetchall()
    assert len(rows) == 2000 and rows[-1] == (2000, "x" * 2000)


@pytest.mark.parametrize("mode", MODES)
def test_multi_statement_simple_query(pooler, mode):
    p = pooler(pool_mode=mode)
    c = p.connect()
    cur = c.cursor()
    cur.execute("SELECT 1; SELECT 2, 3; SELECT 'x'")
    got = [cur.fetchall()]
    while cur.nextset():
        got.append(cur.fetchall())
    assert got == [[(1,)], [(2, 3)], [("x",)]]
    # A multi-statement query is one implicit transaction: the temp table
    # exists for the statements after it even in transaction/statement mode.
    t = table_name()
    cur.execute("CREATE TEMP TABLE %s(x int); INSERT INTO %s VALUES (1),(2);"
                "SELECT sum(x) FROM %s; DROP TABLE %s" % (t, t, t, t))
    results = [cur.fetchall() if cur.description else None]
    while cur.nextset():
        results.append(cur.fetchall() if cur.description else None)
    assert [(3,)] in results


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_error_inside_transaction_then_rollback(pooler, mode):
    p = pooler(pool_mode=mode, default_pool_size=1)
    c = p.connect(autocommit=False)
    assert query1(c, "SELECT 1") == 1
    with pytest.raises(errors.DivisionByZero):
        c.execute("SELECT 1/0")
    with pytest.raises(errors.InFailedSqlTransaction):
        c.execute("SELECT 2")
    c.rollback()
    assert query1(c, "SELECT 3") == 3
    c.commit()
    if mode == "session":
        c.close()
    # The single server went back clean: another client is not in a failed txn.
    other = p.connect()
    assert query1(other, "SELECT 4") == 4
    assert other.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_multi_statement_error_midway(pooler, mode):
    p = pooler(pool_mode=mode, default_pool_size=1)
    c = p.connect()
    t = table_name()
    c.execute("CREATE TABLE %s(x int)" % t)
    with pytest.raises(errors.UniqueViolation):
        c.execute("INSERT INTO %s VALUES (1); SELECT 1/1;"
                  "DO $$BEGIN RAISE unique_violation; END$$; INSERT INTO %s VALUES (2)"
                  % (t, t))
    # The implicit transaction was rolled back as a whole.
    assert query1(c, "SELECT count(*) FROM %s" % t) == 0
    c.execute("DROP TABLE %s" % t)


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_copy_in_and_out(pooler, mode):
    p = pooler(pool_mode=mode, default_pool_size=2)
    c = p.connect()
    t = table_name()
    c.execute("CREATE TABLE %s(id int, v text)" % t)
    n = 20000
    with c.cursor().copy("COPY %s (id, v) FROM STDIN" % t) as cp:
        for i in range(n):
            cp.write_row((i, "row-%d" % i))
    assert query1(c, "SELECT count(*) FROM %s" % t) == n
    out = bytearray()
    with c.cursor().copy("COPY (SELECT * FROM %s ORDER BY id) TO STDOUT" % t) as cp:
        for chunk in cp:
            out += chunk
    lines = bytes(out).decode().splitlines()
    assert len(lines) == n and lines[0] == "0\trow-0" and lines[-1] == "%d\trow-%d" % (n - 1, n - 1)
    # Bad data aborts the COPY with an error; the connection stays usable.
    with pytest.raises(errors.InvalidTextRepresentation):
        with c.cursor().copy("COPY %s (id, v) FROM STDIN" % t) as cp:
            cp.write(b"1\tok\nnot-a-number\tbad\n")
    assert query1(c, "SELECT count(*) FROM %s" % t) == n
    c.execute("DROP TABLE %s" % t)


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_copy_in_explicit_transaction(pooler, mode):
    p = pooler(pool_mode=mode, default_pool_size=1)
    c = p.connect(autocommit=False)
    t = table_name()
    c.execute("CREATE TEMP TABLE %s(x int) ON COMMIT DROP" % t)
    with c.cursor().copy("COPY %s FROM STDIN" % t) as cp:
        for i in range(100):
            cp.write_row((i,))
    assert query1(c, "SELECT sum(x) FROM %s" % t) == sum(range(100))
    c.commit()


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_pipeline(pooler, mode):
    p = pooler(pool_mode=mode, default_pool_size=2)
    c = p.connect()
    with c.pipeline():
        curs = [c.execute("SELECT %s::int * 2", (i,)) for i in range(50)]
    assert [cur.fetchone()[0] for cur in curs] == [i * 2 for i in range(50)]
    # An error in the middle of a pipeline aborts the rest of that Sync group only.
    with pytest.raises(errors.DivisionByZero):
        with c.pipeline():
            c.execute("SELECT %s::int", (1,))
            c.execute("SELECT 1/%s::int", (0,))
            c.execute("SELECT %s::int", (3,))
    assert query1(c, "SELECT %s::int", (7,)) == 7


def test_pipeline_in_transaction_mode_many_syncs(pooler):
    """Several Syncs in one network write with transaction pooling and two clients
    on one server: every result goes to the client that asked."""
    p = pooler(pool_mode="transaction", default_pool_size=1)
    a = p.connect(application_name="a")
    b = p.connect(application_name="b")
    for _ in range(5):
        with a.pipeline():
            ra = [a.execute("SELECT %s::text || current_setting('application_name')", ("a",))
                  for _ in range(10)]
        with b.pipeline():
            rb = [b.execute("SELECT %s::text || current_setting('application_name')", ("b",))
                  for _ in range(10)]
        assert [r.fetchone()[0] for r in ra] == ["aa"] * 10
        assert [r.fetchone()[0] for r in rb] == ["bb"] * 10


def _raw_login(p, user="app", db="app"):
    r = pgwire.Raw(p.host, p.port)
    r.login(user, db, "apppass")
    return r


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_extended_flush_then_sync(pooler, mode):
    """Parse/Bind/Execute/Flush gets results before Sync; Sync then ends it."""
    p = pooler(pool_mode=mode)
    r = _raw_login(p)
    try:
        r.send(pgwire.msg(b"P", b"\0SELECT 40 + 2\0\0\0")
               + pgwire.msg(b"B", b"\0\0" + struct.pack("!HHH", 0, 0, 0))
               + pgwire.msg(b"E", b"\0" + struct.pack("!I", 0))
               + pgwire.msg(b"H"))
        kinds = []
        row = None
        while b"C" not in kinds:
            k, b = r.read_msg()
            kinds.append(k)
            if k == b"D":
                row = b[6:].decode()
        assert kinds == [b"1", b"2", b"D", b"C"]
        assert row == "42"
        r.send(pgwire.msg(b"S"))
        k, b = r.read_msg()
        assert k == b"Z" and b == b"I"
        rows, errs = r.simple("SELECT 'after'")
        assert rows == [["after"]] and not errs
    finally:
        r.close()


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_function_call(pooler, mode):
    p = pooler(pool_mode=mode)
    c = p.connect()
    oid = query1(c, "SELECT 'int4abs(int4)'::regprocedure::oid")
    r = _raw_login(p)
    try:
        arg = b"-17"
        r.send(pgwire.msg(b"F", struct.pack("!IHHH", oid, 1, 0, 1)
                          + struct.pack("!I", len(arg)) + arg + struct.pack("!H", 0)))
        k, b = r.read_msg()
        assert k == b"V", (k, b)
        (ln,) = struct.unpack("!i", b[:4])
        assert b[4:4 + ln] == b"17"
        k, b = r.read_msg()
        assert k == b"Z"
    finally:
        r.close()


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_notice(pooler, mode):
    p = pooler(pool_mode=mode)
    c = p.connect()
    notices = []
    c.add_notice_handler(lambda d: notices.append((d.severity_nonlocalized, d.message_primary)))
    c.execute("DO $$BEGIN RAISE NOTICE 'hello %', 42; RAISE WARNING 'careful'; END$$")
    assert ("NOTICE", "hello 42") in notices
    assert ("WARNING", "careful") in notices


def test_listen_notify_session_mode(pooler):
    p = pooler(pool_mode="session")
    listener = p.connect()
    got = []
    listener.add_notify_handler(lambda n: got.append((n.channel, n.payload)))
    listener.execute("LISTEN chan_x")
    sender = p.connect()
    sender.execute("NOTIFY chan_x, 'payload-1'")
    sender.execute("SELECT pg_notify('chan_x', 'payload-2')")
    for _ in range(50):
        listener.execute("SELECT 1")
        if len(got) >= 2:
            break
    assert got == [("chan_x", "payload-1"), ("chan_x", "payload-2")]


def test_statement_mode_rejects_transaction_blocks(pooler):
    p = pooler(pool_mode="statement")
    c = p.connect(autocommit=False)
    with pytest.raises(psycopg.Error) as ei:
        c.execute("SELECT 1")
        c.execute("SELECT 2")
        c.commit()
    assert "transaction blocks not allowed in statement pooling mode" in str(ei.value)


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_large_values_round_trip(pooler, mode):
    """Rows and parameters bigger than any sane pkt_buf go through intact."""
    p = pooler(pool_mode=mode)
    c = p.connect()
    big = "y" * (3 * 1024 * 1024)
    assert query1(c, "SELECT length(%s::text)", (big,)) == len(big)
    assert query1(c, "SELECT md5(repeat('y', 3*1024*1024))") == query1(c, "SELECT md5(%s)", (big,))
    got = query1(c, "SELECT repeat('z', 2*1024*1024)")
    assert got == "z" * (2 * 1024 * 1024)



@pytest.mark.parametrize("digits", ["3", "1"])
def test_extra_float_digits_at_startup_is_accepted(pooler, cluster, digits):
    """pgjdbc sends extra_float_digits = 3 in every startup packet. From PostgreSQL 12 on
    any value above 0 prints floats the same way, so no ignore_startup_parameters line is
    needed, and the output is a direct connection's."""
    if is_pgbouncer():
        pytest.skip("PgBouncer needs ignore_startup_parameters = extra_float_digits")
    p = pooler(pool_mode="transaction")
    sql = "SELECT 0.1::float8 + 0.2::float8, 1e100::float8, pi()::float4"
    with pgwire.Raw(p.host, p.port) as r:
        r.login("app", "app", "apppass", params={"extra_float_digits": digits})
        pooled = r.simple(sql)
    with psycopg.connect(host="127.0.0.1", port=cluster.primary.port, dbname="app", user="app",
                         password="apppass", options="-c extra_float_digits=%s" % digits) as d:
        res = d.pgconn.exec_(sql.encode())
        direct = [[res.get_value(0, i).decode() for i in range(3)]]
    assert pooled[0] == direct and not pooled[1]


def test_extra_float_digits_zero_at_startup_is_refused(pooler):
    """0 or less rounds floats, which the server's default would not: still refused
    unless listed in ignore_startup_parameters."""
    if is_pgbouncer():
        pytest.skip("checks pgsplit's own rule")
    p = pooler(pool_mode="transaction")
    with pgwire.Raw(p.host, p.port) as r:
        with pytest.raises(AssertionError, match="extra_float_digits"):
            r.login("app", "app", "apppass", params={"extra_float_digits": "0"})
