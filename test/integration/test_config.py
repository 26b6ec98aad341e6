"""Configuration file handling at start-up: errors name file, line and key;
%include; command-line switches (-V, -d with pidfile)."""

import os
import re
import signal
import subprocess
import time

import pytest

from harness import pgsplit_only, pooler_bin, query1, wait_port


def start_expecting_failure(p, timeout=10):
    """Start with a broken config: the process must exit non-zero on its own."""
    p.expect_exit = True
    p.start(wait=False)
    try:
        rc = p.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pytest.fail("pooler kept running with a broken config")
    return rc, p.output()


def line_of(text, needle):
    for i, ln in enumerate(text.splitlines(), 1):
        if needle in ln:
            return i
    raise AssertionError(needle)


@pytest.mark.parametrize("bad_line,key", [
    ("bogus_key = 1", "bogus_key"),
    ("default_pool_size = abc", "default_pool_size"),
    ("pool_mode = sideways", "pool_mode"),
    ("listen_port = sixty", "listen_port"),
    ("server_lifetime = 10 parsecs", "server_lifetime"),
    ("auth_type = telepathy", "auth_type"),
])
def test_bad_key_or_value_at_start(pooler, bad_line, key):
    p = pooler(start=False, extra=bad_line)
    text = p.ini_text()
    lineno = line_of(text, bad_line)
    rc, out = start_expecting_failure(p)
    assert rc != 0
    assert key in out
    assert "pgbouncer.ini" in out
    assert re.search(r"\b%d\b" % lineno, out), out
    assert not wait_port(p.host, p.port, 0.3)


def test_include_directive(pooler):
    p = pooler(start=False)
    inc = os.path.join(p.dir, "extra.ini")
    with open(inc, "w") as f:
        f.write("[databases]\nincluded_db = %s\n" % p.connstr("app2"))
    os.chmod(inc, 0o644)
    p.extra = ""
    text = p.ini_text() + "%%include %s\n" % inc
    p.ini_text = lambda: text
    p.start()
    c = p.connect(db="included_db")
    assert query1(c, "SELECT current_database()") == "app2"


def test_version_flag():
    out = subprocess.run([pooler_bin(), "-V"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0
    assert re.search(r"\d+\.\d+", out.stdout + out.stderr)


def test_daemon_mode_and_pidfile(pooler):
    p = pooler(start=False)
    p.expect_exit = True        # the foreground process exits after forking
    p.start(args=("-d",), wait=False)
    assert p.proc.wait(10) == 0
    assert wait_port(p.host, p.port, 10)
    deadline = time.time() + 5
    while not os.path.exists(p.pidfile) and time.time() < deadline:
        time.sleep(0.05)
    pid = int(open(p.pidfile).read().strip())
    try:
        c = p.connect()
        assert query1(c, "SELECT 1") == 1
        c.close()
    finally:
        os.kill(pid, signal.SIGTERM)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
    assert not wait_port(p.host, p.port, 0.3)


def test_connstr_keys(pooler):
    """Connection-string keys that shape the server session."""
    p = pooler(start=False, pool_mode="transaction")
    p.databases["cs"] = p.connstr("app", application_name="from_connstr",
                                  timezone="Asia/Tokyo", datestyle="'SQL, DMY'",
                                  client_encoding="LATIN1",
                                  connect_query="'SET work_mem = ''5MB'''")
    p.start()
    c = p.connect(db="cs")
    assert query1(c, "SHOW TimeZone") == "Asia/Tokyo"
    assert query1(c, "SHOW work_mem") == "5MB"


@pgsplit_only("option names from PgBouncer 1.19-1.25")
def test_newer_option_names_accepted(pooler):
    p = pooler(max_prepared_statements=0, track_extra_parameters="IntervalStyle",
               max_user_client_connections=0, max_db_client_connections=0,
               transaction_timeout=0, auth_dbname="app")
    c = p.connect()
    assert query1(c, "SELECT 1") == 1


@pgsplit_only("[databases]/[users] keys from PgBouncer 1.24+")
def test_newer_connstr_keys(pooler):
    p = pooler(start=False, users={"app": "max_user_client_connections=10 query_timeout=0"})
    p.databases["app"] = p.connstr("app", max_db_client_connections=10, server_lifetime=100)
    p.start()
    c = p.connect()
    assert query1(c, "SELECT 1") == 1


def test_listen_unix_socket(pooler):
    p = pooler()
    c = p.connect(host=p.dir)
    assert query1(c, "SELECT 1") == 1


def test_listen_ipv6_and_list(pooler):
    p = pooler(listen_addr="127.0.0.1,::1")
    c4 = p.connect(host="127.0.0.1")
    c6 = p.connect(host="::1")
    assert query1(c4, "SELECT 1") == 1
    assert query1(c6, "SELECT 1") == 1


def test_unix_socket_group_and_mode(pooler):
    import grp
    import os
    import stat
    gid = grp.getgrnam("postgres").gr_gid
    p = pooler(unix_socket_group="postgres", unix_socket_mode="0660")
    st = os.stat(os.path.join(p.dir, ".s.PGSQL.%d" % p.port))
    assert st.st_gid == gid
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert query1(p.connect(host=p.dir), "SELECT 1") == 1


@pgsplit_only("PgBouncer 1.18 checks the protocol list only when client TLS is on")
def test_unknown_tls_protocol_refused_at_start_with_client_tls_off(pooler):
    p = pooler(start=False, client_tls_protocols="tlsv9")
    rc, out = start_expecting_failure(p)
    assert rc != 0
    assert "client_tls_protocols: unknown protocol 'tlsv9'" in out
