"""Checks real HTTP responses against the OpenAPI document the server publishes.

Every response the suite's ``api`` client receives goes through :meth:`OpenApiChecker.check`,
so a status, header or body field that drifts from ``/api/v1/openapi.json`` fails the
test that saw it, with the method, path, status and the schema error in the message.

Rules, in order:

* only paths under ``/api/v1`` and ``/_emulator`` are the documented API; anything else
  (a dashboard page) is not checked;
* the request path is matched against the documented path templates with trailing
  slashes normalised (the API answers ``/submissions`` and ``/submissions/`` alike);
  literal templates win over templated ones; ``HEAD`` is checked as ``GET`` without a body;
* an undocumented path may only answer 404 or 405, with the error envelope; a documented
  path may answer an undocumented method only with 405, whose ``Allow`` must list exactly
  the documented methods;
* the status must be documented for the operation; every required header must be present
  and match its schema; a JSON body must validate (JSON Schema 2020-12, ``$ref`` resolved
  through a ``referencing`` registry holding the whole document); a 204 must be empty;
  non-JSON bodies (file downloads) get their media type checked, not their bytes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry
from referencing.jsonschema import DRAFT202012

DOCUMENT_URI = "urn:vilvik-emulator:openapi"
API_PREFIXES = ("/api/v1", "/_emulator")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
#: components/responses used for paths the document does not have
UNDOCUMENTED_PATH_RESPONSES = {"404": "NotFound", "405": "MethodNotAllowed"}


def _normalise(path: str) -> str:
    return path.rstrip("/") or "/"


def _pointer_token(text: str) -> str:
    return text.replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True)
class _Template:
    path: str
    pattern: re.Pattern
    variables: int


class OpenApiChecker:
    """One OpenAPI 3.1 document, ready to judge responses (validators are built once per schema)."""

    def __init__(self, document: dict) -> None:
        if not str(document.get("openapi", "")).startswith("3.1"):
            raise ValueError(f"expected an OpenAPI 3.1 document, got {document.get('openapi')!r}")
        self.document = document
        self.registry = Registry().with_resource(DOCUMENT_URI, DRAFT202012.create_resource(document))
        self._validators: dict[str, Draft202012Validator] = {}
        templates = [self._compile(path) for path in document["paths"]]
        # Literal segments win over templated ones ("/a/b" before "/a/{x}").
        self.templates = sorted(templates, key=lambda template: template.variables)

    @classmethod
    def from_server(cls, url: str) -> OpenApiChecker:
        response = requests.get(f"{url.rstrip('/')}/api/v1/openapi.json", timeout=30)
        response.raise_for_status()
        return cls(response.json())

    # ------------------------------------------------------------------ the check

    def check(self, response: requests.Response) -> None:
        """Raise AssertionError when ``response`` is not what the document promises."""
        method = response.request.method.upper()
        path = urlsplit(response.request.url).path
        if not any(path == prefix or path.startswith(prefix + "/") for prefix in API_PREFIXES):
            return
        status = str(response.status_code)
        where = f"{method} {path} -> {status}"
        with_body = method != "HEAD"
        template = self.match(path)
        if template is None:
            if status not in UNDOCUMENTED_PATH_RESPONSES:
                raise AssertionError(f"{where}: the path matches no documented path template")
            self._check_response(response, where, self._component_response(UNDOCUMENTED_PATH_RESPONSES[status]),
                                 with_body=with_body)
            return
        path_item = self.document["paths"][template]
        operation_method = "get" if method == "HEAD" else method.lower()
        operation = path_item.get(operation_method)
        if operation is None:
            if status != "405":
                raise AssertionError(f"{where}: {method} is not documented for {template} "
                                     f"(documented: {', '.join(self._methods(path_item))})")
            self._check_response(response, where, self._component_response("MethodNotAllowed"),
                                 with_body=with_body)
            self._check_allow(response, where, path_item)
            return
        responses = operation["responses"]
        if status not in responses:
            raise AssertionError(f"{where}: status {status} is not documented for {method} {template} "
                                 f"(documented: {', '.join(responses)})")
        pointer = f"/paths/{_pointer_token(template)}/{operation_method}/responses/{status}"
        self._check_response(response, where, self._resolve(responses[status], pointer), with_body=with_body)

    # ------------------------------------------------------------------ parts

    def _check_response(self, response: requests.Response, where: str, spec: tuple[dict, str], *,
                        with_body: bool) -> None:
        documented, pointer = spec
        self._check_headers(response, where, documented, pointer)
        if not with_body:
            return
        content = documented.get("content")
        if not content:
            if response.content:
                raise AssertionError(f"{where}: documented without a body, got {response.content[:200]!r}")
            return
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if media_type not in content:
            raise AssertionError(f"{where}: Content-Type {media_type or '(none)'} is not documented "
                                 f"(documented: {', '.join(content)})")
        if media_type != "application/json":
            return
        try:
            body = json.loads(response.content)
        except ValueError as error:
            raise AssertionError(f"{where}: the body is not JSON ({error}): {response.content[:200]!r}") from None
        schema_pointer = f"{pointer}/content/{_pointer_token(media_type)}/schema"
        error = best_match(self._validator(schema_pointer).iter_errors(body))
        if error is not None:
            raise AssertionError(f"{where}: the body does not match {schema_pointer}: at {error.json_path}: "
                                 f"{error.message}\n  body: {json.dumps(body)[:1000]}")

    def _check_headers(self, response: requests.Response, where: str, documented: dict, pointer: str) -> None:
        for name, header in documented.get("headers", {}).items():
            header, header_pointer = self._resolve(header, f"{pointer}/headers/{_pointer_token(name)}")
            value = response.headers.get(name)
            if value is None:
                if header.get("required"):
                    raise AssertionError(f"{where}: the required header {name} is missing")
                continue
            if "schema" in header:
                error = best_match(self._validator(f"{header_pointer}/schema").iter_errors(value))
                if error is not None:
                    raise AssertionError(f"{where}: header {name}: {value!r}: {error.message}")

    def _check_allow(self, response: requests.Response, where: str, path_item: dict) -> None:
        allowed = {item.strip().upper() for item in response.headers.get("Allow", "").split(",") if item.strip()}
        documented = {method.upper() for method in self._methods(path_item)}
        if allowed - {"HEAD", "OPTIONS"} != documented:
            raise AssertionError(f"{where}: Allow lists {sorted(allowed)}, the document has {sorted(documented)}")

    # ------------------------------------------------------------------ the document

    @staticmethod
    def _compile(path: str) -> _Template:
        parts = re.split(r"(\{[^}/]+\})", _normalise(path))
        regex = "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
        return _Template(path, re.compile(f"^{regex}$"), sum(part.startswith("{") for part in parts))

    def match(self, path: str) -> str | None:
        """The documented path template ``path`` falls under, or None."""
        normalised = _normalise(path)
        for template in self.templates:
            if template.pattern.match(normalised):
                return template.path
        return None

    @staticmethod
    def _methods(path_item: dict) -> list[str]:
        return [method for method in METHODS if method in path_item]

    def _resolve(self, item: dict, pointer: str) -> tuple[dict, str]:
        """Follow a local ``$ref`` (``#/components/...``); returns the object and its JSON pointer."""
        for _ in range(20):
            if "$ref" not in item:
                return item, pointer
            target = item["$ref"]
            if not target.startswith("#/"):
                raise AssertionError(f"the document has a non-local $ref {target!r}")
            pointer = target[1:]
            item = self.document
            for token in pointer.lstrip("/").split("/"):
                item = item[token.replace("~1", "/").replace("~0", "~")]
        raise AssertionError(f"$ref chain too long at {pointer}")

    def _component_response(self, name: str) -> tuple[dict, str]:
        return self._resolve({"$ref": f"#/components/responses/{name}"}, "")

    def _validator(self, pointer: str) -> Draft202012Validator:
        """A validator of the schema at ``pointer``; its ``$ref``s resolve inside the document."""
        validator = self._validators.get(pointer)
        if validator is None:
            validator = Draft202012Validator({"$ref": f"{DOCUMENT_URI}#{pointer}"}, registry=self.registry)
            self._validators[pointer] = validator
        return validator
