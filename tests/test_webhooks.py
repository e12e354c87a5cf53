"""Webhooks (contract §11): events, signed deliveries to a real receiver, retries, history.

A real HTTP receiver listens on a loopback port (``http.server`` in a thread) and keeps
every request's headers and raw body; it can be told to answer 500, to recover after a
few failures, or to hang until the test releases it. Signatures are checked exactly as a
receiver would: HMAC-SHA256 with the webhook's secret over ``"<timestamp>.<raw body>"``.
Retry timing follows the emulator's clock, so the tests freeze it and step it forward;
``drain_deliveries`` waits until nothing is due or on the wire. No sleeps.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import vilvik
from helpers import NEVER_RETURNS, SPHERE, error_code

from vilvik_emulator.schemas import parse_body
from vilvik_emulator.schemas.submissions import SubmissionCreate

DEFAULT_ACCOUNT = "acct_default"
SMALL = {"num_genes": 3, "num_generations": 5, "sol_per_pop": 6, "num_parents_mating": 2, "random_seed": 4}
RAISES = '''\
def fitness_func(ga_instance, solution, solution_idx):
    raise RuntimeError("boom")
'''
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
SUBSCRIBABLE = ["submission.succeeded", "submission.failed", "submission.cancelled", "result.completed"]
DELIVERY_FIELDS = {"id", "webhook_id", "submission_id", "event_id", "event_type", "url", "attempt", "status_code",
                   "duration_ms", "error", "succeeded", "final", "next_attempt_at", "response_body", "created_at"}
#: `event_types` is the documented name, `events` what SDK 0.5.7 reads first (contract §11): the same list
WEBHOOK_ROW_FIELDS = {"id", "url", "event_types", "events", "description", "is_active", "created_at"}


# ---------------------------------------------------------------------- the receiver


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def event(self) -> dict:
        return json.loads(self.body)

    @property
    def event_type(self) -> str:
        return self.headers["X-Event-Type"]

    @property
    def event_id(self) -> str:
        return self.headers["X-Event-Id"]


class Receiver:
    """A webhook endpoint on a loopback port that records what it gets."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.condition = threading.Condition()
        self._plan: list[int] = []  # statuses to answer next, in order
        self.default_status = 200
        self.hang = False
        self.release = threading.Event()
        self.hanging = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.condition:
                    status = receiver._plan.pop(0) if receiver._plan else receiver.default_status
                    hang = receiver.hang
                    receiver.received.append(Received(self.path, dict(self.headers.items()), body, status))
                    if hang:
                        receiver.hanging += 1
                    receiver.condition.notify_all()
                if hang:
                    receiver.release.wait(60)
                    with receiver.condition:
                        receiver.hanging -= 1
                        receiver.condition.notify_all()
                answer = b'{"ok": true}' if status < 300 else b'{"ok": false}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       name="webhook-receiver", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, *statuses: int, then: int = 200) -> None:
        """Answer the next requests with ``statuses``, then with ``then``."""
        with self.condition:
            self._plan = list(statuses)
            self.default_status = then

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        """At least ``count`` requests received (a condition wait, not a sleep loop)."""
        with self.condition:
            if not self.condition.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"the receiver got {len(self.received)} of {count} requests: "
                                     f"{[item.event_type for item in self.received]}")
            return list(self.received)

    def at(self, path: str) -> list[Received]:
        with self.condition:
            return [item for item in self.received if item.path == path]

    def types(self, path: str | None = None) -> list[str]:
        with self.condition:
            return sorted(item.event_type for item in self.received if path is None or item.path == path)

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver().start()
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------- helpers


def verify(secret: str, item: Received) -> bool:
    """What a receiver does: recompute the signature over "<timestamp>.<raw body>"."""
    timestamp = item.headers["X-Signature-Timestamp"]
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + item.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"sha256={digest}", item.headers["X-Signature"])


def parse(timestamp: str) -> datetime:
    assert TIMESTAMP.match(timestamp), timestamp
    return datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def settle(control, receiver: Receiver, count: int) -> list[Received]:
    """Every delivery due now is done: ``count`` requests arrived and their attempts are recorded."""
    control.drain_deliveries(timeout=60)
    received = receiver.wait_for(count, timeout=10)
    control.drain_deliveries(timeout=60)
    return received


