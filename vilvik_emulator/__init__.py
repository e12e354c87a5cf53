"""vilvik-emulator: a local, offline emulator of the hosted Vilvik API.

The public entry points are the ``vilvik-emulator`` command (``cli.py``), the
pytest plugin (``pytest_plugin.py``) and :func:`vilvik_emulator.app.create_app`.
"""

__version__ = "0.1.0"
