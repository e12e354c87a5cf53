"""A job ends when its process has said everything, not when the kernel has torn it down
(issue 13), and the supervisor's report still counts all of the job.

The user's process stops itself (``SIGSTOP``) once its last frame is written. Its
supervisor, seeing it stopped, reports at once when that process is all the job ever ran
(its CPU clock and memory high-water mark are then exact), and kills it after; any other
process in the job, alive or already reaped, sends it the old way: everything is killed
and reaped first and ``getrusage`` counts it all. Spares (the supervisor and job process
forked before the job) are used once, and a job that comes while its spare is still being
made waits for it. The template's watch is supervised: a watch that fails still has the
template replaced and its job ended.
"""

from __future__ import annotations

import ast
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest
from test_runner_containment import (
    DEADLINE,
    WAIT_FOR_GO,
    assert_all_gone,
    make_harness,
    snapshot,
    staged,
    wait_for_file,
)
from test_runner_resilience import kill_and_wait, spare_of, template_pid

from vilvik_emulator.runner import protocol

BURN = "deadline = time.process_time() + 0.3\nwhile time.process_time() < deadline:\n    pass\n"


@pytest.fixture(params=["namespaces", "subreaper"])
def harness(request):
    made = make_harness(request.param)
    try:
        if request.param == "namespaces":
            made.run()
            if made.runner.stats()["containment"] != "namespaces":
                pytest.skip("this kernel or user cannot give jobs PID namespaces (needs root)")
        yield made
    finally:
        made.runner.shutdown()


@pytest.fixture
def reports(monkeypatch):
    """Every exit report the monitors accept, in order."""
    seen: list[dict] = []
    check = protocol.check_exit

    def recording(message: dict) -> dict:
        seen.append(check(message))
        return message

    monkeypatch.setattr(protocol, "check_exit", recording)
    return seen


def fitness(body: str) -> str:
    return ("import os, signal, subprocess, sys, time\nDONE = False\n\n"
            "def fitness_func(ga_instance, solution, solution_idx):\n    global DONE\n    if not DONE:\n"
            "        DONE = True\n" + textwrap.indent(body, " " * 8) + "    return -sum(x * x for x in solution)\n")


def test_a_job_of_one_process_is_reported_while_stopped_and_is_gone_after(harness, reports):
    outcome = harness.run(fitness(BURN))
    assert outcome.status == "succeeded", outcome.error
    report = reports[-1]
    assert report["signal"] == signal.SIGSTOP, report
    # its own CPU clock, less the warm-up before the job: the 0.3 s it burned, and not much more
    assert 0.3 <= report["usage"]["cpu_seconds"] == outcome.usage["cpu_seconds"], report
    assert report["usage"]["peak_memory_mb"] > 0
    assert harness.runner.join(f"job{harness.count}")  # the supervisor's exit (after its reaping) follows


CHILD_BURNS = """\
child = os.fork()
if child == 0:
""" + textwrap.indent(BURN, "    ") + """\
    os._exit(0)
os.waitpid(child, 0)
"""

DAEMON_BURNS = """\
ready, told = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
""" + textwrap.indent(BURN, "        ") + """\
        os.write(told, b"x")
        time.sleep(600)
    os._exit(0)
os.read(ready, 1)
"""


@pytest.mark.parametrize("body", [CHILD_BURNS, DAEMON_BURNS, "subprocess.run(['true'])\n"],
                         ids=["a child it reaped", "a daemon still running", "a program it ran"])
def test_a_job_that_ran_other_processes_is_counted_whole(harness, reports, body):
    """Then the report waits for everything to be killed and reaped: the others' CPU is billed too."""
    outcome = harness.run(fitness(body))
    assert outcome.status == "succeeded", outcome.error
    if body != "subprocess.run(['true'])\n":
        assert outcome.usage["cpu_seconds"] >= 0.3, outcome.usage
    assert reports[-1]["signal"] == signal.SIGSTOP
    assert harness.runner.join(f"job{harness.count}")


def test_a_job_that_stops_itself_ends_at_once(harness):
    """Not at the runtime limit (60 s here, the test's own deadline too): a stop before the result fails it."""
    outcome = harness.run(fitness("os.kill(os.getpid(), signal.SIGSTOP)\n"))
    assert outcome.status == "failed" and outcome.error["code"] == "worker_crashed", outcome.error
    assert "SIGSTOP" in outcome.error["message"]
    assert harness.run().status == "succeeded"


def test_a_job_stopped_from_outside_ends_and_leaves_nothing(harness, tmp_path):
    submission_id = harness.submit(staged(WAIT_FOR_GO + "time.sleep(600)\n", tmp_path))
    supervisor = harness.pid(submission_id)
    wait_for_file(tmp_path / "ready")
    processes = snapshot(supervisor)
    user = next(pid for pid in processes if pid != supervisor)
    os.kill(user, signal.SIGSTOP)
    outcome = harness.recorder.outcome(submission_id)
    assert outcome.status == "failed" and "SIGSTOP" in outcome.error["message"], outcome.error
    assert harness.runner.join(submission_id)
    assert_all_gone(processes)


