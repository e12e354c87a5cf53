"""Contract §2 (authentication, keys, accounts, scopes) for every ``/api/v1`` endpoint.

``ENDPOINTS`` lists every route of ``vilvik_emulator/api/routes.py`` that needs a key,
with the scopes the contract gives it; each is driven through the whole 401 matrix,
each missing scope (403), and another account's ids (404 exactly like a missing id).
Then rotation, scope edits, ``last_used_*``, and keys being stored only as hashes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from helpers import EXAMPLE, IMPORT_BODY, SPHERE, Api, error_code

pytestmark = pytest.mark.vilvik_mode("manual")

#: every scope of contract §2
ALL_SCOPES = (
    "submissions:read", "submissions:write",
    "results:read", "results:write",
    "code-uploads:read", "code-uploads:write",
    "webhooks:read", "webhooks:write",
    "imports:write",
)
MISSING_ID = "zzzZZZ999999"


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # template over {submission}, {result}, {upload}, {webhook}
    scopes: tuple[str, ...]
    success: int
    body: dict | None = None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    def call(self, client: Api, ids: dict, **kwargs):
        extra = {} if self.body is None else {"json": self.body}
        return client.request(self.method, self.path.format(**ids), **extra, **kwargs)

    @property
    def has_id(self) -> bool:
        return "{" in self.path


ENDPOINTS = [
    Endpoint("GET", "submissions/", ("submissions:read",), 200),
    Endpoint("POST", "submissions/", ("submissions:write",), 202, EXAMPLE),
    Endpoint("GET", "submissions/{submission}", ("submissions:read",), 200),
    Endpoint("PATCH", "submissions/{submission}", ("submissions:write",), 200, {"name": "renamed"}),
    Endpoint("DELETE", "submissions/{submission}", ("submissions:write",), 204),
    Endpoint("POST", "submissions/{submission}/reexecute", ("submissions:write",), 202),
    Endpoint("GET", "results/", ("results:read",), 200),
    Endpoint("GET", "results/{result}", ("results:read",), 200),
    Endpoint("PATCH", "results/{result}", ("results:write",), 200, {"name": "renamed"}),
    Endpoint("DELETE", "results/{result}", ("results:write",), 204),
    Endpoint("POST", "results/{result}/continue", ("results:write", "submissions:write"), 202,
             {"num_generations": 3}),
    Endpoint("GET", "results/{result}/files/log.txt", ("results:read",), 200),
    Endpoint("POST", "code-uploads/", ("code-uploads:write",), 201, {"content": SPHERE}),
    Endpoint("GET", "code-uploads/", ("code-uploads:read",), 200),
    Endpoint("GET", "code-uploads/{upload}", ("code-uploads:read",), 200),
    Endpoint("POST", "imports/", ("imports:write",), 201, IMPORT_BODY),
    Endpoint("GET", "webhooks/", ("webhooks:read",), 200),
    Endpoint("GET", "webhooks/{webhook}/deliveries", ("webhooks:read",), 200),
]
WITH_ID = [endpoint for endpoint in ENDPOINTS if endpoint.has_id]
SCOPE_CASES = [(endpoint, scope) for endpoint in ENDPOINTS for scope in endpoint.scopes]


def test_endpoint_table_covers_every_keyed_route(vilvik_emulator_server):
    """A route added to the API without a row here fails this test."""
    app = vilvik_emulator_server.app
    routes, open_routes = set(), set()
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if not rule.rule.startswith("/api/v1/"):
            continue
        template = rule.rule.removeprefix("/api/v1/").rstrip("/")
        if not getattr(view, "required_scopes", None):
            open_routes.add(template)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((method, template, tuple(getattr(view, "required_scopes", ()))))
    # §2's exceptions (health; device login once it exists) plus the published OpenAPI document
    assert open_routes <= {"health", "openapi.json", "auth/device/code", "auth/device/token"}, open_routes
    routes = {route for route in routes if route[1] not in open_routes}
    table = {(endpoint.method, endpoint.path.replace("{submission}", "<submission_id>")
              .replace("{result}", "<result_id>").replace("log.txt", "<name>").replace("{upload}", "<code_id>")
              .replace("{webhook}", "<webhook_id>").rstrip("/"), endpoint.scopes)
             for endpoint in ENDPOINTS}
    assert routes == table


@pytest.fixture
def ids(api, control) -> dict:
    """A submission finished with a canned result, owned by the default account."""
    submission_id = api.create()["id"]
    control.succeed(submission_id, best_solution_fitness=2.0)
    detail = api.get(f"submissions/{submission_id}").json()
    assert detail["status"] == "succeeded" and detail["result_id"], detail
    upload = api.post("code-uploads", json={"content": SPHERE}).json()["code_id"]
    webhook = control.create_webhook("http://127.0.0.1:9/hooks")["id"]
    return {"submission": submission_id, "result": detail["result_id"], "upload": upload, "webhook": webhook}


def assert_untouched(api, ids) -> None:
    """Nothing the rejected request could have done happened."""
    assert [row["id"] for row in api.get("submissions").json()["results"]] == [ids["submission"]]
    result = api.get(f"results/{ids['result']}")
    assert result.status_code == 200 and result.json()["name"] is None, result.text


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["request_id"] == response.headers["X-Request-Id"]
    return error


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def emulator_now(control) -> datetime:
    return datetime.fromisoformat(control.clock()["now"].replace("Z", "+00:00"))


# ---------------------------------------------------------------------- a key with exactly the scopes works

@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_key_with_exactly_the_required_scopes_succeeds(api, control, ids, endpoint):
    key = control.create_key(scopes=list(endpoint.scopes))["key"]
    response = endpoint.call(api, ids, key=key)
    assert response.status_code == endpoint.success, response.text


# ---------------------------------------------------------------------- 401 matrix

def _no_header(control):
    return None


def _header(value):
    return lambda control: value


def _unknown_key(control):
    return "Bearer vlk_test_" + "A" * 32


def _tampered_key(control):
    """A real key's prefix with a wrong tail (found by prefix, rejected by hash)."""
    secret = control.create_key()["key"]
    return "Bearer " + secret[:-1] + ("B" if secret[-1] != "B" else "C")


