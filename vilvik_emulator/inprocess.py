"""An in-process transport: ``requests`` talking to the emulator's WSGI app with no socket.

Mount it on a session and hand the session to the SDK::

    session = inprocess_session(app)
    client = vilvik.Client(api_key=key, base_url=f"{INPROCESS_URL}/api/v1", session=session)

Requests go through the same Flask app (auth, faults, journal, everything), so a test
gets identical behaviour without a port; an injected ``drop`` fault raises
``requests.ConnectionError`` as a real dropped connection would.
"""

from __future__ import annotations

import io
from http.client import responses as reasons
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from werkzeug.test import EnvironBuilder, run_wsgi_app

from .app import DROPPED_HEADER

INPROCESS_URL = "http://vilvik-emulator.local"


class InProcessAdapter(BaseAdapter):
    def __init__(self, app: Any) -> None:
        super().__init__()
        self.app = app

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        url = str(request.url)
        parts = urlsplit(url)
        body: Any = request.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif body is not None and not isinstance(body, bytes):  # a file-like or generator body
            body = b"".join(chunk if isinstance(chunk, bytes) else chunk.encode() for chunk in body)
        builder = EnvironBuilder(
            path=parts.path or "/", query_string=parts.query, method=request.method or "GET",
            base_url=f"{parts.scheme}://{parts.netloc}", headers=[(name, _text(value)) for name, value in
                                                              request.headers.items()], data=body or b"")
        try:
            environ = builder.get_environ()
        finally:
            builder.close()
        environ["REMOTE_ADDR"] = "127.0.0.1"
        iterable, status, headers = run_wsgi_app(self.app, environ)
        try:
            content = b"".join(iterable)
        finally:
            if hasattr(iterable, "close"):
                iterable.close()
        if headers.get(DROPPED_HEADER):
            raise requests.ConnectionError("connection dropped by an injected fault", request=request)
        response = requests.Response()
        response.status_code = int(status.split(" ", 1)[0])
        response.reason = reasons.get(response.status_code, "")
        response.headers = CaseInsensitiveDict(headers.to_wsgi_list())
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = io.BytesIO(content)
        response._content = content
        response.url = url
        response.request = request
        response.connection = self  # type: ignore[assignment]  # what requests' own adapters set
        return response

    def close(self) -> None:
        pass


def _text(value: str | bytes) -> str:
    """A header value as WSGI wants it (requests allows bytes, which are Latin-1 on the wire)."""
    return value.decode("latin-1") if isinstance(value, bytes) else value


def inprocess_session(app: Any, root: str = INPROCESS_URL) -> requests.Session:
    """A ``requests.Session`` whose requests to ``root`` (default :data:`INPROCESS_URL`) go
    straight into ``app``."""
    session = requests.Session()
    # No socket, so the environment's proxies, netrc and CA bundle never apply; looking
    # them up (every os.environ entry, twice) was a quarter of an in-process call.
    session.trust_env = False
    session.mount(root, InProcessAdapter(app))
    return session
