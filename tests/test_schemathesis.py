"""schemathesis against the OpenAPI document the server publishes (issues 11 and 14 #7).

A bounded, seeded run of every operation of ``/api/v1`` and ``/_emulator`` with every
check schemathesis has (``--checks all``): no server error, every response inside the
document (status, headers, body), no schema-valid request rejected, no invalid one
accepted, no undocumented method answered. It runs against an emulator of its own
(in memory, ``manual`` run mode, on a free loopback port), so the control plane's
resets, snapshot imports, clock moves and fault rules cannot touch another test; after
each call that changes the whole instance (a reset, a snapshot, the clock, the runtime
configuration, a fault rule, the default account or a key) the instance is reset, so the
next case starts from the same state. Requests to ``/api/v1`` carry the instance's
default key; the control plane is open on loopback and gets no credentials.

What the run tolerates, and why (the only exceptions to "a schema-valid request is
accepted"), each on the operations where it can happen and nowhere else, and each
proven by the error body — its code and every ``details[]`` entry's field and message —
to be that rule and no other (:data:`ALLOWED`, checked by the custom check
:func:`allowed_rejections_are_the_documented_rules` on every positive case):

* create, re-execute, continue — 422 ``validation_failed`` for what JSON Schema cannot
  say: source code that does not compile, an entry naming no top-level definition, a code
  upload id that names no upload (state); PyGAD's constructor rules across parameters
  (``rejected by PyGAD: ...``, ``num_parents_mating``/``fitness_batch_size`` against
  ``sol_per_pop``, a ragged ``initial_population``); on re-execute and continue a genome
  shape or submission type other than the parent's (state). Also the pairing rules of the
  eight callbacks (``<callback>`` xor ``<callback>_id``, each with its ``_entry``): the
  document writes them in JSON Schema for ``fitness_func`` and in the fields' descriptions
  for the callbacks, because all nine written out are 3^9 combinations that schemathesis's
  generator expands into 19,683 branches and then needs minutes per example; likewise
  ``gene_type: "custom"`` needs ``custom_gene_type`` (the field's description says it); and
  ``quick_binary_subset_sum``'s "integers or num_integers, exactly one" (the quick types'
  schemas are another module's). 402 ``insufficient_credits`` (state: the balance).
* import — 422 for code whose entry cannot be detected or that does not compile, PyGAD's
  rules, ``"custom"`` without ``custom_gene_type``, and a result whose lengths disagree with
  the parameters (across two parts).
* create, re-execute, continue, import — 422 ``idempotency_key_reused``: generated keys
  repeat, and the same key with another body is refused (state).
* ``POST /api/v1/auth/device/token`` — RFC 8628's 400 ``authorization_pending``,
  ``slow_down``, ``access_denied``, ``expired_token``, ``invalid_grant`` (state: the login).
* control plane — 422 naming ``account`` when the account of a key, webhook or login
  approval does not exist (state); naming ``event_types`` when ``events`` and
  ``event_types`` differ (no JSON Schema keyword compares two values); naming ``seconds``
  or ``to`` when a clock move would leave 1970-9998 from where the clock stands (state);
  naming ``tables`` when a snapshot holds a table this emulator does not have or a record
  its record type refuses (the document describes a snapshot's tables as open maps).

Every other status outside the document, a 422 whose details name anything else, a
server error, a response that does not match its schema, a schema-violating request that
is accepted, or an operation schemathesis cannot generate for fails the test with
schemathesis's report and a curl line to replay it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
import schemathesis
from schemathesis import engine
from schemathesis.engine import events

from vilvik_emulator.config import Settings
from vilvik_emulator.emulator import Emulator
from vilvik_emulator.server import EmulatorServer

pytestmark = pytest.mark.slow

SEED = 20240611
#: fuzzed examples per operation and generation mode: the whole run stays around a minute on 2 CPUs
MAX_EXAMPLES = 5

#: operations after which the instance is reset: they change what every later request sees
INSTANCE_WIDE = {
    ("POST", "/_emulator/reset"), ("PUT", "/_emulator/snapshot"), ("PATCH", "/_emulator/config"),
    ("POST", "/_emulator/clock"), ("POST", "/_emulator/faults"), ("PATCH", "/_emulator/accounts/{account_id}"),
    ("DELETE", "/_emulator/keys/{key_id}"), ("PATCH", "/_emulator/keys/{key_id}"),
    ("POST", "/_emulator/keys/{key_id}/rotate"),
}


@dataclass(frozen=True)
class Rule:
    """One rule JSON Schema cannot express: the error code, and the details it names."""

    code: str
    field: str = ".*"
    message: str = ".*"

    def covers(self, detail: dict[str, str] | None, code: str) -> bool:
        if code != self.code:
            return False
        if detail is None:
            return True
        return bool(re.fullmatch(self.field, detail.get("field", ""))
                    and re.search(self.message, detail.get("message", "")))


CODE_FIELD = r"(code\.)?(fitness_func|on_[a-z]+|gene_constraint)(_id|_entry)?"
#: what compiling a source, finding its entry and resolving an upload can say (core/code.py, core/code_uploads.py)
CODE_RULES = [Rule("validation_failed", CODE_FIELD, r"^does not compile|names no top-level|is not a top-level|"
                                                    r"has no __call__|no code upload|is required when|"
                                                    r"could not be detected")]
RAGGED_POPULATION = Rule("validation_failed", "initial_population", "^must be rectangular")
#: PyGAD's own constructor checks across parameters (core/parameters.py, which runs pygad.GA's constructor)
PYGAD_RULES = [Rule("validation_failed", r"[A-Za-z_]+(\.\d+)*", r"^rejected by PyGAD: "),
               Rule("validation_failed", "num_parents_mating|fitness_batch_size", r"sol_per_pop \(\d+\)$"),
               RAGGED_POPULATION]
#: the callbacks' pairing rules, which the document states in their descriptions only (vilvik_emulator/schemas/code.py)
CALLBACK_PAIRING = [Rule("validation_failed", r"(on_[a-z]+|gene_constraint)(_id|_entry)?",
                         r"not both|^needs .*_entry|^was sent without|^is required when")]
KEY_REUSED = Rule("idempotency_key_reused")
#: gene_type "custom" and custom_gene_type go together, which the document says in the fields' descriptions
CUSTOM_GENE_TYPE = Rule("validation_failed", r"(ga_parameters\.)?custom_gene_type", r'^"custom" needs custom_gene_type')
#: an import's result must fit its parameters (gene counts, population size): lengths across two parts
IMPORT_RULES = [Rule("validation_failed", r"result\.[a-z_]+(\.\d+)*|ga_parameters\.[a-z_]+",
                     r"genes|num_genes|sol_per_pop|generations|must have")]
#: quick_binary_subset_sum takes its integers, or a count to generate: exactly one of the two
QUICK_RULES = [Rule("validation_failed", "integers", r"^send either integers or num_integers")]
#: a snapshot's records are checked against the emulator's record types, which the document leaves open
SNAPSHOT_RULES = [Rule("validation_failed", r"tables\..*", "^is not a table of this emulator$"),
                  Rule("validation_failed", "tables", r"^[a-z_]+/.*: ")]
NO_CREDITS = Rule("insufficient_credits")
SHAPE_RULES = [Rule("validation_failed", r"num_genes|gene_type|custom_gene_type|submission_type|initial_population",
                    r"^cannot (change|be set)")]
CREATE_RULES = [*CODE_RULES, *CALLBACK_PAIRING, CUSTOM_GENE_TYPE, *PYGAD_RULES, *QUICK_RULES, KEY_REUSED, NO_CREDITS]
#: events and event_types are one list: when both are sent they must be equal (no JSON Schema keyword compares two)
ONE_EVENT_LIST = Rule("validation_failed", "event_types", "^must equal events")
#: RFC 8628's answers while a login is pending, or for a code that names no login (state, not the body's shape)
DEVICE_STATE = [Rule(code) for code in ("authorization_pending", "slow_down", "access_denied", "expired_token",
                                        "invalid_grant")]
ACCOUNT_NAMES_NOTHING = Rule("validation_failed", "account", "which is not an account$")
ALLOWED: dict[tuple[str, str], tuple[set[int], list[Rule]]] = {
    ("POST", "/api/v1/submissions/"): ({402, 422}, CREATE_RULES),
    ("POST", "/api/v1/submissions/{submission_id}/reexecute"): ({402, 422}, [*CREATE_RULES, *SHAPE_RULES]),
    ("POST", "/api/v1/results/{result_id}/continue"): ({402, 422}, [*CREATE_RULES, *SHAPE_RULES]),
    ("POST", "/api/v1/imports/"): ({422}, [*CODE_RULES, CUSTOM_GENE_TYPE, *PYGAD_RULES, *IMPORT_RULES, KEY_REUSED]),
    ("PUT", "/_emulator/snapshot"): ({422}, SNAPSHOT_RULES),
    ("POST", "/_emulator/keys"): ({422}, [ACCOUNT_NAMES_NOTHING]),
    ("POST", "/_emulator/webhooks"): ({422}, [ACCOUNT_NAMES_NOTHING, ONE_EVENT_LIST]),
    ("PATCH", "/_emulator/webhooks/{webhook_id}"): ({422}, [ONE_EVENT_LIST]),
    ("POST", "/api/v1/auth/device/token"): ({400}, DEVICE_STATE),
    ("POST", "/_emulator/device-logins/{user_code}/approve"): ({422}, [ACCOUNT_NAMES_NOTHING]),
    ("POST", "/_emulator/clock"): ({422}, [Rule("validation_failed", "seconds|to", "^would move the clock outside")]),
}


def _allowed_rejection(method: str, path: str, status: int, body: dict) -> bool:
    """True when the response is a rejection the module docstring allows for this operation."""
    statuses, rules = ALLOWED.get((method, path), (set(), []))
    if status not in statuses:
        return False
    error = body["error"]
    if isinstance(error, str):  # RFC 8628's own error shape (the device-login token endpoint)
        error = {"code": error}
    details = error.get("details") or [None]
    code = error["code"]

    return all(any(rule.covers(detail, code) for rule in rules) for detail in details)


@schemathesis.check
def allowed_rejections_are_the_documented_rules(ctx, response, case) -> None:
    """A schema-valid request answered with a status this module lets through must show one of its rules."""
    method, path = case.method.upper(), case.operation.path
    statuses, _ = ALLOWED.get((method, path), (set(), []))
    if case.meta is None or not case.meta.generation.mode.is_positive or response.status_code not in statuses:
        return
    if not _allowed_rejection(method, path, response.status_code, response.json()):
        raise AssertionError(f"{method} {path}: a schema-valid request was rejected by no rule the test allows: "
                             f"{response.status_code} {response.text}")


@pytest.fixture(scope="module")
def fuzzed_server() -> Iterator[EmulatorServer]:
    emulator = Emulator(Settings(db_path=None, port=0, mode="manual", pool_size=1))
    server = EmulatorServer(emulator, "127.0.0.1", 0)
    emulator.start()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _config(key: str) -> schemathesis.Config:
    expected = ["2xx", "3xx", "401", "403", "404", "409", "429"]  # schemathesis's own default
    return schemathesis.Config.from_dict({
        "seed": SEED,
        "workers": 1,
        "checks": {"enabled": True},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True},
                   "stateful": {"enabled": False}},
        "generation": {"mode": "all", "deterministic": True, "max-examples": MAX_EXAMPLES, "database": "none"},
        "suppress-health-check": ["all"],
        "auth": {"openapi": {"ApiKey": {"bearer": key}}},
        "operations": [
            {"include-name": f"{method} {path}",
             "checks": {"positive_data_acceptance": {"expected-statuses": [*expected, *map(str, sorted(statuses))]}}}
            for (method, path), (statuses, _) in ALLOWED.items()],
    })


def _describe(recorder, case_id: str, failure_info) -> str:
    failure = failure_info.failure
    interaction = recorder.interactions.get(case_id)
    answer = ""
    if interaction is not None and interaction.response is not None:
        text = interaction.response.content[:500].decode(errors="replace")
        answer = f"\n    -> {interaction.response.status_code} {text}"
    node = recorder.cases.get(case_id)
    meta = node.value.meta if node is not None else None
    where = f"\n    ({meta.phase.name.value}: {getattr(meta.phase.data, 'description', '')})" if meta else ""
    return f"{failure.title}: {failure.message}\n    {failure_info.code_sample}{answer}{where}"


def test_every_operation_holds_to_the_served_document(fuzzed_server):
    schema = schemathesis.openapi.from_url(f"{fuzzed_server.url}/api/v1/openapi.json",
                                           config=_config(fuzzed_server.emulator.default_api_key))
    reset_url = f"{fuzzed_server.url}/_emulator/reset"

    @schema.hook
    def after_call(context, case, response):
        if (case.method.upper(), case.operation.path) in INSTANCE_WIDE:
            requests.post(reset_url, json={}, timeout=60).raise_for_status()

    problems: list[str] = []
    operations: set[str] = set()
    cases = 0
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            operations.add(event.recorder.label)
            cases += len(event.recorder.cases)
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    if check.failure_info is None:
                        continue
                    problems.append(f"{event.recorder.label}: "
                                    f"{_describe(event.recorder, case_id, check.failure_info)}")
        elif isinstance(event, events.NonFatalError):
            problems.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            raise event.exception
    print(f"schemathesis: {len(operations)} operations, {cases} cases, {len(problems)} problems")
    assert len(operations) == len(list(schema.get_all_operations()))
    assert not problems, "\n\n".join(dict.fromkeys(problems))
