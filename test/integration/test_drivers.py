"""Real drivers through a routing pooler, with their defaults (issue 14).

node-postgres and Postgres.js (npm packages pinned in test/drivers/package.json,
installed there by `npm ci` on first use) and pgjdbc (Debian's
libpostgresql-jdbc-java, compiled against at test time) run the scenario programs
of test/drivers/ once directly against the primary and once through pgsplit with
the cluster's replicas.  Each program prints its results and, for the reads whose
placement matters, pg_is_in_recovery().  Through the pooler the results must be
what the direct run gave, and the reads must land where routing promises.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest

import harness

# One xdist worker runs this module (--dist loadgroup): its module fixtures are made once.
pytestmark = [pytest.mark.xdist_group("drivers"),
              harness.pgsplit_only("read/write routing is pgsplit's own feature"),
              pytest.mark.timeout(120)]

DRIVERS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "drivers")
JDBC_JAR = "/usr/share/java/postgresql.jar"
# Below the 30 statement texts of the manynamed scenarios.
MAX_PREPARED = 10
# Share of the reads of a read-only loop that must reach a replica.
MIN_OFFLOAD = 0.95


NPM_PACKAGES = ("pg", "postgres", "pg-copy-streams")


def _npm_install():
    if all(os.path.isdir(os.path.join(DRIVERS_DIR, "node_modules", name))
           for name in NPM_PACKAGES):
        return None
    if not shutil.which("npm"):
        return "npm is not installed"
    r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=DRIVERS_DIR,
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        pytest.fail("npm ci in test/drivers failed:\n" + r.stdout + r.stderr)
    return None


@pytest.fixture(scope="module")
def node_ready():
    if not shutil.which("node"):
        pytest.skip("node is not installed (scripts/lib.sh installs nodejs)")
    reason = _npm_install()
    if reason:
        pytest.skip(reason)
    return True


@pytest.fixture(scope="module")
def jdbc_classes():
    if not shutil.which("javac") or not shutil.which("java"):
        pytest.skip("javac/java not installed (scripts/lib.sh installs default-jdk-headless)")
    if not os.path.exists(JDBC_JAR):
        pytest.skip(JDBC_JAR + " missing (scripts/lib.sh installs libpostgresql-jdbc-java)")
    out = tempfile.mkdtemp(prefix="pgsplit-jdbc-")
    r = subprocess.run(["javac", "-d", out, "-cp", JDBC_JAR,
                        os.path.join(DRIVERS_DIR, "JdbcScenarios.java")],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        pytest.fail("javac JdbcScenarios.java failed:\n" + r.stderr)
    yield out
    shutil.rmtree(out, ignore_errors=True)


@pytest.fixture
def drv_table(cluster):
    cluster.primary.psql("CREATE TABLE IF NOT EXISTS drv(k text, v int); "
                         "GRANT ALL ON drv TO app", db="app")
    cluster.wait_replay()


def routed(pooler, cluster):
    p = pooler(start=False, pool_mode="transaction",
               max_prepared_statements=str(MAX_PREPARED))  # no ignore_startup_parameters: pgjdbc's
    # extra_float_digits = 3 is accepted as it is
    reps = ",".join("127.0.0.1:%d" % r.port for r in cluster.replicas)
    p.databases["app"] = p.connstr("app", replicas=reps)
    p.start()
    # A replica is used once the monitor has checked it; a driver started at once would
    # send its first reads to the primary (seen under ASan: 122 of 200). The offload
    # figure is about a pooler that knows its replicas.
    deadline = time.time() + 15
    while time.time() < deadline:
        reps = [r for r in harness.admin(p, "SHOW REPLICAS") if r["database"] == "app"]
        if len(reps) == len(cluster.replicas) and all(r["state"] == "up" and r["last_check"]
                                                      for r in reps):
            break
        time.sleep(0.05)
    return p


def command(driver, request):
    if driver == "jdbc":
        classes = request.getfixturevalue("jdbc_classes")
        # The C1 compiler alone and the serial collector: a short run on a busy
        # 2-core machine starts faster without the background compiler threads.
        return ["java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
                "-cp", JDBC_JAR + os.pathsep + classes, "JdbcScenarios"]
    request.getfixturevalue("node_ready")
    return ["node", os.path.join(DRIVERS_DIR, driver + "_scenarios.js")]


def run(cmd, port, scenario):
    tag = uuid.uuid4().hex[:12]
    r = subprocess.run(cmd + [str(port), scenario, tag], capture_output=True, text=True,
                       timeout=90)
    assert r.returncode == 0, "%s on port %d: rc %d\n%s%s" % (
        scenario, port, r.returncode, r.stdout, r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


# What each scenario's direct run must show, so that a scenario that stopped
# testing anything (a cancel that never reached the server, a COPY error
# that was not raised) is seen: words its JSON results must contain.
DIRECT_SHOWS = {
    "cancel": ["57014", "true"],   # the SQLSTATE, and within CANCEL_WITHIN_MS
    "copy": ["T-c99", "22P02"],    # the last row read back, the bad row's error
    "bigrow": ["10485760"],
}


def on_replica(where):
    return sum(1 for w in where if w) / len(where)


# node-postgres has no call that describes a statement without executing it:
# no describe scenario for it.
SCENARIOS = {
    "pg": ["pipeline", "offload", "readonly", "txerror", "manynamed", "ddl",
           "copy", "cancel", "bigrow"],
    "postgresjs": ["pipeline", "offload", "readonly", "txerror", "manynamed", "ddl",
                   "copy", "cancel", "bigrow", "describe"],
    "jdbc": ["offload", "readonly", "txerror", "manynamed", "ddl",
             "copy", "cancel", "bigrow", "describe"],
}

XFAIL = {}

CASES = [pytest.param(d, s, id="%s-%s" % (d, s),
                      marks=[pytest.mark.xfail(strict=True, reason=XFAIL[(d, s)])]
                      if (d, s) in XFAIL else [])
         for d, names in SCENARIOS.items() for s in names]


@pytest.mark.parametrize("driver,scenario", CASES)
def test_driver(driver, scenario, request, pooler, cluster, drv_table):
    cmd = command(driver, request)
    direct = run(cmd, cluster.primary.port, scenario)
    assert not any(direct["where"]), "a direct read ran on a replica?"
    shown = json.dumps(direct["results"])
    for word in DIRECT_SHOWS.get(scenario, []):
        assert word in shown, direct
    p = routed(pooler, cluster)
    pooled = run(cmd, p.port, scenario)
    assert pooled["results"] == direct["results"]
    if scenario in ("offload", "readonly"):
        share = on_replica(pooled["where"])
        print("\n%s %s: %d of %d reads on a replica (%.0f %%)" % (
            driver, scenario, sum(pooled["where"]), len(pooled["where"]), 100 * share))
        assert share >= MIN_OFFLOAD, "reads on a replica, in order: %s\nSHOW ROUTING: %s\n" \
            "SHOW REPLICAS: %s" % ("".join("R" if w else "p" for w in pooled["where"]),
                                   harness.admin(p, "SHOW ROUTING"), harness.admin(p, "SHOW REPLICAS"))


PIPELINE_ROUNDS = int(os.environ.get("PGSPLIT_PIPELINE_ROUNDS", "0"))


@pytest.mark.skipif(PIPELINE_ROUNDS <= 0, reason="a measurement: set PGSPLIT_PIPELINE_ROUNDS=N")
@pytest.mark.timeout(max(60, 3 * PIPELINE_ROUNDS))
@pytest.mark.parametrize("driver", ["pg", "postgresjs"])
def test_pipeline_rounds(driver, request, pooler, cluster, drv_table):
    """The pipeline scenario (5 times a read, an INSERT and a read of one key, sent
    without waiting) through N fresh poolers: rare orderings show only over many rounds,
    best with the CPUs kept busy beside it.  Every round must answer as a direct
    connection does; the rounds that did not are listed."""
    cmd = command(driver, request)
    direct = run(cmd, cluster.primary.port, "pipeline")["results"]
    bad = []
    for i in range(PIPELINE_ROUNDS):
        p = routed(pooler, cluster)
        got = run(cmd, p.port, "pipeline")["results"]
        if got != direct:
            bad.append((i, got))
        p.expect_exit = True  # stopped here; its log is still checked at teardown
        p.stop()
    print("\n%s: %d of %d rounds (%d pipelines) differed from a direct connection" % (
        driver, len(bad), PIPELINE_ROUNDS, 5 * PIPELINE_ROUNDS))
    assert not bad, bad[:3]
