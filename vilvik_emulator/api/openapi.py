"""The OpenAPI 3.1 document of every ``/api/v1`` and ``/_emulator`` route (served at ``/api/v1/openapi.json``).

This module holds only what is HTTP: paths, methods, statuses, headers, security, and
the error responses each operation can give. Every body, query string and response
document is a model of :mod:`vilvik_emulator.schemas`, referenced here and generated
into ``components/schemas`` from the same models that validate requests and render
responses, so the document says what the server does.

Response objects never set ``additionalProperties: false`` (contract §1: clients must
tolerate additions within v1) but require every field the server always sends.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode

from ..schemas import accounts, code_uploads, control, device, imports, results, service, submissions, webhooks
from ..schemas.base import PRIMITIVES, RESOURCE_ID_PATTERN, OpenApiJsonSchema, QueryParameters, resolve_primitives
from ..schemas.code import CODE_ID_PATTERN
from ..schemas.pages import Paging
from ..schemas.webhooks import WEBHOOK_ID_PATTERN

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
    "Unauthorized": (401, ["unauthorized"], "Missing, malformed, unknown, revoked or expired credentials, or an "
                                            "account that is deactivated or not email-verified.", {}),
    "InsufficientCredits": (402, ["insufficient_credits"], "The account's credit balance is exhausted.", {}),
    "ScopeRequired": (403, ["scope_required", "forbidden_host"],
                      "`scope_required`: the key lacks a scope this endpoint needs (the message names it); "
                      "`forbidden_host`: the request named a host this server does not answer to (DNS rebinding).",
                      {}),
    "ForbiddenHost": (403, ["forbidden_host"], "The request named a host this server does not answer to (a web "
                                               "page's DNS rebinding); `serve --allow-host` adds names.", {}),
    "Forbidden": (403, ["forbidden_host", "forbidden_origin"],
                  "`forbidden_origin`: a request from a web page of another origin (the control plane answers only "
                  "its own pages and non-browser clients); `forbidden_host`: a host this server does not answer "
                  "to.", {}),
    "NotFound": (404, ["not_found"], "No such resource, or it is not visible to this key; also any unknown "
                                     "path, and a cursor this server did not issue (`Invalid cursor`).", {}),
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
    "UnsupportedMediaType": (415, ["unsupported_media_type"], "A body (or, on the control plane, any "
                                                              "state-changing request) sent without "
                                                              "`Content-Type: application/json`.", {}),
    "ValidationFailed": (422, ["validation_failed"], "The body is JSON but a field is missing, mistyped, out of "
                                                     "range or inconsistent; `details` names each field.", {}),
    "ValidationFailedOrKeyReused": (422, ["validation_failed", "idempotency_key_reused"],
                                    "`validation_failed`: a field is missing, mistyped, out of range or "
                                    "inconsistent (`details` names each) — including what JSON Schema cannot say: "
                                    "code that does not compile or whose entry is not defined, and PyGAD's own "
                                    "rules across parameters; `idempotency_key_reused`: the Idempotency-Key was "
                                    "used with a different request.", {}),
    "RateLimited": (429, ["rate_limited"], "A rate limit is exceeded (or a fault rule injected one); retry after "
                                           "`Retry-After` seconds.",
                    {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}),
    "InternalError": (500, ["internal_error"], "A bug in the emulator; the message never leaks a traceback.", {}),
    "Unavailable": (503, ["unavailable"], "Only when injected through the control plane's fault rules.",
                    {"Retry-After": {"description": "Seconds to wait, when the fault rule sets one.",
                                     "required": False,
                                     "schema": {"$ref": "#/components/schemas/RetryAfterSeconds"}}}),
}

#: the control plane: open on loopback (the empty requirement), else the admin token (§13)
CONTROL_SECURITY: list[dict[str, list[str]]] = [{}, {"AdminToken": []}, {"AdminBearer": []}]
CONTROL_ERRORS = ["Unauthorized", "Forbidden"]
#: statuses a fault rule can inject on any ``/api/v1`` operation (contract §3, §13)
FAULT_ERRORS = ["RateLimited", "Unavailable"]
BODY_ERRORS = ["InvalidJson", "PayloadTooLarge", "UnsupportedMediaType", "ValidationFailed"]
CREATE_ERRORS = ["InvalidJsonOrParameter", "Unauthorized", "InsufficientCredits", "ScopeRequired",
                 "PayloadTooLarge", "UnsupportedMediaType", "ValidationFailedOrKeyReused"]
#: unions whose branches a required tag tells apart (`submission_type`: absent or `new`, or a quick slug)
EXCLUSIVE_BY_TAG = ("SubmissionCreate",)
EXTRA_SCHEMAS = {
    "RetryAfterSeconds": {"type": "string", "pattern": r"^\d+$", "description": "Whole seconds."},
}


# ---------------------------------------------------------------------- components from the models

class Components:
    """The schemas the paths reference, generated on :meth:`schemas` from the models themselves."""

    def __init__(self) -> None:
        self._inputs: dict[str, TypeAdapter[Any]] = {}
        self._outputs: dict[str, TypeAdapter[Any]] = {}

    def body(self, model: type[BaseModel] | TypeAdapter[Any], name: str | None = None) -> dict:
        """A request body's schema, by reference."""
        name = name or model.__name__  # type: ignore[union-attr]
        self._inputs[name] = model if isinstance(model, TypeAdapter) else TypeAdapter(model)
        return {"$ref": f"#/components/schemas/{name}"}

    def document(self, model: type[BaseModel]) -> dict:
        """A response document's schema, by reference."""
        self._outputs[model.__name__] = TypeAdapter(model)
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    def schemas(self) -> dict[str, dict]:
        inputs: list[tuple[str, JsonSchemaMode, TypeAdapter[Any]]] = [
            (name, "validation", adapter) for name, adapter in self._inputs.items()]
        outputs: list[tuple[str, JsonSchemaMode, TypeAdapter[Any]]] = [
            (name, "serialization", adapter) for name, adapter in self._outputs.items()]
        tops, definitions = TypeAdapter.json_schemas(
            [*inputs, *outputs], ref_template="#/components/schemas/{model}", schema_generator=OpenApiJsonSchema)
        schemas: dict[str, dict] = {**EXTRA_SCHEMAS, **PRIMITIVES, **definitions.get("$defs", {})}
        for (name, _), top in tops.items():  # unions (create, clock, advance) are named here
            if "$ref" not in top:
                if name in EXCLUSIVE_BY_TAG and "oneOf" in top:
                    # The branches exclude each other by their tag already, so `anyOf` says the same, and a
                    # generator need not prove that a value matches one branch only (with the code rules
                    # of `new`, that proof takes minutes).
                    top["anyOf"] = top.pop("oneOf")
                schemas[name] = top
        for schema in schemas.values():
            schema.pop("title", None)
        return resolve_primitives(dict(sorted(schemas.items())))


