"""The official SDK's own expectations, witnessed against the emulator (issue 12; contract §1, §14).

The SDK's test suite (vilvik 0.5.7, ``tests/*.py`` of its sdist) mocks the hosted API
with ``responses``: every ``mock_api.add(method, url, json=..., status=...)`` is a
statement of what the SDK expects the service to answer. ``STUBS`` below is each of
those 49 stubs, copied as they are (``test_the_table_is_the_sdk_tests_own_stubs`` checks
the copy against the SDK's sources, which ``make install-test`` unpacks into
``.venv/sdk-source``). Each stub is replayed here:
the same SDK call, made through the SDK against the real server, with the request the
SDK's test makes (or the nearest valid one, where the test's own body is not a program
the service can run — said in a comment each time), and the emulator's answer is
compared with the mock: every field the mock has must be in the answer with the same
JSON type (an integer is a number; extra fields are fine: clients tolerate additions,
contract §1), and the status must be the mock's.

Where the emulator deliberately differs from a mock, a comment says so and
``docs/differences.md`` lists it:

- ids: the mocks' ``sub_abc``, ``res_1``, ``code_1``, ``wh_1`` are the emulator's 12
  characters ``[A-Za-z0-9]`` (``code_``/``wh_`` + 12) — only types are compared;
- hosts: the mocks answer for ``https://example.test/api/v1``, the emulator for its own
  base URL (links use the host the request came to, contract §5);
- values are not compared (the mocks' statuses, fitnesses, keys and event names are
  made up), only names, types and statuses — except where the contract says otherwise:
  a validation failure is 422, not the mock's 400 (contract §3; the SDK maps both to
  ``ValidationError``), and an error's ``code`` is the contract's (``unauthorized``,
  not the mock's ``invalid_key``).
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pygad
import pytest
import requests
import vilvik

SDK_BASE = "https://example.test/api/v1"  # the host every SDK test mocks


# ---------------------------------------------------------------------- the SDK tests' stubs, as they are


@dataclass(frozen=True)
class Stub:
    module: str
    test: str
    method: str
    path: str  # after the base URL
    status: int
    json: Any
    headers: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.module}::{self.test}"


def _stubs(module: str, test: str, *entries: tuple) -> list[Stub]:
    return [Stub(module, test, *entry) for entry in entries]


B = SDK_BASE
STUBS: list[Stub] = [
    *_stubs("test_client.py", "test_submissions_create_round_trip", (
        "POST", "/submissions", 202, {"id": "sub_abc", "status": "queued", "status_url": f"{B}/submissions/sub_abc",
                                      "result_url": f"{B}/results?submission_id=sub_abc",
                                      "created_at": "2026-05-18T10:00:00Z", "request_id": "req_1"})),
    *_stubs("test_client.py", "test_submissions_create_forwards_extra_ga_params",
            ("POST", "/submissions", 202, {"id": "sub_x", "status": "queued"})),
    *_stubs("test_client.py", "test_submissions_create_quick_type_omits_unset_ga_defaults",
            ("POST", "/submissions", 202, {"id": "sub_q", "status": "queued"})),
    *_stubs("test_client.py", "test_submissions_create_forwards_explicit_ga_defaults",
            ("POST", "/submissions", 202, {"id": "sub_d", "status": "queued"})),
    *_stubs("test_client.py", "test_submissions_create_auto_detects_entry_symbol",
            ("POST", "/submissions", 202, {"id": "sub_e", "status": "queued"})),
    *_stubs("test_client.py", "test_submissions_create_honors_explicit_entry_symbol",
            ("POST", "/submissions", 202, {"id": "sub_e2", "status": "queued"})),
    *_stubs("test_client.py", "test_submissions_create_detects_entry_for_callbacks",
            ("POST", "/submissions", 202, {"id": "sub_e3", "status": "queued"})),
    *_stubs("test_client.py", "test_submissions_get",
            ("GET", "/submissions/sub_abc", 200, {"id": "sub_abc", "status": "succeeded"})),
    *_stubs("test_client.py", "test_submissions_list_and_iter_all",
            ("GET", "/submissions", 200, {"results": [{"id": "a", "status": "queued"},
                                                      {"id": "b", "status": "running"}],
                                          "next": f"{B}/submissions?cursor=cur_2&limit=25"}),
            ("GET", "/submissions", 200, {"results": [{"id": "c", "status": "succeeded"}], "next": None})),
    *_stubs("test_client.py", "test_submissions_reexecute_sends_overrides",
            ("POST", "/submissions/sub_abc/reexecute", 202, {"id": "sub_def", "status": "queued"})),
    *_stubs("test_client.py", "test_submissions_delete", ("DELETE", "/submissions/sub_abc", 204, None)),
    *_stubs("test_client.py", "test_results_get", (
        "GET", "/results/res_1", 200, {"id": "res_1", "submission_id": "sub_abc", "best_solution_fitness": "-0.0123",
                                       "best_solution": [1, 2, 3], "generations_completed": 100})),
    *_stubs("test_client.py", "test_results_continue_run",
            ("POST", "/results/res_1/continue", 202, {"id": "sub_child", "status": "queued"})),
    *_stubs("test_client.py", "test_results_delete", ("DELETE", "/results/res_1", 204, None)),
    *_stubs("test_client.py", "test_results_update_sends_patch_and_returns_result", (
        "PATCH", "/results/res_1", 200, {"id": "res_1", "submission_id": "sub_abc", "name": "renamed result",
                                         "is_shared": True})),
    *_stubs("test_client.py", "test_results_update_sends_only_provided_fields",
            ("PATCH", "/results/res_1", 200, {"id": "res_1", "submission_id": "sub_abc", "is_shared": False})),
    *_stubs("test_client.py", "test_wait_for_returns_result_when_submission_succeeds",
            ("GET", "/submissions/sub_abc", 200, {"id": "sub_abc", "status": "running"}),
            ("GET", "/submissions/sub_abc", 200, {"id": "sub_abc", "status": "succeeded"}),
            ("GET", "/results", 200, {"results": [{"id": "res_1", "submission_id": "sub_abc",
                                                   "best_solution_fitness": "7.0"}], "next": None}),
            ("GET", "/results/res_1", 200, {"id": "res_1", "submission_id": "sub_abc", "best_solution_fitness": "7.0",
                                            "best_solution": [1.0, 6.0], "generations_completed": 20})),
    *_stubs("test_client.py", "test_wait_for_raises_on_failed_submission",
            ("GET", "/submissions/sub_bad", 200, {"id": "sub_bad", "status": "failed"})),
    *_stubs("test_client.py", "test_wait_for_times_out",
            ("GET", "/submissions/sub_x", 200, {"id": "sub_x", "status": "running"})),
    *_stubs("test_client.py", "test_code_upload_create",
            ("POST", "/code-uploads", 201, {"code_id": "code_1", "content_size": 42, "is_expired": False})),
    *_stubs("test_client.py", "test_code_upload_referenced_in_submission",
            ("POST", "/submissions", 202, {"id": "sub_ref", "status": "queued"})),
    *_stubs("test_client.py", "test_webhooks_list", (
        "GET", "/webhooks", 200, {"results": [{"id": "wh_1", "url": "https://example.test/hook",
                                               "event_types": ["submission.completed"]}]})),
    *_stubs("test_client.py", "test_authentication_error_translation", (
        "GET", "/submissions/sub_abc", 401, {"error": {"code": "invalid_key", "message": "bad key",
                                                       "request_id": "req_z"}})),
    *_stubs("test_client.py", "test_rate_limit_error_picks_up_retry_after", (
        "GET", "/submissions", 429, {"error": {"code": "rate_limited", "message": "slow down"}},
        {"Retry-After": "7"})),
    *_stubs("test_client.py", "test_not_found_error",
            ("GET", "/submissions/ghost", 404, {"error": {"code": "not_found", "message": "missing"}})),
    *_stubs("test_client.py", "test_validation_error", (
        "POST", "/submissions", 400, {"error": {"code": "validation_failed", "message": "num_genes is required"}})),
    *_stubs("test_client.py", "test_generic_api_error_for_5xx",
            ("GET", "/submissions/sub_abc", 502, {"error": {"code": "upstream", "message": "boom"}})),
    *_stubs("test_client.py", "test_run_context_manager_yields_result",
            ("POST", "/submissions", 202, {"id": "sub_quick", "status": "queued"}),
            ("GET", "/submissions/sub_quick", 200, {"id": "sub_quick", "status": "succeeded"}),
            ("GET", "/results", 200, {"results": [{"id": "res_q", "submission_id": "sub_quick",
                                                   "best_solution_fitness": "1.5"}], "next": None}),
            ("GET", "/results/res_q", 200, {"id": "res_q", "submission_id": "sub_quick", "best_solution_fitness": "1.5",
                                            "best_solution": [0.5, 1.0]}),
            ("GET", "/submissions/sub_quick", 200, {"id": "sub_quick", "status": "succeeded"})),
    *_stubs("test_client.py", "test_submissions_create_names_the_gene_constraint_list", (
        "POST", "/submissions", 202, {"id": "sub_c", "status": "queued", "created_at": "2026-10-17T10:00:00Z"})),
    *_stubs("test_imports_resource.py", "test_imports_create_round_trip", (
        "POST", "/imports", 201, {"id": "sub_x", "result_id": "res_y", "result_url": f"{B}/results/res_y"})),
    *_stubs("test_login.py", "test_login_polls_then_saves_key",
            ("POST", "/auth/device/code", 200, {"device_code": "dc", "user_code": "WDJBMJHT",
                                                "verification_uri": "https://v/user/device/",
                                                "verification_uri_complete": "https://v/user/device/?code=WDJBMJHT",
                                                "expires_in": 900, "interval": 0}),
            ("POST", "/auth/device/token", 400, {"error": "authorization_pending"}),
            ("POST", "/auth/device/token", 200, {"api_key": "vlk_live_minted", "scopes": ["imports:write"]})),
    *_stubs("test_login.py", "test_login_raises_on_access_denied",
            ("POST", "/auth/device/code", 200, {"device_code": "dc", "user_code": "X", "verification_uri": "u",
                                                "verification_uri_complete": "u?code=X", "expires_in": 900,
                                                "interval": 0}),
            ("POST", "/auth/device/token", 400, {"error": "access_denied"})),
    *_stubs("test_push.py", "test_push_posts_payload", (
        "POST", "/imports", 201, {"id": "sub_x", "result_id": "res_y", "result_url": f"{B}/results/res_y"})),
    *_stubs("test_push.py", "test_push_preamble_prepended_into_code_block",
            ("POST", "/imports", 201, {"id": "s", "result_id": "r", "result_url": "u"})),
    *_stubs("test_push.py", "test_push_does_not_print_to_stdout",
            ("POST", "/imports", 201, {"id": "s", "result_id": "r", "result_url": "u"})),
    *_stubs("test_push.py", "test_push_origin_overrides",
            ("POST", "/imports", 201, {"id": "s", "result_id": "r", "result_url": "u"})),
    *_stubs("test_pygad_compatibility.py", "push_payload", (
        "POST", "/imports", 201, {"id": "imported", "result_id": "result", "result_url": f"{B}/results/result"})),
    *_stubs("test_pygad_compatibility.py", "test_captured_source_supports_current_pygad_wrapper",
            ("POST", "/imports", 201, {"id": "wrapper", "result_id": "result"})),
]
del B

#: where the emulator answers another status than the mock, and why (docs/differences.md lists each)
OTHER_STATUS = {
    # contract §3: a body that is JSON but fails validation is 422 validation_failed; the SDK's test mocks
    # 400 and the SDK raises the same ValidationError for both
    "test_client.py::test_validation_error": 422,
    # contract §3: the emulator's 5xx are 500 internal_error (a bug) and 503 unavailable (injected through
    # the control plane); the mock's 502 is a proxy's answer, which the SDK treats as any other 5xx
    "test_client.py::test_generic_api_error_for_5xx": 503,
}


def stubs_of(key: str) -> list[Stub]:
    found = [stub for stub in STUBS if stub.key == key]
    assert found, key
    return found


# ---------------------------------------------------------------------- comparing an answer with a mock


def kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(type(value))


def differences(mocked: Any, answered: Any, where: str = "$") -> list[str]:
    """Fields of ``mocked`` missing from ``answered`` or of another JSON type (an integer is a number)."""
    expected, actual = kind(mocked), kind(answered)
    if expected != actual and not (expected == "number" and actual == "integer"):
        return [f"{where}: the SDK's test mocks {expected} ({mocked!r}), the emulator answers {actual} ({answered!r})"]
    problems: list[str] = []
    if expected == "object":
        for name, value in mocked.items():
            if name not in answered:
                problems.append(f"{where}.{name}: missing (the SDK's test mocks {value!r})")
            else:
                problems.extend(differences(value, answered[name], f"{where}.{name}"))
    elif expected == "array" and mocked:
        if not answered:
            problems.append(f"{where}: empty, where the SDK's test mocks {len(mocked)} item(s)")
        for index, item in enumerate(answered):
            problems.extend(differences(mocked[min(index, len(mocked) - 1)], item, f"{where}[{index}]"))
    return problems


def path_pattern(stub: Stub) -> re.Pattern:
    """The stub's path with its made-up ids standing for any id."""
    parts = [part if part in ("", "submissions", "results", "reexecute", "continue", "code-uploads", "webhooks",
                              "imports", "auth", "device", "code", "token") else "[^/]+"
             for part in stub.path.split("/")]
    return re.compile("^" + "/".join(parts) + "/?$")


