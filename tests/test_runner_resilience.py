"""A job always ends and the runner keeps serving (issue "Hardening" #4, runner side), and
the warm template keeps runs exact (issue "Performance": same seed, same result).

Whatever breaks — the listener, the monitor, the job template between or during jobs —
the job in hand gets an outcome, its processes are gone, and the next job runs.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from test_runner_containment import (
    DEADLINE,
    WAIT_FOR_GO,
    Recorder,
    assert_all_gone,
    make_harness,
    snapshot,
    staged,
    wait_for_file,
)

from vilvik_emulator.runner import Outcome, Runner
from vilvik_emulator.runner import dispatcher as dispatcher_module
from vilvik_emulator.runner.processes import children, subtree

LIMITS = {"runtime_seconds": 60, "memory_mb": 2048, "output_bytes": 1 << 20, "max_processes": 64}


@pytest.fixture
def harness():
    made = make_harness("namespaces")
    yield made
    made.runner.shutdown()


def template_pid(harness) -> int:
    assert harness.run().status == "succeeded"  # the template is up
    return harness.runner.stats()["template_pid"]


def kill_and_wait(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            if Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z":
                return
        except FileNotFoundError:  # reaped already
            return
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_template_that_died_between_jobs_is_replaced(harness, caplog):
    first = template_pid(harness)
    kill_and_wait(first)
    assert harness.run().status == "succeeded"
    assert harness.runner.stats()["template_pid"] != first
    assert harness.runner.stats()["template_restarts"] >= 1
    assert any("job template" in record.getMessage() for record in caplog.records)


def test_a_job_outlives_its_template_dying_mid_way_and_the_next_one_runs(harness, tmp_path):
    first = template_pid(harness)
    submission_id = harness.submit(staged("spawn_daemon()\n" + WAIT_FOR_GO, tmp_path))
    pid = harness.pid(submission_id)
    wait_for_file(tmp_path / "ready")
    processes = snapshot(pid)
    kill_and_wait(first)
    (tmp_path / "go").touch()
    outcome = harness.recorder.outcome(submission_id)
    assert outcome.status == "succeeded", outcome.error
    assert harness.runner.join(submission_id)  # the supervisor's own exit follows the outcome
    assert_all_gone(processes)
    assert harness.run().status == "succeeded"
    assert harness.runner.stats()["template_pid"] != first


def spare_of(template: int) -> tuple[int, int]:
    """(supervisor, job process) of the template's spare, once both are there (no job running)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        supervisors = children(template)
        below = children(supervisors[0]) if len(supervisors) == 1 else []
        if len(below) == 1:
            return supervisors[0], below[0]
        assert time.monotonic() < deadline, f"no spare below the template: {supervisors}, {below}"
        time.sleep(0.01)


@pytest.mark.parametrize("victim", ["job process", "supervisor"])
def test_a_spare_that_died_while_it_waited_is_replaced(harness, victim):
    """The template keeps a job's processes ready before the job; a spare that dies (anything
    of this user can kill it) is replaced when the job comes, and the job runs."""
    template = template_pid(harness)
    assert harness.runner.join("job1")
    supervisor, process = spare_of(template)
    processes = snapshot(supervisor)
    kill_and_wait(process if victim == "job process" else supervisor)
    outcome = harness.run()
    assert outcome.status == "succeeded", outcome.error
    assert harness.runner.join("job2")
    assert_all_gone(processes)
    assert harness.run().status == "succeeded"


class FailingRecorder(Recorder):
    """Raises from every callback of its first job (after recording what it heard)."""

    def job_started(self, submission_id: str, pid: int) -> None:
        super().job_started(submission_id, pid)
        if submission_id == "job1":
            raise RuntimeError("the listener broke in job_started")

    def job_progress(self, submission_id: str, progress: dict) -> None:
        if submission_id == "job1":
            raise RuntimeError("the listener broke in job_progress")

    def job_finished(self, submission_id: str, outcome: Outcome) -> None:
        super().job_finished(submission_id, outcome)
        if submission_id == "job1":
            raise RuntimeError("the listener broke in job_finished")


def test_a_listener_that_raises_stops_nothing(caplog):
    recorder = FailingRecorder()
    runner = Runner(recorder, limits=lambda: LIMITS, pool_size=lambda: 1)
    harness = make_harness("namespaces")
    harness.runner.shutdown()
    harness.runner, harness.recorder = runner, recorder
    runner.start()
    try:
        assert harness.run().status == "succeeded"
        assert harness.run().status == "succeeded"
        assert runner.join("job2")  # the supervisor's own exit follows the outcome
        assert runner.stats()["running"] == 0
    finally:
        runner.shutdown()
    messages = " ".join(record.getMessage() for record in caplog.records)
    assert "job_started" in messages and "recording the end of job job1 failed" in messages


def test_a_monitor_that_fails_still_ends_the_job_and_kills_it(harness, tmp_path, monkeypatch):
    real = dispatcher_module.tree_usage
    broken = {"armed": False}

    def failing_tree_usage(root: int):
        if broken["armed"]:
            raise OSError("the monitor tripped over /proc")
        return real(root)

    monkeypatch.setattr(dispatcher_module, "tree_usage", failing_tree_usage)
    submission_id = harness.submit(staged("spawn_daemon()\n" + WAIT_FOR_GO + "while True:\n    pass\n", tmp_path))
    pid = harness.pid(submission_id)
    wait_for_file(tmp_path / "ready")
    processes = snapshot(pid)
    broken["armed"] = True
    outcome = harness.recorder.outcome(submission_id)
    assert outcome.status == "failed" and outcome.error["code"] == "worker_crashed", outcome.error
    assert_all_gone(processes)
    assert not subtree(pid) - {pid}
    broken["armed"] = False
    assert harness.run().status == "succeeded"


SEEDED = """\
import random
import numpy

WORDS = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu"}

def fitness_func(ga_instance, solution, solution_idx):
    return -sum(x * x for x in solution) + random.random() * 1e-9 + numpy.random.rand() * 1e-9

def on_generation(ga_instance):
    print(list(WORDS)[:4], random.random(), numpy.random.rand())  # set order: str hashes
"""


def test_same_seed_same_result_across_templates(harness):
    code = {"fitness_func": SEEDED, "fitness_func_entry": "fitness_func",
            "on_generation": SEEDED, "on_generation_entry": "on_generation"}
    first = harness.run(code, num_generations=5, mutation_probability=0.3)
    kill_and_wait(harness.runner.stats()["template_pid"])
    second = harness.run(code, num_generations=5, mutation_probability=0.3)
    assert first.status == second.status == "succeeded", (first.error, second.error)
    assert first.result == second.result
    assert first.log == second.log and first.log.count(b"[") >= 5


DRAWS = """\
import random, numpy

print("DRAWS", random.random(), numpy.random.random(), flush=True)

def fitness_func(ga_instance, solution, solution_idx):
    return 0.0
"""


def test_without_a_seed_the_global_generators_differ_from_job_to_job(harness):
    """Jobs are forked from one warm template: its generators' state must not make every
    unseeded job draw the same numbers from random and numpy.random."""
    code = {"fitness_func": DRAWS, "fitness_func_entry": "fitness_func"}
    draws = []
    for _ in range(3):
        outcome = harness.run(code, random_seed=None)
        assert outcome.status == "succeeded", outcome.error
        draws += [line.split()[1:] for line in outcome.log.decode().splitlines() if line.startswith("DRAWS ")]
    assert len(draws) == 3, draws
    for generator in (0, 1):  # random, numpy.random
        assert len({draw[generator] for draw in draws}) == 3, draws