# ---------------------------------------------------------------------- small builders

def ref(kind: str, name: str) -> dict:
    return {"$ref": f"#/components/{kind}/{name}"}


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


def query_parameters(*models: type[QueryParameters]) -> list[dict]:
    """The parameter objects of query models (each field one optional query parameter)."""
    parameters = []
    for model in models:
        schema = TypeAdapter(model).json_schema(schema_generator=OpenApiJsonSchema,
                                                ref_template="#/components/schemas/{model}")
        for name, field_schema in schema["properties"].items():
            description = field_schema.pop("description", None) or model.descriptions.get(name, "")
            if "anyOf" in field_schema and {"type": "null"} in field_schema["anyOf"]:
                # a query parameter is absent, never null
                options = [option for option in field_schema.pop("anyOf") if option != {"type": "null"}]
                field_schema.update(options[0] if len(options) == 1 else {"anyOf": options})
                field_schema.pop("default", None)
            parameters.append({"name": name, "in": "query", "required": False, "description": description,
                               "schema": resolve_primitives(field_schema)})
    return parameters


def operation(operation_id: str, summary: str, tag: str, success: dict[str, dict], errors: list[str], *,
              parameters: list[dict] | None = None, body: dict | None = None, security: list | None = None,
              description: str | None = None, faults: bool = True) -> dict:
    """One operation; every one may answer 500, and with ``faults`` (the ``/api/v1`` ones, where fault
    rules apply) also the 429 and 503 the control plane can inject."""
    responses = dict(success)
    if "ScopeRequired" not in errors and "Forbidden" not in errors:
        errors = [*errors, "ForbiddenHost"]  # the server's Host guard may refuse any request
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


