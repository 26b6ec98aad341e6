"""A server that cannot be reached: one that accepts and never answers
(server_connect_timeout) and one where nothing listens. The client gets an error within
the timeout, not a hang, and other databases keep working."""

import socket
import threading
import time

import psycopg
import pytest

from harness import query1


class SilentServer:
    """Accepts TCP connections and never says anything (a hung PostgreSQL)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                self.conns.append(self.sock.accept()[0])
            except (socket.timeout, OSError):
                pass

    def close(self):
        self.stop = True
        self.t.join(2)
        for c in self.conns:
            c.close()
        self.sock.close()

def test_server_connect_timeout(pooler):
    silent = SilentServer()
    try:
        p = pooler(start=False, server_connect_timeout=1, query_wait_timeout=8)
        p.databases["hung"] = "host=127.0.0.1 port=%d dbname=app" % silent.port
        p.start()
        t0 = time.time()
        with pytest.raises(psycopg.OperationalError):
            c = p.connect(db="hung", connect_timeout=15)
            c.execute("SELECT 1")
        assert time.time() - t0 < 12
        assert p.wait_log(r"(?i)connect.*timeout|timeout.*connect", 2)
        # Other databases are unaffected.
        assert query1(p.connect(), "SELECT 1") == 1
    finally:
        silent.close()

def test_server_down_then_up(pooler, cluster):
    """Nothing listens on the server port: the client gets an error, not a hang."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = pooler(start=False, server_login_retry=1, query_wait_timeout=5)
    p.databases["down"] = "host=127.0.0.1 port=%d dbname=app" % port
    p.start()
    t0 = time.time()
    with pytest.raises(psycopg.OperationalError):
        c = p.connect(db="down")
        c.execute("SELECT 1")
    assert time.time() - t0 < 8
    assert query1(p.connect(), "SELECT 1") == 1
