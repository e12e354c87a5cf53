"""Code uploads (contract §9): reusable source blobs that submissions reference by id.

An upload is role-agnostic; a submission names it with ``<role>_id`` plus the matching
``<role>_entry``. Uploads expire seven days after creation on the emulator's clock; an
expired or another account's upload referenced by a create is a 422. This service owns
the ``code_uploads`` table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from ..clock import Clock, format_ts, parse_ts
from ..errors import not_found
from ..ids import prefixed_id
from ..schemas.code_uploads import CodeUploadCreate
from ..schemas.pages import Paging
from ..store import Store
from .code import CodeProblem
from .pagination import CursorCodec, Page, paginate
from .records import AccountRecord, CodeUploadRecord

CODE_UPLOADS = CodeUploadRecord.table
LIFETIME = timedelta(days=7)


class CodeUploadService:
    def __init__(self, store: Store, clock: Clock, codec: CursorCodec) -> None:
        self.store = store
        self.clock = clock
        self.codec = codec
        store.ensure_order(CODE_UPLOADS, "created_at", lambda row: (row["created_at"], row["seq"]))

    def create(self, account: AccountRecord, body: CodeUploadCreate) -> CodeUploadRecord:
        now = self.clock.now()
        encoded = body.content.encode("utf-8")
        upload = CodeUploadRecord(id=prefixed_id("code"), seq=self.store.next_seq(), account_id=account.id,
                                  content=body.content, content_size=len(encoded),
                                  content_sha256=hashlib.sha256(encoded).hexdigest(),
                                  created_at=format_ts(now) or "", expires_at=format_ts(now + LIFETIME) or "")
        self.store.insert(CODE_UPLOADS, upload.dump())
        return upload

    def get(self, account: AccountRecord, code_id: str) -> CodeUploadRecord:
        document = self.store.get(CODE_UPLOADS, code_id)
        if document is None or document["account_id"] != account.id:
            raise not_found("code upload")
        return CodeUploadRecord.load(document)

    def is_expired(self, upload: CodeUploadRecord | dict) -> bool:
        expires_at = upload["expires_at"] if isinstance(upload, dict) else upload.expires_at
        return parse_ts(expires_at) <= self.clock.now()

    def page(self, account: AccountRecord, paging: Paging, page_url: str, query: dict[str, str],
             render: Callable[[dict], Any]) -> Page:
        account_id = account.id
        return paginate(self.store.ordered(CODE_UPLOADS, "created_at"),
                        fetch=lambda record_id: self.store.peek(CODE_UPLOADS, record_id),
                        matches=lambda row: row["account_id"] == account_id, paging=paging, query=query,
                        ordering="-created_at", codec=self.codec, page_url=page_url, render=render)

    def source_for(self, account: AccountRecord, field: str, code_id: str) -> str:
        """The source a submission's ``<role>_id`` points at, or a :class:`CodeProblem` saying why not."""
        document = self.store.get(CODE_UPLOADS, code_id)
        if document is None or document["account_id"] != account.id:
            raise CodeProblem(field, f"no code upload {code_id!r} for this account")
        if self.is_expired(document):
            raise CodeProblem(field, f"code upload {code_id!r} expired at {document['expires_at']}; upload it again")
        return str(document["content"])

    def clear_account(self, account_id: str) -> None:
        self.store.remove_where(CODE_UPLOADS, lambda row: row["account_id"] == account_id)
