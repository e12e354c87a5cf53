"""Building blocks of the wire schemas: base classes, shared field types, error translation.

Every request body, query string and response document of the emulator is a pydantic
model built from these pieces. Three things derive from the models and nothing else:
validation (:func:`parse_body`, :func:`parse_query`, with pydantic's errors turned into
the documented envelope, the field named), the served OpenAPI document
(``api/openapi.py`` assembles the models' JSON Schemas), and rendering (services fill
response models, the HTTP layer serialises them).

Requests are strict (``"5"`` is not an integer, ``true`` is not ``1``) and closed
(an unknown field is a 422 naming it). Responses are open (contract §1: clients must
tolerate additions) and list every field as required, because the server always sends
every field, with ``null`` where there is no value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)
from pydantic.json_schema import GenerateJsonSchema

from ..errors import ApiError, validation_failed

#: Patterns are written so that pydantic's engine (Rust's regex) and JSON Schema's (ECMA-262) read them
#: alike: ``[0-9]``, never ``\\d`` (Unicode digits in Rust), and this for white space (Rust's ``\\s`` has
#: U+0085 and not U+FEFF, ECMA's the other way round)
SPACE = r"\s\x85\ufeff"
TIMESTAMP_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"
RESOURCE_ID_PATTERN = r"^[A-Za-z0-9]{12}$"
REQUEST_ID_PATTERN = r"^req_[A-Za-z0-9]{20}$"
#: a number as Python writes it ("4.812", "1e-05", "inf", "nan") or a JSON list of them
FITNESS_TEXT_PATTERN = r"^(-?(\d+(\.\d+)?([eE][-+]?\d+)?|inf)|nan|\[.*\])$"
ACCOUNT_ID_PATTERN = r"^acct_[A-Za-z0-9]+$"


class OpenApiJsonSchema(GenerateJsonSchema):
    """pydantic's JSON Schema without the auto-generated titles (component names say it)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


# ---------------------------------------------------------------------- named primitives and messages

class FieldProblems(ValueError):
    """Raised by a model validator: one ``(field, message)`` per problem, fields relative to the model."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field} {message}" for field, message in problems))
        self.problems = problems


#: pattern -> what to say when a value does not match it (instead of printing the pattern)
PATTERN_MESSAGES: dict[str, str] = {}


def pattern_message(pattern: str, message: str) -> str:
    """Register the message for values that do not match ``pattern``; returns the pattern."""
    PATTERN_MESSAGES[pattern] = message
    return pattern


#: name -> JSON Schema of the shared primitive types, published under components/schemas
PRIMITIVES: dict[str, dict[str, Any]] = {}


def primitive(name: str, python_type: Any, description: str, **constraints: Any) -> Any:
    """A field type validated with ``constraints`` and documented once, as ``#/components/schemas/<name>``.

    The published schema is generated from the same annotated type that validates, so
    the two cannot disagree.
    """
    annotated = Annotated[python_type, Field(**constraints)]
    schema = TypeAdapter(annotated).json_schema(schema_generator=OpenApiJsonSchema)
    PRIMITIVES[name] = {**schema, "description": description}
    return Annotated[python_type, Field(**constraints), _PrimitiveSchema(name)]


class _PrimitiveSchema:
    """Stands for a published primitive in a generated schema: a fresh mark every time (pydantic 2.7,
    our floor, hands out and then edits the very dict a ``WithJsonSchema`` holds)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict[str, Any]:
        return {PRIMITIVE_MARK: self.name}


#: stands for ``{"$ref": "#/components/schemas/<name>"}`` until the document is assembled (pydantic
#: resolves every ``$ref`` it generates itself, so a reference to a published primitive waits)
PRIMITIVE_MARK = "x-vilvik-primitive"


