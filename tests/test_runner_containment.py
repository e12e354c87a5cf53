"""Nothing outlives a job, and nothing in a job reaches the process that spawns jobs
(issues "Hardening" #2 and #10, "Intercept mode").

Most cases drive a :class:`~vilvik_emulator.runner.Runner` directly (no HTTP), once with
each containment: ``namespaces`` (the job's supervisor is the init of a PID namespace
with a ``/proc`` of its own; needs root) and ``subreaper`` (a child subreaper and
freeze-then-kill only, what a non-root user gets). A job that must be caught mid-way
touches a ``ready`` file, and waits for a ``go`` file the test creates once it has
recorded the job's processes from ``/proc``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import requests
from serve_process import ServeProcess

from vilvik_emulator.runner import JobSpec, Outcome, Runner
from vilvik_emulator.runner.processes import subtree

LIMITS = {"runtime_seconds": 60, "memory_mb": 2048, "output_bytes": 1 << 20, "max_processes": 64}
PARAMETERS = {"num_generations": 2, "sol_per_pop": 4, "num_genes": 2, "num_parents_mating": 2, "random_seed": 5}
SPHERE = "def fitness_func(ga_instance, solution, solution_idx):\n    return -sum(x * x for x in solution)\n"
DEADLINE = 60.0


class Recorder:
    """A :class:`~vilvik_emulator.runner.JobListener` that keeps everything it hears."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.started: dict[str, int] = {}
        self.outcomes: dict[str, Outcome] = {}

    def job_started(self, submission_id: str, pid: int) -> None:
        with self.changed:
            self.started[submission_id] = pid
            self.changed.notify_all()

    def job_progress(self, submission_id: str, progress: dict) -> None:
        pass

    def job_finished(self, submission_id: str, outcome: Outcome) -> None:
        with self.changed:
            self.outcomes[submission_id] = outcome
            self.changed.notify_all()

    def outcome(self, submission_id: str, timeout: float = DEADLINE) -> Outcome:
        with self.changed:
            assert self.changed.wait_for(lambda: submission_id in self.outcomes, timeout), \
                f"job {submission_id} never finished"
            return self.outcomes[submission_id]


class Harness:
    def __init__(self, runner: Runner, recorder: Recorder, limits: dict) -> None:
        self.runner = runner
        self.recorder = recorder
        self.limits = limits
        self.count = 0

    def submit(self, code: dict | str = SPHERE, **parameters: object) -> str:
        self.count += 1
        submission_id = f"job{self.count}"
        if isinstance(code, str):
            code = {"fitness_func": code, "fitness_func_entry": "fitness_func"}
        self.runner.enqueue(JobSpec(submission_id, {**PARAMETERS, **parameters}, code))
        return submission_id

    def run(self, code: dict | str = SPHERE, **parameters: object) -> Outcome:
        return self.recorder.outcome(self.submit(code, **parameters))

    def pid(self, submission_id: str) -> int:
        with self.recorder.changed:
            assert self.recorder.changed.wait_for(lambda: submission_id in self.recorder.started, DEADLINE)
            return self.recorder.started[submission_id]


def make_harness(containment: str, limits: dict | None = None) -> Harness:
    recorder = Recorder()
    limits = dict(limits or LIMITS)
    runner = Runner(recorder, limits=lambda: limits, pool_size=lambda: 2,
                    namespaces=None if containment == "namespaces" else False)
    runner.start()
    return Harness(runner, recorder, limits)


@pytest.fixture(params=["namespaces", "subreaper"])
def harness(request):
    made = make_harness(request.param)
    try:
        if request.param == "namespaces":
            made.run()  # the template says what it could set up once it is ready
            if made.runner.stats()["containment"] != "namespaces":
                pytest.skip("this kernel or user cannot give jobs PID namespaces (needs root)")
        yield made
    finally:
        made.runner.shutdown()


# ---------------------------------------------------------------------- helpers

def start_time(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def snapshot(root: int) -> dict[int, int]:
    """Every process below ``root`` (and ``root``), with its start time."""
    return {pid: started for pid in subtree(root) if (started := start_time(pid)) is not None}


def survivors(processes: dict[int, int]) -> list[int]:
    alive = []
    for pid, started in processes.items():
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[19]) == started:
            alive.append(pid)
    return alive


