"""TLS and certificate authentication as clients see them (issue 7).

1. Every client sslmode against every client_tls_sslmode, with psql and with psycopg
   (both on libpq): does the login succeed, and is the client's own link encrypted?
   The expected answer per cell is libpq's behaviour against PostgreSQL, with
   PgBouncer's meaning of client_tls_sslmode on the pooler side (verify-ca and
   verify-full demand a client certificate signed by client_tls_ca_file).
2. Client certificates: the verify modes, auth_type = cert, and an HBA file with
   hostssl/hostnossl, cert, clientcert= and an auth_ident_file map.
3. TLS to replicas: each replica is verified against its own host name under
   server_tls_sslmode = verify-full, and one whose certificate names another host is
   taken out of rotation while writes go on.

Certificates are made here with the openssl command (certs.py). Part 3 gives the
session cluster's servers certificates and takes them away again afterwards.
"""

import os
import ssl
import struct
import subprocess
import time

import psycopg
import pytest

import certs as certgen
import harness
import pgwire
from harness import query1

# One xdist worker runs this module (--dist loadgroup): its module fixtures are made once.
pytestmark = pytest.mark.xdist_group("tls_matrix")

# The matrix and the verify modes also pass against PgBouncer (PGSPLIT_BIN=/usr/sbin/pgbouncer);
# the rest uses pgsplit's messages, options (auth_ident_file, replicas=) or behaviour.
pgsplit_only = harness.pgsplit_only("PostgreSQL's messages, auth_ident_file, replicas")

MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

NO_SSL_AT_POOLER = "server does not support SSL, but SSL was required"
SSL_REQUIRED = "SSL required"
SERVER_SSL = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


@pytest.fixture(scope="module")
def tls_dir():
    d = certgen.new_dir()
    certgen.make_cert(d, "client-app", cn="app")
    certgen.make_cert(d, "client-md5user", cn="md5user")
    certgen.make_cert(d, "client-svc", cn="svc-app")
    certgen.make_cert(d, "client-ops", cn="ops-md5user")
    certgen.make_cert(d, "selfsigned-app", cn="app", ca=None)
    # part 3: the primary is addressed by IP, replica 1 by the name `localhost`
    certgen.make_cert(d, "pg-ip", san="IP:127.0.0.1")
    certgen.make_cert(d, "rep-localhost", cn="localhost", san="DNS:localhost")
    certgen.make_cert(d, "rep-wrong", cn="wrong.example", san="DNS:wrong.example")
    return d


def client_tls_settings(d, mode, ca=True):
    s = dict(client_tls_sslmode=mode, client_tls_key_file=certgen.path(d, "server", "key"),
             client_tls_cert_file=certgen.path(d, "server"))
    if ca:
        s["client_tls_ca_file"] = certgen.path(d, "ca")
    return s


def ssl_params(d, mode, cert="client-app"):
    """libpq parameters: the pooler is reached as `localhost` (its certificate's name) on
    127.0.0.1; the CA is always given, so every TLS mode checks the chain."""
    p = dict(host="localhost", hostaddr="127.0.0.1", sslmode=mode,
             sslrootcert=certgen.path(d, "ca"))
    if cert:
        p.update(sslcert=certgen.path(d, cert), sslkey=certgen.path(d, cert, "key"))
    return p


def tls_connect(p, d, mode="require", cert="client-app", **kw):
    kw.setdefault("track", False)
    params = ssl_params(d, mode, cert)
    params.update(kw)
    return harness.connect(p, **params)


def refused(p, d, mode="require", cert="client-app", **kw):
    """The error a login gets; fails the test if the login succeeds."""
    with pytest.raises(psycopg.OperationalError) as ei:
        tls_connect(p, d, mode, cert, **kw).close()
    return ei.value


def login_refusal(p, d, cert, user="app", db="app"):
    """The ErrorResponse fields (SQLSTATE 'C', message 'M') that a TLS login with this
    certificate gets before any password is asked for. By hand, because psycopg does not
    expose the SQLSTATE of a failed login."""
    r = pgwire.Raw(p.host, p.port)
    try:
        r.send(struct.pack("!II", 8, pgwire.SSL_CODE))
        assert r.read_byte() == b"S"
        ctx = ssl.create_default_context(cafile=certgen.path(d, "ca"))
        ctx.check_hostname = False
        if cert:
            ctx.load_cert_chain(certgen.path(d, cert), certgen.path(d, cert, "key"))
        r.sock = ctx.wrap_socket(r.sock, server_hostname="localhost")
        r.send(pgwire.startup_packet({"user": user, "database": db}))
        kind, body = r.read_msg()
        assert kind == b"E", "login went on: %r" % ((kind, body),)
        return pgwire.parse_fields(body)
    finally:
        r.close()


