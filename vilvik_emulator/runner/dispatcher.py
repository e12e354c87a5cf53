"""The runner: a queue of jobs, a pool of slots, and one worker process per running job.

The runner knows nothing of HTTP or storage. It receives :class:`JobSpec` objects,
runs each in a fresh process started from a ``forkserver`` (forking the threaded
server itself is unsafe), watches it from a monitor thread (progress, captured output,
the runtime limit, the process-count limit, cancellation) and reports to a
:class:`JobListener`: started, progress, finished with an :class:`Outcome`.

Stopping a job stops everything it started: the worker is a session leader and a
child subreaper that never runs user code itself (it forks the process that does), so
the monitor can freeze the whole tree, collect it from ``/proc`` and kill it all.
"""

from __future__ import annotations

import collections
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from .processes import kill_tree, tree_usage

#: BLAS thread pools only fight the other jobs for the cores, and their per-thread
#: buffers trip the address-space limit; every worker uses one thread.
SINGLE_THREAD_ENVIRONMENT = {name: "1" for name in (
    "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS")}
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
POLL_SECONDS = 0.05
SAMPLE_SECONDS = 0.25


@dataclass
class JobSpec:
    """Everything a worker needs: plain JSON data (it crosses a process boundary)."""

    submission_id: str
    parameters: dict
    code: dict
    initial_population: list | None = None

    def payload(self) -> dict:
        return {"submission_id": self.submission_id, "parameters": self.parameters, "code": self.code,
                "initial_population": self.initial_population}


@dataclass
class Outcome:
    status: str  # "succeeded" | "failed" | "cancelled"
    result: dict | None = None
    error: dict | None = None
    usage: dict = field(default_factory=dict)
    log: bytes = b""
    log_dropped_bytes: int = 0


class JobListener(Protocol):
    def job_started(self, submission_id: str, pid: int) -> None: ...

    def job_progress(self, submission_id: str, progress: dict) -> None: ...

    def job_finished(self, submission_id: str, outcome: Outcome) -> None: ...


@dataclass
class _Job:
    spec: JobSpec
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    pid: int | None = None
    #: a pipe whose write end wakes the monitor at once (instead of at its next poll)
    wakeup: tuple[int, int] | None = None
    wakeup_lock: threading.Lock = field(default_factory=threading.Lock)

    def request_cancel(self) -> None:
        self.cancel_requested.set()
        with self.wakeup_lock:  # never write to a descriptor the monitor closed (and the OS reused)
            if self.wakeup is not None:
                os.write(self.wakeup[1], b"x")

    def close_wakeup(self) -> None:
        with self.wakeup_lock:
            wakeup, self.wakeup = self.wakeup, None
        for fd in wakeup or ():
            os.close(fd)