def assert_all_gone(processes: dict[int, int]) -> None:
    left = survivors(processes)
    for pid in left:  # a failure leaks nothing into the next test
        os.kill(pid, signal.SIGKILL)
    assert not left, f"{len(left)} of {len(processes)} processes of the job outlived it: {left}"


def wait_for_file(path: Path, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.01)


def staged(body: str, tmp_path: Path) -> str:
    """A fitness function that runs ``body`` once, between touching ``ready`` and seeing ``go``."""
    return textwrap.dedent("""\
        import os, signal, sys, time
        READY, GO = {ready!r}, {go!r}
        DONE = False

        def spawn_daemon():
            ready, told = os.pipe()  # returns once the daemon runs
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    os.write(told, b"x")
                    time.sleep(600)
                os._exit(0)
            os.read(ready, 1)

        def spawn_session_leader():
            ready, told = os.pipe()  # returns once the leader and its child run
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    time.sleep(600)
                    os._exit(0)
                os.write(told, b"x")
                time.sleep(600)
                os._exit(0)
            os.read(ready, 1)

        def fitness_func(ga_instance, solution, solution_idx):
            global DONE
            if not DONE:
                DONE = True
        {body}
            return -sum(x * x for x in solution)
        """).format(ready=str(tmp_path / "ready"), go=str(tmp_path / "go"),
                    body=textwrap.indent(textwrap.dedent(body), " " * 8))


def run_staged(harness: Harness, tmp_path: Path, body: str) -> tuple[Outcome, dict[int, int]]:
    submission_id = harness.submit(staged(body, tmp_path))
    pid = harness.pid(submission_id)
    wait_for_file(tmp_path / "ready")
    processes = snapshot(pid)
    (tmp_path / "go").touch()
    outcome = harness.recorder.outcome(submission_id)
    # with its outcome every process of the job is gone; its supervisor's own exit follows
    assert_all_gone({child: started for child, started in processes.items() if child != pid})
    assert harness.runner.join(submission_id)
    return outcome, processes


WAIT_FOR_GO = """\
open(READY, "w").close()
while not os.path.exists(GO):
    time.sleep(0.01)
"""


# ---------------------------------------------------------------------- nothing outlives a job

def test_a_new_session_whose_parent_is_killed_dies_with_the_job(harness, tmp_path):
    outcome, processes = run_staged(harness, tmp_path, "spawn_session_leader()\n" + WAIT_FOR_GO
                                    + "os.kill(os.getpid(), signal.SIGKILL)\n")
    assert outcome.status == "failed" and outcome.error["code"] == "worker_crashed", outcome.error
    assert "SIGKILL" in outcome.error["message"]
    assert len(processes) >= 4, processes  # supervisor, the user's process, the session leader, its child
    assert_all_gone(processes)


def test_killing_the_supervisor_from_inside_leaves_nothing(harness, tmp_path):
    outcome, processes = run_staged(harness, tmp_path, "spawn_session_leader()\nspawn_daemon()\n" + WAIT_FOR_GO
                                    + "os.kill(os.getppid(), signal.SIGKILL)\nos.kill(os.getpid(), signal.SIGKILL)\n")
    assert outcome.status == "failed", outcome
    if harness.runner.stats()["containment"] == "namespaces":
        # the supervisor is the namespace's init: a SIGKILL from inside does not reach it
        assert outcome.error["code"] == "worker_crashed" and "SIGKILL" in outcome.error["message"], outcome.error
    else:
        assert outcome.error["code"] == "worker_lost", outcome.error
    assert len(processes) >= 5, processes
    assert_all_gone(processes)
    assert harness.run().status == "succeeded"


def test_a_double_forked_daemon_of_a_successful_job_is_gone_when_it_ends(harness, tmp_path):
    outcome, processes = run_staged(harness, tmp_path, "spawn_daemon()\n" + WAIT_FOR_GO)
    assert outcome.status == "succeeded", outcome.error
    assert len(processes) >= 3, processes  # supervisor, the user's process, the daemon (its parent may be gone)
    assert_all_gone(processes)


def test_a_stopped_job_takes_its_daemons_with_it(harness, tmp_path):
    submission_id = harness.submit(staged("spawn_daemon()\nspawn_session_leader()\n" + WAIT_FOR_GO
                                          + "while True:\n    pass\n", tmp_path))
    pid = harness.pid(submission_id)
    wait_for_file(tmp_path / "ready")
    processes = snapshot(pid)
    (tmp_path / "go").touch()
    assert harness.runner.cancel(submission_id) == "stopped"
    assert harness.recorder.outcome(submission_id).status == "cancelled"
    assert_all_gone(processes)


