"""Shutdown, signals and console answers as PgBouncer 1.25 gives them.

The expected behaviour is 1.25's doc/usage.md (SHUTDOWN variants, signals, KILL,
KILL_CLIENT, RELOAD, SHOW VERSION) and the answers 1.25 gives to the same commands:
SQLSTATE 08P01 for console errors, F0000 with "RELOAD failed, see logs for additional
details" for a broken file, "pooler is shutting down" for RESUME during a shutdown,
"got SIGUSR2 while shutting down, ignoring" in the log, and "closing because: server
shutting down" for a client that asks for a server during SHUTDOWN WAIT_FOR_SERVERS.
"""

import os
import signal
import subprocess
import time

import psycopg
import pytest

import harness
from harness import admin, pgsplit_only, pooler_bin, query1
from test_admin import Background, rows, wait_until

pytestmark = pgsplit_only("PgBouncer 1.25 behaviour; the reference binary here is 1.18")


def unix_console(p):
    """A console session over the Unix socket (the only way in during a shutdown)."""
    return harness.connect(p, "pgbouncer", "admin", host=p.dir)


def refused_over_tcp(p):
    with pytest.raises(psycopg.OperationalError, match="refused"):
        p.connect(connect_timeout=2, track=False)
    return True


def exits(p, timeout=10):
    try:
        return p.proc.wait(timeout) is not None
    except subprocess.TimeoutExpired:
        return False


# ---------------------------------------------------------------------------
# SHUTDOWN WAIT_FOR_CLIENTS / WAIT_FOR_SERVERS: TCP closed, console on the Unix socket

def test_wait_for_clients_console_stays_on_unix_socket(pooler):
    p = pooler()
    c = p.connect()
    c.execute("SELECT 1")
    p.expect_exit = True
    admin(p, "SHUTDOWN WAIT_FOR_CLIENTS")
    assert refused_over_tcp(p)
    # an ordinary database over the Unix socket is refused, the console is not
    with pytest.raises(psycopg.OperationalError, match="pgbouncer is shutting down"):
        p.connect(host=p.dir, track=False)
    con = unix_console(p)
    assert rows(con, "SHOW VERSION")[0]["version"].startswith("PgBouncer 1.25")
    assert query1(c, "SELECT 'still served'") == "still served"
    con.close()
    assert p.alive(), "exited while a client was connected"
    c.close()
    assert exits(p)
    assert p.proc.returncode == 0
    assert not os.path.exists(os.path.join(p.dir, ".s.PGSQL.%d" % p.port))


def test_wait_for_servers_console_stays_and_new_transaction_is_refused(pooler):
    p = pooler(pool_mode="transaction")
    holder = p.connect()
    holder.execute("BEGIN")
    holder.execute("SELECT 1")
    idle = p.connect()
    idle.execute("SELECT 1")               # released its server: between transactions
    p.expect_exit = True
    admin(p, "SHUTDOWN WAIT_FOR_SERVERS")
    assert refused_over_tcp(p)
    con = unix_console(p)
    assert ("paused", "yes") in [(r["key"], r["value"]) for r in rows(con, "SHOW STATE")]
    # a new transaction needs a server: the client is let go at once, not parked
    asking = Background(lambda: idle.execute("SELECT 2"))
    assert not asking.running_after(3), "a new transaction waited during WAIT_FOR_SERVERS"
    with pytest.raises(psycopg.OperationalError, match="server shutting down"):
        asking.finish()
    assert p.wait_log(r"closing because: server shutting down")
    # the running transaction finishes, then the process exits
    assert query1(holder, "SELECT 'mine'") == "mine"
    holder.execute("COMMIT")
    assert exits(p)


# ---------------------------------------------------------------------------
# repeated signals escalate to an immediate shutdown

@pytest.mark.parametrize("first,second", [(signal.SIGTERM, signal.SIGTERM),
                                          (signal.SIGINT, signal.SIGINT),
                                          (signal.SIGTERM, signal.SIGINT)])
def test_second_shutdown_signal_exits_at_once(pooler, first, second):
    p = pooler(pool_mode="session")
    c = p.connect()
    c.execute("SELECT 1")
    p.expect_exit = True
    p.signal(first)
    time.sleep(0.5)
    assert p.alive(), "the first signal must wait (for clients or for servers)"
    assert query1(c, "SELECT 'kept'") == "kept"   # session mode: its server stays linked
    assert refused_over_tcp(p)
    p.signal(second)
    assert exits(p, 5), "a second shutdown signal must exit at once"
    assert p.wait_log(r"got %s while shutting down, immediate shutdown" % second.name)
    with pytest.raises(psycopg.OperationalError):
        c.execute("SELECT 1")


def test_sigterm_after_shutdown_command_exits_at_once(pooler):
    p = pooler()
    c = p.connect()
    c.execute("SELECT 1")
    p.expect_exit = True
    admin(p, "SHUTDOWN WAIT_FOR_CLIENTS")
    time.sleep(0.3)
    assert p.alive()
    p.signal(signal.SIGTERM)
    assert exits(p, 5)


