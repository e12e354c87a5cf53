"""Static checks of the code fields of a submission (contract §5), without running them.

A code field is Python source plus ``<field>_entry``, the top-level name the runtime
calls. Here the source is compiled (never executed), the entry is looked up among the
top-level definitions, and a *placeholder* with the entry's exact signature is built
so PyGAD's own constructor checks (arity, async, ...) can run on the server without
touching the user's code: the placeholder's body is ``pass`` and its default values
are ``None`` (defaults are expressions, and evaluating them would run user code).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..runner.params import AST_LOCK, CODE_ROLES

LIST_ROLES = ("gene_constraint",)
ENTRY_SUFFIX = "_entry"


@dataclass
class CodeProblem(Exception):
    field: str
    message: str


def _placeholder_for(node: ast.FunctionDef | ast.AsyncFunctionDef, drop_first: bool = False) -> Callable:
    arguments = node.args
    positional = list(arguments.posonlyargs) + list(arguments.args)
    if drop_first and positional:
        if arguments.posonlyargs:
            arguments.posonlyargs = arguments.posonlyargs[1:]
        else:
            arguments.args = arguments.args[1:]

    def strip(argument: ast.arg | None) -> None:
        if argument is not None:
            argument.annotation = None

    for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                     arguments.vararg, arguments.kwarg]:
        strip(argument)
    arguments.defaults = [ast.Constant(None) for _ in arguments.defaults]
    arguments.kw_defaults = [None if default is None else ast.Constant(None) for default in arguments.kw_defaults]
    function_type: Any = type(node)
    extra: dict[str, Any] = {"type_params": []} if hasattr(node, "type_params") else {}
    placeholder = function_type(name="placeholder", args=arguments, body=[ast.Pass()], decorator_list=[],
                                returns=None, type_comment=None, **extra)
    with AST_LOCK:
        module = ast.fix_missing_locations(ast.Module(body=[placeholder], type_ignores=[]))
        namespace: dict[str, Any] = {}
        exec(compile(module, "<placeholder>", "exec"), namespace)  # our own def with body `pass`
    return namespace["placeholder"]


def _top_level(tree: ast.Module) -> dict[str, ast.AST]:
    names: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    names[target.id] = node
    return names


def compile_source(field: str, source: str) -> ast.Module:
    """Compile (not run) ``source``; a :class:`CodeProblem` names the line of a syntax error."""
    try:
        with AST_LOCK:
            tree = ast.parse(source, filename=f"<{field}>")
            compile(tree, f"<{field}>", "exec", dont_inherit=True)
    except SyntaxError as error:
        where = f"line {error.lineno}" + (f", column {error.offset}" if error.offset else "")
        raise CodeProblem(field, f"does not compile ({where}): {error.msg}") from None
    except (ValueError, RecursionError, MemoryError) as error:
        raise CodeProblem(field, f"does not compile: {error}") from None
    return tree


def check_code_field(role: str, source: str, entry: str) -> Any:
    """Check one code field; return the placeholder PyGAD should see for it.

    For a callable role the placeholder is a function with the entry's signature (for
    a class entry: its ``__call__`` without ``self``). For ``gene_constraint`` it is a
    list of placeholders and ``None`` when the list is a literal, else ``None`` (the
    list is then only checked at run time).
    """
    tree = compile_source(role, source)
    definitions = _top_level(tree)
    node = definitions.get(entry)
    entry_field = role + ENTRY_SUFFIX
    if role in LIST_ROLES:
        if not isinstance(node, (ast.Assign, ast.AnnAssign)):
            defined = ", ".join(name for name, item in definitions.items()
                                if isinstance(item, (ast.Assign, ast.AnnAssign))) or "none"
            raise CodeProblem(entry_field, f"{entry!r} is not a top-level assignment in {role} "
                                           f"(assignments found: {defined})")
        return _constraint_placeholders(role, node.value, definitions)
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        defined = ", ".join(name for name, item in definitions.items()
                            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))) or "none"
        raise CodeProblem(entry_field, f"{entry!r} names no top-level function or class in {role} "
                                       f"(defined: {defined})")
    if isinstance(node, ast.ClassDef):
        call = next((item for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                     and item.name == "__call__"), None)
        if call is None:
            raise CodeProblem(entry_field, f"class {entry!r} (line {node.lineno}) has no __call__ method; "
                                           "the runtime calls an instance of it")
        return _placeholder_for(call, drop_first=True)
    return _placeholder_for(node)


def _constraint_placeholders(role: str, value: ast.AST | None, definitions: dict[str, ast.AST]) -> list | None:
    if not isinstance(value, (ast.List, ast.Tuple)):
        return None
    placeholders: list = []
    for element in value.elts:
        if isinstance(element, ast.Constant) and element.value is None:
            placeholders.append(None)
        elif isinstance(element, ast.Name) and isinstance(
                function := definitions.get(element.id), (ast.FunctionDef, ast.AsyncFunctionDef)):
            placeholders.append(_placeholder_for(function))
        else:
            return None
    return placeholders


def detect_entry(source: str, role: str | None = None) -> str | None:
    """The entry the SDK would pick: the last top-level def/class (list roles: assignment)."""
    try:
        with AST_LOCK:
            tree = ast.parse(source)
    except SyntaxError:
        return None
    name = None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = node.name
        elif role in LIST_ROLES and isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [target.id for target in targets if isinstance(target, ast.Name)]
            if names:
                name = names[-1]
    return name


__all__ = ["CODE_ROLES", "LIST_ROLES", "CodeProblem", "check_code_field", "compile_source", "detect_entry"]
