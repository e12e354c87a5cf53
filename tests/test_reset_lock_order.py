"""Resets take the webhook service's lock before the store's, never while holding it.

The webhook scheduler holds its lock while it reads the store (due deliveries); a reset that
held the store's lock and then waited for the webhooks' deadlocked with it (a suite's session
teardown hung there, and every request behind the store's lock with it). The check is
deterministic: the webhooks' condition is replaced by one that notes whenever it is entered
by a thread that holds the store's lock.
"""

from __future__ import annotations

import threading
import traceback

from vilvik_emulator.config import Settings
from vilvik_emulator.core.accounts import DEFAULT_ACCOUNT_ID
from vilvik_emulator.emulator import Emulator


def test_resets_never_wait_for_the_webhooks_lock_while_holding_the_stores():
    emulator = Emulator(Settings(db_path=None))
    store_lock = emulator.store.lock
    inversions: list[str] = []

    class CheckedCondition(threading.Condition):
        def __enter__(self):
            if store_lock._is_owned():
                inversions.append("".join(traceback.format_stack(limit=8)))
            return super().__enter__()

    emulator.webhooks._condition = CheckedCondition()
    emulator.start()
    try:
        emulator.reset()
        emulator.reset(DEFAULT_ACCOUNT_ID)
    finally:
        emulator.close()
    assert inversions == []
