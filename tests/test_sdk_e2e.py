"""The official SDK (vilvik 0.5.7, unmodified) against a real emulator on a free port.

Every SDK call works, and every SDK exception class is raised by the server response
that should raise it (contract §3 rows as the SDK's ``_raise_for_status`` maps them).
"""

from __future__ import annotations

import pygad
import pytest
import vilvik
from helpers import SPHERE

FAST = 0.05  # the SDK polls every 3 s by default; the emulator answers at once


def local_pygad_best(seed: int) -> float:
    """The same run as the documented example, done with PyGAD in this process."""
    namespace: dict = {}
    exec(SPHERE, namespace)
    ga = pygad.GA(num_generations=100, num_parents_mating=4, sol_per_pop=10, num_genes=5,
                  fitness_func=namespace["fitness_func"], random_seed=seed, suppress_warnings=True)
    ga.run()
    _, fitness, _ = ga.best_solution(pop_fitness=ga.last_generation_fitness)
    return float(fitness)


def test_create_wait_and_read_the_documented_example(vilvik_client):
    submission = vilvik_client.submissions.create(
        fitness_func=SPHERE, num_genes=5, num_generations=100, sol_per_pop=10, num_parents_mating=4,
        name="quadratic-minimisation", random_seed=7)
    assert submission.status == "queued"
    assert submission.status_url.endswith(f"/api/v1/submissions/{submission.id}")
    result = vilvik_client.results.wait_for(submission.id, timeout=120, poll_interval=FAST)
    assert result.best_fitness == pytest.approx(local_pygad_best(7), rel=0, abs=0)
    assert len(result.best_solution) == 5
    assert result.num_generations_ran == 100
    assert result.stopped_reason == "num_generations"
    assert -sum(x * x for x in result.best_solution) == pytest.approx(result.best_fitness)


def test_sdk_readme_defaults_work_without_num_parents_mating(vilvik_client):
    submission = vilvik_client.submissions.create(fitness_func=SPHERE, num_genes=3, num_generations=5)
    detail = vilvik_client.submissions.get(submission.id)
    assert detail.raw["parameters"]["sol_per_pop"] == 50
    assert detail.raw["parameters"]["num_parents_mating"] == 25
    result = vilvik_client.results.wait_for(submission.id, timeout=120, poll_interval=FAST)
    assert result.num_generations_ran == 5


def test_run_helper(vilvik_emulator):
    with vilvik.run(api_key=vilvik_emulator.api_key, base_url=vilvik_emulator.base_url, fitness_func=SPHERE,
                    num_genes=4, num_generations=10, sol_per_pop=8, num_parents_mating=4,
                    poll_interval=FAST, timeout=120) as result:
        assert isinstance(result.best_fitness, float)
        assert len(result.best_solution) == 4


@pytest.mark.vilvik_mode("manual")
def test_list_and_iter_all_follow_cursors(vilvik_client):
    created = [vilvik_client.submissions.create(fitness_func=SPHERE, num_genes=2, name=f"s{i}").id
               for i in range(7)]
    first = vilvik_client.submissions.list(limit=3)
    assert [item.id for item in first] == created[::-1][:3]
    assert first.next_cursor
    walked = [item.id for item in vilvik_client.submissions.iter_all(limit=3)]
    assert walked == created[::-1]


@pytest.mark.vilvik_mode("manual")
def test_get_and_delete(vilvik_client):
    submission = vilvik_client.submissions.create(fitness_func=SPHERE, num_genes=2, name="to delete")
    fetched = vilvik_client.submissions.get(submission.id)
    assert fetched.id == submission.id and fetched.name == "to delete" and fetched.status == "queued"
    vilvik_client.submissions.delete(submission.id)
    with pytest.raises(vilvik.NotFoundError):
        vilvik_client.submissions.get(submission.id)
    with pytest.raises(vilvik.NotFoundError):
        vilvik_client.submissions.delete(submission.id)


