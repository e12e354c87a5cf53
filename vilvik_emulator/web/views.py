"""The dashboard: server-rendered pages over the same services as the API.

The dashboard acts as one account at a time (chosen in the header, default the default
account) the way the hosted website acts as its signed-in user: submissions made here
have ``source: "web"`` and fire no webhooks. Every state-changing form is a POST
carrying a per-session CSRF token, the session cookie is ``SameSite=Strict``, and when
the server binds a non-loopback address (or has an admin token) every page needs the
admin token first. Jinja escapes every user-supplied string.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from typing import Any

from flask import Blueprint, Response, abort, current_app, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from .. import __version__
from ..clock import parse_ts
from ..config import RUN_MODES
from ..core import render
from ..core.accounts import DEFAULT_ACCOUNT_ID
from ..core.quick_types import QUICK_TYPES
from ..core.records import AccountRecord, ResultRecord, SubmissionRecord, WebhookRecord
from ..errors import ApiError
from ..hosts import LOOPBACK_NAMES
from ..schemas import parse_body
from ..schemas.accounts import ALL_SCOPES, TIERS, AccountCreate, AccountUpdate, KeyCreate
from ..schemas.pages import Paging
from ..schemas.results import ResultUpdate
from ..schemas.submissions import STATUSES, TERMINAL, SubmissionCreate, SubmissionFilters, SubmissionOverrides
from ..schemas.webhooks import SUBSCRIBABLE, WebhookCreate, WebhookUpdate
from . import forms

blueprint = Blueprint("web", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/static")
REVEAL_SECONDS = 600
CROSSOVER_TYPES = ("single_point", "two_points", "uniform", "scattered", "sbx")
PARENT_SELECTION_TYPES = ("sss", "rws", "sus", "rank", "random", "tournament", "nsga2", "tournament_nsga2")
MUTATION_TYPES = ("random", "swap", "inversion", "scramble", "adaptive", "polynomial")
GENE_TYPES = ("float", "int", "numpy.float32", "numpy.float64", "numpy.int32", "numpy.int64")

#: quick types whose fitness is costly: the form leaves generations and population to their own defaults
ML_TYPES = ("quick_sklearn_rfc_hyperparameters", "quick_keras_xor_training")
EXAMPLE_HYPERPARAMETERS = '''{
  "n_estimators": {"tune": true, "min": 5, "max": 30},
  "max_depth": {"tune": true, "min": 1, "max": 6},
  "criterion": {"fixed": "gini"}
}'''

EXAMPLE_FITNESS = '''def fitness_func(ga_instance, solution, solution_idx):
    """Higher is better: the best solution is all zeros."""
    return -sum(x * x for x in solution)
'''


def emulator():
    return current_app.extensions["vilvik_emulator"]


# ---------------------------------------------------------------------- guards

def _admin_required() -> bool:
    settings = emulator().settings
    return settings.host not in LOOPBACK_NAMES or bool(settings.admin_token)


@blueprint.before_request
def guard() -> ResponseReturnValue | None:
    if request.endpoint in ("web.login", "web.static"):
        return None
    if _admin_required() and not session.get("admin"):
        return redirect(url_for("web.login", next=request.full_path))
    if request.method == "POST":
        token = request.form.get("csrf_token", "")
        expected = session.get("csrf", "")
        if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
            abort(403, "This form has expired or did not come from this dashboard; reload the page and try again.")
        origin = request.headers.get("Origin")
        if origin and origin.rstrip("/") != request.host_url.rstrip("/"):
            abort(403, "Cross-site form submissions are refused.")
    g.account = _current_account()
    return None


@blueprint.app_context_processor
def template_globals() -> dict:
    if "csrf" not in session and request.blueprint == "web":
        session["csrf"] = secrets.token_urlsafe(32)
    return {"csrf_token": session.get("csrf", ""), "version": __version__, "status_names": STATUSES,
            "all_accounts": lambda: emulator().accounts.list_accounts()}


def _current_account() -> AccountRecord:
    accounts = emulator().accounts
    return accounts.find(session.get("account") or DEFAULT_ACCOUNT_ID) or accounts.get_account(DEFAULT_ACCOUNT_ID)


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if not _admin_required():
        return redirect("/")
    error = None
    if request.method == "POST":
        expected = emulator().settings.admin_token or ""
        if expected and hmac.compare_digest(request.form.get("token", "").encode(), expected.encode()):
            session.clear()
            session["admin"] = True
            target = request.args.get("next") or "/"
            return redirect(target if target.startswith("/") and not target.startswith("//") else "/")
        error = "That is not the admin token printed when the server started."
    return render_template("login.html", error=error)


@blueprint.post("/account")
def switch_account() -> ResponseReturnValue:
    account_id = request.form.get("account", "")
    if emulator().accounts.find(account_id) is None:
        abort(404)
    session["account"] = account_id
    back = request.form.get("back") or "/"
    return redirect(back if back.startswith("/") and not back.startswith("//") else "/")


# ---------------------------------------------------------------------- secrets shown once

_reveal_lock = threading.Lock()


def _remember_secret(label: str, secret: str) -> str:
    """Keep a new secret for one display; the token goes in the redirect URL, not the secret."""
    reveals = current_app.extensions.setdefault("vilvik_reveals", {})
    token = secrets.token_urlsafe(16)
    with _reveal_lock:
        now = time.monotonic()
        for old in [key for key, (_, _, at) in reveals.items() if now - at > REVEAL_SECONDS]:
            reveals.pop(old, None)
        reveals[token] = (label, secret, now)
    return token


def _take_secret() -> tuple[str, str] | None:
    token = request.args.get("reveal")
    if not token:
        return None
    with _reveal_lock:
        found = current_app.extensions.get("vilvik_reveals", {}).pop(token, None)
    return (found[0], found[1]) if found else None


# ---------------------------------------------------------------------- submissions

@blueprint.get("/")
def home() -> ResponseReturnValue:
    return redirect(url_for("web.submissions"))


@blueprint.get("/submissions")
def submissions() -> ResponseReturnValue:
    instance = emulator()
    args = {name: value for name, value in request.args.items() if value}
    error = None
    try:
        filters, paging = SubmissionFilters.model_validate(args), Paging.model_validate(args)
        page = instance.submissions.page(g.account, filters, paging, request.base_url, args, lambda row: row["id"])
        listed = page.as_dict()
    except (ApiError, ValueError) as failure:
        error, listed = getattr(failure, "message", "a filter is not valid"), {"results": [], "next": None,
                                                                                 "previous": None}
    page = listed
    rows = []
    for submission_id in listed["results"]:
        stored = instance.submissions.find(submission_id)
        if stored is not None:
            rows.append({**stored.dump(), "progress": instance.runs.live_progress(stored) or stored.progress})
    busy = any(row["status"] in ("queued", "running") for row in rows)
    return render_template("submissions.html", rows=rows, page=page, args=args, error=error, busy=busy,
                           filtered=bool(set(args) - {"cursor"}), api_url=request.host_url.rstrip("/") + "/api/v1")


@blueprint.route("/submissions/new", methods=["GET", "POST"])
def new_submission() -> ResponseReturnValue:
    values: dict[str, Any] = {"submission_type": request.args.get("type", "new"), "fitness_func": EXAMPLE_FITNESS,
                              "fitness_func_entry": "fitness_func", "num_genes": "5", "num_generations": "100",
                              "sol_per_pop": "10", "integers": "3, 7, 1, 9, 4, 2, 8, 5", "target": "20",
                              "items": "map, 5, 2\ncompass, 8, 1\nwater, 3, 3\nrope, 4, 2",
                              "dimensions": "weight:5", "dataset_name": "iris",
                              "hyperparameters": EXAMPLE_HYPERPARAMETERS}
    if values["submission_type"] in ML_TYPES:
        values.update(num_generations="", sol_per_pop="")
    errors: dict[str, str] = {}
    error = None
    if request.method == "POST":
        values = dict(request.form)
        try:
            body = parse_body(SubmissionCreate, forms.submission_body(request.form), drop_tags=1)
            created = emulator().runs.create(g.account, body, source="web")
        except ApiError as failure:
            errors = forms.field_errors(failure)
            error = failure.message
        else:
            return redirect(url_for("web.submission", submission_id=created.id))
    return render_template("submission_new.html", values=values, errors=errors, error=error,
                           quick_types=list(QUICK_TYPES), crossover_types=CROSSOVER_TYPES,
                           parent_selection_types=PARENT_SELECTION_TYPES, mutation_types=MUTATION_TYPES,
                           gene_types=GENE_TYPES), (422 if error else 200)


def _submission(submission_id: str) -> SubmissionRecord:
    try:
        return emulator().submissions.get(g.account, submission_id)
    except ApiError:
        abort(404, f"There is no submission {submission_id} in account {g.account.id}.")


@blueprint.get("/submissions/<submission_id>")
def submission(submission_id: str) -> ResponseReturnValue:
    instance = emulator()
    stored = _submission(submission_id)
    detail = instance.runs.detail(stored, request.host_url.rstrip("/") + "/api/v1")
    log = instance.runs.run_log(stored) if detail["status"] in ("failed", "cancelled") else None
    return render_template("submission.html", s=detail, stored=stored, terminal=detail["status"] in TERMINAL,
                           children=instance.submissions.children(submission_id), error=request.args.get("error"),
                           run_log=log.decode("utf-8", "replace") if log else None)


@blueprint.get("/submissions/<submission_id>/status.json")
def submission_status(submission_id: str) -> ResponseReturnValue:
    stored = _submission(submission_id)
    detail = emulator().runs.detail(stored, request.host_url.rstrip("/") + "/api/v1")
    return {"id": detail["id"], "status": detail["status"], "progress": detail["progress"]}


@blueprint.post("/submissions/<submission_id>/cancel")
def cancel_submission(submission_id: str) -> ResponseReturnValue:
    _submission(submission_id)
    try:
        emulator().runs.cancel(g.account, submission_id)
    except ApiError as failure:
        return redirect(url_for("web.submission", submission_id=submission_id, error=failure.message))
    return redirect(url_for("web.submission", submission_id=submission_id))


@blueprint.post("/submissions/<submission_id>/delete")
def delete_submission(submission_id: str) -> ResponseReturnValue:
    _submission(submission_id)
    emulator().runs.delete(g.account, submission_id)
    return redirect(url_for("web.submissions"))


@blueprint.post("/submissions/<submission_id>/reexecute")
def reexecute_submission(submission_id: str) -> ResponseReturnValue:
    _submission(submission_id)
    try:
        overrides = parse_body(SubmissionOverrides, forms.overrides(request.form))
        created = emulator().runs.reexecute(g.account, submission_id, overrides, source="web")
    except ApiError as failure:
        return redirect(url_for("web.submission", submission_id=submission_id, error=failure.message))
    return redirect(url_for("web.submission", submission_id=created.id))


# ---------------------------------------------------------------------- results

def _result(result_id: str) -> ResultRecord:
    try:
        return emulator().results.readable(g.account, result_id)
    except ApiError:
        abort(404, f"There is no result {result_id} in account {g.account.id}.")


@blueprint.get("/results/<result_id>")
def result(result_id: str) -> ResponseReturnValue:
    stored = _result(result_id)
    detail = render.result_detail(stored, request.host_url.rstrip("/") + "/api/v1")
    parent = emulator().submissions.find(stored.submission_id)
    return render_template("result.html", r=detail, submission=parent, error=request.args.get("error"),
                           saved=request.args.get("saved"), owned=stored.account_id == g.account.id)


@blueprint.get("/results/<result_id>/files/<name>")
def result_file(result_id: str, name: str) -> ResponseReturnValue:
    _result(result_id)
    try:
        payload, content_type = emulator().results.file(g.account, result_id, name)
    except ApiError:
        abort(404, f"The result has no file {name}.")
    response = Response(payload, mimetype=content_type.split(";")[0])
    response.headers["Content-Type"] = content_type
    if request.args.get("download"):
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@blueprint.post("/results/<result_id>/update")
def update_result(result_id: str) -> ResponseReturnValue:
    _result(result_id)
    body = {"name": request.form.get("name", "").strip() or None, "is_shared": request.form.get("is_shared") == "on"}
    try:
        emulator().results.update(g.account, result_id, ResultUpdate.model_validate(body))
    except ApiError as failure:
        return redirect(url_for("web.result", result_id=result_id, error=failure.message))
    return redirect(url_for("web.result", result_id=result_id, saved=1))


@blueprint.post("/results/<result_id>/continue")
def continue_result(result_id: str) -> ResponseReturnValue:
    _result(result_id)
    try:
        overrides = parse_body(SubmissionOverrides, forms.overrides(request.form))
        created = emulator().runs.continue_from(g.account, result_id, overrides, source="web")
    except ApiError as failure:
        return redirect(url_for("web.result", result_id=result_id, error=failure.message))
    return redirect(url_for("web.submission", submission_id=created.id))


# ---------------------------------------------------------------------- accounts and keys

def _form_body(model: Any, data: dict, back: str, **url_values: Any) -> tuple[Any, ResponseReturnValue | None]:
    """``data`` validated as ``model``, or a redirect to ``back`` that shows the first problem."""
    try:
        return parse_body(model, data), None
    except ApiError as failure:
        return None, redirect(url_for(back, error=failure.message, **url_values))


@blueprint.get("/accounts")
def accounts() -> ResponseReturnValue:
    service = emulator().accounts
    keys = [render.key(record, service.key_status(record)) for record in service.list_keys()]
    return render_template("accounts.html", accounts=service.list_accounts(), keys=keys, scopes=ALL_SCOPES,
                           tiers=TIERS, modes=RUN_MODES, revealed=_take_secret(), error=request.args.get("error"))


@blueprint.post("/accounts")
def create_account() -> ResponseReturnValue:
    body, refused = _form_body(AccountCreate, {"name": request.form.get("name", "").strip() or "account",
                                               "tier": request.form.get("tier", "free")}, "web.accounts")
    if refused:
        return refused
    emulator().accounts.create_account(body)
    return redirect(url_for("web.accounts"))


def _number_or_text(raw: str) -> Any:
    try:
        return float(raw)
    except ValueError:
        return raw  # the schema names it


@blueprint.post("/accounts/<account_id>/update")
def update_account(account_id: str) -> ResponseReturnValue:
    changes: dict[str, Any] = {"active": request.form.get("active") == "on",
                               "email_verified": request.form.get("email_verified") == "on"}
    if request.form.get("credits", "").strip():
        changes["credits"] = _number_or_text(request.form["credits"].strip())
    if request.form.get("tier"):
        changes["tier"] = request.form["tier"]
    if "mode" in request.form:
        changes["mode"] = request.form["mode"] or None
    body, refused = _form_body(AccountUpdate, changes, "web.accounts")
    if refused:
        return refused
    try:
        emulator().accounts.update_account(account_id, body)
    except ApiError as failure:
        return redirect(url_for("web.accounts", error=failure.message))
    return redirect(url_for("web.accounts"))


def _expiry(raw: str) -> str | None:
    """A ``datetime-local`` form value as RFC 3339 (taken as UTC); anything else is passed on for the schema."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        return parse_ts(raw).strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return raw


