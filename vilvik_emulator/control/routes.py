"""Routes of ``/_emulator``: health, reset, accounts, keys, clock, waiting, job control.

Open on loopback; when the server binds another address every call needs the admin
token in ``X-Admin-Token`` (or ``Authorization: Bearer <token>``).
"""

from __future__ import annotations

import hmac
import math

from flask import Blueprint, request

from ..api.common import api_base, emulator, json_body, reply
from ..clock import parse_ts
from ..config import RUN_MODES
from ..core.accounts import TIERS, validate_scopes
from ..core.submissions import RUN_ERROR_CODES, STATUSES, TERMINAL
from ..errors import ApiError, FieldErrors, field_error, invalid_parameter, not_found
from ..guard import refuse_cross_site

blueprint = Blueprint("control", __name__, url_prefix="/_emulator")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
# First: a web page's cross-site request is refused before anything else looks at it.
blueprint.before_request(refuse_cross_site)


@blueprint.before_request
def require_admin_token() -> None:
    settings = emulator().settings
    if settings.host in LOOPBACK and not settings.admin_token:
        return
    expected = settings.admin_token or ""
    presented = request.headers.get("X-Admin-Token")
    if presented is None:
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        presented = token.strip() if scheme.lower() == "bearer" else ""
    if not expected or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise ApiError("unauthorized", "the control plane needs the admin token (X-Admin-Token header) "
                                       "when the server is not bound to loopback")


@blueprint.get("/health")
def health():
    instance = emulator()
    return reply({"status": "ok", "version": instance.version, "mode": instance.settings.mode,
                  "uptime_seconds": instance.uptime_seconds(), "store": instance.store.stats(),
                  "runner": instance.runner.stats(), "clock": instance.clock.state()})


@blueprint.post("/reset")
def reset():
    body = json_body()
    account_id = body.get("account")
    if account_id is not None and not isinstance(account_id, str):
        raise field_error("account", "must be an account id")
    emulator().reset(account_id, keep_config=bool(body.get("keep_config", False)))
    return reply({"status": "reset", "account": account_id})


# ---------------------------------------------------------------------- accounts

def _account_fields(body: dict, errors: FieldErrors, *, creating: bool) -> dict:
    allowed = ("name", "tier", "credits", "mode", "active")
    for name in body:
        if name not in allowed:
            errors.add(name, f"is not an account field ({', '.join(allowed)})")
    fields = {}
    if "name" in body:
        if not isinstance(body["name"], str) or not 1 <= len(body["name"]) <= 200:
            errors.add("name", "must be a string of 1 to 200 characters")
        fields["name"] = body["name"]
    if "tier" in body:
        if body["tier"] not in TIERS:
            errors.add("tier", f"must be one of {', '.join(TIERS)}")
        fields["tier"] = body["tier"]
    if "credits" in body:
        credits = body["credits"]
        if isinstance(credits, bool) or not isinstance(credits, (int, float)) or not math.isfinite(credits):
            errors.add("credits", "must be a number")
        else:
            fields["credits"] = float(credits)
    if "mode" in body:
        if body["mode"] is not None and body["mode"] not in RUN_MODES:
            errors.add("mode", f"must be one of {', '.join(RUN_MODES)} or null (the server's mode)")
        fields["mode"] = body["mode"]
    if "active" in body:
        if not isinstance(body["active"], bool):
            errors.add("active", "must be true or false")
        fields["active"] = body["active"]
    return fields


def _account_view(account: dict) -> dict:
    return {name: value for name, value in account.items() if name not in ("seq", "webhook_secret")}


@blueprint.post("/accounts")
def create_account():
    errors = FieldErrors()
    fields = _account_fields(json_body(), errors, creating=True)
    errors.raise_if_any()
    return reply(_account_view(emulator().accounts.create_account(**fields)), 201)


@blueprint.get("/accounts")
def list_accounts():
    return reply({"results": [_account_view(account) for account in emulator().accounts.list_accounts()]})


@blueprint.get("/accounts/<account_id>")
def get_account(account_id: str):
    return reply(_account_view(emulator().accounts.get_account(account_id)))


@blueprint.patch("/accounts/<account_id>")
def update_account(account_id: str):
    errors = FieldErrors()
    fields = _account_fields(json_body(), errors, creating=False)
    errors.raise_if_any()
    return reply(_account_view(emulator().accounts.update_account(account_id, fields)))


@blueprint.get("/accounts/<account_id>/ledger")
def account_ledger(account_id: str):
    instance = emulator()
    account = instance.accounts.get_account(account_id)
    return reply({"balance": account["credits"], "results": instance.credits.ledger(account_id)})


# ---------------------------------------------------------------------- keys

def _expiry(body: dict, errors: FieldErrors):
    raw = body.get("expires_at")
    if raw is None:
        return None
    try:
        return parse_ts(raw)
    except (ValueError, TypeError):
        errors.add("expires_at", "must be an ISO-8601 timestamp or null")
        return None


