"""The job template ("zygote"): one warm process with numpy, PyGAD and the worker imported,
keeping a job's processes ready before the job arrives.

The server starts it as a fresh interpreter (``python -c``, see :mod:`.spawner`), never
through :mod:`multiprocessing`, so it never imports the host program's ``__main__``. It
is single-threaded (forking it is safe) and talks to the server only over a packet
socketpair inherited as a descriptor: there is no path or name by which anything else
could reach it, and a request counts only if the kernel says it came from the server's
pid. It is not dumpable from its first line on, so processes of the same user cannot
open its descriptors through ``/proc`` or ptrace it, and it is a child subreaper, so a
job whose supervisor was killed hands its orphans here, where :meth:`Template._sweep`
kills them.

It always keeps one **spare**: a supervisor forked ahead of time (its session, its
namespaces and ``/proc``) with the job's process forked below it, warmed up and waiting
for a job on an *order* pipe only the template writes to; the template holds the read
ends of its events, capture and status pipes. A job takes the spare, and the template
forks the next one while the job runs. A spare is used once: every job still runs in
processes of its own, forked from the template.

Requests on the socket (JSON packets, :mod:`.protocol`):

* ``{"op": "spawn", "limits", "workdir"}`` → the spare is given its job (or, if it died,
  a new one is forked at once) → ``{"op": "spawned", "pid"}`` with a pidfd of the
  supervisor and the read ends of the job's events, output and status pipes, or
  ``{"op": "failed", "error"}``;
* ``{"op": "sweep"}`` → orphans of dead supervisors are killed → ``{"op": "swept"}``.

End of stream means the server is gone: every job is killed and the template exits.
"""

from __future__ import annotations

import fcntl
import gc
import json
import linecache
import os
import select
import signal
import socket
import sys
from dataclasses import dataclass
from typing import NoReturn

from . import protocol, worker
from .isolation import PR_SET_CHILD_SUBREAPER, PR_SET_DUMPABLE, PidNamespaces, prctl
from .processes import children, kill_tree

#: bigger pipes for the job's events and output: fewer wake-ups for a flood of output or a
#: big result (1 MiB is the unprivileged maximum)
PIPE_BYTES = 1 << 20
F_SETPIPE_SZ = 1031


@dataclass
class Spare:
    """A supervisor and the job's process below it, set up and waiting for a job."""

    pid: int
    pidfd: int
    #: the write end of the job's order pipe (the job's process holds the read end)
    order: int
    #: the read ends of the events, output and status pipes, handed to the server with the job
    readers: tuple[int, int, int]

    def close(self) -> None:
        for descriptor in (self.pidfd, self.order, *self.readers):
            try:
                os.close(descriptor)
            except OSError:
                pass