@dataclass
class Call:
    method: str
    path: str  # after /api/v1
    status: int
    headers: dict
    body: Any


def assert_like(stub: Stub, call: Call) -> None:
    """The emulator's answer has every field the SDK's test mocks, with its type, and the mock's status."""
    assert call.method == stub.method, (stub.key, call)
    assert path_pattern(stub).match(call.path), (stub.key, stub.path, call.path)
    assert call.status == OTHER_STATUS.get(stub.key, stub.status), (stub.key, call.status, call.body)
    if stub.json is None:
        assert call.body is None, (stub.key, call.body)  # a 204: no body at all
    else:
        problems = differences(stub.json, call.body)
        assert not problems, (stub.key, problems)
    for name, value in stub.headers.items():
        assert name in call.headers, (stub.key, name)
        if value.isdigit():  # Retry-After: whole seconds, as the SDK parses it
            assert call.headers[name].isdigit(), (stub.key, name, call.headers[name])


#: every stub a replay below compares (filled in as the module is imported, checked by a test)
WITNESSED: set[tuple[str, int]] = set()


def witnesses(key: str, *indices: int):
    """Mark a replay as covering stubs ``indices`` (1-based) of the SDK test ``key``."""
    count = len(stubs_of(key))
    for index in indices or range(1, count + 1):
        assert 1 <= index <= count, (key, index)
        WITNESSED.add((key, index))
    return lambda function: function


