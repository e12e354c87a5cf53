"""The dashboard: server-rendered pages for demos without network (Flask/Jinja, plain CSS)."""

from .views import blueprint, render_error

__all__ = ["blueprint", "render_error"]
