"""A TCP proxy on loopback that a test puts between the provider and PostgreSQL, to make the
database go silent or away without stopping the PostgreSQL others share (import as
`from fault_support import Proxy`)."""

from __future__ import annotations

import contextlib
import socket
import threading

from oauth_support import free_port


class _Pair:
    """A client's connection and ours to the upstream; `silent` pairs forward nothing more
    (what went silent stays silent, as a hung connection does)."""

    def __init__(self, client: socket.socket, upstream: socket.socket | None) -> None:
        self.client = client
        self.upstream = upstream
        self.silent = upstream is None

    def close(self) -> None:
        for sock in (self.client, self.upstream):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


class Proxy:
    """Forwards 127.0.0.1:`port` to `upstream`. `hang()`: connections open and new ones
    accepted, but nothing answers any more (a hung network or server); `cut()`: connections
    closed and new ones refused (the server stopped); `restore()`: forwarding again."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.connections = 0
        self._lock = threading.Lock()
        self._pairs: list[_Pair] = []
        self._hanging = False
        self._listener: socket.socket | None = None
        self._closed = False
        self._listen()

    # -- the faults ------------------------------------------------------------------------

    def hang(self) -> None:
        with self._lock:
            self._hanging = True
            for pair in self._pairs:
                pair.silent = True

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            pairs, self._pairs = self._pairs, []
        if listener is not None:
            # shutdown wakes the accept() under way (close alone would leave it listening).
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for pair in pairs:
            pair.close()

    def restore(self) -> None:
        with self._lock:
            self._hanging = False
            listening = self._listener is not None
        if not listening:
            self._listen()

    def close(self) -> None:
        self._closed = True
        self.cut()

    # -- forwarding ------------------------------------------------------------------------

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by cut()
            with self._lock:
                hanging = self._hanging
            upstream = None
            if not hanging:
                try:
                    upstream = socket.create_connection(self.upstream, timeout=5)
                    upstream.settimeout(None)
                except OSError:
                    client.close()
                    continue
            pair = _Pair(client, upstream)
            with self._lock:
                self.connections += 1
                self._pairs.append(pair)
            if upstream is not None:
                for source, target in ((client, upstream), (upstream, client)):
                    threading.Thread(
                        target=self._pump, args=(pair, source, target), daemon=True
                    ).start()

    def _pump(self, pair: _Pair, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if not pair.silent:
                    target.sendall(data)
        except OSError:
            pass
        if not pair.silent:
            pair.close()
        elif source is pair.client:
            pair.close()  # the client gave up on a silent connection
