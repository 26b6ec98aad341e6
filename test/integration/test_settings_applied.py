"""Settings a migrated pgbouncer.ini relies on are applied with PgBouncer 1.25's
precedence ([users] over [databases] over [pgbouncer]), error texts, SQLSTATEs and
`closing because: ...` log lines.  Timeouts are small (0.5 s) to keep the file fast."""

import socket
import threading
import time

import psycopg
import pytest

import pgwire
from harness import admin, pgsplit_only, query1

# Upkeep runs every 0.2 s, so a 0.5 s timeout fires between 0.5 and about 0.8 s.
T = 0.5
# Timeouts that also run while a client's first server logs in (query_wait_timeout,
# query_timeout of a queued client) get more room: a loaded CI machine can take that long.
TW = 1.0


def servers_of(p, db, user=None):
    return [s for s in admin(p, "SHOW SERVERS")
            if s["database"] == db and (user is None or s["user"] == user)]


def expect_fatal(fn, text):
    """fn fails with the pooler's error: its text and SQLSTATE 08P01."""
    with pytest.raises(psycopg.OperationalError) as ei:
        fn()
    assert text in str(ei.value), str(ei.value)
    diag = getattr(ei.value, "diag", None)
    if diag is not None and diag.sqlstate is not None:
        assert diag.sqlstate == "08P01", diag.sqlstate
    return ei.value


def hold_then_close(conn, seconds):
    """Keep conn's server busy for `seconds` in a thread, then disconnect."""
    def run():
        conn.execute("SELECT pg_sleep(%s)" % seconds)
        conn.close()
    t = threading.Thread(target=run)
    t.start()
    return t


def login_refusal(p, cluster, user, db):
    """The ErrorResponse fields a login gets (psycopg hides the SQLSTATE of a refusal)."""
    with pgwire.Raw(p.host, p.port) as r:
        with pytest.raises(AssertionError) as ei:
            r.login(user, db, cluster.password(user))
    return str(ei.value)


# ---- per-user limits ------------------------------------------------------------------

@pgsplit_only("[users] pool_size over [databases] pool_size")
def test_user_pool_size_overrides_database_and_global(pooler):
    p = pooler(start=False, pool_mode="session", default_pool_size=5, query_wait_timeout=TW,
               users={"md5user": "pool_size=1"})
    p.databases["app"] = p.connstr("app", pool_size=2)
    p.start()
    # md5user: its own pool_size=1 wins over the database's 2.
    a = p.connect(user="md5user")
    a.execute("SELECT 1")
    expect_fatal(lambda: p.connect(user="md5user").execute("SELECT 1"), "query_wait_timeout")
    # app has no [users] entry: the database's pool_size=2, not the global 5.
    held = [p.connect() for _ in range(2)]
    for c in held:
        c.execute("SELECT 1")
    expect_fatal(lambda: p.connect().execute("SELECT 1"), "query_wait_timeout")


def test_user_pool_mode_overrides_database(pooler):
    p = pooler(start=False, pool_mode="session", default_pool_size=1, query_wait_timeout=3,
               users={"md5user": "pool_mode=transaction"})
    p.databases["app"] = p.connstr("app", pool_mode="session")
    p.start()
    conns = [p.connect(user="md5user") for _ in range(3)]
    # three clients on one server: only transaction pooling allows that
    assert len({query1(c, "SELECT pg_backend_pid()") for c in conns}) == 1


@pgsplit_only("[users] reserve_pool_size (1.24+)")
def test_user_reserve_pool_size(pooler):
    p = pooler(pool_mode="session", default_pool_size=1, reserve_pool_size=0,
               reserve_pool_timeout=0.3, query_wait_timeout=3,
               users={"md5user": "reserve_pool_size=1", "app": "query_wait_timeout=%s" % TW})
    a = p.connect(user="md5user")
    a.execute("SELECT 1")
    b = p.connect(user="md5user")
    assert query1(b, "SELECT 2") == 2          # served from the reserve after 0.3 s
    assert p.wait_log(r"taking connection from reserve_pool for app/md5user", 2)
    # app has no reserve: its second client waits out its own query_wait_timeout
    c = p.connect()
    c.execute("SELECT 1")
    t0 = time.time()
    expect_fatal(lambda: p.connect().execute("SELECT 1"), "query_wait_timeout")
    assert time.time() - t0 < 2.8  # the [users] 1 s, not the global 3 s


