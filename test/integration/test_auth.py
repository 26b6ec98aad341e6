"""Client authentication against auth_file (trust, any, plain, md5, SCRAM with
plain/md5/SCRAM secrets), server logins (cleartext, md5, SCRAM; password from the
connection string or the auth_file; SCRAM pass-through), auth_user/auth_query."""

import struct

import psycopg
import pytest

import pgwire
from harness import is_pgbouncer, md5_secret, pgsplit_only, query1, scram_secret

CLIENT_PW = "cl!ent pw"


def secret_for(kind, user, pw):
    if kind == "plain":
        return pw
    if kind == "md5":
        return md5_secret(user, pw)
    return scram_secret(pw)


def forced_db(p, user="trustuser", password=None):
    """A database entry that logs in to the server with fixed credentials (by
    default a user the server trusts), so the test exercises client-side auth only."""
    kw = {"user": user}
    if password is not None:
        kw["password"] = password
    return {"fdb": p.connstr("app", **kw)}


AUTH_FAILED = ("password authentication failed", "SASL authentication failed")
AUTH_FAILED_RE = "|".join(AUTH_FAILED)


def auth_failed_sqlstates():
    # PgBouncer 1.18 says 08P01; PostgreSQL and newer PgBouncer say 28P01.
    return {"08P01", "28P01"} if is_pgbouncer() else {"28P01"}


CLIENT_MATRIX = [
    ("plain", "plain"), ("plain", "md5"), ("plain", "scram"),
    ("md5", "plain"), ("md5", "md5"), ("md5", "scram"),
    ("scram-sha-256", "plain"), ("scram-sha-256", "scram"),
]


@pytest.mark.parametrize("auth_type,kind", CLIENT_MATRIX)
def test_client_auth_matrix(pooler, cluster, auth_type, kind):
    userlist = {"cuser": secret_for(kind, "cuser", CLIENT_PW), "admin": "adminpass"}
    p = pooler(start=False, auth_type=auth_type, userlist=userlist)
    p.databases = forced_db(p)
    p.start()
    c = p.connect("fdb", "cuser", CLIENT_PW)
    assert query1(c, "SELECT current_user") == "trustuser"
    with pytest.raises(psycopg.OperationalError) as ei:
        p.connect("fdb", "cuser", "wrong-password")
    assert any(m in str(ei.value) for m in AUTH_FAILED), str(ei.value)


@pgsplit_only("1.18 reuses the client's SCRAM keys for a forced server user")
@pytest.mark.parametrize("kind", ["plain", "scram"])
def test_scram_client_forced_user_with_connstr_password(pooler, kind):
    userlist = {"cuser": secret_for(kind, "cuser", CLIENT_PW)}
    p = pooler(start=False, auth_type="scram-sha-256", userlist=userlist)
    p.databases = forced_db(p, "app", "apppass")
    p.start()
    c = p.connect("fdb", "cuser", CLIENT_PW)
    assert query1(c, "SELECT current_user") == "app"


def test_scram_auth_type_with_md5_secret_fails(pooler):
    """A stored md5 secret cannot answer a SCRAM exchange: login must fail."""
    userlist = {"cuser": md5_secret("cuser", CLIENT_PW)}
    p = pooler(start=False, auth_type="scram-sha-256", userlist=userlist)
    p.databases = forced_db(p)
    p.start()
    with pytest.raises(psycopg.OperationalError):
        p.connect("fdb", "cuser", CLIENT_PW)


@pytest.mark.parametrize("auth_type", ["plain", "md5"])
def test_wrong_password_sqlstate(pooler, auth_type):
    p = pooler(start=False, auth_type=auth_type,
               userlist={"cuser": CLIENT_PW})
    p.databases = forced_db(p)
    p.start()
    r = pgwire.Raw(p.host, p.port)
    try:
        with pytest.raises(AssertionError) as ei:
            r.login("cuser", "fdb", "not-it")
        msg = str(ei.value)
        assert "password authentication failed" in msg
        assert any(code in msg for code in auth_failed_sqlstates()), msg
    finally:
        r.close()
    # An unknown user gets the same answer (no user enumeration).
    r = pgwire.Raw(p.host, p.port)
    try:
        with pytest.raises(AssertionError) as ei:
            r.login("nosuchuser", "fdb", "whatever")
        msg = str(ei.value)
        assert "password authentication failed" in msg
        assert any(code in msg for code in auth_failed_sqlstates()), msg
    finally:
        r.close()


