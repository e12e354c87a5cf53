"""Results: what a run produced (contract §7), their files, and branching (continue).

Every run that a worker executed gets exactly one result: a successful one carries the
best solution, the fitness history and the final population; a failed or stopped one
carries what is known (progress, usage) and its ``log.txt``, so the output of a run
that crashed can still be read. Large artifacts are files beside the database.
"""

from __future__ import annotations

import json
from typing import Any

from ..clock import Clock, format_ts, parse_ts
from ..errors import ApiError, FieldErrors, invalid_parameter, not_found
from ..ids import resource_id
from ..runner import Outcome
from ..store import Store
from . import render
from .charts import fitness_chart
from .pagination import CursorCodec, last_value, paginate, parse_ordering, sorted_entries
from .submissions import SUBMISSIONS, SubmissionService

RESULTS = "results"
ORDERINGS = ("created_at", "-created_at", "best_solution_fitness", "-best_solution_fitness")
CONTENT_TYPES = {"json": "application/json", "svg": "image/svg+xml", "txt": "text/plain; charset=utf-8"}


def fitness_sort_value(text: Any) -> float:
    """A fitness string as a number for sorting and filtering (first objective of a list)."""
    if text is None:
        return float("-inf")
    try:
        value = json.loads(text) if str(text).startswith("[") else float(text)
    except (TypeError, ValueError):
        return float("-inf")
    if isinstance(value, list):
        value = value[0] if value else float("-inf")
    try:
        number = float(value)
    except (TypeError, ValueError):
        return float("-inf")
    return number if number == number else float("-inf")