def run_to_end(api, control, **fields) -> dict:
    created = api.create(**{**SMALL, **fields})
    return control.wait(created["id"], timeout=120)


def assert_signed_event(item: Received, secret: str, event_type: str) -> dict:
    """Headers, signature and body shape of one submission event."""
    assert item.headers["Content-Type"] == "application/json"
    assert item.event_type == event_type
    assert UUID.match(item.event_id), item.event_id
    assert item.headers["X-Signature"].startswith("sha256=")
    assert item.headers["X-Signature-Timestamp"].isdigit()
    assert verify(secret, item), "the signature does not verify with the webhook's secret"
    assert not verify(secret + "x", item)
    event = item.event
    assert set(event) == {"id", "type", "created_at", "data"}, event.keys()
    assert event["id"] == item.event_id
    assert event["type"] == event_type
    assert TIMESTAMP.match(event["created_at"])
    if event_type != "webhook.test":
        assert set(event["data"]) == {"submission", "result"}
    return event


# ---------------------------------------------------------------------- events


def test_a_succeeded_submission_fires_succeeded_and_result_completed(api, control, receiver):
    webhook = control.create_webhook(receiver.url + "/hook", description="all events")
    assert webhook["secret"].startswith("whsec_")
    assert webhook["events"] == SUBSCRIBABLE

    detail = run_to_end(api, control)
    assert detail["status"] == "succeeded"
    received = settle(control, receiver, 2)

    assert len(received) == 2
    assert receiver.types("/hook") == ["result.completed", "submission.succeeded"]
    by_type = {item.event_type: item for item in received}
    assert by_type["submission.succeeded"].event_id != by_type["result.completed"].event_id
    submission = api.get(f"submissions/{detail['id']}").json()
    result = api.get(f"results/{detail['result_id']}").json()
    for event_type, item in by_type.items():
        event = assert_signed_event(item, webhook["secret"], event_type)
        assert event["data"]["submission"] == submission
        assert event["data"]["result"] == result
        clock = parse(control.clock()["now"])
        sent = datetime.fromtimestamp(int(item.headers["X-Signature-Timestamp"]), timezone.utc)
        assert clock - timedelta(minutes=5) <= sent <= clock
    assert "User-Agent" in received[0].headers

    rows = control.deliveries(webhook_id=webhook["id"])
    assert sorted(row["event_type"] for row in rows) == ["result.completed", "submission.succeeded"]
    for row in rows:
        assert set(row) >= DELIVERY_FIELDS
        assert row["webhook_id"] == webhook["id"]
        assert row["submission_id"] == detail["id"]
        assert row["event_id"] == by_type[row["event_type"]].event_id
        assert row["url"] == receiver.url + "/hook"
        assert (row["attempt"], row["status_code"], row["succeeded"], row["final"]) == (1, 200, True, True)
        assert row["error"] is None and row["next_attempt_at"] is None


def test_a_failed_submission_fires_submission_failed(api, control, receiver):
    webhook = control.create_webhook(receiver.url + "/hook")

    detail = run_to_end(api, control, fitness_func=RAISES)
    assert detail["status"] == "failed"
    (item,) = settle(control, receiver, 1)

    event = assert_signed_event(item, webhook["secret"], "submission.failed")
    assert event["data"]["submission"]["id"] == detail["id"]
    assert event["data"]["submission"]["status"] == "failed"
    assert event["data"]["submission"]["error"]["code"] == "fitness_error"
    assert receiver.types() == ["submission.failed"]  # no result.completed for a failed run


@pytest.mark.vilvik_mode("manual")
def test_a_stopped_queued_submission_fires_submission_cancelled(api, control, receiver):
    webhook = control.create_webhook(receiver.url + "/hook")
    created = api.create(**SMALL)

    control.cancel(created["id"])
    (item,) = settle(control, receiver, 1)

    event = assert_signed_event(item, webhook["secret"], "submission.cancelled")
    assert event["data"]["submission"]["id"] == created["id"]
    assert event["data"]["submission"]["status"] == "cancelled"
    assert api.get(f"submissions/{created['id']}").json()["status"] == "cancelled"


