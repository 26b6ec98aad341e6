"""PgBouncer 1.25 settings that change what a client sees: login_notify_message (a
NOTICE in the welcome), disable_pqexec (a simple Query is refused, the extended protocol
works), application_name_add_host (" - host:port" appended at login), query_wait_notify
(a NOTICE to a client queued that long), server_fast_close (a session server marked
for reconnect closes, with its client, at the end of the transaction) and syslog_facility
(read off a private /dev/log)."""

import os
import re
import shlex
import shutil
import socket
import struct
import subprocess
import threading
import time

import psycopg
import pytest

import pgwire
from harness import admin, pgcluster, query1, wait_port


def welcome_messages(p, db="app", user="md5user", pw="md5pass", params=None):
    """Log in by hand; the backend messages from AuthenticationOk to ReadyForQuery."""
    raw = pgwire.Raw(p.host, p.port)
    startup = {"user": user, "database": db}
    startup.update(params or {})
    raw.send(pgwire.startup_packet(startup))
    seen = []
    while True:
        k, b = raw.read_msg()
        if k == b"R" and struct.unpack("!I", b[:4])[0] == 5:
            raw.send(pgwire.password(pgwire.md5_password(user, pw, b[4:8])))
            continue
        if k == b"R" and struct.unpack("!I", b[:4])[0] == 3:
            raw.send(pgwire.password(pw))
            continue
        assert k != b"E", pgwire.parse_fields(b)
        seen.append((k, b))
        if k == b"Z":
            return raw, seen


def notices(messages):
    return [pgwire.parse_fields(b) for k, b in messages if k == b"N"]


# ---- login_notify_message ------------------------------------------------------------

def test_login_notify_message_before_ready(pooler):
    p = pooler(login_notify_message="you are talking to pgsplit")
    for db, user, pw in (("app", "md5user", "md5pass"), ("pgbouncer", "admin", "adminpass")):
        raw, seen = welcome_messages(p, db, user, pw)
        raw.close()
        got = notices(seen)
        assert [n.get("M") for n in got] == ["you are talking to pgsplit"], db
        assert got[0]["S"] == "NOTICE" and got[0]["C"] == "00000"
        # the notice comes after BackendKeyData, just before ReadyForQuery
        kinds = [k for k, _ in seen]
        assert kinds[-2:] == [b"N", b"Z"] and kinds.index(b"K") < kinds.index(b"N")


def test_login_notify_message_empty_sends_nothing(pooler):
    p = pooler()
    raw, seen = welcome_messages(p)
    raw.close()
    assert notices(seen) == []


# ---- disable_pqexec ------------------------------------------------------------------

def test_disable_pqexec_refuses_simple_query(pooler):
    p = pooler(disable_pqexec=1)
    raw, _ = welcome_messages(p)
    with raw:
        raw.send(pgwire.query("SELECT 1"))
        err = raw.expect_error()
        assert err["S"] == "FATAL" and err["C"] == "08P01"
        assert err["M"] == "PQexec disallowed"
        assert raw.is_closed()


def test_disable_pqexec_keeps_extended_protocol_and_console(pooler):
    p = pooler(disable_pqexec=1)
    c = p.connect()
    # with parameters psycopg sends Parse/Bind/Execute/Sync
    assert query1(c, "SELECT %s::int + 1", [41]) == 42
    with c.transaction():
        assert query1(c, "SELECT %s::text", ["in a transaction"]) == "in a transaction"
    # the console has only the simple protocol and keeps it
    assert admin(p, "SHOW VERSION")


def test_disable_pqexec_off_allows_simple_query(pooler):
    p = pooler()
    raw, _ = welcome_messages(p)
    with raw:
        rows, errors = raw.simple("SELECT 1")
        assert rows == [["1"]] and errors == []


# ---- application_name_add_host -------------------------------------------------------

def client_port(conn):
    s = socket.socket(fileno=conn.pgconn.socket)
    try:
        return s.getsockname()[1]
    finally:
        s.detach()


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_application_name_add_host(pooler, mode):
    p = pooler(application_name_add_host=1, pool_mode=mode)
    c = p.connect(application_name="reporting")
    want = "reporting - 127.0.0.1:%d" % client_port(c)
    assert query1(c, "SELECT current_setting('application_name')") == want
    assert c.info.parameter_status("application_name") == want
    rows = [r for r in admin(p, "SHOW CLIENTS") if r["database"] == "app"]
    assert [r["application_name"] for r in rows] == [want]
    # only the login's name is tagged; a later SET stays as the client wrote it
    c.execute("SET application_name = 'later'")
    assert query1(c, "SELECT current_setting('application_name')") == "later"


def test_application_name_add_host_off(pooler):
    p = pooler()
    c = p.connect(application_name="reporting")
    assert query1(c, "SELECT current_setting('application_name')") == "reporting"


# ---- query_wait_notify ---------------------------------------------------------------

QUEUED = "No server connection available in postgres backend, client being queued"


def queued_notices(p, hold):
    """With the pool's one server held by another session for `hold` seconds, the
    notices a second client gets while its SELECT waits, and that SELECT's answer."""
    holder = p.connect()
    assert query1(holder, "SELECT 1") == 1
    waiter = p.connect()
    got = []
    waiter.add_notice_handler(lambda d: got.append((d.severity, d.sqlstate, d.message_primary)))
    timer = threading.Timer(hold, holder.close)
    timer.start()
    try:
        answer = query1(waiter, "SELECT 2")
    finally:
        timer.join()
    return got, answer


def test_query_wait_notify_once(pooler):
    p = pooler(default_pool_size=1, query_wait_notify=1)
    got, answer = queued_notices(p, 2.6)
    assert answer == 2
    # past 1 second queued: one notice, though the wait went on for more than 2
    assert got == [("NOTICE", "00000", QUEUED)]