# ---------------------------------------------------------------------------
# RESUME and SIGUSR2 during a shutdown

def test_resume_during_shutdown_is_refused(pooler):
    p = pooler()
    c = p.connect()
    c.execute("SELECT 1")
    con = harness.connect(p, "pgbouncer", "admin")   # opened before the TCP port closes
    p.expect_exit = True
    rows(con, "SHUTDOWN WAIT_FOR_CLIENTS")
    for cmd in ("RESUME", "RESUME app"):
        with pytest.raises(psycopg.Error, match="pooler is shutting down") as ei:
            rows(con, cmd)
        assert ei.value.sqlstate == "08P01", cmd
    assert query1(c, "SELECT 1") == 1


def test_sigusr2_during_shutdown_is_ignored(pooler):
    p = pooler(pool_mode="transaction")
    holder = p.connect()
    holder.execute("BEGIN")
    p.expect_exit = True
    admin(p, "SHUTDOWN WAIT_FOR_SERVERS")
    p.signal(signal.SIGUSR2)
    assert p.wait_log(r"got SIGUSR2 while shutting down, ignoring")
    con = unix_console(p)
    assert ("paused", "yes") in [(r["key"], r["value"]) for r in rows(con, "SHOW STATE")]
    con.close()
    holder.execute("COMMIT")
    assert exits(p)


# ---------------------------------------------------------------------------
# command line

def test_reboot_is_refused_at_once(pooler):
    p = pooler()                        # a running process on the port
    t0 = time.time()
    out = subprocess.run([pooler_bin(), "-R", p.ini_path], capture_output=True, text=True,
                         timeout=10)
    assert time.time() - t0 < 3
    assert out.returncode != 0
    assert "so_reuseport" in out.stderr
    assert query1(p.connect(), "SELECT 1") == 1   # the running process is untouched
    out = subprocess.run([pooler_bin(), "--reboot", p.ini_path], capture_output=True,
                         text=True, timeout=10)
    assert out.returncode != 0 and "not supported" in out.stderr


def test_show_version_is_version_flag_first_line(pooler):
    p = pooler()
    shown = admin(p, "SHOW VERSION")[0]["version"]
    out = subprocess.run([pooler_bin(), "--version"], capture_output=True, text=True,
                         timeout=10)
    assert out.returncode == 0
    assert out.stdout.split("\n")[0] == shown
    assert shown.startswith("PgBouncer 1.25.0")


# ---------------------------------------------------------------------------
# console errors

def test_console_error_answers(pooler):
    p = pooler()
    con = harness.connect(p, "pgbouncer", "admin")
    cases = {
        "KILL nosuchdb": "no such database: nosuchdb",
        "PAUSE nosuchdb": "no such database: nosuchdb",
        "KILL_CLIENT 999999": "client not found",
        "KILL_CLIENT abc": "invalid client pointer supplied",
        "KILL_CLIENT -1": "invalid client pointer supplied",
        "KILL_CLIENT": "invalid client pointer supplied",
    }
    for sql, text in cases.items():
        with pytest.raises(psycopg.Error) as ei:
            rows(con, sql)
        assert ei.value.sqlstate == "08P01", (sql, ei.value)
        assert ei.value.diag.message_primary == text, sql
    assert rows(con, "SHOW VERSION")               # the session is still usable


def test_reload_of_broken_file(pooler):
    p = pooler(default_pool_size=3)
    c = p.connect()
    p.write_files(p.ini_text() + "\ndefault_pool_size = lots\n")
    with pytest.raises(psycopg.Error) as ei:
        admin(p, "RELOAD")
    assert ei.value.sqlstate == "F0000"
    assert ei.value.diag.message_primary == "RELOAD failed, see logs for additional details"
    assert "default_pool_size" in (ei.value.diag.message_detail or "")
    assert p.wait_log(r"reload failed, keeping the old configuration: .*default_pool_size")
    cfg = {r["key"]: r["value"] for r in admin(p, "SHOW CONFIG")}
    assert cfg["default_pool_size"] == "3"
    assert query1(c, "SELECT 1") == 1


# ---------------------------------------------------------------------------
# object ids: one counter for every socket, so a client and the server it is given
# right after are numbered one after the other, as in PgBouncer 1.25

def test_socket_ids_count_clients_and_servers_together(pooler):
    p = pooler()
    con = harness.connect(p, "pgbouncer", "admin")
    initial = max(r["id"] for r in rows(con, "SHOW SOCKETS"))
    for i in range(1, 4):
        c = p.connect(track=False)
        c.execute("SELECT 1")
        ids = {r["id"] for r in rows(con, "SHOW SOCKETS")}
        assert ids == {initial, initial + 2 * i - 1, initial + 2 * i}, (i, ids)
        assert [r["id"] for r in rows(con, "SHOW SERVERS")] == [initial + 2 * i]
        assert [r["id"] for r in rows(con, "SHOW CLIENTS") if r["database"] == "app"] == \
            [initial + 2 * i - 1]
        c.close()
        rows(con, "RECONNECT")              # the next client gets a new server
        assert wait_until(lambda: rows(con, "SHOW SERVERS") == [])


