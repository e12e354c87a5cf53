"""Cursor pages (contract §4): the query parameters every list takes, as Django REST Framework reads them.

DRF never rejects a page size or an ordering: a size above the maximum is clamped, a
zero, negative or non-numeric one means the default, an unknown ordering is ignored.
So these are declared as free text, and :mod:`vilvik_emulator.core.pagination`
interprets them; only an unknown cursor is an error (404 "Invalid cursor").
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from .base import QueryParameters

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

PageSize = Annotated[str, Field(max_length=100, description=(
    f"Rows per page: default {DEFAULT_PAGE_SIZE}, at most {MAX_PAGE_SIZE} (larger values are clamped; zero, negative "
    "or non-numeric ones mean the default)."))]


class Paging(QueryParameters):
    page_size: PageSize | None = None
    limit: PageSize | None = Field(default=None, description="A synonym of `page_size` (the SDK's name).")
    cursor: Annotated[str, Field(max_length=2000)] | None = Field(default=None, description=(
        "Opaque: taken from `next` or `previous`; one this server did not issue answers 404."))


def ordering_field(allowed: tuple[str, ...], default: str) -> Any:
    return Field(default=None, max_length=100, description=(
        f"Sort order: {', '.join(f'`{value}`' for value in allowed)} (default `{default}`); any other value is "
        "ignored."))
