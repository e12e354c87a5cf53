"""Results (contract §7): the list row, the detail, file downloads, PATCH, DELETE, continue.

Real (small) PyGAD runs where the numbers matter (fitness semantics, files, continuing
from a final population); canned results (manual mode) where only the bookkeeping does.
"""

from __future__ import annotations

import re

import pytest
from helpers import IMPORT_BODY, assert_validation_failed, error_code

ID = re.compile(r"^[A-Za-z0-9]{12}$")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

GENERATIONS, POPULATION, GENES = 10, 8, 5
SMALL = {"num_generations": GENERATIONS, "sol_per_pop": POPULATION, "num_parents_mating": 4,
         "num_genes": GENES, "random_seed": 4}

ROW_FIELDS = {"id", "submission_id", "name", "is_shared", "best_solution_fitness", "generations_completed",
              "created_at", "best_solution"}
DETAIL_FIELDS = ROW_FIELDS | {"best_solution_idx", "best_solutions_fitness", "best_solution_generation",
                              "last_generation_fitness", "stopped_reason", "parameters", "usage",
                              "parent_result_id", "files"}
REQUIRED_FILES = {"result.json", "population.json", "fitness.svg", "log.txt"}

RAISES = '''\
def fitness_func(ga_instance, solution, solution_idx):
    return 1 / 0
'''

PRINTS = '''\
def fitness_func(ga_instance, solution, solution_idx):
    if solution_idx == 0:
        print("evaluating generation", ga_instance.generations_completed)
    return -sum(x * x for x in solution)
'''


def only_result(api, submission_id: str) -> dict:
    response = api.get("results/", params={"submission_id": submission_id})
    assert response.status_code == 200, response.text
    (row,) = response.json()["results"]
    return row


def run(api, control, **overrides) -> tuple[dict, dict, dict]:
    """A real run to its end: (submission detail, result list row, result detail)."""
    created = api.create(**{**SMALL, **overrides})
    submission = control.wait(created["id"])
    row = only_result(api, created["id"])
    response = api.get(f"results/{row['id']}")
    assert response.status_code == 200, response.text
    return submission, row, response.json()


def canned(api, control, fitness: float = 3.5, **fields) -> dict:
    """A result finished through the control plane (manual mode), as its detail."""
    created = api.create(**fields)
    control.succeed(created["id"], best_solution_fitness=fitness)
    return api.get(f"results/{only_result(api, created['id'])['id']}").json()


def download(api, url: str):
    response = api.get(url)
    assert response.status_code == 200, (url, response.text)
    return response



# ---------------------------------------------------------------------- list row and detail


def test_list_row_shape_and_fitness_semantics(api, control):
    submission, row, detail = run(api, control, name="sphere")

    assert submission["status"] == "succeeded", submission
    assert set(row) == ROW_FIELDS
    assert ID.match(row["id"])
    assert row["submission_id"] == submission["id"]
    assert row["name"] == "sphere"
    assert row["is_shared"] is False
    assert row["generations_completed"] == GENERATIONS
    assert TIMESTAMP.match(row["created_at"])
    assert isinstance(row["best_solution_fitness"], str)
    best = float(row["best_solution_fitness"])
    assert best == detail["best_solutions_fitness"][-1]
    assert best == max(detail["last_generation_fitness"])
    assert len(row["best_solution"]) == GENES
    assert best == pytest.approx(-sum(x * x for x in row["best_solution"]))


def test_detail_adds_history_parameters_usage_and_files(api, control):
    submission, row, detail = run(api, control)

    assert set(detail) >= DETAIL_FIELDS, DETAIL_FIELDS - set(detail)
    assert {name: detail[name] for name in ROW_FIELDS} == row
    assert 0 <= detail["best_solution_idx"] < POPULATION
    assert len(detail["last_generation_fitness"]) == POPULATION
    assert detail["last_generation_fitness"][detail["best_solution_idx"]] == float(row["best_solution_fitness"])
    assert len(detail["best_solutions_fitness"]) == GENERATIONS + 1
    assert 0 <= detail["best_solution_generation"] <= GENERATIONS
    assert detail["best_solutions_fitness"][detail["best_solution_generation"]] == \
        max(detail["best_solutions_fitness"])
    assert detail["stopped_reason"] == "num_generations"
    assert detail["parameters"] == submission["parameters"]
    assert detail["usage"] == submission["usage"]
    assert detail["parent_result_id"] is None
    names = [entry["name"] for entry in detail["files"]]
    assert set(names) >= REQUIRED_FILES
    for entry in detail["files"]:
        assert set(entry) >= {"name", "content_type", "size", "url"}
        assert entry["url"] == f"{api.base_url}/results/{detail['id']}/files/{entry['name']}"
        assert isinstance(entry["size"], int) and entry["size"] >= 0


