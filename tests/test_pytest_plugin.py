"""The pytest plugin as a user meets it: auto-registered fixtures, resets, modes, xdist,
the in-process transport. Each case runs a small test file in a fresh pytest process."""

from __future__ import annotations

import pytest
import requests
import vilvik
from helpers import SPHERE

pytest_plugins = ["pytester"]

USER_TESTS = '''
import pytest, vilvik

SOURCE = "def fitness_func(ga_instance, solution, solution_idx):\\n    return -sum(x * x for x in solution)\\n"


def test_first_sees_an_empty_emulator(vilvik_client):
    assert vilvik_client.submissions.list().items == []
    vilvik_client.submissions.create(fitness_func=SOURCE, num_genes=2, num_generations=3)


def test_second_sees_an_empty_emulator_too(vilvik_client):
    assert vilvik_client.submissions.list().items == []


@pytest.mark.vilvik_mode("manual")
def test_manual_mode_holds_jobs(vilvik_client, vilvik_emulator):
    submission = vilvik_client.submissions.create(fitness_func=SOURCE, num_genes=2)
    assert vilvik_client.submissions.get(submission.id).status == "queued"
    vilvik_emulator.succeed(submission.id, best_solution_fitness=1.5)
    assert vilvik_client.results.wait_for(submission.id, poll_interval=0.01).best_fitness == 1.5


def test_base_url_and_key(vilvik_base_url, vilvik_api_key):
    assert vilvik_base_url.startswith("http://127.0.0.1:") and vilvik_base_url.endswith("/api/v1")
    assert vilvik_api_key.startswith("vlk_test_")


def test_real_run(vilvik_client):
    submission = vilvik_client.submissions.create(fitness_func=SOURCE, num_genes=2, num_generations=3,
                                                  sol_per_pop=4)
    assert vilvik_client.results.wait_for(submission.id, poll_interval=0.02).num_generations_ran == 3
'''


def test_fixtures_need_no_configuration(pytester):
    pytester.makepyfile(test_user=USER_TESTS)
    outcome = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    outcome.assert_outcomes(passed=5)


def test_it_works_under_xdist_without_sharing_data(pytester):
    isolation = '''
import pytest

SOURCE = "def fitness_func(ga_instance, solution, solution_idx):\\n    return 0\\n"


@pytest.mark.parametrize("index", range(8))
@pytest.mark.vilvik_mode("manual")
def test_each_test_sees_only_its_own_rows(vilvik_client, index):
    mine = vilvik_client.submissions.create(fitness_func=SOURCE, num_genes=1, name=f"t{index}")
    assert [item.id for item in vilvik_client.submissions.iter_all()] == [mine.id]
'''
    pytester.makepyfile(test_isolation=isolation)
    outcome = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    outcome.assert_outcomes(passed=8)


def test_an_invalid_mode_is_a_usage_error(pytester):
    pytester.makepyfile(test_bad='''
import pytest

@pytest.mark.vilvik_mode("turbo")
def test_x(vilvik_client):
    pass
''')
    outcome = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert outcome.ret != 0
    outcome.stdout.fnmatch_lines(["*vilvik_mode must be one of thread, sync, manual*"])


def test_markers_are_registered(pytester):
    outcome = pytester.runpytest_subprocess("--markers")
    outcome.stdout.fnmatch_lines(["*vilvik_mode(mode)*"])


# ---------------------------------------------------------------------- in-process transport

def test_inprocess_client_shares_the_emulator(vilvik_inprocess_client, vilvik_client, control):
    submission = vilvik_inprocess_client.submissions.create(fitness_func=SPHERE, num_genes=2, num_generations=3,
                                                            sol_per_pop=4)
    result = vilvik_inprocess_client.results.wait_for(submission.id, poll_interval=0.02)
    assert vilvik_client.results.get(result.id).best_fitness == result.best_fitness
    assert control.requests(limit=1)[0]["path"].startswith("/api/v1/")


def test_inprocess_errors_map_to_sdk_exceptions(vilvik_inprocess_client):
    with pytest.raises(vilvik.NotFoundError):
        vilvik_inprocess_client.submissions.get("abcDEF123456")
    with pytest.raises(vilvik.ValidationError):
        vilvik_inprocess_client.submissions.create(fitness_func=SPHERE)


def test_inprocess_drop_is_a_connection_error(vilvik_inprocess_session, control):
    from vilvik_emulator.inprocess import INPROCESS_URL

    control.add_fault(action="drop", path="/api/v1/health", count=1)
    with pytest.raises(requests.ConnectionError):
        vilvik_inprocess_session.get(f"{INPROCESS_URL}/api/v1/health")
    assert vilvik_inprocess_session.get(f"{INPROCESS_URL}/api/v1/health").json()["status"] == "ok"
