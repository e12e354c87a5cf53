"""Wire documents of ``/api/v1/code-uploads`` (contract §9)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .base import PageLink, RequestBody, ResponseDocument, Timestamp
from .code import CODE_ID_PATTERN, Source


class CodeUploadCreate(RequestBody):
    content: Source = Field(description="Python source; a submission names it with `<role>_id` + `<role>_entry`.")


class CodeUploadRow(ResponseDocument):
    code_id: Annotated[str, Field(pattern=CODE_ID_PATTERN)]
    content_size: Annotated[int, Field(ge=1, description="Bytes of the UTF-8 source.")]
    content_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    created_at: Timestamp
    expires_at: Timestamp = Field(description="Seven days after creation (emulator clock).")
    is_expired: bool


class CodeUploadDetail(CodeUploadRow):
    content: str


class CodeUploadList(ResponseDocument):
    results: list[CodeUploadRow]
    next: PageLink | None
    previous: PageLink | None
