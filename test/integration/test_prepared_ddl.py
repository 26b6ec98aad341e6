"""Shared prepared statements after DDL (issue 14, finding 3): a statement prepared after a
column changed type, or after its table was dropped and made again, gives what a direct
connection gives, inside and outside a transaction, on a new client or on the same one.
Each scenario runs on direct connections and through the pooler; the outcomes must match.
A statement a client prepared before the DDL fails with 0A000 on a direct connection
every time, and through the pooler too, whichever server it runs on."""

import uuid

import psycopg
import pytest

import harness

TUPLES = psycopg.pq.ExecStatus.TUPLES_OK
SQLSTATE = psycopg.pq.DiagnosticField.SQLSTATE
ROUTINE = psycopg.pq.DiagnosticField.SOURCE_FUNCTION

pytestmark = harness.pgsplit_only("prepared statements in transaction mode need PgBouncer 1.21+")

DDL = {
    "alter-type": ["ALTER TABLE {t} ALTER COLUMN v TYPE text"],
    "drop-create": ["DROP TABLE {t}", "CREATE TABLE {t} (v text)", "INSERT INTO {t} VALUES ('1')"],
}


def direct_dsn(cluster):
    return "host=127.0.0.1 port=%d dbname=app user=app password=apppass" % cluster.primary.port


def outcome(res):
    """The value of the first row, or the SQLSTATE of the error."""
    if res.status == TUPLES:
        return res.get_value(0, 0).decode()
    code = res.error_field(SQLSTATE)
    return code.decode() if code else str(res.status)


class Side:
    """Where a scenario runs: direct connections to the primary, or the pooler."""

    def __init__(self, cluster, p=None):
        self.cluster, self.p = cluster, p

    def connect(self):
        if self.p:
            return self.p.connect(prepare_threshold=0)
        return psycopg.connect(direct_dsn(self.cluster), autocommit=True, prepare_threshold=0)

    def setup(self, table):
        with psycopg.connect(direct_dsn(self.cluster), autocommit=True) as c:
            c.execute("DROP TABLE IF EXISTS %s" % table)
            c.execute("CREATE TABLE %s (v int)" % table)
            c.execute("INSERT INTO %s VALUES (1)" % table)

    def ddl(self, table, kind):
        """DDL on its own direct connection, as a migration tool would run it."""
        with psycopg.connect(direct_dsn(self.cluster), autocommit=True) as c:
            for sql in DDL[kind]:
                c.execute(sql.format(t=table))


def run(conn, name, in_xact):
    pg = conn.pgconn
    if in_xact:
        pg.exec_(b"BEGIN")
    res = outcome(pg.exec_prepared(name.encode(), []))
    if in_xact:
        pg.exec_(b"ROLLBACK")
    return res


def prepare(conn, name, sql):
    res = conn.pgconn.prepare(name.encode(), sql.encode())
    assert res.status == psycopg.pq.ExecStatus.COMMAND_OK, res.error_message


def tx_pooler(pooler, **settings):
    settings.setdefault("default_pool_size", 1)
    return pooler(pool_mode="transaction", **settings)


def compare(cluster, pooler, scenario, **settings):
    """Run scenario(side, table) directly and through the pooler: lists of outcomes."""
    table = "ddl_%s" % uuid.uuid4().hex[:10]
    direct = Side(cluster)
    direct.setup(table)
    want = scenario(direct, table)
    side = Side(cluster, tx_pooler(pooler, **settings))
    side.setup(table)
    got = scenario(side, table)
    return want, got


