"""The job runtime (contract §5 code fields, §6): every parameter form, every callback,
determinism, live progress, run modes, cancellation and restart recovery.

Runs are real PyGAD runs in worker processes, kept small so the module stays fast.
"""

from __future__ import annotations

import json
import time

import pytest
import requests
from helpers import NEVER_RETURNS, SPHERE, alive, error_code
from serve_process import ServeProcess

from vilvik_emulator.runner.processes import descendants
from vilvik_emulator.testing import ControlError

SMALL = {"fitness_func": SPHERE, "fitness_func_entry": "fitness_func", "num_genes": 3, "num_generations": 8,
         "sol_per_pop": 6, "random_seed": 11}


def run(api, control, **overrides) -> tuple[dict, dict]:
    """Create, wait for the end; returns (submission detail, result detail)."""
    created = api.create(**{**SMALL, **overrides})
    detail = control.wait(created["id"], timeout=120)
    assert detail["status"] == "succeeded", detail["error"]
    return detail, api.get(f"results/{detail['result_id']}").json()


def result_file(api, result: dict, name: str):
    response = api.get(f"results/{result['id']}/files/{name}")
    assert response.status_code == 200
    return response.json() if name.endswith(".json") else response.text


# ---------------------------------------------------------------------- parameters

@pytest.mark.parametrize("gene_type, extra, check", [
    ("int", {}, lambda genes: all(isinstance(g, int) for g in genes)),
    ("numpy.int16", {}, lambda genes: all(isinstance(g, int) for g in genes)),
    ("float", {}, lambda genes: any(isinstance(g, float) and not g.is_integer() for g in genes)),
    ("custom", {"custom_gene_type": "[int, float, numpy.float32]"},
     lambda genes: isinstance(genes[0], int) and isinstance(genes[1], float)),
    ("custom", {"custom_gene_type": "[float, 2]"}, lambda genes: all(round(g, 2) == g for g in genes)),
    (["float", 1], {}, lambda genes: all(round(g, 1) == g for g in genes)),
])
def test_gene_type_forms(api, control, gene_type, extra, check):
    _, result = run(api, control, gene_type=gene_type, **extra)
    assert check(result["best_solution"]), result["best_solution"]


@pytest.mark.parametrize("expression", ["__import__('os').system('true')", "[int, open]", "[lambda: 1]",
                                        "numpy.random", "[[int]"])
def test_custom_gene_type_is_parsed_never_evaluated(api, expression):
    response = api.post("submissions", json={**SMALL, "gene_type": "custom", "custom_gene_type": expression})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "custom_gene_type"


@pytest.mark.parametrize("gene_space, allowed", [
    ([0, 1], lambda gene, index: gene in (0, 1)),
    ([[1, 2], None, [5]], lambda gene, index: index == 1 or gene in ([1, 2], None, [5])[index]),
    ({"low": 0, "high": 10, "step": 2}, lambda gene, index: gene in range(0, 10, 2)),
    ({"low": -1, "high": 1}, lambda gene, index: -1 <= gene <= 1),
])
def test_gene_space_forms(api, control, gene_space, allowed):
    _, result = run(api, control, gene_space=gene_space)
    population = result_file(api, result, "population.json")
    assert all(allowed(gene, index) for row in population for index, gene in enumerate(row))


def test_stop_criteria_reach_and_saturate(api, control):
    detail, result = run(api, control, num_generations=400, stop_criteria=["reach_-0.5", "saturate_50"])
    assert result["generations_completed"] < 400
    assert result["stopped_reason"] in ("stop_criteria:reach_-0.5", "stop_criteria:saturate_50")
    assert detail["progress"]["generations_completed"] == result["generations_completed"]
    _, saturated = run(api, control, num_generations=300, stop_criteria="saturate_3", mutation_type=None)
    assert saturated["stopped_reason"] == "stop_criteria:saturate_3"


