"""The stored documents, one typed record per table, each owned by one service.

The store keeps plain JSON documents (one TinyDB file a user can read); the services
work with these records. Reading trusts the store (:meth:`Record.load` builds without
re-validating what a service wrote), while anything from outside — a snapshot being
imported — is checked field by field (:meth:`Record.check`). Nested values that are
themselves documented wire shapes (parameters, code, progress, usage) stay plain
dicts: they are rendered, not manipulated.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import field_error

R = TypeVar("R", bound="Record")


class Record(BaseModel):
    """A stored document: ``id`` is its key; ``seq`` (when it has one) orders it among its table's rows."""

    model_config = ConfigDict(extra="ignore")
    table: ClassVar[str] = ""

    id: str

    @classmethod
    def load(cls: type[R], document: dict[str, Any]) -> R:
        return cls.model_construct(**document)  # type: ignore[return-value]  # pydantic types it as the base

    @classmethod
    def check(cls: type[R], document: Any, where: str) -> R:
        """Validate a document that comes from outside (a snapshot); 422 naming the record and field."""
        try:
            return cls.model_validate(document)
        except ValidationError as error:
            first = error.errors(include_url=False)[0]
            place = ".".join(str(part) for part in first["loc"])
            raise field_error("tables", f"{where}: {place or 'record'}: {first['msg']}") from None

    def dump(self) -> dict[str, Any]:
        return self.model_dump()

    def changed(self: R, **changes: Any) -> R:
        """A copy with ``changes`` (records are never mutated in place: the store swaps whole documents)."""
        return self.model_copy(update=changes)


class AccountRecord(Record):
    table: ClassVar[str] = "accounts"

    name: str = "account"
    tier: str = "free"
    credits: float = 0.0
    mode: str | None = None
    active: bool = True
    email_verified: bool = True
    created_at: str
    seq: int = 0
    webhook_secret: str | None = None


class KeyRecord(Record):
    table: ClassVar[str] = "api_keys"

    account_id: str
    name: str = "key"
    prefix: str
    hash: str
    scopes: list[str]
    created_at: str
    expires_at: str | None = None
    revoked_at: str | None = None
    rotated_at: str | None = None
    last_used_at: str | None = None
    last_used_ip: str | None = None
    seq: int = 0


class InstanceSecret(Record):
    """A secret of this emulator instance (cursor signing, dashboard sessions, the printed default key)."""

    table: ClassVar[str] = "emulator_settings"

    value: str | None = None
    secret: str | None = None


class SubmissionRecord(Record):
    table: ClassVar[str] = "submissions"

    seq: int
    account_id: str
    name: str | None = None
    description: str | None = None
    submission_type: str = "new"
    webhook_url: str | None = None
    notification_email: str | None = None
    visibility: str = "private"
    status: str = "queued"
    source: str = "api"
    parent_submission_id: str | None = None
    parent_result_id: str | None = None
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    parameters: dict[str, Any]
    code: dict[str, str]
    quick_inputs: dict[str, Any] = {}
    generated: dict[str, Any] = {}
    progress: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    credits_used: float | None = None
    result_id: str | None = None
    has_initial_population: bool = False
    worker_pid: int | None = None
    import_id: str | None = None

    @property
    def imported(self) -> bool:
        return self.import_id is not None


class ResultRecord(Record):
    table: ClassVar[str] = "results"

    seq: int
    account_id: str
    submission_id: str
    name: str | None = None
    is_shared: bool = False
    best_solution_fitness: str | None = None
    best_solution: list[Any] | None = None
    best_solution_idx: int | None = None
    best_solutions_fitness: list[Any] = []
    best_solution_generation: int | None = None
    last_generation_fitness: list[Any] | None = None
    generations_completed: int = 0
    stopped_reason: str | None = None
    parameters: dict[str, Any] = {}
    usage: dict[str, Any] | None = None
    parent_result_id: str | None = None
    created_at: str
    files: list[dict[str, Any]] = []


class LedgerRecord(Record):
    table: ClassVar[str] = "credit_ledger"

    seq: int
    account_id: str
    submission_id: str
    amount: float
    balance_after: float
    reason: str
    usage: dict[str, Any]
    created_at: str


class CodeUploadRecord(Record):
    table: ClassVar[str] = "code_uploads"

    seq: int
    account_id: str
    content: str
    content_size: int
    content_sha256: str
    created_at: str
    expires_at: str


class ImportRecord(Record):
    table: ClassVar[str] = "imports"

    seq: int
    account_id: str
    submission_id: str
    result_id: str
    origin: dict[str, Any] = {}
    created_at: str


class IdempotencyRecord(Record):
    table: ClassVar[str] = "idempotency_keys"

    account_id: str
    endpoint: str
    fingerprint: str
    state: str
    created_at: str
    status: int | None = None
    body: Any = None


class DeviceCodeRecord(Record):
    table: ClassVar[str] = "device_codes"

    user_code: str
    status: str = "pending"
    account_id: str | None = None
    created_at: str
    expires_at: str
    interval: float = 5.0
    key_id: str | None = None
    key: str | None = None


class WebhookRecord(Record):
    table: ClassVar[str] = "webhooks"

    seq: int
    account_id: str
    url: str
    events: list[str]
    description: str | None = None
    is_active: bool = True
    created_at: str
    secret: str


class DeliveryRecord(Record):
    table: ClassVar[str] = "webhook_deliveries"

    seq: int
    account_id: str
    webhook_id: str | None = None
    submission_id: str | None = None
    event_id: str
    event_type: str
    url: str
    attempt: int
    status_code: int | None = None
    duration_ms: float = 0.0
    error: str | None = None
    succeeded: bool = False
    final: bool = False
    next_attempt_at: str | None = None
    response_body: str | None = None
    created_at: str


class WebhookEventRecord(Record):
    """The outbox: an event bound for one URL until its last attempt (written in the transaction that caused it)."""

    table: ClassVar[str] = "webhook_events"

    seq: int
    account_id: str
    webhook_id: str | None = None
    submission_id: str | None = None
    url: str
    event_id: str
    event_type: str
    body: str
    attempt: int = 0
    #: when the next attempt is due, in seconds on the emulator's clock (sub-second: retries start at 1 s)
    due: float


RECORD_TYPES: dict[str, type[Record]] = {record.table: record for record in (
    AccountRecord, KeyRecord, InstanceSecret, SubmissionRecord, ResultRecord, LedgerRecord, CodeUploadRecord,
    ImportRecord, IdempotencyRecord, DeviceCodeRecord, WebhookRecord, DeliveryRecord, WebhookEventRecord)}
