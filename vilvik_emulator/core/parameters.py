"""GA parameters of a submission: accepted names, defaults, and PyGAD's own checks (§5, §6).

PyGAD's constructor is the authority on what a run accepts, so create-time validation
constructs a ``pygad.GA`` subclass that skips building the population, with a
placeholder in place of every code field (see :mod:`.code`). Its exception message
goes into the 422. No user code runs on the server.
"""

from __future__ import annotations

import logging
import threading
import warnings
from typing import Any

from ..errors import FieldErrors
from ..runner.params import GeneTypeError, pygad_arguments, pygad_defaults, resolve_gene_type, type_name

SERVER_DEFAULTS = {"num_generations": 100, "sol_per_pop": 50}

_lock = threading.Lock()
_cache: dict[str, Any] = {}


def _defaults() -> dict[str, Any]:
    with _lock:
        if "defaults" not in _cache:
            defaults = pygad_defaults()
            defaults["gene_type"] = type_name(defaults["gene_type"])
            _cache["defaults"] = defaults
        return _cache["defaults"]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def complete_parameters(given: dict[str, Any], errors: FieldErrors, *,
                        defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every PyGAD parameter of a run: what was sent, over a quick type's ``defaults``, over the server's.

    The values' types and ranges were checked by the schema; what is checked here is
    what depends on several parameters at once, before PyGAD's own constructor sees
    the whole run (:func:`pygad_check`).
    """
    parameters = dict(_defaults())
    parameters.update(SERVER_DEFAULTS)
    parameters.update(defaults or {})
    parameters.update({name: value for name, value in given.items() if value is not None
                       or name not in SERVER_DEFAULTS})

    population = given.get("initial_population")
    if population is not None:
        if len({len(row) for row in population}) != 1:
            errors.add("initial_population", "must be rectangular: every solution with the same number of genes")
        else:
            # The population decides both dimensions: PyGAD ignores sol_per_pop and num_genes when it
            # is given, so a value sent that disagrees with it would be recorded but not run.
            for name, size, what in (("sol_per_pop", len(population), "solutions"),
                                     ("num_genes", len(population[0]), "genes per solution")):
                sent = given.get(name)
                if sent is None:
                    parameters[name] = size
                elif sent != size:
                    errors.add("initial_population", f"has {size} {what}, but {name} is {sent} (PyGAD takes "
                                                     f"the population's size; leave {name} out or make them agree)")
    if parameters.get("num_genes") is None and population is None:
        # (a ragged population, already reported, is where num_genes would have come from)
        errors.add("num_genes", "is required")

    sol_per_pop: Any = parameters.get("sol_per_pop")
    if given.get("num_parents_mating") is None and "num_parents_mating" not in (defaults or {}):
        parameters["num_parents_mating"] = max(2, sol_per_pop // 2) if _is_int(sol_per_pop) else 2
    parents: Any = parameters["num_parents_mating"]
    if _is_int(sol_per_pop) and _is_int(parents) and parents > sol_per_pop:
        errors.add("num_parents_mating", f"must be <= sol_per_pop ({sol_per_pop})")
    batch: Any = parameters.get("fitness_batch_size")
    if _is_int(batch) and _is_int(sol_per_pop) and batch > sol_per_pop:
        errors.add("fitness_batch_size", f"must be between 1 and sol_per_pop ({sol_per_pop})")

    try:
        resolve_gene_type(parameters.get("gene_type"), parameters.get("custom_gene_type"))
    except GeneTypeError as error:
        field = "custom_gene_type" if parameters.get("gene_type") == "custom" else "gene_type"
        errors.add(field, str(error))
    if parameters.get("gene_type") != "custom":
        parameters.pop("custom_gene_type", None)
    return parameters


class _SilentLogger(logging.Logger):
    def __init__(self) -> None:
        super().__init__("vilvik_emulator.pygad_check", level=logging.CRITICAL + 1)
        self.addHandler(logging.NullHandler())
        self.propagate = False


def _check_class():
    with _lock:
        if "check_class" not in _cache:
            import pygad

            class ParameterCheck(pygad.GA):
                """``pygad.GA`` that validates everything but builds no population."""

                def _build_initial_population(self, initial_population):
                    self.population = None

            _cache["check_class"] = ParameterCheck
            _cache["logger"] = _SilentLogger()
        return _cache["check_class"], _cache["logger"]


def pygad_check(parameters: dict[str, Any], placeholders: dict[str, Any], errors: FieldErrors) -> None:
    """Run PyGAD's constructor validation; its message becomes a field error."""
    check_class, logger = _check_class()
    try:
        arguments = pygad_arguments(parameters)
    except GeneTypeError:
        return  # already reported by effective_parameters
    arguments.update(placeholders)
    arguments.setdefault("fitness_func", _any_fitness)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check_class(**arguments, logger=logger, suppress_warnings=True)
    except Exception as error:  # PyGAD raises TypeError/ValueError/Exception
        message = str(error).strip() or type(error).__name__
        errors.add(_field_of(error, message, arguments), f"rejected by PyGAD: {message}")


def _any_fitness(ga_instance, solution, solution_idx):  # pragma: no cover - never called
    return 0


#: PyGAD's validator methods -> the parameter each one checks
VALIDATOR_FIELDS = {
    "_validate_initial_population_shape": "initial_population", "_validate_gene_space": "gene_space",
    "_validate_gene_space_dictionary": "gene_space", "_validate_init_range": "init_range_low",
    "_validate_gene_type": "gene_type", "_normalize_gene_type_entry": "gene_type",
    "_validate_gene_constraint": "gene_constraint", "_validate_gene_categorical": "gene_categorical",
    "_validate_mutation_range": "random_mutation_min_val", "_validate_crossover": "crossover_type",
    "_validate_mutation": "mutation_type", "_validate_parent_selection": "parent_selection_type",
    "_validate_nsga3_num_divisions": "nsga3_num_divisions", "_validate_fitness_func": "fitness_func",
    "_validate_stop_criteria": "stop_criteria", "_parse_stop_criterion": "stop_criteria",
    "_validate_parallel_processing": "parallel_processing", "_validate_footer": "num_generations",
}


def _field_of(error: Exception, message: str, arguments: dict[str, Any]) -> str:
    """The parameter PyGAD's error is about.

    Most messages start with the parameter's name; otherwise the innermost PyGAD
    validator in the traceback says which parameter it was checking.
    """
    for name in sorted(arguments, key=len, reverse=True):
        if message.startswith(name) or f"'{name}'" in message:
            return name
    field = None
    traceback = error.__traceback__
    while traceback is not None:
        field = VALIDATOR_FIELDS.get(traceback.tb_frame.f_code.co_name, field)
        traceback = traceback.tb_next
    if field is not None:
        return field
    for name in sorted(arguments, key=len, reverse=True):
        if f" {name} " in f" {message} ":
            return name
    return "parameters"
