"""The runner: a queue of jobs, a pool of slots, and one watched process tree per running job.

The runner knows nothing of HTTP or storage. It receives :class:`JobSpec` objects, has
the job template (:mod:`.spawner`, :mod:`.template`) give each to the supervisor and job
process it forked and set up before the job arrived (a *spare*, used once), watches
the job from a monitor thread (events, captured output, the supervisor's exit report,
the runtime limit, the process-count limit, cancellation) and reports to a
:class:`JobListener`: started, progress, finished with an :class:`Outcome`.

The monitor sleeps in one ``select`` on every descriptor of the job (the events, output and
status pipes, a pidfd of the supervisor, a cancel wake-up), so it reacts to each the moment it
happens: a finished job is reported as soon as its supervisor reports, which it does the moment
the job's process has stopped itself after its last frame (a job of one process) or once it has
killed and reaped every process of the job (any other); its kill, reaping and own exit are
waited for afterwards, off the job's way to its outcome. Nothing the job's process sends is believed before
:mod:`.protocol` checked it; usage comes from the supervisor's ``getrusage`` or this side's
samples of ``/proc``.
Whatever goes wrong here, a job gets an outcome and the runner keeps serving.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import select
import shutil
import signal
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..threads import supervised
from . import protocol
from .processes import kill_tree, tree_usage
from .spawner import Spawner, TemplateError

log = logging.getLogger("vilvik_emulator.runner")

SAMPLE_SECONDS = 0.25
READ_BYTES = 1 << 20
STOP_TIMEOUT = 10.0


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
    #: seconds from the monitor's start to each step of the job (for benchmarks and diagnosis)
    timeline: dict = field(default_factory=dict)


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
    #: the outcome is recorded: the job takes no slot while its supervisor exits
    finished: bool = False
    #: a pipe whose write end wakes the monitor at once
    wakeup: tuple[int, int] | None = None
    wakeup_lock: threading.Lock = field(default_factory=threading.Lock)

    def request_cancel(self) -> None:
        self.cancel_requested.set()
        with self.wakeup_lock:  # never write to a descriptor the monitor closed (and the OS reused)
            if self.wakeup is not None:
                os.write(self.wakeup[1], b"x")

    def open_wakeup(self) -> int:
        with self.wakeup_lock:
            self.wakeup = os.pipe()
            return self.wakeup[0]

    def close_wakeup(self) -> None:
        with self.wakeup_lock:
            wakeup, self.wakeup = self.wakeup, None
        for descriptor in wakeup or ():
            os.close(descriptor)


class Runner:
    """Runs jobs in isolated processes, at most ``pool_size`` at a time.

    ``namespaces``: ``None`` (default) gives each job PID and mount namespaces of its own
    where the kernel allows it (root), ``False`` never does (the subreaper containment only).
    """

    def __init__(self, listener: JobListener, limits: Callable[[], dict], pool_size: Callable[[], int], *,
                 namespaces: bool | None = None) -> None:
        self.listener = listener
        self._limits = limits
        self._pool_size = pool_size
        self._condition = threading.Condition()
        self._queue: collections.deque[_Job] = collections.deque()
        self._running: dict[str, _Job] = {}
        self._stopping = False
        self._stopped = threading.Event()
        self._dispatcher: threading.Thread | None = None
        self.spawner = Spawner(namespaces)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        # supervised: a round that fails is logged and the next one runs (issue "Hardening" #5)
        self._dispatcher = supervised("vilvik-dispatcher", self._dispatch_step, self._stopped)
        self.spawner.start()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop accepting work and stop every running job (queued ones stay queued)."""
        with self._condition:
            self._stopping = True
            self._stopped.set()
            self._queue.clear()
            running = list(self._running.values())
            self._condition.notify_all()
        for job in running:
            job.request_cancel()
        deadline = time.monotonic() + timeout
        for job in running:
            job.done.wait(max(0.0, deadline - time.monotonic()))
        self.spawner.close()

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
            while self._busy() >= self._pool_size() and not self._stopping:
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
            running = self._running.get(submission_id)
        if running is None:
            return None
        running.request_cancel()
        running.done.wait(timeout)
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
        """The pid of the job's supervisor (every process of the job runs below it)."""
        with self._condition:
            job = self._running.get(submission_id)
            return job.pid if job else None

    def join(self, submission_id: str, timeout: float = STOP_TIMEOUT) -> bool:
        """Wait until a running job let go of everything: its supervisor, the last process it had, is gone.

        The outcome is recorded as soon as the supervisor reported: every process of the job
        has been killed and reaped, or it was a single process, stopped by itself after its
        last frame, which the supervisor kills and reaps right after its report. Once this
        returns, the supervisor and everything of the job are gone.
        """
        with self._condition:
            job = self._running.get(submission_id)
        return job is None or job.done.wait(timeout)

    def stats(self) -> dict:
        with self._condition:
            counts = {"queued": len(self._queue), "running": len(self._running), "pool_size": self._pool_size()}
        return {**counts, "template_pid": self.spawner.pid, "template_restarts": self.spawner.restarts,
                "containment": "namespaces" if self.spawner.namespaced else "subreaper"}

    # ------------------------------------------------------------------ dispatching

    def _busy(self) -> int:
        """Slots taken (with the condition held): jobs running, not those only waiting for their supervisor's exit."""
        return sum(1 for job in self._running.values() if not job.finished)

    def _dispatch_step(self) -> bool:
        """Start the next queued job once a slot is free; False once the runner stops."""
        with self._condition:
            while not self._stopping and (not self._queue or self._busy() >= self._pool_size()):
                self._condition.wait()
            if self._stopping:
                return False
            job = self._queue.popleft()
            self._running[job.spec.submission_id] = job
        try:
            threading.Thread(target=self._execute, args=(job,), daemon=True,
                             name=f"vilvik-job-{job.spec.submission_id}").start()
        except BaseException:  # no thread (none left to start): the job goes back first in line
            with self._condition:
                self._running.pop(job.spec.submission_id, None)
                self._queue.appendleft(job)
            raise
        return True

    def _execute(self, job: _Job) -> None:
        submission_id = job.spec.submission_id
        monitor: _Monitor | None = None
        try:
            try:
                monitor = _Monitor(job, self.spawner, dict(self._limits()), self.listener)
                outcome = monitor.run()
            except Exception:  # the monitor cleans up after itself; this is the last resort
                log.exception("the runner failed while running job %s", submission_id)
                outcome = Outcome("failed", error={"code": "worker_crashed", "traceback": "",
                                                   "message": "the emulator's runner failed while running this job"})
            try:
                self.listener.job_finished(submission_id, outcome)
            except Exception:
                log.exception("recording the end of job %s failed", submission_id)
            with self._condition:  # the next job need not wait for this one's supervisor to exit
                job.finished = True
                self._condition.notify_all()
        finally:
            try:
                if monitor is not None:
                    monitor.release()
            except Exception:
                log.exception("letting go of job %s failed", submission_id)
            with self._condition:
                self._running.pop(submission_id, None)
                self._condition.notify_all()
            job.done.set()


