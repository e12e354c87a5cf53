"""Create bodies of the quick submission types (contract §5.5): each brings its own fitness code.

One model per slug: the problem's inputs plus the usual metadata and GA parameters
(a quick type has its own defaults for them, and sets the genome itself, so
`num_genes` is accepted and ignored). Code fields are not accepted at all.

The hyperparameters of ``quick_sklearn_rfc_hyperparameters`` are a closed set, one
field each with its own ranges (:data:`RFC_HYPERPARAMETERS`), so the OpenAPI document
says exactly what each accepts.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    Tag,
    model_validator,
)

from .base import FieldProblems, RequestBody, optional
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


# ---------------------------------------------------------------------- quick_sklearn_rfc_hyperparameters

RFC_DATASETS = ("iris", "breast_cancer", "random")
CRITERIA = ("gini", "entropy", "log_loss")
MAX_INTEGER_HYPERPARAMETER = 1000


def _boolean(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


class _Tuned(RequestBody):
    """Evolve the hyperparameter: one gene between `min` and `max`, both included."""

    tune: Literal[True] = Field(description="Evolve this hyperparameter (one gene).")

    @model_validator(mode="after")
    def _ordered(self) -> _Tuned:
        low, high = getattr(self, "min", None), getattr(self, "max", None)
        if low is not None and high is not None and low > high:
            raise FieldProblems([("min", f"must be <= max ({high})")])
        return self


class _Fixed(RequestBody):
    # Only the boolean: pydantic's Literal[False] also takes 0 (0 == False), which the document does not.
    tune: Annotated[Literal[False], BeforeValidator(_boolean)] = Field(default=False, description=(
        "`false`, or leave it out."))


def _setting(name: str, title: str, fixed: Any, doc: str, *, tuned_bound: Any = None) -> Any:
    """``{"tune": true[, "min", "max"]}`` or ``{"fixed": <value>}`` for one hyperparameter.

    The branch is chosen by ``tune``, so a problem is reported against the form the
    client meant, not against both.
    """
    from pydantic import create_model

    range_fields: dict[str, Any] = {} if tuned_bound is None else {
        "min": (tuned_bound, Field(description="The lowest value tried.")),
        "max": (tuned_bound, Field(description="The highest value tried (at least `min`)."))}
    tuned: Any = create_model(f"Rfc{title}Tuned", __base__=_Tuned, __doc__=f"Evolve `{name}`: {doc}",
                              **range_fields)
    held: Any = create_model(f"Rfc{title}Fixed", __base__=_Fixed, __doc__=f"Fix `{name}` for every forest.",
                             fixed=(fixed, Field(description="The value every forest gets.")))
    choose: Any = Union[Annotated[tuned, Tag("Tuned")], Annotated[held, Tag("Fixed")]]
    return Annotated[choose, Discriminator(
        lambda value: "Tuned" if isinstance(value, dict) and value.get("tune") is True else "Fixed")]


IntegerHyperparameter = Annotated[StrictInt, Field(ge=1, le=MAX_INTEGER_HYPERPARAMETER)]
SplitSize = Annotated[StrictInt, Field(ge=2, le=MAX_INTEGER_HYPERPARAMETER)]
FeatureFraction = Annotated[float, Field(gt=0, le=1)]

#: name -> (schema of its setting, default when the body leaves it out (None: scikit-learn's), description),
#: in gene order: the genes of a run are the tuned hyperparameters in this order
RFC_HYPERPARAMETERS: dict[str, tuple[Any, Any, str]] = {
    "n_estimators": (_setting("n_estimators", "NEstimators", IntegerHyperparameter, "trees per forest, 1–1000.",
                              tuned_bound=IntegerHyperparameter), 20,
                     "Trees per forest, 1–1000. Default 20 (scikit-learn's 100 would make every fitness call "
                     "five times slower)."),
    "max_depth": (_setting("max_depth", "MaxDepth", IntegerHyperparameter | None, "the deepest a tree grows, "
                           "1–1000.", tuned_bound=IntegerHyperparameter), None,
                  "How deep a tree grows, 1–1000; fixed `null` (the default) grows until the leaves are pure."),
    "min_samples_split": (_setting("min_samples_split", "MinSamplesSplit", SplitSize, "samples a node needs to "
                                   "be split, 2–1000.", tuned_bound=SplitSize), None,
                          "Samples a node needs to be split, 2–1000 (default 2)."),
    "min_samples_leaf": (_setting("min_samples_leaf", "MinSamplesLeaf", IntegerHyperparameter, "samples every "
                                  "leaf keeps, 1–1000.", tuned_bound=IntegerHyperparameter), None,
                         "Samples every leaf keeps, 1–1000 (default 1)."),
    "max_features": (_setting("max_features", "MaxFeatures", FeatureFraction | Literal["sqrt", "log2"] | None,
                              "the fraction of the features each split looks at, in (0, 1].",
                              tuned_bound=FeatureFraction), None,
                     "The fraction of the features each split looks at, in (0, 1] (a float gene, 3 decimals); "
                     "fixed also `\"sqrt\"` (the default), `\"log2\"` or `null` (every feature)."),
    "criterion": (_setting("criterion", "Criterion", Literal[CRITERIA], "one of gini, entropy, log_loss (the "
                                                                        "gene is an index)."), None,
                  "The split quality measure: `gini` (the default), `entropy` or `log_loss`; tuned, the gene is "
                  "an index into that list."),
    "bootstrap": (_setting("bootstrap", "Bootstrap", StrictBool, "with or without bootstrap samples (the gene "
                                                                 "is 0 or 1)."), None,
                  "Whether each tree sees a bootstrap sample (default `true`); tuned, the gene is 0 (false) or 1 "
                  "(true)."),
}


def _hyperparameters_model() -> type[RequestBody]:
    """One optional field per supported hyperparameter; an unknown name is a 422 naming it."""
    from pydantic import create_model

    supported = ", ".join(RFC_HYPERPARAMETERS)

    def unknown_names(cls: Any, value: Any) -> Any:
        if isinstance(value, dict):
            unknown = [name for name in value if name not in RFC_HYPERPARAMETERS]
            if unknown:
                raise FieldProblems([(str(name), f"is not a supported hyperparameter; supported: {supported}")
                                     for name in unknown])
        return value

    def one_tuned(self: Any) -> Any:
        if not any(getattr(getattr(self, name), "tune", False) for name in self.model_fields_set):
            raise FieldProblems([("", "must tune at least one hyperparameter, e.g. "
                                      "{\"n_estimators\": {\"tune\": true, \"min\": 10, \"max\": 50}}")])
        return self

    # "At least one tuned" in JSON Schema terms, so the document says it too: some hyperparameter
    # is present with "tune": true (only min <= max is left to the validator: no keyword compares two values)
    one_tuned_schema: dict[str, Any] = {"anyOf": [{"required": [name], "properties": {name: {
        "required": ["tune"], "properties": {"tune": {"const": True}}}}} for name in RFC_HYPERPARAMETERS]}

    class AtLeastOne(RequestBody):
        model_config = ConfigDict(json_schema_extra=one_tuned_schema)

    fields: dict[str, Any] = {name: (setting, optional(description)) for name, (setting, _, description)
                              in RFC_HYPERPARAMETERS.items()}
    validators: dict[str, Any] = {"_unknown_names": model_validator(mode="before")(unknown_names),
                                  "_one_tuned": model_validator(mode="after")(one_tuned)}
    model: Any = create_model(
        "RfcHyperparameters", __base__=AtLeastOne,
        __doc__="The forest's hyperparameters: each one tuned (`{\"tune\": true, \"min\": 50, \"max\": 150}`) or "
                "fixed (`{\"fixed\": 10}`); at least one tuned. Left out: the default named.",
        __validators__=validators,
        **fields)
    return model


RfcHyperparameters = _hyperparameters_model()


class RfcInputs(RequestBody):
    dataset_name: Literal[RFC_DATASETS] = Field(description=(
        "`iris` (150 samples, 4 features, 3 classes) or `breast_cancer` (569, 30, 2), both bundled with "
        "scikit-learn, or `random`: `make_classification` (300 samples, 10 features, 2 classes) seeded with "
        "`random_state`."))
    hyperparameters: RfcHyperparameters = Field(description=(
        "What to tune and what to fix; one gene per tuned hyperparameter, in the order of the schema's fields "
        "(the submission's `generated.genes` lists them)."))
    random_state: Annotated[StrictInt, Field(ge=0, le=2**32 - 1)] = Field(default=0, description=(
        "scikit-learn's seed for `random`'s data, the held-out split (30%, stratified) and every forest, so the "
        "same genes always score the same."))


class XorInputs(RequestBody):
    """No inputs: the four XOR cases are the data."""


# ---------------------------------------------------------------------- the models

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
        "quick_sklearn_rfc_hyperparameters": _quick_model(
            "quick_sklearn_rfc_hyperparameters", RfcInputs,
            "Tune a scikit-learn `RandomForestClassifier` (one gene per tuned hyperparameter): fitness is the "
            "accuracy on a held-out part of the dataset, in (0, 1]. Needs the `ml` extra "
            "(`pip install \"vilvik-emulator[ml]\"`)."),
        "quick_keras_xor_training": _quick_model(
            "quick_keras_xor_training", XorInputs,
            "Evolve the 9 weights and biases of a 2-2-1 network (tanh hidden layer, sigmoid output, plain numpy) "
            "on XOR: fitness is 1 / (mean squared error + 0.01), at most 100."),
    }


QUICK_SUBMISSIONS: dict[str, type[RequestBody]] = _models()
