"""Routes of ``/api/v1``: parse with the schema, call one service, render (contract §5, §7, §9-§12)."""

from __future__ import annotations

from flask import Blueprint, Response, g, request
from flask.typing import ResponseReturnValue

from ..core import render
from ..core.device_login import DeviceError
from ..core.records import ImportRecord, SubmissionRecord
from ..schemas.code_uploads import CodeUploadCreate
from ..schemas.device import DeviceCodeRequest, DeviceToken, DeviceTokenRequest
from ..schemas.imports import ImportCreate, ImportCreated
from ..schemas.pages import Paging
from ..schemas.results import ResultFilters, ResultUpdate
from ..schemas.submissions import SubmissionCreate, SubmissionFilters, SubmissionOverrides, SubmissionPatch
from .common import (
    api_base,
    authenticated,
    body,
    collection_url,
    emulator,
    idempotent,
    query,
    query_values,
    remember_response,
    reply,
)
from .openapi import document_json

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")

# Collections are declared without their trailing slash: with ``strict_slashes`` off,
# werkzeug then answers both forms directly AND still reports 405 (not 404) for a
# wrong method on the slash-less form the SDK uses.


@blueprint.get("/health")
def health() -> ResponseReturnValue:
    return reply({"status": "ok", "version": emulator().version})


@blueprint.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    response = Response(document_json(emulator().version), mimetype="application/json")
    response.headers["Content-Type"] = "application/json; charset=utf-8"
    return response


# ---------------------------------------------------------------------- submissions

def _created(record: SubmissionRecord) -> dict:
    return render.submission_created(record, api_base(), g.request_id)


@blueprint.post("/submissions")
@authenticated("submissions:write")
@idempotent
def create_submission() -> ResponseReturnValue:
    submission = body(SubmissionCreate, drop_tags=1)
    record = emulator().runs.create(g.account, submission, within=remember_response(202, _created))
    return reply(_created(record), 202)


@blueprint.get("/submissions")
@authenticated("submissions:read")
def list_submissions() -> ResponseReturnValue:
    page = emulator().submissions.page(g.account, query(SubmissionFilters), query(Paging),
                                       collection_url("submissions"), query_values(), render.submission_row)
    return reply(page.as_dict())


@blueprint.get("/submissions/<submission_id>")
@authenticated("submissions:read")
def get_submission(submission_id: str) -> ResponseReturnValue:
    instance = emulator()
    return reply(instance.runs.detail(instance.submissions.get(g.account, submission_id), api_base()))


@blueprint.patch("/submissions/<submission_id>")
@authenticated("submissions:write")
def update_submission(submission_id: str) -> ResponseReturnValue:
    instance = emulator()
    record = instance.submissions.patch(g.account, submission_id, body(SubmissionPatch))
    return reply(instance.runs.detail(record, api_base()))


@blueprint.delete("/submissions/<submission_id>")
@authenticated("submissions:write")
def delete_submission(submission_id: str) -> ResponseReturnValue:
    emulator().runs.delete(g.account, submission_id)
    return reply(None, 204)


@blueprint.post("/submissions/<submission_id>/reexecute")
@authenticated("submissions:write")
@idempotent
def reexecute_submission(submission_id: str) -> ResponseReturnValue:
    record = emulator().runs.reexecute(g.account, submission_id, body(SubmissionOverrides),
                                       within=remember_response(202, _created))
    return reply(_created(record), 202)


# ---------------------------------------------------------------------- results

@blueprint.get("/results")
@authenticated("results:read")
def list_results() -> ResponseReturnValue:
    page = emulator().results.page(g.account, query(ResultFilters), query(Paging), collection_url("results"),
                                   query_values(), render.result_row)
    return reply(page.as_dict())


@blueprint.get("/results/<result_id>")
@authenticated("results:read")
def get_result(result_id: str) -> ResponseReturnValue:
    return reply(render.result_detail(emulator().results.readable(g.account, result_id), api_base()))


@blueprint.patch("/results/<result_id>")
@authenticated("results:write")
def update_result(result_id: str) -> ResponseReturnValue:
    result = emulator().results.update(g.account, result_id, body(ResultUpdate))
    return reply(render.result_detail(result, api_base()))


