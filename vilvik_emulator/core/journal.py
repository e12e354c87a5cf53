"""The request journal (contract §13): what clients sent to ``/api/v1`` and what they got.

An in-memory ring buffer (newest first when read) so a test can assert on the exact
requests its code made: method, path, query, the JSON body, the status, the error code,
the request id, whether it was an idempotent replay or hit by an injected fault.
"""

from __future__ import annotations

import collections
import fnmatch
import itertools
import threading

from ..errors import invalid_parameter

CAPACITY = 2000
BODY_LIMIT = 64 * 1024


class RequestJournal:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self._lock = threading.Lock()
        self._entries: collections.deque[dict] = collections.deque(maxlen=capacity)
        self._numbers = itertools.count(1)

    def record(self, entry: dict) -> None:
        with self._lock:
            self._entries.append({"seq": next(self._numbers), **entry})

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def query(self, args) -> list[dict]:
        method = args.get("method")
        path = args.get("path")
        status = args.get("status")
        limit = args.get("limit", "100")
        try:
            limit = int(limit)
        except ValueError:
            raise invalid_parameter("limit", "must be an integer") from None
        if not 1 <= limit <= CAPACITY:
            raise invalid_parameter("limit", f"must be between 1 and {CAPACITY}")
        if status is not None and not status.isdigit():
            raise invalid_parameter("status", "must be an HTTP status")
        with self._lock:
            entries = list(reversed(self._entries))
        found = []
        for entry in entries:
            if method and entry["method"] != method.upper():
                continue
            if path and not fnmatch.fnmatchcase(entry["path"], path):
                continue
            if status and entry["status"] != int(status):
                continue
            found.append(entry)
            if len(found) >= limit:
                break
        return found


def body_for_journal(raw: bytes) -> object:
    """The request body as the journal shows it: JSON when it parses, else text (truncated)."""
    import json

    if not raw:
        return None
    if len(raw) > BODY_LIMIT:
        return {"truncated": True, "size": len(raw)}
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
