"""Imports (contract §10): a PyGAD run made on this machine, brought into the emulator.

A real ``pygad.GA`` runs here (once per module: the fitness function is defined at
module level so the SDK can capture its source) and is pushed with ``vilvik.push`` and
with PyGAD's own ``ga.push_to_vilvik``. The import must be a ``succeeded`` submission
of type ``new`` with ``imported: true``, whose id is the import record's, whose result is exactly the local
outcome, free of credits,
continuable, idempotent, rate-limited per tier on the emulator's clock (429 with
``Retry-After``), refused over 5 MiB (413) and when a field is wrong (422 naming it), and
it must fire no webhook.
"""

from __future__ import annotations

import copy
import inspect
import json
import socket
import textwrap
import threading
import uuid

import pygad
import pytest
import vilvik
from helpers import Api, assert_validation_failed, balance, error_code, submission_ids

DEFAULT_ACCOUNT = "acct_default"
FIVE_MIB = 5 * 1024 * 1024


def sphere_fitness(ga_instance, solution, solution_idx):
    return -float(sum(x * x for x in solution))


FITNESS_SOURCE = textwrap.dedent(inspect.getsource(sphere_fitness))


@pytest.fixture(scope="module")
def local_run() -> pygad.GA:
    """One tiny real PyGAD run, shared by the whole module (imports never change it)."""
    ga = pygad.GA(num_generations=6, num_parents_mating=2, sol_per_pop=6, num_genes=3,
                  fitness_func=sphere_fitness, random_seed=11, suppress_warnings=True)
    ga.run()
    return ga


@pytest.fixture(scope="module")
def expected(local_run) -> dict:
    """What the local run produced, as plain JSON values."""
    solution, fitness, index = local_run.best_solution(pop_fitness=local_run.last_generation_fitness)
    return {
        "best_solution": [float(gene) for gene in solution],
        "best_solution_fitness": float(fitness),
        "best_solution_idx": int(index),
        "best_solutions_fitness": [float(value) for value in local_run.best_solutions_fitness],
        "generations_completed": int(local_run.generations_completed),
        "best_solution_generation": int(local_run.best_solution_generation),
        "last_generation_fitness": [float(value) for value in local_run.last_generation_fitness],
        "population": local_run.population.tolist(),
    }


@pytest.fixture(scope="module")
def body(local_run, expected) -> dict:
    """A hand-written import body of the local run (what raw HTTP clients send)."""
    return {
        "name": "local sphere",
        "description": "made on my laptop",
        "ga_parameters": {"num_generations": 6, "num_parents_mating": 2, "sol_per_pop": 6, "num_genes": 3,
                          "random_seed": 11},
        "code": {"fitness_func": FITNESS_SOURCE, "fitness_func_entry": "sphere_fitness"},
        "result": {name: expected[name] for name in (
            "best_solution", "best_solution_fitness", "best_solution_idx", "best_solutions_fitness",
            "generations_completed", "best_solution_generation", "last_generation_fitness", "population")},
        "origin": {"client": "raw-http", "sdk_version": None, "python_version": "3.11"},
    }


def post_import(api, payload: dict, **kwargs):
    return api.post("imports/", json=payload, **kwargs)


def imported(api, payload: dict) -> dict:
    response = post_import(api, payload)
    assert response.status_code == 201, response.text
    return response.json()





