"""Wire documents of accounts and keys (contract §2, §13): shared by the control plane, the CLI and the dashboard."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, StrictBool, StrictStr

from ..config import RUN_MODES
from .base import AccountId, RequestBody, ResponseDocument, Timestamp, optional, pattern_message, real_date

ALL_SCOPES = (
    "submissions:read", "submissions:write",
    "results:read", "results:write",
    "code-uploads:read", "code-uploads:write",
    "webhooks:read", "webhooks:write",
    "imports:write",
)
TIERS = ("free", "premium")
KEY_STATUSES = ("active", "revoked", "expired")

Scope = Literal[ALL_SCOPES]
Tier = Literal[TIERS]
RunMode = Literal[RUN_MODES]
Credits = Annotated[int, Field(ge=-1e15, le=1e15)] | Annotated[float, Field(ge=-1e15, le=1e15)]
#: key expiry as clients send it; the clock's range (years 1970-9998) keeps every date path formattable
Expiry = Annotated[str, Field(
    pattern=pattern_message(
        r"^(19[7-9][0-9]|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9])-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}"
        r"(\.[0-9]{1,6})?([Zz]|[+-][0-9]{2}:[0-9]{2})$",
        "must be an ISO-8601 timestamp between 1970 and 9998, with Z or an offset"),
    json_schema_extra={"format": "date-time"},
    description="RFC 3339, between 1970 and 9998."), AfterValidator(real_date)]


class AccountCreate(RequestBody):
    name: Annotated[StrictStr, Field(min_length=1, max_length=200)] = "account"
    tier: Tier = "free"
    credits: Credits | None = Field(default=None, description="Default: the server's `default_credits`.")
    mode: RunMode | None = Field(default=None, description="The account's run mode; null follows the server's.")
    active: StrictBool = True
    email_verified: StrictBool = Field(default=True, description=(
        "A key whose owner is not email-verified answers 401 (contract §2)."))


class AccountUpdate(RequestBody):
    name: Annotated[StrictStr, Field(min_length=1, max_length=200)] = optional()
    tier: Tier = optional()
    credits: Credits = optional()
    mode: RunMode | None = None
    active: StrictBool = optional()
    email_verified: StrictBool = optional()


class Account(ResponseDocument):
    id: AccountId
    name: str
    tier: Tier
    credits: float
    mode: RunMode | None = Field(description="The account's run mode; null follows the server's.")
    active: bool
    email_verified: bool
    created_at: Timestamp


class AccountList(ResponseDocument):
    results: list[Account]


class KeyCreate(RequestBody):
    account: AccountId | None = Field(default=None, description="Default: the default account.")
    name: Annotated[StrictStr, Field(max_length=200)] | None = None
    scopes: Annotated[list[Scope], Field(max_length=len(ALL_SCOPES) * 4)] | None = Field(
        default=None, description="Default: every scope.")
    expires_at: Expiry | None = None


class KeyUpdate(RequestBody):
    name: Annotated[StrictStr, Field(max_length=200)] = optional()
    scopes: Annotated[list[Scope], Field(max_length=len(ALL_SCOPES) * 4)] = optional()
    expires_at: Expiry | None = None


class Key(ResponseDocument):
    """A key as the control plane shows it: never its secret."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=False)

    id: Annotated[str, Field(pattern=r"^key_[A-Za-z0-9]{12}$")]
    account_id: AccountId
    name: str
    prefix: Annotated[str, Field(pattern=r"^vlk_.{8}$", description="The key's first 12 characters.")]
    scopes: Annotated[list[Scope], Field(json_schema_extra={"uniqueItems": True})]
    status: Literal[KEY_STATUSES]
    created_at: Timestamp
    expires_at: Timestamp | None
    revoked_at: Timestamp | None
    rotated_at: Timestamp = optional("Present once the key was rotated.")
    last_used_at: Timestamp | None
    last_used_ip: str | None


class KeyWithSecret(Key):
    key: Annotated[str, Field(pattern=r"^vlk_test_[A-Za-z0-9]{32}$", description=(
        "The secret: shown here and nowhere else."))]


class KeyList(ResponseDocument):
    results: list[Key]
