"""The HTTP server: the emulator's WSGI app on waitress, bound when constructed.

Binding happens in the constructor, in the caller's thread, so "port in use" fails at
once with a clear error instead of a background thread that never answers (a
complaint users have of other emulators). ``port=0`` picks a free port.

Waitress was chosen over cheroot by measurement (bench/README.md): the same keep-alive
latency, and it reads every request, body included, in one event loop before a thread
runs it, so a client that never sends its body holds a socket, not a thread. Around the
app the server adds, for requests that came over the socket only: the Host check
(:mod:`.guard`), dropped connections for the ``drop`` fault, and the request log. The
task threads grow on demand, so long control-plane waits never starve other requests.
"""

from __future__ import annotations

import contextlib
import logging
import resource
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import ClientDisconnected, HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError, get_header_lines
from waitress.rfc7230 import HEADER_FIELD_RE
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher

from .app import DROPPED_HEADER, create_app
from .emulator import Emulator
from .errors import ApiError
from .guard import HostGuard, HostPolicy, error_response

#: seconds a connection may stay silent before it is closed: an idle keep-alive
#: connection, or a request whose body (or rest of its headers) never comes
IDLE_TIMEOUT = 30
#: task threads kept from the start, and the most there may be (one per request running)
MIN_THREADS = 4
MAX_THREADS = 256
#: seconds in-flight requests get to finish when the server stops
STOP_GRACE = 2.0
#: file descriptors kept for the store, job pipes and logs, out of the process's limit
RESERVED_DESCRIPTORS = 256

log = logging.getLogger("vilvik_emulator.requests")


class ElasticDispatcher(ThreadedTaskDispatcher):
    """Waitress's task threads, started as needed: a request never queues behind long
    ones (control-plane waits, webhook drains) while fewer than ``maximum`` run.

    Threads are not stopped once idle: the pool stays at its peak (bounded by
    ``maximum``), which costs a little memory and no CPU.
    """

    def __init__(self, minimum: int = MIN_THREADS, maximum: int = MAX_THREADS) -> None:
        super().__init__()
        self.maximum = maximum
        self.set_thread_count(minimum)

    def add_task(self, task: Any) -> None:
        with self.lock:
            self.queue.append(task)
            self.queue_cv.notify()
            running = len(self.threads) - self.stop_count
            idle = running - self.active_count
            if len(self.queue) <= idle:
                return
            if running >= self.maximum:
                self.queue_logger.warning("all %d task threads are busy; %d request(s) wait", running,
                                          len(self.queue) - idle)
                return
            # The bookkeeping of waitress's set_thread_count, which takes this lock itself.
            number = 0
            while number in self.threads:
                number += 1
            self.threads.add(number)
            self.active_count += 1
            self.start_new_thread(self.handler_thread, number)


class _DropConnections:
    """Turns the app's "drop this connection" response (the ``drop`` fault) into a
    connection closed without any response, as a real network failure looks."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        dropped = False

        def checking_start_response(status: str, headers: list[tuple[str, str]],
                                    exc_info: Any = None) -> Callable[[bytes], object]:
            nonlocal dropped
            if any(name == DROPPED_HEADER for name, _ in headers):
                dropped = True
                return lambda data: None
            return start_response(status, headers, exc_info)

        body = self.app(environ, checking_start_response)
        if not dropped:
            return body
        with contextlib.suppress(AttributeError):
            body.close()
        # Waitress closes the connection without writing anything when its client is gone.
        raise ClientDisconnected("connection dropped by an injected fault")


class _RequestLog:
    """One line per request on the ``vilvik_emulator.requests`` logger (``serve --log-requests``)."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = time.perf_counter()

        def logging_start_response(status: str, headers: list[tuple[str, str]],
                                   exc_info: Any = None) -> Callable[[bytes], object]:
            query = environ.get("QUERY_STRING")
            target = environ.get("PATH_INFO", "") + (f"?{query}" if query else "")
            log.info('%s "%s %s %s" %s %.1f ms', environ.get("REMOTE_ADDR", "-"), environ.get("REQUEST_METHOD"),
                     target, environ.get("SERVER_PROTOCOL"), status.split(" ", 1)[0],
                     (time.perf_counter() - started) * 1000)
            return start_response(status, headers, exc_info)

        return self.app(environ, logging_start_response)