def resolve_primitives(schema: Any) -> Any:
    """Turn the primitive marks in a generated schema into references to the published primitives."""
    if isinstance(schema, dict):
        if PRIMITIVE_MARK in schema:
            return {"$ref": f"#/components/schemas/{schema[PRIMITIVE_MARK]}",
                    **{key: value for key, value in schema.items() if key != PRIMITIVE_MARK}}
        return {key: resolve_primitives(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [resolve_primitives(item) for item in schema]
    return schema


Timestamp = primitive("Timestamp", str, "ISO-8601 UTC with `Z`, second precision.", pattern=TIMESTAMP_PATTERN)
ResourceId = primitive("ResourceId", str, "12 characters `[A-Za-z0-9]` (submissions and results).",
                       pattern=RESOURCE_ID_PATTERN)
RequestId = primitive("RequestId", str, "`req_` and 20 alphanumerics.", pattern=REQUEST_ID_PATTERN)
AbsoluteUrl = primitive("Url", str, "An absolute URL.", pattern=r"^https?://")
AccountId = primitive("AccountId", str, "An account id.", pattern=ACCOUNT_ID_PATTERN)
FitnessText = primitive("FitnessText", str,
                        "A fitness as a **string**: a number as text (`\"4.812\"`) or a JSON list for multi-objective "
                        "runs (`\"[1.5, -0.2]\"`) (contract §7, §14).", pattern=FITNESS_TEXT_PATTERN)
PageLink = primitive("PageLink", str, "Absolute URL of the adjacent page: every filter and the page size plus "
                                      "`cursor`.", pattern=r"^https?://[^?#]+\?(.*&)?cursor=[^&]+")


def real_date(text: str) -> str:
    """The pattern says the shape; a date that does not exist (month 13) is refused here too."""
    from datetime import datetime

    try:
        datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "Zz" else text)
    except ValueError:
        raise ValueError("must be an ISO-8601 timestamp with Z or an offset") from None
    return text


#: RFC 3339 date-time, with ``Z`` or an offset (list filters accept both, contract §1)
DateTimeFilter = Annotated[str, Field(
    pattern=pattern_message(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?([Zz]|[+-][0-9]{2}:[0-9]{2})$",
                            "must be an ISO-8601 timestamp with Z or an offset"),
    json_schema_extra={"format": "date-time"}), AfterValidator(real_date)]

_PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0)"
_DNS_NAME = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*"
#: https anywhere; http only on loopback (contract §11: the emulator's one relaxation)
WEBHOOK_URL_PATTERN = pattern_message(
    rf"^(https://({_DNS_NAME}|\[::1\])|http://(localhost|127\.0\.0\.1|\[::1\]))(:{_PORT})?([/?#][!-~]*)?$",
    "must be an absolute https:// URL (the emulator accepts http:// only on loopback)")
WebhookUrl = Annotated[str, Field(max_length=2000, pattern=WEBHOOK_URL_PATTERN, description=(
    "An absolute `https://` URL (the emulator also takes `http://` on loopback: localhost, 127.0.0.1, [::1])."))]
Email = Annotated[str, Field(max_length=320, pattern=pattern_message(rf"^[^@{SPACE}]+@[^@{SPACE}]+\.[^@{SPACE}]+$",
                                                                    "must be an email address"))]


#: a JSON number as clients send it: an integer stays an integer (PyGAD treats them differently)
Number = int | float


