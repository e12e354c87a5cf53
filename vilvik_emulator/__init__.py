"""vilvik-emulator: a local, offline emulator of the hosted Vilvik API.

The public entry points are the ``vilvik-emulator`` command (``cli.py``), the
pytest plugin (``pytest_plugin.py``), :func:`vilvik_emulator.app.create_app` and
:func:`mock_vilvik` (intercept mode, ``intercept/``).
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "mock_vilvik"]


def __getattr__(name: str) -> Any:
    # Loaded on first use: `vilvik-emulator exec` imports this package in every Python
    # process it starts, which must not pay for requests and the emulator there.
    if name == "mock_vilvik":
        from .intercept.mock import mock_vilvik

        return mock_vilvik
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
