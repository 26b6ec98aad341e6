"""Pooler process control and client helpers for the integration tests.

Owns: choosing the pooler binary (PGSPLIT_BIN), writing a pgbouncer.ini +
userlist into a temp dir the postgres user can use, starting/stopping/reloading
the pooler as `postgres`, crash and sanitizer detection, and thin wrappers for
psycopg, the admin console, psql and pgbench.  The same tests run against
pgsplit and Debian's PgBouncer, so nothing here depends on pgsplit internals.
"""

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import psycopg
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "scripts"))
import pgcluster  # noqa: E402  (shared with scripts/demo.sh)
from pgcluster import md5_secret, scram_secret  # noqa: E402,F401

PG_BIN = pgcluster.PG_BIN
PSQL = "/usr/bin/psql"
PGBENCH = os.path.join(PG_BIN, "pgbench")

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: UndefinedBehaviorSanitizer", "pgsplit: assertion failed")

# Passwords every default pooler's auth_file knows (plain text; tests that
# need md5/SCRAM secrets pass their own userlist).
DEFAULT_PASSWORDS = {r: v[0] for r, v in pgcluster.ROLES.items()}
DEFAULT_PASSWORDS.update({"admin": "adminpass", "stats": "statspass"})


def make_pg_dir(prefix):
    """A temp dir that the postgres user owns (pytest's tmp_path is 0700 root)."""
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(d, 0o755)
    pgcluster.chown_pg(d)
    return d


def _chosen_bin():
    env = os.environ.get("PGSPLIT_BIN")
    if env:
        return os.path.abspath(env)
    own = os.path.join(REPO, "pgsplit")
    if os.path.exists(own):
        return own
    return "/usr/sbin/pgbouncer"


_BIN_COPY = None


def pooler_bin():
    """The binary to run.  Outside /usr it is copied once into a 0755 temp dir:
    the pooler runs as `postgres`, which may not be able to reach a checkout
    under /root."""
    global _BIN_COPY
    src = _chosen_bin()
    if src.startswith("/usr/") or os.geteuid() != 0:
        return src
    if _BIN_COPY is None or not os.path.exists(_BIN_COPY):
        d = make_pg_dir("pgsplit-bin-")
        _BIN_COPY = os.path.join(d, os.path.basename(src))
        shutil.copy2(src, _BIN_COPY)
        os.chmod(_BIN_COPY, 0o755)
        atexit.register(shutil.rmtree, d, True)
    return _BIN_COPY


_FLAVOR = None


def flavor():
    """'pgsplit' or 'pgbouncer', from the binary's -V banner."""
    global _FLAVOR
    if _FLAVOR is None:
        try:
            out = subprocess.run([pooler_bin(), "-V"], capture_output=True, text=True,
                                 timeout=10).stdout
        except OSError:
            out = ""
        _FLAVOR = "pgsplit" if "pgsplit" in out.lower() else "pgbouncer"
    return _FLAVOR


def is_pgbouncer():
    return flavor() == "pgbouncer"