@blueprint.post("/keys")
def create_key():
    body = json_body()
    errors = FieldErrors()
    for name in body:
        if name not in ("account", "name", "scopes", "expires_at"):
            errors.add(name, "is not a key field (account, name, scopes, expires_at)")
    instance = emulator()
    account_id = body.get("account") or "acct_default"
    scopes = validate_scopes(body["scopes"], errors) if "scopes" in body else None
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > 200):
        errors.add("name", "must be a string of at most 200 characters")
    expires_at = _expiry(body, errors)
    errors.raise_if_any()
    if instance.store.get("accounts", account_id) is None:
        raise field_error("account", f"no account {account_id!r}")
    return reply(instance.accounts.create_key(account_id, name=name, scopes=scopes, expires_at=expires_at), 201)


@blueprint.get("/keys")
def list_keys():
    accounts = emulator().accounts
    return reply({"results": [accounts.key_view(record)
                              for record in accounts.list_keys(request.args.get("account"))]})


@blueprint.get("/keys/<key_id>")
def get_key(key_id: str):
    accounts = emulator().accounts
    return reply(accounts.key_view(accounts.get_key(key_id)))


@blueprint.delete("/keys/<key_id>")
def revoke_key(key_id: str):
    accounts = emulator().accounts
    return reply(accounts.key_view(accounts.revoke_key(key_id)))


@blueprint.post("/keys/<key_id>/rotate")
def rotate_key(key_id: str):
    return reply(emulator().accounts.rotate_key(key_id))


@blueprint.patch("/keys/<key_id>")
def update_key(key_id: str):
    body = json_body()
    errors = FieldErrors()
    changes = {}
    for name in body:
        if name not in ("scopes", "name", "expires_at"):
            errors.add(name, "cannot be changed (scopes, name, expires_at)")
    if "scopes" in body:
        changes["scopes"] = validate_scopes(body["scopes"], errors)
    if "name" in body:
        if not isinstance(body["name"], str) or len(body["name"]) > 200:
            errors.add("name", "must be a string of at most 200 characters")
        changes["name"] = body["name"]
    if "expires_at" in body:
        expiry = _expiry(body, errors)
        changes["expires_at"] = None if expiry is None else expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
    errors.raise_if_any()
    accounts = emulator().accounts
    return reply(accounts.key_view(accounts.update_key(key_id, changes)))


# ---------------------------------------------------------------------- runtime configuration

@blueprint.get("/config")
def read_config():
    return reply(emulator().settings_view())


@blueprint.patch("/config")
def update_config():
    return reply(emulator().configure(json_body()))


# ---------------------------------------------------------------------- faults, journal, snapshots

@blueprint.get("/faults")
def list_faults():
    return reply({"results": emulator().faults.list()})


@blueprint.post("/faults")
def add_fault():
    return reply(emulator().faults.add(json_body()), 201)


@blueprint.delete("/faults")
def clear_faults():
    emulator().faults.clear()
    return reply(None, 204)


@blueprint.delete("/faults/<fault_id>")
def remove_fault(fault_id: str):
    emulator().faults.remove(fault_id)
    return reply(None, 204)


@blueprint.get("/requests")
def request_journal():
    return reply({"results": emulator().journal.query(request.args)})


@blueprint.delete("/requests")
def clear_request_journal():
    emulator().journal.clear()
    return reply(None, 204)


@blueprint.get("/snapshot")
def export_snapshot():
    return reply(emulator().export_snapshot())


@blueprint.put("/snapshot")
def import_snapshot():
    try:
        emulator().import_snapshot(json_body())
    except ValueError as error:
        raise field_error("snapshot", str(error)) from None
    return reply({"status": "imported"})


# ---------------------------------------------------------------------- webhooks

@blueprint.get("/accounts/<account_id>/webhook-secret")
def account_webhook_secret(account_id: str):
    """The secret that signs deliveries to submissions' own ``webhook_url``."""
    return reply({"secret": emulator().webhooks.account_secret(account_id)})


@blueprint.post("/webhooks")
def create_webhook():
    body = json_body()
    account_id = body.get("account") or "acct_default"
    if not isinstance(account_id, str) or emulator().store.get("accounts", account_id) is None:
        raise field_error("account", f"no account {account_id!r}")
    return reply(emulator().webhooks.create(account_id, {k: v for k, v in body.items() if k != "account"}), 201)


@blueprint.get("/webhooks")
def list_all_webhooks():
    return reply({"results": emulator().webhooks.list(request.args.get("account"))})


@blueprint.get("/webhooks/<webhook_id>")
def get_webhook(webhook_id: str):
    service = emulator().webhooks
    return reply(service.view(service.get(webhook_id)))


@blueprint.patch("/webhooks/<webhook_id>")
def update_webhook(webhook_id: str):
    return reply(emulator().webhooks.update(webhook_id, json_body()))


@blueprint.delete("/webhooks/<webhook_id>")
def delete_webhook(webhook_id: str):
    emulator().webhooks.delete(webhook_id)
    return reply(None, 204)