@blueprint.post("/keys")
def create_key() -> ResponseReturnValue:
    scopes = request.form.getlist("scopes")
    if not scopes:
        return redirect(url_for("web.accounts", error="choose at least one scope"))
    body, refused = _form_body(KeyCreate, {"account": request.form.get("account") or g.account.id,
                                           "name": request.form.get("name", "").strip() or None, "scopes": scopes,
                                           "expires_at": _expiry(request.form.get("expires_at", ""))},
                               "web.accounts")
    if refused:
        return refused
    try:
        key, secret = emulator().accounts.create_key(body)
    except ApiError as failure:
        return redirect(url_for("web.accounts", error=failure.message))
    return redirect(url_for("web.accounts", reveal=_remember_secret(f"key {key.name} ({key.id})", secret)))


@blueprint.post("/keys/<key_id>/revoke")
def revoke_key(key_id: str) -> ResponseReturnValue:
    try:
        emulator().accounts.revoke_key(key_id)
    except ApiError as failure:
        return redirect(url_for("web.accounts", error=failure.message))
    return redirect(url_for("web.accounts"))


@blueprint.post("/keys/<key_id>/rotate")
def rotate_key(key_id: str) -> ResponseReturnValue:
    try:
        key, secret = emulator().accounts.rotate_key(key_id)
    except ApiError as failure:
        return redirect(url_for("web.accounts", error=failure.message))
    return redirect(url_for("web.accounts", reveal=_remember_secret(f"rotated key {key.name} ({key.id})", secret)))