def test_auth_type_trust(pooler):
    p = pooler(auth_type="trust")
    c = p.connect(password="anything at all")
    assert query1(c, "SELECT current_user") == "app"
    c2 = p.connect(user="md5user", password="")
    assert query1(c2, "SELECT current_user") == "md5user"


def test_auth_type_trust_refuses_users_missing_from_auth_file(pooler):
    """trust skips the password, not the user check: a name absent from auth_file
    (and with no auth_user to look it up) is refused, as a wrong password would be."""
    p = pooler(start=False, auth_type="trust", userlist={"cuser": ""})
    p.databases = forced_db(p)
    p.start()
    assert query1(p.connect("fdb", "cuser", ""), "SELECT current_user") == "trustuser"
    r = pgwire.Raw(p.host, p.port)
    try:
        with pytest.raises(AssertionError) as ei:
            r.login("intruder", "fdb", "")
        msg = str(ei.value)
        assert "authentication failed" in msg, msg
        assert any(code in msg for code in auth_failed_sqlstates()), msg
    finally:
        r.close()


@pgsplit_only("the default auth_query that honours NOLOGIN")
def test_auth_type_trust_admits_users_found_by_auth_query(pooler, cluster):
    cluster.primary.psql("ALTER ROLE postgres PASSWORD 'pgsplit-super'")
    try:
        p = pooler(start=False, auth_type="trust", auth_user="postgres",
                   userlist={"postgres": "pgsplit-super"})
        p.databases = forced_db(p)
        p.start()
        assert query1(p.connect("fdb", "md5user", ""), "SELECT current_user") == "trustuser"
        with pytest.raises(psycopg.OperationalError, match="authentication failed"):
            p.connect("fdb", "no_such_role", "")
    finally:
        cluster.primary.psql("ALTER ROLE postgres PASSWORD NULL")


def test_auth_type_any(pooler):
    p = pooler(start=False, auth_type="any")
    p.databases = forced_db(p)
    p.start()
    c = p.connect("fdb", "whoever", "")
    assert query1(c, "SELECT current_user") == "trustuser"


@pytest.mark.parametrize("user", ["app", "md5user", "plainuser", "scramuser", "trustuser"])
def test_server_login_password_from_auth_file(pooler, user):
    """The server asks for SCRAM / md5 / cleartext / nothing depending on the user
    (see pgcluster.ROLES); the pooler answers with the plain auth_file password."""
    p = pooler()
    c = p.connect(user=user)
    assert query1(c, "SELECT current_user") == user


@pytest.mark.parametrize("user", ["app", "md5user", "plainuser"])
def test_server_login_password_from_connstr(pooler, cluster, user):
    p = pooler(start=False, userlist={"cuser": CLIENT_PW})
    p.databases = forced_db(p, user, cluster.password(user))
    p.start()
    c = p.connect("fdb", "cuser", CLIENT_PW)
    assert query1(c, "SELECT current_user") == user


def test_server_login_with_md5_secret(pooler, cluster):
    """Only the md5 hash is stored: it is enough for an md5 server login."""
    secret = cluster.primary.psql("SELECT rolpassword FROM pg_authid WHERE rolname='md5user'")
    assert secret.startswith("md5")
    p = pooler(userlist={"md5user": secret})
    c = p.connect(user="md5user", password="md5pass")
    assert query1(c, "SELECT current_user") == "md5user"


@pytest.mark.parametrize("auth_type", ["scram-sha-256", "md5"])
def test_scram_pass_through(pooler, cluster, auth_type):
    """auth_file holds the server's own SCRAM verifier (no password): the client's
    SCRAM proof is reused to log in to a SCRAM server."""
    secret = cluster.primary.psql(
        "SELECT rolpassword FROM pg_authid WHERE rolname='scramuser'")
    assert secret.startswith("SCRAM-SHA-256$")
    p = pooler(auth_type=auth_type, userlist={"scramuser": secret})
    c = p.connect(user="scramuser", password="scrampass")
    assert query1(c, "SELECT current_user") == "scramuser"
    # Transaction pooling keeps working after the first server login.
    c2 = p.connect(user="scramuser", password="scrampass")
    assert query1(c2, "SELECT 1") == 1
    with pytest.raises(psycopg.OperationalError):
        p.connect(user="scramuser", password="nope")


@pytest.mark.parametrize("user,pw", [("md5user", "md5pass"), ("scramuser", "scrampass")])
def test_auth_query(pooler, user, pw):
    """Users absent from auth_file are looked up with auth_query as auth_user."""
    p = pooler(auth_type="md5", auth_user="trustuser",
               auth_query="SELECT uname, phash FROM public.user_lookup($1)",
               userlist={"trustuser": "trustpass"})
    c = p.connect(user=user, password=pw)
    assert query1(c, "SELECT current_user") == user
    with pytest.raises(psycopg.OperationalError):
        p.connect(user=user, password="wrong")


