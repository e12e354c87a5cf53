"""Accounts and API keys (contract §2): creation, scopes, expiry, revocation, rotation, authentication.

This service owns the ``accounts`` and ``api_keys`` tables, and the instance's own
secrets (``emulator_settings``: cursor and session signing keys, the default key). The
control plane, the CLI's offline mode and the dashboard all call it with the same
bodies (``schemas/accounts.py``), so they share one behaviour for keys and scopes.

Keys are stored only as SHA-256 hashes (they are 190-bit random secrets, so a slow hash
adds nothing); a presented key is looked up by its public prefix and compared in
constant time. The one exception is the default account's key, whose secret is kept so
``serve`` can print the same ready-to-use key every time it starts on a database.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable

from ..clock import Clock, format_ts, parse_ts
from ..errors import ApiError, field_error
from ..ids import api_key_secret, prefixed_id
from ..schemas.accounts import ALL_SCOPES, AccountCreate, AccountUpdate, KeyCreate, KeyUpdate
from ..store import Store
from .records import AccountRecord, InstanceSecret, KeyRecord

ACCOUNTS = AccountRecord.table
KEYS = KeyRecord.table
SETTINGS = InstanceSecret.table
DEFAULT_ACCOUNT_ID = "acct_default"
KEY_PREFIX_LENGTH = 12
LAST_USED_RESOLUTION = 60  # seconds


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def key_prefix(secret: str) -> str:
    return secret[:KEY_PREFIX_LENGTH]


class AccountService:
    def __init__(self, store: Store, clock: Clock, *, default_credits: Callable[[], float],
                 accept_unknown_keys: Callable[[], bool] = lambda: False) -> None:
        self.store = store
        self.clock = clock
        self.default_credits = default_credits
        self.accept_unknown_keys = accept_unknown_keys

    # ------------------------------------------------------------------ instance secrets

    def instance_secret(self, name: str) -> bytes:
        """A random secret of this database (created once), e.g. the cursor signing key."""
        with self.store.lock:
            record = self.store.get(SETTINGS, name)
            if record is None:
                record = self.store.put(SETTINGS, InstanceSecret(id=name, value=secrets.token_hex(32)).dump())
            return bytes.fromhex(record["value"])

    def instance_secrets(self) -> list[dict]:
        return self.store.find(SETTINGS)

    def restore_instance_secrets(self, records: list[dict]) -> None:
        for record in records:
            self.store.put(SETTINGS, record)

    # ------------------------------------------------------------------ accounts

    def create_account(self, body: AccountCreate, *, account_id: str | None = None) -> AccountRecord:
        credits = self.default_credits() if body.credits is None else body.credits
        account = AccountRecord(id=account_id or prefixed_id("acct"), name=body.name, tier=body.tier,
                                credits=float(credits), mode=body.mode, active=body.active,
                                email_verified=body.email_verified, created_at=format_ts(self.clock.now()) or "",
                                seq=self.store.next_seq())
        self.store.insert(ACCOUNTS, account.dump())
        return account

    def find(self, account_id: str) -> AccountRecord | None:
        document = self.store.get(ACCOUNTS, account_id)
        return None if document is None else AccountRecord.load(document)

    def get_account(self, account_id: str) -> AccountRecord:
        account = self.find(account_id)
        if account is None:
            raise ApiError("not_found", f"no account {account_id!r}")
        return account

    def require(self, account_id: str | None, field: str = "account") -> AccountRecord:
        """The account a body names (the default one when it names none), else a 422 naming ``field``."""
        account = self.find(account_id or DEFAULT_ACCOUNT_ID)
        if account is None:
            raise field_error(field, f"is {account_id!r}, which is not an account")
        return account

    def list_accounts(self) -> list[AccountRecord]:
        return [AccountRecord.load(row) for row in sorted(self.store.find(ACCOUNTS), key=lambda row: row["seq"])]

    def update_account(self, account_id: str, body: AccountUpdate) -> AccountRecord:
        self.get_account(account_id)
        changes = body.given()
        if "credits" in changes:
            changes["credits"] = float(changes["credits"])
        document = self.store.update(ACCOUNTS, account_id, changes) if changes else self.store.get(ACCOUNTS, account_id)
        assert document is not None
        return AccountRecord.load(document)

    def debit(self, account_id: str, amount: float) -> float | None:
        """Take ``amount`` from the balance; the new balance (``None`` when the account is gone)."""
        with self.store.lock:
            account = self.find(account_id)
            if account is None:
                return None
            balance = round(account.credits - amount, 4)
            self.store.update(ACCOUNTS, account_id, {"credits": balance})
            return balance

    def webhook_secret(self, account_id: str) -> str:
        """The secret that signs deliveries to the account's submissions' own ``webhook_url``s."""
        from .webhooks import new_secret

        with self.store.lock:
            account = self.get_account(account_id)
            if account.webhook_secret:
                return account.webhook_secret
            secret = new_secret()
            self.store.update(ACCOUNTS, account_id, {"webhook_secret": secret})
            return secret

    def ensure_default_account(self, api_key: str | None) -> tuple[AccountRecord, str]:
        """The default account and its all-scopes key, created once per database.

        With ``api_key`` the default key is that secret (created if new); without, the
        key generated on the first start is reused.
        """
        with self.store.transaction():
            account = self.find(DEFAULT_ACCOUNT_ID)
            if account is None:
                account = self.create_account(AccountCreate(name="default"), account_id=DEFAULT_ACCOUNT_ID)
            remembered = self.default_key_secret()
            secret = api_key or remembered
            if secret and self.find_key_by_secret(secret) is None:
                self._insert_key(DEFAULT_ACCOUNT_ID, "default", list(ALL_SCOPES), None, secret)
            if not secret:
                secret = self._insert_key(DEFAULT_ACCOUNT_ID, "default", list(ALL_SCOPES), None, None)[1]
            if remembered != secret:
                self.store.put(SETTINGS, InstanceSecret(id="default_key", secret=secret).dump())
            return account, secret

    def default_key_secret(self) -> str | None:
        remembered = self.store.get(SETTINGS, "default_key")
        return remembered["secret"] if remembered else None

    def clear(self, default_key: str) -> None:
        """Every account and key gone, then the default account and its key again (a full reset)."""
        with self.store.transaction():
            self.store.clear([ACCOUNTS, KEYS])
            self.ensure_default_account(default_key)

    # ------------------------------------------------------------------ keys

    def create_key(self, body: KeyCreate) -> tuple[KeyRecord, str]:
        """A new key and its secret (returned here and nowhere else)."""
        account = self.require(body.account)
        expires_at = format_ts(parse_ts(body.expires_at)) if body.expires_at else None
        scopes = list(dict.fromkeys(ALL_SCOPES if body.scopes is None else body.scopes))
        return self._insert_key(account.id, body.name or "key", scopes, expires_at, None)

    def _insert_key(self, account_id: str, name: str, scopes: list[str], expires_at: str | None,
                    secret: str | None) -> tuple[KeyRecord, str]:
        secret = secret or api_key_secret()
        record = KeyRecord(id=prefixed_id("key"), account_id=account_id, name=name, prefix=key_prefix(secret),
                           hash=hash_secret(secret), scopes=scopes, created_at=format_ts(self.clock.now()) or "",
                           expires_at=expires_at, seq=self.store.next_seq())
        self.store.insert(KEYS, record.dump(), durable=True)
        return record, secret

    def mint_key(self, account_id: str, name: str) -> tuple[KeyRecord, str]:
        """An all-scopes key for ``account_id`` (a device login's)."""
        self.get_account(account_id)
        return self._insert_key(account_id, name, list(ALL_SCOPES), None, None)

    def key_status(self, record: KeyRecord) -> str:
        if record.revoked_at:
            return "revoked"
        if record.expires_at and parse_ts(record.expires_at) <= self.clock.now():
            return "expired"
        return "active"

    def get_key(self, key_id: str) -> KeyRecord:
        document = self.store.get(KEYS, key_id)
        if document is None:
            raise ApiError("not_found", f"no key {key_id!r}")
        return KeyRecord.load(document)

    def list_keys(self, account_id: str | None = None) -> list[KeyRecord]:
        rows = self.store.scan(KEYS, lambda row: account_id is None or row["account_id"] == account_id)
        return [KeyRecord.load(row) for row in sorted(rows, key=lambda row: row["seq"])]

    def revoke_key(self, key_id: str) -> KeyRecord:
        record = self.get_key(key_id)
        if record.revoked_at:
            return record
        return self._changed_key(key_id, {"revoked_at": format_ts(self.clock.now())})

    def rotate_key(self, key_id: str) -> tuple[KeyRecord, str]:
        """A new secret for the same key (id, scopes, expiry); the old one stops working now."""
        record = self.get_key(key_id)
        if record.revoked_at:
            raise ApiError("conflict", "a revoked key cannot be rotated")
        secret = api_key_secret()
        with self.store.transaction():
            updated = self._changed_key(key_id, {"prefix": key_prefix(secret), "hash": hash_secret(secret),
                                                 "rotated_at": format_ts(self.clock.now())})
            remembered = self.default_key_secret()
            if remembered is not None and record.hash == hash_secret(remembered):
                self.store.put(SETTINGS, InstanceSecret(id="default_key", secret=secret).dump())
        return updated, secret

    def update_key(self, key_id: str, body: KeyUpdate) -> KeyRecord:
        self.get_key(key_id)
        changes = body.given()
        if "scopes" in changes:
            changes["scopes"] = list(dict.fromkeys(changes["scopes"]))
        if "expires_at" in changes and changes["expires_at"] is not None:
            changes["expires_at"] = format_ts(parse_ts(changes["expires_at"]))
        return self._changed_key(key_id, changes) if changes else self.get_key(key_id)

    def _changed_key(self, key_id: str, changes: dict) -> KeyRecord:
        document = self.store.update(KEYS, key_id, changes)
        assert document is not None
        return KeyRecord.load(document)

    def find_key_by_secret(self, secret: str) -> KeyRecord | None:
        prefix = key_prefix(secret)
        presented = hash_secret(secret)
        match = None
        for row in self.store.scan(KEYS, lambda row: row["prefix"] == prefix):
            if hmac.compare_digest(row["hash"], presented):
                match = KeyRecord.load(row)
        return match

    # ------------------------------------------------------------------ authentication

    def authenticate(self, authorization: str | None, required_scopes: tuple[str, ...],
                     client_ip: str | None = None) -> tuple[AccountRecord, KeyRecord]:
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
            raise ApiError("unauthorized", f"this API key expired at {record.expires_at}")
        account = self.find(record.account_id)
        if account is None or not account.active:
            raise ApiError("unauthorized", "the account of this API key is deactivated")
        if not account.email_verified:
            raise ApiError("unauthorized", "the owner of this API key has not verified their email address")
        missing = [scope for scope in required_scopes if scope not in record.scopes]
        if missing:
            raise ApiError("scope_required", f"this API key lacks the scope {', '.join(missing)}")
        self._touch(record, client_ip)
        return account, record

    def _adopt_key(self, secret: str) -> KeyRecord | None:
        """A key this emulator never issued, made a default-account key with every scope (the
        ``accept_unknown_keys`` setting; moto accepts any credentials the same way)."""
        with self.store.transaction():  # two first requests with the same key adopt it once
            if self.find_key_by_secret(secret) is None:
                self._insert_key(DEFAULT_ACCOUNT_ID, "accepted unknown key", list(ALL_SCOPES), None, secret)
            return self.find_key_by_secret(secret)

    def _touch(self, record: KeyRecord, client_ip: str | None) -> None:
        """Record ``last_used_at``/``last_used_ip``, at most once a minute per key and address
        (a write per request would turn read-only traffic into database rewrites)."""
        now = self.clock.now()
        last = record.last_used_at
        if (last is None or record.last_used_ip != client_ip
                or abs((now - parse_ts(last)).total_seconds()) >= LAST_USED_RESOLUTION):
            self.store.update(KEYS, record.id, {"last_used_at": format_ts(now), "last_used_ip": client_ip},
                              durable=False)
