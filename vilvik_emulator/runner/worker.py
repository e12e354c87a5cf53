"""The worker: the only place a client's code runs, in processes of its own.

:func:`main` is the target of a process started from the ``forkserver`` (which has
this module, numpy and pygad already imported, so a job does not pay for them). That
process is the job's **supervisor**: it isolates itself (new session, child subreaper,
death signal, its own working directory, stdout/stderr into the parent's capture pipe)
and forks the process that runs the user's code under the job's resource limits. When
that process ends, however it ends (a result, an exception, ``os._exit``, a segfault),
the supervisor — still alive, still the subreaper — kills whatever the job left behind
and reports how it ended. The user's process reports over a JSON message pipe:

* ``{"type": "progress", ...}`` at most every 0.5 s (and every slower generation);
* ``{"type": "result", "result": {...}, "usage": {...}}`` when the run ended;
* ``{"type": "error", "code", "message", "traceback", "usage"}`` when it failed;

and the supervisor last: ``{"type": "exit", "exitcode" | "signal", "usage"}``.

Messages are JSON, never pickles: the parent must not unpickle what code it does not
trust could have written to the pipe.
"""

from __future__ import annotations

import ctypes
import inspect
import io
import json
import logging
import math
import multiprocessing
import os
import random
import resource
import select
import signal
import sys
import threading
import time
import traceback
import types
from typing import Any

import cloudpickle
import numpy
import numpy.ma  # noqa: F401  (numpy loads these lazily, on a job's first use: preload them
import numpy.random  # noqa: F401  here, in the forkserver, so no job pays ~45 ms importing them)
import pygad

from .params import CALLBACK_ARITY, pygad_arguments
from .processes import kill_tree

PROGRESS_INTERVAL = 0.5
PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1


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
    """Sends JSON messages to the parent over the events connection."""

    def __init__(self, connection) -> None:
        self.connection = connection
        self.last_progress = 0.0

    def send(self, message: dict) -> None:
        self.connection.send_bytes(json.dumps(message, allow_nan=False).encode())

    def progress(self, ga: "pygad.GA", *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_progress < PROGRESS_INTERVAL:
            return
        self.last_progress = now
        best = None
        if ga.last_generation_fitness is not None:
            _, fitness, _ = ga.best_solution(pop_fitness=ga.last_generation_fitness)
            best = fitness_text(fitness)
        self.send({"type": "progress", "generations_completed": int(ga.generations_completed),
                   "num_generations": int(ga.num_generations), "best_fitness": best})


def usage() -> dict:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "cpu_seconds": round(own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime, 4),
        "peak_memory_mb": round(max(own.ru_maxrss, children.ru_maxrss) / 1024, 1),
    }


def _prctl(option: int, value: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _isolate(workdir: str, output_fd: int) -> None:
    """The supervisor's set-up: a session of its own, and the job's orphans as its children."""
    os.setsid()
    _prctl(PR_SET_CHILD_SUBREAPER, 1)  # orphans of the job stay ours to kill
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", buffering=0, closefd=False), line_buffering=True,
                                  errors="backslashreplace", write_through=True)
    sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", buffering=0, closefd=False), line_buffering=True,
                                  errors="backslashreplace", write_through=True)
    os.chdir(workdir)