@pytest.mark.parametrize("parallel", [2, ["thread", 2], ["process", 2]])
def test_parallel_processing(api, control, parallel):
    _, result = run(api, control, parallel_processing=parallel)
    assert result["generations_completed"] == 8


def test_initial_population_is_generation_zero(api, control):
    population = [[float(i), float(i + 1), float(i + 2)] for i in range(6)]
    detail, result = run(api, control, initial_population=population, num_genes=None, sol_per_pop=None)
    assert detail["parameters"]["sol_per_pop"] == 6 and detail["parameters"]["num_genes"] == 3
    assert result_file(api, result, "result.json")["initial_population"] == population


def test_effective_parameters_are_stored(api, control):
    created = api.post("submissions", json={**SMALL, "mutation_probability": 0.3, "crossover_type": "two_points"})
    parameters = api.get(f"submissions/{created.json()['id']}").json()["parameters"]
    assert parameters["mutation_probability"] == 0.3 and parameters["crossover_type"] == "two_points"
    assert parameters["parent_selection_type"] == "sss" and parameters["keep_elitism"] == 1
    assert parameters["num_parents_mating"] == 3


# ---------------------------------------------------------------------- code fields

CALLBACKS = {
    "on_start": "def on_start(ga_instance):\n    print('MARK on_start')\n",
    "on_fitness": "def on_fitness(ga_instance, fitness):\n    print('MARK on_fitness', len(fitness))\n",
    "on_parents": "def on_parents(ga_instance, parents):\n    print('MARK on_parents')\n",
    "on_crossover": "def on_crossover(ga_instance, offspring):\n    print('MARK on_crossover')\n",
    "on_mutation": "def on_mutation(ga_instance, offspring):\n    print('MARK on_mutation')\n",
    "on_generation": ("def on_generation(ga_instance):\n"
                      "    print('MARK on_generation', ga_instance.generations_completed)\n"),
    "on_stop": "def on_stop(ga_instance, fitness):\n    print('MARK on_stop')\n",
}


def test_every_callback_runs(api, control):
    code = {}
    for role, source in CALLBACKS.items():
        code[role] = source
        code[f"{role}_entry"] = role
    detail, result = run(api, control, **code)
    assert detail["code"]["on_stop"] == CALLBACKS["on_stop"]
    log = result_file(api, result, "log.txt")
    for role in CALLBACKS:
        assert f"MARK {role}" in log, role
    assert log.count("MARK on_generation") == 8


def test_on_generation_stop(api, control):
    stop = "def halt(ga_instance):\n    if ga_instance.generations_completed >= 3:\n        return 'stop'\n"
    _, result = run(api, control, num_generations=50, on_generation=stop, on_generation_entry="halt")
    assert result["generations_completed"] == 3
    assert result["stopped_reason"] == "on_generation"


def test_callable_class_entry(api, control):
    source = ("class Fitness:\n    def __init__(self):\n        self.calls = 0\n"
              "    def __call__(self, ga_instance, solution, solution_idx):\n        self.calls += 1\n"
              "        return -sum(x * x for x in solution)\n")
    _, result = run(api, control, fitness_func=source, fitness_func_entry="Fitness")
    assert float(result["best_solution_fitness"]) <= 0


def test_callback_with_wrong_arity_is_rejected_at_create(api):
    response = api.post("submissions", json={**SMALL, "on_start": "def on_start():\n    pass\n",
                                             "on_start_entry": "on_start"})
    assert response.status_code == 422
    assert "on_start" in response.json()["error"]["message"]


def test_gene_constraint_list(api, control):
    source = ("def non_negative(solution, values):\n    return [v for v in values if v >= 0]\n\n"
              "constraints = [non_negative, None, non_negative]\n")
    _, result = run(api, control, gene_constraint=source, gene_constraint_entry="constraints")
    population = result_file(api, result, "population.json")
    assert all(row[0] >= 0 and row[2] >= 0 for row in population)


