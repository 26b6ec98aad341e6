#!/usr/bin/python3
"""Benchmarks of pgsplit's own features: routing, read-your-writes, prepared statements.

Owns: a throw-away primary with two streaming replicas (scripts/pgcluster.py), one
pgsplit per configuration under test, four measurements (routing cost, read
scaling capacity, read-your-writes cost, prepared vs extended protocol), the
target verdicts and a Markdown report (stdout and --out).
Shares process and CPU helpers with bench/run.py, read-only. Never measures while
bench/run.py is running: each pgbench run first waits for it to finish.
Run as root with /usr/bin/python3; servers and pgsplit run as `postgres`.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as benchrun  # noqa: E402  (bench/run.py, used read-only)

pgcluster = benchrun.pgcluster
PGBENCH = benchrun.PGBENCH
USER, PASSWORD, DBNAME = benchrun.USER, benchrun.PASSWORD, benchrun.DBNAME
DRIVERS_DIR = os.path.join(HERE, "..", "test", "drivers")
JDBC_JAR = "/usr/share/java/postgresql.jar"
N_ACCOUNTS = 100000  # pgbench_accounts rows per scale unit

READ_SQL = "SELECT abalance FROM pgbench_accounts WHERE aid = :aid;"
WRITE_SQL = "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :aid;"


def log(msg):
    benchrun.log(msg)


def wait_for_other_bench(limit=600):
    """bench/run.py measures on the same two cores: never overlap with it."""
    t0, said = time.time(), False
    while time.time() - t0 < limit:
        res = subprocess.run(["pgrep", "-f", r"bench/run\.py"], capture_output=True,
                             text=True)
        if res.returncode != 0:
            if said:
                log("bench/run.py gone after %.0f s" % (time.time() - t0))
            return time.time() - t0
        if not said:
            log("bench/run.py is running (pid %s); waiting" % res.stdout.split())
            said = True
        time.sleep(5)
    log("bench/run.py still running after %d s; measuring anyway" % limit)
    return time.time() - t0


class Split(benchrun.Pooler):
    """A pgsplit with this benchmark's [databases] entry and extra settings."""

    def __init__(self, binary, basedir, tag, cluster, db_opts, settings):
        super().__init__("split-" + tag, binary, basedir, cluster.port,
                         int(settings.get("default_pool_size", 20)))
        self.cluster = cluster
        self.db_opts = db_opts
        self.extra = settings
        self.extra_dbs = {}  # name -> [databases] entry options, beside DBNAME's

    def settings(self):
        base = [kv for kv in super().settings() if kv[0] not in self.extra]
        # the replica monitor needs a user to check replicas with: without one every
        # read stays on the primary
        return (base + [("admin_users", USER), ("replica_monitor_user", USER)]
                + sorted(self.extra.items()))

    def write_files(self):
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        pgcluster.chown_pg(self.dir)
        entry = "%s = host=127.0.0.1 port=%d dbname=%s" % (DBNAME, self.cluster.port, DBNAME)
        for k, v in self.db_opts.items():
            entry += " %s=%s" % (k, v)
        lines = ["[databases]", entry]
        for name, opts in self.extra_dbs.items():
            lines.append("%s = host=127.0.0.1 port=%d dbname=%s %s" % (
                name, self.cluster.port, name, " ".join("%s=%s" % kv for kv in opts.items())))
        lines += ["", "[pgbouncer]"]
        lines += ["%s = %s" % kv for kv in self.settings()]
        files = {self.ini: "\n".join(lines) + "\n",
                 os.path.join(self.dir, "userlist.txt"): '"%s" "%s"\n' % (USER, PASSWORD)}
        for path, text in files.items():
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o644)
            pgcluster.chown_pg(path)

    def db_line(self):
        return " ".join("%s=%s" % kv for kv in self.db_opts.items())

    def log_problems(self):
        """Warning/error lines of the pooler log (and anything on stderr)."""
        out = []
        for path in (self.logfile, self.stderr):
            try:
                with open(path, errors="replace") as f:
                    out += [ln.rstrip() for ln in f
                            if re.search(r"WARNING|ERROR|FATAL|PANIC|sanitizer", ln)]
            except OSError:
                pass
        return out


class Result:
    def __init__(self, label, cmd, proc, cpu_s, wall, foreign, died):
        self.label, self.cmd, self.cpu_s, self.wall = label, cmd, cpu_s, wall
        self.foreign, self.died, self.rc = foreign, died, proc.returncode
        self.out = (proc.stdout or "") + (proc.stderr or "")
        self.xacts = self._num(r"number of transactions actually processed: (\d+)", int)
        self.failed = self._num(r"number of failed transactions: (\d+)", int) or 0
        self.tps = self._num(r"tps = ([\d.]+) \(without initial connection time\)", float)
        self.latency = self._num(r"latency average = ([\d.]+) ms", float)
        self.errors = [ln for ln in self.out.splitlines()
                       if re.search(r"error|abort|FATAL|fail", ln, re.I)
                       and not ln.startswith("number of failed transactions: 0")]
        self.stats = {}   # SHOW STATS deltas, when asked for
        self.writes = None

    def _num(self, pattern, conv):
        m = re.search(pattern, self.out)
        return conv(m.group(1)) if m else None

    def ok(self):
        return (not self.died and self.rc == 0 and self.xacts and self.tps is not None
                and not self.failed)

    def cpu_per_xact(self):
        return self.cpu_s * 1e6 / self.xacts if self.xacts else None


