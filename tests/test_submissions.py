"""Submissions (contract §5, the create-time rules of §6, credits of §8).

Create (202 shape, server defaults, required fields, PyGAD's own constructor rules),
fetch (every field of §5.1), the list row, real runs that succeed or fail, DELETE of
queued and running jobs (the worker process must be gone), re-execute, the quick
types of §5.5, and the credit balance (402 when exhausted, a charge per run).
"""

from __future__ import annotations

import logging
import os
import re

import pygad
import pytest
from helpers import EXAMPLE, NEVER_RETURNS, SPHERE, alive, assert_validation_failed, balance, error_code, submission_ids

ID = re.compile(r"^[A-Za-z0-9]{12}$")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
DEFAULT_ACCOUNT = "acct_default"

#: a real run that takes a fraction of a second
SMALL = {"num_generations": 10, "sol_per_pop": 8, "num_parents_mating": 4, "random_seed": 3}

RAISES = '''\
def fitness_func(ga_instance, solution, solution_idx):
    return 1 / 0
'''

#: burns a little CPU per call so that a run's charge is measurably above zero
BUSY = '''\
def fitness_func(ga_instance, solution, solution_idx):
    total = 0
    for step in range(20000):
        total += step
    return -sum(x * x for x in solution)
'''

#: every field of the detail shown in contract §5.1
DETAIL_FIELDS = {
    "id", "name", "description", "status", "source", "submission_type", "visibility",
    "parent_submission_id", "parent_result_id", "created_at", "started_at", "finished_at",
    "status_url", "result_url", "parameters", "code", "progress", "error", "usage", "credits_used",
    "webhook_url", "notification_email", "generated",
}
CREATED_FIELDS = {"id", "status", "status_url", "result_url", "created_at", "name", "description",
                  "submission_type", "generated", "request_id"}
USAGE_FIELDS = {"cpu_seconds", "peak_memory_mb", "wall_seconds"}


def without(mapping: dict, *names: str) -> dict:
    return {key: value for key, value in mapping.items() if key not in names}




def result_rows(api, submission_id: str | None = None) -> list[dict]:
    params = {"page_size": 100, **({"submission_id": submission_id} if submission_id else {})}
    response = api.get("results/", params=params)
    assert response.status_code == 200, response.text
    return response.json()["results"]



def pygad_rejection(**arguments) -> str:
    """What PyGAD's own constructor says about ``arguments`` (the text the 422 must carry)."""
    quiet = logging.getLogger("tests.pygad_rejection")
    quiet.propagate = False
    quiet.setLevel(logging.CRITICAL + 1)
    with pytest.raises(Exception) as caught:
        pygad.GA(fitness_func=lambda ga_instance, solution, solution_idx: 0.0, logger=quiet,
                 suppress_warnings=True, **arguments)
    return str(caught.value)


# ---------------------------------------------------------------------- create


@pytest.mark.vilvik_mode("manual")
@pytest.mark.parametrize("path", ["submissions/", "submissions"], ids=["docs-slash", "sdk-no-slash"])
def test_create_answers_202_with_the_documented_shape(api, path):
    response = api.post(path, json={**EXAMPLE, "name": "from script", "description": "a sphere"})

    assert response.status_code == 202, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) >= CREATED_FIELDS
    assert ID.match(body["id"]), body["id"]
    assert body["status"] == "queued"
    assert body["status_url"] == f"{api.base_url}/submissions/{body['id']}"
    assert body["result_url"] == f"{api.base_url}/results/?submission_id={body['id']}"
    assert TIMESTAMP.match(body["created_at"]), body["created_at"]
    assert body["name"] == "from script"
    assert body["description"] == "a sphere"
    assert body["submission_type"] == "new"
    assert body["generated"] == {}
    assert body["request_id"] == response.headers["X-Request-Id"]
    assert body["request_id"].startswith("req_")