def stub(key: str, index: int = 1) -> Stub:
    return stubs_of(key)[index - 1]


# ---------------------------------------------------------------------- recording what the SDK gets


class Recorder:
    """A requests session for the SDK that keeps every answer (and checks it against the OpenAPI document)."""

    def __init__(self, base_url: str, checker) -> None:
        self.base_path = urlsplit(base_url).path.rstrip("/")
        self.calls: list[Call] = []
        self.lock = threading.Lock()
        self.session = requests.Session()
        self.session.hooks["response"].append(lambda response, *args, **kwargs: self.keep(response))
        self.checker = checker

    def keep(self, response: requests.Response) -> None:
        self.checker(response)
        path = urlsplit(response.url).path
        if path.startswith(self.base_path):
            path = path[len(self.base_path):]
        body = response.json() if response.content else None
        with self.lock:
            self.calls.append(Call(response.request.method, path, response.status_code, dict(response.headers), body))

    def take(self) -> list[Call]:
        with self.lock:
            calls, self.calls = self.calls, []
        return calls


@pytest.fixture
def recorder(vilvik_emulator, openapi_checker) -> Recorder:
    return Recorder(vilvik_emulator.base_url, openapi_checker.check)


@pytest.fixture
def client(vilvik_emulator, recorder) -> vilvik.Client:
    """What the SDK's tests call ``client``, pointed at the emulator instead of a mock."""
    return vilvik.Client(api_key=vilvik_emulator.api_key, base_url=vilvik_emulator.base_url,
                         session=recorder.session)


def only(calls: list[Call]) -> Call:
    assert len(calls) == 1, calls
    return calls[0]


def result_of(client, submission_id: str):
    page = client.results.list(submission_id=submission_id)
    assert len(page.items) == 1, page.raw
    return page.items[0]


# ---------------------------------------------------------------------- test_client.py: submissions

# The SDK tests' own sources, as they send them.
ZERO = "def fitness_func(g, s, i): return 0"
SPHERE = "def fitness_func(ga_instance, solution, idx):\n    return -sum(s * s for s in solution)\n"


@pytest.mark.vilvik_mode("manual")
@witnesses("test_client.py::test_submissions_create_round_trip")
def test_submissions_create_round_trip(client, recorder):
    sub = client.submissions.create(fitness_func=ZERO, num_genes=3, num_generations=10, sol_per_pop=20)

    call = only(recorder.take())
    assert_like(stub("test_client.py::test_submissions_create_round_trip"), call)
    assert sub.status == "queued" and not sub.is_terminal and sub.created_at is not None
    assert sub.status_url.endswith(f"/submissions/{sub.id}")


@pytest.mark.vilvik_mode("manual")
@witnesses("test_client.py::test_submissions_create_forwards_extra_ga_params")
def test_submissions_create_forwards_extra_ga_params(client, recorder, api):
    # The SDK's test sends fitness_func="x": no definition, so the SDK finds no entry, and the emulator
    # refuses code without its entry (contract §5, "the runtime no longer guesses entries"). The same
    # call with a real fitness function gives the 202 the test mocks.
    with pytest.raises(vilvik.ValidationError) as refused:
        client.submissions.create(fitness_func="x", num_genes=1, mutation_probability=0.05,
                                  parent_selection_type="tournament")
    assert refused.value.status_code == 422
    assert [item["field"] for item in refused.value.payload["error"]["details"]] == ["fitness_func_entry"]
    recorder.take()

    sub = client.submissions.create(fitness_func=ZERO, num_genes=1, mutation_probability=0.05,
                                    parent_selection_type="tournament")

    assert_like(stub("test_client.py::test_submissions_create_forwards_extra_ga_params"), only(recorder.take()))
    parameters = api.get(f"submissions/{sub.id}").json()["parameters"]
    assert parameters["mutation_probability"] == 0.05 and parameters["parent_selection_type"] == "tournament"


@pytest.mark.vilvik_mode("manual")
@witnesses("test_client.py::test_submissions_create_quick_type_omits_unset_ga_defaults")
def test_submissions_create_quick_type_omits_unset_ga_defaults(client, recorder, api):
    sub = client.submissions.create(submission_type="quick_binary_subset_sum", integers=[3, 7, 1, 9], target=20)

    assert_like(stub("test_client.py::test_submissions_create_quick_type_omits_unset_ga_defaults"),
                only(recorder.take()))
    assert sub.submission_type == "quick_binary_subset_sum"
    detail = api.get(f"submissions/{sub.id}").json()
    assert detail["parameters"]["num_genes"] == 4  # the quick type's own genome: one gene per integer


@pytest.mark.vilvik_mode("manual")
@witnesses("test_client.py::test_submissions_create_forwards_explicit_ga_defaults")
def test_submissions_create_forwards_explicit_ga_defaults(client, recorder, api):
    sub = client.submissions.create(fitness_func=ZERO, num_genes=4, num_generations=10, sol_per_pop=8)

    assert_like(stub("test_client.py::test_submissions_create_forwards_explicit_ga_defaults"), only(recorder.take()))
    parameters = api.get(f"submissions/{sub.id}").json()["parameters"]
    assert (parameters["num_generations"], parameters["sol_per_pop"]) == (10, 8)


@pytest.mark.vilvik_mode("manual")
@witnesses("test_client.py::test_submissions_create_auto_detects_entry_symbol")
def test_submissions_create_auto_detects_entry_symbol(client, recorder, api):
    sub = client.submissions.create(fitness_func="def my_fitness(g, s, i):\n    return sum(s)\n", num_genes=3)

    assert_like(stub("test_client.py::test_submissions_create_auto_detects_entry_symbol"), only(recorder.take()))
    assert api.get(f"submissions/{sub.id}").json()["code"]["fitness_func_entry"] == "my_fitness"


