"""Runs: what happens to a submission from the moment it is created to its terminal state.

Creating (create, re-execute, continue), dispatching to the runner according to the
run mode, following the job (the runner's :class:`~vilvik_emulator.runner.JobListener`),
finishing it, moving it by hand (the control plane) and recovering after a restart.
Finishing a run changes several tables at once — the submission's status, its result,
the account's balance and ledger, the webhook outbox — in one store transaction, and
whatever fails while recording an outcome, the run still reaches a terminal state
(``failed`` with ``internal_error``) and is charged at most once.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from ..clock import Clock, format_ts
from ..errors import ApiError
from ..runner import JobSpec, Outcome, Runner
from ..schemas.control import CannedError, CannedResult
from ..schemas.submissions import TERMINAL, SubmissionOverrides
from ..store import Store
from . import render
from .accounts import AccountService
from .credits import CreditService
from .drafts import Draft, DraftBuilder
from .records import AccountRecord, ResultRecord, SubmissionRecord
from .results import ResultService, fitness_sort_value
from .submissions import SubmissionService
from .webhooks import WebhookService

log = logging.getLogger("vilvik_emulator")
LOG_FILE = "log.txt"


class RunService:
    def __init__(self, store: Store, clock: Clock, *, accounts: AccountService, submissions: SubmissionService,
                 results: ResultService, credits: CreditService, webhooks: WebhookService, drafts: DraftBuilder,
                 mode_for: Callable[[AccountRecord], str], site_url: Callable[[], str]) -> None:
        self.store = store
        self.clock = clock
        self.accounts = accounts
        self.submissions = submissions
        self.results = results
        self.credits = credits
        self.webhooks = webhooks
        self.drafts = drafts
        self.mode_for = mode_for
        self.site_url = site_url
        self.runner: Runner | None = None  # set by the emulator once both exist
        self._progress: dict[str, dict] = {}
        self._changed = threading.Condition()

    # ------------------------------------------------------------------ creating

    def create(self, account: AccountRecord, body: Any, *, source: str = "api",
               within: Callable[[SubmissionRecord], None] | None = None) -> SubmissionRecord:
        """Validate, store and dispatch a new run; ``within`` runs inside the storing transaction."""
        draft = self.drafts.from_create(account, body)
        return self._start(account, draft, source=source, within=within)

    def reexecute(self, account: AccountRecord, submission_id: str, body: SubmissionOverrides, *,
                  source: str = "api", within: Callable[[SubmissionRecord], None] | None = None) -> SubmissionRecord:
        parent = self.submissions.get(account, submission_id)
        draft = self.drafts.from_parent(account, parent, body, verb="re-executing")
        return self._start(account, draft, source=source, within=within, parent_submission_id=parent.id)

    def continue_from(self, account: AccountRecord, result_id: str, body: SubmissionOverrides, *,
                      source: str = "api",
                      within: Callable[[SubmissionRecord], None] | None = None) -> SubmissionRecord:
        """A fresh run from a result's final population (contract §7); the result may be another account's, shared."""
        result = self.results.readable(account, result_id)
        parent = self.submissions.find(result.submission_id)
        if parent is None:
            raise ApiError("conflict", "the submission this result came from was deleted")
        population = self.results.final_population(result)
        if population is None:
            raise ApiError("conflict", "this result has no final population to continue from")
        draft = self.drafts.from_parent(account, parent, body, verb="continuing")
        population = self._starting_population(population, result, draft.parameters.get("sol_per_pop"))
        return self._start(account, draft, source=source, within=within, parent_submission_id=parent.id,
                           parent_result_id=result.id, initial_population=population)

    @staticmethod
    def _starting_population(population: list, result: ResultRecord, size: Any) -> list:
        """A smaller population keeps the parent's best solutions (a larger one is filled by the worker)."""
        fitness = result.last_generation_fitness or []
        if isinstance(size, int) and 0 < size < len(population) and len(fitness) == len(population):
            ranked = sorted(range(len(population)), key=lambda index: fitness_sort_value(
                json.dumps(fitness[index]) if isinstance(fitness[index], list) else fitness[index]), reverse=True)
            return [population[index] for index in ranked[:size]]
        return population

    def _start(self, account: AccountRecord, draft: Draft, *, source: str,
               within: Callable[[SubmissionRecord], None] | None, **lineage: Any) -> SubmissionRecord:
        with self.store.transaction():
            self.credits.require_balance(account)
            record = self.submissions.insert(account, draft, source=source, **lineage)
            if within is not None:
                within(record)
        self.dispatch(record, account)
        return self.submissions.find(record.id) or record

    def dispatch(self, record: SubmissionRecord, account: AccountRecord | None = None) -> None:
        """Hand a queued submission to the runner according to the run mode."""
        assert self.runner is not None
        account = account or self.accounts.find(record.account_id)
        mode = self.mode_for(account) if account is not None else "thread"
        if mode == "manual":
            return
        spec = self.job_spec(record)
        if mode == "sync":
            self.runner.run_now(spec)
        else:
            self.runner.enqueue(spec)

    def job_spec(self, record: SubmissionRecord) -> JobSpec:
        return JobSpec(record.id, record.parameters, record.code, self.submissions.initial_population(record))

    # ------------------------------------------------------------------ reading

    def live_progress(self, record: SubmissionRecord) -> dict | None:
        return self._progress.get(record.id) if record.status == "running" else None

    def detail(self, record: SubmissionRecord, base: str) -> dict:
        return render.submission_detail(record, base, self.live_progress(record))

    def run_log(self, record: SubmissionRecord) -> bytes | None:
        """The captured output of a run that did not succeed (a successful one has it among its result's files)."""
        return self.store.read_file(SubmissionRecord.table, record.id, LOG_FILE)

    # ------------------------------------------------------------------ stopping and deleting

    def stop(self, record: SubmissionRecord) -> bool:
        """Stop a queued or running job; True when there was something to stop.

        A job running in a worker reports its own ``cancelled`` outcome (with usage and
        a charge); a queued or manually held job is finished as ``cancelled`` here.
        """
        if record.status in TERMINAL:
            return False
        assert self.runner is not None
        if self.runner.cancel(record.id) != "stopped":
            current = self.submissions.find(record.id)
            if current is not None and current.status not in TERMINAL:
                self.finish(current, Outcome("cancelled"))
        return True

    def cancel(self, account: AccountRecord, submission_id: str) -> SubmissionRecord:
        """The website's cancel button: stop the run, keep the row as ``cancelled``."""
        record = self.submissions.get(account, submission_id)
        if record.status in TERMINAL:
            raise ApiError("conflict", f"the submission already ended ({record.status})")
        self.stop(record)
        return self.submissions.get(account, submission_id)

    def delete(self, account: AccountRecord, submission_id: str) -> None:
        record = self.submissions.get(account, submission_id)
        self.stop(record)
        with self.store.transaction():
            self.results.remove_of_submission(submission_id)
            self.submissions.remove(submission_id)
        self._progress.pop(submission_id, None)
        self._notify()

    # ------------------------------------------------------------------ waiting

    def wait(self, submission_id: str, reached: Callable[[SubmissionRecord], bool],
             timeout: float) -> SubmissionRecord:
        """The submission as soon as ``reached`` says so; TimeoutError otherwise, 404 once it is gone."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                record = self.submissions.require(submission_id)
                if reached(record):
                    return record
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
            record = self.submissions.find(submission_id)
            if record is None or record.status not in ("queued", "running"):
                return
            self.submissions.update(submission_id, status="running", worker_pid=pid,
                                    started_at=record.started_at or format_ts(self.clock.now()))
        self._progress[submission_id] = {"generations_completed": 0,
                                         "num_generations": record.parameters.get("num_generations"),
                                         "best_fitness": None}
        self._notify()

    def job_progress(self, submission_id: str, progress: dict) -> None:
        self._progress[submission_id] = progress

    def job_finished(self, submission_id: str, outcome: Outcome) -> None:
        progress = self._progress.pop(submission_id, None)
        record = self.submissions.find(submission_id)
        if record is not None:
            self.finish(record, outcome, progress)

    # ------------------------------------------------------------------ finishing

    def finish(self, record: SubmissionRecord, outcome: Outcome, progress: dict | None = None) -> SubmissionRecord:
        """Record the end of a run: status, result and files, usage, charge, events — or, if that fails, a failure."""
        try:
            return self._record(record, outcome, progress)
        except Exception:
            log.exception("recording the outcome of submission %s failed", record.id)
            return self._record_failure(record, outcome)
        finally:
            self._notify()
            self.webhooks.wake()

    def _record(self, record: SubmissionRecord, outcome: Outcome, progress: dict | None) -> SubmissionRecord:
        current = self.submissions.find(record.id)
        if current is None or current.status in TERMINAL:
            return current or record  # deleted meanwhile, or already finished (a late second report)
        log_bytes = outcome.log
        if outcome.log_dropped_bytes:
            log_bytes += (f"\n[vilvik-emulator: output truncated, {outcome.log_dropped_bytes} more bytes "
                          "dropped]\n").encode()
        result = None
        try:
            if outcome.status == "succeeded":
                result = self.results.prepare(current, outcome.result or {}, log=log_bytes)
                result = result.changed(usage=outcome.usage or None)
            elif log_bytes or outcome.usage:
                self.store.write_file(SubmissionRecord.table, record.id, LOG_FILE, log_bytes)
            now = format_ts(self.clock.now())
            final_progress = progress or current.progress
            if result is not None:
                final_progress = {"generations_completed": result.generations_completed,
                                  "num_generations": current.parameters.get("num_generations"),
                                  "best_fitness": result.best_solution_fitness}
            reason = outcome.status if outcome.error is None else str(outcome.error.get("code", outcome.status))
            changes: dict[str, Any] = {
                "status": outcome.status, "started_at": current.started_at or now, "finished_at": now,
                "error": outcome.error, "usage": outcome.usage or None,
                "credits_used": self.credits.cost(outcome.usage) if outcome.usage else 0.0,
                "progress": final_progress, "result_id": result.id if result else None}
            # Everything that renders is done before the first write, and the status is written
            # last, in one transaction: if any write fails, the store undoes them all (charge,
            # result row, events), so a run is terminal only once everything else of its end is there.
            ended = current.changed(**changes)
            events = self._events(ended, result)
            with self.store.transaction():
                if outcome.usage:
                    self.credits.charge(current.account_id, current.id, outcome.usage, reason)
                if result is not None:
                    self.results.insert(result)
                self._queue_events(ended, events)
                updated = self.submissions.update(current.id, **changes)
                if updated is None:
                    raise RuntimeError(f"submission {current.id} vanished while its end was recorded")
        except Exception:
            self._undo(current.id, result)
            raise
        return updated

    def _events(self, record: SubmissionRecord, result: ResultRecord | None) -> tuple[str, dict, dict | None] | None:
        """The run's end as its webhook events carry it, or None when no one would receive them."""
        if not self.webhooks.announces(record):
            return None
        base = self.site_url() + "/api/v1"
        return (f"submission.{record.status}", render.submission_detail(record, base),
                render.result_detail(result, base) if result is not None else None)

    def _queue_events(self, record: SubmissionRecord, events: tuple[str, dict, dict | None] | None) -> None:
        if events is None:
            return
        event, detail, result = events
        self.webhooks.submission_event(record, event, detail, result)

    def _undo(self, submission_id: str, result: ResultRecord | None) -> None:
        """Take back what a failed recording left outside its transaction: the result's files,
        written before it by ``results.prepare``. The transaction's own writes (charge, result
        row, events) the store has undone; :meth:`_record_failure` then charges the run once."""
        if result is None:
            return
        try:
            self.results.discard(result)
        except Exception:
            log.exception("removing the files of submission %s's result after a failed recording failed",
                          submission_id)

    def _record_failure(self, record: SubmissionRecord, outcome: Outcome) -> SubmissionRecord:
        """The last resort: the run ends ``failed``/``internal_error``, charged once for what it used."""
        current = self.submissions.find(record.id)
        if current is None or current.status in TERMINAL:
            return current or record
        now = format_ts(self.clock.now())
        error = {"code": "internal_error", "message": "the emulator could not record this run's outcome "
                                                      f"({outcome.status}); see the emulator's log",
                 "traceback": ""}
        base = {"status": "failed", "error": error, "finished_at": now, "started_at": current.started_at or now,
                "result_id": None}
        updated: SubmissionRecord | None = None
        try:
            with self.store.transaction():
                credits_used = self.credits.charged_amount(current.id)
                if credits_used is None and outcome.usage:
                    credits_used = self.credits.charge(current.account_id, current.id, outcome.usage,
                                                       "internal_error")
                updated = self.submissions.update(current.id, **base, usage=outcome.usage or None,
                                                  credits_used=credits_used)
        except Exception:
            log.exception("recording the failure of submission %s failed; ending it with the least there is",
                          current.id)
            updated = self.submissions.update(current.id, **base)  # what cannot fail to serialise
        if updated is None:
            return current
        try:
            self._queue_events(updated, self._events(updated, None))
        except Exception:
            log.exception("announcing the failure of submission %s failed", current.id)
        return updated

    # ------------------------------------------------------------------ the control plane

    def advance(self, record: SubmissionRecord, to: str, *, result: CannedResult | None = None,
                error: CannedError | None = None) -> SubmissionRecord:
        """Move a job by hand (manual mode): to running, run now, or finish it with a canned outcome."""
        assert self.runner is not None
        status = record.status
        if to == "run":
            if status != "queued" or self.runner.state(record.id) is not None:
                raise ApiError("conflict", f"only a queued job that is not already in the queue can be run "
                                           f"now (status {status})")
            threading.Thread(target=self.runner.run_now, args=(self.job_spec(record),), daemon=True).start()
            return record
        if status in TERMINAL:
            raise ApiError("conflict", f"the submission already ended ({status})")
        if self.runner.state(record.id) is not None:
            self.runner.cancel(record.id)
            record = self.submissions.find(record.id) or record
            if record.status in TERMINAL and to != "cancelled":
                raise ApiError("conflict", f"the job ended while being moved ({record.status})")
        if to == "running":
            updated = self.submissions.update(record.id, status="running", started_at=format_ts(self.clock.now()))
            self._notify()
            return updated or record
        if to == "cancelled":
            return record if record.status == "cancelled" else self.finish(record, Outcome("cancelled"))
        if to == "failed":
            failure = (error or CannedError()).model_dump()
            return self.finish(record, Outcome("failed", error=failure))
        return self.finish(record, Outcome("succeeded", result=canned_result(record, result or CannedResult()),
                                           usage={"cpu_seconds": 0.0, "peak_memory_mb": 0.0, "wall_seconds": 0.0}))

    def recover(self) -> None:
        """After a restart: running jobs died with the old process; queued ones go back in line.

        It reads the stored rows and builds a record only for a submission it acts on: a
        database holding thousands of submissions queued by hand (manual mode) starts as
        fast as an empty one (building 10,000 records took ~250 ms of a start-up).
        """
        assert self.runner is not None
        manual: dict[str, bool] = {}
        for row in self.submissions.unfinished():
            account_id = row["account_id"]
            if account_id not in manual:
                account = self.accounts.find(account_id)
                manual[account_id] = account is not None and self.mode_for(account) == "manual"
            if row["status"] == "running" and manual[account_id] and not row.get("worker_pid"):
                continue  # moved to running by hand: no worker was lost
            if row["status"] == "running":
                self.finish(SubmissionRecord.load(row), Outcome("failed", error={
                    "code": "worker_lost", "message": "the emulator stopped while this job was running",
                    "traceback": ""}))
            elif not manual[account_id]:
                self.runner.enqueue(self.job_spec(SubmissionRecord.load(row)))


