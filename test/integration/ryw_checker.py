"""A read-your-writes consistency checker: many clients, each owning one key, write a
new counter value and read it back at once, through the pooler.

A read that returns a value older than the client's own last committed write is
*stale*. A write whose answer was lost (the connection broke before its commit was
acknowledged) may or may not have committed: it never raises the value a read must
see, so it cannot turn a correct read into a stale one. Connection errors during
faults are counted apart, by kind; the client reconnects and carries on. An operation
that failed is neither stale nor a success.

Each client cycles through every combination of protocol (simple query, extended
query with an unnamed statement, a named prepared statement) and transaction style
(autocommit, or BEGIN ... COMMIT around the write and BEGIN READ ONLY ... COMMIT
around the read). How the read finds the write depends on `handoff`:

- "own": write and read on the same connection (read_your_writes_scope = client);
- "user": write on one connection, read on another of the same user
  (read_your_writes_scope = user);
- "token": write on one connection and read the row back there; take its
  `pgsplit.last_write_lsn` (when empty, the token is still coming: run SELECT 1 until
  it is set), hand it to a second connection with SET pgsplit.min_lsn and read there.
"""

import collections
import threading
import time
import uuid

import psycopg

PROTOCOLS = ("simple", "extended", "prepared")
HANDOFFS = ("own", "user", "token")


def literal(value):
    """An SQL literal for an int or a hex key (the only values the checker sends)."""
    return str(value) if isinstance(value, int) else "'%s'" % value


def run_sql(conn, protocol, sql, params):
    """Run sql with %s placeholders by the protocol asked for; returns the cursor."""
    if protocol == "simple":
        # no parameters and prepare=False: psycopg sends a simple Query message
        return conn.execute(sql % tuple(literal(p) for p in params), prepare=False)
    return conn.execute(sql, params, prepare=protocol == "prepared")


class NoToken(Exception):
    """The writer got no token covering its write in time (counted as an error)."""


class Stale:
    __slots__ = ("client", "handoff", "expected", "seen", "in_recovery", "port", "at", "style")

    def __init__(self, client, expected, seen, row, at, style):
        self.client, self.handoff = client.index, client.handoff
        self.expected, self.seen = expected, seen
        self.in_recovery, self.port = row[1], row[2]
        self.at, self.style = at, style

    def __repr__(self):
        return "Stale(client %d (%s) wrote %d, read %d from port %d%s at %.2f s, %s)" % (
            self.client, self.handoff, self.expected, self.seen, self.port,
            " (a replica)" if self.in_recovery else "", self.at, self.style)


class Results:
    """What a run saw, summed over its clients."""

    def __init__(self):
        self.lock = threading.Lock()
        self.writes = self.reads = self.on_replica = 0
        self.token_polls = 0  # SELECT 1s a token writer ran before its token came
        self.stale = []
        self.errors = collections.Counter()
        self.first_error = {}  # kind -> its first message

    def add_error(self, err):
        kind = getattr(err, "sqlstate", None) or type(err).__name__
        with self.lock:
            self.errors[kind] += 1
            self.first_error.setdefault(kind, str(err).strip())

    @property
    def n_errors(self):
        return sum(self.errors.values())

    def summary(self):
        text = "%d writes, %d reads (%d on a replica), %d stale, %d errors" % (
            self.writes, self.reads, self.on_replica, len(self.stale), self.n_errors)
        if self.token_polls:
            text += ", %d polls for a token" % self.token_polls
        if self.errors:
            text += " %s (first: %s)" % (dict(self.errors), "; ".join(
                "%s: %s" % kv for kv in self.first_error.items()))
        return text


