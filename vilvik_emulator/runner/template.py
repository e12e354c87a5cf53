"""The job template ("zygote"): one warm process with numpy, PyGAD and the worker imported,
forking a fresh supervisor for every job in a couple of milliseconds.

The server starts it as a fresh interpreter (``python -c``, see :mod:`.spawner`), never
through :mod:`multiprocessing`, so it never imports the host program's ``__main__``. It
is single-threaded (forking it is safe) and talks to the server only over a packet
socketpair inherited as a descriptor: there is no path or name by which anything else
could reach it, and a request counts only if the kernel says it came from the server's
pid. It is not dumpable, so processes of the same user cannot open its descriptors
through ``/proc`` or ptrace it, and it is a child subreaper, so a job whose supervisor
was killed hands its orphans here, where :meth:`Template._sweep` kills them.

Requests on the socket (JSON packets, :mod:`.protocol`):

* ``{"op": "spawn", "limits", "workdir"}`` with the job's four descriptors
  (events, output and status write ends, the server's lifeline read end) → the
  supervisor is forked → ``{"op": "spawned", "pid"}`` with a pidfd of it, or
  ``{"op": "failed", "error"}``;
* ``{"op": "sweep"}`` → orphans of dead supervisors are killed → ``{"op": "swept"}``.

End of stream means the server is gone: every job is killed and the template exits.
"""

from __future__ import annotations

import gc
import logging
import os
import select
import signal
import socket
import sys
import warnings
from typing import NoReturn

from . import protocol, worker
from .isolation import PR_SET_CHILD_SUBREAPER, PR_SET_DUMPABLE, PidNamespaces, prctl
from .processes import children, kill_tree


class Template:
    def __init__(self, control: socket.socket, namespaces: PidNamespaces | None) -> None:
        self.control = control
        self.namespaces = namespaces
        self.supervisors: set[int] = set()
        #: the only process whose requests count (the kernel vouches for each sender's pid)
        self.server = os.getppid()

    def serve(self) -> NoReturn:
        wake_reader, wake_writer = os.pipe()
        os.set_blocking(wake_writer, False)
        signal.signal(signal.SIGCHLD, lambda number, frame: None)  # only to wake the select below
        signal.set_wakeup_fd(wake_writer)
        protocol.send_message(self.control, {"op": "ready", "pid": os.getpid(),
                                             "namespaces": self.namespaces is not None})
        while True:
            ready, _, _ = select.select([self.control, wake_reader], [], [])
            if wake_reader in ready:
                os.read(wake_reader, 4096)
                self._reap()
            if self.control in ready:
                try:
                    message, descriptors, sender = protocol.receive_message(self.control)
                except OSError:
                    message, descriptors, sender = None, [], None
                if message is None:
                    self._stop_everything()
                    os._exit(0)
                if sender != self.server:
                    # Someone holding the server's end of the socket (through /proc, where a
                    # job can see the server): ignored, and never answered.
                    for descriptor in descriptors:
                        os.close(descriptor)
                    print(f"vilvik-emulator job template: ignored a request from pid {sender}", file=sys.stderr)
                    continue
                self._handle(message, descriptors)

    def _handle(self, message: dict, descriptors: list[int]) -> None:
        if message.get("op") == "spawn" and len(descriptors) == 4:
            self._spawn(message, descriptors)
        elif message.get("op") == "sweep":
            for descriptor in descriptors:
                os.close(descriptor)
            self._reap()
            self._sweep()
            protocol.send_message(self.control, {"op": "swept"})
        else:
            for descriptor in descriptors:
                os.close(descriptor)
            protocol.send_message(self.control, {"op": "failed", "error": "unknown request"})

    def _spawn(self, message: dict, descriptors: list[int]) -> None:
        try:
            pid = self.namespaces.fork() if self.namespaces is not None else os.fork()
        except OSError as error:
            for descriptor in descriptors:
                os.close(descriptor)
            protocol.send_message(self.control, {"op": "failed", "error": f"fork failed: {error}"})
            return
        if pid == 0:
            worker.supervise(message["limits"], message["workdir"], *descriptors,
                             namespaced=self.namespaces is not None)
        for descriptor in descriptors:
            os.close(descriptor)
        self.supervisors.add(pid)
        # opened before this process can reap the supervisor, so it names that process for sure
        pidfd = os.pidfd_open(pid)
        try:
            protocol.send_message(self.control, {"op": "spawned", "pid": pid}, [pidfd])
        finally:
            os.close(pidfd)

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
        for pid in list(self.supervisors):
            if self.namespaces is not None:
                os.kill(pid, signal.SIGKILL)  # the init of the job's PID namespace: the kernel kills the rest
            else:
                kill_tree(pid)
        self._sweep()


WARM_UP_SPEC = {
    "parameters": {"num_generations": 2, "sol_per_pop": 4, "num_genes": 2, "num_parents_mating": 2,
                   "random_seed": 1},
    "code": {"fitness_func": "def fitness_func(ga, solution, index):\n    return -float(sum(solution * solution))\n",
             "fitness_func_entry": "fitness_func"},
}


def warm_up() -> None:
    """Run one tiny job here, so every job starts with the caches a first run fills.

    PyGAD's first ``GA`` in a process imports and compiles what later ones reuse; without
    this each job would pay it again (about 3 ms). Warnings are ignored (so none is marked
    as already shown for the jobs) and the logger the run attached is taken off again.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        worker.run_ga(WARM_UP_SPEC)
    logging.getLogger("pygad").handlers.clear()
    sys.modules.pop("vilvik_user_fitness_func", None)


def main(descriptor: int, namespaces: bool) -> NoReturn:
    """Entry point of ``python -c`` (see :mod:`.spawner`): serve the socket inherited as ``descriptor``."""
    prctl(PR_SET_DUMPABLE, 0)
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the server, which then closes the socket
    control = socket.socket(fileno=descriptor)
    template = Template(control, PidNamespaces.probe() if namespaces else None)
    warm_up()
    # Imported objects become immortal for the collector: a job's collections then never
    # touch (and copy) the pages the template shares with it.
    gc.collect()
    gc.freeze()
    sys.stdout.flush()
    template.serve()