def _valid_fitness(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.lstrip().startswith("[") else float(value)
        except ValueError:
            return False
    if isinstance(value, list):
        return bool(value) and all(_valid_fitness(item) and not isinstance(item, (list, str)) for item in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


class ResultService:
    def __init__(self, store: Store, clock: Clock, codec: CursorCodec, submissions: SubmissionService) -> None:
        self.store = store
        self.clock = clock
        self.codec = codec
        self.submissions = submissions
        store.ensure_order(RESULTS, "created_at", lambda row: (row["created_at"], row["seq"]))

    # ------------------------------------------------------------------ recording

    def record_outcome(self, submission: dict, outcome: Outcome, progress: dict | None) -> dict | None:
        ran = outcome.status == "succeeded" or bool(outcome.usage)
        if not ran:
            return None
        result_id = resource_id()
        data = outcome.result or {}
        files: list[tuple[str, bytes]] = []
        log = outcome.log
        if outcome.log_dropped_bytes:
            log += f"\n[vilvik-emulator: output truncated, {outcome.log_dropped_bytes} more bytes dropped]\n".encode()
        if outcome.status == "succeeded":
            population = data.get("population") or []
            files.append(("result.json", json.dumps({**data, "submission_id": submission["id"],
                                                     "parameters": submission["parameters"]}).encode()))
            files.append(("population.json", json.dumps(population).encode()))
            files.append(("fitness.svg", fitness_chart(data.get("best_solutions_fitness") or [],
                                                       title=f"Best fitness per generation — "
                                                             f"{submission.get('name') or submission['id']}")
                          .encode()))
        files.append(("log.txt", log))
        entries = []
        for name, payload in files:
            size = self.store.write_file(RESULTS, result_id, name, payload)
            entries.append({"name": name, "content_type": CONTENT_TYPES[name.rsplit(".", 1)[1]], "size": size})
        known = progress or {}
        result = {
            "id": result_id,
            "seq": self.store.next_seq(),
            "account_id": submission["account_id"],
            "submission_id": submission["id"],
            "name": submission.get("name"),
            "is_shared": False,
            "status": outcome.status,
            "best_solution_fitness": data.get("best_solution_fitness", known.get("best_fitness")),
            "best_solution": data.get("best_solution"),
            "best_solution_idx": data.get("best_solution_idx"),
            "best_solutions_fitness": data.get("best_solutions_fitness") or [],
            "best_solution_generation": data.get("best_solution_generation"),
            "last_generation_fitness": data.get("last_generation_fitness"),
            "generations_completed": data.get("generations_completed", known.get("generations_completed", 0)),
            "stopped_reason": data.get("stopped_reason") if outcome.status == "succeeded" else outcome.status,
            "parameters": submission["parameters"],
            "usage": outcome.usage or None,
            "parent_result_id": submission.get("parent_result_id"),
            "created_at": format_ts(self.clock.now()),
            "files": entries,
        }
        self.store.insert(RESULTS, result)
        return result

    def canned_result(self, submission: dict, given: dict) -> dict:
        """A result for a job finished by hand, filled from ``given`` and plausible defaults."""
        errors = FieldErrors()
        parameters = submission["parameters"]
        genes = int(parameters.get("num_genes") or 1)
        fitness = given.get("best_solution_fitness", 0.0)
        if not _valid_fitness(fitness):
            errors.add("result.best_solution_fitness", "must be a number, a numeric string, or a list of numbers")
        solution = given.get("best_solution", [0.0] * genes)
        if not isinstance(solution, list):
            errors.add("result.best_solution", "must be a list of numbers")
        errors.raise_if_any()
        text = fitness if isinstance(fitness, str) else (json.dumps(fitness) if isinstance(fitness, list)
                                                         else repr(float(fitness)))
        generations = int(given.get("generations_completed", parameters.get("num_generations") or 0))
        history = given.get("best_solutions_fitness", [fitness_sort_value(text)] * (generations + 1))
        population = given.get("population", [solution] * int(parameters.get("sol_per_pop") or 1))
        return {
            "best_solution": solution,
            "best_solution_fitness": text,
            "best_solution_idx": int(given.get("best_solution_idx", 0)),
            "best_solutions_fitness": history,
            "best_solution_generation": int(given.get("best_solution_generation", generations)),
            "generations_completed": generations,
            "last_generation_fitness": given.get("last_generation_fitness",
                                                 [fitness_sort_value(text)] * len(population)),
            "population": population,
            "stopped_reason": given.get("stopped_reason", "num_generations"),
            "canned": True,
        }

    # ------------------------------------------------------------------ reading

    def get(self, account: dict, result_id: str) -> dict:
        result = self.store.get(RESULTS, result_id)
        if result is None or result["account_id"] != account["id"]:
            raise not_found("result")
        return result

    def list(self, account: dict, args: Any, page_url: str) -> dict:
        checks = []
        submission_id = last_value(args, "submission_id")
        if submission_id is not None:
            checks.append(lambda row: row["submission_id"] == submission_id)
        shared = last_value(args, "is_shared")
        if shared is not None:
            if shared not in ("true", "false"):
                raise invalid_parameter("is_shared", "must be true or false")
            checks.append(lambda row: row["is_shared"] == (shared == "true"))
        for name, keep in (("min_fitness", lambda value, bound: value >= bound),
                           ("max_fitness", lambda value, bound: value <= bound)):
            raw = last_value(args, name)
            if raw is not None:
                try:
                    bound = float(raw)
                except ValueError:
                    raise invalid_parameter(name, "must be a number") from None
                if bound != bound:
                    raise invalid_parameter(name, "must be a number")
                checks.append(lambda row, bound=bound, keep=keep: row["best_solution_fitness"] is not None
                              and keep(fitness_sort_value(row["best_solution_fitness"]), bound))
        for name, keep in (("created_after", lambda created, bound: created >= bound),
                           ("created_before", lambda created, bound: created <= bound)):
            raw = last_value(args, name)
            if raw is not None:
                try:
                    bound = parse_ts(raw)
                except ValueError:
                    raise invalid_parameter(name, "must be an ISO-8601 timestamp") from None
                checks.append(lambda row, bound=bound, keep=keep: keep(parse_ts(row["created_at"]), bound))
        ordering = parse_ordering(args, ORDERINGS, "-created_at")
        account_id = account["id"]

        def matches(row: dict) -> bool:
            return row["account_id"] == account_id and all(check(row) for check in checks)

        common = {"args": args, "ordering": ordering, "codec": self.codec, "page_url": page_url,
                  "render": render.result_row}
        if ordering.lstrip("-") == "created_at":
            return paginate(self.store.ordered(RESULTS, "created_at"),
                            fetch=lambda record_id: self.store.peek(RESULTS, record_id), matches=matches, **common)
        rows = self.store.scan(RESULTS, matches)
        by_id = {row["id"]: row for row in rows}
        entries = sorted_entries(rows, lambda row: fitness_sort_value(row["best_solution_fitness"]))
        return paginate(entries, fetch=by_id.get, matches=bool, **common)

    def file(self, account: dict, result_id: str, name: str) -> tuple[bytes, str]:
        result = self.get(account, result_id)
        entry = next((entry for entry in result.get("files") or [] if entry["name"] == name), None)
        payload = self.store.read_file(RESULTS, result_id, name) if entry else None
        if payload is None:
            raise not_found("file")
        return payload, entry["content_type"]

    # ------------------------------------------------------------------ writing

    def update(self, account: dict, result_id: str, body: dict) -> dict:
        self.get(account, result_id)
        errors = FieldErrors()
        for name in body:
            if name not in ("name", "is_shared"):
                errors.add(name, "cannot be changed (only name and is_shared)")
        changes: dict[str, Any] = {}
        if "name" in body:
            if body["name"] is not None and (not isinstance(body["name"], str) or len(body["name"]) > 200):
                errors.add("name", "must be a string of at most 200 characters")
            changes["name"] = body["name"]
        if "is_shared" in body:
            if not isinstance(body["is_shared"], bool):
                errors.add("is_shared", "must be true or false")
            changes["is_shared"] = body["is_shared"]
        errors.raise_if_any()
        return self.store.update(RESULTS, result_id, changes) if changes else self.get(account, result_id)

    def delete(self, account: dict, result_id: str) -> None:
        self.get(account, result_id)
        self.store.remove(RESULTS, result_id)
        self.store.delete_files(RESULTS, result_id)

    def delete_for_submission(self, submission_id: str) -> None:
        for result in self.store.remove_where(RESULTS, lambda row: row["submission_id"] == submission_id):
            self.store.delete_files(RESULTS, result["id"])

    def continue_run(self, account: dict, result_id: str, overrides: dict, *, source: str = "api") -> dict:
        result = self.get(account, result_id)
        if result.get("status", "succeeded") != "succeeded":
            raise ApiError("conflict", f"the run of result {result_id} did not succeed ({result.get('status')}); "
                                       "only a successful run can be continued")
        parent = self.store.get(SUBMISSIONS, result["submission_id"])
        if parent is None or parent["account_id"] != account["id"]:
            raise ApiError("conflict", "the submission this result came from was deleted")
        raw = self.store.read_file(RESULTS, result_id, "population.json")
        if raw is None:
            raise ApiError("conflict", "this result has no final population to continue from")
        population = json.loads(raw)
        size = overrides.get("sol_per_pop")
        fitness = result.get("last_generation_fitness") or []
        if isinstance(size, int) and not isinstance(size, bool) and 0 < size < len(population) \
                and len(fitness) == len(population):
            # A smaller population keeps the parent's best solutions.
            ranked = sorted(range(len(population)), key=lambda index: fitness_sort_value(
                json.dumps(fitness[index]) if isinstance(fitness[index], list) else fitness[index]), reverse=True)
            population = [population[index] for index in ranked[:size]]
        return self.submissions.continue_from(account, parent, result, overrides, population, source=source)
