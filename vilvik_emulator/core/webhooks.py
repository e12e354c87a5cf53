"""Webhooks (contract §11): subscriptions, signed deliveries, retries, delivery history.

Events of submissions created over the API (never website ones, never imports) go to
the account's active webhooks subscribed to them and to the submission's own
``webhook_url``. A delivery is a JSON ``POST`` signed with HMAC-SHA256 over
``"<timestamp>.<raw body>"``; one that gets no 2xx within 10 s is retried after 1, 2, 4
and 8 seconds (5 attempts) with the same event id. Retry times are on the emulator's
clock, so a test can advance the clock to make every retry due at once. Deliveries run
on their own threads: they never hold up the request or the job that caused them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Callable

import requests

from ..clock import Clock, format_ts
from ..errors import ApiError, FieldErrors, not_found
from ..ids import prefixed_id, random_token
from ..store import Store
from . import render
from .pagination import CursorCodec, paginate
from .submissions import SUBMISSIONS, check_webhook_url

WEBHOOKS = "webhooks"
DELIVERIES = "webhook_deliveries"
EVENTS = ("submission.succeeded", "submission.failed", "submission.cancelled", "result.completed", "webhook.test")
SUBSCRIBABLE = EVENTS[:4]
MAX_ATTEMPTS = 5
TIMEOUT_SECONDS = 10
RESPONSE_LIMIT = 2048
SENDERS = 4


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Signature`` value: ``sha256=`` + HMAC-SHA256(secret, "<timestamp>.<body>")."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def new_secret() -> str:
    return "whsec_" + random_token(32)


class _Delivery:
    """One event bound for one URL, across its attempts."""

    __slots__ = ("account_id", "webhook_id", "submission_id", "url", "secret", "event_id", "event_type", "body",
                 "attempt", "due")

    def __init__(self, *, account_id: str, webhook_id: str | None, submission_id: str | None, url: str, secret: str,
                 event_id: str, event_type: str, body: bytes, due: datetime) -> None:
        self.account_id, self.webhook_id, self.submission_id = account_id, webhook_id, submission_id
        self.url, self.secret = url, secret
        self.event_id, self.event_type, self.body = event_id, event_type, body
        self.attempt = 0
        self.due = due


class WebhookService:
    def __init__(self, store: Store, clock: Clock, codec: CursorCodec, version: str,
                 site_url: Callable[[], str]) -> None:
        self.store = store
        self.clock = clock
        self.codec = codec
        self.version = version
        self.site_url = site_url
        self.submissions = None  # set by the emulator
        self.results = None
        self._condition = threading.Condition()
        self._scheduled: list[_Delivery] = []
        self._in_flight = 0
        self._stopping = False
        self._generation = 0  # bumped by clear(): attempts of an older generation are dropped
        self._senders = ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="vilvik-webhook")
        self._scheduler: threading.Thread | None = None
        store.ensure_order(DELIVERIES, "created_at", lambda row: (row["created_at"], row["seq"]))

    # ------------------------------------------------------------------ management

    def _fields(self, body: dict, errors: FieldErrors, *, creating: bool) -> dict:
        allowed = ("account", "url", "events", "description", "is_active") if creating else \
            ("url", "events", "description", "is_active")
        for name in body:
            if name not in allowed:
                errors.add(name, f"is not a webhook field ({', '.join(allowed)})")
        fields: dict = {}
        if creating or "url" in body:
            if body.get("url") is None:
                errors.add("url", "is required")
            fields["url"] = check_webhook_url(body.get("url"), errors, "url")
        if "events" in body or creating:
            events = body.get("events", list(SUBSCRIBABLE))
            if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
                errors.add("events", "must be a non-empty list of event names")
            else:
                unknown = [event for event in events if event not in SUBSCRIBABLE]
                if unknown:
                    errors.add("events", f"unknown event(s) {', '.join(unknown)}; known: {', '.join(SUBSCRIBABLE)}")
                fields["events"] = list(dict.fromkeys(events))
        if "description" in body:
            description = body["description"]
            if description is not None and (not isinstance(description, str) or len(description) > 1000):
                errors.add("description", "must be a string of at most 1000 characters")
            fields["description"] = description
        if "is_active" in body:
            if not isinstance(body["is_active"], bool):
                errors.add("is_active", "must be true or false")
            fields["is_active"] = body["is_active"]
        return fields

    def create(self, account_id: str, body: dict) -> dict:
        """A new webhook; the returned dict is the only place its secret appears."""
        errors = FieldErrors()
        fields = self._fields(body, errors, creating=True)
        errors.raise_if_any()
        webhook = {"id": prefixed_id("wh"), "seq": self.store.next_seq(), "account_id": account_id,
                   "url": fields["url"], "events": fields["events"], "description": fields.get("description"),
                   "is_active": fields.get("is_active", True), "created_at": format_ts(self.clock.now()),
                   "secret": new_secret()}
        self.store.insert(WEBHOOKS, webhook)
        return {**self.view(webhook), "secret": webhook["secret"]}

    def get(self, webhook_id: str, account_id: str | None = None) -> dict:
        webhook = self.store.get(WEBHOOKS, webhook_id)
        if webhook is None or (account_id is not None and webhook["account_id"] != account_id):
            raise not_found("webhook")
        return webhook

    def update(self, webhook_id: str, body: dict) -> dict:
        self.get(webhook_id)
        errors = FieldErrors()
        fields = self._fields(body, errors, creating=False)
        errors.raise_if_any()
        return self.view(self.store.update(WEBHOOKS, webhook_id, fields))

    def delete(self, webhook_id: str) -> None:
        self.get(webhook_id)
        self.store.remove(WEBHOOKS, webhook_id)

    def list(self, account_id: str | None = None) -> list[dict]:
        rows = self.store.find(WEBHOOKS, None if account_id is None else (lambda row: row["account_id"] == account_id))
        return [self.view(row) for row in sorted(rows, key=lambda row: row["seq"])]

    @staticmethod
    def view(webhook: dict) -> dict:
        """A webhook as the API shows it: never its secret."""
        return {"id": webhook["id"], "url": webhook["url"], "events": webhook["events"],
                "description": webhook["description"], "is_active": webhook["is_active"],
                "created_at": webhook["created_at"], "account_id": webhook["account_id"]}

    def account_secret(self, account_id: str) -> str:
        """The secret that signs deliveries to submissions' own ``webhook_url``s."""
        with self.store.lock:
            account = self.store.get("accounts", account_id)
            if account is None:
                raise not_found("account")
            if not account.get("webhook_secret"):
                account = self.store.update("accounts", account_id, {"webhook_secret": new_secret()})
            return account["webhook_secret"]

    # ------------------------------------------------------------------ history

    def deliveries(self, args, page_url: str, *, webhook_id: str | None = None, account_id: str | None = None,
                   submission_id: str | None = None, event_id: str | None = None) -> dict:
        def matches(row: dict) -> bool:
            return ((webhook_id is None or row["webhook_id"] == webhook_id)
                    and (account_id is None or row["account_id"] == account_id)
                    and (submission_id is None or row["submission_id"] == submission_id)
                    and (event_id is None or row["event_id"] == event_id))

        return paginate(self.store.ordered(DELIVERIES, "created_at"),
                        fetch=lambda record_id: self.store.peek(DELIVERIES, record_id), matches=matches, args=args,
                        ordering="-created_at", codec=self.codec, page_url=page_url, render=self.delivery_view)

    @staticmethod
    def delivery_view(row: dict) -> dict:
        return {name: row[name] for name in ("id", "webhook_id", "submission_id", "event_id", "event_type", "url",
                                             "attempt", "status_code", "duration_ms", "error", "succeeded",
                                             "final", "next_attempt_at", "response_body", "created_at")}

    # ------------------------------------------------------------------ events

    def submission_event(self, event: str, submission_id: str) -> None:
        """Queue the deliveries of a submission's event (and ``result.completed`` with success)."""
        submission = self.store.get(SUBMISSIONS, submission_id)
        if submission is None or submission["source"] != "api" or submission.get("import_id"):
            return  # website submissions and imports fire nothing
        base = self.site_url() + "/api/v1"
        detail = render.submission_detail(submission, base)
        result = self.store.get("results", submission["result_id"]) if submission.get("result_id") else None
        result_detail = render.result_detail(result, base) if result else None
        self._emit(submission, event, detail, result_detail)
        if event == "submission.succeeded" and result_detail is not None:
            self._emit(submission, "result.completed", detail, result_detail)

    def _emit(self, submission: dict, event: str, detail: dict, result: dict | None) -> None:
        event_id = str(uuid.uuid4())
        now = self.clock.now()
        body = json.dumps({"id": event_id, "type": event, "created_at": format_ts(now),
                           "data": {"submission": detail, "result": result}}, separators=(",", ":")).encode()
        account_id = submission["account_id"]
        targets = [(webhook["id"], webhook["url"], webhook["secret"]) for webhook in self.store.find(
            WEBHOOKS, lambda row: row["account_id"] == account_id and row["is_active"] and event in row["events"])]
        if submission.get("webhook_url"):
            targets.append((None, submission["webhook_url"], self.account_secret(account_id)))
        for webhook_id, url, secret in targets:
            self._schedule(_Delivery(account_id=account_id, webhook_id=webhook_id, submission_id=submission["id"],
                                     url=url, secret=secret, event_id=event_id, event_type=event, body=body, due=now))

    def send_test(self, webhook_id: str) -> dict:
        """Fire a ``webhook.test`` event at one webhook (active or not)."""
        webhook = self.get(webhook_id)
        event_id = str(uuid.uuid4())
        now = self.clock.now()
        body = json.dumps({"id": event_id, "type": "webhook.test", "created_at": format_ts(now),
                           "data": {"webhook": self.view(webhook)}}, separators=(",", ":")).encode()
        self._schedule(_Delivery(account_id=webhook["account_id"], webhook_id=webhook_id, submission_id=None,
                                 url=webhook["url"], secret=webhook["secret"], event_id=event_id,
                                 event_type="webhook.test", body=body, due=now))
        return {"event_id": event_id, "event_type": "webhook.test"}

    # ------------------------------------------------------------------ delivery engine

    def start(self) -> None:
        if self._scheduler is None:
            self._scheduler = threading.Thread(target=self._schedule_loop, name="vilvik-webhook-scheduler",
                                               daemon=True)
            self._scheduler.start()

    def stop(self) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        self._senders.shutdown(wait=False, cancel_futures=True)

    def wake(self) -> None:
        """Re-check due deliveries (the clock moved)."""
        with self._condition:
            self._condition.notify_all()

    def clear(self) -> None:
        """Forget every scheduled delivery (a reset)."""
        with self._condition:
            self._scheduled.clear()
            self._generation += 1
            self._condition.notify_all()

    def drain(self, timeout: float) -> dict:
        """Wait until no delivery is due or in flight; later retries may remain scheduled."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                now = self.clock.now()
                busy = self._in_flight or any(delivery.due <= now for delivery in self._scheduled)
                if not busy:
                    return {"in_flight": 0, "scheduled": len(self._scheduled),
                            "next_attempt_at": format_ts(min((d.due for d in self._scheduled), default=None))}
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ApiError("wait_timeout", f"deliveries still busy after {timeout:g} s")
                self._condition.wait(min(remaining, 0.05))

    def _schedule(self, delivery: _Delivery) -> None:
        with self._condition:
            self._scheduled.append(delivery)
            self._condition.notify_all()

    def _schedule_loop(self) -> None:
        while True:
            with self._condition:
                if self._stopping:
                    return
                now = self.clock.now()
                due = [delivery for delivery in self._scheduled if delivery.due <= now]
                if not due:
                    self._condition.wait(0.1)
                    continue
                for delivery in due:
                    self._scheduled.remove(delivery)
                self._in_flight += len(due)
                generation = self._generation
            for delivery in due:
                try:
                    self._senders.submit(self._attempt, delivery, generation)
                except RuntimeError:  # shutting down
                    return

    def _attempt(self, delivery: _Delivery, generation: int) -> None:
        try:
            self._send(delivery, generation)
        finally:
            with self._condition:
                self._in_flight -= 1
                self._condition.notify_all()

    def _send(self, delivery: _Delivery, generation: int) -> None:
        delivery.attempt += 1
        timestamp = int(self.clock.timestamp())
        headers = {"Content-Type": "application/json", "User-Agent": f"vilvik-emulator-webhooks/{self.version}",
                   "X-Signature": sign(delivery.secret, timestamp, delivery.body),
                   "X-Signature-Timestamp": str(timestamp), "X-Event-Id": delivery.event_id,
                   "X-Event-Type": delivery.event_type}
        started = time.perf_counter()
        status_code, error, response_body = None, None, None
        try:
            response = requests.post(delivery.url, data=delivery.body, headers=headers, timeout=TIMEOUT_SECONDS,
                                     allow_redirects=False)
            status_code = response.status_code
            response_body = response.text[:RESPONSE_LIMIT]
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except requests.RequestException as failure:
            error = f"{type(failure).__name__}: {failure}"[:500]
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        succeeded = error is None
        final = succeeded or delivery.attempt >= MAX_ATTEMPTS
        next_attempt = None if final else self.clock.now() + timedelta(seconds=2 ** (delivery.attempt - 1))
        with self._condition:
            if generation != self._generation:
                return  # the emulator was reset while this attempt was on the wire
            self.store.insert(DELIVERIES, {
                "id": prefixed_id("dlv"), "seq": self.store.next_seq(), "account_id": delivery.account_id,
                "webhook_id": delivery.webhook_id, "submission_id": delivery.submission_id,
                "event_id": delivery.event_id, "event_type": delivery.event_type, "url": delivery.url,
                "attempt": delivery.attempt, "status_code": status_code, "duration_ms": duration_ms, "error": error,
                "succeeded": succeeded, "final": final, "next_attempt_at": format_ts(next_attempt),
                "response_body": response_body, "created_at": format_ts(self.clock.now())}, durable=False)
            if next_attempt is not None:
                delivery.due = next_attempt
                self._scheduled.append(delivery)
