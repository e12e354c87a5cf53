"""The OpenAPI document (``/api/v1/openapi.json``) and the checker that holds every response to it.

The document must be valid OpenAPI 3.1, describe exactly the routes the app registers
(paths, methods, scopes), and describe what the server really answers: a real response
of every operation passes the checker. The checker, in turn, must be able to fail: each
kind of drift it exists to catch is shown to it on a doctored copy of a real response.
"""

from __future__ import annotations

import copy
import json
import re
from urllib.parse import urlsplit

import pytest
import requests
from helpers import EXAMPLE, IMPORT_BODY, SPHERE, Api
from openapi_check import OpenApiChecker
from openapi_spec_validator import validate
from requests.structures import CaseInsensitiveDict

from vilvik_emulator.api.openapi import build_document

pytestmark = pytest.mark.vilvik_mode("manual")

MISSING_ID = "abcDEF123456"
HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
FAILS_AT_ONCE = '''\
def fitness_func(ga_instance, solution, solution_idx):
    raise RuntimeError("broken on purpose")
'''


def flask_template(rule: str) -> str:
    """``/a/<b>`` and ``/a/<int:b>`` -> ``/a/{b}``."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def documented_operations(document: dict) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in document["paths"].items()
            for method in item if method.upper() in HTTP_METHODS}


def without_slash(path: str) -> str:
    """Paths compare without their trailing slash: the API answers both forms (contract §1)."""
    return path.rstrip("/")


class Recorder:
    """The checker plus a record of which (template, method, status) it accepted."""

    def __init__(self, checker: OpenApiChecker) -> None:
        self.checker = checker
        self.seen: set[tuple[str | None, str, int]] = set()

    def __call__(self, response: requests.Response) -> None:
        self.checker.check(response)
        path = urlsplit(response.request.url).path
        self.seen.add((self.checker.match(path), response.request.method.upper(), response.status_code))

    def statuses(self) -> set[int]:
        return {status for _, _, status in self.seen}


@pytest.fixture
def recorder(openapi_checker) -> Recorder:
    return Recorder(openapi_checker)


@pytest.fixture
def checked_api(control, recorder) -> Api:
    return Api(control.base_url, control.api_key, recorder)


@pytest.fixture
def checked_control(control, recorder) -> Api:
    """Raw HTTP on ``/_emulator`` (open on loopback), every response checked."""
    raw = Api(f"{control.url}/_emulator", None, recorder)
    raw.session.headers["Content-Type"] = "application/json"  # state changes need it, even without a body
    return raw


@pytest.fixture
def document(api) -> dict:
    response = api.get("openapi.json", key=None)
    assert response.status_code == 200, response.text
    return response.json()


# ---------------------------------------------------------------------- the document itself

def test_document_is_valid_openapi_3_1(document):
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_served_document_is_the_built_one_for_this_version(document, control):
    version = control.health()["version"]
    assert document == build_document(version)
    assert document["info"]["version"] == version


def test_built_document_is_a_fresh_copy_each_time():
    first = build_document("1.2.3")
    first["paths"].clear()
    assert build_document("1.2.3")["paths"]


def test_every_component_is_used(document):
    """No dead definitions; the one exception is the path-level 405, which no operation answers itself."""
    text = json.dumps(document)
    unused = {(kind, name) for kind, items in document["components"].items() if kind != "securitySchemes"
              for name in items if f'"#/components/{kind}/{name}"' not in text}
    assert unused == {("responses", "MethodNotAllowed")}
    assert "#/components/responses/MethodNotAllowed" in document["info"]["description"]


def test_every_route_is_documented_and_nothing_else(document, vilvik_emulator_server):
    routes = set()
    for rule in vilvik_emulator_server.app.url_map.iter_rules():
        if rule.rule.startswith(("/api/v1/", "/_emulator/")):
            routes |= {(without_slash(flask_template(rule.rule)), method) for method in rule.methods & HTTP_METHODS}
    documented = {(without_slash(path), method) for path, method in documented_operations(document)}
    assert routes - documented == set(), "routes missing from the document"
    assert documented - routes == set(), "documented operations the app does not have"
    assert len({without_slash(path) for path in document["paths"]}) == len(document["paths"]), \
        "a path is documented in both slash forms"


def test_collections_are_documented_in_the_documented_slash_form(document):
    """Contract §1: the docs write collections with a slash, items without."""
    assert {"/api/v1/submissions/", "/api/v1/results/"} <= set(document["paths"])
    items = [path for path in document["paths"] if "{" in path]
    assert items and not [path for path in items if path.endswith("/")]


def test_api_security_lists_exactly_the_scopes_each_view_requires(document, vilvik_emulator_server):
    app = vilvik_emulator_server.app
    paths = {without_slash(path): item for path, item in document["paths"].items()}
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        required = sorted(getattr(app.view_functions[rule.endpoint], "required_scopes", ()))
        for method in rule.methods & HTTP_METHODS:
            operation = paths[without_slash(flask_template(rule.rule))][method.lower()]
            security = operation.get("security", document["security"])
            if required:
                assert security == [{"ApiKey": required}], (rule.rule, method)
                assert {"401", "403"} <= set(operation["responses"]), (rule.rule, method)
            else:
                assert security == [], (rule.rule, method)
            checked += 1
    assert checked >= 13


def test_control_plane_is_open_on_loopback_and_takes_the_admin_token_elsewhere(document):
    schemes = document["components"]["securitySchemes"]
    admin = schemes["AdminToken"]
    assert (admin["type"], admin["in"], admin["name"]) == ("apiKey", "header", "X-Admin-Token")
    assert schemes["ApiKey"]["scheme"] == "bearer"
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if path.startswith("/_emulator/") and method != "parameters":
                assert {} in operation["security"] and {"AdminToken": []} in operation["security"]
                assert "401" in operation["responses"]


def test_every_operation_documents_its_error_responses_and_headers(document):
    """The rules of contract §1 and §3, applied to each operation of the document."""
    responses = document["components"]["responses"]
    for path, item in document["paths"].items():
        path_parameters = item.get("parameters", [])
        for method, operation in item.items():
            if method == "parameters":
                continue
            where = f"{method.upper()} {path}"
            documented = operation["responses"]
            assert "500" in documented, where
            for status, response in documented.items():
                response = responses[response["$ref"].rsplit("/", 1)[1]] if "$ref" in response else response
                assert {"X-Request-Id", "X-Vilvik-Emulator"} <= set(response["headers"]), (where, status)
            if path_parameters:
                assert "404" in documented, where
            if path.startswith("/api/v1/"):
                assert {"429", "503"} <= set(documented), (where, "fault rules can inject these")
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body is not None and "$ref" not in body:
                # a control operation that reads no body: it needs only the JSON Content-Type
                assert "415" in documented and body["description"].startswith("Ignored"), where
            elif body is not None and not path.startswith("/api/v1/auth/device/"):
                # (RFC 8628's endpoints answer their own flat 400s, never a 422)
                assert {"400", "413", "415", "422"} <= set(documented), where
            if method == "post" and "202" in documented and path.startswith("/api/v1/"):  # the create-style POSTs
                assert "402" in documented and "409" in documented, where
                assert {"$ref": "#/components/parameters/IdempotencyKey"} in operation["parameters"], where
                assert "Idempotent-Replayed" in documented["202"]["headers"], where
    assert "Allow" in responses["MethodNotAllowed"]["headers"]
    assert responses["IdempotencyKeyInUse"]["headers"]["Retry-After"]["$ref"].endswith("/RetryAfter")


def test_list_filters_of_the_contract_are_documented(document):
    def names(path: str) -> set[str]:
        parameters = document["components"]["parameters"]
        return {parameters[item["$ref"].rsplit("/", 1)[1]]["name"] if "$ref" in item else item["name"]
                for item in document["paths"][path]["get"]["parameters"]}

    paging = {"page_size", "limit", "cursor"}
    assert names("/api/v1/submissions/") == paging | {
        "status", "source", "submission_type", "visibility", "created_after", "created_before",
        "parent_submission_id", "name_contains", "ordering"}
    assert names("/api/v1/results/") == paging | {
        "submission_id", "is_shared", "min_fitness", "max_fitness", "created_after", "created_before", "ordering"}


def test_schemas_pin_the_formats_of_the_contract(document):
    schemas = document["components"]["schemas"]
    timestamp = re.compile(schemas["Timestamp"]["pattern"])
    assert timestamp.match("2026-05-01T12:34:56Z")
    assert not timestamp.match("2026-05-01T12:34:56.120Z") and not timestamp.match("2026-05-01T12:34:56+00:00")
    resource_id = re.compile(schemas["ResourceId"]["pattern"])
    assert resource_id.match("abcDEF123456") and not resource_id.match("abc_EF123456")
    fitness = re.compile(schemas["FitnessText"]["pattern"])
    assert schemas["FitnessText"]["type"] == "string"
    assert {"$ref": "#/components/schemas/FitnessText"} in \
        schemas["ResultRow"]["properties"]["best_solution_fitness"]["anyOf"]  # null before a fitness is known
    for text in ("4.812", "-0.5", "1e-05", "-inf", "nan", "[1.5, -0.2]", "3"):
        assert fitness.match(text), text
    assert not fitness.match("None") and not fitness.match("4.8 points")
    for name in ("SubmissionDetail", "SubmissionRow", "ResultRow", "Error", "Key"):  # responses stay open (§1)
        assert '"additionalProperties": false' not in json.dumps(schemas[name]), name


# ---------------------------------------------------------------------- the checker accepts what the server says

def finished_run(checked_api, checked_control) -> tuple[str, str]:
    """A submission finished with a canned result: (submission id, result id)."""
    submission_id = checked_api.create()["id"]
    response = checked_control.post(f"submissions/{submission_id}/advance",
                                    json={"to": "succeeded", "result": {"best_solution_fitness": 1.5}})
    assert response.status_code == 200, response.text
    return submission_id, response.json()["result_id"]


def test_checker_accepts_a_real_success_of_every_operation(document, checked_api, checked_control, recorder):
    api, control = checked_api, checked_control
    assert api.get("health", key=None).status_code == 200
    assert api.request("HEAD", "health", key=None).status_code == 200
    assert api.get("openapi.json", key=None).status_code == 200

    submission_id, result_id = finished_run(api, control)
    replayed = api.post("submissions/", json=EXAMPLE, headers={"Idempotency-Key": "openapi-1"})
    again = api.post("submissions", json=EXAMPLE, headers={"Idempotency-Key": "openapi-1"})
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == replayed.json()
    page = api.get("submissions/", params={"page_size": 1, "ordering": "name", "status": "queued,succeeded"})
    assert page.status_code == 200 and page.json()["next"], page.text
    assert api.get(page.json()["next"]).status_code == 200
    assert api.get(f"submissions/{submission_id}").status_code == 200
    assert api.patch(f"submissions/{submission_id}", json={"name": "renamed run"}).status_code == 200
    assert api.get("results", params={"submission_id": submission_id, "is_shared": "false"}).status_code == 200
    assert api.get(f"results/{result_id}/").status_code == 200
    assert api.patch(f"results/{result_id}", json={"name": "renamed", "is_shared": True}).status_code == 200
    for name in ("result.json", "population.json", "fitness.svg", "log.txt"):
        assert api.get(f"results/{result_id}/files/{name}").status_code == 200, name
    assert api.post(f"submissions/{submission_id}/reexecute").status_code == 202
    assert api.post(f"results/{result_id}/continue", json={"num_generations": 3}).status_code == 202
    assert api.delete(f"results/{result_id}").status_code == 204
    assert api.delete(f"submissions/{submission_id}/").status_code == 204

    assert control.get("health").status_code == 200
    account = control.post("accounts", json={"name": "team", "tier": "premium"}).json()
    assert control.get("accounts").status_code == 200
    assert control.get(f"accounts/{account['id']}").status_code == 200
    assert control.patch(f"accounts/{account['id']}", json={"mode": "manual"}).status_code == 200
    key = control.post("keys", json={"account": account["id"], "scopes": ["results:read"]}).json()
    assert control.get("keys", params={"account": account["id"]}).status_code == 200
    assert control.get(f"keys/{key['id']}").status_code == 200
    assert control.patch(f"keys/{key['id']}", json={"name": "reader"}).status_code == 200
    assert control.post(f"keys/{key['id']}/rotate").status_code == 200
    rotated = control.get(f"keys/{key['id']}")
    assert rotated.status_code == 200 and rotated.json()["rotated_at"], rotated.text
    assert control.delete(f"keys/{key['id']}").status_code == 200
    assert control.get("clock").status_code == 200
    assert control.post("clock", json={"action": "advance", "seconds": 5}).status_code == 200
    queued = api.create()["id"]
    assert control.get(f"submissions/{queued}/wait", params={"status": "queued", "timeout": 0}).status_code == 200
    assert control.post(f"submissions/{queued}/advance", json={"to": "running"}).status_code == 200
    assert control.post(f"submissions/{queued}/cancel").status_code == 200
    assert control.get(f"submissions/{queued}/log").status_code == 404  # it never ran: no output
    failed = api.create(fitness_func=FAILS_AT_ONCE)["id"]
    assert control.post(f"submissions/{failed}/advance", json={"to": "run"}).status_code == 200
    assert control.get(f"submissions/{failed}/wait", params={"timeout": 60}).json()["status"] == "failed"
    assert control.get(f"submissions/{failed}/log").status_code == 200
    assert control.get("accounts/acct_default/ledger").status_code == 200
    assert control.get("config").status_code == 200
    assert control.patch("config", json={"limits": {"runtime_seconds": 30}, "cpu_rate": 0.02}).status_code == 200
    fault = control.post("faults", json={"method": "GET", "path": "/api/v1/health", "delay_ms": 1}).json()
    assert control.get("faults").status_code == 200
    assert control.delete(f"faults/{fault['id']}").status_code == 204
    assert control.delete("faults").status_code == 204
    assert control.get("requests", params={"method": "GET", "path": "/api/v1/*", "limit": 5}).status_code == 200
    assert control.delete("requests").status_code == 204
    snapshot = control.get("snapshot")
    assert control.request("PUT", "snapshot", json=snapshot.json()).status_code == 200
    assert control.post("reset", json={"account": account["id"]}).status_code == 200

    upload = api.post("code-uploads", json={"content": SPHERE})
    assert upload.status_code == 201, upload.text
    assert api.get("code-uploads/", params={"page_size": 5}).status_code == 200
    assert api.get(f"code-uploads/{upload.json()['code_id']}").status_code == 200
    imported = api.post("imports", json={
        "ga_parameters": {"num_generations": 2, "num_genes": 2, "sol_per_pop": 4, "num_parents_mating": 2},
        "code": {"fitness_func": SPHERE},
        "result": {"best_solution": [0.1, 0.2], "best_solution_fitness": -0.05,
                   "best_solutions_fitness": [-1.0, -0.5, -0.05], "generations_completed": 2,
                   "best_solution_generation": 2, "population": [[0.1, 0.2]] * 4}})
    assert imported.status_code == 201, imported.text
    webhook = control.post("webhooks", json={"url": "http://127.0.0.1:9/hook", "description": "closed port"})
    assert webhook.status_code == 201, webhook.text
    webhook_id = webhook.json()["id"]
    assert control.get("webhooks").status_code == 200
    assert control.get(f"webhooks/{webhook_id}").status_code == 200
    assert control.patch(f"webhooks/{webhook_id}", json={"events": ["submission.failed"]}).status_code == 200
    assert control.post(f"webhooks/{webhook_id}/test").status_code == 202
    assert control.post("deliveries/drain", json={"timeout": 30}).status_code == 200
    assert control.get(f"webhooks/{webhook_id}/deliveries").status_code == 200
    assert control.get("deliveries", params={"account": "acct_default"}).status_code == 200
    assert api.get("webhooks").status_code == 200
    assert api.get(f"webhooks/{webhook_id}/deliveries", params={"page_size": 5}).status_code == 200
    assert control.delete(f"webhooks/{webhook_id}").status_code == 204
    assert control.get("accounts/acct_default/webhook-secret").status_code == 200
    for verdict in ("approve", "deny"):
        started = api.post("auth/device/code", json={}, key=None)
        assert started.status_code == 200, started.text
        assert control.get("device-logins").status_code == 200
        assert control.post(f"device-logins/{started.json()['user_code']}/{verdict}", json={}).status_code == 200
        token = api.post("auth/device/token", json={"device_code": started.json()["device_code"]}, key=None)
        assert token.status_code == (200 if verdict == "approve" else 400), token.text

    successes = {(template, method) for template, method, status in recorder.seen if status < 300}
    assert documented_operations(document) - successes == set(), "operations never checked with a real success"


def test_checker_accepts_real_error_responses(checked_api, checked_control, recorder):
    api, control = checked_api, checked_control
    submission_id, result_id = finished_run(api, control)
    reader = control.post("keys", json={"scopes": ["results:read"]}).json()["key"]
    cases = [
        (api.get("submissions", params={"status": "done"}), 400),
        (api.get("submissions", params={"cursor": "not-a-cursor"}), 404),
        (api.get("results", params={"min_fitness": "high"}), 400),
        (api.post("submissions", data=b"{not json", headers={"Content-Type": "application/json"}), 400),
        (api.post("submissions", json=EXAMPLE, headers={"Idempotency-Key": "x" * 256}), 400),
        (api.get("submissions", key=None), 401),
        (api.get(f"results/{result_id}", key="vlk_test_" + "0" * 32), 401),
        (api.post("submissions", json=EXAMPLE, key=reader), 403),
        (api.get(f"submissions/{MISSING_ID}"), 404),
        (api.get(f"results/{result_id}/files/nothing.bin"), 404),
        (api.get("no-such-endpoint"), 404),
        (api.request("HEAD", "no-such-endpoint"), 404),
        (api.request("PUT", f"results/{result_id}"), 405),
        (api.request("DELETE", "submissions/"), 405),
        (api.post("submissions", json=EXAMPLE, headers={"Idempotency-Key": "k"}), 202),
        (api.post("submissions", json={**EXAMPLE, "name": "other"}, headers={"Idempotency-Key": "k"}), 422),
        (api.patch(f"results/{result_id}", json={"is_shared": "yes"}), 422),
        (api.patch(f"results/{result_id}", data=b'{"name": "x"}', headers={"Content-Type": "text/plain"}), 415),
        (api.patch(f"results/{result_id}", data=b"x" * (5 * 1024 * 1024 + 1),
                   headers={"Content-Type": "application/json"}), 413),
        (control.get(f"submissions/{submission_id}/wait", params={"timeout": "soon"}), 400),
        (control.get(f"submissions/{MISSING_ID}/wait"), 404),
        (control.post(f"submissions/{submission_id}/cancel"), 409),
        (control.post("clock", json={"action": "rewind"}), 422),
        (control.patch("accounts/acct_nobody", json={"name": "x"}), 404),
        (control.request("PUT", "clock"), 405),
        (control.get("no-such-thing"), 404),
    ]
    queued = api.create()["id"]
    cases.append((control.get(f"submissions/{queued}/wait", params={"status": "succeeded", "timeout": 0}), 408))
    control.patch("accounts/acct_default", json={"credits": 0})
    cases.append((api.post("submissions", json=EXAMPLE), 402))
    cases.append((api.post(f"results/{result_id}/continue"), 402))
    control.post("faults", json={"path": "/api/v1/results*", "status": 429, "count": 1})
    cases.append((api.get("results"), 429))
    control.post("faults", json={"method": "POST", "path": "/api/v1/submissions", "status": 503, "count": 1})
    cases.append((api.post("submissions", json=EXAMPLE), 503))
    cases.append((control.delete("faults/fault_nothing"), 404))
    cases.append((control.get("requests", params={"limit": 0}), 400))
    cases.append((control.request("PUT", "snapshot", json={"schema_version": 999, "tables": {}}), 422))
    for response, status in cases:
        assert response.status_code == status, (response.request.method, response.request.url, response.text)
    assert {400, 401, 402, 403, 404, 405, 408, 409, 413, 415, 422, 429, 503} <= recorder.statuses()


@pytest.mark.slow
def test_checker_accepts_a_failed_run_its_log_and_the_conflict_of_a_continue(checked_api, checked_control):
    submission_id = checked_api.create(fitness_func=FAILS_AT_ONCE)["id"]
    assert checked_control.post(f"submissions/{submission_id}/advance", json={"to": "run"}).status_code == 200
    failed = checked_control.get(f"submissions/{submission_id}/wait", params={"timeout": 60})
    assert failed.json()["status"] == "failed" and failed.json()["error"]["code"] == "fitness_error"
    assert failed.json()["result_id"] is None, "a run that did not succeed has no result (contract §7)"
    assert checked_control.get(f"submissions/{submission_id}/log").status_code == 200
    imported = checked_api.post("imports/", json={**IMPORT_BODY, "result": {
        name: value for name, value in IMPORT_BODY["result"].items() if name != "population"}})
    conflict = checked_api.post(f"results/{imported.json()['result_id']}/continue", json={})
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "conflict"
    assert "Retry-After" not in conflict.headers


# ---------------------------------------------------------------------- the checker rejects drift

@pytest.fixture
def real(api, control) -> dict[str, requests.Response]:
    """Real responses to doctor; each passes the checker as it is."""
    submission_id = api.create()["id"]
    control.succeed(submission_id, best_solution_fitness=[1.5, -0.2])
    result_id = api.get(f"submissions/{submission_id}").json()["result_id"]
    return {
        "detail": api.get(f"submissions/{submission_id}"),
        "created": api.post("submissions", json=EXAMPLE),
        "list": api.get("submissions", params={"page_size": 1}),
        "result": api.get(f"results/{result_id}"),
        "download": api.get(f"results/{result_id}/files/fitness.svg"),
        "deleted": api.delete(f"results/{result_id}"),
        "not_found": api.get(f"submissions/{MISSING_ID}"),
        "wrong_method": api.request("PUT", "submissions"),
        "unknown_path": api.get("no-such-endpoint"),
    }


def doctored(response: requests.Response, *, body=None, status: int | None = None, headers: dict | None = None,
             drop_headers: tuple[str, ...] = (), method: str | None = None, path: str | None = None,
             raw: bytes | None = None) -> requests.Response:
    """A copy of ``response`` with the given parts replaced."""
    fake = requests.Response()
    fake.status_code = response.status_code if status is None else status
    fake.headers = CaseInsensitiveDict(response.headers)
    for name in drop_headers:
        del fake.headers[name]
    fake.headers.update(headers or {})
    fake._content = raw if raw is not None else (response.content if body is None else json.dumps(body).encode())
    url = response.request.url
    if path is not None:
        url = urlsplit(url)._replace(path=path, query="").geturl()
    fake.request = requests.Request(method or response.request.method, url).prepare()
    fake.url = url
    return fake


def changed(response: requests.Response, change) -> dict:
    body = copy.deepcopy(response.json())
    change(body)
    return body


REJECTED = {
    "missing required field": ("detail", lambda r: {"body": changed(r, lambda b: b.pop("progress"))}, "progress"),
    "missing field of a list row": ("list", lambda r: {"body": changed(r, lambda b: b["results"][0].pop("source"))},
                                    "source"),
    "fitness as a number (contract §14)": (
        "result", lambda r: {"body": changed(r, lambda b: b.update(best_solution_fitness=4.8))}, "4.8"),
    "timestamp with fractions": (
        "detail", lambda r: {"body": changed(r, lambda b: b.update(created_at="2026-05-01T12:34:56.5Z"))},
        "created_at"),
    "id of 11 characters": ("created", lambda r: {"body": changed(r, lambda b: b.update(id="abcDEF12345"))},
                            "abcDEF12345"),
    "status outside the enum": ("detail", lambda r: {"body": changed(r, lambda b: b.update(status="done"))},
                                "done"),
    "null where not nullable": ("result", lambda r: {"body": changed(r, lambda b: b.update(is_shared=None))},
                                "is_shared"),
    "relative next link": ("list", lambda r: {"body": changed(r, lambda b: b.update(next="?cursor=abc"))},
                           "next"),
    "undocumented status": ("created", lambda r: {"status": 201}, "201"),
    "missing X-Request-Id": ("detail", lambda r: {"drop_headers": ("X-Request-Id",)}, "X-Request-Id"),
    "malformed X-Request-Id": ("detail", lambda r: {"headers": {"X-Request-Id": "abc"}}, "X-Request-Id"),
    "another emulator version": ("detail", lambda r: {"headers": {"X-Vilvik-Emulator": "9.9.9"}},
                                 "X-Vilvik-Emulator"),
    "replay header with another value": ("created", lambda r: {"headers": {"Idempotent-Replayed": "yes"}},
                                         "Idempotent-Replayed"),
    "error without request_id": ("not_found", lambda r: {"body": changed(r, lambda b: b["error"].pop("request_id"))},
                                 "request_id"),
    "error code of another status": (
        "not_found", lambda r: {"body": changed(r, lambda b: b["error"].update(code="conflict"))}, "conflict"),
    "error details empty": ("not_found", lambda r: {"body": changed(r, lambda b: b["error"].update(details=[]))},
                            "details"),
    "not the error envelope": ("not_found", lambda r: {"body": {"detail": "Not found."}}, "error"),
    "unknown path answering 200": ("unknown_path", lambda r: {"status": 200}, "no documented path"),
    "undocumented method answering 200": ("wrong_method", lambda r: {"status": 200}, "not documented"),
    "405 with a wrong Allow": ("wrong_method", lambda r: {"headers": {"Allow": "GET, HEAD, OPTIONS"}}, "Allow"),
    "405 without Allow": ("wrong_method", lambda r: {"drop_headers": ("Allow",)}, "Allow"),
    "204 with a body": ("deleted", lambda r: {"raw": b"{}"}, "without a body"),
    "HTML instead of JSON": ("detail", lambda r: {"headers": {"Content-Type": "text/html"}}, "text/html"),
    "body that is not JSON": ("detail", lambda r: {"raw": b"<html></html>"}, "not JSON"),
    "download without Content-Disposition": ("download", lambda r: {"drop_headers": ("Content-Disposition",)},
                                             "Content-Disposition"),
    "detail answered on a list path": ("detail", lambda r: {"path": "/api/v1/submissions/"}, "results"),
}


@pytest.mark.parametrize("case", list(REJECTED), ids=list(REJECTED))
def test_checker_rejects_drift(real, openapi_checker, case):
    source, doctor, expected = REJECTED[case]
    response = real[source]
    openapi_checker.check(response)  # the untouched response is fine...
    bad = doctored(response, **doctor(response))
    with pytest.raises(AssertionError) as failure:
        openapi_checker.check(bad)  # ...the doctored one is not
    message = str(failure.value)
    assert expected in message, message
    assert message.startswith(f"{bad.request.method} {urlsplit(bad.request.url).path} -> {bad.status_code}: ")


def test_checker_tolerates_additions_and_both_slash_forms(real, openapi_checker):
    detail = real["detail"]
    openapi_checker.check(doctored(detail, body=changed(detail, lambda b: b.update(new_field={"any": 1}))))
    result = real["result"]
    openapi_checker.check(doctored(result, body=changed(result, lambda b: b["files"][0].update(sha256="ab"))))
    path = urlsplit(detail.request.url).path
    openapi_checker.check(doctored(detail, path=path + "/"))
    listing = real["list"]
    openapi_checker.check(doctored(listing, path="/api/v1/submissions"))
    openapi_checker.check(doctored(listing, path="/api/v1/submissions/"))


def test_checker_leaves_paths_outside_the_api_alone(real, openapi_checker):
    openapi_checker.check(doctored(real["detail"], path="/dashboard/", status=200, raw=b"<html></html>",
                                   headers={"Content-Type": "text/html"}))


def test_checker_reports_method_path_status_and_schema_error(real, openapi_checker):
    response = doctored(real["detail"], body=changed(real["detail"], lambda b: b.update(status="done")))
    with pytest.raises(AssertionError) as failure:
        openapi_checker.check(response)
    message = str(failure.value)
    path = urlsplit(response.request.url).path
    assert message.startswith(f"GET {path} -> 200: "), message
    assert "$.status" in message and "'done' is not one of" in message, message