def assert_matches_local_run(api, submission_id: str, result_id: str, expected: dict) -> tuple[dict, dict]:
    """The imported submission and result carry exactly the local outcome."""
    submission = api.get(f"submissions/{submission_id}")
    assert submission.status_code == 200, submission.text
    submission = submission.json()
    assert submission["status"] == "succeeded"
    assert submission["submission_type"] == "new" and submission["imported"] is True
    assert submission["source"] == "api"
    assert submission["result_id"] == result_id
    assert submission["code"]["fitness_func"].strip().endswith(FITNESS_SOURCE.strip())
    assert submission["code"]["fitness_func_entry"] == "sphere_fitness"
    for name, value in (("num_generations", 6), ("sol_per_pop", 6), ("num_parents_mating", 2), ("num_genes", 3),
                        ("random_seed", 11)):
        assert submission["parameters"][name] == value, name
    assert submission["progress"]["generations_completed"] == expected["generations_completed"]

    result = api.get(f"results/{result_id}")
    assert result.status_code == 200, result.text
    result = result.json()
    assert result["submission_id"] == submission_id
    assert result["best_solution"] == expected["best_solution"]
    assert isinstance(result["best_solution_fitness"], str)
    assert float(result["best_solution_fitness"]) == expected["best_solution_fitness"]
    assert result["best_solutions_fitness"] == expected["best_solutions_fitness"]
    assert result["generations_completed"] == expected["generations_completed"]
    assert result["best_solution_generation"] == expected["best_solution_generation"]
    assert result["best_solution_idx"] == expected["best_solution_idx"]
    assert result["last_generation_fitness"] == expected["last_generation_fitness"]
    assert {entry["name"] for entry in result["files"]} >= {"result.json", "population.json", "fitness.svg",
                                                             "log.txt"}
    population = api.get(f"results/{result_id}/files/population.json")
    assert population.status_code == 200, population.text
    assert population.json() == expected["population"]
    result_json = api.get(f"results/{result_id}/files/result.json").json()
    assert result_json["population"] == expected["population"]
    assert result_json["best_solutions_fitness"] == expected["best_solutions_fitness"]
    return submission, result


# ---------------------------------------------------------------------- the SDK and PyGAD push a real run


def test_vilvik_push_imports_the_local_run_exactly(api, control, local_run, expected):
    record = vilvik.push(local_run, api_key=control.api_key, base_url=control.base_url, name="pushed")

    assert isinstance(record, vilvik.ImportRecord)
    submission_id = record.raw["submission_id"]
    assert record.result_url == f"{control.base_url}/results/{record.result_id}"
    submission, _result = assert_matches_local_run(api, submission_id, record.result_id, expected)
    assert submission["name"] == "pushed"
    assert submission_ids(api) == [submission_id]
    listed = api.get("results/", params={"submission_id": submission_id}).json()["results"]
    assert [row["id"] for row in listed] == [record.result_id]


def test_pygad_push_to_vilvik_imports_the_local_run_exactly(api, control, local_run, expected, monkeypatch,
                                                            tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))  # never the real credentials file
    monkeypatch.setenv("VILVIK_API_KEY", control.api_key)

    record = local_run.push_to_vilvik(base_url=control.base_url, name="from pygad")

    assert isinstance(record, vilvik.ImportRecord)
    submission, _ = assert_matches_local_run(api, record.raw["submission_id"], record.result_id, expected)
    assert submission["name"] == "from pygad"


def test_the_sdk_result_model_reads_the_import(vilvik_client, local_run, expected):
    record = vilvik.push(local_run, client=vilvik_client)

    result = vilvik_client.results.get(record.result_id)
    assert result.best_fitness == expected["best_solution_fitness"]
    assert result.best_solution == expected["best_solution"]
    assert result.num_generations_ran == expected["generations_completed"]
    submission = vilvik_client.submissions.get(record.raw["submission_id"])
    assert submission.status == "succeeded" and submission.submission_type == "new"
    assert submission.raw["imported"] is True


def test_a_raw_http_import_answers_201_with_the_documented_shape(api, body, expected):
    response = post_import(api, body)

    assert response.status_code == 201, response.text
    created = response.json()
    assert {"id", "submission_id", "result_id", "result_url"} <= set(created)
    assert created["id"] == created["submission_id"], "the import's id is its submission's (contract §10)"
    assert api.get(f"submissions/{created['id']}").status_code == 200
    assert created["result_url"] == f"{api.base_url}/results/{created['result_id']}"
    submission, result = assert_matches_local_run(api, created["submission_id"], created["result_id"], expected)
    assert submission["name"] == result["name"] == "local sphere"
    assert submission["description"] == "made on my laptop"


