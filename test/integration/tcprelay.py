"""A loopback TCP relay for tests that need a server to sit somewhere else on the network.

TcpRelay listens on (host, port) (port 0: any free port, read back from .port) and
relays every connection it accepts to a target address, one thread per direction.
Setting .dark turns it into a black hole: connections are still accepted and bytes are
still taken, but nothing gets through either way (a partition where the far side
never answers, rather than refusing). .accepted counts the connections relayed.
"""
import socket
import threading


class TcpRelay:
    def __init__(self, target, host="127.0.0.1", port=0):
        self.target = target
        self.accepted = 0
        self.dark = threading.Event()
        self.closed = threading.Event()
        self.conns = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.closed.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                return  # closed
            self.conns.append(client)
            if self.dark.is_set():
                self._spawn(self._swallow, client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            self.accepted += 1
            self.conns.append(upstream)
            self._spawn(self._pump, client, upstream)
            self._spawn(self._pump, upstream, client)

    @staticmethod
    def _spawn(fn, *args):
        threading.Thread(target=fn, args=args, daemon=True).start()

    @staticmethod
    def _swallow(src):
        try:
            while src.recv(65536):
                pass
        except OSError:
            pass

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if not self.dark.is_set():
                    dst.sendall(data)
        except OSError:
            pass
        # one side ended: end both, so the other pump and both peers see it
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.closed.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        for s in [self.sock] + self.conns:
            try:
                s.close()
            except OSError:
                pass
        self.thread.join(5)
