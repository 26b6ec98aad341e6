#!/usr/bin/python3
"""Local PostgreSQL primary + streaming replicas, shared by the tests and the demo.

Owns: initdb, the server configuration and pg_hba rules, the test roles and
databases, pg_basebackup replicas, waiting for replay, and stopping everything.
Importable (test/integration/conftest.py uses Cluster) and a small CLI used by
scripts/demo.sh:  pgcluster.py start --dir D --ports 5433,5434,5435 | stop --dir D
Servers run as the unprivileged `postgres` user because PostgreSQL refuses root.
"""

import argparse
import hashlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import threading
import time

PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
RUN_USER = os.environ.get("PGCLUSTER_USER", "postgres")

# Roles created on the primary: name -> (password, how the password is stored,
# pg_hba method for TCP logins).  Each server-side login method gets one user so
# a pooler's cleartext, md5 and SCRAM client code is all exercised.
ROLES = {
    "app": ("apppass", "scram-sha-256", "scram-sha-256"),
    "md5user": ("md5pass", "md5", "md5"),
    "plainuser": ("plainpass", "scram-sha-256", "password"),
    "trustuser": ("trustpass", "scram-sha-256", "trust"),
    "scramuser": ("scrampass", "scram-sha-256", "scram-sha-256"),
}
SUPERUSER = "postgres"


