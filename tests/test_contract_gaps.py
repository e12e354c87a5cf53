"""Contract statements the mutation pass (tools/contract_mutations.py) found untested.

Each test here was written because a mutation that broke a statement of the contract
survived every test named for it; tools/contract_statements.json names it now.
"""

from __future__ import annotations

import os
import re
import socket

import pytest
import requests
import vilvik
from helpers import assert_validation_failed, submission_ids

from vilvik_emulator import mock_vilvik
from vilvik_emulator.app import create_app
from vilvik_emulator.config import Settings
from vilvik_emulator.emulator import Emulator


def test_a_bug_is_a_500_internal_error_whose_message_leaks_no_traceback(vilvik_emulator, vilvik_emulator_server,
                                                                        monkeypatch):
    """§3: 500 ``internal_error`` is "a bug; the message never leaks a traceback"."""

    def broken(*args, **kwargs):
        raise RuntimeError("a secret detail in /srv/vilvik_emulator/core/submissions.py")

    monkeypatch.setattr(vilvik_emulator_server.emulator.submissions, "page", broken)
    response = requests.get(f"{vilvik_emulator.base_url}/submissions",
                            headers={"Authorization": f"Bearer {vilvik_emulator.api_key}"}, timeout=30)
    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    error = response.json()["error"]
    assert error["code"] == "internal_error"
    assert error["request_id"] == response.headers["X-Request-Id"]
    for leak in ("Traceback", "RuntimeError", "secret detail", ".py", 'File "'):
        assert leak not in response.text, leak


# ---------------------------------------------------------------------- §5 create

FITNESS = "def fitness_func(ga_instance, solution, solution_idx):\n    return 0.0\n"
SMALL_NEW = {"fitness_func": FITNESS, "fitness_func_entry": "fitness_func", "num_genes": 5, "sol_per_pop": 6,
             "num_generations": 2}


@pytest.mark.vilvik_mode("manual")
@pytest.mark.parametrize(("source", "entry"), [
    ("limits = [None] * 5\n", "missing"),
    ("if True:\n    nested = [None] * 5\nlimits = [None] * 5\n", "nested"),
], ids=["names-nothing", "not-top-level"])
def test_a_gene_constraint_entry_that_names_no_top_level_assignment_is_422(api, source, entry):
    """§5: "an entry that names no top-level definition (... for gene_constraint an assignment) → 422"."""
    response = api.post("submissions", json={**SMALL_NEW, "gene_constraint": source, "gene_constraint_entry": entry})

    error = assert_validation_failed(response, "gene_constraint_entry")
    message = {item["field"]: item["message"] for item in error["details"]}["gene_constraint_entry"]
    assert message == f"{entry!r} is not a top-level assignment in gene_constraint (assignments found: limits)"
    assert submission_ids(api) == []


@pytest.mark.vilvik_mode("manual")
def test_a_description_may_have_10000_characters_and_no_more(api):
    """§5: ``description`` is a string of at most 10,000 characters."""
    longest = "d" * 10_000
    created = api.post("submissions", json={**SMALL_NEW, "description": longest})
    assert created.status_code == 202, created.text
    assert api.get(f"submissions/{created.json()['id']}").json()["description"] == longest

    response = api.post("submissions", json={**SMALL_NEW, "description": longest + "d"})

    assert_validation_failed(response, "description")
    assert submission_ids(api) == [created.json()["id"]]


@pytest.mark.vilvik_mode("manual")
@pytest.mark.parametrize("body", [
    SMALL_NEW,
    {"submission_type": "quick_binary_subset_sum", "integers": [3, 34, 4, 12, 5, 2], "target": 9},
], ids=["new", "quick-type"])
def test_visibility_defaults_to_private(api, body):
    """§5: ``visibility`` is optional, ``private`` by default (the detail shows it; the list's filter finds it)."""
    response = api.post("submissions", json=body)
    assert response.status_code == 202, response.text
    submission_id = response.json()["id"]

    assert api.get(f"submissions/{submission_id}").json()["visibility"] == "private"
    assert [row["id"] for row in api.get("submissions", params={"visibility": "private"}).json()["results"]] == [
        submission_id]
    assert api.get("submissions", params={"visibility": "public,invite_only"}).json()["results"] == []


