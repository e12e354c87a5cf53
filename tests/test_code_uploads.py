"""Code uploads (contract §9): reusable source blobs that submissions reference by id.

Create through the SDK and over raw HTTP (201 shape, size in UTF-8 bytes, SHA-256,
seven-day expiry on the emulator's clock), fetch (adds ``content``), the cursor-paginated
list, submissions that reference an upload with ``<role>_id`` + ``<role>_entry`` (and
really run it), and every way such a reference is refused: no entry, expired, another
account's upload, both inline source and an id; scopes and the account boundary.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import vilvik
from helpers import SPHERE, assert_validation_failed, error_code, submission_ids

#: non-ASCII on purpose: the size is counted in UTF-8 bytes, not characters
SOURCE = '''\
# Sphäre — the classic test function: higher is better, the optimum is 0.
def fitness_func(ga_instance, solution, solution_idx):
    return -sum(x * x for x in solution)
'''

#: an on_generation callback that ends the run after three generations
STOP_AFTER_THREE = '''\
def on_generation(ga_instance):
    if ga_instance.generations_completed >= 3:
        return "stop"
'''

UPLOAD_FIELDS = {"code_id", "content_size", "content_sha256", "created_at", "expires_at", "is_expired"}
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
SMALL = {"num_genes": 3, "num_generations": 6, "sol_per_pop": 6, "num_parents_mating": 2, "random_seed": 5}


def parse(timestamp: str) -> datetime:
    assert TIMESTAMP.match(timestamp), timestamp
    return datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def upload(api, content: str = SOURCE) -> dict:
    response = api.post("code-uploads/", json={"content": content})
    assert response.status_code == 201, response.text
    return response.json()




# ---------------------------------------------------------------------- create, fetch, list


def test_create_over_http_answers_201_with_the_documented_shape(api, control):
    before = parse(control.clock()["now"])
    response = api.post("code-uploads/", json={"content": SOURCE})

    assert response.status_code == 201, response.text
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    body = response.json()
    assert set(body) == UPLOAD_FIELDS
    assert isinstance(body["code_id"], str) and body["code_id"]
    encoded = SOURCE.encode("utf-8")
    assert len(encoded) > len(SOURCE)  # the fixture really is multi-byte
    assert body["content_size"] == len(encoded)
    assert body["content_sha256"] == hashlib.sha256(encoded).hexdigest()
    created = parse(body["created_at"])
    assert before <= created <= parse(control.clock()["now"])
    assert parse(body["expires_at"]) - created == timedelta(days=7)
    assert body["is_expired"] is False


def test_create_through_the_sdk(vilvik_client):
    created = vilvik_client.code_uploads.create(content=SOURCE)

    assert isinstance(created, vilvik.CodeUpload)
    assert created.code_id
    assert created.content is None  # the create answer carries no content
    assert created.content_size == len(SOURCE.encode("utf-8"))
    assert created.content_sha256 == hashlib.sha256(SOURCE.encode("utf-8")).hexdigest()
    assert created.expires_at - created.created_at == timedelta(days=7)
    assert created.is_expired is False

    fetched = vilvik_client.code_uploads.get(created.code_id)
    assert fetched.code_id == created.code_id
    assert fetched.content == SOURCE
    assert fetched.content_size == created.content_size
    assert fetched.content_sha256 == created.content_sha256
    assert fetched.created_at == created.created_at and fetched.expires_at == created.expires_at


def test_get_adds_the_content(api):
    created = upload(api)

    for path in (f"code-uploads/{created['code_id']}", f"code-uploads/{created['code_id']}/"):
        response = api.get(path)
        assert response.status_code == 200, response.text
        assert response.json() == {**created, "content": SOURCE}


def test_both_collection_forms_answer_without_a_redirect(api):
    for path in ("code-uploads", "code-uploads/"):
        response = api.post(path, json={"content": SPHERE}, allow_redirects=False)
        assert response.status_code == 201, response.text
        listed = api.get(path, allow_redirects=False)
        assert listed.status_code == 200, listed.text


def test_list_pages_with_cursors_newest_first(api):
    created = [upload(api, f"{SPHERE}\n# version {index}\n")["code_id"] for index in range(5)]

    walked, rows = [], []
    url = "code-uploads/"
    params = {"page_size": 2}
    while url:
        response = api.get(url, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"results", "next", "previous"}
        assert len(page["results"]) <= 2
        rows.extend(page["results"])
        walked.append([row["code_id"] for row in page["results"]])
        url, params = page["next"], None
        if url is not None:
            assert url.startswith(api.base_url + "/code-uploads/"), url
            query = parse_qs(urlsplit(url).query)
            assert query["cursor"] and query["page_size"] == ["2"], url

    assert walked == [created[::-1][0:2], created[::-1][2:4], created[::-1][4:5]]
    for row in rows:
        assert set(row) == UPLOAD_FIELDS, row  # list rows carry no content
        assert row["is_expired"] is False


def test_sdk_list_follows_the_cursor(vilvik_client):
    created = [vilvik_client.code_uploads.create(content=f"{SPHERE}\n# {index}\n").code_id for index in range(3)]

    first = vilvik_client.code_uploads.list(limit=2)
    assert [item.code_id for item in first] == created[::-1][:2]
    assert first.next_cursor
    second = vilvik_client.code_uploads.list(limit=2, cursor=first.next_cursor)
    assert [item.code_id for item in second] == created[::-1][2:]
    assert second.next_cursor is None


def test_the_list_shows_only_this_accounts_uploads(api, other_account):
    mine = upload(api)["code_id"]
    theirs = upload(other_account)["code_id"]

    assert [row["code_id"] for row in api.get("code-uploads/").json()["results"]] == [mine]
    assert [row["code_id"] for row in other_account.get("code-uploads/").json()["results"]] == [theirs]


@pytest.mark.parametrize("body, field", [
    ({}, "content"),
    ({"content": ""}, "content"),
    ({"content": "   \n"}, "content"),
    ({"content": 42}, "content"),
    ({"content": SPHERE, "role": "fitness_func"}, "role"),
], ids=["missing", "empty", "blank", "not-a-string", "unknown-field"])
def test_create_validation(api, body, field):
    response = api.post("code-uploads/", json=body)

    assert_validation_failed(response, field)
    assert api.get("code-uploads/").json()["results"] == []


def test_create_with_a_body_that_is_not_json_is_400(api):
    response = api.post("code-uploads/", data="{", headers={"Content-Type": "application/json"})

    assert response.status_code == 400, response.text
    assert error_code(response) == "invalid_json"


def test_unknown_upload_is_404(api, vilvik_client):
    response = api.get("code-uploads/code_doesnotexist")

    assert response.status_code == 404, response.text
    assert error_code(response) == "not_found"
    with pytest.raises(vilvik.NotFoundError):
        vilvik_client.code_uploads.get("code_doesnotexist")


# ---------------------------------------------------------------------- referenced by submissions


def test_a_submission_runs_the_uploaded_fitness_function(api, control):
    code_id = upload(api)["code_id"]

    response = api.post("submissions/", json={**SMALL, "fitness_func_id": code_id,
                                               "fitness_func_entry": "fitness_func"})

    assert response.status_code == 202, response.text
    detail = control.wait(response.json()["id"])
    assert detail["status"] == "succeeded", detail["error"]
    assert detail["code"]["fitness_func"] == SOURCE
    assert detail["code"]["fitness_func_entry"] == "fitness_func"
    assert detail["code"].get("fitness_func_id") in (None, code_id)
    fetched = api.get(f"submissions/{detail['id']}").json()
    assert fetched["code"]["fitness_func"] == SOURCE
    result = api.get(f"results/{detail['result_id']}").json()
    assert float(result["best_solution_fitness"]) == pytest.approx(-sum(x * x for x in result["best_solution"]))


def test_an_upload_works_through_the_sdk(vilvik_client, control):
    code_id = vilvik_client.code_uploads.create(content=SOURCE).code_id

    submission = vilvik_client.submissions.create(fitness_func_id=code_id, fitness_func_entry="fitness_func",
                                                  **SMALL)

    assert control.wait(submission.id)["status"] == "succeeded"


def test_on_generation_id_references_a_callback_upload(api, control):
    callback_id = upload(api, STOP_AFTER_THREE)["code_id"]

    response = api.post("submissions/", json={
        **SMALL, "num_generations": 20, "fitness_func": SPHERE, "fitness_func_entry": "fitness_func",
        "on_generation_id": callback_id, "on_generation_entry": "on_generation"})

    assert response.status_code == 202, response.text
    detail = control.wait(response.json()["id"])
    assert detail["status"] == "succeeded", detail["error"]
    assert detail["code"]["on_generation"] == STOP_AFTER_THREE
    result = api.get(f"results/{detail['result_id']}").json()
    assert result["generations_completed"] == 3
    assert result["stopped_reason"] == "on_generation"


def test_one_upload_can_serve_several_submissions(api, control):
    code_id = upload(api)["code_id"]

    created = [api.post("submissions/", json={**SMALL, "fitness_func_id": code_id,
                                               "fitness_func_entry": "fitness_func"}) for _ in range(2)]

    for response in created:
        assert response.status_code == 202, response.text
        assert control.wait(response.json()["id"])["status"] == "succeeded"


@pytest.mark.vilvik_mode("manual")
def test_an_upload_without_its_entry_is_422(api):
    code_id = upload(api)["code_id"]

    response = api.post("submissions/", json={**SMALL, "fitness_func_id": code_id})

    error = assert_validation_failed(response, "fitness_func_id")  # the field that was sent is the one named
    assert "fitness_func_entry" in error["message"]
    assert submission_ids(api) == []


@pytest.mark.vilvik_mode("manual")
def test_an_entry_the_upload_does_not_define_is_422(api):
    code_id = upload(api)["code_id"]

    response = api.post("submissions/", json={**SMALL, "fitness_func_id": code_id,
                                               "fitness_func_entry": "not_there"})

    assert_validation_failed(response, "fitness_func_entry")
    assert submission_ids(api) == []


@pytest.mark.vilvik_mode("manual")
def test_an_expired_upload_shows_it_and_cannot_be_referenced(api, control):
    created = upload(api)
    control.clock_advance(7 * 24 * 3600)

    fetched = api.get(f"code-uploads/{created['code_id']}")
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["is_expired"] is True
    assert fetched.json()["expires_at"] == created["expires_at"]
    (row,) = api.get("code-uploads/").json()["results"]
    assert row["is_expired"] is True

    response = api.post("submissions/", json={**SMALL, "fitness_func_id": created["code_id"],
                                               "fitness_func_entry": "fitness_func"})

    error = assert_validation_failed(response, "fitness_func_id")
    assert "expired" in " ".join(detail["message"] for detail in error["details"])
    assert submission_ids(api) == []


@pytest.mark.vilvik_mode("manual")
def test_an_upload_is_still_valid_just_before_it_expires(api, control):
    created = upload(api)
    control.clock_advance(7 * 24 * 3600 - 60)

    assert api.get(f"code-uploads/{created['code_id']}").json()["is_expired"] is False
    response = api.post("submissions/", json={**SMALL, "fitness_func_id": created["code_id"],
                                               "fitness_func_entry": "fitness_func"})
    assert response.status_code == 202, response.text


@pytest.mark.vilvik_mode("manual")
def test_another_accounts_upload_is_not_found(api, other_account):
    theirs = upload(other_account)["code_id"]

    response = api.post("submissions/", json={**SMALL, "fitness_func_id": theirs,
                                               "fitness_func_entry": "fitness_func"})

    error = assert_validation_failed(response, "fitness_func_id")
    message = next(detail["message"] for detail in error["details"] if detail["field"] == "fitness_func_id")
    unknown = api.post("submissions/", json={**SMALL, "fitness_func_id": "code_doesnotexist",
                                              "fitness_func_entry": "fitness_func"}).json()["error"]
    unknown_message = next(detail["message"] for detail in unknown["details"] if detail["field"] == "fitness_func_id")
    # the same answer as for an id that does not exist: nothing tells the upload is someone else's
    assert message.replace(theirs, "<id>") == unknown_message.replace("code_doesnotexist", "<id>")
    assert submission_ids(api) == []
    fetched = api.get(f"code-uploads/{theirs}")
    assert fetched.status_code == 404, fetched.text
    assert error_code(fetched) == "not_found"
    missing = api.get("code-uploads/code_doesnotexist").json()["error"]
    assert fetched.json()["error"]["message"] == missing["message"]  # indistinguishable from a missing id


@pytest.mark.vilvik_mode("manual")
def test_an_unknown_upload_id_is_422(api):
    response = api.post("submissions/", json={**SMALL, "fitness_func_id": "code_doesnotexist",
                                               "fitness_func_entry": "fitness_func"})

    assert_validation_failed(response, "fitness_func_id")
    assert submission_ids(api) == []


@pytest.mark.vilvik_mode("manual")
def test_inline_source_and_an_upload_id_together_are_422(api):
    code_id = upload(api)["code_id"]

    response = api.post("submissions/", json={**SMALL, "fitness_func": SPHERE, "fitness_func_id": code_id,
                                               "fitness_func_entry": "fitness_func"})

    assert_validation_failed(response, "fitness_func")
    assert submission_ids(api) == []


# ---------------------------------------------------------------------- auth and scopes


def test_uploads_need_a_key(api):
    for method, path, kwargs in (("POST", "code-uploads/", {"json": {"content": SPHERE}}),
                                 ("GET", "code-uploads/", {}), ("GET", "code-uploads/code_x", {})):
        response = api.request(method, path, key=None, **kwargs)
        assert response.status_code == 401, (method, path, response.text)
        assert error_code(response) == "unauthorized"


def test_scopes(api, control):
    created = upload(api)
    read_only = control.create_key(scopes=["code-uploads:read"])["key"]
    write_only = control.create_key(scopes=["code-uploads:write"])["key"]
    unrelated = control.create_key(scopes=["submissions:read", "submissions:write"])["key"]

    denied = [
        (read_only, "POST", "code-uploads/", {"json": {"content": SPHERE}}, "code-uploads:write"),
        (write_only, "GET", "code-uploads/", {}, "code-uploads:read"),
        (write_only, "GET", f"code-uploads/{created['code_id']}", {}, "code-uploads:read"),
        (unrelated, "POST", "code-uploads/", {"json": {"content": SPHERE}}, "code-uploads:write"),
        (unrelated, "GET", "code-uploads/", {}, "code-uploads:read"),
    ]
    for key, method, path, kwargs, scope in denied:
        response = api.request(method, path, key=key, **kwargs)
        assert response.status_code == 403, (scope, response.text)
        assert error_code(response) == "scope_required"
        assert scope in response.json()["error"]["message"]

    assert api.post("code-uploads/", key=write_only, json={"content": SPHERE}).status_code == 201
    assert api.get("code-uploads/", key=read_only).status_code == 200
    assert api.get(f"code-uploads/{created['code_id']}", key=read_only).json()["content"] == SOURCE
    assert len(api.get("code-uploads/").json()["results"]) == 2  # the 403s created nothing


def test_the_sdk_raises_authentication_error_without_the_scope(control):
    key = control.create_key(scopes=["code-uploads:read"])["key"]
    client = vilvik.Client(api_key=key, base_url=control.base_url)

    with pytest.raises(vilvik.AuthenticationError) as raised:
        client.code_uploads.create(content=SPHERE)

    assert raised.value.status_code == 403
    assert raised.value.code == "scope_required"
