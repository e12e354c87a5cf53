"""``mock_vilvik``: serve the code under test's calls to the hosted Vilvik API from an emulator.

Like moto's ``mock_aws``: a context manager and a decorator (functions, coroutines,
classes), with no change to the code under test (contract §13a). One entry is an
:class:`_Activation`: it picks the emulator (a fresh in-process one, the one given as
``app=``, or a server at ``url=`` / ``$VILVIK_EMULATOR_URL``), sets the environment the
SDK reads (a ready key when ``VILVIK_API_KEY`` is unset; ``XDG_CONFIG_HOME`` in a
temporary directory, so ``~/.config/vilvik/credentials`` is never read or written) and
activates a route in :mod:`.transports`. Leaving undoes exactly that.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import os
import shutil
import tempfile
import threading
import unittest
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import requests

from ..config import RUN_MODES
from ..testing import ControlError, EmulatorControl
from . import transports
from .backends import ForwardRoute, InProcessRoute
from .hosts import ADMIN_TOKEN_VARIABLE, CONFIG_HOME_VARIABLE, HOSTED_HOSTS, KEY_VARIABLE, URL_VARIABLE, server_root

#: where the in-process control handle (and the default SDK client) address the emulator
HOSTED_ROOT = "https://vilvik.com"

Target = TypeVar("Target", bound=Callable[..., Any])


def mock_vilvik(target: Any = None, /, *, mode: str | None = None, url: str | None = None,
                hosts: Iterable[str] = (), strict_keys: bool = False, app: Any = None) -> Any:
    """Serve calls to ``vilvik.com`` and ``beta.vilvik.com`` (and ``hosts``) from an emulator.

    ``with mock_vilvik() as control:`` yields an :class:`~vilvik_emulator.testing.EmulatorControl`;
    ``@mock_vilvik`` / ``@mock_vilvik(mode="sync")`` decorate a function or a class (each
    test method gets its own clean emulator). ``mode``: thread, sync or manual. ``url``:
    forward to the emulator server there (default ``$VILVIK_EMULATOR_URL``; absent: an
    emulator in this process). ``strict_keys``: refuse keys the emulator did not issue.
    ``app``: serve from this app (``create_app(...)``) instead of a fresh emulator, keeping
    its emulator across entries (reset at each).
    """
    mock = MockVilvik(mode=mode, url=url, hosts=hosts, strict_keys=strict_keys, app=app)
    return mock if target is None else mock(target)


class MockVilvik:
    """What :func:`mock_vilvik` returns; reusable, and safe to enter from several threads."""

    def __init__(self, *, mode: str | None = None, url: str | None = None, hosts: Iterable[str] = (),
                 strict_keys: bool = False, app: Any = None) -> None:
        if mode is not None and mode not in RUN_MODES:
            raise ValueError(f"mode must be one of {', '.join(RUN_MODES)}, not {mode!r}")
        if url and app is not None:
            raise ValueError("give url= (forward to a server) or app= (serve in process), not both")
        if isinstance(hosts, str):
            hosts = [hosts]
        self.mode = mode
        self.url = url
        self.hosts = frozenset(host.lower().rstrip(".") for host in (*HOSTED_HOSTS, *hosts))
        self.strict_keys = strict_keys
        self.app = app
        self._local = threading.local()  # .entered: this thread's activations, innermost last

    # ------------------------------------------------------------------ context manager

    def __enter__(self) -> EmulatorControl:
        activation = _Activation(self)
        control = activation.start()
        self._local.__dict__.setdefault("entered", []).append(activation)
        return control

    def __exit__(self, *exc_info: object) -> None:
        self._local.entered.pop().stop()

    # ------------------------------------------------------------------ decorator

    def __call__(self, target: Target) -> Target:
        if isinstance(target, type):
            return self._decorate_class(target)  # type: ignore[return-value]
        if not callable(target):
            raise TypeError(f"mock_vilvik decorates functions and classes, not {type(target).__name__}")
        if inspect.iscoroutinefunction(target):
            @functools.wraps(target)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await target(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(target)
        def run(*args: Any, **kwargs: Any) -> Any:
            with self:
                return target(*args, **kwargs)

        return run  # type: ignore[return-value]

    def _decorate_class(self, cls: type) -> type:
        if issubclass(cls, unittest.TestCase):
            # setUp, the test and tearDown share one activation; a cleanup (which runs even
            # when setUp fails) ends it.
            set_up = cls.setUp

            @functools.wraps(set_up)
            def setUp(case: unittest.TestCase) -> None:
                activation = _Activation(self)
                activation.start()
                case.addCleanup(activation.stop)
                set_up(case)

            cls.setUp = setUp  # type: ignore[method-assign,assignment]
            return cls
        # pytest classes: setup_method, the test and teardown_method share one activation
        # (pytest always runs teardown_method once setup_method succeeded); a test method
        # called some other way gets its own.
        for name in dir(cls):
            value = inspect.getattr_static(cls, name)
            if name.startswith("test") and inspect.isfunction(value):
                setattr(cls, name, self._test_method(value))
        setup_method = getattr(cls, "setup_method", None)
        teardown_method = getattr(cls, "teardown_method", None)

        def setup(instance: Any, method: Any = None) -> None:
            activation = _Activation(self)
            activation.start()
            instance.__dict__[_CLASS_ACTIVATION] = activation
            try:
                if setup_method is not None:
                    _call_with_optional(setup_method, instance, method)
            except BaseException:
                instance.__dict__.pop(_CLASS_ACTIVATION).stop()
                raise

        def teardown(instance: Any, method: Any = None) -> None:
            try:
                if teardown_method is not None:
                    _call_with_optional(teardown_method, instance, method)
            finally:
                activation = instance.__dict__.pop(_CLASS_ACTIVATION, None)
                if activation is not None:
                    activation.stop()

        cls.setup_method = setup  # type: ignore[attr-defined]
        cls.teardown_method = teardown  # type: ignore[attr-defined]
        return cls

    def _test_method(self, method: Callable) -> Callable:
        if inspect.iscoroutinefunction(method):
            @functools.wraps(method)
            async def run_async(instance: Any, *args: Any, **kwargs: Any) -> Any:
                if _CLASS_ACTIVATION in instance.__dict__:
                    return await method(instance, *args, **kwargs)
                with self:
                    return await method(instance, *args, **kwargs)

            return run_async

        @functools.wraps(method)
        def run(instance: Any, *args: Any, **kwargs: Any) -> Any:
            if _CLASS_ACTIVATION in instance.__dict__:
                return method(instance, *args, **kwargs)
            with self:
                return method(instance, *args, **kwargs)

        return run


_CLASS_ACTIVATION = "_vilvik_mock_activation"


def _call_with_optional(function: Callable, instance: Any, argument: Any) -> None:
    """Call an xunit-style hook the way pytest does: with the method only if it takes one."""
    if len(inspect.signature(function).parameters) > 1:
        function(instance, argument)
    else:
        function(instance)


# ---------------------------------------------------------------------- one entry


class _Activation:
    def __init__(self, mock: MockVilvik) -> None:
        self.mock = mock
        self.url = None if mock.app is not None else server_root(mock.url or os.environ.get(URL_VARIABLE) or "") or None
        self.route: InProcessRoute | ForwardRoute | None = None
        self.config_home: str | None = None
        self.pooled_app: Any = None
        self.borrowed: BorrowedServer | None = None
        self.control: EmulatorControl | None = None

    def start(self) -> EmulatorControl:
        try:
            self.control = self._forwarding() if self.url else self._in_process()
            self.config_home = tempfile.mkdtemp(prefix="vilvik-mock-")
            _environment.push(self, {CONFIG_HOME_VARIABLE: self.config_home}, {KEY_VARIABLE: self.control.api_key})
            assert self.route is not None  # set by _forwarding or _in_process
            transports.activate(self.route)
        except BaseException:
            self.stop()
            raise
        return self.control

    def _in_process(self) -> EmulatorControl:
        from ..inprocess import inprocess_session

        app = self.mock.app
        if app is None:
            app = self.pooled_app = _pool.take()
        emulator = app.extensions["vilvik_emulator"]
        session = inprocess_session(app, f"{HOSTED_ROOT}/")  # the handle stays in process even after exit
        control = EmulatorControl(HOSTED_ROOT, session=session, api_key=emulator.default_api_key)
        control.reset()
        control.configure(**intercept_settings(self.mock.strict_keys, self.mock.mode))
        self.route = InProcessRoute(app, self.mock.hosts)
        return control

    def _forwarding(self) -> EmulatorControl:
        assert self.url is not None  # start() forwards only when a URL was given
        self.borrowed = BorrowedServer(self.url, strict_keys=self.mock.strict_keys, mode=self.mock.mode)
        self.route = ForwardRoute(self.url, self.mock.hosts)
        return self.borrowed.control

    def stop(self) -> None:
        if self.route is not None:
            transports.deactivate(self.route)
            self.route.close()
        _environment.pop(self)
        if self.config_home is not None:
            shutil.rmtree(self.config_home, ignore_errors=True)
        if self.borrowed is not None:
            self.borrowed.give_back()
        if self.pooled_app is not None:
            _pool.give(self.pooled_app)
            self.pooled_app = None


def intercept_settings(strict_keys: bool, mode: str | None) -> dict[str, Any]:
    """The runtime settings an intercepting emulator runs with (``PATCH /_emulator/config``)."""
    settings: dict[str, Any] = {"accept_unknown_keys": not strict_keys, "auto_approve_login": True}
    if mode is not None:
        settings["mode"] = mode
    return settings


class BorrowedServer:
    """A running emulator server set up for interception (:func:`intercept_settings`) with a
    key of our own in ``control.api_key``; :meth:`give_back` restores the settings and revokes
    the key, since the server is shared and outlives us."""

    def __init__(self, url: str, *, strict_keys: bool, mode: str | None = None, key_name: str = "mock_vilvik") -> None:
        admin_token = os.environ.get(ADMIN_TOKEN_VARIABLE)
        control = EmulatorControl(url, admin_token=admin_token)
        try:
            before = control.config()
        except requests.RequestException as error:
            raise requests.ConnectionError(f"no emulator answers at {url} ({error})") from error
        changes = intercept_settings(strict_keys, mode)
        self._restore = {name: before[name] for name in changes if name in before}
        control.configure(**changes)
        key = control.create_key(name=key_name)
        self._key_id = key["id"]
        self.control = EmulatorControl(url, admin_token=admin_token, api_key=key["key"])

    def give_back(self) -> None:
        try:
            self.control.configure(**self._restore)
            self.control.revoke_key(self._key_id)
        except (requests.RequestException, ControlError):
            pass  # the server stopped first, or was reset: nothing left to give back


# ---------------------------------------------------------------------- the environment


class _Environment:
    """The variables mocks set, layered: the latest active entry wins, the last to leave
    restores what was there before the first (entries may leave in any order, from any thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._before: dict[str, str | None] = {}
        self._layers: list[tuple[object, dict[str, str], dict[str, str]]] = []

    def push(self, owner: object, always: dict[str, str], if_unset: dict[str, str]) -> None:
        """Set ``always``, and ``if_unset`` where the variable was unset before any mock."""
        with self._lock:
            if not self._layers:
                self._before = {}
            for name in (*always, *if_unset):
                self._before.setdefault(name, os.environ.get(name))
            self._layers.append((owner, always, if_unset))
            self._apply()

    def pop(self, owner: object) -> None:
        with self._lock:
            remaining = [layer for layer in self._layers if layer[0] is not owner]
            if len(remaining) == len(self._layers):
                return
            self._layers = remaining
            self._apply()

    def _apply(self) -> None:
        values = dict(self._before)
        for _, always, if_unset in self._layers:
            values.update(always)
            values.update({name: value for name, value in if_unset.items() if self._before.get(name) is None})
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_environment = _Environment()


# ---------------------------------------------------------------------- idle in-process emulators


class _Pool:
    """In-memory emulators kept between entries, so a decorated test does not pay a start-up
    each; an entry nested in (or concurrent with) another gets an emulator of its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[Any] = []
        self._all: list[Any] = []

    def take(self) -> Any:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        from ..app import create_app
        from ..config import Settings
        from ..emulator import Emulator

        emulator = Emulator(Settings(db_path=None))
        emulator.public_url = HOSTED_ROOT  # links in webhook payloads lead back into the mock
        app = create_app(emulator.start())
        with self._lock:
            if not self._all:
                atexit.register(self.close)
            self._all.append(app)
        return app

    def give(self, app: Any) -> None:
        """Back to the pool, with its jobs stopped and its state cleared."""
        app.extensions["vilvik_emulator"].reset()
        with self._lock:
            self._idle.append(app)

    def close(self) -> None:
        with self._lock:
            apps, self._all, self._idle = self._all, [], []
        for app in apps:
            app.extensions["vilvik_emulator"].close()


_pool = _Pool()
