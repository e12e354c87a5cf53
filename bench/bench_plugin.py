"""The test-suite companion: what the pytest plugin costs a user's test suite.

* fixture set-up: a generated test module of 30 tests using ``vilvik_client`` is run by
  pytest in a child process; a hook in its conftest records each test's set-up time as
  pytest measured it (the first one starts the session server, the later ones only reset
  it; goal for a later one: <= 5 ms);
* reset: ``POST /_emulator/reset`` with 1,000 stored submissions (goal <= 5 ms) against an
  empty one, over loopback to a server in this process; then ``Emulator.reset()`` called
  directly, as the plugin's fixture does before each test;
* the in-process transport (``vilvik_inprocess_client``) against loopback HTTP, for the
  same SDK calls (create, get, one list page) on the same emulator.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import Comparison, Report, print_report

TESTS = 30
RESET_ROUNDS = 5
#: the pause between restoring the rows and the reset, as a test body would leave: the
#: reset is not measured inside the import's own aftermath (its garbage, its collections)
TEST_BODY_SECONDS = 0.2
ROWS = 1000
SDK_CALLS = 200

USER_TESTS = '''
import pytest

SOURCE = "def fitness_func(ga_instance, solution, solution_idx):\\n    return 0\\n"


@pytest.mark.parametrize("index", range({tests}))
@pytest.mark.vilvik_mode("manual")
def test_user(vilvik_client, index):
    vilvik_client.submissions.create(fitness_func=SOURCE, num_genes=2, name=f"t{{index}}")
'''


#: a conftest in the generated project: pytest's own --durations prints hundredths of a
#: second, too coarse for a set-up of a few milliseconds
DURATION_RECORDER = '''
def pytest_runtest_logreport(report):
    if report.when == "setup":
        with open("setup-durations.tsv", "a") as durations:
            durations.write(f"{report.nodeid}\\t{report.duration!r}\\n")
'''


def fixture_setup() -> tuple[float, float, list[str]]:
    """(first test's set-up, median later set-up) in seconds, as pytest measured them."""
    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / "test_user.py").write_text(USER_TESTS.format(tests=TESTS))
        (Path(directory) / "conftest.py").write_text(DURATION_RECORDER)
        completed = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                    "-p", "no:randomly", "test_user.py"],
                                   cwd=directory, capture_output=True, text=True, timeout=600)
        if completed.returncode != 0:
            raise RuntimeError(f"the generated test module failed:\n{completed.stdout}\n{completed.stderr}")
        setups = {}
        for line in (Path(directory) / "setup-durations.tsv").read_text().splitlines():
            nodeid, seconds = line.split("\t")
            setups[int(re.search(r"\[(\d+)\]$", nodeid).group(1))] = float(seconds)
    if sorted(setups) != list(range(TESTS)):
        raise RuntimeError(f"expected the set-up of {TESTS} tests, got {sorted(setups)}")
    later = [setups[index] for index in range(1, TESTS)]
    return setups[0], statistics.median(later), [
        f"set-up of the later tests (ms): min {min(later) * 1000:.1f}, max {max(later) * 1000:.1f}"]


