"""What a job's process says is checked, never believed (issue "Hardening" #3), and a job
gets a scrubbed environment, its own descriptors only and a fresh directory (#10).

The user's code finds its events pipe (the one descriptor above 2 it holds) and writes
forged frames to it; every malformed one ends the job ``failed`` with
``worker_crashed``, and usage always comes from the supervisor or the monitor.
"""

from __future__ import annotations

import json
import os
import textwrap

import pytest
from test_runner_containment import SPHERE, make_harness

FORGE = """\
import json, os, struct, sys

def events_pipe():
    for name in os.listdir("/proc/self/fd"):
        descriptor = int(name)
        if descriptor > 2:
            try:
                if os.readlink(f"/proc/self/fd/{descriptor}").startswith("pipe:"):
                    return descriptor
            except OSError:
                pass

def frame(message):
    body = json.dumps(message).encode()
    return struct.pack(">I", len(body)) + body

def fitness_func(ga_instance, solution, solution_idx):
    pipe = events_pipe()
%s
    return -sum(x * x for x in solution)
"""

GOOD_RESULT = {"best_solution": [0.5, 1], "best_solution_fitness": "-1.25", "best_solution_idx": 0,
               "best_solutions_fitness": [-2.0, -1.25], "best_solution_generation": 1, "generations_completed": 1,
               "last_generation_fitness": [-1.25, -3.0], "population": [[0.5, 1], [1.0, 1.0]],
               "initial_population": [[1.0, 1.0], [2.0, 0.0]], "gene_type_single": True,
               "stopped_reason": "num_generations", "num_fitness_evaluations": 4}

FORGERIES = {
    "exit on the events pipe": "os.write(pipe, frame({'type': 'exit', 'exitcode': 0, "
                               "'usage': {'cpu_seconds': 0, 'peak_memory_mb': 0}}))",
    "result with a fitness that is an object": "os.write(pipe, frame({'type': 'result', 'result': "
                                               f"{{**{GOOD_RESULT!r}, 'best_solution_fitness': {{'x': 1}}}}}}))\n"
                                               "os._exit(0)",
    "result with junk types": "os.write(pipe, frame({'type': 'result', 'result': "
                              f"{{**{GOOD_RESULT!r}, 'population': 'all of them', 'best_solution_idx': -4}}}}))\n"
                              "os._exit(0)",
    "result with negative usage": "os.write(pipe, frame({'type': 'result', 'result': "
                                  f"{GOOD_RESULT!r}, 'usage': {{'cpu_seconds': -1e9, 'peak_memory_mb': -5}}}}))\n"
                                  "os._exit(0)",
    "a NaN where a number must be": "os.write(pipe, struct.pack('>I', 95) + (b'{\"type\": \"progress\", "
                                    "\"generations_completed\": NaN, \"num_generations\": 1, \"best_fitness\": null}'"
                                    ").ljust(95))",
    "a 2 GiB message": "os.write(pipe, struct.pack('>I', 2 ** 31))",
    "garbage bytes": "os.write(pipe, b'\\xff\\xfe\\x00 not a frame at all, not JSON either ' * 3)\n"
                     "os._exit(0)",
    "a message cut short": "os.write(pipe, frame({'type': 'progress'})[:-3])\nos._exit(0)",
    "an unknown type": "os.write(pipe, frame({'type': 'credits', 'amount': -100}))",
    "a second result after the first": "os.write(pipe, frame({'type': 'result', 'result': " + repr(GOOD_RESULT)
                                       + "}))\nos.write(pipe, frame({'type': 'result', 'result': "
                                       + repr(GOOD_RESULT) + "}))\nos._exit(0)",
}


@pytest.fixture(scope="module")
def harness():
    made = make_harness("namespaces")
    yield made
    made.runner.shutdown()


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_a_malformed_message_fails_the_job_as_worker_crashed(harness, forgery):
    outcome = harness.run(FORGE % textwrap.indent(FORGERIES[forgery], "    "))
    assert outcome.status == "failed", outcome
    assert outcome.error["code"] == "worker_crashed", outcome.error
    assert "malformed" in outcome.error["message"], outcome.error
    assert all(value >= 0 for value in outcome.usage.values()), outcome.usage
    assert harness.run().status == "succeeded"


