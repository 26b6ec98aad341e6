"""Socket and buffer settings: tcp_keepalive and its timers reach the pooler's accepted
client sockets and its server connections alike (read back with `ss -o`), so_reuseport
lets two processes share a port, unix_socket_mode sets the socket file's mode, a
tiny pkt_buf still streams big rows, parameters and COPY, tcp_socket_buffer sizes both
legs' kernel buffers (`ss -m`), and tcp_defer_accept reaches the listening socket."""

import ctypes
import os
import re
import socket
import stat
import subprocess
import time

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
    # ss shows one timer per socket: while sent bytes wait for their ACK it shows the
    # retransmit timer instead of the keepalive one, so read again until the legs idle
    for _ in range(20):
        client_leg = keepalive_timers(pid, "sport = :%d" % p.port)
        server_leg = keepalive_timers(pid, "dport = :%d" % cluster.port)
        if None not in client_leg + server_leg:
            break
        time.sleep(0.1)
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


def test_so_reuseport_two_processes(pooler):
    a = pooler(so_reuseport=1, pool_mode="transaction")
    b = pooler(start=False, so_reuseport=1, pool_mode="transaction")
    b.port = a.port
    b.settings["listen_port"] = str(a.port)
    b.settings["unix_socket_dir"] = ""        # one Unix socket path per port
    b.start()
    assert a.alive() and b.alive()
    conns = [a.connect() for _ in range(6)]
    assert all(query1(c, "SELECT 1") == 1 for c in conns)

def test_unix_socket_mode(pooler):
    p = pooler(unix_socket_mode="0700")
    path = os.path.join(p.dir, ".s.PGSQL.%d" % p.port)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700

def test_small_pkt_buf(pooler):
    """Everything streams through a tiny buffer: big rows, big params, COPY."""
    p = pooler(pool_mode="transaction", pkt_buf=512, default_pool_size=2)
    c = p.connect()
    big = "q" * 300000
    assert query1(c, "SELECT length(%s)", (big,)) == len(big)
    rows = c.execute("SELECT g, repeat('r', 1000) FROM generate_series(1, 500) g").fetchall()
    assert len(rows) == 500 and rows[-1][1] == "r" * 1000
    c.execute("CREATE TEMP TABLE IF NOT EXISTS pk(x text)")  # same implicit txn only
    out = bytearray()
    with c.cursor().copy("COPY (SELECT repeat('c', 100) FROM generate_series(1, 2000)) TO STDOUT") as cp:
        for chunk in cp:
            out += chunk
    assert bytes(out).count(b"\n") == 2000


def socket_memory(pid, port_filter):
    """(rb, tb) of skmem for `pid`'s established sockets matching the filter (`ss -m`)."""
    out = subprocess.run(["ss", "-tnmpH", "state", "established", port_filter],
                         capture_output=True, text=True, check=True).stdout
    found, mine = [], False
    for line in out.splitlines():
        if not line[:1].isspace():
            mine = "pid=%d," % pid in line
            continue
        m = re.search(r"skmem:\(r\d+,rb(\d+),t\d+,tb(\d+)", line)
        if mine and m:
            found.append((int(m.group(1)), int(m.group(2))))
    return found


def test_tcp_socket_buffer_on_client_and_server_sockets(pooler, cluster):
    p = pooler(tcp_socket_buffer=50000)
    c = p.connect()
    assert query1(c, "SELECT 1") == 1
    legs = socket_memory(p.proc.pid, "sport = :%d" % p.port) + \
        socket_memory(p.proc.pid, "dport = :%d" % cluster.port)
    # Linux doubles SO_RCVBUF / SO_SNDBUF for its bookkeeping and shows the doubled size
    assert len(legs) >= 2 and all(leg == (100000, 100000) for leg in legs), legs


def test_tcp_socket_buffer_zero_keeps_kernel_default(pooler, cluster):
    p = pooler(tcp_socket_buffer=0)
    c = p.connect()
    assert query1(c, "SELECT 1") == 1
    legs = socket_memory(p.proc.pid, "sport = :%d" % p.port) + \
        socket_memory(p.proc.pid, "dport = :%d" % cluster.port)
    assert legs and all(leg != (100000, 100000) for leg in legs), legs


def listen_socket_option(pid, port, level, name):
    """getsockopt on `pid`'s TCP listening socket for `port`, through a copy of its
    descriptor (pidfd_getfd(2), Linux 5.6+, needs ptrace rights over the process)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        for name_ in os.listdir("/proc/%d/fd" % pid):
            if not os.readlink("/proc/%d/fd/%s" % (pid, name_)).startswith("socket:"):
                continue
            fd = libc.syscall(SYS_PIDFD_GETFD, pidfd, int(name_), 0)
            if fd < 0:
                raise OSError(ctypes.get_errno(), "pidfd_getfd")
            s = socket.socket(fileno=fd)
            try:
                if (s.family in (socket.AF_INET, socket.AF_INET6) and
                        s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) and
                        s.getsockname()[1] == port):
                    return s.getsockopt(level, name)
            finally:
                s.close()
    finally:
        os.close(pidfd)
    raise AssertionError("no listening socket on port %d" % port)


SYS_PIDFD_GETFD = 438      # the same number on x86_64 and aarch64


def test_tcp_defer_accept_on_listen_socket(pooler):
    on = pooler(tcp_defer_accept=1)
    off = pooler(tcp_defer_accept=0)
    # pgsplit asks for 45 seconds; the kernel stores SYN-ACK retransmissions and reads
    # back the time they cover, which is at least what was asked
    assert listen_socket_option(on.proc.pid, on.port, socket.IPPROTO_TCP,
                                socket.TCP_DEFER_ACCEPT) >= 45
    assert listen_socket_option(off.proc.pid, off.port, socket.IPPROTO_TCP,
                                socket.TCP_DEFER_ACCEPT) == 0
    assert query1(on.connect(), "SELECT 1") == 1