@pytest.mark.parametrize("kind", sorted(DDL))
@pytest.mark.parametrize("in_xact", [False, True], ids=["autocommit", "in-transaction"])
def test_new_client_prepares_after_ddl(pooler, cluster, kind, in_xact):
    def scenario(side, table):
        sql = "SELECT v FROM %s" % table
        a = side.connect()
        prepare(a, "before", sql)
        out = [run(a, "before", in_xact)]
        side.ddl(table, kind)
        for i in range(8):  # the issue saw 8 failures out of 8 in a transaction
            b = side.connect()
            prepare(b, "after%d" % i, sql)
            out += [run(b, "after%d" % i, in_xact), run(b, "after%d" % i, in_xact)]
            b.close()
        a.close()
        return out

    want, got = compare(cluster, pooler, scenario)
    assert want == ["1"] + ["1"] * 16
    assert got == want


@pytest.mark.parametrize("kind", sorted(DDL))
@pytest.mark.parametrize("in_xact", [False, True], ids=["autocommit", "in-transaction"])
def test_same_client_prepares_again_after_ddl(pooler, cluster, kind, in_xact):
    """New names on the client that prepared the text before must work; its old name
    fails on a direct connection, and through the pooler at most as often."""
    def scenario(side, table):
        sql = "SELECT v FROM %s" % table
        a = side.connect()
        prepare(a, "s1", sql)
        before = run(a, "s1", in_xact)
        side.ddl(table, kind)
        new = []
        for i in range(4):
            prepare(a, "s%d" % (i + 2), sql)
            new += [run(a, "s%d" % (i + 2), in_xact) for _ in range(2)]
        old = [run(a, "s1", in_xact) for _ in range(3)]
        a.close()
        return before, new, old

    (wb, wnew, wold), (gb, gnew, gold) = compare(cluster, pooler, scenario)
    assert wb == gb == "1"
    assert wnew == gnew == ["1"] * 8
    assert wold == ["0A000"] * 3
    assert gold == wold


@pytest.mark.parametrize("in_xact", [False, True], ids=["autocommit", "in-transaction"])
def test_statement_prepared_after_ddl_on_a_server_with_a_stale_copy(pooler, cluster, in_xact):
    """Two servers hold the statement from before the DDL; a client that prepares after
    it runs on both (another client holds one of them in turn)."""
    def scenario(side, table):
        sql = "SELECT v FROM %s" % table
        holders = [side.connect(), side.connect()]
        for i, h in enumerate(holders):  # both servers prepare and run it at once
            prepare(h, "w", sql)
            h.pgconn.exec_(b"BEGIN")
            assert outcome(h.pgconn.exec_prepared(b"w", [])) == "1"
        for h in holders:
            h.pgconn.exec_(b"COMMIT")
        side.ddl(table, "alter-type")
        c = side.connect()
        prepare(c, "fresh", sql)
        out = []
        for i in range(8):
            if i % 2:
                holders[0].pgconn.exec_(b"BEGIN")
                holders[0].pgconn.exec_(b"SELECT 1")
            out.append(run(c, "fresh", in_xact))
            if i % 2:
                holders[0].pgconn.exec_(b"COMMIT")
        for h in holders + [c]:
            h.close()
        return out

    want, got = compare(cluster, pooler, scenario, default_pool_size=2)
    assert want == ["1"] * 8
    assert got == want


def test_error_on_an_old_name_is_given_once_then_it_works(pooler, cluster):
    """The pre-DDL name keeps failing after the DDL, as on a direct connection: the
    client's description of its result is stale, so the pooler must not quietly prepare
    it again (pgjdbc, which re-prepares under a new name on 0A000, decoded the new
    result type with the old description and failed)."""
    def scenario(side, table):
        a = side.connect()
        prepare(a, "s1", "SELECT v FROM %s" % table)
        out = [run(a, "s1", False)]
        side.ddl(table, "alter-type")
        out += [run(a, "s1", False) for _ in range(3)]
        a.close()
        return out

    want, got = compare(cluster, pooler, scenario)
    assert want == ["1", "0A000", "0A000", "0A000"]
    assert got == want


def backend_pid(conn):
    return int(outcome(conn.pgconn.exec_(b"SELECT pg_backend_pid()")))


