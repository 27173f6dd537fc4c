"""A TLS listener on loopback that forwards the decrypted bytes to a plain TCP service.

The local RabbitMQ and Mosquitto have no TLS listener (and are shared, so they are not
reconfigured); this proxy stands in front of them with the certificate and client-certificate
policy of the test's `ssl.SSLContext`. One thread per connection: the handshake, then both
directions through a selector (one SSL object is never used by two threads at once).
"""

from __future__ import annotations

import selectors
import socket
import ssl
import threading
from typing import Self


class TlsProxy:
    """Terminates TLS on 127.0.0.1:<port> and forwards to a target; handshake failures are recorded."""

    def __init__(self, context: ssl.SSLContext, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.context = context
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self.handshake_errors: list[str] = []
        self.sessions = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._serve, daemon=True, name="tls-proxy")

    def start(self) -> Self:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        with self._lock:
            for sock in self._sockets:
                _close(sock)
        for thread in self._threads:
            thread.join(5)
        self._listener.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._connection, args=(client,), daemon=True, name="tls-proxy-conn")
            self._threads.append(thread)
            thread.start()

    def _connection(self, client: socket.socket) -> None:
        client.settimeout(5)
        tls = self.context.wrap_socket(client, server_side=True, do_handshake_on_connect=False)
        self._track(tls)
        try:
            tls.do_handshake()
        except (ssl.SSLError, OSError) as exc:
            self.handshake_errors.append(str(exc))
            _linger(tls)
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _close(tls)
            return
        with self._lock:
            self._sockets.append(upstream)
            self.sessions += 1
        tls.settimeout(None)
        upstream.settimeout(None)
        try:
            self._relay(tls, upstream)
        finally:
            _close(tls)
            _close(upstream)

    def _relay(self, tls: ssl.SSLSocket, upstream: socket.socket) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(tls, selectors.EVENT_READ, upstream)
            sel.register(upstream, selectors.EVENT_READ, tls)
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.1):
                    if not _forward(key.fileobj, key.data):  # type: ignore[arg-type]
                        return
                while tls.pending():  # decrypted bytes the selector cannot see
                    if not _forward(tls, upstream):
                        return

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)


def _forward(source: socket.socket, sink: socket.socket) -> bool:
    """Move one chunk; False when either side is gone."""
    try:
        data = source.recv(65536)
        if data:
            sink.sendall(data)
    except OSError:
        return False
    return bool(data)


def _linger(tls: ssl.SSLSocket) -> None:
    """After a failed handshake, close only once the client has: it reads our alert, not a reset.

    (Closing a socket with unread data sends a reset, which can overtake the alert; TLS 1.3
    clients write their first bytes before the server has judged their certificate.)
    """
    try:
        raw = socket.socket(fileno=tls.detach())
    except OSError:
        return
    try:
        raw.shutdown(socket.SHUT_WR)
        raw.settimeout(2)
        while raw.recv(65536):
            pass
    except OSError:
        pass
    finally:
        raw.close()


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass
