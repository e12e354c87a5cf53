"""Imports (contract §10): a PyGAD run made on the user's machine, brought in as a record.

``vilvik.push(ga)`` and ``pygad.GA.push_to_vilvik()`` send the run's parameters, code
and outcome; the import becomes a ``succeeded`` submission (``submission_type:
"import"``) with a result carrying exactly the local outcome, so it can be inspected,
downloaded and continued like any run. Imports are free, fire no webhook events (no run
happened here) and are limited per tier per hour and per day on the emulator's clock.
"""

from __future__ import annotations

import json
import math
import threading
from datetime import timedelta
from typing import Any

from ..clock import Clock, format_ts, parse_ts
from ..errors import ApiError, FieldErrors
from ..ids import prefixed_id, resource_id
from ..runner.params import CODE_ROLES
from ..store import Store
from .code import detect_entry
from .parameters import accepted_parameters, effective_parameters, pygad_check
from .results import CONTENT_TYPES, RESULTS
from .charts import fitness_chart
from .submissions import SUBMISSIONS, SubmissionService, text_field

IMPORTS = "imports"
#: tier -> (per hour, per day), contract §10
TIER_LIMITS = {"free": (10, 50), "premium": (60, 300)}
WINDOWS = (("hour", timedelta(hours=1), 0), ("day", timedelta(days=1), 1))
BODY_FIELDS = ("name", "description", "ga_parameters", "code", "result", "origin")
RESULT_FIELDS = ("best_solution", "best_solution_fitness", "best_solutions_fitness", "generations_completed",
                 "best_solution_generation", "best_solution_idx", "last_generation_fitness", "population",
                 "gene_type_single")


