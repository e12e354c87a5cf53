"""Fixtures of the emulator's own suite, on top of its pytest plugin (dogfooding).

``vilvik_emulator`` (the plugin) resets the shared session server before each test;
``api`` is a raw HTTP client whose every response is checked against the OpenAPI
document the server publishes.
"""

from __future__ import annotations

import pytest

from helpers import Api
from openapi_check import OpenApiChecker


@pytest.fixture(scope="session")
def openapi_checker(vilvik_emulator_server) -> OpenApiChecker:
    return OpenApiChecker.from_server(vilvik_emulator_server.url)


@pytest.fixture
def control(vilvik_emulator, openapi_checker):
    """The plugin's control handle, with its responses checked against the document too."""
    vilvik_emulator.session.hooks["response"].append(lambda response, *args, **kwargs: openapi_checker.check(response))
    return vilvik_emulator


@pytest.fixture
def api(vilvik_emulator, openapi_checker) -> Api:
    return Api(vilvik_emulator.base_url, vilvik_emulator.api_key, openapi_checker.check)


@pytest.fixture
def other_account(vilvik_emulator, openapi_checker) -> Api:
    """An :class:`Api` acting as a second account with every scope."""
    account = vilvik_emulator.create_account(name="other")
    key = vilvik_emulator.create_key(account["id"])["key"]
    return Api(vilvik_emulator.base_url, key, openapi_checker.check)
