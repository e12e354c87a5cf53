"""Quick submission types (contract §5.5): problems that bring their own fitness code.

Each quick type takes its validated inputs (``schemas/quick.py``), checks what spans
several inputs, generates what the caller asked it to generate (reported under
``generated``), and produces ordinary Python source for its fitness function plus its
GA defaults, so a quick run is stored, shown and executed exactly like a ``new`` one
(and re-executed or continued the same way).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import FieldErrors


@dataclass
class QuickDraft:
    code: dict[str, str]
    defaults: dict[str, Any]
    fixed: dict[str, Any]
    generated: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QuickType:
    slug: str
    build: Callable[[Any, FieldErrors], QuickDraft | None]


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

BINARY_GENOME = {"gene_space": [0, 1], "gene_type": "int"}


def binary_subset_sum(body: Any, errors: FieldErrors) -> QuickDraft | None:
    generated: dict[str, Any] = {}
    integers = body.integers
    if integers is None:
        generator = random.Random(body.random_seed)
        integers = [generator.randint(1, 100) for _ in range(body.num_integers)]
        generated["integers"] = integers
    source = SUBSET_SUM_SOURCE.format(integers=json.dumps(integers), target=body.target)
    return QuickDraft(
        code={"fitness_func": source, "fitness_func_entry": "fitness_func"},
        defaults={"num_generations": 200, "sol_per_pop": 40, "stop_criteria": "reach_0"},
        fixed={"num_genes": len(integers), **BINARY_GENOME},
        generated=generated,
        inputs={"integers": integers, "target": body.target},
    )


def knapsack(body: Any, errors: FieldErrors) -> QuickDraft | None:
    values, weights, capacities = body.item_values, body.item_weights, body.dimension_capacities
    names = body.item_names if body.item_names is not None else [f"item_{index}" for index in range(len(values))]
    dimensions = body.dimension_names if body.dimension_names is not None else \
        [f"dimension_{index}" for index in range(len(capacities))]
    if len(names) != len(values):
        errors.add("item_names", "must have one name per item value")
    if len(dimensions) != len(capacities):
        errors.add("dimension_names", "must have one name per capacity")
    if len(weights) != len(values) or any(len(row) != len(capacities) for row in weights):
        errors.add("item_weights", "must be one list per item with one number per capacity dimension")
    if errors:
        return None
    source = KNAPSACK_SOURCE.format(values=json.dumps(values), weights=json.dumps(weights),
                                    capacities=json.dumps(capacities))
    return QuickDraft(
        code={"fitness_func": source, "fitness_func_entry": "fitness_func"},
        defaults={"num_generations": 200, "sol_per_pop": 40},
        fixed={"num_genes": len(values), **BINARY_GENOME},
        inputs={"item_names": names, "item_values": values, "item_weights": weights,
                "dimension_names": dimensions, "dimension_capacities": capacities},
    )


QUICK_TYPES: dict[str, QuickType] = {quick.slug: quick for quick in (
    QuickType("quick_binary_subset_sum", binary_subset_sum),
    QuickType("quick_knapsack", knapsack),
)}
SUPPORTED_TYPES = ("new", *QUICK_TYPES)
