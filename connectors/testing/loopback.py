"""The lifecycle every loopback simulator shares: bind a free port, serve on a daemon thread, stop."""

from __future__ import annotations

import socketserver
import threading
from types import TracebackType
from typing import Self


class LoopbackServer:
    """Start/stop and context management for a simulator; subclasses say how to bind (`_bind`)."""

    host: str
    port: int
    thread_name = "simulator"

    def _init_lifecycle(self) -> None:
        self._stopping = threading.Event()
        self._server: socketserver.BaseServer | None = None
        self._thread: threading.Thread | None = None

    def _bind(self) -> socketserver.BaseServer:
        """The bound (not yet serving) server."""
        raise NotImplementedError

    def start(self) -> Self:
        """Bind (port 0: any free port) and serve on a daemon thread."""
        self._stopping.clear()
        self._server = self._bind()
        self.port = self._server.server_address[1]  # type: ignore[index]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"{self.thread_name}-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port; sleeping "slow" answers wake up and finish."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server, self._thread = None, None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
