"""HTTP plumbing shared by the API and the control plane: bodies, auth, idempotency, replies.

Views stay thin: parse the request with these helpers, call one service, reply.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, g, request

from ..core.idempotency import Replay, fingerprint
from ..emulator import Emulator
from ..errors import ApiError
from ..intercept.hosts import PUBLIC_BASE_HEADER, trusted_public_base
from ..schemas.base import Model, last_values, parse_body, parse_query

NO_BODY = object()


def emulator() -> Emulator:
    return current_app.extensions["vilvik_emulator"]


def api_base() -> str:
    """Absolute ``.../api/v1`` of the host this request came to, or of the Vilvik host a
    ``mock_vilvik(url=...)`` forwarded it from (so links stay inside the mock)."""
    # scheme + Host as sent (the Host guard let it through): werkzeug's ``host_url`` would
    # also run it through ``uri_to_iri``, a tenth of a detail GET's time for the same string
    return trusted_public_base(request.headers.get(PUBLIC_BASE_HEADER)) or f"{request.scheme}://{request.host}/api/v1"


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


def json_body(*, optional: bool = False) -> Any:
    """The request's parsed JSON body (parsed once per request).

    No body at all is ``None`` when ``optional`` (a re-execute without overrides) and
    ``{}`` otherwise (validation then names the missing fields). A body that is not
    ``application/json`` is 415; not JSON is 400. Whether it is an object is the
    schema's to say (:func:`body`).
    """
    parsed = g.get("json_body", NO_BODY)
    if parsed is NO_BODY:
        parsed = g.json_body = _parse_body()
    if parsed is None and not optional:
        return {}
    return parsed


def _parse_body() -> Any:
    raw = request.get_data(cache=True)
    if not raw:
        return None
    if request.mimetype != "application/json":
        raise ApiError("unsupported_media_type", "send the body as JSON with 'Content-Type: application/json'")
    try:
        parsed = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise ApiError("invalid_json", f"the body is not valid JSON: {error}") from None
    if b"\\u" in raw or b"\\U" in raw:
        try:  # an escaped lone surrogate ("\\ud800") parses, but is no text anything can store or show
            json.dumps(parsed, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError("invalid_json", "the body contains a lone UTF-16 surrogate (such as \\ud800); "
                                           "send valid Unicode text") from None
    if not isinstance(parsed, dict):
        raise ApiError("invalid_json", f"the body must be a JSON object, not {type(parsed).__name__}")
    return parsed


def body(model: Any, *, optional: bool = False, **options: Any) -> Any:
    """The request body validated against its schema (``optional``: no body means ``{}``)."""
    parsed = json_body(optional=True)
    if parsed is None:
        parsed = {}
    return parse_body(model, parsed, **options)


def query(model: type[Model]) -> Model:
    return parse_query(model, request.args)


def query_values() -> dict[str, str]:
    """Every query parameter with its last value, for the links of a page."""
    return last_values(request.args)


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
            instance.rate_limiter.check(key.id, instance.settings.rate_limit)
            return view(*args, **kwargs)

        wrapper.required_scopes = scopes  # type: ignore[attr-defined]
        return wrapper

    return decorate


def idempotent(view: Callable) -> Callable:
    """Decorator for create-style POSTs: honour ``Idempotency-Key`` (§4a).

    The view's service stores the response inside the transaction that creates the
    row (:func:`remember_response`), so the two commit together; what this wrapper
    stores afterwards is the final form of the same response (a ``sync`` run's).
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get("Idempotency-Key")
        g.idempotency = None
        if key is None:
            return view(*args, **kwargs)
        parsed = json_body(optional=True)
        service = emulator().idempotency
        endpoint = f"{request.method} {request.url_rule.rule.rstrip('/')}"  # type: ignore[union-attr]
        outcome = service.begin(g.account.id, endpoint, key,
                                fingerprint(request.method, request.path.rstrip("/"), parsed))
        if isinstance(outcome, Replay):
            return reply(outcome.body, outcome.status, {"Idempotent-Replayed": "true"})
        g.idempotency = outcome
        try:
            response = view(*args, **kwargs)
        except BaseException:
            service.release(outcome)
            raise
        stored = json.loads(response.get_data()) if response.get_data() else None
        service.complete(outcome, response.status_code, stored)
        return response

    return wrapper


def remember_response(status: int, render: Callable[[Any], dict]) -> Callable[[Any], None] | None:
    """A ``within`` hook for a create service: store this request's response with the row it creates."""
    reservation = g.get("idempotency")
    if reservation is None:
        return None
    service = emulator().idempotency

    def within(record: Any) -> None:
        service.complete(reservation, status, render(record))

    return within
