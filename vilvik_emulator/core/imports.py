"""Imports (contract §10): a PyGAD run made on the user's machine, brought in as an editable, continuable run.

``vilvik.push(ga)`` and ``pygad.GA.push_to_vilvik()`` send the run's parameters, code
and outcome; the import becomes a ``succeeded`` submission (``submission_type: "new"``,
``imported: true``) with a result carrying exactly the local outcome, so it can be
inspected, downloaded and continued — with edited code — like any run. The import's id
is that submission's id. Imports are free, fire no webhook events (no run happened
here) and are limited per tier per hour and per day on the emulator's clock. This
service owns the ``imports`` table and asks the submission and result services to
store the rest, all in one transaction.
"""

from __future__ import annotations

import math
import threading
from datetime import timedelta
from typing import Any

from ..clock import Clock, format_ts, parse_ts
from ..errors import ApiError, FieldErrors
from ..runner.params import CODE_ROLES
from ..schemas.imports import ImportCreate
from ..store import Store
from .code import detect_entry
from .drafts import Draft, DraftBuilder
from .parameters import complete_parameters
from .records import AccountRecord, ImportRecord, SubmissionRecord
from .results import ResultService
from .submissions import SubmissionService

IMPORTS = ImportRecord.table
#: tier -> (per hour, per day), contract §10
TIER_LIMITS = {"free": (10, 50), "premium": (60, 300)}
WINDOWS = (("hour", timedelta(hours=1), 0), ("day", timedelta(days=1), 1))


def fitness_text(value: Any) -> str:
    """A fitness as the API writes it: a number as text, or a JSON list (contract §7)."""
    if isinstance(value, list):
        return "[" + ", ".join(fitness_text(item) for item in value) + "]"
    if isinstance(value, int):
        return str(value)
    number = float(value)
    if math.isnan(number):
        return "nan"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    return repr(number)


def _stopped_reason(parameters: dict, generations: int, code: dict) -> str:
    """Why the local run stopped, as far as its record tells (it is not sent)."""
    if generations >= (parameters.get("num_generations") or 0):
        return "num_generations"
    criteria = parameters.get("stop_criteria")
    if criteria:
        return f"stop_criteria:{criteria if isinstance(criteria, str) else criteria[0]}"
    return "on_generation" if "on_generation" in code else "num_generations"