def test_a_stopped_running_submission_fires_submission_cancelled(api, control, receiver):
    webhook = control.create_webhook(receiver.url + "/hook")
    created = api.create(**SMALL, fitness_func=NEVER_RETURNS)
    control.wait(created["id"], status="running")

    control.cancel(created["id"])
    (item,) = settle(control, receiver, 1)

    event = assert_signed_event(item, webhook["secret"], "submission.cancelled")
    assert event["data"]["submission"]["status"] == "cancelled"
    assert receiver.types() == ["submission.cancelled"]


def test_deleting_a_running_job_fires_submission_cancelled(api, control, receiver):
    webhook = control.create_webhook(receiver.url + "/hook")
    created = api.create(**SMALL, fitness_func=NEVER_RETURNS)
    control.wait(created["id"], status="running")

    response = api.delete(f"submissions/{created['id']}")
    assert response.status_code == 204, response.text
    (item,) = settle(control, receiver, 1)

    event = assert_signed_event(item, webhook["secret"], "submission.cancelled")
    assert event["data"]["submission"]["id"] == created["id"]
    assert event["data"]["submission"]["status"] == "cancelled"
    assert api.get(f"submissions/{created['id']}").status_code == 404


def test_deleting_a_finished_job_fires_nothing(api, control, receiver):
    control.create_webhook(receiver.url + "/hook", events=["submission.succeeded", "submission.cancelled"])
    detail = run_to_end(api, control)
    settle(control, receiver, 1)

    assert api.delete(f"submissions/{detail['id']}").status_code == 204
    control.drain_deliveries()

    assert receiver.types() == ["submission.succeeded"]


def test_a_submissions_own_webhook_url_is_signed_with_the_account_secret(api, control, receiver):
    detail = run_to_end(api, control, webhook_url=receiver.url + "/own")
    assert detail["webhook_url"] == receiver.url + "/own"

    received = settle(control, receiver, 2)

    secret = control.account_webhook_secret()
    assert secret.startswith("whsec_")
    assert control.account_webhook_secret() == secret  # stable
    assert receiver.types("/own") == ["result.completed", "submission.succeeded"]
    for item in received:
        event = assert_signed_event(item, secret, item.event_type)
        assert event["data"]["submission"]["id"] == detail["id"]
    rows = control.deliveries(submission_id=detail["id"])
    assert len(rows) == 2 and all(row["webhook_id"] is None and row["succeeded"] for row in rows)


def test_a_webhook_and_a_webhook_url_get_the_same_event_with_their_own_secrets(api, control, receiver):
    webhook = control.create_webhook(receiver.url + "/hook", events=["submission.succeeded"])

    detail = run_to_end(api, control, webhook_url=receiver.url + "/own")
    settle(control, receiver, 3)

    (hooked,) = receiver.at("/hook")
    own = {item.event_type: item for item in receiver.at("/own")}
    assert set(own) == {"submission.succeeded", "result.completed"}
    assert hooked.event_id == own["submission.succeeded"].event_id  # one event, two targets
    assert hooked.body == own["submission.succeeded"].body
    assert verify(webhook["secret"], hooked) and not verify(control.account_webhook_secret(), hooked)
    assert verify(control.account_webhook_secret(), own["submission.succeeded"])
    assert hooked.event["data"]["submission"]["id"] == detail["id"]


def test_webhooks_get_only_the_events_they_subscribe_to(api, control, receiver):
    control.create_webhook(receiver.url + "/failures", events=["submission.failed"])
    control.create_webhook(receiver.url + "/results", events=["result.completed"])
    control.create_webhook(receiver.url + "/both", events=["submission.succeeded", "submission.failed"])

    run_to_end(api, control)
    settle(control, receiver, 2)
    assert receiver.types("/failures") == []
    assert receiver.types("/results") == ["result.completed"]
    assert receiver.types("/both") == ["submission.succeeded"]

    run_to_end(api, control, fitness_func=RAISES)
    settle(control, receiver, 4)
    assert receiver.types("/failures") == ["submission.failed"]
    assert receiver.types("/results") == ["result.completed"]
    assert receiver.types("/both") == ["submission.failed", "submission.succeeded"]


