"""Create bodies of the quick submission types (contract §5.5): each brings its own fitness code.

One model per slug: the problem's inputs plus the usual metadata and GA parameters
(a quick type has its own defaults for them, and sets the genome itself, so
`num_genes` is accepted and ignored). Code fields are not accepted at all.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StrictInt, StrictStr, model_validator

from .base import FieldProblems, RequestBody
from .ga import GaParameters, Number
from .meta import SubmissionMeta

MAX_ITEMS = 10_000


Integer = StrictInt
NonNegative = Annotated[StrictInt, Field(ge=0)] | Annotated[float, Field(ge=0, strict=True)]


class SubsetSumInputs(RequestBody):
    integers: Annotated[list[Integer], Field(min_length=1, max_length=MAX_ITEMS)] | None = Field(
        default=None, description="The integers to choose from (or `num_integers` to have them generated).")
    num_integers: Annotated[StrictInt, Field(ge=1, le=MAX_ITEMS)] | None = Field(
        default=None, description="Generate this many integers in 1..100 (seeded by `random_seed`); they come back "
                                  "under `generated.integers`.")
    target: Integer = Field(description="The sum to reach.")

    @model_validator(mode="after")
    def _one_source(self) -> SubsetSumInputs:
        if (self.integers is None) == (self.num_integers is None):
            raise FieldProblems([("integers", "send either integers or num_integers (exactly one)")])
        return self


class KnapsackInputs(RequestBody):
    item_names: Annotated[list[Annotated[StrictStr, Field(max_length=200)]], Field(
        min_length=1, max_length=MAX_ITEMS)] | None = Field(default=None, description="One per item value.")
    item_values: Annotated[list[Number], Field(min_length=1, max_length=MAX_ITEMS)] = Field(
        description="The value of each item.")
    item_weights: Annotated[list[Annotated[list[Number], Field(min_length=1)]], Field(
        min_length=1, max_length=MAX_ITEMS)] = Field(description="One list per item, one weight per dimension.")
    dimension_names: Annotated[list[Annotated[StrictStr, Field(max_length=200)]], Field(
        min_length=1)] | None = Field(default=None, description="One per capacity.")
    dimension_capacities: Annotated[list[NonNegative], Field(min_length=1)] = Field(
        description="The capacity of each dimension.")


def _quick_model(slug: str, inputs: type[RequestBody], doc: str) -> type[RequestBody]:
    """``<Inputs>`` + metadata + GA parameters, tagged with its ``submission_type``."""
    from pydantic import create_model

    name = "".join(part.title() for part in slug.removeprefix("quick_").split("_")) + "Submission"
    tag: Any = Literal[slug]  # a literal built at run time, one per quick type
    model: Any = create_model(name, __base__=(SubmissionMeta, GaParameters, inputs), __doc__=doc,
                              submission_type=(tag, Field(description="The quick type.")))
    return model  # type: ignore[return-value]


def _models() -> dict[str, type[RequestBody]]:
    return {
        "quick_binary_subset_sum": _quick_model(
            "quick_binary_subset_sum", SubsetSumInputs,
            "Choose integers (a 0/1 gene each) whose sum is `target`: fitness 0 is an exact hit."),
        "quick_knapsack": _quick_model(
            "quick_knapsack", KnapsackInputs,
            "Pack items (a 0/1 gene each) for the most value within every capacity."),
    }


QUICK_SUBMISSIONS: dict[str, type[RequestBody]] = _models()
