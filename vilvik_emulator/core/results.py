"""Results (contract §7): what a successful run produced, its files, sharing, and listing.

This service owns the ``results`` table and the files beside its rows (``result.json``,
``population.json``, ``fitness.svg``, ``log.txt``). A run has at most one result, and
only a run that succeeded has one (a failed or cancelled run keeps its log on the
submission). A result is private to its account unless shared: then any account may
read it and its files and fork it, but it is listed only for its owner, and only the
owner may change or delete it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..clock import Clock, format_ts, parse_ts
from ..errors import not_found
from ..ids import resource_id
from ..schemas.pages import Paging
from ..schemas.results import RESULT_ORDERINGS, ResultFilters, ResultUpdate
from ..store import Store
from .charts import fitness_chart
from .pagination import CursorCodec, Page, paginate, parse_ordering, sorted_entries
from .records import AccountRecord, ResultRecord, SubmissionRecord

RESULTS = ResultRecord.table
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


def chart_title(submission: SubmissionRecord) -> str:
    return f"Best fitness per generation — {submission.name or submission.id}"


class ResultService:
    def __init__(self, store: Store, clock: Clock, codec: CursorCodec) -> None:
        self.store = store
        self.clock = clock
        self.codec = codec
        store.ensure_order(RESULTS, "created_at", lambda row: (row["created_at"], row["seq"]))

    # ------------------------------------------------------------------ recording

    def prepare(self, submission: SubmissionRecord, data: dict[str, Any], *, log: bytes,
                stopped_reason: str | None = None, files: dict[str, bytes] | None = None) -> ResultRecord:
        """A successful run's result with its files written (the row itself is stored by :meth:`insert`).

        Files first, row second: a crash in between leaves files no row names, never a
        row whose files are missing.
        """
        result_id = resource_id()
        population = data.get("population")
        payloads: dict[str, bytes] = dict(files or {})
        payloads.setdefault("result.json", json.dumps({**data, "submission_id": submission.id,
                                                       "parameters": submission.parameters}).encode())
        if population is not None:
            payloads.setdefault("population.json", json.dumps(population).encode())
        payloads.setdefault("fitness.svg", fitness_chart(data.get("best_solutions_fitness") or [],
                                                         title=chart_title(submission)).encode("utf-8", "replace"))
        payloads["log.txt"] = log
        try:
            sizes = self.store.write_files(RESULTS, result_id, payloads)
        except BaseException:
            self.store.delete_files(RESULTS, result_id)  # no half-written result is left behind
            raise
        entries = [{"name": name, "content_type": CONTENT_TYPES[name.rsplit(".", 1)[1]], "size": size}
                   for name, size in sizes.items()]
        return ResultRecord(
            id=result_id, seq=self.store.next_seq(), account_id=submission.account_id, submission_id=submission.id,
            name=submission.name, is_shared=False, best_solution_fitness=data.get("best_solution_fitness"),
            best_solution=data.get("best_solution"), best_solution_idx=data.get("best_solution_idx"),
            best_solutions_fitness=data.get("best_solutions_fitness") or [],
            best_solution_generation=data.get("best_solution_generation"),
            last_generation_fitness=data.get("last_generation_fitness"),
            generations_completed=data.get("generations_completed", 0),
            stopped_reason=stopped_reason or data.get("stopped_reason"), parameters=submission.parameters,
            usage=None, parent_result_id=submission.parent_result_id, created_at=format_ts(self.clock.now()) or "",
            files=entries)

    def insert(self, result: ResultRecord) -> None:
        self.store.insert(RESULTS, result.dump())

    def discard(self, result: ResultRecord) -> None:
        """Forget a prepared result that was never stored (its run could not be recorded)."""
        self.store.delete_files(RESULTS, result.id)

    # ------------------------------------------------------------------ reading

    def find(self, result_id: str) -> ResultRecord | None:
        document = self.store.get(RESULTS, result_id)
        return None if document is None else ResultRecord.load(document)

    def get(self, account: AccountRecord, result_id: str) -> ResultRecord:
        """A result the account owns (to change, delete, or see in its lists), else 404."""
        result = self.find(result_id)
        if result is None or result.account_id != account.id:
            raise not_found("result")
        return result

    def readable(self, account: AccountRecord, result_id: str) -> ResultRecord:
        """A result the account owns or that is shared (contract §7: anyone can view and fork it), else 404."""
        result = self.find(result_id)
        if result is None or (result.account_id != account.id and not result.is_shared):
            raise not_found("result")
        return result

    def of_submission(self, submission_id: str) -> ResultRecord | None:
        rows = self.store.scan(RESULTS, lambda row: row["submission_id"] == submission_id)
        return ResultRecord.load(rows[0]) if rows else None

    def page(self, account: AccountRecord, filters: ResultFilters, paging: Paging, page_url: str,
             query: dict[str, str], render: Callable[[dict], Any]) -> Page:
        checks: list[Callable[[dict], bool]] = []
        if filters.submission_id is not None:
            submission_id = filters.submission_id
            checks.append(lambda row: row["submission_id"] == submission_id)
        if filters.is_shared is not None:
            shared = filters.is_shared == "true"
            checks.append(lambda row: row["is_shared"] == shared)
        if filters.min_fitness is not None:
            low = filters.min_fitness
            checks.append(lambda row: row["best_solution_fitness"] is not None
                          and fitness_sort_value(row["best_solution_fitness"]) >= low)
        if filters.max_fitness is not None:
            high = filters.max_fitness
            checks.append(lambda row: row["best_solution_fitness"] is not None
                          and fitness_sort_value(row["best_solution_fitness"]) <= high)
        if filters.created_after is not None:
            after = parse_ts(filters.created_after)
            checks.append(lambda row: parse_ts(row["created_at"]) >= after)
        if filters.created_before is not None:
            before = parse_ts(filters.created_before)
            checks.append(lambda row: parse_ts(row["created_at"]) <= before)
        ordering = parse_ordering(filters.ordering, RESULT_ORDERINGS, "-created_at")
        account_id = account.id

        def matches(row: dict) -> bool:
            return row["account_id"] == account_id and all(check(row) for check in checks)

        common: dict[str, Any] = {"paging": paging, "query": query, "ordering": ordering, "codec": self.codec,
                                  "page_url": page_url, "render": render}
        if ordering.lstrip("-") == "created_at":
            return paginate(self.store.ordered(RESULTS, "created_at"),
                            fetch=lambda record_id: self.store.peek(RESULTS, record_id), matches=matches, **common)
        rows = self.store.scan(RESULTS, matches)
        by_id = {row["id"]: row for row in rows}
        entries = sorted_entries(rows, lambda row: fitness_sort_value(row["best_solution_fitness"]))
        return paginate(entries, fetch=by_id.get, matches=bool, **common)

    def file(self, account: AccountRecord, result_id: str, name: str) -> tuple[bytes, str]:
        result = self.readable(account, result_id)
        entry = next((entry for entry in result.files if entry["name"] == name), None)
        payload = self.store.read_file(RESULTS, result_id, name) if entry else None
        if payload is None or entry is None:
            raise not_found("file")
        return payload, str(entry["content_type"])

    def final_population(self, result: ResultRecord) -> list | None:
        raw = self.store.read_file(RESULTS, result.id, "population.json")
        return json.loads(raw) if raw else None

    # ------------------------------------------------------------------ writing

    def update(self, account: AccountRecord, result_id: str, body: ResultUpdate) -> ResultRecord:
        self.get(account, result_id)
        changes = body.given()
        document = self.store.update(RESULTS, result_id, changes) if changes else self.store.get(RESULTS, result_id)
        assert document is not None
        return ResultRecord.load(document)

    def delete(self, account: AccountRecord, result_id: str) -> None:
        self.get(account, result_id)
        self.remove(result_id)

    def remove(self, result_id: str) -> None:
        self.store.remove(RESULTS, result_id)
        self.store.delete_files(RESULTS, result_id)

    def remove_of_submission(self, submission_id: str) -> None:
        for row in self.store.remove_where(RESULTS, lambda row: row["submission_id"] == submission_id):
            self.store.delete_files(RESULTS, row["id"])

    def clear_account(self, account_id: str) -> None:
        for row in self.store.remove_where(RESULTS, lambda row: row["account_id"] == account_id):
            self.store.delete_files(RESULTS, row["id"])