@pytest.mark.vilvik_mode("manual")
def test_urls_use_the_host_the_request_came_to(api):
    host = "localhost:4321"  # a name the server answers to (it refuses foreign ones), through another port
    response = api.post("submissions/", json=EXAMPLE, headers={"Host": host})

    assert response.status_code == 202, response.text
    created = response.json()
    assert created["status_url"] == f"http://{host}/api/v1/submissions/{created['id']}"
    assert created["result_url"] == f"http://{host}/api/v1/results/?submission_id={created['id']}"
    detail = api.get(f"submissions/{created['id']}", headers={"Host": host}).json()
    assert detail["status_url"] == created["status_url"]
    assert detail["result_url"] == created["result_url"]


@pytest.mark.vilvik_mode("manual")
@pytest.mark.parametrize(("sent", "expected"), [
    ({}, {"num_generations": 100, "sol_per_pop": 50, "num_parents_mating": 25}),
    ({"sol_per_pop": 10}, {"num_generations": 100, "sol_per_pop": 10, "num_parents_mating": 5}),
    ({"sol_per_pop": 7}, {"num_generations": 100, "sol_per_pop": 7, "num_parents_mating": 3}),
    ({"sol_per_pop": 3}, {"num_generations": 100, "sol_per_pop": 3, "num_parents_mating": 2}),
    ({"sol_per_pop": 2}, {"num_generations": 100, "sol_per_pop": 2, "num_parents_mating": 2}),
    ({"num_generations": 7, "sol_per_pop": 20, "num_parents_mating": 3},
     {"num_generations": 7, "sol_per_pop": 20, "num_parents_mating": 3}),
], ids=["nothing-sent", "pop-10", "pop-7-rounds-down", "pop-3-at-least-2", "pop-2", "all-sent"])
def test_server_defaults_are_visible_in_the_parameters(api, sent, expected):
    """The SDK guide's example sends no num_parents_mating: 100 / 50 / half the population, at least 2."""
    body = {"fitness_func": SPHERE, "fitness_func_entry": "fitness_func", "num_genes": 5, **sent}
    response = api.post("submissions/", json=body)

    assert response.status_code == 202, response.text
    parameters = api.get(f"submissions/{response.json()['id']}").json()["parameters"]
    assert {name: parameters[name] for name in expected} == expected
    assert parameters["num_genes"] == 5


@pytest.mark.parametrize("missing", [("num_genes",), ("fitness_func", "fitness_func_entry")],
                         ids=["num_genes", "fitness_func"])
def test_num_genes_and_fitness_func_are_required(api, control, missing):
    before = balance(control)
    response = api.post("submissions/", json=without(EXAMPLE, *missing))

    assert_validation_failed(response, missing[0])
    assert submission_ids(api) == []
    assert balance(control) == before


@pytest.mark.parametrize("rule, field", [
    ({"keep_elitism": 11}, "keep_elitism"),
    ({"parent_selection_type": "nsga3"}, "nsga3_num_divisions"),
    ({"gene_space": [[0, 1]] * 3}, "gene_space"),
], ids=["keep_elitism-over-sol_per_pop", "nsga3-without-divisions", "gene_space-of-the-wrong-length"])
def test_pygad_constructor_rules_are_a_422_with_pygad_text_and_store_nothing(api, control, rule, field):
    """What depends on several parameters is PyGAD's constructor's to say, in its own words."""
    expected = pygad_rejection(num_generations=EXAMPLE["num_generations"], sol_per_pop=EXAMPLE["sol_per_pop"],
                               num_parents_mating=EXAMPLE["num_parents_mating"], num_genes=EXAMPLE["num_genes"],
                               **rule)
    before = balance(control)

    response = api.post("submissions/", json={**EXAMPLE, **rule})

    error = response.json()["error"]
    assert response.status_code == 422 and error["code"] == "validation_failed", response.text
    assert expected in error["message"], (expected, error["message"])
    assert any(expected in item["message"] and item["field"] == field for item in error["details"]), error
    assert submission_ids(api) == []
    assert result_rows(api) == []
    assert balance(control) == before