# ---------------------------------------------------------------------- components: responses, headers, parameters

def _responses(components: Components) -> dict[str, dict]:
    error = components.document(service.Error)
    responses = {}
    for name, (_, codes, description, headers) in ERROR_RESPONSES.items():
        narrowed: dict[str, Any] = {"allOf": [error, {"properties": {"error": {"properties": {
            "code": {"enum": codes}}}}}]}
        if name == "DeviceTokenError":
            narrowed = {"anyOf": [components.document(device.DeviceError), narrowed]}
        responses[name] = {"description": description, "headers": standard_headers(**headers),
                           "content": json_content(narrowed)}
    return responses


def _headers(version: str) -> dict[str, dict]:
    return {
        "RequestId": {"description": "Unique per response; error bodies repeat it.", "required": True,
                      "schema": {"$ref": "#/components/schemas/RequestId"}},
        "EmulatorVersion": {"description": "The emulator's version: this is not the hosted service.",
                            "required": True, "schema": {"type": "string", "const": version}},
        "IdempotentReplayed": {"description": "Present when this is the stored response of an earlier request "
                                              "with the same Idempotency-Key.",
                               "required": False, "schema": {"type": "string", "const": "true"}},
        "RetryAfter": {"description": "Seconds to wait before retrying.", "required": True,
                       "schema": {"$ref": "#/components/schemas/RetryAfterSeconds"}},
        "Allow": {"description": "The methods this path answers.", "required": True,
                  "schema": {"type": "string", "minLength": 1}},
        "ContentDisposition": {"description": "`attachment` with the file's name.", "required": True,
                               "schema": {"type": "string", "pattern": r"^attachment; filename=\".+\"$"}},
    }


def _parameters() -> dict[str, dict]:
    def pattern(text: str) -> dict:
        return {"type": "string", "pattern": text}

    return {
        "SubmissionId": path_parameter("submission_id", "A submission id.", pattern(RESOURCE_ID_PATTERN)),
        "ResultId": path_parameter("result_id", "A result id.", pattern(RESOURCE_ID_PATTERN)),
        "FileName": path_parameter("name", "A file name from the result's `files`.",
                                   pattern(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}$")),
        "AccountId": path_parameter("account_id", "An account id.", pattern(r"^acct_[A-Za-z0-9]+$")),
        "KeyId": path_parameter("key_id", "A key id.", pattern(r"^key_[A-Za-z0-9]{12}$")),
        "CodeId": path_parameter("code_id", "A code upload id.", pattern(CODE_ID_PATTERN)),
        "WebhookId": path_parameter("webhook_id", "A webhook id.", pattern(WEBHOOK_ID_PATTERN)),
        "FaultId": path_parameter("fault_id", "A fault rule id.", pattern(r"^fault_[A-Za-z0-9]{12}$")),
        "UserCode": path_parameter("user_code", "The code `vilvik login` shows (case and dash optional).",
                                   pattern(r"^[A-Za-z]{4}-?[A-Za-z]{4}$")),
        "IdempotencyKey": {"name": "Idempotency-Key", "in": "header", "required": False,
                           "description": "Retry safely: the same key within 24 hours replays the first response "
                                          "(contract §4a).",
                           "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[ -~]+$"}},
    }


def _params(*names: str) -> list[dict]:
    return [ref("parameters", name) for name in names]


# ---------------------------------------------------------------------- paths

