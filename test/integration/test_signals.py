"""Signals with PgBouncer 1.23+ meanings: SIGTERM waits for connected clients and
refuses new ones, SIGQUIT exits at once."""

import signal
import time

import psycopg
import pytest

from harness import pgsplit_only, query1, wait_port


@pgsplit_only("SIGTERM waits for clients (1.23+ semantics)")
def test_sigterm_waits_for_clients(pooler):
    p = pooler(pool_mode="session")
    c = p.connect()
    assert query1(c, "SELECT 1") == 1
    p.expect_exit = True
    p.signal(signal.SIGTERM)
    time.sleep(0.5)
    assert p.alive(), "SIGTERM must wait for connected clients"
    assert query1(c, "SELECT 2") == 2
    with pytest.raises(psycopg.OperationalError):
        p.connect(connect_timeout=3)
    c.close()
    assert p.proc.wait(10) == 0
    assert not wait_port(p.host, p.port, 0.3)

@pgsplit_only("SIGQUIT immediate shutdown (1.23+ semantics)")
def test_sigquit_immediate(pooler):
    p = pooler(pool_mode="session")
    c = p.connect()
    c.execute("SELECT 1")
    p.expect_exit = True
    p.signal(signal.SIGQUIT)
    rc = p.proc.wait(5)
    assert rc >= 0
