"""Raw PostgreSQL v3 wire protocol for tests that need to misbehave on purpose.

Owns: building frontend messages byte by byte, reading backend messages off a
plain socket, and decoding ErrorResponse/NoticeResponse fields.  psycopg cannot
send garbage, truncated or oversized packets; this module can.
"""

import hashlib
import socket
import struct
import time

PROTO_V3 = 196608          # 3.0
CANCEL_CODE = 80877102
SSL_CODE = 80877103
GSSENC_CODE = 80877104


def startup_packet(params, version=PROTO_V3):
    body = struct.pack("!I", version)
    for k, v in params.items():
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def msg(kind, body=b""):
    """A typed frontend message: 1 byte kind, int32 length (self-inclusive), body."""
    return kind + struct.pack("!I", len(body) + 4) + body


def query(sql):
    return msg(b"Q", sql.encode() + b"\0")


def terminate():
    return msg(b"X")


def password(pw):
    return msg(b"p", pw.encode() + b"\0")


def md5_password(user, pw, salt):
    inner = hashlib.md5((pw + user).encode()).hexdigest()
    return "md5" + hashlib.md5(inner.encode() + salt).hexdigest()


def parse_fields(body):
    """ErrorResponse/NoticeResponse body -> {'S': 'FATAL', 'C': '08P01', 'M': ...}."""
    out = {}
    i = 0
    while i < len(body) and body[i] != 0:
        code = chr(body[i])
        end = body.index(b"\0", i + 1)
        out[code] = body[i + 1:end].decode(errors="replace")
        i = end + 1
    return out


class Closed(Exception):
    """The peer closed the connection."""


class Raw:
    """A blocking socket speaking the frontend side of the protocol by hand."""

    def __init__(self, host, port, timeout=10.0):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        if host.startswith("/"):
            family = socket.AF_UNIX
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if family == socket.AF_UNIX:
            self.sock.connect("%s/.s.PGSQL.%d" % (host, port))
        else:
            self.sock.connect((host, port))
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, n):
        while len(self.buf) < n:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise Closed("connection closed with %d buffered bytes" % len(self.buf))
            self.buf += chunk

    def read_byte(self):
        self._fill(1)
        b, self.buf = self.buf[:1], self.buf[1:]
        return b

    def read_msg(self):
        """Next backend message as (kind: bytes of length 1, body: bytes)."""
        self._fill(5)
        kind = self.buf[:1]
        (length,) = struct.unpack("!I", self.buf[1:5])
        self._fill(1 + length)
        body = self.buf[5:1 + length]
        self.buf = self.buf[1 + length:]
        return kind, body

    def read_until(self, kinds, limit=1000):
        """Read messages until one whose kind is in `kinds`; return all read."""
        seen = []
        for _ in range(limit):
            k, b = self.read_msg()
            seen.append((k, b))
            if k in kinds:
                return seen
        raise AssertionError("no %r in %d messages" % (kinds, limit))

    def expect_error(self):
        """Read until an ErrorResponse and return its fields (skipping notices etc)."""
        for k, b in self.read_until((b"E",)):
            if k == b"E":
                return parse_fields(b)
        raise AssertionError("unreachable")

    def is_closed(self, wait=5.0):
        """True if the peer closes within `wait` seconds (data read meanwhile is dropped)."""
        deadline = time.time() + wait
        self.sock.settimeout(0.2)
        try:
            while time.time() < deadline:
                try:
                    chunk = self.sock.recv(65536)
                except socket.timeout:
                    continue
                except (ConnectionResetError, BrokenPipeError):
                    return True
                if not chunk:
                    return True
                self.buf += chunk
            return False
        finally:
            self.sock.settimeout(10.0)

    def error_or_close(self, wait=10.0):
        """Fields of an ErrorResponse if one arrives before the close, {} on a bare close."""
        self.sock.settimeout(wait)
        try:
            while True:
                k, b = self.read_msg()
                if k == b"E":
                    return parse_fields(b)
        except (Closed, socket.timeout, ConnectionResetError):
            return {}

    def login(self, user, db, pw=None, params=None):
        """Startup + cleartext/md5 auth; returns (BackendKeyData (pid, key), params)."""
        p = {"user": user, "database": db}
        p.update(params or {})
        self.send(startup_packet(p))
        status = {}
        key = None
        while True:
            k, b = self.read_msg()
            if k == b"R":
                (code,) = struct.unpack("!I", b[:4])
                if code == 0:
                    continue
                if code == 3:
                    self.send(password(pw))
                elif code == 5:
                    self.send(password(md5_password(user, pw, b[4:8])))
                else:
                    raise AssertionError("auth method %d not supported by Raw" % code)
            elif k == b"S":
                name, val = b.split(b"\0")[:2]
                status[name.decode()] = val.decode()
            elif k == b"K":
                key = struct.unpack("!II", b)
            elif k == b"E":
                raise AssertionError("login failed: %r" % parse_fields(b))
            elif k == b"Z":
                return key, status

    def simple(self, sql):
        """Run a simple query; returns (rows as lists of str|None, errors list)."""
        self.send(query(sql))
        rows, errors = [], []
        while True:
            k, b = self.read_msg()
            if k == b"D":
                (n,) = struct.unpack("!H", b[:2])
                pos, row = 2, []
                for _ in range(n):
                    (ln,) = struct.unpack("!i", b[pos:pos + 4])
                    pos += 4
                    if ln < 0:
                        row.append(None)
                    else:
                        row.append(b[pos:pos + ln].decode())
                        pos += ln
                rows.append(row)
            elif k == b"E":
                errors.append(parse_fields(b))
            elif k == b"Z":
                return rows, errors
