"""HTTP plumbing shared by the API and the control plane: bodies, auth, idempotency, replies.

Views stay thin: parse the request with these helpers, call one service, reply.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Callable

from flask import Response, current_app, g, request

from ..emulator import Emulator
from ..errors import ApiError
from ..core.idempotency import Replay, fingerprint
from ..intercept.hosts import PUBLIC_BASE_HEADER, trusted_public_base

NO_BODY = object()


def emulator() -> Emulator:
    return current_app.extensions["vilvik_emulator"]


def api_base() -> str:
    """Absolute ``.../api/v1`` of the host this request came to, or of the Vilvik host a
    ``mock_vilvik(url=...)`` forwarded it from (so links stay inside the mock)."""
    return trusted_public_base(request.headers.get(PUBLIC_BASE_HEADER)) or request.host_url.rstrip("/") + "/api/v1"


def collection_url(path: str) -> str:
    """The documented (trailing-slash) absolute URL of a collection, for ``next``/``previous``."""
    return f"{api_base()}/{path.strip('/')}/"


def reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    if status == 204:
        response = Response(status=204)
    else:
        response = Response(json.dumps(body, separators=(",", ":"), allow_nan=False), status=status,
                            mimetype="application/json")
        response.headers["Content-Type"] = "application/json; charset=utf-8"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def json_body(*, optional: bool = False) -> dict | None:
    """The request's JSON object (parsed once per request).

    No body at all is ``None`` when ``optional`` (a re-execute without overrides) and
    ``{}`` otherwise (validation then names the missing fields). A body that is not
    ``application/json`` is 415; not JSON, or not an object, is 400.
    """
    body = g.get("json_body", NO_BODY)
    if body is NO_BODY:
        body = g.json_body = _parse_body()
    if body is None and not optional:
        return {}
    return body


def _parse_body() -> dict | None:
    raw = request.get_data(cache=True)
    if not raw:
        body = None
    else:
        if request.mimetype != "application/json":
            raise ApiError("unsupported_media_type", "send the body as JSON with 'Content-Type: application/json'")
        try:
            body = json.loads(raw, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError, RecursionError) as error:
            raise ApiError("invalid_json", f"the body is not valid JSON: {error}") from None
        if not isinstance(body, dict):
            raise ApiError("invalid_json", f"the body must be a JSON object, not {type(body).__name__}")
    return body


def client_ip() -> str | None:
    return request.remote_addr


def authenticated(*scopes: str) -> Callable:
    """Decorator: the request must carry a key holding every scope (§2); sets ``g.account``."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            instance = emulator()
            account, key = instance.accounts.authenticate(request.headers.get("Authorization"), scopes, client_ip())
            g.account, g.api_key = account, key
            instance.rate_limiter.check(key["id"], instance.settings.rate_limit)
            return view(*args, **kwargs)

        wrapper.required_scopes = scopes
        return wrapper

    return decorate


def idempotent(view: Callable) -> Callable:
    """Decorator for create-style POSTs: honour ``Idempotency-Key`` (§4a)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view(*args, **kwargs)
        body = json_body(optional=True)
        service = emulator().idempotency
        endpoint = f"{request.method} {request.url_rule.rule.rstrip('/')}"
        outcome = service.begin(g.account["id"], endpoint, key,
                                fingerprint(request.method, request.path.rstrip("/"), body))
        if isinstance(outcome, Replay):
            return reply(outcome.body, outcome.status, {"Idempotent-Replayed": "true"})
        try:
            response = view(*args, **kwargs)
        except BaseException:
            service.release(outcome)
            raise
        stored = json.loads(response.get_data()) if response.get_data() else None
        service.complete(outcome, response.status_code, stored)
        return response

    return wrapper
