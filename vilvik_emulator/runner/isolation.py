"""The kernel knobs that contain a job: prctl flags, capabilities, namespaces, descriptors and
the environment a job gets. Linux only; each knob degrades to "not available" rather than fail.

Used by the job template (:mod:`.template`) and the worker (:mod:`.worker`), never by
the server itself except :func:`job_environment`.
"""

from __future__ import annotations

import ctypes
import os
import struct
from collections.abc import Mapping

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 1 << 14, 1 << 18
LINUX_CAPABILITY_VERSION_3 = 0x20080522

#: BLAS thread pools only fight the other jobs for the cores, and their per-thread buffers
#: trip the address-space limit: every job uses one thread.
SINGLE_THREAD_ENVIRONMENT = {name: "1" for name in (
    "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS")}
#: what a job keeps of the server's environment: where programs are, who and where the
#: user is, the locale and the time zone. Everything else (the emulator's admin token and
#: API keys, the user's cloud credentials, proxies, PYTHONPATH hooks...) stays behind.
KEPT_VARIABLES = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR")

_libc = ctypes.CDLL(None, use_errno=True)


def _call(function: str, *arguments: object) -> bool:
    return getattr(_libc, function)(*arguments) == 0


def prctl(option: int, value: int) -> bool:
    return _call("prctl", ctypes.c_int(option), ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0),
                 ctypes.c_ulong(0))


def job_environment(server_environment: Mapping[str, str]) -> dict[str, str]:
    """The environment of the job template, hence of every job (see :data:`KEPT_VARIABLES`)."""
    environment = {name: value for name, value in server_environment.items()
                   if name in KEPT_VARIABLES or name.startswith("LC_")}
    environment.setdefault("PATH", os.defpath)
    environment.update(SINGLE_THREAD_ENVIRONMENT)
    # str hashes (hence set and dict-of-set orders a fitness function may depend on) are the
    # same in every job, in every template the server ever starts: same seed, same result.
    environment["PYTHONHASHSEED"] = "0"
    return environment


def close_descriptors_except(keep: set[int]) -> None:
    """Close every descriptor from 3 up except ``keep`` (one ``close_range`` call per gap)."""
    low = 3
    for descriptor in sorted(number for number in keep if number >= 3):
        if descriptor > low:
            os.closerange(low, descriptor)
        low = descriptor + 1
    os.closerange(low, 1 << 20)


def _last_capability() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as handle:
            return int(handle.read())
    except (OSError, ValueError):
        return 63


#: read once, in the template, so no job pays for it
LAST_CAPABILITY = _last_capability()
_prctl = _libc.prctl
_capset = _libc.capset


def drop_capabilities() -> None:
    """Give up every capability, now and across ``exec`` (only root has any to give up).

    Without this, a job started by root could open any process's descriptors through
    ``/proc`` (CAP_SYS_PTRACE) or raise its own limits back (CAP_SYS_RESOURCE).
    """
    if os.geteuid() != 0:
        return
    for capability in range(LAST_CAPABILITY + 1):  # the bounding set: what an exec'd program may get back
        _prctl(PR_CAPBSET_DROP, capability, 0, 0, 0)
    header = ctypes.create_string_buffer(struct.pack("Ii", LINUX_CAPABILITY_VERSION_3, 0))
    data = ctypes.create_string_buffer(struct.pack("IIIIII", 0, 0, 0, 0, 0, 0))
    _capset(header, data)


class PidNamespaces:
    """Makes the next child of the calling process the first process (pid 1) of a new PID namespace.

    ``unshare(CLONE_NEWPID)`` applies to the caller's *next* children only, and only once;
    going back to the caller's own namespace with ``setns`` lets the next job get a fresh one.
    """

    def __init__(self) -> None:
        self.own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)

    @classmethod
    def probe(cls) -> PidNamespaces | None:
        """Namespaces for jobs if this process may make them (CAP_SYS_ADMIN), else ``None``.

        Tried for real once, in a throw-away child: a container may grant ``unshare`` and
        still refuse to mount a ``/proc``.
        """
        if os.geteuid() != 0:
            return None
        try:
            namespaces = cls()
            child = namespaces.fork()
        except OSError:
            return None
        if child == 0:
            try:
                private_proc()
                os._exit(0 if os.listdir("/proc") and os.getpid() == 1 else 1)
            except BaseException:
                os._exit(1)
        _, status = os.waitpid(child, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            os.close(namespaces.own)
            return None
        return namespaces

    def fork(self) -> int:
        if not _call("unshare", CLONE_NEWPID):
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWPID) failed")
        try:
            return os.fork()
        finally:
            if os.getpid() != 1 and not _call("setns", self.own, CLONE_NEWPID):
                raise OSError(ctypes.get_errno(), "setns back to the template's PID namespace failed")


def private_proc() -> None:
    """In a new mount namespace, mount a ``/proc`` that shows only this PID namespace's processes."""
    if not _call("unshare", CLONE_NEWNS):
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS) failed")
    # private first: the new /proc must not propagate back to the host's mount table
    if not _call("mount", None, b"/", None, ctypes.c_ulong(MS_REC | MS_PRIVATE), None):
        raise OSError(ctypes.get_errno(), "making / private failed")
    if not _call("mount", b"proc", b"/proc", b"proc", ctypes.c_ulong(MS_NOSUID | MS_NODEV | MS_NOEXEC), None):
        raise OSError(ctypes.get_errno(), "mounting /proc failed")
