"""The files in ``fixtures/``: every example fitness function and documented request runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def source(name: str) -> str:
    return (FIXTURES / "fitness" / f"{name}.py").read_text()


@pytest.mark.parametrize("name, parameters, optimum", [
    ("sphere", {"num_genes": 3, "num_generations": 200, "sol_per_pop": 20}, lambda f: -0.05 < f <= 0),
    ("rastrigin", {"num_genes": 2, "num_generations": 200, "sol_per_pop": 30}, lambda f: f <= 0),
    ("one_max", {"num_genes": 12, "num_generations": 150, "sol_per_pop": 20, "gene_space": [0, 1],
                 "gene_type": "int"}, lambda f: f == 12),
    ("subset_sum", {"num_genes": 8, "num_generations": 150, "sol_per_pop": 20, "gene_space": [0, 1],
                    "gene_type": "int", "stop_criteria": "reach_0"}, lambda f: f == 0),
    ("knapsack", {"num_genes": 4, "num_generations": 100, "sol_per_pop": 12, "gene_space": [0, 1],
                  "gene_type": "int"}, lambda f: f == 17),
])
def test_example_fitness_functions(api, control, name, parameters, optimum):
    created = api.create(fitness_func=source(name), fitness_func_entry="fitness_func", random_seed=2,
                         num_parents_mating=4, **parameters)
    detail = control.wait(created["id"], timeout=120)
    assert detail["status"] == "succeeded", detail["error"]
    fitness = float(api.get(f"results/{detail['result_id']}").json()["best_solution_fitness"])
    assert optimum(fitness), (name, fitness)


@pytest.mark.parametrize("path", sorted((FIXTURES / "requests").glob("create-*.json")), ids=lambda p: p.stem)
def test_documented_create_requests(api, control, path):
    body = json.loads(path.read_text())
    response = api.post("submissions", json={**body, "num_generations": 5} if "fitness_func" in body else body)
    assert response.status_code == 202, response.text
    assert control.wait(response.json()["id"], timeout=120)["status"] == "succeeded"


def test_the_demo_dataset_loads_with_every_status(api, control):
    control.import_snapshot(json.loads((FIXTURES / "demo.json").read_text()))
    rows = []
    for account in control.accounts():
        key = control.create_key(account["id"])["key"]
        rows += api.get("submissions", key=key, params={"page_size": 100}).json()["results"]
    assert {row["status"] for row in rows} == {"queued", "running", "succeeded", "failed", "cancelled"}
    assert {row["source"] for row in rows} == {"api", "web"}
    mine = api.get("submissions", params={"status": "succeeded", "page_size": 100}).json()["results"]
    detail = api.get(f"submissions/{mine[0]['id']}").json()
    result = api.get(f"results/{detail['result_id']}").json()
    for file in result["files"]:
        assert api.get(f"results/{result['id']}/files/{file['name']}").status_code == 200
    assert control.webhooks() and len(control.accounts()) == 3
    assert {key["status"] for key in control.keys()} >= {"active", "revoked", "expired"}
    every = api.get("submissions", params={"page_size": 100}).json()["results"]
    imported = [row for row in every if api.get(f"submissions/{row['id']}").json()["imported"]]
    assert len(imported) == 1