def ratio(a, b):
    return a / b if a is not None and b else None


fmt = benchrun.fmt


class Bench:
    def __init__(self, args):
        self.args = args
        self.basedir = None
        self.cluster = None
        self.split_bin = None
        self.results = {}
        self.anomalies = []
        self.waited = 0.0
        self.versions = {}
        self.quiet_waited = 0.0
        self.routing_notes = []
        self.driver_results = {}

    # -- setup ------------------------------------------------------------
    def setup(self):
        self.waited += wait_for_other_bench()
        self.basedir = tempfile.mkdtemp(prefix="pgsplit-routing-", dir="/tmp")
        os.chmod(self.basedir, 0o755)
        pgcluster.chown_pg(self.basedir)
        log("primary + 2 replicas in %s" % self.basedir)
        self.cluster = pgcluster.Cluster(os.path.join(self.basedir, "pg"), replicas=2)
        self.cluster.create()
        log("pgbench -i -s %d" % self.args.scale)
        pgcluster.run_as_pg([PGBENCH, "-i", "-s", str(self.args.scale), "-q", "-h",
                             self.cluster.sockdir, "-p", str(self.cluster.port), "-U",
                             USER, DBNAME], timeout=600)
        self.cluster.primary.psql("CREATE TABLE ryw_stale (aid int); "
                                  "GRANT ALL ON ryw_stale TO %s" % USER, db=DBNAME)
        self.cluster.primary.psql("CHECKPOINT")
        self.cluster.wait_replay(timeout=180)
        bindir = os.path.join(self.basedir, "bin")
        os.makedirs(bindir)
        os.chmod(bindir, 0o755)
        self.split_bin = shutil.copy2(self.args.pgsplit, os.path.join(bindir, "pgsplit"))
        # pgbouncer's slot gets pgsplit again: only the machine and versions are used
        self.versions = benchrun.versions(self.split_bin, self.split_bin)
        self.write_scripts()

    def write_scripts(self):
        n = N_ACCOUNTS * self.args.scale
        self.scripts = {
            "sleep": "SELECT pg_sleep(0.005);\n",
            "mix": ("\\set aid random(1, %d)\n\\set r random(1, 10)\n\\if :r = 1\n%s\n"
                    "\\else\n%s\n\\endif\n" % (n, WRITE_SQL, READ_SQL)),
        }
        # Offload: each client owns row client_id + 1, writes it (keeping the value the
        # write returned) or reads it back; a read older than the client's own last
        # write adds a row to ryw_stale, so stale own reads are counted exactly.
        for pct in (10, 50):
            self.scripts["own%d" % pct] = (
                "\\set me :client_id + 1\n\\set r random(1, 100)\n\\if :r <= %d\n"
                "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :me "
                "RETURNING abalance AS wv \\gset\n\\else\n"
                "SELECT abalance AS rv FROM pgbench_accounts WHERE aid = :me \\gset\n"
                "\\if :rv < :wv\nINSERT INTO ryw_stale VALUES (:me);\n\\endif\n"
                "\\endif\n" % pct)
        self.script_files = {}
        for name, text in self.scripts.items():
            path = os.path.join(self.basedir, name + ".sql")
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o644)
            self.script_files[name] = path

    def replicas_opt(self):
        return ",".join("127.0.0.1:%d" % r.port for r in self.cluster.replicas)

    # -- one pgsplit, one or more pgbench runs ------------------------------
    def start_split(self, tag, db_opts, settings, extra_dbs=None):
        sp = Split(self.split_bin, self.basedir, tag, self.cluster, db_opts, settings)
        sp.extra_dbs = extra_dbs or {}
        sp.start()
        log("pgsplit %s: %s (pid %d)" % (tag, sp.db_line(), sp.proc.pid))
        # Fill the pools and let the replica monitor see every replica.
        res = subprocess.run(self.pgbench_cmd(sp, ["-S"], "simple", 8, self.args.warmup),
                             env=self.env(), capture_output=True, text=True,
                             timeout=self.args.warmup + 120)
        if res.returncode != 0:
            self.anomaly("warm-up of %s failed: %s%s" % (tag, res.stdout, res.stderr), sp)
        return sp

    def env(self):
        env = dict(os.environ)
        env["PGPASSWORD"] = PASSWORD
        env["PGCONNECT_TIMEOUT"] = "20"
        return env

    def pgbench_cmd(self, sp, script, protocol, clients, duration, rate=None):
        extra = ["-R", str(rate)] if rate else []
        if any(f.startswith(os.path.join(self.basedir, "own")) for f in script):
            extra += ["-D", "wv=0"]  # a read before the client's first write
        return [PGBENCH, "-h", "127.0.0.1", "-p", str(sp.port), "-U", USER, "-n",
                "-M", protocol, "-c", str(clients), "-j", str(self.args.jobs),
                "-T", str(duration)] + extra + script + [DBNAME]

    def pg_pids(self):
        pids = []
        for s in self.cluster.servers:
            with open(os.path.join(s.datadir, "postmaster.pid")) as f:
                pids.append(int(f.readline()))
        return pids

    def pg_tree(self):
        out = {}
        for pid in self.pg_pids():
            out.update(benchrun.tree_cpu(pid))
        return out

    def wait_quiet(self):
        """Wait (within --quiet-budget seconds over the whole run, at most 20 s each
        time) for a 1-s window in which others use under 0.3 CPUs: our own
        processes are idle between runs, so the load seen now is someone else's."""
        t0 = time.time()
        limit = min(20.0, self.args.quiet_budget - self.quiet_waited)
        load = None
        while True:
            b0 = benchrun.system_busy_seconds()
            time.sleep(1.0)
            load = benchrun.system_busy_seconds() - b0
            if load <= 0.3 or time.time() - t0 >= limit:
                break
        self.quiet_waited += max(0.0, time.time() - t0 - 1.0)
        return load

    def measure(self, key, sp, script, protocol, clients, duration, rate=None,
                stats=False, count_writes=False):
        self.waited += wait_for_other_bench()
        load_before = self.wait_quiet()
        cmd = self.pgbench_cmd(sp, script, protocol, clients, duration, rate)
        st0 = self.show_stats(sp) if stats else None
        w0 = self.sum_balance() if count_writes else None
        pg0, kids0 = self.pg_tree(), benchrun.children_cpu_seconds()
        sys0, cpu0, t0 = benchrun.system_busy_seconds(), sp.cpu(), time.time()
        try:
            proc = subprocess.run(cmd, env=self.env(), capture_output=True, text=True,
                                  timeout=duration + 120)
        except subprocess.TimeoutExpired as e:
            proc = subprocess.CompletedProcess(cmd, -1, str(e.stdout or ""),
                                               "pgbench timed out")
        wall = time.time() - t0
        cpu1 = sp.cpu()
        cpu_s = cpu1 - cpu0 if None not in (cpu0, cpu1) else 0.0
        ours = (benchrun.tree_delta(pg0, self.pg_tree()) + cpu_s
                + benchrun.children_cpu_seconds() - kids0)
        foreign = max(0.0, benchrun.system_busy_seconds() - sys0 - ours) / wall
        r = Result(key, cmd, proc, cpu_s, wall, foreign, not sp.alive())
        r.load_before = load_before
        if stats and sp.alive():
            st1 = self.show_stats(sp)
            r.stats = {k: st1.get(k, 0) - st0.get(k, 0) for k in st1}
        if count_writes:
            r.writes = self.sum_balance() - w0
        self.results[key] = r
        log("%-34s tps=%s cpu/xact=%sus xacts=%s failed=%s foreign=%.2f CPUs%s" % (
            key, fmt(r.tps, ".0f"), fmt(r.cpu_per_xact(), ".1f"), r.xacts, r.failed,
            r.foreign, (" routed primary/replica=%s/%s writes=%s" % (
                r.stats.get("total_routed_primary"), r.stats.get("total_routed_replica"),
                r.writes)) if stats else ""))
        if not r.ok() or r.errors:
            text = "%s: exit %s, failed %s, pooler %s\n$ %s\n--- pgbench output ---\n%s" % (
                key, r.rc, r.failed, "DIED" if r.died else "alive", " ".join(cmd), r.out)
            self.anomaly(text, sp)
        return r

    def admin(self, sp, sql):
        res = subprocess.run(["psql", "-X", "-A", "-F", "|", "-P", "footer=off", "-h",
                              "127.0.0.1", "-p", str(sp.port), "-U", USER, "-d",
                              "pgbouncer", "-c", sql], env=self.env(),
                             capture_output=True, text=True, timeout=30)
        return (res.stdout + res.stderr).strip()

    def show_stats(self, sp):
        """SHOW STATS row of our database on the admin console, numbers only."""
        res = subprocess.run(["psql", "-X", "-A", "-F", "|", "-P", "footer=off", "-h",
                              "127.0.0.1", "-p", str(sp.port), "-U", USER, "-d",
                              "pgbouncer", "-c", "SHOW STATS"], env=self.env(),
                             capture_output=True, text=True, timeout=30)
        lines = res.stdout.strip().splitlines()
        if res.returncode != 0 or len(lines) < 2:
            self.anomaly("SHOW STATS failed (exit %d): %s%s" % (res.returncode, res.stdout,
                                                              res.stderr), sp)
            return {}
        head = lines[0].split("|")
        for ln in lines[1:]:
            row = dict(zip(head, ln.split("|")))
            if row.get("database") == DBNAME:
                return {k: int(v) for k, v in row.items() if re.fullmatch(r"-?\d+", v)}
        return {}

    def sum_balance(self):
        """Each write adds 1 to one abalance: the sum counts committed writes."""
        return int(self.cluster.primary.psql("SELECT sum(abalance) FROM pgbench_accounts",
                                             db=DBNAME))

    def anomaly(self, text, sp=None):
        if sp is not None:
            text += "\n--- %s log tail ---\n%s" % (sp.name, benchrun.tail(sp.logfile, 20))
            if not sp.alive():
                text += "--- stderr tail ---\n%s" % benchrun.tail(sp.stderr, 20)
        self.anomalies.append(text)
        log("ANOMALY " + text)

    def finish_split(self, sp):
        problems = sp.log_problems()
        if not sp.alive():
            self.anomaly("%s died: %s" % (sp.name, sp.describe_death()))
        sp.stop()
        if problems:
            self.anomalies.append("%s (%s) pooler log, %d warning/error lines, last 15:\n%s"
                                  % (sp.name, sp.db_line(), len(problems),
                                     "\n".join(problems[-15:])))
            log("%s: %d warning/error lines in its log" % (sp.name, len(problems)))

    def stale_count(self):
        return int(self.cluster.primary.psql("SELECT count(*) FROM ryw_stale", db=DBNAME))

    # -- the parts --------------------------------------------------------
    def run(self):
        parts = [self.part_routing, self.part_scaling, self.part_ryw, self.part_prepared,
                 self.part_offload, self.part_drivers]
        for part in parts:
            if self.args.only and part.__name__[5:] not in self.args.only:
                continue
            try:
                part()
            except benchrun.BenchError as e:
                self.anomaly("%s aborted: %s" % (part.__name__, e))

    def part_routing(self):
        """Both pgsplits run side by side; their runs alternate (ABBA) so drift in
        the machine's load hits both alike."""
        a = self.args
        confs = {"primary": {"routing": "primary"},
                 "auto": {"replicas": self.replicas_opt(), "routing": "auto"}}
        sps = {}
        try:
            for name in ("primary", "auto"):
                sps[name] = self.start_split("r-" + name, confs[name], {})
            for rnd in range(a.rounds):
                order = ("primary", "auto") if rnd % 2 == 0 else ("auto", "primary")
                for proto in ("simple", "extended"):
                    for rate in (None, a.rate):
                        for name in order:
                            key = "routing/%s/%s/%s#%d" % (
                                name, proto, "R%d" % rate if rate else "max", rnd)
                            self.measure(key, sps[name], ["-S"], proto, 20, a.duration,
                                         rate)
        finally:
            for sp in sps.values():
                self.finish_split(sp)

    def part_scaling(self):
        pool = {"default_pool_size": "4", "read_your_writes": "off"}
        reps = {"replicas": self.replicas_opt(), "routing": "auto",
                "replica_pool_size": "4"}
        confs = [("a", {"routing": "primary"}, {}),
                 ("b", reps, {}),
                 ("c", reps, {"primary_read_weight": "1", "replica_lb": "round_robin"})]
        for name, db, extra in confs:
            sp = self.start_split("s-" + name, db, dict(pool, **extra))
            try:
                self.measure("scaling/%s" % name, sp, ["-f", self.script_files["sleep"]],
                             "simple", 24, self.args.long_duration, stats=True)
            finally:
                self.finish_split(sp)

    def part_ryw(self):
        reps = {"replicas": self.replicas_opt(), "routing": "auto"}
        for mode in ("lsn", "window", "off"):
            extra = {"read_your_writes": mode}
            if mode == "window":
                extra["write_window"] = "2"
            sp = self.start_split("w-" + mode, reps, extra)
            try:
                self.measure("ryw/%s" % mode, sp, ["-f", self.script_files["mix"]],
                             "simple", 20, self.args.long_duration, stats=True,
                             count_writes=True)
                self.routing_notes.append((mode, self.admin(sp, "SHOW ROUTING")))
            finally:
                self.finish_split(sp)

    OFFLOAD_CONFS = [("off", {"read_your_writes": "off"}),
                     ("lsn", {"read_your_writes": "lsn"}),
                     # the same without the short wait for a replica to pass the floor
                     ("lsn-nowait", {"read_your_writes": "lsn", "replica_catchup_wait": "0"}),
                     ("window", {"read_your_writes": "window", "write_window": "2"}),
                     ("primary", None)]

    def part_offload(self):
        """Reads that reach replicas when each client writes and reads back its own row:
        16 clients, extended protocol, 90/10 and 50/50 reads/writes."""
        reps = {"replicas": self.replicas_opt(), "routing": "auto"}
        # The cluster runs with synchronous_commit = off, which leaves a commit unsent to
        # the replicas for up to wal_writer_delay (200 ms) when little WAL follows it:
        # these runs commit as PostgreSQL does by default, so replicas lag milliseconds.
        role = "ALTER ROLE %s IN DATABASE %s " % (USER, DBNAME)
        self.cluster.primary.psql(role + "SET synchronous_commit = on")
        try:
            for name, extra in self.OFFLOAD_CONFS:
                db = reps if extra is not None else {"routing": "primary"}
                sp = self.start_split("o-" + name, db, extra or {})
                try:
                    for pct in (10, 50):
                        s0 = self.stale_count()
                        r = self.measure("offload/%s/%d" % (name, pct), sp,
                                         ["-f", self.script_files["own%d" % pct]],
                                         "extended", 16, self.args.offload_duration,
                                         stats=True, count_writes=True)
                        r.stale = self.stale_count() - s0
                        if name != "primary":
                            r.replicas = self.admin(sp, "SHOW REPLICAS")
                finally:
                    self.finish_split(sp)
        finally:
            self.cluster.primary.psql(role + "RESET synchronous_commit")

    def driver_commands(self):
        """driver -> argv of its scenario program (test/drivers/), or a reason it cannot run."""
        out = {}
        node_ok = shutil.which("node") and all(
            os.path.isdir(os.path.join(DRIVERS_DIR, "node_modules", m)) for m in ("pg", "postgres"))
        if not node_ok and shutil.which("npm"):
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=DRIVERS_DIR,
                           capture_output=True, timeout=300)
            node_ok = shutil.which("node") and os.path.isdir(os.path.join(DRIVERS_DIR, "node_modules", "pg"))
        for drv in ("pg", "postgresjs"):
            out[drv] = (["node", os.path.join(DRIVERS_DIR, drv + "_scenarios.js")] if node_ok
                        else "node or the npm packages of test/drivers are missing")
        classes = os.path.join(self.basedir, "jdbc")
        ok = shutil.which("javac") and os.path.exists(JDBC_JAR) and subprocess.run(
            ["javac", "-d", classes, "-cp", JDBC_JAR, os.path.join(DRIVERS_DIR, "JdbcScenarios.java")],
            capture_output=True, timeout=120).returncode == 0
        out["jdbc"] = (["java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp",
                        JDBC_JAR + os.pathsep + classes, "JdbcScenarios"] if ok
                       else "javac or %s is missing" % JDBC_JAR)
        return out

    def part_drivers(self):
        """Each real driver's read loop (200 reads, its defaults, no write for 1 s before)
        through routing=auto with read_your_writes=lsn: the share that lands on replicas."""
        reps = {"replicas": self.replicas_opt(), "routing": "auto"}
        sp = self.start_split("d", reps, {"read_your_writes": "lsn"}, extra_dbs={"app": reps})
        try:
            for drv, cmd in self.driver_commands().items():
                if isinstance(cmd, str):
                    self.driver_results[drv] = cmd
                    continue
                time.sleep(1.0)
                t0 = time.time()
                res = subprocess.run(cmd + [str(sp.port), "offload", "bench"], capture_output=True,
                                     text=True, timeout=120)
                wall = time.time() - t0
                if res.returncode != 0:
                    self.anomaly("driver %s: exit %d\n%s%s" % (drv, res.returncode, res.stdout,
                                                              res.stderr), sp)
                    self.driver_results[drv] = "failed (exit %d)" % res.returncode
                    continue
                out = json.loads(res.stdout.strip().splitlines()[-1])
                errors = out["results"][0]
                errors = errors["errors"] if isinstance(errors, dict) else int(str(errors).split(":")[1])
                self.driver_results[drv] = (sum(1 for w in out["where"] if w), len(out["where"]),
                                            errors, wall)
                log("driver %-10s %d of %d reads on replicas, %d errors, %.1f s" % (
                    (drv,) + self.driver_results[drv]))
        finally:
            self.finish_split(sp)

    def part_prepared(self):
        for rnd in range(self.args.rounds):
            sp = self.start_split("p%d" % rnd, {"routing": "primary"}, {})
            order = ("extended", "prepared") if rnd % 2 == 0 else ("prepared", "extended")
            try:
                for proto in order:
                    self.measure("prepared/%s#%d" % (proto, rnd), sp, ["-S"], proto, 20,
                                 self.args.duration)
            finally:
                self.finish_split(sp)

    # -- teardown ---------------------------------------------------------
    def teardown(self, failed):
        if self.cluster is not None:
            self.cluster.stop()
        if self.basedir and (self.args.keep or failed or self.anomalies):
            log("kept %s (logs)" % self.basedir)
        elif self.basedir:
            shutil.rmtree(self.basedir, ignore_errors=True)

    # -- aggregation ------------------------------------------------------
    def agg(self, prefix):
        """Mean tps and pooled CPU/xact of the clean runs whose key starts with prefix#."""
        rs = [r for k, r in self.results.items() if k.split("#")[0] == prefix and r.ok()]
        if not rs:
            return None, None, 0
        xacts = sum(r.xacts for r in rs)
        return (sum(r.tps for r in rs) / len(rs), sum(r.cpu_s for r in rs) * 1e6 / xacts,
                len(rs))