def test_database_reserve_pool_old_spelling(pooler):
    p = pooler(start=False, pool_mode="session", default_pool_size=1, reserve_pool_timeout=0.3,
               query_wait_timeout=3)
    p.databases["app"] = p.connstr("app", reserve_pool=1)
    p.start()
    a = p.connect()
    a.execute("SELECT 1")
    assert query1(p.connect(), "SELECT 2") == 2
    assert p.wait_log(r"taking connection from reserve_pool for app/app", 2)


@pgsplit_only("[users] max_user_connections")
def test_user_max_user_connections_overrides_global(pooler):
    p = pooler(pool_mode="session", max_user_connections=5, query_wait_timeout=TW,
               users={"md5user": "max_user_connections=1"})
    a = p.connect(user="md5user")
    a.execute("SELECT 1")
    expect_fatal(lambda: p.connect(db="app2", user="md5user").execute("SELECT 1"),
                 "query_wait_timeout")
    # the global 5 still applies to others
    held = [p.connect(db=d) for d in ("app", "app2")]
    for c in held:
        c.execute("SELECT 1")


@pgsplit_only("[users] max_user_client_connections (1.24+)")
def test_user_max_user_client_connections_overrides_global(pooler, cluster):
    p = pooler(max_user_client_connections=5, users={"md5user": "max_user_client_connections=1"})
    a = p.connect(user="md5user")
    with pytest.raises(psycopg.OperationalError) as ei:
        p.connect(user="md5user", db="app2")
    assert "no more connections allowed (max_user_client_connections)" in str(ei.value)
    assert "'C': '53300'" in login_refusal(p, cluster, "md5user", "app")
    assert [query1(p.connect(), "SELECT 1") for _ in range(2)] == [1, 1]
    assert query1(a, "SELECT 1") == 1


@pgsplit_only("[databases] max_db_client_connections (1.24+)")
def test_database_max_db_client_connections_overrides_global(pooler, cluster):
    p = pooler(start=False, max_db_client_connections=5)
    p.databases["app"] = p.connstr("app", max_db_client_connections=1)
    p.start()
    a = p.connect()
    with pytest.raises(psycopg.OperationalError) as ei:
        p.connect(user="md5user")
    assert "no more connections allowed (max_db_client_connections)" in str(ei.value)
    assert "'C': '53300'" in login_refusal(p, cluster, "md5user", "app")
    assert [query1(p.connect(db="app2"), "SELECT 1") for _ in range(2)] == [1, 1]
    assert query1(a, "SELECT 1") == 1


# ---- query_wait_timeout: [users] over [databases] over global ---------------------------

@pgsplit_only("[databases] query_wait_timeout (1.24+)")
def test_database_query_wait_timeout(pooler):
    p = pooler(start=False, pool_mode="session", default_pool_size=1, query_wait_timeout=10)
    p.databases["app"] = p.connstr("app", query_wait_timeout=TW)
    p.start()
    a = p.connect()
    a.execute("SELECT 1")
    t0 = time.time()
    expect_fatal(lambda: p.connect().execute("SELECT 1"), "query_wait_timeout")
    assert time.time() - t0 < 3
    assert p.wait_log(r"C-\d+: app/app@\S+ closing because: query_wait_timeout", 2)