@pytest.mark.parametrize("in_xact", [False, True], ids=["autocommit", "in-transaction"])
def test_old_name_on_a_server_that_never_had_it(pooler, cluster, in_xact):
    """A name prepared before the DDL, run after it on a server that never had a copy: a
    direct connection refuses it with 0A000, and so must the pooler. Before, that server
    prepared the text afresh and the client got rows of the new type, which a driver
    decodes with the description it cached (pgjdbc: text read as int4)."""
    def scenario(side, table):
        a, h1, h2 = side.connect(), side.connect(), side.connect()
        h1.pgconn.exec_(b"BEGIN")
        backend_pid(h1)  # holds one server: a's statement lives on the other only
        prepare(a, "s1", "SELECT v FROM %s" % table)
        a.pgconn.exec_(b"BEGIN")
        a_pid = backend_pid(a)
        out = [outcome(a.pgconn.exec_prepared(b"s1", []))]
        a.pgconn.exec_(b"COMMIT")
        h1.pgconn.exec_(b"COMMIT")
        side.ddl(table, "alter-type")
        if side.p:  # hold a's server, so that a runs on the one that never had s1
            h1.pgconn.exec_(b"BEGIN")
            if backend_pid(h1) != a_pid:
                h2.pgconn.exec_(b"BEGIN")
                assert backend_pid(h2) == a_pid
                h1.pgconn.exec_(b"COMMIT")
        out += [run(a, "s1", in_xact) for _ in range(3)]
        # pgjdbc prepares again and retries only when the routine field says so
        routine = a.pgconn.exec_prepared(b"s1", []).error_field(ROUTINE)
        out.append(routine.decode() if routine else None)
        out.append(outcome(a.pgconn.exec_(b"SELECT 'still usable'")))
        for c in (a, h1, h2):
            c.close()
        return out

    want, got = compare(cluster, pooler, scenario, default_pool_size=2)
    assert want == ["1", "0A000", "0A000", "0A000", "RevalidateCachedQuery", "still usable"]
    assert got == want


def test_no_extra_server_work_per_transaction(pooler, cluster):
    """The cost stays per name and server: executions of a prepared name add no Parse,
    however many transactions, once each server has a copy as new as the name. A guard
    on the fix's cost, not on the bug: it passes before the fix too."""
    p = tx_pooler(pooler, default_pool_size=2)
    table = "ddl_%s" % uuid.uuid4().hex[:10]
    Side(cluster).setup(table)
    c, other = p.connect(), p.connect()
    prepare(c, "s", "SELECT v FROM %s" % table)

    def server_parses():
        return [r for r in harness.admin(p, "SHOW STATS") if r["database"] == "app"][0][
            "total_server_parse_count"]

    def executions(n):
        for i in range(n):
            if i % 2:
                other.pgconn.exec_(b"BEGIN")
                other.pgconn.exec_(b"SELECT 1")
            assert run(c, "s", i % 3 == 0) == "1"
            if i % 2:
                other.pgconn.exec_(b"COMMIT")

    executions(10)  # both servers get their copy
    before = server_parses()
    assert before >= 1
    executions(60)
    assert server_parses() == before


def test_psycopg_new_connections_in_transactions_after_ddl(pooler, cluster):
    """psycopg preparing at once (prepare_threshold=0), a new connection per transaction,
    as in the issue's report (8 failures out of 8 before the fix)."""
    def scenario(side, table):
        sql = "SELECT v FROM %s" % table
        out = []
        for i in range(10):
            if i == 2:
                side.ddl(table, "alter-type")
            with side.connect() as conn:
                try:
                    with conn.transaction():
                        out.append(str(conn.execute(sql).fetchone()[0]))
                except psycopg.Error as e:
                    out.append(e.sqlstate)
        return out

    want, got = compare(cluster, pooler, scenario)
    assert want == ["1"] * 10
    assert got == want
