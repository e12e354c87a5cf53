"""Shared plumbing for the benchmarks: the real emulator as a subprocess, filling it
through the API, latency statistics and the comparison table every benchmark prints.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

API_KEY = "vlk_test_bench_0123456789abcdef"
FILL_THREADS = 4

#: the SDK README's example problem (5 genes, 100 generations) with a small population
CREATE_BODY = {
    "fitness_func": "def fitness_func(ga_instance, solution, solution_idx):\n"
                    "    return -sum(x * x for x in solution)\n",
    "fitness_func_entry": "fitness_func",
    "num_genes": 5,
    "num_generations": 100,
    "sol_per_pop": 10,
    "num_parents_mating": 4,
}

try:
    from vilvik._version import __version__ as _SDK_VERSION
except ImportError:  # the SDK is a test extra; the headers only mimic it
    _SDK_VERSION = "0.5.7"


# ---------------------------------------------------------------------- the server

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerProcess:
    """``vilvik-emulator serve`` in a child process, on a free port, with a fixed key.

    ``memory=True`` serves ``--memory`` (no database file) instead of ``--db db_path``.
    ``start()`` returns once ``/_emulator/health`` answered 200. ``startup_seconds`` is
    the time from spawning the process to that first 200; ``stop_seconds`` the time from
    SIGTERM to the exit, which includes the final checkpoint of the database. The port
    is chosen here rather than with ``--port 0`` so that the health check can be polled
    from the moment of the spawn; the banner is still parsed and checked against it.
    """

    STARTUP_TIMEOUT = 60.0

    def __init__(self, db_path: Path, *, api_key: str = API_KEY, mode: str = "manual", memory: bool = False,
                 extra_args: tuple[str, ...] = ()) -> None:
        self.db_path = Path(db_path)  # with ``memory``, only its directory is used (the working directory)
        self.api_key = api_key
        self.mode = mode
        self.memory = memory
        self.extra_args = extra_args
        self.process: subprocess.Popen | None = None
        self.port = 0
        self.base_url = ""
        self.startup_seconds = 0.0
        self.stop_seconds = 0.0
        self.stderr = ""
        self._lines: list[str] = []
        self._banner_done = threading.Event()
        self._reader: threading.Thread | None = None
        self._stderr_file = None

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server is not running"
        return self.process.pid

    def command(self) -> list[str]:
        storage = ["--memory"] if self.memory else ["--db", str(self.db_path)]
        return [sys.executable, "-m", "vilvik_emulator", "serve", *storage,
                "--port", str(self.port), "--mode", self.mode, "--api-key", self.api_key, *self.extra_args]

    def start(self, attempts: int = 3) -> ServerProcess:
        for attempt in range(attempts):
            try:
                return self._start_once()
            except _PortTaken:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def _start_once(self) -> ServerProcess:
        self.port = free_port()
        self._lines = []
        self._banner_done.clear()
        self._stderr_file = tempfile.TemporaryFile("w+")  # noqa: SIM115 - read and closed in stop()
        spawned = time.perf_counter()
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.PIPE, stderr=self._stderr_file, text=True,
            cwd=self.db_path.parent, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            self._reader = threading.Thread(target=self._read_stdout, daemon=True)
            self._reader.start()
            self._wait_healthy(spawned)
            self.startup_seconds = time.perf_counter() - spawned
            if not self._banner_done.wait(self.STARTUP_TIMEOUT):
                raise RuntimeError("the server answered but printed no banner:\n" + "".join(self._lines))
            self._check_banner()
        except BaseException:
            self.stop()
            raise
        return self

    def _read_stdout(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:  # drained to the end so the child never blocks on a full pipe
            self._lines.append(line)
            if line.startswith("Press Ctrl-C"):
                self._banner_done.set()
        self._banner_done.set()

    def _wait_healthy(self, spawned: float) -> None:
        url = f"{self.root_url}/_emulator/health"
        with requests.Session() as probe:
            while time.perf_counter() - spawned < self.STARTUP_TIMEOUT:
                if self.process.poll() is not None:
                    self._stderr_file.seek(0)
                    error = self._stderr_file.read()
                    if "cannot listen" in error:
                        raise _PortTaken(error)
                    raise RuntimeError(f"the server exited with {self.process.returncode}:\n{error}")
                try:
                    if probe.get(url, timeout=5).status_code == 200:
                        return
                except requests.ConnectionError:
                    pass
                time.sleep(0.002)
        raise RuntimeError(f"the server did not answer {url} within {self.STARTUP_TIMEOUT:.0f} s")

    def _check_banner(self) -> None:
        banner = "".join(self._lines)
        url = re.search(r"base URL:\s+(\S+)", banner)
        key = re.search(r"API key:\s+(\S+)", banner)
        if url is None or key is None:
            raise RuntimeError(f"unexpected banner:\n{banner}")
        self.base_url = url.group(1)
        if self.base_url != f"{self.root_url}/api/v1" or key.group(1) != self.api_key:
            raise RuntimeError(f"the banner does not match the port {self.port} and key {self.api_key}:\n{banner}")

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM (the server stops its jobs and checkpoints the database), then wait.

        Returns the exit code; what the server wrote to stderr is kept in ``stderr``.
        """
        if self.process is None:
            return 0
        stopping = time.perf_counter()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.stop_seconds = time.perf_counter() - stopping
        if self._reader is not None:
            self._reader.join(timeout=5)
        self._stderr_file.seek(0)
        self.stderr = self._stderr_file.read()
        self._stderr_file.close()
        code = self.process.returncode
        self.process = None
        return code

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _PortTaken(RuntimeError):
    """Another process took the free port between the probe and the server's bind."""