def test_server_login_failure_reported(pooler):
    """A wrong server password in the connection string: the client gets an error
    quickly instead of hanging."""
    p = pooler(start=False, userlist={"cuser": CLIENT_PW})
    p.databases = forced_db(p, "app", "not-the-password")
    p.start()
    with pytest.raises(psycopg.Error):
        c = p.connect("fdb", "cuser", CLIENT_PW)
        c.execute("SELECT 1")


# ---- hostile and half-finished SCRAM exchanges ------------------------------------

def _scram_start(p, user):
    import pgwire
    r = pgwire.Raw(p.host, p.port)
    r.send(pgwire.startup_packet({"user": user, "database": "app"}))
    k, b = r.read_msg()
    assert k == b"R" and struct.unpack("!I", b[:4])[0] == 10  # AuthenticationSASL
    return r


def _sasl_initial(data, declared=None):
    import pgwire
    body = b"SCRAM-SHA-256\0" + struct.pack("!i", len(data) if declared is None else declared) + data
    return pgwire.msg(b"p", body)


@pgsplit_only("SCRAM error paths of pgsplit's own server role")
@pytest.mark.parametrize("case", ["absurd_length", "negative_length", "garbage", "no_nonce", "huge"])
def test_hostile_scram_messages_fail_cleanly(pooler, case):
    p = pooler(auth_type="scram-sha-256")
    r = _scram_start(p, "app")
    first = b"n,,n=,r=abcdefghijklmnop"
    msg = {"absurd_length": _sasl_initial(first, declared=0x7fffff00),
           "negative_length": _sasl_initial(first, declared=-5),
           "garbage": _sasl_initial(b"\xff\x00\x01garbage"),
           "no_nonce": _sasl_initial(b"n,,n="),
           "huge": _sasl_initial(b"n,,n=,r=" + b"A" * 7000)}[case]
    r.send(msg)
    fields = r.error_or_close()
    assert fields == {} or fields.get("C") in ("28P01", "08P01"), fields
    r.close()
    # the pooler is fine and other clients log in
    assert query1(p.connect(user="app"), "SELECT 1") == 1


@pgsplit_only("SCRAM error paths of pgsplit's own server role")
def test_client_aborting_scram_half_way(pooler):
    p = pooler(auth_type="scram-sha-256", client_login_timeout=2)
    r = _scram_start(p, "app")
    r.send(_sasl_initial(b"n,,n=,r=abcdefghijklmnop"))
    k, b = r.read_msg()
    assert k == b"R" and struct.unpack("!I", b[:4])[0] == 11  # SASLContinue
    r.close()  # gone before the final message
    silent = _scram_start(p, "app")
    silent.send(_sasl_initial(b"n,,n=,r=abcdefghijklmnop"))
    silent.read_msg()
    assert silent.is_closed(wait=6)  # stalled half-way: closed after client_login_timeout
    assert query1(p.connect(user="app"), "SELECT 1") == 1


@pgsplit_only("SCRAM error paths of pgsplit's own server role")
def test_unknown_user_gets_the_same_answer_as_a_wrong_password(pooler):
    p = pooler(auth_type="scram-sha-256")
    errors = []
    for user, pw in (("app", "wrong"), ("no_such_user", "wrong")):
        with pytest.raises(psycopg.OperationalError) as ei:
            p.connect(user=user, password=pw)
        errors.append(str(ei.value).replace(user, "USER"))
    assert errors[0] == errors[1]


@pgsplit_only("the schema-qualified default auth_query that honours VALID UNTIL")
def test_default_auth_query_refuses_an_expired_password(pooler, cluster):
    cluster.primary.psql("ALTER ROLE postgres PASSWORD 'pgsplit-super'")
    cluster.primary.psql("DROP ROLE IF EXISTS expuser; "
                         "CREATE ROLE expuser LOGIN PASSWORD 'exppass' VALID UNTIL '2000-01-01'")
    cluster.primary.psql("DROP ROLE IF EXISTS liveuser; CREATE ROLE liveuser LOGIN PASSWORD 'livepass'")
    try:
        p = pooler(auth_type="md5", auth_user="postgres", userlist={"postgres": "pgsplit-super"})
        # a user absent from auth_file is looked up with the default auth_query
        assert query1(p.connect(user="liveuser", password="livepass"), "SELECT current_user") == "liveuser"
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            p.connect(user="expuser", password="exppass")
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            p.connect(user="liveuser", password="wrong")
    finally:
        cluster.primary.psql("ALTER ROLE postgres PASSWORD NULL")