def run_psql(p, d, mode, sql_cmds, user="app", password=None, cert="client-app", db="app"):
    params = ssl_params(d, mode, cert)
    params.update(port=p.port, dbname=db, user=user)
    conninfo = " ".join("%s=%s" % kv for kv in params.items())
    env = dict(os.environ, PGPASSWORD=password or harness.DEFAULT_PASSWORDS[user],
               PGCONNECT_TIMEOUT="10")
    args = [harness.PSQL, "-X", "-w", "-A", "-t", "-d", conninfo]
    for cmd in sql_cmds:
        args += ["-c", cmd]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module")
def module_pooler(cluster):
    """Factory for poolers that live for the whole module (one per client_tls_sslmode);
    the teardown fails the module's last test on a crash or sanitizer report."""
    made = {}

    def get(key, **settings):
        if key not in made:
            for _attempt in range(3):
                p = harness.Pooler(cluster, settings)
                try:
                    made[key] = p.start()
                    break
                except harness.PoolerStartError as e:
                    p.expect_exit = True
                    harness.finish_poolers([p], True)
                    if "in use" not in str(e):
                        raise
        return made[key]

    yield get
    problems = harness.finish_poolers(list(made.values()), False)
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


# ---- 1. the sslmode matrix --------------------------------------------------------

def expected(client_mode, pooler_mode):
    """'tls', 'plain', or the error text a libpq client sees, as against PostgreSQL
    (the client presents a CA-signed certificate, so the verify modes accept it)."""
    client_needs_tls = client_mode in ("require", "verify-ca", "verify-full")
    pooler_needs_tls = pooler_mode in ("require", "verify-ca", "verify-full")
    if pooler_mode == "disable":
        return NO_SSL_AT_POOLER if client_needs_tls else "plain"
    if client_mode == "disable":
        return SSL_REQUIRED if pooler_needs_tls else "plain"
    if client_mode == "allow":  # plain first; TLS only after the pooler refused plain
        return "tls" if pooler_needs_tls else "plain"
    return "tls"  # prefer and above ask for TLS first


@pytest.fixture
def matrix_pooler(module_pooler, tls_dir):
    return lambda mode: module_pooler("matrix-" + mode, **client_tls_settings(tls_dir, mode))


@pytest.mark.parametrize("client_mode", MODES)
@pytest.mark.parametrize("pooler_mode", MODES)
def test_sslmode_matrix_psycopg(matrix_pooler, tls_dir, pooler_mode, client_mode):
    p = matrix_pooler(pooler_mode)
    want = expected(client_mode, pooler_mode)
    if want not in ("tls", "plain"):
        assert want in str(refused(p, tls_dir, client_mode))
        return
    with tls_connect(p, tls_dir, client_mode) as c:
        assert c.pgconn.ssl_in_use == (want == "tls")
        assert query1(c, "SELECT current_user") == "app"


@pytest.mark.parametrize("client_mode", MODES)
@pytest.mark.parametrize("pooler_mode", MODES)
def test_sslmode_matrix_psql(matrix_pooler, tls_dir, pooler_mode, client_mode):
    p = matrix_pooler(pooler_mode)
    want = expected(client_mode, pooler_mode)
    res = run_psql(p, tls_dir, client_mode, ["\\conninfo", "SELECT 'through ' || current_user"])
    if want not in ("tls", "plain"):
        assert res.returncode != 0 and want in res.stderr, res.stderr
        return
    assert res.returncode == 0, res.stderr
    assert "through app" in res.stdout
    assert ("SSL connection (protocol: TLS" in res.stdout) == (want == "tls"), res.stdout


@pytest.mark.parametrize("client_mode", MODES)
@pytest.mark.parametrize("pooler_mode", ["verify-ca", "verify-full"])
def test_verify_columns_refuse_a_client_without_certificate(matrix_pooler, tls_dir, pooler_mode,
                                                            client_mode):
    """The same cells without a client certificate: no sslmode gets in (allow and prefer
    try the other way too, and are refused both ways)."""
    p = matrix_pooler(pooler_mode)
    refused(p, tls_dir, client_mode, cert=None)
    res = run_psql(p, tls_dir, client_mode, ["SELECT 'in'"], cert=None)
    assert res.returncode != 0 and "in" not in res.stdout


def test_matrix_pooler_still_serves_after_refusals(matrix_pooler, tls_dir):
    """The refused handshakes and logins of the matrix left every pooler healthy."""
    for mode in MODES:
        p = matrix_pooler(mode)
        with tls_connect(p, tls_dir, "prefer") as c:
            assert query1(c, "SELECT 1") == 1
            assert c.pgconn.ssl_in_use == (mode != "disable")