@pytest.mark.parametrize("rule, field, words", [
    ({"crossover_type": "zigzag"}, "crossover_type", "single_point"),
    ({"mutation_type": "nope"}, "mutation_type", "adaptive"),
    ({"parent_selection_type": "best"}, "parent_selection_type", "tournament"),
    ({"stop_criteria": "reach_x"}, "stop_criteria", "saturate_<generations>"),
    ({"stop_criteria": ["saturate_3", "forever_3"]}, "stop_criteria.1", "reach_<fitness>"),
    ({"gene_type": "decimal"}, "gene_type", "numpy.float32"),
], ids=["crossover_type", "mutation_type", "parent_selection_type", "stop_criteria-threshold",
        "stop_criteria-word-in-a-list", "gene_type"])
def test_operator_and_criterion_names_are_checked_by_the_schema(api, control, rule, field, words):
    """Names of operators, criteria and types are part of the schema: the 422 lists what is accepted."""
    before = balance(control)

    error = assert_validation_failed(api.post("submissions/", json={**EXAMPLE, **rule}), field)

    detail = next(item for item in error["details"] if item["field"] == field)
    assert words in detail["message"], detail
    assert submission_ids(api) == []
    assert balance(control) == before


# ---------------------------------------------------------------------- fetch and list


@pytest.mark.vilvik_mode("manual")
def test_detail_has_every_field_of_the_contract(api):
    sent = {**EXAMPLE, "name": "from script", "description": "five genes", "visibility": "public",
            "notification_email": "ga@example.com", "webhook_url": "http://127.0.0.1:9/hook",
            "mutation_probability": 0.25, "random_seed": 11}
    created = api.post("submissions/", json=sent).json()

    response = api.get(f"submissions/{created['id']}")

    assert response.status_code == 200, response.text
    detail = response.json()
    assert set(detail) >= DETAIL_FIELDS, DETAIL_FIELDS - set(detail)
    assert detail["id"] == created["id"]
    assert detail["name"] == "from script"
    assert detail["description"] == "five genes"
    assert detail["status"] == "queued"
    assert detail["source"] == "api"
    assert detail["submission_type"] == "new"
    assert detail["visibility"] == "public"
    assert detail["parent_submission_id"] is None
    assert detail["parent_result_id"] is None
    assert detail["created_at"] == created["created_at"]
    assert detail["started_at"] is None
    assert detail["finished_at"] is None
    assert detail["status_url"] == created["status_url"]
    assert detail["result_url"] == created["result_url"]
    for name in ("num_generations", "sol_per_pop", "num_parents_mating", "num_genes", "mutation_probability",
                 "random_seed"):
        assert detail["parameters"][name] == sent[name], name
    # every effective GA parameter, defaults filled in
    assert {"keep_elitism", "crossover_type", "mutation_type", "parent_selection_type", "gene_type"} \
        <= set(detail["parameters"])
    assert detail["code"] == {"fitness_func": SPHERE, "fitness_func_entry": "fitness_func"}
    assert detail["progress"] == {"generations_completed": 0, "num_generations": 100, "best_fitness": None}
    assert detail["error"] is None
    assert detail["usage"] is None
    assert detail["credits_used"] is None
    assert detail["webhook_url"] == "http://127.0.0.1:9/hook"
    assert detail["notification_email"] == "ga@example.com"
    assert detail["generated"] == {}


@pytest.mark.vilvik_mode("manual")
def test_list_row_is_exactly_the_documented_summary(api):
    created = api.create(name="listed")

    response = api.get("submissions/")

    assert response.status_code == 200, response.text
    (row,) = response.json()["results"]
    assert row == {"id": created["id"], "name": "listed", "status": "queued", "source": "api",
                   "created_at": created["created_at"]}


