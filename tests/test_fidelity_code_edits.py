"""Re-execute and continue with edited code, and the lineage of the runs they create (contract §5.4, §7, §10).

"Edit code/params and continue the run" (imports page): an override body may carry any
create field, code included — `fitness_func` + `fitness_func_entry`, callbacks,
`gene_constraint`, `<field>_id` references — checked exactly as create checks them. The
child really runs the new code from the parent's final population: the tests prove it
with a fitness only the new code gives (``1000 - sum |x|``, where the parent's is
``-sum x²``) computed over the parent's own final population, and with output only the
new code prints. The genome's shape (`num_genes`, `gene_type`, `custom_gene_type`), the
`submission_type` and a quick type's fitness function cannot change (422 naming the field).
"""

from __future__ import annotations

import pytest
from helpers import IMPORT_BODY, NEVER_RETURNS, SPHERE, assert_validation_failed, error_code, submission_ids

GENES = 5
SMALL = {"num_generations": 6, "sol_per_pop": 8, "num_parents_mating": 4, "num_genes": GENES, "random_seed": 11,
         "fitness_func": SPHERE, "fitness_func_entry": "fitness_func"}

#: the edited fitness: positive where the parent's is negative, and it says so in the log
EDITED = '''\
def scored(ga_instance, solution, solution_idx):
    if solution_idx == 0:
        print("edited fitness ran in generation", ga_instance.generations_completed)
    return 1000.0 - sum(abs(x) for x in solution)
'''
EDITED_BODY = {"fitness_func": EDITED, "fitness_func_entry": "scored"}

ON_START = '''\
def announce(ga_instance):
    print("edited on_start saw", len(ga_instance.population), "solutions")
'''

STOP_AT_2 = '''\
def stop_early(ga_instance):
    print("edited on_generation at", ga_instance.generations_completed)
    if ga_instance.generations_completed >= 2:
        return "stop"
'''

NON_NEGATIVE_FIRST_GENE = '''\
def non_negative(solution, values):
    return [value for value in values if value >= 0]

limits = [non_negative, None, None, None, None]
'''


def edited_fitness(solution: list[float]) -> float:
    return 1000.0 - sum(abs(x) for x in solution)


def result_of(api, submission_id: str) -> dict:
    rows = api.get("results/", params={"submission_id": submission_id}).json()["results"]
    assert len(rows) == 1, rows
    detail = api.get(f"results/{rows[0]['id']}")
    assert detail.status_code == 200, detail.text
    return detail.json()


def file_of(api, result: dict, name: str):
    (entry,) = [entry for entry in result["files"] if entry["name"] == name]
    response = api.get(entry["url"])
    assert response.status_code == 200, response.text
    return response


def finished_parent(api, control, **fields) -> tuple[dict, dict]:
    """A real run to success: (its detail, its result's detail)."""
    response = api.post("submissions", json={**SMALL, **fields})
    assert response.status_code == 202, response.text
    parent = control.wait(response.json()["id"])
    assert parent["status"] == "succeeded", parent
    return parent, result_of(api, parent["id"])


def post_override(api, verb: str, parent: dict, result: dict | None, body: dict | None):
    path = f"submissions/{parent['id']}/reexecute" if verb == "reexecute" else f"results/{result['id']}/continue"
    return api.post(path, **({} if body is None else {"json": body}))


def assert_runs_the_edited_fitness(api, control, created: dict) -> tuple[dict, dict]:
    child = control.wait(created["id"])
    assert child["status"] == "succeeded", child
    result = result_of(api, child["id"])
    best = float(result["best_solution_fitness"])
    assert best == pytest.approx(edited_fitness(result["best_solution"])), result
    assert best > 900  # the parent's fitness is never positive: only the edited code gives this
    assert "edited fitness ran in generation 0" in file_of(api, result, "log.txt").text
    return child, result


# ---------------------------------------------------------------------- continue with edited code


def test_continue_runs_edited_code_from_the_parents_final_population(api, control):
    parent, parent_result = finished_parent(api, control)
    population = file_of(api, parent_result, "population.json").json()

    response = api.post(f"results/{parent_result['id']}/continue", json={**EDITED_BODY, "num_generations": 3})

    assert response.status_code == 202, response.text
    child, result = assert_runs_the_edited_fitness(api, control, response.json())
    assert child["code"]["fitness_func"] == EDITED and child["code"]["fitness_func_entry"] == "scored"
    assert child["parameters"]["num_generations"] == 3
    started_from = file_of(api, result, "result.json").json()["initial_population"]
    assert started_from == population
    # generation 0 of the child is the parent's final population scored by the edited code
    assert result["best_solutions_fitness"][0] == pytest.approx(max(edited_fitness(row) for row in population))
    # the parent is untouched
    assert api.get(f"submissions/{parent['id']}").json()["code"] == parent["code"]