# ---------------------------------------------------------------------- the spawner is out of reach

def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for descriptor in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{descriptor}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def named_unix_sockets() -> dict[str, str]:
    """inode -> name of every unix socket bound to a path or an abstract name."""
    bound = {}
    with open("/proc/net/unix") as handle:
        next(handle)
        for line in handle:
            fields = line.split()
            if len(fields) >= 8:
                bound[fields[6]] = fields[7]
    return bound


def connectable(name: str) -> bool:
    address = "\0" + name[1:] if name.startswith("@") else name
    for kind in (socket.SOCK_STREAM, socket.SOCK_SEQPACKET, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_UNIX, kind) as probe:
            try:
                probe.connect(address)
            except OSError:
                continue
            return True
    return False


def test_the_template_can_be_reached_by_no_name_and_is_no_forkserver(harness):
    assert harness.run().status == "succeeded"
    template = harness.runner.stats()["template_pid"]
    assert template and template in subtree(os.getpid())
    bound = named_unix_sockets()
    names = {bound[inode] for inode in socket_inodes(template) | socket_inodes(os.getpid()) if inode in bound}
    reachable = [name for name in names if connectable(name)]
    assert not reachable, f"the server or the job template has sockets anyone can connect to: {reachable}"
    with open(f"/proc/{template}/cmdline", "rb") as handle:
        command = handle.read().split(b"\0")
    assert command[1] == b"-c" and b"forkserver" not in b" ".join(command)


HUNT = """\
import array, ctypes, json, os, signal, socket, tempfile, time

libc = ctypes.CDLL(None, use_errno=True)
own = os.getpid()
findings = {"visible": [], "parents": {}, "opened": [], "templates": [], "sent": 0,
            "own_supervisor": os.getppid()}

def try_open(pid):
    \"\"\"Whether any descriptor of ``pid`` could be opened through /proc or taken with pidfd_getfd.\"\"\"
    try:
        descriptors = [int(name) for name in os.listdir(f"/proc/{pid}/fd")]
    except OSError:
        return False, []
    pidfd = libc.syscall(434, pid, 0)  # pidfd_open
    opened, grabbed = False, []
    for descriptor in descriptors:
        try:  # a pipe or a file through /proc (a socket cannot be opened this way)
            os.close(os.open(f"/proc/{pid}/fd/{descriptor}", os.O_RDONLY | os.O_NONBLOCK))
            opened = True
        except OSError:
            pass
        taken = libc.syscall(438, pidfd, descriptor, 0) if pidfd >= 0 else -1  # pidfd_getfd
        if taken >= 0:
            opened = True
            grabbed.append(taken)
    if pidfd >= 0:
        os.close(pidfd)
    return opened, grabbed

# The probe works: a child of this process (same user, dumpable) is open to it.
ready, told = os.pipe()
child = os.fork()
if child == 0:
    os.close(ready)
    os.write(told, b"x")
    time.sleep(60)
    os._exit(0)
os.close(told)
os.read(ready, 1)
control, grabbed = try_open(child)
findings["control_opened"] = control
for descriptor in grabbed:
    os.close(descriptor)
os.kill(child, signal.SIGKILL)
os.waitpid(child, 0)

for entry in os.listdir("/proc"):
    if not entry.isdigit() or int(entry) == own:
        continue
    pid = int(entry)
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            command = handle.read()
        with open(f"/proc/{pid}/stat", "rb") as handle:
            parent = int(handle.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        continue
    findings["visible"].append(pid)
    findings["parents"][pid] = parent
    if b"vilvik_emulator.runner.template" in command:
        # a template, or a fork of one: a supervisor, a job's process (of any emulator of this user)
        findings["templates"].append(pid)
    opened, grabbed = try_open(pid)
    if opened:
        findings["opened"].append(pid)
    for taken in grabbed:
        try:
            stolen = socket.socket(fileno=taken)
        except OSError:  # the descriptor changed since it was listed
            os.close(taken)
            continue
        if stolen.family != socket.AF_UNIX or stolen.type != socket.SOCK_SEQPACKET:
            stolen.close()
            continue
        # what the server would send: a job that leaves a mark
        workdir = tempfile.mkdtemp()
        with open(os.path.join(workdir, ".vilvik-job.json"), "w") as handle:
            json.dump({"submission_id": "intruder", "parameters": {"num_generations": 1, "sol_per_pop": 4,
                       "num_genes": 2, "num_parents_mating": 2},
                       "code": {"fitness_func": "open(" + repr(MARK) + ", 'w').close()\\n" + SPHERE,
                                "fitness_func_entry": "fitness_func"}}, handle)
        request = json.dumps({"op": "spawn", "limits": LIMITS, "workdir": workdir}).encode()
        try:
            stolen.sendmsg([request])
            findings["sent"] += 1
        except OSError:
            pass
        stolen.close()
print("FINDINGS " + json.dumps(findings), flush=True)
"""


