"""A small TCP proxy on loopback that can stop forwarding without closing anything (a silent stall)."""

from __future__ import annotations

import selectors
import socket
import threading


class StallingProxy:
    """Forwards 127.0.0.1:<port> to a target; `stall()` freezes traffic both ways, sockets stay open."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stalled = threading.Event()
        self._stop = threading.Event()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._thread = threading.Thread(target=self._serve, daemon=True, name="stalling-proxy")

    def start(self) -> StallingProxy:
        self._thread.start()
        return self

    def stall(self) -> None:
        """Stop forwarding bytes (nothing is closed: the peers see silence, not a reset)."""
        self._stalled.set()

    def resume(self) -> None:
        self._stalled.clear()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for a, b in self._pairs:
            a.close()
            b.close()
        self._listener.close()

    def __enter__(self) -> StallingProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self) -> None:
        sel = selectors.DefaultSelector()
        self._listener.setblocking(False)
        sel.register(self._listener, selectors.EVENT_READ, None)
        while not self._stop.is_set():
            for key, _ in sel.select(timeout=0.05):
                if key.data is None:
                    self._accept(sel)
                elif not self._stalled.is_set():
                    self._forward(sel, key.fileobj, key.data)  # type: ignore[arg-type]
            if self._stalled.is_set():
                self._stop.wait(0.05)
        sel.close()

    def _accept(self, sel: selectors.BaseSelector) -> None:
        client, _ = self._listener.accept()
        upstream = socket.create_connection(self.target)
        self._pairs.append((client, upstream))
        sel.register(client, selectors.EVENT_READ, upstream)
        sel.register(upstream, selectors.EVENT_READ, client)

    def _forward(self, sel: selectors.BaseSelector, source: socket.socket, sink: socket.socket) -> None:
        try:
            data = source.recv(65536)
            if data:
                sink.sendall(data)
                return
        except OSError:
            pass
        self._drop(sel, source, sink)

    def _drop(self, sel: selectors.BaseSelector, *sockets: socket.socket) -> None:
        """Close both ends of a pair, unregistered first: a new socket may reuse their descriptors."""
        for sock in sockets:
            try:
                sel.unregister(sock)
            except (KeyError, ValueError):  # the other direction dropped it already
                pass
            sock.close()