def test_inactive_and_deleted_webhooks_get_nothing(api, control, receiver):
    inactive = control.create_webhook(receiver.url + "/inactive", is_active=False)
    paused = control.create_webhook(receiver.url + "/paused")
    deleted = control.create_webhook(receiver.url + "/deleted")
    control.create_webhook(receiver.url + "/active", events=["submission.succeeded"])
    assert control.update_webhook(paused["id"], is_active=False)["is_active"] is False
    control.delete_webhook(deleted["id"])

    run_to_end(api, control)
    settle(control, receiver, 1)

    assert receiver.types() == ["submission.succeeded"]
    assert receiver.types("/active") == ["submission.succeeded"]
    assert control.deliveries(webhook_id=inactive["id"]) == []

    assert control.update_webhook(paused["id"], is_active=True)["is_active"] is True
    run_to_end(api, control)
    settle(control, receiver, 4)
    assert receiver.types("/paused") == ["result.completed", "submission.succeeded"]
    assert receiver.types("/inactive") == [] and receiver.types("/deleted") == []


def test_webhook_test_event_through_the_control_plane(control, receiver):
    webhook = control.create_webhook(receiver.url + "/hook", events=["submission.failed"])

    sent = control.test_webhook(webhook["id"])
    (item,) = settle(control, receiver, 1)

    assert sent["event_type"] == "webhook.test"
    assert item.event_id == sent["event_id"]
    event = assert_signed_event(item, webhook["secret"], "webhook.test")
    assert event["data"]["webhook"]["id"] == webhook["id"]
    assert webhook["secret"] not in item.body.decode()
    (row,) = control.deliveries(webhook_id=webhook["id"])
    assert (row["event_type"], row["event_id"], row["succeeded"]) == ("webhook.test", sent["event_id"], True)
    assert row["submission_id"] is None


def test_a_test_event_reaches_an_inactive_webhook(control, receiver):
    webhook = control.create_webhook(receiver.url + "/hook", is_active=False)

    control.test_webhook(webhook["id"])

    (item,) = settle(control, receiver, 1)
    assert_signed_event(item, webhook["secret"], "webhook.test")


@pytest.mark.vilvik_mode("manual")
def test_website_submissions_fire_nothing(control, receiver, vilvik_emulator_server):
    emulator = vilvik_emulator_server.emulator
    webhook = control.create_webhook(receiver.url + "/hook")
    account = emulator.accounts.get_account(DEFAULT_ACCOUNT)
    body = parse_body(SubmissionCreate, {"fitness_func": SPHERE, "fitness_func_entry": "fitness_func", **SMALL,
                                         "webhook_url": receiver.url + "/own"}, drop_tags=1)

    submission = emulator.runs.create(account, body, source="web")  # what the dashboard's form does
    assert submission.source == "web"
    control.run(submission.id)
    assert control.wait(submission.id)["status"] == "succeeded"
    control.drain_deliveries()

    assert receiver.received == []
    assert control.deliveries() == []
    control.test_webhook(webhook["id"])  # the receiver was reachable all along
    settle(control, receiver, 1)
    assert receiver.types() == ["webhook.test"]


def test_a_continued_import_is_a_real_run_and_fires_events(api, control, receiver):
    control.create_webhook(receiver.url + "/hook")
    population = [[0.5, -0.5], [1.0, 1.0], [0.1, 0.2], [2.0, -1.0]]
    imported = api.post("imports/", json={
        "ga_parameters": {"num_generations": 3, "sol_per_pop": 4, "num_parents_mating": 2, "num_genes": 2},
        "code": {"fitness_func": SPHERE},
        "result": {"best_solution": [0.1, 0.2], "best_solution_fitness": -0.05,
                   "best_solutions_fitness": [-0.5, -0.05, -0.05, -0.05], "generations_completed": 3,
                   "best_solution_generation": 1, "population": population}})
    assert imported.status_code == 201, imported.text

    child = api.post(f"results/{imported.json()['result_id']}/continue", json={"num_generations": 2})
    assert child.status_code == 202, child.text
    assert control.wait(child.json()["id"])["status"] == "succeeded"
    received = settle(control, receiver, 2)

    assert receiver.types() == ["result.completed", "submission.succeeded"]
    assert {item.event["data"]["submission"]["id"] for item in received} == {child.json()["id"]}


# ---------------------------------------------------------------------- retries


def attempts_of(control, event_id: str) -> list[dict]:
    return sorted(control.deliveries(event_id=event_id), key=lambda row: row["attempt"])


