"""The worker: the only place a client's code runs, in processes of its own.

The job template (:mod:`.template`) forks :func:`supervise` once per job, ahead of the
job: a *spare* is ready before the next job arrives. That process is the job's
**supervisor** and never runs user code: it takes a session of its own, becomes a child
subreaper (and, where the kernel allows, the init of a new PID namespace with a
``/proc`` that shows only the job) and forks the process that will run the user's code.
That process warms itself up (:func:`warm_up`) and waits for its job on the *order*
pipe, which only the template writes to, once: the job's limits and working directory.
Then it reads the job's spec, points stdout/stderr at the capture pipe, takes the
job's limits and runs the code. When it has written its last frame it stops itself
(``SIGSTOP``) instead of exiting: if it is the only process the job ever ran, the
supervisor reports at once what it used, from the kernel's counts of the stopped process
(its CPU clock and memory high-water mark), and kills it after, so the job's end does not
wait for the kernel to tear down its memory. However else it ends (an ``os._exit``, a
segfault, a kill, or a job that ran other processes), the supervisor kills whatever the
job left behind, reaps it all and reports how the process ended and what the job used as
``getrusage(RUSAGE_CHILDREN)`` counted it. The report goes on the supervisor's own status
pipe, which the user's process never holds.

The user's process reports over the events pipe (frames of :mod:`.protocol`):

* ``{"type": "progress", ...}`` at most every 0.5 s (and every slower generation);
* ``{"type": "result", "result": {...}}`` when the run ended;
* ``{"type": "error", "code", "message", "traceback"}`` when it failed.

Messages are JSON, never pickles: the server must not unpickle what code it does not
trust could have written to the pipe, and it checks every field of every frame.
"""

from __future__ import annotations

import inspect
import io
import json
import linecache
import logging
import math
import multiprocessing
import os
import random
import re
import resource
import select
import signal
import sys
import tempfile
import time
import traceback
import types
import warnings
from collections.abc import Callable
from typing import Any, NoReturn

import cloudpickle
import numpy
import numpy.ma
import numpy.random
import pygad

from . import protocol
from .isolation import (
    PR_SET_CHILD_SUBREAPER,
    PR_SET_DUMPABLE,
    PR_SET_NO_NEW_PRIVS,
    PR_SET_PDEATHSIG,
    close_descriptors_except,
    drop_capabilities,
    prctl,
    private_proc,
)
from .params import CALLBACK_ARITY, CODE_ROLES, pygad_arguments
from .processes import children, kill_tree

PROGRESS_INTERVAL = 0.5


class UserCodeError(Exception):
    """The client's code could not be loaded (raised at import time of a code field)."""


def fitness_text(value: Any) -> str:
    """A fitness as the API writes it: a number as text, or a JSON list (contract §7)."""
    if isinstance(value, numpy.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fitness_text(item) for item in value) + "]"
    if isinstance(value, (bool, numpy.bool_)):
        return str(int(value))
    if isinstance(value, (int, numpy.integer)):
        return str(int(value))
    number = float(value)
    if math.isnan(number):
        return "nan"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    return repr(number)


def to_json(value: Any) -> Any:
    """numpy values -> plain JSON values; non-finite floats -> ``"inf"``/``"-inf"``/``"nan"``."""
    if isinstance(value, numpy.ndarray):
        return to_json(value.tolist())
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, (bool, numpy.bool_)):
        return bool(value)
    if isinstance(value, (int, numpy.integer)):
        return int(value)
    if isinstance(value, (float, numpy.floating)):
        number = float(value)
        return number if math.isfinite(number) else fitness_text(number)
    if value is None or isinstance(value, str):
        return value
    return str(value)


