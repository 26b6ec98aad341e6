"""TLS between clients and the pooler (client_tls_*), with certificates made here by
the openssl command."""

import os
import socket
import struct

import psycopg
import pytest

import certs as certgen
import harness
from harness import query1


@pytest.fixture(scope="module")
def certs():
    return certgen.new_dir()


def tls_pooler(pooler, certs, mode):
    return pooler(client_tls_sslmode=mode, client_tls_key_file=os.path.join(certs, "server.key"),
                  client_tls_cert_file=os.path.join(certs, "server.crt"))


@harness.pgsplit_only("client TLS is wired in pgsplit; the compat run has its own TLS")
def test_require_accepts_tls_and_refuses_plain(pooler, certs):
    p = tls_pooler(pooler, certs, "require")
    c = p.connect(sslmode="require")
    assert c.pgconn.ssl_in_use
    assert query1(c, "SELECT 1") == 1
    # large results go through the TLS layer intact
    assert query1(c, "SELECT md5(repeat('t', 2000000))") == query1(c, "SELECT md5(%s)", ("t" * 2000000,))
    with pytest.raises(psycopg.OperationalError, match="SSL required"):
        p.connect(sslmode="disable")


def test_prefer_serves_both(pooler, certs):
    p = tls_pooler(pooler, certs, "prefer")
    tls = p.connect(sslmode="prefer", application_name="over-tls")
    plain = p.connect(sslmode="disable", application_name="in-clear")
    assert tls.pgconn.ssl_in_use and not plain.pgconn.ssl_in_use
    # SHOW CLIENTS says which is which: the protocol/cipher, or empty for a plain link
    rows = {r["application_name"]: r["tls"] for r in p.admin("SHOW CLIENTS")}
    assert rows["over-tls"].startswith("TLSv1.") and "/" in rows["over-tls"], rows
    assert rows["in-clear"] == "", rows


def test_verify_full_client_checks_the_pooler_certificate(pooler, certs):
    p = tls_pooler(pooler, certs, "require")
    c = p.connect(sslmode="verify-full", sslrootcert=os.path.join(certs, "ca.crt"), host="localhost")
    assert query1(c, "SELECT 1") == 1
    with pytest.raises(psycopg.OperationalError):
        p.connect(sslmode="verify-full", sslrootcert=os.path.join(certs, "server.crt"), host="localhost")


def test_disable_answers_no(pooler, certs):
    p = tls_pooler(pooler, certs, "disable")
    with pytest.raises(psycopg.OperationalError):
        p.connect(sslmode="require")
    assert not p.connect(sslmode="prefer").pgconn.ssl_in_use


@harness.pgsplit_only("plaintext after SSLRequest is refused")
def test_bytes_after_ssl_request_are_refused(pooler, certs):
    p = tls_pooler(pooler, certs, "prefer")
    s = socket.create_connection((p.host, p.port), timeout=5)
    startup = struct.pack("!II", 196608, 0)  # garbage startup right behind the request
    s.sendall(struct.pack("!II", 8, 80877103) + struct.pack("!I", 8 + len(startup)) + startup)
    data = s.recv(4096)
    assert data[:1] == b"E" and b"unencrypted data after SSL request" in data
    s.close()
    assert query1(p.connect(sslmode="require"), "SELECT 1") == 1


def test_reload_with_broken_certificate_keeps_tls_working(pooler, certs):
    p = tls_pooler(pooler, certs, "require")
    p.settings["client_tls_cert_file"] = os.path.join(certs, "no-such.crt")
    p.reload()
    c = p.connect(sslmode="require")
    assert c.pgconn.ssl_in_use and query1(c, "SELECT 1") == 1


# ---- pgsplit to PostgreSQL (server_tls_*) -------------------------------------------

@pytest.fixture
def primary_with_tls(cluster, certs):
    certgen.make_cert(certs, "pg-ip", san="IP:127.0.0.1")
    certgen.make_cert(certs, "pg-wrong", san="DNS:wrong.example")
    certgen.install_server_cert(cluster.primary, certs, "pg-ip")
    yield lambda name: certgen.install_server_cert(cluster.primary, certs, name)
    certgen.remove_server_cert(cluster.primary)