# ---------------------------------------------------------------------- §5.1 tracebacks

#: the cause is raised inside the standard library (json), whose frames must be cut from it too
CHAINED_THROUGH_A_LIBRARY = '''\
import json

def weights(text):
    try:
        return json.loads(text)
    except json.JSONDecodeError as bad:
        raise ValueError("the weights are not JSON"){chain}

def fitness_func(ga_instance, solution, solution_idx):
    return sum(weights("{{oops"))
'''
FILE_LINE = re.compile(r'^\s*File "([^"]*)", line (\d+), in (\S+)$', re.MULTILINE)


@pytest.mark.parametrize(("chain", "between"), [
    (" from bad", "The above exception was the direct cause of the following exception"),
    ("", "During handling of the above exception, another exception occurred"),
], ids=["cause", "context"])
def test_a_chained_error_from_a_library_keeps_only_user_frames_in_both_exceptions(api, control, chain, between):
    """§5.1: the traceback shows the user's code only, in every exception of the chain."""
    created = api.post("submissions", json={**SMALL_NEW, "fitness_func": CHAINED_THROUGH_A_LIBRARY.format(
        chain=chain)})
    assert created.status_code == 202, created.text

    detail = control.wait(created.json()["id"], timeout=60)

    assert detail["status"] == "failed" and detail["error"]["code"] == "fitness_error", detail
    trace = detail["error"]["traceback"]
    frames = [(name, int(line), function) for name, line, function in FILE_LINE.findall(trace)]
    assert frames == [("<fitness_func>", 5, "weights"), ("<fitness_func>", 10, "fitness_func"),
                      ("<fitness_func>", 7, "weights")], trace
    assert "json.decoder.JSONDecodeError: Expecting property name" in trace, trace
    assert between in trace, trace
    assert trace.rstrip().endswith("ValueError: the weights are not JSON"), trace
    for leak in ("decoder.py", "__init__.py", "site-packages", "vilvik_emulator", "pygad", 'File "/'):
        assert leak not in trace, (leak, trace)


# ---------------------------------------------------------------------- §7 continue

SUM = "def fitness_func(ga_instance, solution, solution_idx):\n    return float(sum(solution))\n"


def test_continuing_with_a_smaller_population_keeps_the_parents_best_solutions(api, control):
    """§7: continue may change ``sol_per_pop``; a smaller population keeps the best of the parent's last one."""
    created = api.post("submissions", json={"fitness_func": SUM, "fitness_func_entry": "fitness_func",
                                            "num_genes": 4, "sol_per_pop": 10, "num_parents_mating": 4,
                                            "num_generations": 3, "random_seed": 5})
    assert created.status_code == 202, created.text
    parent = control.wait(created.json()["id"], timeout=120)
    assert parent["status"] == "succeeded", parent["error"]
    final = api.get(f"results/{parent['result_id']}/files/population.json").json()
    assert len(final) == 10

    response = api.post(f"results/{parent['result_id']}/continue", json={"sol_per_pop": 3, "num_generations": 1})
    assert response.status_code == 202, response.text
    child = control.wait(response.json()["id"], timeout=120)
    assert child["status"] == "succeeded", child["error"]
    start = api.get(f"results/{child['result_id']}/files/result.json").json()["initial_population"]

    assert len(start) == 3 and all(row in final for row in start), (start, final)
    best = sorted((sum(row) for row in final), reverse=True)[:3]
    assert sorted((sum(row) for row in start), reverse=True) == best, (start, final)


# ---------------------------------------------------------------------- §8 credits

def test_an_account_starts_with_1000_credits(control):
    """§8: each account has a balance, 1,000 credits unless told otherwise."""
    account = control.create_account(name="fresh")

    assert account["credits"] == 1000.0
    assert control.ledger(account["id"])["balance"] == 1000.0


# ---------------------------------------------------------------------- §11 webhooks

