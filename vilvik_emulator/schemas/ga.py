"""The GA parameters of a submission as they travel in JSON (contract §6): one field per ``pygad.GA`` argument.

Every ``pygad.GA`` constructor argument except the code fields (``fitness_func``, the
``on_*`` callbacks, ``gene_constraint``), ``logger`` and ``suppress_warnings`` is a
field here, typed with the JSON forms the SDK sends. A test pins the field list to
PyGAD's signature, so a PyGAD upgrade that adds a parameter fails loudly.

Types and single-value ranges are checked here; what depends on several parameters
(``num_parents_mating <= sol_per_pop``, ``keep_elitism <= sol_per_pop``, gene counts of
per-gene lists, operator compatibility) is PyGAD's own constructor's business, run at
create time by :mod:`vilvik_emulator.core.parameters` — the one place those rules live.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, Strict, StrictBool, StrictFloat, StrictInt

from .base import WHOLE, RequestBody, WholeInt, pattern_message

#: every numeric type PyGAD supports, by the names the SDK sends (``np.`` is accepted as ``numpy.``)
GENE_TYPE_NAMES = ("int", "float", *(f"{prefix}.{name}" for prefix in ("numpy", "np") for name in (
    "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64")))
PARENT_SELECTION_TYPES = ("sss", "rws", "sus", "random", "tournament", "tournament_nsga2", "nsga2",
                          "tournament_nsga3", "nsga3", "rank")
CROSSOVER_TYPES = ("single_point", "two_points", "uniform", "scattered", "sbx")
MUTATION_TYPES = ("random", "swap", "inversion", "scramble", "adaptive", "polynomial")

_NUMBER = r"[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?"
STOP_CRITERION_PATTERN = pattern_message(
    rf"^(reach(_{_NUMBER})+|time_\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?|saturate_[1-9][0-9]{{0,8}}"
    r"|evaluations_[1-9][0-9]{0,17})$",
    "must be reach_<fitness>[_<fitness>...], saturate_<generations>, time_<seconds> or evaluations_<count>")

Number = StrictInt | StrictFloat
PositiveNumber = Annotated[int, Strict(), Field(gt=0), WHOLE] | Annotated[StrictFloat, Field(gt=0)]
Probability = Annotated[int, Strict(), Field(ge=0, le=1), WHOLE] | Annotated[StrictFloat, Field(ge=0, le=1)]
Percent = Annotated[int, Strict(), Field(gt=0, le=100), WHOLE] | Annotated[StrictFloat, Field(gt=0, le=100)]
GeneTypeName = Literal[GENE_TYPE_NAMES]
GeneTypeEntry = GeneTypeName | WholeInt | list[GeneTypeName | WholeInt | None] | None
StopCriterion = Annotated[str, Field(pattern=STOP_CRITERION_PATTERN, max_length=200)]


class GeneRange(RequestBody):
    """A continuous (or stepped) range of gene values: a Python ``range`` arrives as a dict with a step."""

    low: Number
    high: Number
    step: Number | None = None


GeneSpaceEntry = Number | None | GeneRange | Annotated[list[Number | None], Field(min_length=1)]


def _pair(value: Any) -> Any:
    """A JSON array arrives as a list; strict validation wants the tuple the schema describes."""
    return tuple(value) if isinstance(value, list) else value


def ga_field(documented_default: Any, description: str, **constraints: Any) -> Any:
    """A GA parameter: absent means PyGAD's (or the emulator's) default, shown in the document."""
    return Field(default=None, description=description,
                 json_schema_extra={"default": documented_default}, **constraints)


class GaParameters(RequestBody):
    """Every PyGAD parameter a body may carry; absent ones take their defaults (contract §5, §6)."""

    num_generations: Annotated[int, Strict(), Field(ge=1), WHOLE] | None = ga_field(
        100, "Generations to run (the SDK's default 100).")
    num_parents_mating: Annotated[int, Strict(), Field(ge=1), WHOLE] | None = ga_field(
        None, "Parents per generation, at most `sol_per_pop`; default half of `sol_per_pop`, at least 2.")
    sol_per_pop: Annotated[int, Strict(), Field(ge=2), WHOLE] | None = ga_field(
        50, "Solutions per population (the website's \"number of chromosomes\"; the SDK's default 50).")
    num_genes: Annotated[int, Strict(), Field(ge=1), WHOLE] | None = ga_field(
        None, "Genes per solution: required for `new` (unless `initial_population` gives it); quick types set it.")
    fitness_batch_size: Annotated[int, Strict(), Field(ge=1), WHOLE] | None = ga_field(
        None, "Solutions per fitness call, between 1 and `sol_per_pop`; null: one call per solution.")
    initial_population: Annotated[list[Annotated[list[Number], Field(min_length=1)]], Field(min_length=1)] | None = \
        ga_field(None, "A rectangular list of solutions; it decides `sol_per_pop` and `num_genes` unless they are "
                       "sent.")
    init_range_low: Number | Annotated[list[Number], Field(min_length=1)] | None = ga_field(
        -4, "Lower bound of the random initial genes (one number, or one per gene).")
    init_range_high: Number | Annotated[list[Number], Field(min_length=1)] | None = ga_field(
        4, "Upper bound of the random initial genes (one number, or one per gene).")
    # Not nullable, unlike its neighbours: PyGAD has no gene_type None, and null is refused (absent is "float").
    gene_type: GeneTypeName | Literal["custom"] | Annotated[list[GeneTypeEntry], Field(min_length=1)] = \
        ga_field("float", "A type name, a list (one type or `[type, precision]` per gene), or `custom` with "
                          "`custom_gene_type`.")
    custom_gene_type: Annotated[str, Field(min_length=1, max_length=100_000)] | None = ga_field(
        None, "With `gene_type: \"custom\"`: a type expression such as `[int, float, numpy.float32]` or "
              "`[float, 2]`, parsed with a whitelist of names, never evaluated.")
    parent_selection_type: Literal[PARENT_SELECTION_TYPES] | None = ga_field(
        "sss", "The parent selection operator.")
    keep_parents: Annotated[int, Strict(), Field(ge=-1), WHOLE] | None = ga_field(
        -1, "Parents kept in the next population (-1: all, 0: none); at most `num_parents_mating`.")
    keep_elitism: Annotated[int, Strict(), Field(ge=0), WHOLE] | None = ga_field(
        1, "Best solutions kept in the next population; at most `sol_per_pop`.")
    K_tournament: Annotated[int, Strict(), Field(ge=1), WHOLE] | None = ga_field(
        3, "Solutions per tournament (tournament selections).")
    nsga3_num_divisions: Annotated[int, Strict(), Field(ge=1), WHOLE] | None = ga_field(
        None, "Reference-point divisions; required by the NSGA-III selections.")
    crossover_type: Literal[CROSSOVER_TYPES] | None = ga_field(
        "single_point", "The crossover operator; null disables crossover.")
    crossover_probability: Probability | None = ga_field(None, "Probability that a parent is crossed over.")
    sbx_crossover_eta: PositiveNumber | None = ga_field(30, "Distribution index of the `sbx` crossover.")
    mutation_type: Literal[MUTATION_TYPES] | None = ga_field(
        "random", "The mutation operator; null disables mutation.")
    mutation_probability: Probability | Annotated[list[Probability], Field(min_length=2, max_length=2)] | None = \
        ga_field(None, "Probability that a gene mutates (a pair for `adaptive`).")
    polynomial_mutation_eta: PositiveNumber | None = ga_field(20, "Distribution index of `polynomial` mutation.")
    mutation_by_replacement: StrictBool | None = ga_field(False, "Replace genes instead of adding to them.")
    mutation_percent_genes: Literal["default"] | Percent | Annotated[list[Percent], Field(
        min_length=2, max_length=2)] | None = ga_field("default", "Percentage of genes to mutate (a pair for "
                                                                   "`adaptive`); `default` is 10.")
    mutation_num_genes: Annotated[int, Strict(), Field(ge=1), WHOLE] | Annotated[
        list[Annotated[int, Strict(), Field(ge=1), WHOLE]], Field(min_length=2, max_length=2)] | None = ga_field(
        None, "Genes to mutate (a pair for `adaptive`); at most `num_genes`.")
    random_mutation_min_val: Number | Annotated[list[Number], Field(min_length=1)] | None = ga_field(
        -1.0, "Lower bound of a random mutation (one number, or one per gene).")
    random_mutation_max_val: Number | Annotated[list[Number], Field(min_length=1)] | None = ga_field(
        1.0, "Upper bound of a random mutation (one number, or one per gene).")
    gene_space: Annotated[list[GeneSpaceEntry], Field(min_length=1)] | GeneRange | None = ga_field(
        None, "The values genes may take: a list for every gene, one list/range/number/null per gene, or "
              "`{\"low\", \"high\"[, \"step\"]}`.")
    gene_categorical: StrictBool | Annotated[list[StrictBool], Field(min_length=1)] | None = ga_field(
        None, "Genes whose values have no order (one flag, or one per gene); they need a finite `gene_space`.")
    sample_size: Annotated[int, Strict(), Field(ge=1), WHOLE] | None = ga_field(
        100, "Tries to find a unique or constrained gene value.")
    allow_duplicate_genes: StrictBool | None = ga_field(True, "Whether a solution may repeat a gene value.")
    save_best_solutions: StrictBool | None = ga_field(False, "Keep the best solution of every generation.")
    save_solutions: StrictBool | None = ga_field(False, "Keep every solution of every generation.")
    stop_criteria: StopCriterion | Annotated[list[StopCriterion], Field(min_length=1)] | None = ga_field(
        None, "`reach_<fitness>`, `saturate_<generations>`, `time_<seconds>`, `evaluations_<count>`, or a list "
              "of them.")
    parallel_processing: Annotated[
        Annotated[int, Strict(), Field(ge=0), WHOLE]
        | tuple[Literal["thread", "process"], Annotated[int, Strict(), Field(ge=0), WHOLE] | None],
        BeforeValidator(_pair)] | None = ga_field(
        None, "Workers for the fitness function: a count of threads, or `[\"thread\"|\"process\", count]`.")
    random_seed: WholeInt | None = ga_field(None, "Same parameters and seed, same outcome.")

    def ga_given(self) -> dict[str, Any]:
        """The GA parameters the client sent, in the JSON forms PyGAD's adapter takes."""
        given = {}
        for name in GaParameters.model_fields:
            if name in self.model_fields_set:
                value = getattr(self, name)
                given[name] = _plain(value)
        return given


def _plain(value: Any) -> Any:
    """A validated value back in its JSON form (nested models as dicts, tuples as lists)."""
    if isinstance(value, GeneRange):
        return value.model_dump(exclude_none=True)
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


GA_PARAMETER_NAMES = tuple(GaParameters.model_fields)
