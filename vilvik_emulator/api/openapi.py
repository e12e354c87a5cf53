"""The OpenAPI 3.1 document of every ``/api/v1`` and ``/_emulator`` route (served at ``/api/v1/openapi.json``).

The contract lives in one machine-readable document so that the test suite can validate
every real response against it: the contract and the code cannot drift apart silently.
It is written out by hand from the contract (not derived from the code, which would
make it agree with any drift), as Python dicts: each schema, response and header is
defined once under ``components`` and referenced everywhere else.

Response objects never set ``additionalProperties: false`` (contract §1: clients must
tolerate additions within v1) but require every documented field; the few fields that
are documented as sometimes absent (``error.details``, a key's ``rotated_at``) are the
only optional ones. Every operation documents the error statuses it can produce; the
``/api/v1`` ones also the 429 and 503 a control-plane fault rule can inject.
"""

from __future__ import annotations

import functools
import json
from typing import Any

TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"
RESOURCE_ID_PATTERN = r"^[A-Za-z0-9]{12}$"
REQUEST_ID_PATTERN = r"^req_[A-Za-z0-9]{20}$"
#: a number as Python writes it ("4.812", "1e-05", "inf", "nan") or a JSON list of them
FITNESS_TEXT_PATTERN = r"^(-?(\d+(\.\d+)?([eE][-+]?\d+)?|inf)|nan|\[.*\])$"

SUBMISSION_STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"]
SOURCES = ["api", "web"]
VISIBILITIES = ["private", "public", "invite_only"]
SUBMISSION_ORDERINGS = ["created_at", "-created_at", "name", "-name", "status"]
RESULT_ORDERINGS = ["created_at", "-created_at", "best_solution_fitness", "-best_solution_fitness"]
RUN_FAILURE_CODES = ["fitness_error", "timeout", "out_of_memory", "worker_crashed", "invalid_parameters",
                     "worker_lost"]
SCOPES = ["submissions:read", "submissions:write", "results:read", "results:write", "code-uploads:read",
          "code-uploads:write", "webhooks:read", "webhooks:write", "imports:write"]
TIERS = ["free", "premium"]
RUN_MODES = ["thread", "sync", "manual"]
KEY_STATUSES = ["active", "revoked", "expired"]
WEBHOOK_EVENTS = ["submission.succeeded", "submission.failed", "submission.cancelled", "result.completed"]
DEVICE_ERRORS = ["authorization_pending", "slow_down", "access_denied", "expired_token", "invalid_grant",
                 "invalid_request"]
CODE_ROLES = ["fitness_func", "on_start", "on_fitness", "on_parents", "on_crossover", "on_mutation",
              "on_generation", "on_stop", "gene_constraint"]

#: contract §3: every error code with its HTTP status
ERROR_CODES = {
    "invalid_json": 400, "invalid_parameter": 400, "unauthorized": 401, "insufficient_credits": 402,
    "scope_required": 403, "not_found": 404, "method_not_allowed": 405, "wait_timeout": 408,
    "conflict": 409, "idempotency_key_in_use": 409, "payload_too_large": 413, "unsupported_media_type": 415,
    "validation_failed": 422, "idempotency_key_reused": 422, "rate_limited": 429, "internal_error": 500,
    "unavailable": 503,
}

#: reusable error responses: name -> (status, error codes it may carry, description, extra headers)
ERROR_RESPONSES: dict[str, tuple[int, list[str], str, dict[str, Any]]] = {
    "InvalidJson": (400, ["invalid_json"], "The body is not valid JSON or not a JSON object.", {}),
    "DeviceTokenError": (400, ["invalid_json"], "Not (yet) a key: RFC 8628's `{\"error\": ...}` "
                                                "(`authorization_pending`, `slow_down`, `access_denied`, "
                                                "`expired_token`, `invalid_grant`, `invalid_request`), or the "
                                                "error envelope when the body is not a JSON object.", {}),
    "InvalidParameter": (400, ["invalid_parameter"], "A query parameter is malformed or out of range.", {}),
    "InvalidJsonOrParameter": (400, ["invalid_json", "invalid_parameter"],
                               "The body is not a JSON object, or the Idempotency-Key header is malformed.", {}),
    "Unauthorized": (401, ["unauthorized"], "Missing, malformed, unknown, revoked or expired credentials, or a "
                                            "deactivated account.", {}),
    "InsufficientCredits": (402, ["insufficient_credits"], "The account's credit balance is exhausted.", {}),
    "ScopeRequired": (403, ["scope_required"], "The key lacks a scope this endpoint needs (the message names it).",
                      {}),
    "NotFound": (404, ["not_found"], "No such resource, or it is not visible to this key; also any unknown "
                                     "path.", {}),
    "MethodNotAllowed": (405, ["method_not_allowed"], "The path exists but not with this method; `Allow` lists "
                                                      "the methods it has.",
                         {"Allow": {"$ref": "#/components/headers/Allow"}}),
    "WaitTimeout": (408, ["wait_timeout"], "The submission did not reach the awaited state in time.", {}),
    "Conflict": (409, ["conflict"], "The operation does not fit the resource's current state.", {}),
    "IdempotencyKeyInUse": (409, ["idempotency_key_in_use"], "A request with the same Idempotency-Key is still "
                                                             "being processed; retry after `Retry-After` seconds.",
                            {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}),
    "ConflictOrKeyInUse": (409, ["conflict", "idempotency_key_in_use"],
                           "`conflict`: the result's run did not succeed or cannot be continued; "
                           "`idempotency_key_in_use` (with `Retry-After`): the same Idempotency-Key is still being "
                           "processed.",
                           {"Retry-After": {"description": "Seconds to wait; sent with `idempotency_key_in_use` "
                                                           "only.",
                                            "required": False,
                                            "schema": {"$ref": "#/components/schemas/RetryAfterSeconds"}}}),
    "PayloadTooLarge": (413, ["payload_too_large"], "The body is over the size limit (default 5 MiB).", {}),
    "UnsupportedMediaType": (415, ["unsupported_media_type"], "A body was sent without "
                                                              "`Content-Type: application/json`.", {}),
    "ValidationFailed": (422, ["validation_failed"], "The body is JSON but a field is missing, mistyped, out of "
                                                     "range or inconsistent; `details` names each field.", {}),
    "ValidationFailedOrKeyReused": (422, ["validation_failed", "idempotency_key_reused"],
                                    "`validation_failed`: a field is missing, mistyped, out of range or "
                                    "inconsistent (`details` names each); `idempotency_key_reused`: the "
                                    "Idempotency-Key was used with a different request.", {}),
    "RateLimited": (429, ["rate_limited"], "A rate limit is exceeded (or a fault rule injected one); retry after "
                                           "`Retry-After` seconds.",
                    {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}),
    "InternalError": (500, ["internal_error"], "A bug in the emulator; the message never leaks a traceback.", {}),
    "Unavailable": (503, ["unavailable"], "Only when injected through the control plane's fault rules.",
                    {"Retry-After": {"description": "Seconds to wait, when the fault rule sets one.",
                                     "required": False,
                                     "schema": {"$ref": "#/components/schemas/RetryAfterSeconds"}}}),
}


# ---------------------------------------------------------------------- small builders

def ref(kind: str, name: str) -> dict:
    return {"$ref": f"#/components/{kind}/{name}"}


def schema_ref(name: str) -> dict:
    return ref("schemas", name)


def nullable(name: str) -> dict:
    return {"anyOf": [schema_ref(name), {"type": "null"}]}


def obj(properties: dict[str, Any], *, optional: tuple[str, ...] = (), description: str | None = None) -> dict:
    """A response object: every property required except ``optional``; additions allowed (§1)."""
    schema: dict[str, Any] = {"type": "object",
                              "required": [name for name in properties if name not in optional],
                              "properties": properties}
    if description:
        schema["description"] = description
    return schema


def closed(properties: dict[str, Any], *, required: tuple[str, ...] = (), description: str | None = None) -> dict:
    """A request body the server checks field by field: unknown fields are rejected (422)."""
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    return schema


