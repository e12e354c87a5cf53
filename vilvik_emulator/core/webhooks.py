"""Webhooks (contract §11): subscriptions, signed deliveries, retries, delivery history.

Events of submissions created over the API (never website ones, never imports) go to
the account's active webhooks subscribed to them and to the submission's own
``webhook_url``. An event bound for a URL is first a row of the ``webhook_events``
outbox, written in the same store transaction as the change that caused it (a run's
end), so a crash loses no event and a restart resumes the retries. A delivery is a JSON
``POST`` signed with HMAC-SHA256 over ``"<timestamp>.<raw body>"``; one that gets no
2xx within 10 s is retried after 1, 2, 4 and 8 seconds (5 attempts) with the same
event id. Retry times are on the emulator's clock, so a test can advance the clock to
make every retry due at once. Deliveries run on their own threads: they never hold up
the request or the job that caused them.

This service owns ``webhooks``, ``webhook_events`` and ``webhook_deliveries``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import requests

from ..clock import Clock, format_ts, from_timestamp
from ..errors import ApiError, not_found
from ..ids import prefixed_id, random_token
from ..schemas.pages import Paging
from ..schemas.webhooks import SUBSCRIBABLE, WebhookCreate, WebhookUpdate
from ..store import Store
from ..threads import supervised
from .accounts import AccountService
from .pagination import CursorCodec, Page, paginate
from .records import DeliveryRecord, SubmissionRecord, WebhookEventRecord, WebhookRecord

log = logging.getLogger("vilvik_emulator")
WEBHOOKS = WebhookRecord.table
EVENTS_OUTBOX = WebhookEventRecord.table
DELIVERIES = DeliveryRecord.table
MAX_ATTEMPTS = 5
TIMEOUT_SECONDS = 10
RESPONSE_LIMIT = 2048
SENDERS = 4
TICK_SECONDS = 0.1


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Signature`` value: ``sha256=`` + HMAC-SHA256(secret, "<timestamp>.<body>")."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def new_secret() -> str:
    return "whsec_" + random_token(32)


class WebhookService:
    def __init__(self, store: Store, clock: Clock, codec: CursorCodec, accounts: AccountService, version: str,
                 site_url: Callable[[], str]) -> None:
        self.store = store
        self.clock = clock
        self.codec = codec
        self.accounts = accounts
        self.version = version
        self.site_url = site_url
        self._condition = threading.Condition()
        self._in_flight: set[str] = set()
        self._generation = 0  # bumped by clear(): attempts of an older generation are dropped
        self._stop = threading.Event()
        self._senders = ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="vilvik-webhook")
        self._scheduler: threading.Thread | None = None
        store.ensure_order(DELIVERIES, "created_at", lambda row: (row["created_at"], row["seq"]))

    # ------------------------------------------------------------------ management

    def create(self, body: WebhookCreate) -> tuple[WebhookRecord, str]:
        """A new webhook and its signing secret (returned here and nowhere else)."""
        account = self.accounts.require(body.account)
        webhook = WebhookRecord(id=prefixed_id("wh"), seq=self.store.next_seq(), account_id=account.id,
                                url=body.url, events=body.event_list(), description=body.description,
                                is_active=body.is_active, created_at=format_ts(self.clock.now()) or "",
                                secret=new_secret())
        self.store.insert(WEBHOOKS, webhook.dump())
        return webhook, webhook.secret

    def get(self, webhook_id: str, account_id: str | None = None) -> WebhookRecord:
        document = self.store.get(WEBHOOKS, webhook_id)
        if document is None or (account_id is not None and document["account_id"] != account_id):
            raise not_found("webhook")
        return WebhookRecord.load(document)

    def update(self, webhook_id: str, body: WebhookUpdate) -> WebhookRecord:
        self.get(webhook_id)
        changes = body.given()
        events = changes.pop("event_types", None) or changes.get("events")
        if events is not None:
            changes["events"] = list(dict.fromkeys(events))
        document = self.store.update(WEBHOOKS, webhook_id, changes) if changes else self.store.get(WEBHOOKS, webhook_id)
        assert document is not None
        return WebhookRecord.load(document)

    def delete(self, webhook_id: str) -> None:
        self.get(webhook_id)
        self.store.remove(WEBHOOKS, webhook_id)

    def of_account(self, account_id: str | None = None) -> list[WebhookRecord]:
        rows = self.store.scan(WEBHOOKS, lambda row: account_id is None or row["account_id"] == account_id)
        return [WebhookRecord.load(row) for row in sorted(rows, key=lambda row: row["seq"])]

    # ------------------------------------------------------------------ history

    def deliveries(self, paging: Paging, query: dict[str, str], page_url: str, render: Callable[[dict], Any], *,
                   webhook_id: str | None = None, account_id: str | None = None,
                   submission_id: str | None = None, event_id: str | None = None) -> Page:
        def matches(row: dict) -> bool:
            return ((webhook_id is None or row["webhook_id"] == webhook_id)
                    and (account_id is None or row["account_id"] == account_id)
                    and (submission_id is None or row["submission_id"] == submission_id)
                    and (event_id is None or row["event_id"] == event_id))

        return paginate(self.store.ordered(DELIVERIES, "created_at"),
                        fetch=lambda record_id: self.store.peek(DELIVERIES, record_id), matches=matches,
                        paging=paging, query=query, ordering="-created_at", codec=self.codec, page_url=page_url,
                        render=render)

    # ------------------------------------------------------------------ events (into the outbox)

    def submission_event(self, submission: SubmissionRecord, event: str, detail: dict, result: dict | None) -> None:
        """Queue a submission's event for every target (and ``result.completed`` with a success).

        Called inside the transaction that records the change, so the outbox rows
        commit, or not, with it.
        """
        if not self._fires(submission):
            return  # (each event then finds its own receivers, if any)
        self._emit(submission, event, detail, result)
        if event == "submission.succeeded" and result is not None:
            self._emit(submission, "result.completed", detail, result)

    def announces(self, submission: SubmissionRecord) -> bool:
        """Whether any of the submission's events can reach anyone. When not, its end renders no event at all."""
        return self._fires(submission) and bool(self._targets(submission))

    @staticmethod
    def _fires(submission: SubmissionRecord) -> bool:
        """Website submissions and imports fire no events."""
        return submission.source == "api" and not submission.imported

    def _targets(self, submission: SubmissionRecord, event: str | None = None) -> list[tuple[str | None, str]]:
        """(webhook id, url) of each receiver of ``event`` (of any event when None): the
        account's active webhooks subscribed to it, and the submission's own ``webhook_url``."""
        targets: list[tuple[str | None, str]] = [
            (webhook.id, webhook.url) for webhook in self.of_account(submission.account_id)
            if webhook.is_active and (event is None or event in webhook.events)]
        if submission.webhook_url:
            targets.append((None, submission.webhook_url))
        return targets

    def _emit(self, submission: SubmissionRecord, event: str, detail: dict, result: dict | None) -> None:
        account_id = submission.account_id
        targets = self._targets(submission, event)
        if not targets:
            return
        event_id = str(uuid.uuid4())
        now = format_ts(self.clock.now()) or ""
        due = self.clock.timestamp()
        body = json.dumps({"id": event_id, "type": event, "created_at": now,
                           "data": {"submission": detail, "result": result}}, separators=(",", ":"))
        with self.store.transaction():
            for webhook_id, url in targets:
                self._queue(account_id, webhook_id, submission.id, url, event_id, event, body, due)

    def send_test(self, webhook_id: str) -> dict[str, str]:
        """Fire a ``webhook.test`` event at one webhook (active or not)."""
        webhook = self.get(webhook_id)
        event_id = str(uuid.uuid4())
        now = format_ts(self.clock.now()) or ""
        view = {"id": webhook.id, "url": webhook.url, "event_types": webhook.events, "events": webhook.events,
                "description": webhook.description, "is_active": webhook.is_active, "created_at": webhook.created_at}
        body = json.dumps({"id": event_id, "type": "webhook.test", "created_at": now, "data": {"webhook": view}},
                          separators=(",", ":"))
        self._queue(webhook.account_id, webhook.id, None, webhook.url, event_id, "webhook.test", body,
                    self.clock.timestamp())
        self.wake()
        return {"event_id": event_id, "event_type": "webhook.test"}

    def _queue(self, account_id: str, webhook_id: str | None, submission_id: str | None, url: str, event_id: str,
               event_type: str, body: str, due: float) -> None:
        row = WebhookEventRecord(id=prefixed_id("evt"), seq=self.store.next_seq(), account_id=account_id,
                                 webhook_id=webhook_id, submission_id=submission_id, url=url, event_id=event_id,
                                 event_type=event_type, body=body, due=due)
        self.store.insert(EVENTS_OUTBOX, row.dump())

    # ------------------------------------------------------------------ delivery engine

    def start(self) -> None:
        if self._scheduler is None:
            self._scheduler = supervised("vilvik-webhook-scheduler", self._schedule_step, self._stop)

    def stop(self) -> None:
        self._stop.set()
        self.wake()
        self._senders.shutdown(wait=False, cancel_futures=True)

    def wake(self) -> None:
        """Re-check due deliveries (an event was queued, or the clock moved)."""
        with self._condition:
            self._condition.notify_all()

    def clear(self) -> None:
        """Forget every pending event and the delivery history (a full reset)."""
        with self._condition:
            self._generation += 1
            self.store.clear([WEBHOOKS, EVENTS_OUTBOX, DELIVERIES])  # empty ones cost no journal write
            self._condition.notify_all()

    def clear_account(self, account_id: str) -> None:
        with self._condition:
            for table in (WEBHOOKS, EVENTS_OUTBOX, DELIVERIES):
                self.store.remove_where(table, lambda row: row["account_id"] == account_id)

    def _due(self) -> list[WebhookEventRecord]:
        now = self.clock.timestamp()
        rows = self.store.scan(EVENTS_OUTBOX, lambda row: row["id"] not in self._in_flight and row["due"] <= now)
        return [WebhookEventRecord.load(row) for row in sorted(rows, key=lambda row: row["seq"])]

    def drain(self, timeout: float) -> dict[str, Any]:
        """Wait until no delivery is due or in flight; later retries may remain scheduled."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                if not self._in_flight and not self._due():
                    pending = self.store.scan(EVENTS_OUTBOX, lambda row: True)
                    upcoming = min((row["due"] for row in pending), default=None)
                    return {"in_flight": 0, "scheduled": len(pending),
                            "next_attempt_at": None if upcoming is None else format_ts(from_timestamp(upcoming))}
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ApiError("wait_timeout", f"deliveries still busy after {timeout:g} s")
                self._condition.wait(min(remaining, 0.05))

    def _schedule_step(self) -> bool:
        with self._condition:
            due = [] if self._stop.is_set() else self._due()
            if not due:
                self._condition.wait(TICK_SECONDS)
                return not self._stop.is_set()
            self._in_flight.update(row.id for row in due)
            generation = self._generation
        for row in due:
            try:
                self._senders.submit(self._attempt, row, generation)
            except RuntimeError:  # shutting down
                return False
        return True

    def _attempt(self, row: WebhookEventRecord, generation: int) -> None:
        try:
            self._send(row, generation)
        except Exception:  # a pool's future would keep the error to itself: say it (the row stays due)
            log.exception("delivering webhook event %s (%s) failed", row.event_id, row.event_type)
        finally:
            with self._condition:
                self._in_flight.discard(row.id)
                self._condition.notify_all()

    def _secret_for(self, row: WebhookEventRecord) -> str | None:
        if row.webhook_id is None:
            return self.accounts.webhook_secret(row.account_id)
        webhook = self.store.get(WEBHOOKS, row.webhook_id)
        return None if webhook is None else str(webhook["secret"])

    def _send(self, row: WebhookEventRecord, generation: int) -> None:
        secret = self._secret_for(row)
        if secret is None:  # the webhook was deleted meanwhile: nothing to deliver to
            self.store.remove(EVENTS_OUTBOX, row.id)
            return
        attempt = row.attempt + 1
        body = row.body.encode()
        timestamp = int(self.clock.timestamp())
        headers = {"Content-Type": "application/json", "User-Agent": f"vilvik-emulator-webhooks/{self.version}",
                   "X-Signature": sign(secret, timestamp, body), "X-Signature-Timestamp": str(timestamp),
                   "X-Event-Id": row.event_id, "X-Event-Type": row.event_type}
        started = time.perf_counter()
        status_code, error, response_body = None, None, None
        try:
            response = requests.post(row.url, data=body, headers=headers, timeout=TIMEOUT_SECONDS,
                                     allow_redirects=False)
            status_code = response.status_code
            response_body = response.text[:RESPONSE_LIMIT]
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except (requests.RequestException, ValueError) as failure:
            error = f"{type(failure).__name__}: {failure}"[:500]
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        succeeded = error is None
        final = succeeded or attempt >= MAX_ATTEMPTS
        now = self.clock.now()
        next_attempt = None if final else now + timedelta(seconds=2 ** (attempt - 1))
        with self._condition:
            if generation != self._generation or self.store.get(EVENTS_OUTBOX, row.id) is None:
                return  # the emulator was reset while this attempt was on the wire
            delivery = DeliveryRecord(
                id=prefixed_id("dlv"), seq=self.store.next_seq(), account_id=row.account_id,
                webhook_id=row.webhook_id, submission_id=row.submission_id, event_id=row.event_id,
                event_type=row.event_type, url=row.url, attempt=attempt, status_code=status_code,
                duration_ms=duration_ms, error=error, succeeded=succeeded, final=final,
                next_attempt_at=format_ts(next_attempt), response_body=response_body,
                created_at=format_ts(now) or "")
            with self.store.transaction():
                self.store.insert(DELIVERIES, delivery.dump(), durable=False)
                if final:
                    self.store.remove(EVENTS_OUTBOX, row.id)
                elif next_attempt is not None:
                    self.store.update(EVENTS_OUTBOX, row.id, {"attempt": attempt, "due": next_attempt.timestamp()})


__all__ = ["SUBSCRIBABLE", "WebhookService", "new_secret", "sign"]