def free_port(host="127.0.0.1"):
    """A port nobody listens on right now.  Chosen below the kernel's ephemeral range
    (32768 and up on Linux), so an outgoing connection cannot take it while a server
    that owns it is down for a restart."""
    import random
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(200):
        port = random.randint(20000, 32000)
        with socket.socket(family, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _ids():
    pw = pwd.getpwnam(RUN_USER)
    return pw.pw_uid, pw.pw_gid


def run_as_pg(args, check=True, capture=True, env=None, timeout=120, **kw):
    """Run a command as the postgres user (directly when we already are not root)."""
    extra = {}
    if os.geteuid() == 0:
        uid, gid = _ids()
        extra = dict(user=uid, group=gid, extra_groups=[])
    full_env = dict(os.environ)
    full_env.pop("PGPASSWORD", None)
    if env:
        full_env.update(env)
    res = subprocess.run(args, env=full_env, timeout=timeout, text=True,
                         stdout=subprocess.PIPE if capture else None,
                         stderr=subprocess.STDOUT if capture else None,
                         cwd="/", **extra, **kw)
    if check and res.returncode != 0:
        raise RuntimeError("command failed (%d): %s\n%s"
                           % (res.returncode, " ".join(args), res.stdout or ""))
    return res


try:
    from psycopg import pq as _pq
except ImportError:  # the demo may run where psycopg is not installed: psql then
    _pq = None


def _run_sql(conninfo, sql):
    """(output, error text or None) of one simple-protocol query string, as psql -Atq
    prints it: the rows of each result in turn."""
    conn = _pq.PGconn.connect(conninfo.encode())
    try:
        if conn.status != _pq.ConnStatus.OK:
            return "", conn.error_message.decode(errors="replace")
        conn.send_query(sql.encode())
        lines, error = [], None
        while True:
            res = conn.get_result()
            if res is None:
                break
            if res.status == _pq.ExecStatus.FATAL_ERROR:
                error = error or res.error_message.decode(errors="replace")
            elif res.status == _pq.ExecStatus.TUPLES_OK:
                for row in range(res.ntuples):
                    values = (res.get_value(row, col) for col in range(res.nfields))
                    lines.append("|".join("" if v is None else v.decode() for v in values))
        return "\n".join(lines), error
    finally:
        conn.finish()


def chown_pg(path):
    if os.geteuid() == 0:
        uid, gid = _ids()
        os.chown(path, uid, gid)


def md5_secret(user, password):
    """PgBouncer/PostgreSQL md5 secret: 'md5' + md5(password || user)."""
    return "md5" + hashlib.md5((password + user).encode()).hexdigest()


def scram_secret(password, salt=None, iterations=4096):
    """A SCRAM-SHA-256 verifier as PostgreSQL stores it (RFC 5802/7677)."""
    import base64
    import hmac
    salt = salt or os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda b: base64.b64encode(b).decode()
    return "SCRAM-SHA-256$%d:%s$%s:%s" % (iterations, b64(salt), b64(stored_key),
                                         b64(server_key))


class Server:
    """One PostgreSQL instance (primary or replica)."""

    def __init__(self, name, datadir, port, sockdir, host="127.0.0.1"):
        self.name = name
        self.datadir = datadir
        self.port = port
        self.sockdir = sockdir
        self.host = host

    @property
    def logfile(self):
        return os.path.join(os.path.dirname(self.datadir), self.name + ".log")

    def start(self):
        run_as_pg([os.path.join(PG_BIN, "pg_ctl"), "-D", self.datadir, "-l",
                   self.logfile, "-w", "-t", "60", "start"])

    def stop(self, mode="immediate"):
        if os.path.exists(os.path.join(self.datadir, "postmaster.pid")):
            run_as_pg([os.path.join(PG_BIN, "pg_ctl"), "-D", self.datadir, "-m", mode,
                       "-w", "-t", "30", "stop"], check=False)

    def psql(self, sql, db="postgres", check=True):
        """Run SQL over the Unix socket as the superuser; returns what `psql -Atq -c`
        prints (rows of every result, fields joined by |, NULL as empty).  Through
        libpq in this process when psycopg is installed: a psql process per call cost
        the test suite about 110 s of CPU (1265 calls in one pass, mostly polls of
        replay positions).  An error raises RuntimeError unless check=False."""
        if _pq is None:
            res = run_as_pg(["/usr/bin/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                             "-h", self.sockdir, "-p", str(self.port), "-U", SUPERUSER,
                             "-d", db, "-c", sql], check=check)
            return res.stdout.strip()
        out, error = _run_sql("host=%s port=%d dbname=%s user=%s connect_timeout=30"
                              % (self.sockdir, self.port, db, SUPERUSER), sql)
        if error and check:
            raise RuntimeError("SQL failed on %s: %s\n%s" % (self.name, sql[:200], error))
        return out.strip()

    def pause_replay(self, timeout=3.0):
        """pg_wal_replay_pause() only asks: wait (bounded) until replay has stopped, so a
        write made next cannot still be replayed here."""
        self.psql("SELECT pg_wal_replay_pause()")
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.psql("SELECT pg_get_wal_replay_pause_state()", check=False) == "paused":
                return
            time.sleep(0.02)

    def dsn(self, db="postgres", user=SUPERUSER):
        return "host=%s port=%d dbname=%s user=%s" % (self.sockdir, self.port, db, user)


PRIMARY_CONF = """
# --- pgcluster.py ---
listen_addresses = '{host}'
port = {port}
unix_socket_directories = '{sockdir}'
max_connections = {max_connections}
shared_buffers = 32MB
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = {wal_level}
max_wal_senders = 10
wal_keep_size = 256MB
# a replica whose primary went away tries again after 200 ms, not 5 s: tests that
# restart a primary wait for the replicas to catch up
wal_retrieve_retry_interval = 200ms
hot_standby = on
hot_standby_feedback = on
password_encryption = 'scram-sha-256'
logging_collector = off
log_min_messages = warning
log_line_prefix = '%m [%p] %u@%d '
unix_socket_permissions = 0777
max_prepared_transactions = 10
"""


COPY_CONF = """
# --- pgcluster.py: this copy of the template ---
listen_addresses = '{host}'
port = {port}
unix_socket_directories = '{sockdir}'
max_connections = {max_connections}
wal_level = {wal_level}
"""

# A stopped primary with the roles, databases and tables every cluster starts with,
# made once per machine (and per version of this file) and copied for each new
# cluster: initdb and the objects took 4 to 13 s of a cluster's 8 to 18 s.
TEMPLATE_ROOT = os.environ.get("PGCLUSTER_TEMPLATE_ROOT", "/tmp/pgsplit-pg-template")


def _template_dir():
    with open(os.path.abspath(__file__), "rb") as f:
        digest = hashlib.sha256(f.read() + PG_BIN.encode()).hexdigest()[:16]
    return "%s-%s" % (TEMPLATE_ROOT, digest)


def primary_template():
    """The template's data directory, made under a lock by the first caller (other
    test workers wait for it); None when PGCLUSTER_TEMPLATE=0 or it cannot be made."""
    if os.environ.get("PGCLUSTER_TEMPLATE", "1") == "0":
        return None
    import fcntl
    base = _template_dir()
    datadir = os.path.join(base, "primary")
    with open(base + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(os.path.join(base, "ready")):
            return datadir
        shutil.rmtree(base, ignore_errors=True)
        try:
            maker = Cluster(base, replicas=0)
            os.makedirs(maker.sockdir, exist_ok=True)
            os.chmod(base, 0o755)
            os.chmod(maker.sockdir, 0o777)
            chown_pg(base)
            chown_pg(maker.sockdir)
            maker._init_primary()
            maker.primary.start()
            maker._create_objects()
            maker.primary.stop("fast")
        except Exception as e:  # the caller builds its own primary instead
            print("pgcluster: no template (%s)" % e, file=sys.stderr)
            shutil.rmtree(base, ignore_errors=True)
            return None
        open(os.path.join(base, "ready"), "w").close()
        return datadir


def _hba_lines():
    lines = ["local all all trust", "local replication all trust",
             "host replication all 127.0.0.1/32 trust",
             "host replication all ::1/128 trust"]
    for addr in ("127.0.0.1/32", "::1/128"):
        for role, (_pw, _enc, method) in ROLES.items():
            lines.append("host all %s %s %s" % (role, addr, method))
        lines.append("host all all %s scram-sha-256" % addr)
    return "\n".join(lines) + "\n"


class Cluster:
    """A primary and `replicas` streaming standbys under one base directory."""

    def __init__(self, basedir, ports=None, replicas=2, host="127.0.0.1",
                 max_connections=300, wal_level="replica"):
        # wal_level=logical for tests of logical decoding (pg_recvlogical, subscriptions)
        self.wal_level = wal_level
        self.basedir = os.path.abspath(basedir)
        self.host = host
        self.nreplicas = replicas
        self.max_connections = max_connections
        ports = list(ports or [])
        while len(ports) < replicas + 1:
            p = free_port(host)
            if p not in ports:
                ports.append(p)
        self.sockdir = os.path.join(self.basedir, "sock")
        self.primary = Server("primary", os.path.join(self.basedir, "primary"),
                              ports[0], self.sockdir, host)
        self.replicas = [Server("replica%d" % (i + 1),
                                os.path.join(self.basedir, "replica%d" % (i + 1)),
                                ports[i + 1], self.sockdir, host)
                         for i in range(replicas)]
        self.roles = {r: v[0] for r, v in ROLES.items()}

    # -- helpers for callers ------------------------------------------------
    @property
    def port(self):
        return self.primary.port

    @property
    def servers(self):
        return [self.primary] + self.replicas

    def password(self, user):
        return self.roles[user]

    def to_json(self):
        return {"basedir": self.basedir, "host": self.host, "sockdir": self.sockdir,
                "primary": self.primary.port,
                "replicas": [r.port for r in self.replicas], "roles": self.roles}

    # -- lifecycle ----------------------------------------------------------
    def create(self):
        t0 = time.time()
        os.makedirs(self.basedir, exist_ok=True)
        os.chmod(self.basedir, 0o755)
        chown_pg(self.basedir)
        os.makedirs(self.sockdir, exist_ok=True)
        os.chmod(self.sockdir, 0o777)
        chown_pg(self.sockdir)
        template = primary_template()
        if template:
            self._copy_primary(template)
            self.primary.start()
        else:
            self._init_primary()
            self.primary.start()
            self._create_objects()
        errors = []
        threads = [threading.Thread(target=self._make_and_start, args=(rep, errors))
                   for rep in self.replicas]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        self.wait_replay()
        self.elapsed = time.time() - t0
        return self

    def _init_primary(self):
        p = self.primary
        run_as_pg([os.path.join(PG_BIN, "initdb"), "-D", p.datadir, "-U", SUPERUSER,
                   "-A", "trust", "-N", "-E", "UTF8", "--locale=C"])
        with open(os.path.join(p.datadir, "postgresql.conf"), "a") as f:
            f.write(PRIMARY_CONF.format(host=self.host, port=p.port, sockdir=self.sockdir,
                                        max_connections=self.max_connections,
                                        wal_level=self.wal_level))
        with open(os.path.join(p.datadir, "pg_hba.conf"), "w") as f:
            f.write(_hba_lines())

    def _copy_primary(self, template):
        """The primary as a copy of the template's data directory (cp -a keeps the
        postgres owner and modes), with this cluster's addresses appended: in
        postgresql.conf the last line for a setting wins."""
        p = self.primary
        subprocess.run(["cp", "-a", template, p.datadir], check=True)
        with open(os.path.join(p.datadir, "postgresql.conf"), "a") as f:
            f.write(COPY_CONF.format(host=self.host, port=p.port, sockdir=self.sockdir,
                                     max_connections=self.max_connections,
                                     wal_level=self.wal_level))

    def _create_objects(self):
        p = self.primary
        sql = []
        for role, (pw, enc, _m) in ROLES.items():
            sql.append("SET password_encryption = '%s';" % enc)
            sql.append("CREATE ROLE %s LOGIN PASSWORD '%s';" % (role, pw))
        p.psql("\n".join(sql))
        p.psql("CREATE DATABASE app OWNER app")
        p.psql("CREATE DATABASE bench OWNER app")
        p.psql("CREATE DATABASE app2 OWNER app")
        for db in ("app", "bench", "app2"):
            p.psql("GRANT ALL ON SCHEMA public TO PUBLIC; "
                   "GRANT ALL ON DATABASE %s TO PUBLIC" % db, db=db)
        run_as_pg([os.path.join(PG_BIN, "pgbench"), "-i", "-s", "1", "-q", "-h",
                   self.sockdir, "-p", str(p.port), "-U", "app", "bench"])
        p.psql("GRANT ALL ON ALL TABLES IN SCHEMA public TO PUBLIC", db="bench")
        # For auth_user/auth_query tests: a non-superuser may look up secrets.
        p.psql("CREATE FUNCTION public.user_lookup(i_username text, OUT uname text, "
               "OUT phash text) RETURNS record LANGUAGE sql SECURITY DEFINER AS "
               "$$SELECT usename::text, passwd::text FROM pg_catalog.pg_shadow "
               "WHERE usename = i_username$$; "
               "REVOKE ALL ON FUNCTION public.user_lookup(text) FROM PUBLIC; "
               "GRANT EXECUTE ON FUNCTION public.user_lookup(text) TO trustuser",
               db="app")
        p.psql("CREATE TABLE items(id serial PRIMARY KEY, v text); "
               "GRANT ALL ON items TO PUBLIC; "
               "GRANT ALL ON SEQUENCE items_id_seq TO PUBLIC", db="app")

    def _make_and_start(self, rep, errors):
        try:
            self._make_replica(rep)
            rep.start()
        except Exception as e:  # reported by the caller after join()
            errors.append(e)

    def _make_replica(self, rep):
        p = self.primary
        run_as_pg([os.path.join(PG_BIN, "pg_basebackup"), "-D", rep.datadir, "-R",
                   "-c", "fast", "-X", "stream", "-h", self.sockdir, "-p", str(p.port),
                   "-U", SUPERUSER, "--no-sync"])
        with open(os.path.join(rep.datadir, "postgresql.conf"), "a") as f:
            f.write("\nport = %d\n" % rep.port)

    def primary_lsn(self):
        return self.primary.psql("SELECT pg_current_wal_insert_lsn()")

    def wait_replay(self, timeout=30):
        """Block until every replica has replayed the primary's current WAL position."""
        if not self.replicas:
            return
        # The servers run with synchronous_commit = off, so a commit that just returned
        # may still sit in WAL buffers, past the write position. A synchronous commit
        # of a transaction with an xid flushes everything before it; then the write
        # position covers every earlier commit. (Not the insert position: after a page
        # boundary it points past a page header no replica will ever "replay".)
        self.primary.psql("SET synchronous_commit = on; SELECT txid_current()")
        target = self.primary.psql("SELECT pg_current_wal_lsn()")
        deadline = time.time() + timeout
        for rep in self.replicas:
            while True:
                out = rep.psql("SELECT coalesce(pg_last_wal_replay_lsn() >= '%s', false)"
                               % target, check=False)
                if out == "t":
                    break
                if time.time() > deadline:
                    raise RuntimeError("replica %s did not reach %s" % (rep.name, target))
                time.sleep(0.05)

    def stop(self, mode="immediate"):
        for s in reversed(self.servers):
            try:
                s.stop(mode)
            except Exception:  # keep stopping the others
                pass

    def destroy(self):
        self.stop()
        shutil.rmtree(self.basedir, ignore_errors=True)


def _stop_dir(basedir):
    """Stop every server found under basedir (used for idempotent demo restarts)."""
    if not os.path.isdir(basedir):
        return
    for name in sorted(os.listdir(basedir)):
        d = os.path.join(basedir, name)
        if os.path.exists(os.path.join(d, "postmaster.pid")):
            run_as_pg([os.path.join(PG_BIN, "pg_ctl"), "-D", d, "-m", "fast", "-w",
                       "-t", "30", "stop"], check=False)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    st = sub.add_parser("start", help="(re)create a primary and replicas")
    st.add_argument("--dir", required=True)
    st.add_argument("--ports", default="", help="comma-separated: primary,replica,...")
    st.add_argument("--replicas", type=int, default=2)
    st.add_argument("--host", default="127.0.0.1")
    sp = sub.add_parser("stop", help="stop the servers under --dir and remove it")
    sp.add_argument("--dir", required=True)
    sp.add_argument("--keep", action="store_true", help="do not remove the directory")
    args = ap.parse_args(argv)

    if args.cmd == "start":
        _stop_dir(args.dir)
        shutil.rmtree(args.dir, ignore_errors=True)
        ports = [int(p) for p in args.ports.split(",") if p]
        c = Cluster(args.dir, ports=ports, replicas=args.replicas, host=args.host)
        c.create()
        json.dump(c.to_json(), sys.stdout, indent=1)
        print()
        return 0
    _stop_dir(args.dir)
    if not args.keep:
        shutil.rmtree(args.dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
