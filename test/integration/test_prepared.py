"""Protocol-level prepared statements in transaction pooling, across servers and
across primary and replica pools (max_prepared_statements, default 200)."""

import struct
import subprocess
import threading
import time
import uuid

import psycopg
import pytest

import harness
import pgwire
from harness import query1

OK = psycopg.pq.ExecStatus.COMMAND_OK
TUPLES = psycopg.pq.ExecStatus.TUPLES_OK
FATAL = psycopg.pq.ExecStatus.FATAL_ERROR
SQLSTATE = psycopg.pq.DiagnosticField.SQLSTATE

pytestmark = harness.pgsplit_only("prepared statements in transaction mode need PgBouncer 1.21+")


def tx_pooler(pooler, cluster, routed=False, **settings):
    p = pooler(start=False, pool_mode="transaction", **settings)
    if routed:
        reps = ",".join("127.0.0.1:%d" % r.port for r in cluster.replicas)
        for db in ("app", "bench"):
            p.databases[db] = p.connstr(db, replicas=reps)
    p.start()
    return p


def sqlstate(res):
    code = res.error_field(SQLSTATE)
    return code.decode() if code else None


def routing(p):
    return [r for r in harness.admin(p, "SHOW ROUTING") if r["database"] == "bench"][0]


def replica_commits(cluster, db="bench"):
    """Transactions committed on the replicas themselves (their own statistics)."""
    return sum(int(r.psql("SELECT xact_commit FROM pg_stat_database WHERE datname = '%s'" % db))
               for r in cluster.replicas)


def server_cache_sizes(p, db="app"):
    return [r["prepared_statements"] for r in harness.admin(p, "SHOW SERVERS") if r["database"] == db]


@pytest.mark.parametrize("script", [["-S"], []], ids=["select-only", "tpcb"])
def test_pgbench_prepared_with_routing(pooler, cluster, script):
    p = tx_pooler(pooler, cluster, routed=True)
    before_routed = routing(p)["to_replica"]
    before_commits = replica_commits(cluster)
    res = harness.pgbench(p, script + ["-n", "-M", "prepared", "-c", "20", "-j", "2", "-t", "10"])
    # pgbench counts a client stopped by an SQL error as "aborted", not as failed
    assert res.proc.returncode == 0, res.out[-3000:]
    assert "aborted" not in res.out.lower(), res.out[-3000:]
    assert res.failed in (0, None) and res.processed == 200, res.out[-3000:]
    if script:
        # the reads really ran on the replicas: the pooler routed them there and the
        # replicas' own statistics counted them (flushed within a second or so of idling)
        assert routing(p)["to_replica"] - before_routed >= res.processed // 2
        deadline = time.time() + 15
        while replica_commits(cluster) - before_commits < res.processed // 2 and time.time() < deadline:
            time.sleep(0.3)
        assert replica_commits(cluster) - before_commits >= res.processed // 2, (
            before_commits, replica_commits(cluster), res.processed)


def test_psycopg_prepares_across_many_servers_and_replicas(pooler, cluster):
    p = tx_pooler(pooler, cluster, routed=True, default_pool_size=3, read_your_writes="off")
    conns = [p.connect(prepare_threshold=0) for _ in range(6)]
    seen = set()
    for i in range(60):
        c = conns[i % len(conns)]
        row = c.execute("SELECT %s::int + 1, pg_is_in_recovery(), inet_server_port()", (i,)).fetchone()
        assert row[0] == i + 1
        seen.add(row[2])
        # a write prepared the same way lands on the primary
        assert c.execute("SELECT %s::int, pg_is_in_recovery() FROM (SELECT txid_current()) t",
                         (i,)).fetchone() == (i, False)
    assert {r.port for r in cluster.replicas} <= seen  # reads did spread over replicas