# ---- auth_query answers count per login and per database --------------------------

TENANT_QUERY = "'SELECT uname, phash FROM public.tenant_auth WHERE uname=$1'"


@pytest.fixture
def tenant_table(cluster):
    """A table in database app2 that its tenant may write: an auth_query source."""
    cluster.primary.psql("DROP TABLE IF EXISTS tenant_auth; "
                         "CREATE TABLE tenant_auth(uname text, phash text); "
                         "GRANT SELECT ON tenant_auth TO PUBLIC", db="app2")
    yield lambda sql: cluster.primary.psql(sql, db="app2")
    cluster.primary.psql("DROP TABLE IF EXISTS tenant_auth", db="app2")


def tenant_pooler(pooler):
    """tenanta: database app2 entered as the forced user trustuser, users looked up in
    the tenant's own table; app: users looked up in pg_shadow."""
    p = pooler(start=False, auth_type="md5", userlist={"trustuser": "trustpass"})
    p.databases = {
        "tenanta": p.connstr("app2", user="trustuser", auth_user="trustuser",
                             auth_query=TENANT_QUERY),
        "app": p.connstr("app", auth_user="trustuser",
                         auth_query="'SELECT uname, phash FROM public.user_lookup($1)'"),
    }
    return p.start()


@pgsplit_only("auth_query per database is newer than PgBouncer 1.18")
def test_auth_query_secret_of_one_database_is_not_used_for_another(pooler, tenant_table):
    """A tenant writes a password for scramuser into its own auth table and logs in to
    its database with it; that password must not open database app, whose lookup
    knows the real one, and the real password must still work there."""
    p = tenant_pooler(pooler)
    tenant_table("INSERT INTO tenant_auth VALUES ('scramuser', 'evil')")
    assert query1(p.connect("tenanta", "scramuser", "evil"), "SELECT current_user") == "trustuser"
    with pytest.raises(psycopg.OperationalError, match=AUTH_FAILED_RE):
        p.connect("app", "scramuser", "evil")
    c = p.connect("app", "scramuser", "scrampass")
    assert query1(c, "SELECT current_user") == "scramuser"


@pgsplit_only("auth_query per database is newer than PgBouncer 1.18")
def test_auth_query_row_deleted_refuses_the_next_login(pooler, tenant_table):
    p = tenant_pooler(pooler)
    tenant_table("INSERT INTO tenant_auth VALUES ('bob', 'bobpw')")
    c = p.connect("tenanta", "bob", "bobpw")
    assert query1(c, "SELECT 1") == 1
    c.close()
    tenant_table("DELETE FROM tenant_auth WHERE uname = 'bob'")
    with pytest.raises(psycopg.OperationalError, match=AUTH_FAILED_RE):
        p.connect("tenanta", "bob", "bobpw")
    if not is_pgbouncer():
        assert p.wait_log(r"auth_query for user bob in database tenanta: not found")


def test_auth_query_new_password_counts_without_reload(pooler, cluster):
    cluster.primary.psql("DROP ROLE IF EXISTS rotuser; CREATE ROLE rotuser LOGIN PASSWORD 'old-pw'")
    try:
        p = pooler(auth_type="md5", auth_user="trustuser", userlist={"trustuser": "trustpass"},
                   auth_query="SELECT uname, phash FROM public.user_lookup($1)")
        c = p.connect(user="rotuser", password="old-pw")
        assert query1(c, "SELECT current_user") == "rotuser"
        c.close()
        cluster.primary.psql("ALTER ROLE rotuser PASSWORD 'new-pw'")
        c = p.connect(user="rotuser", password="new-pw")
        assert query1(c, "SELECT current_user") == "rotuser"
        c.close()
        with pytest.raises(psycopg.OperationalError, match=AUTH_FAILED_RE):
            p.connect(user="rotuser", password="old-pw")
    finally:
        cluster.primary.psql("DROP ROLE IF EXISTS rotuser")


