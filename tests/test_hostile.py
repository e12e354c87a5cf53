"""Hostile code (contract §5.1 error codes, §6 isolation and limits).

Every case runs a real job whose code misbehaves — spins, exits, crashes, allocates
without bound, raises what it should not, forks without end, returns garbage, floods
its output — and checks that:

* the submission ends ``failed`` with the right ``error.code`` and a message a user can
  act on, and the run still has a result with its ``log.txt`` and a ledger charge;
* the server keeps answering while the job misbehaves (``GET /health`` and
  ``GET submissions/<id>`` are probed from another thread the whole time; latencies are
  printed, never asserted);
* nothing the job started outlives it;
* a normal job submitted right after runs fine.

Runs are kept tiny (3 generations of 4 solutions) and limits small so the module is fast.
"""

from __future__ import annotations

import os
import re
import signal
import statistics
import textwrap
import threading
import time
from dataclasses import dataclass, field

import pytest
import requests
from helpers import SPHERE, Api

from vilvik_emulator.runner.processes import descendants

TINY = {"fitness_func": SPHERE, "fitness_func_entry": "fitness_func", "num_genes": 3, "num_generations": 3,
        "sol_per_pop": 4, "num_parents_mating": 2, "mutation_num_genes": 1, "random_seed": 7}
RUNTIME = 2  # seconds: the runtime limit of the cases that must time out
OUTPUT_NOTE_MAX = 200  # bytes: the "[output truncated ...]" note appended to a truncated log


def fitness(body: str, *, prelude: str = "") -> str:
    """A fitness function source whose body is ``body`` (indented by the caller's 4 spaces)."""
    return (f"import ctypes\nimport os\nimport subprocess\nimport sys\nimport time\n\nimport numpy\n{prelude}\n\n"
            f"def fitness_func(ga_instance, solution, solution_idx):\n{body}")


#: a child started by os.fork() must never return into PyGAD: it sleeps, then leaves quietly
FORK_LOOP = """\
    while True:
        pid = os.fork()
        if pid == 0:
            try:
                time.sleep(60)
            finally:
                os._exit(0)
        time.sleep(0.05)
"""

POPEN_LOOP = """\
    while True:
        subprocess.Popen(["sleep", "60"])
        time.sleep(0.05)
"""

PROCESS_LIMIT = 8


@dataclass
class Case:
    id: str
    code: dict
    error: str
    message: list[str]  # regular expressions the error message must match (re.search)
    limits: dict = field(default_factory=dict)
    traceback: bool = False  # an exception from the user's code: its traceback is kept
    spawns: bool = False  # the job starts processes: they must all be gone afterwards
    charged: bool = False  # a limit stopped the job: it used resources and pays for them


def fitness_case(id: str, body: str, error: str, message: list[str], **options) -> Case:
    return Case(id, {"fitness_func": fitness(body, prelude=options.pop("prelude", ""))}, error, message, **options)


