"""Quick submission types (contract §5.5): problems that bring their own fitness code.

Each quick type takes its validated inputs (``schemas/quick.py``), checks what spans
several inputs, generates what the caller asked it to generate (reported under
``generated``), and produces ordinary Python source for its fitness function plus its
GA defaults, so a quick run is stored, shown and executed exactly like a ``new`` one
(and re-executed or continued the same way).

The machine-learning types' fitness functions, defaults and encodings are the
emulator's own (contract §5.5 [decision]; listed in ``docs/differences.md``). Their
generated code imports scikit-learn only in the worker: the server merely checks that
the ``ml`` extra is installed, so a create never pays for importing it.
"""

from __future__ import annotations

import importlib.util
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import FieldErrors
from ..schemas.quick import CRITERIA, RFC_HYPERPARAMETERS


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


# ---------------------------------------------------------------------- quick_sklearn_rfc_hyperparameters

def module_available(name: str) -> bool:
    """Whether ``name`` can be imported here, without importing it (tests replace this to hide a module)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module whose spec is unset
        return False


ML_EXTRA_MISSING = ('needs scikit-learn, which is an optional extra of the emulator: '
                    'pip install "vilvik-emulator[ml]"')
#: the held-out part of every dataset (stratified); ``train_test_split`` rounds the test part up
TEST_FRACTION = 0.3
#: (samples, features, classes) of each dataset; ``random`` is what the generated code makes
RFC_DATASET_SHAPES = {"iris": (150, 4, 3), "breast_cancer": (569, 30, 2), "random": (300, 10, 2)}
#: a tuned categorical hyperparameter's gene is an index into these
RFC_CHOICES: dict[str, list[Any]] = {"criterion": list(CRITERIA), "bootstrap": [False, True]}

RFC_SOURCE = '''\
"""Fitness of quick_sklearn_rfc_hyperparameters, generated by the emulator.