def test_continue_with_edited_callbacks_runs_them(api, control):
    _, parent_result = finished_parent(api, control)

    response = api.post(f"results/{parent_result['id']}/continue", json={
        "on_start": ON_START, "on_start_entry": "announce",
        "on_generation": STOP_AT_2, "on_generation_entry": "stop_early", "num_generations": 10})

    assert response.status_code == 202, response.text
    child = control.wait(response.json()["id"])
    assert child["status"] == "succeeded", child
    assert child["code"]["on_start_entry"] == "announce" and child["code"]["on_generation_entry"] == "stop_early"
    assert child["code"]["fitness_func"] == SPHERE  # inherited
    result = result_of(api, child["id"])
    assert result["stopped_reason"] == "on_generation"
    assert result["generations_completed"] == 2
    log = file_of(api, result, "log.txt").text
    assert f"edited on_start saw {SMALL['sol_per_pop']} solutions" in log
    assert "edited on_generation at 2" in log


def test_continue_with_an_edited_gene_constraint_applies_it(api, control):
    _, parent_result = finished_parent(api, control)
    population = file_of(api, parent_result, "population.json").json()
    assert any(row[0] < 0 for row in population), "the parent's population should break the new constraint"

    response = api.post(f"results/{parent_result['id']}/continue", json={
        "gene_constraint": NON_NEGATIVE_FIRST_GENE, "gene_constraint_entry": "limits", "num_generations": 3})

    assert response.status_code == 202, response.text
    child = control.wait(response.json()["id"])
    assert child["status"] == "succeeded", child
    assert child["code"]["gene_constraint_entry"] == "limits"
    final = file_of(api, result_of(api, child["id"]), "population.json").json()
    assert all(row[0] >= 0 for row in final), final


def test_continue_with_a_code_upload_reference(api, control):
    _, parent_result = finished_parent(api, control)
    upload = api.post("code-uploads", json={"content": EDITED}).json()["code_id"]

    response = api.post(f"results/{parent_result['id']}/continue",
                        json={"fitness_func_id": upload, "fitness_func_entry": "scored", "num_generations": 3})

    assert response.status_code == 202, response.text
    child, _ = assert_runs_the_edited_fitness(api, control, response.json())
    assert child["code"]["fitness_func_id"] == upload
    assert child["code"]["fitness_func"] == EDITED


def test_continue_with_edited_code_through_the_sdk(vilvik_client, api, control):
    _, parent_result = finished_parent(api, control)

    child = vilvik_client.results.continue_run(parent_result["id"], num_generations=3, **EDITED_BODY)

    assert child.raw["parent_submission"] == parent_result["id"]
    assert_runs_the_edited_fitness(api, control, {"id": child.id})


# ---------------------------------------------------------------------- re-execute with edited code


def test_reexecute_runs_edited_code(api, control):
    parent, parent_result = finished_parent(api, control)

    response = api.post(f"submissions/{parent['id']}/reexecute", json={**EDITED_BODY, "num_generations": 3})

    assert response.status_code == 202, response.text
    child, result = assert_runs_the_edited_fitness(api, control, response.json())
    assert child["code"] == {"fitness_func": EDITED, "fitness_func_entry": "scored"}
    assert result["parent_result_id"] is None
    # a re-execute starts afresh: the same seed draws the parent's first population again
    assert file_of(api, result, "result.json").json()["initial_population"] == \
        file_of(api, parent_result, "result.json").json()["initial_population"]


def test_reexecute_with_a_code_upload_and_a_callback_through_the_sdk(vilvik_client, api, control):
    parent, _ = finished_parent(api, control)
    upload = vilvik_client.code_uploads.create(content=EDITED)

    child = vilvik_client.submissions.reexecute(parent["id"], fitness_func_id=upload.code_id,
                                                fitness_func_entry="scored", on_start=ON_START,
                                                on_start_entry="announce", num_generations=3)

    detail, result = assert_runs_the_edited_fitness(api, control, {"id": child.id})
    assert detail["code"]["fitness_func_id"] == upload.code_id
    assert "edited on_start saw" in file_of(api, result, "log.txt").text


