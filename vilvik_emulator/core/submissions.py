"""Submissions: validation, creation, listing, deletion, re-execution, and their jobs.

The service is also the runner's :class:`~vilvik_emulator.runner.JobListener`: it
turns "started", "progress" and "finished" into status changes, live progress (kept in
memory, not in the store), results with their files, and credit charges.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlparse

from ..clock import Clock, format_ts, parse_ts
from ..errors import ApiError, FieldErrors, invalid_parameter, not_found
from ..ids import resource_id
from ..runner import JobSpec, Outcome
from ..store import Store
from . import render
from .code import CODE_ROLES, CodeProblem, check_code_field
from .credits import CreditService
from .pagination import CursorCodec, last_value, paginate, parse_ordering, sorted_entries
from .parameters import accepted_parameters, effective_parameters, pygad_check
from .quick_types import QUICK_TYPES, SUPPORTED_TYPES, QuickDraft

SUBMISSIONS = "submissions"
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
RUN_ERROR_CODES = ("fitness_error", "timeout", "out_of_memory", "worker_crashed", "invalid_parameters",
                   "worker_lost")
SOURCES = ("api", "web")
VISIBILITIES = ("private", "public", "invite_only")
ORDERINGS = ("created_at", "-created_at", "name", "-name", "status", "-status")
META_FIELDS = ("name", "description", "submission_type", "webhook_url", "notification_email", "visibility")
OVERRIDABLE_META = ("name", "description", "webhook_url", "notification_email", "visibility")
IMMUTABLE_ON_CONTINUE = ("num_genes", "gene_type", "custom_gene_type")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass
class Draft:
    """A validated submission body, ready to be stored."""

    meta: dict[str, Any]
    parameters: dict[str, Any]
    code: dict[str, str]
    generated: dict[str, Any] = field(default_factory=dict)
    quick_inputs: dict[str, Any] = field(default_factory=dict)


def text_field(body: dict, name: str, limit: int, errors: FieldErrors) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        errors.add(name, "must be a string")
        return None
    if len(value) > limit:
        errors.add(name, f"must be at most {limit} characters")
    return value


def check_webhook_url(value: Any, errors: FieldErrors, field_name: str = "webhook_url") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 2000:
        errors.add(field_name, "must be a URL string")
        return None
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        errors.add(field_name, "must be an absolute http(s) URL")
    elif parsed.scheme == "http" and parsed.hostname not in LOOPBACK_HOSTS:
        errors.add(field_name, "must use https (the emulator accepts http:// only on loopback)")
    return value


class SubmissionService:
    def __init__(self, store: Store, clock: Clock, credits: CreditService, codec: CursorCodec,
                 mode_for: Callable[[dict], str]) -> None:
        self.store = store
        self.clock = clock
        self.credits = credits
        self.codec = codec
        self.mode_for = mode_for
        self.runner = None  # set by the emulator once both exist
        self.results = None  # ResultService, set by the emulator
        self.events = None  # webhook dispatcher, set by the emulator (optional)
        self.code_uploads = None  # CodeUploadService, set by the emulator
        self._progress: dict[str, dict] = {}
        self._changed = threading.Condition()
        store.ensure_order(SUBMISSIONS, "created_at", lambda row: (row["created_at"], row["seq"]))

    # ------------------------------------------------------------------ validation

    def validate(self, body: dict, account: dict | None = None) -> Draft:
        """Everything that can be checked without running the user's code (§5, §6)."""
        errors = FieldErrors()
        submission_type = body.get("submission_type", "new")
        if not isinstance(submission_type, str) or submission_type not in SUPPORTED_TYPES:
            errors.add("submission_type", f"{submission_type!r} is not supported by the emulator; "
                                          f"supported: {', '.join(SUPPORTED_TYPES)}")
            errors.raise_if_any()
        quick_fields = QUICK_TYPES[submission_type][0] if submission_type in QUICK_TYPES else ()
        accepted = set(accepted_parameters())
        code_fields = {f"{role}{suffix}" for role in CODE_ROLES for suffix in ("", "_entry", "_id")}
        unknown = [name for name in body if name not in accepted and name not in code_fields
                   and name not in META_FIELDS and name not in quick_fields]
        if unknown:
            for name in unknown:
                errors.add(name, "is not a known parameter")
            errors.raise_if_any()

        meta = {
            "name": text_field(body, "name", 200, errors),
            "description": text_field(body, "description", 10_000, errors),
            "submission_type": submission_type,
            "webhook_url": check_webhook_url(body.get("webhook_url"), errors),
            "notification_email": text_field(body, "notification_email", 320, errors),
            "visibility": body.get("visibility", "private"),
        }
        if meta["notification_email"] and not EMAIL.match(meta["notification_email"]):
            errors.add("notification_email", "must be an email address")
        if meta["visibility"] not in VISIBILITIES:
            errors.add("visibility", f"must be one of {', '.join(VISIBILITIES)}")

        quick: QuickDraft | None = None
        if submission_type in QUICK_TYPES:
            if any(role in body or f"{role}_id" in body for role in CODE_ROLES):
                errors.add("fitness_func", f"{submission_type} brings its own fitness function; send no code")
            quick = QUICK_TYPES[submission_type][1](body, errors)
            errors.raise_if_any()
        given = {name: value for name, value in body.items() if name in accepted}
        if quick is not None:
            given.pop("num_genes", None)
            given.update(quick.fixed)
            code = dict(quick.code)
        else:
            code = self._code_fields(body, errors, account)
        parameters = effective_parameters(given, errors, defaults=quick.defaults if quick else None)
        errors.raise_if_any()
        placeholders = self.placeholders(code, errors)
        errors.raise_if_any()
        pygad_check(parameters, placeholders, errors)
        errors.raise_if_any()
        return Draft(meta, parameters, code, quick.generated if quick else {}, quick.inputs if quick else {})

    def _code_fields(self, body: dict, errors: FieldErrors, account: dict | None) -> dict[str, str]:
        code: dict[str, str] = {}
        for role in CODE_ROLES:
            source, upload, entry = body.get(role), body.get(f"{role}_id"), body.get(f"{role}_entry")
            if source is not None and upload is not None:
                errors.add(role, f"send either {role} or {role}_id, not both")
                continue
            if upload is not None:
                source = self._upload_source(role, upload, errors, account)
                if source is None:
                    continue
                code[f"{role}_id"] = upload
            if source is None:
                if entry is not None:
                    errors.add(f"{role}_entry", f"was sent without {role}")
                continue
            if not isinstance(source, str) or not source.strip():
                errors.add(role, "must be a non-empty string of Python source")
                continue
            if entry is None:
                errors.add(f"{role}_entry", f"is required when {role} is sent "
                                            "(the top-level name the runtime calls)")
                continue
            if not isinstance(entry, str) or not entry.isidentifier():
                errors.add(f"{role}_entry", "must be a Python identifier")
                continue
            code[role] = source
            code[f"{role}_entry"] = entry
        if "fitness_func" not in code and not any(item["field"].startswith("fitness_func")
                                                  for item in errors.details):
            errors.add("fitness_func", "is required (Python source, or fitness_func_id of a code upload)")
        return code

    def _upload_source(self, role: str, upload_id: Any, errors: FieldErrors, account: dict | None) -> str | None:
        if self.code_uploads is None or account is None:
            errors.add(f"{role}_id", "code uploads cannot be used here")
            return None
        try:
            return self.code_uploads.source_for(account, f"{role}_id", upload_id)
        except ApiError as error:
            errors.details.extend(error.details or [])
            return None

    @staticmethod
    def placeholders(code: dict[str, str], errors: FieldErrors) -> dict[str, Any]:
        placeholders: dict[str, Any] = {}
        for role in CODE_ROLES:
            if role not in code:
                continue
            try:
                placeholder = check_code_field(role, code[role], code[f"{role}_entry"])
            except CodeProblem as problem:
                errors.add(problem.field, problem.message)
                continue
            if placeholder is not None:
                placeholders[role] = placeholder
        return placeholders

    # ------------------------------------------------------------------ creation

    def create(self, account: dict, body: dict, *, source: str = "api") -> dict:
        draft = self.validate(body, account)
        self.credits.require_balance(account)
        return self._store_and_dispatch(account, draft, source=source)

    def _store_and_dispatch(self, account: dict, draft: Draft, *, source: str, parent_submission_id: str | None = None,
                            parent_result_id: str | None = None, initial_population: list | None = None) -> dict:
        submission = {
            "id": resource_id(),
            "seq": self.store.next_seq(),
            "account_id": account["id"],
            **draft.meta,
            "status": "queued",
            "source": source,
            "parent_submission_id": parent_submission_id,
            "parent_result_id": parent_result_id,
            "created_at": format_ts(self.clock.now()),
            "started_at": None,
            "finished_at": None,
            "parameters": draft.parameters,
            "code": draft.code,
            "quick_inputs": draft.quick_inputs,
            "generated": draft.generated,
            "progress": None,
            "error": None,
            "usage": None,
            "credits_used": None,
            "result_id": None,
            "has_initial_population": initial_population is not None,
        }
        if initial_population is not None:
            self.store.write_file(SUBMISSIONS, submission["id"], "initial_population.json",
                                  json.dumps(initial_population).encode())
        self.store.insert(SUBMISSIONS, submission)
        self.dispatch(submission, account)
        return self.store.get(SUBMISSIONS, submission["id"]) or submission

    def dispatch(self, submission: dict, account: dict | None = None) -> None:
        """Hand a queued submission to the runner according to the run mode."""
        account = account or self.store.get("accounts", submission["account_id"]) or {}
        mode = self.mode_for(account)
        if mode == "manual":
            return
        spec = self.job_spec(submission)
        if mode == "sync":
            self.runner.run_now(spec)
        else:
            self.runner.enqueue(spec)

    def job_spec(self, submission: dict) -> JobSpec:
        population = None
        if submission.get("has_initial_population"):
            raw = self.store.read_file(SUBMISSIONS, submission["id"], "initial_population.json")
            population = json.loads(raw) if raw else None
        return JobSpec(submission["id"], submission["parameters"], submission["code"], population)

    def reexecute(self, account: dict, submission_id: str, overrides: dict, *, source: str = "api") -> dict:
        parent = self.get(account, submission_id)
        draft = self._derived_draft(parent, overrides, immutable=())
        self.credits.require_balance(account)
        return self._store_and_dispatch(account, draft, source=source, parent_submission_id=parent["id"])

    def continue_from(self, account: dict, parent: dict, result: dict, overrides: dict,
                      population: list, *, source: str = "api") -> dict:
        draft = self._derived_draft(parent, overrides, immutable=IMMUTABLE_ON_CONTINUE)
        self.credits.require_balance(account)
        return self._store_and_dispatch(account, draft, source=source, parent_submission_id=parent["id"],
                                        parent_result_id=result["id"], initial_population=population)

    def _derived_draft(self, parent: dict, overrides: dict, immutable: tuple[str, ...]) -> Draft:
        errors = FieldErrors()
        accepted = set(accepted_parameters())
        for name, value in overrides.items():
            if name in immutable and value != parent["parameters"].get(name):
                errors.add(name, "cannot change when continuing a run")
            elif name not in accepted and name not in OVERRIDABLE_META:
                errors.add(name, "is not a GA parameter or name/description/webhook_url/"
                                 "notification_email/visibility")
        if parent["submission_type"] in QUICK_TYPES and "initial_population" in overrides:
            errors.add("initial_population", "cannot be set for a quick type")
        errors.raise_if_any()
        meta = {name: parent.get(name) for name in META_FIELDS}
        if meta["submission_type"] == "import":
            meta["submission_type"] = "new"  # the child is a real run here, not an import
        meta.update({name: value for name, value in overrides.items() if name in OVERRIDABLE_META})
        meta["webhook_url"] = check_webhook_url(meta.get("webhook_url"), errors)
        for name, limit in (("name", 200), ("description", 10_000), ("notification_email", 320)):
            text_field(meta, name, limit, errors)
        if meta.get("visibility") not in VISIBILITIES:
            errors.add("visibility", f"must be one of {', '.join(VISIBILITIES)}")
        parameters = dict(parent["parameters"])
        parameters.update({name: value for name, value in overrides.items() if name in accepted})
        size = parameters.get("sol_per_pop")
        if ("sol_per_pop" in overrides and "num_parents_mating" not in overrides and isinstance(size, int)
                and isinstance(parameters.get("num_parents_mating"), int) and parameters["num_parents_mating"] > size):
            parameters["num_parents_mating"] = max(2, size // 2)
        parameters = effective_parameters(parameters, errors)
        errors.raise_if_any()
        code = {name: value for name, value in parent["code"].items()}
        placeholders = self.placeholders(code, errors)
        errors.raise_if_any()
        pygad_check(parameters, placeholders, errors)
        errors.raise_if_any()
        return Draft(meta, parameters, code, {}, parent.get("quick_inputs") or {})

    # ------------------------------------------------------------------ reading

    def get(self, account: dict, submission_id: str) -> dict:
        submission = self.store.get(SUBMISSIONS, submission_id)
        if submission is None or submission["account_id"] != account["id"]:
            raise not_found("submission")
        return submission

    def live_progress(self, submission: dict) -> dict | None:
        return self._progress.get(submission["id"]) if submission["status"] == "running" else None

    def detail(self, submission: dict, base: str) -> dict:
        return render.submission_detail(submission, base, self.live_progress(submission))

    def list(self, account: dict, args: Any, page_url: str) -> dict:
        predicate = self._filters(account, args)
        ordering = parse_ordering(args, ORDERINGS, "-created_at")
        field_name = ordering.lstrip("-")
        common = {"args": args, "ordering": ordering, "codec": self.codec, "page_url": page_url,
                  "render": render.submission_row}
        if field_name == "created_at":  # the default: walk the store's index, no sort
            return paginate(self.store.ordered(SUBMISSIONS, "created_at"),
                            fetch=lambda record_id: self.store.peek(SUBMISSIONS, record_id), matches=predicate,
                            **common)
        if field_name == "name":
            sort_value = lambda row: (row.get("name") or "").lower()  # noqa: E731
        else:
            sort_value = lambda row: row.get(field_name) or ""  # noqa: E731
        rows = self.store.scan(SUBMISSIONS, predicate)
        by_id = {row["id"]: row for row in rows}
        return paginate(sorted_entries(rows, sort_value), fetch=by_id.get, matches=bool, **common)

    def _filters(self, account: dict, args: Any) -> Callable[[dict], bool]:
        checks: list[Callable[[dict], bool]] = []

        def csv(name: str, allowed: tuple[str, ...] | None) -> set[str] | None:
            raw = last_value(args, name)
            if raw is None:
                return None
            values = {item.strip() for item in raw.split(",") if item.strip()}
            if not values:
                raise invalid_parameter(name, "must not be empty")
            if allowed is not None and not values <= set(allowed):
                bad = ", ".join(sorted(values - set(allowed)))
                raise invalid_parameter(name, f"unknown value(s) {bad}; allowed: {', '.join(allowed)}")
            return values

        for name, allowed in (("status", STATUSES), ("source", SOURCES), ("visibility", VISIBILITIES),
                              ("submission_type", None)):
            values = csv(name, allowed)
            if values is not None:
                checks.append(lambda row, name=name, values=values: row.get(name) in values)
        for name, compare in (("created_after", lambda created, bound: created >= bound),
                              ("created_before", lambda created, bound: created <= bound)):
            raw = last_value(args, name)
            if raw is not None:
                try:
                    bound = parse_ts(raw)
                except ValueError:
                    raise invalid_parameter(name, "must be an ISO-8601 timestamp") from None
                checks.append(lambda row, bound=bound, compare=compare: compare(parse_ts(row["created_at"]), bound))
        parent = last_value(args, "parent_submission_id")
        if parent is not None:
            checks.append(lambda row: row.get("parent_submission_id") == parent)
        contains = last_value(args, "name_contains")
        if contains is not None:
            if len(contains) > 100:
                raise invalid_parameter("name_contains", "must be at most 100 characters")
            needle = contains.lower()
            checks.append(lambda row: needle in (row.get("name") or "").lower())
        account_id = account["id"]
        return lambda row: row["account_id"] == account_id and all(check(row) for check in checks)

    # ------------------------------------------------------------------ stopping and deleting

    def stop(self, submission: dict) -> bool:
        """Stop a queued or running job; True when there was something to stop.

        A job running in a worker reports its own ``cancelled`` outcome (with usage
        and a charge); a queued or manually held job is marked ``cancelled`` here.
        """
        if submission["status"] in TERMINAL:
            return False
        stopped = self.runner.cancel(submission["id"])
        if stopped != "stopped":
            with self._changed:
                current = self.store.get(SUBMISSIONS, submission["id"])
                if current is not None and current["status"] not in TERMINAL:
                    self.store.update(SUBMISSIONS, submission["id"], {
                        "status": "cancelled", "finished_at": format_ts(self.clock.now())})
                    self._emit("submission.cancelled", submission["id"])
                self._changed.notify_all()
        return True

    def cancel(self, account: dict, submission_id: str) -> dict:
        """The website's cancel button: stop the run, keep the row as ``cancelled``."""
        submission = self.get(account, submission_id)
        if submission["status"] in TERMINAL:
            raise ApiError("conflict", f"the submission already ended ({submission['status']})")
        self.stop(submission)
        return self.get(account, submission_id)

    def delete(self, account: dict, submission_id: str) -> None:
        submission = self.get(account, submission_id)
        self.stop(submission)
        with self.store.transaction():
            self.results.delete_for_submission(submission_id)
            self.store.remove(SUBMISSIONS, submission_id)
        self.store.delete_files(SUBMISSIONS, submission_id)
        self._progress.pop(submission_id, None)
        with self._changed:
            self._changed.notify_all()

    # ------------------------------------------------------------------ waiting

    def wait(self, submission_id: str, reached: Callable[[dict | None], bool], timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                submission = self.store.get(SUBMISSIONS, submission_id)
                if reached(submission):
                    return submission
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                self._changed.wait(remaining)

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    # ------------------------------------------------------------------ the runner's listener

    def job_started(self, submission_id: str, pid: int) -> None:
        with self.store.transaction():
            submission = self.store.get(SUBMISSIONS, submission_id)
            if submission is None or submission["status"] not in ("queued", "running"):
                return
            self.store.update(SUBMISSIONS, submission_id, {
                "status": "running", "started_at": submission.get("started_at") or format_ts(self.clock.now()),
                "worker_pid": pid})
        self._progress[submission_id] = {"generations_completed": 0,
                                         "num_generations": submission["parameters"].get("num_generations"),
                                         "best_fitness": None}
        self._notify()

    def job_progress(self, submission_id: str, progress: dict) -> None:
        self._progress[submission_id] = progress

    def job_finished(self, submission_id: str, outcome: Outcome) -> None:
        submission = self.store.get(SUBMISSIONS, submission_id)
        progress = self._progress.pop(submission_id, None)
        if submission is None:
            return
        self.finish(submission, outcome, progress)

    def finish(self, submission: dict, outcome: Outcome, progress: dict | None = None) -> dict:
        """Record the end of a run: result and files, usage, charge, status."""
        submission_id = submission["id"]
        reason = outcome.status if outcome.error is None else outcome.error.get("code", outcome.status)
        credits_used = self.credits.charge(submission["account_id"], submission_id, outcome.usage, reason) \
            if outcome.usage else 0.0
        result = self.results.record_outcome(submission, outcome, progress)
        now = format_ts(self.clock.now())
        final_progress = progress or submission.get("progress")
        if result is not None:
            final_progress = {"generations_completed": result["generations_completed"],
                              "num_generations": submission["parameters"].get("num_generations"),
                              "best_fitness": result["best_solution_fitness"]}
        with self._changed:
            updated = self.store.update(SUBMISSIONS, submission_id, {
                "status": outcome.status,
                "started_at": submission.get("started_at") or now,
                "finished_at": now,
                "error": outcome.error,
                "usage": outcome.usage or None,
                "credits_used": credits_used,
                "progress": final_progress,
                "result_id": result["id"] if result else None,
            })
            if updated is not None:  # queued before waiters wake, so a waiter sees its event queued
                self._emit(f"submission.{outcome.status}", submission_id)
            self._changed.notify_all()
        return updated

    def _emit(self, event: str, submission_id: str) -> None:
        if self.events is not None:
            self.events.submission_event(event, submission_id)

    # ------------------------------------------------------------------ control plane

    def advance(self, submission: dict, to: str, *, result: dict | None = None, error: dict | None = None) -> dict:
        """Move a job by hand (manual mode): to running, run now, or finish it with a canned outcome."""
        status = submission["status"]
        if to == "run":
            if status != "queued" or self.runner.state(submission["id"]) is not None:
                raise ApiError("conflict", f"only a queued job that is not already in the queue can be run "
                                           f"now (status {status})")
            threading.Thread(target=self.runner.run_now, args=(self.job_spec(submission),), daemon=True).start()
            return submission
        if status in TERMINAL:
            raise ApiError("conflict", f"the submission already ended ({status})")
        if self.runner.state(submission["id"]) is not None:
            self.runner.cancel(submission["id"])
            submission = self.store.get(SUBMISSIONS, submission["id"]) or submission
            if submission["status"] in TERMINAL and to != "cancelled":
                raise ApiError("conflict", f"the job ended while being moved ({submission['status']})")
        if to == "running":
            with self._changed:
                updated = self.store.update(SUBMISSIONS, submission["id"], {
                    "status": "running", "started_at": format_ts(self.clock.now())})
                self._changed.notify_all()
            return updated
        if to == "cancelled":
            return self.finish(submission, Outcome("cancelled")) if submission["status"] != "cancelled" \
                else submission
        if to == "failed":
            failure = {"code": "fitness_error", "message": "failed through the control plane", "traceback": ""}
            failure.update(error or {})
            return self.finish(submission, Outcome("failed", error=failure))
        if to == "succeeded":
            canned = self.results.canned_result(submission, result or {})
            return self.finish(submission, Outcome("succeeded", result=canned,
                                                   usage={"cpu_seconds": 0.0, "peak_memory_mb": 0.0,
                                                          "wall_seconds": 0.0}))
        raise ApiError("validation_failed", f"unknown target status {to!r}",
                       details=[{"field": "to", "message": "must be running, run, succeeded, failed or cancelled"}])

    def recover(self) -> None:
        """After a restart: running jobs died with the old process; queued ones go back in line."""
        accounts: dict[str, dict] = {}
        for submission in sorted(self.store.find(SUBMISSIONS, lambda row: row["status"] in ("queued", "running")),
                                 key=lambda row: row["seq"]):
            account_id = submission["account_id"]
            if account_id not in accounts:
                accounts[account_id] = self.store.get("accounts", account_id) or {}
            account = accounts[account_id]
            held = self.mode_for(account) == "manual" and not submission.get("worker_pid")
            if submission["status"] == "running" and held:
                continue  # moved to running by hand: no worker was lost
            if submission["status"] == "running":
                self.finish(submission, Outcome("failed", error={
                    "code": "worker_lost", "message": "the emulator stopped while this job was running",
                    "traceback": ""}))
            elif self.mode_for(account) != "manual":
                self.runner.enqueue(self.job_spec(submission))

