"""The weekly report's tests. Its code builds its own ``vilvik.Client()``, so the tests do not
pass it anything: intercept mode serves its calls to vilvik.com from the emulator."""

import subprocess
import sys
from pathlib import Path

from weekly_report import best_stops, plan_this_week, quick_check, recent_run_names

from vilvik_emulator import mock_vilvik

PROJECT = Path(__file__).resolve().parent.parent


def test_with_the_fixture(vilvik_mock):
    run = plan_this_week(seed=3)
    assert best_stops(run, poll_interval=0.05) == [2, 4, 6]
    assert recent_run_names() == ["weekly route"]
    assert [entry["path"] for entry in vilvik_mock.requests(method="POST")] == ["/api/v1/submissions"]


def test_holding_the_run_with_the_context_manager():
    with mock_vilvik(mode="manual") as control:
        run = plan_this_week()
        assert control.wait(run, status="queued")["status"] == "queued"
        control.succeed(run, best_solution=[1, 0, 0, 0, 0, 0, 1, 0], best_solution_fitness=-5)
        assert best_stops(run, poll_interval=0.01) == [0, 6]


@mock_vilvik
def test_with_the_decorator():
    assert quick_check(poll_interval=0.05) <= 0
    assert len(recent_run_names()) == 1  # a fresh emulator: only the run above


@mock_vilvik(mode="sync")
class TestWithTheClassDecorator:
    def setup_method(self):
        self.run = plan_this_week(seed=3)

    def test_the_run_finished_within_the_request(self):
        assert best_stops(self.run, poll_interval=0.01) == [2, 4, 6]

    def test_each_test_starts_clean(self):
        assert recent_run_names() == ["weekly route"]


def test_the_unmodified_script_with_exec():
    completed = subprocess.run([sys.executable, "-m", "vilvik_emulator", "exec", "--", sys.executable, "weekly.py"],
                               cwd=PROJECT, capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == ["stops: [2, 4, 6]", "runs: ['weekly route']"]