@pgsplit_only("[users] query_wait_timeout over [databases] (1.24+)")
def test_user_query_wait_timeout_overrides_database(pooler):
    p = pooler(start=False, pool_mode="session", max_db_connections=1, query_wait_timeout=10,
               users={"md5user": "query_wait_timeout=5"})
    p.databases["app"] = p.connstr("app", query_wait_timeout=TW)
    p.start()
    a = p.connect()
    t = hold_then_close(a, 2.0)
    time.sleep(0.2)
    # the database says 1 s, md5user's own 5 s wins: it is served once a is gone
    b = p.connect(user="md5user")
    assert query1(b, "SELECT 7") == 7
    t.join()


@pgsplit_only("query_timeout applies to a queued client (PgBouncer)")
def test_query_timeout_ends_a_wait(pooler, cluster):
    p = pooler(pool_mode="session", default_pool_size=1, query_timeout=TW, query_wait_timeout=10)
    a = p.connect()
    a.execute("SELECT 1")
    with pgwire.Raw(p.host, p.port) as r:
        r.login("app", "app", cluster.password("app"))   # the pool's parameters are known
        r.send(pgwire.query("SELECT 1"))                 # now it queues for the server
        err = r.error_or_close()
    assert (err.get("C"), err.get("M")) == ("08P01", "query_timeout"), err
    assert p.wait_log(r"C-\d+: app/app@\S+ closing because: query_timeout", 2)


# ---- per-user client timeouts ---------------------------------------------------------

def run_query(c):
    c.execute("SELECT pg_sleep(3)")


def idle_in_transaction(c):
    c.execute("BEGIN")
    c.execute("SELECT 1")
    time.sleep(1.2)
    c.execute("SELECT 1")


def long_transaction(c):
    c.execute("BEGIN")
    deadline = time.time() + 3
    while time.time() < deadline:
        c.execute("SELECT pg_sleep(0.1)")


def idle_client(c):
    c.execute("SELECT 1")
    time.sleep(1.2)
    c.execute("SELECT 1")


USER_TIMEOUTS = [
    ("query_timeout", run_query, "query timeout", True),  # also while logging in: TW
    ("idle_transaction_timeout", idle_in_transaction, "idle transaction timeout", True),
    ("transaction_timeout", long_transaction, "transaction timeout", True),
    ("client_idle_timeout", idle_client, "client_idle_timeout", False),
]


@pgsplit_only("[users] timeouts (1.24+, transaction_timeout 1.25)")
@pytest.mark.parametrize("setting,action,reason,server_closed", USER_TIMEOUTS,
                         ids=[t[0] for t in USER_TIMEOUTS])
def test_user_timeout(pooler, setting, action, reason, server_closed):
    limit = TW if setting == "query_timeout" else T
    p = pooler(pool_mode="transaction", users={"md5user": "%s=%s" % (setting, limit)})
    c = p.connect(user="md5user")
    t0 = time.time()
    with pytest.raises(psycopg.OperationalError):
        action(c)
    assert time.time() - t0 < 3
    assert p.wait_log(r"C-\d+: app/md5user@\S+ closing because: %s" % reason, 2)
    if server_closed:
        assert p.wait_log(r"S-\d+: app/md5user@\S+ closing because: %s" % reason, 2)
    # app has no [users] entry: the global (off) applies
    other = p.connect()
    if setting == "query_timeout":
        assert query1(other, "SELECT pg_sleep(1.5)::text || 'ok'") == "ok"
    else:
        other.execute("BEGIN" if "transaction" in setting else "SELECT 1")
        time.sleep(1.0)
        assert query1(other, "SELECT 'ok'") == "ok"


@pgsplit_only("[users] query_timeout over the global one (1.24+)")
def test_user_query_timeout_overrides_global(pooler, cluster):
    p = pooler(pool_mode="transaction", query_timeout=TW, users={"md5user": "query_timeout=5"})
    assert query1(p.connect(user="md5user"), "SELECT pg_sleep(1.5)::text || 'ok'") == "ok"
    with pgwire.Raw(p.host, p.port) as r:
        r.login("app", "app", cluster.password("app"))
        r.send(pgwire.query("SELECT pg_sleep(3)"))
        err = r.error_or_close()
    assert (err.get("C"), err.get("M")) == ("08P01", "query timeout"), err
    assert p.wait_log(r"S-\d+: app/app@\S+ closing because: query timeout", 2)