CASES = [
    fitness_case("busy-loop", "    while True:\n        pass\n", "timeout",
                 [rf"runtime limit of {RUNTIME} s"], limits={"runtime_seconds": RUNTIME}, charged=True),
    fitness_case("sleep-1000", "    time.sleep(1000)\n", "timeout",
                 [rf"runtime limit of {RUNTIME} s"], limits={"runtime_seconds": RUNTIME}, charged=True),
    fitness_case("os._exit(1)", "    os._exit(1)\n", "worker_crashed", [r"exited with status 1", r"os\._exit"]),
    fitness_case("sys.exit()", "    sys.exit()\n", "fitness_error", [r"^SystemExit"], traceback=True),
    fitness_case("sys.exit(3)", "    sys.exit(3)\n", "fitness_error", [r"^SystemExit: 3$"], traceback=True),
    fitness_case("segfault", "    ctypes.string_at(0)\n", "worker_crashed", [r"SIGSEGV"]),
    fitness_case("bytearray-8GiB", "    bytearray(8 << 30)\n", "out_of_memory",
                 [r"out of memory"], charged=True),
    fitness_case("numpy.ones(2**31)", "    numpy.ones(2**31)\n", "out_of_memory",
                 [r"out of memory"], charged=True),
    fitness_case("BaseException", "    raise BaseException('hostile base')\n", "fitness_error",
                 [r"^BaseException: hostile base$"], traceback=True),
    fitness_case("KeyboardInterrupt", "    raise KeyboardInterrupt\n", "fitness_error",
                 [r"^KeyboardInterrupt$"], traceback=True),
    # (stopped within a fraction of a second, mostly sleeping: their charge may round to 0)
    fitness_case("popen-loop", POPEN_LOOP, "fitness_error",
                 [rf"more than {PROCESS_LIMIT} processes|Resource temporarily unavailable"],
                 limits={"max_processes": PROCESS_LIMIT}, spawns=True),
    fitness_case("fork-loop", FORK_LOOP, "fitness_error",
                 [rf"more than {PROCESS_LIMIT} processes|Resource temporarily unavailable"],
                 limits={"max_processes": PROCESS_LIMIT}, spawns=True),
    fitness_case("returns-None", "    return None\n", "fitness_error", [r"^ValueError: ", r"NoneType"],
                 traceback=True),
    fitness_case("returns-str", "    return 'x'\n", "fitness_error", [r"^ValueError: ", r"'str'"], traceback=True),
    fitness_case("returns-nan", "    return float('nan')\n", "fitness_error", [r"^ValueError: ", r"NaN"],
                 traceback=True),
    Case("raises-at-import", {"fitness_func": "raise RuntimeError('refusing to load')\n\n" + SPHERE},
         "fitness_error", [r"fitness_func raised RuntimeError while loading: refusing to load"], traceback=True),
    Case("missing-module-at-import", {"fitness_func": "import no_such_module_for_vilvik\n\n" + SPHERE},
         "fitness_error", [r"fitness_func raised ModuleNotFoundError while loading", r"no_such_module_for_vilvik"],
         traceback=True),
    Case("on_generation-raises",
         {"on_generation": "def on_generation(ga_instance):\n    raise RuntimeError('callback exploded')\n",
          "on_generation_entry": "on_generation"},
         "fitness_error", [r"^RuntimeError: callback exploded$"], traceback=True),
]


# ---------------------------------------------------------------------- helpers

def start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (to tell a process from a later one with its pid)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def still_running(processes: dict[int, int]) -> list[int]:
    """Those of ``{pid: start time}`` that still exist (zombies do not count)."""
    survivors = []
    for pid, started in processes.items():
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[19]) == started:
            survivors.append(pid)
    return survivors


def assert_all_gone(processes: dict[int, int], what: str) -> None:
    """None of ``processes`` survives; survivors are killed anyway so a failure leaks nothing."""
    survivors = still_running(processes)
    described = [describe(pid) for pid in survivors]
    for pid in survivors:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not survivors, (f"{what}: {len(survivors)} of {len(processes)} processes the job started outlived it: "
                           f"{described}")