class _Monitor:
    """Watches one job from the spawn of its supervisor to the last of its processes."""

    def __init__(self, job: _Job, spawner: Spawner, limits: dict, listener: JobListener) -> None:
        self.job = job
        self.spawner = spawner
        self.limits = limits
        self.listener = listener
        self.started = time.monotonic()
        self.timeline: dict[str, float] = {}
        self.output = bytearray()
        self.dropped = 0
        self.events = protocol.FrameReader(protocol.MAX_EVENT_BYTES)
        self.status = protocol.FrameReader(protocol.MAX_STATUS_BYTES)
        self.final: dict | None = None  # the job's own result or error
        self.exit: dict | None = None  # the supervisor's report
        self.malformed: str | None = None
        self.cpu_seconds = 0.0
        self.peak_memory_mb = 0.0
        self.pid = 0
        self.pidfd = -1
        self.workdir = ""
        self.supervisor_gone = False

    def mark(self, step: str) -> None:
        self.timeline.setdefault(step, round(time.monotonic() - self.started, 6))

    def run(self) -> Outcome:
        spec = self.job.spec
        self.workdir = workdir = tempfile.mkdtemp(prefix=f"vilvik-job-{spec.submission_id}-")
        readers: tuple[int, ...] = ()
        try:
            with open(os.path.join(workdir, protocol.SPEC_FILE), "w") as handle:
                json.dump(spec.payload(), handle)
            self.mark("spawn")
            try:
                # the job's pipes come from the template, whose spare process holds their write ends
                self.pid, self.pidfd, readers = self.spawner.spawn({"limits": self.limits, "workdir": workdir})
            except TemplateError as error:
                return self._failed("worker_crashed", f"could not start a worker: {error}")
            self.mark("spawned")
            for descriptor in readers:
                os.set_blocking(descriptor, False)
            events, output, status = readers
            return self._follow(events, output, status, workdir)
        finally:
            for descriptor in readers:
                os.close(descriptor)

    def release(self) -> None:
        """After the outcome is recorded: wait for the supervisor's exit, remove the working directory.

        A job whose supervisor reported has ended: every process of it was killed and
        reaped, or it is one stopped process the supervisor (which never runs user code)
        kills and reaps next; then the supervisor has only its own exit left to make, the
        teardown of its namespaces included. That happens while the outcome is
        recorded; the job's slot is free, and a cancel of it returns, once it is done.
        """
        try:
            if self.pidfd >= 0:
                if not self.supervisor_gone and not select.select([self.pidfd], [], [], STOP_TIMEOUT)[0]:
                    log.error("the supervisor of job %s (pid %s) did not exit after its report",
                              self.job.spec.submission_id, self.pid)
                    self._stop()
                os.close(self.pidfd)
                self.pidfd = -1
        finally:
            if self.workdir:
                _remove_tree(self.workdir)

    def _follow(self, events: int, output: int, status: int, workdir: str) -> Outcome:
        self.job.pid = self.pid
        wakeup = self.job.open_wakeup()
        verdict = "internal"
        try:
            self._call("job_started", self.job.spec.submission_id, self.pid)
            verdict = self._watch(events, output, status, wakeup)
        except Exception:
            log.exception("watching job %s failed", self.job.spec.submission_id)
        finally:
            if not self.supervisor_gone and self.exit is None:
                self._stop()
            self.mark("stopped")
            self._drain(events, output, status)
            if self.events.partial:  # the job's processes are gone or killed: nothing completes it now
                self._refuse("the job's process ended in the middle of a message")
            if self.exit is None and not self.spawner.namespaced:
                # The supervisor died without its report: killed from inside the job, which
                # handed its orphans to the template. They die now, before the job ends.
                self.spawner.sweep()
            self.job.close_wakeup()
        if verdict == "exited" and self.malformed:
            verdict = "malformed"
        return self._outcome(verdict)

    def _watch(self, events: int, output: int, status: int, wakeup: int) -> str:
        deadline = self.started + float(self.limits["runtime_seconds"])
        next_sample = 0.0
        handlers = {events: self._read_events, output: self._read_output, status: self._read_status}
        sources = [events, output, status, self.pidfd, wakeup]
        while True:
            if self.job.cancel_requested.is_set():
                return "cancelled"
            if self.malformed:
                return "malformed"
            if self.supervisor_gone or self.exit is not None:
                # The report comes once every process of the job was killed and reaped: the
                # pipes hold all the job wrote. The supervisor's own exit is waited for later.
                return "exited"
            now = time.monotonic()
            if now >= deadline:
                return "timeout"
            if now >= next_sample:
                next_sample = now + SAMPLE_SECONDS
                if self._sample() - 1 > int(self.limits["max_processes"]):  # the user's process is one
                    return "process_limit"
            ready, _, _ = select.select(sources, [], [], max(0.0, min(deadline, next_sample) - now))
            for descriptor in ready:
                if descriptor == self.pidfd:
                    # Everything the job wrote is in the pipes by now: read it before deciding.
                    self.supervisor_gone = True
                    self.mark("supervisor_gone")
                    self._drain(events, output, status)
                elif descriptor == wakeup:
                    return "cancelled"
                elif not handlers[descriptor](descriptor):
                    sources.remove(descriptor)

    def _sample(self) -> int:
        cpu, peak, below = tree_usage(self.pid)
        self.cpu_seconds = max(self.cpu_seconds, cpu)
        self.peak_memory_mb = max(self.peak_memory_mb, peak)
        return below

    def _stop(self) -> None:
        """Kill the whole job and wait until its supervisor is gone."""
        try:
            self._sample()  # what it used until now: it is billed for that
        except Exception:  # the kill below matters more than the bill
            log.exception("sampling job %s before stopping it failed", self.job.spec.submission_id)
        try:
            if self.spawner.namespaced:
                # The init of the job's PID namespace: when it dies the kernel kills every
                # process in the namespace, and nothing the job started can have left it.
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            else:
                signal.pidfd_send_signal(self.pidfd, signal.SIGSTOP)  # a stopped process keeps its pid
                kill_tree(self.pid)
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if select.select([self.pidfd], [], [], STOP_TIMEOUT)[0]:
            self.supervisor_gone = True
        else:
            log.error("the supervisor of job %s (pid %s) did not die", self.job.spec.submission_id, self.pid)

    # ------------------------------------------------------------------ reading the pipes

    def _read_output(self, descriptor: int) -> bool:
        chunk = _read(descriptor)
        if chunk is None:
            return True
        if not chunk:
            return False
        room = int(self.limits["output_bytes"]) - len(self.output)
        if room > 0:
            self.output += chunk[:room]
        self.dropped += max(0, len(chunk) - max(room, 0))
        return True

    def _read_events(self, descriptor: int) -> bool:
        chunk = _read(descriptor)
        if chunk is None:
            return True
        if not chunk:
            if self.events.partial:
                self._refuse("the job's process ended in the middle of a message")
            return False
        if self.malformed:
            return True
        self.mark("first_event")
        try:
            for frame in self.events.feed(chunk):
                message = protocol.check_event(protocol.parse(frame))
                if self.final is not None:
                    raise protocol.ProtocolError("the job's process sent more after its final message")
                if message["type"] == "progress":
                    self._call("job_progress", self.job.spec.submission_id,
                               {key: message[key] for key in ("generations_completed", "num_generations",
                                                              "best_fitness")})
                else:
                    self.mark("final_message")
                    self.final = message
        except protocol.ProtocolError as error:
            self._refuse(str(error))
        return True

    def _read_status(self, descriptor: int) -> bool:
        chunk = _read(descriptor)
        if chunk is None:
            return True
        if not chunk:
            return False
        try:
            for frame in self.status.feed(chunk):
                if self.exit is not None:
                    raise protocol.ProtocolError("the supervisor reported twice")
                self.exit = protocol.check_exit(protocol.parse(frame))
                self.mark("exit_report")
        except protocol.ProtocolError as error:
            self._refuse(f"the supervisor's report was refused: {error}")
        return True

    def _refuse(self, reason: str) -> None:
        if self.malformed is None:
            self.malformed = reason

    def _drain(self, events: int, output: int, status: int) -> None:
        """Read what is still in the pipes; stop at the end of each or when it is empty."""
        for descriptor, handler in ((events, self._read_events), (output, self._read_output),
                                    (status, self._read_status)):
            for _ in range(10_000):
                if not select.select([descriptor], [], [], 0)[0] or not handler(descriptor):
                    break

    def _call(self, method: str, *arguments: Any) -> None:
        """A listener callback; its failure is logged and never stops the job."""
        try:
            getattr(self.listener, method)(*arguments)
        except Exception:
            log.exception("the runner's listener failed in %s for job %s", method, self.job.spec.submission_id)

    # ------------------------------------------------------------------ the verdict

    def _usage(self) -> dict:
        # The supervisor's count of the finished job (getrusage of everything it reaped) is
        # exact; a job stopped from here has only this side's samples of /proc.
        measured = (self.exit or {}).get("usage") or {}
        return {"cpu_seconds": round(float(measured.get("cpu_seconds", self.cpu_seconds)), 4),
                "peak_memory_mb": round(float(measured.get("peak_memory_mb", self.peak_memory_mb)), 1),
                "wall_seconds": round(time.monotonic() - self.started, 4)}

    def _failed(self, code: str, text: str, trace: str = "", usage: dict | None = None) -> Outcome:
        self.mark("outcome")
        return Outcome("failed", error={"code": code, "message": text, "traceback": trace}, usage=usage or {},
                       log=bytes(self.output), log_dropped_bytes=self.dropped, timeline=self.timeline)

    def _outcome(self, verdict: str) -> Outcome:
        usage = self._usage()
        if verdict == "cancelled":
            self.mark("outcome")
            return Outcome("cancelled", usage=usage, log=bytes(self.output), log_dropped_bytes=self.dropped,
                           timeline=self.timeline)
        if verdict == "timeout":
            return self._failed("timeout", f"the job ran longer than the runtime limit of "
                                           f"{_seconds(self.limits['runtime_seconds'])} s and was stopped",
                                usage=usage)
        if verdict == "process_limit":
            return self._failed("fitness_error", f"the job started more than {self.limits['max_processes']} "
                                                 "processes and was stopped", usage=usage)
        if verdict == "malformed":
            return self._failed("worker_crashed", f"the job's process sent a malformed message and was stopped: "
                                                  f"{self.malformed}", usage=usage)
        if verdict == "internal":
            return self._failed("worker_crashed", "the emulator's runner failed while watching this job",
                                usage=usage)
        final = self.final or {}
        if final.get("type") == "result":
            self.mark("outcome")
            return Outcome("succeeded", result=final["result"], usage=usage, log=bytes(self.output),
                           log_dropped_bytes=self.dropped, timeline=self.timeline)
        if final.get("type") == "error":
            return self._failed(final["code"], final["message"], final["traceback"], usage=usage)
        if self.exit is None:
            return self._failed("worker_lost", "the job's supervisor process ended without reporting "
                                               "(was it killed from outside the emulator?)", usage=usage)
        number = self.exit.get("signal")
        if number:
            name = _signal_name(number)
            if number == signal.SIGSTOP:  # see worker._run_user_process: it stops itself once it has said all
                return self._failed("worker_crashed", "the job's process stopped (SIGSTOP) before reporting a "
                                                      "result and was killed", usage=usage)
            if number == signal.SIGKILL and usage["peak_memory_mb"] >= 0.9 * float(self.limits["memory_mb"]):
                return self._failed("out_of_memory", f"the job was killed ({name}) near its memory limit "
                                                     f"of {self.limits['memory_mb']} MB", usage=usage)
            return self._failed("worker_crashed", f"the job's process died from signal {name}", usage=usage)
        return self._failed("worker_crashed", f"the job's process exited with status {self.exit['exitcode']} "
                                              "before reporting a result (did the code call os._exit?)",
                            usage=usage)


def _read(descriptor: int) -> bytes | None:
    """A chunk from a pipe: ``b""`` at its end, ``None`` when nothing is there just now."""
    try:
        return os.read(descriptor, READ_BYTES)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""


def _remove_tree(path: str) -> None:
    """Remove a job's working directory, even where the job took away its own permissions."""
    def allow_and_retry(function: Callable, target: str, _: Any) -> None:
        try:
            os.chmod(os.path.dirname(target), stat.S_IRWXU)
            if os.path.isdir(target) and not os.path.islink(target):
                os.chmod(target, stat.S_IRWXU)
            function(target)
        except OSError:
            pass

    shutil.rmtree(path, onerror=allow_and_retry)


def _seconds(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else str(number)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