@blueprint.delete("/results/<result_id>")
@authenticated("results:write")
def delete_result(result_id: str) -> ResponseReturnValue:
    emulator().results.delete(g.account, result_id)
    return reply(None, 204)


@blueprint.post("/results/<result_id>/continue")
@authenticated("results:write", "submissions:write")
@idempotent
def continue_result(result_id: str) -> ResponseReturnValue:
    record = emulator().runs.continue_from(g.account, result_id, body(SubmissionOverrides),
                                           within=remember_response(202, _created))
    return reply(_created(record), 202)


@blueprint.get("/results/<result_id>/files/<name>")
@authenticated("results:read")
def download_result_file(result_id: str, name: str) -> ResponseReturnValue:
    payload, content_type = emulator().results.file(g.account, result_id, name)
    response = Response(payload, mimetype=content_type.split(";")[0])
    response.headers["Content-Type"] = content_type
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# ---------------------------------------------------------------------- code uploads

@blueprint.post("/code-uploads")
@authenticated("code-uploads:write")
def create_code_upload() -> ResponseReturnValue:
    upload = emulator().code_uploads.create(g.account, body(CodeUploadCreate))
    return reply(render.code_upload_row(upload, expired=False), 201)


@blueprint.get("/code-uploads")
@authenticated("code-uploads:read")
def list_code_uploads() -> ResponseReturnValue:
    service = emulator().code_uploads
    page = service.page(g.account, query(Paging), collection_url("code-uploads"), query_values(),
                        lambda row: render.code_upload_row(row, service.is_expired(row)))
    return reply(page.as_dict())


@blueprint.get("/code-uploads/<code_id>")
@authenticated("code-uploads:read")
def get_code_upload(code_id: str) -> ResponseReturnValue:
    service = emulator().code_uploads
    upload = service.get(g.account, code_id)
    return reply(render.code_upload_detail(upload, service.is_expired(upload)))


# ---------------------------------------------------------------------- imports

def _imported(record: ImportRecord) -> dict:
    return ImportCreated(id=record.id, submission_id=record.submission_id, result_id=record.result_id,
                         result_url=f"{api_base()}/results/{record.result_id}").model_dump(mode="json")


@blueprint.post("/imports")
@authenticated("imports:write")
@idempotent
def create_import() -> ResponseReturnValue:
    record, _ = emulator().imports.create(g.account, body(ImportCreate), within=remember_response(201, _imported))
    return reply(_imported(record), 201)


# ---------------------------------------------------------------------- device login (RFC 8628)

@blueprint.post("/auth/device/code")
def device_code() -> ResponseReturnValue:
    body(DeviceCodeRequest, optional=True)  # the SDK sends {}; anything that is not a JSON object is still a 400
    return reply(emulator().device_login.start(request.host_url.rstrip("/")))


@blueprint.post("/auth/device/token")
def device_token() -> ResponseReturnValue:
    request_body = body(DeviceTokenRequest)
    try:
        token = emulator().device_login.poll(request_body.device_code)
    except DeviceError as error:
        return reply({"error": error.code}, 400)
    return reply(DeviceToken.model_validate(token).model_dump(mode="json"))


# ---------------------------------------------------------------------- webhooks (read-only over the API)

@blueprint.get("/webhooks")
@authenticated("webhooks:read")
def list_webhooks() -> ResponseReturnValue:
    rows = [render.webhook(webhook) for webhook in emulator().webhooks.of_account(g.account.id)]
    return reply({"results": rows, "next": None, "previous": None})


@blueprint.get("/webhooks/<webhook_id>/deliveries")
@authenticated("webhooks:read")
def list_webhook_deliveries(webhook_id: str) -> ResponseReturnValue:
    service = emulator().webhooks
    service.get(webhook_id, g.account.id)
    page = service.deliveries(query(Paging), query_values(), collection_url(f"webhooks/{webhook_id}/deliveries"),
                              render.delivery, webhook_id=webhook_id)
    return reply(page.as_dict())
