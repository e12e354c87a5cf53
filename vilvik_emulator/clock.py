"""The emulator's one source of time.

Every timestamp the emulator writes or compares (``created_at``, idempotency and key
expiry, rate-limit windows, webhook retries) comes from a :class:`Clock`, so a test can
freeze it, set it or move it forward through the control plane.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any

from .errors import field_error

UTC = timezone.utc
#: the clock's range (see :meth:`Clock.apply`)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9998, 12, 31, 23, 59, 59, tzinfo=UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


def from_timestamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def format_ts(moment: datetime | None) -> str | None:
    """ISO-8601 UTC with ``Z`` at second precision, as the hosted API writes it."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ts(text: str) -> datetime:
    """Parse ISO-8601 with ``Z`` or an offset; a naive time is taken as UTC.

    Raises ``ValueError`` on anything else.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("expected an ISO-8601 timestamp")
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class Clock:
    """Real UTC time shifted by an offset, or frozen at a moment.

    ``set`` and ``advance`` keep the clock running unless it is frozen; ``freeze``
    stops it at the current virtual time and ``resume`` lets it run on from there.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        self._frozen_at: datetime | None = None

    def now(self) -> datetime:
        with self._lock:
            if self._frozen_at is not None:
                return self._frozen_at
            return utc_now() + self._offset

    def timestamp(self) -> float:
        """Virtual time as Unix seconds (for windows and expiry arithmetic)."""
        return self.now().timestamp()

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def freeze(self) -> None:
        with self._lock:
            if self._frozen_at is None:
                self._frozen_at = utc_now() + self._offset

    def resume(self) -> None:
        with self._lock:
            if self._frozen_at is not None:
                self._offset = self._frozen_at - utc_now()
                self._frozen_at = None

    def set(self, moment: datetime) -> None:
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at = moment
            else:
                self._offset = moment - utc_now()

    def advance(self, seconds: float) -> None:
        with self._lock:
            delta = timedelta(seconds=seconds)
            if self._frozen_at is not None:
                self._frozen_at += delta
            else:
                self._offset += delta

    def apply(self, action: Any) -> None:
        """A control-plane action (``schemas.control.ClockAction``): freeze, resume, set or advance.

        The clock stays within the years every date path can write and read back
        (1970 to 9998: four-digit years, with room for expiries); a move past them is a
        422 and changes nothing.
        """
        kind = action.action
        if kind == "freeze":
            self.freeze()
        elif kind == "resume":
            self.resume()
        elif kind == "set":
            self.set(parse_ts(action.to))
        else:
            try:
                target = self.now() + timedelta(seconds=action.seconds)
            except OverflowError:
                target = None
            if target is None or not EARLIEST <= target <= LATEST:
                raise field_error("seconds", f"would move the clock outside {format_ts(EARLIEST)} .. "
                                             f"{format_ts(LATEST)}")
            self.advance(action.seconds)

    def reset(self) -> None:
        with self._lock:
            self._offset = timedelta(0)
            self._frozen_at = None

    def state(self) -> dict:
        return {"now": format_ts(self.now()), "frozen": self.frozen}
