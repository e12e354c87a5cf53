"""Fixtures of the emulator's own suite, on top of its pytest plugin (dogfooding).

``vilvik_emulator`` (the plugin) resets the shared session server before each test;
``api`` is a raw HTTP client and ``control`` the control-plane handle; their responses,
and those the official SDK gets through ``vilvik_client`` (and the in-process session),
are all checked against the OpenAPI document the server publishes.
"""

from __future__ import annotations

import pytest
import requests
from helpers import Api
from openapi_check import OpenApiChecker


@pytest.fixture(scope="session")
def playwright():
    """One Playwright per worker process: its sync API keeps an event loop on the thread, so a second
    ``sync_playwright()`` in the same process (another test module) would refuse to start."""
    from browser import chromium_problem

    problem = chromium_problem()
    if problem:
        pytest.fail(problem, pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="session")
def openapi_checker(vilvik_emulator_server) -> OpenApiChecker:
    return OpenApiChecker.from_server(vilvik_emulator_server.url)


@pytest.fixture
def control(vilvik_emulator, openapi_checker):
    """The plugin's control handle, with its responses checked against the document too
    (the hook comes off after the test: the plugin's session is shared by every test)."""
    hooks = vilvik_emulator.session.hooks["response"]
    hook = lambda response, *args, **kwargs: openapi_checker.check(response)  # noqa: E731
    hooks.append(hook)
    yield vilvik_emulator
    hooks.remove(hook)


@pytest.fixture
def api(vilvik_emulator, openapi_checker) -> Api:
    return Api(vilvik_emulator.base_url, vilvik_emulator.api_key, openapi_checker.check)


@pytest.fixture
def other_account(vilvik_emulator, openapi_checker) -> Api:
    """An :class:`Api` acting as a second account with every scope."""
    account = vilvik_emulator.create_account(name="other")
    key = vilvik_emulator.create_key(account["id"])["key"]
    return Api(vilvik_emulator.base_url, key, openapi_checker.check)


def _checked_session(openapi_checker) -> requests.Session:
    session = requests.Session()
    session.hooks["response"].append(lambda response, *args, **kwargs: openapi_checker.check(response))
    return session


@pytest.fixture
def vilvik_client(vilvik_emulator, openapi_checker):
    """The plugin's SDK client, with every response it gets checked against the document."""
    import vilvik

    return vilvik.Client(api_key=vilvik_emulator.api_key, base_url=vilvik_emulator.base_url,
                         session=_checked_session(openapi_checker))


@pytest.fixture
def vilvik_inprocess_session(vilvik_emulator, vilvik_emulator_server, openapi_checker):
    """The plugin's in-process session, checked against the document too."""
    from vilvik_emulator.inprocess import INPROCESS_URL, InProcessAdapter

    session = _checked_session(openapi_checker)
    session.mount(INPROCESS_URL, InProcessAdapter(vilvik_emulator_server.app))
    return session