SSL_IN_USE = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


@harness.pgsplit_only("server TLS modes")
def test_server_tls_require_and_verify_full(pooler, cluster, certs, primary_with_tls):
    p = pooler(server_tls_sslmode="require")
    assert query1(p.connect(), SSL_IN_USE) is True
    q = pooler(server_tls_sslmode="verify-full", server_tls_ca_file=os.path.join(certs, "ca.crt"))
    assert query1(q.connect(), SSL_IN_USE) is True
    plain = pooler(server_tls_sslmode="disable")
    assert query1(plain.connect(), SSL_IN_USE) is False


@harness.pgsplit_only("server TLS modes")
def test_server_tls_verify_full_refuses_a_wrong_name(pooler, cluster, certs, primary_with_tls):
    primary_with_tls("pg-wrong")
    p = pooler(server_tls_sslmode="verify-full", server_tls_ca_file=os.path.join(certs, "ca.crt"),
               server_login_retry=1)
    with pytest.raises(psycopg.Error):
        c = p.connect()
        c.execute("SELECT 1")
    assert "TLS" in p.output() or "certificate" in p.output()
    # verify-ca does not check the name
    q = pooler(server_tls_sslmode="verify-ca", server_tls_ca_file=os.path.join(certs, "ca.crt"))
    assert query1(q.connect(), SSL_IN_USE) is True


@harness.pgsplit_only("server TLS modes")
def test_server_tls_require_against_a_server_without_tls(pooler):
    p = pooler(server_tls_sslmode="require", server_login_retry=1)
    with pytest.raises(psycopg.Error):
        c = p.connect()
        c.execute("SELECT 1")
    assert "does not accept TLS" in p.output()


def _direct_tls(p, certs, alpn):
    import ssl
    ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.crt"))
    ctx.check_hostname = False
    if alpn:
        ctx.set_alpn_protocols(alpn)
    raw = socket.create_connection((p.host, p.port), timeout=5)
    return ctx.wrap_socket(raw, server_hostname="localhost")


@harness.pgsplit_only("direct TLS (PostgreSQL 17 sslnegotiation=direct)")
def test_direct_tls_with_alpn(pooler, certs):
    p = tls_pooler(pooler, certs, "require")
    s = _direct_tls(p, certs, ["postgresql"])
    assert s.selected_alpn_protocol() == "postgresql"
    body = b"user\0app\0database\0app\0\0"
    s.sendall(struct.pack("!II", 8 + len(body), 196608) + body)
    kind = s.recv(1)
    assert kind == b"R"  # the pooler asks for the password inside TLS
    s.close()
    assert query1(p.connect(sslmode="require"), "SELECT 1") == 1


@harness.pgsplit_only("direct TLS (PostgreSQL 17 sslnegotiation=direct)")
def test_direct_tls_without_alpn_is_refused(pooler, certs):
    import ssl
    p = tls_pooler(pooler, certs, "require")
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        s = _direct_tls(p, certs, None)
        body = b"user\0app\0database\0app\0\0"
        s.sendall(struct.pack("!II", 8 + len(body), 196608) + body)
        if not s.recv(1):
            raise ConnectionError("closed")


@harness.pgsplit_only("server TLS modes")
def test_reload_recycles_servers_only_when_server_tls_changed(pooler, cluster, certs, primary_with_tls):
    p = pooler(server_tls_sslmode="disable", pool_mode="transaction", default_pool_size=1)
    c = p.connect()
    pid = query1(c, "SELECT pg_backend_pid()")
    p.settings["log_connections"] = "0"  # an unrelated change keeps the server connection
    p.reload()
    assert query1(c, "SELECT pg_backend_pid()") == pid
    p.settings["server_tls_sslmode"] = "require"
    p.reload()
    assert query1(c, "SELECT pg_backend_pid()") != pid  # replaced at release
    assert query1(c, SSL_IN_USE) is True