@pgsplit_only("the default auth_query that honours NOLOGIN and VALID UNTIL")
def test_auth_query_nologin_and_expiry_refuse_while_a_server_is_idle(pooler, cluster):
    """The user's server connection stays idle in the pool: only the lookup at login
    can refuse the client."""
    cluster.primary.psql("ALTER ROLE postgres PASSWORD 'pgsplit-super'")
    cluster.primary.psql("DROP ROLE IF EXISTS liveuser; CREATE ROLE liveuser LOGIN PASSWORD 'livepass'")
    try:
        p = pooler(auth_type="md5", auth_user="postgres", userlist={"postgres": "pgsplit-super"})
        c = p.connect(user="liveuser", password="livepass")
        assert query1(c, "SELECT current_user") == "liveuser"
        c.close()
        for change in ("NOLOGIN", "LOGIN VALID UNTIL '2000-01-01'"):
            cluster.primary.psql("ALTER ROLE liveuser " + change)
            with pytest.raises(psycopg.OperationalError, match=AUTH_FAILED_RE):
                p.connect(user="liveuser", password="livepass")
        assert p.wait_log(r"auth_query for user liveuser in database app: (not found|found without)")
    finally:
        cluster.primary.psql("ALTER ROLE postgres PASSWORD NULL")
        cluster.primary.psql("DROP ROLE IF EXISTS liveuser")


# ---- nothing is said before the password checks out ------------------------------

def raw_login_error(p, user, db, password):
    """Log in over a raw socket; return the FATAL error's fields as text."""
    r = pgwire.Raw(p.host, p.port)
    try:
        with pytest.raises(AssertionError) as ei:
            r.login(user, db, password)
        return str(ei.value)
    finally:
        r.close()


@pgsplit_only("PgBouncer 1.18 says 'no such database' before authentication; 1.25 does not")
@pytest.mark.parametrize("auth_type", ["md5", "plain"])
def test_unknown_database_is_said_only_after_authentication(pooler, auth_type):
    p = pooler(auth_type=auth_type)
    for user, pw in (("app", "wrong"), ("no_such_user", "whatever")):
        msg = raw_login_error(p, user, "no_such_db", pw)
        assert "authentication failed" in msg and "28P01" in msg, msg
        assert "no_such_db" not in msg, msg
    msg = raw_login_error(p, "app", "no_such_db", "apppass")
    assert "no such database: no_such_db" in msg and "3D000" in msg, msg


@pgsplit_only("PgBouncer 1.18 says 'no such database' before authentication; 1.25 does not")
def test_unknown_database_after_scram(pooler):
    p = pooler(auth_type="scram-sha-256")
    with pytest.raises(psycopg.OperationalError, match=AUTH_FAILED_RE):
        p.connect("no_such_db", "app", "wrong")
    with pytest.raises(psycopg.OperationalError, match="no such database: no_such_db"):
        p.connect("no_such_db", "app", "apppass")


@pgsplit_only("PgBouncer 1.18 refuses console users before authentication; 1.25 does not")
def test_console_refusal_is_said_only_after_authentication(pooler):
    """app is in auth_file but in neither admin_users nor stats_users."""
    p = pooler()
    for user, pw in (("app", "wrong"), ("admin", "wrong"), ("no_such_user", "x")):
        msg = raw_login_error(p, user, "pgbouncer", pw)
        assert "password authentication failed" in msg and "28P01" in msg, msg
    msg = raw_login_error(p, "app", "pgbouncer", "apppass")
    assert "not allowed" in msg, msg
    assert query1(p.connect("pgbouncer", "admin", "adminpass"), "SHOW VERSION")


@pgsplit_only("PgBouncer 1.18 says 'is disabled' before authentication; 1.25 does not")
def test_database_state_is_said_only_after_authentication(pooler):
    """DISABLE, PAUSE and max_db_client_connections: a wrong password (or a user nobody
    knows) is refused as such, whatever state the database is in; the state is said to
    a client whose password checks out."""
    p = pooler(start=False, max_db_client_connections=1)
    p.databases["app"] = p.connstr("app", max_db_client_connections=0)
    p.start()
    holder = p.connect("app2", "app", "apppass")  # app2 is at its client limit now
    assert query1(holder, "SELECT 1") == 1
    p.admin("DISABLE app")
    p.admin("PAUSE bench")
    for db in ("app", "bench", "app2"):
        for user, pw in (("app", "wrong"), ("no_such_user", "whatever")):
            msg = raw_login_error(p, user, db, pw)
            assert "password authentication failed" in msg and "28P01" in msg, (db, msg)
            for leak in ("disabled", "paused", "max_db_client_connections"):
                assert leak not in msg, (db, msg)
    msg = raw_login_error(p, "app", "app", "apppass")
    assert 'database "app" is disabled' in msg, msg
    msg = raw_login_error(p, "app", "app2", "apppass")
    assert "max_db_client_connections" in msg and "53300" in msg, msg
