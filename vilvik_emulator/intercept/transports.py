"""Routes HTTP calls to Vilvik hosts into an emulator, at the clients' transport layer.

While at least one route is active, ``requests.adapters.HTTPAdapter.send``,
``httpx.HTTPTransport.handle_request`` and ``httpx.AsyncHTTPTransport.handle_async_request``
(and ``requests.Session.merge_environment_settings``, which skips the environment's proxy
and CA-bundle lookups for a routed host) are replaced by functions that look up a route
for the request's host and hand the request to it; every other host goes to the original
function untouched. Patching the
classes (not sessions) covers sessions and clients built before the routes were active,
and the SDK's own ``requests.Session()``. ``webbrowser.open`` is patched too, so an
intercepted ``vilvik login`` does not open the user's browser on the real vilvik.com.

A module not imported yet is patched the moment it is imported (a ``sys.meta_path``
finder), so the ``sitecustomize`` hook of ``vilvik-emulator exec`` costs a process that
never imports ``requests`` or ``httpx`` nothing. When the last route goes, every patch is
undone (unless another library wrapped ours since: then ours stays and passes through).

Only the standard library is imported here, for the same reason.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit


class Route(Protocol):
    """Where requests for some hosts go: an in-process app or a forwarding target."""

    hosts: frozenset[str]

    def send_requests(self, original: Callable, adapter: Any, request: Any, **kwargs: Any) -> Any: ...

    def handle_httpx(self, original: Callable, transport: Any, request: Any) -> Any: ...

    async def handle_httpx_async(self, original: Callable, transport: Any, request: Any) -> Any: ...


_lock = threading.RLock()
_routes: list[Route] = []  # in activation order, the latest last
_local = threading.local()  # .stack: routes activated on this thread, innermost last


def route_for(host: str | None) -> Route | None:
    """The route serving ``host``: the innermost active one entered on this thread, else
    the latest active one (so threads started inside a mock are served by it)."""
    if not host:
        return None
    host = host.lower().rstrip(".")
    with _lock:
        for route in reversed(getattr(_local, "stack", [])):
            if host in route.hosts and route in _routes:
                return route
        for route in reversed(_routes):
            if host in route.hosts:
                return route
    return None


def activate(route: Route) -> None:
    with _lock:
        _routes.append(route)
        _local.__dict__.setdefault("stack", []).append(route)
        if len(_routes) == 1:
            _install()


def deactivate(route: Route) -> None:
    with _lock:
        if route in _routes:
            _routes.remove(route)
        stack = getattr(_local, "stack", [])
        if route in stack:
            stack.remove(route)
        if not _routes:
            _uninstall()


def active_routes() -> list[Route]:
    with _lock:
        return list(_routes)


# ---------------------------------------------------------------------- the patched functions

_originals: dict[str, Callable] = {}


def _requests_send(self: Any, request: Any, stream: bool = False, timeout: Any = None, verify: Any = True,
                   cert: Any = None, proxies: Any = None) -> Any:
    original = _originals["requests"]
    route = route_for(urlsplit(request.url).hostname)
    if route is None:
        return original(self, request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
    return route.send_requests(original, self, request, stream=stream, timeout=timeout, verify=verify, cert=cert,
                               proxies=proxies)


def _requests_environment(self: Any, url: str, proxies: Any, stream: Any, verify: Any, cert: Any) -> dict:
    """``Session.merge_environment_settings`` without the environment for a routed host.

    A routed call is served in process or forwarded to a loopback emulator with no proxy,
    so the environment's proxies and CA bundle never apply to it; requests looks them up
    on every call (each ``os.environ`` entry, twice), a quarter of an intercepted call.
    The session's own settings and the call's arguments merge exactly as requests does.
    """
    original = _originals["requests-environment"]
    if route_for(urlsplit(url).hostname) is None:
        return original(self, url, proxies, stream, verify, cert)
    merge = sys.modules["requests.sessions"].merge_setting
    return {"proxies": merge(proxies, self.proxies), "stream": merge(stream, self.stream),
            "verify": merge(verify, self.verify), "cert": merge(cert, self.cert)}


def _httpx_handle(self: Any, request: Any) -> Any:
    original = _originals["httpx"]
    route = route_for(request.url.host)
    return original(self, request) if route is None else route.handle_httpx(original, self, request)


async def _httpx_handle_async(self: Any, request: Any) -> Any:
    original = _originals["httpx-async"]
    route = route_for(request.url.host)
    if route is None:
        return await original(self, request)
    return await route.handle_httpx_async(original, self, request)


def _browser_open(url: str, new: int = 0, autoraise: bool = True) -> bool:
    # A verification page on a routed host exists only inside the emulator: open nothing
    # (the mock approves device logins itself) rather than the real site.
    if route_for(urlsplit(url).hostname) is not None:
        return False
    return _originals["webbrowser"](url, new, autoraise)


#: patch key -> (module, owner inside the module, attribute, replacement)
_TARGETS: dict[str, tuple[str, str, str, Callable]] = {
    "requests": ("requests", "adapters.HTTPAdapter", "send", _requests_send),
    "requests-environment": ("requests", "sessions.Session", "merge_environment_settings", _requests_environment),
    "httpx": ("httpx", "HTTPTransport", "handle_request", _httpx_handle),
    "httpx-async": ("httpx", "AsyncHTTPTransport", "handle_async_request", _httpx_handle_async),
    "webbrowser": ("webbrowser", "", "open", _browser_open),
}
_patched: list[tuple[str, Any, str]] = []  # (key, owner, attribute) currently replaced


def _patch(module_name: str, module: Any) -> None:
    with _lock:
        if not _routes:
            return
        for key, (name, dotted, attribute, replacement) in _TARGETS.items():
            owner = module
            for part in filter(None, dotted.split(".")):
                owner = getattr(owner, part, None)
            if name != module_name or key in _originals or owner is None or not hasattr(owner, attribute):
                continue  # another module, already patched, or an httpx without that transport
            _originals[key] = getattr(owner, attribute)
            setattr(owner, attribute, replacement)
            _patched.append((key, owner, attribute))


class _PatchOnImport:
    """A ``sys.meta_path`` finder that lets a watched module load normally, then patches it."""

    def __init__(self, names: set[str]) -> None:
        self.names = names

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in self.names:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or isinstance(loader, type) or not hasattr(loader, "exec_module"):
            return spec  # a built-in or frozen module's loader is a class shared by all: leave it alone
        load = loader.exec_module

        def exec_module(module: Any) -> None:
            load(module)
            self.names.discard(fullname)
            _patch(fullname, module)

        loader.exec_module = exec_module  # type: ignore[method-assign]  # this spec's own loader instance; everything else about it unchanged
        return spec


_hook: _PatchOnImport | None = None


def _install() -> None:
    global _hook
    pending = set()
    for name in {target[0] for target in _TARGETS.values()}:
        module = sys.modules.get(name)
        if module is not None:
            _patch(name, module)
        else:
            pending.add(name)
    if pending:
        _hook = _PatchOnImport(pending)
        sys.meta_path.insert(0, _hook)


def _uninstall() -> None:
    global _hook
    if _hook is not None:
        if _hook in sys.meta_path:
            sys.meta_path.remove(_hook)
        _hook = None
    kept = []
    for key, owner, attribute in _patched:
        if getattr(owner, attribute) is _TARGETS[key][3]:
            setattr(owner, attribute, _originals.pop(key))
        else:  # wrapped since by another library (responses, ...): ours stays, passing everything through
            kept.append((key, owner, attribute))
    _patched[:] = kept
