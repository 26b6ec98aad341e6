"""Replication connections through the pooler (replication=true / database).

PostgreSQL 15's own tools (pg_basebackup, pg_receivewal, pg_recvlogical) and raw
startup packets talk to a primary with one streaming replica and wal_level=logical,
made for this module.  Physical replication clients of PostgreSQL 15 send the database
name "replication", so the pooler has a [databases] entry of that name.
"""

import os
import signal
import socket
import struct
import subprocess
import time

import psycopg
import pytest

import harness
import pgwire
from harness import pgcluster, query1, wait_until

# One xdist worker runs this module (--dist loadgroup): its module fixtures are made once.
pytestmark = [pytest.mark.xdist_group("replication_conn"),
              harness.pgsplit_only("replication connections through pgsplit")]

PG_BIN = harness.PG_BIN
REPL_PW = "replpass"


def _make_repl_role(c):
    c.primary.psql("CREATE ROLE repl LOGIN REPLICATION PASSWORD '%s'" % REPL_PW)
    # a smaller cluster makes a faster base backup
    c.primary.psql("DROP DATABASE bench")
    c.primary.psql("DROP DATABASE app2")


@pytest.fixture(scope="module")
def repl_cluster():
    c = harness.create_cluster("pgsplit-repl-", replicas=1, after_create=_make_repl_role,
                               wal_level="logical")
    yield c
    c.destroy()


@pytest.fixture
def rpooler(repl_cluster, request):
    """Factory like conftest's pooler, on this module's cluster; `replication` and `app`
    entries have the replica and routing on (auto)."""
    made = []

    def factory(users=None, start=True, **settings):
        def build():
            userlist = dict(harness.DEFAULT_PASSWORDS)
            userlist["repl"] = REPL_PW
            p = harness.Pooler(repl_cluster, settings, None, users, userlist)
            rep = "127.0.0.1:%d" % repl_cluster.replicas[0].port
            # "limited" has no replicas: no monitor connection counts against its caps
            p.databases = {"replication": p.connstr("postgres", replicas=rep),
                           "app": p.connstr("app", replicas=rep),
                           "limited": p.connstr("postgres", pool_size=1, min_pool_size=1,
                                                max_db_connections=2)}
            return p
        return harness.start_pooler(made, build, start=start)

    yield factory
    harness.finish_test_poolers(request, made)


def tool_env():
    env = dict(os.environ)
    env["PGPASSWORD"] = REPL_PW
    env["PGCONNECT_TIMEOUT"] = "10"
    return env


def tool(name, pooler, *args):
    return [os.path.join(PG_BIN, name), "-h", pooler.host, "-p", str(pooler.port), "-U", "repl",
            "-w"] + list(args)


def sockets(pooler, what, kind):
    return [r for r in harness.admin(pooler, "SHOW " + what) if r["replication"] == kind]


def primary_conn(cluster):
    return psycopg.connect(cluster.primary.dsn(), autocommit=True)


def repl_startup(pooler, user, db, pw, value):
    """A raw md5 login with replication=value: (Raw, BackendKeyData, None) once logged in,
    or (None, None, the ErrorResponse's fields) when refused."""
    raw = pgwire.Raw(pooler.host, pooler.port)
    raw.send(pgwire.startup_packet({"user": user, "database": db, "replication": value,
                                    "application_name": "rawrepl"}))
    key = None
    while True:
        k, b = raw.read_msg()
        if k == b"R" and struct.unpack("!I", b[:4])[0] == 5:
            raw.send(pgwire.password(pgwire.md5_password(user, pw, b[4:8])))
        elif k == b"K":
            key = struct.unpack("!II", b)
        elif k == b"E":
            raw.close()
            return None, None, pgwire.parse_fields(b)
        elif k == b"Z":
            return raw, key, None


