"""Wire documents of ``/api/v1/imports`` (contract §10): a local PyGAD run brought in as a record."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, Strict, StrictBool, StrictStr, create_model

from ..runner.params import CODE_ROLES
from .base import WHOLE, AbsoluteUrl, RequestBody, ResourceId, ResponseDocument
from .code import Entry, Source
from .ga import GaParameters, Number
from .meta import Description, Name

Fitness = Number | Annotated[list[Number], Field(min_length=1)]


class ImportGaParameters(GaParameters):
    """The run's parameters; `num_genes` may be left out (it then comes from `best_solution`)."""

    num_generations: Annotated[int, Strict(), Field(ge=1), WHOLE] = Field(
        description="Generations the local run was set to.")


def _code_definitions() -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for role in CODE_ROLES:
        required = role == "fitness_func"
        fields[role] = (Source if required else Source | None,
                        Field(... if required else None, description=f"The `{role}` source of the local run."))
        fields[f"{role}_entry"] = (Entry | None, Field(default=None, description=(
            "Optional here: when absent it is detected like the SDK does (the last top-level def/class; "
            "for `gene_constraint`, the last assignment).")))
    return fields


ImportCode: type[RequestBody] = create_model("ImportCode", __base__=RequestBody, __doc__="The run's code fields.",
                                             **_code_definitions())


class ImportResult(RequestBody):
    """The local run's outcome, as `vilvik.push` extracts it."""

    best_solution: Annotated[list[Number], Field(min_length=1)]
    best_solution_fitness: Fitness
    generations_completed: Annotated[int, Strict(), Field(ge=0), WHOLE]
    best_solutions_fitness: list[Fitness] | None = None
    best_solution_generation: Annotated[int, Strict(), Field(ge=0), WHOLE] | None = None
    best_solution_idx: Annotated[int, Strict(), Field(ge=0), WHOLE] | None = None
    last_generation_fitness: list[Fitness] | None = None
    population: Annotated[list[Annotated[list[Number], Field(min_length=1)]], Field(min_length=1)] | None = None
    gene_type_single: StrictBool | None = None


class ImportOrigin(RequestBody):
    """Where the run came from (`vilvik.push` sends these; any other string field is kept too)."""

    model_config = ConfigDict(extra="allow")

    client: Annotated[StrictStr, Field(max_length=200)] | None = None
    sdk_version: Annotated[StrictStr, Field(max_length=200)] | None = None
    python_version: Annotated[StrictStr, Field(max_length=200)] | None = None


class ImportCreate(RequestBody):
    name: Name | None = None
    description: Description | None = None
    ga_parameters: ImportGaParameters
    code: ImportCode
    result: ImportResult
    origin: ImportOrigin | None = None


class ImportCreated(ResponseDocument):
    """`id` is the new submission's id (`submission_id` repeats it): the record is an editable, continuable run."""

    id: ResourceId
    submission_id: ResourceId
    result_id: ResourceId
    result_url: AbsoluteUrl