class Runner:
    """Runs jobs in isolated worker processes, at most ``pool_size`` at a time."""

    def __init__(self, listener: JobListener, limits: Callable[[], dict], pool_size: Callable[[], int]) -> None:
        self.listener = listener
        self._limits = limits
        self._pool_size = pool_size
        self._condition = threading.Condition()
        self._queue: collections.deque[_Job] = collections.deque()
        self._running: dict[str, _Job] = {}
        self._stopping = False
        self._dispatcher: threading.Thread | None = None
        self._context = multiprocessing.get_context("forkserver")

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        for name, value in SINGLE_THREAD_ENVIRONMENT.items():
            os.environ.setdefault(name, value)
        self._context.set_forkserver_preload(["vilvik_emulator.runner.worker"])
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="vilvik-dispatcher", daemon=True)
        self._dispatcher.start()
        threading.Thread(target=self._warm_up, name="vilvik-forkserver-warmup", daemon=True).start()

    def _warm_up(self) -> None:
        """Start the forkserver (which imports numpy and pygad) before the first job needs it."""
        from multiprocessing import forkserver

        try:
            forkserver.ensure_running()
        except Exception:  # the first job will try again and report a real error
            pass

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop accepting work and stop every running job (queued ones stay queued)."""
        with self._condition:
            self._stopping = True
            self._queue.clear()
            running = list(self._running.values())
            self._condition.notify_all()
        for job in running:
            job.request_cancel()
        deadline = time.monotonic() + timeout
        for job in running:
            job.done.wait(max(0.0, deadline - time.monotonic()))

    # ------------------------------------------------------------------ API

    def wake(self) -> None:
        """Re-read the pool size (after a configuration change) and start what now fits."""
        with self._condition:
            self._condition.notify_all()

    def enqueue(self, spec: JobSpec) -> None:
        with self._condition:
            self._queue.append(_Job(spec))
            self._condition.notify_all()

    def run_now(self, spec: JobSpec) -> None:
        """Run a job in the calling thread (``sync`` mode), waiting for a free slot first."""
        job = _Job(spec)
        with self._condition:
            while len(self._running) >= self._pool_size() and not self._stopping:
                self._condition.wait()
            self._running[spec.submission_id] = job
        self._execute(job)

    def cancel(self, submission_id: str, timeout: float = 5.0) -> str | None:
        """Stop a job: ``"dequeued"``, ``"stopped"`` (after its outcome was reported) or ``None``."""
        with self._condition:
            for job in self._queue:
                if job.spec.submission_id == submission_id:
                    self._queue.remove(job)
                    return "dequeued"
            job = self._running.get(submission_id)
        if job is None:
            return None
        job.request_cancel()
        job.done.wait(timeout)
        return "stopped"

    def cancel_all(self, timeout: float = 10.0) -> None:
        with self._condition:
            self._queue.clear()
            running = list(self._running.values())
        for job in running:
            job.request_cancel()
        deadline = time.monotonic() + timeout
        for job in running:
            job.done.wait(max(0.0, deadline - time.monotonic()))

    def state(self, submission_id: str) -> str | None:
        with self._condition:
            if submission_id in self._running:
                return "running"
            if any(job.spec.submission_id == submission_id for job in self._queue):
                return "queued"
        return None

    def pid_of(self, submission_id: str) -> int | None:
        with self._condition:
            job = self._running.get(submission_id)
            return job.pid if job else None

    def stats(self) -> dict:
        with self._condition:
            return {"queued": len(self._queue), "running": len(self._running), "pool_size": self._pool_size()}

    # ------------------------------------------------------------------ dispatching

    def _dispatch_loop(self) -> None:
        while True:
            with self._condition:
                while not self._stopping and (not self._queue or len(self._running) >= self._pool_size()):
                    self._condition.wait()
                if self._stopping:
                    return
                job = self._queue.popleft()
                self._running[job.spec.submission_id] = job
            threading.Thread(target=self._execute, args=(job,), daemon=True,
                             name=f"vilvik-job-{job.spec.submission_id}").start()

    def _execute(self, job: _Job) -> None:
        try:
            outcome = _Monitor(job, self._context, dict(self._limits()), self.listener).run()
            self.listener.job_finished(job.spec.submission_id, outcome)
        finally:
            with self._condition:
                self._running.pop(job.spec.submission_id, None)
                self._condition.notify_all()
            job.done.set()


class _Monitor:
    """Watches one worker process from start to finish."""

    def __init__(self, job: _Job, context: Any, limits: dict, listener: JobListener) -> None:
        self.job = job
        self.context = context
        self.limits = limits
        self.listener = listener
        self.output = bytearray()
        self.dropped = 0
        self.message: dict | None = None  # the job's own result or error
        self.exit: dict | None = None  # how the job's process ended, from the worker
        self.cpu_seconds = 0.0
        self.peak_memory_mb = 0.0

    def run(self) -> Outcome:
        spec = self.job.spec
        workdir = tempfile.mkdtemp(prefix=f"vilvik-job-{spec.submission_id}-")
        events_reader, events_writer = self.context.Pipe(duplex=False)
        output_reader, output_writer = self.context.Pipe(duplex=False)
        process = self.context.Process(
            target=_worker_main, args=(spec.payload(), self.limits, workdir, events_writer, output_writer,
                                       os.getpid()),
            name=f"vilvik-job-{spec.submission_id}", daemon=False)
        started = time.monotonic()
        try:
            process.start()
        except Exception as error:
            shutil.rmtree(workdir, ignore_errors=True)
            return Outcome("failed", error={"code": "worker_crashed", "message": f"could not start a worker: {error}",
                                            "traceback": ""})
        events_writer.close()
        output_writer.close()
        self.job.pid = process.pid
        self.job.wakeup = os.pipe()
        self.listener.job_started(spec.submission_id, process.pid)
        try:
            verdict = self._watch(process, events_reader, output_reader, started)
        finally:
            kill_tree(process.pid)
            process.join(timeout=5)
            self._drain(events_reader, output_reader)
            events_reader.close()
            output_reader.close()
            self.job.close_wakeup()
            shutil.rmtree(workdir, ignore_errors=True)
        wall = round(time.monotonic() - started, 4)
        return self._outcome(verdict, process.exitcode, wall)

    def _watch(self, process: Any, events: Any, output: Any, started: float) -> str:
        deadline = started + float(self.limits["runtime_seconds"])
        next_sample = 0.0
        sources = [events, output, process.sentinel, self.job.wakeup[0]]
        while True:
            if self.job.cancel_requested.is_set():
                return "cancelled"
            now = time.monotonic()
            if now >= deadline:
                return "timeout"
            if now >= next_sample:
                next_sample = now + SAMPLE_SECONDS
                cpu, peak, below = tree_usage(process.pid)
                self.cpu_seconds = max(self.cpu_seconds, cpu)
                self.peak_memory_mb = max(self.peak_memory_mb, peak)
                if below - 1 > int(self.limits["max_processes"]):  # the job's process itself is one
                    return "process_limit"
            for ready in multiprocessing.connection.wait(sources, timeout=min(POLL_SECONDS, deadline - now)):
                if ready is output:
                    if not self._read_output(output):
                        sources.remove(output)
                elif ready is events:
                    if not self._read_event(events):
                        sources.remove(events)
                elif ready == self.job.wakeup[0]:
                    return "cancelled"
                else:
                    return "exited"
            if self.message is not None and self.message.get("type") in ("result", "error"):
                process.join(timeout=2)
                return "exited"

    def _read_output(self, output: Any) -> bool:
        try:
            chunk = os.read(output.fileno(), 1 << 16)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return False
        if not chunk:
            return False
        room = int(self.limits["output_bytes"]) - len(self.output)
        if room > 0:
            self.output += chunk[:room]
        self.dropped += max(0, len(chunk) - max(room, 0))
        return True

    def _read_event(self, events: Any) -> bool:
        try:
            raw = events.recv_bytes(MAX_MESSAGE_BYTES)
        except (EOFError, OSError):
            return False
        try:
            message = _json_loads(raw)
        except ValueError:
            self.message = {"type": "error", "code": "worker_crashed",
                            "message": "the worker sent a malformed message", "traceback": ""}
            return False
        if message.get("type") == "progress":
            self.listener.job_progress(self.job.spec.submission_id, {
                key: message.get(key) for key in ("generations_completed", "num_generations", "best_fitness")})
        elif message.get("type") in ("result", "error"):
            self.message = message
        elif message.get("type") == "exit":
            self.exit = message
        return True

    def _drain(self, events: Any, output: Any) -> None:
        """Collect what is still buffered in the pipes once the worker is gone."""
        for _ in range(10_000):
            ready = multiprocessing.connection.wait([events, output], timeout=0)
            if not ready:
                return
            progressed = False
            if output in ready and self._read_output(output):
                progressed = True
            if events in ready and self.exit is None and self._read_event(events):
                progressed = True
            if not progressed:
                return

    def _outcome(self, verdict: str, exitcode: int | None, wall: float) -> Outcome:
        message = self.message or {}
        # The worker's count of the finished job (wait4) is exact; a job stopped from
        # here has only the samples taken while it ran.
        reported = (self.exit or {}).get("usage") or message.get("usage") or {}
        usage = {
            "cpu_seconds": round(float(reported.get("cpu_seconds", self.cpu_seconds)), 4),
            "peak_memory_mb": round(float(reported.get("peak_memory_mb", self.peak_memory_mb)), 1),
            "wall_seconds": wall,
        }
        log = bytes(self.output)

        def failed(code: str, text: str, trace: str = "") -> Outcome:
            return Outcome("failed", error={"code": code, "message": text, "traceback": trace}, usage=usage,
                           log=log, log_dropped_bytes=self.dropped)

        if verdict == "cancelled":
            return Outcome("cancelled", usage=usage, log=log, log_dropped_bytes=self.dropped)
        if verdict == "timeout":
            return failed("timeout", f"the job ran longer than the runtime limit of "
                                     f"{_seconds(self.limits['runtime_seconds'])} s and was stopped")
        if verdict == "process_limit":
            return failed("fitness_error", f"the job started more than {self.limits['max_processes']} "
                                           "processes and was stopped")
        if message.get("type") == "result":
            return Outcome("succeeded", result=message.get("result"), usage=usage, log=log,
                           log_dropped_bytes=self.dropped)
        if message.get("type") == "error":
            return failed(str(message.get("code") or "fitness_error"), str(message.get("message") or ""),
                          str(message.get("traceback") or ""))
        ended = self.exit or {}
        number = ended.get("signal") or (-exitcode if exitcode is not None and exitcode < 0 else None)
        if number:
            name = _signal_name(int(number))
            if int(number) == signal.SIGKILL and self.peak_memory_mb >= 0.9 * float(self.limits["memory_mb"]):
                return failed("out_of_memory", f"the job was killed ({name}) near its memory limit "
                                               f"of {self.limits['memory_mb']} MB")
            return failed("worker_crashed", f"the job's process died from signal {name}")
        status = ended.get("exitcode", exitcode)
        return failed("worker_crashed", f"the job's process exited with status {status} before reporting a "
                                        "result (did the code call os._exit?)")


def _worker_main(spec: dict, limits: dict, workdir: str, events: Any, output: Any, server_pid: int) -> None:
    from . import worker

    worker.main(spec, limits, workdir, events, output, server_pid)


def _json_loads(raw: bytes) -> dict:
    import json

    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("not an object")
    return value


def _seconds(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else str(number)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
