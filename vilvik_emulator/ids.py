"""Identifier and secret generation (one place, so formats stay consistent)."""

from __future__ import annotations

import secrets
import string

ALPHANUMERIC = string.ascii_letters + string.digits


def random_token(length: int) -> str:
    return "".join(secrets.choice(ALPHANUMERIC) for _ in range(length))


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
