"""The Flask application: request ids, identity headers, the JSON error envelope, blueprints."""

from __future__ import annotations

import logging
import time

from flask import Flask, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge

from .api import blueprint as api_blueprint
from .api.common import reply
from .config import Settings
from .control import blueprint as control_blueprint
from .emulator import Emulator
from .errors import ApiError
from .ids import request_id

log = logging.getLogger("vilvik_emulator")


def create_app(emulator: Emulator | None = None, settings: Settings | None = None) -> Flask:
    """A WSGI app over ``emulator`` (a fresh in-memory one when not given, started)."""
    if emulator is None:
        emulator = Emulator(settings or Settings(db_path=None)).start()
    app = Flask("vilvik_emulator")
    app.config["MAX_CONTENT_LENGTH"] = emulator.settings.max_body_bytes
    app.json.sort_keys = False
    app.url_map.strict_slashes = False
    app.extensions["vilvik_emulator"] = emulator

    @app.before_request
    def begin() -> None:
        g.request_id = request_id()
        g.started = time.perf_counter()
        # A body over the limit is refused before any view reads it (413, §3).
        limit = app.config["MAX_CONTENT_LENGTH"]
        if request.content_length is not None and request.content_length > limit:
            raise RequestEntityTooLarge()

    @app.after_request
    def identify(response):
        response.headers["X-Request-Id"] = g.get("request_id") or request_id()
        response.headers["X-Vilvik-Emulator"] = emulator.version
        return response

    @app.errorhandler(ApiError)
    def api_error(error: ApiError):
        return reply(error.body(g.get("request_id", "")), error.status, error.headers)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if isinstance(error, MethodNotAllowed):
            allowed = sorted(set(error.valid_methods or ()))
            translated = ApiError("method_not_allowed",
                                  f"{request.method} is not allowed on {request.path}; allowed: {', '.join(allowed)}",
                                  headers={"Allow": ", ".join(allowed)})
        elif isinstance(error, NotFound):
            translated = ApiError("not_found", f"no such endpoint: {request.method} {request.path}")
        elif isinstance(error, RequestEntityTooLarge):
            translated = ApiError("payload_too_large", f"the body is larger than the limit of "
                                                       f"{app.config['MAX_CONTENT_LENGTH']} bytes")
        else:
            translated = ApiError("internal_error" if error.code >= 500 else "invalid_parameter",
                                  error.description or error.name, status=error.code)
        return api_error(translated)

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.exception("unhandled error in %s %s", request.method, request.path)
        return api_error(ApiError("internal_error", "the emulator hit an internal error; see its log "
                                                    f"(request id {g.get('request_id', '')})"))

    app.register_blueprint(api_blueprint)
    app.register_blueprint(control_blueprint)
    return app
