"""pytest fixtures: one PostgreSQL primary + two replicas per session (per xdist
worker), and a function-scoped `pooler` factory.

The pooler fixture fails the test when the pooler crashed on its own, or when its
output holds a sanitizer report; on any failure it prints the log tail.
"""


import pytest

import harness
from harness import pgcluster


def pytest_report_header(config):
    return "pooler binary: %s (%s)" % (harness.pooler_bin(), harness.flavor())


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _create_cluster():
    base = harness.make_pg_dir("pgsplit-pg-")
    c = pgcluster.Cluster(base, replicas=2)
    try:
        c.create()
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


@pytest.fixture(scope="session")
def cluster():
    # Ports are picked by binding to port 0 and closing; another process may
    # grab one before PostgreSQL binds it, so one retry with fresh ports.
    try:
        c = _create_cluster()
    except Exception as e:
        print("cluster creation failed, retrying once: %s" % e)
        c = _create_cluster()
    yield c
    c.destroy()


@pytest.fixture
def pooler(cluster, request):
    """Factory: pooler(settings..., databases=, users=, userlist=, extra=, start=True).

    Keyword arguments that are not the named ones become [pgbouncer] settings
    (value None removes a default).  Returns a started harness.Pooler.
    """
    made = []

    def factory(databases=None, users=None, userlist=None, extra="", start=True,
                args=(), **settings):
        last = None
        for _attempt in range(3):
            p = harness.Pooler(cluster, settings, databases, users, userlist, extra)
            made.append(p)
            if not start:
                p.write_files()
                return p
            try:
                return p.start(args=args)
            except harness.PoolerStartError as e:
                p.expect_exit = True
                last = e
                # Another process may have grabbed the port we picked; retry with a
                # new one only in that case.
                if "in use" not in str(e):
                    raise
        raise last

    yield factory

    failed = getattr(request.node, "rep_call", None)
    failed = failed is not None and failed.failed
    problems = harness.finish_poolers(made, failed)
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)
