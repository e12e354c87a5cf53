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
from .base import SPACE, RequestBody, pattern_message

CODE_ID_PATTERN = r"^code_[A-Za-z0-9]{12}$"
IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,199}$"


def _not_blank_schema(schema: dict[str, Any]) -> None:
    """Publish "not only white space" as ``not: {pattern: ^[space]*$}`` rather than ``pattern: [^space]``.

    The two say the same, and the emulator validates with the second, but schemathesis folds a
    ``maxLength`` into an unanchored pattern's count (``^[^space]{1,5242880}$``: all non-blank, and
    a count too large for its generator), so with the second its coverage phase could build no
    valid body for a code upload or an import at all and sent its negative fallback (``0``) in the
    cases that vary a header.
    """
    del schema["pattern"]
    schema["not"] = {"pattern": rf"^[{SPACE}]*$"}


Source = Annotated[str, Field(min_length=1, max_length=5 * 1024 * 1024,
                              pattern=pattern_message(rf"[^{SPACE}]", "must not be blank"),
                              json_schema_extra=_not_blank_schema)]
Entry = Annotated[str, Field(pattern=IDENTIFIER_PATTERN)]
CodeId = Annotated[str, Field(pattern=CODE_ID_PATTERN)]

def _code_field_definitions() -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for role in CODE_ROLES:
        fields[role] = (Source | None, Field(default=None, description=f"Python source defining `{role}`'s entry."))
        fields[f"{role}_id"] = (CodeId | None, Field(default=None, description=(
            f"A code upload (contract §9) used as `{role}` instead of inline source.")))
        fields[f"{role}_entry"] = (Entry | None, Field(default=None, description=(
            f"The top-level name the runtime calls; required with `{role}` or `{role}_id` (and only with one of "
            "them: not both).")))
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


#: the roles whose pairing rules the document writes in JSON Schema (see :func:`code_rules_schema`)
SCHEMA_PAIRED_ROLES = ("fitness_func",)


def code_rules_schema(*, required_fitness: bool) -> dict[str, Any]:
    """The pairing rules as JSON Schema keywords to merge into the model's schema.

    A role is one of three shapes: none of its fields (null counts as absent), the source
    with its entry, or the upload with its entry. The document writes them out for
    ``fitness_func`` only; the callbacks' fields say the same rule in their descriptions.
    Written for all nine roles the rules are 3^9 combinations, which a generator such as
    schemathesis expands into 19,683 branches and then needs minutes for each example. The
    server checks them in the order a reader fixes them: a source sent without its entry is
    first compiled, so broken code is reported as such (the SDK finds no entry in code that
    does not parse) before the missing entry is (:mod:`vilvik_emulator.core.drafts`).
    """
    text, null = {"type": "string"}, {"type": "null"}
    rules: list[dict[str, Any]] = []
    for role in SCHEMA_PAIRED_ROLES:
        upload, entry = f"{role}_id", f"{role}_entry"
        shapes: list[dict[str, Any]] = [
            {"required": [role, entry], "properties": {role: text, entry: text, upload: null}},
            {"required": [upload, entry], "properties": {upload: text, entry: text, role: null}},
        ]
        if not (required_fitness and role == "fitness_func"):
            shapes.insert(0, {"properties": {role: null, upload: null, entry: null}})
        rules.append({"anyOf": shapes})
    return {"allOf": rules}
