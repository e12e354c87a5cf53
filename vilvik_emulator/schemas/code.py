"""Code fields of a body (contract §5): ``<role>`` source, ``<role>_id`` upload, ``<role>_entry`` name.

The pairing rules live side by side in :func:`pairing_problems` (validation) and
:func:`code_rules_schema` (the JSON Schema keywords the document shows for them). What
needs the source itself (it compiles, the entry names a top-level definition, the
callback's arity) is checked by :mod:`vilvik_emulator.core.code` at create time.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, create_model

from ..runner.params import CODE_ROLES
from .base import RequestBody

CODE_ID_PATTERN = r"^code_[A-Za-z0-9]{12}$"
IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,199}$"

Source = Annotated[str, Field(min_length=1, max_length=5 * 1024 * 1024, pattern=r"\S")]
Entry = Annotated[str, Field(pattern=IDENTIFIER_PATTERN)]
CodeId = Annotated[str, Field(pattern=CODE_ID_PATTERN)]

def _code_field_definitions() -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for role in CODE_ROLES:
        fields[role] = (Source | None, Field(default=None, description=f"Python source defining `{role}`'s entry."))
        fields[f"{role}_id"] = (CodeId | None, Field(default=None, description=(
            f"A code upload (contract §9) used as `{role}` instead of inline source.")))
        fields[f"{role}_entry"] = (Entry | None, Field(default=None, description=(
            f"The top-level name the runtime calls; required with `{role}` or `{role}_id`.")))
    return fields


#: the 27 code fields (9 roles x source, upload id, entry) as a base model to inherit
CodeFields: type[RequestBody] = create_model("CodeFields", __base__=RequestBody, **_code_field_definitions())


def sent_roles(body: RequestBody) -> list[str]:
    """The code roles a body carries (as source or upload)."""
    return [role for role in CODE_ROLES if getattr(body, role, None) is not None
            or getattr(body, f"{role}_id", None) is not None]


def pairing_problems(body: RequestBody) -> list[tuple[str, str]]:
    """(field, message) for every broken pairing rule, in the order a reader fixes them."""
    problems: list[tuple[str, str]] = []
    for role in CODE_ROLES:
        source, upload, entry = (getattr(body, role, None), getattr(body, f"{role}_id", None),
                                 getattr(body, f"{role}_entry", None))
        if source is not None and upload is not None:
            problems.append((role, f"send either {role} or {role}_id, not both"))
        elif entry is None and upload is not None:
            problems.append((f"{role}_id", f"needs {role}_entry: the top-level name the runtime calls"))
        elif entry is not None and source is None and upload is None:
            problems.append((f"{role}_entry", f"was sent without {role} or {role}_id"))
    return problems


def code_rules_schema(*, required_fitness: bool) -> dict[str, Any]:
    """The pairing rules as JSON Schema keywords to merge into the model's schema.

    The server checks them in the order a reader fixes them: a source sent without its
    entry is first compiled, so broken code is reported as such (the SDK finds no entry
    in code that does not parse) before the missing entry is (:mod:`vilvik_emulator.core.code`).
    """
    rules: list[dict[str, Any]] = []
    for role in CODE_ROLES:
        rules.append({"not": {"required": [role, f"{role}_id"]}})
        rules.append({"if": {"required": [f"{role}_entry"]},
                      "then": {"anyOf": [{"required": [role]}, {"required": [f"{role}_id"]}]}})
    if required_fitness:
        rules.append({"anyOf": [{"required": ["fitness_func"]}, {"required": ["fitness_func_id"]}]})
    dependent = {field: [f"{role}_entry"] for role in CODE_ROLES for field in (role, f"{role}_id")}
    return {"allOf": rules, "dependentRequired": dependent}
