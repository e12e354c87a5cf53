"""Wire documents of the service itself: health, the OpenAPI document, the error envelope (contract §3, §12)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from ..errors import CATALOGUE
from .base import RequestId, ResponseDocument, optional

ErrorCode = Literal[tuple(CATALOGUE)]


class ErrorDetail(ResponseDocument):
    field: Annotated[str, Field(min_length=1, description="Dotted path of the offending field.")]
    message: Annotated[str, Field(min_length=1)]


class ErrorBody(ResponseDocument):
    model_config = ConfigDict(json_schema_serialization_defaults_required=False)

    code: ErrorCode
    message: Annotated[str, Field(min_length=1)]
    request_id: RequestId
    details: Annotated[list[ErrorDetail], Field(min_length=1)] = optional(
        "On validation errors: one entry per offending field.")


class Error(ResponseDocument):
    """The error envelope of every non-2xx response (contract §3)."""

    error: ErrorBody


class ApiHealth(ResponseDocument):
    status: Literal["ok"]
    version: Annotated[str, Field(min_length=1)]


class OpenApiDocument(ResponseDocument):
    openapi: Annotated[str, Field(pattern=r"^3\.1\.\d+$")]
    info: dict[str, Any]
    paths: dict[str, Any]