# ---------------------------------------------------------------------- the client

def api_session(api_key: str = API_KEY) -> requests.Session:
    """A ``requests`` session sending the headers the official SDK sends.

    Like the SDK's, it keeps its connection alive between requests (the emulator's server
    allows it; werkzeug's development server, a baseline, closes every connection).
    """
    session = requests.Session()
    session.headers.update({
        "Authorization": f"Bearer {api_key}",
        "Accept": "application/json",
        "User-Agent": f"vilvik-python/{_SDK_VERSION}",
    })
    return session


def create_submission(session: requests.Session, base_url: str, *, idempotent: bool = True) -> requests.Response:
    """POST the example problem as the SDK does: a JSON body and, unless told otherwise, a
    fresh UUID4 ``Idempotency-Key`` (which costs the server an extra record and fsync)."""
    headers = {"Content-Type": "application/json"}
    if idempotent:
        headers["Idempotency-Key"] = str(uuid.uuid4())
    response = session.post(f"{base_url}/submissions", data=json.dumps(CREATE_BODY), headers=headers, timeout=60)
    if response.status_code != 202:
        raise RuntimeError(f"create answered {response.status_code}: {response.text[:500]}")
    return response


def fill(base_url: str, count: int, *, api_key: str = API_KEY, threads: int = FILL_THREADS) -> float:
    """Create ``count`` submissions through the API from ``threads`` clients; returns seconds taken.

    The fill sends no ``Idempotency-Key``: it is set-up, not a measurement, and skipping the
    idempotency record nearly halves its time (the measured creates do send one).
    """
    shares = [count // threads + (1 if index < count % threads else 0) for index in range(threads)]

    def create_many(share: int) -> None:
        with api_session(api_key) as session:
            for _ in range(share):
                create_submission(session, base_url, idempotent=False)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(create_many, share) for share in shares if share]:
            future.result()
    return time.perf_counter() - started


# ---------------------------------------------------------------------- databases

@dataclass
class BuiltDatabase:
    path: Path
    submissions: int
    fill_seconds: float
    size_bytes: int


class DatabaseCache:
    """Databases holding N submissions, each filled once through the API and then copied.

    Filling 10,000 rows takes a while, so every benchmark in one ``run_all`` run shares
    them. A database is built by a server in ``manual`` mode and closed with SIGTERM, so
    the file on disk is a complete checkpoint with no journal beside it.
    """

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="vilvik-bench-"))
        self._built: dict[int, BuiltDatabase] = {}
        atexit.register(self.close)

    def new_path(self, label: str) -> Path:
        """A path for a new database file in its own empty directory."""
        directory = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=self.root))
        return directory / "db.json"

    def built(self, submissions: int) -> BuiltDatabase:
        if submissions not in self._built:
            path = self.new_path(f"template-{submissions}")
            server = ServerProcess(path).start()
            try:
                seconds = fill(server.base_url, submissions)
            finally:
                code = server.stop()
            if code != 0:
                raise RuntimeError(f"the server filling {path} exited with {code}:\n{server.stderr}")
            self._built[submissions] = BuiltDatabase(path, submissions, seconds, path.stat().st_size)
        return self._built[submissions]

    def built_databases(self) -> list[BuiltDatabase]:
        return [self._built[submissions] for submissions in sorted(self._built)]

    def copy(self, submissions: int, label: str) -> Path:
        """A private copy of the database holding ``submissions`` rows (``0``: no file yet)."""
        target = self.new_path(label)
        if submissions:
            source = self.built(submissions).path
            for sibling in source.parent.iterdir():
                if sibling.is_dir():
                    shutil.copytree(sibling, target.parent / sibling.name)
                else:
                    shutil.copy2(sibling, target.parent / sibling.name)
        return target

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


_shared_cache: DatabaseCache | None = None


def shared_cache() -> DatabaseCache:
    """The one cache of a process, so that ``run_all`` fills each size only once."""
    global _shared_cache
    if _shared_cache is None:
        _shared_cache = DatabaseCache()
    return _shared_cache


# ---------------------------------------------------------------------- statistics

