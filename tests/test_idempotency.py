"""Contract §4a: ``Idempotency-Key`` on create-style POSTs (create, re-execute, continue).

Replays return the original status and body with ``Idempotent-Replayed: true`` and
create nothing; a different body under the same key is 422; keys are scoped to the
account and the endpoint, validated, forgotten after 24 hours of emulator time, and
safe under concurrent identical requests. Requests rejected before taking effect
store nothing.
"""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import helpers
import pytest
from helpers import EXAMPLE, Api, error_code

pytestmark = pytest.mark.vilvik_mode("manual")

REPLAYED = "Idempotent-Replayed"


def new_key() -> str:
    return str(uuid.uuid4())


def submission_ids(api) -> list[str]:
    return sorted(helpers.submission_ids(api))


def create(api, key: str, body: dict | None = None, path: str = "submissions", **kwargs):
    headers = {"Idempotency-Key": key, **kwargs.pop("headers", {})}
    return api.post(path, json=EXAMPLE if body is None else body, headers=headers, **kwargs)


def assert_first(response) -> dict:
    assert response.status_code == 202, response.text
    assert REPLAYED not in response.headers
    return response.json()


def assert_replay_of(response, original) -> None:
    assert response.status_code == original.status_code, response.text
    assert response.headers.get(REPLAYED) == "true"
    assert response.json() == original.json()
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert REPLAYED not in response.headers
    error = response.json()["error"]
    assert error["code"] == code, error
    return error


@pytest.fixture
def finished(api, control) -> dict:
    """A submission finished with a canned result (so it can be re-executed and continued)."""
    submission_id = api.create()["id"]
    control.succeed(submission_id, best_solution_fitness=3.0)
    result_id = api.get(f"submissions/{submission_id}").json()["result_id"]
    assert result_id
    return {"submission": submission_id, "result": result_id}


# ---------------------------------------------------------------------- replay

def test_replay_returns_the_original_response_and_creates_nothing(api):
    key = new_key()
    first = create(api, key)
    created = assert_first(first)
    for _ in range(2):
        assert_replay_of(create(api, key), first)
    assert submission_ids(api) == [created["id"]]


def test_replay_after_the_submission_changed_still_returns_the_original_body(api, control):
    key = new_key()
    first = create(api, key)
    control.succeed(first.json()["id"])
    replay = create(api, key)
    assert_replay_of(replay, first)
    assert replay.json()["status"] == "queued"


def test_both_slash_forms_are_the_same_request(api):
    key = new_key()
    first = create(api, key, path="submissions")
    assert_first(first)
    assert_replay_of(create(api, key, path="submissions/"), first)
    assert len(submission_ids(api)) == 1


def test_requests_without_a_key_are_not_deduplicated(api):
    first, second = api.post("submissions", json=EXAMPLE), api.post("submissions", json=EXAMPLE)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] != second.json()["id"]
    assert REPLAYED not in second.headers


def test_same_key_with_a_different_body_is_422(api):
    key = new_key()
    created = assert_first(create(api, key))
    response = create(api, key, {**EXAMPLE, "num_generations": 7})
    assert_error(response, 422, "idempotency_key_reused")
    assert submission_ids(api) == [created["id"]]


@pytest.mark.parametrize("variant", [
    '{"sol_per_pop": 10, "num_parents_mating": 4, "num_generations": 100, "num_genes": 5, '
    '"fitness_func_entry": "fitness_func", "fitness_func": FITNESS}',
    '{\n  "num_genes" :5 ,\n\t"fitness_func":FITNESS,"fitness_func_entry":"fitness_func",\n'
    '  "num_generations":100,"sol_per_pop":10 , "num_parents_mating":4\n}\n',
], ids=["key-order", "whitespace"])
def test_key_order_and_whitespace_do_not_make_a_different_request(api, variant):
    key = new_key()
    first = create(api, key)
    assert_first(first)
    payload = variant.replace("FITNESS", json.dumps(EXAMPLE["fitness_func"])).encode()
    assert json.loads(payload) == EXAMPLE
    replay = api.post("submissions", data=payload,
                      headers={"Idempotency-Key": key, "Content-Type": "application/json"})
    assert_replay_of(replay, first)
    assert len(submission_ids(api)) == 1


