"""Idempotency keys on create-style POSTs (contract §4a; Stripe's and the IETF draft's rules).

A key is scoped to (account, endpoint). The first request with it reserves the key
(``in_progress``); a concurrent one gets 409, a later identical one gets the stored
response replayed, a different one (method, path or canonical body) gets 422. Only
2xx responses are stored: a request rejected before it took effect releases the key
so the client can fix it and retry. Keys expire 24 hours after first use, on the
emulator's clock.

The stored response commits in the same store transaction as the row the request
created (the service that creates it calls :meth:`IdempotencyService.complete` inside
its transaction), so a retry after a crash finds either both or neither: never a
submission without its key, which would make the retry create a second one. A
reservation alone is not durable: it dies with the process, and the retry proceeds.
This service owns the ``idempotency_keys`` table.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..clock import Clock, format_ts, parse_ts
from ..errors import ApiError
from ..store import Store
from .records import IdempotencyRecord

TABLE = IdempotencyRecord.table
LIFETIME = timedelta(hours=24)
PURGE_EVERY_SECONDS = 3600


@dataclass
class Replay:
    status: int
    body: dict | None


@dataclass
class Reservation:
    record_id: str


def fingerprint(method: str, path: str, body: object) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{method.upper()} {path}\n{canonical}".encode()).hexdigest()


def check_key(key: str) -> None:
    if not 1 <= len(key) <= 255 or not all(33 <= ord(character) <= 126 or character == " " for character in key):
        raise ApiError("invalid_parameter", "Idempotency-Key must be 1 to 255 printable ASCII characters",
                       details=[{"field": "Idempotency-Key", "message": "must be 1-255 printable ASCII characters"}])


class IdempotencyService:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._last_purge: datetime | None = None

    def begin(self, account_id: str, endpoint: str, key: str, request_fingerprint: str) -> Replay | Reservation:
        check_key(key)
        record_id = hashlib.sha256(f"{account_id}\n{endpoint}\n{key}".encode()).hexdigest()[:32]
        now = self.clock.now()
        if self._last_purge is None or abs((now - self._last_purge).total_seconds()) >= PURGE_EVERY_SECONDS:
            # The SDK sends a fresh key with every create: forget expired ones now and then.
            self._last_purge = now
            self.purge_expired()
        with self.store.lock:
            record = self.store.get(TABLE, record_id)
            if record is not None and parse_ts(record["created_at"]) + LIFETIME <= now:
                self.store.remove(TABLE, record_id)
                record = None
            if record is None:
                # Not fsync'd: a reservation dies with the process that made it.
                self.store.insert(TABLE, {"id": record_id, "account_id": account_id, "endpoint": endpoint,
                                          "fingerprint": request_fingerprint, "state": "in_progress",
                                          "created_at": format_ts(now), "status": None, "body": None},
                                  durable=False)
                return Reservation(record_id)
            if record["fingerprint"] != request_fingerprint:
                raise ApiError("idempotency_key_reused",
                               "this Idempotency-Key was already used with a different request; "
                               "use a new key for a new request")
            if record["state"] == "in_progress":
                raise ApiError("idempotency_key_in_use",
                               "a request with this Idempotency-Key is still being processed; retry later",
                               headers={"Retry-After": "1"})
            return Replay(record["status"], record["body"])

    def complete(self, reservation: Reservation, status: int, body: dict | None) -> None:
        """Store the response to replay (durably); a non-2xx releases the key instead.

        A create stores its response inside the transaction of the row it makes, and the
        HTTP layer completes again with the final form: when that is the same response
        (every run mode but ``sync``), nothing is written again, which saves the create
        its second fsync.
        """
        if 200 <= status < 300:
            with self.store.lock:
                stored = self.store.peek(TABLE, reservation.record_id)
                if (stored is not None and stored["state"] == "done" and stored["status"] == status
                        and stored["body"] == body):
                    return
                self.store.update(TABLE, reservation.record_id, {"state": "done", "status": status, "body": body})
        else:
            self.release(reservation)

    def clear_account(self, account_id: str) -> None:
        self.store.remove_where(TABLE, lambda record: record["account_id"] == account_id)

    def release(self, reservation: Reservation) -> None:
        self.store.remove(TABLE, reservation.record_id)

    def recover(self) -> None:
        """Forget reservations of requests that died with a previous process."""
        self.store.remove_where(TABLE, lambda record: record["state"] == "in_progress")

    def purge_expired(self) -> int:
        cutoff = self.clock.now() - LIFETIME
        return len(self.store.remove_where(TABLE, lambda record: parse_ts(record["created_at"]) <= cutoff))
