"""Wire documents of the device login (contract §12, RFC 8628): what `vilvik login` sends and parses."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from .accounts import Scope
from .base import AbsoluteUrl, RequestBody, ResponseDocument, Timestamp

DEVICE_ERRORS = ("authorization_pending", "slow_down", "access_denied", "expired_token", "invalid_grant",
                 "invalid_request")
USER_CODE_PATTERN = r"^[A-Z]{4}-[A-Z]{4}$"


class DeviceCodeRequest(RequestBody):
    """The SDK sends `{}`; any other field is ignored, as an OAuth server does."""

    model_config = ConfigDict(extra="ignore")


class DeviceTokenRequest(RequestBody):
    """RFC 8628 §3.4: a missing or malformed ``device_code`` is its ``invalid_request`` (400), not a 422.

    The document says what a client must send (a ``device_code`` string); the server reads
    anything and answers what is not that with RFC 8628's 400 rather than the envelope's 422.
    """

    model_config = ConfigDict(extra="ignore", strict=False, json_schema_extra={
        "required": ["device_code"], "properties": {"device_code": {"type": "string", "minLength": 1}}})

    device_code: Any = None


class DeviceCode(ResponseDocument):
    device_code: Annotated[str, Field(min_length=1)]
    user_code: Annotated[str, Field(pattern=USER_CODE_PATTERN)]
    verification_uri: AbsoluteUrl
    verification_uri_complete: AbsoluteUrl
    expires_in: Annotated[int, Field(ge=1)]
    interval: Annotated[int, Field(ge=0)] | Annotated[float, Field(ge=0)]


class DeviceToken(ResponseDocument):
    api_key: Annotated[str, Field(pattern=r"^vlk_test_[A-Za-z0-9]{32}$")]
    scopes: list[Scope] = Field(description="The scopes the key holds (the SDK's own tests send them).")


class DeviceError(ResponseDocument):
    """RFC 8628's flat error body (not the API's envelope): what `vilvik login` parses."""

    error: Literal[DEVICE_ERRORS]


class DeviceLogin(ResponseDocument):
    user_code: Annotated[str, Field(pattern=USER_CODE_PATTERN)]
    status: Literal["pending", "approved", "denied", "consumed"]
    account_id: str | None
    key_id: str | None
    created_at: Timestamp
    expires_at: Timestamp


class DeviceLoginList(ResponseDocument):
    results: list[DeviceLogin]


class DeviceApproval(RequestBody):
    account: Annotated[str, Field(pattern=r"^acct_[A-Za-z0-9]+$")] | None = Field(default=None, description=(
        "The account the key is for (default: the default account)."))
