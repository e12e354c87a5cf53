"""Cursor pagination shared by every list endpoint (contract §4), with Django REST Framework's edges.

Pages are keyset pages over a total order ``(sort value, seq)``, where ``seq`` is the
store's strictly increasing insertion number, so rows inserted while a client pages
never make it skip or repeat a row. A cursor is opaque to clients: base64url JSON of
the ordering, the boundary key and the direction, signed with an HMAC. As in DRF, a
cursor the server did not issue is 404 "Invalid cursor", a page size out of range is
clamped or defaulted, and an unknown ordering is ignored.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from ..errors import ApiError
from ..schemas.pages import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Paging


@dataclass
class Page:
    """One page of rows (already rendered) and the absolute links to its neighbours."""

    results: list[Any]
    next: str | None
    previous: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"results": self.results, "next": self.next, "previous": self.previous}


def _positive(raw: str | None) -> int | None:
    try:
        value = int(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and value > 0 else None


def page_size(paging: Paging) -> int:
    """DRF's rule: the first of ``page_size``/``limit`` that is a positive integer, at most 100; else 20."""
    for raw in (paging.page_size, paging.limit):
        size = _positive(raw)
        if size is not None:
            return min(size, MAX_PAGE_SIZE)
    return DEFAULT_PAGE_SIZE


def parse_ordering(raw: str | None, allowed: tuple[str, ...], default: str) -> str:
    """The ordering asked for, or the default when it is missing or unknown (DRF's OrderingFilter ignores it)."""
    return raw if raw in allowed else default


def invalid_cursor() -> ApiError:
    return ApiError("not_found", "Invalid cursor", details=[{"field": "cursor", "message": "Invalid cursor"}])


@dataclass(frozen=True)
class Cursor:
    ordering: str
    key: tuple
    direction: str  # "next" or "previous"


class CursorCodec:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _sign(self, payload: bytes) -> str:
        return hmac.new(self._secret, payload, hashlib.sha256).hexdigest()[:24]

    def encode(self, cursor: Cursor) -> str:
        payload = json.dumps([cursor.ordering, list(cursor.key), cursor.direction], separators=(",", ":")).encode()
        body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        return f"{body}.{self._sign(payload)}"

    def decode(self, text: str) -> Cursor:
        try:
            body, signature = text.rsplit(".", 1)
            payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            if not hmac.compare_digest(signature, self._sign(payload)):
                raise ValueError("bad signature")
            ordering, key, direction = json.loads(payload)
            if direction not in ("next", "previous") or not isinstance(key, list):
                raise ValueError("bad shape")
            return Cursor(ordering, tuple(key), direction)
        except (ValueError, TypeError):
            raise invalid_cursor() from None


def paginate(
    entries: list[tuple[tuple, str]],
    *,
    fetch: Callable[[str], dict | None],
    matches: Callable[[dict], bool],
    paging: Paging,
    query: dict[str, str],
    ordering: str,
    codec: CursorCodec,
    page_url: str,
    render: Callable[[dict], Any],
) -> Page:
    """One page in ``ordering`` (``-field`` for descending) over sorted ``entries``.

    ``entries`` are ascending ``((sort value, seq), id)`` pairs: a store index kept in
    order (so a page costs O(page) instead of a sort of every row) or the caller's own
    sorted rows. Rows are fetched by id and kept when ``matches`` says so, walking
    only as far as the page (plus one row each way, to know if there is a next and a
    previous page). ``next``/``previous`` repeat every query parameter the client sent
    (``query``: the last value of each) with a new cursor.
    """
    size = page_size(paging)
    cursor = codec.decode(paging.cursor) if paging.cursor else None
    if cursor is not None and cursor.ordering != ordering:
        raise invalid_cursor()
    descending = ordering.startswith("-")
    count = len(entries)

    def walk(position: int, step: int, wanted: int) -> tuple[list[tuple[tuple, dict]], int]:
        """Up to ``wanted`` (key, row) pairs that match, from an output position on."""
        found: list[tuple[tuple, dict]] = []
        while 0 <= position < count and len(found) < wanted:
            key, record_id = entries[count - 1 - position if descending else position]
            row = fetch(record_id)
            if row is not None and matches(row):
                found.append((key, row))
            position += step
        return found, position

    if cursor is None:
        boundary_after = boundary_before = 0
    else:
        boundary = tuple(cursor.key)
        left = bisect.bisect_left(entries, boundary, key=_entry_key)
        right = bisect.bisect_right(entries, boundary, key=_entry_key)
        if descending:
            boundary_after, boundary_before = count - left, count - right
        else:
            boundary_after, boundary_before = right, left

    if cursor is None or cursor.direction == "next":
        page, position = walk(boundary_after, 1, size)
        has_next = bool(walk(position, 1, 1)[0])
        has_previous = bool(walk(boundary_after - 1, -1, 1)[0])
    else:
        page, position = walk(boundary_before - 1, -1, size)
        page.reverse()
        has_previous = bool(walk(position, -1, 1)[0])
        has_next = bool(walk(boundary_before, 1, 1)[0])

    kept = {name: value for name, value in query.items() if name != "cursor"}

    def link(key: tuple, direction: str) -> str:
        token = codec.encode(Cursor(ordering, key, direction))
        return f"{page_url}?{urlencode({**kept, 'cursor': token})}"

    return Page([render(row) for _, row in page],
                link(page[-1][0], "next") if page and has_next else None,
                link(page[0][0], "previous") if page and has_previous else None)


def _entry_key(entry: tuple[tuple, str]) -> tuple:
    return entry[0]


def sorted_entries(rows: list[dict], sort_value: Callable[[dict], Any]) -> list[tuple[tuple, str]]:
    """Entries for :func:`paginate` from rows already filtered (orderings with no index)."""
    return sorted(((sort_value(row), row["seq"]), row["id"]) for row in rows)