def describe(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            command = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()[:60]
    except OSError:
        return f"pid {pid} (gone)"
    return f"pid {pid} ppid {fields[1]} session {fields[3]}: {command}"


class Prober(threading.Thread):
    """Asks the server for ``/health`` and the job's detail, over and over, until stopped."""

    def __init__(self, api: Api, submission_id: str, interval: float = 0.05) -> None:
        super().__init__(name=f"prober-{submission_id}", daemon=True)
        # a session of its own: requests sessions are not shared across threads
        self.api = Api(api.base_url, api.api_key, api.checker)
        self.submission_id = submission_id
        self.interval = interval
        self.stopping = threading.Event()
        self.samples: list[tuple[str, int, float, str | None]] = []  # (what, HTTP status, seconds, job status)
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                for what, path in (("health", "health"), ("detail", f"submissions/{self.submission_id}")):
                    started = time.perf_counter()
                    response = self.api.get(path)
                    elapsed = time.perf_counter() - started
                    status = response.json().get("status") if response.status_code == 200 else None
                    self.samples.append((what, response.status_code, elapsed, status))
                self.stopping.wait(self.interval)
        except BaseException as error:  # reported by stop()
            self.failure = error

    def stop(self, minimum: int = 3, timeout: float = 30) -> None:
        """Stop once at least ``minimum`` rounds were made; re-raise what went wrong."""
        deadline = time.monotonic() + timeout
        while self.rounds() < minimum and self.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        self.stopping.set()
        self.join(timeout)
        if self.failure is not None:
            raise AssertionError(f"probing the server failed: {self.failure!r}") from self.failure

    def rounds(self) -> int:
        return sum(1 for sample in self.samples if sample[0] == "detail")

    def report(self, label: str) -> str:
        parts = []
        for what in ("health", "detail"):
            times = [sample[2] * 1000 for sample in self.samples if sample[0] == what]
            parts.append(f"{what}: n={len(times)} median={statistics.median(times):.1f} ms "
                         f"max={max(times):.1f} ms")
        running = sum(1 for sample in self.samples if sample[0] == "detail" and sample[3] == "running")
        return f"LATENCY {label}: {'; '.join(parts)}; detail answered 'running' {running} times"


@dataclass
class Run:
    detail: dict
    prober: Prober
    processes: dict[int, int]  # every process seen under the worker: pid -> start time
    worker_pid: int | None


def run_job(api: Api, control, server, label: str, *, track: bool = False, **overrides) -> Run:
    """Create a job, probe the server while it runs, and return once it ended."""
    created = api.create(**{**TINY, **overrides})
    prober = Prober(api, created["id"])
    prober.start()
    processes: dict[int, int] = {}
    worker_pid = None
    try:
        if track:
            runner = server.emulator.runner
            deadline = time.monotonic() + 60
            while runner.state(created["id"]) is not None and time.monotonic() < deadline:
                pid = runner.pid_of(created["id"])
                if pid:
                    worker_pid = pid
                    for child in descendants(pid) | {pid}:
                        started = start_time(child)
                        if started is not None:
                            processes.setdefault(child, started)
                time.sleep(0.01)
        detail = control.wait(created["id"], timeout=60)
    finally:
        prober.stop()
    print(prober.report(label))
    return Run(detail, prober, processes, worker_pid)


def assert_server_kept_answering(run: Run) -> None:
    failures = [sample for sample in run.prober.samples if sample[1] != 200]
    assert not failures, failures
    assert run.prober.rounds() >= 3
    assert any(sample[0] == "health" for sample in run.prober.samples)


def log_of(api: Api, detail: dict) -> bytes:
    """A run's captured output: its result's log.txt, or (a run that did not succeed has no result,
    contract §7) the log the control plane keeps for it."""
    if detail["status"] == "succeeded":
        response = api.get(f"results/{detail['result_id']}/files/log.txt")
    else:
        assert detail["result_id"] is None, "a run that did not succeed has no result"
        response = requests.get(f"{api.base_url.removesuffix('/api/v1')}/_emulator/submissions/{detail['id']}/log",
                                timeout=30)
    assert response.status_code == 200, response.text
    return response.content


def charge_for(control, submission_id: str) -> dict:
    charges = [entry for entry in control.ledger()["results"] if entry["submission_id"] == submission_id]
    assert len(charges) == 1, charges
    return charges[0]


def assert_normal_job_runs(api: Api, control) -> None:
    detail = control.wait(api.create(**TINY)["id"], timeout=60)
    assert detail["status"] == "succeeded", detail["error"]
    assert detail["progress"]["generations_completed"] == TINY["num_generations"]


# ---------------------------------------------------------------------- the table

@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_code_fails_cleanly(api, control, vilvik_emulator_server, case):
    if case.limits:
        control.configure(limits=case.limits)
    run = run_job(api, control, vilvik_emulator_server, case.id, track=case.spawns, **case.code)
    detail = run.detail

    assert detail["status"] == "failed", detail
    error = detail["error"]
    assert error["code"] == case.error, error
    for pattern in case.message:
        assert re.search(pattern, error["message"]), (pattern, error["message"])
    if case.error == "out_of_memory":  # the message names the limit that was hit
        assert f"{control.config()['limits']['memory_mb']} MB" in error["message"], error["message"]
    if case.traceback:
        assert error["traceback"].startswith("Traceback (most recent call last)"), error["traceback"]
    assert detail["finished_at"] and detail["usage"]["wall_seconds"] > 0

    log = log_of(api, detail)
    if case.traceback:
        assert b"Traceback (most recent call last)" in log, log[-2000:]

    charge = charge_for(control, detail["id"])
    assert charge["reason"] == case.error
    assert charge["amount"] == detail["credits_used"] >= 0
    if case.charged:
        assert charge["amount"] > 0, charge

    if case.spawns:
        started = set(run.processes) - {run.worker_pid}
        assert len(started) >= 2, f"the job should have been seen starting processes: {run.processes}"
        assert_all_gone(run.processes, case.id)

    assert_server_kept_answering(run)
    assert_normal_job_runs(api, control)


# ---------------------------------------------------------------------- output flood

FLOOD = 100_000_000

OUTPUT_FLOODS = {
    "sys.stdout.write": "        sys.stdout.write('x' * FLOOD)\n",
    "os.write": ("        data = memoryview(b'x' * FLOOD)\n"
                 "        while data:\n"
                 "            data = data[os.write(1, data):]\n"),
}


@pytest.mark.parametrize("writer, output_limit", [("sys.stdout.write", None), ("os.write", 65536)])
def test_a_flood_of_output_is_truncated_not_fatal(api, control, vilvik_emulator_server, writer, output_limit):
    if output_limit is not None:
        control.configure(limits={"output_bytes": output_limit})
    limit = control.config()["limits"]["output_bytes"]
    body = ("    global FLOODED\n    if not FLOODED:\n        FLOODED = True\n" + OUTPUT_FLOODS[writer]
            + "    return -sum(x * x for x in solution)\n")
    run = run_job(api, control, vilvik_emulator_server, f"flood-{writer}",
                  fitness_func=fitness(body, prelude=f"FLOOD = {FLOOD}\nFLOODED = False"))
    assert run.detail["status"] == "succeeded", run.detail["error"]

    log = log_of(api, run.detail)
    assert len(log) <= limit + OUTPUT_NOTE_MAX, len(log)
    kept, _, note = log.rpartition(b"\n[")
    assert len(kept) == limit, len(kept)
    # whatever the run printed before the flood (warnings, say), then the flood up to the limit
    flood_starts = kept.find(b"x" * 1000)
    assert 0 <= flood_starts < 1000 and kept[flood_starts:] == b"x" * (limit - flood_starts), kept[:2000]
    dropped = re.fullmatch(rb"vilvik-emulator: output truncated, (\d+) more bytes dropped\]\n", note)
    assert dropped, note
    assert int(dropped.group(1)) == FLOOD - (limit - flood_starts)
    assert_server_kept_answering(run)
    assert_normal_job_runs(api, control)


# ---------------------------------------------------------------------- limits are configurable

SLEEPS_TWO_SECONDS = fitness("    global SLEPT\n    if not SLEPT:\n        SLEPT = True\n        time.sleep(2)\n"
                             "    return -sum(x * x for x in solution)\n", prelude="SLEPT = False")


def test_the_runtime_limit_is_configurable(api, control, vilvik_emulator_server):
    control.configure(limits={"runtime_seconds": 1})
    short = run_job(api, control, vilvik_emulator_server, "sleep-2s-under-1s", fitness_func=SLEEPS_TWO_SECONDS)
    assert short.detail["status"] == "failed"
    assert short.detail["error"]["code"] == "timeout"
    assert "runtime limit of 1 s" in short.detail["error"]["message"]
    assert charge_for(control, short.detail["id"])["reason"] == "timeout"

    control.configure(limits={"runtime_seconds": 5})
    long = run_job(api, control, vilvik_emulator_server, "sleep-2s-under-5s", fitness_func=SLEEPS_TWO_SECONDS)
    assert long.detail["status"] == "succeeded", long.detail["error"]
    assert long.detail["usage"]["wall_seconds"] >= 2
    assert charge_for(control, long.detail["id"])["reason"] == "succeeded"


ALLOCATES_256_MB = fitness("    global BLOCK\n    if BLOCK is None:\n        BLOCK = bytearray(256 << 20)\n"
                           "    return -sum(x * x for x in solution)\n", prelude="BLOCK = None")


def test_the_memory_limit_is_configurable(api, control, vilvik_emulator_server):
    generous = run_job(api, control, vilvik_emulator_server, "256MB-under-default", fitness_func=ALLOCATES_256_MB)
    assert generous.detail["status"] == "succeeded", generous.detail["error"]

    control.configure(limits={"memory_mb": 256})
    tight = run_job(api, control, vilvik_emulator_server, "256MB-under-256MB", fitness_func=ALLOCATES_256_MB)
    assert tight.detail["status"] == "failed"
    assert tight.detail["error"]["code"] == "out_of_memory"
    assert "256 MB" in tight.detail["error"]["message"]
    charge = charge_for(control, tight.detail["id"])
    assert charge["reason"] == "out_of_memory" and charge["amount"] > 0
    assert_normal_job_runs(api, control)


# ---------------------------------------------------------------------- the whole tree goes

#: a daemon: double fork, the grandchild in a session of its own (it is the worker's only
#: while the worker, the child subreaper, is alive)
DAEMONIZE = """\
    if os.fork() == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                time.sleep(60)
        finally:
            os._exit(0)
"""

ESCAPES_AND_SPINS = fitness("""\
    subprocess.Popen(["sleep", "60"])
    subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60 & wait"])
""" + DAEMONIZE + """\
    while True:
        pass
""")


def test_a_timeout_kills_the_whole_process_tree(api, control, vilvik_emulator_server):
    control.configure(limits={"runtime_seconds": RUNTIME})
    run = run_job(api, control, vilvik_emulator_server, "timeout-tree", track=True, fitness_func=ESCAPES_AND_SPINS)
    assert run.detail["status"] == "failed" and run.detail["error"]["code"] == "timeout"
    started = set(run.processes) - {run.worker_pid}
    # sleep, sh with its two sleeps, the escaped daemon (its parent may be gone before it is seen)
    assert len(started) >= 4, run.processes
    assert_all_gone(run.processes, "a timed-out job")
    assert charge_for(control, run.detail["id"])["reason"] == "timeout"
    assert_server_kept_answering(run)
    assert_normal_job_runs(api, control)


LEAVES_A_DAEMON = fitness("""\
    global STARTED
    if not STARTED:
        STARTED = True
        subprocess.Popen(["sleep", "60"])
""" + textwrap.indent(DAEMONIZE, "    ") + """\
        time.sleep(0.5)
    return -sum(x * x for x in solution)
""", prelude="STARTED = False")


def test_a_job_that_ends_normally_leaves_nothing_behind(api, control, vilvik_emulator_server):
    run = run_job(api, control, vilvik_emulator_server, "daemon-then-succeed", track=True,
                  fitness_func=LEAVES_A_DAEMON)
    assert run.detail["status"] == "succeeded", run.detail["error"]
    started = set(run.processes) - {run.worker_pid}
    assert len(started) >= 2, run.processes  # the sleep and the daemon (its parent may have gone unseen)
    assert_all_gone(run.processes, "a finished job")