def _limit(limits: dict) -> None:
    """The user's process: resource limits, and its own processes forked below it."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    # PyGAD's process pool forks from here, so its processes stay in the job's tree and
    # under its limits (the default start method came from the server's forkserver).
    multiprocessing.set_start_method("fork", force=True)
    memory = int(limits["memory_mb"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if os.geteuid() != 0:
        # Root ignores RLIMIT_NPROC; the parent's watchdog covers that case.
        running = _count_own_processes()
        allowed = running + int(limits["max_processes"])
        soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
        if hard == resource.RLIM_INFINITY or allowed < hard:
            resource.setrlimit(resource.RLIMIT_NPROC, (allowed, hard))


def _watch_server(server_pid: int) -> None:
    """If the server dies, take the whole job down with it.

    The server itself is watched, not our parent: the forkserver that started us stays
    alive as long as any of its children holds its "alive" pipe, which we do. The
    supervisor runs no user code, so this thread always gets to run; it kills the job's
    whole tree while the supervisor is still there to hold its orphans.
    """

    def gone() -> bool:
        try:
            os.kill(server_pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def watch() -> None:
        try:
            pidfd = os.pidfd_open(server_pid)
        except (AttributeError, OSError):
            pidfd = None
        while True:
            if pidfd is not None:
                if select.select([pidfd], [], [], 1.0)[0]:
                    break
            else:
                if gone():
                    break
                time.sleep(0.25)
        kill_tree(os.getpid(), include_root=False)
        os._exit(1)

    threading.Thread(target=watch, name="vilvik-server-watch", daemon=True).start()


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


def _stopped_reason(ga: "pygad.GA", state: dict, num_generations: int) -> str:
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
        elif word == "time" and time.monotonic() - ga.run_start_time >= float(criterion[1]):
            return f"stop_criteria:{text}"
        elif word == "evaluations" and ga.num_fitness_evaluations >= int(criterion[1]):
            return f"stop_criteria:{text}"
    # The run ended early, so a criterion fired even if its state has moved on since
    # (e.g. a time limit measured a moment ago): name the first one.
    return f"stop_criteria:{texts[0]}"


def _number_text(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def build_ga(spec: dict, reporter: Reporter | None, state: dict, logger: logging.Logger) -> "pygad.GA":
    """The ``pygad.GA`` of a job: JSON parameters, loaded code, the progress hook."""
    arguments = pygad_arguments(spec["parameters"])
    code = spec.get("code") or {}
    callables: dict[str, Any] = {}
    for role in list(CALLBACK_ARITY) + ["gene_constraint"]:
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

    def on_generation(ga: "pygad.GA") -> Any:
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


def run_ga(spec: dict, reporter: Reporter | None = None) -> dict:
    """Run one job in this process and return its result (also used by the benchmarks)."""
    state = {"stopped_by_callback": False}
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
    ga = build_ga(spec, reporter, state, logger)
    state["first_generation"] = int(ga.generations_completed)
    if reporter is not None:
        reporter.send({"type": "progress", "generations_completed": 0,
                       "num_generations": int(ga.num_generations), "best_fitness": None})
    ga.run()
    if reporter is not None:
        reporter.progress(ga, force=True)
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


def main(spec: dict, limits: dict, workdir: str, events, output, server_pid: int) -> None:
    """Process entry point: the supervisor (see the module docstring)."""
    _isolate(workdir, output.fileno())
    output.close()
    child = os.fork()
    if child == 0:
        _run_user_code(spec, limits, events)  # never returns
    _watch_server(server_pid)
    _, status, rusage = os.wait4(child, 0)
    kill_tree(os.getpid(), include_root=False)  # whatever the job left behind
    ended: dict = {"type": "exit", "usage": {"cpu_seconds": round(rusage.ru_utime + rusage.ru_stime, 4),
                                             "peak_memory_mb": round(rusage.ru_maxrss / 1024, 1)}}
    if os.WIFSIGNALED(status):
        ended["signal"] = os.WTERMSIG(status)
    else:
        ended["exitcode"] = os.waitstatus_to_exitcode(status)
    try:
        Reporter(events).send(ended)
    finally:
        os._exit(0)


def _run_user_code(spec: dict, limits: dict, events) -> None:
    """The process that runs the job: reports a result or an error, then exits."""
    try:
        _limit(limits)
        reporter = Reporter(events)
        try:
            result = run_ga(spec, reporter)
            message = {"type": "result", "result": result, "usage": usage()}
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
        except (OSError, ValueError, MemoryError):
            reporter.send(_error("worker_crashed", "the result could not be sent to the server"))
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
    finally:
        os._exit(0)


def _error(code: str, message: str, error: BaseException | None = None) -> dict:
    trace = "".join(traceback.format_exception(error)) if error is not None else ""
    if trace:
        print(trace, file=sys.stderr)
    return {"type": "error", "code": code, "message": message, "traceback": trace, "usage": usage()}