@pytest.mark.parametrize("verb", ["get", "delete"])
def test_unknown_submission_is_404(api, verb):
    response = getattr(api, verb)("submissions/abcDEF123456")
    assert response.status_code == 404
    assert error_code(response) == "not_found"


# ---------------------------------------------------------------------- running


def test_real_run_succeeds_with_usage_timing_credits_and_final_progress(api, control):
    created = api.create(**SMALL, name="real run")

    detail = control.wait(created["id"])

    assert detail["status"] == "succeeded", detail
    assert detail["error"] is None
    assert set(detail["usage"]) >= USAGE_FIELDS
    for name in USAGE_FIELDS:
        assert isinstance(detail["usage"][name], (int, float)) and detail["usage"][name] >= 0, name
    assert detail["usage"]["wall_seconds"] > 0
    assert detail["usage"]["peak_memory_mb"] > 0
    assert TIMESTAMP.match(detail["started_at"]) and TIMESTAMP.match(detail["finished_at"])
    assert detail["created_at"] <= detail["started_at"] <= detail["finished_at"]
    assert isinstance(detail["credits_used"], (int, float)) and detail["credits_used"] >= 0
    (row,) = result_rows(api, created["id"])
    assert detail["progress"] == {"generations_completed": 10, "num_generations": 10,
                                  "best_fitness": row["best_solution_fitness"]}
    # the API-visible detail never leaks the worker's pid
    assert "worker_pid" not in api.get(f"submissions/{created['id']}").json()


def test_credits_are_charged_when_a_run_ends(api, control):
    before = balance(control)
    created = api.create(**SMALL, fitness_func=BUSY)

    detail = control.wait(created["id"])

    assert detail["status"] == "succeeded", detail
    usage, charged = detail["usage"], detail["credits_used"]
    expected = round(usage["cpu_seconds"] * 0.01 + usage["peak_memory_mb"] / 1024 * usage["wall_seconds"] * 0.002, 4)
    assert charged == pytest.approx(expected, abs=1e-4)
    assert charged > 0
    after = balance(control)
    assert after < before
    assert after == pytest.approx(before - charged, abs=1e-4)
    ledger = control.ledger(DEFAULT_ACCOUNT)
    assert ledger["balance"] == after
    ledger = [entry for entry in ledger["results"] if entry["submission_id"] == created["id"]]
    assert len(ledger) == 1
    assert ledger[0]["amount"] == pytest.approx(charged, abs=1e-9)
    assert ledger[0]["balance_after"] == pytest.approx(after, abs=1e-9)


def test_a_fitness_function_that_raises_fails_with_fitness_error_and_a_traceback(api, control):
    created = api.create(**SMALL, fitness_func=RAISES)

    detail = control.wait(created["id"])

    assert detail["status"] == "failed", detail
    error = detail["error"]
    assert error["code"] == "fitness_error"
    assert "ZeroDivisionError" in error["message"]
    assert error["traceback"].startswith("Traceback")
    assert "ZeroDivisionError" in error["traceback"]
    assert "fitness_func" in error["traceback"]
    assert TIMESTAMP.match(detail["finished_at"])
    assert set(detail["usage"]) >= USAGE_FIELDS


# ---------------------------------------------------------------------- delete


def assert_deleted(api, submission_id: str) -> None:
    response = api.get(f"submissions/{submission_id}")
    assert response.status_code == 404 and error_code(response) == "not_found"
    again = api.delete(f"submissions/{submission_id}")
    assert again.status_code == 404 and error_code(again) == "not_found"
    assert submission_id not in submission_ids(api)
    assert result_rows(api, submission_id) == []


@pytest.mark.vilvik_mode("manual")
def test_delete_of_a_queued_job(api):
    created = api.create()

    response = api.delete(f"submissions/{created['id']}")

    assert response.status_code == 204
    assert response.content == b""
    assert_deleted(api, created["id"])


