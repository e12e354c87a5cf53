"""Routes of ``/_emulator``: health, reset, accounts, keys, clock, waiting, job control (contract §13).

Open on loopback; when the server binds another address every call needs the admin
token in ``X-Admin-Token`` (or ``Authorization: Bearer <token>``). Each view parses
its body or query with its schema and calls one service, the same calls the CLI's
offline mode and the dashboard make.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from ..api.common import api_base, body, emulator, query, query_values, reply
from ..core import render
from ..core.records import KeyRecord, SubmissionRecord
from ..errors import ApiError
from ..guard import refuse_cross_site
from ..hosts import LOOPBACK_NAMES
from ..schemas.accounts import AccountCreate, AccountUpdate, KeyCreate, KeyUpdate
from ..schemas.control import (
    AccountFilter,
    AdvanceRequest,
    ClockAction,
    ConfigChanges,
    DrainRequest,
    FaultCreate,
    JournalQuery,
    ResetRequest,
    SnapshotImport,
    WaitQuery,
)
from ..schemas.device import DeviceApproval
from ..schemas.pages import Paging
from ..schemas.submissions import TERMINAL
from ..schemas.webhooks import DeliveryFilters, WebhookCreate, WebhookUpdate

blueprint = Blueprint("control", __name__, url_prefix="/_emulator")
# First: a web page's cross-site request is refused before anything else looks at it.
blueprint.before_request(refuse_cross_site)


@blueprint.before_request
def require_admin_token() -> None:
    settings = emulator().settings
    if settings.host in LOOPBACK_NAMES and not settings.admin_token:
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
def health() -> ResponseReturnValue:
    instance = emulator()
    return reply({"status": "ok", "version": instance.version, "mode": instance.settings.mode,
                  "uptime_seconds": instance.uptime_seconds(), "store": instance.store.stats(),
                  "runner": instance.runner.stats(), "clock": instance.clock.state()})


@blueprint.post("/reset")
def reset() -> ResponseReturnValue:
    request_body = body(ResetRequest, optional=True)
    emulator().reset(request_body.account, keep_config=request_body.keep_config)
    return reply({"status": "reset", "account": request_body.account})


# ---------------------------------------------------------------------- accounts

@blueprint.post("/accounts")
def create_account() -> ResponseReturnValue:
    return reply(render.account(emulator().accounts.create_account(body(AccountCreate, optional=True))), 201)


@blueprint.get("/accounts")
def list_accounts() -> ResponseReturnValue:
    return reply({"results": [render.account(account) for account in emulator().accounts.list_accounts()]})


@blueprint.get("/accounts/<account_id>")
def get_account(account_id: str) -> ResponseReturnValue:
    return reply(render.account(emulator().accounts.get_account(account_id)))


@blueprint.patch("/accounts/<account_id>")
def update_account(account_id: str) -> ResponseReturnValue:
    return reply(render.account(emulator().accounts.update_account(account_id, body(AccountUpdate))))


@blueprint.get("/accounts/<account_id>/ledger")
def account_ledger(account_id: str) -> ResponseReturnValue:
    instance = emulator()
    account = instance.accounts.get_account(account_id)
    return reply({"balance": account.credits,
                  "results": [render.ledger_entry(entry) for entry in instance.credits.ledger(account_id)]})


@blueprint.get("/accounts/<account_id>/webhook-secret")
def account_webhook_secret(account_id: str) -> ResponseReturnValue:
    """The secret that signs deliveries to submissions' own ``webhook_url``."""
    return reply({"secret": emulator().accounts.webhook_secret(account_id)})


# ---------------------------------------------------------------------- keys

def _key(record: KeyRecord) -> dict:
    return render.key(record, emulator().accounts.key_status(record))


def _key_with_secret(record: KeyRecord, secret: str) -> dict:
    return render.key_with_secret(record, emulator().accounts.key_status(record), secret)


@blueprint.post("/keys")
def create_key() -> ResponseReturnValue:
    return reply(_key_with_secret(*emulator().accounts.create_key(body(KeyCreate, optional=True))), 201)


