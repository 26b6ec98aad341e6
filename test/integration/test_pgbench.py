"""pgbench through the pooler, transaction mode, 50 clients: zero failures."""

import pytest

from harness import pgbench

DURATION = 2


@pytest.mark.parametrize("script", ["select-only", "tpcb"])
@pytest.mark.parametrize("proto", ["simple", "extended"])
def test_pgbench_transaction_mode(pooler, script, proto):
    p = pooler(pool_mode="transaction", default_pool_size=20, max_client_conn=200)
    args = ["-n", "-c", "50", "-j", "2", "-T", str(DURATION), "-M", proto]
    if script == "select-only":
        args.append("-S")
    res = pgbench(p, args, timeout=DURATION + 40)
    assert res.proc.returncode == 0, res.out[-3000:]
    assert res.processed and res.processed > 100, res.out[-3000:]
    assert res.failed in (0, None), res.out[-3000:]
    assert "aborted" not in res.out.lower(), res.out[-3000:]


def test_pgbench_session_mode_short(pooler):
    p = pooler(pool_mode="session", default_pool_size=20)
    res = pgbench(p, ["-n", "-c", "10", "-j", "2", "-t", "50", "-S"])
    assert res.proc.returncode == 0, res.out[-3000:]
    assert res.processed == 500
