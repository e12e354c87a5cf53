"""Startup: time from spawning ``vilvik-emulator serve`` to the first 200 from
``/_emulator/health``, on a fresh database and on one holding 10,000 submissions (goal:
at most 1.3x), and the time from SIGTERM to the exit, which checkpoints the database
only if anything changed. The 10k-row database is a copy of one a server filled and then
stopped cleanly, as a developer restarting the emulator on their database has it (its
load cache, ``db.json.cache``, included).

Run alone with ``.venv/bin/python bench/bench_startup.py``.
"""

from __future__ import annotations

import statistics

from common import Comparison, DatabaseCache, Report, ServerProcess, print_report, rows_label, shared_cache

RUNS = 7
LARGE = 10_000


def run(cache: DatabaseCache | None = None) -> Report:
    cache = cache or shared_cache()
    large = cache.built(LARGE)  # filled before any timing starts
    cache_file = large.path.with_name(large.path.name + ".cache")
    starts: dict[int, list[float]] = {0: [], LARGE: []}
    stops: dict[int, list[float]] = {0: [], LARGE: []}
    for run_index in range(RUNS):
        # Alternating the two databases spreads any drift of the machine over both.
        for submissions in (0, LARGE):
            server = ServerProcess(cache.copy(submissions, f"startup-{submissions}-{run_index}")).start()
            starts[submissions].append(server.startup_seconds)
            code = server.stop()
            if code != 0:
                raise RuntimeError(f"the server exited with {code} after SIGTERM:\n{server.stderr}")
            stops[submissions].append(server.stop_seconds)

    def runs(values: list[float]) -> str:
        return ", ".join(f"{value * 1000:.0f}" for value in values) + " ms"

    return Report("startup", [
        Comparison("startup", f"spawn -> first 200 /health, median of {RUNS} (goal <= 1.3x)",
                   "fresh db", statistics.median(starts[0]), rows_label(LARGE), statistics.median(starts[LARGE])),
        Comparison("startup", f"SIGTERM -> exit (nothing changed), median of {RUNS}",
                   "fresh db", statistics.median(stops[0]), rows_label(LARGE), statistics.median(stops[LARGE])),
    ], [
        f"startup runs: fresh db {runs(starts[0])}; {rows_label(LARGE)} {runs(starts[LARGE])}",
        f"database file with {rows_label(LARGE)}: {large.size_bytes / 1e6:.1f} MB"
        + (f", load cache {cache_file.stat().st_size / 1e6:.1f} MB" if cache_file.exists() else ", no load cache"),
    ])


def main() -> None:
    print_report(run())


if __name__ == "__main__":
    main()