def _whole_number(value: Any) -> Any:
    """``384.0`` as the integer 384: JSON has one number type, and JSON Schema's ``integer`` is any number
    without a fractional part, so a client (or a JSON library) that writes an integer as ``384.0`` sent an
    integer. ``true`` and ``"5"`` stay refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: metadata of an integer-only field: ``Annotated[int, Strict(), Field(...), WHOLE]`` (the constraints
#: before it: after it, pydantic would publish ``ge`` instead of ``minimum``); where a float is accepted
#: too, ``int | float`` keeps the float a float
WHOLE = BeforeValidator(_whole_number)
#: an integer-only field without constraints
WholeInt = Annotated[int, Strict(), WHOLE]
#: a number written by the emulator: non-finite values become the strings "inf", "-inf", "nan"
NumberOrSpecial = Annotated[int | float | str, WithJsonSchema({
    "anyOf": [{"type": "number"}, {"enum": ["inf", "-inf", "nan"]}],
    "description": "A number; a non-finite value is written as the string `inf`, `-inf` or `nan`."})]
FitnessValue = NumberOrSpecial | list[NumberOrSpecial]


# ---------------------------------------------------------------------- base classes

class RequestBody(BaseModel):
    """A request body: strict types, unknown fields rejected (422 naming them)."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)

    def given(self) -> dict[str, Any]:
        """The fields the client actually sent (PATCH-style bodies change only those)."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class ResponseDocument(BaseModel):
    """A response document: every field always sent; additions allowed (contract §1)."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True, extra="ignore")


