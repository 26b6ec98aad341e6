"""Admin console: access rules, every SHOW view (columns as PgBouncer 1.25 sends
them, and values that follow the traffic the test made), every control command
seen from a live client, and process signals.

The column tables below are PgBouncer 1.25's, checked against the 1.25 doc/usage.md
(as published at pigsty.io/docs/pgbouncer/usage, "pgBouncer 1.25 Documentation";
the 1.25.0 changelog adds no SHOW column; total_server_closed_count and the
server-lifetime figures are a later proposal, not 1.25), put in the order PgBouncer
actually sends them: the docs list SHOW STATS's total_server_assignment_count after
total_query_count, the server sends it first (as exporters written against 1.24+
expect); the docs call SHOW PEER_POOLS's first column "database", the server sends
"peer_id".  Against PgBouncer 1.18 (PGSPLIT_BIN=/usr/sbin/pgbouncer) the
exact-column checks are skipped: 1.18 lacks the columns added since.
"""

import os
import signal
import socket
import struct
import subprocess
import threading
import time

import psycopg
import pytest

import harness
import pgwire
from harness import (admin, admin_columns, is_pgbouncer, pgcluster, pgsplit_only, psql,
                     query1)

# ---------------------------------------------------------------------------
# PgBouncer 1.25's columns and types (T = text, I = int4, Q = int8, N = numeric,
# B = bytea; PgBouncer sends timestamps as text)

STATS_FIGURES = ["server_assignment_count", "xact_count", "query_count"]

SOCKET_COLS = [
    ("type", "T"), ("user", "T"), ("database", "T"), ("replication", "T"), ("state", "T"),
    ("addr", "T"), ("port", "I"), ("local_addr", "T"), ("local_port", "I"),
    ("connect_time", "T"), ("request_time", "T"), ("wait", "I"), ("wait_us", "I"),
    ("close_needed", "I"), ("ptr", "T"), ("link", "T"), ("remote_pid", "I"), ("tls", "T"),
    ("application_name", "T"), ("prepared_statements", "I"), ("id", "I"),
]
SOCKET_DEBUG_COLS = [
    ("recv_pos", "I"), ("pkt_pos", "I"), ("pkt_remain", "I"), ("send_pos", "I"),
    ("send_remain", "I"), ("pkt_avail", "I"), ("send_avail", "I"),
]


def _num(names):
    return [(n, "N") for n in names]


PGB125 = {
    "STATS": [("database", "T")] + _num([
        "total_server_assignment_count", "total_xact_count", "total_query_count",
        "total_received", "total_sent", "total_xact_time", "total_query_time",
        "total_wait_time", "total_client_parse_count", "total_server_parse_count",
        "total_bind_count", "avg_server_assignment_count", "avg_xact_count",
        "avg_query_count", "avg_recv", "avg_sent", "avg_xact_time", "avg_query_time",
        "avg_wait_time", "avg_client_parse_count", "avg_server_parse_count",
        "avg_bind_count"]),
    "STATS_TOTALS": [("database", "T")] + _num([
        "server_assignment_count", "xact_count", "query_count", "bytes_received",
        "bytes_sent", "xact_time", "query_time", "wait_time", "client_parse_count",
        "server_parse_count", "bind_count"]),
    "STATS_AVERAGES": [("database", "T")] + _num([
        "server_assignment_count", "xact_count", "query_count", "bytes_received",
        "bytes_sent", "xact_time", "query_time", "wait_time", "avg_client_parse_count",
        "avg_server_parse_count", "avg_bind_count"]),
    "TOTALS": [("name", "T"), ("value", "N")],
    "SERVERS": SOCKET_COLS,
    "CLIENTS": SOCKET_COLS,
    "POOLS": [("database", "T"), ("user", "T")] + [(n, "I") for n in [
        "cl_active", "cl_waiting", "cl_active_cancel_req", "cl_waiting_cancel_req",
        "sv_active", "sv_active_cancel", "sv_being_canceled", "sv_idle", "sv_used",
        "sv_tested", "sv_login", "maxwait", "maxwait_us"]]
        + [("pool_mode", "T"), ("load_balance_hosts", "T")],
    "PEER_POOLS": [(n, "I") for n in ["peer_id", "cl_active_cancel_req",
                                      "cl_waiting_cancel_req", "sv_active_cancel",
                                      "sv_login"]],
    "LISTS": [("list", "T"), ("items", "I")],
    "USERS": [("name", "T"), ("pool_size", "T"), ("reserve_pool_size", "T"),
              ("pool_mode", "T"), ("max_user_connections", "I"),
              ("current_connections", "I"), ("max_user_client_connections", "I"),
              ("current_client_connections", "I")],
    "DATABASES": [("name", "T"), ("host", "T"), ("port", "I"), ("database", "T"),
                  ("force_user", "T"), ("pool_size", "I"), ("min_pool_size", "I"),
                  ("reserve_pool_size", "I"), ("server_lifetime", "I"), ("pool_mode", "T"),
                  ("load_balance_hosts", "T"), ("max_connections", "I"),
                  ("current_connections", "I"), ("max_client_connections", "I"),
                  ("current_client_connections", "I"), ("paused", "I"), ("disabled", "I")],
    "PEERS": [("peer_id", "I"), ("host", "T"), ("port", "I"), ("pool_size", "I")],
    "FDS": [("fd", "I"), ("task", "T"), ("user", "T"), ("database", "T"), ("addr", "T"),
            ("port", "I"), ("cancel", "Q"), ("link", "I"), ("client_encoding", "T"),
            ("std_strings", "T"), ("datestyle", "T"), ("timezone", "T"), ("password", "T"),
            ("scram_client_key", "B"), ("scram_server_key", "B")],
    "SOCKETS": SOCKET_COLS + SOCKET_DEBUG_COLS,
    "ACTIVE_SOCKETS": SOCKET_COLS + SOCKET_DEBUG_COLS,
    "CONFIG": [("key", "T"), ("value", "T"), ("default", "T"), ("changeable", "T")],
    "MEM": [("name", "T"), ("size", "I"), ("used", "I"), ("free", "I"), ("memtotal", "I")],
    "DNS_HOSTS": [("hostname", "T"), ("ttl", "Q"), ("addrs", "T")],
    "DNS_ZONES": [("zonename", "T"), ("serial", "Q"), ("count", "I")],
    "STATE": [("key", "T"), ("value", "T")],
    "VERSION": [("version", "T")],
}

# What pgsplit appends after PgBouncer's columns, and its own views.
PGSPLIT_APPENDED = {"POOLS": [("target", "T"), ("server", "T")], "SERVERS": [("target", "T")],
                    "CLIENTS": [("target", "T"), ("write_lsn", "T"), ("write_window_end", "T")],
                    "STATS": [("total_routed_primary", "N"), ("total_routed_replica", "N"),
                              ("total_ryw_kept_on_primary", "N"), ("total_ryw_waited", "N"),
                              ("total_rerun_25006", "N")]}
PGSPLIT_VIEWS = {
    "REPLICAS": [("database", "T"), ("host", "T"), ("port", "I"), ("role", "T"),
                 ("state", "T"), ("lag_bytes", "Q"), ("lag_ms", "Q"), ("replay_lsn", "T"),
                 ("last_check", "T"), ("routed_transactions", "Q"), ("errors", "Q"), ("timeline", "I")],
}
TYPE_OIDS = {"T": 25, "I": 23, "Q": 20, "N": 1700, "B": 17}

# Leading columns PgBouncer has had since 1.x; later versions only append.
LEADING = {
    "SHOW POOLS": ["database", "user", "cl_active", "cl_waiting"],
    "SHOW CLIENTS": ["type", "user", "database"],
    "SHOW SERVERS": ["type", "user", "database"],
    "SHOW DATABASES": ["name", "host", "port", "database", "force_user", "pool_size"],
    "SHOW STATS": ["database"],
}