def hunt(harness: Harness, mark: Path) -> dict:
    """Run a job that tries to open the descriptors of every process it can see: what it found."""
    source = (f"MARK = {str(mark)!r}\nLIMITS = {LIMITS!r}\nSPHERE = {SPHERE!r}\n\n"
              "def fitness_func(ga_instance, solution, solution_idx):\n"
              + textwrap.indent(HUNT, "    ") + "    return 0.0\n")
    outcome = harness.run(source, num_generations=1, sol_per_pop=2, num_parents_mating=1)
    assert outcome.status == "succeeded", outcome.error
    line = next(line for line in outcome.log.decode().splitlines() if line.startswith("FINDINGS "))
    findings = json.loads(line[len("FINDINGS "):])
    findings["parents"] = {int(pid): parent for pid, parent in findings["parents"].items()}
    assert findings["control_opened"], "the hunt could not even open its own child's descriptors"
    return findings


def spawning_processes(findings: dict, template: int, running: set[int]) -> set[int]:
    """A template's processes as the hunt saw them: the template, its supervisors and the spare
    job process waiting below the spare supervisor; not the processes of the jobs that run
    below the supervisors ``running``."""
    parents = findings["parents"]
    supervisors = {pid for pid, parent in parents.items() if parent == template}
    spares = {pid for pid, parent in parents.items() if parent in supervisors - running}
    return {template} | supervisors | spares


def test_a_job_cannot_reach_the_template(harness, tmp_path):
    mark = tmp_path / "intruder-ran"
    findings = hunt(harness, mark)
    template = harness.runner.stats()["template_pid"]
    if harness.runner.stats()["containment"] == "namespaces":
        # its own PID namespace: the supervisor (pid 1) and the job's own processes, nothing else
        assert findings["templates"] == [1] and all(pid < 100 for pid in findings["visible"]), findings
        assert 1 not in findings["opened"], "the supervisor's descriptors must be out of the job's reach"
    else:
        # Only this emulator's processes are judged: other emulators of this user (another
        # xdist worker's) run jobs too, forks of their templates, and a job's own processes
        # are open to other jobs of the same user, as any process of that user is.
        ours = spawning_processes(findings, template, {findings["own_supervisor"]})
        assert findings["own_supervisor"] in ours, findings
        reached = ours & set(findings["opened"])
        assert not reached, f"a job opened descriptors of the template or its supervisors: {sorted(reached)}"
        if os.geteuid() == 0:  # a job without capabilities cannot touch a process that has them
            assert os.getpid() not in findings["opened"], findings
    # Whatever it grabbed (the server's own end of the template's socket, where the server is
    # visible) the template ignores: a later job proves the template read past the forgery.
    assert harness.run().status == "succeeded"
    assert not mark.exists(), f"the template ran a job for an intruder ({findings['sent']} requests sent)"


def test_a_job_cannot_reach_another_emulators_template(tmp_path):
    """Two emulators of one user (two projects, two xdist workers): a job of the one cannot open
    the other's template, its supervisors or its spare job process (not dumpable) either."""
    other = make_harness("subreaper")
    mine = make_harness("subreaper")
    try:
        waiting = other.submit(staged(WAIT_FOR_GO, tmp_path))
        supervisor = other.pid(waiting)
        wait_for_file(tmp_path / "ready")
        assert mine.run().status == "succeeded"
        findings = hunt(mine, tmp_path / "intruder-ran")
        theirs = spawning_processes(findings, other.runner.stats()["template_pid"], {supervisor})
        assert len(theirs) >= 3, findings  # the template, the waiting job's supervisor and the spare's
        reached = theirs & set(findings["opened"])
        assert not reached, f"a job opened descriptors of another emulator's template or supervisors: {reached}"
        (tmp_path / "go").touch()
        assert other.recorder.outcome(waiting).status == "succeeded"
        assert other.run().status == "succeeded" and mine.run().status == "succeeded"
        assert not (tmp_path / "intruder-ran").exists()
    finally:
        mine.runner.shutdown()
        other.runner.shutdown()