def test_a_failing_receiver_gets_five_attempts_with_the_same_event_id(api, control, receiver):
    control.clock_freeze()  # retries are due on the emulator clock: only the test moves it
    webhook = control.create_webhook(receiver.url + "/hook", events=["submission.succeeded"])
    receiver.answer(then=500)

    run_to_end(api, control)
    (first,) = settle(control, receiver, 1)
    control.clock_advance(0.5)  # not due yet: the first retry waits one second
    control.drain_deliveries()
    assert len(receiver.received) == 1

    for count, step in ((2, 0.5), (3, 2), (4, 4), (5, 8)):
        control.clock_advance(step)
        settle(control, receiver, count)
        assert len(receiver.received) == count
    control.clock_advance(3600)  # nothing is left to retry
    drained = control.drain_deliveries()

    assert drained["scheduled"] == 0 and drained["in_flight"] == 0
    received = receiver.received
    assert len(received) == 5
    assert {item.event_id for item in received} == {first.event_id}
    assert {item.body for item in received} == {first.body}
    stamps = [int(item.headers["X-Signature-Timestamp"]) for item in received]
    assert [stamp - stamps[0] for stamp in stamps] == [0, 1, 3, 7, 15]
    assert all(verify(webhook["secret"], item) for item in received)  # each attempt signs its own timestamp

    rows = attempts_of(control, first.event_id)
    assert [row["attempt"] for row in rows] == [1, 2, 3, 4, 5]
    assert [row["final"] for row in rows] == [False, False, False, False, True]
    assert all(row["status_code"] == 500 and row["succeeded"] is False and row["error"] for row in rows)
    assert all(row["webhook_id"] == webhook["id"] for row in rows)
    for row, delay in zip(rows, (1, 2, 4, 8)):
        assert parse(row["next_attempt_at"]) - parse(row["created_at"]) == timedelta(seconds=delay)
    assert rows[-1]["next_attempt_at"] is None


def test_retries_stop_once_the_receiver_recovers(api, control, receiver):
    control.clock_freeze()
    webhook = control.create_webhook(receiver.url + "/hook", events=["submission.succeeded"])
    receiver.answer(500, 500, then=200)

    run_to_end(api, control)
    settle(control, receiver, 1)
    control.clock_advance(1)
    settle(control, receiver, 2)
    control.clock_advance(2)
    settle(control, receiver, 3)
    control.clock_advance(3600)
    control.drain_deliveries()

    assert [item.status for item in receiver.received] == [500, 500, 200]
    assert len({item.event_id for item in receiver.received}) == 1
    rows = attempts_of(control, receiver.received[0].event_id)
    assert [(row["attempt"], row["status_code"], row["succeeded"], row["final"]) for row in rows] == [
        (1, 500, False, False), (2, 500, False, False), (3, 200, True, True)]
    assert rows[-1]["next_attempt_at"] is None
    assert [row["webhook_id"] for row in rows] == [webhook["id"]] * 3


def test_an_unreachable_receiver_is_recorded_as_an_error(control, receiver):
    control.clock_freeze()
    receiver.stop()  # nothing listens there any more
    webhook = control.create_webhook(receiver.url + "/hook")

    sent = control.test_webhook(webhook["id"])
    control.drain_deliveries()

    (row,) = control.deliveries(event_id=sent["event_id"])
    assert row["attempt"] == 1 and row["status_code"] is None
    assert row["succeeded"] is False and row["final"] is False and row["error"]
    assert row["next_attempt_at"] is not None


# ---------------------------------------------------------------------- never blocking


def test_a_hanging_receiver_blocks_neither_requests_nor_jobs(api, control, receiver):
    receiver.hang = True
    control.create_webhook(receiver.url + "/hook", events=["submission.succeeded"])
    first = run_to_end(api, control)
    assert first["status"] == "succeeded"
    receiver.wait_for(1)  # its delivery is now stuck on the wire

    second = api.create(**SMALL)  # a create while a delivery hangs
    detail = control.wait(second["id"], timeout=120)

    assert detail["status"] == "succeeded"
    assert receiver.hanging >= 1 and not receiver.release.is_set(), \
        "the job finished only after the receiver was released"
    assert api.get(f"submissions/{second['id']}").status_code == 200
    receiver.release.set()
    settle(control, receiver, 2)
    assert receiver.types() == ["submission.succeeded", "submission.succeeded"]
    assert receiver.hanging == 0