def percentile(samples: list[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default method)."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("no samples")
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Latency:
    count: int
    warmup: int
    p50: float
    p99: float
    mean: float
    max: float

    @classmethod
    def of(cls, samples: list[float], warmup: int) -> Latency:
        return cls(len(samples), warmup, percentile(samples, 0.50), percentile(samples, 0.99),
                   statistics.fmean(samples), max(samples))


def measure(call: Callable[[int], requests.Response], *, samples: int, warmup: int,
            expected_status: int = 200, spread_seconds: float = 0.0, budget_seconds: float | None = None,
            min_samples: int = 100) -> Latency:
    """Time up to ``samples`` calls of ``call(i)`` after ``warmup`` untimed ones.

    Every call must answer ``expected_status`` (a fast error would be a false figure).
    ``spread_seconds`` paces the timed calls (the pauses are not timed) so that they span
    at least that long: a fast endpoint is then sampled across several cycles of the
    server's background work (its checkpoints run every few seconds) instead of between
    two of them. With ``budget_seconds``, measuring stops early once the budget is spent
    and at least ``min_samples`` calls were timed, so a pathologically slow endpoint
    cannot stretch the run; the returned ``count`` says how many were timed.
    """
    for index in range(warmup):
        _checked(call(index), expected_status)
    timings: list[float] = []
    measuring_since = time.perf_counter()
    for index in range(samples):
        if (budget_seconds is not None and len(timings) >= min_samples
                and time.perf_counter() - measuring_since > budget_seconds):
            break
        pause = measuring_since + index * spread_seconds / samples - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        started = time.perf_counter()
        response = call(warmup + index)
        timings.append(time.perf_counter() - started)
        _checked(response, expected_status)
    return Latency.of(timings, warmup)


def measure_alternating(calls: dict[str, tuple[Callable[[int], requests.Response], int]], *, samples: int,
                        warmup: int, spread_seconds: float = 0.0) -> dict[str, Latency]:
    """:func:`measure` for several calls timed in turn (a, b, c, b, c, a, c, a, b, ...),
    each given with the status it must answer: a ratio between two of them then compares
    figures taken under the same load of the machine, which on a shared machine moves
    more than the figures do. The order rotates because the first call after a pause
    (``spread_seconds``) is slower: the machine has to wake up."""
    for index in range(warmup):
        for call, expected_status in calls.values():
            _checked(call(index), expected_status)
    timings: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    measuring_since = time.perf_counter()
    for index in range(samples):
        pause = measuring_since + index * spread_seconds / samples - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        for name in names[index % len(names):] + names[:index % len(names)]:
            call, expected_status = calls[name]
            started = time.perf_counter()
            response = call(warmup + index)
            timings[name].append(time.perf_counter() - started)
            _checked(response, expected_status)
    return {name: Latency.of(values, warmup) for name, values in timings.items()}


def _checked(response: requests.Response, expected_status: int) -> None:
    if response.status_code != expected_status:
        raise RuntimeError(f"expected {expected_status}, got {response.status_code}: {response.text[:500]}")


# ---------------------------------------------------------------------- reporting

@dataclass(frozen=True)
class Comparison:
    """One figure measured twice in the same run; the ratio is subject / baseline."""

    benchmark: str
    measure: str
    baseline_label: str
    baseline: float  # seconds
    subject_label: str
    subject: float  # seconds

    @property
    def ratio(self) -> float:
        return self.subject / self.baseline if self.baseline else float("inf")


@dataclass
class Report:
    benchmark: str
    comparisons: list[Comparison] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def rows_label(count: int) -> str:
    return f"{count // 1000}k rows" if count >= 1000 and count % 1000 == 0 else f"{count} rows"


def format_seconds(seconds: float) -> str:
    milliseconds = seconds * 1000
    if milliseconds >= 100:
        return f"{milliseconds:.0f} ms"
    if milliseconds >= 10:
        return f"{milliseconds:.1f} ms"
    return f"{milliseconds:.2f} ms"


def format_table(comparisons: list[Comparison]) -> str:
    header = ("benchmark", "measure", "baseline", "subject", "ratio")
    rows = [(c.benchmark, c.measure, f"{c.baseline_label}: {format_seconds(c.baseline)}",
             f"{c.subject_label}: {format_seconds(c.subject)}", f"{c.ratio:.2f}x") for c in comparisons]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(cell.rjust(width) if column == 4 else cell.ljust(width)
                         for column, (cell, width) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(header), line(tuple("-" * width for width in widths)), *map(line, rows)])


def print_report(report: Report) -> None:
    print(format_table(report.comparisons))
    for note in report.notes:
        print(f"  {note}")


def machine() -> str:
    """What the figures depend on, including the load other processes put on the machine."""
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (f"{os.cpu_count()} CPUs (load average {load}), Python {sys.version.split()[0]}, "
            f"{sys.platform}, {time.strftime('%Y-%m-%d %H:%M %Z')}")