class PreparedReadLoad:
    """Client threads, each on its own connection with prepare_threshold=0, cycling
    through a few named statements (prepared once per connection, then only bound).
    Each result notes whether `noticed` was set when its transaction started."""

    QUERIES = ["SELECT pg_is_in_recovery(), inet_server_port(), %%s::int + %d" % i for i in range(5)]

    def __init__(self, pooler, n=6):
        self.pooler = pooler
        self.noticed = threading.Event()
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.records = []  # (after_notice, error or None, (in_recovery, port) or None)
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(n)]
        for t in self.threads:
            t.start()

    def _run(self):
        conn, i = None, 0
        while not self.done.is_set():
            after = self.noticed.is_set()
            sql = self.QUERIES[i % len(self.QUERIES)]
            i += 1
            try:
                if conn is None:
                    conn = harness.connect(self.pooler, track=False, connect_timeout=5, prepare_threshold=0)
                row = conn.execute(sql, (i,)).fetchone()
                rec = (after, None, (row[0], row[1]))
            except psycopg.Error as e:
                rec = (after, "%s: %s" % (type(e).__name__, str(e).strip()), None)
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.05)
            with self.lock:
                self.records.append(rec)
        if conn is not None:
            conn.close()

    def snapshot(self):
        with self.lock:
            return list(self.records)

    def wait_until(self, pred, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline and not pred(self.snapshot()):
            time.sleep(0.05)
        return pred(self.snapshot())

    def stop(self):
        self.done.set()
        for t in self.threads:
            t.join(15)
        return [t for t in self.threads if t.is_alive()]


@pytest.mark.timeout(120)
def test_prepared_reads_move_off_a_replica_that_goes_down(pooler, cluster):
    """Statements prepared while both replicas served reads keep working when one of
    them stops (immediate shutdown): once the pooler has noticed, every transaction
    succeeds on the other replica or the primary, re-prepared there transparently."""
    victim, other = cluster.replicas
    p = tx_pooler(pooler, cluster, routed=True, read_your_writes="off", replica_lb="round_robin")
    load = PreparedReadLoad(p)
    try:
        both = {r.port for r in cluster.replicas}
        assert load.wait_until(lambda recs: {r[2][1] for r in recs if r[2]} >= both, 10), load.snapshot()[-5:]
        assert not [r for r in load.snapshot() if r[1]], "errors before the fault"
        victim.stop(mode="immediate")
        assert p.wait_log(r"replica 127\.0\.0\.1:%d is down" % victim.port, 15), "fault not noticed"
        load.noticed.set()
        load.wait_until(lambda recs: sum(r[0] for r in recs) >= 150, 30)
    finally:
        stuck = load.stop()
        if victim.psql("SELECT 1", check=False) != "1":
            victim.start()
        cluster.wait_replay()
    after = [r for r in load.snapshot() if r[0]]
    assert not stuck, "%d client threads stuck" % len(stuck)
    assert len(after) >= 150, "only %d transactions after the pooler noticed" % len(after)
    errors = [r[1] for r in after if r[1]]
    assert not errors, "%d of %d failed after the notice, e.g. %s" % (len(errors), len(after), errors[:3])
    wrong = {r[2] for r in after} - {(True, other.port), (False, cluster.port)}
    assert not wrong, "answered by %s after the notice" % wrong


def test_statement_survives_a_server_restart(pooler, cluster):
    p = tx_pooler(pooler, cluster)
    c = p.connect(prepare_threshold=0)
    assert query1(c, "SELECT %s::int * 2", (21,)) == 42
    # the server connection behind it goes away (terminated on the server side)
    cluster.primary.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE usename = 'app' AND backend_type = 'client backend'")
    for _ in range(3):
        try:
            assert query1(c, "SELECT %s::int * 2", (4,)) == 8
            break
        except psycopg.OperationalError:
            # the client whose server died mid-use may see one error (and be closed)
            if c.closed:
                c = p.connect(prepare_threshold=0)
    assert query1(c, "SELECT %s::int * 2", (5,)) == 10


def backend_pid(conn):
    return query1(conn, "SELECT pg_backend_pid() + %s::int", (0,))


@pytest.mark.parametrize("how", ["reconnect", "server_lifetime"])
def test_statement_survives_a_server_recycle(pooler, cluster, how):
    """The server connection is recycled by the pooler (admin RECONNECT, or its
    server_lifetime over) between two uses of a statement: no client error at all."""
    settings = {"server_lifetime": 1} if how == "server_lifetime" else {}
    p = tx_pooler(pooler, cluster, default_pool_size=1, **settings)
    c = p.connect(prepare_threshold=0)
    first = backend_pid(c)
    assert query1(c, "SELECT %s::int * 2", (21,)) == 42
    if how == "reconnect":
        harness.admin(p, "RECONNECT app")
    else:
        time.sleep(1.5)
    deadline = time.time() + 10
    while first in [r["remote_pid"] for r in harness.admin(p, "SHOW SERVERS")] and time.time() < deadline:
        time.sleep(0.1)
        if how == "server_lifetime":
            query1(c, "SELECT 1")  # the lifetime is checked when a server is released
    assert query1(c, "SELECT %s::int * 2", (4,)) == 8
    assert backend_pid(c) != first  # the same statements, on a new server connection
    assert query1(c, "SELECT %s::int * 2", (5,)) == 10


def test_more_statements_than_the_server_cache(pooler, cluster):
    p = tx_pooler(pooler, cluster, max_prepared_statements=5, default_pool_size=1)
    c = p.connect(prepare_threshold=0)
    for rnd in range(3):
        for i in range(20):
            sql = "SELECT %%s::int + %d" % i
            assert query1(c, sql, (rnd,)) == rnd + i
            sizes = server_cache_sizes(p)
            assert sizes and max(sizes) <= 5, sizes
    assert max(server_cache_sizes(p)) == 5
    assert max(r["prepared_statements"] for r in harness.admin(p, "SHOW CLIENTS")
               if r["database"] == "app") == 20


@pytest.mark.parametrize("failing", ["parse", "bind"])
def test_eviction_skipped_by_an_error_keeps_the_statement(pooler, cluster, failing):
    """Cache full (one statement): a new Parse makes the pooler close the least recently
    used statement in the same batch. When something earlier in that batch fails, the
    server skips the Close, so the statement is still there and must not be prepared
    again (that would fail with 42P05 until the server connection is recycled)."""
    p = tx_pooler(pooler, cluster, max_prepared_statements=1, default_pool_size=1)
    with raw_login(p) as r:
        assert batch_errors(r, parse("a", "SELECT 1")) == []
        if failing == "parse":
            assert batch_errors(r, parse("b", "SELEC broken")) == ["42601"]
        else:
            assert batch_errors(r, bind("nosuch"), parse("b", "SELECT 2")) == ["26000"]
        for _ in range(2):
            assert batch_rows(r, bind("a"), execute()) == [["1"]]
        assert max(server_cache_sizes(p)) <= 1
        assert batch_errors(r, parse("b", "SELECT 2")) == []
        assert batch_rows(r, bind("b"), execute(), bind("a"), execute()) == [["2"], ["1"]]
        assert max(server_cache_sizes(p)) <= 1


def test_same_name_different_sql_in_two_clients(pooler, cluster):
    p = tx_pooler(pooler, cluster, default_pool_size=1)
    a = p.connect()
    b = p.connect()
    pa, pb = a.pgconn, b.pgconn
    pa.prepare(b"s1", b"SELECT 'from a'")
    pb.prepare(b"s1", b"SELECT 'from b', 2")
    for _ in range(3):
        ra = pa.exec_prepared(b"s1", [])
        rb = pb.exec_prepared(b"s1", [])
        assert ra.get_value(0, 0) == b"from a"
        assert rb.get_value(0, 0) == b"from b" and rb.nfields == 2


def test_parse_error_then_reuse_of_the_name(pooler, cluster):
    p = tx_pooler(pooler, cluster)
    c = p.connect()
    pg = c.pgconn
    res = pg.prepare(b"s2", b"SELEC broken")
    assert res.status == psycopg.pq.ExecStatus.FATAL_ERROR
    res = pg.exec_prepared(b"s2", [])
    assert res.status == psycopg.pq.ExecStatus.FATAL_ERROR  # does not exist
    res = pg.prepare(b"s2", b"SELECT 7")
    assert res.status == psycopg.pq.ExecStatus.COMMAND_OK
    assert pg.exec_prepared(b"s2", []).get_value(0, 0) == b"7"


# ---- raw protocol: exact batches ------------------------------------------------------

def cstr(text):
    return text.encode() + b"\0"


def parse(name, sql):
    return pgwire.msg(b"P", cstr(name) + cstr(sql) + struct.pack("!H", 0))


def bind(stmt, portal=""):
    return pgwire.msg(b"B", cstr(portal) + cstr(stmt) + struct.pack("!HHH", 0, 0, 0))


def execute(portal=""):
    return pgwire.msg(b"E", cstr(portal) + struct.pack("!I", 0))


def close_stmt(name):
    return pgwire.msg(b"C", b"S" + cstr(name))


SYNC = pgwire.msg(b"S")


def raw_login(p):
    r = pgwire.Raw(p.host, p.port)
    r.login("app", "app", harness.DEFAULT_PASSWORDS["app"])
    return r


def batch(r, *msgs):
    """Send the messages and a Sync; the replies up to ReadyForQuery (a hang times out)."""
    r.send(b"".join(msgs) + SYNC)
    return r.read_until((b"Z",))


def batch_errors(r, *msgs):
    return [pgwire.parse_fields(b)["C"] for k, b in batch(r, *msgs) if k == b"E"]


def batch_rows(r, *msgs):
    rows = []
    for k, b in batch(r, *msgs):
        assert k != b"E", pgwire.parse_fields(b)
        if k == b"D":
            (n,) = struct.unpack("!H", b[:2])
            pos, row = 2, []
            for _ in range(n):
                (ln,) = struct.unpack("!i", b[pos:pos + 4])
                row.append(b[pos + 4:pos + 4 + ln].decode())
                pos += 4 + ln
            rows.append(row)
    return rows


def test_close_message(pooler, cluster):
    """Close of a statement name behaves as on a direct connection: the name is gone,
    closing an unknown name is no error, and a Close the server skips (an earlier
    message of its batch failed) leaves the name in place."""
    p = tx_pooler(pooler, cluster)
    with raw_login(p) as r:
        assert batch_errors(r, parse("s1", "SELECT 1")) == []
        assert [k for k, _ in batch(r, close_stmt("s1"))] == [b"3", b"Z"]
        assert batch_errors(r, bind("s1"), execute()) == ["26000"]
        assert [k for k, _ in batch(r, close_stmt("never_prepared"))] == [b"3", b"Z"]
        assert batch_errors(r, parse("s1", "SELECT 2")) == []
        assert batch_rows(r, bind("s1"), execute()) == [["2"]]
        # the failing Bind makes the server skip the rest of the batch, the Close too
        assert batch_errors(r, bind("nosuch"), close_stmt("s1")) == ["26000"]
        assert batch_rows(r, bind("s1"), execute()) == [["2"]]
        # Close then Parse of the same name in one batch, then reuse
        replies = batch(r, close_stmt("s1"), parse("s1", "SELECT 3"), bind("s1"), execute())
        assert [k for k, _ in replies] == [b"3", b"1", b"2", b"D", b"C", b"Z"]


def test_skipped_batch_leaves_names_as_they_were(pooler, cluster):
    """Everything after a failed message is skipped up to Sync: the names it would have
    defined, closed and redefined are as before the batch, whatever the order."""
    p = tx_pooler(pooler, cluster, max_prepared_statements=2, default_pool_size=1)
    with raw_login(p) as r:
        assert batch_errors(r, parse("x", "SELECT 9")) == []
        assert batch_errors(r, bind("nosuch"), close_stmt("x"), parse("x", "SELECT 2"),
                            parse("y", "SELECT 3"), close_stmt("y"), parse("y", "SELECT 4")) == ["26000"]
        assert batch_rows(r, bind("x"), execute()) == [["9"]]
        assert batch_errors(r, bind("y")) == ["26000"]
        assert batch_errors(r, parse("y", "SELECT 5"), parse("z", "SELECT 6")) == []
        assert batch_rows(r, bind("x"), execute(), bind("y"), execute(), bind("z"), execute()) == [
            ["9"], ["5"], ["6"]]
        assert max(server_cache_sizes(p)) <= 2


def test_discard_all_with_statements_queued_behind_it(pooler, cluster):
    """Messages the client pipelined behind DISCARD ALL run after it: what they prepare
    stays known (to the pooler as to the server)."""
    p = tx_pooler(pooler, cluster, default_pool_size=1)
    with raw_login(p) as r:
        assert batch_errors(r, parse("a", "SELECT 1")) == []
        r.send(pgwire.query("DISCARD ALL") + parse("b", "SELECT 2") + bind("b") + execute() + SYNC)
        replies = r.read_until((b"Z",)) + r.read_until((b"Z",))
        assert [k for k, _ in replies] == [b"C", b"Z", b"1", b"2", b"D", b"C", b"Z"]
        assert batch_errors(r, bind("a")) == ["26000"]
        assert batch_rows(r, bind("b"), execute()) == [["2"]]
        assert batch_errors(r, parse("a", "SELECT 1")) == []
        assert batch_rows(r, bind("a"), execute()) == [["1"]]


def test_discard_all_drops_tracked_statements(pooler, cluster):
    p = tx_pooler(pooler, cluster, default_pool_size=1)
    c = p.connect()
    pg = c.pgconn
    for name in (b"d1", b"d2"):
        assert pg.prepare(name, b"SELECT 1").status == OK
    assert max(server_cache_sizes(p)) == 1  # one shared statement for both names
    c.execute("DISCARD ALL")
    for name in (b"d1", b"d2"):
        res = pg.exec_prepared(name, [])
        assert res.status == FATAL and sqlstate(res) == "26000"
    assert max(server_cache_sizes(p)) == 0
    assert pg.prepare(b"d1", b"SELECT 'again'").status == OK
    assert pg.exec_prepared(b"d1", []).get_value(0, 0) == b"again"
    assert pg.exec_params(b"DISCARD ALL", []).status == OK  # the extended protocol too
    assert sqlstate(pg.exec_prepared(b"d1", [])) == "26000"


DEALLOCATE_FORMS = [
    ("plain", b"s_x", b"DEALLOCATE s_x"),
    ("prepare", b"s_x", b"DEALLOCATE PREPARE s_x"),
    ("folded", b"s_x", b"  deallocate   S_X ;"),
    ("quoted", b"Mixed Case", b'DEALLOCATE "Mixed Case"'),
    ("quoted-quote", b'a"b', b'DEALLOCATE PREPARE "a""b";'),
    ("named-prepare", b"prepare", b"DEALLOCATE prepare"),
]


@pytest.mark.parametrize("proto", ["simple", "extended"])
@pytest.mark.parametrize("name,sql", [f[1:] for f in DEALLOCATE_FORMS], ids=[f[0] for f in DEALLOCATE_FORMS])
def test_deallocate_forms(pooler, cluster, proto, name, sql):
    """DEALLOCATE name as a simple Query and through Parse/Bind/Execute (what psycopg
    sends to evict its own statements), in the spellings PostgreSQL accepts."""
    p = tx_pooler(pooler, cluster, default_pool_size=2)
    c = p.connect()
    pg = c.pgconn
    run = (lambda q: pg.exec_(q)) if proto == "simple" else (lambda q: pg.exec_params(q, []))
    assert pg.prepare(name, b"SELECT 1").status == OK
    assert pg.exec_prepared(name, []).get_value(0, 0) == b"1"
    res = run(sql)
    assert res.status == OK and res.command_status == b"DEALLOCATE", res.error_message
    assert sqlstate(pg.exec_prepared(name, [])) == "26000"
    assert sqlstate(run(sql)) == "26000"  # already gone, as on a direct connection
    assert pg.prepare(name, b"SELECT 2").status == OK
    assert pg.exec_prepared(name, []).get_value(0, 0) == b"2"


@pytest.mark.parametrize("proto", ["simple", "extended"])
def test_deallocate_in_an_aborted_transaction_keeps_the_name(pooler, cluster, proto):
    p = tx_pooler(pooler, cluster)
    c = p.connect()
    pg = c.pgconn
    run = (lambda q: pg.exec_(q)) if proto == "simple" else (lambda q: pg.exec_params(q, []))
    assert pg.prepare(b"kept", b"SELECT 5").status == OK
    assert pg.exec_(b"BEGIN").status == OK
    assert sqlstate(pg.exec_(b"SELECT 1/0")) == "22012"
    assert sqlstate(run(b"DEALLOCATE kept")) == "25P02"
    assert pg.exec_(b"ROLLBACK").status == OK
    assert pg.exec_prepared(b"kept", []).get_value(0, 0) == b"5"
    assert sqlstate(run(b"DEALLOCATE unknown_name")) == "26000"


@pytest.mark.parametrize("proto", ["simple", "extended"])
def test_deallocate_of_a_statement_the_server_can_no_longer_prepare(pooler, cluster, proto):
    """The server connection was recycled and the statement's table dropped since it
    was prepared: DEALLOCATE must neither re-prepare it (which fails) nor hang."""
    p = tx_pooler(pooler, cluster, default_pool_size=1)
    table = "prep_gone_%s" % uuid.uuid4().hex[:8]
    with raw_login(p) as r:
        _, errors = r.simple("CREATE TABLE %s (x int)" % table)
        assert not errors
        assert batch_errors(r, parse("s", "SELECT x FROM %s" % table)) == []
        _, errors = r.simple("DROP TABLE %s" % table)
        assert not errors
        harness.admin(p, "RECONNECT app")
        if proto == "simple":
            rows, errors = r.simple("DEALLOCATE s")
            assert errors == []
        else:
            assert batch_errors(r, parse("", "DEALLOCATE s"), bind(""), execute()) == []
        assert batch_errors(r, bind("s"), execute()) == ["26000"]
        assert r.simple("SELECT 1") == ([["1"]], [])


def test_psycopg_evicting_its_own_prepared_statements(pooler, cluster):
    """psycopg keeps at most prepared_max (100) statements and DEALLOCATEs the oldest
    through the extended protocol: 130 distinct statements, a few rounds, no error."""
    p = tx_pooler(pooler, cluster, routed=True, default_pool_size=2, read_your_writes="off")
    c = p.connect(prepare_threshold=0)
    assert c.prepared_max == 100
    for rnd in range(3):
        for i in range(130):
            assert query1(c, "SELECT %%s::int + %d" % i, (rnd,)) == rnd + i
    clients = [r for r in harness.admin(p, "SHOW CLIENTS") if r["database"] == "app"]
    assert max(r["prepared_statements"] for r in clients) == 100  # psycopg's own count


def test_close_and_deallocate(pooler, cluster):
    p = tx_pooler(pooler, cluster)
    c = p.connect()
    pg = c.pgconn
    assert pg.prepare(b"s3", b"SELECT 3").status == psycopg.pq.ExecStatus.COMMAND_OK
    assert pg.exec_prepared(b"s3", []).get_value(0, 0) == b"3"
    c.execute("DEALLOCATE s3")
    assert pg.exec_prepared(b"s3", []).status == psycopg.pq.ExecStatus.FATAL_ERROR
    assert pg.prepare(b"s3", b"SELECT 33").status == psycopg.pq.ExecStatus.COMMAND_OK
    assert pg.exec_prepared(b"s3", []).get_value(0, 0) == b"33"
    c.execute("DEALLOCATE ALL")
    assert pg.exec_prepared(b"s3", []).status == psycopg.pq.ExecStatus.FATAL_ERROR


def test_prepared_statements_visible_in_stats(pooler, cluster):
    p = tx_pooler(pooler, cluster)
    c = p.connect(prepare_threshold=0)
    for i in range(10):
        c.execute("SELECT %s::int", (i,))
    rows = [r for r in harness.admin(p, "SHOW STATS") if r["database"] == "app"]
    assert rows and rows[0]["total_client_parse_count"] >= 1
    assert rows[0]["total_bind_count"] >= 10
    assert rows[0]["total_server_parse_count"] <= rows[0]["total_client_parse_count"] + 1


def test_prepared_statement_counts_in_show_clients_and_servers(pooler, cluster):
    p = tx_pooler(pooler, cluster, default_pool_size=1)
    c = p.connect()
    pg = c.pgconn
    for i in range(3):
        assert pg.prepare(b"q%d" % i, b"SELECT %d" % i).status == psycopg.pq.ExecStatus.COMMAND_OK
    clients = [r for r in harness.admin(p, "SHOW CLIENTS") if r["database"] == "app"]
    servers = [r for r in harness.admin(p, "SHOW SERVERS") if r["database"] == "app"]
    assert max(r["prepared_statements"] for r in clients) == 3
    assert max(r["prepared_statements"] for r in servers) == 3


def test_prepared_statement_with_a_huge_parameter(pooler, cluster):
    """A Bind of a named statement larger than the pooler holds whole is renamed from its
    head and streamed."""
    p = tx_pooler(pooler, cluster)
    c = p.connect(prepare_threshold=0)
    for n in (10, 3 * 1024 * 1024, 5):
        big = "x" * n
        assert query1(c, "SELECT length(%s::text)", (big,)) == n


def test_max_prepared_statements_zero_turns_tracking_off(pooler, cluster):
    """With tracking off (PgBouncer's behaviour) a statement lives only on the server
    that prepared it: the client's name reaches the server unchanged."""
    p = tx_pooler(pooler, cluster, max_prepared_statements=0, default_pool_size=1)
    c = p.connect()
    pg = c.pgconn
    assert pg.prepare(b"plain_name", b"SELECT 1").status == psycopg.pq.ExecStatus.COMMAND_OK
    names = [r[0] for r in c.execute("SELECT name FROM pg_prepared_statements").fetchall()]
    assert "plain_name" in names


def test_duplicate_statement_name_is_an_error_like_postgresql(pooler, cluster):
    p = tx_pooler(pooler, cluster)
    c = p.connect()
    pg = c.pgconn
    assert pg.prepare(b"dup", b"SELECT 1").status == psycopg.pq.ExecStatus.COMMAND_OK
    res = pg.prepare(b"dup", b"SELECT 2")
    assert res.status == psycopg.pq.ExecStatus.FATAL_ERROR
    assert res.error_field(psycopg.pq.DiagnosticField.SQLSTATE) == b"42P05"
    # the first statement is intact and the session usable
    assert pg.exec_prepared(b"dup", []).get_value(0, 0) == b"1"
    assert query1(c, "SELECT 3") == 3


@pytest.mark.timeout(120)
def test_pgbench_prepared_more_clients_per_thread_than_servers(pooler, cluster):
    """pgbench -M prepared prepares with a blocking call: with 10 clients per thread and a
    pool of 5, one client's prepare used to wait for a primary server that the same
    thread's other clients held mid-transaction, and pgbench hung. A batch that only
    prepares now takes an idle replica server when no primary server is idle."""
    p = tx_pooler(pooler, cluster, routed=True, default_pool_size=5)
    try:
        res = harness.pgbench(p, ["-n", "-M", "prepared", "-c", "20", "-j", "2", "-t", "10"], timeout=40)
    except subprocess.TimeoutExpired:
        pytest.fail("pgbench -M prepared hung (prepare waiting behind its own thread's clients)")
    assert res.proc.returncode == 0, res.out[-3000:]
    assert res.processed == 200, res.out[-3000:]
