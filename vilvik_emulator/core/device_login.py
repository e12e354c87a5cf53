"""Device login (contract §12, RFC 8628): how ``vilvik login`` gets a key.

The CLI asks for a device code, shows the user a short code and the verification page
(the emulator's dashboard at ``/device``), and polls for the key. The emulator approves
when someone confirms the code on that page or through the control plane, or at once
when auto-approval is on (a demo setting). Answers other than the key are the RFC's flat
``{"error": ...}`` bodies, not the API's error envelope, because that is what the SDK
parses. Expiry follows the emulator's clock; poll pacing (``slow_down``) follows real
time, because that is the clock the polling client sleeps on.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import timedelta

from ..clock import Clock, format_ts, parse_ts
from ..config import Settings
from ..errors import ApiError
from ..ids import random_token
from ..schemas.accounts import ALL_SCOPES
from ..store import Store
from .accounts import DEFAULT_ACCOUNT_ID, AccountService
from .records import DeviceCodeRecord

DEVICE_CODES = DeviceCodeRecord.table
LIFETIME = timedelta(minutes=10)
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # no vowels (no words), no look-alikes
SLOW_DOWN_STEP = 5


class DeviceError(Exception):
    """An RFC 8628 error answer: 400 with ``{"error": code}``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class DeviceLoginService:
    def __init__(self, store: Store, clock: Clock, accounts: AccountService, settings: Callable[[], Settings]) -> None:
        self.store = store
        self.clock = clock
        self.accounts = accounts
        self.settings = settings  # () -> Settings
        self._last_poll: dict[str, float] = {}

    def start(self, site_url: str) -> dict:
        settings = self.settings()
        user_code = "-".join("".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(4)) for _ in range(2))
        now = self.clock.now()
        record = {
            "id": "dev_" + random_token(40), "user_code": user_code, "status": "pending", "account_id": None,
            "created_at": format_ts(now), "expires_at": format_ts(now + LIFETIME),
            "interval": settings.device_poll_interval, "key_id": None, "key": None,
        }
        self.store.insert(DEVICE_CODES, record)
        if settings.auto_approve_login:
            self.approve(user_code)
        interval = float(settings.device_poll_interval)
        return {
            "device_code": record["id"], "user_code": user_code,
            "verification_uri": f"{site_url}/device",
            "verification_uri_complete": f"{site_url}/device?user_code={user_code}",
            "expires_in": int(LIFETIME.total_seconds()),
            "interval": int(interval) if interval.is_integer() else interval,
        }

    def poll(self, device_code: object) -> dict:
        """``{"api_key", "scopes"}`` once approved (the key is given once); otherwise :class:`DeviceError`."""
        if not isinstance(device_code, str) or not device_code:
            raise DeviceError("invalid_request")
        record = self.store.get(DEVICE_CODES, device_code)
        if record is None:
            raise DeviceError("invalid_grant")
        if parse_ts(record["expires_at"]) <= self.clock.now() and record["status"] != "consumed":
            raise DeviceError("expired_token")
        if record["status"] == "denied":
            raise DeviceError("access_denied")
        if record["status"] == "consumed":
            raise DeviceError("invalid_grant")  # a device code yields one key, once
        now = time.monotonic()
        last = self._last_poll.get(device_code)
        self._last_poll[device_code] = now
        if record["status"] == "pending":
            if last is not None and now - last < 0.9 * float(record["interval"]):
                self.store.update(DEVICE_CODES, device_code, {"interval": record["interval"] + SLOW_DOWN_STEP})
                raise DeviceError("slow_down")
            raise DeviceError("authorization_pending")
        key = record["key"]
        self.store.update(DEVICE_CODES, device_code, {"status": "consumed", "key": None})
        self._last_poll.pop(device_code, None)
        scopes = self.accounts.get_key(record["key_id"]).scopes if record.get("key_id") else list(ALL_SCOPES)
        return {"api_key": key, "scopes": scopes}

    def pending(self) -> list[dict]:
        now = self.clock.now()
        return [self.view(record) for record in self.store.find(
            DEVICE_CODES, lambda record: record["status"] == "pending" and parse_ts(record["expires_at"]) > now)]

    def find(self, user_code: str) -> dict:
        normalised = (user_code or "").strip().upper().replace(" ", "")
        if len(normalised) == 8 and "-" not in normalised:
            normalised = normalised[:4] + "-" + normalised[4:]
        matches = self.store.find(DEVICE_CODES, lambda record: record["user_code"] == normalised)
        if not matches:
            raise ApiError("not_found", f"no device login with code {user_code!r}")
        record = matches[0]
        if parse_ts(record["expires_at"]) <= self.clock.now():
            raise ApiError("conflict", f"the code {record['user_code']} has expired; run vilvik login again")
        if record["status"] != "pending":
            raise ApiError("conflict", f"the code {record['user_code']} was already {record['status']}")
        return record

    def approve(self, user_code: str, account_id: str | None = None) -> dict:
        record = self.find(user_code)
        account_id = account_id or DEFAULT_ACCOUNT_ID
        key, secret = self.accounts.mint_key(account_id, f"vilvik login ({record['user_code']})")
        # The secret waits here until the CLI collects it (once), then it is erased.
        return self.view(self._changed(record["id"], {
            "status": "approved", "account_id": account_id, "key_id": key.id, "key": secret}))

    def deny(self, user_code: str) -> dict:
        record = self.find(user_code)
        return self.view(self._changed(record["id"], {"status": "denied"}))

    def _changed(self, device_code: str, changes: dict) -> dict:
        document = self.store.update(DEVICE_CODES, device_code, changes)
        assert document is not None  # found under the store's lock a moment ago
        return document

    def clear_account(self, account_id: str) -> None:
        self.store.remove_where(DEVICE_CODES, lambda row: row.get("account_id") == account_id)

    @staticmethod
    def view(record: dict) -> dict:
        return {name: record[name] for name in ("user_code", "status", "account_id", "key_id", "created_at",
                                                "expires_at")}