# ---------------------------------------------------------------------- the same validation as create

BAD_CODE = [
    ({"fitness_func": EDITED}, "fitness_func_entry"),
    ({"fitness_func": "def scored(:\n    return 1\n", "fitness_func_entry": "scored"}, "fitness_func"),
    ({"fitness_func": EDITED, "fitness_func_entry": "not_defined"}, "fitness_func_entry"),
    ({"fitness_func": "def scored(solution):\n    return 1.0\n", "fitness_func_entry": "scored"}, "fitness_func"),
    ({"fitness_func_id": "code_AAAAAAAAAAAA", "fitness_func_entry": "scored"}, "fitness_func_id"),
    ({"fitness_func_id": "code_AAAAAAAAAAAA"}, "fitness_func_id"),
    ({"fitness_func_entry": "scored"}, "fitness_func_entry"),
    ({"fitness_func": EDITED, "fitness_func_id": "code_AAAAAAAAAAAA", "fitness_func_entry": "scored"},
     "fitness_func"),
    ({"on_generation": "def hook(ga_instance, extra):\n    pass\n", "on_generation_entry": "hook"},
     "on_generation"),
    ({"on_stop": "on_stop = 1\n", "on_stop_entry": "on_stop"}, "on_stop_entry"),
    ({"gene_constraint": "limits = [None]\n", "gene_constraint_entry": "limits"}, "gene_constraint"),
]
BAD_CODE_IDS = ["no-entry", "syntax-error", "entry-not-defined", "wrong-arity", "unknown-upload",
                "upload-without-entry", "entry-alone", "source-and-upload", "callback-arity", "callback-not-callable",
                "constraint-length"]


def detail_for(response, field: str) -> dict:
    error = assert_validation_failed(response, field)
    return {item["field"]: item["message"] for item in error["details"]}


@pytest.mark.vilvik_mode("manual")
@pytest.mark.parametrize("verb", ["reexecute", "continue"])
@pytest.mark.parametrize(("body", "field"), BAD_CODE, ids=BAD_CODE_IDS)
def test_edited_code_is_checked_as_create_checks_it(api, control, verb, body, field):
    parent = api.post("submissions", json=SMALL).json()
    control.succeed(parent["id"], best_solution_fitness=-1.0)
    result = api.get("results/", params={"submission_id": parent["id"]}).json()["results"][0]

    refused = post_override(api, verb, parent, result, body)

    messages = detail_for(refused, field)
    replaces_fitness = any(name.startswith("fitness_func") for name in body)
    create = api.post("submissions", json={**{k: v for k, v in SMALL.items()
                                              if not (replaces_fitness and k.startswith("fitness_func"))}, **body})
    assert detail_for(create, field)[field] == messages[field]  # the same rule, in the same words
    if field == "fitness_func" and "scored(:" in body.get("fitness_func", ""):
        assert "line 1" in messages[field]
    assert submission_ids(api) == [parent["id"]]  # a rejected override creates nothing


@pytest.mark.vilvik_mode("manual")
def test_an_expired_or_foreign_upload_is_refused_on_continue(api, control, other_account):
    parent = api.post("submissions", json=SMALL).json()
    control.succeed(parent["id"], best_solution_fitness=-1.0)
    result = api.get("results/", params={"submission_id": parent["id"]}).json()["results"][0]
    theirs = other_account.post("code-uploads", json={"content": EDITED}).json()["code_id"]
    mine = api.post("code-uploads", json={"content": EDITED}).json()["code_id"]
    control.clock_advance(8 * 24 * 3600)

    for upload in (theirs, mine):
        refused = api.post(f"results/{result['id']}/continue",
                           json={"fitness_func_id": upload, "fitness_func_entry": "scored"})
        assert_validation_failed(refused, "fitness_func_id")
    assert submission_ids(api) == [parent["id"]]


# ---------------------------------------------------------------------- what cannot change

LOCKED = [
    ({"num_genes": GENES + 1}, "num_genes", "cannot change"),
    ({"gene_type": "int"}, "gene_type", "cannot change"),
    ({"gene_type": "custom", "custom_gene_type": "[int, 5]"}, "gene_type", "cannot change"),
    ({"custom_gene_type": "[int, 5]"}, "custom_gene_type", "cannot change"),
    ({"submission_type": "quick_knapsack"}, "submission_type", "cannot change"),
    ({"submission_type": "something_else"}, "submission_type", "cannot change"),
]