# ---- min_pool_size and the connection caps ------------------------------------------

@pgsplit_only("min_pool_size never evicts (PgBouncer 1.25)")
@pytest.mark.parametrize("cap", ["max_user_connections", "max_db_connections"])
def test_min_pool_size_stays_under_lower_cap(pooler, cap):
    """Two pools share a cap of 2 and want min_pool_size 3 each: a waiting client may
    evict another pool's idle server, filling min_pool_size may not (no ping-pong)."""
    p = pooler(pool_mode="transaction", default_pool_size=5, min_pool_size=3, **{cap: 2})
    if cap == "max_user_connections":
        conns = [p.connect(db="app"), p.connect(db="app2")]
    else:
        conns = [p.connect(user="app"), p.connect(user="md5user")]
    for c in conns:
        c.execute("SELECT 1")
    time.sleep(0.6)
    evictions = p.output().count("evicted")
    time.sleep(1.2)
    assert p.output().count("evicted") == evictions
    assert len(admin(p, "SHOW SERVERS")) <= 2
    for c in conns:
        assert query1(c, "SELECT 1") == 1


@pgsplit_only("min_pool_size of a forced-user database before any client (1.25)")
def test_min_pool_size_forced_user_opens_without_clients(pooler, cluster):
    p = pooler(start=False, pool_mode="transaction")
    p.databases["forced"] = p.connstr("app", user="md5user", password=cluster.password("md5user"),
                                      min_pool_size=2)
    p.start()
    deadline = time.time() + 4
    while time.time() < deadline and len(servers_of(p, "forced")) < 2:
        time.sleep(0.1)
    assert len(servers_of(p, "forced")) == 2


# ---- server checks, retries, connect timeout ---------------------------------------------

def last_query_of(cluster, pid):
    return cluster.primary.psql("SELECT coalesce(query, '<gone>') FROM pg_stat_activity "
                                "WHERE pid = %d UNION ALL SELECT '<gone>' LIMIT 1" % pid)


@pytest.mark.parametrize("check_query,expect", [
    (None, ""),                                  # default <empty>: an empty query
    ("", "SELECT pg_backend_pid()"),             # empty: no check at all
    ("SELECT 12345", "SELECT 12345"),            # the given query
])
def test_server_check_query(pooler, cluster, check_query, expect):
    settings = {"pool_mode": "transaction", "default_pool_size": 1, "server_check_delay": 0.3}
    if check_query is not None:
        settings["server_check_query"] = check_query
    p = pooler(**settings)
    c = p.connect()
    pid = query1(c, "SELECT pg_backend_pid()")
    time.sleep(1.0)
    assert last_query_of(cluster, pid) == expect
    assert query1(c, "SELECT pg_backend_pid()") == pid


def test_server_check_query_failure_replaces_server(pooler, cluster):
    p = pooler(pool_mode="transaction", default_pool_size=1, server_check_delay=0.3,
               server_check_query="SELECT 1/0")
    c = p.connect()
    pid = query1(c, "SELECT pg_backend_pid()")
    time.sleep(1.0)
    assert query1(c, "SELECT pg_backend_pid()") != pid


@pytest.mark.parametrize("check_query,same_server", [(None, True), ("SELECT 1/0", False)])
def test_server_check_delay_zero_checks_every_reuse(pooler, check_query, same_server):
    """server_check_delay = 0: an idle server is checked before each reuse; a failing
    check replaces it, so every transaction lands on a new backend."""
    settings = {"pool_mode": "transaction", "default_pool_size": 1, "server_check_delay": 0}
    if check_query:
        settings["server_check_query"] = check_query
    p = pooler(**settings)
    c = p.connect()
    pids = [query1(c, "SELECT pg_backend_pid()") for _ in range(3)]
    assert (len(set(pids)) == 1) == same_server, pids