@witnesses("test_client.py::test_submissions_create_honors_explicit_entry_symbol")
def test_submissions_create_honors_explicit_entry_symbol(client, recorder, control):
    sub = client.submissions.create(fitness_func="def a(g, s, i): return 0\ndef b(g, s, i): return 1\n",
                                    fitness_func_entry="a", num_genes=3)

    assert_like(stub("test_client.py::test_submissions_create_honors_explicit_entry_symbol"), recorder.take()[0])
    detail = control.wait(sub.id)
    assert detail["code"]["fitness_func_entry"] == "a"
    assert detail["progress"]["best_fitness"] == "0"  # `a` ran, not `b` (the last definition)


@pytest.mark.vilvik_mode("manual")
@witnesses("test_client.py::test_submissions_create_detects_entry_for_callbacks")
def test_submissions_create_detects_entry_for_callbacks(client, recorder, api):
    sub = client.submissions.create(fitness_func=ZERO, on_generation="def log_gen(ga):\n    pass\n", num_genes=3)

    assert_like(stub("test_client.py::test_submissions_create_detects_entry_for_callbacks"), only(recorder.take()))
    code = api.get(f"submissions/{sub.id}").json()["code"]
    assert (code["fitness_func_entry"], code["on_generation_entry"]) == ("fitness_func", "log_gen")


@pytest.mark.vilvik_mode("manual")
@witnesses("test_client.py::test_submissions_get")
def test_submissions_get(client, recorder, control):
    created = client.submissions.create(fitness_func=ZERO, num_genes=3)
    control.succeed(created.id, best_solution_fitness=0.0)
    recorder.take()

    sub = client.submissions.get(created.id)

    assert_like(stub("test_client.py::test_submissions_get"), only(recorder.take()))
    assert sub.is_terminal and sub.status == "succeeded"


@pytest.mark.vilvik_mode("manual")
@witnesses("test_client.py::test_submissions_list_and_iter_all")
def test_submissions_list_and_iter_all(client, recorder, control):
    made = [client.submissions.create(fitness_func=ZERO, num_genes=3).id for _ in range(3)]
    control.advance(made[1], "running")
    control.succeed(made[2], best_solution_fitness=0.0)
    recorder.take()

    # The SDK's test pages 2 rows then 1 with iter_all()'s default limit of 25; limit=2 gives the emulator
    # the same two pages for three rows.
    ids = [sub.id for sub in client.submissions.iter_all(limit=2)]

    first, second = recorder.take()
    assert_like(stub("test_client.py::test_submissions_list_and_iter_all", 1), first)
    assert_like(stub("test_client.py::test_submissions_list_and_iter_all", 2), second)
    assert ids == made[::-1]  # newest first


@pytest.mark.vilvik_mode("manual")
@witnesses("test_client.py::test_submissions_reexecute_sends_overrides")
def test_submissions_reexecute_sends_overrides(client, recorder, api):
    parent = client.submissions.create(fitness_func=ZERO, num_genes=3)
    recorder.take()

    child = client.submissions.reexecute(parent.id, mutation_probability=0.2)

    assert_like(stub("test_client.py::test_submissions_reexecute_sends_overrides"), only(recorder.take()))
    assert api.get(f"submissions/{child.id}").json()["parameters"]["mutation_probability"] == 0.2


@pytest.mark.vilvik_mode("manual")
@witnesses("test_client.py::test_submissions_delete")
def test_submissions_delete(client, recorder, api):
    sub = client.submissions.create(fitness_func=ZERO, num_genes=3)
    recorder.take()

    assert client.submissions.delete(sub.id) is None

    assert_like(stub("test_client.py::test_submissions_delete"), only(recorder.take()))
    assert api.get(f"submissions/{sub.id}").status_code == 404


# ---------------------------------------------------------------------- test_client.py: results


def finished(client, control, **fields):
    """A real run to success through the SDK; its result's list row."""
    sub = client.submissions.create(**{"fitness_func": SPHERE, "num_genes": 3, "num_generations": 5,
                                       "sol_per_pop": 6, "random_seed": 2, **fields})
    assert control.wait(sub.id)["status"] == "succeeded"
    return result_of(client, sub.id)


@witnesses("test_client.py::test_results_get")
def test_results_get(client, recorder, control):
    # integer genes, as the SDK's test mocks them ([1, 2, 3])
    row = finished(client, control, gene_type="int")
    recorder.take()

    result = client.results.get(row.id)

    assert_like(stub("test_client.py::test_results_get"), only(recorder.take()))
    assert isinstance(result.best_fitness, float) and len(result.best_solution) == 3
    assert result.num_generations_ran == 5


@pytest.mark.vilvik_mode("manual")
@witnesses("test_client.py::test_results_continue_run")
def test_results_continue_run(client, recorder, control, api):
    sub = client.submissions.create(fitness_func=ZERO, num_genes=3)
    control.succeed(sub.id, best_solution_fitness=0.0)
    row = result_of(client, sub.id)
    recorder.take()

    child = client.results.continue_run(row.id, sol_per_pop=200)

    assert_like(stub("test_client.py::test_results_continue_run"), only(recorder.take()))
    assert api.get(f"submissions/{child.id}").json()["parameters"]["sol_per_pop"] == 200


@pytest.mark.vilvik_mode("manual")
@witnesses("test_client.py::test_results_delete")
def test_results_delete(client, recorder, control):
    sub = client.submissions.create(fitness_func=ZERO, num_genes=3)
    control.succeed(sub.id, best_solution_fitness=0.0)
    row = result_of(client, sub.id)
    recorder.take()

    assert client.results.delete(row.id) is None

    assert_like(stub("test_client.py::test_results_delete"), only(recorder.take()))


@pytest.mark.vilvik_mode("manual")
@witnesses("test_client.py::test_results_update_sends_patch_and_returns_result")
@witnesses("test_client.py::test_results_update_sends_only_provided_fields")
def test_results_update(client, recorder, control):
    sub = client.submissions.create(fitness_func=ZERO, num_genes=3)
    control.succeed(sub.id, best_solution_fitness=0.0)
    row = result_of(client, sub.id)
    recorder.take()

    renamed = client.results.update(row.id, name="renamed result", is_shared=True)
    assert_like(stub("test_client.py::test_results_update_sends_patch_and_returns_result"), only(recorder.take()))
    assert renamed.name == "renamed result" and renamed.is_shared is True

    unshared = client.results.update(row.id, is_shared=False)
    assert_like(stub("test_client.py::test_results_update_sends_only_provided_fields"), only(recorder.take()))
    assert unshared.is_shared is False and unshared.name == "renamed result"