def is_sanitizer_build():
    """The binary under test is built with AddressSanitizer: its memory figures (redzones,
    the quarantine of freed blocks) say nothing about the real pooler's."""
    try:
        out = subprocess.run(["ldd", pooler_bin()], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "libasan" in out


def wait_until(cond, timeout=5.0):
    """Poll cond every 50 ms until it holds (True) or timeout passes (its last value)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def rss_kb(pid):
    """Resident set size of a process in kB (VmRSS)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def not_under_sanitizer(reason="memory figures are meaningless under ASan"):
    return pytest.mark.skipif(is_sanitizer_build(), reason=reason)


def pgsplit_only(reason="feature missing from PgBouncer 1.18"):
    """Skip marker for behaviour PgBouncer 1.18 lacks (1.19+ options, pgsplit extras)."""
    return pytest.mark.skipif(is_pgbouncer(), reason="pgbouncer binary: " + reason)


# Bare decorator form: @requires_pgsplit
requires_pgsplit = pgsplit_only()


def free_port(host="127.0.0.1"):
    return pgcluster.free_port(host)


def userlist_line(user, secret):
    return '"%s" "%s"\n' % (user.replace('"', '""'), secret.replace('"', '""'))


def wait_port(host, port, timeout, proc=None):
    deadline = time.time() + timeout
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            try:
                s.connect((host, port))
                return True
            except OSError:
                time.sleep(0.05)
    return False


class PoolerStartError(Exception):
    pass


class Pooler:
    """One pooler process with its own ini, auth_file, log and socket dir."""

    def __init__(self, cluster, settings=None, databases=None, users=None,
                 userlist=None, extra=""):
        self.cluster = cluster
        self.dir = make_pg_dir("pgsplit-t-")
        self.host = "127.0.0.1"
        self.port = free_port()
        self.ini_path = os.path.join(self.dir, "pgbouncer.ini")
        self.auth_file = os.path.join(self.dir, "userlist.txt")
        self.log_path = os.path.join(self.dir, "pooler.log")
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self.pidfile = os.path.join(self.dir, "pooler.pid")
        self.proc = None
        self.expect_exit = False
        self.conns = []
        self.databases = dict(databases) if databases is not None else self.default_databases()
        self.users = dict(users or {})
        self.userlist = userlist if userlist is not None else dict(DEFAULT_PASSWORDS)
        self.settings = {
            "listen_addr": self.host,
            "listen_port": str(self.port),
            "unix_socket_dir": self.dir,
            "auth_type": "md5",
            "auth_file": self.auth_file,
            "admin_users": "admin",
            "stats_users": "stats",
            "logfile": self.log_path,
            "pidfile": self.pidfile,
            "pool_mode": "session",
            "default_pool_size": "20",
            "max_client_conn": "500",
            "server_login_retry": "1",
            # A stuck wait fails the test in seconds instead of hitting the timeout.
            "query_wait_timeout": "15",
        }
        if not is_pgbouncer():
            # The replica monitor logs in only as a configured user (never one a client
            # named); tests that check the unconfigured case set it to None.
            self.settings["replica_monitor_user"] = "app"
        self.settings.update({k: None if v is None else str(v)
                              for k, v in (settings or {}).items()})
        self.extra = extra

    # -- configuration ------------------------------------------------------
    def connstr(self, db, **kw):
        """A [databases] value pointing at the cluster's primary."""
        parts = {"host": "127.0.0.1", "port": str(self.cluster.port), "dbname": db}
        parts.update({k: str(v) for k, v in kw.items()})
        return " ".join("%s=%s" % kv for kv in parts.items())

    def default_databases(self):
        return {db: self.connstr(db) for db in ("app", "bench", "app2", "postgres")}

    def ini_text(self):
        out = ["[databases]"]
        out += ["%s = %s" % kv for kv in self.databases.items()]
        out.append("")
        out.append("[users]")
        out += ["%s = %s" % kv for kv in self.users.items()]
        out.append("")
        out.append("[pgbouncer]")
        out += ["%s = %s" % kv for kv in self.settings.items() if kv[1] is not None]
        out.append(self.extra)
        return "\n".join(out) + "\n"

    def write_files(self, ini_text=None):
        with open(self.ini_path, "w") as f:
            f.write(ini_text if ini_text is not None else self.ini_text())
        with open(self.auth_file, "w") as f:
            if isinstance(self.userlist, str):
                f.write(self.userlist)
            else:
                for u, s in self.userlist.items():
                    f.write(userlist_line(u, s))
        for p in (self.ini_path, self.auth_file):
            os.chmod(p, 0o644)
            pgcluster.chown_pg(p)

    # -- process ------------------------------------------------------------
    def command(self, *args):
        return [pooler_bin()] + list(args) + [self.ini_path]

    def start(self, args=(), wait=True, timeout=15, pass_fds=()):
        self.write_files()
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        extra = {}
        if os.geteuid() == 0:
            uid, gid = pgcluster._ids()
            extra = dict(user=uid, group=gid, extra_groups=[])
        self._stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(self.command(*args), stdout=self._stderr,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=self.dir, env=env, pass_fds=pass_fds, **extra)
        if not wait:
            return self
        if not wait_port(self.host, self.port, timeout, self.proc):
            rc = self.proc.poll()
            raise PoolerStartError("pooler did not start (rc=%r)\n%s" % (rc, self.output()))
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def reload(self, wait=0.5):
        """SIGHUP, then give the pooler a moment to apply the new files."""
        self.write_files()
        self.signal(signal.SIGHUP)
        time.sleep(wait)

    def close_clients(self):
        for c in self.conns:
            try:
                c.close()
            except Exception:
                pass
        self.conns = []

    def stop(self, timeout=5):
        """SIGTERM; a second SIGTERM after 1 s if a client the test left open still
        holds it (immediate shutdown, the same exit path); SIGKILL after `timeout`.
        Returns the exit code."""
        self.close_clients()
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(min(1.0, timeout))
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
        self._stderr.close()
        return self.proc.returncode

    def output(self):
        """Everything the pooler wrote: the logfile, then stderr lines not in it
        (in the foreground PgBouncer writes each log line to both)."""
        texts = []
        for p in (self.log_path, self.stderr_path):
            try:
                with open(p, errors="replace") as f:
                    texts.append(f.read())
            except FileNotFoundError:
                texts.append("")
        seen = set(texts[0].splitlines())
        rest = [ln for ln in texts[1].splitlines() if ln not in seen]
        return texts[0] + ("\n".join(rest) + "\n" if rest else "")

    def log_text(self):
        return self.output()

    def wait_log(self, pattern, timeout=5.0):
        """Wait until `pattern` (regex) appears in the log; return the match."""
        deadline = time.time() + timeout
        while True:
            m = re.search(pattern, self.output())
            if m or time.time() > deadline:
                return m
            time.sleep(0.05)

    def sanitizer_report(self):
        text = self.output()
        for mark in SANITIZER_MARKS:
            if mark in text:
                return text
        return None

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- clients ------------------------------------------------------------
    def connect(self, db="app", user="app", password=None, **kw):
        return connect(self, db, user, password, **kw)

    def admin(self, sql, user="admin"):
        return admin(self, sql, user)


def connect(pooler, db="app", user="app", password=None, autocommit=True, host=None,
            port=None, track=True, **kw):
    """psycopg connection through the pooler.  Simple protocol for plain
    execute() without params (psycopg's rule) and no server-side prepares."""
    if password is None:
        password = DEFAULT_PASSWORDS.get(user)
    kw.setdefault("prepare_threshold", None)
    kw.setdefault("connect_timeout", 10)
    args = dict(host=host or pooler.host, port=port or pooler.port, dbname=db, user=user,
                autocommit=autocommit, **kw)
    if password is not None:
        args["password"] = password
    conn = psycopg.connect(**args)
    if track:
        pooler.conns.append(conn)
    return conn


def admin(pooler, sql, user="admin", password=None):
    """Run one admin-console command; returns a list of dicts (one per row)."""
    conn = connect(pooler, "pgbouncer", user, password, track=False)
    try:
        cur = conn.cursor()
        cur.execute(sql)
        if cur.description is None:
            return []
        cols = [d.name for d in cur.description]
        return [dict(zip(cols, row)) for row in cur.fetchall()]
    finally:
        conn.close()


def admin_columns(pooler, sql, user="admin"):
    conn = connect(pooler, "pgbouncer", user, None, track=False)
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return [d.name for d in cur.description]
    finally:
        conn.close()


def query1(conn, sql, params=None):
    """First column of the first row."""
    row = conn.execute(sql, params).fetchone()
    return row[0] if row else None


def psql(pooler, sql, db="app", user="app", password=None, check=False, timeout=30,
         extra_args=()):
    """psql -c through the pooler; returns CompletedProcess (stdout, stderr text)."""
    env = dict(os.environ)
    pw = password if password is not None else DEFAULT_PASSWORDS.get(user, "")
    env["PGPASSWORD"] = pw
    env["PGCONNECT_TIMEOUT"] = "10"
    args = [PSQL, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", pooler.host,
            "-p", str(pooler.port), "-U", user, "-d", db] + list(extra_args)
    if sql is not None:
        args += ["-c", sql]
    res = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError("psql failed: %s" % res.stderr)
    return res


class BenchResult:
    def __init__(self, proc):
        self.proc = proc
        self.out = proc.stdout + proc.stderr
        self.processed = self._int(r"number of transactions actually processed: (\d+)")
        self.failed = self._int(r"number of failed transactions: (\d+)")
        m = re.search(r"tps = ([\d.]+)", self.out)
        self.tps = float(m.group(1)) if m else None

    def _int(self, pat):
        m = re.search(pat, self.out)
        return int(m.group(1)) if m else None


def pgbench(pooler, args, db="bench", user="app", password=None, timeout=120):
    env = dict(os.environ)
    env["PGPASSWORD"] = password if password is not None else DEFAULT_PASSWORDS[user]
    cmd = [PGBENCH, "-h", pooler.host, "-p", str(pooler.port), "-U", user] + list(args) + [db]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    return BenchResult(res)


def reload(pooler, wait=0.5):
    """Rewrite the pooler's files from its current settings and send SIGHUP."""
    pooler.reload(wait)


def log_text(pooler):
    """Everything the pooler has logged so far (logfile + stderr)."""
    return pooler.output()


def finish_poolers(poolers, test_failed, keep_log_dir=None, tail=6000):
    """Stop every pooler a test made; return the problems that fail the test (a pooler
    that exited on its own, died from a signal, or printed a sanitizer report). Prints
    the log tail when the test failed or there is a problem."""
    problems = []
    for p in poolers:
        crashed = p.proc is not None and p.proc.poll() is not None and not p.expect_exit
        rc = p.stop()
        if crashed:
            problems.append("pooler exited on its own during the test (rc=%r)" % rc)
        elif rc is not None and rc < 0 and rc not in (-15, -9):
            problems.append("pooler died from signal %d at shutdown" % -rc)
        if p.sanitizer_report():
            problems.append("sanitizer report in pooler output")
        if keep_log_dir:
            with open(os.path.join(keep_log_dir, "pooler-%s.log" % p.port), "w") as f:
                f.write(p.output())
        if test_failed or problems:
            print("\n---- pooler output (%s) tail ----\n%s" % (p.dir, p.output()[-tail:]))
        p.cleanup()
    return problems


# ---- fixtures' building blocks (conftest.py and the fault/soak modules) ---------------

def create_cluster(prefix, replicas=2, after_create=None, wal_level="replica"):
    """A new primary with `replicas` streaming replicas under a fresh directory.  Ports are
    picked by bind-and-close, so another process may take one first: one retry with new
    ports.  A failed attempt prints the servers' log tails and removes what it made."""
    def attempt():
        c = pgcluster.Cluster(make_pg_dir(prefix), replicas=replicas, wal_level=wal_level)
        try:
            c.create()
            if after_create:
                after_create(c)
            return c
        except Exception:
            for s in c.servers:
                try:
                    with open(s.logfile) as f:
                        print("---- %s log ----\n%s" % (s.name, f.read()[-3000:]))
                except OSError:
                    pass
            c.destroy()
            raise
    try:
        return attempt()
    except Exception as e:
        print("cluster creation failed, retrying once: %s" % e)
        return attempt()


def start_pooler(made, build, start=True, args=()):
    """build() -> a Pooler; start it, retrying with a new port (a new build()) when the
    one it picked was taken meanwhile.  Every pooler made is appended to `made`."""
    last = None
    for _attempt in range(3):
        p = build()
        made.append(p)
        if not start:
            p.write_files()
            return p
        try:
            return p.start(args=args)
        except PoolerStartError as e:
            p.expect_exit = True
            last = e
            if "in use" not in str(e):
                raise
    raise last


def finish_test_poolers(request, made, keep_log_dir=None, tail=6000):
    """Fixture teardown: stop the poolers; a crash or a sanitizer report fails the test."""
    failed = getattr(request.node, "rep_call", None)
    failed = failed is not None and failed.failed
    problems = finish_poolers(made, failed, keep_log_dir, tail)
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)