def test_reexecute_update_continue_and_delete_result(vilvik_client):
    parent = vilvik_client.submissions.create(fitness_func=SPHERE, num_genes=3, num_generations=10,
                                              sol_per_pop=8, random_seed=1)
    result = vilvik_client.results.wait_for(parent.id, timeout=120, poll_interval=FAST)

    again = vilvik_client.submissions.reexecute(parent.id, num_generations=4)
    assert again.status == "queued" and again.id != parent.id
    detail = vilvik_client.submissions.get(again.id).raw
    assert detail["parent_submission_id"] == parent.id
    assert detail["parameters"]["num_generations"] == 4
    assert detail["parameters"]["sol_per_pop"] == 8

    renamed = vilvik_client.results.update(result.id, name="best so far", is_shared=True)
    assert renamed.name == "best so far" and renamed.is_shared is True
    assert vilvik_client.results.update(result.id, is_shared=False).name == "best so far"

    child = vilvik_client.results.continue_run(result.id, num_generations=5, mutation_probability=0.2)
    child_result = vilvik_client.results.wait_for(child.id, timeout=120, poll_interval=FAST)
    assert child_result.raw["parent_result_id"] == result.id
    assert child_result.num_generations_ran == 5

    vilvik_client.results.delete(result.id)
    with pytest.raises(vilvik.NotFoundError):
        vilvik_client.results.get(result.id)
    assert vilvik_client.submissions.get(parent.id).status == "succeeded"


def test_wait_for_raises_when_the_run_fails(vilvik_client):
    failing = "def fitness_func(ga_instance, solution, solution_idx):\n    raise RuntimeError('broken')\n"
    submission = vilvik_client.submissions.create(fitness_func=failing, num_genes=2, num_generations=3)
    with pytest.raises(vilvik.APIError) as raised:
        vilvik_client.results.wait_for(submission.id, timeout=120, poll_interval=FAST)
    assert raised.value.code == "submission_failed"


def test_results_list_by_submission(vilvik_client):
    submission = vilvik_client.submissions.create(fitness_func=SPHERE, num_genes=2, num_generations=3)
    vilvik_client.results.wait_for(submission.id, timeout=120, poll_interval=FAST)
    page = vilvik_client.results.list(submission_id=submission.id)
    assert len(page) == 1 and page.items[0].submission_id == submission.id
    assert isinstance(page.items[0].best_fitness, float)


def test_health(vilvik_client):
    assert vilvik_client.health()["status"] == "ok"


# ---------------------------------------------------------------------- exceptions

def test_authentication_error_for_401(vilvik_emulator):
    client = vilvik.Client(api_key="vlk_test_not_a_real_key", base_url=vilvik_emulator.base_url)
    with pytest.raises(vilvik.AuthenticationError) as raised:
        client.submissions.list()
    assert raised.value.status_code == 401 and raised.value.code == "unauthorized"
    assert raised.value.request_id.startswith("req_")


def test_authentication_error_for_403(vilvik_emulator):
    key = vilvik_emulator.create_key(scopes=["submissions:read"])["key"]
    client = vilvik.Client(api_key=key, base_url=vilvik_emulator.base_url)
    client.submissions.list()
    with pytest.raises(vilvik.AuthenticationError) as raised:
        client.submissions.create(fitness_func=SPHERE, num_genes=2)
    assert raised.value.status_code == 403 and raised.value.code == "scope_required"
    assert "submissions:write" in raised.value.message


def test_not_found_error(vilvik_client):
    with pytest.raises(vilvik.NotFoundError) as raised:
        vilvik_client.results.get("abcDEF123456")
    assert raised.value.status_code == 404 and raised.value.code == "not_found"


def test_validation_error_for_422(vilvik_client):
    with pytest.raises(vilvik.ValidationError) as raised:
        vilvik_client.submissions.create(fitness_func=SPHERE)  # no num_genes
    assert raised.value.status_code == 422 and raised.value.code == "validation_failed"
    assert raised.value.payload["error"]["details"][0]["field"] == "num_genes"


def test_a_page_size_above_100_is_clamped_and_an_unknown_cursor_is_not_found(vilvik_client):
    """DRF's edges, as the SDK meets them (contract §4): no error for a size, 404 for a cursor."""
    assert len(vilvik_client.submissions.list(limit=1000).items) == 0
    with pytest.raises(vilvik.NotFoundError) as raised:
        vilvik_client.submissions.list(cursor="not-a-cursor")
    assert raised.value.status_code == 404 and raised.value.message == "Invalid cursor"


def test_validation_error_for_code_without_a_definition(vilvik_client):
    with pytest.raises(vilvik.ValidationError) as raised:
        vilvik_client.submissions.create(fitness_func="x = 1\n", num_genes=2)
    # The SDK detects no entry, so the server reports the missing entry.
    assert "fitness_func_entry" in raised.value.message
