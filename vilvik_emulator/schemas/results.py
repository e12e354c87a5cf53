"""Wire documents of ``/api/v1/results`` (contract §4, §7): update body, filters, rows, details, files."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool

from .base import (
    AbsoluteUrl,
    DateTimeFilter,
    FitnessText,
    FitnessValue,
    PageLink,
    QueryParameters,
    RequestBody,
    ResourceId,
    ResponseDocument,
    Timestamp,
)
from .meta import Name
from .pages import ordering_field
from .submissions import Usage

RESULT_ORDERINGS = ("created_at", "-created_at", "best_solution_fitness", "-best_solution_fitness")
STOPPED_REASON_PATTERN = r"^(num_generations|on_generation|stop_criteria:.+)$"


class ResultUpdate(RequestBody):
    """`PATCH /results/<id>`: only the fields sent change (contract §7)."""

    name: Name | None = None
    is_shared: StrictBool = Field(default=False, description=(
        "A shared result can be read and forked (continue) by any account; it is never listed for others."))


class ResultFilters(QueryParameters):
    submission_id: ResourceId | None = Field(default=None, description="Results of this submission.")
    is_shared: Literal["true", "false"] | None = Field(default=None, description="Shared or not.")
    min_fitness: float | None = Field(default=None, description=(
        "Inclusive lower bound of `best_solution_fitness` (the first objective of a multi-objective run)."))
    max_fitness: float | None = Field(default=None, description="Inclusive upper bound of `best_solution_fitness`.")
    created_after: DateTimeFilter | None = None
    created_before: DateTimeFilter | None = None
    ordering: str | None = ordering_field(RESULT_ORDERINGS, "-created_at")


class ResultFile(ResponseDocument):
    name: Annotated[str, Field(min_length=1)]
    content_type: Annotated[str, Field(min_length=1)]
    size: Annotated[int, Field(ge=0)]
    url: AbsoluteUrl


Genes = list[int | float | str]


class ResultRow(ResponseDocument):
    """A result as a list row; `best_solution` is an addition older SDKs read (contract §14)."""

    id: ResourceId
    submission_id: ResourceId
    name: str | None
    is_shared: bool
    best_solution_fitness: FitnessText | None
    generations_completed: Annotated[int, Field(ge=0)]
    created_at: Timestamp
    best_solution: Genes | None


class ResultDetail(ResultRow):
    """The full result: the row plus genes, the fitness history and file links (contract §7)."""

    best_solution_idx: Annotated[int, Field(ge=0)] | None
    best_solutions_fitness: list[FitnessValue] = Field(description=(
        "Best fitness of every generation (the fitness evolution chart)."))
    best_solution_generation: Annotated[int, Field(ge=0)] | None
    last_generation_fitness: list[FitnessValue] | None
    stopped_reason: Annotated[str, Field(pattern=STOPPED_REASON_PATTERN)] | None = Field(description=(
        "What ended the run: `num_generations`, `stop_criteria:<criterion>` or `on_generation`."))
    parameters: dict[str, object]
    usage: Usage | None
    parent_result_id: ResourceId | None
    files: list[ResultFile]


class ResultList(ResponseDocument):
    results: list[ResultRow]
    next: PageLink | None
    previous: PageLink | None
