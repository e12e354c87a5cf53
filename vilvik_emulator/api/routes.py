"""Routes of ``/api/v1``: parse, call one service, render (contract §5, §7, §12)."""

from __future__ import annotations

from flask import Blueprint, Response, g, request

from ..core.device_login import DeviceError
from ..core.render import result_detail, submission_created
from .common import api_base, authenticated, collection_url, emulator, idempotent, json_body, reply
from .openapi import document_json

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")

# Collections are declared without their trailing slash: with ``strict_slashes`` off,
# werkzeug then answers both forms directly AND still reports 405 (not 404) for a
# wrong method on the slash-less form the SDK uses.


@blueprint.get("/health")
def health():
    return reply({"status": "ok", "version": emulator().version})


@blueprint.get("/openapi.json")
def openapi():
    response = Response(document_json(emulator().version), mimetype="application/json")
    response.headers["Content-Type"] = "application/json; charset=utf-8"
    return response


# ---------------------------------------------------------------------- submissions

@blueprint.post("/submissions")
@authenticated("submissions:write")
@idempotent
def create_submission():
    submission = emulator().submissions.create(g.account, json_body())
    return _created(submission)


def _created(submission: dict):
    return reply(submission_created(submission, api_base(), g.request_id), 202)


@blueprint.get("/submissions")
@authenticated("submissions:read")
def list_submissions():
    return reply(emulator().submissions.list(g.account, request.args, collection_url("submissions")))


@blueprint.get("/submissions/<submission_id>")
@authenticated("submissions:read")
def get_submission(submission_id: str):
    service = emulator().submissions
    return reply(service.detail(service.get(g.account, submission_id), api_base()))


@blueprint.delete("/submissions/<submission_id>")
@authenticated("submissions:write")
def delete_submission(submission_id: str):
    emulator().submissions.delete(g.account, submission_id)
    return reply(None, 204)


@blueprint.post("/submissions/<submission_id>/reexecute")
@authenticated("submissions:write")
@idempotent
def reexecute_submission(submission_id: str):
    submission = emulator().submissions.reexecute(g.account, submission_id, json_body(optional=True) or {})
    return _created(submission)


# ---------------------------------------------------------------------- results

@blueprint.get("/results")
@authenticated("results:read")
def list_results():
    return reply(emulator().results.list(g.account, request.args, collection_url("results")))


@blueprint.get("/results/<result_id>")
@authenticated("results:read")
def get_result(result_id: str):
    return reply(result_detail(emulator().results.get(g.account, result_id), api_base()))


@blueprint.patch("/results/<result_id>")
@authenticated("results:write")
def update_result(result_id: str):
    result = emulator().results.update(g.account, result_id, json_body())
    return reply(result_detail(result, api_base()))


@blueprint.delete("/results/<result_id>")
@authenticated("results:write")
def delete_result(result_id: str):
    emulator().results.delete(g.account, result_id)
    return reply(None, 204)


@blueprint.post("/results/<result_id>/continue")
@authenticated("results:write", "submissions:write")
@idempotent
def continue_result(result_id: str):
    submission = emulator().results.continue_run(g.account, result_id, json_body(optional=True) or {})
    return _created(submission)


@blueprint.get("/results/<result_id>/files/<name>")
@authenticated("results:read")
def download_result_file(result_id: str, name: str):
    payload, content_type = emulator().results.file(g.account, result_id, name)
    response = Response(payload, mimetype=content_type.split(";")[0])
    response.headers["Content-Type"] = content_type
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response



# ---------------------------------------------------------------------- code uploads

@blueprint.post("/code-uploads")
@authenticated("code-uploads:write")
def create_code_upload():
    service = emulator().code_uploads
    return reply(service.row(service.create(g.account, json_body())), 201)


@blueprint.get("/code-uploads")
@authenticated("code-uploads:read")
def list_code_uploads():
    return reply(emulator().code_uploads.list(g.account, request.args, collection_url("code-uploads")))


@blueprint.get("/code-uploads/<code_id>")
@authenticated("code-uploads:read")
def get_code_upload(code_id: str):
    service = emulator().code_uploads
    return reply(service.detail(service.get(g.account, code_id)))


# ---------------------------------------------------------------------- imports

@blueprint.post("/imports")
@authenticated("imports:write")
@idempotent
def create_import():
    record = emulator().imports.create(g.account, json_body())
    return reply({"id": record["id"], "submission_id": record["submission_id"], "result_id": record["result_id"],
                  "result_url": f"{api_base()}/results/{record['result_id']}"}, 201)


# ---------------------------------------------------------------------- device login (RFC 8628)

@blueprint.post("/auth/device/code")
def device_code():
    json_body()  # the SDK sends {}; anything that is not a JSON object is still a 400
    return reply(emulator().device_login.start(request.host_url.rstrip("/")))


@blueprint.post("/auth/device/token")
def device_token():
    body = json_body()
    try:
        key = emulator().device_login.poll(body.get("device_code"))
    except DeviceError as error:
        return reply({"error": error.code}, 400)
    return reply({"api_key": key})


# ---------------------------------------------------------------------- webhooks (read-only over the API)

@blueprint.get("/webhooks")
@authenticated("webhooks:read")
def list_webhooks():
    rows = [{name: value for name, value in webhook.items() if name != "account_id"}
            for webhook in emulator().webhooks.list(g.account["id"])]
    return reply({"results": rows, "next": None, "previous": None})


@blueprint.get("/webhooks/<webhook_id>/deliveries")
@authenticated("webhooks:read")
def list_webhook_deliveries(webhook_id: str):
    service = emulator().webhooks
    service.get(webhook_id, g.account["id"])
    return reply(service.deliveries(request.args, collection_url(f"webhooks/{webhook_id}/deliveries"),
                                    webhook_id=webhook_id))
