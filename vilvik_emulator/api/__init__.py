"""The emulated hosted API under ``/api/v1`` (thin views over the services)."""

from .routes import blueprint

__all__ = ["blueprint"]