def test_same_key_with_another_key_of_the_same_account_replays(api, control):
    key = new_key()
    first = create(api, key)
    assert_first(first)
    second_secret = control.create_key(name="second")["key"]
    assert_replay_of(create(api, key, headers={"Authorization": f"Bearer {second_secret}"}), first)
    assert len(submission_ids(api)) == 1


# ---------------------------------------------------------------------- scope: account and endpoint

def test_same_key_on_another_account_is_independent(api, control, openapi_checker):
    account = control.create_account(name="other", mode="manual")
    other = Api(control.base_url, control.create_key(account["id"])["key"], openapi_checker.check)
    key = new_key()
    mine = assert_first(create(api, key))
    theirs_first = create(other, key)
    theirs = assert_first(theirs_first)
    assert theirs["id"] != mine["id"]
    assert_replay_of(create(other, key), theirs_first)
    assert submission_ids(api) == [mine["id"]]
    assert submission_ids(other) == [theirs["id"]]


def test_same_key_on_another_endpoint_is_independent(api, finished):
    key = new_key()
    created = assert_first(create(api, key))
    child = assert_first(api.post(f"submissions/{finished['submission']}/reexecute",
                                  headers={"Idempotency-Key": key}))
    assert child["id"] != created["id"]
    assert len(submission_ids(api)) == 3


# ---------------------------------------------------------------------- rejected requests store nothing

def _bad_json(api, key):
    return api.post("submissions", data=b"{oops", headers={"Idempotency-Key": key,
                                                          "Content-Type": "application/json"})


def _wrong_media_type(api, key):
    return api.post("submissions", data=json.dumps(EXAMPLE).encode(),
                    headers={"Idempotency-Key": key, "Content-Type": "text/plain"})


def _invalid_field(api, key):
    return create(api, key, {**EXAMPLE, "num_genes": "5"})


def _does_not_compile(api, key):
    return create(api, key, {**EXAMPLE, "fitness_func": "def fitness_func(:\n"})


def _too_large(api, key):
    return create(api, key, {**EXAMPLE, "description": "x" * (5 * 1024 * 1024 + 1)})


def _missing_scope(api, key, control):
    secret = control.create_key(scopes=["submissions:read"])["key"]
    return create(api, key, headers={"Authorization": f"Bearer {secret}"})


REJECTIONS = {
    "400 invalid_json": lambda api, key, control: _bad_json(api, key),
    "415 unsupported_media_type": lambda api, key, control: _wrong_media_type(api, key),
    "422 validation_failed field": lambda api, key, control: _invalid_field(api, key),
    "422 validation_failed code": lambda api, key, control: _does_not_compile(api, key),
    "422 validation_failed no-body": lambda api, key, control: api.post("submissions",
                                                                          headers={"Idempotency-Key": key}),
    "413 payload_too_large": lambda api, key, control: _too_large(api, key),
    "403 scope_required": _missing_scope,
}


@pytest.mark.parametrize("rejection", list(REJECTIONS))
def test_rejected_request_stores_nothing_so_a_fixed_retry_works(api, control, rejection):
    key = new_key()
    status, code = rejection.split()[:2]
    rejected = REJECTIONS[rejection](api, key, control)
    assert_error(rejected, int(status), code)
    assert submission_ids(api) == []
    fixed = create(api, key)
    created = assert_first(fixed)
    assert_replay_of(create(api, key), fixed)
    assert submission_ids(api) == [created["id"]]


def test_rejected_reexecute_stores_nothing(api, finished):
    key = new_key()
    path = f"submissions/{finished['submission']}/reexecute"
    bad = api.post(path, json={"num_generations": 0}, headers={"Idempotency-Key": key})
    assert_error(bad, 422, "validation_failed")
    fixed = api.post(path, json={"num_generations": 5}, headers={"Idempotency-Key": key})
    assert_first(fixed)
    assert len(submission_ids(api)) == 2


# ---------------------------------------------------------------------- key format

@pytest.mark.parametrize("key", [
    "x" * 256,
    "",
    "a\x01b",
    "tab\tinside",
    "del\x7f",
    "caf\xe9",
], ids=["256-chars", "empty", "control-char", "tab", "del", "non-ascii"])
def test_malformed_key_is_400_invalid_parameter(api, key):
    response = create(api, key)
    error = assert_error(response, 400, "invalid_parameter")
    assert "Idempotency-Key" in error["message"]
    assert submission_ids(api) == []