def test_query_wait_notify_zero_disables(pooler):
    p = pooler(default_pool_size=1, query_wait_notify=0)
    got, answer = queued_notices(p, 1.6)
    assert answer == 2 and got == []


# ---- server_fast_close ---------------------------------------------------------------

def backend_alive(cluster, pid):
    dsn = "host=127.0.0.1 port=%d dbname=app user=app password=apppass" % cluster.port
    with psycopg.connect(dsn, autocommit=True) as direct:
        return query1(direct, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
                      [pid]) == 1


def closed_soon(conn, timeout=3.0):
    """The pooler's FATAL for a client it closed, read by the next query."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            conn.execute("SELECT 1")
        except psycopg.OperationalError as e:
            return str(e)
        time.sleep(0.2)
    return None


def test_server_fast_close_idle_session(pooler, cluster):
    p = pooler(server_fast_close=1)
    c = p.connect()
    pid = query1(c, "SELECT pg_backend_pid()")
    admin(p, "RECONNECT")
    err = closed_soon(c)
    assert err is not None and "server_fast_close" in err
    assert p.wait_log(r"closing because: server closed for reconnect \(server_fast_close\)")
    assert not backend_alive(cluster, pid)
    # a new session gets a new server
    assert query1(p.connect(), "SELECT pg_backend_pid()") != pid


def test_server_fast_close_waits_for_transaction_end(pooler, cluster):
    p = pooler(server_fast_close=1)
    c = p.connect()
    pid = query1(c, "SELECT pg_backend_pid()")
    c.execute("BEGIN")
    xid = query1(c, "SELECT txid_current()")
    admin(p, "RECONNECT")
    time.sleep(0.6)                         # three maintenance rounds
    # the open transaction goes on, on the same server
    assert query1(c, "SELECT pg_backend_pid()") == pid
    c.execute("COMMIT")
    err = closed_soon(c)
    assert err is not None and "server_fast_close" in err
    assert not backend_alive(cluster, pid)
    dsn = "host=127.0.0.1 port=%d dbname=app user=app password=apppass" % cluster.port
    with psycopg.connect(dsn, autocommit=True) as direct:
        assert query1(direct, "SELECT txid_status(%s)", [xid]) == "committed"


def test_server_fast_close_off_keeps_session(pooler):
    p = pooler(server_fast_close=0)
    c = p.connect()
    pid = query1(c, "SELECT pg_backend_pid()")
    admin(p, "RECONNECT")
    time.sleep(0.6)
    assert query1(c, "SELECT pg_backend_pid()") == pid


# ---- syslog_facility -----------------------------------------------------------------

# In a private mount namespace: a tmpfs over /dev with the usual character devices bound
# back, and /dev/log pointing at the test's socket. The machine's /dev stays untouched.
PRIVATE_DEV = (
    "set -e; mkdir -p {d}/olddev; mount --bind /dev {d}/olddev; mount -t tmpfs tmpfs /dev; "
    "for n in null zero urandom random; do touch /dev/$n; mount --bind {d}/olddev/$n /dev/$n; "
    "done; ln -s {sock} /dev/log; exec setpriv --reuid={uid} --regid={gid} --clear-groups {cmd}")


def start_with_private_syslog(p):
    """Start pooler `p` with its /dev/log read by the returned datagram socket."""
    sock_path = os.path.join(p.dir, "log.sock")
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(sock_path)
    os.chmod(sock_path, 0o666)
    p.write_files()
    uid, gid = pgcluster._ids()
    script = PRIVATE_DEV.format(d=p.dir, sock=sock_path, uid=uid, gid=gid,
                                cmd=" ".join(shlex.quote(a) for a in p.command()))
    p._stderr = open(p.stderr_path, "ab")
    p.proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                              stdout=p._stderr, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, cwd=p.dir)
    assert wait_port(p.host, p.port, 15, p.proc), p.output()
    return rx


def syslog_facilities(rx, ident, want_text, timeout=5.0):
    """Facility numbers (PRI >> 3) of the datagrams from `ident`, until one has want_text."""
    rx.settimeout(0.2)
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            data = rx.recv(65536).decode(errors="replace")
        except socket.timeout:
            continue
        m = re.match(r"<(\d+)>.*? %s\[\d+\]: (.*)" % re.escape(ident), data, re.S)
        if m:
            seen.append(int(m.group(1)) >> 3)
            if want_text in m.group(2):
                return seen
    raise AssertionError("no %r from %s in syslog; facilities seen %r" % (want_text, ident, seen))


def drain(rx, quiet=0.5):
    """Drop what the socket received until it stays quiet for `quiet` seconds."""
    rx.settimeout(quiet)
    try:
        while True:
            rx.recv(65536)
    except socket.timeout:
        pass


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare") or
                    not shutil.which("setpriv"), reason="needs root, unshare and setpriv")
def test_syslog_facility_reaches_syslog(pooler):
    p = pooler(start=False, syslog=1, syslog_ident="pgsplit-fac", syslog_facility="local3")
    rx = start_with_private_syslog(p)
    with rx:
        p.connect().close()
        assert set(syslog_facilities(rx, "pgsplit-fac", "login attempt")) == {19}    # LOG_LOCAL3
        # SET reopens syslog with the new facility: the next login is logged under it
        console = p.connect(db="pgbouncer", user="admin")
        drain(rx)
        console.execute("SET syslog_facility = 'local5'")
        p.connect().close()
        assert syslog_facilities(rx, "pgsplit-fac", "login attempt")[-1] == 21      # LOG_LOCAL5