def _api_paths(c: Components) -> dict[str, dict]:
    created = ok("Accepted: the submission is queued (or, in `sync` mode, already ran).",
                 c.document(submissions.SubmissionCreated),
                 **{"Idempotent-Replayed": ref("headers", "IdempotentReplayed")})
    no_content = {"description": "Deleted.", "headers": standard_headers()}
    overrides = request_body(c.body(submissions.SubmissionOverrides), required=False,
                             description="Overrides; no body means none.")
    detail = ok("The full submission.", c.document(submissions.SubmissionDetail))
    item_errors = ["Unauthorized", "ScopeRequired", "NotFound"]
    return {
        "/api/v1/health": {"get": operation(
            "getHealth", "Liveness and version", "service",
            {"200": ok("The service is up.", c.document(service.ApiHealth))}, [], security=[])},
        "/api/v1/openapi.json": {"get": operation(
            "getOpenApiDocument", "This document", "service",
            {"200": ok("The OpenAPI 3.1 document of the emulator.", c.document(service.OpenApiDocument))}, [],
            security=[])},
        "/api/v1/submissions/": {
            "post": operation(
                "createSubmission", "Create a submission", "submissions",
                {"202": created}, ["IdempotencyKeyInUse", *CREATE_ERRORS],
                parameters=_params("IdempotencyKey"),
                body=request_body(c.body(submissions.SubmissionCreate, "SubmissionCreate"), required=True,
                                  description="One body per `submission_type` (absent means `new`)."),
                security=keyed("submissions:write"),
                description="Validated before anything is stored; honours `Idempotency-Key`."),
            "get": operation(
                "listSubmissions", "List submissions", "submissions",
                {"200": ok("A page of submission rows.", c.document(submissions.SubmissionList))},
                ["InvalidParameter", "Unauthorized", "ScopeRequired", "NotFound"],
                parameters=query_parameters(submissions.SubmissionFilters, Paging),
                security=keyed("submissions:read")),
        },
        "/api/v1/submissions/{submission_id}": {
            "parameters": _params("SubmissionId"),
            "get": operation("getSubmission", "Fetch a submission", "submissions", {"200": detail}, item_errors,
                             security=keyed("submissions:read")),
            "patch": operation(
                "updateSubmission", "Rename a submission or change who hears of it", "submissions",
                {"200": detail}, [*item_errors, *BODY_ERRORS],
                body=request_body(c.body(submissions.SubmissionPatch), required=True,
                                  description="Only the fields sent change; parameters and code never do."),
                security=keyed("submissions:write")),
            "delete": operation(
                "deleteSubmission", "Stop and delete a submission", "submissions",
                {"204": no_content}, item_errors, security=keyed("submissions:write"),
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
            {"200": ok("A page of result rows.", c.document(results.ResultList))},
            ["InvalidParameter", "Unauthorized", "ScopeRequired", "NotFound"],
            parameters=query_parameters(results.ResultFilters, Paging),
            security=keyed("results:read"))},
        "/api/v1/results/{result_id}": {
            "parameters": _params("ResultId"),
            "get": operation(
                "getResult", "Fetch a result", "results",
                {"200": ok("The full result.", c.document(results.ResultDetail))}, item_errors,
                security=keyed("results:read"),
                description="Also another account's result when it is shared (contract §7)."),
            "patch": operation(
                "updateResult", "Rename or share a result", "results",
                {"200": ok("The full result after the change.", c.document(results.ResultDetail))},
                [*item_errors, *BODY_ERRORS],
                body=request_body(c.body(results.ResultUpdate), required=True,
                                  description="Only the fields sent change."),
                security=keyed("results:write")),
            "delete": operation(
                "deleteResult", "Delete a result", "results", {"204": no_content}, item_errors,
                security=keyed("results:write"), description="The submission it came from is untouched."),
        },
        "/api/v1/results/{result_id}/continue": {
            "parameters": _params("ResultId"),
            "post": operation(
                "continueResult", "Branch a new run from a result", "results",
                {"202": created}, ["ConflictOrKeyInUse", "NotFound", *CREATE_ERRORS],
                parameters=_params("IdempotencyKey"), body=overrides,
                security=keyed("results:write", "submissions:write"),
                description="Starts from the result's final population; `num_genes` and `gene_type` cannot change, "
                            "nor a quick type's fitness function."),
        },
        "/api/v1/results/{result_id}/files/{name}": {
            "parameters": _params("ResultId", "FileName"),
            "get": operation(
                "downloadResultFile", "Download a result file", "results",
                {"200": {"description": "The file, as an attachment.",
                         "headers": standard_headers(**{"Content-Disposition": ref("headers", "ContentDisposition")}),
                         "content": {"application/json": {"schema": {}},
                                     "image/svg+xml": {"schema": {"type": "string"}},
                                     "text/plain": {"schema": {"type": "string"}}}}},
                item_errors, security=keyed("results:read")),
        },
        "/api/v1/code-uploads/": {
            "post": operation(
                "createCodeUpload", "Upload code to reference from submissions", "code uploads",
                {"201": ok("The upload (without its content).", c.document(code_uploads.CodeUploadRow))},
                ["Unauthorized", "ScopeRequired", *BODY_ERRORS],
                body=request_body(c.body(code_uploads.CodeUploadCreate), required=True),
                security=keyed("code-uploads:write")),
            "get": operation(
                "listCodeUploads", "List code uploads", "code uploads",
                {"200": ok("A page of uploads, newest first.", c.document(code_uploads.CodeUploadList))},
                ["InvalidParameter", "Unauthorized", "ScopeRequired", "NotFound"],
                parameters=query_parameters(Paging), security=keyed("code-uploads:read")),
        },
        "/api/v1/code-uploads/{code_id}": {
            "parameters": _params("CodeId"),
            "get": operation(
                "getCodeUpload", "Fetch a code upload with its content", "code uploads",
                {"200": ok("The upload.", c.document(code_uploads.CodeUploadDetail))}, item_errors,
                security=keyed("code-uploads:read")),
        },
        "/api/v1/imports/": {"post": operation(
            "createImport", "Import a local PyGAD run", "imports",
            {"201": ok("The import: a succeeded submission and its result.", c.document(imports.ImportCreated),
                       **{"Idempotent-Replayed": ref("headers", "IdempotentReplayed")})},
            ["InvalidJsonOrParameter", "Unauthorized", "ScopeRequired", "IdempotencyKeyInUse", "PayloadTooLarge",
             "UnsupportedMediaType", "ValidationFailedOrKeyReused"],
            parameters=_params("IdempotencyKey"), body=request_body(c.body(imports.ImportCreate), required=True),
            security=keyed("imports:write"),
            description="Free of credits; limited per tier per hour and per day (429 with `Retry-After`).")},
        "/api/v1/webhooks/": {"get": operation(
            "listWebhooks", "List the account's webhooks", "webhooks",
            {"200": ok("Every webhook.", c.document(webhooks.WebhookList))}, ["Unauthorized", "ScopeRequired"],
            security=keyed("webhooks:read"))},
        "/api/v1/webhooks/{webhook_id}/deliveries": {
            "parameters": _params("WebhookId"),
            "get": operation(
                "listWebhookDeliveries", "A webhook's delivery history", "webhooks",
                {"200": ok("A page of delivery attempts, newest first.", c.document(webhooks.DeliveryList))},
                ["InvalidParameter", *item_errors], parameters=query_parameters(Paging),
                security=keyed("webhooks:read")),
        },
        "/api/v1/auth/device/code": {"post": operation(
            "startDeviceLogin", "Start a device login (RFC 8628)", "device login",
            {"200": ok("The codes to show the user.", c.document(device.DeviceCode))},
            ["InvalidJson", "UnsupportedMediaType", "PayloadTooLarge"],
            body=request_body(c.body(device.DeviceCodeRequest), required=False), security=[])},
        "/api/v1/auth/device/token": {"post": operation(
            "pollDeviceLogin", "Collect the key once the login is approved", "device login",
            {"200": ok("Approved: the new key (given once).", c.document(device.DeviceToken))},
            ["DeviceTokenError", "UnsupportedMediaType", "PayloadTooLarge"],
            body=request_body(c.body(device.DeviceTokenRequest), required=True), security=[])},
    }