def test_basebackup_streams_from_the_primary_and_verifies(rpooler, repl_cluster, tmp_path):
    p = rpooler()
    dest = str(tmp_path / "backup")
    # --max-rate keeps it running long enough to be seen in SHOW CLIENTS / SERVERS
    proc = subprocess.Popen(tool("pg_basebackup", p, "-D", dest, "-X", "stream", "-c", "fast",
                                 "--no-sync", "--max-rate", "8M"),
                            env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: len(sockets(p, "SERVERS", "physical")) >= 1, timeout=20)
        servers = sockets(p, "SERVERS", "physical")
        clients = sockets(p, "CLIENTS", "physical")
        assert clients and all(c["database"] == "replication" and c["user"] == "repl" for c in clients)
        # never a replica, though the database has one and routing is on
        assert all((s["addr"], s["port"]) == ("127.0.0.1", repl_cluster.port) for s in servers)
        assert all(s["target"] == "primary" for s in servers)
    finally:
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    verify = subprocess.run([os.path.join(PG_BIN, "pg_verifybackup"), dest], capture_output=True,
                            text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "successfully verified" in verify.stdout
    assert p.wait_log(r"login attempt: db=replication user=repl tls=no replication=yes")
    # closed with their clients, never pooled
    assert wait_until(lambda: not sockets(p, "SERVERS", "physical"), timeout=5)


def test_receivewal_gets_wal_written_by_another_client(rpooler, repl_cluster, tmp_path):
    p = rpooler()
    dest = str(tmp_path / "wal")
    os.mkdir(dest)
    proc = subprocess.Popen(tool("pg_receivewal", p, "-D", dest, "--synchronous", "-s", "1",
                                 "--no-loop"),
                            env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with primary_conn(repl_cluster) as pc:
            def streaming():
                return pc.execute("SELECT count(*) FROM pg_stat_replication "
                                  "WHERE application_name = 'pg_receivewal'").fetchone()[0] == 1
            # application_name reached the walsender in its startup packet
            assert wait_until(streaming, timeout=15), proc.stderr.read() if proc.poll() is not None else ""
            with harness.connect(p, db="app", user="app") as conn:
                conn.execute("INSERT INTO items(v) VALUES ('through-pgsplit')")
            lsn = pc.execute("SELECT pg_current_wal_lsn()").fetchone()[0]

            def flushed():
                return pc.execute("SELECT flush_lsn >= %s FROM pg_stat_replication "
                                  "WHERE application_name = 'pg_receivewal'", (lsn,)).fetchone()[0]
            assert wait_until(flushed, timeout=10)
            assert wait_until(lambda: any(f.endswith(".partial") for f in os.listdir(dest))), (
                os.listdir(dest), lsn, pc.execute("SELECT * FROM pg_stat_replication").fetchall())
            assert [c["state"] for c in sockets(p, "CLIENTS", "physical")] == ["active"]
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=10)
            assert wait_until(lambda: not sockets(p, "SERVERS", "physical"), timeout=5)
            assert wait_until(lambda: not streaming() and pc.execute(
                "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'pg_receivewal'"
            ).fetchone()[0] == 0, timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_recvlogical_receives_an_insert(rpooler, repl_cluster, tmp_path):
    p = rpooler()
    out = str(tmp_path / "changes.txt")
    slot = "pgsplit_t_%d" % os.getpid()
    made = subprocess.run(tool("pg_recvlogical", p, "-d", "app", "--slot", slot, "--create-slot",
                               "-P", "test_decoding"), env=tool_env(), capture_output=True, text=True,
                          timeout=30)
    assert made.returncode == 0, made.stderr
    proc = subprocess.Popen(tool("pg_recvlogical", p, "-d", "app", "--slot", slot, "--start",
                                 "-f", out, "--no-loop", "-s", "1", "-F", "1"),
                            env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: len(sockets(p, "SERVERS", "logical")) == 1, timeout=15)
        assert [c["database"] for c in sockets(p, "CLIENTS", "logical")] == ["app"]
        with harness.connect(p, db="app", user="app") as conn:
            conn.execute("INSERT INTO items(v) VALUES ('logical-marker')")

        def decoded():
            return os.path.exists(out) and "logical-marker" in open(out).read()
        assert wait_until(decoded, timeout=15)
        assert "table public.items: INSERT" in open(out).read()
        assert p.wait_log(r"login attempt: db=app user=repl tls=no replication=database")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        with primary_conn(repl_cluster) as pc:
            wait_until(lambda: not pc.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s",
                                              (slot,)).fetchone()[0], timeout=10)
            pc.execute("SELECT pg_drop_replication_slot(%s)", (slot,))


def test_logical_subscription_through_the_pooler(rpooler, repl_cluster):
    """A subscription in another database of the same server subscribes through pgsplit:
    the initial copy and a row inserted through pgsplit afterwards both arrive."""
    p = rpooler()
    prim = repl_cluster.primary
    prim.psql("CREATE TABLE subt(id int PRIMARY KEY, v text); GRANT ALL ON subt TO PUBLIC; "
              "INSERT INTO subt VALUES (1, 'copied'); CREATE PUBLICATION subpub FOR TABLE subt",
              db="app")
    # a subscription to its own server needs its slot made beforehand
    prim.psql("SELECT pg_create_logical_replication_slot('subslot', 'pgoutput')", db="app")
    prim.psql("CREATE DATABASE subdb")
    prim.psql("CREATE TABLE subt(id int PRIMARY KEY, v text)", db="subdb")
    conninfo = "host=%s port=%d dbname=app user=repl password=%s" % (p.host, p.port, REPL_PW)
    prim.psql("CREATE SUBSCRIPTION sub CONNECTION '%s' PUBLICATION subpub "
              "WITH (create_slot = false, slot_name = 'subslot')" % conninfo, db="subdb")
    try:
        def rows():
            return prim.psql("SELECT string_agg(v, ',' ORDER BY id) FROM subt", db="subdb")
        assert wait_until(lambda: rows() == "copied", timeout=20), rows()
        with harness.connect(p, db="app", user="app") as conn:
            conn.execute("INSERT INTO subt VALUES (2, 'streamed')")
        assert wait_until(lambda: rows() == "copied,streamed", timeout=20), rows()
        clients = sockets(p, "CLIENTS", "logical")
        assert clients and all(c["database"] == "app" and c["user"] == "repl" for c in clients)
        servers = sockets(p, "SERVERS", "logical")
        assert servers and all(s["port"] == prim.port for s in servers)
    finally:
        prim.psql("ALTER SUBSCRIPTION sub DISABLE", db="subdb", check=False)
        prim.psql("ALTER SUBSCRIPTION sub SET (slot_name = NONE)", db="subdb", check=False)
        prim.psql("DROP SUBSCRIPTION sub", db="subdb", check=False)
        prim.psql("DROP DATABASE subdb WITH (FORCE)", check=False)
        with primary_conn(repl_cluster) as pc:
            wait_until(lambda: not pc.execute("SELECT bool_or(active) FROM pg_replication_slots "
                                              "WHERE slot_name = 'subslot'").fetchone()[0], timeout=10)
        prim.psql("SELECT pg_drop_replication_slot('subslot'); DROP PUBLICATION subpub; "
                  "DROP TABLE subt", db="app", check=False)


def test_logical_session_sql_and_cancel_key(rpooler):
    """A logical walsender runs SQL: the pooler's BackendKeyData cancels its query."""
    p = rpooler()
    raw, key, err = repl_startup(p, "repl", "app", REPL_PW, "database")
    assert err is None
    try:
        rows, errors = raw.simple("SELECT current_database(), current_setting('application_name')")
        assert errors == [] and rows == [["app", "rawrepl"]]
        raw.send(pgwire.query("SELECT pg_sleep(30)"))
        time.sleep(0.3)
        with socket.create_connection((p.host, p.port)) as s:
            s.sendall(struct.pack("!IIII", 16, pgwire.CANCEL_CODE, key[0], key[1]))
        t0 = time.time()
        fields = raw.expect_error()
        assert fields["C"] == "57014" and time.time() - t0 < 10
        raw.read_until((b"Z",))
    finally:
        raw.close()


def hold_full_pool(p, db):
    """A session-mode client holding the pool's one server and a second one queued."""
    busy = harness.connect(p, db=db, user="repl", password=REPL_PW, autocommit=False)
    busy.execute("SELECT 1")
    waiting = pgwire.Raw(p.host, p.port)
    waiting.login("repl", db, REPL_PW)
    waiting.send(pgwire.query("SELECT 2"))
    return busy, waiting


def pool_row(p, db):
    return [r for r in harness.admin(p, "SHOW POOLS") if r["database"] == db and r["user"] == "repl"][0]


def test_pool_size_does_not_apply_but_max_db_connections_does(rpooler):
    p = rpooler()
    busy, waiting = hold_full_pool(p, "limited")
    repl = None
    try:
        assert wait_until(lambda: pool_row(p, "limited")["cl_waiting"] == 1)
        # the pool is full and a client queues, yet a replication login is served at once
        repl, _key, err = repl_startup(p, "repl", "limited", REPL_PW, "true")
        assert err is None
        rows, errors = repl.simple("IDENTIFY_SYSTEM")
        assert errors == [] and len(rows) == 1 and rows[0][1] == "1"
        row = pool_row(p, "limited")
        assert (row["cl_active"], row["sv_active"], row["cl_waiting"]) == (2, 2, 1)
        # two servers of the database now: the next replication login is over the cap
        _raw, _key, err = repl_startup(p, "repl", "limited", REPL_PW, "on")
        assert err["C"] == "53300" and err["M"] == "no more connections allowed (max_db_connections)"
        assert pool_row(p, "limited")["cl_waiting"] == 1  # still queued: pool_size holds for it
    finally:
        for c in (busy, waiting, repl):
            if c is not None:
                c.close()


def test_max_user_connections_counts_replication_servers(rpooler):
    p = rpooler(users={"repl": "max_user_connections=1"})
    repl, _key, err = repl_startup(p, "repl", "replication", REPL_PW, "true")
    assert err is None
    try:
        _raw, _key, err = repl_startup(p, "repl", "app", REPL_PW, "database")
        assert err["C"] == "53300" and err["M"] == "no more connections allowed (max_user_connections)"
    finally:
        repl.close()
    # its server went with it: the slot is free again
    assert wait_until(lambda: not sockets(p, "SERVERS", "physical"))
    raw, _key, err = repl_startup(p, "repl", "app", REPL_PW, "database")
    assert err is None
    raw.close()


def test_unprivileged_user_gets_the_servers_fatal(rpooler):
    p = rpooler()
    _raw, _key, err = repl_startup(p, "app", "replication", "apppass", "true")
    assert err["S"] == "FATAL" and err["C"] == "42501", err
    assert "walsender" in err["M"] or "replication" in err["M"]
    # the same (database, user) pool still serves, without a login backoff
    assert query1(harness.connect(p, db="replication", user="app"), "SELECT 1") == 1
    assert query1(harness.connect(p, db="app", user="app"), "SELECT 1") == 1
    assert harness.admin(p, "SHOW VERSION")


def test_startup_values(rpooler):
    p = rpooler()
    _raw, _key, err = repl_startup(p, "repl", "replication", REPL_PW, "maybe")
    assert err["C"] == "22023"
    assert err["M"] == 'invalid value for parameter "replication": "maybe"'
    for value in ("false", "off", "0", "no"):
        raw, _key, err = repl_startup(p, "repl", "replication", REPL_PW, value)
        assert err is None
        rows, errors = raw.simple("SELECT 1")  # SQL, which a physical walsender refuses
        assert rows == [["1"]] and errors == []
        assert not sockets(p, "CLIENTS", "physical") and not sockets(p, "SERVERS", "physical")
        raw.close()
    # PostgreSQL's prefixes of true/yes and its 1 are physical
    for value in ("1", "yes", "tr", "ON"):
        raw, _key, err = repl_startup(p, "repl", "replication", REPL_PW, value)
        assert err is None
        rows, errors = raw.simple("IDENTIFY_SYSTEM")
        assert errors == [] and len(rows) == 1
        raw.close()
    _raw, _key, err = repl_startup(p, "admin", "pgbouncer", "adminpass", "true")
    assert err["C"] == "0A000"
    assert err["M"] == "replication connections to the admin console are not supported"


def test_hba_replication_keyword(rpooler):
    p = rpooler(start=False, auth_type="hba")
    path = os.path.join(p.dir, "hba.conf")
    with open(path, "w") as f:
        f.write("host replication repl 127.0.0.1/32 md5\n"
                "host app         app  127.0.0.1/32 md5\n")
    pgcluster.chown_pg(path)
    p.settings["auth_hba_file"] = path
    p.start()
    raw, _key, err = repl_startup(p, "repl", "replication", REPL_PW, "true")
    assert err is None
    raw.close()
    # the rule for app's ordinary logins does not admit its physical replication
    _raw, _key, err = repl_startup(p, "app", "app", "apppass", "true")
    assert err["C"] == "28000"
    assert err["M"] == 'no pg_hba.conf entry for replication connection from host "127.0.0.1", user "app"'
    # a logical connection matches the database name, not "replication"
    _raw, _key, err = repl_startup(p, "repl", "app", REPL_PW, "database")
    assert err["C"] == "28000" and 'database "app"' in err["M"], err
    # and "replication" does not admit an ordinary connection to a database of that name
    with pytest.raises(psycopg.OperationalError, match="no pg_hba.conf entry"):
        harness.connect(p, db="replication", user="repl", password=REPL_PW)


def test_reconnect_and_pause_keep_the_stream_and_kill_closes_it(rpooler):
    p = rpooler()
    raw, _key, err = repl_startup(p, "repl", "replication", REPL_PW, "true")
    assert err is None
    try:
        # RECONNECT closes servers as they are released: a replication server never is,
        # and WAIT_CLOSE does not wait for it; nor does PAUSE
        t0 = time.time()
        harness.admin(p, "RECONNECT replication")
        harness.admin(p, "WAIT_CLOSE replication")
        harness.admin(p, "PAUSE replication")
        assert time.time() - t0 < 3
        rows, errors = raw.simple("IDENTIFY_SYSTEM")
        assert errors == [] and len(rows) == 1
        assert len(sockets(p, "SERVERS", "physical")) == 1
        harness.admin(p, "RESUME replication")
        harness.admin(p, "KILL replication")
        assert raw.is_closed()
        assert wait_until(lambda: not sockets(p, "SERVERS", "physical") and
                          not sockets(p, "CLIENTS", "physical"))
    finally:
        raw.close()


def test_timeouts_do_not_apply(rpooler):
    """A walsender's command runs for the connection's life: no query, transaction or
    idle timeout cuts it."""
    p = rpooler(query_timeout=1, transaction_timeout=1, idle_transaction_timeout=1,
                client_idle_timeout=1)
    idle, _key, err = repl_startup(p, "repl", "replication", REPL_PW, "true")
    assert err is None
    busy, _key, err = repl_startup(p, "repl", "app", REPL_PW, "database")
    assert err is None
    try:
        rows, errors = busy.simple("SELECT pg_sleep(2.5), 'slept'")
        assert errors == [] and rows[0][1] == "slept"
        rows, errors = idle.simple("IDENTIFY_SYSTEM")
        assert errors == [] and len(rows) == 1
    finally:
        idle.close()
        busy.close()
    # the same settings do cut an ordinary client
    conn = harness.connect(p, db="app", user="app")
    with pytest.raises(psycopg.OperationalError):
        conn.execute("SELECT pg_sleep(3)")


def test_min_pool_size_does_not_count_replication_servers(rpooler):
    p = rpooler()
    repl, _key, err = repl_startup(p, "repl", "limited", REPL_PW, "true")
    assert err is None
    try:
        def limited_servers():
            return sorted(r["replication"] for r in harness.admin(p, "SHOW SERVERS")
                          if r["database"] == "limited")
        time.sleep(1)  # upkeep runs every 200 ms: a replication client alone opens no pooled server
        assert limited_servers() == ["physical"]
        harness.connect(p, db="limited", user="repl", password=REPL_PW)
        # min_pool_size=1 is not met by the replication server: one pooled server opens
        assert wait_until(lambda: limited_servers() == ["none", "physical"], timeout=3)
    finally:
        repl.close()


def test_server_end_reaches_the_client(rpooler, repl_cluster):
    p = rpooler()
    raw, _key, err = repl_startup(p, "repl", "replication", REPL_PW, "true")
    assert err is None
    try:
        with primary_conn(repl_cluster) as pc:
            pc.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_replication "
                       "WHERE application_name = 'rawrepl'")
        fields = raw.error_or_close()
        assert fields.get("C") == "57P01", fields  # PostgreSQL's own FATAL, relayed
        assert raw.is_closed()
        assert wait_until(lambda: not sockets(p, "CLIENTS", "physical"))
    finally:
        raw.close()


