"""Certificates for the TLS tests, made with the `openssl` command.

Owns: a throw-away test CA, server certificates with chosen subjectAltNames, client
certificates with chosen CommonNames (CA-signed or self-signed), and putting a
certificate on a PostgreSQL server of the test cluster (and taking TLS off it again).
Every file lands in a directory the `postgres` user can read, because the pooler and
PostgreSQL run as that user; keys are 0600 so libpq (running as root) accepts them.
"""

import os
import shutil
import subprocess
import time

import harness
from harness import pgcluster

CA = "ca"


def _ossl(d, *args):
    subprocess.run(["openssl"] + list(args), cwd=d, check=True, capture_output=True)


def _own(d, *names):
    for name in names:
        path = os.path.join(d, name)
        os.chmod(path, 0o600 if name.endswith(".key") else 0o644)
        pgcluster.chown_pg(path)


def make_ca(d, name=CA, cn="pgsplit test CA"):
    _ossl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=" + cn,
          "-keyout", name + ".key", "-out", name + ".crt")
    _own(d, name + ".key", name + ".crt")


def make_cert(d, name, cn=None, san=None, ca=CA):
    """name.key + name.crt with CN `cn` (default: name) and, when given, a subjectAltName
    such as "DNS:localhost,IP:127.0.0.1"; signed by `ca`, or self-signed when ca is None."""
    subj = "/CN=" + (cn or name)
    if ca is None:
        _ossl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", subj,
              "-keyout", name + ".key", "-out", name + ".crt")
    else:
        ext = []
        if san:
            with open(os.path.join(d, name + ".cnf"), "w") as f:
                f.write("subjectAltName=%s\n" % san)
            ext = ["-extfile", name + ".cnf"]
        _ossl(d, "req", "-newkey", "rsa:2048", "-nodes", "-subj", subj, "-keyout", name + ".key",
              "-out", name + ".csr")
        _ossl(d, "x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
              "-CAcreateserial", "-days", "2", *ext, "-out", name + ".crt")
    _own(d, name + ".key", name + ".crt")
    return os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")


def new_dir():
    """A directory with the CA and `server` (CN localhost; SAN localhost and 127.0.0.1)."""
    d = harness.make_pg_dir("pgsplit-tls-")
    make_ca(d)
    make_cert(d, "server", cn="localhost", san="DNS:localhost,IP:127.0.0.1")
    return d


def path(d, name, ext="crt"):
    return os.path.join(d, "%s.%s" % (name, ext))


def _wait_setting(server, name, value, timeout=10):
    """pg_reload_conf() only signals the postmaster; a new backend shows the new value
    once the postmaster has read the file."""
    deadline = time.time() + timeout
    while server.psql("SHOW %s" % name) != value:
        if time.time() > deadline:
            raise RuntimeError("%s: %s did not become %r" % (server.name, name, value))
        time.sleep(0.05)


def install_server_cert(server, d, name):
    """Give a PostgreSQL server (primary or replica) this certificate and turn ssl on; a
    configuration reload is enough. ALTER SYSTEM is not replicated, so each server keeps
    its own certificate. The files are named after the certificate so that the reload
    can be seen to have happened."""
    for ext in ("crt", "key"):
        dst = os.path.join(server.datadir, "pgsplit-%s.%s" % (name, ext))
        shutil.copy(path(d, name, ext), dst)
        os.chmod(dst, 0o600)
        pgcluster.chown_pg(dst)
    server.psql("ALTER SYSTEM SET ssl = on")
    server.psql("ALTER SYSTEM SET ssl_cert_file = 'pgsplit-%s.crt'" % name)
    server.psql("ALTER SYSTEM SET ssl_key_file = 'pgsplit-%s.key'" % name)
    server.psql("SELECT pg_reload_conf()")
    _wait_setting(server, "ssl_cert_file", "pgsplit-%s.crt" % name)
    _wait_setting(server, "ssl", "on")


def remove_server_cert(server):
    """Undo install_server_cert: the server's settings are back to the cluster's."""
    for setting in ("ssl", "ssl_cert_file", "ssl_key_file"):
        server.psql("ALTER SYSTEM RESET %s" % setting)
    server.psql("SELECT pg_reload_conf()")
    _wait_setting(server, "ssl", "off")
