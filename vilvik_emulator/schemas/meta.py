"""What a submission is called and who hears of it (contract §5): shared by every create body."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictStr

from .base import Email, RequestBody, WebhookUrl

VISIBILITIES = ("private", "public", "invite_only")

Visibility = Literal[VISIBILITIES]
Name = Annotated[StrictStr, Field(max_length=200)]
Description = Annotated[StrictStr, Field(max_length=10_000)]


class SubmissionMeta(RequestBody):
    """Never changes how a submission runs."""

    name: Name | None = None
    description: Description | None = None
    webhook_url: WebhookUrl | None = Field(default=None, description=(
        "Also receives this submission's webhook events (contract §11)."))
    notification_email: Email | None = Field(default=None, description="Stored and shown; never sent (offline).")
    visibility: Visibility = "private"
