"""pytest fixtures: one PostgreSQL primary + two replicas per session (per xdist
worker), and a function-scoped `pooler` factory.

The pooler fixture fails the test when the pooler crashed on its own, or when its
output holds a sanitizer report; on any failure it prints the log tail.
"""


import pytest

import harness


def pytest_report_header(config):
    return "pooler binary: %s (%s)" % (harness.pooler_bin(), harness.flavor())


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(scope="session")
def cluster():
    c = harness.create_cluster("pgsplit-pg-")
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
        return harness.start_pooler(
            made, lambda: harness.Pooler(cluster, settings, databases, users, userlist, extra),
            start=start, args=args)

    yield factory
    harness.finish_test_poolers(request, made)
