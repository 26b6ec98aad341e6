"""Session state never leaks between clients; a server is never handed dirty to
the next client (client gone mid-transaction, reset query, tracked parameters)."""

import time
import uuid

import psycopg
import pytest

import pgwire
from harness import pgsplit_only, query1


def test_tracked_startup_params_transaction_mode(pooler):
    """Two clients with different startup parameters alternate on one server
    connection; each always sees its own values."""
    p = pooler(pool_mode="transaction", default_pool_size=1)
    a = p.connect(application_name="client_a", client_encoding="LATIN1")
    b = p.connect(application_name="client_b", client_encoding="UTF8")
    ra = pgwire.Raw(p.host, p.port)
    ra.login("app", "app", "apppass", {"TimeZone": "Asia/Tokyo", "DateStyle": "SQL, DMY",
                                       "standard_conforming_strings": "off"})
    rb = pgwire.Raw(p.host, p.port)
    rb.login("app", "app", "apppass", {"TimeZone": "America/New_York",
                                       "DateStyle": "ISO, MDY",
                                       "standard_conforming_strings": "on"})
    try:
        for _ in range(10):
            assert query1(a, "SHOW application_name") == "client_a"
            assert query1(a, "SHOW client_encoding") == "LATIN1"
            assert query1(b, "SHOW application_name") == "client_b"
            assert query1(b, "SHOW client_encoding") == "UTF8"
            q = "SHOW TimeZone; SHOW DateStyle; SHOW standard_conforming_strings"
            rows, errs = ra.simple(q)
            assert not errs and rows == [["Asia/Tokyo"], ["SQL, DMY"], ["off"]]
            rows, errs = rb.simple(q)
            assert not errs and rows == [["America/New_York"], ["ISO, MDY"], ["on"]]
        # Both used the same backend: the pooler re-applied the values.
        pids = {query1(a, "SELECT pg_backend_pid()"), query1(b, "SELECT pg_backend_pid()")}
        assert len(pids) == 1
    finally:
        ra.close()
        rb.close()


def test_set_of_tracked_param_follows_client(pooler):
    """SET of a tracked parameter (reported by ParameterStatus) sticks to the client
    that ran it, not to the server connection."""
    p = pooler(pool_mode="transaction", default_pool_size=1)
    a = p.connect(application_name="a0")
    b = p.connect(application_name="b0")
    a.execute("SET application_name = 'a1'")
    a.execute("SET TimeZone = 'Europe/Lisbon'")
    assert query1(b, "SHOW application_name") == "b0"
    assert query1(b, "SHOW TimeZone") != "Europe/Lisbon"
    assert query1(a, "SHOW application_name") == "a1"
    assert query1(a, "SHOW TimeZone") == "Europe/Lisbon"
    assert a.info.parameter_status("application_name") == "a1"


@pgsplit_only("1.18 rejects the options startup parameter")
def test_options_startup_parameter(pooler):
    """`options=-c name=value` for a tracked parameter works like a startup param."""
    p = pooler(pool_mode="transaction", default_pool_size=1)
    a = p.connect(options="-c TimeZone=Asia/Kolkata")
    b = p.connect()
    for _ in range(3):
        assert query1(a, "SHOW TimeZone") == "Asia/Kolkata"
        assert query1(b, "SHOW TimeZone") != "Asia/Kolkata"


SEARCH_PATHS = ["a,b", 'Sales,"$user",public', '"a,b",c']


@pgsplit_only("1.18 rejects the options startup parameter")
def test_options_search_path_list_reaches_server_as_postgresql_sets_it(pooler):
    """`-c search_path=a,b` is the list a, b (as PostgreSQL itself sets it from the
    startup packet), not the single name "a,b", on every server the client gets."""
    p = pooler(pool_mode="transaction", default_pool_size=1,
               track_extra_parameters="IntervalStyle,search_path")
    want = {}
    for sp in SEARCH_PATHS:
        with psycopg.connect(host="127.0.0.1", port=p.cluster.port, dbname="app", user="app",
                             password="apppass", options="-c search_path=" + sp) as d:
            want[sp] = (query1(d, "SHOW search_path"),
                        query1(d, "SELECT pg_catalog.current_schemas(false)::text"))
    assert want["a,b"][0] == "a,b"
    clients = {sp: p.connect(options="-c search_path=" + sp) for sp in SEARCH_PATHS}
    for _ in range(2):          # alternate on the one server connection
        for sp, c in clients.items():
            got = (query1(c, "SHOW search_path"),
                   query1(c, "SELECT pg_catalog.current_schemas(false)::text"))
            assert got == want[sp], sp


