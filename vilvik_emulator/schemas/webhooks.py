"""Wire documents of webhooks (contract §11): the API's rows and deliveries, the control plane's management."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictStr, model_validator

from .base import (
    AbsoluteUrl,
    AccountId,
    FieldProblems,
    PageLink,
    QueryParameters,
    RequestBody,
    ResourceId,
    ResponseDocument,
    Timestamp,
    WebhookUrl,
    optional,
)

SUBSCRIBABLE = ("submission.succeeded", "submission.failed", "submission.cancelled", "result.completed")
EVENTS = (*SUBSCRIBABLE, "webhook.test")
WEBHOOK_ID_PATTERN = r"^wh_[A-Za-z0-9]{12}$"

Event = Literal[SUBSCRIBABLE]
EventList = Annotated[list[Event], Field(min_length=1, max_length=len(SUBSCRIBABLE))]
WebhookDescription = Annotated[StrictStr, Field(max_length=1000)]


class Webhook(ResponseDocument):
    """A webhook as `GET /api/v1/webhooks` lists it: `event_types` (documented) and `events` (SDK 0.5.7) agree."""

    id: Annotated[str, Field(pattern=WEBHOOK_ID_PATTERN)]
    url: AbsoluteUrl
    event_types: Annotated[list[Event], Field(min_length=1)]
    events: Annotated[list[Event], Field(min_length=1)]
    description: str | None
    is_active: bool
    created_at: Timestamp


class WebhookList(ResponseDocument):
    """Every webhook of the account (the SDK pages nothing)."""

    results: list[Webhook]
    next: None
    previous: None


class Delivery(ResponseDocument):
    """One delivery attempt."""

    id: Annotated[str, Field(pattern=r"^dlv_[A-Za-z0-9]{12}$")]
    webhook_id: str | None = Field(description="Null for a delivery to a submission's own `webhook_url`.")
    submission_id: ResourceId | None
    event_id: Annotated[str, Field(json_schema_extra={"format": "uuid"})]
    event_type: Literal[EVENTS]
    url: AbsoluteUrl
    attempt: Annotated[int, Field(ge=1, le=5)]
    status_code: int | None = Field(description="Null when no response came.")
    duration_ms: Annotated[float, Field(ge=0)]
    error: str | None
    succeeded: bool
    final: bool = Field(description="No further attempt will be made.")
    next_attempt_at: Timestamp | None
    response_body: str | None = Field(description="The first 2 KiB of the answer.")
    created_at: Timestamp


class DeliveryFilters(QueryParameters):
    account: AccountId | None = Field(default=None, description="Only this account's.")
    submission_id: ResourceId | None = Field(default=None, description="Only this submission's events.")
    event_id: Annotated[str, Field(max_length=100)] | None = Field(default=None, description=(
        "Only this event's attempts."))


class DeliveryList(ResponseDocument):
    results: list[Delivery] = Field(description="Newest first.")
    next: PageLink | None
    previous: PageLink | None


# ---------------------------------------------------------------------- the control plane's management

def _one_event_list(body: WebhookCreate | WebhookUpdate) -> None:
    if body.events is not None and body.event_types is not None and body.events != body.event_types:
        raise FieldProblems([("event_types", "must equal events when both are sent (they are one list)")])


class WebhookCreate(RequestBody):
    account: AccountId | None = Field(default=None, description="Default: the default account.")
    url: WebhookUrl
    events: EventList | None = Field(default=None, description="Default: every event.")
    event_types: EventList | None = Field(default=None, description="The documented name of `events`.")
    description: WebhookDescription | None = None
    is_active: StrictBool = True

    @model_validator(mode="after")
    def _events(self) -> WebhookCreate:
        _one_event_list(self)
        return self

    def event_list(self) -> list[str]:
        return list(dict.fromkeys(self.events or self.event_types or SUBSCRIBABLE))


class WebhookUpdate(RequestBody):
    """Only the fields sent change; only `description` may be sent as null (to clear it)."""

    url: WebhookUrl = optional()
    events: EventList = optional()
    event_types: EventList = optional()
    description: WebhookDescription | None = None
    is_active: StrictBool = optional()

    @model_validator(mode="after")
    def _events(self) -> WebhookUpdate:
        _one_event_list(self)
        return self


class WebhookAdmin(Webhook):
    account_id: AccountId


class WebhookWithSecret(WebhookAdmin):
    secret: Annotated[str, Field(pattern=r"^whsec_[A-Za-z0-9]{32}$", description=(
        "The signing secret: shown here and nowhere else."))]


class WebhookAdminList(ResponseDocument):
    results: list[WebhookAdmin]


class WebhookTestSent(ResponseDocument):
    event_id: Annotated[str, Field(json_schema_extra={"format": "uuid"})]
    event_type: Literal["webhook.test"]


class DeliveriesDrained(ResponseDocument):
    in_flight: Annotated[int, Field(ge=0)]
    scheduled: Annotated[int, Field(ge=0, description="Retries waiting for their time.")]
    next_attempt_at: Timestamp | None


class WebhookSecret(ResponseDocument):
    secret: Annotated[str, Field(pattern=r"^whsec_[A-Za-z0-9]{32}$")]