def test_console_client_ids_follow_each_other(pooler):
    p = pooler()
    first = admin(p, "SHOW CLIENTS")[0]["id"]
    for i in range(1, 4):
        assert [r["id"] for r in admin(p, "SHOW CLIENTS")] == [first + i]


# ---------------------------------------------------------------------------
# options in the startup packet: "-c name=value", "-cname=value", "--name=value"

def show_with_options(p, setting, options):
    c = p.connect(options=options, track=False)
    try:
        return query1(c, "SHOW " + setting)
    finally:
        c.close()


def test_options_startup_parameter(pooler):
    p = pooler(ignore_startup_parameters="extra_float_digits")
    assert show_with_options(p, "datestyle", r"  -c    datestyle=German,\ YMD") == "German, YMD"
    both = r"-c timezone=Europe/Lisbon  -c    datestyle=German,\ YMD"
    assert show_with_options(p, "datestyle", both) == "German, YMD"
    assert show_with_options(p, "timezone", both) == "Europe/Lisbon"
    assert show_with_options(p, "timezone", r"-ctimezone=Europe/Lisbon  -cdatestyle=German,\ YMD") \
        == "Europe/Lisbon"
    assert show_with_options(p, "timezone", r"--timezone=Europe/Lisbon  --datestyle=German,\ YMD") \
        == "Europe/Lisbon"
    escaped = r"-c t\imezone=\E\u\r\o\pe/Lisbon  -c    dat\estyle\=\Ge\rman,\ YMD"
    assert show_with_options(p, "timezone", escaped) == "Europe/Lisbon"
    # ignored (ignore_startup_parameters): the server keeps its default
    assert show_with_options(p, "extra_float_digits", "-c extra_float_digits=2") == "1"
    only = "unsupported options startup parameter: only '-c config=val' and '--config=val' are allowed"
    for bad in ("-d", "-c timezone"):
        with pytest.raises(psycopg.OperationalError, match=only):
            p.connect(options=bad, track=False)
    with pytest.raises(psycopg.OperationalError,
                       match="unsupported startup parameter in options: enable_seqscan"):
        p.connect(options="-c enable_seqscan=false", track=False)
    # with "options" ignored, unknown settings are dropped and known ones still applied
    admin(p, "SET ignore_startup_parameters = options")
    assert show_with_options(p, "enable_seqscan", "-c enable_seqscan=false") == "on"
    assert show_with_options(p, "timezone", r"-ctimezone=Europe/Lisbon  -cdatestyle=German,\ YMD") \
        == "Europe/Lisbon"


# ---------------------------------------------------------------------------
# log lines people grep for, worded as PgBouncer 1.25 words them ("C-<id>" where 1.25
# prints the object's address)

WHO = r"C-\d+: app/app@127\.0\.0\.1:\d+ "


def test_log_lines_of_login_and_disconnect(pooler):
    p = pooler(log_connections=1, log_disconnections=1, log_pooler_errors=1)
    c = p.connect()
    c.execute("SELECT 1")
    c.close()
    assert p.wait_log(WHO + r"login attempt: db=app user=app tls=no replication=no\n")
    assert p.wait_log(WHO + r"closing because: client close request \(age=\d+s\)\n")
    assert p.wait_log(r"S-\d+: app/app@127\.0\.0\.1:\d+ new connection to server "
                      r"\(from 127\.0\.0\.1:\d+\)\n")
    admin(p, "SHOW VERSION")                # console sessions are logged like the others
    assert p.wait_log(r"C-\d+: pgbouncer/admin@127\.0\.0\.1:\d+ login attempt: db=pgbouncer user=admin ")
    assert p.wait_log(r"C-\d+: pgbouncer/admin@127\.0\.0\.1:\d+ closing because: client close request")
    with pytest.raises(psycopg.OperationalError):
        p.connect(password="wrong", track=False)
    assert p.wait_log(WHO + r'pooler error: password authentication failed for user "app"\n')


def test_log_line_of_server_login_failure(pooler):
    p = pooler(start=False)
    p.databases["badpw"] = p.connstr("app", user="app", password="not-the-password")
    p.start()
    with pytest.raises(psycopg.OperationalError):
        p.connect(db="badpw", track=False)
    assert p.wait_log(r"S-\d+: badpw/app@127\.0\.0\.1:\d+ server login failed: "
                      r'FATAL password authentication failed for user "app"\n')


def test_log_line_of_full_pooler(pooler):
    p = pooler(max_client_conn=2, log_pooler_errors=1)
    p.connect()
    p.connect()
    with pytest.raises(psycopg.OperationalError, match=r"no more connections allowed \(max_client_conn\)"):
        p.connect(track=False)
    assert p.wait_log(r"C-\d+: app/app@127\.0\.0\.1:\d+ pooler error: "
                      r"no more connections allowed \(max_client_conn\)\n")