def reset_times() -> tuple[float, float, float, float]:
    """Median reset with 1,000 stored submissions and with none: through the control plane
    (``POST /_emulator/reset`` over loopback), then called directly as the pytest plugin
    does before each test (``Emulator.reset()``, the method the route calls)."""
    from vilvik_emulator.config import Settings
    from vilvik_emulator.emulator import Emulator
    from vilvik_emulator.inprocess import INPROCESS_URL, inprocess_session
    from vilvik_emulator.server import EmulatorServer
    from vilvik_emulator.testing import EmulatorControl

    server = EmulatorServer(Emulator(Settings(db_path=None, mode="manual")).start()).start()
    control = EmulatorControl(server.url)
    # The rows are created once through the API, in process (set-up, not timed), then
    # restored from a snapshot before each round.
    filler = inprocess_session(server.app)
    filler.headers["Authorization"] = f"Bearer {server.emulator.default_api_key}"
    body = {"fitness_func": "def f(a, b, c):\n    return 0\n", "fitness_func_entry": "f", "num_genes": 2}
    try:
        for _ in range(ROWS):
            created = filler.post(f"{INPROCESS_URL}/api/v1/submissions", json=body)
            if created.status_code != 202:
                raise RuntimeError(f"create answered {created.status_code}: {created.text[:500]}")
        snapshot = control.export_snapshot()
        full, empty, direct_full, direct_empty = [], [], [], []
        for _ in range(RESET_ROUNDS):
            # The store frees what a reset dropped on a background thread, starting 50 ms
            # later: the previous round's leftovers are freed during this round's import,
            # as a user's are during the test that follows a reset.
            started = time.perf_counter()
            control.reset()
            empty.append(time.perf_counter() - started)
            control.import_snapshot(snapshot)  # the same 1,000 submissions again, untimed
            time.sleep(TEST_BODY_SECONDS)  # the test that made them ran for a while
            started = time.perf_counter()
            control.reset()
            full.append(time.perf_counter() - started)
        for _ in range(RESET_ROUNDS):
            started = time.perf_counter()
            server.emulator.reset()
            direct_empty.append(time.perf_counter() - started)
            control.import_snapshot(snapshot)
            time.sleep(TEST_BODY_SECONDS)
            started = time.perf_counter()
            server.emulator.reset()
            direct_full.append(time.perf_counter() - started)
        return (statistics.median(full), statistics.median(empty),
                statistics.median(direct_full), statistics.median(direct_empty))
    finally:
        server.stop()


def transports() -> list[tuple[str, float, float]]:
    """(call, loopback HTTP p50, in-process p50) for the same SDK calls on one emulator."""
    import vilvik

    from vilvik_emulator.config import Settings
    from vilvik_emulator.emulator import Emulator
    from vilvik_emulator.inprocess import INPROCESS_URL, inprocess_session
    from vilvik_emulator.server import EmulatorServer

    server = EmulatorServer(Emulator(Settings(db_path=None, mode="manual")).start()).start()
    key = server.emulator.default_api_key
    clients = {
        "http": vilvik.Client(api_key=key, base_url=server.api_url),
        "inprocess": vilvik.Client(api_key=key, base_url=f"{INPROCESS_URL}/api/v1",
                                   session=inprocess_session(server.app)),
    }
    source = "def fitness_func(ga_instance, solution, solution_idx):\n    return 0\n"
    try:
        ids = {name: client.submissions.create(fitness_func=source, num_genes=2).id for name, client in clients.items()}
        calls = {
            "create": lambda client, name: client.submissions.create(fitness_func=source, num_genes=2),
            "get": lambda client, name: client.submissions.get(ids[name]),
            "list page": lambda client, name: client.submissions.list(limit=20),
        }
        figures = []
        for label, call in calls.items():
            timings = {name: [] for name in clients}
            for _ in range(SDK_CALLS):
                for name, client in clients.items():  # alternate, so both see the same state
                    started = time.perf_counter()
                    call(client, name)
                    timings[name].append(time.perf_counter() - started)
            figures.append((label, statistics.median(timings["http"][10:]),
                            statistics.median(timings["inprocess"][10:])))
        return figures
    finally:
        server.stop()


def run(cache=None) -> Report:
    report = Report("plugin")
    first, later, notes = fixture_setup()
    report.comparisons.append(Comparison("plugin", "fixture set-up: first test vs each later test", "later (median)",
                                         later, "first", first))
    full, empty, direct_full, direct_empty = reset_times()
    report.comparisons.append(Comparison("plugin", f"POST /_emulator/reset, median of {RESET_ROUNDS}", "empty", empty,
                                         f"{ROWS} submissions", full))
    report.comparisons.append(Comparison("plugin", f"Emulator.reset() as the plugin calls it, median of {RESET_ROUNDS}",
                                         "empty", direct_empty, f"{ROWS} submissions", direct_full))
    for label, http, inprocess in transports():
        report.comparisons.append(Comparison("plugin", f"SDK {label} p50: in-process vs loopback HTTP",
                                             "loopback HTTP", http, "in-process", inprocess))
    report.notes.extend([*notes, f"{TESTS} generated tests; {SDK_CALLS} SDK calls per transport and kind "
                                 "(10 warm-up), alternating transports"])
    return report


def main() -> None:
    print_report(run())


if __name__ == "__main__":
    main()
