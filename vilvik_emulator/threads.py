"""Background threads that never die silently (a scheduler that stops is a bug nobody sees).

:func:`supervised` runs a loop body over and over on a daemon thread; an exception is
logged with its traceback and the body runs again after a short pause, so one bad
record or clock value cannot stop webhook deliveries or checkpoints for good.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("vilvik_emulator")
RESTART_PAUSE = 0.2


def supervised(name: str, step: Callable[[], bool], stop: threading.Event) -> threading.Thread:
    """Start a daemon thread calling ``step()`` until it returns False or ``stop`` is set.

    ``step`` does one round of the thread's work (and waits for more itself); if it
    raises, the error is logged and the thread carries on with the next round.
    """

    def run() -> None:
        while not stop.is_set():
            try:
                if not step():
                    return
            except Exception:  # supervised: log, pause, go on
                log.exception("background thread %s failed; restarting it", name)
                stop.wait(RESTART_PAUSE)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread
