"""An optional per-key request rate limit, so clients can test their 429 handling.

Off by default (the hosted service's general limits are not public). When configured
(``PATCH /_emulator/config`` with ``{"rate_limit": {"requests": 5, "window_seconds": 60}}``)
each key may make ``requests`` authenticated calls per sliding window, measured on the
emulator's clock; the next one is 429 ``rate_limited`` with ``Retry-After`` in whole
seconds until a slot frees.
"""

from __future__ import annotations

import collections
import math
import threading

from ..clock import Clock
from ..errors import ApiError


class RequestRateLimiter:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._calls: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)

    def check(self, key_id: str, limit: dict | None) -> None:
        if not limit:
            return
        now = self.clock.timestamp()
        window = float(limit["window_seconds"])
        with self._lock:
            calls = self._calls[key_id]
            while calls and calls[0] <= now - window:
                calls.popleft()
            if len(calls) >= int(limit["requests"]):
                retry = max(1, math.ceil(calls[0] + window - now))
                raise ApiError("rate_limited", f"this key may make {limit['requests']} requests per "
                                               f"{window:g} s; retry in {retry} s",
                               headers={"Retry-After": str(retry)})
            calls.append(now)

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()
