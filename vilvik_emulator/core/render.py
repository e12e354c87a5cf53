"""The one place each resource becomes JSON (row and detail side by side).

``base`` is the absolute ``.../api/v1`` URL of the host the request came to, so
``status_url``/``result_url``/file URLs point where the client is talking.
"""

from __future__ import annotations

SUBMISSION_ROW_FIELDS = ("id", "name", "status", "source", "created_at")
RESULT_ROW_FIELDS = ("id", "submission_id", "name", "is_shared", "best_solution_fitness",
                     "generations_completed", "created_at", "best_solution")


def status_url(base: str, submission_id: str) -> str:
    return f"{base}/submissions/{submission_id}"


def result_url(base: str, submission_id: str) -> str:
    return f"{base}/results/?submission_id={submission_id}"


def submission_created(submission: dict, base: str, request_id: str) -> dict:
    """The 202 body of create, re-execute and continue (contract §5)."""
    return {
        "id": submission["id"],
        "status": submission["status"],
        "status_url": status_url(base, submission["id"]),
        "result_url": result_url(base, submission["id"]),
        "created_at": submission["created_at"],
        "name": submission["name"],
        "description": submission["description"],
        "submission_type": submission["submission_type"],
        "generated": submission.get("generated") or {},
        "request_id": request_id,
    }


def submission_row(submission: dict) -> dict:
    return {name: submission.get(name) for name in SUBMISSION_ROW_FIELDS}


def submission_detail(submission: dict, base: str, live_progress: dict | None = None) -> dict:
    progress = live_progress if live_progress is not None else submission.get("progress")
    return {
        "id": submission["id"],
        "name": submission["name"],
        "description": submission["description"],
        "status": submission["status"],
        "source": submission["source"],
        "submission_type": submission["submission_type"],
        "visibility": submission["visibility"],
        "parent_submission_id": submission.get("parent_submission_id"),
        "parent_result_id": submission.get("parent_result_id"),
        "created_at": submission["created_at"],
        "started_at": submission.get("started_at"),
        "finished_at": submission.get("finished_at"),
        "status_url": status_url(base, submission["id"]),
        "result_url": result_url(base, submission["id"]),
        "parameters": submission["parameters"],
        "code": submission["code"],
        "progress": progress or {"generations_completed": 0,
                                 "num_generations": submission["parameters"].get("num_generations"),
                                 "best_fitness": None},
        "error": submission.get("error"),
        "usage": submission.get("usage"),
        "credits_used": submission.get("credits_used"),
        "webhook_url": submission.get("webhook_url"),
        "notification_email": submission.get("notification_email"),
        "generated": submission.get("generated") or {},
        "result_id": submission.get("result_id"),
    }


def result_row(result: dict) -> dict:
    return {name: result.get(name) for name in RESULT_ROW_FIELDS}


def result_detail(result: dict, base: str) -> dict:
    detail = result_row(result)
    detail.update({
        "best_solution_idx": result.get("best_solution_idx"),
        "best_solutions_fitness": result.get("best_solutions_fitness") or [],
        "best_solution_generation": result.get("best_solution_generation"),
        "last_generation_fitness": result.get("last_generation_fitness"),
        "stopped_reason": result.get("stopped_reason"),
        "parameters": result.get("parameters") or {},
        "usage": result.get("usage"),
        "parent_result_id": result.get("parent_result_id"),
        "files": [{**entry, "url": f"{base}/results/{result['id']}/files/{entry['name']}"}
                  for entry in result.get("files") or []],
    })
    return detail