# ---- 2. client certificates -------------------------------------------------------

@pytest.mark.parametrize("mode", ["verify-ca", "verify-full"])
def test_verify_modes_need_a_certificate_signed_by_the_ca(pooler, tls_dir, mode):
    p = pooler(**client_tls_settings(tls_dir, mode))
    with tls_connect(p, tls_dir, cert="client-app") as c:
        assert c.pgconn.ssl_in_use and query1(c, "SELECT current_user") == "app"
    # the certificate proves who holds it, not which user logs in: that is cert auth's
    # job (PgBouncer's verify-full does not compare the CN either); the password decides
    with tls_connect(p, tls_dir, cert="client-md5user") as c:
        assert query1(c, "SELECT current_user") == "app"
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        tls_connect(p, tls_dir, cert="client-app", password="wrong").close()
    # a self-signed certificate, even with the right CN, ends the handshake
    assert "SSL" in str(refused(p, tls_dir, cert="selfsigned-app"))
    # no certificate at all
    assert "SSL" in str(refused(p, tls_dir, cert=None))
    # plain TCP
    assert SSL_REQUIRED in str(refused(p, tls_dir, "disable"))
    # psql sees the same
    res = run_psql(p, tls_dir, "verify-full", ["SELECT 'in'"], cert="selfsigned-app")
    assert res.returncode != 0 and "SSL" in res.stderr
    res = run_psql(p, tls_dir, "verify-full", ["SELECT 'in'"])
    assert res.returncode == 0 and res.stdout.strip() == "in", res.stderr


@pgsplit_only
def test_lower_modes_make_the_client_certificate_optional(pooler, tls_dir):
    # pgsplit's documented choice: PostgreSQL and PgBouncer end the handshake when a
    # presented certificate does not verify; pgsplit finishes it and never trusts it
    # (test_auth_type_cert shows the login refused where a certificate is needed)
    p = pooler(**client_tls_settings(tls_dir, "require"))
    for cert in (None, "client-app", "selfsigned-app"):
        with tls_connect(p, tls_dir, cert=cert) as c:
            assert c.pgconn.ssl_in_use and query1(c, "SELECT 1") == 1


@pgsplit_only
def test_auth_type_cert(pooler, tls_dir):
    # require + a CA file: the handshake accepts any client, the login needs the certificate
    p = pooler(auth_type="cert", **client_tls_settings(tls_dir, "require"))
    # the certificate is the credential: the password is never asked for
    with tls_connect(p, tls_dir, cert="client-app", password="not-the-password") as c:
        assert query1(c, "SELECT current_user") == "app"
    res = run_psql(p, tls_dir, "verify-full", ["SELECT current_user"], password="x")
    assert res.returncode == 0 and res.stdout.strip() == "app", res.stderr
    # CN md5user cannot log in as app: PostgreSQL's error and SQLSTATE
    e = refused(p, tls_dir, cert="client-md5user")
    assert 'certificate authentication failed for user "app"' in str(e)
    assert login_refusal(p, tls_dir, "client-md5user")["C"] == "28000"
    # ... but as md5user it can
    with tls_connect(p, tls_dir, cert="client-md5user", user="md5user") as c:
        assert query1(c, "SELECT current_user") == "md5user"
    # a self-signed certificate with CN app is never used to authenticate
    e = refused(p, tls_dir, cert="selfsigned-app")
    assert "connection requires a valid client certificate" in str(e)
    e = refused(p, tls_dir, cert=None)
    assert "connection requires a valid client certificate" in str(e)
    fields = login_refusal(p, tls_dir, None)
    assert (fields["S"], fields["C"], fields["M"]) == (
        "FATAL", "28000", "connection requires a valid client certificate")


@pgsplit_only
def test_auth_type_cert_under_verify_full(pooler, tls_dir):
    p = pooler(auth_type="cert", **client_tls_settings(tls_dir, "verify-full"))
    with tls_connect(p, tls_dir, "verify-full", cert="client-app") as c:
        assert query1(c, "SELECT current_user") == "app"
    assert 'certificate authentication failed for user "app"' in str(
        refused(p, tls_dir, cert="client-md5user"))


def hba_pooler(pooler, d, rules, ident=None, mode="prefer"):
    p = pooler(start=False, auth_type="hba", **client_tls_settings(d, mode))
    for name, text, setting in (("hba.conf", rules, "auth_hba_file"),
                                ("ident.conf", ident, "auth_ident_file")):
        if text is None:
            continue
        path = os.path.join(p.dir, name)
        with open(path, "w") as f:
            f.write(text)
        harness.pgcluster.chown_pg(path)
        p.settings[setting] = path
    return p.start()