def test_the_entry_is_detected_when_absent(api, body, expected):
    payload = copy.deepcopy(body)
    del payload["code"]["fitness_func_entry"]
    payload["code"]["fitness_func"] = "def helper(x):\n    return x * x\n\n\n" + FITNESS_SOURCE

    created = imported(api, payload)

    submission = api.get(f"submissions/{created['submission_id']}").json()
    assert submission["code"]["fitness_func_entry"] == "sphere_fitness"  # the last top-level def, as the SDK does


def test_both_collection_forms_answer(api, body):
    for path in ("imports", "imports/"):
        response = api.post(path, json=body, allow_redirects=False)
        assert response.status_code == 201, response.text


# ---------------------------------------------------------------------- free, continuable


def test_an_import_costs_nothing(api, control, local_run, body):
    before = balance(control)

    vilvik.push(local_run, api_key=control.api_key, base_url=control.base_url)
    created = imported(api, body)

    assert balance(control) == before
    assert control.ledger()["results"] == []
    assert api.get(f"submissions/{created['submission_id']}").json()["credits_used"] in (0, 0.0, None)


def test_an_import_can_be_continued(vilvik_client, control, api, local_run, expected):
    record = vilvik.push(local_run, client=vilvik_client)

    child = vilvik_client.results.continue_run(record.result_id, num_generations=3)

    detail = control.wait(child.id, timeout=120)
    assert detail["status"] == "succeeded", detail["error"]
    # the child ran here (and is billed): it is a new run, not an import
    assert detail["submission_type"] == "new"
    assert detail["parent_submission_id"] == record.raw["submission_id"]
    assert detail["parent_result_id"] == record.result_id
    assert detail["parameters"]["num_generations"] == 3
    child_result = api.get(f"results/{detail['result_id']}").json()
    assert child_result["parent_result_id"] == record.result_id
    assert child_result["generations_completed"] == 3
    started_from = api.get(f"results/{detail['result_id']}/files/result.json").json()["initial_population"]
    assert started_from == expected["population"]
    # generation 0 of the child is the imported population, whose best is the local run's best
    assert child_result["best_solutions_fitness"][0] == expected["best_solutions_fitness"][-1]


def test_an_import_can_be_re_executed_as_a_new_run(vilvik_client, control, local_run, expected):
    record = vilvik.push(local_run, client=vilvik_client)

    child = vilvik_client.submissions.reexecute(record.raw["submission_id"])

    detail = control.wait(child.id, timeout=120)
    assert detail["status"] == "succeeded", detail["error"]
    assert detail["submission_type"] == "new"
    assert detail["parent_submission_id"] == record.raw["submission_id"]
    # same parameters and seed, run by PyGAD here: the same outcome as the local run
    result = vilvik_client.results.get(detail["result_id"])
    assert result.best_fitness == expected["best_solution_fitness"]
    assert result.raw["best_solutions_fitness"] == expected["best_solutions_fitness"]


# ---------------------------------------------------------------------- idempotency


def test_the_same_idempotency_key_replays_the_import(api, body):
    key = str(uuid.uuid4())

    first = post_import(api, body, headers={"Idempotency-Key": key})
    second = post_import(api, body, headers={"Idempotency-Key": key})

    assert first.status_code == second.status_code == 201, (first.text, second.text)
    assert second.json() == first.json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert submission_ids(api) == [first.json()["submission_id"]]


def test_the_sdk_idempotency_key_replays(vilvik_client, api, body):
    key = str(uuid.uuid4())

    first = vilvik_client.imports.create(copy.deepcopy(body), idempotency_key=key)
    second = vilvik_client.imports.create(copy.deepcopy(body), idempotency_key=key)

    assert first.id == second.id and first.result_id == second.result_id
    assert len(submission_ids(api)) == 1


