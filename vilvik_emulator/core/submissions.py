"""Submissions (contract §5): the table of runs, who may see them, and how they are listed.

This service owns the ``submissions`` table and the files stored beside its rows (a
continued run's starting population). It stores drafts, reads, filters, pages,
modifies and deletes rows. What happens to a run — dispatching it, following its job,
finishing it — is :mod:`.runs`; turning a request body into a draft is :mod:`.drafts`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from ..clock import Clock, format_ts, parse_ts
from ..errors import not_found
from ..ids import resource_id
from ..schemas.pages import Paging
from ..schemas.submissions import SUBMISSION_ORDERINGS, TERMINAL, SubmissionFilters, SubmissionPatch
from ..store import Store
from .drafts import Draft
from .pagination import CursorCodec, Page, paginate, parse_ordering, sorted_entries
from .records import AccountRecord, SubmissionRecord

SUBMISSIONS = SubmissionRecord.table
POPULATION_FILE = "initial_population.json"


def _membership(name: str, values: frozenset[str]) -> Callable[[dict], bool]:
    return lambda row: row.get(name) in values


class SubmissionService:
    def __init__(self, store: Store, clock: Clock, codec: CursorCodec) -> None:
        self.store = store
        self.clock = clock
        self.codec = codec
        store.ensure_order(SUBMISSIONS, "created_at", lambda row: (row["created_at"], row["seq"]))

    # ------------------------------------------------------------------ writing

    def insert(self, account: AccountRecord, draft: Draft, *, source: str, parent_submission_id: str | None = None,
               parent_result_id: str | None = None, initial_population: list | None = None,
               **extra: Any) -> SubmissionRecord:
        """Store a new queued run (the caller holds the transaction it belongs to)."""
        record = SubmissionRecord(
            id=resource_id(), seq=self.store.next_seq(), account_id=account.id, **draft.meta,
            submission_type=draft.submission_type, status="queued", source=source,
            parent_submission_id=parent_submission_id, parent_result_id=parent_result_id,
            created_at=format_ts(self.clock.now()) or "", parameters=draft.parameters, code=draft.code,
            quick_inputs=draft.quick_inputs, generated=draft.generated,
            has_initial_population=initial_population is not None, **extra)
        if initial_population is not None:
            self.store.write_files(SUBMISSIONS, record.id, {POPULATION_FILE: json.dumps(initial_population).encode()})
        self.store.insert(SUBMISSIONS, record.dump())
        return record

    def update(self, submission_id: str, **changes: Any) -> SubmissionRecord | None:
        document = self.store.update(SUBMISSIONS, submission_id, changes)
        return None if document is None else SubmissionRecord.load(document)

    def patch(self, account: AccountRecord, submission_id: str, body: SubmissionPatch) -> SubmissionRecord:
        """`PATCH /submissions/<id>` (contract §5.3a): only the fields sent change."""
        self.get(account, submission_id)
        changes = body.given()
        if not changes:
            return self.get(account, submission_id)
        updated = self.update(submission_id, **changes)
        assert updated is not None
        return updated

    def remove(self, submission_id: str) -> None:
        self.store.remove(SUBMISSIONS, submission_id)
        self.store.delete_files(SUBMISSIONS, submission_id)

    # ------------------------------------------------------------------ reading

    def find(self, submission_id: str) -> SubmissionRecord | None:
        document = self.store.get(SUBMISSIONS, submission_id)
        return None if document is None else SubmissionRecord.load(document)

    def get(self, account: AccountRecord, submission_id: str) -> SubmissionRecord:
        """The submission if this account owns it, else 404 (another account's id is "not found", §2)."""
        record = self.find(submission_id)
        if record is None or record.account_id != account.id:
            raise not_found("submission")
        return record

    def require(self, submission_id: str) -> SubmissionRecord:
        """Any account's submission (the control plane's view), else 404."""
        record = self.find(submission_id)
        if record is None:
            raise not_found("submission")
        return record

    def children(self, submission_id: str) -> list[SubmissionRecord]:
        rows = self.store.scan(SUBMISSIONS, lambda row: row.get("parent_submission_id") == submission_id)
        return [SubmissionRecord.load(row) for row in sorted(rows, key=lambda row: row["seq"])]

    def unfinished(self) -> list[dict]:
        """Queued and running submissions of every account, oldest first, as stored rows (restart
        recovery, which builds a record only for the ones it acts on)."""
        rows = self.store.scan(SUBMISSIONS, lambda row: row["status"] not in TERMINAL)
        return sorted(rows, key=lambda row: row["seq"])

    def of_account(self, account_id: str) -> Iterator[SubmissionRecord]:
        for row in self.store.scan(SUBMISSIONS, lambda row: row["account_id"] == account_id):
            yield SubmissionRecord.load(row)

    def initial_population(self, record: SubmissionRecord) -> list | None:
        if not record.has_initial_population:
            return None
        raw = self.store.read_file(SUBMISSIONS, record.id, POPULATION_FILE)
        return json.loads(raw) if raw else None

    def page(self, account: AccountRecord, filters: SubmissionFilters, paging: Paging, page_url: str,
             query: dict[str, str], render: Callable[[dict], Any]) -> Page:
        """One page of the account's submissions (contract §4)."""
        matches = self._matcher(account, filters)
        ordering = parse_ordering(filters.ordering, SUBMISSION_ORDERINGS, "-created_at")
        field_name = ordering.lstrip("-")
        common: dict[str, Any] = {"paging": paging, "query": query, "ordering": ordering, "codec": self.codec,
                                  "page_url": page_url, "render": render}
        if field_name == "created_at":  # the default: walk the store's index, no sort
            return paginate(self.store.ordered(SUBMISSIONS, "created_at"),
                            fetch=lambda record_id: self.store.peek(SUBMISSIONS, record_id), matches=matches, **common)
        if field_name == "name":
            def sort_value(row: dict) -> Any:
                return (row.get("name") or "").lower()
        else:
            def sort_value(row: dict) -> Any:
                return row.get(field_name) or ""
        rows = self.store.scan(SUBMISSIONS, matches)
        by_id = {row["id"]: row for row in rows}
        return paginate(sorted_entries(rows, sort_value), fetch=by_id.get, matches=bool, **common)

    @staticmethod
    def _matcher(account: AccountRecord, filters: SubmissionFilters) -> Callable[[dict], bool]:
        checks: list[Callable[[dict], bool]] = []
        for name in ("status", "source", "visibility", "submission_type"):
            raw = getattr(filters, name)
            if raw is not None:
                checks.append(_membership(name, frozenset(raw.split(","))))
        if filters.created_after is not None:
            after = parse_ts(filters.created_after)
            checks.append(lambda row: parse_ts(row["created_at"]) >= after)
        if filters.created_before is not None:
            before = parse_ts(filters.created_before)
            checks.append(lambda row: parse_ts(row["created_at"]) <= before)
        if filters.parent_submission_id is not None:
            parent = filters.parent_submission_id
            checks.append(lambda row: row.get("parent_submission_id") == parent)
        if filters.name_contains is not None:
            needle = filters.name_contains.lower()
            checks.append(lambda row: needle in (row.get("name") or "").lower())
        account_id = account.id
        return lambda row: row["account_id"] == account_id and all(check(row) for check in checks)

    # ------------------------------------------------------------------ resets

    def clear_account(self, account_id: str) -> list[SubmissionRecord]:
        removed = self.store.remove_where(SUBMISSIONS, lambda row: row["account_id"] == account_id)
        for row in removed:
            self.store.delete_files(SUBMISSIONS, row["id"])
        return [SubmissionRecord.load(row) for row in removed]