@blueprint.get("/keys")
def list_keys() -> ResponseReturnValue:
    return reply({"results": [_key(record) for record in emulator().accounts.list_keys(query(AccountFilter).account)]})


@blueprint.get("/keys/<key_id>")
def get_key(key_id: str) -> ResponseReturnValue:
    return reply(_key(emulator().accounts.get_key(key_id)))


@blueprint.delete("/keys/<key_id>")
def revoke_key(key_id: str) -> ResponseReturnValue:
    return reply(_key(emulator().accounts.revoke_key(key_id)))


@blueprint.post("/keys/<key_id>/rotate")
def rotate_key(key_id: str) -> ResponseReturnValue:
    return reply(_key_with_secret(*emulator().accounts.rotate_key(key_id)))


@blueprint.patch("/keys/<key_id>")
def update_key(key_id: str) -> ResponseReturnValue:
    return reply(_key(emulator().accounts.update_key(key_id, body(KeyUpdate))))


# ---------------------------------------------------------------------- runtime configuration

@blueprint.get("/config")
def read_config() -> ResponseReturnValue:
    return reply(emulator().settings_view())


@blueprint.patch("/config")
def update_config() -> ResponseReturnValue:
    return reply(emulator().configure(body(ConfigChanges)))


# ---------------------------------------------------------------------- faults, journal, snapshots

@blueprint.get("/faults")
def list_faults() -> ResponseReturnValue:
    return reply({"results": emulator().faults.list()})


@blueprint.post("/faults")
def add_fault() -> ResponseReturnValue:
    return reply(emulator().faults.add(body(FaultCreate)), 201)


@blueprint.delete("/faults")
def clear_faults() -> ResponseReturnValue:
    emulator().faults.clear()
    return reply(None, 204)


@blueprint.delete("/faults/<fault_id>")
def remove_fault(fault_id: str) -> ResponseReturnValue:
    emulator().faults.remove(fault_id)
    return reply(None, 204)


@blueprint.get("/requests")
def request_journal() -> ResponseReturnValue:
    return reply({"results": emulator().journal.query(query(JournalQuery))})


@blueprint.delete("/requests")
def clear_request_journal() -> ResponseReturnValue:
    emulator().journal.clear()
    return reply(None, 204)


@blueprint.get("/snapshot")
def export_snapshot() -> ResponseReturnValue:
    return reply(emulator().export_snapshot())


@blueprint.put("/snapshot")
def import_snapshot() -> ResponseReturnValue:
    emulator().import_snapshot(body(SnapshotImport))
    return reply({"status": "imported"})


# ---------------------------------------------------------------------- webhooks

@blueprint.post("/webhooks")
def create_webhook() -> ResponseReturnValue:
    return reply(render.webhook_with_secret(*emulator().webhooks.create(body(WebhookCreate))), 201)


@blueprint.get("/webhooks")
def list_all_webhooks() -> ResponseReturnValue:
    account = query(AccountFilter).account
    return reply({"results": [render.webhook_admin(webhook) for webhook in emulator().webhooks.of_account(account)]})


@blueprint.get("/webhooks/<webhook_id>")
def get_webhook(webhook_id: str) -> ResponseReturnValue:
    return reply(render.webhook_admin(emulator().webhooks.get(webhook_id)))


@blueprint.patch("/webhooks/<webhook_id>")
def update_webhook(webhook_id: str) -> ResponseReturnValue:
    return reply(render.webhook_admin(emulator().webhooks.update(webhook_id, body(WebhookUpdate))))


@blueprint.delete("/webhooks/<webhook_id>")
def delete_webhook(webhook_id: str) -> ResponseReturnValue:
    emulator().webhooks.delete(webhook_id)
    return reply(None, 204)


@blueprint.post("/webhooks/<webhook_id>/test")
def test_webhook(webhook_id: str) -> ResponseReturnValue:
    return reply(emulator().webhooks.send_test(webhook_id), 202)