def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_webhooks_delivery_history_holds_its_own_attempts_only(api, control):
    """§11: ``GET /webhooks/<id>/deliveries`` lists the attempts of that webhook (not its neighbours')."""
    control.clock_freeze()  # a failed delivery would retry on the emulator clock: keep it still
    first = control.create_webhook(f"http://127.0.0.1:{_closed_port()}/first")
    second = control.create_webhook(f"http://127.0.0.1:{_closed_port()}/second")
    control.test_webhook(first["id"])
    control.test_webhook(second["id"])
    control.drain_deliveries(timeout=30)
    assert len(control.deliveries()) == 2

    for webhook in (first, second):
        response = api.get(f"webhooks/{webhook['id']}/deliveries")
        assert response.status_code == 200, response.text
        rows = response.json()["results"]
        assert [(row["webhook_id"], row["event_type"], row["attempt"]) for row in rows] == [
            (webhook["id"], "webhook.test", 1)], rows


# ---------------------------------------------------------------------- §13 faults

def test_an_injected_429_without_retry_after_still_carries_an_integer_retry_after(api, control, vilvik_client):
    """§13 (with §3): an injected 429 always has ``Retry-After: <integer seconds>``, the SDK's RateLimitError."""
    control.add_fault(path="/api/v1/submissions", status=429, count=2)

    response = api.get("submissions")

    assert response.status_code == 429 and response.json()["error"]["code"] == "rate_limited"
    assert re.fullmatch(r"[1-9][0-9]*", response.headers.get("Retry-After", "")), dict(response.headers)
    with pytest.raises(vilvik.RateLimitError) as raised:
        vilvik_client.submissions.list()
    assert raised.value.retry_after == int(response.headers["Retry-After"])


# ---------------------------------------------------------------------- §13a interception

@pytest.fixture
def in_process_interception(monkeypatch):
    """``mock_vilvik()`` with no URL in the environment: an emulator in this process."""
    monkeypatch.delenv("VILVIK_EMULATOR_URL", raising=False)
    monkeypatch.delenv("VILVIK_API_KEY", raising=False)


def test_mock_vilvik_serves_beta_vilvik_com_too(in_process_interception):
    """§13a: ``mock_vilvik`` serves ``vilvik.com`` and ``beta.vilvik.com`` (the hosted base URL) alike."""
    with mock_vilvik(mode="manual"):
        created = vilvik.Client(base_url="https://beta.vilvik.com/api/v1").submissions.create(
            fitness_func=FITNESS, num_genes=3, num_generations=2, sol_per_pop=4)
        headers = {"Authorization": f"Bearer {os.environ['VILVIK_API_KEY']}"}
        for host in ("beta.vilvik.com", "vilvik.com"):
            response = requests.get(f"https://{host}/api/v1/submissions/", headers=headers, timeout=10)
            assert response.status_code == 200, (host, response.text)
            assert [row["id"] for row in response.json()["results"]] == [created.id], host


def test_each_entry_of_a_mock_with_its_own_app_starts_from_a_clean_state(in_process_interception):
    """§13a: each entry starts clean, also when ``app=`` keeps one emulator across entries."""
    emulator = Emulator(Settings(db_path=None)).start()
    try:
        mock = mock_vilvik(mode="manual", app=create_app(emulator))
        with mock:
            vilvik.Client().submissions.create(fitness_func=FITNESS, num_genes=3, num_generations=2, sol_per_pop=4)
            assert len(vilvik.Client().submissions.list().items) == 1
        with mock:
            assert vilvik.Client().submissions.list().items == []
    finally:
        emulator.close()


def test_the_default_runtime_limit_is_600_seconds():
    """§6 [decision]: a job runs for at most 600 s unless the server is told otherwise; the limit
    the runner enforces is the configuration's (``/_emulator/config`` shows what it holds)."""
    from vilvik_emulator.inprocess import INPROCESS_URL, inprocess_session

    emulator = Emulator(Settings(db_path=None, mode="manual")).start()
    try:
        session = inprocess_session(create_app(emulator))
        limits = session.get(f"{INPROCESS_URL}/_emulator/config", timeout=30).json()["limits"]
        assert limits["runtime_seconds"] == 600
        assert emulator.runner._limits()["runtime_seconds"] == 600  # what each job is started with
    finally:
        emulator.close()