def _revoked_key(control):
    created = control.create_key()
    control.revoke_key(created["id"])
    return f"Bearer {created['key']}"


def _expired_key(control):
    return f"Bearer {control.create_key(expires_at='2000-01-01T00:00:00Z')['key']}"


def _expired_by_clock(control):
    """Valid now; expired once the emulator's clock moves past ``expires_at``."""
    expires_at = emulator_now(control) + timedelta(hours=1)
    secret = control.create_key(expires_at=iso(expires_at))["key"]
    probe = Api(control.base_url, secret).get("submissions")
    assert probe.status_code == 200, probe.text
    control.clock_advance(3600 + 5)
    return f"Bearer {secret}"


def _deactivated_account(control):
    secret = control.create_key()["key"]
    control.update_account("acct_default", active=False)
    return f"Bearer {secret}"


def _unverified_owner(control):
    """A key whose owner has not verified their email address (contract §2)."""
    account = control.create_account(name="unverified", email_verified=False)
    return f"Bearer {control.create_key(account['id'])['key']}"


CREDENTIALS = {
    "no-header": _no_header,
    "empty-header": _header(""),
    "basic": _header("Basic x"),
    "basic-with-real-key": lambda control: "Basic " + control.api_key,
    "bearer-alone": _header("Bearer"),
    "bearer-space": _header("Bearer "),
    "bearer-two-tokens": _header("Bearer a b"),
    "key-without-scheme": lambda control: control.api_key,
    "unknown-key": _unknown_key,
    "tampered-key": _tampered_key,
    "revoked-key": _revoked_key,
    "expired-key": _expired_key,
    "expired-by-clock": _expired_by_clock,
    "deactivated-account": _deactivated_account,
    "unverified-owner": _unverified_owner,
}


@pytest.mark.parametrize("case", list(CREDENTIALS))
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_bad_credentials_are_401(api, control, ids, endpoint, case):
    authorization = CREDENTIALS[case](control)
    headers = {} if authorization is None else {"Authorization": authorization}
    response = endpoint.call(api, ids, key=None, headers=headers)
    error = assert_error(response, 401, "unauthorized")
    assert "details" not in error
    if case == "deactivated-account":
        control.update_account("acct_default", active=True)
    assert_untouched(api, ids)


def test_reactivated_account_key_works_again(api, control):
    secret = control.create_key()["key"]
    control.update_account("acct_default", active=False)
    assert error_code(api.get("submissions", key=secret)) == "unauthorized"
    control.update_account("acct_default", active=True)
    assert api.get("submissions", key=secret).status_code == 200