class QueryParameters(BaseModel):
    """A query string: every value arrives as text and is parsed from it; unknown names are ignored.

    Parameters that must never be rejected (DRF's page size and ordering, contract §4)
    are declared as plain strings and interpreted by the service.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)
    #: parameter name -> description, for the OpenAPI document
    descriptions: ClassVar[dict[str, str]] = {}


Model = TypeVar("Model", bound=BaseModel)


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def optional(description: str | None = None, **constraints: Any) -> Any:
    """A field that may be left out but never sent as null (PATCH bodies): absent means "keep"."""
    return Field(default=None, description=description, json_schema_extra=_no_default, **constraints)


# ---------------------------------------------------------------------- validation

def _number_text(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _message(error: Any) -> str:
    """pydantic's error, in the catalogue's phrasing ("must be an integer")."""
    kind, context = error["type"], error.get("ctx") or {}
    messages = {
        "missing": "is required",
        "extra_forbidden": "is not a known field",
        "int_type": "must be an integer", "int_from_float": "must be an integer", "int_parsing": "must be an integer",
        "float_type": "must be a number", "float_parsing": "must be a number", "finite_number": "must be finite",
        "string_type": "must be a string",
        "bool_type": "must be true or false", "bool_parsing": "must be true or false",
        "list_type": "must be a list", "tuple_type": "must be a list", "dict_type": "must be an object",
        "model_type": "must be an object", "model_attributes_type": "must be an object",
        "none_required": "must be null",
    }
    if kind in messages:
        return messages[kind]
    if kind == "greater_than_equal":
        return f"must be >= {_number_text(context['ge'])}"
    if kind == "greater_than":
        return f"must be > {_number_text(context['gt'])}"
    if kind == "less_than_equal":
        return f"must be <= {_number_text(context['le'])}"
    if kind == "less_than":
        return f"must be < {_number_text(context['lt'])}"
    if kind == "string_too_long":
        return f"must be at most {context['max_length']} characters"
    if kind == "string_too_short":
        return "must not be empty" if context.get("min_length") == 1 else \
            f"must be at least {context['min_length']} characters"
    if kind == "too_short":
        return f"must have at least {context['min_length']} item{'s' if context['min_length'] != 1 else ''}"
    if kind == "too_long":
        return f"must have at most {context['max_length']} items"
    if kind in ("literal_error", "enum"):
        allowed = f"must be one of {context.get('expected', '')}".replace("'", "")
        given = error.get("input")
        if isinstance(given, (str, int, float)) and not isinstance(given, bool) and len(repr(given)) <= 60:
            return f"{given!r} is not accepted: {allowed}"
        return allowed
    if kind == "string_pattern_mismatch":
        return PATTERN_MESSAGES.get(context["pattern"], f"must match {context['pattern']}")
    if kind in ("value_error", "assertion_error"):
        text = str(context.get("error") or error["msg"])
        return text
    text = str(error["msg"])
    return text[:1].lower() + text[1:]


#: parts of a pydantic error location that name a branch of a union, not a field
_BRANCH = re.compile(r"[\[\](),'\- ]|^(int|float|str|bool|none|list|dict|tuple|set|bytes)$|^[A-Z][A-Za-z0-9]*$")


def _is_branch(part: object) -> bool:
    return isinstance(part, str) and bool(_BRANCH.search(part))


def field_errors(error: ValidationError, *, prefix: str = "", drop_tags: int = 0) -> list[dict[str, str]]:
    """pydantic's errors as the envelope's ``details``: one per field, dotted paths (contract §3).

    ``drop_tags`` removes that many leading path parts (the tag of a discriminated
    union, which is not a field of the body). A value that matches no branch of a
    union (``stop_criteria``: a string or a list of strings) is reported once, by the
    branch that got furthest. A problem with the whole body is named ``body``.
    """
    found: list[tuple[str, str, str | None, int]] = []  # (field, message, union root, depth)
    for item in error.errors(include_url=False):
        raw = item["loc"][drop_tags:]
        if item["type"].startswith("unknown_"):  # a discriminated union's tag (submission_type, action, to)
            raw = raw or (item["type"].removeprefix("unknown_"),)
        parts = [str(part) for part in raw if not _is_branch(part)]
        branch = next((index for index, part in enumerate(raw) if _is_branch(part)), None)
        root = ".".join(str(part) for part in raw[:branch] if not _is_branch(part)) if branch is not None else None
        cause = (item.get("ctx") or {}).get("error")
        problems = cause.problems if isinstance(cause, FieldProblems) else [("", _message(item))]
        for relative, message in problems:
            field = ".".join(part for part in (prefix, ".".join(parts), relative) if part) or "body"
            found.append((field, message, root, len(parts)))
    deepest: dict[str, int] = {}
    for _, _, root, depth in found:
        if root is not None:
            deepest[root] = max(deepest.get(root, 0), depth)
    merged: dict[str, list[str]] = {}
    for field, message, root, depth in found:
        if root is not None and depth < deepest[root]:
            continue  # a branch that failed earlier than another one
        messages = merged.setdefault(field, [])
        if message not in messages:
            messages.append(message)
    return [{"field": field, "message": _either(messages)} for field, messages in merged.items()]


def _either(messages: list[str]) -> str:
    """One message for a value no branch of a union took: "must be an integer or a list"."""
    if len(messages) > 1 and all(message.startswith("must be ") for message in messages):
        return "must be " + " or ".join(message.removeprefix("must be ") for message in messages)
    return " or ".join(messages)


def parse_body(model: type[Model] | TypeAdapter[Any], body: Any, *, prefix: str = "", drop_tags: int = 0) -> Any:
    """Validate a parsed JSON body against its schema; a 422 naming every offending field."""
    try:
        if isinstance(model, TypeAdapter):
            return model.validate_python(body)
        return model.model_validate(body)
    except ValidationError as error:
        raise validation_failed(field_errors(error, prefix=prefix, drop_tags=drop_tags)) from None


def last_values(args: Mapping[str, Any]) -> dict[str, str]:
    """Every query parameter with its last value ("a filter given twice keeps the last value")."""
    getlist = getattr(args, "getlist", None)
    values: dict[str, str] = {}
    for name in args:
        raw = getlist(name) if getlist is not None else args[name]
        if isinstance(raw, list):
            if raw:
                values[name] = raw[-1]
        else:
            values[name] = raw
    return values


def parse_query(model: type[Model], args: Mapping[str, Any]) -> Model:
    """Validate a query string against its schema; 400 ``invalid_parameter`` naming the parameter (§3)."""
    try:
        return model.model_validate(last_values(args))
    except ValidationError as error:
        details = field_errors(error)
        first = details[0]
        raise ApiError("invalid_parameter", f"query parameter {first['field']!r}: {first['message']}",
                       details=details) from None