class _RequestParser(HTTPRequestParser):
    """Waitress's parser, naming the header it refuses (a control character in an
    ``Idempotency-Key`` is then a 400 that says so, as the contract wants)."""

    def parse_header(self, header_plus: bytes) -> None:
        try:
            super().parse_header(header_plus)
        except ParsingError as error:
            if error.args[0] != "Invalid header":
                raise
            _, _, fields = header_plus.partition(b"\r\n")
            for line in get_header_lines(fields):
                if not HEADER_FIELD_RE.match(line):
                    name = line.partition(b":")[0].decode("latin-1")
                    raise ParsingError(f"the {name} header is not valid HTTP (a header value may not contain "
                                       "control characters)") from None
            raise


class _JsonErrorTask(ErrorTask):
    """Waitress's own refusals (a malformed request, a body over its limit) in the
    emulator's JSON error envelope, like every other error."""

    def execute(self) -> None:
        problem = self.request.error
        code = {413: "payload_too_large"}.get(problem.code, "internal_error" if problem.code >= 500
                                                   else "invalid_parameter")
        error = ApiError(code, f"{problem.reason}: {problem.body}", status=problem.code)
        status, headers, body = error_response(error, self.channel.server.emulator_version)
        self.status = status
        self.response_headers.extend(headers)
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class _Channel(HTTPChannel):
    parser_class = _RequestParser
    error_task_class = _JsonErrorTask


