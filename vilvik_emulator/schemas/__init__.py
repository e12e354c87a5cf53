"""One declarative schema per wire document: request bodies, query strings, responses.

Validation (:func:`parse_body`, :func:`parse_query`), the served OpenAPI document
(``api/openapi.py``) and rendering all derive from these pydantic models. Modules
follow the API's families: submissions (with the GA parameters, code fields and
quick types they are built from), results, code uploads, imports, webhooks, device
login, accounts and keys, the control plane, and the service itself.
"""

from .base import parse_body, parse_query

__all__ = ["parse_body", "parse_query"]
