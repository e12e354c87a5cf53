"""Quick submission types (contract §5.5): problems that bring their own fitness code.

Each quick type validates its inputs, generates what the caller asked it to generate
(reported under ``generated``), and produces ordinary Python source for its fitness
function plus its GA defaults, so a quick run is stored, shown and executed exactly
like a ``new`` one (and can be re-executed or continued the same way).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import FieldErrors


@dataclass
class QuickDraft:
    code: dict[str, str]
    defaults: dict[str, Any]
    fixed: dict[str, Any]
    generated: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value \
        and value not in (float("inf"), float("-inf"))


SUBSET_SUM_SOURCE = '''\
INTEGERS = {integers}
TARGET = {target}


def fitness_func(ga_instance, solution, solution_idx):
    """0 when the chosen integers sum exactly to TARGET, otherwise minus the distance."""
    total = sum(value for value, chosen in zip(INTEGERS, solution) if chosen)
    return -abs(TARGET - total)
'''

KNAPSACK_SOURCE = '''\
VALUES = {values}
WEIGHTS = {weights}
CAPACITIES = {capacities}


def fitness_func(ga_instance, solution, solution_idx):
    """The packed value, or minus the overflow when a capacity is exceeded."""
    loads = [0.0] * len(CAPACITIES)
    value = 0.0
    for item, chosen in enumerate(solution):
        if chosen:
            value += VALUES[item]
            for dimension, weight in enumerate(WEIGHTS[item]):
                loads[dimension] += weight
    overflow = sum(max(0.0, load - capacity) for load, capacity in zip(loads, CAPACITIES))
    return value if overflow == 0 else -overflow
'''


def binary_subset_sum(body: dict, errors: FieldErrors) -> QuickDraft | None:
    integers = body.get("integers")
    count = body.get("num_integers")
    target = body.get("target")
    generated: dict[str, Any] = {}
    if integers is not None and count is not None:
        errors.add("integers", "send either integers or num_integers, not both")
        return None
    if integers is None and count is None:
        errors.add("integers", "is required (or num_integers to have them generated)")
        return None
    if integers is not None:
        if not isinstance(integers, list) or not integers or not all(_is_int(item) for item in integers):
            errors.add("integers", "must be a non-empty list of integers")
            return None
        if len(integers) > 10_000:
            errors.add("integers", "must have at most 10000 items")
            return None
    else:
        if not _is_int(count) or not 1 <= count <= 10_000:
            errors.add("num_integers", "must be an integer between 1 and 10000")
            return None
        seed = body.get("random_seed")
        generator = random.Random(seed if _is_int(seed) else None)
        integers = [generator.randint(1, 100) for _ in range(count)]
        generated["integers"] = integers
    if not _is_int(target):
        errors.add("target", "is required and must be an integer")
        return None
    source = SUBSET_SUM_SOURCE.format(integers=json.dumps(integers), target=target)
    return QuickDraft(
        code={"fitness_func": source, "fitness_func_entry": "fitness_func"},
        defaults={"num_generations": 200, "sol_per_pop": 40, "stop_criteria": "reach_0"},
        fixed={"num_genes": len(integers), "gene_space": [0, 1], "gene_type": "int"},
        generated=generated,
        inputs={"integers": integers, "target": target},
    )


def knapsack(body: dict, errors: FieldErrors) -> QuickDraft | None:
    names, values, weights = body.get("item_names"), body.get("item_values"), body.get("item_weights")
    dimensions, capacities = body.get("dimension_names"), body.get("dimension_capacities")
    problems_before = len(errors.details)
    if not isinstance(values, list) or not values or not all(_is_number(value) for value in values):
        errors.add("item_values", "must be a non-empty list of numbers")
    if not isinstance(capacities, list) or not capacities or not all(_is_number(c) and c >= 0 for c in capacities):
        errors.add("dimension_capacities", "must be a non-empty list of non-negative numbers")
    if len(errors.details) > problems_before:
        return None
    if dimensions is None:
        dimensions = [f"dimension_{index}" for index in range(len(capacities))]
    if not isinstance(dimensions, list) or len(dimensions) != len(capacities) \
            or not all(isinstance(name, str) for name in dimensions):
        errors.add("dimension_names", "must be a list of names, one per capacity")
    if names is None:
        names = [f"item_{index}" for index in range(len(values))]
    if not isinstance(names, list) or len(names) != len(values) or not all(isinstance(n, str) for n in names):
        errors.add("item_names", "must be a list of names, one per item value")
    if (not isinstance(weights, list) or len(weights) != len(values)
            or not all(isinstance(row, list) and len(row) == len(capacities)
                       and all(_is_number(weight) for weight in row) for row in weights)):
        errors.add("item_weights", "must be one list per item with one number per capacity dimension")
    if len(errors.details) > problems_before:
        return None
    source = KNAPSACK_SOURCE.format(values=json.dumps(values), weights=json.dumps(weights),
                                    capacities=json.dumps(capacities))
    return QuickDraft(
        code={"fitness_func": source, "fitness_func_entry": "fitness_func"},
        defaults={"num_generations": 200, "sol_per_pop": 40},
        fixed={"num_genes": len(values), "gene_space": [0, 1], "gene_type": "int"},
        inputs={"item_names": names, "item_values": values, "item_weights": weights,
                "dimension_names": dimensions, "dimension_capacities": capacities},
    )


QUICK_TYPES: dict[str, tuple[tuple[str, ...], Callable[[dict, FieldErrors], QuickDraft | None]]] = {
    "quick_binary_subset_sum": (("integers", "num_integers", "target"), binary_subset_sum),
    "quick_knapsack": (("item_names", "item_values", "item_weights", "dimension_names",
                        "dimension_capacities"), knapsack),
}
SUPPORTED_TYPES = ("new", *QUICK_TYPES)