# -- report ------------------------------------------------------------------

def verdict(ok, text):
    if ok is None:
        return "- **n/a**: " + text
    return "- **%s**: %s" % ("met" if ok else "missed", text)


def cmp_le(v, limit):
    return None if v is None else v <= limit


def cmp_ge(v, limit):
    return None if v is None else v >= limit


def offload_report(b, targets):
    a = b.args
    out = ["### Offload under a steady mix (own row written and read back, 16 clients, "
           "`-M extended`, %d s per run, 2 replicas)" % a.offload_duration, "",
           "Each client writes its own row (`UPDATE ... RETURNING`) or reads it back; a read "
           "older than its own last write is counted as stale. `primary` is "
           "`routing=primary`; `lsn-nowait` is `lsn` with `replica_catchup_wait = 0`. Writes commit with `synchronous_commit = on` (the "
           "cluster's default here is off). tps and latency as pgbench reports them "
           "(a script run = one write, or one read plus, if stale, one insert).", "",
           "| reads/writes | config | tps | latency ms | reads | on replicas | share | "
           "stale own reads |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    share = {}
    for pct in (10, 50):
        for name, _ in b.OFFLOAD_CONFS:
            r = b.results.get("offload/%s/%d" % (name, pct))
            if r is None:
                out.append("| %d/%d | %s | not run ||||||" % (100 - pct, pct, name))
                continue
            rep = r.stats.get("total_routed_replica", 0) if name != "primary" else 0
            reads = (r.xacts - r.writes if r.xacts is not None and r.writes is not None
                     else None)
            share[name, pct] = ratio(rep, reads) if rep else (0.0 if reads else None)
            out.append("| %d/%d | %s | %s | %s | %s | %s | %s | %s |" % (
                100 - pct, pct, name, fmt(r.tps if r.ok() else None, ".0f"),
                fmt(r.latency, ".2f"), reads, rep,
                fmt(share[name, pct] * 100 if share[name, pct] is not None else None,
                    ".1f") + "%", getattr(r, "stale", "?")))
    out.append("")
    for pct in (10, 50):
        r = b.results.get("offload/lsn/%d" % pct)
        lines = (getattr(r, "replicas", "") or "").splitlines()
        col = lines[0].split("|").index("lag_ms") if lines and "lag_ms" in lines[0] else None
        lags = [ln.split("|")[col] for ln in lines[1:] if col is not None
                and len(ln.split("|")) > col]
        if lags:
            out.append("Replica lag (`SHOW REPLICAS` lag_ms at the end of the lsn run at "
                       "%d/%d): %s ms." % (100 - pct, pct, ", ".join(lags)))
    for pct in (10, 50):
        q = ratio(share.get(("lsn", pct)), share.get(("off", pct)))
        out.append("lsn/off offload ratio at %d/%d: %s." % (100 - pct, pct, fmt(q, ".2f")))
    r = b.results.get("offload/lsn/10")
    targets.append(verdict(cmp_ge(ratio(share.get(("lsn", 10)), share.get(("off", 10))),
                                  0.8) if r is not None and getattr(r, "stale", 1) == 0
                           else (False if r is not None else None),
                           "lsn sends >= 80%% of the reads off sends to replicas at 90/10, "
                           "0 stale own reads: %s, %s stale" % (
                               fmt(ratio(share.get(("lsn", 10)), share.get(("off", 10))),
                                   ".2f"), getattr(r, "stale", "?"))))
    return out + [""]


def drivers_report(b, targets):
    out = ["### Real drivers: reads on replicas (test/drivers/ `offload` scenario, 200 reads "
           "with each driver's defaults, no write for 1 s before, routing=auto, "
           "read_your_writes=lsn, 2 replicas)", "",
           "| driver | reads on replicas | share | errors | wall s |", "|---|---:|---:|---:|---:|"]
    worst = None
    for drv in ("pg", "postgresjs", "jdbc"):
        r = b.driver_results.get(drv)
        if not isinstance(r, tuple):
            out.append("| %s | not run: %s |||||" % (drv, r or "?"))
            continue
        on, n, errors, wall = r
        share = ratio(on, n) if errors == 0 else 0.0
        worst = share if worst is None else min(worst, share)
        out.append("| %s | %d of %d | %s%% | %d | %.1f |" % (drv, on, n, fmt(ratio(on, n) * 100, ".1f"),
                                                      errors, wall))
    targets.append(verdict(cmp_ge(worst, 0.95), "every driver's reads >= 95 %% on replicas with "
                           "0 errors: worst %s" % fmt(worst, ".3f")))
    return out + [""]


def report(b, started, elapsed):
    a = b.args
    v = b.versions
    out = ["Run of %s, %.1f min total (%.0f s of it waiting for bench/run.py). "
           "Machine: %s. %s; %s. `bench/routing.py`: PostgreSQL 15 primary + 2 streaming "
           "replicas on one host, pgbench scale %d, `-j %d`, pgsplit with "
           "pool_mode=transaction, auth_type=md5, default_pool_size=20 unless stated, "
           "pgbench over TCP to pgsplit, pgsplit over TCP to the servers."
           % (started.strftime("%Y-%m-%d %H:%M %Z"), elapsed / 60, b.waited,
              v.get("machine", "?"), v.get("pgsplit", "?"), v.get("pgbench", "?"),
              a.scale, a.jobs), ""]
    targets = []

    # 1. routing cost
    out += ["### Routing cost (`pgbench -S`, 20 clients, %d s per run, %d round(s))"
            % (a.duration, a.rounds), "",
            "`primary`: `routing=primary` (no replicas); `auto`: `routing=auto "
            "replicas=<both>` (reads go to the replicas).", "",
            "| protocol | load | tps primary | tps auto | CPU us/xact primary | "
            "CPU us/xact auto | CPU/xact ratio auto/primary |", "|---|---|---:|---:|---:|---:|---:|"]
    worst_fixed = None
    for proto in ("simple", "extended"):
        for load in ("max", "R%d" % a.rate):
            tp, cp, _ = b.agg("routing/primary/%s/%s" % (proto, load))
            ta, ca, _ = b.agg("routing/auto/%s/%s" % (proto, load))
            rr = ratio(ca, cp)
            if load != "max" and rr is not None:
                worst_fixed = max(worst_fixed or 0, rr)
            out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                proto, "flat out" if load == "max" else "-R %d" % a.rate, fmt(tp, ".0f"),
                fmt(ta, ".0f"), fmt(cp, ".1f"), fmt(ca, ".1f"), fmt(rr, ".3f")))
    ratios = {load: [ratio(b.agg("routing/auto/%s/%s" % (p, load))[1],
                           b.agg("routing/primary/%s/%s" % (p, load))[1])
                     for p in ("simple", "extended")] for load in ("max", "R%d" % a.rate)}
    targets.append(verdict(cmp_le(worst_fixed, 1.05),
                           "routing CPU/xact auto/primary <= 1.05 at fixed rate -R %d: "
                           "simple %s, extended %s (flat out: simple %s, extended %s)"
                           % (a.rate, *[fmt(x, ".3f") for x in ratios["R%d" % a.rate]],
                              *[fmt(x, ".3f") for x in ratios["max"]])))
    out.append("")

    # 2. read scaling
    out += ["### Read scaling capacity (`SELECT pg_sleep(0.005)`, 24 clients, %d s, "
            "pool size 4 per server, read_your_writes=off)" % a.long_duration, "",
            "(routing=primary does not count routed transactions, hence 0 / 0 for (a).)", "",
            "| setup | tps | vs (a) | routed primary / replica | CPU us/xact |",
            "|---|---:|---:|---|---:|"]
    desc = {"a": "(a) routing=primary, primary alone",
            "b": "(b) routing=auto, 2 replicas",
            "c": "(c) auto, 2 replicas + primary_read_weight=1, round_robin"}
    tps = {}
    for k in "abc":
        r = b.results.get("scaling/%s" % k)
        tps[k] = r.tps if r and r.ok() else None
        out.append("| %s | %s | %s | %s / %s | %s |" % (
            desc[k], fmt(tps[k], ".0f"), fmt(ratio(tps[k], tps["a"]), ".2f"),
            r.stats.get("total_routed_primary", "?") if r else "?",
            r.stats.get("total_routed_replica", "?") if r else "?",
            fmt(r.cpu_per_xact() if r else None, ".1f")))
    targets.append(verdict(cmp_ge(ratio(tps["b"], tps["a"]), 1.9),
                           "read scaling b/a >= 1.9: %s (%s vs %s tps)" % (
                               fmt(ratio(tps["b"], tps["a"]), ".2f"), fmt(tps["b"], ".0f"),
                               fmt(tps["a"], ".0f"))))
    targets.append(verdict(cmp_ge(ratio(tps["c"], tps["a"]), 2.7),
                           "read scaling c/a >= 2.7: %s (%s vs %s tps)" % (
                               fmt(ratio(tps["c"], tps["a"]), ".2f"), fmt(tps["c"], ".0f"),
                               fmt(tps["a"], ".0f"))))
    out.append("")

    # 3. read-your-writes
    out += ["### Read-your-writes cost (90%% reads / 10%% writes, 20 clients, %d s, "
            "routing=auto, 2 replicas)" % a.long_duration, "",
            "| read_your_writes | tps | CPU us/xact | xacts | writes | routed primary "
            "| routed replica | reads on replicas |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    rtps = {}
    for mode in ("lsn", "window", "off"):
        r = b.results.get("ryw/%s" % mode)
        if r is None:
            out.append("| %s | not run |||||||" % mode)
            continue
        rtps[mode] = r.tps if r.ok() else None
        rep = r.stats.get("total_routed_replica")
        reads = r.xacts - r.writes if r.xacts is not None and r.writes is not None else None
        share = ratio(rep, reads)
        out.append("| %s%s | %s | %s | %s | %s | %s | %s | %s |" % (
            mode, " (write_window=2)" if mode == "window" else "", fmt(rtps[mode], ".0f"),
            fmt(r.cpu_per_xact(), ".1f"), r.xacts, r.writes,
            r.stats.get("total_routed_primary", "?"), rep if rep is not None else "?",
            fmt(share * 100 if share is not None else None, ".1f") + "%"))
    for mode, text in b.routing_notes:
        out += ["", "`SHOW ROUTING` after the %s run (counts since that pgsplit started, "
                "warm-up included):" % mode, "", "```", text, "```"]
    out += ["", "Writes are counted exactly (every write adds 1 to one `abalance`; the "
            "sum before/after); reads = transactions - writes; routed counts are "
            "`SHOW STATS` deltas (total_routed_primary / total_routed_replica)."]
    rl = ratio(rtps.get("lsn"), rtps.get("off"))
    targets.append(verdict(cmp_ge(rl, 0.95), "read_your_writes tps(lsn) >= 0.95 x "
                           "tps(off): %s (%s vs %s tps)" % (fmt(rl, ".3f"),
                                                           fmt(rtps.get("lsn"), ".0f"),
                                                           fmt(rtps.get("off"), ".0f"))))
    out.append("")

    # 4. prepared
    out += ["### Prepared statements (`pgbench -S`, 20 clients, %d s, routing=primary, "
            "max_prepared_statements=200 default, %d round(s))" % (a.duration, a.rounds), "",
            "| protocol | tps | CPU us/xact |", "|---|---:|---:|"]
    pt = {}
    for proto in ("extended", "prepared"):
        t, c, _ = b.agg("prepared/%s" % proto)
        pt[proto] = (t, c)
        out.append("| %s | %s | %s |" % (proto, fmt(t, ".0f"), fmt(c, ".1f")))
    pr = ratio(pt["prepared"][0], pt["extended"][0])
    targets.append(verdict(cmp_ge(pr, 1.0), "prepared tps >= extended tps: x%s (%s vs %s "
                           "tps; CPU/xact %s vs %s us)" % (
                               fmt(pr, ".3f"), fmt(pt["prepared"][0], ".0f"),
                               fmt(pt["extended"][0], ".0f"), fmt(pt["prepared"][1], ".1f"),
                               fmt(pt["extended"][1], ".1f"))))
    # 5. offload
    if any(k.startswith("offload/") for k in b.results):
        out += offload_report(b, targets)
    if b.driver_results:
        out += drivers_report(b, targets)
    out += ["", "### Targets", ""] + targets + [""]

    out.append("CPU us/xact: pgsplit's utime+stime (/proc/<pid>/stat) over the run / "
               "transactions pgbench reports. Highest foreign load (CPUs used by processes "
               "outside this benchmark) during any run: %s." % fmt(
                   max([r.foreign for r in b.results.values()], default=None), ".2f"))
    failed = sum(r.failed for r in b.results.values())
    out.append("Failed transactions in total: %d. Waited %.0f s in all for an idle "
               "machine (under 0.3 CPUs of others' load, at most 20 s per run)."
               % (failed, b.quiet_waited))
    out += ["", "<details><summary>Every run</summary>", "",
            "| run | tps | CPU us/xact | xacts | failed | others' load before / during (CPUs) |",
            "|---|---:|---:|---:|---:|---:|"]
    for k, r in b.results.items():
        out.append("| %s | %s | %s | %s | %d | %s / %.2f |" % (
            k, fmt(r.tps, ".0f"), fmt(r.cpu_per_xact(), ".1f"), r.xacts, r.failed,
            fmt(getattr(r, "load_before", None), ".2f"), r.foreign))
    out += ["", "</details>"]
    if b.anomalies:
        out += ["", "Anomalies (%d):" % len(b.anomalies), ""]
        for text in b.anomalies:
            out += ["```", text.rstrip(), "```"]
    return "\n".join(out) + "\n"


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pgsplit", default=benchrun.default_pgsplit())
    ap.add_argument("--duration", type=int, default=5, help="seconds per -S run")
    ap.add_argument("--long-duration", type=int, default=10,
                    help="seconds per scaling / read-your-writes run")
    ap.add_argument("--offload-duration", type=int, default=8,
                    help="seconds per offload run")
    ap.add_argument("--rounds", type=int, default=1,
                    help="rounds of the routing-cost and prepared runs")
    ap.add_argument("--rate", type=int, default=2000, help="pgbench -R of the fixed-rate runs")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--quiet-budget", type=float, default=240,
                    help="seconds the whole run may spend waiting for an idle machine")
    ap.add_argument("--only", type=lambda s: s.split(","), default=None,
                    help="subset of routing,scaling,ryw,prepared,offload")
    ap.add_argument("--out", help="Markdown file to write the report to")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    if not os.access(args.pgsplit, os.X_OK):
        ap.error("not an executable: %s" % args.pgsplit)
    return args


def main(argv=None):
    args = parse_args(argv)
    b = Bench(args)
    started = datetime.datetime.now().astimezone()
    t0, rc = time.time(), 0
    try:
        b.setup()
        b.run()
    except KeyboardInterrupt:
        rc = 130
    except Exception:  # still tear down and report what was measured
        traceback.print_exc()
        b.anomalies.append("script error:\n" + traceback.format_exc())
        rc = 1
    finally:
        b.teardown(rc != 0)
    text = report(b, started, time.time() - t0)
    print()
    print(text, end="")
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
        log("report written to %s" % args.out)
    return rc or (2 if b.anomalies else 0)


if __name__ == "__main__":
    sys.exit(main())