@blueprint.get("/webhooks/<webhook_id>/deliveries")
def webhook_deliveries(webhook_id: str) -> ResponseReturnValue:
    service = emulator().webhooks
    service.get(webhook_id)
    return reply(service.deliveries(query(Paging), query_values(), request.base_url, render.delivery,
                                    webhook_id=webhook_id).as_dict())


@blueprint.get("/deliveries")
def all_deliveries() -> ResponseReturnValue:
    filters = query(DeliveryFilters)
    return reply(emulator().webhooks.deliveries(query(Paging), query_values(), request.base_url, render.delivery,
                                                account_id=filters.account, submission_id=filters.submission_id,
                                                event_id=filters.event_id).as_dict())


@blueprint.post("/deliveries/drain")
def drain_deliveries() -> ResponseReturnValue:
    return reply(emulator().webhooks.drain(float(body(DrainRequest, optional=True).timeout)))


# ---------------------------------------------------------------------- device logins

@blueprint.get("/device-logins")
def pending_device_logins() -> ResponseReturnValue:
    return reply({"results": emulator().device_login.pending()})


@blueprint.post("/device-logins/<user_code>/approve")
def approve_device_login(user_code: str) -> ResponseReturnValue:
    instance = emulator()
    approval = body(DeviceApproval, optional=True)
    if approval.account is not None:
        instance.accounts.get_account(approval.account)
    return reply(instance.device_login.approve(user_code, approval.account))


@blueprint.post("/device-logins/<user_code>/deny")
def deny_device_login(user_code: str) -> ResponseReturnValue:
    return reply(emulator().device_login.deny(user_code))


# ---------------------------------------------------------------------- clock

@blueprint.get("/clock")
def read_clock() -> ResponseReturnValue:
    return reply(emulator().clock.state())


@blueprint.post("/clock")
def move_clock() -> ResponseReturnValue:
    instance = emulator()
    instance.clock.apply(body(ClockAction, drop_tags=1))
    instance.webhooks.wake()  # retries scheduled on the clock may now be due
    return reply(instance.clock.state())


# ---------------------------------------------------------------------- job control

@blueprint.get("/submissions/<submission_id>/wait")
def wait_for_submission(submission_id: str) -> ResponseReturnValue:
    wait = query(WaitQuery)
    instance = emulator()
    instance.submissions.require(submission_id)

    def reached(record: SubmissionRecord) -> bool:
        return record.status in TERMINAL if wait.status == "terminal" else record.status == wait.status

    try:
        record = instance.runs.wait(submission_id, reached, wait.timeout)
    except TimeoutError:
        current = instance.submissions.require(submission_id)
        raise ApiError("wait_timeout", f"submission {submission_id} did not reach {wait.status} within "
                                       f"{wait.timeout:g} s (status {current.status})") from None
    return reply(instance.runs.detail(record, api_base()))


@blueprint.post("/submissions/<submission_id>/advance")
def advance_submission(submission_id: str) -> ResponseReturnValue:
    move = body(AdvanceRequest, drop_tags=1)
    instance = emulator()
    record = instance.runs.advance(instance.submissions.require(submission_id), move.to,
                                   result=getattr(move, "result", None), error=getattr(move, "error", None))
    return reply(instance.runs.detail(record, api_base()))


@blueprint.post("/submissions/<submission_id>/cancel")
def cancel_submission(submission_id: str) -> ResponseReturnValue:
    instance = emulator()
    record = instance.submissions.require(submission_id)
    account = instance.accounts.get_account(record.account_id)
    return reply(instance.runs.detail(instance.runs.cancel(account, submission_id), api_base()))


@blueprint.get("/submissions/<submission_id>/log")
def submission_log(submission_id: str) -> ResponseReturnValue:
    """The captured output of a run that failed or was cancelled (a success keeps it among its result's files)."""
    instance = emulator()
    record = instance.submissions.require(submission_id)
    payload = instance.runs.run_log(record)
    if payload is None:
        raise ApiError("not_found", f"submission {submission_id} has no log (it has not run, or it succeeded: "
                                    "its result has log.txt)")
    response = Response(payload, mimetype="text/plain")
    response.headers["Content-Type"] = "text/plain; charset=utf-8"
    return response
