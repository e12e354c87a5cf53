"""Contract §1 (general conventions) and §3 (the error envelope) over real HTTP.

Paths answer in both slash forms without redirects; JSON bodies carry
``application/json; charset=utf-8``; every response (errors included) carries
``X-Request-Id`` and ``X-Vilvik-Emulator``; unknown paths, wrong methods, bad bodies
and bad fields get the documented status, code and JSON envelope; a rejected request
creates nothing.
"""

from __future__ import annotations

import json
import re

import pytest
from helpers import EXAMPLE, submission_ids

pytestmark = pytest.mark.vilvik_mode("manual")

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
REQUEST_ID = re.compile(r"^req_[A-Za-z0-9]{20}$")
MISSING_ID = "abcDEF123456"
FIVE_MIB = 5 * 1024 * 1024


@pytest.fixture
def finished(api, control) -> dict:
    """A submission finished with a canned result: ``{"submission": id, "result": id}``."""
    submission_id = api.create()["id"]
    control.succeed(submission_id, best_solution_fitness=1.5)
    rows = api.get("results", params={"submission_id": submission_id}).json()["results"]
    assert len(rows) == 1, rows
    return {"submission": submission_id, "result": rows[0]["id"]}



def assert_error(response, status: int, code: str) -> dict:
    """The response is the §3 envelope with this status and code; returns ``error``."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == JSON_CONTENT_TYPE
    error = response.json()["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"], error
    assert error["request_id"] == response.headers["X-Request-Id"]
    return error


def post_raw(api, path: str, payload: bytes, content_type: str | None = "application/json"):
    headers = {"Content-Type": content_type} if content_type else {}
    return api.post(path, data=payload, headers=headers)


# ---------------------------------------------------------------------- trailing slash, no redirect

@pytest.mark.parametrize("slash", ["", "/"], ids=["no-slash", "slash"])
@pytest.mark.parametrize("template, kind, shape", [
    ("submissions", "submission", "list"),
    ("submissions/{submission}", "submission", "item"),
    ("results", "result", "list"),
    ("results/{result}", "result", "item"),
])
def test_get_answers_both_slash_forms_directly(api, finished, template, kind, shape, slash):
    response = api.get(template.format(**finished) + slash, allow_redirects=False)
    assert response.status_code == 200, response.text
    assert "Location" not in response.headers
    body = response.json()
    if shape == "list":
        assert [row["id"] for row in body["results"]] == [finished[kind]]
    else:
        assert body["id"] == finished[kind]


@pytest.mark.parametrize("slash", ["", "/"], ids=["no-slash", "slash"])
def test_create_answers_both_slash_forms_directly(api, slash):
    response = api.post("submissions" + slash, json=EXAMPLE, allow_redirects=False)
    assert response.status_code == 202, response.text
    assert "Location" not in response.headers
    assert submission_ids(api) == [response.json()["id"]]


@pytest.mark.parametrize("slash", ["", "/"], ids=["no-slash", "slash"])
@pytest.mark.parametrize("template, parent_field, parent", [
    ("submissions/{submission}/reexecute", "parent_submission_id", "submission"),
    ("results/{result}/continue", "parent_result_id", "result"),
])
def test_item_post_answers_both_slash_forms_directly(api, finished, template, parent_field, parent, slash):
    response = api.post(template.format(**finished) + slash, json={"num_generations": 3}, allow_redirects=False)
    assert response.status_code == 202, response.text
    assert "Location" not in response.headers
    child = api.get(f"submissions/{response.json()['id']}").json()
    assert child[parent_field] == finished[parent]


@pytest.mark.parametrize("slash", ["", "/"], ids=["no-slash", "slash"])
def test_patch_and_delete_answer_both_slash_forms_directly(api, finished, slash):
    patched = api.patch(f"results/{finished['result']}{slash}", json={"name": "renamed"}, allow_redirects=False)
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "renamed"
    deleted = api.delete(f"submissions/{finished['submission']}{slash}", allow_redirects=False)
    assert deleted.status_code == 204, deleted.text
    assert "Location" not in deleted.headers
    assert submission_ids(api) == []


# ---------------------------------------------------------------------- bodies and headers

def _requests_of_every_kind(api, finished) -> dict:
    """One response per kind of outcome the API produces (success and each error family)."""
    return {
        "200 list": api.get("submissions"),
        "200 detail": api.get(f"submissions/{finished['submission']}"),
        "200 health": api.get("health", key=None),
        "202 create": api.post("submissions", json=EXAMPLE),
        "400 invalid_json": post_raw(api, "submissions", b"{not json"),
        "401 unauthorized": api.get("submissions", key=None),
        "404 missing id": api.get(f"submissions/{MISSING_ID}"),
        "404 unknown path": api.get("no-such-endpoint"),
        "405 wrong method": api.request("PUT", "submissions/"),
        "413 too large": post_raw(api, "submissions", b'{"description": "' + b"x" * FIVE_MIB + b'"}'),
        "415 wrong media type": post_raw(api, "submissions", json.dumps(EXAMPLE).encode(), "text/plain"),
        "422 validation": api.post("submissions", json={**EXAMPLE, "num_genes": "5"}),
        "204 delete": api.delete(f"submissions/{finished['submission']}"),
    }


def test_every_response_carries_request_id_and_emulator_identity(api, control, finished):
    version = control.health()["version"]
    responses = _requests_of_every_kind(api, finished)
    seen = set()
    for kind, response in responses.items():
        assert response.status_code == int(kind.split()[0]), (kind, response.text)
        request_id = response.headers.get("X-Request-Id", "")
        assert REQUEST_ID.match(request_id), (kind, request_id)
        assert response.headers.get("X-Vilvik-Emulator") == version, kind
        if response.status_code >= 400:
            assert response.json()["error"]["request_id"] == request_id, kind
        seen.add(request_id)
    assert len(seen) == len(responses), "request ids must be unique per response"


def test_json_responses_use_json_content_type_with_charset(api, finished):
    for kind, response in _requests_of_every_kind(api, finished).items():
        if response.status_code == 204:
            continue
        assert response.headers["Content-Type"] == JSON_CONTENT_TYPE, kind
        response.json()


def test_openapi_document_is_json_with_charset(api):
    response = api.get("openapi.json", key=None)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == JSON_CONTENT_TYPE
    assert isinstance(response.json(), dict)


def test_no_content_has_an_empty_body(api, finished):
    responses = [api.delete(f"results/{finished['result']}"), api.delete(f"submissions/{finished['submission']}")]
    for response in responses:
        assert response.status_code == 204, response.text
        assert response.content == b""
        assert REQUEST_ID.match(response.headers["X-Request-Id"])


def test_health_reports_the_emulator_version(api, control):
    response = api.get("health", key=None)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": control.health()["version"]}
    assert response.headers["X-Vilvik-Emulator"] == response.json()["version"]


# ---------------------------------------------------------------------- unknown paths and methods

@pytest.mark.parametrize("method, path", [
    ("GET", "no-such-endpoint"),
    ("POST", "no-such-endpoint/"),
    ("GET", f"submissions/{MISSING_ID}/no-such-child"),
    ("DELETE", f"results/{MISSING_ID}/files/log.txt/extra"),
    ("GET", ""),
])
def test_unknown_path_is_a_json_404(api, method, path):
    response = api.request(method, path, allow_redirects=False)
    error = assert_error(response, 404, "not_found")
    assert "<html" not in response.text.lower()
    assert "details" not in error


@pytest.mark.parametrize("method, path, allowed", [
    ("PUT", "submissions", {"GET", "POST"}),
    ("PUT", "submissions/", {"GET", "POST"}),
    ("DELETE", "submissions", {"GET", "POST"}),
    ("PATCH", "submissions/", {"GET", "POST"}),
    ("PUT", f"submissions/{MISSING_ID}", {"GET", "PATCH", "DELETE"}),
    ("POST", f"submissions/{MISSING_ID}/", {"GET", "PATCH", "DELETE"}),
    ("GET", f"submissions/{MISSING_ID}/reexecute", {"POST"}),
    ("PATCH", "results", {"GET"}),
    ("POST", "results/", {"GET"}),
    ("POST", f"results/{MISSING_ID}", {"GET", "PATCH", "DELETE"}),
    ("GET", f"results/{MISSING_ID}/continue", {"POST"}),
    ("DELETE", f"results/{MISSING_ID}/files/log.txt", {"GET"}),
    ("POST", "health", {"GET"}),
])
def test_wrong_method_is_405_with_allow(api, method, path, allowed):
    response = api.request(method, path, allow_redirects=False)
    assert_error(response, 405, "method_not_allowed")
    listed = {item.strip() for item in response.headers.get("Allow", "").split(",") if item.strip()}
    assert listed - {"HEAD", "OPTIONS"} == allowed, response.headers.get("Allow")
    assert method not in listed


# ---------------------------------------------------------------------- bodies that are not a JSON object

@pytest.mark.parametrize("payload", [
    b"{not json",
    b'{"num_genes": 5,}',
    b'{"num_genes": 5',
    b"'single quotes'",
    b'{"name": "\xff\xfe"}',
    b"[1, 2, 3]",
    b'[{"num_genes": 5}]',
    b'"a string"',
    b"42",
    b"3.5",
    b"true",
    b"null",
    b'{"num_genes": 5, "init_range_low": NaN}',
    b'{"num_genes": 5, "init_range_high": Infinity}',
    b'{"num_genes": 5, "init_range_low": -Infinity}',
], ids=lambda payload: payload.decode("latin-1"))
def test_body_that_is_not_a_json_object_is_400_invalid_json(api, payload):
    response = post_raw(api, "submissions", payload)
    assert_error(response, 400, "invalid_json")
    assert submission_ids(api) == []


@pytest.mark.parametrize("payload", [b"[]", b"NaN", b"{bad"])
def test_reexecute_body_that_is_not_a_json_object_is_400(api, payload):
    parent = api.create()["id"]
    response = post_raw(api, f"submissions/{parent}/reexecute", payload)
    assert_error(response, 400, "invalid_json")
    assert submission_ids(api) == [parent]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_body_without_json_content_type_is_415(api, content_type):
    response = post_raw(api, "submissions", json.dumps(EXAMPLE).encode(), content_type)
    assert_error(response, 415, "unsupported_media_type")
    assert submission_ids(api) == []


def test_json_content_type_with_charset_is_accepted(api):
    response = post_raw(api, "submissions", json.dumps(EXAMPLE).encode(), "application/json; charset=utf-8")
    assert response.status_code == 202, response.text


def test_body_over_five_mib_is_413_and_creates_nothing(api):
    padding = "x" * (FIVE_MIB + 1)
    payload = json.dumps({**EXAMPLE, "description": padding}).encode()
    response = post_raw(api, "submissions", payload)
    assert_error(response, 413, "payload_too_large")
    assert submission_ids(api) == []


# ---------------------------------------------------------------------- 422 validation_failed

def assert_validation_failed(api, response, fields: set[str]) -> list[dict]:
    error = assert_error(response, 422, "validation_failed")
    details = error["details"]
    for item in details:
        assert set(item) == {"field", "message"}, item
        assert isinstance(item["field"], str) and item["field"]
        assert isinstance(item["message"], str) and item["message"]
    assert {item["field"] for item in details} == fields, details
    assert submission_ids(api) == [], "a rejected request must create nothing"
    return details


@pytest.mark.parametrize("overrides, fields", [
    ({"num_genes": "5"}, {"num_genes"}),
    ({"num_genes": True}, {"num_genes"}),
    ({"num_genes": 1.5}, {"num_genes"}),
    ({"num_genes": None}, {"num_genes"}),
    ({"num_genes": 0}, {"num_genes"}),
    ({"name": 5}, {"name"}),
    ({"name": "n" * 201}, {"name"}),
    ({"sol_per_pop": 1, "num_parents_mating": 1}, {"sol_per_pop"}),
    ({"num_generations": "100"}, {"num_generations"}),
    ({"num_parents_mating": 11}, {"num_parents_mating"}),
    ({"visibility": "secret"}, {"visibility"}),
    ({"num_genes": "5", "name": 5, "num_generations": 0}, {"num_genes", "name", "num_generations"}),
], ids=lambda value: json.dumps(value) if isinstance(value, dict) else None)
def test_wrong_field_values_are_422_naming_each_field(api, overrides, fields):
    response = api.post("submissions", json={**EXAMPLE, **overrides})
    assert_validation_failed(api, response, fields)


def test_missing_num_genes_is_422(api):
    body = {name: value for name, value in EXAMPLE.items() if name != "num_genes"}
    assert_validation_failed(api, api.post("submissions", json=body), {"num_genes"})


def test_unknown_fields_are_422_naming_each(api):
    response = api.post("submissions", json={**EXAMPLE, "colour": "red", "num_gens": 5})
    details = assert_validation_failed(api, response, {"colour", "num_gens"})
    assert all("known" in item["message"] for item in details)


def test_fitness_func_without_entry_is_422(api):
    body = {name: value for name, value in EXAMPLE.items() if name != "fitness_func_entry"}
    assert_validation_failed(api, api.post("submissions", json=body), {"fitness_func_entry"})


def test_callback_without_entry_is_422(api):
    response = api.post("submissions", json={**EXAMPLE, "on_generation": "def cb(ga):\n    pass\n"})
    assert_validation_failed(api, response, {"on_generation_entry"})


BROKEN_AT_LINE_3 = '''\
def fitness_func(ga_instance, solution, solution_idx):
    total = sum(solution)
    return total +
'''


def test_code_that_does_not_compile_is_422_with_line_number(api):
    response = api.post("submissions", json={**EXAMPLE, "fitness_func": BROKEN_AT_LINE_3})
    details = assert_validation_failed(api, response, {"fitness_func"})
    assert "line 3" in details[0]["message"], details
    assert "line 3" in response.json()["error"]["message"]


def test_callback_that_does_not_compile_is_422_with_line_number(api):
    source = "def on_gen(ga):\n\n    if True\n        pass\n"
    response = api.post("submissions", json={**EXAMPLE, "on_generation": source, "on_generation_entry": "on_gen"})
    details = assert_validation_failed(api, response, {"on_generation"})
    assert "line 3" in details[0]["message"], details


NESTED_ONLY = '''\
def outer():
    def fitness_func(ga_instance, solution, solution_idx):
        return 0
    return fitness_func

THRESHOLD = 3
'''


@pytest.mark.parametrize("source, entry", [
    (EXAMPLE["fitness_func"], "fitness"),
    (NESTED_ONLY, "fitness_func"),
    (NESTED_ONLY, "THRESHOLD"),
], ids=["absent", "nested-def", "assignment"])
def test_entry_naming_no_top_level_definition_is_422(api, source, entry):
    response = api.post("submissions", json={**EXAMPLE, "fitness_func": source, "fitness_func_entry": entry})
    details = assert_validation_failed(api, response, {"fitness_func_entry"})
    assert entry in details[0]["message"]
