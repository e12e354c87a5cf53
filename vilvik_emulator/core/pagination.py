"""Cursor pagination shared by every list endpoint (contract §4).

Pages are keyset pages over a total order ``(sort value, seq)``, where ``seq`` is the
store's strictly increasing insertion number, so rows inserted while a client pages
never make it skip or repeat a row. A cursor is opaque to clients: base64url JSON of
the ordering, the boundary key and the direction, signed with an HMAC so a tampered
cursor is a clean 400 rather than a wrong page.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import urlencode

from ..errors import invalid_parameter

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def last_value(args: Mapping[str, Any], name: str) -> str | None:
    """A query parameter's last value ("a filter given twice keeps the last value")."""
    getlist = getattr(args, "getlist", None)
    if getlist is not None:
        values = getlist(name)
        return values[-1] if values else None
    value = args.get(name)
    return value[-1] if isinstance(value, list) else value


def parse_page_size(args: Mapping[str, Any]) -> int:
    for name in ("page_size", "limit"):
        raw = last_value(args, name)
        if raw is None:
            continue
        try:
            size = int(raw)
        except ValueError:
            raise invalid_parameter(name, "must be an integer") from None
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise invalid_parameter(name, f"must be between 1 and {MAX_PAGE_SIZE}")
        return size
    return DEFAULT_PAGE_SIZE


def parse_ordering(args: Mapping[str, Any], allowed: tuple[str, ...], default: str) -> str:
    ordering = last_value(args, "ordering") or default
    if ordering not in allowed:
        raise invalid_parameter("ordering", f"must be one of {', '.join(allowed)}")
    return ordering


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
            raise invalid_parameter("cursor", "is not a cursor this server issued") from None


def paginate(
    entries: list[tuple[tuple, str]],
    *,
    fetch: Callable[[str], dict | None],
    matches: Callable[[dict], bool],
    args: Mapping[str, Any],
    ordering: str,
    codec: CursorCodec,
    page_url: str,
    render: Callable[[dict], dict],
) -> dict:
    """One page in ``ordering`` (``-field`` for descending) over sorted ``entries``.

    ``entries`` are ascending ``((sort value, seq), id)`` pairs: a store index kept in
    order (so a page costs O(page) instead of a sort of every row) or the caller's own
    sorted rows. Rows are fetched by id and kept when ``matches`` says so, walking
    only as far as the page (plus one row each way, to know if there is a next and a
    previous page). ``next``/``previous`` repeat every query parameter the client sent
    (the last value of each) with a new cursor.
    """
    size = parse_page_size(args)
    raw_cursor = last_value(args, "cursor")
    cursor = codec.decode(raw_cursor) if raw_cursor else None
    if cursor is not None and cursor.ordering != ordering:
        raise invalid_parameter("cursor", "belongs to another ordering; start again without a cursor")
    descending = ordering.startswith("-")
    count = len(entries)

    def walk(position: int, step: int, wanted: int) -> tuple[list[tuple[tuple, dict]], int]:
        """Up to ``wanted`` (key, row) pairs that match, from an output position on."""
        found = []
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

    query = {name: last_value(args, name) for name in dict.fromkeys(args.keys()) if name != "cursor"}

    def link(key: tuple, direction: str) -> str:
        token = codec.encode(Cursor(ordering, key, direction))
        return f"{page_url}?{urlencode({**query, 'cursor': token})}"

    return {
        "results": [render(row) for _, row in page],
        "next": link(page[-1][0], "next") if page and has_next else None,
        "previous": link(page[0][0], "previous") if page and has_previous else None,
    }


def _entry_key(entry: tuple[tuple, str]) -> tuple:
    return entry[0]


def sorted_entries(rows: list[dict], sort_value: Callable[[dict], Any]) -> list[tuple[tuple, str]]:
    """Entries for :func:`paginate` from rows already filtered (orderings with no index)."""
    return sorted(((sort_value(row), row["seq"]), row["id"]) for row in rows)
