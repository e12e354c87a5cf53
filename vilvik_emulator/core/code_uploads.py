"""Code uploads (contract §9): reusable source blobs that submissions reference by id.

An upload is role-agnostic; a submission names it with ``<role>_id`` plus the matching
``<role>_entry``. Uploads expire seven days after creation on the emulator's clock; an
expired or another account's upload referenced by a create is a 422.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from ..clock import Clock, format_ts, parse_ts
from ..errors import FieldErrors, field_error, not_found
from ..ids import prefixed_id
from ..store import Store
from .pagination import CursorCodec, paginate

CODE_UPLOADS = "code_uploads"
LIFETIME = timedelta(days=7)
ROW_FIELDS = ("code_id", "content_size", "content_sha256", "created_at", "expires_at", "is_expired")


class CodeUploadService:
    def __init__(self, store: Store, clock: Clock, codec: CursorCodec) -> None:
        self.store = store
        self.clock = clock
        self.codec = codec
        store.ensure_order(CODE_UPLOADS, "created_at", lambda row: (row["created_at"], row["seq"]))

    def create(self, account: dict, body: dict) -> dict:
        errors = FieldErrors()
        for name in body:
            if name != "content":
                errors.add(name, "is not a code upload field (only content)")
        content = body.get("content")
        if not isinstance(content, str) or not content.strip():
            errors.add("content", "is required: a non-empty string of Python source")
        errors.raise_if_any()
        now = self.clock.now()
        encoded = content.encode("utf-8")
        upload = {
            "id": prefixed_id("code"),
            "seq": self.store.next_seq(),
            "account_id": account["id"],
            "content": content,
            "content_size": len(encoded),
            "content_sha256": hashlib.sha256(encoded).hexdigest(),
            "created_at": format_ts(now),
            "expires_at": format_ts(now + LIFETIME),
        }
        self.store.insert(CODE_UPLOADS, upload)
        return upload

    def get(self, account: dict, code_id: str) -> dict:
        upload = self.store.get(CODE_UPLOADS, code_id)
        if upload is None or upload["account_id"] != account["id"]:
            raise not_found("code upload")
        return upload

    def is_expired(self, upload: dict) -> bool:
        return parse_ts(upload["expires_at"]) <= self.clock.now()

    def row(self, upload: dict) -> dict:
        return {"code_id": upload["id"], "content_size": upload["content_size"],
                "content_sha256": upload["content_sha256"], "created_at": upload["created_at"],
                "expires_at": upload["expires_at"], "is_expired": self.is_expired(upload)}

    def detail(self, upload: dict) -> dict:
        return {**self.row(upload), "content": upload["content"]}

    def list(self, account: dict, args: Any, page_url: str) -> dict:
        account_id = account["id"]
        return paginate(self.store.ordered(CODE_UPLOADS, "created_at"),
                        fetch=lambda record_id: self.store.peek(CODE_UPLOADS, record_id),
                        matches=lambda row: row["account_id"] == account_id, args=args, ordering="-created_at",
                        codec=self.codec, page_url=page_url, render=self.row)

    def source_for(self, account: dict, field: str, code_id: Any) -> str:
        """The source a submission's ``<role>_id`` points at, or a 422 saying why not."""
        if not isinstance(code_id, str):
            raise field_error(field, "must be a code upload id")
        upload = self.store.get(CODE_UPLOADS, code_id)
        if upload is None or upload["account_id"] != account["id"]:
            raise field_error(field, f"no code upload {code_id!r} for this account")
        if self.is_expired(upload):
            raise field_error(field, f"code upload {code_id!r} expired at {upload['expires_at']}; upload it again")
        return upload["content"]