# ---------------------------------------------------------------------- delivery history and listing over the API


def test_delivery_history_over_the_api(api, control, receiver, other_account):
    control.clock_freeze()
    webhook = control.create_webhook(receiver.url + "/hook", events=["submission.succeeded"])
    receiver.answer(500, then=200)
    detail = run_to_end(api, control)
    settle(control, receiver, 1)
    control.clock_advance(1)
    settle(control, receiver, 2)

    response = api.get(f"webhooks/{webhook['id']}/deliveries")

    assert response.status_code == 200, response.text
    page = response.json()
    assert set(page) == {"results", "next", "previous"}
    rows = page["results"]
    assert [row["attempt"] for row in rows] == [2, 1]  # newest first
    for row in rows:
        assert set(row) >= DELIVERY_FIELDS - {"response_body"}
        assert row["webhook_id"] == webhook["id"] and row["submission_id"] == detail["id"]
        assert row["event_type"] == "submission.succeeded"
        assert row["event_id"] == receiver.received[0].event_id
    assert [row["status_code"] for row in rows] == [200, 500]
    assert [row["succeeded"] for row in rows] == [True, False]

    first_page = api.get(f"webhooks/{webhook['id']}/deliveries/", params={"page_size": 1}).json()
    assert [row["attempt"] for row in first_page["results"]] == [2]
    assert first_page["next"]
    second_page = api.get(first_page["next"]).json()
    assert [row["attempt"] for row in second_page["results"]] == [1]

    missing = api.get("webhooks/wh_doesnotexist/deliveries")
    assert missing.status_code == 404 and error_code(missing) == "not_found"
    theirs = other_account.get(f"webhooks/{webhook['id']}/deliveries")
    assert theirs.status_code == 404 and error_code(theirs) == "not_found"


def test_webhook_reads_need_the_webhooks_read_scope(api, control, receiver):
    webhook = control.create_webhook(receiver.url + "/hook")
    key = control.create_key(scopes=["submissions:read", "webhooks:write"])["key"]

    for path in ("webhooks/", f"webhooks/{webhook['id']}/deliveries"):
        response = api.get(path, key=key)
        assert response.status_code == 403, response.text
        assert error_code(response) == "scope_required"
        assert "webhooks:read" in response.json()["error"]["message"]
        assert api.get(path, key=None).status_code == 401
    reader = control.create_key(scopes=["webhooks:read"])["key"]
    assert api.get("webhooks/", key=reader).status_code == 200


def test_the_webhook_list_over_the_api_and_the_sdk(api, control, vilvik_client, other_account, receiver):
    first = control.create_webhook(receiver.url + "/a", events=["submission.failed"], description="failures")
    second = control.create_webhook(receiver.url + "/b", is_active=False)
    control.create_webhook(receiver.url + "/theirs", account=other_account_id(control, other_account))

    response = api.get("webhooks/")

    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next"] is None and page["previous"] is None
    rows = {row["id"]: row for row in page["results"]}
    assert set(rows) == {first["id"], second["id"]}
    for row in rows.values():
        assert set(row) == WEBHOOK_ROW_FIELDS, row  # never the secret
    assert rows[first["id"]]["events"] == rows[first["id"]]["event_types"] == ["submission.failed"]
    assert rows[first["id"]]["description"] == "failures"
    assert rows[second["id"]]["is_active"] is False
    assert api.get("webhooks").json() == page

    listed = {item.id: item for item in vilvik_client.webhooks.list()}
    assert set(listed) == {first["id"], second["id"]}
    assert isinstance(listed[first["id"]], vilvik.Webhook)
    assert listed[first["id"]].event_types == ["submission.failed"]
    assert listed[first["id"]].url == receiver.url + "/a"
    assert listed[second["id"]].event_types == SUBSCRIBABLE
    assert listed[second["id"]].is_active is False


def other_account_id(control, other_account) -> str:
    (account,) = [account for account in control.accounts() if account["name"] == "other"]
    return account["id"]


def test_webhooks_cannot_be_managed_over_the_api(api, receiver):
    response = api.post("webhooks/", json={"url": receiver.url})

    assert response.status_code == 405, response.text
    assert error_code(response) == "method_not_allowed"


# ---------------------------------------------------------------------- management through the control plane


