"""The emulator's own surface under ``/_emulator`` (contract §13)."""

from .routes import blueprint

__all__ = ["blueprint"]
