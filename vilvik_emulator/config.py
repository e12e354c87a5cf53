"""Settings of one emulator instance: where it listens, where it stores, how jobs run.

Every field has a default that works on a fresh machine; ``serve`` flags and
``VILVIK_EMULATOR_*`` environment variables override them, and the control plane's
``/_emulator/config`` changes the runtime ones while the server runs.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUN_MODES = ("thread", "sync", "manual")
DEFAULT_DB_PATH = Path(".vilvik-emulator") / "db.json"


@dataclass
class Limits:
    """Per-job resource limits (contract §6)."""

    runtime_seconds: float = 600.0
    memory_mb: int = 2048
    output_bytes: int = 1024 * 1024
    max_processes: int = 64


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    db_path: str | None = str(DEFAULT_DB_PATH)  # None: in-memory store
    api_key: str | None = None
    admin_token: str | None = None
    mode: str = "thread"
    pool_size: int = field(default_factory=lambda: os.cpu_count() or 2)
    limits: Limits = field(default_factory=Limits)
    max_body_bytes: int = 5 * 1024 * 1024
    default_credits: float = 1000.0
    cpu_rate: float = 0.01
    memory_rate: float = 0.002
    #: approve every `vilvik login` at once (demos without a browser)
    auto_approve_login: bool = False
    #: accept a key this emulator never issued, bound to the default account (what
    #: `mock_vilvik` turns on, so a user's real key in their shell just works)
    accept_unknown_keys: bool = False
    #: seconds a `vilvik login` client is told to wait between polls
    device_poll_interval: float = 5.0
    #: optional per-key request limit {"requests": N, "window_seconds": S}; off by default
    rate_limit: dict | None = None
    #: seconds of quiet after writes before the journal is checkpointed into the TinyDB file
    checkpoint_interval: float = 2.0

    def __post_init__(self) -> None:
        if self.mode not in RUN_MODES:
            raise ValueError(f"mode must be one of {', '.join(RUN_MODES)}")
        if self.pool_size < 1:
            raise ValueError("pool_size must be at least 1")

    @property
    def in_memory(self) -> bool:
        return self.db_path is None

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


ENVIRONMENT = {
    "host": "VILVIK_EMULATOR_HOST",
    "port": "VILVIK_EMULATOR_PORT",
    "db_path": "VILVIK_EMULATOR_DB",
    "api_key": "VILVIK_EMULATOR_API_KEY",
    "admin_token": "VILVIK_EMULATOR_ADMIN_TOKEN",
    "mode": "VILVIK_EMULATOR_MODE",
}


def from_environment(environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """The settings the ``VILVIK_EMULATOR_*`` variables set (only those present)."""
    variables: Mapping[str, str] = os.environ if environ is None else environ
    found: dict[str, object] = {}
    for name, variable in ENVIRONMENT.items():
        value = variables.get(variable)
        if value is None or value == "":
            continue
        found[name] = int(value) if name == "port" else value
    return found
