"""HTML form data -> the same JSON bodies the API takes, so one validation serves both.

Values are converted only as far as HTML forces (every form value is a string): a
number field that does not parse is passed through as typed, and the service's own
validation names it, exactly as it would for an API client.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..errors import ApiError

INTEGER_FIELDS = ("num_genes", "num_generations", "sol_per_pop", "num_parents_mating", "keep_elitism",
                  "random_seed", "num_integers", "target", "K_tournament", "keep_parents")
NUMBER_FIELDS = ("mutation_probability", "crossover_probability", "init_range_low", "init_range_high")
TEXT_FIELDS = ("name", "description", "notification_email", "visibility", "crossover_type",
               "parent_selection_type", "mutation_type", "gene_type", "custom_gene_type")
CODE_FIELDS = ("fitness_func", "on_generation", "on_start")


def _integer(raw: str) -> Any:
    try:
        return int(raw)
    except ValueError:
        return raw


def _number(raw: str) -> Any:
    try:
        value = float(raw)
    except ValueError:
        return raw
    return int(value) if value.is_integer() and "." not in raw and "e" not in raw.lower() else value


def _csv_numbers(raw: str, field: str) -> list:
    values = []
    for item in raw.replace("\n", ",").split(","):
        item = item.strip()
        if not item:
            continue
        value = _number(item)
        if isinstance(value, str):
            raise ApiError("validation_failed", f"{field}: {item!r} is not a number",
                           details=[{"field": field, "message": f"{item!r} is not a number"}])
        values.append(value)
    return values


def submission_body(form: Mapping[str, str]) -> dict:
    """The create body for the new-submission form (new and quick types)."""
    body: dict[str, Any] = {}
    submission_type = form.get("submission_type") or "new"
    body["submission_type"] = submission_type

    def text(name: str) -> str:
        return (form.get(name) or "").strip()

    for name in TEXT_FIELDS:
        if text(name):
            body[name] = text(name)
    for name in INTEGER_FIELDS:
        if text(name):
            body[name] = _integer(text(name))
    for name in NUMBER_FIELDS:
        if text(name):
            body[name] = _number(text(name))
    if text("stop_criteria"):
        criteria = [item.strip() for item in text("stop_criteria").split(",") if item.strip()]
        body["stop_criteria"] = criteria[0] if len(criteria) == 1 else criteria
    if text("gene_space"):
        try:
            body["gene_space"] = json.loads(text("gene_space"))
        except ValueError:
            raise ApiError("validation_failed", "gene_space is not JSON",
                           details=[{"field": "gene_space", "message": "must be JSON, e.g. [0, 1] or "
                                                                       "{\"low\": 0, \"high\": 10}"}]) from None
    if submission_type == "new":
        for role in CODE_FIELDS:
            source = (form.get(role) or "").replace("\r\n", "\n")
            if source.strip():
                body[role] = source
                if text(f"{role}_entry"):
                    body[f"{role}_entry"] = text(f"{role}_entry")
    elif submission_type == "quick_binary_subset_sum":
        body.pop("num_genes", None)
        if text("integers") and not text("num_integers"):  # a count to generate wins over the list
            body["integers"] = _csv_numbers(text("integers"), "integers")
    elif submission_type == "quick_knapsack":
        body.pop("num_genes", None)
        body.update(_knapsack(text("items"), text("dimensions")))
    elif submission_type == "quick_sklearn_rfc_hyperparameters":
        body.pop("num_genes", None)
        if text("dataset_name"):
            body["dataset_name"] = text("dataset_name")
        if text("random_state"):
            body["random_state"] = _integer(text("random_state"))
        if text("hyperparameters"):  # left out, the schema says it is required
            try:
                body["hyperparameters"] = json.loads(text("hyperparameters"))
            except ValueError:
                raise ApiError("validation_failed", "hyperparameters is not JSON",
                               details=[{"field": "hyperparameters", "message": (
                                   'must be a JSON object, e.g. {"n_estimators": {"tune": true, "min": 10, '
                                   '"max": 50}, "max_depth": {"fixed": 5}}')}]) from None
    elif submission_type == "quick_keras_xor_training":
        body.pop("num_genes", None)
    if text("extra_parameters"):
        try:
            extra = json.loads(text("extra_parameters"))
        except ValueError:
            extra = None
        if not isinstance(extra, dict):
            raise ApiError("validation_failed", "extra_parameters must be a JSON object",
                           details=[{"field": "extra_parameters", "message": "must be a JSON object of PyGAD "
                                                                             "parameters"}])
        body.update(extra)
    return body


def _knapsack(items: str, dimensions: str) -> dict:
    """``name, value, weight[, weight...]`` per line, and ``name:capacity, ...`` -> the quick type's inputs."""
    body: dict[str, Any] = {"item_names": [], "item_values": [], "item_weights": []}
    for number, line in enumerate(items.splitlines(), 1):
        parts = [part.strip() for part in line.split(",")]
        if not line.strip():
            continue
        if len(parts) < 3:
            raise ApiError("validation_failed", f"items line {number}: expected name, value, weight",
                           details=[{"field": "items", "message": f"line {number}: expected name, value, "
                                                                 "weight[, weight...]"}])
        numbers = _csv_numbers(",".join(parts[1:]), "items")
        body["item_names"].append(parts[0])
        body["item_values"].append(numbers[0])
        body["item_weights"].append(numbers[1:])
    names, capacities = [], []
    for item in dimensions.split(","):
        if not item.strip():
            continue
        name, _, capacity = item.partition(":")
        value = _number(capacity.strip())
        if not capacity.strip() or isinstance(value, str):
            raise ApiError("validation_failed", "dimensions: expected name:capacity",
                           details=[{"field": "dimensions", "message": "expected name:capacity, e.g. weight:5"}])
        names.append(name.strip())
        capacities.append(value)
    body["dimension_names"] = names
    body["dimension_capacities"] = capacities
    return body


def overrides(form: Mapping[str, str]) -> dict:
    """Re-execute / continue overrides: only the fields filled in."""
    body: dict[str, Any] = {}
    for name in ("num_generations", "sol_per_pop", "num_parents_mating", "random_seed"):
        raw = (form.get(name) or "").strip()
        if raw:
            body[name] = _integer(raw)
    for name in ("mutation_probability",):
        raw = (form.get(name) or "").strip()
        if raw:
            body[name] = _number(raw)
    if (form.get("name") or "").strip():
        body["name"] = form["name"].strip()
    return body


def field_errors(error: ApiError) -> dict[str, str]:
    """``{"field": "message"}`` for inline display (the first problem per field)."""
    errors: dict[str, str] = {}
    for detail in error.details or []:
        field = detail["field"].split(".")[0]
        if field in ("item_names", "item_values", "item_weights"):
            field = "items"
        elif field in ("dimension_names", "dimension_capacities"):
            field = "dimensions"
        elif field == "hyperparameters" and "." in detail["field"]:
            # one text box holds them all: say which hyperparameter (and which part of it)
            errors.setdefault(field, f"{detail['field'].partition('.')[2]}: {detail['message']}")
        errors.setdefault(field, detail["message"])
    return errors