# ---------------------------------------------------------------------- webhooks

@blueprint.get("/webhooks")
def webhooks() -> ResponseReturnValue:
    service = emulator().webhooks
    return render_template("webhooks.html", webhooks=service.of_account(g.account.id), events=SUBSCRIBABLE,
                           revealed=_take_secret(), error=request.args.get("error"),
                           sent=request.args.get("sent"))


@blueprint.post("/webhooks")
def create_webhook() -> ResponseReturnValue:
    body, refused = _form_body(WebhookCreate, {
        "account": g.account.id, "url": request.form.get("url", "").strip(),
        "events": request.form.getlist("events") or None,
        "description": request.form.get("description", "").strip() or None}, "web.webhooks")
    if refused:
        return refused
    webhook, secret = emulator().webhooks.create(body)
    return redirect(url_for("web.webhooks", reveal=_remember_secret(f"webhook {webhook.url}", secret)))


def _webhook(webhook_id: str) -> WebhookRecord:
    try:
        return emulator().webhooks.get(webhook_id, g.account.id)
    except ApiError:
        abort(404, f"There is no webhook {webhook_id} in account {g.account.id}.")


@blueprint.get("/webhooks/<webhook_id>")
def webhook(webhook_id: str) -> ResponseReturnValue:
    service = emulator().webhooks
    hook = _webhook(webhook_id)
    values = {"page_size": "50", **{name: value for name, value in request.args.items() if name == "cursor"}}
    page = service.deliveries(Paging.model_validate(values), values, request.base_url, render.delivery,
                              webhook_id=webhook_id).as_dict()
    return render_template("webhook.html", webhook=hook, page=page, events=SUBSCRIBABLE,
                           error=request.args.get("error"))


