#!/usr/bin/python3
"""pgbench through pgsplit and through PgBouncer, in the same run, same settings.

Owns: a throw-away PostgreSQL primary (via scripts/pgcluster.py), one pgsplit and
one pgbouncer process configured identically, the benchmark matrix (workload x
protocol x clients), alternating runs so machine drift hits both poolers, the
pooler CPU accounting (utime+stime from /proc/<pid>/stat per run), and the
result table (stdout, optionally spliced into a Markdown file).
Run as root with /usr/bin/python3; servers and poolers run as `postgres`.
See bench/README.md.
"""

import argparse
import datetime
import math
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(REPO, "scripts"))
import pgcluster  # noqa: E402  (owned by the integration tests; used read-only)

PGBENCH = os.path.join(pgcluster.PG_BIN, "pgbench")
CLK_TCK = os.sysconf("SC_CLK_TCK")
USER, PASSWORD, DBNAME = "app", pgcluster.ROLES["app"][0], "bench"
SPLIT, BOUNCER = "pgsplit", "pgbouncer"
BEGIN_MARK = "<!-- bench:begin (bench/run.py --out rewrites this block) -->"
END_MARK = "<!-- bench:end -->"
WORKLOADS = {"select": ["-S"], "tpcb": []}   # pgbench built-in scripts
PROTOCOLS = ("simple", "extended")