def test_ignore_startup_parameters(pooler):
    p = pooler(ignore_startup_parameters="extra_float_digits,search_path")
    r = pgwire.Raw(p.host, p.port)
    try:
        r.login("app", "app", "apppass", {"extra_float_digits": "2", "search_path": "x"})
        rows, errs = r.simple("SELECT 1")
        assert rows == [["1"]] and not errs
    finally:
        r.close()


def test_unknown_startup_parameter_rejected(pooler):
    p = pooler()
    r = pgwire.Raw(p.host, p.port)
    try:
        r.send(pgwire.startup_packet({"user": "app", "database": "app",
                                      "search_path": "public"}))
        err = r.expect_error()
        assert err["S"] == "FATAL"
        assert "unsupported startup parameter" in err["M"]
        assert err["C"] == "08P01"
    finally:
        r.close()


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_client_vanishes_mid_transaction(pooler, mode):
    """A client that drops its socket inside BEGIN does not leave the next client
    of the same single-server pool inside its transaction."""
    p = pooler(pool_mode=mode, default_pool_size=1)
    setup = p.connect()
    t = "leak_" + uuid.uuid4().hex[:8]
    setup.execute("CREATE TABLE %s(x int)" % t)
    setup.close()
    r = pgwire.Raw(p.host, p.port)
    r.login("app", "app", "apppass")
    rows, errs = r.simple("BEGIN; INSERT INTO %s VALUES (1); SET LOCAL work_mem = '7MB'" % t)
    assert not errs
    r.sock.close()          # no Terminate: the client just disappears
    time.sleep(0.2)
    c = p.connect()
    assert query1(c, "SELECT count(*) FROM %s" % t) == 0
    assert query1(c, "SHOW work_mem") != "7MB"
    assert query1(c, "SELECT now() = statement_timestamp()") is True
    c.execute("DROP TABLE %s" % t)


def test_client_vanishes_mid_copy(pooler):
    p = pooler(pool_mode="transaction", default_pool_size=1)
    c = p.connect()
    t = "copyleak_" + uuid.uuid4().hex[:8]
    c.execute("CREATE TABLE %s(x int)" % t)
    r = pgwire.Raw(p.host, p.port)
    r.login("app", "app", "apppass")
    r.send(pgwire.query("COPY %s FROM STDIN" % t))
    k, _ = r.read_msg()
    assert k == b"G"
    r.send(pgwire.msg(b"d", b"1\n2\n"))
    r.sock.close()
    time.sleep(0.2)
    assert query1(c, "SELECT count(*) FROM %s" % t) == 0
    assert query1(c, "SELECT 5") == 5
    c.execute("DROP TABLE %s" % t)


def test_session_mode_reset_between_clients(pooler):
    """server_reset_query (DISCARD ALL by default) runs before a session-mode
    server is reused: SET, temp tables, prepared statements do not leak."""
    p = pooler(pool_mode="session", default_pool_size=1)
    a = p.connect()
    pid = query1(a, "SELECT pg_backend_pid()")
    a.execute("SET work_mem = '7MB'")
    a.execute("CREATE TEMP TABLE tmp_leak(x int)")
    a.execute("PREPARE leaky AS SELECT 1")
    a.close()
    b = p.connect()
    assert query1(b, "SELECT pg_backend_pid()") == pid
    assert query1(b, "SHOW work_mem") != "7MB"
    assert query1(b, "SELECT count(*) FROM pg_prepared_statements") == 0
    assert query1(b, "SELECT to_regclass('pg_temp.tmp_leak') IS NULL") is True


def test_custom_server_reset_query(pooler):
    p = pooler(pool_mode="session", default_pool_size=1,
               server_reset_query="RESET work_mem")
    a = p.connect()
    a.execute("SET work_mem = '7MB'")
    a.execute("SET maintenance_work_mem = '9MB'")
    a.close()
    b = p.connect()
    assert query1(b, "SHOW work_mem") != "7MB"
    # Only the configured query ran.
    assert query1(b, "SHOW maintenance_work_mem") == "9MB"


def test_server_reset_query_always(pooler):
    p = pooler(pool_mode="transaction", default_pool_size=1,
               server_reset_query="RESET work_mem", server_reset_query_always=1)
    a = p.connect()
    a.execute("SET work_mem = '7MB'")
    a.close()
    b = p.connect()
    assert query1(b, "SHOW work_mem") != "7MB"


def test_transaction_mode_no_reset_without_always(pooler):
    """Documented PgBouncer behaviour: in transaction mode server_reset_query is
    not run, so a plain SET is visible to the next client on that server."""
    p = pooler(pool_mode="transaction", default_pool_size=1)
    a = p.connect()
    a.execute("SET work_mem = '7MB'")
    a.close()
    b = p.connect()
    assert query1(b, "SHOW work_mem") == "7MB"
