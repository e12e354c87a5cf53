"""pytest plugin, registered through the ``pytest11`` entry point: the emulator as fixtures.

* ``vilvik_emulator_server`` (session): one in-memory emulator on a free loopback
  port, bound in the calling thread so a bind error fails at once.
* ``vilvik_emulator`` (function): an :class:`~vilvik_emulator.testing.EmulatorControl`
  handle; the state is reset (jobs stopped) before the test.
* ``vilvik_base_url``, ``vilvik_api_key``: what the SDK needs.
* ``vilvik_client``: a ready ``vilvik.Client`` (needs the ``vilvik`` SDK installed).
* ``vilvik_inprocess_session`` / ``vilvik_inprocess_client``: the same emulator with no
  socket (a ``requests`` transport adapter into the WSGI app).
* ``vilvik_mock`` (function): intercept mode — for the test, every ``requests``/``httpx``
  call to vilvik.com is served by the same emulator in process (``mock_vilvik``), so code
  that builds its own ``vilvik.Client()`` needs no change; yields the control handle.

Choose a run mode per test with ``@pytest.mark.vilvik_mode("manual")``. Under
pytest-xdist every worker process gets its own server, so tests never see each other's
data.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
import requests

from .config import RUN_MODES, Settings
from .testing import EmulatorControl, control_session

if TYPE_CHECKING:
    from .server import EmulatorServer


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "vilvik_mode(mode): run the emulator in mode thread, sync or manual "
                                       "for this test")


@pytest.fixture(scope="session")
def vilvik_emulator_server() -> Iterator[EmulatorServer]:
    from .emulator import Emulator
    from .server import EmulatorServer

    emulator = Emulator(Settings(db_path=None, port=0))
    server = EmulatorServer(emulator, "127.0.0.1", 0)
    emulator.start()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def _vilvik_control_session(vilvik_emulator_server: EmulatorServer) -> Iterator[requests.Session]:
    """One keep-alive connection to the session's server for every test's control calls,
    instead of a new connection per test (on loopback: no proxy lookups, see
    :func:`~vilvik_emulator.testing.control_session`)."""
    session = control_session(vilvik_emulator_server.url)
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def vilvik_emulator(vilvik_emulator_server: EmulatorServer, _vilvik_control_session: requests.Session,
                    request: pytest.FixtureRequest) -> Iterator[EmulatorControl]:
    server = vilvik_emulator_server
    control = EmulatorControl(server.url, api_key=server.emulator.default_api_key,
                              session=_vilvik_control_session)
    # The server runs in this process: reset it and apply the test's mark directly, as
    # ``POST /_emulator/reset`` and ``PATCH /_emulator/accounts/acct_default`` would (the
    # routes call the same methods), without a loopback round trip through its threads
    # (each ~2-4 ms, most of a later test's set-up).
    server.emulator.reset()
    mode = _marked_mode(request)
    if mode is not None:
        from .schemas.accounts import AccountUpdate

        server.emulator.accounts.update_account("acct_default", AccountUpdate.model_validate({"mode": mode}))
    yield control


def _marked_mode(request: pytest.FixtureRequest) -> str | None:
    marker = request.node.get_closest_marker("vilvik_mode")
    if marker is None:
        return None
    mode = marker.args[0] if marker.args else marker.kwargs.get("mode")
    if mode not in RUN_MODES:
        raise pytest.UsageError(f"vilvik_mode must be one of {', '.join(RUN_MODES)}, not {mode!r}")
    return mode


@pytest.fixture
def vilvik_mock(vilvik_emulator: EmulatorControl, vilvik_emulator_server: EmulatorServer,
                request: pytest.FixtureRequest) -> Iterator[EmulatorControl]:
    """Intercept mode for one test: calls to vilvik.com (``requests`` and ``httpx``) are
    served in process by this worker's emulator, reset first; ``$VILVIK_EMULATOR_URL`` is
    not consulted, so tests stay isolated under xdist. (It sets up after ``vilvik_emulator``,
    whose reset would otherwise undo the mock's settings in a test that uses both.)"""
    from .intercept import mock_vilvik

    with mock_vilvik(app=vilvik_emulator_server.app, mode=_marked_mode(request)) as control:
        yield control


@pytest.fixture
def vilvik_base_url(vilvik_emulator: EmulatorControl) -> str:
    return vilvik_emulator.base_url


@pytest.fixture
def vilvik_api_key(vilvik_emulator: EmulatorControl) -> str:
    return vilvik_emulator.api_key


@pytest.fixture
def vilvik_client(vilvik_emulator: EmulatorControl) -> Any:
    try:
        import vilvik
    except ImportError:  # pragma: no cover - depends on the user's environment
        pytest.fail("the vilvik_client fixture needs the official SDK: pip install vilvik")
    return vilvik.Client(api_key=vilvik_emulator.api_key, base_url=vilvik_emulator.base_url)


@pytest.fixture
def vilvik_inprocess_session(vilvik_emulator: EmulatorControl,
                             vilvik_emulator_server: EmulatorServer) -> requests.Session:
    """A ``requests.Session`` whose calls to ``INPROCESS_URL`` enter the app directly."""
    from .inprocess import inprocess_session

    return inprocess_session(vilvik_emulator_server.app)


@pytest.fixture
def vilvik_inprocess_client(vilvik_emulator, vilvik_inprocess_session):
    """A ``vilvik.Client`` on the in-process transport (same emulator, same state)."""
    try:
        import vilvik
    except ImportError:  # pragma: no cover - depends on the user's environment
        pytest.fail("the vilvik_inprocess_client fixture needs the official SDK: pip install vilvik")
    from .inprocess import INPROCESS_URL

    return vilvik.Client(api_key=vilvik_emulator.api_key, base_url=f"{INPROCESS_URL}/api/v1",
                         session=vilvik_inprocess_session)