@pytest.mark.parametrize("key", ["x" * 255, "k", "with spaces inside", "~!@#$%^&*()_+{}|:<>?"],
                         ids=["255-chars", "1-char", "spaces", "punctuation"])
def test_well_formed_keys_are_accepted(api, key):
    first = create(api, key)
    assert_first(first)
    assert_replay_of(create(api, key), first)


# ---------------------------------------------------------------------- expiry on the emulator clock

def test_key_expires_after_24_hours_of_emulator_time(api, control):
    control.clock_freeze()
    key = new_key()
    first = create(api, key)
    original = assert_first(first)
    other_body = {**EXAMPLE, "num_generations": 9}

    control.clock_advance(24 * 3600 - 60)
    assert_replay_of(create(api, key), first)
    assert_error(create(api, key, other_body), 422, "idempotency_key_reused")

    control.clock_advance(61)
    second = create(api, key, other_body)
    renewed = assert_first(second)
    assert renewed["id"] != original["id"]
    assert_replay_of(create(api, key, other_body), second)
    assert submission_ids(api) == sorted([original["id"], renewed["id"]])


# ---------------------------------------------------------------------- concurrency

def test_concurrent_identical_requests_create_exactly_one_submission(api, control, openapi_checker):
    key, count = new_key(), 20
    barrier = threading.Barrier(count)

    def send(_):
        client = Api(control.base_url, control.api_key, openapi_checker.check)
        barrier.wait(timeout=30)
        return create(client, key)

    with ThreadPoolExecutor(max_workers=count) as pool:
        responses = list(pool.map(send, range(count)))

    accepted = [response for response in responses if response.status_code == 202]
    for response in responses:
        if response.status_code != 202:
            assert_error(response, 409, "idempotency_key_in_use")
    assert accepted, [response.text for response in responses]
    assert len({response.json()["id"] for response in accepted}) == 1
    originals = [response for response in accepted if REPLAYED not in response.headers]
    assert len(originals) == 1, "exactly one request really created the submission"
    assert submission_ids(api) == [originals[0].json()["id"]]
    assert_replay_of(create(api, key), originals[0])
    assert error_code(create(api, key, {**EXAMPLE, "num_generations": 1})) == "idempotency_key_reused"


# ---------------------------------------------------------------------- re-execute and continue

DERIVED = {
    "reexecute": "submissions/{submission}/reexecute",
    "continue": "results/{result}/continue",
}


@pytest.mark.parametrize("endpoint", list(DERIVED))
def test_derived_runs_honour_the_key(api, finished, endpoint):
    key = new_key()
    path = DERIVED[endpoint].format(**finished)
    first = api.post(path, json={"num_generations": 5}, headers={"Idempotency-Key": key})
    child = assert_first(first)
    assert_replay_of(api.post(path, json={"num_generations": 5}, headers={"Idempotency-Key": key}), first)
    reused = api.post(path, json={"num_generations": 6}, headers={"Idempotency-Key": key})
    assert_error(reused, 422, "idempotency_key_reused")
    assert submission_ids(api) == sorted([finished["submission"], child["id"]])


def test_reexecute_without_body_replays(api, finished):
    key = new_key()
    path = f"submissions/{finished['submission']}/reexecute"
    first = api.post(path, headers={"Idempotency-Key": key})
    assert_first(first)
    assert_replay_of(api.post(path, headers={"Idempotency-Key": key}), first)
    assert len(submission_ids(api)) == 2


def test_same_key_on_another_parent_is_a_different_request(api, control, finished):
    key = new_key()
    other_parent = api.create()["id"]
    assert_first(api.post(f"submissions/{finished['submission']}/reexecute", headers={"Idempotency-Key": key}))
    response = api.post(f"submissions/{other_parent}/reexecute", headers={"Idempotency-Key": key})
    assert_error(response, 422, "idempotency_key_reused")
    assert len(submission_ids(api)) == 3


def test_expired_keys_are_forgotten_not_kept_forever(api, control, vilvik_emulator_server):
    """The SDK sends a fresh key with every create; expired records must not pile up."""
    store = vilvik_emulator_server.emulator.store
    for index in range(3):
        assert create(api, f"pile-{index}").status_code == 202
    assert store.count("idempotency_keys") == 3
    control.clock_advance(25 * 3600)
    assert create(api, "after-a-day").status_code == 202
    assert store.count("idempotency_keys") == 1