def test_the_same_key_with_another_body_is_422(api, body):
    key = str(uuid.uuid4())
    assert post_import(api, body, headers={"Idempotency-Key": key}).status_code == 201

    response = post_import(api, {**body, "name": "something else"}, headers={"Idempotency-Key": key})

    assert response.status_code == 422, response.text
    assert error_code(response) == "idempotency_key_reused"
    assert len(submission_ids(api)) == 1


# ---------------------------------------------------------------------- rate limits per tier


def assert_rate_limited(response, per: str) -> int:
    assert response.status_code == 429, response.text
    assert error_code(response) == "rate_limited"
    assert per in response.json()["error"]["message"]
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit(), retry_after
    return int(retry_after)


def test_free_tier_allows_ten_imports_an_hour(api, control, body):
    control.clock_freeze()
    for _ in range(10):
        imported(api, body)

    refused = post_import(api, body)

    assert assert_rate_limited(refused, "hour") == 3600
    assert len(submission_ids(api)) == 10  # the 429 created nothing


def test_the_sdk_raises_rate_limit_error_with_retry_after(vilvik_client, api, control, local_run, body):
    control.clock_freeze()
    for _ in range(10):
        imported(api, body)
    control.clock_advance(600)  # ten minutes into the window
    header = assert_rate_limited(post_import(api, body), "hour")

    with pytest.raises(vilvik.RateLimitError) as raised:
        vilvik.push(local_run, client=vilvik_client)

    assert header == 3000
    assert raised.value.status_code == 429
    assert raised.value.code == "rate_limited"
    assert raised.value.retry_after == header


def test_the_hourly_window_frees_after_an_hour_on_the_emulator_clock(api, control, body):
    control.clock_freeze()
    for _ in range(10):
        imported(api, body)
    assert_rate_limited(post_import(api, body), "hour")

    control.clock_advance(3599)
    assert assert_rate_limited(post_import(api, body), "hour") == 1
    control.clock_advance(1)

    imported(api, body)
    assert len(submission_ids(api)) == 11


def test_free_tier_allows_fifty_imports_a_day(api, control, body):
    control.clock_freeze()
    for _ in range(5):
        for _ in range(10):
            imported(api, body)
        control.clock_advance(3600)

    refused = post_import(api, body)  # the hourly window is empty, the daily one is full

    assert assert_rate_limited(refused, "day") == 19 * 3600
    control.clock_advance(19 * 3600 - 1)
    assert_rate_limited(post_import(api, body), "day")
    control.clock_advance(1)  # the first batch is now a day old
    imported(api, body)
    assert len(submission_ids(api)) == 51


def test_premium_tier_allows_three_hundred_imports_a_day(api, control, body):
    control.update_account(DEFAULT_ACCOUNT, tier="premium")
    control.clock_freeze()
    for _ in range(5):
        for _ in range(60):
            imported(api, body)
        control.clock_advance(3600)

    refused = post_import(api, body)  # the hourly window is empty, the daily one is full

    assert assert_rate_limited(refused, "day") == 19 * 3600
    stored, url = 0, "submissions/?page_size=100"
    while url:
        page = api.get(url).json()
        stored, url = stored + len(page["results"]), page["next"]
    assert stored == 300


def test_premium_tier_allows_sixty_imports_an_hour(api, control, body):
    control.update_account(DEFAULT_ACCOUNT, tier="premium")
    control.clock_freeze()
    for _ in range(60):
        imported(api, body)

    assert assert_rate_limited(post_import(api, body), "hour") == 3600
    assert len(submission_ids(api)) == 60