class Reporter:
    """Sends frames to the server over the events pipe."""

    def __init__(self, descriptor: int) -> None:
        self.descriptor = descriptor
        self.last_progress = 0.0
        #: a frame kept back to go with the next one (one wake-up of the server for both)
        self.held = b""

    def send(self, message: dict) -> None:
        frame = protocol.encode(message)
        if len(frame) - protocol.HEADER.size > protocol.MAX_EVENT_BYTES:
            raise ValueError(f"the message is {len(frame) >> 20} MB, more than the server accepts")
        data = memoryview(self.held + frame)
        self.held = b""
        while data:
            data = data[os.write(self.descriptor, data):]

    def progress(self, ga: pygad.GA, *, force: bool = False, hold: bool = False) -> None:
        """A progress frame (at most every PROGRESS_INTERVAL unless forced); ``hold``: sent with the next frame."""
        now = time.monotonic()
        if not force and now - self.last_progress < PROGRESS_INTERVAL:
            return
        self.last_progress = now
        best = None
        if ga.last_generation_fitness is not None:
            _, fitness, _ = ga.best_solution(pop_fitness=ga.last_generation_fitness)
            best = fitness_text(fitness)
        message = {"type": "progress", "generations_completed": int(ga.generations_completed),
                   "num_generations": int(ga.num_generations), "best_fitness": best}
        if hold:
            self.held += protocol.encode(message)
        else:
            self.send(message)


