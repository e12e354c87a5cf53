"""Guards between the emulator and the web pages its user opens (issue "Hardening" #6).

A loopback server whose control plane needs no token is within reach of every page a
browser shows: a cross-site "simple" request (a form post, or a ``fetch`` with a
``text/plain`` body or none) goes out without a CORS preflight, and DNS rebinding lets
a page on ``attacker.example`` talk to ``127.0.0.1`` as if it were its own origin.
Two rules close both:

* :class:`HostGuard`, WSGI middleware the HTTP server wraps around the app: a request
  that came over the socket must name this server in ``Host`` (a rebinding page sends
  its own name). In-process transports never touch a socket and send foreign names on
  purpose (``vilvik-emulator.local``, ``vilvik.com``), so the check lives in the server
  layer, not in the Flask app.
* :func:`refuse_cross_site`, run before every control-plane view: a state-changing call
  needs ``Content-Type: application/json`` (a page can only send that cross-site after
  a preflight the emulator never grants), and an ``Origin``, when a browser sent one,
  must be this server's own.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urlsplit

from flask import request

from .errors import ApiError
from .hosts import LOOPBACK_NAMES, is_loopback
from .ids import request_id

#: bind addresses meaning "every interface"
WILDCARD_ADDRESSES = frozenset({"", "0.0.0.0", "::"})
STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def host_name(header: str) -> str | None:
    """The name in a ``Host`` header, lower-case, without port, brackets or final dot;
    ``None`` when the header is malformed."""
    value = header.strip().lower()
    if value.startswith("["):
        name, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        return name
    name, colon, port = value.partition(":")
    if colon and not port.isdigit():
        return None
    return name.rstrip(".") or None


@dataclass(frozen=True)
class HostPolicy:
    """Which ``Host`` names a server answers to (any port: a tunnel or a container's port
    mapping changes the port, and DNS rebinding cannot forge a name)."""

    names: frozenset[str]
    #: a server on every interface also answers to any IP address: a rebinding page
    #: always sends a name, never a literal address
    any_ip_address: bool = False

    @classmethod
    def for_bind(cls, bind_host: str, bound_address: str, extra_names: Iterable[str] = ()) -> HostPolicy:
        """The policy of a server bound to ``bind_host`` (as given) at ``bound_address``
        (the socket's own), plus ``extra_names`` (``serve --allow-host``)."""
        names = {name.lower().strip("[]") for name in extra_names}
        if bind_host in WILDCARD_ADDRESSES:
            return cls(frozenset(names | LOOPBACK_NAMES | {socket.gethostname().lower()}), any_ip_address=True)
        names |= {bind_host.lower().strip("[]"), bound_address.lower()}
        if is_loopback(bound_address):
            names |= LOOPBACK_NAMES
        return cls(frozenset(names))

    def allows(self, header: str | None) -> bool:
        if header is None:
            return True  # HTTP/1.0 without Host: not a browser, so not a rebinding page
        name = host_name(header)
        if name is None:
            return False
        return name in self.names or (self.any_ip_address and _is_ip_literal(name))


def error_response(error: ApiError, version: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """A WSGI status, headers and body for ``error`` outside the Flask app (the same
    envelope and identity headers as the app's own errors)."""
    identifier = request_id()
    body = json.dumps(error.body(identifier), separators=(",", ":")).encode()
    headers = [("Content-Type", "application/json; charset=utf-8"), ("X-Request-Id", identifier),
               ("X-Vilvik-Emulator", version)]
    return f"{error.status} {HTTPStatus(error.status).phrase}", headers, body


class HostGuard:
    """WSGI middleware: 403 ``forbidden_host`` (the JSON error envelope) for a ``Host``
    the policy refuses, on every path (API, control plane, dashboard)."""

    def __init__(self, app: Callable, policy: HostPolicy, version: str) -> None:
        self.app = app
        self.policy = policy
        self.version = version

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        host = environ.get("HTTP_HOST")
        if self.policy.allows(host):
            return self.app(environ, start_response)
        error = ApiError("forbidden_host", f"this emulator does not answer to the host name {host!r}; address it "
                                           "by the name it is bound to (e.g. 127.0.0.1 or localhost), or start it "
                                           "with --allow-host", status=403)
        status, headers, body = error_response(error, self.version)
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]


def _origin_key(url: str) -> tuple[str, str, int | None] | None:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    return parts.scheme.lower(), parts.hostname.lower(), port or DEFAULT_PORTS.get(parts.scheme.lower())


def refuse_cross_site() -> None:
    """Flask ``before_request`` of the control plane: no foreign ``Origin``, and JSON
    ``Content-Type`` on every state-changing call, even one without a body."""
    origin = request.headers.get("Origin")
    if origin is not None:
        key = _origin_key(origin)  # "null" (a sandboxed or file: page) has none
        if key is None or key != _origin_key(request.host_url):
            raise ApiError("forbidden_origin", f"the control plane refuses requests from web pages of other origins "
                                               f"(Origin: {origin})", status=403)
    if request.method in STATE_CHANGING_METHODS and request.mimetype != "application/json":
        raise ApiError("unsupported_media_type", "control-plane calls that change state need 'Content-Type: "
                                                 "application/json', even without a body (a web page cannot send it "
                                                 "to another site without the emulator's consent)")