def test_key_is_valid_until_its_expiry(api, control):
    control.clock_freeze()
    expires_at = emulator_now(control).replace(microsecond=0) + timedelta(minutes=10)
    secret = control.create_key(expires_at=iso(expires_at))["key"]
    control.clock_set(iso(expires_at - timedelta(seconds=1)))
    assert api.get("submissions", key=secret).status_code == 200
    control.clock_set(iso(expires_at + timedelta(seconds=1)))
    assert error_code(api.get("submissions", key=secret)) == "unauthorized"


# ---------------------------------------------------------------------- 403 scope_required

@pytest.mark.parametrize("endpoint, scope", SCOPE_CASES, ids=lambda value: str(value))
def test_key_missing_a_required_scope_is_403_naming_it(api, control, ids, endpoint, scope):
    secret = control.create_key(scopes=[item for item in ALL_SCOPES if item != scope])["key"]
    response = endpoint.call(api, ids, key=secret)
    error = assert_error(response, 403, "scope_required")
    assert scope in error["message"]
    for other in set(endpoint.scopes) - {scope}:
        assert other not in error["message"], "only the missing scope is named"
    assert_untouched(api, ids)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_key_without_any_scope_is_403(api, control, ids, endpoint):
    secret = control.create_key(scopes=[])["key"]
    error = assert_error(endpoint.call(api, ids, key=secret), 403, "scope_required")
    assert all(scope in error["message"] for scope in endpoint.scopes)
    assert_untouched(api, ids)


# ---------------------------------------------------------------------- another account's ids

@pytest.mark.parametrize("endpoint", WITH_ID, ids=str)
def test_other_accounts_id_is_404_like_a_missing_id(api, other_account, ids, endpoint):
    foreign = endpoint.call(other_account, ids)
    missing = endpoint.call(other_account, {name: MISSING_ID for name in ids})
    for response in (foreign, missing):
        assert_error(response, 404, "not_found")
    assert foreign.json()["error"]["message"] == missing.json()["error"]["message"]
    assert set(foreign.json()["error"]) == set(missing.json()["error"])
    assert_untouched(api, ids)


def test_other_accounts_lists_do_not_show_its_rows(other_account, ids):
    submissions = other_account.get("submissions")
    assert submissions.status_code == 200 and submissions.json()["results"] == []
    for params in ({}, {"submission_id": ids["submission"]}):
        results = other_account.get("results", params=params)
        assert results.status_code == 200 and results.json()["results"] == [], params


# ---------------------------------------------------------------------- rotation and scope edits

def test_rotation_invalidates_the_old_secret_immediately(api, control):
    created = control.create_key(name="rotating")
    assert api.get("submissions", key=created["key"]).status_code == 200
    rotated = control.rotate_key(created["id"])
    assert rotated["id"] == created["id"]
    assert rotated["key"] != created["key"] and rotated["key"].startswith("vlk_test_")
    assert rotated["scopes"] == created["scopes"]
    old = api.get("submissions", key=created["key"])
    assert_error(old, 401, "unauthorized")
    assert api.get("submissions", key=rotated["key"]).status_code == 200
    listed = {key["id"]: key for key in control.keys()}
    assert listed[created["id"]]["prefix"] == rotated["key"][:12]


def test_scope_edit_applies_to_the_same_secret(api, control):
    created = control.create_key(scopes=["submissions:read"])
    secret = created["key"]
    assert api.get("submissions", key=secret).status_code == 200
    assert error_code(api.get("results", key=secret)) == "scope_required"
    control.update_key(created["id"], scopes=["results:read"])
    assert api.get("results", key=secret).status_code == 200
    error = assert_error(api.get("submissions", key=secret), 403, "scope_required")
    assert "submissions:read" in error["message"]


def test_key_records_last_use(api, control):
    control.clock_freeze()
    created = control.create_key()
    assert created["last_used_at"] is None
    assert api.get("submissions", key=created["key"]).status_code == 200
    listed = {key["id"]: key for key in control.keys()}[created["id"]]
    assert listed["last_used_at"] == control.clock()["now"]
    assert listed["last_used_ip"] == "127.0.0.1"


# ---------------------------------------------------------------------- no key needed