FORGER = """\
import array, json, os, socket, sys
sock = socket.socket(fileno=int(sys.argv[1]))
workdir, mark = sys.argv[2], sys.argv[3]
with open(os.path.join(workdir, ".vilvik-job.json"), "w") as handle:
    json.dump({"submission_id": "forged", "parameters": json.loads(sys.argv[4]),
               "code": {"fitness_func": f"open({mark!r}, 'w').close()\\n" + sys.argv[5],
                        "fitness_func_entry": "fitness_func"}}, handle)
pipes = [os.pipe() for _ in range(4)]
fds = array.array("i", [pipes[0][1], pipes[1][1], pipes[2][1], pipes[3][0]])
sock.sendmsg([json.dumps({"op": "spawn", "limits": json.loads(sys.argv[6]), "workdir": workdir}).encode()],
             [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
sock.detach()
"""


def test_the_template_ignores_requests_from_any_process_but_the_server(harness, tmp_path):
    """Where a job can reach the server's descriptors (same user, no namespaces), holding the
    server's end of the template's socket is still not enough: the kernel names the sender."""
    assert harness.run().status == "succeeded"
    mark = tmp_path / "forged-job-ran"
    server_end = harness.runner.spawner._socket
    subprocess.run([sys.executable, "-c", FORGER, str(server_end.fileno()), str(tmp_path), str(mark),
                    json.dumps(PARAMETERS), SPHERE, json.dumps(LIMITS)], pass_fds=(server_end.fileno(),),
                   check=True, timeout=60)
    assert harness.run().status == "succeeded"  # the template read (and dropped) the forgery before this
    assert not mark.exists(), "the template started a job another process asked for"


# ---------------------------------------------------------------------- the server's end

UNGUARDED_SCRIPT = """\
import time

import requests

from vilvik_emulator.app import create_app
from vilvik_emulator.emulator import Emulator
from vilvik_emulator.inprocess import INPROCESS_URL, InProcessAdapter

emulator = Emulator().start()
session = requests.Session()
session.mount(INPROCESS_URL, InProcessAdapter(create_app(emulator)))
session.headers["Authorization"] = f"Bearer {emulator.default_api_key}"
body = {"fitness_func": %(sphere)r, "fitness_func_entry": "fitness_func", "num_genes": 2, "num_generations": 3,
        "sol_per_pop": 4, "num_parents_mating": 2}
created = session.post(f"{INPROCESS_URL}/api/v1/submissions/", json=body).json()
deadline = time.monotonic() + 120
while True:
    detail = session.get(f"{INPROCESS_URL}/api/v1/submissions/{created['id']}").json()
    if detail["status"] in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
        break
    time.sleep(0.02)
print("STATUS", detail["status"], detail.get("error"))
emulator.close()
"""


def test_a_script_without_a_main_guard_runs_jobs_in_process(tmp_path):
    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED_SCRIPT % {"sphere": SPHERE})
    finished = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                              timeout=180)
    assert "STATUS succeeded None" in finished.stdout, finished.stdout + finished.stderr


def test_killing_the_server_kills_every_process_of_its_jobs(tmp_path):
    source = staged("spawn_daemon()\nspawn_session_leader()\nopen(READY, 'w').close()\nwhile True:\n    pass\n",
                    tmp_path)
    server = ServeProcess("--memory", "--workers", "1").start()
    try:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {server.key}"
        created = session.post(f"{server.api_url}/submissions", json={
            "fitness_func": source, "fitness_func_entry": "fitness_func", **PARAMETERS}, timeout=30)
        assert created.status_code == 202, created.text
        wait_for_file(tmp_path / "ready")
        processes = snapshot(server.process.pid)
        processes.pop(server.process.pid)
    finally:
        server.kill()
    assert len(processes) >= 6, processes  # template, supervisor, user's process, daemon, leader and its child
    deadline = time.monotonic() + DEADLINE
    while survivors(processes) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert_all_gone(processes)