def test_delete_of_a_running_job_kills_its_worker_and_removes_its_results(
        api, control, vilvik_emulator_server):
    runner = vilvik_emulator_server.emulator.runner
    created = api.create(fitness_func=NEVER_RETURNS)
    running = control.wait(created["id"], status="running")
    assert running["status"] == "running"
    assert "worker_pid" not in running
    pid = runner.pid_of(created["id"])
    assert pid is not None and os.path.exists(f"/proc/{pid}")

    response = api.delete(f"submissions/{created['id']}")

    assert response.status_code == 204
    assert response.content == b""
    # dead: gone, or a zombie its parent (the job template) has not reaped yet
    assert not alive(pid), f"worker {pid} survived the DELETE"
    assert runner.state(created["id"]) is None
    assert_deleted(api, created["id"])
    assert result_rows(api) == []
    # the part that ran is still billed (§5.3)
    charges = [entry for entry in control.ledger(DEFAULT_ACCOUNT)["results"]
               if entry["submission_id"] == created["id"]]
    assert len(charges) == 1


@pytest.mark.vilvik_mode("manual")
def test_delete_of_a_finished_job_removes_its_result(api, control):
    created = api.create()
    control.succeed(created["id"], best_solution_fitness=3.5)
    (row,) = result_rows(api, created["id"])

    assert api.delete(f"submissions/{created['id']}").status_code == 204

    assert_deleted(api, created["id"])
    response = api.get(f"results/{row['id']}")
    assert response.status_code == 404 and error_code(response) == "not_found"


# ---------------------------------------------------------------------- re-execute


@pytest.mark.vilvik_mode("manual")
def test_reexecute_with_overrides_inherits_everything_else(api):
    parent = api.create(name="parent", description="original", mutation_probability=0.3, random_seed=5)
    parent_detail = api.get(f"submissions/{parent['id']}").json()

    response = api.post(f"submissions/{parent['id']}/reexecute",
                        json={"num_generations": 7, "crossover_type": "uniform", "name": "child"})

    assert response.status_code == 202, response.text
    created = response.json()
    assert set(created) >= CREATED_FIELDS
    assert ID.match(created["id"]) and created["id"] != parent["id"]
    assert created["status"] == "queued"
    assert created["status_url"] == f"{api.base_url}/submissions/{created['id']}"
    child = api.get(f"submissions/{created['id']}").json()
    assert child["parent_submission_id"] == parent["id"]
    assert child["parent_result_id"] is None
    assert child["name"] == "child"
    assert child["description"] == "original"
    assert child["parameters"]["num_generations"] == 7
    assert child["parameters"]["crossover_type"] == "uniform"
    assert without(child["parameters"], "num_generations", "crossover_type") == \
        without(parent_detail["parameters"], "num_generations", "crossover_type")
    assert child["code"] == parent_detail["code"]


@pytest.mark.vilvik_mode("manual")
def test_reexecute_without_a_body_copies_the_parameters(api):
    parent = api.create(random_seed=5)

    response = api.post(f"submissions/{parent['id']}/reexecute")

    assert response.status_code == 202, response.text
    child = api.get(f"submissions/{response.json()['id']}").json()
    assert child["parent_submission_id"] == parent["id"]
    assert child["parameters"] == api.get(f"submissions/{parent['id']}").json()["parameters"]


@pytest.mark.vilvik_mode("manual")
@pytest.mark.parametrize(("overrides", "field"), [
    ({"bogus": 1}, "bogus"),
    ({"keep_elitism": 999}, "keep_elitism"),
    ({"num_generations": 0}, "num_generations"),
], ids=["unknown-override", "pygad-rule", "out-of-range"])
def test_reexecute_with_a_bad_override_is_422_and_creates_nothing(api, overrides, field):
    parent = api.create()

    response = api.post(f"submissions/{parent['id']}/reexecute", json=overrides)

    assert_validation_failed(response, field)
    assert submission_ids(api) == [parent["id"]]