def _limit(limits: dict) -> None:
    """The user's process: resource limits, and its own processes forked below it."""
    # PyGAD's process pool forks from here, so its processes stay in the job's tree and
    # under its limits.
    multiprocessing.set_start_method("fork", force=True)
    memory = int(limits["memory_mb"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if os.geteuid() != 0:
        # Root ignores RLIMIT_NPROC; the monitor's count covers that case.
        running = _count_own_processes()
        allowed = running + int(limits["max_processes"])
        _soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
        if hard == resource.RLIM_INFINITY or allowed < hard:
            resource.setrlimit(resource.RLIMIT_NPROC, (allowed, hard))


def _count_own_processes() -> int:
    uid = os.getuid()
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count


def load_entry(role: str, source: str, entry: str) -> Any:
    """Execute a code field as a fresh module and return its entry (an instance for a class)."""
    module = types.ModuleType(f"vilvik_user_{role}")
    module.__file__ = f"<{role}>"
    # Registered so dataclasses and friends can find it; pickled by value so PyGAD's
    # process pool can ship the user's functions to processes that never loaded it.
    sys.modules[module.__name__] = module
    cloudpickle.register_pickle_by_value(module)
    # The source is known under its field's name, so a traceback shows the user's lines too.
    linecache.cache[f"<{role}>"] = (len(source), None, source.splitlines(keepends=True), f"<{role}>")
    try:
        exec(compile(source, f"<{role}>", "exec"), module.__dict__)
    except BaseException as error:
        raise UserCodeError(f"{role} raised {type(error).__name__} while loading: {error}") from error
    if entry not in module.__dict__:
        raise UserCodeError(f"{role} defines no top-level name {entry!r}")
    value = module.__dict__[entry]
    if isinstance(value, type) and role in CALLBACK_ARITY:
        try:
            value = value()
        except BaseException as error:
            raise UserCodeError(f"{role}: creating an instance of {entry} raised "
                                f"{type(error).__name__}: {error}") from error
    return value


def _stopped_reason(ga: pygad.GA, state: dict, num_generations: int) -> str:
    if state.get("stopped_by_callback"):
        return "on_generation"
    if ga.generations_completed - state["first_generation"] >= num_generations or not ga.stop_criteria:
        return "num_generations"
    history = [fitness_text(value) for value in ga.best_solutions_fitness]
    texts = [criterion[0] + "_" + "_".join(_number_text(value) for value in criterion[1:])
             for criterion in ga.stop_criteria]
    for criterion, text in zip(ga.stop_criteria, texts):
        word = criterion[0]
        if word == "reach":
            fitness = numpy.asarray(ga.last_generation_fitness, dtype=float)
            thresholds = numpy.asarray(criterion[1:], dtype=float)
            if fitness.ndim == 1 and fitness.max() >= thresholds[0]:
                return f"stop_criteria:{text}"
            if fitness.ndim == 2 and numpy.all(fitness.max(axis=0) >= thresholds):
                return f"stop_criteria:{text}"
        elif word == "saturate":
            tail = history[-(criterion[1] + 1):]
            if len(tail) == criterion[1] + 1 and len(set(tail)) == 1:
                return f"stop_criteria:{text}"
        elif word == "time" and time.monotonic() - ga.run_start_time >= float(criterion[1]):  # noqa: SIM114
            return f"stop_criteria:{text}"
        elif word == "evaluations" and ga.num_fitness_evaluations >= int(criterion[1]):
            return f"stop_criteria:{text}"
    # The run ended early, so a criterion fired even if its state has moved on since
    # (e.g. a time limit measured a moment ago): name the first one.
    return f"stop_criteria:{texts[0]}"


def _number_text(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def build_ga(spec: dict, reporter: Reporter | None, state: dict, logger: logging.Logger,
             stop: Callable[[], bool] | None = None) -> pygad.GA:
    """The ``pygad.GA`` of a job: JSON parameters, loaded code, the progress hook."""
    arguments = pygad_arguments(spec["parameters"])
    code = spec.get("code") or {}
    callables: dict[str, Any] = {}
    for role in [*list(CALLBACK_ARITY), "gene_constraint"]:
        if code.get(role):
            callables[role] = load_entry(role, code[role], code[f"{role}_entry"])
    if spec.get("initial_population") is not None:
        arguments["initial_population"] = _sized_population(spec["initial_population"], arguments, callables, logger)
        arguments.pop("sol_per_pop", None)
        arguments.pop("num_genes", None)
    user_on_generation = callables.pop("on_generation", None)
    if user_on_generation is not None:
        try:
            inspect.signature(user_on_generation).bind(None)
        except (TypeError, ValueError) as error:
            raise InvalidParameters(f"on_generation must accept 1 positional arguments: {error}") from None

    def on_generation(ga: pygad.GA) -> Any:
        if stop is not None and stop():
            return "stop"
        answer = user_on_generation(ga) if user_on_generation is not None else None
        if isinstance(answer, str) and answer.lower() == "stop":
            state["stopped_by_callback"] = True
        if reporter is not None:
            reporter.progress(ga)
        return answer

    try:
        return pygad.GA(**arguments, **callables, on_generation=on_generation, logger=logger)
    except (TypeError, ValueError) as error:
        raise InvalidParameters(str(error)) from error


def _sized_population(population: list, arguments: dict, callables: dict, logger: logging.Logger) -> list:
    """A continued run's starting population, resized to the requested ``sol_per_pop``.

    The parent's rows come first (the service already dropped the worst ones when the
    population shrinks); missing rows are drawn the way PyGAD draws a fresh population
    with the same parameters and seed.
    """
    wanted = arguments.get("sol_per_pop") or len(population)
    if len(population) >= wanted:
        return population[:wanted]
    fresh = pygad.GA(**{**arguments, "initial_population": None}, **callables, logger=logger)
    return population + fresh.population.tolist()[: wanted - len(population)]


class InvalidParameters(Exception):
    """``pygad.GA`` rejected the parameters only once the real code was loaded."""


def run_ga(spec: dict, reporter: Reporter | None = None, stop: Callable[[], bool] | None = None) -> dict:
    """Run one job in this process and return its result (also used by the benchmarks).

    ``stop`` (the warm-up's): asked after the GA is built and after each generation; when
    it says so, the run ends there and the result is empty.
    """
    state: dict[str, Any] = {"stopped_by_callback": False}
    logger = logging.getLogger("pygad")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    seed = spec["parameters"].get("random_seed")
    if seed is not None:
        # PyGAD seeds its own generators; user code drawing from the global ones is
        # made reproducible too.
        random.seed(seed)
        numpy.random.seed(seed)
    else:
        # Every job is forked from one template (whose warm-up seeded them): without a seed,
        # the global generators start from the system's entropy, as in a fresh interpreter.
        random.seed()
        numpy.random.seed()
    ga = build_ga(spec, reporter, state, logger, stop)
    if stop is not None and stop():
        return {}
    state["first_generation"] = int(ga.generations_completed)
    if reporter is not None:
        reporter.send({"type": "progress", "generations_completed": 0,
                       "num_generations": int(ga.num_generations), "best_fitness": None})
    ga.run()
    if reporter is not None:
        reporter.progress(ga, force=True, hold=True)  # written with the result
    best_solution, best_fitness, best_index = ga.best_solution(pop_fitness=ga.last_generation_fitness)
    return {
        "best_solution": to_json(best_solution),
        "best_solution_fitness": fitness_text(best_fitness),
        "best_solution_idx": int(best_index),
        "best_solutions_fitness": [to_json(value) for value in ga.best_solutions_fitness],
        "best_solution_generation": int(ga.best_solution_generation),
        "generations_completed": int(ga.generations_completed),
        "last_generation_fitness": to_json(ga.last_generation_fitness),
        "population": to_json(ga.population),
        "initial_population": to_json(ga.initial_population),
        "gene_type_single": bool(ga.gene_type_single),
        "stopped_reason": _stopped_reason(ga, state, int(spec["parameters"]["num_generations"])),
        "num_fitness_evaluations": int(ga.num_fitness_evaluations),
    }


WARM_UP_SPEC = {
    "parameters": {"num_generations": 2, "sol_per_pop": 4, "num_genes": 2, "num_parents_mating": 2,
                   "random_seed": 1},
    "code": {"fitness_func": "def fitness_func(ga, solution, index):\n    return -float(sum(solution * solution))\n",
             "fitness_func_entry": "fitness_func"},
}


def warm_up(interrupted: Callable[[], bool] | None = None) -> None:
    """Run one tiny job in this process, so the next job finds what a first run fills.

    In the template: PyGAD's first ``GA`` in a process imports and compiles what later
    ones reuse; without this each job would pay it again (about 3 ms). In a spare job
    process (:func:`_run_user_process`): the pages a run writes to (reference counts of
    PyGAD's and numpy's objects, the allocator's) are copied from the template now,
    before the job arrives, instead of one copy-on-write fault at a time during it.
    Warnings are ignored (so none is marked as already shown for the jobs), the logger
    the run attached is taken off again, and the global random generators end as a run
    left them in the template: seeded with the same seed. ``interrupted`` (a spare's: its
    job arrived) ends it early, between two steps, so the job never waits for all of it.
    """
    if interrupted is not None and interrupted():
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_ga(WARM_UP_SPEC, stop=interrupted)
    logging.getLogger("pygad").handlers.clear()
    sys.modules.pop("vilvik_user_fitness_func", None)


def supervise(namespaced: bool, lifeline: int, status: int, order: int, events: int, output: int) -> NoReturn:
    """A job's supervisor, forked by the template before the job arrives (see the module docstring).

    It sets up the job's containment and forks the job's process, which waits for its
    job on ``order``; then it waits for that process to end (or stop itself) and reports on
    ``status``, and it kills and reaps every process of the job before it exits.
    """
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        close_descriptors_except({lifeline, status, order, events, output})  # the template's socket above all
        os.setsid()
        prctl(PR_SET_CHILD_SUBREAPER, 1)  # orphans of the job stay ours to kill
        if namespaced:
            private_proc()
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.close(null)
        wake_reader, wake_writer = os.pipe()
        os.set_blocking(wake_writer, False)
        signal.signal(signal.SIGCHLD, lambda number, frame: None)  # only to wake the select below
        signal.set_wakeup_fd(wake_writer)
        # what the job's process used getting ready, written by it before any user code runs:
        # the job is not billed for the warm-up
        setup_reader, setup_writer = os.pipe()
        supervisor = os.getpid()
        user = os.fork()
        if user == 0:
            os.close(setup_reader)
            _run_user_process(supervisor, order, events, output, setup_writer)
        # Only the job's process holds the capture and events pipes: they reach their end
        # when the job's last process does. Stdout stays /dev/null, stderr the server's.
        for descriptor in (order, events, output, setup_writer):
            os.close(descriptor)
        # Once, before the job: the code and the /proc entries the report needs are then this
        # process's own (copied from the template) when the job ends, not copied then.
        _usage_of_the_stopped(user)
        protocol.encode(_exit_report(0, (0.0, 0.0), 0.0))
        ended = _wait_for(user, lifeline, wake_reader)
        if ended is None:  # the server is gone: nobody to report to
            _end_the_job(namespaced)
            os._exit(0)
        measured = _usage_of_the_stopped(user) if os.WIFSTOPPED(ended) else None
        report_first = measured is not None
        if measured is None:
            _end_the_job(namespaced)
            reaped = resource.getrusage(resource.RUSAGE_CHILDREN)  # every process of the job, all reaped
            measured = (reaped.ru_utime + reaped.ru_stime, reaped.ru_maxrss / 1024)
        try:
            Reporter(status).send(_exit_report(ended, measured, _setup_seconds(setup_reader, measured[0])))
        except BrokenPipeError:  # a spare the template let go before any job: nobody to report to
            pass
        if report_first:
            # The job ended in a stop (its one process, frozen, is all there is): the report went
            # first, the kill and the kernel's teardown of its memory come after.
            _end_the_job(namespaced)
    except BaseException:
        traceback.print_exc()
        os._exit(70)
    os._exit(0)


def _exit_report(ended: int, measured: tuple[float, float], setup: float) -> dict:
    """The supervisor's report: how the user's process ended, and the job's CPU (less its set-up) and peak memory."""
    used, peak = measured
    report: dict = {"type": "exit", "usage": {"cpu_seconds": round(used - setup, 4), "peak_memory_mb": round(peak, 1)}}
    if os.WIFSTOPPED(ended):
        report["signal"] = signal.SIGSTOP  # it stopped itself once it had said everything; then it was killed
    elif os.WIFSIGNALED(ended):
        report["signal"] = os.WTERMSIG(ended)
    else:
        report["exitcode"] = os.waitstatus_to_exitcode(ended)
    return report


def _wait_for(user: int, lifeline: int, wake: int) -> int | None:
    """Reap the job's processes until the user's process ends or stops itself (``SIGSTOP``, see
    :func:`_run_user_process`): its wait status (``None``: the server died)."""
    while True:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG | os.WUNTRACED)
            except ChildProcessError:
                return None
            if pid == 0:
                break
            if pid == user and (not os.WIFSTOPPED(status) or os.WSTOPSIG(status) == signal.SIGSTOP):
                return status
        ready, _, _ = select.select([lifeline, wake], [], [])
        if lifeline in ready:  # only the server holds the other end: it closed by dying
            return None
        os.read(wake, 4096)


def _usage_of_the_stopped(user: int) -> tuple[float, float] | None:
    """CPU seconds and peak RSS (MB) of the user's process, stopped, if it is all the job ever ran.

    The kernel's counts of a live process: its CPU clock (every thread, to the nanosecond, what
    ``getrusage`` would say once it is reaped) and the high-water mark of its memory. They
    cover the job only if no other process ever ran in it: none is alive below this one
    (nothing left in the tree), this one never reaped a child (a child always faults pages,
    so ``cminflt`` stays 0 only without one), and this one never reaped an orphan. Otherwise
    ``None``: the job is killed and reaped first and ``getrusage`` counts everything.
    """
    try:
        if resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt or children(os.getpid()) != [user] \
                or children(user):
            return None
        with open(f"/proc/{user}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        if fields[0] != b"T" or int(fields[8]) or int(fields[10]):  # stopped; cminflt and cmajflt
            return None
        peak = None
        with open(f"/proc/{user}/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"VmHWM:"):
                    peak = int(line.split()[1]) / 1024
        cpu = time.clock_gettime((~user << 3) | 2)  # the process's CPU clock (CPUCLOCK_SCHED of the pid)
    except (OSError, ValueError, IndexError):
        return None
    return None if peak is None else (cpu, peak)


def _end_the_job(namespaced: bool) -> None:
    """Kill every process of the job (the supervisor aside) and reap them all."""
    if namespaced and os.getpid() == 1:
        try:
            os.kill(-1, signal.SIGKILL)  # as a PID namespace's init: every other process in it
        except ProcessLookupError:  # there was none left
            pass
    else:
        kill_tree(os.getpid(), include_root=False)
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def _setup_seconds(setup: int, used: float) -> float:
    """The CPU the job's process used before its job (0 if it never got that far)."""
    os.set_blocking(setup, False)
    try:
        seconds = float(os.read(setup, 64) or 0)
    except (OSError, ValueError):
        return 0.0
    return min(max(seconds, 0.0), used) if math.isfinite(seconds) else 0.0


def _receive_order(order: int) -> dict | None:
    """The job, as the template writes it once and closes the pipe: ``None`` if it closed it with none."""
    data = b""
    while chunk := os.read(order, 65536):
        data += chunk
    return json.loads(data) if data else None


def _run_user_process(supervisor: int, order: int, events: int, output: int, setup: int) -> NoReturn:
    """The process that runs the job: set up ahead, then given its job; reports a result or an error, then exits.

    Until its job arrives it runs no code of anyone's, has given up every capability and is,
    like the template and the supervisor, not dumpable: nothing else can open its
    descriptors or trace it. Its job's pipes were made for it alone.
    """
    try:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != supervisor:  # the supervisor died before that took effect
            os._exit(0)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        close_descriptors_except({order, events, output, setup})  # the status pipe, the lifeline, the supervisor's own
        drop_capabilities()
        prctl(PR_SET_NO_NEW_PRIVS, 1)
        sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", buffering=0, closefd=False), line_buffering=True,
                                      errors="backslashreplace", write_through=True)
        sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", buffering=0, closefd=False), line_buffering=True,
                                      errors="backslashreplace", write_through=True)
        warm_up(lambda: bool(select.select([order], [], [], 0)[0]))  # until the job is there
        job = _receive_order(order)
        if job is None:  # a spare the template let go
            os._exit(0)
        os.close(order)
        ready = resource.getrusage(resource.RUSAGE_SELF)  # no code of the job has run yet
        os.write(setup, repr(ready.ru_utime + ready.ru_stime).encode())
        os.close(setup)
        limits, workdir = job["limits"], job["workdir"]
        spec_path = os.path.join(workdir, protocol.SPEC_FILE)
        with open(spec_path, "rb") as handle:  # read before the job's code can touch it
            spec = json.loads(handle.read())
        os.unlink(spec_path)
        # stdout and stderr (the objects made above write through to these descriptors) to the capture
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        os.chdir(workdir)
        # temporary files go where everything of the job goes: removed with it
        os.environ["TMPDIR"] = workdir
        tempfile.tempdir = None
    except BaseException:
        traceback.print_exc()
        os._exit(70)
    try:
        # what is left open: stdin (/dev/null), the capture on stdout and stderr, the events pipe
        prctl(PR_SET_DUMPABLE, 1)  # the template and supervisor are not; the user's own process may be
        _limit(limits)
        reporter = Reporter(events)
        try:
            message = {"type": "result", "result": run_ga(spec, reporter)}
        except MemoryError as error:
            message = _error("out_of_memory", f"the job ran out of memory (limit {limits['memory_mb']} MB)", error)
        except InvalidParameters as error:
            message = _error("invalid_parameters", f"PyGAD rejected the parameters: {error}")
        except UserCodeError as error:
            message = _error("fitness_error", str(error), error.__cause__)
        except BaseException as error:  # SystemExit, KeyboardInterrupt... from user code too
            message = _error("fitness_error", f"{type(error).__name__}: {error}".rstrip(": "), error)
        try:
            reporter.send(message)
        except (OSError, ValueError, MemoryError) as error:
            reporter.send(_error("worker_crashed", f"the result could not be sent to the server: {error}"))
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
    finally:
        # Everything the job had to say is written. Stopped rather than exiting: the supervisor
        # measures this process as it is, kills it and reports at once, instead of waiting for
        # the kernel to tear down its memory first (a few milliseconds a job).
        try:
            os.kill(os.getpid(), signal.SIGSTOP)
        finally:
            os._exit(0)  # only if someone let it go on (SIGCONT)


def _error(code: str, message: str, error: BaseException | None = None) -> dict:
    trace = user_traceback(error) if error is not None else ""
    if trace:
        print(trace, file=sys.stderr)
    return {"type": "error", "code": code, "message": scrub_paths(message)[:protocol.MAX_MESSAGE_CHARS],
            "traceback": trace[:protocol.MAX_TRACEBACK_CHARS]}


# ---------------------------------------------------------------------- what a failed run shows of itself
#
# A hosted service shows a failed run's traceback without its own internals (contract
# §5.1): only the frames of the user's code, each named by its field (``File
# "<fitness_func>", line 3, in helper``), then the exception. Frames of the emulator,
# PyGAD, the standard library and site-packages are cut, and no path of this machine
# appears: the user's code is compiled under the name ``<role>`` (:func:`load_entry`),
# which is what the frames are kept by.

#: the file names the user's code runs under, one per code field
USER_FILES = frozenset(f"<{role}>" for role in CODE_ROLES)


def _machine_roots() -> list[str]:
    """Directories of this machine that could show up in an exception's text, longest first."""
    import site
    import sysconfig

    roots = {os.path.dirname(os.path.dirname(os.path.abspath(__file__))), sys.prefix, sys.base_prefix,
             sys.exec_prefix, *sysconfig.get_paths().values(), *site.PREFIXES}
    try:
        roots.update(site.getsitepackages())
    except AttributeError:  # some virtualenvs' site module has no getsitepackages
        pass
    try:
        roots.add(os.getcwd())  # the job's own directory
    except OSError:
        pass
    roots.add(os.path.expanduser("~"))
    return sorted((root for root in roots if root and root != os.sep), key=len, reverse=True)


def scrub_paths(text: str) -> str:
    """``text`` with every directory of this machine it names replaced by ``…``."""
    for root in _machine_roots():
        text = text.replace(root, "…")
    return text


def _user_frames(summary: traceback.StackSummary) -> traceback.StackSummary:
    return traceback.StackSummary.from_list([frame for frame in summary if frame.filename in USER_FILES])


def _keep_user_frames(exception: traceback.TracebackException, seen: set[int]) -> None:
    """Cut every frame that is not the user's code, along the whole chain of causes and contexts."""
    if id(exception) in seen:
        return
    seen.add(id(exception))
    exception.stack = _user_frames(exception.stack)
    for chained in (exception.__cause__, exception.__context__):
        if chained is not None:
            _keep_user_frames(chained, seen)
    for member in getattr(exception, "exceptions", None) or ():  # an ExceptionGroup's members
        _keep_user_frames(member, seen)


#: a frame line of a traceback formatted as text (what a process pool sends back)
REMOTE_FRAME = re.compile(r'^  File "(?P<file>[^"]*)", line (?P<line>\d+), in (?P<name>.*)$', re.MULTILINE)
#: the file name cloudpickle gives every function it ships by value: in a process pool's worker
#: that is only the user's fitness function (and what it calls from its own module)
PICKLED_BY_VALUE = "<dynamic-code>"


def _remote_user_frames(text: str) -> list[traceback.FrameSummary]:
    """The user's frames of a traceback that came back from a process pool as text."""
    frames = []
    for match in REMOTE_FRAME.finditer(text):
        filename = match["file"]
        if filename == PICKLED_BY_VALUE:
            filename = "<fitness_func>"
        if filename in USER_FILES:
            frames.append(traceback.FrameSummary(filename, int(match["line"]), match["name"]))
    return frames


def user_traceback(error: BaseException) -> str:
    """The traceback of ``error`` as the client sees it: the user's frames and the exception lines."""
    try:
        exception = traceback.TracebackException.from_exception(error)
        cause = error.__cause__
        if type(cause).__name__ == "_RemoteTraceback" and isinstance(getattr(cause, "tb", None), str):
            # PyGAD's process pool re-raises the fitness function's exception with the
            # worker's traceback as text in its cause: the user's frames are in there.
            remote = _remote_user_frames(cause.tb)  # type: ignore[union-attr]
            exception.stack = traceback.StackSummary.from_list([*_user_frames(exception.stack), *remote])
            exception.__cause__ = None
            exception.__suppress_context__ = True
        _keep_user_frames(exception, set())
        text = "".join(exception.format())
        if not exception.stack and not text.startswith("Traceback"):
            # raised by PyGAD about what the user's code returned (no frame of the user's is
            # left): still a traceback, as clients look for its header
            text = "Traceback (most recent call last):\n" + text
    except Exception:  # a traceback that cannot be formatted must not keep the run from failing
        text = "".join(traceback.format_exception_only(type(error), error))
    return scrub_paths(text)