def test_gene_constraint_of_the_wrong_length_is_rejected(api):
    source = "def keep(solution, values):\n    return values\n\nconstraints = [keep]\n"
    response = api.post("submissions", json={**SMALL, "gene_constraint": source,
                                             "gene_constraint_entry": "constraints"})
    assert response.status_code == 422 and "gene_constraint" in response.text


def test_multi_objective(api, control):
    source = ("def fitness_func(ga_instance, solution, solution_idx):\n"
              "    return [-abs(solution[0]), -abs(solution[1] - 1)]\n")
    _, result = run(api, control, fitness_func=source, parent_selection_type="nsga2", num_generations=5)
    values = json.loads(result["best_solution_fitness"])
    assert isinstance(values, list) and len(values) == 2
    assert all(isinstance(entry, list) and len(entry) == 2 for entry in result["best_solutions_fitness"])


def test_fitness_batch_size(api, control):
    source = ("def fitness_func(ga_instance, solutions, indices):\n"
              "    return [-sum(x * x for x in solution) for solution in solutions]\n")
    _, result = run(api, control, fitness_func=source, fitness_batch_size=3)
    assert result["generations_completed"] == 8


def test_code_fields_run_as_fresh_modules_with_imports(api, control):
    source = ("import math\nfrom statistics import mean\n\nSCALE = 2\n\n"
              "def helper(values):\n    return mean(abs(v) for v in values)\n\n"
              "def fitness_func(ga_instance, solution, solution_idx):\n"
              "    return -SCALE * math.sqrt(helper(solution))\n")
    _, result = run(api, control, fitness_func=source)
    assert float(result["best_solution_fitness"]) <= 0


# ---------------------------------------------------------------------- determinism

SEEDED_CALLBACK = ("import random\nimport numpy\n\ndef on_generation(ga_instance):\n"
                   "    print(random.random(), numpy.random.rand())\n")


def test_same_parameters_and_seed_give_the_same_result(api, control):
    runs = [run(api, control, num_generations=15, on_generation=SEEDED_CALLBACK, on_generation_entry="on_generation",
                mutation_probability=0.2)[1] for _ in range(2)]
    first, second = (result_file(api, result, "result.json") for result in runs)
    for field in ("best_solution", "best_solution_fitness", "best_solutions_fitness", "population",
                  "last_generation_fitness", "initial_population"):
        assert first[field] == second[field], field
    logs = [result_file(api, result, "log.txt") for result in runs]
    assert logs[0] == logs[1]
    _, other_seed = run(api, control, num_generations=15, random_seed=12)
    assert result_file(api, other_seed, "result.json")["population"] != first["population"]


# ---------------------------------------------------------------------- progress, modes, cancel

SLOW = ("import time\n\ndef fitness_func(ga_instance, solution, solution_idx):\n    time.sleep(0.01)\n"
        "    return -sum(x * x for x in solution)\n")


def test_live_progress_while_running(api, control):
    created = api.create(**{**SMALL, "fitness_func": SLOW, "num_generations": 60, "sol_per_pop": 4})
    control.wait(created["id"], status="running")
    seen = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        detail = api.get(f"submissions/{created['id']}").json()
        if detail["status"] != "running":
            break
        assert detail["started_at"] and detail["finished_at"] is None
        seen.add(detail["progress"]["generations_completed"])
        time.sleep(0.1)
    assert len([value for value in seen if 0 < value < 60]) >= 2, seen
    final = control.wait(created["id"])
    assert final["progress"]["generations_completed"] == 60
    assert final["usage"]["wall_seconds"] > 0 and final["finished_at"]


@pytest.mark.vilvik_mode("sync")
def test_sync_mode_answers_after_the_run(api):
    created = api.create(**SMALL)
    assert created["status"] == "succeeded"


