"""The project's own tests: the emulator's pytest plugin gives them a Vilvik to talk to."""

import pytest
from route_planner import RoutePlanner


def test_finds_the_three_shortest_stops(vilvik_client):
    planner = RoutePlanner(vilvik_client)
    submission_id = planner.submit(seed=3)
    assert planner.best_stops(submission_id, poll_interval=0.05) == [2, 4, 6]


@pytest.mark.vilvik_mode("manual")
def test_reports_a_queued_run_without_waiting(vilvik_client, vilvik_emulator):
    planner = RoutePlanner(vilvik_client)
    submission_id = planner.submit()
    assert planner.status(submission_id) == "queued"
    vilvik_emulator.succeed(submission_id, best_solution=[0, 0, 1, 0, 1, 0, 1, 0], best_solution_fitness=-6)
    assert planner.best_stops(submission_id, poll_interval=0.01) == [2, 4, 6]


def test_handles_rate_limiting(vilvik_client, vilvik_emulator):
    vilvik_emulator.add_fault(method="GET", path="/api/v1/submissions/*", status=429, retry_after=30, count=1)
    planner = RoutePlanner(vilvik_client)
    submission_id = planner.submit()
    assert planner.status(submission_id) == "busy, retry in 30 s"


def test_in_process_without_a_socket(vilvik_inprocess_client):
    planner = RoutePlanner(vilvik_inprocess_client)
    assert planner.best_stops(planner.submit(seed=3), poll_interval=0.05) == [2, 4, 6]