class _Server(TcpWSGIServer):
    channel_class = _Channel

    def __init__(self, *args: Any, emulator_version: str, **kwargs: Any) -> None:
        self.emulator_version = emulator_version
        super().__init__(*args, **kwargs)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (0: a free port), for :class:`EmulatorServer`'s ``sock``:
    ``serve`` binds before it opens the database, so a taken port writes nothing."""
    return socket.create_server((host, port), family=_family(host), backlog=1024)


def _connection_limit() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 100_000
    return max(64, soft - RESERVED_DESCRIPTORS)


class EmulatorServer:
    """The emulator over HTTP/1.1 with keep-alive, on ``host``:``port``.

    ``app`` is the bare Flask app (in-process transports call it directly, with no
    Host check); what the socket serves is that app inside the server's middleware.
    ``allowed_hosts`` adds names to the ones the Host check accepts (see
    :class:`~vilvik_emulator.guard.HostPolicy`); ``idle_timeout`` is the seconds a
    connection may stay silent, ``max_threads`` how many requests may run at once;
    ``sock`` is a socket :func:`bind` made on ``host``:``port`` (the server binds one otherwise);
    ``stop_grace`` the seconds :meth:`shutdown` lets requests in flight finish.
    """

    def __init__(self, emulator: Emulator, host: str = "127.0.0.1", port: int = 0, *,
                 log_requests: bool = False, allowed_hosts: Iterable[str] = (),
                 idle_timeout: int = IDLE_TIMEOUT, max_threads: int = MAX_THREADS,
                 sock: socket.socket | None = None, stop_grace: float = STOP_GRACE) -> None:
        self.emulator = emulator
        self.stop_grace = stop_grace
        self.app = create_app(emulator)
        self._host = host
        # Bind here, in the caller's thread, so a taken port is an OSError the caller
        # can report or a test can see.
        self._socket = sock if sock is not None else bind(host, port)
        self.policy = HostPolicy.for_bind(host, self._socket.getsockname()[0], allowed_hosts)
        wsgi: Callable = HostGuard(_DropConnections(self.app), self.policy, emulator.version)
        if log_requests:
            wsgi = _RequestLog(wsgi)
            if not log.handlers and not logging.getLogger().handlers:
                log.addHandler(logging.StreamHandler())
            log.setLevel(logging.INFO)
        adjustments = Adjustments(
            sockets=[self._socket],
            channel_timeout=idle_timeout,
            cleanup_interval=max(1, min(idle_timeout // 4, 10)),
            connection_limit=_connection_limit(),
            asyncore_use_poll=True,  # select() stops at 1,024 descriptors
            log_socket_errors=False,  # a client hanging up is not the server's error
            clear_untrusted_proxy_headers=False,  # no proxy is trusted, and the app reads no X-Forwarded-*
            recv_bytes=65536,
        )
        self._map: dict = {}
        self._dispatcher = ElasticDispatcher(min(MIN_THREADS, max_threads), max_threads)
        sockinfo = (self._socket.family, self._socket.type, self._socket.proto, self._socket.getsockname())
        self._server = _Server(wsgi, map=self._map, _sock=self._socket, dispatcher=self._dispatcher,
                               adj=adjustments, bind_socket=False, sockinfo=sockinfo,
                               emulator_version=emulator.version)
        self._port: int = self._socket.getsockname()[1]
        self._thread: threading.Thread | None = None
        self._serving = False
        self._stop_requested = threading.Event()
        #: held while pulling the loop's trigger and while the loop closes it: a closed
        #: pipe's descriptor may already belong to another file
        self._trigger_lock = threading.Lock()
        self._stopped = threading.Event()
        emulator.public_url = self.url

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v1"

    def stats(self) -> dict[str, int]:
        """Task threads (started on demand), those running a request, and open connections."""
        with self._dispatcher.lock:
            threads = len(self._dispatcher.threads) - self._dispatcher.stop_count
            busy = self._dispatcher.active_count
        return {"threads": threads, "busy_threads": busy, "connections": len(self._server.active_channels)}

    # ------------------------------------------------------------------ serving

    def serve_forever(self) -> None:
        """Serve until :meth:`shutdown` (called from another thread, or a signal handler's thread)."""
        self._serving = True
        deadline = None
        try:
            while self._map:
                wasyncore.loop(timeout=0.05 if deadline else 1.0, map=self._map, use_poll=True, count=1)
                if self._stop_requested.is_set():
                    if deadline is None:
                        deadline = time.monotonic() + self.stop_grace
                        wasyncore.dispatcher.close(self._server)  # no new connections; the trigger stays
                    self._close_idle_connections(force=time.monotonic() >= deadline)
        finally:
            self._dispatcher.set_thread_count(0)  # idle threads leave; busy ones are daemons
            self._stopped.set()

    def _close_idle_connections(self, *, force: bool) -> None:
        """While stopping: close connections with no request running (or all, at the deadline);
        once none is left, close the trigger too, which ends the loop."""
        busy = False
        for channel in list(self._server.active_channels.values()):
            if force or not (channel.requests or channel.total_outbufs_len):
                channel.handle_close()
            else:
                busy = True
        if not busy:
            with self._trigger_lock:
                wasyncore.close_all(self._map)

    def start(self) -> EmulatorServer:
        """Serve from a background thread (tests, the pytest plugin)."""
        self._serving = True
        self._thread = threading.Thread(target=self.serve_forever, name="vilvik-emulator-http", daemon=True)
        self._thread.start()
        return self

    def shutdown(self) -> None:
        """Stop accepting, give in-flight requests ``stop_grace`` seconds, close every
        connection. Safe to call from any thread but the serving one, and more than once."""
        if not self._serving:
            wasyncore.close_all(self._map)
            self._dispatcher.set_thread_count(0)
            return
        with self._trigger_lock:
            if not self._stop_requested.is_set():
                self._stop_requested.set()
                self._server.pull_trigger()
        self._stopped.wait()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def stop(self) -> None:
        """Stop serving, stop the jobs, checkpoint and close the store."""
        self.shutdown()
        self.emulator.close()