@blueprint.post("/webhooks/<webhook_id>/update")
def update_webhook(webhook_id: str) -> ResponseReturnValue:
    _webhook(webhook_id)
    body, refused = _form_body(WebhookUpdate, {
        "url": request.form.get("url", "").strip(), "events": request.form.getlist("events"),
        "description": request.form.get("description", "").strip() or None,
        "is_active": request.form.get("is_active") == "on"}, "web.webhook", webhook_id=webhook_id)
    if refused:
        return refused
    emulator().webhooks.update(webhook_id, body)
    return redirect(url_for("web.webhook", webhook_id=webhook_id))


@blueprint.post("/webhooks/<webhook_id>/test")
def test_webhook(webhook_id: str) -> ResponseReturnValue:
    _webhook(webhook_id)
    emulator().webhooks.send_test(webhook_id)
    return redirect(url_for("web.webhooks", sent=webhook_id))


@blueprint.post("/webhooks/<webhook_id>/delete")
def delete_webhook(webhook_id: str) -> ResponseReturnValue:
    _webhook(webhook_id)
    emulator().webhooks.delete(webhook_id)
    return redirect(url_for("web.webhooks"))


# ---------------------------------------------------------------------- credits

@blueprint.get("/credits")
def credits() -> ResponseReturnValue:
    instance = emulator()
    account = instance.accounts.get_account(g.account.id)
    return render_template("credits.html", account=account, ledger=instance.credits.ledger(account.id),
                           rates=(instance.settings.cpu_rate, instance.settings.memory_rate))