def test_files_download_with_their_type_and_size(api, control):
    _, row, detail = run(api, control, fitness_func=PRINTS)
    files = {entry["name"]: entry for entry in detail["files"]}

    for entry in files.values():
        response = download(api, entry["url"])
        assert response.headers["Content-Type"] == entry["content_type"], entry["name"]
        assert len(response.content) == entry["size"], entry["name"]

    assert files["result.json"]["content_type"].startswith("application/json")
    result = download(api, files["result.json"]["url"]).json()
    assert len(result["population"]) == POPULATION
    assert all(len(solution) == GENES for solution in result["population"])
    assert result["best_solution"] == row["best_solution"]
    assert download(api, files["population.json"]["url"]).json() == result["population"]

    assert files["fitness.svg"]["content_type"] == "image/svg+xml"
    svg = download(api, files["fitness.svg"]["url"]).text
    assert "<svg" in svg and svg.rstrip().endswith("</svg>")

    assert files["log.txt"]["content_type"].startswith("text/plain")
    log = download(api, files["log.txt"]["url"]).text
    assert "evaluating generation 0" in log


@pytest.mark.vilvik_mode("manual")
@pytest.mark.parametrize("name", ["missing.json", "RESULT.JSON", "result.json.bak"])
def test_an_unknown_file_is_404(api, control, name):
    result = canned(api, control)

    response = api.get(f"results/{result['id']}/files/{name}")

    assert response.status_code == 404
    assert error_code(response) == "not_found"


@pytest.mark.parametrize("path", ["results/abcDEF123456", "results/abcDEF123456/files/result.json"])
def test_an_unknown_result_is_404(api, path):
    response = api.get(path)
    assert response.status_code == 404 and error_code(response) == "not_found"


# ---------------------------------------------------------------------- update


@pytest.mark.vilvik_mode("manual")
@pytest.mark.parametrize("change", [
    {"name": "renamed"},
    {"is_shared": True},
    {"name": "both", "is_shared": True},
    {"name": None},
    {},
], ids=["name", "is_shared", "both", "clear-name", "nothing"])
def test_patch_changes_only_the_fields_sent(api, control, change):
    before = canned(api, control, name="original")

    response = api.patch(f"results/{before['id']}", json=change)

    assert response.status_code == 200, response.text
    after = response.json()
    assert after == {**before, **change}
    assert api.get(f"results/{before['id']}").json() == after
    row = only_result(api, before["submission_id"])
    assert {name: row[name] for name in ("name", "is_shared")} == {name: after[name] for name in ("name", "is_shared")}


@pytest.mark.vilvik_mode("manual")
@pytest.mark.parametrize(("body", "field"), [
    ({"is_shared": "yes"}, "is_shared"),
    ({"is_shared": 1}, "is_shared"),
    ({"name": 5}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"best_solution_fitness": "99"}, "best_solution_fitness"),
    ({"name": "ok", "submission_id": "abcDEF123456"}, "submission_id"),
], ids=["is_shared-string", "is_shared-int", "name-int", "name-too-long", "unknown-field",
        "unknown-field-with-a-valid-one"])
def test_patch_rejects_wrong_types_and_unknown_fields(api, control, body, field):
    before = canned(api, control, name="original")

    response = api.patch(f"results/{before['id']}", json=body)

    assert_validation_failed(response, field)
    assert api.get(f"results/{before['id']}").json() == before


# ---------------------------------------------------------------------- delete


@pytest.mark.vilvik_mode("manual")
def test_delete_leaves_the_submission_untouched(api, control):
    result = canned(api, control)
    submission = api.get(f"submissions/{result['submission_id']}").json()

    response = api.delete(f"results/{result['id']}")

    assert response.status_code == 204
    assert response.content == b""
    gone = api.get(f"results/{result['id']}")
    assert gone.status_code == 404 and error_code(gone) == "not_found"
    again = api.delete(f"results/{result['id']}")
    assert again.status_code == 404 and error_code(again) == "not_found"
    assert api.get("results/").json()["results"] == []
    assert api.get(f"submissions/{result['submission_id']}").json() == submission


# ---------------------------------------------------------------------- continue


