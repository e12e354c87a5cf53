"""The server's handle on the job template process (:mod:`.template`): start it, ask it for
a job's supervisor, restart it when it dies.

The template is a fresh ``python -c`` subprocess, not a :mod:`multiprocessing` child, so
starting it never re-imports the host program's ``__main__`` (a script that embeds the
emulator needs no ``if __name__ == "__main__":`` guard). It gets the job environment
(:func:`.isolation.job_environment`), a session of its own (a Ctrl-C meant for the server
does not reach it) and one end of a socketpair, its only line to the server. It is
started in the background when the runner starts; the first job waits for it to be ready.

The **lifeline** is a pipe whose write end only the server holds: the template inherits
the read end and every supervisor gets it, and kills its job when it reads end-of-file,
which happens exactly when the server process dies, however it dies.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time

from ..threads import supervised
from . import protocol
from .isolation import job_environment

log = logging.getLogger("vilvik_emulator.runner")

READY_TIMEOUT = 120.0
#: not dumpable before anything else (PR_SET_DUMPABLE is 4): while numpy and PyGAD import,
#: a process of the same user could otherwise take the socket through ptrace or pidfd_getfd
BOOT = ("import ctypes\n"
        "ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)\n"
        "import json, sys\n"
        "sys.path[:] = json.loads(sys.argv[3])\n"
        "from vilvik_emulator.runner.template import main\n"
        "main(int(sys.argv[1]), sys.argv[2] == 'namespaces', int(sys.argv[4]))\n")


class TemplateError(RuntimeError):
    """The template could not start a job (it would not start, or it refused)."""


class Spawner:
    """Talks to the template; one request and its reply at a time (the template is single-threaded)."""

    def __init__(self, namespaces: bool | None = None) -> None:
        #: ``None``: use PID namespaces where the kernel lets the template make them
        self.namespaces_wanted = namespaces is not False
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._socket: socket.socket | None = None
        self._closed = False
        #: set when the spawner closes: its supervised threads stop
        self._stopped = threading.Event()
        self.namespaced = False
        self.restarts = 0
        self.lifeline_reader, self._lifeline_writer = os.pipe()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the template in the background (it takes a moment to import numpy and PyGAD)."""
        supervised("vilvik-template-start", self._start_quietly, self._stopped)

    def _start_quietly(self) -> bool:
        """One round of the start thread (supervised: an error is logged and the round runs again)."""
        try:
            with self._lock:
                self._ensure()
        except TemplateError as error:  # the first job tries again and reports it
            log.warning("%s", error)
        return False

    def close(self, timeout: float = 5.0) -> None:
        """Stop the template (it kills any job still running) and cut the lifeline."""
        with self._lock:
            self._closed = True
            self._stopped.set()
            process = self._process
            self._discard()
        if process is not None:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for descriptor in (self.lifeline_reader, self._lifeline_writer):
            try:
                os.close(descriptor)
            except OSError:
                pass

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None else None

    # ------------------------------------------------------------------ requests

    def spawn(self, request: dict) -> tuple[int, int, tuple[int, int, int]]:
        """Start a job: ``(pid, pidfd)`` of its supervisor and the read ends of its events, output
        and status pipes. The template died before? It is restarted once."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    self._ensure()
                    reply, received = self._ask({"op": "spawn", **request}, [])
                    break
                except (OSError, EOFError, ValueError) as error:
                    log.warning("the job template (pid %s) stopped answering (%s); starting a new one",
                                self.pid, error)
                    self._discard()
                    self.restarts += 1
                    if attempt == 2:
                        raise TemplateError(f"the job template stopped answering: {error}") from error
        if reply.get("op") != "spawned" or not isinstance(reply.get("pid"), int) or len(received) != 4:
            for descriptor in received:
                os.close(descriptor)
            raise TemplateError(f"the job template could not start the job: {reply.get('error') or reply}")
        pidfd, events, output, status = received
        return reply["pid"], pidfd, (events, output, status)

    def sweep(self) -> None:
        """Have the template kill orphans a dead supervisor handed it (a job whose supervisor was killed)."""
        with self._lock:
            if self._socket is None:
                return
            try:
                self._ask({"op": "sweep"}, [])
            except (OSError, EOFError, ValueError) as error:
                log.warning("the job template did not sweep (%s)", error)
                self._discard()

    def _ask(self, message: dict, descriptors: list[int]) -> tuple[dict, list[int]]:
        assert self._socket is not None
        protocol.send_message(self._socket, message, descriptors)
        reply, received, _ = protocol.receive_message(self._socket)
        if reply is None:
            raise EOFError("the template closed its socket")
        return reply, received

    # ------------------------------------------------------------------ the process

    def _ensure(self) -> None:
        """Start the template unless it runs; wait until it says it is ready. Called with the lock held."""
        if self._closed:
            raise TemplateError("the runner is shut down")
        if self._socket is not None and self._process is not None and self._process.poll() is None:
            return
        self._discard()
        ours, theirs = protocol.control_socketpair()
        mode = "namespaces" if self.namespaces_wanted else "plain"
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", BOOT, str(theirs.fileno()), mode, json.dumps(sys.path),
                 str(self.lifeline_reader)],
                pass_fds=(theirs.fileno(), self.lifeline_reader), env=job_environment(os.environ), cwd="/",
                start_new_session=True,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        except OSError as error:
            ours.close()
            raise TemplateError(f"the job template could not be started: {error}") from error
        finally:
            theirs.close()
        ours.settimeout(READY_TIMEOUT)
        try:
            ready, _, _ = protocol.receive_message(ours)
        except OSError:
            ready = None
        if not ready or ready.get("op") != "ready":
            ours.close()
            process.kill()
            status = process.wait()
            raise TemplateError(f"the job template did not start (exit status {status}; its error, if any, "
                                "is on the server's stderr)")
        ours.settimeout(None)
        self._socket, self._process = ours, process
        self.namespaced = bool(ready.get("namespaces"))
        started = time.monotonic()
        # supervised: a round that raises is logged and runs again (the wait returns at once then),
        # so a template that dies is still noticed and replaced
        supervised("vilvik-template-watch", lambda: self._watch(process, started), self._stopped)

    def _watch(self, process: subprocess.Popen, started: float) -> bool:
        """One round of a template's watch: wait for it to die; False once there is nothing left to do."""
        status = process.wait()
        self._replace(process, status, started)
        return False

    def _replace(self, process: subprocess.Popen, status: int, started: float) -> None:
        """A template that dies between jobs is replaced at once, so the next job does not wait for it."""
        with self._lock:
            if self._closed or process is not self._process:
                return
            log.warning("the job template (pid %s) died (status %s); starting a new one", process.pid, status)
            self._discard()
            self.restarts += 1
            if time.monotonic() - started < 1.0:
                return  # dying at once again and again: leave it to the next job, which reports the error
            try:
                self._ensure()
            except TemplateError as error:
                log.warning("%s", error)

    def _discard(self) -> None:
        """Forget the current template; closing the socket makes a live one kill its jobs and exit."""
        if self._socket is not None:
            self._socket.close()
        self._socket = None
        self._process = None
