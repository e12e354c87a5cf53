"""Control plane, part two (contract §13): fault injection, the request journal, snapshots."""

from __future__ import annotations

import pytest
import requests
import vilvik
from helpers import EXAMPLE, error_code

from vilvik_emulator.testing import ControlError

pytestmark = pytest.mark.vilvik_mode("manual")


def test_a_fault_answers_with_its_status_for_count_matches(api, control):
    rule = control.add_fault(method="POST", path="/api/v1/submissions*", status=503, count=2)
    assert rule["code"] == "unavailable" and rule["remaining"] == 2
    for _ in range(2):
        response = api.post("submissions", json=EXAMPLE)
        assert response.status_code == 503 and error_code(response) == "unavailable"
        assert response.headers["X-Request-Id"] == response.json()["error"]["request_id"]
    assert api.post("submissions", json=EXAMPLE).status_code == 202
    assert control.faults()[0]["remaining"] == 0
    assert api.get("submissions").json()["results"].__len__() == 1


def test_faults_match_method_and_path_only(api, control):
    control.add_fault(method="GET", path="/api/v1/results*", status=500)
    assert api.get("submissions").status_code == 200
    assert api.post("submissions", json=EXAMPLE).status_code == 202
    assert error_code(api.get("results")) == "internal_error"
    assert control.health()["status"] == "ok", "the control plane is never faulted"


def test_a_429_fault_reaches_the_sdk_as_rate_limit_error(vilvik_client, control):
    control.add_fault(path="/api/v1/submissions", status=429, retry_after=7, count=1)
    with pytest.raises(vilvik.RateLimitError) as raised:
        vilvik_client.submissions.list()
    assert raised.value.retry_after == 7 and raised.value.code == "rate_limited"


def test_probability_is_reproducible_with_a_seed(api, control):
    def pattern() -> list[int]:
        control.clear_faults()
        control.add_fault(method="GET", path="/api/v1/submissions", status=503, probability=0.5, seed=42)
        return [api.get("submissions").status_code for _ in range(20)]

    first, second = pattern(), pattern()
    assert first == second
    assert set(first) == {200, 503}


def test_delay(api, control):
    control.add_fault(path="/api/v1/submissions", delay_ms=150, count=1)
    response = api.get("submissions")
    assert response.status_code == 200 and response.elapsed.total_seconds() >= 0.15


def test_drop_closes_the_connection(api, control, vilvik_client):
    control.add_fault(method="GET", path="/api/v1/submissions", action="drop", count=1)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{api.base_url}/submissions", headers={"Authorization": f"Bearer {api.api_key}"}, timeout=10)
    assert api.get("submissions").status_code == 200
    control.add_fault(method="GET", path="/api/v1/submissions", action="drop", count=1)
    assert vilvik_client.submissions.list().items == []  # the SDK retries a GET on a network error


def test_fault_rules_are_validated_and_removable(control):
    with pytest.raises(ControlError) as raised:
        control.add_fault(status=200, probability=2, action="explode", nonsense=1)
    assert {d["field"] for d in raised.value.payload["error"]["details"]} == {
        "status", "probability", "action", "nonsense"}
    rule = control.add_fault(status=500)
    control.remove_fault(rule["id"])
    assert control.faults() == []
    with pytest.raises(ControlError) as raised:
        control.remove_fault(rule["id"])
    assert raised.value.status == 404


def test_reset_clears_faults(control):
    control.add_fault(status=500)
    control.reset()
    assert control.faults() == []


def test_the_journal_records_what_clients_sent(api, control):
    api.post("submissions", json={**EXAMPLE, "name": "journaled"}, headers={"Idempotency-Key": "k-1"})
    api.post("submissions", json={**EXAMPLE, "name": "journaled"}, headers={"Idempotency-Key": "k-1"})
    api.get("submissions", params={"status": "queued"})
    api.get("submissions/abcDEF123456")
    entries = control.requests()
    assert [entry["method"] for entry in entries] == ["GET", "GET", "POST", "POST"]
    missing, listing, replay, first = entries
    assert missing["status"] == 404 and missing["error_code"] == "not_found"
    assert listing["query"] == {"status": "queued"} and listing["account"] == "acct_default"
    assert first["body"]["name"] == "journaled" and first["status"] == 202 and not first["replayed"]
    assert replay["replayed"] and replay["idempotency_key"] == "k-1"
    assert control.requests(method="POST", status=202, limit=1) == [replay]
    assert [entry["path"] for entry in control.requests(path="/api/v1/submissions/*")] == [
        "/api/v1/submissions/abcDEF123456"]
    control.clear_requests()
    assert control.requests() == []


def test_the_journal_marks_faults(api, control):
    rule = control.add_fault(path="/api/v1/submissions", status=503, count=1)
    api.get("submissions")
    assert control.requests()[0]["fault"] == rule["id"]


def test_snapshot_export_and_import(api, control):
    created = api.create(name="kept")
    control.succeed(created["id"], best_solution_fitness=2.5)
    result_id = api.get(f"submissions/{created['id']}").json()["result_id"]
    log = api.get(f"results/{result_id}/files/log.txt")
    snapshot = control.export_snapshot()
    assert snapshot["schema_version"] == 1 and "submissions" in snapshot["tables"]

    control.reset()
    assert api.get(f"submissions/{created['id']}").status_code == 404
    control.import_snapshot(snapshot)
    assert api.get(f"submissions/{created['id']}").json()["name"] == "kept"
    assert api.get(f"results/{result_id}").json()["best_solution_fitness"] == "2.5"
    assert api.get(f"results/{result_id}/files/log.txt").content == log.content


def test_a_bad_snapshot_is_refused_and_changes_nothing(api, control):
    created = api.create()
    with pytest.raises(ControlError) as raised:
        control.import_snapshot({"schema_version": 1, "tables": {"submissions": ["not", "an", "object"]}})
    assert raised.value.status == 422
    assert api.get(f"submissions/{created['id']}").status_code == 200
