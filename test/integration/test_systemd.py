"""Running under systemd: sd_notify messages (READY=1 once the listeners are up,
RELOADING=1 then READY=1 around a SIGHUP reload, STOPPING=1 on shutdown) sent to the
datagram socket named in NOTIFY_SOCKET, and socket activation (listening sockets handed
in as fds 3.. with LISTEN_FDS / LISTEN_PID are used instead of binding)."""

import fcntl
import os
import signal
import socket
import time
import uuid

import pytest

from harness import make_pg_dir, pgsplit_only, pooler_bin, query1

pytestmark = pgsplit_only("sd_notify and socket activation are pgsplit's")


def notify_listener(kind):
    """A datagram socket for NOTIFY_SOCKET: a file the postgres user may write to, or
    an abstract name ('@...' in the variable, a leading NUL in the address)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if kind == "path":
        d = make_pg_dir("pgsplit-notify-")
        name = addr = os.path.join(d, "notify")
        s.bind(addr)
        os.chmod(addr, 0o777)
    else:
        name = "@pgsplit-test-" + uuid.uuid4().hex
        s.bind("\0" + name[1:])
    return s, name


def next_message(sock, timeout=10.0):
    sock.settimeout(timeout)
    data = sock.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.split("\n") if line)


@pytest.mark.parametrize("kind", ["path", "abstract"])
def test_notify_ready_reloading_stopping(pooler, monkeypatch, kind):
    sock, name = notify_listener(kind)
    monkeypatch.setenv("NOTIFY_SOCKET", name)
    p = pooler(start=False)
    p.start(wait=False)
    ready = next_message(sock)
    assert ready["READY"] == "1"
    assert int(ready["MAINPID"]) == p.proc.pid
    # READY=1 promises a listening socket: the first connect must work, no retry
    assert query1(p.connect(), "SELECT 1") == 1

    before = time.monotonic()
    p.signal(signal.SIGHUP)
    reloading = next_message(sock)
    assert reloading["RELOADING"] == "1"
    # systemd matches the reload by this CLOCK_MONOTONIC stamp, in microseconds
    stamp = int(reloading["MONOTONIC_USEC"]) / 1e6
    assert before - 0.01 <= stamp <= time.monotonic() + 0.01
    assert next_message(sock)["READY"] == "1"

    p.close_clients()
    p.expect_exit = True
    p.signal(signal.SIGTERM)
    assert next_message(sock) == {"STOPPING": "1"}
    assert p.proc.wait(10) == 0
    sock.close()


def test_notify_stopping_on_sigint(pooler, monkeypatch):
    sock, name = notify_listener("path")
    monkeypatch.setenv("NOTIFY_SOCKET", name)
    p = pooler()
    assert next_message(sock)["READY"] == "1"
    p.expect_exit = True
    p.signal(signal.SIGINT)
    assert next_message(sock) == {"STOPPING": "1"}
    assert p.proc.wait(10) == 0


def high_fd(sock):
    """A copy of the socket's fd above the ones the wrapper moves it to (3, 4, 5)."""
    return fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD, 10)


def listening_tcp():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s, s.getsockname()[1]


def test_socket_activation_uses_handed_in_sockets(pooler):
    """What systemd does for a .socket unit: the sockets are bound and listening before
    the service starts.  The test keeps its own copies open, so a pgsplit that tried to
    bind the same addresses itself would fail to start."""
    tcp, port = listening_tcp()
    extra, extra_port = listening_tcp()
    p = pooler(start=False, listen_port=port)
    p.port = port
    unix_path = os.path.join(p.dir, ".s.PGSQL.%d" % port)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(unix_path)
    unix.listen(16)
    os.chmod(unix_path, 0o777)
    fds = [high_fd(s) for s in (tcp, unix, extra)]
    moves = " ".join("%d<&%d %d<&-" % (3 + i, fd, fd) for i, fd in enumerate(fds))
    # bash keeps its pid across exec, so LISTEN_PID names pgsplit as the protocol asks
    script = 'exec %s; export LISTEN_PID=$$ LISTEN_FDS=3; exec "$@"' % moves
    p.command = lambda *args: ["bash", "-c", script, "activate", pooler_bin(),
                               *args, p.ini_path]
    p.start(pass_fds=fds)
    for fd in fds:
        os.close(fd)

    assert query1(p.connect(), "SELECT 1") == 1
    assert query1(p.connect(host=p.dir), "SELECT 2") == 2
    # a handed-in socket that matches no configured address is listened on as well
    assert query1(p.connect(port=extra_port), "SELECT 3") == 3
    log = p.output()
    assert "could not listen" not in log
    assert "listening socket for port %d handed in" % port in log
    assert "unix socket %s handed in" % unix_path in log
    assert "extra listening socket" in log

    p.expect_exit = True
    assert p.stop() == 0
    # the socket file belongs to the service manager, which keeps listening on it
    assert os.path.exists(unix_path)
    for s in (tcp, unix, extra):
        s.close()


def test_socket_activation_ignores_fds_meant_for_another_pid(pooler):
    """LISTEN_PID names another process: the fds are not ours and pgsplit binds its
    configured addresses as usual."""
    tcp, other_port = listening_tcp()
    fd = high_fd(tcp)
    p = pooler(start=False)
    script = 'exec 3<&%d %d<&-; export LISTEN_PID=1 LISTEN_FDS=1; exec "$@"' % (fd, fd)
    p.command = lambda *args: ["bash", "-c", script, "activate", pooler_bin(),
                               *args, p.ini_path]
    p.start(pass_fds=(fd,))
    os.close(fd)
    assert query1(p.connect(), "SELECT 1") == 1
    assert "handed in" not in p.output()
    tcp.close()