HBA_RULES = """
# TYPE    DATABASE USER     ADDRESS        METHOD
hostssl   app      app      127.0.0.1/32   cert
hostssl   app2     all      127.0.0.1/32   md5  clientcert=verify-full
hostssl   all      all      127.0.0.1/32   md5  clientcert=verify-ca
hostnossl all      all      all            reject
"""


@pgsplit_only
def test_hba_hostssl_cert_and_hostnossl_reject(pooler, tls_dir):
    p = hba_pooler(pooler, tls_dir, HBA_RULES)
    # hostssl ... cert: the certificate alone logs app in
    with tls_connect(p, tls_dir, cert="client-app", password="wrong") as c:
        assert query1(c, "SELECT current_user") == "app"
    e = refused(p, tls_dir, cert="client-md5user")
    assert 'certificate authentication failed for user "app"' in str(e)
    assert login_refusal(p, tls_dir, "client-md5user")["C"] == "28000"
    e = refused(p, tls_dir, cert=None)
    assert "connection requires a valid client certificate" in str(e)
    assert "connection requires a valid client certificate" in str(
        refused(p, tls_dir, cert="selfsigned-app"))
    # hostnossl ... reject: the same user without TLS gets nowhere
    assert "pg_hba.conf" in str(refused(p, tls_dir, "disable", cert=None))


@pgsplit_only
def test_hba_clientcert_verify_ca(pooler, tls_dir):
    p = hba_pooler(pooler, tls_dir, HBA_RULES)
    # a CA-signed certificate (any CN) plus the password
    with tls_connect(p, tls_dir, db="postgres", user="md5user", cert="client-app") as c:
        assert query1(c, "SELECT current_user") == "md5user"
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        tls_connect(p, tls_dir, db="postgres", user="md5user", password="wrong").close()
    # the right password is not enough without a valid certificate
    for cert in (None, "selfsigned-app"):
        e = refused(p, tls_dir, db="postgres", user="md5user", cert=cert)
        assert "connection requires a valid client certificate" in str(e), cert
        assert login_refusal(p, tls_dir, cert, user="md5user", db="postgres")["C"] == "28000"


@pgsplit_only
def test_hba_clientcert_verify_full(pooler, tls_dir):
    p = hba_pooler(pooler, tls_dir, HBA_RULES)
    with tls_connect(p, tls_dir, db="app2", user="md5user", cert="client-md5user") as c:
        assert query1(c, "SELECT current_user") == "md5user"
    # the right password with a certificate for another user is refused
    e = refused(p, tls_dir, db="app2", user="md5user", cert="client-app")
    assert "authentication failed for user \"md5user\"" in str(e)
    assert "connection requires a valid client certificate" in str(
        refused(p, tls_dir, db="app2", user="md5user", cert=None))


@pgsplit_only
def test_hba_cert_with_ident_map(pooler, tls_dir):
    ident = """
# MAPNAME  SYSTEM-USERNAME   DATABASE-USERNAME
certmap    svc-app           app
certmap    /^ops-(.*)$       \\1
"""
    rules = "hostssl all all 127.0.0.1/32 cert map=certmap\nhostnossl all all all reject\n"
    p = hba_pooler(pooler, tls_dir, rules, ident=ident, mode="verify-ca")
    with tls_connect(p, tls_dir, cert="client-svc", password="x") as c:
        assert query1(c, "SELECT current_user") == "app"
    with tls_connect(p, tls_dir, cert="client-ops", user="md5user", password="x") as c:
        assert query1(c, "SELECT current_user") == "md5user"
    # the map is the only authority: svc-app is not md5user, and with a map even a CN
    # equal to the user name needs a line of its own (as in PostgreSQL)
    assert 'certificate authentication failed for user "md5user"' in str(
        refused(p, tls_dir, cert="client-svc", user="md5user"))
    assert 'certificate authentication failed for user "app"' in str(
        refused(p, tls_dir, cert="client-app"))


# ---- 3. replicas with their own certificates --------------------------------------

@pytest.fixture
def servers_with_tls(cluster, tls_dir):
    """The primary answers TLS as 127.0.0.1, replica 1 as `localhost`, replica 2 as
    wrong.example; everything is put back afterwards."""
    setup = [(cluster.primary, "pg-ip"), (cluster.replicas[0], "rep-localhost"),
             (cluster.replicas[1], "rep-wrong")]
    try:
        for server, name in setup:
            certgen.install_server_cert(server, tls_dir, name)
        yield cluster
    finally:
        for server, _name in setup:
            certgen.remove_server_cert(server)