@pgsplit_only("fails clients at once while server_login_retry runs")
def test_server_login_retry(pooler):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = pooler(start=False, server_login_retry=1.5, query_wait_timeout=5)
    p.databases["down"] = "host=127.0.0.1 port=%d dbname=app" % port
    p.start()
    with pytest.raises(psycopg.OperationalError):
        p.connect(db="down").execute("SELECT 1")
    attempts = p.output().count("login failed")
    t0 = time.time()
    with pytest.raises(psycopg.OperationalError):
        p.connect(db="down").execute("SELECT 1")
    assert time.time() - t0 < 1.0
    assert p.output().count("login failed") == attempts  # no new attempt in the window
    time.sleep(1.6)
    with pytest.raises(psycopg.OperationalError):
        p.connect(db="down").execute("SELECT 1")
    assert p.output().count("login failed") > attempts   # tried again after it


@pgsplit_only("server_connect_timeout wording (1.25)")
def test_server_connect_timeout_half_open(pooler):
    # listen() without accept(): the TCP handshake completes, nothing ever answers
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        p = pooler(start=False, server_connect_timeout=T, query_wait_timeout=5)
        p.databases["hung"] = "host=127.0.0.1 port=%d dbname=app" % silent.getsockname()[1]
        p.start()
        t0 = time.time()
        with pytest.raises(psycopg.OperationalError):
            p.connect(db="hung").execute("SELECT 1")
        assert time.time() - t0 < 3
        assert p.wait_log(r"S-\d+: hung/app@\S+ closing because: connect timeout", 2)
    finally:
        silent.close()


# ---- auth_dbname --------------------------------------------------------------------------

@pgsplit_only("auth_dbname (1.24+)")
@pytest.mark.parametrize("where", ["database", "global"])
def test_auth_dbname(pooler, where):
    # user_lookup exists only in database app: app2's lookups must run there
    settings = {"auth_type": "md5", "auth_user": "trustuser",
                "auth_query": "SELECT uname, phash FROM public.user_lookup($1)"}
    if where == "global":
        settings["auth_dbname"] = "app"
    p = pooler(start=False, userlist={"trustuser": "trustpass"}, **settings)
    if where == "database":
        p.databases["app2"] = p.connstr("app2", auth_dbname="app")
    p.start()
    c = p.connect(db="app2", user="md5user", password="md5pass")
    assert query1(c, "SELECT current_database() || '/' || current_user") == "app2/md5user"
    with pytest.raises(psycopg.OperationalError):
        p.connect(db="app2", user="md5user", password="wrong")


# ---- word-valued settings are resolved again on SET -----------------------------------

@pgsplit_only("replica_fallback is pgsplit's")
def test_set_replica_fallback_takes_effect(pooler):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    p = pooler(start=False, pool_mode="transaction")
    p.databases["app"] = p.connstr("app", replicas="127.0.0.1:%d" % dead)
    p.start()
    c = p.connect()
    assert query1(c, "SELECT 1") == 1        # replica_fallback = primary (default)
    admin(p, "SET replica_fallback = 'error'")
    with pytest.raises(psycopg.errors.CannotConnectNow):
        c.execute("SELECT 1")
    admin(p, "SET replica_fallback = 'primary'")
    assert query1(c, "SELECT 2") == 2


@pytest.mark.parametrize("where", ["global", "database"])
def test_server_lifetime_zero_uses_each_server_once(pooler, where):
    """server_lifetime = 0: each server connection serves one client, then closes."""
    if where == "global":
        p = pooler(pool_mode="transaction", server_lifetime=0)
    else:
        p = pooler(start=False, pool_mode="transaction")
        p.databases["app"] += " server_lifetime=0"
        p.start()
    with p.connect() as c:
        pids = {query1(c, "SELECT pg_backend_pid()") for _ in range(4)}
    assert len(pids) == 4, "a server connection served more than one transaction: %s" % pids
    assert p.wait_log(r"closing because: server lifetime over", 2)
