"""Background threads never die silently (issue "Hardening" #5).

Each background loop of the emulator — the store's checkpointer and reaper, the runner's
dispatcher, the webhook scheduler and its senders — runs under
:func:`vilvik_emulator.threads.supervised` (or logs what its pool would swallow). Each
test makes one round of one of them raise, then shows that the error was logged and
that the work still gets done afterwards. Waiting is on events the work itself sets, not
on sleeps.
"""

from __future__ import annotations

import logging
import threading

import pytest
from helpers import EXAMPLE

from vilvik_emulator import store as store_module
from vilvik_emulator.store import Store
from vilvik_emulator.threads import supervised

WAIT = 60


class Once:
    """Wraps ``function``: the first call made on a thread named ``thread`` raises, later ones run it."""

    def __init__(self, function, thread: str | None = None) -> None:
        self.function = function
        self.thread = thread
        self.raised = threading.Event()
        self.ran_after = threading.Event()

    def __call__(self, *args, **kwargs):
        on_thread = self.thread is None or threading.current_thread().name == self.thread
        if on_thread and not self.raised.is_set():
            self.raised.set()
            raise RuntimeError("injected failure")
        result = self.function(*args, **kwargs)
        if on_thread and self.raised.is_set():
            self.ran_after.set()
        return result


def _logged(caplog, thread: str) -> bool:
    return any(thread in record.getMessage() and record.exc_info for record in caplog.records)


def test_supervised_logs_a_failed_round_and_runs_the_next(caplog):
    stop = threading.Event()
    rounds: list[int] = []
    done = threading.Event()

    def step() -> bool:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise ValueError("first round fails")
        done.set()
        return False

    with caplog.at_level(logging.ERROR, logger="vilvik_emulator"):
        thread = supervised("test-supervised", step, stop)
        assert done.wait(WAIT)
        thread.join(WAIT)
    assert rounds == [0, 1] and not thread.is_alive()
    assert _logged(caplog, "test-supervised")


def test_the_checkpointer_survives_a_failed_checkpoint(tmp_path, caplog):
    store = Store(tmp_path / "db.json", checkpoint_interval=0.1)
    try:
        once = Once(store.checkpoint, thread="vilvik-store-checkpoint")
        store.checkpoint = once  # type: ignore[method-assign]
        with caplog.at_level(logging.ERROR, logger="vilvik_emulator"):
            store.insert("things", {"id": "first"})
            assert once.raised.wait(WAIT), "the checkpointer never tried"
            assert once.ran_after.wait(WAIT), "no checkpoint after the failed one"
        assert _logged(caplog, "vilvik-store-checkpoint")
        assert '"first"' in (tmp_path / "db.json").read_text()
    finally:
        store.close()


class _Signalling(dict):
    """A dropped table whose last entry, once freed, says so."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.emptied = threading.Event()

    def popitem(self):
        item = super().popitem()
        if not self:
            self.emptied.set()
        return item


class _Exploding(dict):
    def popitem(self):
        raise RuntimeError("injected failure")


class _Announce(logging.Handler):
    """Sets ``seen`` when an error naming ``thread`` is logged."""

    def __init__(self, thread: str) -> None:
        super().__init__(logging.ERROR)
        self.thread = thread
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.thread in record.getMessage():
            self.seen.set()


def test_the_reaper_survives_a_failed_burst(caplog):
    reaper = store_module._Reaper()
    announce = _Announce("vilvik-store-reaper")
    logger = logging.getLogger("vilvik_emulator")
    logger.addHandler(announce)
    try:
        with caplog.at_level(logging.ERROR, logger="vilvik_emulator"):
            reaper.discard(_Exploding(a=1))
            assert announce.seen.wait(WAIT), "the failed burst was not logged"
            later = _Signalling({number: number for number in range(500)})
            reaper.discard(later)  # a burst of its own, after the failed one
            assert later.emptied.wait(WAIT), "nothing was freed after the failed burst"
    finally:
        logger.removeHandler(announce)
    assert reaper._thread is not None and reaper._thread.is_alive()


@pytest.mark.slow
def test_the_dispatcher_survives_a_failed_round(api, control, vilvik_emulator_server, monkeypatch, caplog):
    runner = vilvik_emulator_server.emulator.runner
    once = Once(runner._pool_size, thread="vilvik-dispatcher")
    monkeypatch.setattr(runner, "_pool_size", once)
    with caplog.at_level(logging.ERROR, logger="vilvik_emulator"):
        created = api.create(**{**EXAMPLE, "num_generations": 2})
        finished = control.wait(created["id"], timeout=WAIT)
    assert once.raised.is_set()
    assert finished["status"] == "succeeded", finished
    assert _logged(caplog, "vilvik-dispatcher")


def test_the_webhook_scheduler_survives_a_failed_round(control, vilvik_emulator_server, monkeypatch, caplog):
    webhooks = vilvik_emulator_server.emulator.webhooks
    once = Once(webhooks._due, thread="vilvik-webhook-scheduler")
    monkeypatch.setattr(webhooks, "_due", once)
    webhook = control.create_webhook("http://127.0.0.1:9/")  # nothing listens: the attempt fails, and is recorded
    with caplog.at_level(logging.ERROR, logger="vilvik_emulator"):
        control.test_webhook(webhook["id"])
        assert once.raised.wait(WAIT)
        assert once.ran_after.wait(WAIT)
        control.drain_deliveries()
    assert _logged(caplog, "vilvik-webhook-scheduler")
    attempts = control.deliveries(webhook_id=webhook["id"])
    assert attempts and attempts[-1]["event_type"] == "webhook.test"


def test_a_failed_delivery_attempt_is_logged_and_retried(control, vilvik_emulator_server, monkeypatch, caplog):
    webhooks = vilvik_emulator_server.emulator.webhooks
    once = Once(webhooks._send)
    monkeypatch.setattr(webhooks, "_send", once)
    webhook = control.create_webhook("http://127.0.0.1:9/")
    with caplog.at_level(logging.ERROR, logger="vilvik_emulator"):
        control.test_webhook(webhook["id"])
        assert once.raised.wait(WAIT)
        assert once.ran_after.wait(WAIT)
        control.drain_deliveries()
    assert any("delivering webhook event" in record.getMessage() for record in caplog.records)
    assert control.deliveries(webhook_id=webhook["id"]), "the event was never delivered after the failed attempt"
