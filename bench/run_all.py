"""Run every benchmark in one process and print one compact report (``make bench``).

``python bench/run_all.py [name ...]`` runs only the named benchmarks (e.g. ``startup``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import sys
import time

from common import FILL_THREADS, format_table, machine, shared_cache

#: Benchmark modules in run order. Each exposes ``run(cache) -> common.Report``;
#: a new benchmark is one module plus one line here.
BENCHMARKS = {
    "api_latency": "bench_api_latency",
    "startup": "bench_startup",
    "jobs": "bench_jobs",
    "plugin": "bench_plugin",
    "intercept": "bench_intercept",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="name",
                        help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})")
    names = parser.parse_args(argv).names or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")

    started = time.perf_counter()
    load_at_start = os.getloadavg()  # the one printed with the report is taken at the end, with this run's own load
    cache = shared_cache()
    reports = []
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        reports.append(importlib.import_module(BENCHMARKS[name]).run(cache))

    print(f"vilvik-emulator benchmarks -- {machine()}")
    print(f"load average when the run started: {', '.join(f'{value:.1f}' for value in load_at_start)}")
    print(f"command: cd {shlex.quote(os.getcwd())} && {shlex.join(sys.orig_argv)}")
    print()
    print(format_table([comparison for report in reports for comparison in report.comparisons]))
    print()
    print("ratio = subject / baseline, both measured in this run; 1.00x means no change.")
    for built in cache.built_databases():
        print(f"  database of {built.submissions} submissions: filled through the API in {built.fill_seconds:.1f} s "
              f"({built.submissions / built.fill_seconds:.0f} creates/s, {FILL_THREADS} client threads), "
              f"{built.size_bytes / 1e6:.1f} MB")
    for report in reports:
        for note in report.notes:
            print(f"  {report.benchmark}: {note}")
    print(f"total: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