@pytest.mark.vilvik_mode("manual")
@witnesses("test_client.py::test_wait_for_returns_result_when_submission_succeeds")
def test_wait_for_returns_result_when_submission_succeeds(client, recorder, control, vilvik_emulator):
    sub = client.submissions.create(fitness_func=ZERO, num_genes=2)
    control.advance(sub.id, "running")
    recorder.take()
    key = "test_client.py::test_wait_for_returns_result_when_submission_succeeds"

    # The SDK's test polls once while running, once when done; here the first poll is its own call
    # (no sleeping), then the run is finished with the test's values and wait_for makes the rest.
    assert client.submissions.get(sub.id).status == "running"
    assert_like(stub(key, 1), only(recorder.take()))
    control.succeed(sub.id, best_solution=[1.0, 6.0], best_solution_fitness=7.0, generations_completed=20)

    result = client.results.wait_for(sub.id, timeout=5, poll_interval=0)

    polled, listed, fetched = recorder.take()
    assert_like(stub(key, 2), polled)
    assert_like(stub(key, 3), listed)
    assert_like(stub(key, 4), fetched)
    assert (result.best_fitness, result.best_solution, result.num_generations_ran) == (7.0, [1.0, 6.0], 20)
    assert fetched.path == f"/results/{result.id}"


@pytest.mark.vilvik_mode("manual")
@witnesses("test_client.py::test_wait_for_raises_on_failed_submission")
def test_wait_for_raises_on_failed_submission(client, recorder, control):
    sub = client.submissions.create(fitness_func=ZERO, num_genes=2)
    control.fail(sub.id)
    recorder.take()

    with pytest.raises(vilvik.APIError) as info:
        client.results.wait_for(sub.id, timeout=5, poll_interval=0)

    assert info.value.code == "submission_failed"
    assert_like(stub("test_client.py::test_wait_for_raises_on_failed_submission"), only(recorder.take()))


@pytest.mark.vilvik_mode("manual")
@witnesses("test_client.py::test_wait_for_times_out")
def test_wait_for_times_out(client, recorder, control):
    sub = client.submissions.create(fitness_func=ZERO, num_genes=2)
    control.advance(sub.id, "running")
    recorder.take()

    # a zero timeout is past after the first poll (the SDK's test moves time.monotonic instead)
    with pytest.raises(vilvik.TimeoutError):
        client.results.wait_for(sub.id, timeout=0, poll_interval=0)

    assert_like(stub("test_client.py::test_wait_for_times_out"), only(recorder.take()))


# ---------------------------------------------------------------------- test_client.py: uploads, webhooks


@witnesses("test_client.py::test_code_upload_create")
def test_code_upload_create(client, recorder):
    blob = client.code_uploads.create(content="def fitness_func(g, s, i): return 0")

    assert_like(stub("test_client.py::test_code_upload_create"), only(recorder.take()))
    assert blob.content_size == len("def fitness_func(g, s, i): return 0") and blob.is_expired is False


@pytest.mark.vilvik_mode("manual")
@witnesses("test_client.py::test_code_upload_referenced_in_submission")
def test_code_upload_referenced_in_submission(client, recorder, api):
    upload = client.code_uploads.create(content=ZERO)
    recorder.take()

    sub = client.submissions.create(fitness_func_id=upload.code_id, fitness_func_entry="fitness_func", num_genes=3)

    assert_like(stub("test_client.py::test_code_upload_referenced_in_submission"), only(recorder.take()))
    assert api.get(f"submissions/{sub.id}").json()["code"]["fitness_func_id"] == upload.code_id


@witnesses("test_client.py::test_webhooks_list")
def test_webhooks_list(client, recorder, control):
    # The SDK's test mocks the event "submission.completed", which is not one of the documented events
    # (contract §11); the emulator subscribes webhooks to those only.
    created = control.create_webhook("https://example.test/hook", events=["submission.succeeded"])

    hooks = client.webhooks.list()

    assert_like(stub("test_client.py::test_webhooks_list"), only(recorder.take()))
    assert hooks[0].id == created["id"] and "submission.succeeded" in hooks[0].event_types


# ---------------------------------------------------------------------- test_client.py: errors


@pytest.mark.vilvik_mode("manual")
@witnesses("test_client.py::test_authentication_error_translation")
def test_authentication_error_translation(client, recorder, vilvik_emulator):
    sub = client.submissions.create(fitness_func=ZERO, num_genes=2)
    stranger = vilvik.Client(api_key="vlk_test_" + "0" * 32, base_url=vilvik_emulator.base_url,
                             session=recorder.session)
    recorder.take()

    with pytest.raises(vilvik.AuthenticationError) as info:
        stranger.submissions.get(sub.id)

    assert_like(stub("test_client.py::test_authentication_error_translation"), only(recorder.take()))
    # the contract's code for every §2 failure, where the SDK's test mocks "invalid_key"
    assert info.value.code == "unauthorized" and info.value.status_code == 401
    assert info.value.request_id.startswith("req_")


@witnesses("test_client.py::test_rate_limit_error_picks_up_retry_after")
def test_rate_limit_error_picks_up_retry_after(client, recorder, control):
    # the emulator's optional per-key request limit (off unless configured; the hosted limits are not public)
    control.configure(rate_limit={"requests": 1, "window_seconds": 7})
    client.submissions.list()
    recorder.take()

    with pytest.raises(vilvik.RateLimitError) as info:
        client.submissions.list()

    assert_like(stub("test_client.py::test_rate_limit_error_picks_up_retry_after"), only(recorder.take()))
    assert isinstance(info.value.retry_after, int) and 1 <= info.value.retry_after <= 7


@witnesses("test_client.py::test_not_found_error")
def test_not_found_error(client, recorder):
    with pytest.raises(vilvik.NotFoundError):
        client.submissions.get("ghost")

    assert_like(stub("test_client.py::test_not_found_error"), only(recorder.take()))


@witnesses("test_client.py::test_validation_error")
def test_validation_error(client, recorder):
    with pytest.raises(vilvik.ValidationError) as info:
        client.submissions.create(num_generations=10)

    assert_like(stub("test_client.py::test_validation_error"), only(recorder.take()))  # 422: OTHER_STATUS
    assert "num_genes" in {item["field"] for item in info.value.payload["error"]["details"]}


@pytest.mark.vilvik_mode("manual")
@witnesses("test_client.py::test_generic_api_error_for_5xx")
def test_generic_api_error_for_5xx(client, recorder, control):
    # A 5xx answers only when injected (contract §3): 503 unavailable, where the SDK's test mocks a 502.
    sub = client.submissions.create(fitness_func=ZERO, num_genes=2)
    control.add_fault(method="GET", path=f"/api/v1/submissions/{sub.id}", status=503, count=1)
    recorder.take()

    with pytest.raises(vilvik.APIError) as info:
        client.submissions.get(sub.id)

    assert_like(stub("test_client.py::test_generic_api_error_for_5xx"), only(recorder.take()))
    assert info.value.status_code == 503 and info.value.code == "unavailable"
    for narrower in (vilvik.AuthenticationError, vilvik.NotFoundError, vilvik.ValidationError, vilvik.RateLimitError):
        assert not isinstance(info.value, narrower)


