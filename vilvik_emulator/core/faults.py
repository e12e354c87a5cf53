"""Fault injection (contract §13): make chosen requests fail, stall or drop, on purpose.

A rule matches by method and path glob; it can answer with a status and error code,
delay the request, or drop the connection, for a limited ``count`` of matches and with
a ``probability`` drawn from its own seeded generator (so a flaky-network test is
reproducible). Rules apply to the emulated API (``/api/v1``), never to the control
plane, so a test cannot lock itself out.
"""

from __future__ import annotations

import fnmatch
import math
import random
import threading
from dataclasses import asdict, dataclass, field

from ..errors import CATALOGUE, FieldErrors, not_found
from ..ids import prefixed_id

ACTIONS = ("respond", "drop")
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

    def add(self, body: dict) -> dict:
        errors = FieldErrors()
        allowed = {"method", "path", "status", "code", "message", "delay_ms", "count", "probability", "seed",
                   "action", "retry_after"}
        for name in body:
            if name not in allowed:
                errors.add(name, f"is not a fault field ({', '.join(sorted(allowed))})")
        rule = FaultRule(id=prefixed_id("fault"))
        method = body.get("method", "*")
        if not isinstance(method, str) or not method:
            errors.add("method", "must be an HTTP method or *")
        else:
            rule.method = method.upper()
        path = body.get("path", "*")
        if not isinstance(path, str) or not path:
            errors.add("path", "must be a glob such as /api/v1/submissions*")
        else:
            rule.path = path
        action = body.get("action", "respond")
        if action not in ACTIONS:
            errors.add("action", "must be respond or drop")
        rule.action = action
        status = body.get("status")
        if status is not None and (not _is_int(status) or not 400 <= status <= 599):
            errors.add("status", "must be an HTTP error status (400-599)")
        rule.status = status
        code = body.get("code")
        if code is not None and code not in CATALOGUE:
            errors.add("code", f"must be one of the error catalogue's codes ({', '.join(CATALOGUE)})")
        rule.code = code or (DEFAULT_CODES.get(status) if _is_int(status) else None)
        if rule.code is None and _is_int(status):
            rule.code = "internal_error" if status >= 500 else "invalid_parameter"
        message = body.get("message")
        if message is not None and not isinstance(message, str):
            errors.add("message", "must be a string")
        rule.message = message
        for name, low, high in (("delay_ms", 0, 600_000), ("retry_after", 0, 86_400)):
            value = body.get(name)
            if value is not None and (not _is_int(value) or not low <= value <= high):
                errors.add(name, f"must be an integer between {low} and {high}")
        rule.delay_ms = body.get("delay_ms") or 0
        rule.retry_after = body.get("retry_after")
        count = body.get("count")
        if count is not None and (not _is_int(count) or count < 1):
            errors.add("count", "must be a positive integer or null (every match)")
        rule.count = count
        probability = body.get("probability", 1.0)
        if isinstance(probability, bool) or not isinstance(probability, (int, float)) \
                or not math.isfinite(probability) or not 0 <= probability <= 1:
            errors.add("probability", "must be a number between 0 and 1")
        rule.probability = probability
        seed = body.get("seed")
        if seed is not None and not _is_int(seed):
            errors.add("seed", "must be an integer")
        rule.seed = seed
        if action == "respond" and status is None and not rule.delay_ms:
            errors.add("status", "is required unless the rule only delays (delay_ms) or drops")
        errors.raise_if_any()
        rule._random = random.Random(seed)
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


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)

