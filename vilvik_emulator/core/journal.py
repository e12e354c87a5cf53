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

from ..schemas.control import JournalQuery

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

    def query(self, query: JournalQuery) -> list[dict]:
        with self._lock:
            entries = list(reversed(self._entries))
        method = query.method.upper() if query.method else None
        found = []
        for entry in entries:
            if method and entry["method"] != method:
                continue
            if query.path and not fnmatch.fnmatchcase(entry["path"], query.path):
                continue
            if query.status is not None and entry["status"] != query.status:
                continue
            found.append(entry)
            if len(found) >= query.limit:
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