def test_continue_branches_from_the_final_population(api, control):
    parent, row, parent_result = run(api, control, name="parent", mutation_probability=0.1)
    parent_files = {entry["name"]: entry["url"] for entry in parent_result["files"]}
    parent_population = download(api, parent_files["result.json"]).json()["population"]

    response = api.post(f"results/{row['id']}/continue", json={"num_generations": 4, "mutation_probability": 0.2})

    assert response.status_code == 202, response.text
    created = response.json()
    assert ID.match(created["id"]) and created["id"] != parent["id"]
    assert created["status"] == "queued"
    assert created["status_url"] == f"{api.base_url}/submissions/{created['id']}"
    assert created["result_url"] == f"{api.base_url}/results/?submission_id={created['id']}"
    child = control.wait(created["id"])
    assert child["status"] == "succeeded", child
    assert child["parent_submission_id"] == parent["id"]
    assert child["parent_result_id"] == row["id"]
    assert child["parameters"]["num_generations"] == 4
    assert child["parameters"]["mutation_probability"] == 0.2
    assert child["parameters"]["num_genes"] == GENES
    assert child["code"] == parent["code"]

    child_row = only_result(api, created["id"])
    child_result = api.get(f"results/{child_row['id']}").json()
    assert child_result["parent_result_id"] == row["id"]
    assert len(child_result["best_solutions_fitness"]) == 4 + 1
    # generation 0 of the child is the parent's final population, so its best is the parent's best
    assert child_result["best_solutions_fitness"][0] == parent_result["best_solutions_fitness"][-1]
    child_files = {entry["name"]: entry["url"] for entry in child_result["files"]}
    child_json = download(api, child_files["result.json"]).json()
    assert child_json["initial_population"] == parent_population


def test_a_failed_run_has_no_result(api, control):
    """One result per run, and only a run that succeeded has one (contract §7): nothing to continue."""
    created = api.create(**SMALL, fitness_func=RAISES)
    detail = control.wait(created["id"])
    assert detail["status"] == "failed" and detail["result_id"] is None

    assert api.get("results/", params={"submission_id": created["id"]}).json()["results"] == []
    assert api.get("results/").json()["results"] == []


def test_continue_of_a_result_without_a_final_population_is_409(api):
    """An import sent without its population (the SDK's include_population=False) cannot be continued."""
    created = api.post("imports/", json={key: value for key, value in IMPORT_BODY.items()}
                       | {"result": {k: v for k, v in IMPORT_BODY["result"].items() if k != "population"}})
    assert created.status_code == 201, created.text

    response = api.post(f"results/{created.json()['result_id']}/continue", json={})

    assert response.status_code == 409, response.text
    assert error_code(response) == "conflict" and "population" in response.json()["error"]["message"]
    assert [item["id"] for item in api.get("submissions/").json()["results"]] == [created.json()["id"]]


@pytest.mark.vilvik_mode("manual")
@pytest.mark.parametrize(("overrides", "field"), [
    ({"num_genes": GENES + 1}, "num_genes"),
    ({"gene_type": "int"}, "gene_type"),
    ({"bogus": True}, "bogus"),
    ({"keep_elitism": 999}, "keep_elitism"),
], ids=["num_genes", "gene_type", "unknown-override", "pygad-rule"])
def test_continue_with_a_forbidden_override_is_422(api, control, overrides, field):
    result = canned(api, control, **SMALL)

    response = api.post(f"results/{result['id']}/continue", json=overrides)

    assert_validation_failed(response, field)
    assert [item["id"] for item in api.get("submissions/").json()["results"]] == [result["submission_id"]]


@pytest.mark.vilvik_mode("manual")
@pytest.mark.parametrize("body", [{"num_genes": GENES}, {}, None], ids=["same-num_genes", "empty", "no-body"])
def test_continue_accepts_unchanged_genes_and_no_overrides(api, control, body):
    result = canned(api, control, **SMALL)

    response = api.post(f"results/{result['id']}/continue", **({} if body is None else {"json": body}))

    assert response.status_code == 202, response.text
    child = api.get(f"submissions/{response.json()['id']}").json()
    assert child["parent_submission_id"] == result["submission_id"]
    assert child["parent_result_id"] == result["id"]
    assert child["parameters"]["num_genes"] == GENES


def test_continue_of_an_unknown_result_is_404(api):
    response = api.post("results/abcDEF123456/continue", json={})
    assert response.status_code == 404 and error_code(response) == "not_found"