def json_content(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def standard_headers(**extra: Any) -> dict:
    return {"X-Request-Id": ref("headers", "RequestId"), "X-Vilvik-Emulator": ref("headers", "EmulatorVersion"),
            **extra}


def ok(description: str, schema: dict | None, **headers: Any) -> dict:
    response: dict[str, Any] = {"description": description, "headers": standard_headers(**headers)}
    if schema is not None:
        response["content"] = json_content(schema)
    return response


def path_parameter(name: str, description: str, schema: dict) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


def query_parameter(name: str, description: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def operation(operation_id: str, summary: str, tag: str, success: dict[str, dict], errors: list[str], *,
              parameters: list[dict] | None = None, body: dict | None = None, security: list | None = None,
              description: str | None = None, faults: bool = True) -> dict:
    """One operation; every one may answer 500, and with ``faults`` (the ``/api/v1`` ones, where fault
    rules apply) also the 429 and 503 the control plane can inject."""
    responses = dict(success)
    for name in [*errors, "InternalError", *(FAULT_ERRORS if faults else ())]:
        status = str(ERROR_RESPONSES[name][0])
        if status in responses:
            raise ValueError(f"{operation_id}: two responses for status {status}")
        responses[status] = ref("responses", name)
    result: dict[str, Any] = {"operationId": operation_id, "summary": summary, "tags": [tag]}
    if description:
        result["description"] = description
    if parameters:
        result["parameters"] = parameters
    if body is not None:
        result["requestBody"] = body
    if security is not None:
        result["security"] = security
    result["responses"] = dict(sorted(responses.items()))
    return result


def request_body(schema: dict, *, required: bool, description: str | None = None) -> dict:
    body: dict[str, Any] = {"required": required, "content": json_content(schema)}
    if description:
        body["description"] = description
    return body


def keyed(*scopes: str) -> list:
    """Security of an ``/api/v1`` operation: a bearer key holding every one of ``scopes`` (§2)."""
    return [{"ApiKey": list(scopes)}]


#: the control plane: open on loopback (the empty requirement), else the admin token (§13)
CONTROL_SECURITY = [{}, {"AdminToken": []}, {"AdminBearer": []}]
CONTROL_ERRORS = ["Unauthorized"]
#: statuses a fault rule can inject on any ``/api/v1`` operation (contract §3, §13)
FAULT_ERRORS = ["RateLimited", "Unavailable"]
BODY_ERRORS = ["InvalidJson", "PayloadTooLarge", "UnsupportedMediaType", "ValidationFailed"]
CREATE_ERRORS = ["InvalidJsonOrParameter", "Unauthorized", "InsufficientCredits", "ScopeRequired",
                 "PayloadTooLarge", "UnsupportedMediaType", "ValidationFailedOrKeyReused"]


# ---------------------------------------------------------------------- components: schemas

def _schemas() -> dict[str, dict]:
    number_or_special = {"anyOf": [{"type": "number"}, {"enum": ["inf", "-inf", "nan"]}],
                         "description": "A number; a non-finite value is written as the string "
                                        "`inf`, `-inf` or `nan`."}
    url = schema_ref("Url")
    account_id = schema_ref("AccountId")
    ga_count = {"type": "integer", "minimum": 1}
    schemas: dict[str, dict] = {
        # --- primitives
        "Timestamp": {"type": "string", "pattern": TIMESTAMP_PATTERN,
                      "description": "ISO-8601 UTC with `Z`, second precision."},
        "NullableTimestamp": {"type": ["string", "null"], "pattern": TIMESTAMP_PATTERN},
        "ResourceId": {"type": "string", "pattern": RESOURCE_ID_PATTERN,
                       "description": "12 characters `[A-Za-z0-9]` (submissions and results)."},
        "NullableResourceId": {"type": ["string", "null"], "pattern": RESOURCE_ID_PATTERN},
        "RequestId": {"type": "string", "pattern": REQUEST_ID_PATTERN},
        "RetryAfterSeconds": {"type": "string", "pattern": r"^\d+$", "description": "Whole seconds."},
        "Url": {"type": "string", "pattern": r"^https?://", "description": "An absolute URL."},
        "PageLink": {"type": ["string", "null"], "pattern": r"^https?://[^?#]+\?(.*&)?cursor=[^&]+",
                     "description": "Absolute URL of the adjacent page (every filter and the page size plus "
                                    "`cursor`), or null."},
        "AccountId": {"type": "string", "pattern": r"^acct_[A-Za-z0-9]+$"},
        "Number": number_or_special,
        "FitnessValue": {"anyOf": [schema_ref("Number"), {"type": "array", "items": schema_ref("Number")}],
                         "description": "A fitness: a number, or a list of numbers for a multi-objective run."},
        "FitnessText": {"type": ["string", "null"], "pattern": FITNESS_TEXT_PATTERN,
                        "description": "A fitness as a **string**: a number as text (`\"4.812\"`) or a JSON list "
                                       "for multi-objective runs (`\"[1.5, -0.2]\"`); null before one is known "
                                       "(contract §7, §14)."},
        "Genes": {"type": ["array", "null"], "items": schema_ref("Number"),
                  "description": "The best solution's genes; null when the run produced none."},
        "SubmissionStatus": {"type": "string", "enum": SUBMISSION_STATUSES},
        "Source": {"type": "string", "enum": SOURCES},
        "Visibility": {"type": "string", "enum": VISIBILITIES},
        "SubmissionType": {"type": "string", "pattern": r"^(new|import|quick_[a-z0-9_]+)$",
                           "description": "`new`, `import`, or a quick type slug (contract §5.5)."},
        "Scope": {"type": "string", "enum": SCOPES},
        "RunMode": {"type": "string", "enum": RUN_MODES},
        "ErrorCode": {"type": "string", "enum": list(ERROR_CODES)},
        # --- errors (contract §3)
        "ErrorDetail": obj({"field": {"type": "string", "minLength": 1,
                                      "description": "Dotted path of the offending field."},
                            "message": {"type": "string", "minLength": 1}}),
        "Error": obj({"error": obj({
            "code": schema_ref("ErrorCode"),
            "message": {"type": "string", "minLength": 1},
            "request_id": schema_ref("RequestId"),
            "details": {"type": "array", "minItems": 1, "items": schema_ref("ErrorDetail"),
                        "description": "On validation errors: one entry per offending field."},
        }, optional=("details",))}, description="The error envelope of every non-2xx response."),
        # --- shared pieces
        "Page": obj({"next": schema_ref("PageLink"), "previous": schema_ref("PageLink")},
                    description="A cursor page (contract §4); `results` holds the rows."),
        "Usage": obj({"cpu_seconds": {"type": "number", "minimum": 0},
                      "peak_memory_mb": {"type": "number", "minimum": 0},
                      "wall_seconds": {"type": "number", "minimum": 0}}),
        "GaParameters": {
            "type": "object",
            "description": "Every effective PyGAD parameter, defaults filled in (contract §6).",
            "required": ["num_generations", "num_parents_mating", "sol_per_pop", "num_genes"],
            "properties": {"num_generations": ga_count, "num_parents_mating": ga_count,
                           "sol_per_pop": {"type": "integer", "minimum": 2},
                           "num_genes": {"type": ["integer", "null"], "minimum": 1}},
        },
        "Code": {"type": "object", "required": ["fitness_func", "fitness_func_entry"],
                 "additionalProperties": {"type": "string"},
                 "description": "Each code field's source and its `<field>_entry` (and `<field>_id` when it "
                                "came from a code upload)."},
        "Progress": obj({"generations_completed": {"type": "integer", "minimum": 0},
                         "num_generations": {"type": ["integer", "null"], "minimum": 0},
                         "best_fitness": schema_ref("FitnessText")}),
        "RunError": obj({"code": {"type": "string", "enum": RUN_FAILURE_CODES},
                         "message": {"type": "string"}, "traceback": {"type": "string"}},
                        description="Why a `failed` run failed."),
        # --- submissions (contract §5)
        "SubmissionCreated": obj({
            "id": schema_ref("ResourceId"),
            "status": schema_ref("SubmissionStatus"),
            "status_url": url,
            "result_url": url,
            "created_at": schema_ref("Timestamp"),
            "name": {"type": ["string", "null"]},
            "description": {"type": ["string", "null"]},
            "submission_type": schema_ref("SubmissionType"),
            "generated": {"type": "object", "description": "What a quick type filled in or generated."},
            "request_id": schema_ref("RequestId"),
        }, description="The 202 of create, re-execute and continue."),
        "SubmissionRow": obj({
            "id": schema_ref("ResourceId"),
            "name": {"type": ["string", "null"]},
            "status": schema_ref("SubmissionStatus"),
            "source": schema_ref("Source"),
            "created_at": schema_ref("Timestamp"),
        }, description="A submission as a list row (exactly the documented fields)."),
        "SubmissionDetail": obj({
            "id": schema_ref("ResourceId"),
            "name": {"type": ["string", "null"]},
            "description": {"type": ["string", "null"]},
            "status": schema_ref("SubmissionStatus"),
            "source": schema_ref("Source"),
            "submission_type": schema_ref("SubmissionType"),
            "visibility": schema_ref("Visibility"),
            "parent_submission_id": schema_ref("NullableResourceId"),
            "parent_result_id": schema_ref("NullableResourceId"),
            "created_at": schema_ref("Timestamp"),
            "started_at": schema_ref("NullableTimestamp"),
            "finished_at": schema_ref("NullableTimestamp"),
            "status_url": url,
            "result_url": url,
            "parameters": schema_ref("GaParameters"),
            "code": schema_ref("Code"),
            "progress": schema_ref("Progress"),
            "error": nullable("RunError"),
            "usage": nullable("Usage"),
            "credits_used": {"type": ["number", "null"], "minimum": 0},
            "webhook_url": {"type": ["string", "null"]},
            "notification_email": {"type": ["string", "null"]},
            "generated": {"type": "object"},
            "result_id": {**schema_ref("NullableResourceId"),
                          "description": "The run's result once there is one (an emulator addition)."},
        }, description="The full submission row, with live progress while it runs."),
        "SubmissionList": {"allOf": [schema_ref("Page"), obj({
            "results": {"type": "array", "items": schema_ref("SubmissionRow")}})]},
        # --- results (contract §7)
        "ResultFile": obj({"name": {"type": "string", "minLength": 1},
                           "content_type": {"type": "string", "minLength": 1},
                           "size": {"type": "integer", "minimum": 0},
                           "url": url}),
        "ResultRow": obj({
            "id": schema_ref("ResourceId"),
            "submission_id": schema_ref("ResourceId"),
            "name": {"type": ["string", "null"]},
            "is_shared": {"type": "boolean"},
            "best_solution_fitness": schema_ref("FitnessText"),
            "generations_completed": {"type": "integer", "minimum": 0},
            "created_at": schema_ref("Timestamp"),
            "best_solution": schema_ref("Genes"),
        }, description="A result as a list row; `best_solution` is an addition older SDKs read (§14)."),
        "ResultDetail": {"allOf": [schema_ref("ResultRow"), obj({
            "best_solution_idx": {"type": ["integer", "null"], "minimum": 0},
            "best_solutions_fitness": {"type": "array", "items": schema_ref("FitnessValue"),
                                       "description": "Best fitness of every generation (the fitness "
                                                      "evolution chart)."},
            "best_solution_generation": {"type": ["integer", "null"], "minimum": 0},
            "last_generation_fitness": {"type": ["array", "null"], "items": schema_ref("FitnessValue")},
            "stopped_reason": {"type": ["string", "null"],
                               "pattern": r"^(num_generations|on_generation|stop_criteria:.+|failed|cancelled)$",
                               "description": "What ended the run: `num_generations`, `stop_criteria:<criterion>`, "
                                              "`on_generation`; for a run that did not succeed, its status."},
            "parameters": {"type": "object"},
            "usage": nullable("Usage"),
            "parent_result_id": schema_ref("NullableResourceId"),
            "files": {"type": "array", "items": schema_ref("ResultFile")},
        })], "description": "The full result: the row plus genes, fitness history and file links."},
        "ResultList": {"allOf": [schema_ref("Page"), obj({
            "results": {"type": "array", "items": schema_ref("ResultRow")}})]},
        # --- the service
        "ApiHealth": obj({"status": {"const": "ok"}, "version": {"type": "string", "minLength": 1}}),
        "OpenApiDocument": obj({"openapi": {"type": "string", "pattern": r"^3\.1\.\d+$"},
                                "info": {"type": "object"}, "paths": {"type": "object"}}),
        # --- the control plane (contract §13)
        "ControlHealth": obj({
            "status": {"const": "ok"},
            "version": {"type": "string", "minLength": 1},
            "mode": schema_ref("RunMode"),
            "uptime_seconds": {"type": "number", "minimum": 0},
            "store": {"type": "object"},
            "runner": obj({"queued": {"type": "integer", "minimum": 0},
                           "running": {"type": "integer", "minimum": 0},
                           "pool_size": {"type": "integer", "minimum": 1}}),
            "clock": schema_ref("ClockState"),
        }),
        "ResetDone": obj({"status": {"const": "reset"}, "account": {"type": ["string", "null"]}}),
        "Account": obj({
            "id": account_id,
            "name": {"type": "string"},
            "tier": {"type": "string", "enum": TIERS},
            "credits": {"type": "number"},
            "mode": {"type": ["string", "null"], "enum": [*RUN_MODES, None],
                     "description": "The account's run mode; null follows the server's."},
            "active": {"type": "boolean"},
            "created_at": schema_ref("Timestamp"),
        }),
        "AccountList": obj({"results": {"type": "array", "items": schema_ref("Account")}}),
        "Key": obj({
            "id": {"type": "string", "pattern": r"^key_[A-Za-z0-9]{12}$"},
            "account_id": account_id,
            "name": {"type": "string"},
            "prefix": {"type": "string", "pattern": r"^vlk_.{8}$",
                       "description": "The key's first 12 characters."},
            "scopes": {"type": "array", "items": schema_ref("Scope"), "uniqueItems": True},
            "status": {"type": "string", "enum": KEY_STATUSES},
            "created_at": schema_ref("Timestamp"),
            "expires_at": schema_ref("NullableTimestamp"),
            "revoked_at": schema_ref("NullableTimestamp"),
            "rotated_at": {**schema_ref("Timestamp"), "description": "Present once the key was rotated."},
            "last_used_at": schema_ref("NullableTimestamp"),
            "last_used_ip": {"type": ["string", "null"]},
        }, optional=("rotated_at",), description="A key as the control plane shows it: never its secret."),
        "KeyWithSecret": {"allOf": [schema_ref("Key"), obj({
            "key": {"type": "string", "pattern": r"^vlk_test_[A-Za-z0-9]{32}$",
                    "description": "The secret: shown here and nowhere else."}})]},
        "KeyList": obj({"results": {"type": "array", "items": schema_ref("Key")}}),
        "ClockState": obj({"now": schema_ref("Timestamp"), "frozen": {"type": "boolean"}}),
        "LedgerEntry": obj({
            "id": {"type": "string", "pattern": r"^chg_[A-Za-z0-9]{12}$"},
            "account_id": account_id,
            "submission_id": schema_ref("ResourceId"),
            "amount": {"type": "number", "minimum": 0},
            "balance_after": {"type": "number"},
            "reason": {"type": "string", "description": "How the run ended (`succeeded`, `cancelled`, a failure "
                                                        "code)."},
            "usage": schema_ref("Usage"),
            "created_at": schema_ref("Timestamp"),
        }, description="One charge (contract §8)."),
        "Ledger": obj({"balance": {"type": "number"},
                       "results": {"type": "array", "items": schema_ref("LedgerEntry"),
                                   "description": "Newest first."}}),
        "FaultRule": obj({
            "id": {"type": "string", "pattern": r"^fault_[A-Za-z0-9]{12}$"},
            "method": {"type": "string", "description": "An HTTP method or `*`."},
            "path": {"type": "string", "description": "A glob over the request path."},
            "action": {"type": "string", "enum": ["respond", "drop"]},
            "status": {"type": ["integer", "null"], "minimum": 400, "maximum": 599},
            "code": {"type": ["string", "null"]},
            "message": {"type": ["string", "null"]},
            "delay_ms": {"type": "integer", "minimum": 0},
            "retry_after": {"type": ["integer", "null"], "minimum": 0},
            "count": {"type": ["integer", "null"], "minimum": 1},
            "probability": {"type": "number", "minimum": 0, "maximum": 1},
            "seed": {"type": ["integer", "null"]},
            "matched": {"type": "integer", "minimum": 0},
            "remaining": {"type": ["integer", "null"], "minimum": 0},
        }, description="A fault injection rule; it applies to `/api/v1` only."),
        "FaultList": obj({"results": {"type": "array", "items": schema_ref("FaultRule"),
                                      "description": "In matching order (the first live rule wins)."}}),
        "JournalEntry": obj({
            "seq": {"type": "integer", "minimum": 1},
            "at": schema_ref("Timestamp"),
            "method": {"type": "string"},
            "path": {"type": "string"},
            "query": {"type": "object", "additionalProperties": {"type": "string"}},
            "body": {"description": "The JSON body, text when it is not JSON, or null."},
            "status": {"type": ["integer", "null"], "description": "Null when a fault dropped the connection."},
            "error_code": {"type": ["string", "null"]},
            "request_id": schema_ref("RequestId"),
            "account": {"type": ["string", "null"]},
            "idempotency_key": {"type": ["string", "null"]},
            "replayed": {"type": "boolean"},
            "fault": {"type": ["string", "null"], "description": "The fault rule that hit the request."},
            "dropped": {"type": "boolean"},
            "duration_ms": {"type": "number", "minimum": 0},
        }, description="One `/api/v1` request and its outcome."),
        "Journal": obj({"results": {"type": "array", "items": schema_ref("JournalEntry"),
                                    "description": "Newest first."}}),
        "Snapshot": obj({
            "emulator_version": {"type": "string"},
            "exported_at": schema_ref("Timestamp"),
            "schema_version": {"type": "integer", "minimum": 1},
            "tables": {"type": "object", "additionalProperties": {"type": "object"},
                       "description": "Each table's records by id."},
            "files": {"type": "object", "additionalProperties": {"type": "string"},
                      "description": "Result files by relative path, base64."},
        }, description="The whole state as one document."),
        "SnapshotImported": obj({"status": {"const": "imported"}}),
        "Limits": obj({"runtime_seconds": {"type": "number", "exclusiveMinimum": 0},
                       "memory_mb": {"type": "integer", "minimum": 1},
                       "output_bytes": {"type": "integer", "minimum": 0},
                       "max_processes": {"type": "integer", "minimum": 1}},
                      description="Per-job resource limits (contract §6)."),
        "RuntimeConfig": obj({
            "mode": schema_ref("RunMode"),
            "pool_size": {"type": "integer", "minimum": 1},
            "limits": schema_ref("Limits"),
            "max_body_bytes": {"type": "integer", "minimum": 1},
            "default_credits": {"type": "number", "minimum": 0},
            "cpu_rate": {"type": "number", "minimum": 0},
            "memory_rate": {"type": "number", "minimum": 0},
            "rate_limit": {"anyOf": [{"type": "null"}, schema_ref("RateLimit")],
                           "description": "The optional per-key request limit; null when off (the default)."},
            "auto_approve_login": {"type": "boolean"},
            "device_poll_interval": {"type": "number", "minimum": 0},
            "accept_unknown_keys": {"type": "boolean", "description": "Accept keys the emulator never issued, as "
                                    "default-account keys with every scope (`mock_vilvik` turns it on)."},
        }, description="The settings that can change while the server runs."),
        "RateLimit": obj({"requests": {"type": "integer", "minimum": 1},
                          "window_seconds": {"type": "number", "exclusiveMinimum": 0}}),
        # --- code uploads (contract §9)
        "CodeUploadRow": obj({
            "code_id": {"type": "string", "pattern": r"^code_[A-Za-z0-9]{12}$"},
            "content_size": {"type": "integer", "minimum": 1, "description": "Bytes of the UTF-8 source."},
            "content_sha256": {"type": "string", "pattern": r"^[0-9a-f]{64}$"},
            "created_at": schema_ref("Timestamp"),
            "expires_at": {**schema_ref("Timestamp"), "description": "Seven days after creation (emulator clock)."},
            "is_expired": {"type": "boolean"},
        }),
        "CodeUploadDetail": {"allOf": [schema_ref("CodeUploadRow"), obj({"content": {"type": "string"}})]},
        "CodeUploadList": {"allOf": [schema_ref("Page"), obj({
            "results": {"type": "array", "items": schema_ref("CodeUploadRow")}})]},
        # --- imports (contract §10)
        "ImportCreated": obj({
            "id": {"type": "string", "pattern": r"^imp_[A-Za-z0-9]{12}$"},
            "submission_id": schema_ref("ResourceId"),
            "result_id": schema_ref("ResourceId"),
            "result_url": url,
        }),
        # --- webhooks (contract §11)
        "WebhookEvent": {"type": "string", "enum": WEBHOOK_EVENTS},
        "Webhook": obj({
            "id": {"type": "string", "pattern": r"^wh_[A-Za-z0-9]{12}$"},
            "url": url,
            "events": {"type": "array", "items": schema_ref("WebhookEvent"), "minItems": 1, "uniqueItems": True},
            "description": {"type": ["string", "null"]},
            "is_active": {"type": "boolean"},
            "created_at": schema_ref("Timestamp"),
        }),
        "WebhookList": obj({"results": {"type": "array", "items": schema_ref("Webhook")},
                            "next": {"type": "null"}, "previous": {"type": "null"}},
                           description="Every webhook of the account (the SDK pages nothing)."),
        "WebhookAdmin": {"allOf": [schema_ref("Webhook"), obj({"account_id": account_id})]},
        "WebhookWithSecret": {"allOf": [schema_ref("WebhookAdmin"), obj({
            "secret": {"type": "string", "pattern": r"^whsec_[A-Za-z0-9]{32}$",
                       "description": "The signing secret: shown here and nowhere else."}})]},
        "WebhookAdminList": obj({"results": {"type": "array", "items": schema_ref("WebhookAdmin")}}),
        "Delivery": obj({
            "id": {"type": "string", "pattern": r"^dlv_[A-Za-z0-9]{12}$"},
            "webhook_id": {"type": ["string", "null"],
                           "description": "Null for a delivery to a submission's own `webhook_url`."},
            "submission_id": schema_ref("NullableResourceId"),
            "event_id": {"type": "string", "format": "uuid"},
            "event_type": {"type": "string", "enum": [*WEBHOOK_EVENTS, "webhook.test"]},
            "url": url,
            "attempt": {"type": "integer", "minimum": 1, "maximum": 5},
            "status_code": {"type": ["integer", "null"], "description": "Null when no response came."},
            "duration_ms": {"type": "number", "minimum": 0},
            "error": {"type": ["string", "null"]},
            "succeeded": {"type": "boolean"},
            "final": {"type": "boolean", "description": "No further attempt will be made."},
            "next_attempt_at": schema_ref("NullableTimestamp"),
            "response_body": {"type": ["string", "null"], "description": "The first 2 KiB of the answer."},
            "created_at": schema_ref("Timestamp"),
        }, description="One delivery attempt."),
        "DeliveryList": {"allOf": [schema_ref("Page"), obj({
            "results": {"type": "array", "items": schema_ref("Delivery"), "description": "Newest first."}})]},
        "WebhookTestSent": obj({"event_id": {"type": "string", "format": "uuid"},
                                "event_type": {"const": "webhook.test"}}),
        "DeliveriesDrained": obj({"in_flight": {"type": "integer", "minimum": 0},
                                  "scheduled": {"type": "integer", "minimum": 0,
                                                "description": "Retries waiting for their time."},
                                  "next_attempt_at": schema_ref("NullableTimestamp")}),
        "WebhookSecret": obj({"secret": {"type": "string", "pattern": r"^whsec_[A-Za-z0-9]{32}$"}}),
        # --- device login (contract §12, RFC 8628)
        "DeviceCode": obj({
            "device_code": {"type": "string", "minLength": 1},
            "user_code": {"type": "string", "pattern": r"^[A-Z]{4}-[A-Z]{4}$"},
            "verification_uri": url,
            "verification_uri_complete": url,
            "expires_in": {"type": "integer", "minimum": 1},
            "interval": {"type": "number", "minimum": 0},
        }),
        "DeviceToken": obj({"api_key": {"type": "string", "pattern": r"^vlk_test_[A-Za-z0-9]{32}$"}}),
        "DeviceError": obj({"error": {"type": "string", "enum": DEVICE_ERRORS}},
                           description="RFC 8628's flat error body (not the API's envelope): what `vilvik login` "
                                       "parses."),
        "DeviceLogin": obj({
            "user_code": {"type": "string", "pattern": r"^[A-Z]{4}-[A-Z]{4}$"},
            "status": {"type": "string", "enum": ["pending", "approved", "denied", "consumed"]},
            "account_id": {"type": ["string", "null"]},
            "key_id": {"type": ["string", "null"]},
            "created_at": schema_ref("Timestamp"),
            "expires_at": schema_ref("Timestamp"),
        }),
        "DeviceLoginList": obj({"results": {"type": "array", "items": schema_ref("DeviceLogin")}}),
    }
    schemas.update(_request_schemas())
    return schemas


def _request_schemas() -> dict[str, dict]:
    code_fields: dict[str, Any] = {}
    for role in CODE_ROLES:
        code_fields[role] = {"type": "string", "minLength": 1, "description": f"Python source defining `{role}`."}
        code_fields[f"{role}_entry"] = {"type": "string", "description": "The top-level name the runtime calls; "
                                                                         f"required with `{role}` or `{role}_id`."}
        code_fields[f"{role}_id"] = {"type": "string", "description": "A code upload used instead of inline "
                                                                      "source."}
    meta = {
        "name": {"type": ["string", "null"], "maxLength": 200},
        "description": {"type": ["string", "null"], "maxLength": 10_000},
        "webhook_url": {"type": ["string", "null"], "pattern": r"^https?://"},
        "notification_email": {"type": ["string", "null"]},
        "visibility": schema_ref("Visibility"),
    }
    ga = {
        "num_generations": {"type": "integer", "minimum": 1, "default": 100},
        "num_parents_mating": {"type": "integer", "minimum": 1,
                               "description": "At most `sol_per_pop`; default half of it, at least 2."},
        "sol_per_pop": {"type": "integer", "minimum": 2, "default": 50},
        "num_genes": {"type": "integer", "minimum": 1, "description": "Required for `new`; ignored by quick types."},
        "init_range_low": {"type": "number", "default": -4},
        "init_range_high": {"type": "number", "default": 4},
        "fitness_batch_size": {"type": ["integer", "null"], "minimum": 1},
        "initial_population": {"type": ["array", "null"], "items": {"type": "array"}},
        "gene_type": {"type": "string"},
        "custom_gene_type": {"type": "string"},
        "gene_space": {"type": ["array", "object", "null"]},
        "stop_criteria": {"type": ["string", "array", "null"], "items": {"type": "string"}},
        "parallel_processing": {"type": ["integer", "array", "null"]},
        "random_seed": {"type": ["integer", "null"]},
    }
    return {
        "SubmissionCreate": {
            "type": "object",
            "description": "The website form's fields (contract §5); any other PyGAD constructor parameter is "
                           "accepted too (§6), and a quick type adds its own inputs (§5.5).",
            "properties": {"submission_type": {**schema_ref("SubmissionType"), "default": "new"},
                           **meta, **ga, **code_fields},
        },
        "SubmissionOverrides": {
            "type": "object",
            "description": "GA parameters and name/description/webhook_url/notification_email/visibility to "
                           "change; everything else is inherited.",
            "properties": {**meta, **ga},
        },
        "ResultUpdate": closed({"name": {"type": ["string", "null"], "maxLength": 200},
                                "is_shared": {"type": "boolean"}}),
        "ResetRequest": closed({"account": {"type": "string", "description": "Reset only this account."},
                                "keep_config": {"type": "boolean", "default": False}}),
        "AccountFields": closed({"name": {"type": "string", "minLength": 1, "maxLength": 200},
                                 "tier": {"type": "string", "enum": TIERS},
                                 "credits": {"type": "number"},
                                 "mode": {"type": ["string", "null"], "enum": [*RUN_MODES, None]},
                                 "active": {"type": "boolean"}}),
        "KeyCreate": closed({"account": {"type": "string", "description": "Default: the default account."},
                             "name": {"type": ["string", "null"], "maxLength": 200},
                             "scopes": {"type": "array", "items": schema_ref("Scope"),
                                        "description": "Default: every scope."},
                             "expires_at": {"type": ["string", "null"], "format": "date-time"}}),
        "KeyUpdate": closed({"name": {"type": "string", "maxLength": 200},
                             "scopes": {"type": "array", "items": schema_ref("Scope")},
                             "expires_at": {"type": ["string", "null"], "format": "date-time"}}),
        "ClockAction": {
            **closed({"action": {"type": "string", "enum": ["freeze", "resume", "set", "advance"]},
                      "to": {"type": "string", "format": "date-time", "description": "For `set`."},
                      "seconds": {"type": "number", "description": "For `advance`."}}, required=("action",)),
            "allOf": [{"if": {"properties": {"action": {"const": "set"}}}, "then": {"required": ["to"]}},
                      {"if": {"properties": {"action": {"const": "advance"}}}, "then": {"required": ["seconds"]}}],
        },
        "ConfigChanges": closed({
            "mode": schema_ref("RunMode"),
            "pool_size": {"type": "integer", "minimum": 1, "maximum": 256},
            "limits": closed({"runtime_seconds": {"type": "number", "minimum": 0.1, "maximum": 86_400},
                              "memory_mb": {"type": "number", "minimum": 64, "maximum": 1_048_576},
                              "output_bytes": {"type": "number", "minimum": 0, "maximum": 1 << 30},
                              "max_processes": {"type": "number", "minimum": 1, "maximum": 100_000}}),
            "max_body_bytes": {"type": "integer", "minimum": 1024, "maximum": 1 << 30},
            "default_credits": {"type": "number", "minimum": 0},
            "cpu_rate": {"type": "number", "minimum": 0},
            "memory_rate": {"type": "number", "minimum": 0},
            "rate_limit": {"anyOf": [{"type": "null"}, closed({"requests": {"type": "integer", "minimum": 1},
                                                               "window_seconds": {"type": "number",
                                                                                  "exclusiveMinimum": 0}},
                                                              required=("requests", "window_seconds"))]},
            "auto_approve_login": {"type": "boolean"},
            "device_poll_interval": {"type": "number", "minimum": 0, "maximum": 60},
            "accept_unknown_keys": {"type": "boolean"},
        }, description="Only the settings sent change; every one is checked before any applies."),
        "FaultCreate": closed({
            "method": {"type": "string", "default": "*"},
            "path": {"type": "string", "default": "*", "examples": ["/api/v1/submissions*"]},
            "action": {"type": "string", "enum": ["respond", "drop"], "default": "respond"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599,
                       "description": "Required for `respond` unless the rule only delays."},
            "code": {"type": "string", "description": "Default: the catalogue's code for `status`."},
            "message": {"type": "string"},
            "delay_ms": {"type": "integer", "minimum": 0, "maximum": 600_000},
            "retry_after": {"type": "integer", "minimum": 0, "maximum": 86_400},
            "count": {"type": ["integer", "null"], "minimum": 1, "description": "Null: every match."},
            "probability": {"type": "number", "minimum": 0, "maximum": 1, "default": 1},
            "seed": {"type": "integer"},
        }),
        "SnapshotImport": {**schema_ref("Snapshot"),
                           "description": "A document exported by `GET /_emulator/snapshot`."},
        "CodeUploadCreate": closed({"content": {"type": "string", "minLength": 1,
                                                "description": "Python source."}}, required=("content",)),
        "ImportCreate": closed({
            "name": {"type": ["string", "null"], "maxLength": 200},
            "description": {"type": ["string", "null"], "maxLength": 10_000},
            "ga_parameters": {"type": "object", "required": ["num_generations"],
                              "description": "Any PyGAD parameter, in the SDK's JSON forms."},
            "code": {"type": "object", "required": ["fitness_func"],
                     "description": "Code fields; a missing `<role>_entry` is detected like the SDK does."},
            "result": {"type": "object", "required": ["best_solution", "best_solution_fitness",
                                                      "best_solutions_fitness", "generations_completed",
                                                      "best_solution_generation"]},
            "origin": {"type": "object"},
        }, required=("ga_parameters", "code", "result")),
        "WebhookCreate": closed({
            "account": {"type": "string", "description": "Default: the default account."},
            "url": {"type": "string", "pattern": r"^https?://"},
            "events": {"type": "array", "items": schema_ref("WebhookEvent"), "minItems": 1,
                       "description": "Default: every event."},
            "description": {"type": ["string", "null"], "maxLength": 1000},
            "is_active": {"type": "boolean", "default": True},
        }, required=("url",)),
        "WebhookUpdate": closed({
            "url": {"type": "string", "pattern": r"^https?://"},
            "events": {"type": "array", "items": schema_ref("WebhookEvent"), "minItems": 1},
            "description": {"type": ["string", "null"], "maxLength": 1000},
            "is_active": {"type": "boolean"},
        }),
        "DrainRequest": closed({"timeout": {"type": "number", "minimum": 0, "maximum": 600, "default": 30}}),
        "DeviceCodeRequest": {"type": "object", "description": "The SDK sends `{}`."},
        "DeviceTokenRequest": {"type": "object", "properties": {"device_code": {"type": "string"}},
                               "required": ["device_code"]},
        "DeviceApproval": closed({"account": {"type": "string",
                                              "description": "The account the key is for (default: the default "
                                                             "account)."}}),
        "AdvanceRequest": closed({
            "to": {"type": "string", "enum": ["running", "run", "succeeded", "failed", "cancelled"]},
            "result": {"type": "object", "description": "With `succeeded`: canned result values."},
            "error": {"type": "object", "description": "With `failed`: the run error (`code`, `message`)."},
        }, required=("to",)),
    }


# ---------------------------------------------------------------------- components: responses, headers, security

def _responses() -> dict[str, dict]:
    responses = {}
    for name, (status, codes, description, headers) in ERROR_RESPONSES.items():
        if name == "DeviceTokenError":
            responses[name] = {"description": description, "headers": standard_headers(**headers),
                               "content": json_content({"anyOf": [schema_ref("DeviceError"), {"allOf": [
                                   schema_ref("Error"),
                                   {"properties": {"error": {"properties": {"code": {"enum": codes}}}}}]}]})}
            continue
        narrowed = {"allOf": [schema_ref("Error"), {"properties": {"error": {"properties": {
            "code": {"enum": codes}}}}}]}
        responses[name] = {"description": description, "headers": standard_headers(**headers),
                           "content": json_content(narrowed)}
    return responses


def _headers(version: str) -> dict[str, dict]:
    return {
        "RequestId": {"description": "Unique per response; error bodies repeat it.", "required": True,
                      "schema": schema_ref("RequestId")},
        "EmulatorVersion": {"description": "The emulator's version: this is not the hosted service.",
                            "required": True, "schema": {"type": "string", "const": version}},
        "IdempotentReplayed": {"description": "Present when this is the stored response of an earlier request "
                                              "with the same Idempotency-Key.",
                               "required": False, "schema": {"type": "string", "const": "true"}},
        "RetryAfter": {"description": "Seconds to wait before retrying.", "required": True,
                       "schema": schema_ref("RetryAfterSeconds")},
        "Allow": {"description": "The methods this path answers.", "required": True,
                  "schema": {"type": "string", "minLength": 1}},
        "ContentDisposition": {"description": "`attachment` with the file's name.", "required": True,
                               "schema": {"type": "string", "pattern": r"^attachment; filename=\".+\"$"}},
    }


def _parameters() -> dict[str, dict]:
    def csv_of(values: list[str]) -> dict:
        one = "|".join(values)
        return {"type": "string", "pattern": f"^({one})(,({one}))*$"}

    page_size = {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
    return {
        "SubmissionId": path_parameter("submission_id", "A submission id.", schema_ref("ResourceId")),
        "ResultId": path_parameter("result_id", "A result id.", schema_ref("ResourceId")),
        "FileName": path_parameter("name", "A file name from the result's `files`.", {"type": "string"}),
        "AccountId": path_parameter("account_id", "An account id.", schema_ref("AccountId")),
        "KeyId": path_parameter("key_id", "A key id.", {"type": "string"}),
        "CodeId": path_parameter("code_id", "A code upload id.", {"type": "string"}),
        "WebhookId": path_parameter("webhook_id", "A webhook id.", {"type": "string"}),
        "UserCode": path_parameter("user_code", "The code `vilvik login` shows.", {"type": "string"}),
        "IdempotencyKey": {"name": "Idempotency-Key", "in": "header", "required": False,
                           "description": "Retry safely: the same key within 24 hours replays the first response "
                                          "(contract §4a).",
                           "schema": {"type": "string", "minLength": 1, "maxLength": 255}},
        "PageSize": query_parameter("page_size", "Rows per page.", page_size),
        "Limit": query_parameter("limit", "A synonym of `page_size` (the SDK's name).", page_size),
        "Cursor": query_parameter("cursor", "Opaque: taken from `next` or `previous`.", {"type": "string"}),
        "CreatedAfter": query_parameter("created_after", "Inclusive; ISO-8601 with `Z` or an offset.",
                                        {"type": "string", "format": "date-time"}),
        "CreatedBefore": query_parameter("created_before", "Inclusive; ISO-8601 with `Z` or an offset.",
                                         {"type": "string", "format": "date-time"}),
        "SubmissionStatusFilter": query_parameter("status", "Comma-separated statuses.",
                                                  csv_of(SUBMISSION_STATUSES)),
        "SourceFilter": query_parameter("source", "`api` or `web`.", schema_ref("Source")),
        "SubmissionTypeFilter": query_parameter("submission_type", "Comma-separated submission types.",
                                                {"type": "string"}),
        "VisibilityFilter": query_parameter("visibility", "Comma-separated visibilities.", csv_of(VISIBILITIES)),
        "ParentSubmissionFilter": query_parameter("parent_submission_id", "Children of this submission.",
                                                  schema_ref("ResourceId")),
        "NameContains": query_parameter("name_contains", "Case-insensitive substring of the name.",
                                        {"type": "string", "maxLength": 100}),
        "SubmissionOrdering": query_parameter("ordering", "Sort order.",
                                              {"type": "string", "enum": SUBMISSION_ORDERINGS,
                                               "default": "-created_at"}),
        "SubmissionIdFilter": query_parameter("submission_id", "Results of this submission.",
                                              schema_ref("ResourceId")),
        "IsSharedFilter": query_parameter("is_shared", "Shared or not.", {"type": "string", "enum": ["true", "false"]}),
        "MinFitness": query_parameter("min_fitness", "Inclusive lower bound of `best_solution_fitness`.",
                                      {"type": "number"}),
        "MaxFitness": query_parameter("max_fitness", "Inclusive upper bound of `best_solution_fitness`.",
                                      {"type": "number"}),
        "ResultOrdering": query_parameter("ordering", "Sort order.",
                                          {"type": "string", "enum": RESULT_ORDERINGS, "default": "-created_at"}),
    }


def _params(*names: str) -> list[dict]:
    return [ref("parameters", name) for name in names]


# ---------------------------------------------------------------------- paths

def _api_paths() -> dict[str, dict]:
    created = ok("Accepted: the submission is queued (or, in `sync` mode, already ran).",
                 schema_ref("SubmissionCreated"), **{"Idempotent-Replayed": ref("headers", "IdempotentReplayed")})
    no_content = {"description": "Deleted.", "headers": standard_headers()}
    overrides = request_body(schema_ref("SubmissionOverrides"), required=False,
                             description="Overrides; no body means none.")
    list_params = ("PageSize", "Limit", "Cursor")
    return {
        "/api/v1/health": {"get": operation(
            "getHealth", "Liveness and version", "service",
            {"200": ok("The service is up.", schema_ref("ApiHealth"))}, [], security=[])},
        "/api/v1/openapi.json": {"get": operation(
            "getOpenApiDocument", "This document", "service",
            {"200": ok("The OpenAPI 3.1 document of the emulator.", schema_ref("OpenApiDocument"))}, [],
            security=[])},
        "/api/v1/submissions/": {
            "post": operation(
                "createSubmission", "Create a submission", "submissions",
                {"202": created}, ["IdempotencyKeyInUse", *CREATE_ERRORS],
                parameters=_params("IdempotencyKey"),
                body=request_body(schema_ref("SubmissionCreate"), required=True),
                security=keyed("submissions:write"),
                description="Validated before anything is stored; honours `Idempotency-Key`."),
            "get": operation(
                "listSubmissions", "List submissions", "submissions",
                {"200": ok("A page of submission rows.", schema_ref("SubmissionList"))},
                ["InvalidParameter", "Unauthorized", "ScopeRequired"],
                parameters=_params("SubmissionStatusFilter", "SourceFilter", "SubmissionTypeFilter",
                                   "VisibilityFilter", "CreatedAfter", "CreatedBefore", "ParentSubmissionFilter",
                                   "NameContains", "SubmissionOrdering", *list_params),
                security=keyed("submissions:read")),
        },
        "/api/v1/submissions/{submission_id}": {
            "parameters": _params("SubmissionId"),
            "get": operation(
                "getSubmission", "Fetch a submission", "submissions",
                {"200": ok("The full submission.", schema_ref("SubmissionDetail"))},
                ["Unauthorized", "ScopeRequired", "NotFound"], security=keyed("submissions:read")),
            "delete": operation(
                "deleteSubmission", "Stop and delete a submission", "submissions",
                {"204": no_content}, ["Unauthorized", "ScopeRequired", "NotFound"],
                security=keyed("submissions:write"),
                description="Stops a queued or running job first; its results are deleted too."),
        },
        "/api/v1/submissions/{submission_id}/reexecute": {
            "parameters": _params("SubmissionId"),
            "post": operation(
                "reexecuteSubmission", "Run a submission again", "submissions",
                {"202": created}, ["IdempotencyKeyInUse", "NotFound", *CREATE_ERRORS],
                parameters=_params("IdempotencyKey"), body=overrides, security=keyed("submissions:write")),
        },
        "/api/v1/results/": {"get": operation(
            "listResults", "List results", "results",
            {"200": ok("A page of result rows.", schema_ref("ResultList"))},
            ["InvalidParameter", "Unauthorized", "ScopeRequired"],
            parameters=_params("SubmissionIdFilter", "IsSharedFilter", "MinFitness", "MaxFitness", "CreatedAfter",
                               "CreatedBefore", "ResultOrdering", *list_params),
            security=keyed("results:read"))},
        "/api/v1/results/{result_id}": {
            "parameters": _params("ResultId"),
            "get": operation(
                "getResult", "Fetch a result", "results",
                {"200": ok("The full result.", schema_ref("ResultDetail"))},
                ["Unauthorized", "ScopeRequired", "NotFound"], security=keyed("results:read")),
            "patch": operation(
                "updateResult", "Rename or share a result", "results",
                {"200": ok("The full result after the change.", schema_ref("ResultDetail"))},
                ["Unauthorized", "ScopeRequired", "NotFound", *BODY_ERRORS],
                body=request_body(schema_ref("ResultUpdate"), required=True,
                                  description="Only the fields sent change."),
                security=keyed("results:write")),
            "delete": operation(
                "deleteResult", "Delete a result", "results", {"204": no_content},
                ["Unauthorized", "ScopeRequired", "NotFound"], security=keyed("results:write"),
                description="The submission it came from is untouched."),
        },
        "/api/v1/results/{result_id}/continue": {
            "parameters": _params("ResultId"),
            "post": operation(
                "continueResult", "Branch a new run from a result", "results",
                {"202": created}, ["ConflictOrKeyInUse", "NotFound", *CREATE_ERRORS],
                parameters=_params("IdempotencyKey"), body=overrides,
                security=keyed("results:write", "submissions:write"),
                description="Starts from the result's final population; `num_genes` and `gene_type` cannot change."),
        },
        "/api/v1/code-uploads/": {
            "post": operation(
                "createCodeUpload", "Upload code to reference from submissions", "code uploads",
                {"201": ok("The upload (without its content).", schema_ref("CodeUploadRow"))},
                ["Unauthorized", "ScopeRequired", *BODY_ERRORS],
                body=request_body(schema_ref("CodeUploadCreate"), required=True),
                security=keyed("code-uploads:write")),
            "get": operation(
                "listCodeUploads", "List code uploads", "code uploads",
                {"200": ok("A page of uploads, newest first.", schema_ref("CodeUploadList"))},
                ["InvalidParameter", "Unauthorized", "ScopeRequired"], parameters=_params(*list_params),
                security=keyed("code-uploads:read")),
        },
        "/api/v1/code-uploads/{code_id}": {
            "parameters": _params("CodeId"),
            "get": operation(
                "getCodeUpload", "Fetch a code upload with its content", "code uploads",
                {"200": ok("The upload.", schema_ref("CodeUploadDetail"))},
                ["Unauthorized", "ScopeRequired", "NotFound"], security=keyed("code-uploads:read")),
        },
        "/api/v1/imports/": {"post": operation(
            "createImport", "Import a local PyGAD run", "imports",
            {"201": ok("The import: a succeeded submission and its result.", schema_ref("ImportCreated"),
                       **{"Idempotent-Replayed": ref("headers", "IdempotentReplayed")})},
            ["InvalidJsonOrParameter", "Unauthorized", "ScopeRequired", "IdempotencyKeyInUse", "PayloadTooLarge",
             "UnsupportedMediaType", "ValidationFailedOrKeyReused"],
            parameters=_params("IdempotencyKey"), body=request_body(schema_ref("ImportCreate"), required=True),
            security=keyed("imports:write"),
            description="Free of credits; limited per tier per hour and per day (429 with `Retry-After`).")},
        "/api/v1/webhooks/": {"get": operation(
            "listWebhooks", "List the account's webhooks", "webhooks",
            {"200": ok("Every webhook.", schema_ref("WebhookList"))}, ["Unauthorized", "ScopeRequired"],
            security=keyed("webhooks:read"))},
        "/api/v1/webhooks/{webhook_id}/deliveries": {
            "parameters": _params("WebhookId"),
            "get": operation(
                "listWebhookDeliveries", "A webhook's delivery history", "webhooks",
                {"200": ok("A page of delivery attempts, newest first.", schema_ref("DeliveryList"))},
                ["InvalidParameter", "Unauthorized", "ScopeRequired", "NotFound"], parameters=_params(*list_params),
                security=keyed("webhooks:read")),
        },
        "/api/v1/auth/device/code": {"post": operation(
            "startDeviceLogin", "Start a device login (RFC 8628)", "device login",
            {"200": ok("The codes to show the user.", schema_ref("DeviceCode"))},
            ["InvalidJson", "UnsupportedMediaType", "PayloadTooLarge"],
            body=request_body(schema_ref("DeviceCodeRequest"), required=False), security=[])},
        "/api/v1/auth/device/token": {"post": operation(
            "pollDeviceLogin", "Collect the key once the login is approved", "device login",
            {"200": ok("Approved: the new key (given once).", schema_ref("DeviceToken"))},
            ["DeviceTokenError", "UnsupportedMediaType", "PayloadTooLarge"],
            body=request_body(schema_ref("DeviceTokenRequest"), required=True), security=[])},
        "/api/v1/results/{result_id}/files/{name}": {
            "parameters": _params("ResultId", "FileName"),
            "get": operation(
                "downloadResultFile", "Download a result file", "results",
                {"200": {"description": "The file, as an attachment.",
                         "headers": standard_headers(**{"Content-Disposition": ref("headers", "ContentDisposition")}),
                         "content": {"application/json": {"schema": {}},
                                     "image/svg+xml": {"schema": {"type": "string"}},
                                     "text/plain": {"schema": {"type": "string"}}}}},
                ["Unauthorized", "ScopeRequired", "NotFound"], security=keyed("results:read")),
        },
    }


def _control_paths() -> dict[str, dict]:
    def control(operation_id: str, summary: str, success: dict[str, dict], errors: list[str], **kwargs: Any) -> dict:
        return operation(operation_id, summary, "control plane", success, [*CONTROL_ERRORS, *errors],
                         security=CONTROL_SECURITY, faults=False, **kwargs)

    detail = ok("The submission's detail.", schema_ref("SubmissionDetail"))
    no_content = {"description": "Done.", "headers": standard_headers()}
    key = ok("The key.", schema_ref("Key"))
    account = ok("The account.", schema_ref("Account"))
    clock = ok("The clock.", schema_ref("ClockState"))
    return {
        "/_emulator/health": {"get": control(
            "controlHealth", "Emulator health, store and runner state",
            {"200": ok("The emulator is up.", schema_ref("ControlHealth"))}, [])},
        "/_emulator/reset": {"post": control(
            "controlReset", "Stop jobs and clear state (everything or one account)",
            {"200": ok("Reset done.", schema_ref("ResetDone"))}, ["NotFound", *BODY_ERRORS],
            body=request_body(schema_ref("ResetRequest"), required=False))},
        "/_emulator/accounts": {
            "get": control("controlListAccounts", "List accounts",
                           {"200": ok("Every account.", schema_ref("AccountList"))}, []),
            "post": control("controlCreateAccount", "Create an account",
                            {"201": ok("The new account.", schema_ref("Account"))}, BODY_ERRORS,
                            body=request_body(schema_ref("AccountFields"), required=False)),
        },
        "/_emulator/accounts/{account_id}": {
            "parameters": _params("AccountId"),
            "get": control("controlGetAccount", "Fetch an account", {"200": account}, ["NotFound"]),
            "patch": control("controlUpdateAccount", "Change an account", {"200": account},
                             ["NotFound", *BODY_ERRORS],
                             body=request_body(schema_ref("AccountFields"), required=True)),
        },
        "/_emulator/accounts/{account_id}/ledger": {
            "parameters": _params("AccountId"),
            "get": control("controlAccountLedger", "An account's balance and credit charges",
                           {"200": ok("The balance and the ledger.", schema_ref("Ledger"))}, ["NotFound"]),
        },
        "/_emulator/config": {
            "get": control("controlReadConfig", "Read the runtime settings",
                           {"200": ok("The settings.", schema_ref("RuntimeConfig"))}, []),
            "patch": control("controlUpdateConfig", "Change runtime settings",
                             {"200": ok("The settings after the change.", schema_ref("RuntimeConfig"))}, BODY_ERRORS,
                             body=request_body(schema_ref("ConfigChanges"), required=True)),
        },
        "/_emulator/keys": {
            "get": control("controlListKeys", "List keys", {"200": ok("The keys.", schema_ref("KeyList"))}, [],
                           parameters=[query_parameter("account", "Only this account's keys.", {"type": "string"})]),
            "post": control("controlCreateKey", "Create a key",
                            {"201": ok("The new key with its secret.", schema_ref("KeyWithSecret"))}, BODY_ERRORS,
                            body=request_body(schema_ref("KeyCreate"), required=False)),
        },
        "/_emulator/keys/{key_id}": {
            "parameters": _params("KeyId"),
            "get": control("controlGetKey", "Fetch a key", {"200": key}, ["NotFound"]),
            "patch": control("controlUpdateKey", "Change a key's scopes, name or expiry", {"200": key},
                             ["NotFound", *BODY_ERRORS], body=request_body(schema_ref("KeyUpdate"), required=True)),
            "delete": control("controlRevokeKey", "Revoke a key",
                              {"200": ok("The revoked key.", schema_ref("Key"))}, ["NotFound"]),
        },
        "/_emulator/keys/{key_id}/rotate": {
            "parameters": _params("KeyId"),
            "post": control("controlRotateKey", "A new secret for the same key",
                            {"200": ok("The key with its new secret.", schema_ref("KeyWithSecret"))},
                            ["NotFound", "Conflict"]),
        },
        "/_emulator/faults": {
            "get": control("controlListFaults", "List fault rules",
                           {"200": ok("The rules.", schema_ref("FaultList"))}, []),
            "post": control("controlAddFault", "Add a fault rule",
                            {"201": ok("The new rule.", schema_ref("FaultRule"))}, BODY_ERRORS,
                            body=request_body(schema_ref("FaultCreate"), required=True)),
            "delete": control("controlClearFaults", "Remove every fault rule", {"204": no_content}, []),
        },
        "/_emulator/faults/{fault_id}": {
            "parameters": [path_parameter("fault_id", "A fault rule id.", {"type": "string"})],
            "delete": control("controlRemoveFault", "Remove one fault rule", {"204": no_content}, ["NotFound"]),
        },
        "/_emulator/requests": {
            "get": control(
                "controlRequestJournal", "The request journal of `/api/v1`",
                {"200": ok("Matching entries, newest first.", schema_ref("Journal"))}, ["InvalidParameter"],
                parameters=[query_parameter("method", "Only this method.", {"type": "string"}),
                            query_parameter("path", "A glob over the path.", {"type": "string"}),
                            query_parameter("status", "Only this status.", {"type": "integer"}),
                            query_parameter("limit", "At most this many entries.",
                                            {"type": "integer", "minimum": 1, "maximum": 2000, "default": 100})]),
            "delete": control("controlClearRequestJournal", "Empty the request journal", {"204": no_content}, []),
        },
        "/_emulator/snapshot": {
            "get": control("controlExportSnapshot", "Export the whole state",
                           {"200": ok("The snapshot.", schema_ref("Snapshot"))}, []),
            "put": control("controlImportSnapshot", "Replace the whole state with a snapshot",
                           {"200": ok("Imported.", schema_ref("SnapshotImported"))}, BODY_ERRORS,
                           body=request_body(schema_ref("SnapshotImport"), required=True)),
        },
        "/_emulator/accounts/{account_id}/webhook-secret": {
            "parameters": _params("AccountId"),
            "get": control("controlAccountWebhookSecret",
                           "The secret signing deliveries to submissions' own `webhook_url`",
                           {"200": ok("The secret.", schema_ref("WebhookSecret"))}, ["NotFound"]),
        },
        "/_emulator/webhooks": {
            "get": control("controlListWebhooks", "List webhooks",
                           {"200": ok("The webhooks.", schema_ref("WebhookAdminList"))}, [],
                           parameters=[query_parameter("account", "Only this account's webhooks.",
                                                       {"type": "string"})]),
            "post": control("controlCreateWebhook", "Create a webhook",
                            {"201": ok("The webhook with its signing secret.", schema_ref("WebhookWithSecret"))},
                            BODY_ERRORS, body=request_body(schema_ref("WebhookCreate"), required=True)),
        },
        "/_emulator/webhooks/{webhook_id}": {
            "parameters": _params("WebhookId"),
            "get": control("controlGetWebhook", "Fetch a webhook",
                           {"200": ok("The webhook.", schema_ref("WebhookAdmin"))}, ["NotFound"]),
            "patch": control("controlUpdateWebhook", "Change a webhook",
                             {"200": ok("The webhook.", schema_ref("WebhookAdmin"))}, ["NotFound", *BODY_ERRORS],
                             body=request_body(schema_ref("WebhookUpdate"), required=True)),
            "delete": control("controlDeleteWebhook", "Delete a webhook", {"204": no_content}, ["NotFound"]),
        },
        "/_emulator/webhooks/{webhook_id}/test": {
            "parameters": _params("WebhookId"),
            "post": control("controlTestWebhook", "Send a `webhook.test` event",
                            {"202": ok("Queued.", schema_ref("WebhookTestSent"))}, ["NotFound"]),
        },
        "/_emulator/webhooks/{webhook_id}/deliveries": {
            "parameters": _params("WebhookId"),
            "get": control("controlWebhookDeliveries", "A webhook's delivery attempts",
                           {"200": ok("A page of attempts, newest first.", schema_ref("DeliveryList"))},
                           ["InvalidParameter", "NotFound"], parameters=_params("PageSize", "Limit", "Cursor")),
        },
        "/_emulator/deliveries": {"get": control(
            "controlDeliveries", "Every delivery attempt (webhooks and submissions' `webhook_url`)",
            {"200": ok("A page of attempts, newest first.", schema_ref("DeliveryList"))}, ["InvalidParameter"],
            parameters=[query_parameter("account", "Only this account's.", {"type": "string"}),
                        query_parameter("submission_id", "Only this submission's events.", {"type": "string"}),
                        query_parameter("event_id", "Only this event's attempts.", {"type": "string"}),
                        *_params("PageSize", "Limit", "Cursor")])},
        "/_emulator/deliveries/drain": {"post": control(
            "controlDrainDeliveries", "Wait until no delivery is due or on the wire",
            {"200": ok("Settled; later retries may remain scheduled.", schema_ref("DeliveriesDrained"))},
            ["WaitTimeout", *BODY_ERRORS], body=request_body(schema_ref("DrainRequest"), required=False))},
        "/_emulator/device-logins": {"get": control(
            "controlDeviceLogins", "Pending `vilvik login` requests",
            {"200": ok("The pending logins.", schema_ref("DeviceLoginList"))}, [])},
        "/_emulator/device-logins/{user_code}/approve": {
            "parameters": _params("UserCode"),
            "post": control("controlApproveDeviceLogin", "Approve a `vilvik login` (mints its key)",
                            {"200": ok("Approved.", schema_ref("DeviceLogin"))}, ["NotFound", "Conflict", *BODY_ERRORS],
                            body=request_body(schema_ref("DeviceApproval"), required=False)),
        },
        "/_emulator/device-logins/{user_code}/deny": {
            "parameters": _params("UserCode"),
            "post": control("controlDenyDeviceLogin", "Deny a `vilvik login`",
                            {"200": ok("Denied.", schema_ref("DeviceLogin"))}, ["NotFound", "Conflict"]),
        },
        "/_emulator/clock": {
            "get": control("controlReadClock", "Read the virtual clock", {"200": clock}, []),
            "post": control("controlMoveClock", "Freeze, resume, set or advance the clock", {"200": clock},
                            BODY_ERRORS, body=request_body(schema_ref("ClockAction"), required=True)),
        },
        "/_emulator/submissions/{submission_id}/wait": {
            "parameters": _params("SubmissionId"),
            "get": control(
                "controlWait", "Wait until a submission reaches a state", {"200": detail},
                ["InvalidParameter", "NotFound", "WaitTimeout"],
                parameters=[
                    query_parameter("status", "`terminal` or a status.",
                                    {"type": "string", "enum": ["terminal", *SUBMISSION_STATUSES],
                                     "default": "terminal"}),
                    query_parameter("timeout", "Seconds.",
                                    {"type": "number", "minimum": 0, "maximum": 3600, "default": 30})]),
        },
        "/_emulator/submissions/{submission_id}/advance": {
            "parameters": _params("SubmissionId"),
            "post": control("controlAdvance", "Move a job by hand or finish it with a canned outcome",
                            {"200": detail}, ["NotFound", "Conflict", *BODY_ERRORS],
                            body=request_body(schema_ref("AdvanceRequest"), required=True)),
        },
        "/_emulator/submissions/{submission_id}/cancel": {
            "parameters": _params("SubmissionId"),
            "post": control("controlCancel", "Stop a job and keep it as `cancelled` (the website's cancel button)",
                            {"200": detail}, ["NotFound", "Conflict"]),
        },
    }


# ---------------------------------------------------------------------- the document

def build_document(version: str) -> dict:
    """The OpenAPI 3.1.0 document of the emulator ``version`` (a fresh dict on every call)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Vilvik API (vilvik-emulator)",
            "version": version,
            "summary": "The hosted Vilvik genetic-algorithm API as the local emulator answers it, plus the "
                       "emulator's own control plane.",
            "description": "Paths answer with and without a trailing slash (no redirect); collections are "
                           "written with it. Responses may gain fields within v1: clients must ignore unknown "
                           "ones. Every response carries `X-Request-Id` and `X-Vilvik-Emulator`; every non-2xx "
                           "response has the error envelope. A known path with another method answers 405 with "
                           "`Allow` (`#/components/responses/MethodNotAllowed`, which belongs to no operation); "
                           "an unknown path answers 404 (`#/components/responses/NotFound`).",
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [{"url": "/", "description": "The emulator this document was fetched from."}],
        "security": keyed(),
        "tags": [{"name": "service", "description": "Health and this document; no key needed."},
                 {"name": "submissions", "description": "Contract §5."},
                 {"name": "results", "description": "Contract §7."},
                 {"name": "code uploads", "description": "Contract §9."},
                 {"name": "imports", "description": "Contract §10."},
                 {"name": "webhooks", "description": "Contract §11 (management is in the control plane)."},
                 {"name": "device login", "description": "Contract §12: `vilvik login`; no key needed."},
                 {"name": "control plane", "description": "The emulator's own surface (contract §13), outside "
                                                          "`/api/v1`."}],
        "paths": {**_api_paths(), **_control_paths()},
        "components": {
            "schemas": _schemas(),
            "responses": _responses(),
            "parameters": _parameters(),
            "headers": _headers(version),
            "securitySchemes": {
                "ApiKey": {"type": "http", "scheme": "bearer", "bearerFormat": "vlk_...",
                           "description": "`Authorization: Bearer <key>`; the requirement lists the scopes the "
                                          "key must hold (contract §2)."},
                "AdminToken": {"type": "apiKey", "in": "header", "name": "X-Admin-Token",
                               "description": "The control plane's admin token; needed only when the server "
                                              "binds a non-loopback address or has a token configured."},
                "AdminBearer": {"type": "http", "scheme": "bearer",
                                "description": "The admin token sent as `Authorization: Bearer <token>`."},
            },
        },
    }


@functools.lru_cache(maxsize=4)
def document_json(version: str) -> str:
    """The document serialised once per version (it never changes while a server runs)."""
    return json.dumps(build_document(version), separators=(",", ":"))