def test_a_full_pool_queues_jobs(api, control):
    control.configure(pool_size=1)
    blocker = api.create(**{**SMALL, "fitness_func": NEVER_RETURNS})
    control.wait(blocker["id"], status="running")
    waiting = api.create(**SMALL)
    assert api.get(f"submissions/{waiting['id']}").json()["status"] == "queued"
    assert api.delete(f"submissions/{blocker['id']}").status_code == 204
    assert control.wait(waiting["id"])["status"] == "succeeded"


def test_delete_of_a_running_job_kills_its_worker(api, control, vilvik_emulator_server):
    created = api.create(**{**SMALL, "fitness_func": NEVER_RETURNS})
    control.wait(created["id"], status="running")
    pid = vilvik_emulator_server.emulator.runner.pid_of(created["id"])
    assert pid and alive(pid)
    started = time.perf_counter()
    response = api.delete(f"submissions/{created['id']}")
    elapsed = time.perf_counter() - started
    assert response.status_code == 204
    assert not alive(pid), "the worker must be gone when DELETE answers"
    print(f"DELETE of a running job answered in {elapsed * 1000:.0f} ms")
    assert error_code(api.get(f"submissions/{created['id']}")) == "not_found"
    charges = control.ledger()["results"]
    assert charges and charges[0]["submission_id"] == created["id"] and charges[0]["reason"] == "cancelled"


def test_cancel_keeps_the_row_as_cancelled_with_a_log(api, control, tmp_path):
    flag = tmp_path / "printed"
    source = (f"import pathlib\n\ndef fitness_func(a, b, c):\n    print('working', flush=True)\n"
              f"    pathlib.Path({str(flag)!r}).touch()\n    while True:\n        pass\n")
    created = api.create(**{**SMALL, "fitness_func": source})
    deadline = time.monotonic() + 60
    while not flag.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    cancelled = control.cancel(created["id"])
    assert cancelled["status"] == "cancelled" and cancelled["usage"]["wall_seconds"] > 0
    # a cancelled run has no result (contract §7); its output is kept for the control plane and the dashboard
    assert cancelled["result_id"] is None
    assert api.get("results/", params={"submission_id": created["id"]}).json()["results"] == []
    assert "working" in control.log(created["id"])
    with pytest.raises(ControlError) as missing:
        control.log("sub_doesnotexist")
    assert missing.value.status == 404 and missing.value.code == "not_found"


# ---------------------------------------------------------------------- re-execute and continue

def test_continue_starts_from_the_parents_final_population(api, control):
    _, parent = run(api, control, num_generations=5)
    parent_population = result_file(api, parent, "population.json")
    created = api.post(f"results/{parent['id']}/continue", json={"num_generations": 4,
                                                                  "mutation_probability": 0.5})
    assert created.status_code == 202
    child = control.wait(created.json()["id"])
    assert child["parent_result_id"] == parent["id"] and child["parameters"]["mutation_probability"] == 0.5
    child_result = api.get(f"results/{child['result_id']}").json()
    assert result_file(api, child_result, "result.json")["initial_population"] == parent_population


@pytest.mark.parametrize("size", [4, 9])
def test_continue_with_another_population_size(api, control, size):
    _, parent = run(api, control, num_generations=5)
    created = api.post(f"results/{parent['id']}/continue", json={"sol_per_pop": size, "num_generations": 2})
    child = control.wait(created.json()["id"])
    assert child["status"] == "succeeded", child["error"]
    start = result_file(api, api.get(f"results/{child['result_id']}").json(), "result.json")["initial_population"]
    parent_rows = result_file(api, parent, "population.json")
    assert len(start) == size
    assert sum(row in parent_rows for row in start) >= min(size, 6)


@pytest.mark.parametrize("change", [{"num_genes": 4}, {"gene_type": "int"}])
def test_continue_cannot_change_the_genome(api, control, change):
    _, parent = run(api, control)
    response = api.post(f"results/{parent['id']}/continue", json=change)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] in change


