"""Wire documents of the control plane (contract §13): the emulator's own surface under ``/_emulator``."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Union

from pydantic import (
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    TypeAdapter,
    model_validator,
)

from ..errors import CATALOGUE
from ..store import SCHEMA_VERSION
from .accounts import AccountId, Expiry, RunMode
from .base import (
    WHOLE,
    FieldProblems,
    QueryParameters,
    RequestBody,
    RequestId,
    ResponseDocument,
    Timestamp,
    optional,
)
from .ga import Number
from .submissions import RUN_ERROR_CODES, STATUSES, Usage

#: the clock's range: every date the emulator writes (plus a year of expiry arithmetic) keeps a four-digit year
CLOCK_MIN_YEAR, CLOCK_MAX_YEAR = 1970, 9998
ClockTime = Expiry
MAX_CLOCK_STEP = 300 * 366 * 86_400  # seconds; the resulting time must stay in the clock's range too


def _range(low: float, high: float) -> Any:
    """A number in [low, high], an integer staying an integer."""
    return Annotated[StrictInt, Field(ge=math.ceil(low), le=math.floor(high))] | Annotated[
        StrictFloat, Field(ge=low, le=high)]


def _integer(low: int, high: int) -> Any:
    return Annotated[int, Strict(), Field(ge=low, le=high), WHOLE]


# ---------------------------------------------------------------------- state

class ResetRequest(RequestBody):
    account: AccountId | None = Field(default=None, description="Reset only this account.")
    keep_config: StrictBool = Field(default=False, description="Keep the runtime configuration (a full reset only).")


class ResetDone(ResponseDocument):
    status: Literal["reset"]
    account: str | None


class ClockState(ResponseDocument):
    now: Timestamp
    frozen: bool


class RunnerStats(ResponseDocument):
    queued: Annotated[int, Field(ge=0)]
    running: Annotated[int, Field(ge=0)]
    pool_size: Annotated[int, Field(ge=1)]


class ControlHealth(ResponseDocument):
    status: Literal["ok"]
    version: Annotated[str, Field(min_length=1)]
    mode: RunMode
    uptime_seconds: Annotated[float, Field(ge=0)]
    store: dict[str, Any]
    runner: RunnerStats
    clock: ClockState


class AccountFilter(QueryParameters):
    account: AccountId | None = Field(default=None, description="Only this account's.")


# ---------------------------------------------------------------------- clock

class ClockFreeze(RequestBody):
    action: Literal["freeze"]


class ClockResume(RequestBody):
    action: Literal["resume"]


class ClockSet(RequestBody):
    action: Literal["set"]
    to: ClockTime


class ClockAdvance(RequestBody):
    action: Literal["advance"]
    seconds: _range(-MAX_CLOCK_STEP, MAX_CLOCK_STEP) = Field(description=(
        "Seconds to move (negative moves back); the result must stay between 1970 and 9998."))


def _tag(name: str) -> Any:
    def tag(body: Any) -> str | None:
        value = body.get(name) if isinstance(body, dict) else None
        return value if isinstance(value, str) else None

    return tag


def _tagged(name: str, models: dict[str, type[RequestBody]], message: str) -> TypeAdapter[Any]:
    variants = tuple(Annotated[model, Tag(slug)] for slug, model in models.items())
    union: Any = Union[variants]
    return TypeAdapter(Annotated[union, Discriminator(
        _tag(name), custom_error_type=f"unknown_{name}", custom_error_message=message)])


ClockAction = _tagged("action", {"freeze": ClockFreeze, "resume": ClockResume, "set": ClockSet,
                                 "advance": ClockAdvance}, "must be freeze, resume, set or advance")


# ---------------------------------------------------------------------- job control

WaitStatus = Literal[tuple(["terminal", *STATUSES])]


class WaitQuery(QueryParameters):
    status: WaitStatus = Field(
        default="terminal", description="`terminal` or a status.")
    timeout: Annotated[float, Field(ge=0, le=3600, allow_inf_nan=False)] = Field(default=30, description="Seconds.")


class CannedResult(RequestBody):
    """With `succeeded`: the result to record instead of running PyGAD; the rest is filled in plausibly."""

    best_solution_fitness: Number | Annotated[list[Number], Field(min_length=1)] | Annotated[
        str, Field(pattern=r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$|^\[[\s\S]*\]$")] = 0.0
    best_solution: Annotated[list[Number], Field(max_length=100_000)] | None = None
    generations_completed: Annotated[int, Strict(), Field(ge=0, le=10_000_000), WHOLE] | None = None
    best_solutions_fitness: Annotated[list[Number | list[Number]], Field(max_length=10_000_001)] | None = None
    best_solution_generation: Annotated[int, Strict(), Field(ge=0), WHOLE] | None = None
    best_solution_idx: Annotated[int, Strict(), Field(ge=0), WHOLE] | None = None
    last_generation_fitness: list[Number | list[Number]] | None = None
    population: Annotated[list[list[Number]], Field(min_length=1)] | None = None
    stopped_reason: Annotated[str, Field(
        pattern=r"^(num_generations|on_generation|stop_criteria:[^\n\r\u2028\u2029]{1,200})$")] | None = None


class CannedError(RequestBody):
    code: Literal[RUN_ERROR_CODES] = "fitness_error"
    message: Annotated[StrictStr, Field(max_length=10_000)] = "failed through the control plane"
    traceback: Annotated[StrictStr, Field(max_length=100_000)] = ""


class AdvanceRunning(RequestBody):
    to: Literal["running"]


class AdvanceRun(RequestBody):
    to: Literal["run"]


class AdvanceSucceeded(RequestBody):
    to: Literal["succeeded"]
    result: CannedResult = Field(default_factory=CannedResult)


class AdvanceFailed(RequestBody):
    to: Literal["failed"]
    error: CannedError = Field(default_factory=CannedError)


class AdvanceCancelled(RequestBody):
    to: Literal["cancelled"]


AdvanceRequest = _tagged("to", {"running": AdvanceRunning, "run": AdvanceRun, "succeeded": AdvanceSucceeded,
                                "failed": AdvanceFailed, "cancelled": AdvanceCancelled},
                         "must be running, run, succeeded, failed or cancelled")


# ---------------------------------------------------------------------- credits

class LedgerEntry(ResponseDocument):
    """One charge (contract §8)."""

    id: Annotated[str, Field(pattern=r"^chg_[A-Za-z0-9]{12}$")]
    account_id: AccountId
    submission_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{12}$")]
    amount: Annotated[float, Field(ge=0)]
    balance_after: float
    reason: str = Field(description="How the run ended (`succeeded`, `cancelled`, a failure code).")
    usage: Usage
    created_at: Timestamp


class Ledger(ResponseDocument):
    balance: float
    results: list[LedgerEntry] = Field(description="Newest first.")


# ---------------------------------------------------------------------- runtime configuration

class Limits(ResponseDocument):
    """Per-job resource limits (contract §6)."""

    runtime_seconds: Annotated[float, Field(gt=0)]
    memory_mb: Annotated[int, Field(ge=1)]
    output_bytes: Annotated[int, Field(ge=0)]
    max_processes: Annotated[int, Field(ge=1)]


class RateLimit(ResponseDocument):
    requests: Annotated[int, Field(ge=1)]
    window_seconds: Annotated[float, Field(gt=0)]


class RuntimeConfig(ResponseDocument):
    """The settings that can change while the server runs."""

    mode: RunMode
    pool_size: Annotated[int, Field(ge=1)]
    limits: Limits
    max_body_bytes: Annotated[int, Field(ge=1)]
    default_credits: Annotated[float, Field(ge=0)]
    cpu_rate: Annotated[float, Field(ge=0)]
    memory_rate: Annotated[float, Field(ge=0)]
    rate_limit: RateLimit | None = Field(description="The optional per-key request limit; null when off (the default).")
    auto_approve_login: bool
    device_poll_interval: Annotated[float, Field(ge=0)]
    accept_unknown_keys: bool = Field(description=(
        "Accept a key the emulator does not know, as the default account's (intercept mode, contract §13a)."))


class LimitsChanges(RequestBody):
    runtime_seconds: _range(0.1, 86_400) = optional()
    memory_mb: _integer(64, 1_048_576) = optional()
    output_bytes: _integer(0, 1 << 30) = optional()
    max_processes: _integer(1, 100_000) = optional()


class RateLimitChange(RequestBody):
    requests: _integer(1, 1_000_000)
    window_seconds: _range(0.001, 86_400)


class ConfigChanges(RequestBody):
    """Only the settings sent change; every one is checked before any applies."""

    mode: RunMode = optional()
    pool_size: _integer(1, 256) = optional()
    limits: LimitsChanges = optional()
    max_body_bytes: _integer(1024, 1 << 30) = optional()
    default_credits: _range(0, 1e12) = optional()
    cpu_rate: _range(0, 1e6) = optional()
    memory_rate: _range(0, 1e6) = optional()
    rate_limit: RateLimitChange | None = Field(default=None, description="null turns the limit off.")
    auto_approve_login: StrictBool = optional()
    device_poll_interval: _range(0, 60) = optional()
    accept_unknown_keys: StrictBool = optional()


# ---------------------------------------------------------------------- faults and the journal

FAULT_METHODS = ("*", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class FaultCreate(RequestBody):
    """A fault rule for `/api/v1` requests: answer with an error, delay, or drop the connection."""

    # Something to do: a status (not null), a delay, or a drop.
    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": ["status"], "properties": {"status": {"type": "integer"}}},
        {"required": ["delay_ms"], "properties": {"delay_ms": {"minimum": 1}}},
        {"required": ["action"], "properties": {"action": {"const": "drop"}}}]})

    method: Annotated[str, Field(pattern=r"^(\*|[Gg][Ee][Tt]|[Hh][Ee][Aa][Dd]|[Pp][Oo][Ss][Tt]|[Pp][Uu][Tt]|"
                                         r"[Pp][Aa][Tt][Cc][Hh]|[Dd][Ee][Ll][Ee][Tt][Ee]|[Oo][Pp][Tt][Ii][Oo][Nn][Ss])$",
                                 description="An HTTP method or `*`.")] = "*"
    path: Annotated[StrictStr, Field(min_length=1, max_length=1000, description=(
        "A glob over the request path, e.g. `/api/v1/submissions*`."))] = "*"
    action: Literal["respond", "drop"] = "respond"
    status: _integer(400, 599) | None = Field(default=None, description=(
        "Required for `respond` unless the rule only delays."))
    code: Literal[tuple(CATALOGUE)] | None = Field(default=None, description=(
        "Default: the catalogue's code for `status`."))
    message: Annotated[StrictStr, Field(min_length=1, max_length=10_000)] | None = None
    delay_ms: _integer(0, 600_000) = 0
    retry_after: _integer(0, 86_400) | None = None
    count: Annotated[int, Strict(), Field(ge=1, le=1_000_000_000), WHOLE] | None = Field(default=None, description=(
        "Null: every match."))
    probability: _range(0, 1) = 1
    seed: Annotated[int, Strict(), Field(ge=-(2 ** 63), le=2 ** 63 - 1), WHOLE] | None = None

    @model_validator(mode="after")
    def _something_to_do(self) -> FaultCreate:
        if self.action == "respond" and self.status is None and not self.delay_ms:
            raise FieldProblems([("status", "is required unless the rule only delays (delay_ms) or drops")])
        return self


class FaultRule(ResponseDocument):
    """A fault injection rule; it applies to `/api/v1` only."""

    id: Annotated[str, Field(pattern=r"^fault_[A-Za-z0-9]{12}$")]
    method: str
    path: str
    action: Literal["respond", "drop"]
    status: Annotated[int, Field(ge=400, le=599)] | None
    code: str | None
    message: str | None
    delay_ms: Annotated[int, Field(ge=0)]
    retry_after: Annotated[int, Field(ge=0)] | None
    count: Annotated[int, Field(ge=1)] | None
    probability: Annotated[float, Field(ge=0, le=1)]
    seed: int | None
    matched: Annotated[int, Field(ge=0)]
    remaining: Annotated[int, Field(ge=0)] | None


class FaultList(ResponseDocument):
    results: list[FaultRule] = Field(description="In matching order (the first live rule wins).")


class JournalQuery(QueryParameters):
    method: Annotated[str, Field(max_length=20)] | None = Field(default=None, description="Only this method.")
    path: Annotated[str, Field(max_length=1000)] | None = Field(default=None, description="A glob over the path.")
    status: Annotated[int, Field(ge=100, le=599)] | None = Field(default=None, description="Only this status.")
    limit: Annotated[int, Field(ge=1, le=2000)] = Field(default=100, description="At most this many entries.")


class JournalEntry(ResponseDocument):
    """One `/api/v1` request and its outcome."""

    seq: Annotated[int, Field(ge=1)]
    at: Timestamp
    method: str
    path: str
    query: dict[str, str]
    body: Any = Field(description="The JSON body, text when it is not JSON, or null.")
    status: int | None = Field(description="Null when a fault dropped the connection.")
    error_code: str | None
    request_id: RequestId
    account: str | None
    idempotency_key: str | None
    replayed: bool
    fault: str | None = Field(description="The fault rule that hit the request.")
    dropped: bool
    duration_ms: Annotated[float, Field(ge=0)]


class Journal(ResponseDocument):
    results: list[JournalEntry] = Field(description="Newest first.")


# ---------------------------------------------------------------------- snapshots

class Snapshot(ResponseDocument):
    """The whole state as one document."""

    emulator_version: str
    exported_at: Timestamp
    schema_version: Annotated[int, Field(ge=1)]
    tables: dict[str, dict[str, dict[str, Any]]] = Field(description="Each table's records by id.")
    files: dict[str, str] = Field(description="Result files by relative path, base64.")


#: a snapshot's file path: three parts, none empty, none starting with a dot (the store's rule)
FILE_PATH = r"^[^./\\][^/\\]*/[^./\\][^/\\]*/[^./\\][^/\\]*$"


class SnapshotImport(RequestBody):
    """A document exported by `GET /_emulator/snapshot` (its records are checked table by table)."""

    model_config = ConfigDict(extra="ignore")

    schema_version: Annotated[int, Strict(), Field(ge=1, le=SCHEMA_VERSION, description=(
        "The store schema the snapshot was written with; a newer one than this emulator reads is refused.")), WHOLE]
    tables: dict[str, dict[str, dict[str, Any]]]
    #: ``<owner table>/<owner id>/<name>``, no part empty or starting with a dot -> base64 content
    files: dict[Annotated[str, Field(pattern=FILE_PATH)],
                Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]*={0,2}$")]] = Field(
        default_factory=dict, json_schema_extra={"additionalProperties": False})
    emulator_version: StrictStr | None = None
    exported_at: StrictStr | None = None


class SnapshotImported(ResponseDocument):
    status: Literal["imported"]


class DrainRequest(RequestBody):
    timeout: _range(0, 600) = 30

