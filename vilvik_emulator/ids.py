"""Identifier and secret generation (one place, so formats stay consistent)."""

from __future__ import annotations

import secrets
import string

ALPHANUMERIC = string.ascii_letters + string.digits


def random_token(length: int) -> str:
    """``length`` uniformly random alphanumerics from one read of the OS's CSPRNG.

    Bytes below 248 (= 4 x 62) map to a character without bias; the rest are dropped.
    """
    characters: list[str] = []
    while len(characters) < length:
        for byte in secrets.token_bytes(length + 8):
            if byte < 248:
                characters.append(ALPHANUMERIC[byte % 62])
    return "".join(characters[:length])


def resource_id() -> str:
    """Submission and result ids: 12 characters ``[A-Za-z0-9]`` (contract §1)."""
    return random_token(12)


def prefixed_id(prefix: str) -> str:
    """Ids of the emulator's own records (accounts, keys, webhooks...)."""
    return f"{prefix}_{random_token(12)}"


def request_id() -> str:
    return "req_" + random_token(20)


def api_key_secret() -> str:
    return "vlk_test_" + random_token(32)
