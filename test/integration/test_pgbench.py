"""pgbench through the pooler, transaction mode, 50 clients: zero failures.

A fixed number of transactions (-t), not a duration: under load (CI runs the suite
beside a build) TPC-B at scale 1 went down to 25 tps, and a 2 s run proved little."""

import pytest

from harness import pgbench

PER_CLIENT = 10


@pytest.mark.parametrize("script", ["select-only", "tpcb"])
@pytest.mark.parametrize("proto", ["simple", "extended"])
def test_pgbench_transaction_mode(pooler, script, proto):
    p = pooler(pool_mode="transaction", default_pool_size=20, max_client_conn=200)
    args = ["-n", "-c", "50", "-j", "2", "-t", str(PER_CLIENT), "-M", proto]
    if script == "select-only":
        args.append("-S")
    res = pgbench(p, args, timeout=60)
    assert res.proc.returncode == 0, res.out[-3000:]
    assert res.processed == 50 * PER_CLIENT, res.out[-3000:]
    assert res.failed in (0, None), res.out[-3000:]
    assert "aborted" not in res.out.lower(), res.out[-3000:]


def test_pgbench_session_mode_short(pooler):
    p = pooler(pool_mode="session", default_pool_size=20)
    res = pgbench(p, ["-n", "-c", "10", "-j", "2", "-t", "50", "-S"])
    assert res.proc.returncode == 0, res.out[-3000:]
    assert res.processed == 500