def test_a_well_formed_result_is_taken_with_usage_measured_outside():
    harness = make_harness("namespaces")
    try:
        outcome = harness.run(FORGE % f"    os.write(pipe, frame({{'type': 'result', 'result': {GOOD_RESULT!r}}}))\n"
                                      "    os._exit(0)")
    finally:
        harness.runner.shutdown()
    assert outcome.status == "succeeded" and outcome.result == GOOD_RESULT
    assert outcome.usage["cpu_seconds"] > 0 and outcome.usage["peak_memory_mb"] > 0, outcome.usage


REACH_FOR_THE_STATUS_PIPE = """\
forged = frame({"type": "exit", "exitcode": 0, "usage": {"cpu_seconds": 0, "peak_memory_mb": 0}})
reached = []
for pid in {os.getppid(), 1}:
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        continue
    for name in names:
        try:
            descriptor = os.open(f"/proc/{pid}/fd/{name}", os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            os.write(descriptor, forged)
            reached.append(f"{pid}/{name}")
        except OSError:
            pass
        os.close(descriptor)
print("REACHED", json.dumps(reached), flush=True)
os.kill(os.getpid(), 9)
"""


@pytest.mark.parametrize("containment", ["namespaces", "subreaper"])
def test_the_supervisors_report_is_out_of_the_jobs_reach(containment):
    harness = make_harness(containment)
    try:
        outcome = harness.run(FORGE % textwrap.indent(REACH_FOR_THE_STATUS_PIPE, "    "))
    finally:
        harness.runner.shutdown()
    assert "REACHED []" in outcome.log.decode(), outcome.log.decode()
    assert outcome.status == "failed" and outcome.error["code"] == "worker_crashed", outcome.error
    assert "SIGKILL" in outcome.error["message"]


# ---------------------------------------------------------------------- the job's environment

SECRETS = {"VILVIK_EMULATOR_ADMIN_TOKEN": "admin-secret", "VILVIK_API_KEY": "vlk_secret",
           "VILVIK_EMULATOR_API_KEY": "vlk_other_secret", "AWS_SECRET_ACCESS_KEY": "cloud-secret",
           "PYTHONPATH": "/somewhere/with/a/sitecustomize"}

LOOK_AROUND = """\
import fcntl, json, os, tempfile
files_at_start = sorted(os.listdir("."))
open_descriptors = []
for descriptor in range(3, 4096):
    try:
        fcntl.fcntl(descriptor, fcntl.F_GETFD)
        open_descriptors.append(descriptor)
    except OSError:
        pass
with open(os.path.join(tempfile.gettempdir(), "left-behind"), "w") as handle:
    handle.write("x")
print("SEEN " + json.dumps({"environment": dict(os.environ), "descriptors": open_descriptors, "cwd": os.getcwd(),
                            "files": files_at_start, "tmp": tempfile.gettempdir()}), flush=True)

def fitness_func(ga_instance, solution, solution_idx):
    return -sum(x * x for x in solution)
"""


@pytest.mark.parametrize("containment", ["namespaces", "subreaper"])
def test_a_job_gets_a_scrubbed_environment_its_own_descriptors_and_a_fresh_directory(monkeypatch, containment):
    for name, value in {**SECRETS, "LC_ALL": "C.UTF-8", "HOME": "/home/tester"}.items():
        monkeypatch.setenv(name, value)
    harness = make_harness(containment)
    try:
        outcome = harness.run(LOOK_AROUND)
    finally:
        harness.runner.shutdown()
    assert outcome.status == "succeeded", outcome.error
    seen = json.loads(next(line for line in outcome.log.decode().splitlines() if line.startswith("SEEN "))[5:])
    environment = seen["environment"]
    leaked = sorted(set(SECRETS) & set(environment))
    assert not leaked, f"the job saw {leaked}"
    assert not any(value in json.dumps(environment) for value in SECRETS.values())
    assert environment["HOME"] == "/home/tester" and environment["LC_ALL"] == "C.UTF-8"
    assert environment["PATH"] == os.environ["PATH"]
    assert environment["OPENBLAS_NUM_THREADS"] == "1" and environment["PYTHONHASHSEED"] == "0"
    assert len(seen["descriptors"]) == 1, f"besides 0, 1 and 2 only its events pipe: {seen['descriptors']}"
    assert os.path.basename(seen["cwd"]).startswith("vilvik-job-job") and seen["files"] == [], seen
    assert seen["tmp"] == seen["cwd"], "temporary files go to the job's own directory"
    assert not os.path.exists(seen["cwd"]), "the job's directory is removed when it ends"
    assert SPHERE  # the module's shared fitness is the one the harness runs by default
