"""CancelRequest: forwarded to the right server with pooler-issued keys."""

import threading
import time

import pytest
from psycopg import errors

from harness import query1


def run_async(fn):
    box = {}

    def target():
        try:
            box["result"] = fn()
        except Exception as e:  # handed to the test thread
            box["error"] = e

    t = threading.Thread(target=target)
    t.start()
    return t, box


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_cancel_running_query(pooler, mode):
    p = pooler(pool_mode=mode, default_pool_size=2)
    c = p.connect()
    bystander = p.connect()
    t, box = run_async(lambda: c.execute("SELECT pg_sleep(20)"))
    time.sleep(0.7)
    t0 = time.time()
    c.cancel()
    t.join(10)
    assert not t.is_alive()
    assert isinstance(box.get("error"), errors.QueryCanceled), box
    assert time.time() - t0 < 5
    # The connection is usable again, and the other client was not touched.
    assert query1(c, "SELECT 1") == 1
    assert query1(bystander, "SELECT 2") == 2


def test_cancel_key_is_not_server_key(pooler):
    """The pooler issues its own BackendKeyData; the server pid stays hidden."""
    p = pooler(pool_mode="transaction")
    c = p.connect()
    server_pid = query1(c, "SELECT pg_backend_pid()")
    assert c.info.backend_pid != server_pid


def test_cancel_targets_only_own_query(pooler):
    p = pooler(pool_mode="transaction", default_pool_size=3)
    a = p.connect()
    b = p.connect()
    ta, boxa = run_async(lambda: a.execute("SELECT pg_sleep(2)"))
    tb, boxb = run_async(lambda: b.execute("SELECT pg_sleep(20)"))
    time.sleep(0.5)
    b.cancel()
    ta.join(10)
    tb.join(10)
    assert "error" not in boxa, boxa
    assert isinstance(boxb.get("error"), errors.QueryCanceled)


def test_cancel_idle_client_is_harmless(pooler):
    p = pooler(pool_mode="transaction", default_pool_size=1)
    a = p.connect()
    b = p.connect()
    a.cancel()                 # nothing running: must not hit b's query
    t, box = run_async(lambda: query1(b, "SELECT pg_sleep(0.5)::text || 'done'"))
    t.join(10)
    assert box.get("result") == "done", box
    assert query1(a, "SELECT 1") == 1


def test_cancel_in_transaction_block(pooler):
    p = pooler(pool_mode="transaction")
    c = p.connect(autocommit=False)
    c.execute("SELECT 1")
    t, box = run_async(lambda: c.execute("SELECT pg_sleep(20)"))
    time.sleep(0.5)
    c.cancel()
    t.join(10)
    assert isinstance(box.get("error"), errors.QueryCanceled)
    c.rollback()
    assert query1(c, "SELECT 3") == 3


def test_cancel_while_waiting_for_a_server(pooler):
    """A cancel that arrives while the query waits for a server still cancels it.

    On a direct connection the query would already be running and the cancel would
    stop it.  Before, the pooler dropped the request (no server linked yet) and the
    query ran its full length once a server was free.
    """
    p = pooler(pool_mode="transaction", default_pool_size=1)
    holder = p.connect(autocommit=False)
    holder.execute("SELECT 1")          # keeps the only server in a transaction
    c = p.connect()
    t, box = run_async(lambda: c.execute("SELECT pg_sleep(10)"))
    time.sleep(0.5)                     # c now waits in the pool's queue
    t0 = time.time()
    c.cancel()
    time.sleep(0.3)
    holder.rollback()                   # the server goes to c, with its cancel
    t.join(15)
    assert not t.is_alive()
    assert isinstance(box.get("error"), errors.QueryCanceled), box
    assert time.time() - t0 < 5
    assert query1(c, "SELECT 1") == 1
    assert query1(holder, "SELECT 2") == 2
