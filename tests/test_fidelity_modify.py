"""Modify — `PATCH /api/v1/submissions/<id>` (contract §5.3a, scope `submissions:write`).

Only `name`, `description`, `visibility`, `notification_email` and `webhook_url` change
(each alone, only the fields sent); anything else is a 422 naming the field, and a create
field says it cannot change; the answer is 200 with the full detail; another account's
submission is 404 like a missing one.
"""

from __future__ import annotations

import pytest
from helpers import assert_validation_failed, error_code

PATCHABLE = ("name", "description", "visibility", "notification_email", "webhook_url")
DETAIL_FIELDS = {
    "id", "name", "description", "status", "source", "submission_type", "visibility", "parent_submission",
    "parent_submission_id", "parent_result_id", "created_at", "started_at", "finished_at", "status_url",
    "result_url", "parameters", "code", "progress", "error", "usage", "credits_used", "webhook_url",
    "notification_email", "generated",
}
CHANGES = [
    {"name": "renamed"},
    {"description": "a longer story"},
    {"visibility": "public"},
    {"visibility": "invite_only"},
    {"notification_email": "ada@example.com"},
    {"webhook_url": "https://hooks.example.com/vilvik"},
    {"webhook_url": "http://127.0.0.1:9/hook"},
    {"name": None, "description": None, "notification_email": None, "webhook_url": None},
    {"name": "all", "description": "d", "visibility": "public", "notification_email": "b@example.org",
     "webhook_url": "https://example.org/h"},
    {},
]
CHANGE_IDS = ["name", "description", "public", "invite_only", "email", "https-webhook", "loopback-webhook",
              "clear-all", "everything", "nothing"]
ORIGINAL = {"name": "original", "description": "first", "notification_email": "first@example.com",
            "webhook_url": "https://first.example.com/hook"}


@pytest.mark.vilvik_mode("manual")
@pytest.mark.parametrize("change", CHANGES, ids=CHANGE_IDS)
def test_patch_changes_only_the_fields_sent_and_answers_the_full_detail(api, change):
    created = api.create(**ORIGINAL)
    before = api.get(f"submissions/{created['id']}").json()

    response = api.patch(f"submissions/{created['id']}", json=change)

    assert response.status_code == 200, response.text
    after = response.json()
    assert set(after) >= DETAIL_FIELDS
    assert after == {**before, **change}
    assert api.get(f"submissions/{created['id']}").json() == after
    (row,) = api.get("submissions/").json()["results"]
    assert row["name"] == after["name"]


@pytest.mark.parametrize("field", ["num_generations", "fitness_func", "fitness_func_entry", "num_genes",
                                   "mutation_probability", "submission_type", "on_generation_id"])
def test_a_create_field_cannot_change_and_says_so(api, control, field):
    created = api.create(**ORIGINAL)
    before = control.wait(created["id"])
    value = {"num_generations": 3, "fitness_func": "def f(a, b, c):\n    return 0\n", "fitness_func_entry": "f",
             "num_genes": 2, "mutation_probability": 0.5, "submission_type": "quick_knapsack",
             "on_generation_id": "code_AAAAAAAAAAAA"}[field]

    response = api.patch(f"submissions/{created['id']}", json={"name": "changed", field: value})

    error = assert_validation_failed(response, field)
    message = {item["field"]: item["message"] for item in error["details"]}[field]
    assert "cannot change" in message and "re-execute or continue" in message, message
    assert all(name in message for name in PATCHABLE)
    assert api.get(f"submissions/{created['id']}").json() == before


@pytest.mark.vilvik_mode("manual")
@pytest.mark.parametrize(("body", "field"), [
    ({"status": "succeeded"}, "status"),
    ({"parameters": {"num_generations": 1}}, "parameters"),
    ({"code": {}}, "code"),
    ({"id": "abcDEF123456"}, "id"),
    ({"result_id": "abcDEF123456"}, "result_id"),
    ({"bogus": 1}, "bogus"),
    ({"visibility": "secret"}, "visibility"),
    ({"visibility": None}, "visibility"),
    ({"notification_email": "not an address"}, "notification_email"),
    ({"webhook_url": "http://example.com/hook"}, "webhook_url"),
    ({"webhook_url": "ftp://127.0.0.1/hook"}, "webhook_url"),
    ({"name": "x" * 201}, "name"),
    ({"name": 5}, "name"),
    ({"description": "x" * 10_001}, "description"),
], ids=["status", "parameters", "code", "id", "result_id", "unknown", "visibility-value", "visibility-null",
        "email", "webhook-http", "webhook-scheme", "name-too-long", "name-type", "description-too-long"])
def test_anything_else_is_a_422_naming_the_field_and_changes_nothing(api, body, field):
    created = api.create(**ORIGINAL)
    before = api.get(f"submissions/{created['id']}").json()

    response = api.patch(f"submissions/{created['id']}", json=body)

    assert_validation_failed(response, field)
    assert api.get(f"submissions/{created['id']}").json() == before


@pytest.mark.vilvik_mode("manual")
def test_a_body_that_is_not_an_object_is_400(api):
    created = api.create()
    response = api.patch(f"submissions/{created['id']}", data="[1]", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and error_code(response) == "invalid_json"


@pytest.mark.vilvik_mode("manual")
def test_another_accounts_submission_is_404_and_unchanged(api, other_account):
    created = api.create(**ORIGINAL)
    before = api.get(f"submissions/{created['id']}").json()

    response = other_account.patch(f"submissions/{created['id']}", json={"name": "stolen"})

    assert response.status_code == 404, response.text
    assert error_code(response) == "not_found"
    missing = other_account.patch("submissions/abcDEF123456", json={"name": "x"})
    assert missing.status_code == 404 and missing.json()["error"]["message"] == response.json()["error"]["message"]
    assert api.get(f"submissions/{created['id']}").json() == before


@pytest.mark.vilvik_mode("manual")
def test_patch_needs_the_submissions_write_scope(api, control):
    created = api.create(**ORIGINAL)
    reader = control.create_key(scopes=["submissions:read"])["key"]
    writer = control.create_key(scopes=["submissions:write"])["key"]

    refused = api.patch(f"submissions/{created['id']}", json={"name": "x"}, key=reader)

    assert refused.status_code == 403 and error_code(refused) == "scope_required"
    assert "submissions:write" in refused.json()["error"]["message"]
    assert api.get(f"submissions/{created['id']}").json()["name"] == "original"
    accepted = api.patch(f"submissions/{created['id']}", json={"name": "x"}, key=writer)
    assert accepted.status_code == 200 and accepted.json()["name"] == "x"


@pytest.mark.vilvik_mode("manual")
def test_a_queued_job_can_be_renamed_and_then_runs_unchanged(api, control):
    created = api.create(**ORIGINAL, num_generations=5)
    before = api.get(f"submissions/{created['id']}").json()

    renamed = api.patch(f"submissions/{created['id']}", json={"name": "renamed while queued", "visibility": "public"})

    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["status"] == "queued"
    control.run(created["id"])
    finished = control.wait(created["id"])
    assert finished["status"] == "succeeded", finished
    assert finished["name"] == "renamed while queued" and finished["visibility"] == "public"
    assert (finished["parameters"], finished["code"]) == (before["parameters"], before["code"])
