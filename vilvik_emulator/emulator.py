"""The composition root: one emulator instance with its clock, store, services and runner.

Everything stateful hangs off an :class:`Emulator`; the Flask app, the CLI and the
pytest plugin each build one and never reach around it.
"""

from __future__ import annotations

import dataclasses
import secrets
import time

from . import __version__
from .clock import Clock
from .config import RUN_MODES, Settings
from .errors import FieldErrors
from .core.accounts import ACCOUNTS, KEYS, SETTINGS, AccountService
from .core.code_uploads import CODE_UPLOADS, CodeUploadService
from .core.credits import LEDGER, CreditService
from .core.device_login import DEVICE_CODES, DeviceLoginService
from .core.faults import FaultService
from .core.journal import RequestJournal
from .core.idempotency import TABLE as IDEMPOTENCY, IdempotencyService
from .core.imports import IMPORTS, ImportService
from .core.rate_limits import RequestRateLimiter
from .core.pagination import CursorCodec
from .core.results import RESULTS, ResultService
from .core.submissions import SUBMISSIONS, SubmissionService
from .core.webhooks import DELIVERIES, WEBHOOKS, WebhookService
from .runner import Runner
from .store import Store

LIMIT_RANGES = {"runtime_seconds": (0.1, 86_400), "memory_mb": (64, 1_048_576),
                "output_bytes": (0, 1 << 30), "max_processes": (1, 100_000)}
SETTING_RANGES = {"device_poll_interval": (0, 60), "pool_size": (1, 256), "max_body_bytes": (1024, 1 << 30), "default_credits": (0, 1e12),
                  "cpu_rate": (0, 1e6), "memory_rate": (0, 1e6)}


def _number_in(value: object, low: float, high: float) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
            and low <= value <= high)


#: tables emptied by a full reset (accounts and keys are pruned, not emptied)
STATE_TABLES = (SUBMISSIONS, RESULTS, IDEMPOTENCY, LEDGER, CODE_UPLOADS, IMPORTS, DEVICE_CODES, WEBHOOKS, DELIVERIES)


