"""TCP socket options on both legs: tcp_keepalive and its timers reach the pooler's
accepted client sockets and its server connections alike (read back with `ss -o`)."""

import re
import subprocess

from harness import query1

KEEPIDLE = 97


def keepalive_timers(pid, port_filter):
    """The keepalive timer seconds of `pid`'s established sockets matching the filter."""
    out = subprocess.run(["ss", "-tnopH", "state", "established", port_filter],
                         capture_output=True, text=True, check=True).stdout
    timers = []
    for line in out.splitlines():
        if "pid=%d," % pid not in line:
            continue
        m = re.search(r"timer:\(keepalive,([^,]+),", line)
        timers.append(m and seconds_of(m.group(1)))
    return timers


def seconds_of(text):
    """ss's duration ("1min36sec", "59sec", "480ms") in seconds."""
    unit = {"min": 60, "sec": 1, "ms": 0.001}
    return sum(float(n) * unit[u] for n, u in re.findall(r"([0-9.]+)(min|sec|ms)", text))


def test_keepalive_on_client_and_server_sockets(pooler, cluster):
    p = pooler(tcp_keepalive=1, tcp_keepidle=KEEPIDLE, tcp_keepintvl=5, tcp_keepcnt=3)
    c = p.connect()
    assert query1(c, "SELECT 1") == 1
    pid = p.proc.pid
    client_leg = keepalive_timers(pid, "sport = :%d" % p.port)
    server_leg = keepalive_timers(pid, "dport = :%d" % cluster.port)
    assert client_leg and server_leg
    # the first probe is due within tcp_keepidle: the setting reached the socket
    for t in client_leg + server_leg:
        assert t is not None and KEEPIDLE - 10 < t <= KEEPIDLE


def test_no_keepalive_when_off(pooler, cluster):
    p = pooler(tcp_keepalive=0)
    c = p.connect()
    assert query1(c, "SELECT 1") == 1
    pid = p.proc.pid
    legs = keepalive_timers(pid, "sport = :%d" % p.port) + \
        keepalive_timers(pid, "dport = :%d" % cluster.port)
    assert legs and all(t is None for t in legs)