# ---------------------------------------------------------------------------
# helpers

def console(p, user="admin"):
    """A console connection kept open (closed with the pooler's clients)."""
    return harness.connect(p, "pgbouncer", user)


def rows(conn, sql):
    cur = conn.cursor()
    cur.execute(sql)
    if cur.description is None:
        return []
    cols = [d.name for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def described(p, view):
    conn = harness.connect(p, "pgbouncer", "admin", track=False)
    try:
        cur = conn.cursor()
        cur.execute("SHOW " + view)
        return [(d.name, d.type_code) for d in cur.description], cur.fetchall()
    finally:
        conn.close()


def local_port(conn):
    """The client-side port of a psycopg connection, as the pooler sees it."""
    s = socket.fromfd(conn.fileno(), socket.AF_INET, socket.SOCK_STREAM)
    try:
        return s.getsockname()[1]
    finally:
        s.close()


def row_for(table, **match):
    for r in table:
        if all(r.get(k) == v for k, v in match.items()):
            return r
    return None


def pool_row(p, db="app", user="app"):
    return row_for(admin(p, "SHOW POOLS"), database=db, user=user)


def servers_in(prow):
    return sum(prow[k] for k in ("sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login"))


class Background:
    """Run fn in a thread; remember its result or exception."""

    def __init__(self, fn):
        self.result = None
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self.thread.start()

    def _run(self, fn):
        try:
            self.result = fn()
        except Exception as e:      # noqa: BLE001 - reported by the test
            self.error = e

    def running_after(self, seconds):
        self.thread.join(seconds)
        return self.thread.is_alive()

    def finish(self, timeout=15):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "still blocked"
        if self.error:
            raise self.error
        return self.result


wait_until = harness.wait_until


# ---------------------------------------------------------------------------
# access

def test_non_admin_rejected(pooler):
    p = pooler()
    with pytest.raises(psycopg.Error, match="not allowed"):
        admin(p, "SHOW POOLS", user="app")


def test_stats_user_can_show_not_control(pooler):
    p = pooler()
    conn = console(p, "stats")
    assert isinstance(rows(conn, "SHOW POOLS"), list)
    for cmd in ("PAUSE", "RESUME", "RELOAD", "KILL app", "RECONNECT", "DISABLE app",
                "SHUTDOWN", "SHOW FDS", "SET default_pool_size = 3"):
        with pytest.raises(psycopg.Error, match="admin access needed"):
            rows(conn, cmd)
    # refused commands change nothing and leave the session usable
    assert rows(conn, "SHOW VERSION")
    assert row_for(admin(p, "SHOW DATABASES"), name="app")["paused"] == 0


@pgsplit_only("SQLSTATEs of console errors")
def test_stats_user_pause_sqlstate(pooler):
    p = pooler()
    with pytest.raises(psycopg.Error) as ei:
        admin(p, "PAUSE", user="stats")
    assert ei.value.sqlstate == "42501"


def test_unix_socket_owner_is_admin(pooler):
    """The OS user running the pooler gets in over the Unix socket without a
    password, as the special user pgbouncer, with admin rights (SHOW FDS)."""
    p = pooler()
    args = [harness.PSQL, "-X", "-A", "-t", "-w", "-h", p.dir, "-p", str(p.port),
            "-U", "pgbouncer", "-d", "pgbouncer", "-c", "SHOW FDS"]
    res = pgcluster.run_as_pg(args, check=False)
    assert res.returncode == 0, res.stdout
    if os.geteuid() == 0:
        # root is not the pooler's user: no password, no entry
        res = subprocess.run(args, capture_output=True, text=True, timeout=20,
                             env=dict(os.environ, PGPASSWORD=""))
        assert res.returncode != 0


def test_admin_via_psql(pooler):
    p = pooler()
    res = psql(p, "SHOW VERSION", db="pgbouncer", user="admin")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().startswith("PgBouncer")


@pgsplit_only("the pgsplit alias of the console database")
def test_console_alias(pooler):
    p = pooler()
    conn = p.connect(db="pgsplit", user="admin")
    cur = conn.cursor()
    cur.execute("SHOW POOLS")
    assert [d.name for d in cur.description][:2] == ["database", "user"]


# ---------------------------------------------------------------------------
# protocol and parsing

def test_error_leaves_session_usable(pooler):
    p = pooler()
    conn = console(p)
    for bad in ("FOO", "SHOW NOSUCHVIEW", "PAUSE nosuchdb", "KILL_CLIENT abc",
                "RESUME", "SET nosuch_setting = 1", "DISABLE", "SHOW POOLS extra words"):
        with pytest.raises(psycopg.Error):
            rows(conn, bad)
        assert rows(conn, "SHOW VERSION")[0]["version"].startswith("PgBouncer")


@pgsplit_only("SQLSTATEs of console errors")
def test_error_sqlstates(pooler):
    p = pooler()
    conn = console(p)
    # 08P01 where PgBouncer 1.25 answers with it (unknown database, KILL_CLIENT)
    cases = {"FOO": "42601", "SHOW NOSUCHVIEW": "42601", "PAUSE nosuchdb": "08P01",
             "KILL_CLIENT abc": "08P01", "KILL_CLIENT 999999": "08P01",
             "RESUME": "55000", "SET nosuch_setting = 1": "42704",
             "SET listen_port = 1": "55P02", "SET default_pool_size = abc": "22023",
             "PAUSE pgbouncer": "0A000"}
    for sql, state in cases.items():
        with pytest.raises(psycopg.Error) as ei:
            rows(conn, sql)
        assert ei.value.sqlstate == state, (sql, ei.value)
    with pytest.raises(psycopg.Error, match="invalid command 'FOO', use SHOW HELP;"):
        rows(conn, "FOO")


@pgsplit_only("several commands in one query string")
def test_several_commands_per_query(pooler):
    p = pooler()
    conn = console(p)
    cur = conn.cursor()
    cur.execute("SHOW VERSION; SHOW STATE;")
    assert cur.fetchone()[0].startswith("PgBouncer")
    assert cur.nextset()
    assert ("paused", "no") in cur.fetchall()
    # a failing statement stops the rest, like PostgreSQL
    with pytest.raises(psycopg.Error):
        cur.execute("SHOW VERSION; FOO; PAUSE")
    assert row_for(rows(conn, "SHOW STATE"), key="paused")["value"] == "no"


def data_row(body):
    """DataRow body -> list of text values (None for NULL)."""
    (n,) = struct.unpack("!H", body[:2])
    pos, out = 2, []
    for _ in range(n):
        (ln,) = struct.unpack("!i", body[pos:pos + 4])
        pos += 4
        out.append(None if ln < 0 else body[pos:pos + ln].decode())
        pos += max(ln, 0)
    return out


def _silent(raw, seconds):
    """True when nothing arrives on raw for `seconds`."""
    raw.sock.settimeout(seconds)
    try:
        raw.read_msg()
        return False
    except socket.timeout:
        return True
    finally:
        raw.sock.settimeout(10.0)


@pgsplit_only("several commands in one query string")
def test_waiting_command_then_rest_of_query(pooler):
    """A PAUSE inside a query string holds the statements after it, and later
    queries of the same console session, until it is answered."""
    p = pooler()                       # session pooling: the client keeps its server
    c = p.connect()
    c.execute("SELECT 1")
    with pgwire.Raw(p.host, p.port) as raw:
        raw.login("admin", "pgbouncer", "adminpass")
        raw.send(pgwire.query("SHOW VERSION; PAUSE; SHOW STATE") + pgwire.query("RESUME"))
        first = raw.read_until((b"C",))
        assert first[-1][1].startswith(b"SHOW")
        assert _silent(raw, 1.0), "PAUSE answered while a server was in use"
        c.close()
        rest = raw.read_until((b"Z",))
        tags = [b.rstrip(b"\0") for k, b in rest if k == b"C"]
        assert tags == [b"PAUSE", b"SHOW"]
        assert ["paused", "yes"] in [data_row(b) for k, b in rest if k == b"D"]
        resumed = raw.read_until((b"Z",))
        assert [b.rstrip(b"\0") for k, b in resumed if k == b"C"] == [b"RESUME"]
    assert query1(p.connect(), "SELECT 'resumed'") == "resumed"


@pgsplit_only("error text of pgsplit")
def test_extended_protocol_refused(pooler):
    p = pooler()
    with pgwire.Raw(p.host, p.port) as raw:
        raw.login("admin", "pgbouncer", "adminpass")
        raw.send(pgwire.msg(b"P", b"\0SHOW VERSION\0\0\0") + pgwire.msg(b"S"))
        err = raw.expect_error()
        assert "extended query protocol" in err["M"] and err["S"] == "FATAL"
        assert raw.is_closed()


@pgsplit_only("SET of driver session settings is newer than 1.18")
def test_fake_session_parameters(pooler):
    """Drivers set and read a few session settings on connect."""
    p = pooler()
    conn = console(p)
    rows(conn, "SET extra_float_digits = 3")
    assert rows(conn, "SHOW client_encoding")


def test_show_help(pooler):
    p = pooler()
    conn = console(p)
    notices = []
    # a Diagnostic is only valid inside the handler
    conn.add_notice_handler(lambda d: notices.append((d.message_primary, d.message_detail)))
    conn.execute("SHOW HELP")
    assert notices and notices[0][0] == "Console usage"
    detail = notices[0][1]
    for word in ("SHOW", "PAUSE", "RESUME", "RELOAD", "WAIT_CLOSE"):
        assert word in detail


# ---------------------------------------------------------------------------
# SHOW views: columns

@pytest.mark.parametrize("cmd", sorted(LEADING))
def test_show_leading_columns(pooler, cmd):
    p = pooler()
    p.connect().execute("SELECT 1")
    cols = admin_columns(p, cmd)
    assert cols[:len(LEADING[cmd])] == LEADING[cmd]


@pgsplit_only("PgBouncer 1.25 columns (1.18 lacks the newer ones)")
@pytest.mark.parametrize("view", sorted(PGB125))
def test_show_columns_exact(pooler, view):
    p = pooler(extra="[peers]\n1 = host=127.0.0.1 port=7432\n")
    p.connect().execute("SELECT 1")
    desc, _ = described(p, view)
    want = PGB125[view] + PGSPLIT_APPENDED.get(view, [])
    assert [d[0] for d in desc] == [c[0] for c in want]
    assert [d[1] for d in desc] == [TYPE_OIDS[c[1]] for c in want]


@pgsplit_only("pgsplit's own views")
def test_show_replicas_and_routing_columns(pooler):
    p = pooler()
    desc, data = described(p, "REPLICAS")
    assert [(d[0], d[1]) for d in desc] == [(n, TYPE_OIDS[t]) for n, t in PGSPLIT_VIEWS["REPLICAS"]]
    assert data == []                  # no database has replicas
    desc, data = described(p, "ROUTING")
    names = [d[0] for d in desc]
    assert names[:3] == ["database", "to_primary", "to_replica"]
    for reason in ("classified_read", "declared_read_only", "hint", "write",
                   "explicit_transaction", "classifier_unsure", "no_replica",
                   "read_your_writes", "retry_25006"):
        assert reason in names
    assert all(d[1] == TYPE_OIDS["Q"] for d in desc[1:])
    assert data == []                  # only databases with replicas are routed


def routed_pooler(pooler, cluster, **kw):
    p = pooler(start=False, pool_mode="transaction", **kw)
    reps = ",".join("127.0.0.1:%d" % r.port for r in cluster.replicas)
    p.databases["app"] = p.connstr("app", replicas=reps)
    return p.start()


@pgsplit_only("replica routing is pgsplit's own")
def test_show_replicas_routing_and_targets_follow_traffic(pooler, cluster):
    p = routed_pooler(pooler, cluster)
    replica_ports = {r.port for r in cluster.replicas}
    c = p.connect()
    for _ in range(5):                 # autocommit reads: replicas
        assert query1(c, "SELECT pg_is_in_recovery()") is True
    c.execute("BEGIN")                 # an explicit transaction: the primary
    assert query1(c, "SELECT pg_is_in_recovery()") is False
    c.execute("COMMIT")

    def replicas_up():
        reps = [r for r in admin(p, "SHOW REPLICAS") if r["database"] == "app"]
        return len(reps) == 2 and all(r["state"] == "up" and r["last_check"] for r in reps)
    assert wait_until(replicas_up), admin(p, "SHOW REPLICAS")
    reps = [r for r in admin(p, "SHOW REPLICAS") if r["database"] == "app"]
    assert {r["port"] for r in reps} == replica_ports
    assert all(r["role"] == "replica" and r["replay_lsn"] and "/" in r["replay_lsn"] for r in reps)
    assert sum(r["routed_transactions"] for r in reps) >= 5

    route = row_for(admin(p, "SHOW ROUTING"), database="app")
    assert route["to_replica"] >= 5 and route["to_primary"] >= 1
    assert route["classified_read"] >= 5 and route["explicit_transaction"] >= 1

    targets = {r["target"] for r in admin(p, "SHOW POOLS") if r["database"] == "app"}
    assert {"primary", "replica"} <= targets
    servers = [r for r in admin(p, "SHOW SERVERS") if r["database"] == "app"]
    assert any(r["target"] == "replica" and r["port"] in replica_ports for r in servers)
    assert any(r["target"] == "primary" and r["port"] == cluster.port for r in servers)


@pgsplit_only("replica routing is pgsplit's own")
def test_pause_with_replicas(pooler, cluster):
    """PAUSE covers the replica pools and is not held up by the replica monitor."""
    p = routed_pooler(pooler, cluster)
    c = p.connect()
    assert query1(c, "SELECT pg_is_in_recovery()") is True
    t0 = time.time()
    admin(p, "PAUSE app")
    assert time.time() - t0 < 5
    client_pools = [r for r in admin(p, "SHOW POOLS")
                    if r["database"] == "app" and r["target"] != "monitor"]
    assert all(servers_in(r) == 0 for r in client_pools)
    waiter = Background(lambda: query1(c, "SELECT 'after pause'"))
    assert waiter.running_after(0.8)
    admin(p, "RESUME app")
    assert waiter.finish() == "after pause"


# ---------------------------------------------------------------------------
# SHOW views: values follow traffic

def test_show_stats_count_traffic(pooler):
    p = pooler(pool_mode="transaction")
    c = p.connect()
    for i in range(7):
        assert query1(c, "SELECT %d" % i) == i
    st = row_for(admin(p, "SHOW STATS"), database="app")
    assert st["total_xact_count"] >= 7 and st["total_query_count"] >= 7
    assert st["total_received"] > 0 and st["total_sent"] > 0
    assert st["total_query_time"] > 0 and st["total_xact_time"] > 0
    tot = row_for(admin(p, "SHOW STATS_TOTALS"), database="app")
    assert tot["xact_count"] == st["total_xact_count"]
    assert tot["bytes_received"] == st["total_received"]
    totals = {r["name"]: r["value"] for r in admin(p, "SHOW TOTALS")}
    assert totals["total_xact_count"] >= 7 and totals["total_query_count"] >= 7
    if not is_pgbouncer():      # 1.18 has no assignment counter
        assert tot["server_assignment_count"] >= 7


def test_show_stats_averages_follow_traffic(pooler):
    p = pooler(pool_mode="transaction", stats_period=1)
    c = p.connect()
    end = time.time() + 2.6
    n = 0
    while time.time() < end:
        c.execute("SELECT 1")
        n += 1
    st = row_for(admin(p, "SHOW STATS"), database="app")
    assert st["avg_xact_count"] > 0 and st["avg_query_count"] > 0
    assert st["avg_recv"] > 0 and st["avg_sent"] > 0
    av = row_for(admin(p, "SHOW STATS_AVERAGES"), database="app")
    assert av["xact_count"] > 0 and av["query_count"] > 0
    assert av["xact_count"] <= n


# PgBouncer's log_stats line; 1.21+ put the prepared-statement rates after queries/s
LOG_STATS_RE = (r"stats: (\d+) xacts/s, (\d+) queries/s, "
                r"(?:(\d+) client parses/s, (\d+) server parses/s, (\d+) binds/s, )?"
                r"in (\d+) B/s, out (\d+) B/s, xact (\d+) us, query (\d+) us, wait (\d+) us")


def log_stats_lines(p):
    import re
    return [tuple(int(g) if g is not None else None for g in m.groups())
            for m in re.finditer(LOG_STATS_RE, p.output())]


def test_log_stats_line(pooler):
    """log_stats prints PgBouncer's averages line every stats_period, and the rates
    follow the traffic of the period before."""
    p = pooler(stats_period=1, log_stats=1, pool_mode="transaction")
    assert wait_until(lambda: len(log_stats_lines(p)) >= 2, 5), p.output()[-2000:]
    assert log_stats_lines(p)[0][0] == 0          # idle: 0 xacts/s
    if not is_pgbouncer():                        # 1.18 lacks the parse and bind rates
        assert all(line[2] is not None for line in log_stats_lines(p))
    c = p.connect()
    end = time.time() + 2.5
    while time.time() < end:
        c.execute("SELECT 1")
    busy = [line for line in log_stats_lines(p) if line[0] > 0]
    assert busy, log_stats_lines(p)
    xacts, queries = busy[-1][0], busy[-1][1]
    assert xacts >= 5 and queries >= xacts
    line = busy[-1]
    assert line[5] > 0 and line[6] > 0 and line[7] > 0 and line[8] > 0   # in, out, xact us, query us


def test_show_pools_counts(pooler):
    """One client holds the only server in a transaction, another waits."""
    p = pooler(pool_mode="transaction", default_pool_size=1)
    c1 = p.connect()
    c1.execute("BEGIN")
    c1.execute("SELECT 1")
    c2 = p.connect()
    waiter = Background(lambda: query1(c2, "SELECT 'served'"))
    assert wait_until(lambda: pool_row(p)["cl_waiting"] == 1)
    pr = pool_row(p)
    assert pr["sv_active"] == 1 and pr["cl_active"] >= 1
    assert pr["pool_mode"] == "transaction"
    time.sleep(1.1)
    assert pool_row(p)["maxwait"] >= 1
    c1.execute("COMMIT")
    assert waiter.finish() == "served"
    pr = pool_row(p)
    assert pr["cl_waiting"] == 0 and pr["sv_active"] == 0 and pr["sv_idle"] == 1


def test_show_clients_and_servers_link(pooler):
    p = pooler()
    c = p.connect(application_name="admintest")
    pid = query1(c, "SELECT pg_backend_pid()")
    port = local_port(c)
    cl = row_for(admin(p, "SHOW CLIENTS"), port=port)
    assert cl is not None
    assert (cl["type"], cl["user"], cl["database"], cl["state"]) == ("C", "app", "app", "active")
    assert cl["addr"] == "127.0.0.1" and cl["application_name"] == "admintest"
    sv = row_for(admin(p, "SHOW SERVERS"), remote_pid=pid)
    assert sv is not None
    assert (sv["type"], sv["user"], sv["database"], sv["state"]) == ("S", "app", "app", "active")
    assert sv["port"] == p.cluster.port and sv["link"] == cl["ptr"] and cl["link"] == sv["ptr"]
    assert sv["application_name"] == "admintest"
    if not is_pgbouncer():
        assert cl["target"] == "primary" and sv["target"] == "primary"


def test_show_clients_console_and_idle(pooler):
    p = pooler(pool_mode="transaction")
    c = p.connect()
    c.execute("SELECT 1")
    port = local_port(c)
    clients = admin(p, "SHOW CLIENTS")
    assert row_for(clients, port=port)["state"] in ("idle", "active")
    assert row_for(clients, database="pgbouncer", user="admin") is not None


def test_show_sockets(pooler):
    p = pooler()
    c = p.connect()
    c.execute("SELECT 1")
    port = local_port(c)
    socks = admin(p, "SHOW SOCKETS")
    assert row_for(socks, port=port)["state"] == "cl_active"
    assert any(r["type"] == "S" and r["state"] == "sv_active" for r in socks)
    # the console's own query is in its buffer while the view is built
    active = admin(p, "SHOW ACTIVE_SOCKETS")
    assert row_for(active, user="admin", database="pgbouncer") is not None


def test_show_fds(pooler):
    p = pooler()
    c = p.connect()
    c.execute("SELECT 1")
    fds = admin(p, "SHOW FDS")
    row = row_for(fds, task="client", port=local_port(c))
    assert row is not None and row["user"] == "app" and row["database"] == "app"
    assert any(r["task"] == "server" and r["port"] == p.cluster.port for r in fds)


def test_show_lists_users_databases_mem(pooler):
    p = pooler()
    c1, c2 = p.connect(), p.connect()
    c1.execute("SELECT 1")
    c2.execute("SELECT 1")
    lists = {r["list"]: r["items"] for r in admin(p, "SHOW LISTS")}
    assert lists["used_clients"] >= 3 and lists["pools"] >= 1 and lists["databases"] >= 4
    users = admin(p, "SHOW USERS")
    app = row_for(users, name="app")
    assert app is not None
    if "current_client_connections" in app:
        assert app["current_client_connections"] == 2 and app["current_connections"] == 2
    db = row_for(admin(p, "SHOW DATABASES"), name="app")
    assert db["port"] == p.cluster.port and db["database"] == "app"
    assert db["pool_size"] == 20 and db["current_connections"] == 2
    assert db["paused"] == 0 and db["disabled"] == 0
    mem = {r["name"]: r for r in admin(p, "SHOW MEM")}
    assert mem["client_cache"]["used"] >= 3


def test_show_config(pooler):
    p = pooler(default_pool_size=17)
    cfg = {r["key"]: r for r in admin(p, "SHOW CONFIG")}
    assert cfg["default_pool_size"]["value"] == "17"
    assert cfg["default_pool_size"]["changeable"] == "yes"
    assert cfg["listen_port"]["value"] == str(p.port)


def test_show_dns_hosts(pooler, cluster):
    dbs = {"app": "host=localhost port=%d dbname=app" % cluster.port}
    p = pooler(databases=dbs)
    assert query1(p.connect(), "SELECT 1") == 1
    hosts = admin(p, "SHOW DNS_HOSTS")
    assert row_for(hosts, hostname="localhost") is not None
    assert admin(p, "SHOW DNS_ZONES") == []


@pgsplit_only("SHOW PEERS is 1.19+")
def test_show_peers(pooler):
    p = pooler(extra="[peers]\n1 = host=127.0.0.1 port=7432\n")
    peers = admin(p, "SHOW PEERS")
    assert row_for(peers, peer_id=1, host="127.0.0.1", port=7432) is not None
    assert admin(p, "SHOW PEER_POOLS") == []


def send_cancel_request(port, pid, key):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(struct.pack("!IIII", 16, 80877102, pid, key))
        s.settimeout(5)
        try:
            s.recv(1)  # the pooler closes the request's connection when it is done
        except OSError:
            pass


@pgsplit_only("peering is PgBouncer 1.19+")
def test_peer_forwards_a_cancel_request_for_its_peers_key(pooler, cluster):
    """Two poolers peered ([peers] + peer_id): a CancelRequest carrying A's key that
    reaches B (as behind a TCP balancer) is sent on to A and cancels the query there;
    B's SHOW PEER_POOLS then has a row for peer 1."""
    a = pooler(start=False, peer_id=1)
    b = pooler(start=False, peer_id=2)
    a.extra = "[peers]\n2 = host=127.0.0.1 port=%d\n" % b.port
    b.extra = "[peers]\n1 = host=127.0.0.1 port=%d\n" % a.port
    a.start()
    b.start()
    assert admin(b, "SHOW PEER_POOLS") == []
    with pgwire.Raw(a.host, a.port) as conn:
        (pid, key), _ = conn.login("app", "app", cluster.password("app"))
        conn.send(pgwire.query("SELECT pg_sleep(20)"))
        time.sleep(0.7)
        t0 = time.time()
        send_cancel_request(b.port, pid, key)
        err = conn.expect_error()
        assert err.get("C") == "57014", err  # query_canceled
        assert time.time() - t0 < 5
    rows = admin(b, "SHOW PEER_POOLS")
    assert [r["peer_id"] for r in rows] == [1], rows
    # a key that names no peer (nor this process) is dropped quietly
    send_cancel_request(b.port, (77 << 16) | 5, 1234)
    assert [r["peer_id"] for r in admin(b, "SHOW PEER_POOLS")] == [1]


@pgsplit_only("SHOW STATE is 1.21+")
def test_show_state_follows_pause(pooler):
    p = pooler()
    state = lambda: {r["key"]: r["value"] for r in admin(p, "SHOW STATE")}
    assert state() == {"active": "yes", "paused": "no", "suspended": "no"}
    admin(p, "PAUSE")
    assert state()["paused"] == "yes"
    admin(p, "RESUME")
    assert state()["active"] == "yes"


def test_show_version(pooler):
    p = pooler()
    assert admin(p, "SHOW VERSION")[0]["version"].startswith("PgBouncer")


# ---------------------------------------------------------------------------
# control commands

def test_pause_resume_admin(pooler):
    p = pooler(pool_mode="transaction")
    c = p.connect()
    c.execute("SELECT 1")
    admin(p, "PAUSE")
    waiter = Background(lambda: query1(c, "SELECT 'resumed'"))
    assert waiter.running_after(1.0), "query ran while paused"
    assert pool_row(p)["cl_waiting"] == 1
    admin(p, "RESUME")
    assert waiter.finish() == "resumed"


def test_pause_waits_for_active_transaction(pooler):
    """PAUSE answers only when the servers are released and disconnected."""
    p = pooler(pool_mode="transaction")
    c = p.connect()
    c.execute("BEGIN")
    c.execute("SELECT 1")
    pause = Background(lambda: admin(p, "PAUSE"))
    assert pause.running_after(1.0), "PAUSE returned while a transaction ran"
    c.execute("SELECT 2")              # the running transaction goes on
    c.execute("COMMIT")
    pause.finish(10)
    assert servers_in(pool_row(p)) == 0
    waiter = Background(lambda: query1(c, "SELECT 'after'"))
    assert waiter.running_after(0.8)
    admin(p, "RESUME")
    assert waiter.finish() == "after"


def test_pause_one_database(pooler):
    p = pooler(pool_mode="transaction")
    c_app, c_app2 = p.connect("app"), p.connect("app2")
    c_app.execute("SELECT 1")
    admin(p, "PAUSE app")
    assert row_for(admin(p, "SHOW DATABASES"), name="app")["paused"] == 1
    assert query1(c_app2, "SELECT 'other db'") == "other db"
    waiter = Background(lambda: query1(c_app, "SELECT 'app'"))
    assert waiter.running_after(0.8)
    with pytest.raises(psycopg.Error, match="not paused"):
        admin(p, "RESUME app2")
    admin(p, "RESUME app")
    assert waiter.finish() == "app"


def test_reconnect_closes_idle_and_released_servers(pooler):
    p = pooler(pool_mode="transaction")
    c = p.connect()
    pid1 = query1(c, "SELECT pg_backend_pid()")
    admin(p, "RECONNECT")
    pid2 = query1(c, "SELECT pg_backend_pid()")
    assert pid2 != pid1, "idle server survived RECONNECT"
    # a server in use is marked and closed when released
    c.execute("BEGIN")
    assert query1(c, "SELECT pg_backend_pid()") == pid2
    admin(p, "RECONNECT app")
    assert row_for(admin(p, "SHOW SERVERS"), remote_pid=pid2)["close_needed"] == 1
    assert query1(c, "SELECT pg_backend_pid()") == pid2
    c.execute("COMMIT")
    assert query1(c, "SELECT pg_backend_pid()") != pid2


def test_wait_close(pooler):
    p = pooler()                       # session pooling: the client keeps its server
    c = p.connect()
    c.execute("SELECT 1")
    admin(p, "RECONNECT app")
    waiter = Background(lambda: admin(p, "WAIT_CLOSE app"))
    assert waiter.running_after(1.0), "WAIT_CLOSE returned while a server was in use"
    c.close()
    waiter.finish(10)
    assert servers_in(pool_row(p)) == 0


@pgsplit_only("WAIT_CLOSE with nothing to close")
def test_wait_close_returns_when_nothing_to_close(pooler):
    p = pooler()
    p.connect().execute("SELECT 1")
    t0 = time.time()
    admin(p, "WAIT_CLOSE")
    assert time.time() - t0 < 2


def test_disable_enable(pooler):
    p = pooler()
    c = p.connect()
    c.execute("SELECT 1")
    admin(p, "DISABLE app")
    assert row_for(admin(p, "SHOW DATABASES"), name="app")["disabled"] == 1
    with pytest.raises(psycopg.Error):
        p.connect()
    assert query1(c, "SELECT 'still here'") == "still here"
    admin(p, "ENABLE app")
    assert query1(p.connect(), "SELECT 1") == 1


def test_kill_database(pooler):
    p = pooler(pool_mode="transaction")
    c_app, c_app2 = p.connect("app"), p.connect("app2")
    c_app.execute("SELECT 1")
    c_app2.execute("SELECT 1")
    admin(p, "KILL app")
    with pytest.raises(psycopg.Error):
        c_app.execute("SELECT 1")
    assert query1(c_app2, "SELECT 'alive'") == "alive"
    pr = pool_row(p)                   # PgBouncer drops the pool itself
    assert pr is None or pr["cl_active"] == 0
    # a killed database waits for RESUME
    late = Background(lambda: query1(p.connect(), "SELECT 'late'"))
    assert late.running_after(1.0)
    admin(p, "RESUME app")
    assert late.finish() == "late"


@pgsplit_only("KILL without a database is 1.2x")
def test_kill_all(pooler):
    p = pooler()
    c1, c2 = p.connect("app"), p.connect("app2")
    c1.execute("SELECT 1")
    c2.execute("SELECT 1")
    admin(p, "KILL")
    for c in (c1, c2):
        with pytest.raises(psycopg.Error):
            c.execute("SELECT 1")
    conn = console(p)                  # the console itself is not killed
    assert rows(conn, "SHOW VERSION")
    for db in ("app", "app2"):
        rows(conn, "RESUME " + db)
    assert query1(p.connect(), "SELECT 1") == 1


@pgsplit_only("KILL_CLIENT is 1.24+")
def test_kill_client(pooler):
    p = pooler()
    victim, other = p.connect(), p.connect()
    pid = query1(victim, "SELECT pg_backend_pid()")
    other.execute("SELECT 1")
    row = row_for(admin(p, "SHOW CLIENTS"), port=local_port(victim))
    with pytest.raises(psycopg.Error, match="admin access needed"):
        admin(p, "KILL_CLIENT %d" % row["id"], user="stats")
    admin(p, "KILL_CLIENT %d" % row["id"])
    with pytest.raises(psycopg.Error):
        victim.execute("SELECT 1")
    assert query1(other, "SELECT 'fine'") == "fine"
    # its server went with it instead of back to the pool
    assert wait_until(lambda: row_for(admin(p, "SHOW SERVERS"), remote_pid=pid) is None)
    with pytest.raises(psycopg.Error, match="client not found"):
        admin(p, "KILL_CLIENT %d" % row["id"])


def test_suspend_holds_traffic_and_resume_releases_it(pooler):
    """SUSPEND answers once buffers are flushed; nothing is read until RESUME, which
    lets the held query through without an error."""
    p = pooler(pool_mode="transaction")
    c = p.connect()
    assert query1(c, "SELECT 1") == 1
    conn = console(p)
    conn.execute("SUSPEND")
    result = {}

    def run():
        try:
            result["v"] = query1(c, "SELECT 2")
        except Exception as e:  # noqa: BLE001 - reported below
            result["e"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join(1.0)
    assert t.is_alive(), "a query went through while suspended"
    with pytest.raises(psycopg.Error):
        conn.execute("SUSPEND")  # already suspended
    conn.execute("RESUME")
    t.join(5)
    assert result == {"v": 2}


def test_reload_picks_up_pool_size(pooler):
    p = pooler(pool_mode="transaction")
    assert row_for(admin(p, "SHOW DATABASES"), name="app")["pool_size"] == 20
    p.settings["default_pool_size"] = "1"
    p.write_files()
    admin(p, "RELOAD")
    assert row_for(admin(p, "SHOW DATABASES"), name="app")["pool_size"] == 1
    c1, c2 = p.connect(), p.connect()
    c1.execute("BEGIN")
    c1.execute("SELECT 1")
    waiter = Background(lambda: query1(c2, "SELECT 'second'"))
    assert wait_until(lambda: pool_row(p)["cl_waiting"] == 1), "pool of 1 did not queue"
    c1.execute("COMMIT")
    assert waiter.finish() == "second"


@pgsplit_only("RELOAD reports the error to the caller")
def test_reload_error_reported(pooler):
    p = pooler()
    p.write_files(p.ini_text() + "\nno_such_option = 1\n")
    conn = console(p)
    with pytest.raises(psycopg.Error, match="no_such_option") as ei:
        rows(conn, "RELOAD")
    assert ei.value.sqlstate == "F0000"
    assert rows(conn, "SHOW VERSION")          # session still usable
    assert query1(p.connect(), "SELECT 1") == 1


def test_set_changes_config(pooler):
    p = pooler()
    conn = console(p)
    rows(conn, "SET default_pool_size = 7")
    cfg = {r["key"]: r["value"] for r in rows(conn, "SHOW CONFIG")}
    assert cfg["default_pool_size"] == "7"
    assert row_for(rows(conn, "SHOW DATABASES"), name="app")["pool_size"] == 7
    rows(conn, "SET server_reset_query = 'SELECT ''x'''")
    cfg = {r["key"]: r["value"] for r in rows(conn, "SHOW CONFIG")}
    assert cfg["server_reset_query"] == "SELECT 'x'"
    with pytest.raises(psycopg.Error, match="admin access needed"):
        admin(p, "SET default_pool_size = 9", user="stats")


@pgsplit_only("pgsplit refuses settings that need a restart")
def test_set_refuses_restart_only_setting(pooler):
    p = pooler()
    with pytest.raises(psycopg.Error, match="cannot be changed online"):
        admin(p, "SET listen_port = 1")
    cfg = {r["key"]: r["value"] for r in admin(p, "SHOW CONFIG")}
    assert cfg["listen_port"] == str(p.port)


@pgsplit_only("SHUTDOWN WAIT_FOR_CLIENTS is 1.23+")
def test_shutdown_wait_for_clients(pooler):
    p = pooler()
    c = p.connect()
    c.execute("SELECT 1")
    p.expect_exit = True
    admin(p, "SHUTDOWN WAIT_FOR_CLIENTS")
    time.sleep(1.0)
    assert p.alive(), "exited while a client was connected"
    assert query1(c, "SELECT 'served'") == "served"
    with pytest.raises(psycopg.Error):
        p.connect(connect_timeout=2)
    c.close()
    assert p.proc.wait(15) == 0


@pgsplit_only("SHUTDOWN WAIT_FOR_SERVERS is 1.23+")
def test_shutdown_wait_for_servers(pooler):
    p = pooler(pool_mode="transaction")
    c = p.connect()
    c.execute("BEGIN")
    c.execute("SELECT 1")
    p.expect_exit = True
    admin(p, "SHUTDOWN WAIT_FOR_SERVERS")
    time.sleep(1.0)
    assert p.alive(), "exited while a transaction ran"
    c.execute("COMMIT")
    assert p.proc.wait(15) == 0


def test_shutdown_command(pooler):
    p = pooler()
    p.expect_exit = True
    try:
        admin(p, "SHUTDOWN")
    except psycopg.Error:
        pass                    # the console connection may be closed under us
    assert p.proc.wait(15) == 0


# ---------------------------------------------------------------------------
# signals and process behaviour

def test_sigusr1_sigusr2_pause_resume(pooler):
    p = pooler(pool_mode="transaction")
    c = p.connect()
    c.execute("SELECT 1")
    p.signal(signal.SIGUSR1)
    time.sleep(0.3)
    waiter = Background(lambda: query1(c, "SELECT 'go'"))
    assert waiter.running_after(1.0), "query ran while paused by SIGUSR1"
    p.signal(signal.SIGUSR2)
    assert waiter.finish() == "go"


def test_sigint_safe_shutdown_waits_for_query(pooler):
    p = pooler(pool_mode="transaction")
    c = p.connect()
    waiter = Background(lambda: query1(c, "SELECT pg_sleep(1.5)::text || 'finished'"))
    time.sleep(0.4)
    p.expect_exit = True
    p.signal(signal.SIGINT)
    assert waiter.finish() == "finished"
    assert p.proc.wait(15) == 0


def test_sigterm_exits(pooler):
    p = pooler()
    p.connect().execute("SELECT 1")
    p.close_clients()
    p.expect_exit = True
    p.signal(signal.SIGTERM)
    rc = p.proc.wait(15)
    assert rc >= 0, "died from a signal instead of exiting"     # 1.18 exits 1


def test_log_connections(pooler):
    p = pooler(log_connections=1, log_disconnections=1)
    c = p.connect()
    c.execute("SELECT 1")
    c.close()
    assert p.wait_log(r"login attempt.*app", 3) or p.wait_log(r"app.*login", 1)
    assert p.wait_log(r"(closing because|disconnect)", 3)


def test_quiet_flag_keeps_logfile(pooler):
    p = pooler(args=("-q",))
    c = p.connect()
    assert query1(c, "SELECT 1") == 1


def test_run_as_user_flag_rejected_as_non_root(pooler):
    """-u needs root; we run as postgres, so -u postgres must not break start-up
    or must fail with a message (PgBouncer ignores it when already that user)."""
    p = pooler(start=False)
    p.expect_exit = True
    p.start(args=("-u", "postgres"), wait=False)
    time.sleep(1.0)
    if p.alive():
        c = p.connect()
        assert query1(c, "SELECT 1") == 1
    else:
        assert p.proc.returncode != 0


def test_show_users_lists_auth_file_users_that_never_connected(pooler):
    p = pooler()
    names = {r["name"] for r in admin(p, "SHOW USERS")}
    # the harness's userlist holds these; only the console user has connected
    assert {"app", "md5user", "plainuser"} <= names


@pgsplit_only("cancelling a waiting console command")
def test_cancel_a_waiting_pause_resumes(pooler):
    p = pooler(pool_mode="session")
    busy = p.connect()
    busy.execute("SELECT 1")  # holds its server: PAUSE has to wait for it
    conn = console(p)
    result = {}

    def run():
        try:
            conn.execute("PAUSE")
            result["ok"] = True
        except psycopg.Error as e:
            result["e"] = e

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.5)
    assert t.is_alive()
    conn.cancel()
    t.join(5)
    assert "e" in result and result["e"].sqlstate == "57014", result
    # nothing stays paused: a new client gets a server
    assert query1(p.connect(), "SELECT 2") == 2


# ---------------------------------------------------------------------------
# what clients experience around control commands

def test_shutdown_disconnects_client_in_transaction(pooler):
    """Plain SHUTDOWN: a client in the middle of a transaction is cut off and the
    process exits at once, without waiting for it."""
    p = pooler(pool_mode="transaction")
    c = p.connect()
    c.execute("BEGIN")
    c.execute("SELECT 1")
    p.expect_exit = True
    try:
        admin(p, "SHUTDOWN")
    except psycopg.Error:
        pass                    # the console connection may be closed under us
    assert p.proc.wait(10) is not None
    with pytest.raises(psycopg.OperationalError):
        c.execute("SELECT 2")


@pgsplit_only("SHUTDOWN WAIT_FOR_SERVERS is 1.23+")
def test_shutdown_wait_for_servers_drops_queued_clients(pooler):
    """Clients queued for a server are disconnected with an error at once, new
    connections are refused, and the running transaction still finishes."""
    p = pooler(pool_mode="transaction", default_pool_size=1)
    holder = p.connect()
    holder.execute("BEGIN")
    holder.execute("SELECT 1")
    queued = p.connect()
    waiter = Background(lambda: query1(queued, "SELECT 'never'"))
    assert wait_until(lambda: pool_row(p)["cl_waiting"] == 1)
    p.expect_exit = True
    admin(p, "SHUTDOWN WAIT_FOR_SERVERS")
    with pytest.raises(psycopg.Error, match="shutting down"):
        waiter.finish(5)
    with pytest.raises(psycopg.Error):
        p.connect(connect_timeout=2)
    assert p.alive()
    assert query1(holder, "SELECT 'still mine'") == "still mine"
    holder.execute("COMMIT")
    assert p.proc.wait(15) == 0


def test_paused_client_hits_query_wait_timeout(pooler):
    p = pooler(pool_mode="transaction", query_wait_timeout=1)
    c = p.connect()
    c.execute("SELECT 1")
    admin(p, "PAUSE")
    t0 = time.time()
    with pytest.raises(psycopg.Error, match="query_wait_timeout"):
        c.execute("SELECT 'held'")
    assert 0.8 < time.time() - t0 < 5
    admin(p, "RESUME")
    assert query1(p.connect(), "SELECT 'after'") == "after"


@pgsplit_only("error of a PAUSE overtaken by RESUME")
def test_pause_overtaken_by_resume_fails(pooler):
    p = pooler()                       # session pooling: the client keeps its server
    busy = p.connect()
    busy.execute("SELECT 1")
    pauser = console(p)
    pause = Background(lambda: rows(pauser, "PAUSE"))
    assert pause.running_after(0.8)
    admin(p, "RESUME")
    with pytest.raises(psycopg.Error, match="cancelled by RESUME"):
        pause.finish(5)
    assert rows(pauser, "SHOW VERSION")          # the session is still usable
    assert query1(busy, "SELECT 'on'") == "on"


def test_kill_and_disable_texts_seen_by_clients(pooler):
    p = pooler()
    c = p.connect()
    c.execute("SELECT 1")
    admin(p, "KILL app")
    with pytest.raises(psycopg.OperationalError, match="database removed"):
        c.execute("SELECT 1")
    admin(p, "RESUME app")
    admin(p, "DISABLE app")
    with pytest.raises(psycopg.OperationalError, match='database "app" is disabled'):
        p.connect()
    admin(p, "ENABLE app")


def test_set_pool_size_queues_second_client(pooler):
    """SET takes effect on the running pools: with a pool of one, a second
    client waits for the first one's transaction."""
    p = pooler(pool_mode="transaction")
    admin(p, "SET default_pool_size = 1")
    c1, c2 = p.connect(), p.connect()
    c1.execute("BEGIN")
    c1.execute("SELECT 1")
    waiter = Background(lambda: query1(c2, "SELECT 'second'"))
    assert wait_until(lambda: pool_row(p)["cl_waiting"] == 1), pool_row(p)
    assert pool_row(p)["sv_active"] == 1
    c1.execute("COMMIT")
    assert waiter.finish() == "second"


def test_console_with_auth_type_any_is_stats_only(pooler):
    """auth_type=any lets any user into the console, as a stats user."""
    p = pooler(auth_type="any")
    conn = console(p, "app")
    assert row_for(rows(conn, "SHOW POOLS"), database="pgbouncer") is not None
    with pytest.raises(psycopg.Error, match="admin access needed"):
        rows(conn, "PAUSE")
    assert row_for(admin(p, "SHOW DATABASES"), name="app")["paused"] == 0


@pgsplit_only("SHOW STATE is 1.21+")
def test_suspend_state_and_new_connections_wait(pooler):
    """SUSPEND shows in SHOW STATE; a new client is not let in until RESUME."""
    p = pooler(pool_mode="transaction")
    conn = console(p)
    conn.execute("SUSPEND")
    state = {r["key"]: r["value"] for r in rows(conn, "SHOW STATE")}
    assert state["suspended"] == "yes" and state["active"] == "no"
    late = Background(lambda: query1(p.connect(connect_timeout=15), "SELECT 'late'"))
    assert late.running_after(1.0), "a new connection was accepted while suspended"
    conn.execute("RESUME")
    assert late.finish() == "late"
    state = {r["key"]: r["value"] for r in rows(conn, "SHOW STATE")}
    assert state["suspended"] == "no" and state["active"] == "yes"


def test_wait_time_counted_per_assignment(pooler):
    """One client waits about 2.5 s for the only server: total_wait_time has it,
    and the average of the period it ended in is per assignment, not per second."""
    p = pooler(pool_mode="transaction", default_pool_size=1, stats_period=2, log_stats=1)
    c1, c2 = p.connect(), p.connect()
    c1.execute("BEGIN")
    c1.execute("SELECT 1")
    waiter = Background(lambda: query1(c2, "SELECT 'served'"))
    assert wait_until(lambda: pool_row(p)["cl_waiting"] == 1)
    time.sleep(2.5)
    c1.execute("COMMIT")
    assert waiter.finish() == "served"
    st = row_for(admin(p, "SHOW STATS"), database="app")
    assert st["total_wait_time"] >= 2_000_000, st
    if is_pgbouncer():          # 1.18 averaged wait time differently (fixed in 1.23)
        return
    # the period the wait ended in has one assignment, so its average is the whole wait
    assert wait_until(lambda: row_for(admin(p, "SHOW STATS"), database="app")["avg_wait_time"]
                      >= 2_000_000, 6), row_for(admin(p, "SHOW STATS"), database="app")
    assert wait_until(lambda: any(line[9] >= 2_000_000 for line in log_stats_lines(p)), 6)


# ---------------------------------------------------------------------------
# pgsplit's routing columns, against traffic

@pgsplit_only("replica routing is pgsplit's own")
def test_pools_row_per_replica_and_client_target(pooler, cluster):
    """Two replicas: SHOW POOLS has one replica row per standby for (app, app), and a
    client running a read on a standby shows target replica in SHOW CLIENTS."""
    p = routed_pooler(pooler, cluster, replica_lb="round_robin")
    c = p.connect()
    for _ in range(6):
        assert query1(c, "SELECT pg_is_in_recovery()") is True
    pools = [r for r in admin(p, "SHOW POOLS") if (r["database"], r["user"]) == ("app", "app")]
    assert sorted(r["target"] for r in pools).count("replica") == 2, pools
    # the server column tells the two standbys' pools apart
    assert {r["server"] for r in pools if r["target"] == "replica"} == {
        "127.0.0.1:%d" % r.port for r in cluster.replicas}, pools
    assert {r["server"] for r in pools if r["target"] == "primary"} == {"127.0.0.1:%d" % cluster.port}
    reader = p.connect()
    slow = Background(lambda: query1(reader, "SELECT pg_sleep(1.5)::text || 'done'"))
    port = local_port(reader)

    def linked_to_replica():
        row = row_for(admin(p, "SHOW CLIENTS"), port=port)
        return row is not None and row["state"] == "active" and row["target"] == "replica"
    assert wait_until(linked_to_replica, 1.2), row_for(admin(p, "SHOW CLIENTS"), port=port)
    assert slow.finish() == "done"
    assert row_for(admin(p, "SHOW CLIENTS"), port=port)["target"] == "primary"   # idle again


@pgsplit_only("replica routing is pgsplit's own")
def test_ryw_counters_and_client_write_columns(pooler, cluster):
    """A write then a read on the same connection: the read is kept on the primary
    (causal_wait 0) or waits for a standby (causal_wait > 0), and the counters in
    SHOW STATS say so; SHOW CLIENTS shows the write's position and window."""
    p = routed_pooler(pooler, cluster, write_window=30)
    c = p.connect()
    c.execute("INSERT INTO items(v) VALUES ('admin ryw')")
    assert query1(c, "SELECT pg_is_in_recovery()") is False      # kept on the primary
    st = row_for(admin(p, "SHOW STATS"), database="app")
    assert st["total_ryw_kept_on_primary"] >= 1 and st["total_routed_primary"] >= 2, st
    row = row_for(admin(p, "SHOW CLIENTS"), port=local_port(c))
    assert row["write_lsn"] == "pending" or "/" in row["write_lsn"], row
    assert row["write_window_end"].endswith(" UTC"), row          # a timestamp, 30 s ahead

    p.settings["causal_wait"] = "2"
    p.reload()
    waited = 0
    for i in range(5):
        c.execute("INSERT INTO items(v) VALUES ('admin ryw %d')" % i)
        c.execute("SELECT 1")
        waited = row_for(admin(p, "SHOW STATS"), database="app")["total_ryw_waited"]
        if waited:
            break
    assert waited >= 1
    route = row_for(admin(p, "SHOW ROUTING"), database="app")
    assert route["ryw_waited"] == waited


@pgsplit_only("pgsplit refuses settings that need a restart")
def test_set_follows_show_config_changeable(pooler):
    """SET takes every setting SHOW CONFIG marks changeable (its own shown value
    round-trips) and refuses every other one with the reason."""
    p = pooler()
    conn = console(p)
    cfg = rows(conn, "SHOW CONFIG")
    bad = []
    for r in cfg:
        value = "'%s'" % (r["value"] or "").replace("'", "''")
        try:
            rows(conn, "SET %s = %s" % (r["key"], value))
            if r["changeable"] != "yes":
                bad.append((r["key"], "accepted"))
        except psycopg.Error as e:
            if r["changeable"] == "yes":
                bad.append((r["key"], str(e)))
            elif e.sqlstate != "55P02" or "cannot be changed online" not in str(e):
                bad.append((r["key"], str(e)))
    assert bad == []
    after = {r["key"]: r["value"] for r in rows(conn, "SHOW CONFIG")}
    assert after == {r["key"]: r["value"] for r in cfg}


@pgsplit_only("replica routing is pgsplit's own")
def test_rerun_25006_counted(pooler, cluster):
    """A read the classifier sends to a standby but which writes (a user function
    not in write_functions) is refused there with 25006 and re-run on the primary;
    SHOW STATS counts it."""
    cluster.primary.psql(
        "CREATE OR REPLACE FUNCTION admin_sneaky_write() RETURNS int LANGUAGE sql AS "
        "$$ INSERT INTO items(v) VALUES ('sneaky') RETURNING 1 $$", db="app")
    probe = "SELECT count(*) FROM pg_proc WHERE proname = 'admin_sneaky_write'"
    for r in cluster.replicas:          # replayed there, or the standby answers 42883
        assert wait_until(lambda: r.psql(probe, db="app") == "1", 10)
    p = routed_pooler(pooler, cluster)
    c = p.connect()
    assert query1(c, "SELECT pg_is_in_recovery()") is True       # reads do reach standbys
    assert query1(c, "SELECT admin_sneaky_write()") == 1
    st = row_for(admin(p, "SHOW STATS"), database="app")
    assert st["total_rerun_25006"] >= 1, st
    assert row_for(admin(p, "SHOW ROUTING"), database="app")["retry_25006"] >= 1


@pgsplit_only("write_functions is pgsplit's own")
def test_set_write_functions_validates_and_takes_effect(pooler, cluster):
    """A format string is refused like any name that is not a function name (the
    pooler keeps running, the old list stays); a valid list applies to the next read."""
    cluster.primary.psql(
        "CREATE OR REPLACE FUNCTION wf_on_standby() RETURNS bool LANGUAGE sql AS "
        "$$ SELECT pg_is_in_recovery() $$", db="app")
    probe = "SELECT count(*) FROM pg_proc WHERE proname = 'wf_on_standby'"
    for r in cluster.replicas:
        assert wait_until(lambda: r.psql(probe, db="app") == "1", 10)
    p = routed_pooler(pooler, cluster)
    c = p.connect()
    assert query1(c, "SELECT wf_on_standby()") is True      # a plain read: a replica
    for bad in ("%s%s%n", "%n%n%n%n%s", "a b.%x"):
        with pytest.raises(psycopg.Error, match="expected a list of function names") as ei:
            admin(p, "SET write_functions = '%s'" % bad)
        assert ei.value.sqlstate == "22023"
    assert p.alive()
    assert {r["key"]: r["value"] for r in admin(p, "SHOW CONFIG")}["write_functions"] == ""
    admin(p, "SET write_functions = 'wf_on_standby'")
    assert query1(c, "SELECT wf_on_standby()") is False     # now a write: the primary


@pgsplit_only("pgsplit refuses settings that need a restart")
def test_track_extra_parameters_changes_only_at_start(pooler):
    """The tracked names are fixed at start: SET refuses a change, a reload keeps the
    running value and logs that the file's takes effect at the next start."""
    p = pooler()
    with pytest.raises(psycopg.Error, match="cannot be changed online") as ei:
        admin(p, "SET track_extra_parameters = 'search_path'")
    assert ei.value.sqlstate == "55P02"
    p.settings["track_extra_parameters"] = "search_path"
    p.settings["default_pool_size"] = "6"
    p.reload()
    cfg = {r["key"]: r["value"] for r in admin(p, "SHOW CONFIG")}
    assert cfg["track_extra_parameters"] == "IntervalStyle"
    assert cfg["default_pool_size"] == "6"                   # the rest of the reload applied
    assert p.wait_log(r"setting track_extra_parameters changed in the file: it takes effect "
                      r"only at the next start")