@pytest.mark.vilvik_mode("sync")
@witnesses("test_client.py::test_run_context_manager_yields_result")
def test_run_context_manager_yields_result(recorder, vilvik_emulator, monkeypatch):
    # vilvik.run builds its own Client: give it the recording session. The SDK's test sends
    # fitness_func="x" (no definition, so no entry: a 422 here, contract §5); a real one replays the rest.
    # In sync mode the create answers once the run ended, so no poll has to wait.
    run_module = importlib.import_module("vilvik.run")
    monkeypatch.setattr(run_module, "Client", lambda **kwargs: vilvik.Client(session=recorder.session, **kwargs))
    monkeypatch.setenv("VILVIK_API_KEY", vilvik_emulator.api_key)
    key = "test_client.py::test_run_context_manager_yields_result"

    with vilvik.run(base_url=vilvik_emulator.base_url, fitness_func=SPHERE, num_genes=2, poll_interval=0,
                    timeout=5) as result:
        assert isinstance(result.best_fitness, float) and len(result.best_solution) == 2

    calls = recorder.take()
    assert len(calls) == 5, calls
    for index, call in enumerate(calls, start=1):
        assert_like(stub(key, index), call)


@witnesses("test_client.py::test_submissions_create_names_the_gene_constraint_list")
def test_submissions_create_names_the_gene_constraint_list(client, recorder, control):
    sub = client.submissions.create(
        fitness_func="def fitness_func(g, s, i): return 0",
        gene_constraint="def above(solution, values):\n    return values\n\nlimits = [None, above]\n",
        num_genes=2, num_generations=5, sample_size=200,
    )

    assert_like(stub("test_client.py::test_submissions_create_names_the_gene_constraint_list"), recorder.take()[0])
    detail = control.wait(sub.id)
    assert detail["status"] == "succeeded", detail["error"]  # the SDK test's body is a program that runs
    assert detail["code"]["gene_constraint_entry"] == "limits" and detail["parameters"]["sample_size"] == 200


# ---------------------------------------------------------------------- test_imports_resource.py


@witnesses("test_imports_resource.py::test_imports_create_round_trip")
def test_imports_create_round_trip(client, recorder):
    rec = client.imports.create({"name": "x", "ga_parameters": {"num_generations": 1},
                                 "code": {"fitness_func": "def fitness_func(g,s,i): return 0",
                                          "fitness_func_entry": "fitness_func"},
                                 "result": {"best_solution": [1.0], "best_solution_fitness": 0.0,
                                            "generations_completed": 1}})

    assert_like(stub("test_imports_resource.py::test_imports_create_round_trip"), only(recorder.take()))
    assert client.submissions.get(rec.id).status == "succeeded"  # the record's id is a submission's (§10)
    assert rec.result_url.endswith(rec.result_id)


# ---------------------------------------------------------------------- test_login.py


class LoginRecorder:
    """``requests.post`` for vilvik.login (it uses plain requests, not a Client): records every answer and
    lets the test act as the person at the verification page once the SDK has seen the first answer."""

    def __init__(self, control, recorder: Recorder, then: str) -> None:
        self.control, self.recorder, self.then = control, recorder, then
        self.post = requests.post
        self.user_code: str | None = None

    def __call__(self, url: str, **kwargs: Any) -> requests.Response:
        response = self.post(url, **kwargs)
        self.recorder.keep(response)
        if url.endswith("/auth/device/code"):
            self.user_code = response.json()["user_code"]
            if self.then == "deny":
                self.control.deny_login(self.user_code)
        elif url.endswith("/auth/device/token") and response.status_code == 400 and self.then == "approve":
            assert response.json() == {"error": "authorization_pending"}
            self.control.approve_login(self.user_code)
        return response


