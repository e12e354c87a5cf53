"""The composition root: one emulator instance with its clock, store, services and runner.

Everything stateful hangs off an :class:`Emulator`; the Flask app, the CLI and the
pytest plugin each build one and never reach around it. The services own their
tables; what spans all of them — a reset, a snapshot, the runtime configuration — is
orchestrated here, by calling each service.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from . import __version__
from .clock import Clock, format_ts
from .config import Settings
from .core.accounts import AccountService
from .core.code_uploads import CodeUploadService
from .core.credits import CreditService
from .core.device_login import DeviceLoginService
from .core.drafts import DraftBuilder
from .core.faults import FaultService
from .core.idempotency import IdempotencyService
from .core.imports import ImportService
from .core.journal import RequestJournal
from .core.pagination import CursorCodec
from .core.rate_limits import RequestRateLimiter
from .core.records import RECORD_TYPES, AccountRecord, InstanceSecret
from .core.results import ResultService
from .core.runs import RunService
from .core.submissions import SubmissionService
from .core.webhooks import WebhookService
from .errors import FieldErrors, field_error
from .runner import Runner
from .schemas.control import ConfigChanges, SnapshotImport
from .store import Store


class Emulator:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings(db_path=None)
        self.initial_settings = dataclasses.replace(self.settings, limits=dataclasses.replace(self.settings.limits))
        self.version = __version__
        self.clock = Clock()
        self.store = Store(self.settings.db_path, checkpoint_interval=self.settings.checkpoint_interval)
        self.accounts = AccountService(self.store, self.clock, default_credits=lambda: self.settings.default_credits,
                                       accept_unknown_keys=lambda: self.settings.accept_unknown_keys)
        self.codec = CursorCodec(self.accounts.instance_secret("cursor_secret"))
        #: signs the dashboard's session cookie (kept, so sessions survive a restart)
        self.session_secret = self.accounts.instance_secret("session_secret")
        #: where the emulator is reachable (set by the HTTP server), for URLs in webhook payloads
        self.public_url = "http://127.0.0.1"
        self.credits = CreditService(self.store, self.clock, self.accounts,
                                     lambda: (self.settings.cpu_rate, self.settings.memory_rate))
        self.idempotency = IdempotencyService(self.store, self.clock)
        self.code_uploads = CodeUploadService(self.store, self.clock, self.codec)
        self.drafts = DraftBuilder(self.code_uploads)
        self.submissions = SubmissionService(self.store, self.clock, self.codec)
        self.results = ResultService(self.store, self.clock, self.codec)
        self.webhooks = WebhookService(self.store, self.clock, self.codec, self.accounts, self.version,
                                       lambda: self.public_url)
        self.runs = RunService(self.store, self.clock, accounts=self.accounts, submissions=self.submissions,
                               results=self.results, credits=self.credits, webhooks=self.webhooks,
                               drafts=self.drafts, mode_for=self.mode_for, site_url=lambda: self.public_url)
        self.imports = ImportService(self.store, self.clock, self.submissions, self.results, self.drafts)
        self.rate_limiter = RequestRateLimiter(self.clock)
        self.device_login = DeviceLoginService(self.store, self.clock, self.accounts, lambda: self.settings)
        self.runner = Runner(self.runs, limits=lambda: dataclasses.asdict(self.settings.limits),
                             pool_size=lambda: self.settings.pool_size)
        self.runs.runner = self.runner
        self.faults = FaultService()
        self.journal = RequestJournal()
        _, self.default_api_key = self.accounts.ensure_default_account(self.settings.api_key)
        self.started_monotonic = time.monotonic()
        self._started = False

    def mode_for(self, account: AccountRecord) -> str:
        return account.mode or self.settings.mode

    def start(self) -> Emulator:
        """Start the runner and recover what a previous process left behind."""
        if not self._started:
            self._started = True
            self.runner.start()
            self.webhooks.start()
            self.idempotency.recover()
            self.runs.recover()
        return self

    def close(self) -> None:
        self.runner.shutdown()
        self.webhooks.stop()
        self.store.close()

    # ------------------------------------------------------------------ runtime configuration

    def settings_view(self) -> dict[str, Any]:
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
            "device_poll_interval": settings.device_poll_interval,
            "accept_unknown_keys": settings.accept_unknown_keys,
        }

    def configure(self, changes: ConfigChanges) -> dict[str, Any]:
        """Apply runtime settings (``PATCH /_emulator/config``); the body was checked whole before any applies."""
        updates = changes.given()
        limits = self.settings.limits
        if "limits" in updates:
            limits = dataclasses.replace(limits, **changes.limits.given())
            del updates["limits"]
        if "rate_limit" in updates and changes.rate_limit is not None:
            updates["rate_limit"] = changes.rate_limit.model_dump()
        self.settings = dataclasses.replace(self.settings, limits=limits, **updates)
        self.runner.wake()
        return self.settings_view()

    def uptime_seconds(self) -> float:
        return round(time.monotonic() - self.started_monotonic, 3)

    # ------------------------------------------------------------------ resets

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
        self.clock.reset()
        self.faults.clear()
        self.journal.clear()
        self.rate_limiter.clear()
        if not keep_config:
            self.settings = dataclasses.replace(self.initial_settings,
                                                limits=dataclasses.replace(self.initial_settings.limits))
        # Webhooks take their own lock and then the store's (their scheduler does): clearing
        # them inside the store's transaction took the two the other way round, a deadlock.
        self.webhooks.clear()
        with self.store.transaction():
            self.store.clear([table for table in RECORD_TYPES if table != InstanceSecret.table])
            self.accounts.ensure_default_account(self.default_api_key)

    def _reset_account(self, account_id: str) -> None:
        for record in self.submissions.of_account(account_id):
            self.runs.stop(record)
        self.webhooks.clear_account(account_id)  # its lock before the store's, as in reset()
        with self.store.transaction():
            for service in (self.submissions, self.results, self.credits, self.code_uploads, self.imports,
                            self.idempotency, self.device_login):
                service.clear_account(account_id)

    # ------------------------------------------------------------------ snapshots

    def export_snapshot(self) -> dict[str, Any]:
        """The whole state as one JSON document (``GET /_emulator/snapshot``)."""
        snapshot = self.store.export()
        # The instance's own secrets (cursor and session keys, the printed default key)
        # stay with the instance: an import keeps the importing server's.
        snapshot["tables"].pop(InstanceSecret.table, None)
        return {"emulator_version": self.version, "exported_at": format_ts(self.clock.now()), **snapshot}

    def import_snapshot(self, snapshot: SnapshotImport) -> None:
        """Replace the whole state; jobs stop first, queued ones then run, running ones are lost.

        Every record is checked against its table's record type before anything
        changes, so a snapshot cannot bring in a document a service would trip over.
        """
        errors = FieldErrors()
        for table, documents in snapshot.tables.items():
            record_type = RECORD_TYPES.get(table)
            if record_type is None or table == InstanceSecret.table:
                errors.add(f"tables.{table}", "is not a table of this emulator")
                continue
            for record_id, document in documents.items():
                record_type.check({**document, "id": record_id}, f"{table}/{record_id}")
        errors.raise_if_any()
        self.runner.cancel_all()
        kept = self.accounts.instance_secrets()
        try:
            self.store.import_(snapshot.model_dump())
        except ValueError as error:  # a file path or its encoding (the store checks those before changing anything)
            raise field_error("files", str(error)) from None
        self.accounts.restore_instance_secrets(kept)
        self.accounts.ensure_default_account(self.default_api_key)
        if self._started:  # otherwise start() recovers
            self.idempotency.recover()
            self.runs.recover()
