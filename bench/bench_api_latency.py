"""API latency over loopback, one client on one keep-alive connection, one request at a time.

1. Against bare Flask: p50 of ``GET /submissions/<id>`` against a Flask app answering
   "hello" on waitress (the emulator's own kind of server; goal <= 1.5x) and on werkzeug's
   development server (what the emulator used to run on; goal <= 0.8x), and p50 of
   ``POST /submissions`` (with an ``Idempotency-Key``, as the SDK sends) against the hello
   app on cheroot (goal <= 4x). The emulator's and the baselines' requests are timed in
   turn, so every ratio compares figures taken under the same load of the machine.
2. Against the number of rows: p50/p99 of fetching one submission, fetching one list page
   (default page size 20) and creating a submission, with 100 and with 10,000 stored
   submissions, each level on its own server started on a copy of a database filled
   through the API.

The server runs in ``manual`` mode, so no PyGAD job competes for the CPU. Run alone with
``.venv/bin/python bench/bench_api_latency.py``.
"""

from __future__ import annotations

from common import (
    Comparison,
    DatabaseCache,
    Latency,
    Report,
    ServerProcess,
    api_session,
    create_submission,
    format_seconds,
    free_port,
    measure,
    measure_alternating,
    print_report,
    rows_label,
    shared_cache,
)
from hello_servers import HelloServer

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

DETAIL, PAGE, CREATE = "GET /submissions/<id>", f"GET /submissions (page of {PAGE_SIZE})", "POST /submissions"
MEASURES = (DETAIL, PAGE, CREATE)
#: (emulator measure, baseline server, goal for the ratio emulator / baseline)
AGAINST_FLASK = ((DETAIL, "waitress", 1.5), (DETAIL, "werkzeug", 0.8), (CREATE, "cheroot", 4.0))


def _stored_ids(session, server: ServerProcess, submissions: int) -> list[str]:
    stored = session.get(f"{server.root_url}/_emulator/health", timeout=TIMEOUT).json()
    if stored["store"]["tables"].get("submissions") != submissions:
        raise RuntimeError(f"expected {submissions} stored submissions: {stored['store']}")
    page = session.get(f"{server.base_url}/submissions", timeout=TIMEOUT).json()
    ids = [row["id"] for row in page["results"]]
    if len(ids) != PAGE_SIZE:
        raise RuntimeError(f"expected a default page of {PAGE_SIZE} rows, got {len(ids)}")
    return ids


def against_flask(cache: DatabaseCache) -> dict[tuple[str, str], tuple[Latency, Latency]]:
    """(measure, baseline) -> (the emulator's latency, the hello app's), timed in turn."""
    kinds = sorted({kind for _, kind, _ in AGAINST_FLASK})
    with ServerProcess(cache.copy(SMALL, "against-flask")) as server, api_session() as session:
        ids = _stored_ids(session, server, SMALL)
        hellos = {kind: HelloServer(kind, free_port()) for kind in kinds}
        try:
            clients = {kind: api_session() for kind in kinds}  # one connection each, as the SDK has

            def hello(kind: str):
                return lambda i: clients[kind].get(hellos[kind].url, timeout=TIMEOUT)

            detail_kinds = [kind for measure_name, kind, _ in AGAINST_FLASK if measure_name == DETAIL]
            details = measure_alternating(
                {DETAIL: (lambda i: session.get(f"{server.base_url}/submissions/{ids[i % len(ids)]}",
                                                timeout=TIMEOUT), 200),
                 **{kind: (hello(kind), 200) for kind in detail_kinds}},
                samples=GET_SAMPLES, warmup=GET_WARMUP, spread_seconds=SPREAD_SECONDS)
            create_kinds = [kind for measure_name, kind, _ in AGAINST_FLASK if measure_name == CREATE]
            creates = measure_alternating(
                {CREATE: (lambda i: create_submission(session, server.base_url), 202),
                 **{kind: (hello(kind), 200) for kind in create_kinds}},
                samples=CREATE_SAMPLES, warmup=CREATE_WARMUP)
        finally:
            for hello_server in hellos.values():
                hello_server.close()
    figures = {DETAIL: details, CREATE: creates}
    return {(name, kind): (figures[name][name], figures[name][kind]) for name, kind, _ in AGAINST_FLASK}


def measure_level(cache: DatabaseCache, submissions: int) -> dict[str, Latency]:
    with ServerProcess(cache.copy(submissions, f"latency-{submissions}")) as server, api_session() as session:
        base = server.base_url
        ids = _stored_ids(session, server, submissions)
        # Reads first, creates last: the creates add rows, the reads see exactly `submissions`.
        return {
            DETAIL: measure(lambda i: session.get(f"{base}/submissions/{ids[i % len(ids)]}", timeout=TIMEOUT),
                            samples=GET_SAMPLES, warmup=GET_WARMUP, spread_seconds=SPREAD_SECONDS),
            PAGE: measure(lambda i: session.get(f"{base}/submissions", timeout=TIMEOUT),
                          samples=GET_SAMPLES, warmup=GET_WARMUP, budget_seconds=BUDGET_SECONDS),
            CREATE: measure(lambda i: create_submission(session, base), samples=CREATE_SAMPLES,
                            warmup=CREATE_WARMUP, expected_status=202, budget_seconds=BUDGET_SECONDS),
        }


def run(cache: DatabaseCache | None = None) -> Report:
    cache = cache or shared_cache()
    cache.built(LARGE)  # filled before any timing starts
    comparisons, notes = [], []
    flask = against_flask(cache)
    for name, kind, goal in AGAINST_FLASK:
        emulator, baseline = flask[(name, kind)]
        comparisons.append(Comparison("api latency", f"{name} p50 vs bare Flask (goal <= {goal:g}x)",
                                      f"hello on {kind}", baseline.p50, f"emulator, {rows_label(SMALL)}",
                                      emulator.p50))
        notes.append(f"vs hello on {kind}: {name} n={emulator.count}, mean {format_seconds(emulator.mean)}; "
                     f"hello n={baseline.count}, mean {format_seconds(baseline.mean)}, "
                     f"p99 {format_seconds(baseline.p99)}")
    levels = {submissions: measure_level(cache, submissions) for submissions in (SMALL, LARGE)}
    for name in MEASURES:
        small, large = levels[SMALL][name], levels[LARGE][name]
        for statistic in ("p50", "p99"):
            comparisons.append(Comparison("api latency", f"{name} {statistic}", rows_label(SMALL),
                                          getattr(small, statistic), rows_label(LARGE), getattr(large, statistic)))
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