class Template:
    def __init__(self, control: socket.socket, namespaces: PidNamespaces | None, lifeline: int) -> None:
        self.control = control
        self.namespaces = namespaces
        #: the read end of the server's lifeline, for every supervisor
        self.lifeline = lifeline
        self.supervisors: set[int] = set()
        self.spare: Spare | None = None
        #: why the last spare could not be forked
        self.failure = ""
        #: the only process whose requests count (the kernel vouches for each sender's pid)
        self.server = os.getppid()

    def serve(self) -> NoReturn:
        wake_reader, wake_writer = os.pipe()
        os.set_blocking(wake_writer, False)
        signal.signal(signal.SIGCHLD, lambda number, frame: None)  # only to wake the select below
        signal.set_wakeup_fd(wake_writer)
        protocol.send_message(self.control, {"op": "ready", "pid": os.getpid(),
                                             "namespaces": self.namespaces is not None})
        self.spare = self._prepare()
        while True:
            ready, _, _ = select.select([self.control.fileno(), wake_reader], [], [])
            if wake_reader in ready:
                os.read(wake_reader, 4096)
                self._reap()
            if self.control.fileno() in ready:
                try:
                    message, descriptors, sender = protocol.receive_message(self.control)
                except OSError:
                    message, descriptors, sender = None, [], None
                if message is None:
                    self._stop_everything()
                    os._exit(0)
                for descriptor in descriptors:  # no request carries any
                    os.close(descriptor)
                if sender != self.server:
                    # Someone holding the server's end of the socket (through /proc, where a
                    # job can see the server): ignored, and never answered.
                    print(f"vilvik-emulator job template: ignored a request from pid {sender}", file=sys.stderr)
                    continue
                self._handle(message)

    def _handle(self, message: dict) -> None:
        if message.get("op") == "spawn":
            self._spawn(message)
        elif message.get("op") == "sweep":
            self._reap()
            self._sweep()
            protocol.send_message(self.control, {"op": "swept"})
        else:
            protocol.send_message(self.control, {"op": "failed", "error": "unknown request"})

    def _spawn(self, message: dict) -> None:
        order = json.dumps({"limits": message.get("limits"), "workdir": message.get("workdir")}).encode()
        error = ""
        for _ in range(2):  # the spare may have died (or been killed) while it waited: a new one, once
            spare, self.spare = self._take_spare(), None
            if spare is None:
                error = self.failure
                break
            try:
                written = 0
                while written < len(order):  # one write in practice: it is far below PIPE_BUF
                    written += os.write(spare.order, order[written:])
                os.close(spare.order)
            except OSError as failure:
                error = f"the spare job process did not take its job: {failure}"
                self._discard(spare)
                continue
            try:
                protocol.send_message(self.control, {"op": "spawned", "pid": spare.pid},
                                      [spare.pidfd, *spare.readers])
            finally:
                for descriptor in (spare.pidfd, *spare.readers):
                    os.close(descriptor)
            break
        else:
            spare = None
        if spare is None:
            protocol.send_message(self.control, {"op": "failed", "error": error})
        self.spare = self._prepare()  # the next job's, while this one runs

    def _take_spare(self) -> Spare | None:
        """The spare if its supervisor still lives, else a new one."""
        self._reap()
        spare = self.spare
        if spare is not None and spare.pid not in self.supervisors:
            self._discard(spare)
            spare = None
        return spare if spare is not None else self._prepare()

    def _prepare(self) -> Spare | None:
        """Fork a spare: the job's pipes, then its supervisor, which forks the job's process."""
        pipes = []
        try:
            for _ in range(4):  # events, output, status, order
                pipes.append(os.pipe())
        except OSError as error:
            for pair in pipes:
                for descriptor in pair:
                    os.close(descriptor)
            self.failure = f"no pipes for a job: {error}"
            return None
        (events_r, events_w), (output_r, output_w), (status_r, status_w), (order_r, order_w) = pipes
        for descriptor in (events_w, output_w):
            try:
                fcntl.fcntl(descriptor, F_SETPIPE_SZ, PIPE_BYTES)
            except OSError:
                pass
        try:
            pid = self.namespaces.fork() if self.namespaces is not None else os.fork()
        except OSError as error:
            self.failure = f"fork failed: {error}"
            pid = -1
        if pid == 0:
            worker.supervise(self.namespaces is not None, self.lifeline, status_w, order_r, events_w, output_w)
        for descriptor in (events_w, output_w, status_w, order_r):
            os.close(descriptor)
        if pid < 0:
            for descriptor in (events_r, output_r, status_r, order_w):
                os.close(descriptor)
            return None
        self.supervisors.add(pid)
        # opened before this process can reap the supervisor, so it names that process for sure
        pidfd = os.pidfd_open(pid)
        return Spare(pid, pidfd, order_w, (events_r, output_r, status_r))

    def _discard(self, spare: Spare) -> None:
        """Let a spare go: its job's process finds its order pipe closed, and the rest is killed."""
        spare.close()
        if spare.pid in self.supervisors:
            self._kill(spare.pid)

    def _kill(self, supervisor: int) -> None:
        if self.namespaces is not None:
            os.kill(supervisor, signal.SIGKILL)  # the init of the job's PID namespace: the kernel kills the rest
        else:
            kill_tree(supervisor)

    def _reap(self) -> None:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.supervisors.discard(pid)

    def _sweep(self) -> None:
        """Kill every child that is not a live supervisor: orphans of a job whose supervisor died.

        Round after round: a process missed while its parent was being killed is this
        process's child in the next round (it is the subreaper), until none is left.
        """
        for _ in range(1000):
            self._reap()
            strays = [child for child in children(os.getpid()) if child not in self.supervisors]
            if not strays:
                return
            for child in strays:
                kill_tree(child)
            for child in strays:
                try:
                    os.waitpid(child, 0)
                except ChildProcessError:
                    pass

    def _stop_everything(self) -> None:
        if self.spare is not None:
            self.spare.close()
        for pid in list(self.supervisors):
            self._kill(pid)
        self._sweep()


def _cache_sources(package: str) -> None:
    """Read the package's source files into :mod:`linecache` once, here, for every job.

    A warning shows its source line (PyGAD warns about the documented example's
    parameters): the job then finds the line in the cache instead of reading and
    splitting the file again (about half a millisecond per job).
    """
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if (name == package or name.startswith(package + ".")) and isinstance(path, str):
            linecache.getlines(path)


def main(descriptor: int, namespaces: bool, lifeline: int) -> NoReturn:
    """Entry point of ``python -c`` (see :mod:`.spawner`): serve the socket inherited as ``descriptor``."""
    prctl(PR_SET_DUMPABLE, 0)  # already done first thing by the boot code; this says it here too
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the server, which then closes the socket
    control = socket.socket(fileno=descriptor)
    template = Template(control, PidNamespaces.probe() if namespaces else None, lifeline)
    worker.warm_up()
    _cache_sources("pygad")
    # Imported objects become immortal for the collector: a job's collections then never
    # touch (and copy) the pages the template shares with it.
    gc.collect()
    gc.freeze()
    sys.stdout.flush()
    template.serve()
