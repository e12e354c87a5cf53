"""What intercept mode costs (``mock_vilvik``, the ``vilvik_mock`` fixture).

* fixture set-up: a generated module of 30 tests is run by pytest in a child process, once
  with ``vilvik_mock`` and once with ``vilvik_client``; a conftest hook times each test's
  set-up (the first one starts the worker's emulator, later ones reset it);
* SDK call latency (create, get, one list page) for the same emulator three ways, in the
  same run, alternating: ``vilvik.Client()`` inside ``mock_vilvik`` (the interception),
  ``vilvik.Client(session=inprocess_session(app))`` (the explicit in-process transport) and
  loopback HTTP.

``python bench/bench_intercept.py`` runs it alone; ``bench/run_all.py intercept`` with the others.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import Comparison, Report, print_report

TESTS = 30
SDK_CALLS = 200
WARMUP = 10

USER_TESTS = '''
import pytest
import vilvik

SOURCE = "def fitness_func(ga_instance, solution, solution_idx):\\n    return 0\\n"


@pytest.mark.parametrize("index", range({tests}))
@pytest.mark.vilvik_mode("manual")
def test_user({fixture}, index):
    client = {client}
    client.submissions.create(fitness_func=SOURCE, num_genes=2, name=f"t{{index}}")
'''


#: measures each test's set-up to the microsecond (pytest's --durations rounds to 10 ms)
TIMING_CONFTEST = '''
import json, time
import pytest

SETUPS = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    started = time.perf_counter()
    yield
    SETUPS[item.name] = time.perf_counter() - started


def pytest_sessionfinish(session):
    with open("setups.json", "w") as handle:
        json.dump(SETUPS, handle)
'''


def fixture_setup(fixture: str, client: str) -> tuple[float, float]:
    """(first test's set-up, median of the later ones) in seconds."""
    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / "test_user.py").write_text(USER_TESTS.format(tests=TESTS, fixture=fixture, client=client))
        (Path(directory) / "conftest.py").write_text(TIMING_CONFTEST)
        completed = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                                    "test_user.py"], cwd=directory, capture_output=True, text=True, timeout=600,
                                   check=False)
        if completed.returncode != 0:
            raise RuntimeError(f"the generated test module failed:\n{completed.stdout}\n{completed.stderr}")
        setups = json.loads((Path(directory) / "setups.json").read_text())
    return setups["test_user[0]"], statistics.median(setups[f"test_user[{index}]"] for index in range(1, TESTS))


def sdk_latency() -> list[tuple[str, float, float, float]]:
    """(call, loopback HTTP p50, in-process session p50, intercepted p50) on one emulator."""
    import vilvik

    from vilvik_emulator import mock_vilvik
    from vilvik_emulator.config import Settings
    from vilvik_emulator.emulator import Emulator
    from vilvik_emulator.inprocess import INPROCESS_URL, inprocess_session
    from vilvik_emulator.server import EmulatorServer

    server = EmulatorServer(Emulator(Settings(db_path=None, mode="manual")).start()).start()
    key = server.emulator.default_api_key
    source = "def fitness_func(ga_instance, solution, solution_idx):\n    return 0\n"
    try:
        with mock_vilvik(app=server.app, mode="manual"):
            clients = {
                "http": vilvik.Client(api_key=key, base_url=server.api_url),
                "session": vilvik.Client(api_key=key, base_url=f"{INPROCESS_URL}/api/v1",
                                         session=inprocess_session(server.app)),
                "intercepted": vilvik.Client(),
            }
            ids = {name: client.submissions.create(fitness_func=source, num_genes=2).id
                   for name, client in clients.items()}
            calls = {
                "create": lambda client, name: client.submissions.create(fitness_func=source, num_genes=2),
                "get": lambda client, name: client.submissions.get(ids[name]),
                "list page": lambda client, name: client.submissions.list(limit=20),
            }
            figures = []
            for label, call in calls.items():
                timings: dict[str, list[float]] = {name: [] for name in clients}
                for _ in range(SDK_CALLS):
                    for name, client in clients.items():  # alternate, so all see the same state
                        started = time.perf_counter()
                        call(client, name)
                        timings[name].append(time.perf_counter() - started)
                medians = {name: statistics.median(samples[WARMUP:]) for name, samples in timings.items()}
                figures.append((label, medians["http"], medians["session"], medians["intercepted"]))
            return figures
    finally:
        server.stop()


def run(cache=None) -> Report:
    report = Report("intercept")
    mock_first, mock_later = fixture_setup("vilvik_mock", "vilvik.Client()")
    client_first, client_later = fixture_setup("vilvik_client", "vilvik_client")
    report.comparisons += [
        Comparison("intercept", "vilvik_mock set-up: first test vs each later test", "later (median)", mock_later,
                   "first", mock_first),
        Comparison("intercept", "set-up of a later test: vilvik_mock vs vilvik_client", "vilvik_client",
                   client_later, "vilvik_mock", mock_later),
        Comparison("intercept", "set-up of the first test: vilvik_mock vs vilvik_client", "vilvik_client",
                   client_first, "vilvik_mock", mock_first),
    ]
    for label, http, session, intercepted in sdk_latency():
        report.comparisons += [
            Comparison("intercept", f"SDK {label} p50: intercepted vs in-process session", "session", session,
                       "intercepted", intercepted),
            Comparison("intercept", f"SDK {label} p50: intercepted vs loopback HTTP", "loopback HTTP", http,
                       "intercepted", intercepted),
        ]
    report.notes.append(f"{TESTS} generated tests per fixture; loopback HTTP is measured with the mock active "
                        "(its pass-through for other hosts is included); "
                        f"{SDK_CALLS} SDK calls per client and kind ({WARMUP} warm-up), alternating clients")
    return report


def main() -> None:
    print_report(run())


if __name__ == "__main__":
    main()
