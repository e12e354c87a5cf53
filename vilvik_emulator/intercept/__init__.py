"""Intercept mode (contract §13a): the emulator behind the hosted hosts, for code that builds
its own ``vilvik.Client()`` or calls the REST API with ``requests`` or ``httpx``.

* :mod:`.mock` — :func:`mock_vilvik`, the context manager and decorator;
* :mod:`.transports` — the patches of ``requests``/``httpx`` and the routing of hosts;
* :mod:`.backends` — in process (WSGI, no socket) or forwarded to a running server;
* :mod:`.command` — ``vilvik-emulator exec``, with ``site/sitecustomize.py`` on the
  child's ``PYTHONPATH`` and :mod:`.process` doing the work in each child process.

:func:`mock_vilvik` is loaded on first use: the ``exec`` hook imports this package in every
Python process it reaches and must not pay for ``requests`` there.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MockVilvik", "mock_vilvik"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import mock

        return getattr(mock, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
