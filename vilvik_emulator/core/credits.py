"""Credits (contract §8): a balance per account, a charge when a run ends, a ledger.

``credits_used = cpu_seconds * cpu_rate + peak_memory_gb * wall_seconds * memory_rate``
rounded to 4 decimals. Runs killed for time or memory and stopped runs pay for what
they used; validation failures and imports cost nothing.
"""

from __future__ import annotations

from ..clock import Clock, format_ts
from ..errors import ApiError
from ..ids import prefixed_id
from ..store import Store
from .accounts import ACCOUNTS

LEDGER = "credit_ledger"


class CreditService:
    def __init__(self, store: Store, clock: Clock, rates: callable) -> None:
        self.store = store
        self.clock = clock
        self._rates = rates  # () -> (cpu_rate, memory_rate), so config changes apply at once

    def cost(self, usage: dict) -> float:
        cpu_rate, memory_rate = self._rates()
        cpu = float(usage.get("cpu_seconds") or 0)
        memory_gb = float(usage.get("peak_memory_mb") or 0) / 1024
        wall = float(usage.get("wall_seconds") or 0)
        return round(cpu * cpu_rate + memory_gb * wall * memory_rate, 4)

    def require_balance(self, account: dict) -> None:
        current = self.store.get(ACCOUNTS, account["id"]) or account
        if current["credits"] <= 0:
            raise ApiError("insufficient_credits",
                           f"the account's credit balance is exhausted ({current['credits']:g}); "
                           "add credits through the control plane (PATCH /_emulator/accounts/<id>)")

    def charge(self, account_id: str, submission_id: str, usage: dict, reason: str) -> float:
        amount = self.cost(usage)
        with self.store.transaction():
            account = self.store.get(ACCOUNTS, account_id)
            if account is None:
                return amount
            balance = round(account["credits"] - amount, 4)
            self.store.update(ACCOUNTS, account_id, {"credits": balance})
            self.store.insert(LEDGER, {"id": prefixed_id("chg"), "account_id": account_id,
                                       "submission_id": submission_id, "amount": amount,
                                       "balance_after": balance, "reason": reason, "usage": usage,
                                       "created_at": format_ts(self.clock.now()), "seq": self.store.next_seq()})
        return amount

    def ledger(self, account_id: str) -> list[dict]:
        entries = self.store.find(LEDGER, lambda entry: entry["account_id"] == account_id)
        return sorted(entries, key=lambda entry: entry["seq"], reverse=True)