def test_control_plane_webhook_management(control, receiver):
    created = control.create_webhook(receiver.url + "/hook", events=["submission.succeeded"], description="d")

    assert set(created) >= WEBHOOK_ROW_FIELDS | {"secret"}
    listed = {row["id"]: row for row in control.webhooks()}
    assert "secret" not in listed[created["id"]]  # shown once, at creation
    updated = control.update_webhook(created["id"], events=["submission.failed", "result.completed"],
                                     url=receiver.url + "/other", description=None)
    assert updated["events"] == ["submission.failed", "result.completed"]
    assert updated["url"] == receiver.url + "/other" and updated["description"] is None
    control.delete_webhook(created["id"])
    assert control.webhooks() == []


@pytest.mark.parametrize("fields, field", [
    ({"url": "http://example.com/hook"}, "url"),
    ({"url": "ftp://127.0.0.1/hook"}, "url"),
    ({"url": "not a url"}, "url"),
    ({"events": ["submission.exploded"]}, "events"),
    ({"events": ["webhook.test"]}, "events"),
    ({"events": []}, "events"),
    ({"is_active": "yes"}, "is_active"),
], ids=["http-not-loopback", "scheme", "garbage", "unknown-event", "test-not-subscribable", "no-events",
        "is_active-type"])
def test_control_plane_webhook_validation(control, receiver, fields, field):
    from vilvik_emulator.testing import ControlError

    with pytest.raises(ControlError) as raised:
        control.request("POST", "webhooks", json={"url": receiver.url + "/hook", **fields})

    assert raised.value.status == 422
    assert any(detail["field"].split(".")[0] == field for detail in raised.value.payload["error"]["details"])
    assert control.webhooks() == []


def test_https_urls_are_accepted_anywhere(control):
    created = control.create_webhook("https://hooks.example.com/vilvik", is_active=False)

    assert created["url"] == "https://hooks.example.com/vilvik"


# ---------------------------------------------------------------------- event_types and events are one list (§11)


@pytest.mark.parametrize("names", [("events",), ("event_types",), ("events", "event_types")],
                         ids=["events", "event_types", "both"])
def test_creating_accepts_either_name_and_rows_carry_both(api, control, vilvik_client, names):
    chosen = ["submission.failed", "result.completed"]
    created = control.request("POST", "webhooks", json={"url": "http://127.0.0.1:9/hook",
                                                        **{name: chosen for name in names}})

    assert created["events"] == created["event_types"] == chosen
    (row,) = api.get("webhooks").json()["results"]
    assert row["events"] == row["event_types"] == chosen
    (admin,) = control.webhooks()
    assert admin["events"] == admin["event_types"] == chosen
    (listed,) = vilvik_client.webhooks.list()
    assert listed.event_types == chosen and listed.raw["event_types"] == listed.raw["events"] == chosen


def test_an_update_accepts_either_name(control):
    created = control.create_webhook("http://127.0.0.1:9/hook")

    updated = control.update_webhook(created["id"], event_types=["submission.cancelled"])

    assert updated["events"] == updated["event_types"] == ["submission.cancelled"]
    updated = control.update_webhook(created["id"], events=["submission.succeeded"])
    assert updated["events"] == updated["event_types"] == ["submission.succeeded"]


def test_the_two_names_with_different_lists_are_422(control):
    from vilvik_emulator.testing import ControlError

    with pytest.raises(ControlError) as raised:
        control.request("POST", "webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["submission.failed"],
                                                  "event_types": ["result.completed"]})

    assert raised.value.status == 422
    assert [detail["field"] for detail in raised.value.payload["error"]["details"]] == ["event_types"]
    assert control.webhooks() == []


@pytest.mark.vilvik_mode("manual")
def test_a_patched_webhook_url_gets_the_runs_events(api, control, receiver):
    """PATCH /submissions changes who hears of a run (contract §5.3a): the events go to the new URL."""
    created = api.create(**SMALL, webhook_url=receiver.url + "/old")

    patched = api.patch(f"submissions/{created['id']}", json={"webhook_url": receiver.url + "/new"})
    assert patched.status_code == 200, patched.text
    control.succeed(created["id"], best_solution_fitness=1.0)

    settle(control, receiver, 2)
    assert receiver.types("/new") == ["result.completed", "submission.succeeded"]
    assert receiver.at("/old") == []
