"""Records into wire documents: one function per resource view, each filling its response model.

The response models of :mod:`vilvik_emulator.schemas` decide which fields a document
has and of what type; these functions only say where each value comes from. ``base``
is the absolute ``.../api/v1`` URL the request was addressed to, so ``status_url``,
``result_url`` and file URLs point where the client is talking (an intercepted
``https://vilvik.com/api/v1`` stays that).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ..schemas import accounts as account_schemas
from ..schemas import code_uploads, control, results, submissions, webhooks
from .records import (
    AccountRecord,
    CodeUploadRecord,
    DeliveryRecord,
    KeyRecord,
    LedgerRecord,
    ResultRecord,
    SubmissionRecord,
    WebhookRecord,
)


def _dump(model: BaseModel, **options: Any) -> dict[str, Any]:
    return model.model_dump(mode="json", **options)


def status_url(base: str, submission_id: str) -> str:
    return f"{base}/submissions/{submission_id}"


def result_url(base: str, submission_id: str) -> str:
    return f"{base}/results/?submission_id={submission_id}"


def _lineage(record: SubmissionRecord) -> dict[str, str | None]:
    """A continue forked a result; a re-execute re-ran a submission (SDK README: `parent_submission`)."""
    return {"parent_submission": record.parent_result_id or record.parent_submission_id,
            "parent_submission_id": record.parent_submission_id, "parent_result_id": record.parent_result_id}


# ---------------------------------------------------------------------- submissions

def submission_created(record: SubmissionRecord, base: str, request_id: str) -> dict[str, Any]:
    """The 202 of create, re-execute and continue (contract §5)."""
    return _dump(submissions.SubmissionCreated(
        id=record.id, status=record.status, status_url=status_url(base, record.id),
        result_url=result_url(base, record.id), created_at=record.created_at, name=record.name,
        description=record.description, submission_type=record.submission_type, generated=record.generated,
        request_id=request_id, **_lineage(record)))


def submission_row(row: dict[str, Any]) -> dict[str, Any]:
    return _dump(submissions.SubmissionRow.model_validate(row))


def submission_detail(record: SubmissionRecord, base: str, live_progress: dict | None = None) -> dict[str, Any]:
    progress = live_progress if live_progress is not None else record.progress
    return _dump(submissions.SubmissionDetail(
        id=record.id, name=record.name, description=record.description, status=record.status,
        source=record.source, submission_type=record.submission_type, visibility=record.visibility,
        imported=record.imported, created_at=record.created_at, started_at=record.started_at,
        finished_at=record.finished_at, status_url=status_url(base, record.id),
        result_url=result_url(base, record.id), parameters=record.parameters, code=record.code,
        progress=progress or {"generations_completed": 0, "num_generations": record.parameters.get("num_generations"),
                              "best_fitness": None},
        error=record.error, usage=record.usage, credits_used=record.credits_used, webhook_url=record.webhook_url,
        notification_email=record.notification_email, generated=record.generated, result_id=record.result_id,
        **_lineage(record)))


# ---------------------------------------------------------------------- results

def result_row(row: dict[str, Any]) -> dict[str, Any]:
    return _dump(results.ResultRow.model_validate(row))


def result_detail(record: ResultRecord, base: str) -> dict[str, Any]:
    files = [{**entry, "url": f"{base}/results/{record.id}/files/{entry['name']}"} for entry in record.files]
    return _dump(results.ResultDetail.model_validate({**record.dump(), "files": files}))


# ---------------------------------------------------------------------- code uploads

def code_upload_row(upload: CodeUploadRecord | dict, expired: bool) -> dict[str, Any]:
    data = upload if isinstance(upload, dict) else upload.dump()
    return _dump(code_uploads.CodeUploadRow.model_validate({**data, "code_id": data["id"], "is_expired": expired}))


def code_upload_detail(upload: CodeUploadRecord, expired: bool) -> dict[str, Any]:
    return _dump(code_uploads.CodeUploadDetail.model_validate({**upload.dump(), "code_id": upload.id,
                                                               "is_expired": expired}))


# ---------------------------------------------------------------------- webhooks

def _webhook_fields(webhook: WebhookRecord) -> dict[str, Any]:
    return {**webhook.dump(), "event_types": webhook.events}


def webhook(webhook: WebhookRecord) -> dict[str, Any]:
    """A webhook as ``GET /api/v1/webhooks`` lists it: never its secret."""
    return _dump(webhooks.Webhook.model_validate(_webhook_fields(webhook)))


def webhook_admin(webhook: WebhookRecord) -> dict[str, Any]:
    return _dump(webhooks.WebhookAdmin.model_validate(_webhook_fields(webhook)))


def webhook_with_secret(webhook: WebhookRecord, secret: str) -> dict[str, Any]:
    return _dump(webhooks.WebhookWithSecret.model_validate({**_webhook_fields(webhook), "secret": secret}))


def delivery(row: dict[str, Any] | DeliveryRecord) -> dict[str, Any]:
    data = row if isinstance(row, dict) else row.dump()
    return _dump(webhooks.Delivery.model_validate(data))


# ---------------------------------------------------------------------- accounts, keys, credits

def account(record: AccountRecord) -> dict[str, Any]:
    return _dump(account_schemas.Account.model_validate(record.dump()))


def key(record: KeyRecord, status: str) -> dict[str, Any]:
    data = {**record.dump(), "status": status}
    if data.get("rotated_at") is None:
        data.pop("rotated_at", None)  # present once the key was rotated
    return _dump(account_schemas.Key.model_validate(data), exclude_unset=True)


def key_with_secret(record: KeyRecord, status: str, secret: str) -> dict[str, Any]:
    data = {**record.dump(), "status": status, "key": secret}
    if data.get("rotated_at") is None:
        data.pop("rotated_at", None)
    return _dump(account_schemas.KeyWithSecret.model_validate(data), exclude_unset=True)


def ledger_entry(entry: LedgerRecord) -> dict[str, Any]:
    return _dump(control.LedgerEntry.model_validate(entry.dump()))
