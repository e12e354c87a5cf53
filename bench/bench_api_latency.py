"""API latency over loopback: p50/p99 of fetching one submission, fetching one list page
(default page size 20) and creating a submission (with an ``Idempotency-Key``, as the SDK
does), with 100 and with 10,000 stored submissions, each level on its own server started
on a copy of a database filled through the API. The server runs in ``manual`` mode, so no
PyGAD job competes for the CPU. One client, one keep-alive connection, one request at a
time: the figures are latencies, not throughput.

Run alone with ``.venv/bin/python bench/bench_api_latency.py``.
"""

from __future__ import annotations

from common import (Comparison, DatabaseCache, Latency, Report, ServerProcess, api_session,
                    create_submission, format_seconds, measure, print_report, rows_label, shared_cache)

SMALL, LARGE = 100, 10_000
GET_SAMPLES, GET_WARMUP = 300, 20
CREATE_SAMPLES, CREATE_WARMUP = 200, 20
#: the timed GETs of one submission are paced to span at least this long (several of the
#: server's checkpoint cycles), as a client polling a submission would
SPREAD_SECONDS = 8.0
#: a measure stops after this many seconds once it has 100 samples (only a slow list page
#: at 10k rows gets there); the report prints how many requests were timed
BUDGET_SECONDS = 25.0
TIMEOUT = 60

PAGE_SIZE = 20  # the contract's default page size; the list requests rely on it

MEASURES = ("GET /submissions/<id>", f"GET /submissions (page of {PAGE_SIZE})", "POST /submissions")


def measure_level(cache: DatabaseCache, submissions: int) -> dict[str, Latency]:
    with ServerProcess(cache.copy(submissions, f"latency-{submissions}")) as server, api_session() as session:
        base = server.base_url
        stored = session.get(f"{server.root_url}/_emulator/health", timeout=TIMEOUT).json()
        if stored["store"]["tables"].get("submissions") != submissions:
            raise RuntimeError(f"expected {submissions} stored submissions: {stored['store']}")
        page = session.get(f"{base}/submissions", timeout=TIMEOUT).json()
        ids = [row["id"] for row in page["results"]]
        if len(ids) != PAGE_SIZE:
            raise RuntimeError(f"expected a default page of {PAGE_SIZE} rows, got {len(ids)}")
        # Reads first, creates last: the creates add rows, the reads see exactly `submissions`.
        return {
            MEASURES[0]: measure(lambda i: session.get(f"{base}/submissions/{ids[i % len(ids)]}", timeout=TIMEOUT),
                                 samples=GET_SAMPLES, warmup=GET_WARMUP, spread_seconds=SPREAD_SECONDS),
            MEASURES[1]: measure(lambda i: session.get(f"{base}/submissions", timeout=TIMEOUT),
                                 samples=GET_SAMPLES, warmup=GET_WARMUP, budget_seconds=BUDGET_SECONDS),
            MEASURES[2]: measure(lambda i: create_submission(session, base), samples=CREATE_SAMPLES,
                                 warmup=CREATE_WARMUP, expected_status=202, budget_seconds=BUDGET_SECONDS),
        }


def run(cache: DatabaseCache | None = None) -> Report:
    cache = cache or shared_cache()
    cache.built(LARGE)  # filled before any timing starts
    levels = {submissions: measure_level(cache, submissions) for submissions in (SMALL, LARGE)}
    comparisons = []
    for name in MEASURES:
        small, large = levels[SMALL][name], levels[LARGE][name]
        for statistic in ("p50", "p99"):
            comparisons.append(Comparison("api latency", f"{name} {statistic}", rows_label(SMALL),
                                          getattr(small, statistic), rows_label(LARGE), getattr(large, statistic)))
    notes = []
    for submissions, figures in levels.items():
        measured = sum(latency.count for latency in figures.values())
        warmup = sum(latency.warmup for latency in figures.values())
        details = "; ".join(f"{name}: n={latency.count}, mean {format_seconds(latency.mean)}, "
                            f"max {format_seconds(latency.max)}" for name, latency in figures.items())
        notes.append(f"{rows_label(submissions)}: {measured} requests measured (+{warmup} warm-up) -- {details}")
    return Report("api latency", comparisons, notes)


def main() -> None:
    print_report(run())


if __name__ == "__main__":
    main()
