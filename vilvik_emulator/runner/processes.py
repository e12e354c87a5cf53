"""Process trees from ``/proc``: who a job started, how much it used, and stopping all of it.

A job's processes are found by parent links below its supervisor (a child subreaper, so
orphans re-attach to it while it lives), and for stopping also by session (the
supervisor is a session leader). Stopping freezes before it kills: SIGSTOP every process
found, look again (a process may have forked meanwhile), until nothing new appears; then
SIGKILL them all. Killing the supervisor first would hand its orphans to its parent.
"""

from __future__ import annotations

import collections
import os
import signal

PAGE_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int | str) -> list[bytes] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, session id) for every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(entry)
            if fields is not None:
                table[int(entry)] = (int(fields[1]), int(fields[3]))
    return table


def descendants(root: int, table: dict[int, tuple[int, int]] | None = None) -> set[int]:
    """Every process below ``root`` or in its session (``root`` itself excluded)."""
    table = process_table() if table is None else table
    children: dict[int, list[int]] = collections.defaultdict(list)
    for pid, (parent, _) in table.items():
        children[parent].append(pid)
    found = {pid for pid, (_, session) in table.items() if session == root and pid != root}
    stack = [root, *found]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    found.discard(root)
    return found


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != b"Z"


def _signal_all(pids: set[int], number: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, number)
        except (ProcessLookupError, PermissionError):
            pass


def kill_tree(root: int, *, include_root: bool = True) -> None:
    """Freeze and kill everything below ``root`` (and ``root`` itself unless told not to)."""
    frozen: set[int] = set()
    for _ in range(1000):  # each round can only find processes forked since the last one
        found = descendants(root) - frozen
        if include_root and root not in frozen and alive(root):
            found.add(root)
        if not found:
            break
        _signal_all(found, signal.SIGSTOP)
        frozen |= found
    _signal_all(frozen, signal.SIGKILL)
    _signal_all(frozen, signal.SIGCONT)  # a stopped process dies of SIGKILL anyway; this is belt and braces
    if include_root:
        try:
            os.killpg(root, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def children(pid: int) -> list[int]:
    """The children of ``pid`` from ``/proc/<pid>/task/*/children`` (no scan of all of ``/proc``)."""
    found: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for thread in threads:
        try:
            with open(f"/proc/{pid}/task/{thread}/children", "rb") as handle:
                found.extend(int(child) for child in handle.read().split())
        except (OSError, ValueError):
            pass
    return found


def subtree(root: int) -> set[int]:
    """``root`` and every process below it by parent links.

    Complete for a job: its supervisor is a child subreaper (or the init of the job's PID
    namespace), so every process the job starts stays below it, whatever its session.
    """
    found = {root}
    stack = [root]
    while stack:
        for child in children(stack.pop()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def tree_usage(root: int) -> tuple[float, float, int]:
    """(CPU seconds of the tree, the largest peak RSS in MB, how many processes below ``root``).

    CPU counts each live process's own time plus that of the children it has reaped, so
    processes that already ended are counted too (in their reaper's ``cutime``/``cstime``).
    """
    tree = subtree(root)
    cpu = 0.0
    peak = 0.0
    for pid in tree:
        fields = _stat_fields(pid)
        if fields is not None:
            cpu += sum(int(value) for value in fields[11:15]) / PAGE_TICKS
        try:
            with open(f"/proc/{pid}/status", "rb") as handle:
                for line in handle:
                    if line.startswith(b"VmHWM:"):
                        peak = max(peak, int(line.split()[1]) / 1024)
                        break
        except (OSError, ValueError, IndexError):
            pass
    return cpu, peak, len(tree) - 1
