"""Credits (contract §8): the cost of a run, the charge when it ends, and the ledger.

``credits_used = cpu_seconds * cpu_rate + peak_memory_gb * wall_seconds * memory_rate``
rounded to 4 decimals. Runs killed for time or memory and stopped runs pay for what
they used; validation failures and imports cost nothing. This service owns the
``credit_ledger`` table; the balance itself is the account's (:mod:`.accounts`).
"""

from __future__ import annotations

from collections.abc import Callable

from ..clock import Clock, format_ts
from ..errors import ApiError
from ..ids import prefixed_id
from ..store import Store
from .accounts import AccountService
from .records import AccountRecord, LedgerRecord

LEDGER = LedgerRecord.table


class CreditService:
    def __init__(self, store: Store, clock: Clock, accounts: AccountService,
                 rates: Callable[[], tuple[float, float]]) -> None:
        self.store = store
        self.clock = clock
        self.accounts = accounts
        self._rates = rates  # () -> (cpu_rate, memory_rate), so configuration changes apply at once

    def cost(self, usage: dict) -> float:
        cpu_rate, memory_rate = self._rates()
        cpu = float(usage.get("cpu_seconds") or 0)
        memory_gb = float(usage.get("peak_memory_mb") or 0) / 1024
        wall = float(usage.get("wall_seconds") or 0)
        return round(cpu * cpu_rate + memory_gb * wall * memory_rate, 4)

    def require_balance(self, account: AccountRecord) -> None:
        """402 when the account can start no run (contract §8: a balance of zero or less)."""
        current = self.accounts.find(account.id) or account
        if current.credits <= 0:
            raise ApiError("insufficient_credits",
                           f"the account's credit balance is exhausted ({current.credits:g}); "
                           "add credits through the control plane (PATCH /_emulator/accounts/<id>)")

    def charge(self, account_id: str, submission_id: str, usage: dict, reason: str) -> float:
        """Debit a run's cost and write its ledger entry (inside the caller's transaction, when it has one)."""
        amount = self.cost(usage)
        with self.store.transaction():
            balance = self.accounts.debit(account_id, amount)
            if balance is None:
                return amount
            entry = LedgerRecord(id=prefixed_id("chg"), seq=self.store.next_seq(), account_id=account_id,
                                 submission_id=submission_id, amount=amount, balance_after=balance, reason=reason,
                                 usage=usage, created_at=format_ts(self.clock.now()) or "")
            self.store.insert(LEDGER, entry.dump())
        return amount

    def charged(self, submission_id: str) -> bool:
        return bool(self.store.scan(LEDGER, lambda row: row["submission_id"] == submission_id))

    def charged_amount(self, submission_id: str) -> float | None:
        """What the run was charged (``None`` when it was not): a run is charged at most once."""
        rows = self.store.scan(LEDGER, lambda row: row["submission_id"] == submission_id)
        return round(sum(float(row["amount"]) for row in rows), 4) if rows else None

    def ledger(self, account_id: str) -> list[LedgerRecord]:
        rows = self.store.scan(LEDGER, lambda row: row["account_id"] == account_id)
        return [LedgerRecord.load(row) for row in sorted(rows, key=lambda row: row["seq"], reverse=True)]

    def clear_account(self, account_id: str) -> None:
        self.store.remove_where(LEDGER, lambda row: row["account_id"] == account_id)