@witnesses("test_login.py::test_login_polls_then_saves_key")
def test_login_polls_then_saves_key(recorder, control, vilvik_emulator, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    login_module = importlib.import_module("vilvik.login")
    monkeypatch.setattr(login_module.requests, "post", LoginRecorder(control, recorder, "approve"))
    credentials = importlib.import_module("vilvik._credentials")

    key = vilvik.login(base_url=vilvik_emulator.base_url, open_browser=False, poll_interval=0)

    started, pending, granted = recorder.take()
    for index, call in enumerate((started, pending, granted), start=1):
        assert_like(stub("test_login.py::test_login_polls_then_saves_key", index), call)
    assert key.startswith("vlk_") and credentials.load_api_key() == key
    assert vilvik.Client(api_key=key, base_url=vilvik_emulator.base_url).submissions.list().items == []


@witnesses("test_login.py::test_login_raises_on_access_denied")
def test_login_raises_on_access_denied(recorder, control, vilvik_emulator, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    login_module = importlib.import_module("vilvik.login")
    monkeypatch.setattr(login_module.requests, "post", LoginRecorder(control, recorder, "deny"))

    with pytest.raises(vilvik.VilvikError):
        vilvik.login(base_url=vilvik_emulator.base_url, open_browser=False, poll_interval=0)

    started, denied = recorder.take()
    assert_like(stub("test_login.py::test_login_raises_on_access_denied", 1), started)
    assert_like(stub("test_login.py::test_login_raises_on_access_denied", 2), denied)


# ---------------------------------------------------------------------- test_push.py (its fake GA, as it is)


def module_fitness(ga_instance, solution, solution_idx):
    return 0.0


class _FakeArray:
    def __init__(self, d):
        self._d = d

    def tolist(self):
        return self._d


def _ga():
    ga = SimpleNamespace(
        num_generations=5, sol_per_pop=4, num_parents_mating=2, num_genes=3,
        fitness_func=module_fitness, best_solutions_fitness=[0.1, 0.9],
        generations_completed=5, best_solution_generation=3,
        population=_FakeArray([[1.0, 2.0, 3.0]]))
    ga.best_solution = lambda *a, **k: (_FakeArray([1.0, 2.0, 3.0]), 0.9, 0)
    return ga


@witnesses("test_push.py::test_push_posts_payload")
def test_push_posts_payload(client, recorder, api):
    rec = vilvik.push(_ga(), client=client, name="local run")

    assert_like(stub("test_push.py::test_push_posts_payload"), only(recorder.take()))
    submission = api.get(f"submissions/{rec.id}").json()
    assert submission["name"] == "local run" and submission["code"]["fitness_func_entry"] == "module_fitness"
    assert submission["parameters"]["num_generations"] == 5


@witnesses("test_push.py::test_push_preamble_prepended_into_code_block")
def test_push_preamble_prepended_into_code_block(client, recorder, api):
    rec = vilvik.push(_ga(), client=client, preamble="import numpy as np")

    assert_like(stub("test_push.py::test_push_preamble_prepended_into_code_block"), only(recorder.take()))
    assert api.get(f"submissions/{rec.id}").json()["code"]["fitness_func"].startswith("import numpy as np")


@witnesses("test_push.py::test_push_does_not_print_to_stdout")
def test_push_does_not_print_to_stdout(client, recorder, capsys):
    rec = vilvik.push(_ga(), client=client)

    assert_like(stub("test_push.py::test_push_does_not_print_to_stdout"), only(recorder.take()))
    assert rec.id and capsys.readouterr().out == ""


@witnesses("test_push.py::test_push_origin_overrides")
def test_push_origin_overrides(client, recorder, api):
    rec = vilvik.push(_ga(), client=client, origin_overrides={"client": "pygad_wrapper", "pygad_version": "3.6.0"})

    assert_like(stub("test_push.py::test_push_origin_overrides"), only(recorder.take()))
    log = api.get(f"results/{rec.result_id}/files/log.txt").text
    assert "pygad_wrapper" in log


# ---------------------------------------------------------------------- test_pygad_compatibility.py
#
# Real, completed PyGAD runs pushed as the SDK's compatibility tests push them. Where the SDK's test
# rebuilds a GA from the payload and runs it (its `restore(payload).run()`), the emulator's equivalent
# is continuing the import for one generation: it must run.


def fitness(ga_instance, solution, solution_idx):
    return float(np.sum(solution))


def multi_fitness(ga_instance, solution, solution_idx):
    return [float(sum(solution)), -float(sum(value * value for value in solution))]


def batch_fitness(ga_instance, solutions, solution_indices):
    return [float(sum(solution)) for solution in solutions]


def on_start(ga_instance):
    ga_instance.exported_events = ["start"]


def on_fitness(ga_instance, population_fitness):
    ga_instance.exported_events.append("fitness")


def on_parents(ga_instance, selected_parents):
    ga_instance.exported_events.append("parents")


def on_crossover(ga_instance, offspring):
    ga_instance.exported_events.append("crossover")


def on_mutation(ga_instance, offspring):
    ga_instance.exported_events.append("mutation")


def on_generation(ga_instance):
    ga_instance.exported_events.append("generation")


def on_stop(ga_instance, last_population_fitness):
    ga_instance.exported_events.append("stop")


def below_five(solution, values):
    return [value for value in values if value < 5]


def even_only(solution, values):
    return [value for value in values if value % 2 == 0]


def make_ga(**overrides):
    options = dict(num_generations=2, num_parents_mating=2, sol_per_pop=4,
                   num_genes=3, fitness_func=fitness, random_seed=17,
                   mutation_num_genes=1, suppress_warnings=True)
    options.update(overrides)
    return pygad.GA(**options)


CALLBACKS = dict(on_start=on_start, on_fitness=on_fitness, on_parents=on_parents, on_crossover=on_crossover,
                 on_mutation=on_mutation, on_generation=on_generation, on_stop=on_stop)
LAMBDA_CONSTRAINT = "limits = [None, lambda solution, values: [v for v in values if v < 5], None]\n"

#: (id, the SDK test it replays, GA options, push options) — every GA the compatibility tests push
COMPATIBILITY = [
    *[(f"gene_type-{index}", "test_real_gene_types_population_and_results_round_trip", {"gene_type": gene_type}, {})
      for index, gene_type in enumerate([float, int, np.float32, np.float64, np.int32, [float, 2],
                                         [int, [float, 2], np.float32]])],
    *[(f"mutation-{index}", "test_mutation_precedence_produces_runnable_parameters", options, {})
      for index, options in enumerate([
          {"mutation_num_genes": None}, {"mutation_probability": 0.3},
          {"mutation_type": "adaptive", "mutation_probability": [0.6, 0.2], "mutation_num_genes": [2, 1]},
          {"mutation_type": "adaptive", "mutation_num_genes": [2, 1]},
          {"mutation_type": "adaptive", "mutation_num_genes": None, "mutation_percent_genes": [50, 25]}])],
    *[(f"stop-{index}", "test_parsed_stop_criteria_export_as_constructor_inputs", {"stop_criteria": stops}, {})
      for index, stops in enumerate([["saturate_5"], ["reach_100000"], ["saturate_5", "reach_100000"]])],
    ("multi-objective", "test_multi_objective_results_and_stop_criteria",
     {"fitness_func": multi_fitness, "parent_selection_type": "nsga2",
      "stop_criteria": ["reach_100000_100000", "saturate_5"]}, {}),
    *[(f"execution-{index}", "test_execution_controls_preserve_constructor_semantics", options, {})
      for index, options in enumerate([
          {"fitness_func": batch_fitness, "fitness_batch_size": 2},
          {"mutation_by_replacement": True, "save_best_solutions": True, "save_solutions": True},
          {"parallel_processing": ["thread", 2]}])],
    ("callbacks", "test_all_lifecycle_callbacks_remain_executable", CALLBACKS, {}),
    ("per-gene-space-no-population", "test_per_gene_space_numpy_values_and_population_opt_out",
     {"gene_space": [np.array([1, 2, 3]), {"low": 0, "high": 2, "step": 0.25}, [0, 1]]}, {"include_population": False}),
    ("range-gene-space", "test_range_gene_space_exports_as_json_step_dict",
     {"gene_space": [range(5), range(10, 30, 5), [0, 1]], "gene_type": int}, {}),
    ("sbx-polynomial", "test_operator_tuning_parameters_are_exported",
     {"crossover_type": "sbx", "sbx_crossover_eta": 7, "mutation_type": "polynomial", "polynomial_mutation_eta": 9},
     {}),
    ("nsga3", "test_operator_tuning_parameters_are_exported",
     {"fitness_func": multi_fitness, "sol_per_pop": 6, "parent_selection_type": "nsga3", "nsga3_num_divisions": 4},
     {}),
    ("categorical", "test_categorical_genes_are_exported_and_reconstructed",
     {"gene_space": [[0, 1, 2], range(4), {"low": 0, "high": 1}], "gene_type": [int, int, float],
      "gene_categorical": [True, True, False], "crossover_type": "sbx", "mutation_type": "polynomial"}, {}),
    ("all-ordered", "test_all_ordered_genes_omit_gene_categorical", {}, {}),
    ("capture-override", "test_real_ga_dry_run_and_capture_override",
     {"fitness_func": lambda ga, solution, index: float(sum(solution))},
     {"fitness_source": "def replacement(ga, solution, index):\n    return float(sum(solution))\n"}),
    ("gene-constraint", "test_gene_constraint_and_sample_size_round_trip",
     {"gene_space": {"low": 0, "high": 10, "step": 1}, "gene_type": int,
      "gene_constraint": [None, below_five, even_only], "sample_size": 50}, {}),
    ("repeated-constraint", "test_repeated_constraint_function_is_defined_once",
     {"gene_space": {"low": 0, "high": 10, "step": 1}, "gene_type": int,
      "gene_constraint": [even_only, None, even_only]}, {}),
    ("lambda-constraint", "test_lambda_gene_constraint_needs_manual_source",
     {"gene_space": {"low": 0, "high": 10, "step": 1}, "gene_type": int,
      "gene_constraint": [None, lambda solution, values: values, None]},
     {"callbacks": {"gene_constraint": LAMBDA_CONSTRAINT}}),
]
witnesses("test_pygad_compatibility.py::push_payload")


@pytest.mark.parametrize(("sdk_test", "options", "push_options"), [case[1:] for case in COMPATIBILITY],
                         ids=[case[0] for case in COMPATIBILITY])
def test_pygad_compatibility_pushes_import_and_continue(client, recorder, control, api, sdk_test, options,
                                                        push_options):
    ga = make_ga(**options)
    ga.run()
    if sdk_test == "test_real_ga_dry_run_and_capture_override":  # what that test checks before pushing
        assert not vilvik.push(ga, dry_run=True).ok()
        with pytest.raises(vilvik.CaptureError):
            vilvik.push(ga, client=client)
        assert recorder.take() == []

    record = vilvik.push(ga, client=client, **push_options)

    call = only(recorder.take())
    assert_like(stub("test_pygad_compatibility.py::push_payload"), call)
    assert isinstance(record, vilvik.ImportRecord) and record.id == call.body["id"]
    submission = api.get(f"submissions/{record.id}").json()
    assert submission["status"] == "succeeded" and submission["imported"] is True
    result = api.get(f"results/{record.result_id}").json()
    assert result["generations_completed"] == ga.generations_completed
    assert len(result["best_solution"]) == ga.num_genes

    child = api.post(f"results/{record.result_id}/continue", json={"num_generations": 1})
    if push_options.get("include_population") is False:  # nothing to continue from (the SDK's test stops here)
        assert child.status_code == 409 and child.json()["error"]["code"] == "conflict", child.text
        return
    assert child.status_code == 202, child.text
    detail = control.wait(child.json()["id"], timeout=120)
    assert detail["status"] == "succeeded", detail["error"]
    continued = api.get(f"results/{detail['result_id']}").json()
    assert continued["generations_completed"] == 1
    if "gene_constraint" in options and sdk_test != "test_lambda_gene_constraint_needs_manual_source":
        population = api.get(f"results/{detail['result_id']}/files/population.json").json()
        rules = options["gene_constraint"]
        for gene, rule in enumerate(rules):
            if rule is not None:
                assert all(rule(row, [row[gene]]) == [row[gene]] for row in population), (gene, population)


@witnesses("test_pygad_compatibility.py::test_captured_source_supports_current_pygad_wrapper")
def test_captured_source_supports_current_pygad_wrapper(client, recorder, api):
    ga = make_ga()
    ga.run()

    record = ga.push_to_vilvik(client=client)

    assert_like(stub("test_pygad_compatibility.py::test_captured_source_supports_current_pygad_wrapper"),
                only(recorder.take()))
    assert record.id
    log = api.get(f"results/{record.result_id}/files/log.txt").text
    assert "pygad_wrapper" in log


# ---------------------------------------------------------------------- the table and its coverage


def test_every_stub_is_witnessed():
    missing = [(stub.key, index) for stub in STUBS
               for index in [stubs_of(stub.key).index(stub) + 1] if (stub.key, index) not in WITNESSED]
    assert not missing, missing
    assert len(STUBS) == 49


def _literal(node: ast.AST) -> Any:
    """A literal of the SDK's tests, with ``BASE`` (their mocked host) and f-strings over it."""
    if isinstance(node, ast.Name) and node.id == "BASE":
        return SDK_BASE
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else _literal(part.value) for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _literal(node.left) + _literal(node.right)
    if isinstance(node, ast.Dict):
        return {_literal(key): _literal(value) for key, value in zip(node.keys, node.values)}
    if isinstance(node, ast.List):
        return [_literal(item) for item in node.elts]
    return ast.literal_eval(node)


def sdk_test_stubs(directory: Path) -> list[Stub]:
    """Every ``mock_api.add(...)`` of the SDK's test sources, in file and line order."""
    found = []
    for path in sorted(directory.glob("test_*.py")):
        for function in ast.parse(path.read_text()).body:
            if not isinstance(function, ast.FunctionDef):
                continue
            for node in ast.walk(function):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add"
                        and isinstance(node.func.value, ast.Name) and node.func.value.id == "mock_api"):
                    options = {keyword.arg: _literal(keyword.value) for keyword in node.keywords}
                    found.append((node.lineno, Stub(path.name, function.name, _literal(node.args[0]),
                                                    _literal(node.args[1]).removeprefix(SDK_BASE),
                                                    options.get("status", 200), options.get("json"),
                                                    options.get("headers", {}))))
    return [stub for _, stub in sorted(found, key=lambda item: (item[1].module, item[0]))]


def test_the_table_is_the_sdk_tests_own_stubs():
    """The copy above is exactly what the SDK's tests mock (when its sdist is unpacked: see the module doc)."""
    default = Path(__file__).resolve().parents[1] / ".venv" / "sdk-source" / f"vilvik-{vilvik.__version__}"
    directory = Path(os.environ.get("VILVIK_SDK_SOURCE", default)) / "tests"
    if not directory.is_dir():
        # a missing witness fails (it never skips): `make install-test` unpacks it there
        pytest.fail(f"the SDK's test sources are not at {directory}: `make install-test` fetches them "
                    f"(pip download --no-deps --no-binary :all: vilvik=={vilvik.__version__}, unpacked into "
                    ".venv/sdk-source), or point VILVIK_SDK_SOURCE at an unpacked copy", pytrace=False)
    version = (directory.parent / "vilvik" / "_version.py").read_text()
    assert vilvik.__version__ in version, "the sdist is not the installed SDK's version"

    assert sdk_test_stubs(directory) == STUBS


def test_the_comparison_finds_what_it_should():
    """The witness itself: missing fields and other types are found; extras and integers-as-numbers are fine."""
    assert differences({"a": 1, "b": [1.0]}, {"a": 2, "b": [3, 4.5], "extra": None}) == []
    assert differences({"a": "x"}, {}) == ["$.a: missing (the SDK's test mocks 'x')"]
    assert differences({"a": 1}, {"a": 1.5})[0].startswith("$.a: the SDK's test mocks integer")
    assert differences({"a": [{"b": True}]}, {"a": [{"b": "true"}]})[0].startswith("$.a[0].b:")
    assert differences({"next": None}, {"next": "https://x"}) != []
    assert differences({"results": [{"id": "a"}]}, {"results": []}) != []
    assert json.loads(json.dumps(STUBS[0].json))["status"] == "queued"