MEASURE = """\
import os, signal, sys, time
from vilvik_emulator.runner.worker import _usage_of_the_stopped

def burn():
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:
        pass

def reaps_a_child():
    burn()
    grandchild = os.fork()
    if grandchild == 0:
        os._exit(0)
    os.waitpid(grandchild, 0)

def keeps_a_child():
    if os.fork() == 0:
        time.sleep(600)
        os._exit(0)

case = sys.argv[1]
if case == "this process reaped one before":
    other = os.fork()
    if other == 0:
        os._exit(0)
    os.waitpid(other, 0)
child = os.fork()
if child == 0:
    {"alone": burn, "it reaped a child": reaps_a_child, "it has a child": keeps_a_child}.get(case, burn)()
    if case != "running":
        os.kill(os.getpid(), signal.SIGSTOP)
    time.sleep(600)
    os._exit(0)
if case != "running":
    os.waitpid(child, os.WUNTRACED)
print(repr(_usage_of_the_stopped(child)))
os.killpg(0, signal.SIGKILL)
"""


@pytest.mark.parametrize("case", ["alone", "it reaped a child", "it has a child", "running",
                                  "this process reaped one before"])
def test_the_stopped_process_is_measured_only_when_it_is_the_whole_job(case):
    """In a fresh process, as the supervisor sees it: its one child is the job's process."""
    answer = subprocess.run([sys.executable, "-c", MEASURE, case], capture_output=True, text=True,
                            timeout=DEADLINE, cwd=os.path.dirname(os.path.dirname(__file__)),
                            start_new_session=True)
    assert answer.returncode == -signal.SIGKILL, answer.stderr
    measured = ast.literal_eval(answer.stdout)  # the script prints a tuple or None
    if case == "alone":
        cpu, peak = measured
        assert cpu >= 0.2 and peak > 0, measured
    else:
        assert measured is None


# ---------------------------------------------------------------------- spares

def test_each_job_takes_the_spare_made_before_it_and_a_new_one_is_made(harness):
    template = template_pid(harness)
    for _ in range(3):
        assert harness.runner.join(f"job{harness.count}")
        supervisor, _process = spare_of(template)
        outcome = harness.run()
        assert outcome.status == "succeeded", outcome.error
        assert harness.recorder.started[f"job{harness.count}"] == supervisor  # the spare, not a fresh fork


def test_jobs_that_come_while_their_spare_is_being_made_wait_for_it_and_agree(harness):
    """A burst: each job after the first comes while the template is still making its spare
    (the warm-up is cut short); same seed, same result, whatever state the spare was in."""
    first = harness.run()
    ids = [harness.submit() for _ in range(6)]
    outcomes = [harness.recorder.outcome(submission_id) for submission_id in ids]
    assert all(outcome.status == "succeeded" for outcome in outcomes), [outcome.error for outcome in outcomes]
    assert all(outcome.result == first.result for outcome in outcomes)


def test_a_spare_killed_before_its_job_is_replaced_and_nothing_of_it_is_left(harness):
    template = template_pid(harness)
    assert harness.runner.join("job1")
    supervisor, _process = spare_of(template)
    processes = snapshot(supervisor)
    kill_and_wait(supervisor)
    outcome = harness.run()
    assert outcome.status == "succeeded", outcome.error
    assert harness.recorder.started["job2"] != supervisor
    assert harness.runner.join("job2")
    assert_all_gone(processes)


# ---------------------------------------------------------------------- the template's watch

class RaisesOnce:
    def __init__(self, function) -> None:
        self.function = function
        self.raised = threading.Event()

    def __call__(self, *args, **kwargs):
        if not self.raised.is_set():
            self.raised.set()
            raise RuntimeError("injected failure in the template's watch")
        return self.function(*args, **kwargs)


def test_a_watch_that_raises_is_logged_and_the_job_still_ends(harness, tmp_path, caplog):
    template = template_pid(harness)
    spawner = harness.runner.spawner
    once = RaisesOnce(spawner._replace)
    spawner._replace = once  # type: ignore[method-assign]
    submission_id = harness.submit(staged("spawn_daemon()\n" + WAIT_FOR_GO, tmp_path))
    supervisor = harness.pid(submission_id)
    wait_for_file(tmp_path / "ready")
    processes = snapshot(supervisor)
    with caplog.at_level(logging.ERROR, logger="vilvik_emulator"):
        kill_and_wait(template)  # the watch's first round raises
        assert once.raised.wait(DEADLINE)
        (tmp_path / "go").touch()
        outcome = harness.recorder.outcome(submission_id)
        assert outcome.status == "succeeded", outcome.error
        assert harness.runner.join(submission_id)
        assert_all_gone(processes)
        assert harness.run().status == "succeeded"  # a new template
    assert harness.runner.stats()["template_pid"] != template
    assert any("vilvik-template-watch" in record.getMessage() and record.exc_info for record in caplog.records)
