"""Remaining core bullets: option names, listener knobs, small buffers, server
connect/login failures, autodb, logging, newer-PgBouncer limits and signals."""

import os
import signal
import socket
import stat
import threading
import time

import psycopg
import pytest

import pgwire
from harness import admin, pgsplit_only, query1, wait_port

# Options PgBouncer 1.18 already has, set to their documented defaults.
COMMON_OPTIONS = {
    "unix_socket_mode": "0777", "reserve_pool_timeout": "5", "max_db_connections": "0",
    "max_user_connections": "0", "server_round_robin": "0", "disable_pqexec": "0",
    "application_name_add_host": "0", "stats_period": "60", "syslog": "0",
    "syslog_ident": "pgbouncer", "syslog_facility": "daemon", "log_pooler_errors": "1",
    "log_stats": "1", "verbose": "0", "server_check_delay": "30", "server_fast_close": "0",
    "server_idle_timeout": "600", "server_connect_timeout": "15",
    "client_login_timeout": "60", "autodb_idle_timeout": "3600", "dns_max_ttl": "15",
    "dns_nxdomain_ttl": "15", "dns_zone_check_period": "0", "client_tls_sslmode": "disable",
    "server_tls_sslmode": "prefer", "query_timeout": "0",
    "client_idle_timeout": "0", "idle_transaction_timeout": "0", "suspend_timeout": "10",
    "pkt_buf": "4096", "max_packet_size": "2147483647", "listen_backlog": "128",
    "sbuf_loopcnt": "5", "so_reuseport": "0", "tcp_defer_accept": "1",
    "tcp_socket_buffer": "0", "tcp_keepalive": "1", "tcp_keepcnt": "0", "tcp_keepidle": "0",
    "tcp_keepintvl": "0", "tcp_user_timeout": "0",
}

# Added between 1.19 and 1.25.
NEWER_OPTIONS = {
    "peer_id": "0", "max_prepared_statements": "200", "scram_iterations": "4096",
    "track_extra_parameters": "IntervalStyle", "max_db_client_connections": "0",
    "max_user_client_connections": "0", "cancel_wait_timeout": "10",
    # Windows-only in PgBouncer, but documented option names all the same.
    "service_name": "pgbouncer",
}


def test_option_names_accepted(pooler):
    p = pooler(**COMMON_OPTIONS)
    c = p.connect()
    assert query1(c, "SELECT 1") == 1


@pgsplit_only("option names added after 1.18")
def test_newer_option_names_accepted_with_defaults(pooler):
    opts = dict(COMMON_OPTIONS)
    opts.update(NEWER_OPTIONS)
    p = pooler(**opts)
    c = p.connect()
    assert query1(c, "SELECT 1") == 1


def test_so_reuseport_two_processes(pooler):
    a = pooler(so_reuseport=1, pool_mode="transaction")
    b = pooler(start=False, so_reuseport=1, pool_mode="transaction")
    b.port = a.port
    b.settings["listen_port"] = str(a.port)
    b.settings["unix_socket_dir"] = ""        # one Unix socket path per port
    b.start()
    assert a.alive() and b.alive()
    conns = [a.connect() for _ in range(6)]
    assert all(query1(c, "SELECT 1") == 1 for c in conns)


def test_unix_socket_mode(pooler):
    p = pooler(unix_socket_mode="0700")
    path = os.path.join(p.dir, ".s.PGSQL.%d" % p.port)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700


def test_small_pkt_buf(pooler):
    """Everything streams through a tiny buffer: big rows, big params, COPY."""
    p = pooler(pool_mode="transaction", pkt_buf=512, default_pool_size=2)
    c = p.connect()
    big = "q" * 300000
    assert query1(c, "SELECT length(%s)", (big,)) == len(big)
    rows = c.execute("SELECT g, repeat('r', 1000) FROM generate_series(1, 500) g").fetchall()
    assert len(rows) == 500 and rows[-1][1] == "r" * 1000
    c.execute("CREATE TEMP TABLE IF NOT EXISTS pk(x text)")  # same implicit txn only
    out = bytearray()
    with c.cursor().copy("COPY (SELECT repeat('c', 100) FROM generate_series(1, 2000)) TO STDOUT") as cp:
        for chunk in cp:
            out += chunk
    assert bytes(out).count(b"\n") == 2000


class SilentServer:
    """Accepts TCP connections and never says anything (a hung PostgreSQL)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                self.conns.append(self.sock.accept()[0])
            except (socket.timeout, OSError):
                pass

    def close(self):
        self.stop = True
        self.t.join(2)
        for c in self.conns:
            c.close()
        self.sock.close()


def test_server_connect_timeout(pooler):
    silent = SilentServer()
    try:
        p = pooler(start=False, server_connect_timeout=1, query_wait_timeout=8)
        p.databases["hung"] = "host=127.0.0.1 port=%d dbname=app" % silent.port
        p.start()
        t0 = time.time()
        with pytest.raises(psycopg.OperationalError):
            c = p.connect(db="hung", connect_timeout=15)
            c.execute("SELECT 1")
        assert time.time() - t0 < 12
        assert p.wait_log(r"(?i)connect.*timeout|timeout.*connect", 2)
        # Other databases are unaffected.
        assert query1(p.connect(), "SELECT 1") == 1
    finally:
        silent.close()


def test_server_down_then_up(pooler, cluster):
    """Nothing listens on the server port: the client gets an error, not a hang."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = pooler(start=False, server_login_retry=1, query_wait_timeout=5)
    p.databases["down"] = "host=127.0.0.1 port=%d dbname=app" % port
    p.start()
    t0 = time.time()
    with pytest.raises(psycopg.OperationalError):
        c = p.connect(db="down")
        c.execute("SELECT 1")
    assert time.time() - t0 < 8
    assert query1(p.connect(), "SELECT 1") == 1


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


def test_log_stats(pooler):
    p = pooler(log_stats=1, stats_period=1)
    c = p.connect()
    c.execute("SELECT 1")
    assert p.wait_log(r"(?i)stats:", 4)


def test_verbose_flag(pooler):
    p = pooler(args=("-v",))
    c = p.connect()
    assert query1(c, "SELECT 1") == 1


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


@pgsplit_only("SIGTERM waits for clients (1.23+ semantics)")
def test_sigterm_waits_for_clients(pooler):
    p = pooler(pool_mode="session")
    c = p.connect()
    assert query1(c, "SELECT 1") == 1
    p.expect_exit = True
    p.signal(signal.SIGTERM)
    time.sleep(0.5)
    assert p.alive(), "SIGTERM must wait for connected clients"
    assert query1(c, "SELECT 2") == 2
    with pytest.raises(psycopg.OperationalError):
        p.connect(connect_timeout=3)
    c.close()
    assert p.proc.wait(10) == 0
    assert not wait_port(p.host, p.port, 0.3)


@pgsplit_only("SIGQUIT immediate shutdown (1.23+ semantics)")
def test_sigquit_immediate(pooler):
    p = pooler(pool_mode="session")
    c = p.connect()
    c.execute("SELECT 1")
    p.expect_exit = True
    p.signal(signal.SIGQUIT)
    rc = p.proc.wait(5)
    assert rc >= 0