class BenchError(Exception):
    pass


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def tail(path, lines=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as e:
        return "(cannot read %s: %s)\n" % (path, e)


def proc_cpu_seconds(pid):
    """utime+stime of a process, in seconds (fields 14 and 15 of /proc/<pid>/stat;
    the command name in field 2 may hold spaces, so split after its ')')."""
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def system_busy_seconds():
    """CPU time the whole machine spent not idle, summed over CPUs (/proc/stat;
    steal counts as busy: the hypervisor took it from us)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = v
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def children_cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def tree_cpu(root_pid):
    """{pid: cpu seconds} of root_pid and its direct children (the postmaster and
    its backends); vanished processes are simply absent."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(name), int(rest[1])
        if pid == root_pid or ppid == root_pid:
            out[pid] = (int(rest[11]) + int(rest[12])) / CLK_TCK
    return out


def tree_delta(before, after):
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def wait_port(port, proc, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


class Pooler:
    """One pooler process with its own directory, ini, userlist and log."""

    def __init__(self, name, binary, basedir, pg_port, pool_size):
        self.name = name
        self.binary = binary
        self.dir = os.path.join(basedir, name)
        self.port = pgcluster.free_port()
        self.pg_port = pg_port
        self.pool_size = pool_size
        self.proc = None
        self.out = None
        self.ini = os.path.join(self.dir, "pgbouncer.ini")
        self.logfile = os.path.join(self.dir, "pooler.log")
        self.stderr = os.path.join(self.dir, "stderr.log")
        self.restarts = 0

    def settings(self):
        """The [pgbouncer] section: identical for both poolers by construction."""
        return [
            ("listen_addr", "127.0.0.1"),
            ("listen_port", str(self.port)),
            ("unix_socket_dir", self.dir),
            ("auth_type", "md5"),
            ("auth_file", os.path.join(self.dir, "userlist.txt")),
            ("logfile", self.logfile),
            ("pidfile", os.path.join(self.dir, "pooler.pid")),
            ("pool_mode", "transaction"),
            ("default_pool_size", str(self.pool_size)),
            ("max_client_conn", "1000"),
            ("log_connections", "0"),
            ("log_disconnections", "0"),
        ]

    def write_files(self):
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        pgcluster.chown_pg(self.dir)
        lines = ["[databases]",
                 "%s = host=127.0.0.1 port=%d dbname=%s" % (DBNAME, self.pg_port, DBNAME),
                 "", "[pgbouncer]"]
        lines += ["%s = %s" % kv for kv in self.settings()]
        files = {self.ini: "\n".join(lines) + "\n",
                 os.path.join(self.dir, "userlist.txt"): '"%s" "%s"\n' % (USER, PASSWORD)}
        for path, text in files.items():
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o644)
            pgcluster.chown_pg(path)

    def start(self, timeout=15):
        self.write_files()
        extra = {}
        if os.geteuid() == 0:
            uid, gid = pgcluster._ids()
            extra = dict(user=uid, group=gid, extra_groups=[])
        self.out = open(self.stderr, "ab")
        # Own session: a terminal Ctrl-C must not reach the pooler (SIGINT is a
        # "safe shutdown" that waits); teardown sends SIGTERM itself.
        self.proc = subprocess.Popen([self.binary, self.ini], stdout=self.out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=self.dir, start_new_session=True, **extra)
        if not wait_port(self.port, self.proc, timeout):
            rc = self.proc.poll()
            self.stop()
            raise BenchError("%s failed to start (exit code %r): %s %s\n"
                             "--- log tail (%s) ---\n%s--- stderr tail ---\n%s"
                             % (self.name, rc, self.binary, self.ini, self.logfile,
                                tail(self.logfile), tail(self.stderr)))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def cpu(self):
        """CPU seconds so far, or None once the process is gone."""
        try:
            return proc_cpu_seconds(self.proc.pid)
        except OSError:
            return None

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.out is not None:
            self.out.close()
            self.out = None

    def describe_death(self):
        return ("%s died (exit code %r)\n--- log tail (%s) ---\n%s--- stderr tail ---\n%s"
                % (self.name, self.proc.returncode, self.logfile, tail(self.logfile),
                   tail(self.stderr)))


class RunResult:
    """One pgbench run through one pooler."""

    def __init__(self, cmd, proc, cpu_s, wall_s, foreign):
        self.cmd = cmd
        self.foreign = foreign
        self.rc = proc.returncode
        self.out = (proc.stdout or "") + (proc.stderr or "")
        self.xacts = self._num(r"number of transactions actually processed: (\d+)", int)
        self.failed = self._num(r"number of failed transactions: (\d+)", int)
        self.latency = self._num(r"latency average = ([\d.]+) ms", float)
        self.tps = self._num(r"tps = ([\d.]+) \(without initial connection time\)", float)
        self.cpu_s = cpu_s
        self.wall_s = wall_s

    def _num(self, pattern, conv):
        m = re.search(pattern, self.out)
        return conv(m.group(1)) if m else None

    pooler_died = False

    def ok(self):
        return not self.pooler_died and self.rc == 0 and None not in (self.xacts, self.tps, self.latency) \
            and self.xacts > 0

    def cpu_us_per_xact(self):
        return self.cpu_s * 1e6 / self.xacts if self.xacts else None


class Point:
    """Aggregate of the runs of one matrix point, per pooler."""

    def __init__(self, workload, protocol, clients):
        self.workload, self.protocol, self.clients = workload, protocol, clients
        self.runs = {SPLIT: [], BOUNCER: []}
        self.problems = []

    def label(self):
        return "%s/%s/c=%d" % (self.workload, self.protocol, self.clients)

    def good(self, who):
        return [r for r in self.runs[who] if r.ok()]

    def tps(self, who):
        rs = self.good(who)
        return sum(r.tps for r in rs) / len(rs) if rs else None

    def latency(self, who):
        rs = self.good(who)
        return sum(r.latency for r in rs) / len(rs) if rs else None

    def cpu_per_xact(self, who):
        rs = self.good(who)
        xacts = sum(r.xacts for r in rs)
        return sum(r.cpu_s for r in rs) * 1e6 / xacts if xacts else None

    def foreign(self):
        """Highest CPU load (in CPUs) of processes outside the benchmark seen
        during any run of this point (the last attempt of each round)."""
        vals = [r.foreign for w in (SPLIT, BOUNCER) for r in self.runs[w]]
        return max(vals) if vals else None

    def failed(self, who):
        return sum(r.failed or 0 for r in self.runs[who])

    def complete(self):
        return all(len(self.good(w)) == len(self.runs[w]) and self.runs[w]
                   for w in (SPLIT, BOUNCER))

    def paired_ratios(self, metric):
        """Per-round ratios pgsplit/PgBouncer of metric(run): round i of one pooler
        against round i of the other, which ran right before or after it (ABBA)."""
        return [metric(a) / metric(b) for a, b in zip(self.runs[SPLIT], self.runs[BOUNCER])
                if a.ok() and b.ok() and metric(b)]

    def ratio_interval(self, metric):
        """95 % confidence interval of the pgsplit/PgBouncer ratio of metric, from
        the per-round ratios (t interval of their logarithms), or None below 3 rounds."""
        return confidence_interval(self.paired_ratios(metric))


# Two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom.
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
        2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def confidence_interval(ratios):
    """95 % interval of the typical ratio (geometric mean) of per-round ratios:
    a point's rounds differ mostly by the machine's speed at the time, which moves
    both runs of a round alike, so their ratio is steadier than either number."""
    if len(ratios) < 3:
        return None
    logs = [math.log(r) for r in ratios]
    n = len(logs)
    mean = sum(logs) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / (n - 1))
    half = T975[min(n - 1, len(T975)) - 1] * sd / math.sqrt(n)
    return math.exp(mean - half), math.exp(mean + half)


