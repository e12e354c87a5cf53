"""Accounts and API keys: creation, scopes, expiry, revocation, rotation, authentication.

Keys are stored only as SHA-256 hashes (they are 190-bit random secrets, so a slow hash
adds nothing); a presented key is looked up by its public prefix and compared in
constant time. The one exception is the default account's key, whose secret is kept so
``serve`` can print the same ready-to-use key every time it starts on a database.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime

from ..clock import Clock, format_ts, parse_ts
from ..errors import ApiError, FieldErrors
from ..ids import api_key_secret, prefixed_id
from ..store import Store

ACCOUNTS = "accounts"
KEYS = "api_keys"
SETTINGS = "emulator_settings"

ALL_SCOPES = (
    "submissions:read", "submissions:write",
    "results:read", "results:write",
    "code-uploads:read", "code-uploads:write",
    "webhooks:read", "webhooks:write",
    "imports:write",
)
TIERS = ("free", "premium")
DEFAULT_ACCOUNT_ID = "acct_default"
KEY_PREFIX_LENGTH = 12
LAST_USED_RESOLUTION = 60  # seconds


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def key_prefix(secret: str) -> str:
    return secret[:KEY_PREFIX_LENGTH]


class AccountService:
    def __init__(self, store: Store, clock: Clock, *, default_credits: float,
                 accept_unknown_keys: Callable[[], bool] = lambda: False) -> None:
        self.store = store
        self.clock = clock
        self.default_credits = default_credits
        self.accept_unknown_keys = accept_unknown_keys

    # ------------------------------------------------------------------ accounts

    def create_account(self, *, name: str | None = None, tier: str = "free", credits: float | None = None,
                       mode: str | None = None, active: bool = True, account_id: str | None = None) -> dict:
        account = {
            "id": account_id or prefixed_id("acct"),
            "name": name or "account",
            "tier": tier,
            "credits": float(self.default_credits if credits is None else credits),
            "mode": mode,
            "active": active,
            "created_at": format_ts(self.clock.now()),
            "seq": self.store.next_seq(),
        }
        return self.store.insert(ACCOUNTS, account)

    def get_account(self, account_id: str) -> dict:
        account = self.store.get(ACCOUNTS, account_id)
        if account is None:
            raise ApiError("not_found", f"no account {account_id!r}")
        return account

    def list_accounts(self) -> list[dict]:
        return sorted(self.store.find(ACCOUNTS), key=lambda account: account["seq"])

    def update_account(self, account_id: str, changes: dict) -> dict:
        self.get_account(account_id)
        return self.store.update(ACCOUNTS, account_id, changes)

    def ensure_default_account(self, api_key: str | None) -> tuple[dict, str]:
        """The default account and its all-scopes key, created once per database.

        With ``api_key`` the default key is that secret (created if new); without, the
        key generated on the first start is reused.
        """
        with self.store.transaction():
            account = self.store.get(ACCOUNTS, DEFAULT_ACCOUNT_ID)
            if account is None:
                account = self.create_account(name="default", account_id=DEFAULT_ACCOUNT_ID)
            remembered = self.store.get(SETTINGS, "default_key")
            secret = api_key or (remembered or {}).get("secret")
            if secret and self.find_key_by_secret(secret) is None:
                self.create_key(DEFAULT_ACCOUNT_ID, name="default", scopes=list(ALL_SCOPES), secret=secret)
            if not secret:
                secret = self.create_key(DEFAULT_ACCOUNT_ID, name="default", scopes=list(ALL_SCOPES))["key"]
            if (remembered or {}).get("secret") != secret:
                self.store.put(SETTINGS, {"id": "default_key", "secret": secret})
            return account, secret

    def default_key_secret(self) -> str | None:
        remembered = self.store.get(SETTINGS, "default_key")
        return remembered["secret"] if remembered else None

    # ------------------------------------------------------------------ keys

    def create_key(self, account_id: str, *, name: str | None = None, scopes: list[str] | None = None,
                   expires_at: datetime | None = None, secret: str | None = None) -> dict:
        """Create a key; the returned dict is the only place its secret appears."""
        self.get_account(account_id)
        secret = secret or api_key_secret()
        record = {
            "id": prefixed_id("key"),
            "account_id": account_id,
            "name": name or "key",
            "prefix": key_prefix(secret),
            "hash": hash_secret(secret),
            "scopes": list(ALL_SCOPES if scopes is None else scopes),
            "created_at": format_ts(self.clock.now()),
            "expires_at": format_ts(expires_at),
            "revoked_at": None,
            "last_used_at": None,
            "last_used_ip": None,
            "seq": self.store.next_seq(),
        }
        self.store.insert(KEYS, record)
        return {**self.key_view(record), "key": secret}

    def key_view(self, record: dict) -> dict:
        """A key as the control plane shows it: never the hash, never the secret."""
        view = {name: value for name, value in record.items() if name not in ("hash", "seq")}
        view["status"] = self.key_status(record)
        return view

    def key_status(self, record: dict) -> str:
        if record["revoked_at"]:
            return "revoked"
        if record["expires_at"] and parse_ts(record["expires_at"]) <= self.clock.now():
            return "expired"
        return "active"

    def get_key(self, key_id: str) -> dict:
        record = self.store.get(KEYS, key_id)
        if record is None:
            raise ApiError("not_found", f"no key {key_id!r}")
        return record

    def list_keys(self, account_id: str | None = None) -> list[dict]:
        records = self.store.find(KEYS, None if account_id is None else
                                  (lambda record: record["account_id"] == account_id))
        return sorted(records, key=lambda record: record["seq"])

    def revoke_key(self, key_id: str) -> dict:
        record = self.get_key(key_id)
        if record["revoked_at"]:
            return record
        return self.store.update(KEYS, key_id, {"revoked_at": format_ts(self.clock.now())})

    def rotate_key(self, key_id: str) -> dict:
        """A new secret for the same key (id, scopes, expiry); the old one stops working now."""
        record = self.get_key(key_id)
        if record["revoked_at"]:
            raise ApiError("conflict", "a revoked key cannot be rotated")
        secret = api_key_secret()
        updated = self.store.update(KEYS, key_id, {"prefix": key_prefix(secret), "hash": hash_secret(secret),
                                                   "rotated_at": format_ts(self.clock.now())})
        remembered = self.default_key_secret()
        if remembered is not None and record["hash"] == hash_secret(remembered):
            self.store.put(SETTINGS, {"id": "default_key", "secret": secret})
        return {**self.key_view(updated), "key": secret}

    def update_key(self, key_id: str, changes: dict) -> dict:
        self.get_key(key_id)
        return self.store.update(KEYS, key_id, changes)

    def find_key_by_secret(self, secret: str) -> dict | None:
        prefix = key_prefix(secret)
        presented = hash_secret(secret)
        match = None
        for record in self.store.find(KEYS, lambda record: record["prefix"] == prefix):
            if hmac.compare_digest(record["hash"], presented):
                match = record
        return match

    # ------------------------------------------------------------------ authentication

    def authenticate(self, authorization: str | None, required_scopes: tuple[str, ...],
                     client_ip: str | None = None) -> tuple[dict, dict]:
        """The (account, key) a request acts as, or 401/403 exactly as contract §2 lists."""
        if not authorization:
            raise ApiError("unauthorized", "missing Authorization header; send 'Authorization: Bearer <key>'")
        scheme, _, secret = authorization.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret or " " in secret:
            raise ApiError("unauthorized", "malformed Authorization header; expected 'Bearer <key>'")
        record = self.find_key_by_secret(secret)
        if record is None and self.accept_unknown_keys():
            record = self._adopt_key(secret)
        if record is None:
            raise ApiError("unauthorized", "invalid API key")
        status = self.key_status(record)
        if status == "revoked":
            raise ApiError("unauthorized", "this API key has been revoked")
        if status == "expired":
            raise ApiError("unauthorized", f"this API key expired at {record['expires_at']}")
        account = self.store.get(ACCOUNTS, record["account_id"])
        if account is None or not account["active"]:
            raise ApiError("unauthorized", "the account of this API key is deactivated")
        missing = [scope for scope in required_scopes if scope not in record["scopes"]]
        if missing:
            raise ApiError("scope_required", f"this API key lacks the scope {', '.join(missing)}")
        self._touch(record, client_ip)
        return account, record

    def _adopt_key(self, secret: str) -> dict | None:
        """A key this emulator never issued, made a default-account key with every scope (the
        ``accept_unknown_keys`` setting; moto accepts any credentials the same way)."""
        with self.store.transaction():  # two first requests with the same key adopt it once
            if self.find_key_by_secret(secret) is None:
                self.create_key(DEFAULT_ACCOUNT_ID, name="accepted unknown key", scopes=list(ALL_SCOPES), secret=secret)
            return self.find_key_by_secret(secret)

    def _touch(self, record: dict, client_ip: str | None) -> None:
        """Record ``last_used_at``/``last_used_ip``, at most once a minute per key and address
        (a write per request would turn read-only traffic into database rewrites)."""
        now = self.clock.now()
        last = record["last_used_at"]
        if (last is None or record["last_used_ip"] != client_ip
                or abs((now - parse_ts(last)).total_seconds()) >= LAST_USED_RESOLUTION):
            self.store.update(KEYS, record["id"], {"last_used_at": format_ts(now), "last_used_ip": client_ip},
                              durable=False)


def validate_scopes(scopes: object, errors: FieldErrors, field: str = "scopes") -> list[str]:
    if not isinstance(scopes, list) or not all(isinstance(scope, str) for scope in scopes):
        errors.add(field, "must be a list of scope names")
        return []
    unknown = [scope for scope in scopes if scope not in ALL_SCOPES]
    if unknown:
        errors.add(field, f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(ALL_SCOPES)}")
    return list(dict.fromkeys(scopes))