def canned_result(record: SubmissionRecord, given: CannedResult) -> dict[str, Any]:
    """A result for a job finished by hand: ``given`` values, plausible defaults for the rest."""
    parameters = record.parameters
    genes = int(parameters.get("num_genes") or 1)
    fitness = given.best_solution_fitness
    text = fitness if isinstance(fitness, str) else (json.dumps(fitness) if isinstance(fitness, list)
                                                     else repr(float(fitness)))
    generations = given.generations_completed if given.generations_completed is not None \
        else int(parameters.get("num_generations") or 0)
    value = fitness_sort_value(text)
    point = value if math.isfinite(value) else 0.0
    solution = given.best_solution if given.best_solution is not None else [0.0] * genes
    population = given.population if given.population is not None else \
        [solution] * int(parameters.get("sol_per_pop") or 1)
    return {
        "best_solution": solution,
        "best_solution_fitness": text,
        "best_solution_idx": given.best_solution_idx or 0,
        "best_solutions_fitness": given.best_solutions_fitness if given.best_solutions_fitness is not None
        else [point] * (generations + 1),
        "best_solution_generation": given.best_solution_generation if given.best_solution_generation is not None
        else generations,
        "generations_completed": generations,
        "last_generation_fitness": given.last_generation_fitness if given.last_generation_fitness is not None
        else [point] * len(population),
        "population": population,
        "stopped_reason": given.stopped_reason or "num_generations",
        "canned": True,
    }
