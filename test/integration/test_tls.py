"""TLS between clients and the pooler (client_tls_*), with certificates made here by
the openssl command."""

import os
import socket
import struct
import subprocess

import psycopg
import pytest

import harness
from harness import query1
from harness import pgcluster


@pytest.fixture(scope="module")
def certs():
    d = harness.make_pg_dir("pgsplit-tls-")

    def ossl(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True, capture_output=True)

    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=pgsplit test CA",
         "-keyout", "ca.key", "-out", "ca.crt")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key",
         "-out", "server.csr")
    ossl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-days", "2", "-extfile", "ext.cnf", "-out", "server.crt")
    for name in os.listdir(d):
        os.chmod(os.path.join(d, name), 0o600 if name.endswith(".key") else 0o644)
        pgcluster.chown_pg(os.path.join(d, name))
    return d


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
    assert p.connect(sslmode="prefer").pgconn.ssl_in_use
    assert not p.connect(sslmode="disable").pgconn.ssl_in_use


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
