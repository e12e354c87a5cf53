"""The one error catalogue: every error the emulator answers with (contract §3).

Services raise :class:`ApiError`; the HTTP layer renders it into the documented
envelope ``{"error": {"code", "message", "request_id", "details"?}}``.
"""

from __future__ import annotations

from typing import Any

#: code -> HTTP status, exactly the table of contract §3.
CATALOGUE: dict[str, int] = {
    "invalid_json": 400,
    "invalid_parameter": 400,
    "unauthorized": 401,
    "insufficient_credits": 402,
    "scope_required": 403,
    "forbidden_host": 403,
    "forbidden_origin": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "wait_timeout": 408,
    "conflict": 409,
    "idempotency_key_in_use": 409,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "validation_failed": 422,
    "idempotency_key_reused": 422,
    "rate_limited": 429,
    "internal_error": 500,
    "unavailable": 503,
}


class ApiError(Exception):
    """An error with a stable code, its HTTP status, a message and optional details."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        details: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        status: int | None = None,
    ) -> None:
        if code not in CATALOGUE and status is None:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else CATALOGUE[code]
        self.details = details
        self.headers = headers or {}

    def body(self, request_id: str) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message, "request_id": request_id}
        if self.details:
            error["details"] = self.details
        return {"error": error}


class FieldErrors:
    """Collects field-level problems so one 422 can name every offending field."""

    def __init__(self) -> None:
        self.details: list[dict[str, str]] = []

    def add(self, field: str, message: str) -> None:
        self.details.append({"field": field, "message": message})

    def __bool__(self) -> bool:
        return bool(self.details)

    def raise_if_any(self) -> None:
        if self.details:
            raise validation_failed(self.details)


def validation_failed(details: list[dict[str, str]]) -> ApiError:
    first = details[0]
    message = f"{first['field']} {first['message']}"
    if len(details) > 1:
        message += f" (and {len(details) - 1} more problem{'s' if len(details) > 2 else ''})"
    return ApiError("validation_failed", message, details=details)


def field_error(field: str, message: str) -> ApiError:
    return validation_failed([{"field": field, "message": message}])


def not_found(what: str = "resource") -> ApiError:
    return ApiError("not_found", f"{what} does not exist or is not visible to this key")

