"""A job always ends (issue "Hardening" #4, service side): whatever fails while a run's end is
recorded, the submission reaches a terminal state with a message, is charged at most once,
leaves no result row pointing at missing files and no event announcing what did not happen,
the dashboard still renders, and later jobs still run.

Each test injects one failure into one step of :meth:`RunService.finish` — preparing the
result files, drawing the chart, the charge, inserting the result row, updating the
submission, queuing the webhook events — and finishes a held (``manual``) job with a canned
success through the control plane, which goes through the same ``finish`` as a real run.
"""

from __future__ import annotations

import pytest
from helpers import EXAMPLE

from vilvik_emulator.core import results as results_module

UNREACHABLE_HOOK = "http://127.0.0.1:9/hook"  # nothing listens: events stay in the outbox, then fail


class Boom(RuntimeError):
    pass


def _raise_once(function, when=lambda *args, **kwargs: True):
    state = {"raised": False}

    def wrapper(*args, **kwargs):
        if not state["raised"] and when(*args, **kwargs):
            state["raised"] = True
            raise Boom("injected failure")
        return function(*args, **kwargs)

    wrapper.state = state  # type: ignore[attr-defined]
    return wrapper


def _inject(step: str, emulator, monkeypatch):
    if step == "result files":
        target, name = emulator.results, "prepare"
        wrapper = _raise_once(emulator.results.prepare)
    elif step == "result file write":  # the third file of the result fails half-way through
        calls = {"count": 0}

        def third(*args, **kwargs):
            calls["count"] += 1
            return calls["count"] == 3 and args[0] == "results"

        target, name = emulator.store, "write_file"
        wrapper = _raise_once(emulator.store.write_file, third)
    elif step == "chart":
        target, name = results_module, "fitness_chart"
        wrapper = _raise_once(results_module.fitness_chart)
    elif step == "charge":
        target, name = emulator.credits, "charge"
        wrapper = _raise_once(emulator.credits.charge)
    elif step == "result row":
        target, name = emulator.results, "insert"
        wrapper = _raise_once(emulator.results.insert)
    elif step == "submission update":
        target, name = emulator.submissions, "update"
        wrapper = _raise_once(emulator.submissions.update,
                              lambda *args, **changes: changes.get("status") == "succeeded")
    elif step == "webhook events":
        target, name = emulator.webhooks, "submission_event"
        wrapper = _raise_once(emulator.webhooks.submission_event)
    else:  # pragma: no cover
        raise AssertionError(step)
    monkeypatch.setattr(target, name, wrapper)
    return wrapper


STEPS = ["result files", "result file write", "chart", "charge", "result row", "submission update", "webhook events"]


def _check_consistent(api, control, emulator, app, submission_id: str) -> dict:
    detail = api.get(f"submissions/{submission_id}").json()
    ledger = [entry for entry in control.request("GET", "accounts/acct_default/ledger")["results"]
              if entry["submission_id"] == submission_id]
    assert len(ledger) <= 1, ledger
    for result in api.get("results/", params={"page_size": 100}).json()["results"]:
        for entry in api.get(f"results/{result['id']}").json()["files"]:
            assert api.get(f"results/{result['id']}/files/{entry['name']}").status_code == 200, (result, entry)
    with app.test_client() as browser:
        assert browser.get("/submissions").status_code == 200
        assert browser.get(f"/submissions/{submission_id}").status_code == 200
    return detail


@pytest.mark.vilvik_mode("manual")
@pytest.mark.parametrize("step", STEPS)
def test_a_failure_in_any_step_of_finishing_still_ends_the_run(step, api, control, vilvik_emulator_server,
                                                               monkeypatch):
    emulator = vilvik_emulator_server.emulator
    created = api.create(webhook_url=UNREACHABLE_HOOK)
    injected = _inject(step, emulator, monkeypatch)
    finished = control.request("POST", f"submissions/{created['id']}/advance", json={"to": "succeeded"})
    assert injected.state["raised"], f"the failure injected into {step!r} never happened"
    assert finished["status"] == "failed", finished
    assert finished["error"]["code"] == "internal_error" and finished["error"]["message"], finished["error"]
    assert finished["result_id"] is None
    monkeypatch.undo()

    detail = _check_consistent(api, control, emulator, vilvik_emulator_server.app, created["id"])
    assert detail["status"] == "failed"
    assert api.get("results/", params={"submission_id": created["id"]}).json()["results"] == []
    assert all(emulator.results.find(owner) is not None for owner in emulator.store.file_owners("results")), \
        "files of a result that is not there"
    # what was queued announces the failure, never a success that was not recorded
    events = {row["event_type"] for row in emulator.store.scan(
        "webhook_events", lambda row: row["submission_id"] == created["id"])}
    assert events <= {"submission.failed"}, events

    later = api.create()
    done = control.request("POST", f"submissions/{later['id']}/advance", json={"to": "succeeded"})
    assert done["status"] == "succeeded" and done["result_id"], done
    _check_consistent(api, control, emulator, vilvik_emulator_server.app, later["id"])


@pytest.mark.vilvik_mode("manual")
def test_a_failed_recording_is_charged_once_for_what_the_run_used(api, control, vilvik_emulator_server, monkeypatch):
    """The charge is made, then the next write fails: the transaction undoes it with the rest, and the
    fallback charges once for what the run used and reports it."""
    emulator = vilvik_emulator_server.emulator
    created = api.create()
    monkeypatch.setattr(emulator.results, "insert", _raise_once(emulator.results.insert))
    from vilvik_emulator.runner import Outcome

    usage = {"cpu_seconds": 2.0, "peak_memory_mb": 100.0, "wall_seconds": 2.0}
    record = emulator.submissions.require(created["id"])
    outcome = Outcome("succeeded", result={"best_solution": [0.0] * 5, "best_solution_fitness": "1.0",
                                           "best_solutions_fitness": [1.0], "generations_completed": 0},
                      usage=usage)
    finished = emulator.runs.finish(record, outcome)
    assert finished.status == "failed" and finished.error["code"] == "internal_error"
    ledger = [entry for entry in control.request("GET", "accounts/acct_default/ledger")["results"]
              if entry["submission_id"] == created["id"]]
    assert len(ledger) == 1
    assert finished.credits_used == ledger[0]["amount"] == emulator.credits.cost(usage)


@pytest.mark.slow
def test_a_constant_fitness_of_1e20_ends_the_run(api, control):
    """The chart of a flat line at 1e20 once hit log10(0) in its ticks; the run must end (it succeeds)."""
    source = "def fitness_func(ga_instance, solution, solution_idx):\n    return 1e20\n"
    created = api.create(**{**EXAMPLE, "fitness_func": source, "num_generations": 3})
    finished = control.wait(created["id"], timeout=120)
    assert finished["status"] == "succeeded", finished
    result = api.get(f"results/{finished['result_id']}").json()
    assert api.get(f"results/{result['id']}/files/fitness.svg").status_code == 200


def test_a_name_with_a_lone_surrogate_is_refused_before_anything_runs(api):
    response = api.post("submissions/", data=b'{"name": "a\\ud800", "num_genes": 2, "fitness_func": "x", '
                                             b'"fitness_func_entry": "f"}',
                        headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"
    assert api.get("submissions/").json()["results"] == []
