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
    rows: list[dict],
    *,
    args: Mapping[str, Any],
    ordering: str,
    sort_value: Callable[[dict], Any],
    codec: CursorCodec,
    page_url: str,
    render: Callable[[dict], dict],
) -> dict:
    """One page of ``rows`` in ``ordering`` (``-field`` for descending).

    ``sort_value`` maps a row to a comparable value; ties are broken by ``seq``.
    ``page_url`` is the absolute URL of the collection; ``next``/``previous`` repeat
    every query parameter the client sent (last value of each) with a new cursor.
    """
    size = parse_page_size(args)
    raw_cursor = last_value(args, "cursor")
    cursor = codec.decode(raw_cursor) if raw_cursor else None
    if cursor is not None and cursor.ordering != ordering:
        raise invalid_parameter("cursor", "belongs to another ordering; start again without a cursor")
    descending = ordering.startswith("-")

    ascending = sorted(rows, key=lambda row: (sort_value(row), row["seq"]))
    keys = [(sort_value(row), row["seq"]) for row in ascending]
    if descending:
        ascending.reverse()
        keys.reverse()
        # In output order keys now decrease; mirror them so bisect sees an increasing list.
        position = _Mirror(keys)
    else:
        position = keys

    if cursor is None:
        start = 0
    else:
        boundary = tuple(cursor.key)
        if cursor.direction == "next":
            start = bisect.bisect_right(position, _oriented(boundary, descending))
        else:
            end = bisect.bisect_left(position, _oriented(boundary, descending))
            start = max(0, end - size)
            size = end - start
    page = ascending[start:start + size]
    end = start + len(page)

    query = {name: last_value(args, name) for name in _keys_of(args) if name != "cursor"}

    def link(row: dict, direction: str) -> str:
        token = codec.encode(Cursor(ordering, (sort_value(row), row["seq"]), direction))
        return f"{page_url}?{urlencode({**query, 'cursor': token})}"

    return {
        "results": [render(row) for row in page],
        "next": link(page[-1], "next") if page and end < len(ascending) else None,
        "previous": link(page[0], "previous") if page and start > 0 else None,
    }


def _keys_of(args: Mapping[str, Any]) -> list[str]:
    return list(dict.fromkeys(args.keys()))


def _oriented(key: tuple, descending: bool) -> Any:
    return _Reversed(key) if descending else key


class _Reversed:
    """Wraps a key so that comparisons are inverted (for descending orderings)."""

    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key

    def __lt__(self, other: "_Reversed") -> bool:
        return other.key < self.key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and other.key == self.key


class _Mirror:
    """A read-only view of a list with every element wrapped in :class:`_Reversed`."""

    def __init__(self, items: list) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> _Reversed:
        return _Reversed(self.items[index])
