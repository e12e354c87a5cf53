"""No input gives a 500 (issue "Hardening" #7, and #5 for the clock): each input the adversarial
pass and schemathesis found, answered with the documented error, and the emulator still
working afterwards. Every response is checked against the OpenAPI document too (the ``api``
and ``control`` fixtures).
"""

from __future__ import annotations

import pytest
import requests
from helpers import error_code

from vilvik_emulator.testing import ControlError


def _control(control, method: str, path: str, body) -> requests.Response:
    """A raw control-plane call (the handle raises on errors; these tests look at the error)."""
    return control.session.request(method, f"{control.url}/_emulator/{path}", json=body,
                                   headers={"Content-Type": "application/json"}, timeout=60)


def _assert_refused(response: requests.Response, status: int = 422, code: str = "validation_failed") -> dict:
    assert response.status_code == status, response.text
    assert error_code(response) == code, response.text
    return response.json()["error"]


@pytest.fixture
def finished(api, control) -> dict:
    """A succeeded submission with a result (canned: no PyGAD run)."""
    control.update_account("acct_default", mode="manual")
    created = api.create()
    return control.request("POST", f"submissions/{created['id']}/advance", json={"to": "succeeded"})


BROKEN_URL = "https://["


def test_a_broken_webhook_url_on_create_is_a_422(api):
    error = _assert_refused(api.post("submissions/", json={
        "num_genes": 2, "fitness_func": "def f(a, b, c):\n    return 0\n", "fitness_func_entry": "f",
        "webhook_url": BROKEN_URL}))
    assert [detail["field"] for detail in error["details"]] == ["webhook_url"]


def test_a_broken_webhook_url_on_reexecute_and_continue_is_a_422(api, finished):
    for path in (f"submissions/{finished['id']}/reexecute", f"results/{finished['result_id']}/continue"):
        error = _assert_refused(api.post(path, json={"webhook_url": BROKEN_URL}))
        assert [detail["field"] for detail in error["details"]] == ["webhook_url"], path


def test_a_broken_webhook_url_on_the_control_planes_webhooks_is_a_422(control):
    _assert_refused(_control(control, "POST", "webhooks", {"url": BROKEN_URL}))
    webhook = control.create_webhook("https://example.invalid/hook")
    _assert_refused(_control(control, "PATCH", f"webhooks/{webhook['id']}", {"url": BROKEN_URL}))
    assert control.webhooks()[0]["url"] == "https://example.invalid/hook"


def test_an_infinite_gene_in_initial_population_is_a_422(api):
    body = ('{"num_genes": 2, "fitness_func": "def f(a, b, c):\\n    return 0\\n", "fitness_func_entry": "f", '
            '"initial_population": [[1e400, 0], [0, 0]]}')  # Python's json reads 1e400 as inf
    response = api.post("submissions/", data=body, headers={"Content-Type": "application/json"})
    error = _assert_refused(response)
    assert error["details"][0]["field"].startswith("initial_population")


@pytest.mark.parametrize(("path", "body", "field"), [
    ("reset", {"account": [None]}, "account"),
    ("faults", {"status": 500, "code": {}}, "code"),
    ("faults", {"status": 500, "path": ["x"]}, "path"),
    ("keys", {"name": {"a": 1}}, "name"),
    ("accounts", {"name": [None]}, "name"),
])
def test_lists_and_objects_where_the_control_plane_wants_text_are_a_422(control, path, body, field):
    error = _assert_refused(_control(control, "POST", path, body))
    assert field in [detail["field"] for detail in error["details"]], error


@pytest.mark.parametrize("seconds", [1e85, -1e85, 1e308])
def test_advancing_the_clock_beyond_its_range_is_a_422_and_the_clock_stays(control, api, seconds):
    before = control.clock()
    control.clock_freeze()
    frozen = control.clock()["now"]
    _assert_refused(_control(control, "POST", "clock", {"action": "advance", "seconds": seconds}))
    assert control.clock()["now"] == frozen and before["now"] <= frozen
    assert api.get("submissions/").status_code == 200


@pytest.mark.parametrize("to", ["9999-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "0064-01-01T00:00:00Z",
                                "1969-12-31T23:59:59Z"])
def test_setting_the_clock_outside_its_range_is_a_422_and_everything_keeps_working(control, api, to):
    _assert_refused(_control(control, "POST", "clock", {"action": "set", "to": to}))
    assert control.clock()["now"].startswith("20")
    assert api.get("submissions/").status_code == 200
    created = api.create()
    assert api.get(f"submissions/{created['id']}").status_code == 200
    control.request("GET", "keys")


@pytest.mark.parametrize("expires_at", ["0064-05-01T00:00:00Z", "64-05-01T00:00:00Z", "9999-05-01T00:00:00Z"])
def test_a_key_expiring_outside_the_clocks_range_is_refused_and_keys_still_list(control, expires_at):
    _assert_refused(_control(control, "POST", "keys", {"expires_at": expires_at}))
    key = control.create_key("acct_default")
    _assert_refused(_control(control, "PATCH", f"keys/{key['id']}", {"expires_at": expires_at}))
    listed = control.request("GET", "keys")["results"]
    assert key["id"] in [row["id"] for row in listed]


def test_limit_and_page_size_together_stay_within_the_rules(api):
    for _ in range(4):
        api.create()
    response = api.get("submissions/", params={"limit": -5, "page_size": 3})
    assert response.status_code == 200, response.text
    page = response.json()
    assert 1 <= len(page["results"]) <= 20
    for params in ({"limit": "x", "page_size": "-1"}, {"page_size": "1e9"}, {"limit": "99999999999999999999"}):
        assert api.get("submissions/", params=params).status_code == 200, params


def test_a_chunked_body_over_the_size_limit_is_a_413(api, control):
    control.request("PATCH", "config", json={"max_body_bytes": 1024})

    def chunks():
        yield b'{"name": "'
        for _ in range(64):
            yield b"x" * 1024
        yield b'"}'

    response = api.post("submissions/", data=chunks(), headers={"Content-Type": "application/json"})
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    _assert_refused(response, 413, "payload_too_large")
    # a chunked body within the limit is read whole
    small = api.post("submissions/", data=iter([b'{"num_genes": 2}']), headers={"Content-Type": "application/json"})
    assert small.status_code == 422, small.text


def test_a_chunked_control_plane_body_is_read_whole(control):
    response = control.session.post(f"{control.url}/_emulator/accounts", data=iter([b'{"name": ', b'"chunked"}']),
                                    headers={"Content-Type": "application/json"}, timeout=60)
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "chunked"


def test_the_control_handle_surfaces_a_refused_clock(control):
    with pytest.raises(ControlError) as refused:
        control.clock_set("9999-01-01T00:00:00Z")
    assert refused.value.status == 422