class Client(threading.Thread):
    """One checker client: its key, its connections, its last committed value."""

    def __init__(self, checker, index, handoff):
        super().__init__(daemon=True)
        self.checker, self.index, self.handoff = checker, index, handoff
        self.key = "%s-%d" % (checker.run_id, index)
        self.committed = 0   # last value whose commit was acknowledged
        self.next_value = 0  # values only grow, so "older" is "smaller"
        self.writer = self.reader = None
        self.ops = 0

    # -- connections --------------------------------------------------------
    def connect(self):
        self.writer = self.checker.connect()
        self.reader = self.writer if self.handoff == "own" else self.checker.connect()

    def drop_connections(self):
        for c in {id(self.writer): self.writer, id(self.reader): self.reader}.values():
            if c is not None:
                try:
                    c.close()
                except Exception:
                    pass
        self.writer = self.reader = None

    def reconnect(self):
        """After an error: new connections, retried until they work or the run ends."""
        self.drop_connections()
        while not self.checker.stopping.is_set():
            try:
                self.connect()
                return True
            except psycopg.Error as e:
                self.checker.results.add_error(e)
                time.sleep(0.05)
        return False

    # -- one operation ----------------------------------------------------------
    def style(self):
        protocol = PROTOCOLS[self.ops % 3]
        explicit = (self.ops // 3) % 2 == 1
        return protocol, explicit

    def write(self, protocol, explicit, value):
        sql = "UPDATE ryw SET v = %s WHERE k = %s"
        if explicit:
            self.writer.execute("BEGIN", prepare=False)
            run_sql(self.writer, protocol, sql, (value, self.key))
            self.writer.execute("COMMIT", prepare=False)
        else:
            run_sql(self.writer, protocol, sql, (value, self.key))

    def wait_token(self, bound=2.0):
        """The writer's token once it covers the write: an empty one is still coming, and
        each statement's answer may bring it (SELECT 1 asks for nothing else)."""
        deadline = time.time() + bound
        token = self.writer.info.parameter_status("pgsplit.last_write_lsn")
        while not token and time.time() < deadline:
            with self.checker.results.lock:
                self.checker.results.token_polls += 1
            self.writer.execute("SELECT 1", prepare=False)
            token = self.writer.info.parameter_status("pgsplit.last_write_lsn")
        return token

    def pass_token(self):
        """Hand the writer's token to the reader; False when none came in time."""
        token = self.wait_token()
        if not token:
            self.checker.results.add_error(NoToken("no token within 2 s of the write"))
            return False
        self.reader.execute("SET pgsplit.min_lsn = '%s'" % token, prepare=False)
        return True

    def read(self, protocol, explicit):
        sql = "SELECT v, pg_is_in_recovery(), inet_server_port() FROM ryw WHERE k = %s"
        if explicit:
            self.reader.execute("BEGIN READ ONLY", prepare=False)
            row = run_sql(self.reader, protocol, sql, (self.key,)).fetchone()
            self.reader.execute("COMMIT", prepare=False)
            return row
        return run_sql(self.reader, protocol, sql, (self.key,)).fetchone()

    def check(self, row, style):
        res = self.checker.results
        with res.lock:
            res.reads += 1
            res.on_replica += bool(row[1])
            if row[0] < self.committed:
                res.stale.append(Stale(self, self.committed, row[0], row,
                                       time.time() - self.checker.started, style))

    def one_op(self):
        protocol, explicit = style = self.style()
        self.ops += 1
        self.next_value += 1
        self.write(protocol, explicit, self.next_value)
        self.committed = self.next_value
        with self.checker.results.lock:
            self.checker.results.writes += 1
        if self.handoff == "token":
            # the writer reads its row back too: that answer carries the token
            self.check(self.writer.execute(
                "SELECT v, pg_is_in_recovery(), inet_server_port() FROM ryw WHERE k = %s",
                (self.key,)).fetchone(), style)
            if not self.pass_token():
                return
        self.check(self.read(protocol, explicit), style)

    def run(self):
        if not self.reconnect():
            return
        while not self.checker.stopping.is_set():
            try:
                self.one_op()
            except psycopg.Error as e:
                self.checker.results.add_error(e)
                if not self.reconnect():
                    break
        self.drop_connections()


class Checker:
    """`clients` threads against `connect()` (a new pooler connection, autocommit), their
    handoffs taken in turn from `handoffs`, for
    `duration` seconds; `during(checker)` runs in the calling thread meanwhile (the
    fault).  Rows live in table ryw(k, v)
    and are made with `setup_conn` (a direct primary connection) before the start."""

    def __init__(self, connect, clients=8, handoffs=("own",)):
        assert set(handoffs) <= set(HANDOFFS)
        self.connect = connect
        self.run_id = uuid.uuid4().hex[:12]
        self.clients = [Client(self, i, handoffs[i % len(handoffs)]) for i in range(clients)]
        self.results = Results()
        self.stopping = threading.Event()
        self.started = None

    def make_rows(self, setup_conn):
        with setup_conn.cursor() as cur:
            cur.executemany("INSERT INTO ryw VALUES (%s, 0) ON CONFLICT (k) DO UPDATE SET v = 0",
                            [(c.key,) for c in self.clients])

    def run(self, duration, during=None, settle=1.0):
        """Run for `duration` seconds, and at least `settle` seconds after `during`
        returned, so that operations after a fault's end are checked too."""
        self.started = time.time()
        for c in self.clients:
            c.start()
        if during:
            during(self)
        left = max(self.started + duration, time.time() + settle) - time.time()
        time.sleep(left)
        self.stopping.set()
        for c in self.clients:
            c.join(30)
        return self.results