@blueprint.post("/webhooks/<webhook_id>/test")
def test_webhook(webhook_id: str):
    return reply(emulator().webhooks.send_test(webhook_id), 202)


@blueprint.get("/webhooks/<webhook_id>/deliveries")
def webhook_deliveries(webhook_id: str):
    service = emulator().webhooks
    service.get(webhook_id)
    return reply(service.deliveries(request.args, request.base_url, webhook_id=webhook_id))


@blueprint.get("/deliveries")
def all_deliveries():
    args = request.args
    return reply(emulator().webhooks.deliveries(args, request.base_url, account_id=args.get("account"),
                                                submission_id=args.get("submission_id"),
                                                event_id=args.get("event_id")))


@blueprint.post("/deliveries/drain")
def drain_deliveries():
    timeout = json_body().get("timeout", 30)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 <= timeout <= 600:
        raise field_error("timeout", "must be a number of seconds between 0 and 600")
    return reply(emulator().webhooks.drain(float(timeout)))


# ---------------------------------------------------------------------- device logins

@blueprint.get("/device-logins")
def pending_device_logins():
    return reply({"results": emulator().device_login.pending()})


@blueprint.post("/device-logins/<user_code>/approve")
def approve_device_login(user_code: str):
    body = json_body()
    account_id = body.get("account")
    if account_id is not None:
        emulator().accounts.get_account(account_id)
    return reply(emulator().device_login.approve(user_code, account_id))


@blueprint.post("/device-logins/<user_code>/deny")
def deny_device_login(user_code: str):
    return reply(emulator().device_login.deny(user_code))


# ---------------------------------------------------------------------- clock

@blueprint.get("/clock")
def read_clock():
    return reply(emulator().clock.state())


@blueprint.post("/clock")
def move_clock():
    body = json_body()
    clock = emulator().clock
    action = body.get("action")
    if action == "freeze":
        clock.freeze()
    elif action == "resume":
        clock.resume()
    elif action == "set":
        try:
            clock.set(parse_ts(body.get("to")))
        except (ValueError, TypeError):
            raise field_error("to", "must be an ISO-8601 timestamp") from None
    elif action == "advance":
        seconds = body.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
            raise field_error("seconds", "must be a number of seconds")
        clock.advance(seconds)
    else:
        raise field_error("action", "must be freeze, resume, set or advance")
    emulator().webhooks.wake()  # retries scheduled on the clock may now be due
    return reply(clock.state())


# ---------------------------------------------------------------------- job control

def _submission(submission_id: str) -> dict:
    submission = emulator().store.get("submissions", submission_id)
    if submission is None:
        raise not_found("submission")
    return submission


@blueprint.get("/submissions/<submission_id>/wait")
def wait_for_submission(submission_id: str):
    target = request.args.get("status", "terminal")
    if target not in ("terminal", *STATUSES):
        raise invalid_parameter("status", f"must be terminal or one of {', '.join(STATUSES)}")
    try:
        timeout = float(request.args.get("timeout", "30"))
    except ValueError:
        raise invalid_parameter("timeout", "must be a number of seconds") from None
    if not 0 <= timeout <= 3600:
        raise invalid_parameter("timeout", "must be between 0 and 3600 seconds")
    _submission(submission_id)

    def reached(submission: dict | None) -> bool:
        if submission is None:
            raise not_found("submission")
        if target == "terminal":
            return submission["status"] in TERMINAL
        return submission["status"] == target

    service = emulator().submissions
    try:
        submission = service.wait(submission_id, reached, timeout)
    except TimeoutError:
        current = _submission(submission_id)
        raise ApiError("wait_timeout", f"submission {submission_id} did not reach {target} within {timeout:g} s "
                                       f"(status {current['status']})") from None
    return reply(service.detail(submission, api_base()))


@blueprint.post("/submissions/<submission_id>/advance")
def advance_submission(submission_id: str):
    body = json_body()
    to = body.get("to")
    if to not in ("running", "run", "succeeded", "failed", "cancelled"):
        raise field_error("to", "must be running, run, succeeded, failed or cancelled")
    for name in ("result", "error"):
        if body.get(name) is not None and not isinstance(body[name], dict):
            raise field_error(name, "must be an object")
    code = (body.get("error") or {}).get("code")
    if code is not None and code not in RUN_ERROR_CODES:
        raise field_error("error.code", f"must be one of {', '.join(RUN_ERROR_CODES)}")
    service = emulator().submissions
    submission = service.advance(_submission(submission_id), to, result=body.get("result"), error=body.get("error"))
    return reply(service.detail(submission, api_base()))


@blueprint.post("/submissions/<submission_id>/cancel")
def cancel_submission(submission_id: str):
    submission = _submission(submission_id)
    service = emulator().submissions
    account = emulator().accounts.get_account(submission["account_id"])
    return reply(service.detail(service.cancel(account, submission_id), api_base()))
