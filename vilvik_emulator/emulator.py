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
from .config import Settings
from .core.accounts import ACCOUNTS, KEYS, SETTINGS, AccountService
from .core.credits import LEDGER, CreditService
from .core.idempotency import TABLE as IDEMPOTENCY, IdempotencyService
from .core.pagination import CursorCodec
from .core.results import RESULTS, ResultService
from .core.submissions import SUBMISSIONS, SubmissionService
from .runner import Runner
from .store import Store

#: tables emptied by a full reset (accounts and keys are pruned, not emptied)
STATE_TABLES = (SUBMISSIONS, RESULTS, IDEMPOTENCY, LEDGER)


class Emulator:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings(db_path=None)
        self.initial_settings = dataclasses.replace(self.settings, limits=dataclasses.replace(self.settings.limits))
        self.version = __version__
        self.clock = Clock()
        self.store = Store(self.settings.db_path, checkpoint_interval=self.settings.checkpoint_interval)
        self.codec = CursorCodec(self._secret("cursor_secret"))
        self.accounts = AccountService(self.store, self.clock, default_credits=self.settings.default_credits)
        self.credits = CreditService(self.store, self.clock,
                                     lambda: (self.settings.cpu_rate, self.settings.memory_rate))
        self.idempotency = IdempotencyService(self.store, self.clock)
        self.submissions = SubmissionService(self.store, self.clock, self.credits, self.codec, self.mode_for)
        self.results = ResultService(self.store, self.clock, self.codec, self.submissions)
        self.submissions.results = self.results
        self.runner = Runner(self.submissions, limits=lambda: dataclasses.asdict(self.settings.limits),
                             pool_size=lambda: self.settings.pool_size)
        self.submissions.runner = self.runner
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
            self.idempotency.recover()
            self.submissions.recover()
        return self

    def close(self) -> None:
        self.runner.shutdown()
        self.store.close()

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
        self.clock.reset()
        if not keep_config:
            self.settings = dataclasses.replace(self.initial_settings,
                                                limits=dataclasses.replace(self.initial_settings.limits))
            self.accounts.default_credits = self.settings.default_credits
        with self.store.transaction():
            self.store.clear([*STATE_TABLES, ACCOUNTS, KEYS])
            self.accounts.ensure_default_account(self.default_api_key)

    def _reset_account(self, account_id: str) -> None:
        for submission in self.store.find(SUBMISSIONS, lambda row: row["account_id"] == account_id):
            if submission["status"] in ("queued", "running"):
                self.runner.cancel(submission["id"])
        with self.store.transaction():
            for table in STATE_TABLES:
                for record in self.store.remove_where(table, lambda row: row.get("account_id") == account_id):
                    if table in (SUBMISSIONS, RESULTS):
                        self.store.delete_files(table, record["id"])