@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer vlk_test_unknown"}], ids=["none", "bad"])
def test_health_needs_no_key(api, headers):
    response = api.get("health", key=None, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"


# ---------------------------------------------------------------------- keys are stored hashed

def _forms_of(secret: str) -> list[str]:
    digest = hashlib.sha256(secret.encode()).digest()
    return [secret, digest.hex(), digest.hex().upper()]


def test_key_listing_never_shows_secret_or_hash(control):
    created = control.create_key(name="listed")
    rotated = control.rotate_key(control.create_key(name="rotated")["id"])
    listing = control.keys()
    text = json.dumps(listing)
    for secret in (created["key"], rotated["key"], control.api_key):
        for form in _forms_of(secret):
            assert form not in text
    for key in listing:
        assert not {"key", "hash", "secret", "key_hash"} & set(key), key
        assert key["prefix"] and len(key["prefix"]) == 12
    fetched = control.request("GET", f"keys/{created['id']}")
    assert created["key"] not in json.dumps(fetched) and "hash" not in fetched


def test_store_does_not_hold_a_non_default_secret(api, control, vilvik_emulator_server):
    created = control.create_key(name="stored")
    rotated_from = control.create_key(name="rotated")
    rotated = control.rotate_key(rotated_from["id"])
    for secret in (created["key"], rotated["key"]):
        assert api.get("submissions", key=secret).status_code == 200
    dump = json.dumps(vilvik_emulator_server.emulator.store.export())
    for secret in (created["key"], rotated_from["key"], rotated["key"]):
        assert secret not in dump
    assert hashlib.sha256(created["key"].encode()).hexdigest() in dump, "the hash is what is stored"


# ---------------------------------------------------------------------- email verification (§2)


def test_an_owner_not_email_verified_is_401_until_verified(api, control, vilvik_client):
    import vilvik

    updated = control.update_account("acct_default", email_verified=False)
    assert updated["email_verified"] is False

    refused = api.get("submissions")
    error = assert_error(refused, 401, "unauthorized")
    assert "verified" in error["message"]
    with pytest.raises(vilvik.AuthenticationError) as raised:
        vilvik_client.submissions.list()
    assert raised.value.status_code == 401 and raised.value.code == "unauthorized"
    assert api.get("health", key=None).status_code == 200  # §2's exception needs no key at all

    assert control.update_account("acct_default", email_verified=True)["email_verified"] is True
    assert api.get("submissions").status_code == 200


def test_the_control_plane_sets_and_shows_email_verified(control):
    created = control.create_account(name="new hire", email_verified=False)
    assert created["email_verified"] is False
    assert control.create_account(name="default verified")["email_verified"] is True  # the emulator's default

    listed = {account["id"]: account for account in control.accounts()}
    assert listed[created["id"]]["email_verified"] is False
    assert control.request("GET", f"accounts/{created['id']}")["email_verified"] is False
    assert control.update_account(created["id"], email_verified=True)["email_verified"] is True
    from vilvik_emulator.testing import ControlError

    with pytest.raises(ControlError) as raised:
        control.update_account(created["id"], email_verified="yes")
    assert raised.value.status == 422
    assert [detail["field"] for detail in raised.value.payload["error"]["details"]] == ["email_verified"]


def test_the_dashboard_accounts_page_shows_and_sets_email_verified(control, vilvik_emulator_server):
    import re

    import requests

    account = control.create_account(name="unverified team", email_verified=False)
    dashboard = requests.Session()
    page = dashboard.get(f"{vilvik_emulator_server.url}/accounts", timeout=30)
    assert page.status_code == 200 and "Email verified" in page.text
    checkbox = re.search(rf'<input form="account-{account["id"]}" type="checkbox" name="email_verified"([^>]*)>',
                         page.text)
    assert checkbox is not None and "checked" not in checkbox.group(1), page.text
    verified = re.search(r'<input form="account-acct_default" type="checkbox" name="email_verified"([^>]*)>',
                         page.text)
    assert verified is not None and "checked" in verified.group(1)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)

    saved = dashboard.post(f"{vilvik_emulator_server.url}/accounts/{account['id']}/update",
                           data={"csrf_token": token, "active": "on", "email_verified": "on"}, timeout=30)

    assert saved.status_code == 200, saved.text
    assert control.request("GET", f"accounts/{account['id']}")["email_verified"] is True