def _fitness_text(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_fitness_text(item) for item in value) + "]"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    number = float(value)
    if math.isnan(number):
        return "nan"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    return repr(number)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_fitness(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and all(_is_number(item) for item in value)
    return _is_number(value)


def _stopped_reason(parameters: dict, outcome: dict, code: dict) -> str:
    """Why the local run stopped, as far as its record tells (it is not sent)."""
    if outcome["generations_completed"] >= (parameters.get("num_generations") or 0):
        return "num_generations"
    criteria = parameters.get("stop_criteria")
    if criteria:
        return f"stop_criteria:{criteria if isinstance(criteria, str) else criteria[0]}"
    return "on_generation" if "on_generation" in code else "num_generations"


class ImportService:
    def __init__(self, store: Store, clock: Clock, submissions: SubmissionService) -> None:
        self.store = store
        self.clock = clock
        self.submissions = submissions
        self._lock = threading.Lock()

    def check_rate(self, account: dict) -> None:
        """429 with ``Retry-After`` when the account's tier allows no more imports now."""
        limits = TIER_LIMITS.get(account.get("tier"), TIER_LIMITS["free"])
        now = self.clock.now()
        account_id = account["id"]
        times = sorted(parse_ts(row["created_at"]) for row in
                       self.store.scan(IMPORTS, lambda row: row["account_id"] == account_id))
        for label, window, index in WINDOWS:
            recent = [moment for moment in times if moment > now - window]
            if len(recent) >= limits[index]:
                retry = max(1, math.ceil((recent[0] + window - now).total_seconds()))
                raise ApiError("rate_limited",
                               f"the {account.get('tier', 'free')} tier allows {limits[index]} imports per {label}; "
                               f"retry in {retry} s", headers={"Retry-After": str(retry)})

    def create(self, account: dict, body: dict) -> dict:
        errors = FieldErrors()
        for name in body:
            if name not in BODY_FIELDS:
                errors.add(name, "is not an import field")
        name = text_field(body, "name", 200, errors)
        description = text_field(body, "description", 10_000, errors)
        given = body.get("ga_parameters")
        code_in = body.get("code")
        outcome = body.get("result")
        origin = body.get("origin") or {}
        if not isinstance(given, dict):
            errors.add("ga_parameters", "is required: the run's PyGAD parameters")
        elif "num_generations" not in given:
            errors.add("ga_parameters.num_generations", "is required")
        if not isinstance(code_in, dict) or not isinstance(code_in.get("fitness_func"), str):
            errors.add("code.fitness_func", "is required: the fitness function's source")
        if not isinstance(outcome, dict):
            errors.add("result", "is required: the run's outcome")
        if not isinstance(origin, dict):
            errors.add("origin", "must be an object")
        errors.raise_if_any()

        accepted = set(accepted_parameters())
        for parameter in given:
            if parameter not in accepted:
                errors.add(f"ga_parameters.{parameter}", "is not a PyGAD parameter")
        code = self._code(code_in, errors)
        result = self._outcome(outcome, errors)
        errors.raise_if_any()
        parameters = effective_parameters(dict(given), errors)
        if not errors:
            placeholders = self.submissions.placeholders(code, errors)
            if not errors:
                pygad_check(parameters, placeholders, errors)
        for item in errors.details:  # name the field as it sits in the import body
            root = item["field"].split(".")[0].removesuffix("_entry")
            item["field"] = f"{'code' if root in CODE_ROLES else 'ga_parameters'}.{item['field']}"
        errors.raise_if_any()
        with self._lock:  # the limit holds for concurrent imports too
            self.check_rate(account)
            return self._store(account, name, description, parameters, code, result, origin)

    def _code(self, code_in: dict, errors: FieldErrors) -> dict[str, str]:
        code: dict[str, str] = {}
        for role in CODE_ROLES:
            source = code_in.get(role)
            if source is None:
                continue
            if not isinstance(source, str) or not source.strip():
                errors.add(f"code.{role}", "must be a non-empty string of Python source")
                continue
            entry = code_in.get(f"{role}_entry") or detect_entry(source, role)
            if not isinstance(entry, str) or not entry.isidentifier():
                errors.add(f"code.{role}_entry", "is missing and could not be detected from the source")
                continue
            code[role] = source
            code[f"{role}_entry"] = entry
        for name in code_in:
            if name.removesuffix("_entry") not in CODE_ROLES:
                errors.add(f"code.{name}", "is not a code field")
        return code

    def _outcome(self, outcome: dict, errors: FieldErrors) -> dict:
        for name in outcome:
            if name not in RESULT_FIELDS:
                errors.add(f"result.{name}", "is not a result field")
        if not isinstance(outcome.get("best_solution"), list):
            errors.add("result.best_solution", "is required: a list of genes")
        if not _is_fitness(outcome.get("best_solution_fitness")):
            errors.add("result.best_solution_fitness", "is required: a number or a list of numbers")
        history = outcome.get("best_solutions_fitness")
        if not isinstance(history, list) or not all(_is_fitness(value) for value in history):
            errors.add("result.best_solutions_fitness", "is required: the best fitness of every generation")
        for name in ("generations_completed", "best_solution_generation"):
            if not isinstance(outcome.get(name), int) or isinstance(outcome.get(name), bool):
                errors.add(f"result.{name}", "is required: an integer")
        population = outcome.get("population")
        if population is not None and not (isinstance(population, list)
                                           and all(isinstance(row, list) for row in population)):
            errors.add("result.population", "must be a list of solutions")
        return outcome

    def _store(self, account: dict, name: str | None, description: str | None, parameters: dict,
               code: dict, outcome: dict, origin: dict) -> dict:
        now = format_ts(self.clock.now())
        submission_id, result_id = resource_id(), resource_id()
        population = outcome.get("population")
        data = {**outcome, "best_solution_fitness": _fitness_text(outcome["best_solution_fitness"])}
        files = [("result.json", json.dumps({**data, "submission_id": submission_id,
                                             "parameters": parameters}).encode())]
        if population is not None:
            files.append(("population.json", json.dumps(population).encode()))
        files.append(("fitness.svg", fitness_chart(outcome["best_solutions_fitness"],
                                                   title=f"Best fitness per generation — {name or submission_id}")
                      .encode()))
        files.append(("log.txt", f"Imported from {origin.get('client', 'a client')} "
                                 f"(sdk {origin.get('sdk_version', '?')}, python {origin.get('python_version', '?')})"
                                 f" at {now}; the run happened on the client's machine.\n".encode()))
        entries = [{"name": file_name, "content_type": CONTENT_TYPES[file_name.rsplit(".", 1)[1]],
                    "size": self.store.write_file(RESULTS, result_id, file_name, payload)}
                   for file_name, payload in files]
        import_id = prefixed_id("imp")
        submission = {
            "id": submission_id, "seq": self.store.next_seq(), "account_id": account["id"], "name": name,
            "description": description, "submission_type": "import", "webhook_url": None,
            "notification_email": None, "visibility": "private", "status": "succeeded", "source": "api",
            "parent_submission_id": None, "parent_result_id": None, "created_at": now, "started_at": now,
            "finished_at": now, "parameters": parameters, "code": code, "quick_inputs": {}, "generated": {},
            "progress": {"generations_completed": outcome["generations_completed"],
                         "num_generations": parameters.get("num_generations"),
                         "best_fitness": data["best_solution_fitness"]},
            "error": None, "usage": None, "credits_used": 0.0, "result_id": result_id,
            "has_initial_population": False, "import_id": import_id,
        }
        result = {
            "id": result_id, "seq": self.store.next_seq(), "account_id": account["id"],
            "submission_id": submission_id, "name": name, "is_shared": False, "status": "succeeded",
            "best_solution_fitness": data["best_solution_fitness"], "best_solution": outcome["best_solution"],
            "best_solution_idx": outcome.get("best_solution_idx"),
            "best_solutions_fitness": outcome["best_solutions_fitness"],
            "best_solution_generation": outcome["best_solution_generation"],
            "last_generation_fitness": outcome.get("last_generation_fitness"),
            "generations_completed": outcome["generations_completed"],
            "stopped_reason": _stopped_reason(parameters, outcome, code),
            "parameters": parameters, "usage": None, "parent_result_id": None, "created_at": now, "files": entries,
        }
        record = {"id": import_id, "seq": self.store.next_seq(), "account_id": account["id"],
                  "submission_id": submission_id, "result_id": result_id, "origin": origin, "created_at": now}
        with self.store.transaction():
            self.store.insert(SUBMISSIONS, submission)
            self.store.insert(RESULTS, result)
            self.store.insert(IMPORTS, record)
        return record