def _control_paths(c: Components) -> dict[str, dict]:
    def op(operation_id: str, summary: str, success: dict[str, dict], errors: list[str], **kwargs: Any) -> dict:
        return operation(operation_id, summary, "control plane", success, [*CONTROL_ERRORS, *errors],
                         security=CONTROL_SECURITY, faults=False, **kwargs)

    def changing(operation_id: str, summary: str, success: dict[str, dict], errors: list[str],
                 **kwargs: Any) -> dict:
        """A state-changing control operation: it always needs ``Content-Type: application/json``.

        OpenAPI cannot require a ``Content-Type`` header by itself (a header parameter of that
        name is ignored), so the operation says it through its body: a JSON body is required,
        and an operation that reads none takes any JSON value and ignores it. The server also
        takes an empty body with the header as ``{}``.
        """
        body = kwargs.pop("body", None) or request_body(
            {"description": "Ignored: this operation reads no body. Send `{}` (or nothing) with "
                            "`Content-Type: application/json`."}, required=True)
        body = {**body, "required": True, "description": body.get("description") or (
            "`Content-Type: application/json` is required, even without a body (a web page cannot send it to "
            "another site without the emulator's consent); an empty body counts as `{}`.")}
        return op(operation_id, summary, success, [*errors, "UnsupportedMediaType"]
                  if "UnsupportedMediaType" not in errors else errors, body=body, **kwargs)

    def body(model: type[BaseModel] | TypeAdapter[Any], *, required: bool, name: str | None = None) -> dict:
        return request_body(c.body(model, name), required=required)

    detail = ok("The submission's detail.", c.document(submissions.SubmissionDetail))
    no_content = {"description": "Done.", "headers": standard_headers()}
    key = ok("The key.", c.document(accounts.Key))
    account = ok("The account.", c.document(accounts.Account))
    clock = ok("The clock.", c.document(control.ClockState))
    webhook = ok("The webhook.", c.document(webhooks.WebhookAdmin))
    login = ok("The login.", c.document(device.DeviceLogin))
    return {
        "/_emulator/health": {"get": op(
            "controlHealth", "Emulator health, store and runner state",
            {"200": ok("The emulator is up.", c.document(control.ControlHealth))}, [])},
        "/_emulator/reset": {"post": changing(
            "controlReset", "Stop jobs and clear state (everything or one account)",
            {"200": ok("Reset done.", c.document(control.ResetDone))}, ["NotFound", *BODY_ERRORS],
            body=body(control.ResetRequest, required=False))},
        "/_emulator/accounts": {
            "get": op("controlListAccounts", "List accounts",
                      {"200": ok("Every account.", c.document(accounts.AccountList))}, []),
            "post": changing("controlCreateAccount", "Create an account",
                             {"201": ok("The new account.", c.document(accounts.Account))}, BODY_ERRORS,
                             body=body(accounts.AccountCreate, required=False)),
        },
        "/_emulator/accounts/{account_id}": {
            "parameters": _params("AccountId"),
            "get": op("controlGetAccount", "Fetch an account", {"200": account}, ["NotFound"]),
            "patch": changing("controlUpdateAccount", "Change an account", {"200": account},
                              ["NotFound", *BODY_ERRORS], body=body(accounts.AccountUpdate, required=True)),
        },
        "/_emulator/accounts/{account_id}/ledger": {
            "parameters": _params("AccountId"),
            "get": op("controlAccountLedger", "An account's balance and credit charges",
                      {"200": ok("The balance and the ledger.", c.document(control.Ledger))}, ["NotFound"]),
        },
        "/_emulator/accounts/{account_id}/webhook-secret": {
            "parameters": _params("AccountId"),
            "get": op("controlAccountWebhookSecret", "The secret signing deliveries to submissions' own `webhook_url`",
                      {"200": ok("The secret.", c.document(webhooks.WebhookSecret))}, ["NotFound"]),
        },
        "/_emulator/config": {
            "get": op("controlReadConfig", "Read the runtime settings",
                      {"200": ok("The settings.", c.document(control.RuntimeConfig))}, []),
            "patch": changing("controlUpdateConfig", "Change runtime settings",
                              {"200": ok("The settings after the change.", c.document(control.RuntimeConfig))},
                              BODY_ERRORS, body=body(control.ConfigChanges, required=True)),
        },
        "/_emulator/keys": {
            "get": op("controlListKeys", "List keys", {"200": ok("The keys.", c.document(accounts.KeyList))},
                      ["InvalidParameter"], parameters=query_parameters(control.AccountFilter)),
            "post": changing("controlCreateKey", "Create a key",
                             {"201": ok("The new key with its secret.", c.document(accounts.KeyWithSecret))},
                             BODY_ERRORS, body=body(accounts.KeyCreate, required=False)),
        },
        "/_emulator/keys/{key_id}": {
            "parameters": _params("KeyId"),
            "get": op("controlGetKey", "Fetch a key", {"200": key}, ["NotFound"]),
            "patch": changing("controlUpdateKey", "Change a key's scopes, name or expiry", {"200": key},
                              ["NotFound", *BODY_ERRORS], body=body(accounts.KeyUpdate, required=True)),
            "delete": changing("controlRevokeKey", "Revoke a key",
                               {"200": ok("The revoked key.", c.document(accounts.Key))}, ["NotFound"]),
        },
        "/_emulator/keys/{key_id}/rotate": {
            "parameters": _params("KeyId"),
            "post": changing("controlRotateKey", "A new secret for the same key",
                             {"200": ok("The key with its new secret.", c.document(accounts.KeyWithSecret))},
                             ["NotFound", "Conflict"]),
        },
        "/_emulator/faults": {
            "get": op("controlListFaults", "List fault rules",
                      {"200": ok("The rules.", c.document(control.FaultList))}, []),
            "post": changing("controlAddFault", "Add a fault rule",
                             {"201": ok("The new rule.", c.document(control.FaultRule))}, BODY_ERRORS,
                             body=body(control.FaultCreate, required=True)),
            "delete": changing("controlClearFaults", "Remove every fault rule", {"204": no_content}, []),
        },
        "/_emulator/faults/{fault_id}": {
            "parameters": _params("FaultId"),
            "delete": changing("controlRemoveFault", "Remove one fault rule", {"204": no_content}, ["NotFound"]),
        },
        "/_emulator/requests": {
            "get": op("controlRequestJournal", "The request journal of `/api/v1`",
                      {"200": ok("Matching entries, newest first.", c.document(control.Journal))},
                      ["InvalidParameter"], parameters=query_parameters(control.JournalQuery)),
            "delete": changing("controlClearRequestJournal", "Empty the request journal", {"204": no_content}, []),
        },
        "/_emulator/snapshot": {
            "get": op("controlExportSnapshot", "Export the whole state",
                      {"200": ok("The snapshot.", c.document(control.Snapshot))}, []),
            "put": changing("controlImportSnapshot", "Replace the whole state with a snapshot",
                            {"200": ok("Imported.", c.document(control.SnapshotImported))}, BODY_ERRORS,
                            body=body(control.SnapshotImport, required=True)),
        },
        "/_emulator/webhooks": {
            "get": op("controlListWebhooks", "List webhooks",
                      {"200": ok("The webhooks.", c.document(webhooks.WebhookAdminList))}, ["InvalidParameter"],
                      parameters=query_parameters(control.AccountFilter)),
            "post": changing("controlCreateWebhook", "Create a webhook",
                             {"201": ok("The webhook with its signing secret.",
                                        c.document(webhooks.WebhookWithSecret))},
                             BODY_ERRORS, body=body(webhooks.WebhookCreate, required=True)),
        },
        "/_emulator/webhooks/{webhook_id}": {
            "parameters": _params("WebhookId"),
            "get": op("controlGetWebhook", "Fetch a webhook", {"200": webhook}, ["NotFound"]),
            "patch": changing("controlUpdateWebhook", "Change a webhook", {"200": webhook}, ["NotFound", *BODY_ERRORS],
                              body=body(webhooks.WebhookUpdate, required=True)),
            "delete": changing("controlDeleteWebhook", "Delete a webhook", {"204": no_content}, ["NotFound"]),
        },
        "/_emulator/webhooks/{webhook_id}/test": {
            "parameters": _params("WebhookId"),
            "post": changing("controlTestWebhook", "Send a `webhook.test` event",
                             {"202": ok("Queued.", c.document(webhooks.WebhookTestSent))}, ["NotFound"]),
        },
        "/_emulator/webhooks/{webhook_id}/deliveries": {
            "parameters": _params("WebhookId"),
            "get": op("controlWebhookDeliveries", "A webhook's delivery attempts",
                      {"200": ok("A page of attempts, newest first.", c.document(webhooks.DeliveryList))},
                      ["InvalidParameter", "NotFound"], parameters=query_parameters(Paging)),
        },
        "/_emulator/deliveries": {"get": op(
            "controlDeliveries", "Every delivery attempt (webhooks and submissions' `webhook_url`)",
            {"200": ok("A page of attempts, newest first.", c.document(webhooks.DeliveryList))},
            ["InvalidParameter", "NotFound"],
            parameters=query_parameters(webhooks.DeliveryFilters, Paging))},
        "/_emulator/deliveries/drain": {"post": changing(
            "controlDrainDeliveries", "Wait until no delivery is due or on the wire",
            {"200": ok("Settled; later retries may remain scheduled.", c.document(webhooks.DeliveriesDrained))},
            ["WaitTimeout", *BODY_ERRORS], body=body(control.DrainRequest, required=False))},
        "/_emulator/device-logins": {"get": op(
            "controlDeviceLogins", "Pending `vilvik login` requests",
            {"200": ok("The pending logins.", c.document(device.DeviceLoginList))}, [])},
        "/_emulator/device-logins/{user_code}/approve": {
            "parameters": _params("UserCode"),
            "post": changing("controlApproveDeviceLogin", "Approve a `vilvik login` (mints its key)", {"200": login},
                             ["NotFound", "Conflict", *BODY_ERRORS], body=body(device.DeviceApproval, required=False)),
        },
        "/_emulator/device-logins/{user_code}/deny": {
            "parameters": _params("UserCode"),
            "post": changing("controlDenyDeviceLogin", "Deny a `vilvik login`", {"200": login},
                             ["NotFound", "Conflict"]),
        },
        "/_emulator/clock": {
            "get": op("controlReadClock", "Read the virtual clock", {"200": clock}, []),
            "post": changing("controlMoveClock", "Freeze, resume, set or advance the clock", {"200": clock},
                             BODY_ERRORS, body=body(control.ClockAction, required=True, name="ClockAction")),
        },
        "/_emulator/submissions/{submission_id}/wait": {
            "parameters": _params("SubmissionId"),
            "get": op("controlWait", "Wait until a submission reaches a state", {"200": detail},
                      ["InvalidParameter", "NotFound", "WaitTimeout"], parameters=query_parameters(control.WaitQuery)),
        },
        "/_emulator/submissions/{submission_id}/advance": {
            "parameters": _params("SubmissionId"),
            "post": changing("controlAdvance", "Move a job by hand or finish it with a canned outcome",
                             {"200": detail}, ["NotFound", "Conflict", *BODY_ERRORS],
                             body=body(control.AdvanceRequest, required=True, name="AdvanceRequest")),
        },
        "/_emulator/submissions/{submission_id}/log": {
            "parameters": _params("SubmissionId"),
            "get": op("controlSubmissionLog", "The captured output of a run that failed or was cancelled",
                      {"200": {"description": "The log (a successful run's is its result's `log.txt`).",
                               "headers": standard_headers(),
                               "content": {"text/plain": {"schema": {"type": "string"}}}}}, ["NotFound"]),
        },
        "/_emulator/submissions/{submission_id}/cancel": {
            "parameters": _params("SubmissionId"),
            "post": changing("controlCancel", "Stop a job and keep it as `cancelled` (the website's cancel button)",
                             {"200": detail}, ["NotFound", "Conflict"]),
        },
    }



# ---------------------------------------------------------------------- the document

def build_document(version: str) -> dict:
    """The OpenAPI 3.1.0 document of the emulator ``version`` (a fresh dict on every call)."""
    components = Components()
    paths = {**_api_paths(components), **_control_paths(components)}
    responses = _responses(components)
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
        "paths": paths,
        "components": {
            "schemas": components.schemas(),
            "responses": responses,
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
