"""Fault injection (contract §13): make chosen requests fail, stall or drop, on purpose.

A rule matches by method and path glob; it can answer with a status and error code,
delay the request, or drop the connection, for a limited ``count`` of matches and with
a ``probability`` drawn from its own seeded generator (so a flaky-network test is
reproducible). Rules apply to the emulated API (``/api/v1``), never to the control
plane, so a test cannot lock itself out.
"""

from __future__ import annotations

import fnmatch
import random
import threading
from dataclasses import asdict, dataclass, field

from ..errors import not_found
from ..ids import prefixed_id
from ..schemas.control import FaultCreate

DEFAULT_CODES = {400: "invalid_parameter", 401: "unauthorized", 402: "insufficient_credits",
                 403: "scope_required", 404: "not_found", 409: "conflict", 413: "payload_too_large",
                 422: "validation_failed", 429: "rate_limited", 500: "internal_error", 503: "unavailable"}


@dataclass
class FaultRule:
    id: str
    method: str = "*"
    path: str = "*"
    status: int | None = None
    code: str | None = None
    message: str | None = None
    delay_ms: int = 0
    count: int | None = None
    probability: float = 1.0
    seed: int | None = None
    action: str = "respond"
    retry_after: int | None = None
    matched: int = 0
    _random: random.Random = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    def view(self) -> dict:
        data = asdict(self)
        data.pop("_random")
        data["remaining"] = None if self.count is None else max(0, self.count - self.matched)
        return data


@dataclass
class Fault:
    """What to do to one request."""

    rule_id: str
    delay_seconds: float
    drop: bool
    status: int | None
    code: str | None
    message: str | None
    retry_after: int | None


class FaultService:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def add(self, body: FaultCreate) -> dict:
        """A new rule from a validated body; appended (the first live matching rule wins)."""
        code = body.code
        if code is None and body.status is not None:
            code = DEFAULT_CODES.get(body.status) or ("internal_error" if body.status >= 500 else "invalid_parameter")
        rule = FaultRule(id=prefixed_id("fault"), method=body.method.upper(), path=body.path, status=body.status,
                         code=code, message=body.message, delay_ms=body.delay_ms, count=body.count,
                         probability=float(body.probability), seed=body.seed, action=body.action,
                         retry_after=body.retry_after)
        rule._random = random.Random(body.seed)
        with self._lock:
            self._rules.append(rule)
        return rule.view()

    def list(self) -> list[dict]:
        with self._lock:
            return [rule.view() for rule in self._rules]

    def remove(self, rule_id: str) -> None:
        with self._lock:
            before = len(self._rules)
            self._rules = [rule for rule in self._rules if rule.id != rule_id]
            if len(self._rules) == before:
                raise not_found("fault rule")

    def clear(self) -> None:
        with self._lock:
            self._rules = []

    def match(self, method: str, path: str) -> Fault | None:
        """The fault to apply to this request, if a live rule matches (first rule wins)."""
        with self._lock:
            for rule in self._rules:
                if rule.count is not None and rule.matched >= rule.count:
                    continue
                if rule.method not in ("*", method.upper()) or not fnmatch.fnmatchcase(path, rule.path):
                    continue
                if rule.probability < 1 and rule._random.random() >= rule.probability:
                    continue
                rule.matched += 1
                return Fault(rule.id, rule.delay_ms / 1000, rule.action == "drop", rule.status, rule.code,
                             rule.message, rule.retry_after)
        return None


