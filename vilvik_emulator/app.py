"""The Flask application: request ids, identity headers, the JSON error envelope, blueprints."""

from __future__ import annotations

import contextlib
import json
import logging
import time

from flask import Flask, Request, Response, g, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge

from .api import blueprint as api_blueprint
from .api.common import reply
from .clock import format_ts
from .config import Settings
from .control import blueprint as control_blueprint
from .core.journal import body_for_journal
from .emulator import Emulator
from .errors import ApiError
from .ids import request_id
from .web import blueprint as web_blueprint
from .web import render_error

log = logging.getLogger("vilvik_emulator")
API_PREFIX = "/api/v1/"
#: set on a response whose connection an injected fault dropped: the HTTP server closes
#: the connection without a response, the in-process adapter raises a connection error
DROPPED_HEADER = "X-Vilvik-Emulator-Dropped"
CONTROL_BODY_LIMIT = 1 << 30
#: dashboard endpoints that answer JSON to the dashboard's own scripts
DASHBOARD_JSON_ENDPOINTS = ("web.submission_status",)


class DashboardSessions(SecureCookieSessionInterface):
    """Signed-cookie sessions for the dashboard only.

    The API and the control plane keep no session (a key or loopback is the identity), so
    their requests get Flask's null session instead of a cookie's signing serializer,
    which Flask builds per request: ~40 us of every API call for nothing.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(("/api/", "/_emulator")):
            return self.make_null_session(app)
        return super().open_session(app, request)


def looks_like_api_call() -> bool:
    """A request meant for the API: it carries a key (``Authorization: Bearer``) or asks
    for JSON rather than HTML, as the SDK, ``vilvik login`` and most scripts do."""
    if request.headers.get("Authorization", "").lower().startswith("bearer "):
        return True
    return request.accept_mimetypes.best == "application/json"


def api_prefix_hint() -> str:
    """What to say to an API call that missed ``/api/v1`` (the most common slip: a base URL without it)."""
    return f"the API lives under /api/v1: use the base URL {request.host_url}api/v1"


def create_app(emulator: Emulator | None = None, settings: Settings | None = None) -> Flask:
    """A WSGI app over ``emulator`` (a fresh in-memory one when not given, started)."""
    if emulator is None:
        emulator = Emulator(settings or Settings(db_path=None)).start()
    app = Flask("vilvik_emulator", static_folder=None)  # the dashboard serves its own /static
    app.json.sort_keys = False  # type: ignore[attr-defined]  # the default provider has it
    app.url_map.strict_slashes = False
    app.extensions["vilvik_emulator"] = emulator
    app.secret_key = emulator.session_secret
    app.session_interface = DashboardSessions()
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
                      SESSION_COOKIE_NAME="vilvik_emulator_session")

    @app.before_request
    def begin():
        g.request_id = request_id()
        g.started = time.perf_counter()
        # A body over the limit is refused before any view reads it (413, §3); the
        # limit is a runtime setting (the control plane's is larger: snapshots), and
        # werkzeug also enforces it on chunked bodies.
        limit = emulator.settings.max_body_bytes if request.path.startswith(API_PREFIX) else CONTROL_BODY_LIMIT
        request.max_content_length = limit
        if request.content_length is not None and request.content_length > limit:
            raise RequestEntityTooLarge()
        if is_dashboard() and request.endpoint not in DASHBOARD_JSON_ENDPOINTS and looks_like_api_call():
            # A client whose base URL lacks /api/v1 would otherwise get a dashboard page
            # (the SDK reads its HTML as an empty list) or a bare 405.
            g.misdirected = True
            raise ApiError("not_found", f"no such endpoint: {request.method} {request.path}; {api_prefix_hint()}")
        if request.path.startswith(API_PREFIX):
            fault = emulator.faults.match(request.method, request.path)
            if fault is not None:
                return _inject(fault)
        return None

    def _inject(fault):
        g.fault = fault.rule_id
        if fault.delay_seconds:
            time.sleep(fault.delay_seconds)
        if fault.drop:
            g.dropped = True
            # The transport closes the connection instead of sending this (server.py, inprocess.py).
            return Response(status=500, headers={DROPPED_HEADER: "1"})
        if fault.status is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
            if fault.status == 429 and headers is None:
                headers = {"Retry-After": "1"}
            raise ApiError(fault.code, fault.message or f"injected fault ({fault.rule_id})", status=fault.status,
                           headers=headers)
        return None

    @app.after_request
    def identify(response):
        response.headers["X-Request-Id"] = g.get("request_id") or request_id()
        response.headers["X-Vilvik-Emulator"] = emulator.version
        if request.path.startswith(API_PREFIX):
            _journal(response)
        return response

    def _journal(response: Response) -> None:
        # One lookup of each context-local (each proxy access costs a context-var read).
        req, state = request._get_current_object(), g._get_current_object()  # type: ignore[attr-defined]
        status = response.status_code
        error_code = None
        if status >= 400 and response.mimetype == "application/json":
            with contextlib.suppress(ValueError, AttributeError, TypeError):
                error_code = json.loads(response.get_data())["error"]["code"]
        account = getattr(state, "account", None)
        dropped = bool(getattr(state, "dropped", False))
        method = req.method
        emulator.journal.record({
            "at": format_ts(emulator.clock.now()),
            "method": method,
            "path": req.path,
            "query": {name: values[-1] for name, values in req.args.lists()} if req.query_string else {},
            "body": body_for_journal(req.get_data(cache=True))
            if method in ("POST", "PATCH", "PUT") and status != 413 else None,
            "status": None if dropped else status,
            "error_code": error_code,
            "request_id": getattr(state, "request_id", None),
            "account": account.id if account else None,
            "idempotency_key": req.headers.get("Idempotency-Key"),
            "replayed": response.headers.get("Idempotent-Replayed") == "true",
            "fault": getattr(state, "fault", None),
            "dropped": dropped,
            "duration_ms": round((time.perf_counter() - getattr(state, "started", time.perf_counter())) * 1000, 2),
        })

    def is_dashboard() -> bool:
        return not request.path.startswith(("/api/", "/_emulator"))

    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> ResponseReturnValue:
        if is_dashboard() and not g.get("misdirected"):
            return render_error(error.status, error.message)
        return reply(error.body(g.get("request_id", "")), error.status, error.headers)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> ResponseReturnValue:
        if is_dashboard() and not g.get("misdirected"):
            return render_error(error.code or 500, error.description or error.name)
        if isinstance(error, MethodNotAllowed):
            allowed = sorted(set(error.valid_methods or ()))
            translated = ApiError("method_not_allowed",
                                  f"{request.method} is not allowed on {request.path}; allowed: {', '.join(allowed)}",
                                  headers={"Allow": ", ".join(allowed)})
        elif isinstance(error, NotFound):
            under_a_prefix = request.path.startswith((API_PREFIX, "/_emulator/")) or request.path == API_PREFIX[:-1]
            hint = "" if under_a_prefix else f"; {api_prefix_hint()}"
            translated = ApiError("not_found", f"no such endpoint: {request.method} {request.path}{hint}")
        elif isinstance(error, RequestEntityTooLarge):
            translated = ApiError("payload_too_large", f"the body is larger than the limit of "
                                                       f"{request.max_content_length} bytes")
        else:
            translated = ApiError("internal_error" if (error.code or 500) >= 500 else "invalid_parameter",
                                  error.description or error.name, status=error.code)
        return api_error(translated)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> ResponseReturnValue:
        log.exception("unhandled error in %s %s", request.method, request.path)
        if is_dashboard():
            return render_error(500, f"The emulator hit an internal error (request id {g.get('request_id', '')}); "
                                     "see its log.")
        return api_error(ApiError("internal_error", "the emulator hit an internal error; see its log "
                                                    f"(request id {g.get('request_id', '')})"))

    app.register_blueprint(api_blueprint)
    app.register_blueprint(control_blueprint)
    app.register_blueprint(web_blueprint)
    return app
