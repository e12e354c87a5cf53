"""Plain-Python services: the emulator's behaviour, free of Flask and TinyDB.

Each service receives the store, the clock and the settings it needs; the HTTP layer,
the control plane and the dashboard call them, and they raise
:class:`vilvik_emulator.errors.ApiError` for anything a client did wrong.
"""