def cpu_us(run):
    return run.cpu_us_per_xact()


def tps_of(run):
    return run.tps


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


class Bench:
    def __init__(self, args):
        self.args = args
        self.basedir = None
        self.cluster = None
        self.poolers = {}
        self.points = []
        self.anomalies = []
        self.failed_total = 0
        self.split_bin = None
        self.versions = None

    # -- setup ------------------------------------------------------------
    def setup(self):
        self.basedir = tempfile.mkdtemp(prefix="pgsplit-bench-", dir="/tmp")
        os.chmod(self.basedir, 0o755)
        pgcluster.chown_pg(self.basedir)
        log("PostgreSQL primary in %s" % self.basedir)
        self.cluster = pgcluster.Cluster(os.path.join(self.basedir, "pg"), replicas=0)
        self.cluster.create()
        log("pgbench -i -s %d" % self.args.scale)
        pgcluster.run_as_pg([PGBENCH, "-i", "-s", str(self.args.scale), "-q", "-h",
                             self.cluster.sockdir, "-p", str(self.cluster.port), "-U",
                             USER, DBNAME], timeout=600)
        # Run a private copy: the build tree's binary may be rebuilt meanwhile.
        bindir = os.path.join(self.basedir, "bin")
        os.makedirs(bindir)
        self.split_bin = shutil.copy2(self.args.pgsplit, os.path.join(bindir, SPLIT))
        os.chmod(bindir, 0o755)
        self.versions = versions(self.split_bin, self.args.pgbouncer)
        for name, binary in ((SPLIT, self.split_bin), (BOUNCER, self.args.pgbouncer)):
            p = Pooler(name, binary, self.basedir, self.cluster.port, self.args.pool_size)
            self.poolers[name] = p
            p.start()
            log("%s listening on 127.0.0.1:%d (pid %d)" % (name, p.port, p.proc.pid))
        for p in self.poolers.values():
            self.warm_up(p)

    def warm_up(self, pooler):
        """Fill the pool with server connections before anything is measured."""
        if self.args.warmup <= 0:
            return
        cmd = self.pgbench_cmd(pooler, ["-S"], "simple", self.args.pool_size,
                               self.args.warmup)
        res = subprocess.run(cmd, env=self.env(), capture_output=True, text=True,
                             timeout=self.args.warmup + 120)
        if res.returncode != 0:
            msg = "warm-up through %s failed:\n$ %s\n%s%s" % (
                pooler.name, " ".join(cmd), res.stdout, res.stderr)
            if not pooler.alive():
                msg += pooler.describe_death()
            raise BenchError(msg)

    def env(self):
        env = dict(os.environ)
        env["PGPASSWORD"] = PASSWORD
        env["PGCONNECT_TIMEOUT"] = "20"
        return env

    def pgbench_cmd(self, pooler, script, protocol, clients, duration, rate=None):
        extra = ["-R", str(rate)] if rate else []
        return [PGBENCH, "-h", "127.0.0.1", "-p", str(pooler.port), "-U", USER, "-n",
                "-M", protocol, "-c", str(clients), "-j", str(self.args.jobs),
                "-T", str(duration)] + extra + script + [DBNAME]

    def postmaster_pid(self):
        with open(os.path.join(self.cluster.primary.datadir, "postmaster.pid")) as f:
            return int(f.readline())

    def reset_tpcb(self):
        """What pgbench does before a TPC-B run (we pass -n so it cannot, since a
        VACUUM through a pooler is pointless), done directly on the server."""
        p = self.cluster.primary
        for sql in ("TRUNCATE pgbench_history", "VACUUM pgbench_branches",
                    "VACUUM pgbench_tellers", "CHECKPOINT"):
            p.psql(sql, db=DBNAME)

    # -- measuring --------------------------------------------------------
    def run_one(self, point, pooler):
        return self.run_together(point, [pooler])[0]

    def run_together(self, point, poolers):
        """pgbench through each of poolers at the same time (one pooler: a plain
        run); a result per pooler, each with the CPU its pooler used meanwhile."""
        for pooler in poolers:
            if not pooler.alive():
                self.anomaly(point, pooler, "found dead before this run (it died after "
                             "its previous run ended)\n" + pooler.describe_death())
                self.restart(pooler)
        if point.workload == "tpcb":
            self.reset_tpcb()
        cmds = [self.pgbench_cmd(p, WORKLOADS[point.workload], point.protocol,
                                 point.clients, self.args.duration, self.args.rate)
                for p in poolers]
        pm_pid = self.postmaster_pid()
        pg0, kids0, sys0 = tree_cpu(pm_pid), children_cpu_seconds(), system_busy_seconds()
        cpu0, t0 = {p.name: p.cpu() for p in self.poolers.values()}, time.time()
        procs = [subprocess.Popen(cmd, env=self.env(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for cmd in cmds]
        finished = [self.wait_pgbench(cmd, proc) for cmd, proc in zip(cmds, procs)]
        wall = time.time() - t0
        cpu1 = {p.name: p.cpu() for p in self.poolers.values()}
        ours = tree_delta(pg0, tree_cpu(pm_pid)) + children_cpu_seconds() - kids0
        ours += sum(cpu1[n] - cpu0[n] for n in cpu0 if None not in (cpu0[n], cpu1[n]))
        foreign = max(0.0, system_busy_seconds() - sys0 - ours) / wall
        results = []
        for pooler, cmd, proc in zip(poolers, cmds, finished):
            a, b = cpu0[pooler.name], cpu1[pooler.name]
            res = RunResult(cmd, proc, b - a if None not in (a, b) else 0.0, wall, foreign)
            res.pooler_died = not pooler.alive()
            self.failed_total += res.failed or 0
            self.check_run(point, pooler, res)
            results.append(res)
        return results

    def wait_pgbench(self, cmd, proc):
        try:
            out, err = proc.communicate(timeout=self.args.duration + 120)
            return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            return subprocess.CompletedProcess(cmd, -1, out or "", "pgbench timed out")

    def check_run(self, point, pooler, res):
        problem = None
        if res.pooler_died:
            problem = pooler.describe_death()
        elif not res.ok():
            problem = "pgbench exit code %d" % res.rc
        elif res.failed:
            problem = "%d failed transactions" % res.failed
        if problem is None:
            return
        text = "%s\n$ %s\n--- pgbench output ---\n%s" % (problem, " ".join(res.cmd),
                                                        res.out)
        if pooler.alive():
            text += "--- %s log tail ---\n%s" % (pooler.name, tail(pooler.logfile))
        self.anomaly(point, pooler, text)
        if not pooler.alive():
            self.restart(pooler)

    def anomaly(self, point, pooler, text):
        text = "%s via %s: %s" % (point.label(), pooler.name, text)
        point.problems.append(text)
        self.anomalies.append(text)
        log("ANOMALY " + text)

    def restart(self, pooler):
        pooler.restarts += 1
        if pooler.restarts > 3:
            raise BenchError("%s died more than 3 times; giving up" % pooler.name)
        log("restarting %s" % pooler.name)
        pooler.stop()
        pooler.start()
        self.warm_up(pooler)

    def matrix(self):
        a = self.args
        return [Point(w, p, c) for w in a.workloads for p in a.protocols
                for c in a.clients]

    def run(self):
        self.points = self.matrix()
        total = len(self.points) * self.args.rounds * 2
        log("%d points x %d rounds x 2 poolers = %d runs of %d s"
            % (len(self.points), self.args.rounds, total, self.args.duration))
        self.n, self.total, self.t_start = 0, total, time.time()
        for point in self.points:
            for rnd in range(self.args.rounds):
                # ABBA: pgsplit first in even rounds, pgbouncer first in odd ones,
                # so a linear drift within a point cancels out over two rounds.
                order = (SPLIT, BOUNCER) if rnd % 2 == 0 else (BOUNCER, SPLIT)
                self.run_round(point, order)
            self.print_point(point)

    def run_round(self, point, order):
        """One run per pooler. When other processes used more than --noise-limit
        CPUs meanwhile, the round is redone (up to --noise-retries times, budget
        permitting) and the attempt with the least foreign load is kept."""
        attempts = []
        for attempt in range(self.args.noise_retries + 1):
            self.wait_quiet()
            if self.args.concurrent:
                results = self.run_together(point, [self.poolers[who] for who in order])
            else:
                results = [self.run_one(point, self.poolers[who]) for who in order]
            for who, r in zip(order, results):
                self.n += 1
                log("%3d/%d %-26s %-9s tps=%s lat=%sms cpu/xact=%sus failed=%s "
                    "foreign=%.2f CPUs" % (self.n, self.total, point.label(), who,
                                           fmt(r.tps, ".0f"), fmt(r.latency, ".3f"),
                                           fmt(r.cpu_us_per_xact(), ".1f"), r.failed,
                                           r.foreign))
            self.n -= len(order)
            load = max(r.foreign for r in results)
            attempts.append((load, results))
            if load <= self.args.noise_limit or attempt == self.args.noise_retries:
                break
            if not self.time_for_retry(len(order)):
                log("others were busy during this round (%.2f CPUs); no budget left "
                    "to redo it" % load)
                break
            log("others were busy during this round (%.2f CPUs); redoing it" % load)
        load, results = min(attempts, key=lambda a: a[0])
        if len(attempts) > 1:
            log("keeping the attempt with %.2f CPUs of foreign load" % load)
        for who, r in zip(order, results):
            point.runs[who].append(r)
        self.n += len(order)

    def seconds_left(self, runs_pending):
        """Budget seconds that remain after the pending runs (estimated from the
        runs so far, or duration + 1.5 s each before the first)."""
        done = max(self.n, 0)
        per_run = ((time.time() - self.t_start) / done if done
                   else self.args.duration + 1.5)
        return self.t_start + self.args.budget * 60 - time.time() - runs_pending * per_run

    def time_for_retry(self, runs):
        return self.seconds_left(self.total - self.n + runs) >= 0

    def wait_quiet(self):
        """Wait (at most --quiet-wait s, and only what the budget allows) for a
        1-s window in which the machine is nearly idle: our own processes are
        idle between runs, so any load seen now belongs to someone else."""
        spare = min(self.args.quiet_wait, self.seconds_left(self.total - self.n))
        if spare <= 1:
            return
        deadline = time.time() + spare
        t0, said = time.time(), False
        while True:
            b0 = system_busy_seconds()
            time.sleep(1.0)
            load = system_busy_seconds() - b0
            if load <= self.args.noise_limit or time.time() >= deadline:
                if said:
                    log("waited %.0f s for others; load now %.2f CPUs"
                        % (time.time() - t0, load))
                return
            if not said:
                log("others are using %.2f CPUs; waiting up to %.0f s" % (load, spare))
                said = True

    def print_point(self, pt):
        log("== %s: tps %s vs %s (x%s%s), lat x%s, cpu/xact %s vs %s us (x%s%s)" % (
            pt.label(), fmt(pt.tps(SPLIT), ".0f"), fmt(pt.tps(BOUNCER), ".0f"),
            fmt(ratio(pt.tps(SPLIT), pt.tps(BOUNCER)), ".3f"),
            fmt_interval(pt.ratio_interval(tps_of)),
            fmt(ratio(pt.latency(SPLIT), pt.latency(BOUNCER)), ".3f"),
            fmt(pt.cpu_per_xact(SPLIT), ".1f"), fmt(pt.cpu_per_xact(BOUNCER), ".1f"),
            fmt(ratio(pt.cpu_per_xact(SPLIT), pt.cpu_per_xact(BOUNCER)), ".3f"),
            fmt_interval(pt.ratio_interval(cpu_us))))

    # -- teardown ---------------------------------------------------------
    def teardown(self, failed=False):
        for p in self.poolers.values():
            try:
                p.stop()
            except Exception as e:  # keep tearing down the rest
                log("stopping %s: %s" % (p.name, e))
        if self.cluster is not None:
            self.cluster.stop()
        if (failed or self.anomalies) and self.basedir and not self.args.keep:
            log("keeping %s for its logs" % self.basedir)
        elif self.basedir and not self.args.keep:
            shutil.rmtree(self.basedir, ignore_errors=True)
        elif self.basedir:
            log("kept %s" % self.basedir)


# -- reporting -------------------------------------------------------------

def versions(split_bin, bouncer_bin):
    def first_line(cmd):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "?"
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            cpu = m.group(1) if m else "?"
    except OSError:
        pass
    import hashlib
    with open(split_bin, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    mtime = datetime.datetime.fromtimestamp(os.path.getmtime(split_bin))
    return {
        "pgsplit": "%s (binary sha256 %s..., built %s)" % (
            first_line([split_bin, "-V"]), digest, mtime.strftime("%Y-%m-%d %H:%M")),
        "pgbouncer": first_line([bouncer_bin, "-V"]),
        "pgbench": first_line([PGBENCH, "--version"]),
        "machine": "%d CPUs (%s), Linux %s" % (os.cpu_count(), cpu, platform.release()),
    }


def markdown(bench, started, elapsed):
    a = bench.args
    v = bench.versions
    out = []
    out.append("Run of %s (%s), %.1f min total. %s; %s; %s; %s."
               % (started.strftime("%Y-%m-%d %H:%M %Z").strip(), "quick" if a.quick
                  else "full", elapsed / 60, v["machine"], v["pgsplit"], v["pgbouncer"],
                  v["pgbench"]))
    out.append("")
    out.append("Settings: pgbench scale %d, `-j %d -T %d -n%s`, %d round(s) per point "
               "per pooler (%s); both poolers: pool_mode=transaction, "
               "default_pool_size=%d, max_client_conn=1000, auth_type=md5, "
               "log_connections=0, log_disconnections=0."
               % (a.scale, a.jobs, a.duration, " -R %d" % a.rate if a.rate else "",
                  a.rounds, "both at the same time, one pgbench each" if a.concurrent
                  else "ABBA order", a.pool_size))
    out.append("")
    out.append("| workload | protocol | clients | tps pgsplit | tps pgbouncer | tps ratio "
               "[95% CI] | latency ms pgsplit | latency ms pgbouncer | "
               "latency ratio | CPU us/xact pgsplit | CPU us/xact pgbouncer | "
               "CPU/xact ratio [95% CI] | failed (split/bouncer) | foreign load |")
    out.append("|" + "---|" * 3 + "---:|" * 11)
    for pt in bench.points:
        flag = "" if pt.complete() else " **see anomalies**"
        out.append("| %s | %s | %d | %s | %s | %s%s | %s | %s | %s | %s | %s | %s%s | %d/%d%s "
                   "| %s |"
                   % (pt.workload, pt.protocol, pt.clients,
                      fmt(pt.tps(SPLIT), ".0f"), fmt(pt.tps(BOUNCER), ".0f"),
                      fmt(ratio(pt.tps(SPLIT), pt.tps(BOUNCER)), ".3f"),
                      fmt_interval(pt.ratio_interval(tps_of)),
                      fmt(pt.latency(SPLIT), ".3f"), fmt(pt.latency(BOUNCER), ".3f"),
                      fmt(ratio(pt.latency(SPLIT), pt.latency(BOUNCER)), ".3f"),
                      fmt(pt.cpu_per_xact(SPLIT), ".1f"),
                      fmt(pt.cpu_per_xact(BOUNCER), ".1f"),
                      fmt(ratio(pt.cpu_per_xact(SPLIT), pt.cpu_per_xact(BOUNCER)), ".3f"),
                      fmt_interval(pt.ratio_interval(cpu_us)),
                      pt.failed(SPLIT), pt.failed(BOUNCER), flag,
                      fmt(pt.foreign(), ".2f")))
    out.append("")
    out.append("CPU us/xact: the pooler's utime+stime over the pgbench run divided by "
               "the transactions pgbench reports. 95% CI: confidence interval of the "
               "ratio from the per-round ratios (each round of one pooler against the "
               "adjacent round of the other; 3 rounds or more). Foreign load: the most "
               "CPUs that processes outside the benchmark used during any run of the "
               "point (machine busy time minus PostgreSQL, pgbench and both poolers).")
    out.append("")
    out.append(verdict(bench))
    if bench.anomalies:
        out.append("")
        out.append("Anomalies (%d):" % len(bench.anomalies))
        out.append("")
        for text in bench.anomalies:
            out.append("```")
            out.append(text.rstrip())
            out.append("```")
    return "\n".join(out) + "\n"


def fmt_interval(iv):
    return " [%.2f-%.2f]" % iv if iv else ""


def verdict(bench):
    tps_bad, cpu_bad, beyond = [], [], []
    for pt in bench.points:
        r = ratio(pt.tps(SPLIT), pt.tps(BOUNCER))
        if r is None or r < 0.95:
            tps_bad.append("%s (%s)" % (pt.label(), fmt(r, ".3f")))
            iv = pt.ratio_interval(tps_of)
            if iv and iv[1] < 0.95:
                beyond.append("%s tps%s" % (pt.label(), fmt_interval(iv)))
        c = ratio(pt.cpu_per_xact(SPLIT), pt.cpu_per_xact(BOUNCER))
        if c is None or c > 1.0:
            cpu_bad.append("%s (%s)" % (pt.label(), fmt(c, ".3f")))
            iv = pt.ratio_interval(cpu_us)
            if iv and iv[0] > 1.0:
                beyond.append("%s CPU/xact%s" % (pt.label(), fmt_interval(iv)))
    lines = ["Targets: tps ratio >= 0.95 at every point: %s. "
             "pgsplit CPU/xact <= pgbouncer's at every point: %s."
             % ("met" if not tps_bad else "missed at " + ", ".join(tps_bad),
                "met" if not cpu_bad else "missed at " + ", ".join(cpu_bad))]
    if (tps_bad or cpu_bad) and bench.args.rounds >= 3:
        lines.append("Misses whose whole 95%% interval lies beyond the target: %s."
                     % (", ".join(beyond) if beyond else "none"))
    lines.append("Failed transactions in total (discarded noisy attempts included): %d."
                 % bench.failed_total)
    return " ".join(lines)


def write_out(path, text):
    """Splice the results between the bench markers of an existing file, or
    write a new file with just the results."""
    block = BEGIN_MARK + "\n" + text + END_MARK + "\n"
    old = None
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
    if old is not None and BEGIN_MARK in old and END_MARK in old:
        head = old.split(BEGIN_MARK, 1)[0]
        rest = old.split(END_MARK, 1)[1].lstrip("\n")
        new = head + block + ("\n" + rest if rest else "")
    elif old is not None:
        new = old.rstrip("\n") + "\n\n" + block
    else:
        new = "# pgsplit vs PgBouncer benchmark\n\n" + block
    with open(path, "w") as f:
        f.write(new)


# -- command line ----------------------------------------------------------

def default_pgsplit():
    env = os.environ.get("PGSPLIT_BIN")
    if env:
        return env
    for cand in (os.path.join(REPO, "pgsplit"), "/tmp/build/pgsplit"):
        if os.path.exists(cand):
            return cand
    return os.path.join(REPO, "pgsplit")


def csv(conv, allowed=None):
    def parse(text):
        vals = [conv(x) for x in text.split(",") if x]
        if allowed:
            bad = [v for v in vals if v not in allowed]
            if bad:
                raise argparse.ArgumentTypeError("unknown %s (choose from %s)"
                                                 % (bad, ", ".join(allowed)))
        return vals
    return parse


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pgsplit", default=default_pgsplit(),
                    help="pgsplit binary (default: $PGSPLIT_BIN, ./pgsplit, "
                    "/tmp/build/pgsplit)")
    ap.add_argument("--pgbouncer", default="/usr/sbin/pgbouncer")
    ap.add_argument("--duration", type=int, default=5,
                    help="seconds per pgbench run (default 5)")
    ap.add_argument("--rounds", type=int, default=4,
                    help="runs per point per pooler, in ABBA order (default 4)")
    ap.add_argument("--clients", type=csv(int), default=[10, 50, 200])
    ap.add_argument("--workloads", type=csv(str, WORKLOADS), default=list(WORKLOADS))
    ap.add_argument("--protocols", type=csv(str, PROTOCOLS), default=list(PROTOCOLS))
    ap.add_argument("--jobs", type=int, default=2, help="pgbench -j")
    ap.add_argument("--rate", type=int, default=0,
                    help="pgbench -R: a fixed total rate (tps), so both poolers do the "
                    "same work per second and CPU/xact compares cleanly; 0 = flat out")
    ap.add_argument("--concurrent", action="store_true",
                    help="run pgbench through both poolers at the same time in each round "
                    "(each with --clients clients) instead of one after the other, so both "
                    "see the machine at the same moment (they then share it)")
    ap.add_argument("--scale", type=int, default=10, help="pgbench -i -s")
    ap.add_argument("--pool-size", type=int, default=20, help="default_pool_size")
    ap.add_argument("--warmup", type=int, default=10,
                    help="seconds of warm-up per pooler before measuring (default 10)")
    ap.add_argument("--noise-limit", type=float, default=0.3,
                    help="CPUs other processes may use during a round before it is "
                    "redone (default 0.3)")
    ap.add_argument("--noise-retries", type=int, default=1,
                    help="how often a noisy round is redone (default 1)")
    ap.add_argument("--budget", type=float, default=13,
                    help="minutes the measuring may take; noisy rounds are redone "
                    "only while the rest still fits (default 13)")
    ap.add_argument("--quiet-wait", type=int, default=10,
                    help="max seconds to wait for an idle machine before a round")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 3 s runs, 1 round, clients 10 and 200")
    ap.add_argument("--out", help="Markdown file to write the results into (the block "
                    "between the bench markers is replaced if present)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    args = ap.parse_args(argv)
    if args.quick:
        args.duration, args.rounds, args.warmup = 3, 1, 1
        args.noise_retries, args.quiet_wait = 0, 0
        if args.clients == [10, 50, 200]:
            args.clients = [10, 200]
    for b in (args.pgsplit, args.pgbouncer):
        if not os.access(b, os.X_OK):
            ap.error("not an executable: %s" % b)
    if args.duration < 1 or args.rounds < 1:
        ap.error("--duration and --rounds must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)

    def on_term(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    bench = Bench(args)
    started = datetime.datetime.now().astimezone()
    t0 = time.time()
    rc = 0
    try:
        bench.setup()
        bench.run()
    except KeyboardInterrupt:
        log("interrupted; tearing down")
        rc = 130
    except (BenchError, RuntimeError, OSError, subprocess.SubprocessError) as e:
        log("ERROR: %s" % e)
        rc = 1
    except Exception:  # a bug here: still tear down, keep the logs
        traceback.print_exc()
        rc = 1
    finally:
        bench.teardown(failed=rc == 1)
    if not any(pt.runs[SPLIT] or pt.runs[BOUNCER] for pt in bench.points):
        return rc or 1
    text = markdown(bench, started, time.time() - t0)
    print()
    print(text, end="")
    if args.out:
        write_out(args.out, text)
        log("results written to %s" % args.out)
    if rc == 0 and bench.anomalies:
        rc = 2
    return rc


if __name__ == "__main__":
    sys.exit(main())