def _config(p):
    return {r["key"]: r["value"] for r in harness.admin(p, "SHOW CONFIG")}


@harness.pgsplit_only("PgBouncer 1.18 accepts these values and fails later")
@pytest.mark.parametrize("mode", ["require", "disable"])
def test_set_unknown_tls_protocol_is_refused(pooler, certs, mode):
    """An unknown protocol word is refused at SET time, even while client TLS is off
    (it would fail when TLS is switched on); the old value stays in force."""
    p = tls_pooler(pooler, certs, mode)
    for key in ("client_tls_protocols", "server_tls_protocols"):
        with pytest.raises(psycopg.Error, match="unknown protocol 'tlsv9'") as ei:
            harness.admin(p, "SET %s = 'tlsv9'" % key)
        assert ei.value.sqlstate == "22023"
        assert _config(p)[key] == "secure"
    assert p.wait_log(r"SET client_tls_protocols = tlsv9 refused")
    c = p.connect(sslmode="require" if mode == "require" else "disable")
    assert query1(c, "SELECT 1") == 1


@harness.pgsplit_only("PgBouncer 1.18 accepts these values and fails later")
def test_set_certificate_that_is_not_a_certificate_is_refused(pooler, certs, tmp_path):
    p = tls_pooler(pooler, certs, "require")
    junk = tmp_path / "junk.crt"
    junk.write_text("this is not a certificate\n")
    os.chmod(tmp_path, 0o755)
    os.chmod(junk, 0o644)
    with pytest.raises(psycopg.Error, match="client TLS") as ei:
        harness.admin(p, "SET client_tls_cert_file = '%s'" % junk)
    assert ei.value.sqlstate == "22023"
    assert _config(p)["client_tls_cert_file"] == os.path.join(certs, "server.crt")
    c = p.connect(sslmode="require")
    assert c.pgconn.ssl_in_use and query1(c, "SELECT 1") == 1


@harness.pgsplit_only("PgBouncer 1.18 applies TLS settings of SET differently")
def test_set_tls_protocols_takes_effect(pooler, certs):
    """A valid SET rebuilds the TLS context: new handshakes use it at once."""
    p = tls_pooler(pooler, certs, "require")
    for proto in ("tlsv1.2", "tlsv1.3"):
        harness.admin(p, "SET client_tls_protocols = '%s'" % proto)
        c = p.connect(sslmode="require", application_name="over-" + proto)
        shown = {r["application_name"]: r["tls"] for r in p.admin("SHOW CLIENTS")}
        assert shown["over-" + proto].startswith(proto.replace("tlsv", "TLSv") + "/"), shown
        c.close()


@harness.pgsplit_only("PgBouncer 1.18 applies TLS settings of SET differently")
def test_client_tls_turned_on_and_off_at_run_time(pooler, certs):
    """SET of client_tls_* (1.25: 'take effect for new connections'): TLS switched on
    with a certificate, then off again, with a connected client kept throughout."""
    p = pooler()
    kept = p.connect(sslmode="disable")
    with pytest.raises(psycopg.OperationalError):
        p.connect(sslmode="require")
    harness.admin(p, "SET client_tls_key_file = '%s'" % os.path.join(certs, "server.key"))
    harness.admin(p, "SET client_tls_cert_file = '%s'" % os.path.join(certs, "server.crt"))
    harness.admin(p, "SET client_tls_sslmode = 'require'")
    c = p.connect(sslmode="verify-full", sslrootcert=os.path.join(certs, "ca.crt"), host="localhost")
    assert c.pgconn.ssl_in_use and query1(c, "SELECT 1") == 1
    with pytest.raises(psycopg.OperationalError, match="SSL required"):
        p.connect(sslmode="disable")
    harness.admin(p, "SET client_tls_sslmode = 'disable'")
    assert not p.connect(sslmode="prefer").pgconn.ssl_in_use
    assert query1(kept, "SELECT 2") == 2 and query1(c, "SELECT 3") == 3
