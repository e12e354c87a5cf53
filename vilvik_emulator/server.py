"""A real HTTP server around an emulator, bound when constructed.

Binding happens in the constructor, in the caller's thread, so "port in use" fails at
once with a clear error instead of a background thread that never answers (a
complaint users have of other emulators). ``port=0`` picks a free port.
"""

from __future__ import annotations

import socket
import threading

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .app import create_app
from .emulator import Emulator


class _QuietHandler(WSGIRequestHandler):
    """No log line per request.

    Werkzeug's development server closes the connection after every response (it drains
    unread request bodies by reading the socket, which would swallow a kept-alive
    client's next request), so each SDK request opens a new connection; on loopback that
    costs a few milliseconds per request (see bench/README.md).
    """

    protocol_version = "HTTP/1.1"

    def log_request(self, code="-", size="-") -> None:
        if self.server.log_requests:  # type: ignore[attr-defined]
            super().log_request(code, size)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class EmulatorServer:
    def __init__(self, emulator: Emulator, host: str = "127.0.0.1", port: int = 0, *,
                 log_requests: bool = False) -> None:
        self.emulator = emulator
        self.app = create_app(emulator)
        # Bind here (not inside werkzeug, which prints and exits on EADDRINUSE) so a
        # taken port is an OSError the caller can report or a test can see.
        self._socket = socket.create_server((host, port), family=_family(host), backlog=128)
        self._server: BaseWSGIServer = make_server(host, port, self.app, threaded=True,
                                                   request_handler=_QuietHandler, fd=self._socket.fileno())
        self._server.log_requests = log_requests  # type: ignore[attr-defined]
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        emulator.public_url = self.url

    @property
    def host(self) -> str:
        return self._server.host

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v1"

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.1)

    def start(self) -> "EmulatorServer":
        """Serve from a background thread (tests, the pytest plugin)."""
        self._thread = threading.Thread(target=self.serve_forever, name="vilvik-emulator-http", daemon=True)
        self._thread.start()
        return self

    def shutdown(self) -> None:
        """Stop accepting requests (safe to call from any thread but the serving one)."""
        self._server.shutdown()
        self._server.server_close()
        self._socket.close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def stop(self) -> None:
        """Stop serving, stop the jobs, checkpoint and close the store."""
        self.shutdown()
        self.emulator.close()