def test_continue_honours_idempotency(api, control):
    _, parent = run(api, control)
    headers = {"Idempotency-Key": "continue-once"}
    first = api.post(f"results/{parent['id']}/continue", json={"num_generations": 2}, headers=headers)
    again = api.post(f"results/{parent['id']}/continue", json={"num_generations": 2}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.headers["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]


# ---------------------------------------------------------------------- credits

def test_credits_are_charged_at_the_end_of_each_run(api, control):
    # Long enough to cost something: a charge is rounded to 4 decimals (§8), and 8 generations
    # of SMALL take under 5 ms of CPU once the job's exit is no longer billed.
    detail, _ = run(api, control, num_generations=300)
    ledger = control.ledger()
    assert ledger["results"][0]["submission_id"] == detail["id"]
    assert ledger["results"][0]["amount"] == detail["credits_used"] > 0
    assert ledger["balance"] == pytest.approx(1000 - detail["credits_used"])
    control.update_account("acct_default", credits=0)
    assert error_code(api.post("submissions", json=SMALL)) == "insufficient_credits"


# ---------------------------------------------------------------------- restart recovery

def test_restart_recovers_queued_and_running_jobs(tmp_path):
    server = ServeProcess("--db", str(tmp_path / "db.json"), "--workers", "1").start()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {server.key}"
    running = session.post(f"{server.api_url}/submissions", json={**SMALL, "fitness_func": NEVER_RETURNS}).json()
    queued = session.post(f"{server.api_url}/submissions", json=SMALL).json()
    session.get(f"{server.url}/_emulator/submissions/{running['id']}/wait", params={"status": "running"})
    orphans = descendants(server.process.pid)
    assert orphans, "the forkserver and the busy worker run below the server"
    server.kill()
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in orphans) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in orphans), "a killed server must not leave its workers running"

    restarted = ServeProcess("--db", str(tmp_path / "db.json"), "--workers", "1").start()
    try:
        session.headers["Authorization"] = f"Bearer {restarted.key}"
        lost = session.get(f"{restarted.api_url}/submissions/{running['id']}").json()
        assert lost["status"] == "failed" and lost["error"]["code"] == "worker_lost"
        done = session.get(f"{restarted.url}/_emulator/submissions/{queued['id']}/wait",
                           params={"timeout": 120}).json()
        assert done["status"] == "succeeded"
    finally:
        restarted.terminate()



def test_a_restart_in_manual_mode_keeps_held_jobs_as_they_were(tmp_path):
    """Recovery reads rows and acts only where it must: a queued job held by hand stays queued,
    one moved to running by hand stays running (no worker was lost), one that had a worker fails."""
    from vilvik_emulator.app import create_app
    from vilvik_emulator.config import Settings
    from vilvik_emulator.emulator import Emulator

    def open_emulator() -> tuple[Emulator, object]:
        emulator = Emulator(Settings(db_path=str(tmp_path / "db.json"), mode="manual")).start()
        return emulator, create_app(emulator).test_client()

    emulator, client = open_emulator()
    headers = {"Authorization": f"Bearer {emulator.default_api_key}"}
    ids = [client.post("/api/v1/submissions", json=SMALL, headers=headers).get_json()["id"] for _ in range(3)]
    assert client.post(f"/_emulator/submissions/{ids[1]}/advance", json={"to": "running"}).status_code == 200
    assert client.post(f"/_emulator/submissions/{ids[2]}/advance", json={"to": "running"}).status_code == 200
    emulator.submissions.update(ids[2], worker_pid=4_000_000)  # as if a worker had run it when the server died
    emulator.close()

    emulator, client = open_emulator()
    try:
        statuses = [client.get(f"/api/v1/submissions/{sid}", headers=headers).get_json() for sid in ids]
        assert [detail["status"] for detail in statuses] == ["queued", "running", "failed"]
        assert statuses[2]["error"]["code"] == "worker_lost"
        assert emulator.runner.stats()["queued"] == 0, "manual mode dispatches nothing on recovery"
    finally:
        emulator.close()
