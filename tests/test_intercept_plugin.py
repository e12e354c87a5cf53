"""Intercept mode as a user's test suite meets it: the ``vilvik_mock`` fixture (clean state per
test, markers, xdist), ``@mock_vilvik`` on a pytest test class, and an unguarded script.
Each case runs in a fresh pytest or Python process, as in the user's project.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

pytest_plugins = ["pytester"]

#: application code that knows nothing of the emulator
APP = '''
import vilvik

SOURCE = "def fitness_func(ga_instance, solution, solution_idx):\\n    return -sum(x * x for x in solution)\\n"


def start_run(name):
    return vilvik.Client().submissions.create(fitness_func=SOURCE, num_genes=3, num_generations=4, sol_per_pop=6,
                                              name=name).id


def run_names():
    return [row.name for row in vilvik.Client().submissions.iter_all()]
'''


def test_the_fixture_needs_no_code_and_gives_each_test_a_clean_emulator(pytester):
    pytester.makepyfile(app=APP, test_app='''
import httpx
import pytest
import vilvik

from app import run_names, start_run


def test_first(vilvik_mock):
    start_run("first")
    assert run_names() == ["first"]


def test_second_sees_nothing_of_the_first(vilvik_mock):
    assert run_names() == []


@pytest.mark.vilvik_mode("manual")
def test_the_handle_controls_jobs(vilvik_mock):
    run = start_run("held")
    assert vilvik.Client().submissions.get(run).status == "queued"
    vilvik_mock.succeed(run, best_solution_fitness=2.5)
    assert vilvik.Client().results.wait_for(run, poll_interval=0.01).best_fitness == 2.5


def test_a_real_run_and_httpx(vilvik_mock):
    run = start_run("real")
    assert vilvik_mock.wait(run)["status"] == "succeeded"
    response = httpx.get(f"https://vilvik.com/api/v1/submissions/{run}",
                         headers={"Authorization": f"Bearer {vilvik_mock.api_key}"})
    assert response.json()["status_url"] == f"https://vilvik.com/api/v1/submissions/{run}"


def test_shares_the_emulator_with_the_http_fixtures(vilvik_mock, vilvik_client):
    start_run("through the mock")
    assert [item.name for item in vilvik_client.submissions.list().items] == ["through the mock"]
''')
    outcome = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    outcome.assert_outcomes(passed=5)


def test_the_fixture_keeps_tests_apart_under_xdist(pytester):
    pytester.makepyfile(app=APP, test_isolation='''
import pytest

from app import run_names, start_run


@pytest.mark.parametrize("index", range(8))
@pytest.mark.vilvik_mode("manual")
def test_each_test_sees_only_its_own_run(vilvik_mock, index):
    start_run(f"t{index}")
    assert run_names() == [f"t{index}"]
''')
    outcome = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    outcome.assert_outcomes(passed=8)


def test_the_decorator_on_a_pytest_class_covers_setup_and_each_test(pytester):
    pytester.makepyfile(app=APP, test_class='''
import os

import vilvik

from app import run_names, start_run
from vilvik_emulator import mock_vilvik


@mock_vilvik(mode="manual")
class TestPlanner:
    def setup_method(self, method):
        self.run = start_run(method.__name__)

    def test_one(self):
        assert run_names() == ["test_one"]

    def test_two(self):
        assert run_names() == ["test_two"]

    def teardown_method(self):
        assert vilvik.Client().submissions.get(self.run).status == "queued"


@mock_vilvik
class TestWithoutHooks:
    def test_alone(self):
        assert os.environ["VILVIK_API_KEY"].startswith("vlk_test_")
        assert run_names() == []


def test_nothing_is_left_behind():
    assert "VILVIK_API_KEY" not in os.environ
''')
    outcome = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    outcome.assert_outcomes(passed=4)


def test_an_unguarded_script_using_the_mock_runs_once(tmp_path):
    # No `if __name__ == "__main__"`: the emulator's job processes must not re-run the
    # user's program (the runner's business), or this prints twice and never finishes cleanly.
    script = tmp_path / "notebook.py"
    script.write_text(textwrap.dedent('''
        import vilvik
        from vilvik_emulator import mock_vilvik

        SOURCE = "def fitness_func(ga_instance, solution, solution_idx):\\n    return -sum(x * x for x in solution)\\n"
        with mock_vilvik():
            client = vilvik.Client()
            run = client.submissions.create(fitness_func=SOURCE, num_genes=3, num_generations=5, sol_per_pop=6)
            print("ran", client.results.wait_for(run.id, poll_interval=0.02).num_generations_ran, flush=True)
    '''))
    completed = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                               timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == ["ran 5"]