def test_reexecute_of_an_unknown_submission_is_404(api):
    response = api.post("submissions/abcDEF123456/reexecute", json={})
    assert response.status_code == 404 and error_code(response) == "not_found"


# ---------------------------------------------------------------------- quick types

QUICK_RUN = {"num_generations": 20, "sol_per_pop": 10, "random_seed": 2}


@pytest.mark.parametrize(("body", "genes"), [
    ({"submission_type": "quick_binary_subset_sum", "integers": [3, 34, 4, 12, 5, 2], "target": 9,
      "num_genes": 99}, 6),
    ({"submission_type": "quick_knapsack", "item_names": ["tent", "stove", "book"], "item_values": [10, 4, 7],
      "item_weights": [[5, 1], [2, 1], [4, 2]], "dimension_names": ["kg", "litres"],
      "dimension_capacities": [8, 3]}, 3),
], ids=["subset-sum-integers", "knapsack"])
def test_quick_types_run_to_success(api, control, body, genes):
    response = api.post("submissions/", json={**body, **QUICK_RUN})

    assert response.status_code == 202, response.text
    created = response.json()
    assert created["submission_type"] == body["submission_type"]
    detail = control.wait(created["id"])
    assert detail["status"] == "succeeded", detail
    assert detail["submission_type"] == body["submission_type"]
    assert detail["parameters"]["num_genes"] == genes  # num_genes is ignored for quick types
    (row,) = result_rows(api, created["id"])
    assert len(row["best_solution"]) == genes
    assert set(row["best_solution"]) <= {0, 1}


def test_quick_subset_sum_generates_integers_when_asked(api, control):
    response = api.post("submissions/", json={"submission_type": "quick_binary_subset_sum", "num_integers": 8,
                                               "target": 40, **QUICK_RUN})

    assert response.status_code == 202, response.text
    created = response.json()
    integers = created["generated"]["integers"]
    assert len(integers) == 8 and all(isinstance(value, int) for value in integers)
    detail = control.wait(created["id"])
    assert detail["status"] == "succeeded", detail
    assert detail["generated"] == {"integers": integers}
    assert detail["parameters"]["num_genes"] == 8


def test_an_unsupported_submission_type_is_422_listing_the_supported_ones(api):
    response = api.post("submissions/", json={**EXAMPLE, "submission_type": "quick_teleport"})

    error = assert_validation_failed(response, "submission_type")
    for slug in ("new", "quick_binary_subset_sum", "quick_knapsack"):
        assert slug in error["message"], slug
    assert submission_ids(api) == []


# ---------------------------------------------------------------------- credits


def start_continue(api, control) -> str:
    """A succeeded (canned) result of the default account, ready to be continued."""
    parent = api.create()
    control.succeed(parent["id"], best_solution_fitness=3.5)
    return result_rows(api, parent["id"])[0]["id"]


@pytest.mark.vilvik_mode("manual")
@pytest.mark.parametrize("credits", [0, -2.5], ids=["zero", "negative"])
@pytest.mark.parametrize("operation", ["create", "reexecute", "continue"])
def test_an_exhausted_balance_is_402_and_creates_nothing(api, control, operation, credits):
    parent = api.create()
    result_id = start_continue(api, control) if operation == "continue" else None
    existing = submission_ids(api)
    control.update_account(DEFAULT_ACCOUNT, credits=credits)

    if operation == "create":
        response = api.post("submissions/", json=EXAMPLE)
    elif operation == "reexecute":
        response = api.post(f"submissions/{parent['id']}/reexecute", json={})
    else:
        response = api.post(f"results/{result_id}/continue", json={})

    assert response.status_code == 402, response.text
    assert error_code(response) == "insufficient_credits"
    assert sorted(submission_ids(api)) == sorted(existing)


@pytest.mark.vilvik_mode("manual")
def test_a_small_positive_balance_is_enough(api, control):
    control.update_account(DEFAULT_ACCOUNT, credits=0.001)
    assert api.post("submissions/", json=EXAMPLE).status_code == 202
