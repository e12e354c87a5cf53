"""JSON forms of PyGAD parameters -> the Python values ``pygad.GA`` takes (contract §6).

Shared by the server (create-time validation) and the worker (the run). Type names are
resolved from a whitelist, and ``custom_gene_type`` expressions are parsed with
``ast`` and walked node by node: nothing a client sends is ever ``eval``'d.
"""

from __future__ import annotations

import ast
import inspect
import threading
from typing import Any

import numpy

#: every numeric type PyGAD supports, by the names the SDK sends
GENE_TYPES: dict[str, type] = {
    "int": int,
    "float": float,
    **{f"numpy.{name}": getattr(numpy, name) for name in (
        "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64",
        "float16", "float32", "float64")},
}
for _name in list(GENE_TYPES):
    if _name.startswith("numpy."):
        GENE_TYPES["np." + _name[len("numpy."):]] = GENE_TYPES[_name]

#: CPython 3.11's AST constructor is not safe to run from several threads at once ("AST constructor
#: recursion depth mismatch"); the server parses clients' code and type expressions on its request threads
AST_LOCK = threading.Lock()

#: code parameters (contract §5): each arrives as source plus an ``_entry`` name
CODE_ROLES = ("fitness_func", "on_start", "on_fitness", "on_parents", "on_crossover",
              "on_mutation", "on_generation", "on_stop", "gene_constraint")
CALLBACK_ARITY = {"fitness_func": 3, "on_start": 1, "on_fitness": 2, "on_parents": 2,
                  "on_crossover": 2, "on_mutation": 2, "on_generation": 1, "on_stop": 2}
#: constructor arguments that are the emulator's own business, never the client's
NOT_ACCEPTED = set(CODE_ROLES) | {"logger", "suppress_warnings"}


def pygad_defaults() -> dict[str, Any]:
    """Every accepted ``pygad.GA`` argument with its default (``None`` when required)."""
    import pygad

    defaults = {}
    for name, parameter in inspect.signature(pygad.GA.__init__).parameters.items():
        if name == "self" or name in NOT_ACCEPTED:
            continue
        default = parameter.default
        defaults[name] = None if default is inspect.Parameter.empty else default
    return defaults


class GeneTypeError(ValueError):
    pass


def _type_from_node(node: ast.AST) -> type:
    if isinstance(node, ast.Name) and node.id in GENE_TYPES:
        return GENE_TYPES[node.id]
    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and f"{node.value.id}.{node.attr}" in GENE_TYPES):
        return GENE_TYPES[f"{node.value.id}.{node.attr}"]
    raise GeneTypeError(f"unknown type {ast.unparse(node)!r}; use int, float or numpy.<int/float type>")


def _spec_from_node(node: ast.AST) -> Any:
    """A type, ``[type, precision]``, or a list of those, from an expression node."""
    if isinstance(node, (ast.List, ast.Tuple)):
        items = []
        for element in node.elts:
            if isinstance(element, ast.Constant) and (element.value is None or type(element.value) is int):
                items.append(element.value)
            else:
                items.append(_spec_from_node(element))
        return items
    return _type_from_node(node)


def parse_type_expression(expression: str) -> Any:
    """Parse ``"[int, float, numpy.float32]"`` or ``"[float, 2]"`` without evaluating it."""
    if not isinstance(expression, str) or len(expression) > 100_000:
        raise GeneTypeError("must be a string")
    try:
        with AST_LOCK:
            tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as error:
        raise GeneTypeError(f"is not a type expression: {error.msg}") from None
    return _spec_from_node(tree.body)


def _spec_from_json(value: Any) -> Any:
    if isinstance(value, str):
        if value not in GENE_TYPES:
            raise GeneTypeError(f"unknown type {value!r}; use one of {', '.join(sorted(GENE_TYPES))}")
        return GENE_TYPES[value]
    if isinstance(value, list):
        return [item if item is None or type(item) is int else _spec_from_json(item) for item in value]
    raise GeneTypeError("must be a type name, \"custom\" with custom_gene_type, or a list")


def resolve_gene_type(gene_type: Any, custom_gene_type: Any = None) -> Any:
    """The value for ``pygad.GA(gene_type=...)`` from the JSON form the SDK sends."""
    if gene_type == "custom":
        if custom_gene_type is None:
            raise GeneTypeError("\"custom\" needs custom_gene_type, e.g. \"[int, float]\"")
        return parse_type_expression(custom_gene_type)
    return _spec_from_json(gene_type)


def pygad_arguments(parameters: dict[str, Any]) -> dict[str, Any]:
    """Effective JSON parameters -> keyword arguments for ``pygad.GA``."""
    arguments = {name: value for name, value in parameters.items() if name != "custom_gene_type"}
    if "gene_type" in arguments:
        arguments["gene_type"] = resolve_gene_type(arguments["gene_type"], parameters.get("custom_gene_type"))
    return arguments


def type_name(value: type) -> str:
    for name, candidate in GENE_TYPES.items():
        if candidate is value and not name.startswith("np."):
            return name
    return getattr(value, "__name__", str(value))
