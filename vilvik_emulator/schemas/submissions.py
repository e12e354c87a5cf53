"""Wire documents of ``/api/v1/submissions`` (contract §4, §5): bodies, filters, rows, details."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StrictStr, TypeAdapter, model_validator

from .base import (
    AbsoluteUrl,
    DateTimeFilter,
    Email,
    FieldProblems,
    FitnessText,
    PageLink,
    QueryParameters,
    RequestBody,
    RequestId,
    ResourceId,
    ResponseDocument,
    Timestamp,
    WebhookUrl,
)
from .code import CodeFields, code_rules_schema, pairing_problems
from .ga import GaParameters
from .meta import VISIBILITIES, Description, Name, SubmissionMeta, Visibility
from .pages import ordering_field
from .quick import QUICK_SUBMISSIONS

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
SOURCES = ("api", "web")
RUN_ERROR_CODES = ("fitness_error", "timeout", "out_of_memory", "worker_crashed", "invalid_parameters",
                   "worker_lost", "internal_error")
SUBMISSION_ORDERINGS = ("created_at", "-created_at", "name", "-name", "status", "-status")

Status = Literal[STATUSES]


# ---------------------------------------------------------------------- request bodies

def _pairing(body: RequestBody) -> RequestBody:
    problems = pairing_problems(body)
    if problems:
        raise FieldProblems(problems)
    return body


def _new_submission_rules() -> dict[str, Any]:
    """The code's pairing rules, and the genome's size: `num_genes`, or the rows of `initial_population`."""
    rules = code_rules_schema(required_fitness=True)
    rules["allOf"].append({"anyOf": [
        {"required": ["num_genes"], "properties": {"num_genes": {"type": "integer"}}},
        {"required": ["initial_population"], "properties": {"initial_population": {"type": "array"}}}]})
    return rules


class NewSubmission(SubmissionMeta, GaParameters, CodeFields):
    """`POST /submissions` for your own problem: GA parameters plus the fitness code (contract §5)."""

    model_config = ConfigDict(json_schema_extra=_new_submission_rules())

    submission_type: Literal["new"] = "new"

    @model_validator(mode="after")
    def _code_pairs(self) -> NewSubmission:
        return _pairing(self)  # type: ignore[return-value]


def _submission_type(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    kind = body.get("submission_type", "new")
    return kind if isinstance(kind, str) and kind in SUBMISSION_TYPES else None


SUBMISSION_TYPES = ("new", *QUICK_SUBMISSIONS)


def submission_create_adapter() -> TypeAdapter[Any]:
    """The create body: one model per `submission_type` (absent means `new`)."""
    from typing import Union

    from pydantic import Discriminator, Tag

    variants = [Annotated[NewSubmission, Tag("new")],
                *(Annotated[model, Tag(slug)] for slug, model in QUICK_SUBMISSIONS.items())]
    union: Any = Union[tuple(variants)]
    return TypeAdapter(Annotated[union, Discriminator(
        _submission_type, custom_error_type="unknown_submission_type",
        custom_error_message=f"is not supported by the emulator; supported: {', '.join(SUBMISSION_TYPES)}")])


SubmissionCreate = submission_create_adapter()
#: every field a create body can have, whatever its type
CREATE_FIELDS = frozenset({"submission_type", *NewSubmission.model_fields,
                           *(name for model in QUICK_SUBMISSIONS.values() for name in model.model_fields)})


class SubmissionOverrides(SubmissionMeta, GaParameters, CodeFields):
    """Re-execute and continue: any create field to change; everything else comes from the parent (§5.4, §7).

    `num_genes`, `gene_type` and `custom_gene_type` cannot change (the genome's shape),
    nor `submission_type`; for quick types neither can the fitness function. Those are
    checked against the parent by the service.
    """

    model_config = ConfigDict(json_schema_extra=code_rules_schema(required_fitness=False))

    # Accepted so that a client repeating its create body (the SDK's create sends it) is told
    # the type cannot change, rather than that the field is unknown; the parent's own type is fine.
    submission_type: Annotated[StrictStr, Field(max_length=100)] | None = Field(default=None, description=(
        "Only the parent's own type: a run's type never changes (another value is a 422)."))

    @model_validator(mode="after")
    def _code_pairs(self) -> SubmissionOverrides:
        return _pairing(self)  # type: ignore[return-value]

    def meta_given(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SubmissionMeta.model_fields if name in self.model_fields_set}


PATCHABLE = ("name", "description", "visibility", "notification_email", "webhook_url")


class SubmissionPatch(RequestBody):
    """`PATCH /submissions/<id>` (contract §5.3a): only what the run is called and who hears of it."""

    name: Name | None = None
    description: Description | None = None
    visibility: Visibility = "private"
    notification_email: Email | None = None
    webhook_url: WebhookUrl | None = None

    @model_validator(mode="before")
    @classmethod
    def _only_patchable(cls, data: Any) -> Any:
        """A create field says why it cannot change (pydantic would only call it unknown)."""
        if isinstance(data, dict):
            fixed = [name for name in data if name not in PATCHABLE and name in CREATE_FIELDS]
            if fixed:
                raise FieldProblems([(name, "cannot change once a run is created (re-execute or continue it "
                                            f"instead); PATCH changes only {', '.join(PATCHABLE)}") for name in fixed])
        return data


# ---------------------------------------------------------------------- filters

CSV_OF = "^({0})(,({0}))*$"


class SubmissionFilters(QueryParameters):
    """`GET /submissions` (contract §4): filters combine with AND; unknown orderings are ignored (DRF)."""

    status: Annotated[str, Field(pattern=CSV_OF.format("|".join(STATUSES)),
                                 description="Comma-separated statuses.")] | None = None
    source: Literal[SOURCES] | None = Field(default=None, description="`api` or `web`.")
    submission_type: Annotated[str, Field(pattern=r"^[a-z0-9_]+(,[a-z0-9_]+)*$",
                                          description="Comma-separated submission types.")] | None = None
    visibility: Annotated[str, Field(pattern=CSV_OF.format("|".join(VISIBILITIES)),
                                     description="Comma-separated visibilities.")] | None = None
    created_after: DateTimeFilter | None = Field(default=None, description="Inclusive.")
    created_before: DateTimeFilter | None = Field(default=None, description="Inclusive.")
    parent_submission_id: ResourceId | None = Field(default=None, description="Children of this submission.")
    name_contains: Annotated[str, Field(max_length=100, description=(
        "Case-insensitive substring of the name."))] | None = None
    ordering: str | None = ordering_field(SUBMISSION_ORDERINGS, "-created_at")


# ---------------------------------------------------------------------- responses

class Usage(ResponseDocument):
    cpu_seconds: Annotated[float, Field(ge=0)]
    peak_memory_mb: Annotated[float, Field(ge=0)]
    wall_seconds: Annotated[float, Field(ge=0)]


class Progress(ResponseDocument):
    """Live while the job runs (updated at least every 0.5 s), final afterwards."""

    generations_completed: Annotated[int, Field(ge=0)]
    num_generations: Annotated[int, Field(ge=0)] | None
    best_fitness: FitnessText | None


class RunError(ResponseDocument):
    """Why a `failed` run failed (contract §5.1); the traceback shows only the user's code."""

    code: Literal[RUN_ERROR_CODES]
    message: str
    traceback: str


class SubmissionCreated(ResponseDocument):
    """The 202 of create, re-execute and continue (contract §5, §5.4, §7)."""

    id: ResourceId
    status: Status
    status_url: AbsoluteUrl
    result_url: AbsoluteUrl
    created_at: Timestamp
    name: str | None
    description: str | None
    submission_type: str
    generated: dict[str, Any] = Field(description="What a quick type filled in or generated.")
    parent_submission: ResourceId | None = Field(description=(
        "Continue: the result forked from; re-execute: the submission re-run (SDK README)."))
    parent_submission_id: ResourceId | None
    parent_result_id: ResourceId | None
    request_id: RequestId


class SubmissionRow(ResponseDocument):
    """A submission as a list row: exactly the documented fields (contract §5.2)."""

    id: ResourceId
    name: str | None
    status: Status
    source: Literal[SOURCES]
    created_at: Timestamp


class GaParameterValues(ResponseDocument):
    """Every effective PyGAD parameter, defaults filled in (contract §6)."""

    model_config = ConfigDict(extra="allow", json_schema_extra=lambda schema: schema.pop("additionalProperties", None))

    num_generations: Annotated[int, Field(ge=1)]
    num_parents_mating: Annotated[int, Field(ge=1)]
    sol_per_pop: Annotated[int, Field(ge=2)]
    num_genes: Annotated[int, Field(ge=1)] | None


class SubmissionDetail(ResponseDocument):
    """The full submission row, with live progress while it runs (contract §5.1)."""

    id: ResourceId
    name: str | None
    description: str | None
    status: Status
    source: Literal[SOURCES]
    submission_type: Annotated[str, Field(pattern=r"^(new|quick_[a-z0-9_]+)$")]
    visibility: Visibility
    parent_submission: ResourceId | None
    parent_submission_id: ResourceId | None
    parent_result_id: ResourceId | None
    imported: bool = Field(description="An import (contract §10): the run happened on the client's machine.")
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    status_url: AbsoluteUrl
    result_url: AbsoluteUrl
    parameters: GaParameterValues
    code: dict[str, str] = Field(description=(
        "Each code field's source and its `<field>_entry` (and `<field>_id` when it came from a code upload)."))
    progress: Progress
    error: RunError | None
    usage: Usage | None
    credits_used: Annotated[float, Field(ge=0)] | None
    webhook_url: str | None
    notification_email: str | None
    generated: dict[str, Any]
    result_id: ResourceId | None = Field(description="The run's result once there is one (an emulator addition).")


class SubmissionList(ResponseDocument):
    results: list[SubmissionRow]
    next: PageLink | None
    previous: PageLink | None
