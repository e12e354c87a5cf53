"""The two routes an intercepted request can take (see :mod:`.transports`).

* :class:`InProcessRoute`: into the emulator's WSGI app in this process, with no socket:
  the same app a server runs, so auth, faults, the journal and idempotency all apply; the
  request keeps its ``https://vilvik.com`` URL, so the links the app builds from the Host
  keep pointing at the hosted base.
* :class:`ForwardRoute`: to a running emulator server over HTTP, with that server's Host
  and the hosted base the client addressed in ``X-Vilvik-Emulator-Public-Base``, so the
  server builds its links on that base; never through a proxy.

``requests`` and ``httpx`` are imported inside the methods: a route is created (by the
``exec`` hook) before either module is loaded, and the methods only run once one is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .hosts import PUBLIC_BASE_HEADER, public_base_of

if TYPE_CHECKING:
    import httpx
    import requests

#: the error a real socket raises when the server drops the connection before answering
_DROPPED = "Server disconnected without sending a response."


class InProcessRoute:
    def __init__(self, app: Any, hosts: frozenset[str]) -> None:
        from ..inprocess import InProcessAdapter

        self.app = app
        self.hosts = hosts
        self._adapter = InProcessAdapter(app)
        self._wsgi: Any = None  # httpx.WSGITransport, built on first use

    def send_requests(self, original: Callable, adapter: Any, request: requests.PreparedRequest,
                      **kwargs: Any) -> requests.Response:
        return self._adapter.send(request, **kwargs)

    def handle_httpx(self, original: Callable, transport: Any, request: httpx.Request) -> httpx.Response:
        import httpx

        from ..app import DROPPED_HEADER

        if self._wsgi is None:
            self._wsgi = httpx.WSGITransport(app=self.app)
        request.read()
        response = self._wsgi.handle_request(request)
        content = response.read()
        response.close()
        if response.headers.get(DROPPED_HEADER):
            raise httpx.RemoteProtocolError(_DROPPED, request=request)
        return httpx.Response(response.status_code, headers=response.headers, content=content)

    async def handle_httpx_async(self, original: Callable, transport: Any, request: httpx.Request) -> httpx.Response:
        import anyio.to_thread

        await request.aread()
        # The app is synchronous (a sync-mode create runs the whole job): keep it off the event loop.
        return await anyio.to_thread.run_sync(self.handle_httpx, original, transport, request)

    def close(self) -> None:
        if self._wsgi is not None:
            self._wsgi.close()


class ForwardRoute:
    def __init__(self, url: str, hosts: frozenset[str]) -> None:
        self.url = url.rstrip("/")
        self.hosts = hosts
        self._httpx: Any = None  # an httpx.HTTPTransport of our own (no proxy), built on first use

    def _target(self, url: str) -> str:
        parts = urlsplit(url)
        return self.url + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def send_requests(self, original: Callable, adapter: Any, request: requests.PreparedRequest,
                      **kwargs: Any) -> requests.Response:
        forwarded = request.copy()
        url = str(request.url)
        forwarded.url = self._target(url)
        forwarded.headers.pop("Host", None)
        forwarded.headers[PUBLIC_BASE_HEADER] = public_base_of(url)
        kwargs["proxies"] = {}  # the emulator is local: a proxy configured for the internet must not see it
        response = original(adapter, forwarded, **kwargs)
        response.url = request.url
        response.request = request
        return response

    def _forwarded(self, request: httpx.Request) -> httpx.Request:
        import httpx

        target = self._target(str(request.url))
        # Given a stream, httpx sets no Host of its own: name the server's.
        headers = [("Host", urlsplit(target).netloc)]
        headers += [(name, value) for name, value in request.headers.multi_items() if name.lower() != "host"]
        headers.append((PUBLIC_BASE_HEADER, public_base_of(str(request.url))))
        return httpx.Request(request.method, target, headers=headers, stream=request.stream,
                             extensions=request.extensions)

    def handle_httpx(self, original: Callable, transport: Any, request: httpx.Request) -> httpx.Response:
        import httpx

        if self._httpx is None:
            self._httpx = httpx.HTTPTransport()
        return original(self._httpx, self._forwarded(request))

    async def handle_httpx_async(self, original: Callable, transport: Any, request: httpx.Request) -> httpx.Response:
        import httpx

        # A connection pool belongs to one event loop, so each call gets its own transport,
        # and the body is read before that transport closes.
        async with httpx.AsyncHTTPTransport() as own:
            response = await original(own, self._forwarded(request))
            content = b"".join([chunk async for chunk in response.aiter_raw()])
            await response.aclose()
        return httpx.Response(response.status_code, headers=response.headers, content=content)

    def close(self) -> None:
        if self._httpx is not None:
            self._httpx.close()