def test_new_replication_logins_follow_a_failover(request):
    """Its own cluster: a promotion cannot be undone."""
    c = harness.create_cluster("pgsplit-replfo-", replicas=1,
                               after_create=lambda cl: cl.primary.psql(
                                   "CREATE ROLE repl LOGIN REPLICATION PASSWORD '%s'" % REPL_PW))
    made = []
    try:
        old, new = c.primary, c.replicas[0]

        def build():
            userlist = dict(harness.DEFAULT_PASSWORDS)
            userlist["repl"] = REPL_PW
            p = harness.Pooler(c, {"replica_check_period": "0.1"}, None, None, userlist)
            p.databases = {"replication": p.connstr("postgres", replicas="127.0.0.1:%d" % new.port)}
            return p
        p = harness.start_pooler(made, build)
        before, _key, err = repl_startup(p, "repl", "replication", REPL_PW, "true")
        assert err is None
        assert before.simple("IDENTIFY_SYSTEM")[0][0][1] == "1"  # timeline 1: the old primary
        old.stop("immediate")
        assert before.is_closed(), "the stream to the stopped primary was not closed"
        pgcluster.run_as_pg([os.path.join(PG_BIN, "pg_ctl"), "-D", new.datadir, "-w", "-t", "30",
                             "promote"])
        assert p.wait_log(r"database replication: the primary is 127\.0\.0\.1:%d now" % new.port, 10)
        after, _key, err = repl_startup(p, "repl", "replication", REPL_PW, "true")
        assert err is None
        try:
            assert after.simple("IDENTIFY_SYSTEM")[0][0][1] == "2"  # the promoted standby's timeline
            assert [s["port"] for s in sockets(p, "SERVERS", "physical")] == [new.port]
        finally:
            after.close()
    finally:
        harness.finish_test_poolers(request, made)
        c.destroy()