# ---------------------------------------------------------------------- device login

@blueprint.route("/device", methods=["GET", "POST"])
def device() -> ResponseReturnValue:
    service = emulator().device_login
    user_code = (request.values.get("user_code") or "").strip().upper()
    outcome = error = None
    if request.method == "POST":
        try:
            if request.form.get("decision") == "deny":
                service.deny(user_code)
                outcome = "denied"
            else:
                service.approve(user_code, g.account.id)
                outcome = "approved"
        except ApiError as failure:
            error = failure.message
    return render_template("device.html", user_code=user_code, outcome=outcome, error=error,
                           pending=service.pending())


# ---------------------------------------------------------------------- helpers for templates

@blueprint.app_template_filter("ago")
def ago(timestamp: str | None) -> str:
    """``"3 min ago"`` on the emulator's clock."""
    if not timestamp:
        return "—"
    seconds = (emulator().clock.now() - parse_ts(timestamp)).total_seconds()
    if seconds < 0:
        return timestamp
    for size, unit in ((86_400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{int(seconds)} s ago"


@blueprint.app_template_filter("percent")
def percent(progress: dict | None) -> int:
    if not progress or not progress.get("num_generations"):
        return 0
    return min(100, int(100 * (progress.get("generations_completed") or 0) / progress["num_generations"]))


def render_error(status: int, message: str) -> tuple[str, int]:
    """An error page of the dashboard (the API answers JSON instead)."""
    return render_template("error.html", status=status, message=message), status