class Emulator:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings(db_path=None)
        self.initial_settings = dataclasses.replace(self.settings, limits=dataclasses.replace(self.settings.limits))
        self.version = __version__
        self.clock = Clock()
        self.store = Store(self.settings.db_path, checkpoint_interval=self.settings.checkpoint_interval)
        self.codec = CursorCodec(self._secret("cursor_secret"))
        #: signs the dashboard's session cookie (kept, so sessions survive a restart)
        self.session_secret = self._secret("session_secret")
        self.accounts = AccountService(self.store, self.clock, default_credits=self.settings.default_credits,
                                       accept_unknown_keys=lambda: self.settings.accept_unknown_keys)
        self.credits = CreditService(self.store, self.clock,
                                     lambda: (self.settings.cpu_rate, self.settings.memory_rate))
        self.idempotency = IdempotencyService(self.store, self.clock)
        self.submissions = SubmissionService(self.store, self.clock, self.credits, self.codec, self.mode_for)
        self.results = ResultService(self.store, self.clock, self.codec, self.submissions)
        self.submissions.results = self.results
        self.code_uploads = CodeUploadService(self.store, self.clock, self.codec)
        self.submissions.code_uploads = self.code_uploads
        self.imports = ImportService(self.store, self.clock, self.submissions)
        self.rate_limiter = RequestRateLimiter(self.clock)
        self.device_login = DeviceLoginService(self.store, self.clock, self.accounts, lambda: self.settings)
        #: where the emulator is reachable (set by the HTTP server), for URLs in webhook payloads
        self.public_url = "http://127.0.0.1"
        self.webhooks = WebhookService(self.store, self.clock, self.codec, self.version, lambda: self.public_url)
        self.submissions.events = self.webhooks
        self.runner = Runner(self.submissions, limits=lambda: dataclasses.asdict(self.settings.limits),
                             pool_size=lambda: self.settings.pool_size)
        self.submissions.runner = self.runner
        self.faults = FaultService()
        self.journal = RequestJournal()
        _, self.default_api_key = self.accounts.ensure_default_account(self.settings.api_key)
        self.started_monotonic = time.monotonic()
        self._started = False

    def _secret(self, name: str) -> bytes:
        record = self.store.get(SETTINGS, name)
        if record is None:
            record = self.store.put(SETTINGS, {"id": name, "value": secrets.token_hex(32)})
        return bytes.fromhex(record["value"])

    def mode_for(self, account: dict) -> str:
        return account.get("mode") or self.settings.mode

    def start(self) -> "Emulator":
        """Start the runner and recover what a previous process left behind."""
        if not self._started:
            self._started = True
            self.runner.start()
            self.webhooks.start()
            self.idempotency.recover()
            self.submissions.recover()
        return self

    def close(self) -> None:
        self.runner.shutdown()
        self.webhooks.stop()
        self.store.close()

    # ------------------------------------------------------------------ runtime configuration

    def settings_view(self) -> dict:
        settings = self.settings
        return {
            "mode": settings.mode,
            "pool_size": settings.pool_size,
            "limits": dataclasses.asdict(settings.limits),
            "max_body_bytes": settings.max_body_bytes,
            "default_credits": settings.default_credits,
            "cpu_rate": settings.cpu_rate,
            "memory_rate": settings.memory_rate,
            "rate_limit": settings.rate_limit,
            "auto_approve_login": settings.auto_approve_login,
            "accept_unknown_keys": settings.accept_unknown_keys,
            "device_poll_interval": settings.device_poll_interval,
        }

    def configure(self, changes: dict) -> dict:
        """Apply runtime settings (``PATCH /_emulator/config``); all checked before any applies."""
        errors = FieldErrors()
        updates: dict = {}
        limit_updates: dict = {}
        for name, value in changes.items():
            if name == "limits":
                if not isinstance(value, dict):
                    errors.add("limits", "must be an object")
                    continue
                for limit, amount in value.items():
                    if limit not in LIMIT_RANGES:
                        errors.add(f"limits.{limit}", f"is not a limit ({', '.join(LIMIT_RANGES)})")
                    elif not _number_in(amount, *LIMIT_RANGES[limit]):
                        errors.add(f"limits.{limit}", "must be a number in [{}, {}]".format(*LIMIT_RANGES[limit]))
                    else:
                        limit_updates[limit] = amount
            elif name == "mode":
                if value not in RUN_MODES:
                    errors.add("mode", f"must be one of {', '.join(RUN_MODES)}")
                updates[name] = value
            elif name in ("auto_approve_login", "accept_unknown_keys"):
                if not isinstance(value, bool):
                    errors.add(name, "must be true or false")
                updates[name] = value
            elif name == "rate_limit":
                if value is not None and not (isinstance(value, dict) and set(value) == {"requests", "window_seconds"}
                                              and _number_in(value["requests"], 1, 1_000_000)
                                              and float(value["requests"]).is_integer()
                                              and _number_in(value["window_seconds"], 0.001, 86_400)):
                    errors.add("rate_limit", "must be null or {\"requests\": <integer>, \"window_seconds\": <number>}")
                updates[name] = value
            elif name in SETTING_RANGES:
                if not _number_in(value, *SETTING_RANGES[name]):
                    errors.add(name, "must be a number in [{}, {}]".format(*SETTING_RANGES[name]))
                updates[name] = int(value) if name in ("pool_size", "max_body_bytes") and _number_in(
                    value, *SETTING_RANGES[name]) else value
            else:
                errors.add(name, "is not a runtime setting")
        errors.raise_if_any()
        limits = dataclasses.replace(self.settings.limits, **limit_updates)
        self.settings = dataclasses.replace(self.settings, limits=limits, **updates)
        self.accounts.default_credits = self.settings.default_credits
        self.runner.wake()
        return self.settings_view()

    def uptime_seconds(self) -> float:
        return round(time.monotonic() - self.started_monotonic, 3)

    def reset(self, account_id: str | None = None, *, keep_config: bool = False) -> None:
        """Stop jobs and clear state, for everything or one account.

        A full reset leaves exactly the default account (fresh: default credits, tier
        and mode) with the key the server started with, restores the clock and, unless
        ``keep_config``, the runtime configuration the server started with.
        """
        if account_id is not None:
            self.accounts.get_account(account_id)
            self._reset_account(account_id)
            return
        self.runner.cancel_all()
        self.webhooks.clear()
        self.clock.reset()
        self.faults.clear()
        self.journal.clear()
        self.rate_limiter.clear()
        if not keep_config:
            self.settings = dataclasses.replace(self.initial_settings,
                                                limits=dataclasses.replace(self.initial_settings.limits))
            self.accounts.default_credits = self.settings.default_credits
        with self.store.transaction():
            self.store.clear([*STATE_TABLES, ACCOUNTS, KEYS])
            self.accounts.ensure_default_account(self.default_api_key)

    # ------------------------------------------------------------------ snapshots

    def export_snapshot(self) -> dict:
        """The whole state as one JSON document (``GET /_emulator/snapshot``)."""
        from .clock import format_ts

        snapshot = self.store.export()
        # The instance's own secrets (cursor and session keys, the printed default key)
        # stay with the instance: an import keeps the importing server's.
        snapshot["tables"].pop(SETTINGS, None)
        return {"emulator_version": self.version, "exported_at": format_ts(self.clock.now()), **snapshot}

    def import_snapshot(self, snapshot: dict) -> None:
        """Replace the whole state; jobs stop first, queued ones then run, running ones are lost."""
        self.runner.cancel_all()
        kept = [record for record in self.store.find(SETTINGS)]
        self.store.import_(snapshot)
        for record in kept:  # see export_snapshot
            self.store.put(SETTINGS, record)
        self.accounts.ensure_default_account(self.default_api_key)
        if self._started:  # otherwise start() recovers
            self.idempotency.recover()
            self.submissions.recover()

    def _reset_account(self, account_id: str) -> None:
        for submission in self.store.find(SUBMISSIONS, lambda row: row["account_id"] == account_id):
            if submission["status"] in ("queued", "running"):
                self.runner.cancel(submission["id"])
        with self.store.transaction():
            for table in STATE_TABLES:
                for record in self.store.remove_where(table, lambda row: row.get("account_id") == account_id):
                    if table in (SUBMISSIONS, RESULTS):
                        self.store.delete_files(table, record["id"])