Gene i of a solution sets the hyperparameter GENES[i] of a scikit-learn
RandomForestClassifier (the others are FIXED, or scikit-learn's defaults); the fitness
is the forest's accuracy on the held-out {test_percent}% of the {dataset} dataset, in (0, 1].
"""

from sklearn.datasets import load_breast_cancer, load_iris, make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

DATASET = {dataset!r}
RANDOM_STATE = {random_state!r}
TEST_SIZE = {test_fraction!r}
#: gene i of a solution -> the hyperparameter it sets
GENES = {genes!r}
#: a categorical hyperparameter's gene is an index into its choices
CHOICES = {choices!r}
#: what every forest gets besides the genes
FIXED = {fixed!r}
#: the smallest value scikit-learn accepts (a gene_space changed on re-execute may go below)
LOWEST = {{"n_estimators": 1, "max_depth": 1, "min_samples_split": 2, "min_samples_leaf": 1}}


def load_dataset():
    """The bundled dataset, or make_classification's seeded one (nothing is downloaded)."""
    if DATASET == "random":
        return make_classification(n_samples=300, n_features=10, n_informative=5, n_redundant=2,
                                   random_state=RANDOM_STATE)
    loader = {{"iris": load_iris, "breast_cancer": load_breast_cancer}}[DATASET]
    return loader(return_X_y=True)


FEATURES, LABELS = load_dataset()
TRAIN_FEATURES, TEST_FEATURES, TRAIN_LABELS, TEST_LABELS = train_test_split(
    FEATURES, LABELS, test_size=TEST_SIZE, random_state=RANDOM_STATE, stratify=LABELS)
#: every forest is seeded, so the same hyperparameters always score the same: each is trained once
SCORES = {{}}


def hyperparameters(solution):
    """The forest's keyword arguments for one solution."""
    chosen = dict(FIXED)
    for name, gene in zip(GENES, solution):
        if name in CHOICES:
            chosen[name] = CHOICES[name][min(max(int(gene), 0), len(CHOICES[name]) - 1)]
        elif name == "max_features":
            chosen[name] = min(max(float(gene), 1e-9), 1.0)
        else:
            chosen[name] = max(int(gene), LOWEST[name])
    return chosen


def fitness_func(ga_instance, solution, solution_idx):
    """The held-out accuracy of a forest with these hyperparameters."""
    chosen = hyperparameters(solution)
    key = tuple(sorted(chosen.items()))
    if key not in SCORES:
        forest = RandomForestClassifier(**chosen, n_jobs=1, random_state=RANDOM_STATE)
        forest.fit(TRAIN_FEATURES, TRAIN_LABELS)
        SCORES[key] = float(forest.score(TEST_FEATURES, TEST_LABELS))
    return SCORES[key]
'''


def _rfc_gene(name: str, setting: Any) -> tuple[Any, Any]:
    """The gene_space entry and gene_type entry of one tuned hyperparameter."""
    if name in RFC_CHOICES:
        return list(range(len(RFC_CHOICES[name]))), "int"
    if name == "max_features":
        # A continuous range; three decimals, so near-equal fractions share one trained forest.
        return ({"low": setting.min, "high": setting.max} if setting.min < setting.max else [setting.min],
                ["float", 3])
    # PyGAD draws stepped values from numpy.arange(low, high, step): high is excluded.
    return {"low": setting.min, "high": setting.max + 1, "step": 1}, "int"


def sklearn_rfc_hyperparameters(body: Any, errors: FieldErrors) -> QuickDraft | None:
    """One gene per tuned hyperparameter, in the schema's order; the fitness code trains the forests."""
    if not module_available("sklearn"):
        errors.add("submission_type", f"{body.submission_type} {ML_EXTRA_MISSING}")
        return None
    given = body.hyperparameters
    genes: list[str] = []
    gene_space: list[Any] = []
    gene_type: list[Any] = []
    fixed: dict[str, Any] = {}
    requested: dict[str, Any] = {}
    for name, (_, default, _) in RFC_HYPERPARAMETERS.items():  # the schema's order is the genes' order
        setting = getattr(given, name) if name in given.model_fields_set else None
        if setting is None:
            if default is not None:
                fixed[name] = default
            continue
        requested[name] = setting.model_dump(exclude_defaults=True)
        if setting.tune:
            space, kind = _rfc_gene(name, setting)
            genes.append(name)
            gene_space.append(space)
            gene_type.append(kind)
        else:
            fixed[name] = setting.fixed  # a fraction is already a float (the schema made 1 into 1.0)
    samples, features, classes = RFC_DATASET_SHAPES[body.dataset_name]
    held_out = math.ceil(samples * TEST_FRACTION)
    source = RFC_SOURCE.format(dataset=body.dataset_name, random_state=body.random_state, genes=genes,
                               choices={name: RFC_CHOICES[name] for name in genes if name in RFC_CHOICES},
                               fixed=fixed, test_fraction=TEST_FRACTION, test_percent=round(TEST_FRACTION * 100))
    return QuickDraft(
        code={"fitness_func": source, "fitness_func_entry": "fitness_func"},
        defaults={"num_generations": 10, "sol_per_pop": 8, "mutation_percent_genes": 50, "stop_criteria": "reach_1"},
        fixed={"num_genes": len(genes), "gene_space": gene_space, "gene_type": gene_type},
        generated={
            "genes": genes,
            "fixed": fixed,
            "choices": {name: RFC_CHOICES[name] for name in genes if name in RFC_CHOICES},
            "dataset": {"name": body.dataset_name, "samples": samples, "features": features, "classes": classes,
                        "train_samples": samples - held_out, "test_samples": held_out,
                        "random_state": body.random_state},
            "fitness": "accuracy of the forest on the held-out test samples, in (0, 1]",
        },
        inputs={"dataset_name": body.dataset_name, "hyperparameters": requested, "random_state": body.random_state},
    )


# ---------------------------------------------------------------------- quick_keras_xor_training

#: one name per gene: each neuron's input weights, then its bias
XOR_GENES = ["hidden_1.weight_x1", "hidden_1.weight_x2", "hidden_1.bias",
             "hidden_2.weight_x1", "hidden_2.weight_x2", "hidden_2.bias",
             "output.weight_hidden_1", "output.weight_hidden_2", "output.bias"]
XOR_EPSILON = 0.01
#: a run stops once the mean squared error is this small: every output is then within ~0.1 of its target
XOR_LEARNED_ERROR = 0.01

XOR_SOURCE = f'''\
"""Fitness of quick_keras_xor_training, generated by the emulator: a 2-2-1 network on XOR, in numpy.

The 9 genes are the network's weights and biases, named in GENES. The hidden layer is
tanh and the output a sigmoid. The fitness is 1 / (mean squared error + EPSILON):
positive (every parent selection type works with it), higher is better, at most
1 / EPSILON; the error of a solution is 1 / fitness - EPSILON.
"""

import numpy

INPUTS = numpy.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
TARGETS = numpy.array([0.0, 1.0, 1.0, 0.0])
EPSILON = {XOR_EPSILON!r}
GENES = {XOR_GENES!r}


def sigmoid(values):
    # the tanh form never overflows, however large the weights grow
    return 0.5 * (1.0 + numpy.tanh(0.5 * values))


def predict(solution, inputs=INPUTS):
    """The network's output for each row of inputs."""
    w = numpy.asarray(solution, dtype=float)
    hidden_1 = numpy.tanh(inputs[:, 0] * w[0] + inputs[:, 1] * w[1] + w[2])
    hidden_2 = numpy.tanh(inputs[:, 0] * w[3] + inputs[:, 1] * w[4] + w[5])
    return sigmoid(hidden_1 * w[6] + hidden_2 * w[7] + w[8])


def mean_squared_error(solution):
    return float(numpy.mean((predict(solution) - TARGETS) ** 2))


def fitness_func(ga_instance, solution, solution_idx):
    """1 / (mean squared error on the four XOR cases + EPSILON)."""
    return 1.0 / (mean_squared_error(solution) + EPSILON)
'''


def keras_xor_training(body: Any, errors: FieldErrors) -> QuickDraft | None:
    """Always the same network, code and genome: the type has no inputs."""
    return QuickDraft(
        code={"fitness_func": XOR_SOURCE, "fitness_func_entry": "fitness_func"},
        # Measured on 180 seeds: 175 runs reach the stop (every output within ~0.1 of its target),
        # in a median of 11 generations; the others sit in a local optimum of the 2-2-1 network.
        # Wide initial weights, mutations of ±2 on three genes at a time and uniform crossover get
        # out of most of those (with single-point crossover, 9 runs in 10 learned); the stop ends
        # a learned run early.
        defaults={"num_generations": 300, "sol_per_pop": 60, "keep_elitism": 2, "crossover_type": "uniform",
                  "mutation_percent_genes": 34, "random_mutation_min_val": -2.0, "random_mutation_max_val": 2.0,
                  "init_range_low": -8, "init_range_high": 8,
                  "stop_criteria": f"reach_{1 / (XOR_LEARNED_ERROR + XOR_EPSILON):g}"},
        fixed={"num_genes": len(XOR_GENES), "gene_type": "float"},
        generated={
            "genes": XOR_GENES,
            "network": "2-2-1: inputs x1, x2; two tanh hidden neurons; one sigmoid output",
            "fitness": f"1 / (mean squared error + {XOR_EPSILON})",
        },
    )


QUICK_TYPES: dict[str, QuickType] = {quick.slug: quick for quick in (
    QuickType("quick_binary_subset_sum", binary_subset_sum),
    QuickType("quick_knapsack", knapsack),
    QuickType("quick_sklearn_rfc_hyperparameters", sklearn_rfc_hyperparameters),
    QuickType("quick_keras_xor_training", keras_xor_training),
)}
SUPPORTED_TYPES = ("new", *QUICK_TYPES)