def test_the_limit_holds_for_concurrent_imports(api, control, body):
    control.clock_freeze()
    statuses: list[int] = []
    start = threading.Barrier(20)

    def one_import() -> None:
        client = Api(api.base_url, api.api_key, api.checker)  # a session per thread
        start.wait(30)
        statuses.append(post_import(client, body).status_code)

    threads = [threading.Thread(target=one_import) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert sorted(statuses) == [201] * 10 + [429] * 10
    assert len(submission_ids(api)) == 10


def test_the_limit_is_per_account(api, control, other_account, body):
    control.clock_freeze()
    for _ in range(10):
        imported(api, body)
    assert_rate_limited(post_import(api, body), "hour")

    imported(other_account, body)


def test_rejected_imports_do_not_count_and_replays_pass(api, control, body):
    control.clock_freeze()
    invalid = {**body, "ga_parameters": {"num_genes": 3}}
    for _ in range(12):
        assert post_import(api, invalid).status_code == 422
    key = str(uuid.uuid4())
    first = post_import(api, body, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    for _ in range(9):
        imported(api, body)
    assert_rate_limited(post_import(api, body), "hour")

    replay = post_import(api, body, headers={"Idempotency-Key": key})

    assert replay.status_code == 201, replay.text  # a replay creates nothing, so the limit does not apply
    assert replay.json() == first.json()
    assert len(submission_ids(api)) == 10


# ---------------------------------------------------------------------- size limit


def test_an_import_over_five_mib_is_413(api, body):
    payload = copy.deepcopy(body)
    payload["result"]["population"] = [[0.123456789012345] * 1000 for _ in range(400)]
    raw = json.dumps(payload).encode()
    assert len(raw) > FIVE_MIB

    response = api.post("imports/", data=raw, headers={"Content-Type": "application/json"})

    assert response.status_code == 413, response.text[:500]
    assert error_code(response) == "payload_too_large"
    assert submission_ids(api) == []


def test_the_limit_is_exactly_five_mib(api, body):
    raw = json.dumps(body).encode()
    padded = raw + b" " * (FIVE_MIB - len(raw))  # JSON allows trailing whitespace
    assert len(padded) == FIVE_MIB

    accepted = api.post("imports/", data=padded, headers={"Content-Type": "application/json"})
    refused = api.post("imports/", data=padded + b" ", headers={"Content-Type": "application/json"})

    assert accepted.status_code == 201, accepted.text[:500]
    assert refused.status_code == 413, refused.text[:500]
    assert error_code(refused) == "payload_too_large"
    assert len(submission_ids(api)) == 1


def test_the_sdk_sees_413_as_an_api_error(vilvik_client, api, body):
    payload = copy.deepcopy(body)
    payload["result"]["population"] = [[0.123456789012345] * 1000 for _ in range(400)]

    with pytest.raises(vilvik.APIError) as raised:
        vilvik_client.imports.create(payload)

    assert raised.value.status_code == 413
    assert raised.value.code == "payload_too_large"
    assert submission_ids(api) == []


# ---------------------------------------------------------------------- validation


def _without(mapping: dict, path: str) -> dict:
    payload = copy.deepcopy(mapping)
    *parents, last = path.split(".")
    target = payload
    for name in parents:
        target = target[name]
    del target[last]
    return payload


def _with(mapping: dict, path: str, value) -> dict:
    payload = copy.deepcopy(mapping)
    *parents, last = path.split(".")
    target = payload
    for name in parents:
        target = target[name]
    target[last] = value
    return payload


INVALID = [
    (lambda body: _without(body, "ga_parameters.num_generations"), "ga_parameters.num_generations"),
    (lambda body: _without(body, "ga_parameters"), "ga_parameters"),
    (lambda body: _with(body, "ga_parameters.bogus", 1), "ga_parameters.bogus"),
    (lambda body: _with(body, "ga_parameters.keep_elitism", 99), "ga_parameters.keep_elitism"),
    (lambda body: _with(body, "ga_parameters.num_generations", "six"), "ga_parameters.num_generations"),
    (lambda body: _without(body, "code.fitness_func"), "code.fitness_func"),
    (lambda body: _without(body, "code"), "code"),
    (lambda body: _with(body, "code.fitness_func", "def broken(:\n"), "code.fitness_func"),
    (lambda body: _with(_without(body, "code.fitness_func_entry"), "code.fitness_func", "x = 1\n"),
     "code.fitness_func_entry"),
    (lambda body: _with(body, "code.fitness_func_entry", "not_defined"), "code.fitness_func_entry"),
    (lambda body: _with(body, "code.not_a_role", "def f():\n    pass\n"), "code.not_a_role"),
    (lambda body: _without(body, "result"), "result"),
    (lambda body: _without(body, "result.best_solution"), "result.best_solution"),
    (lambda body: _with(body, "result.best_solution", "genes"), "result.best_solution"),
    (lambda body: _with(body, "result.best_solution_fitness", "high"), "result.best_solution_fitness"),
    (lambda body: _with(body, "result.best_solutions_fitness", [1.0, "x"]), "result.best_solutions_fitness"),
    (lambda body: _with(body, "result.generations_completed", "6"), "result.generations_completed"),
    (lambda body: _with(body, "result.generations_completed", True), "result.generations_completed"),
    (lambda body: _with(body, "result.population", [1, 2, 3]), "result.population"),
    (lambda body: _with(body, "result.unknown", 1), "result.unknown"),
    (lambda body: _with(body, "bogus", 1), "bogus"),
    (lambda body: _with(body, "name", "n" * 201), "name"),
    (lambda body: _with(body, "origin", "laptop"), "origin"),
]


@pytest.mark.parametrize("make, field", INVALID, ids=[
    "no-num_generations", "no-ga_parameters", "unknown-parameter", "pygad-rule", "num_generations-type",
    "no-fitness_func", "no-code", "does-not-compile", "undetectable-entry", "entry-not-defined", "unknown-role",
    "no-result", "no-best_solution", "best_solution-type", "best_solution_fitness-type",
    "history-item", "generations_completed-type", "generations_completed-bool", "population-rows",
    "unknown-result-field", "unknown-field", "long-name", "origin-type"])
def test_invalid_imports_are_422_naming_the_field(api, body, make, field):
    response = post_import(api, make(body))

    assert_validation_failed(response, field)
    assert submission_ids(api) == []


def test_the_sdk_sees_422_as_a_validation_error(vilvik_client, api, body):
    with pytest.raises(vilvik.ValidationError) as raised:
        vilvik_client.imports.create(_without(body, "ga_parameters.num_generations"))

    assert raised.value.status_code == 422
    assert raised.value.code == "validation_failed"
    assert submission_ids(api) == []


def test_a_body_that_is_not_json_is_400(api):
    response = api.post("imports/", data="[1, 2", headers={"Content-Type": "application/json"})

    assert response.status_code == 400, response.text
    assert error_code(response) == "invalid_json"


# ---------------------------------------------------------------------- auth


def test_imports_need_the_imports_write_scope(api, control, body):
    key = control.create_key(scopes=["submissions:read", "submissions:write", "results:read",
                                     "results:write"])["key"]

    response = api.post("imports/", key=key, json=body)

    assert response.status_code == 403, response.text
    assert error_code(response) == "scope_required"
    assert "imports:write" in response.json()["error"]["message"]
    assert api.post("imports/", key=None, json=body).status_code == 401
    assert submission_ids(api) == []
    only = control.create_key(scopes=["imports:write"])["key"]
    assert api.post("imports/", key=only, json=body).status_code == 201


# ---------------------------------------------------------------------- no webhooks


def _closed_port() -> int:
    """A loopback port nobody listens on: a delivery there fails at once, and is recorded."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_imports_fire_no_webhooks(api, control, local_run, body):
    control.clock_freeze()  # a failed delivery would retry on the emulator clock: keep it still
    webhook = control.create_webhook(f"http://127.0.0.1:{_closed_port()}/hook")

    vilvik.push(local_run, api_key=control.api_key, base_url=control.base_url)
    imported(api, body)
    control.drain_deliveries(timeout=30)

    assert control.deliveries() == []
    # the webhook would have been called: a test event is delivered (and fails) at once
    control.test_webhook(webhook["id"])
    control.drain_deliveries(timeout=30)
    assert [(row["event_type"], row["attempt"]) for row in control.deliveries()] == [("webhook.test", 1)]


# ---------------------------------------------------------------------- the record is the submission; the SDK's body

#: the body of the SDK's own import test (vilvik 0.5.7, tests/test_imports_resource.py): no num_genes,
#: no best_solutions_fitness, no best_solution_generation, no population
SDK_TEST_BODY = {"name": "x", "ga_parameters": {"num_generations": 1},
                 "code": {"fitness_func": "def fitness_func(g,s,i): return 0", "fitness_func_entry": "fitness_func"},
                 "result": {"best_solution": [1.0], "best_solution_fitness": 0.0, "generations_completed": 1}}


def test_the_record_id_is_the_new_submissions_id_through_the_sdk(vilvik_client, api, body):
    record = vilvik_client.imports.create(body)

    submission = vilvik_client.submissions.get(record.id)

    assert submission.id == record.id == record.raw["submission_id"]
    assert submission.status == "succeeded" and submission.submission_type == "new"
    assert submission.raw["imported"] is True and submission.raw["source"] == "api"
    assert submission.raw["result_id"] == record.result_id
    assert vilvik_client.results.get(record.result_id).submission_id == record.id
    assert [row["id"] for row in api.get("submissions/", params={"submission_type": "new"}).json()["results"]] \
        == [record.id]
    assert api.get("submissions/", params={"submission_type": "import"}).json()["results"] == []


def test_the_sdk_tests_minimal_body_is_accepted(vilvik_client, api):
    record = vilvik_client.imports.create(copy.deepcopy(SDK_TEST_BODY))

    submission = api.get(f"submissions/{record.id}").json()
    assert submission["status"] == "succeeded" and submission["imported"] is True
    assert submission["parameters"]["num_genes"] == 1  # from best_solution
    assert submission["parameters"]["num_generations"] == 1
    result = api.get(f"results/{record.result_id}").json()
    assert result["best_solution"] == [1.0]
    assert float(result["best_solution_fitness"]) == 0.0
    assert result["generations_completed"] == 1
    assert result["best_solutions_fitness"] == [0.0]  # absent: the one value known
    assert result["best_solution_generation"] == 1  # absent: the last generation
    assert result["stopped_reason"] == "num_generations"


@pytest.mark.parametrize("extra", [
    {"best_solutions_fitness": [-1.0, 0.0]},
    {"best_solution_generation": 0},
    {"best_solutions_fitness": [-1.0, 0.0], "best_solution_generation": 1, "best_solution_idx": 0},
], ids=["history-only", "generation-only", "both"])
def test_the_optional_result_fields_are_taken_when_sent(api, extra):
    payload = copy.deepcopy(SDK_TEST_BODY)
    payload["result"].update(extra)

    created = imported(api, payload)

    result = api.get(f"results/{created['result_id']}").json()
    assert result["best_solutions_fitness"] == extra.get("best_solutions_fitness", [0.0])
    assert result["best_solution_generation"] == extra.get("best_solution_generation", 1)


def test_num_genes_that_disagrees_with_best_solution_is_422(api):
    payload = copy.deepcopy(SDK_TEST_BODY)
    payload["ga_parameters"]["num_genes"] = 3

    response = post_import(api, payload)

    assert_validation_failed(response, "result.best_solution")
    assert submission_ids(api) == []


def test_a_population_row_that_disagrees_with_num_genes_is_422(api, body):
    payload = copy.deepcopy(body)
    payload["result"]["population"][2] = payload["result"]["population"][2][:2]

    response = post_import(api, payload)

    assert_validation_failed(response, "result.population.2")
    assert submission_ids(api) == []