class ImportService:
    def __init__(self, store: Store, clock: Clock, submissions: SubmissionService, results: ResultService,
                 drafts: DraftBuilder) -> None:
        self.store = store
        self.clock = clock
        self.submissions = submissions
        self.results = results
        self.drafts = drafts
        self._lock = threading.Lock()

    def check_rate(self, account: AccountRecord) -> None:
        """429 with ``Retry-After`` when the account's tier allows no more imports now."""
        limits = TIER_LIMITS.get(account.tier, TIER_LIMITS["free"])
        now = self.clock.now()
        account_id = account.id
        times = sorted(parse_ts(row["created_at"]) for row in
                       self.store.scan(IMPORTS, lambda row: row["account_id"] == account_id))
        for label, window, index in WINDOWS:
            recent = [moment for moment in times if moment > now - window]
            if len(recent) >= limits[index]:
                retry = max(1, math.ceil((recent[0] + window - now).total_seconds()))
                raise ApiError("rate_limited", f"the {account.tier} tier allows {limits[index]} imports per {label}; "
                                               f"retry in {retry} s", headers={"Retry-After": str(retry)})

    def create(self, account: AccountRecord, body: ImportCreate, *,
               within: Any = None) -> tuple[ImportRecord, SubmissionRecord]:
        errors = FieldErrors()
        outcome = body.result
        given = body.ga_parameters.ga_given()
        if given.get("num_genes") is None and given.get("initial_population") is None:
            given["num_genes"] = len(outcome.best_solution)  # the SDK's own import test sends no num_genes
        code = self._code(body, errors)
        named = NamedErrors(errors, self._field_of)
        parameters = complete_parameters(given, named)
        self._check_genome(outcome, parameters.get("num_genes"), errors)
        if not errors:
            self.drafts.pygad_rules(parameters, code, named)
        errors.raise_if_any()
        with self._lock:  # the limit holds for concurrent imports too
            self.check_rate(account)
            return self._store(account, body, parameters, code, within)

    @staticmethod
    def _check_genome(outcome: Any, num_genes: Any, errors: FieldErrors) -> None:
        """The outcome's solutions have the run's genes: an import is continued from them."""
        if not isinstance(num_genes, int):
            return
        if len(outcome.best_solution) != num_genes:
            errors.add("result.best_solution", f"has {len(outcome.best_solution)} genes, but the run has "
                                               f"num_genes {num_genes}")
        for index, row in enumerate(outcome.population or []):
            if len(row) != num_genes:
                errors.add(f"result.population.{index}", f"has {len(row)} genes, but the run has num_genes {num_genes}")
                break

    @staticmethod
    def _field_of(field: str) -> str:
        """A field as it sits in the import body (``code.`` or ``ga_parameters.``)."""
        root = field.split(".")[0].removesuffix("_entry")
        return f"{'code' if root in CODE_ROLES else 'ga_parameters'}.{field}"

    @staticmethod
    def _code(body: ImportCreate, errors: FieldErrors) -> dict[str, str]:
        code: dict[str, str] = {}
        for role in CODE_ROLES:
            source = getattr(body.code, role)
            if source is None:
                continue
            entry = getattr(body.code, f"{role}_entry") or detect_entry(source, role)
            if entry is None:
                errors.add(f"code.{role}_entry", "is missing and could not be detected from the source")
                continue
            code[role] = source
            code[f"{role}_entry"] = entry
        return code

    def _store(self, account: AccountRecord, body: ImportCreate, parameters: dict, code: dict[str, str],
               within: Any) -> tuple[ImportRecord, SubmissionRecord]:
        outcome = body.result
        origin = body.origin.model_dump(exclude_none=True) if body.origin is not None else {}
        now = format_ts(self.clock.now()) or ""
        fitness = fitness_text(outcome.best_solution_fitness)
        history = outcome.best_solutions_fitness if outcome.best_solutions_fitness is not None else [
            outcome.best_solution_fitness]
        data = {**outcome.model_dump(), "best_solution_fitness": fitness, "best_solutions_fitness": history,
                "best_solution_generation": outcome.best_solution_generation
                if outcome.best_solution_generation is not None else outcome.generations_completed}
        draft = Draft({"name": body.name, "description": body.description, "webhook_url": None,
                       "notification_email": None, "visibility": "private"}, "new", parameters, code)
        log = (f"Imported from {origin.get('client', 'a client')} (sdk {origin.get('sdk_version', '?')}, python "
               f"{origin.get('python_version', '?')}) at {now}; the run happened on the client's machine.\n").encode()
        with self.store.transaction():
            submission = self.submissions.insert(account, draft, source="api")
            result = self.results.prepare(submission, data, log=log, stopped_reason=_stopped_reason(
                parameters, outcome.generations_completed, code))
            record = ImportRecord(id=submission.id, seq=self.store.next_seq(), account_id=account.id,
                                  submission_id=submission.id, result_id=result.id, origin=origin, created_at=now)
            self.results.insert(result)
            updated = self.submissions.update(
                submission.id, status="succeeded", started_at=now, finished_at=now, credits_used=0.0,
                result_id=result.id, import_id=record.id,
                progress={"generations_completed": outcome.generations_completed,
                          "num_generations": parameters.get("num_generations"), "best_fitness": fitness})
            self.store.insert(IMPORTS, record.dump())
            if within is not None:
                within(record)
        assert updated is not None
        return record, updated

    def clear_account(self, account_id: str) -> None:
        self.store.remove_where(IMPORTS, lambda row: row["account_id"] == account_id)


class NamedErrors(FieldErrors):
    """Field errors whose names are translated as they are added (a field of a nested body)."""

    def __init__(self, target: FieldErrors, rename: Any) -> None:
        super().__init__()
        self.target = target
        self.rename = rename
        self.details = target.details

    def add(self, field: str, message: str) -> None:
        self.target.add(self.rename(field), message)