@pytest.mark.vilvik_mode("manual")
@pytest.mark.parametrize("verb", ["reexecute", "continue"])
@pytest.mark.parametrize(("body", "field", "words"), LOCKED, ids=[case[1] + "-" + str(index)
                                                                 for index, case in enumerate(LOCKED)])
def test_the_genome_shape_and_the_type_cannot_change(api, control, verb, body, field, words):
    parent = api.post("submissions", json=SMALL).json()
    control.succeed(parent["id"], best_solution_fitness=-1.0)
    result = api.get("results/", params={"submission_id": parent["id"]}).json()["results"][0]

    refused = post_override(api, verb, parent, result, body)

    assert words in detail_for(refused, field)[field]
    assert submission_ids(api) == [parent["id"]]


@pytest.mark.vilvik_mode("manual")
@pytest.mark.parametrize("verb", ["reexecute", "continue"])
def test_the_parents_own_shape_and_type_may_be_repeated(api, control, verb):
    parent = api.post("submissions", json={**SMALL, "gene_type": "float"}).json()
    control.succeed(parent["id"], best_solution_fitness=-1.0)
    result = api.get("results/", params={"submission_id": parent["id"]}).json()["results"][0]

    response = post_override(api, verb, parent, result,
                             {"submission_type": "new", "num_genes": GENES, "gene_type": "float"})

    assert response.status_code == 202, response.text
    assert response.json()["submission_type"] == "new"


QUICK = {"submission_type": "quick_binary_subset_sum", "integers": [3, 34, 4, 12, 5, 2], "target": 9,
         "num_generations": 5, "sol_per_pop": 6}


@pytest.mark.vilvik_mode("manual")
@pytest.mark.parametrize("verb", ["reexecute", "continue"])
@pytest.mark.parametrize(("body", "field"), [
    ({"fitness_func": EDITED, "fitness_func_entry": "scored"}, "fitness_func"),
    ({"fitness_func_id": "code_AAAAAAAAAAAA", "fitness_func_entry": "scored"}, "fitness_func"),
    ({"submission_type": "new"}, "submission_type"),
], ids=["fitness-source", "fitness-upload", "type"])
def test_a_quick_types_fitness_function_and_type_cannot_change(api, control, verb, body, field):
    parent = api.post("submissions", json=QUICK)
    assert parent.status_code == 202, parent.text
    parent = parent.json()
    control.succeed(parent["id"], best_solution_fitness=0.0)
    result = api.get("results/", params={"submission_id": parent["id"]}).json()["results"][0]

    refused = post_override(api, verb, parent, result, body)

    assert "cannot change" in detail_for(refused, field)[field]
    assert submission_ids(api) == [parent["id"]]
    repeated = post_override(api, verb, parent, result, {"submission_type": QUICK["submission_type"],
                                                         "num_generations": 3})
    assert repeated.status_code == 202, repeated.text
    assert repeated.json()["submission_type"] == QUICK["submission_type"]


# ---------------------------------------------------------------------- an import, continued with edited code


def test_an_import_continues_with_edited_code(api, control):
    imported = api.post("imports/", json=IMPORT_BODY)
    assert imported.status_code == 201, imported.text
    record = imported.json()

    response = api.post(f"results/{record['result_id']}/continue", json={**EDITED_BODY, "num_generations": 3})

    assert response.status_code == 202, response.text
    created = response.json()
    assert created["parent_submission_id"] == record["id"] and created["parent_result_id"] == record["result_id"]
    child, result = assert_runs_the_edited_fitness(api, control, created)
    assert child["submission_type"] == "new" and child["imported"] is False
    population = IMPORT_BODY["result"]["population"]
    assert file_of(api, result, "result.json").json()["initial_population"] == population
    assert result["best_solutions_fitness"][0] == pytest.approx(max(edited_fitness(row) for row in population))


def test_an_import_continues_with_edited_code_through_the_sdk(vilvik_client, api, control):
    record = vilvik_client.imports.create(IMPORT_BODY)

    child = vilvik_client.results.continue_run(record.result_id, num_generations=3, **EDITED_BODY)

    assert child.raw["parent_submission_id"] == record.id
    assert_runs_the_edited_fitness(api, control, {"id": child.id})