def replica_pooler(pooler, cluster, tls_dir, replicas, mode="verify-full", **settings):
    p = pooler(start=False, pool_mode="transaction", replica_lb="round_robin",
               server_tls_sslmode=mode, server_tls_ca_file=certgen.path(tls_dir, "ca"), **settings)
    p.databases["app"] = p.connstr("app", replicas=",".join(replicas))
    return p.start()


def wait_replicas(p, want, timeout=10):
    """{port: state} from SHOW REPLICAS once every port in `want` has its wanted state
    ("up" only counts after a successful check), or when the time is up."""
    deadline = time.time() + timeout
    while True:
        rows = [r for r in p.admin("SHOW REPLICAS") if r["database"] == "app"]
        states = {r["port"]: (r["state"] if r["state"] != "up" or r["last_check"] else "unchecked")
                  for r in rows}
        if all(states.get(k) == v for k, v in want.items()) or time.time() > deadline:
            return states
        time.sleep(0.05)


WHERE_TLS = "SELECT pg_is_in_recovery(), inet_server_port(), (%s)" % SERVER_SSL
WRITE = "INSERT INTO items(v) VALUES ('tls-write') RETURNING pg_is_in_recovery(), (%s)" % SERVER_SSL

# The replica monitor logs in as the user of the database's first pool, so in these
# tests it starts with the first client; reads that reach a replica before the monitor
# has judged it must be moved without an error.


@pgsplit_only
def test_replica_verified_against_its_own_name(pooler, servers_with_tls, tls_dir):
    cluster = servers_with_tls
    r1 = cluster.replicas[0].port
    p = replica_pooler(pooler, cluster, tls_dir, ["localhost:%d" % r1])
    c = p.connect()
    # reads reach replica 1 over TLS although its certificate does not name the
    # primary's host: each server is checked against the name it is addressed by
    assert {tuple(c.execute(WHERE_TLS).fetchone()) for _ in range(6)} == {(True, r1, True)}
    assert tuple(c.execute(WRITE).fetchone()) == (False, True)
    assert wait_replicas(p, {r1: "up"}) == {r1: "up"}


@pgsplit_only
def test_replica_with_a_wrong_name_leaves_rotation(pooler, servers_with_tls, tls_dir):
    cluster = servers_with_tls
    r1, r2 = cluster.replicas[0].port, cluster.replicas[1].port
    p = replica_pooler(pooler, cluster, tls_dir, ["localhost:%d" % r1, "localhost:%d" % r2])
    c = p.connect()
    # round robin would use both; every read, even the first ones, lands on replica 1
    seen = {tuple(c.execute(WHERE_TLS).fetchone()) for _ in range(10)}
    assert seen == {(True, r1, True)}, seen
    assert tuple(c.execute(WRITE).fetchone()) == (False, True)
    states = wait_replicas(p, {r1: "up", r2: "down"})
    assert states == {r1: "up", r2: "down"}, states
    assert "hostname mismatch" in p.output()


@pgsplit_only
def test_replica_name_mismatch_falls_back_per_replica_fallback(pooler, servers_with_tls, tls_dir):
    cluster = servers_with_tls
    r1 = cluster.replicas[0].port
    # replica 1's certificate names localhost only, so 127.0.0.1 does not match it
    p = replica_pooler(pooler, cluster, tls_dir, ["127.0.0.1:%d" % r1])
    c = p.connect()
    assert tuple(c.execute(WHERE_TLS).fetchone()) == (False, cluster.port, True)
    assert wait_replicas(p, {r1: "down"}) == {r1: "down"}
    assert tuple(c.execute(WHERE_TLS).fetchone()) == (False, cluster.port, True)
    p.settings["replica_fallback"] = "error"
    p.reload()
    with pytest.raises(psycopg.Error) as ei:
        c.execute(WHERE_TLS)
    assert ei.value.sqlstate == "57P03"
    c = p.connect()
    assert tuple(c.execute(WRITE).fetchone()) == (False, True)


@pgsplit_only
def test_replica_name_is_not_checked_under_verify_ca(pooler, servers_with_tls, tls_dir):
    cluster = servers_with_tls
    r2 = cluster.replicas[1].port
    p = replica_pooler(pooler, cluster, tls_dir, ["127.0.0.1:%d" % r2], mode="verify-ca")
    c = p.connect()
    assert tuple(c.execute(WHERE_TLS).fetchone()) == (True, r2, True)
    assert wait_replicas(p, {r2: "up"}) == {r2: "up"}