# ---------------------------------------------------------------------- lineage (contract §5.1, §5.4, §7)

LINEAGE = ("parent_submission", "parent_submission_id", "parent_result_id")


def lineage(document: dict) -> dict:
    return {name: document[name] for name in LINEAGE}


@pytest.mark.vilvik_mode("manual")
def test_lineage_in_the_202_and_the_detail(api, control):
    created = api.post("submissions", json=SMALL).json()
    assert lineage(created) == dict.fromkeys(LINEAGE)
    assert lineage(api.get(f"submissions/{created['id']}").json()) == dict.fromkeys(LINEAGE)
    control.succeed(created["id"], best_solution_fitness=-1.0)
    result_id = api.get(f"submissions/{created['id']}").json()["result_id"]

    rerun = api.post(f"submissions/{created['id']}/reexecute").json()
    fork = api.post(f"results/{result_id}/continue", json={}).json()

    # re-execute: the submission re-run; continue: the result forked (SDK README: "parent_submission
    # is the result you forked from")
    assert lineage(rerun) == {"parent_submission": created["id"], "parent_submission_id": created["id"],
                              "parent_result_id": None}
    assert lineage(fork) == {"parent_submission": result_id, "parent_submission_id": created["id"],
                             "parent_result_id": result_id}
    for reply in (rerun, fork):
        assert lineage(api.get(f"submissions/{reply['id']}").json()) == lineage(reply)
    children = api.get("submissions/", params={"parent_submission_id": created["id"]}).json()["results"]
    assert {row["id"] for row in children} == {rerun["id"], fork["id"]}

    control.succeed(fork["id"], best_solution_fitness=-0.5)
    fork_result = api.get(f"submissions/{fork['id']}").json()["result_id"]
    grandchild = api.post(f"results/{fork_result}/continue", json={}).json()
    assert lineage(grandchild) == {"parent_submission": fork_result, "parent_submission_id": fork["id"],
                                   "parent_result_id": fork_result}
    assert api.get(f"results/{fork_result}").json()["parent_result_id"] == result_id


@pytest.mark.vilvik_mode("manual")
def test_lineage_through_the_sdk(vilvik_client, api, control):
    parent = vilvik_client.submissions.create(fitness_func=SPHERE, num_genes=GENES, num_generations=3, sol_per_pop=6)
    control.succeed(parent.id, best_solution_fitness=-1.0)
    result = vilvik_client.results.list(submission_id=parent.id).items[0]

    rerun = vilvik_client.submissions.reexecute(parent.id, num_generations=4)
    fork = vilvik_client.results.continue_run(result.id, mutation_probability=0.1)

    assert lineage(rerun.raw) == {"parent_submission": parent.id, "parent_submission_id": parent.id,
                                  "parent_result_id": None}
    assert lineage(fork.raw) == {"parent_submission": result.id, "parent_submission_id": parent.id,
                                 "parent_result_id": result.id}
    assert lineage(vilvik_client.submissions.get(fork.id).raw) == lineage(fork.raw)


def test_failed_and_cancelled_runs_have_no_result_row(api, control, vilvik_client):
    import vilvik

    raises = "def fitness_func(ga_instance, solution, solution_idx):\n    raise ValueError('no')\n"
    failed = api.post("submissions", json={**SMALL, "fitness_func": raises}).json()
    running = api.post("submissions", json={**SMALL, "fitness_func": NEVER_RETURNS}).json()
    control.wait(running["id"], status="running")
    control.cancel(running["id"])

    for created, status in ((failed, "failed"), (running, "cancelled")):
        detail = control.wait(created["id"])
        assert detail["status"] == status, detail
        assert detail["result_id"] is None
        assert api.get("results/", params={"submission_id": created["id"]}).json()["results"] == []
        with pytest.raises(vilvik.APIError) as raised:
            vilvik_client.results.wait_for(created["id"], timeout=5, poll_interval=0)
        assert raised.value.code == f"submission_{status}"
    assert api.get("results/").json()["results"] == []
    # a failed run can still be re-executed (its parent is the submission, not a result)
    rerun = api.post(f"submissions/{failed['id']}/reexecute", json={"fitness_func": SPHERE,
                                                                    "fitness_func_entry": "fitness_func"})
    assert rerun.status_code == 202, rerun.text
    assert control.wait(rerun.json()["id"])["status"] == "succeeded"
    assert error_code(api.post("results/abcDEF123456/continue", json={})) == "not_found"
