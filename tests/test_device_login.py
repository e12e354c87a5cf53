"""Health and device login (contract §12, RFC 8628): how ``vilvik login`` gets a key.

The SDK's ``vilvik.login`` and the ``vilvik login`` CLI (a subprocess whose config
directory is a temporary one, never the real home) against the emulator, approved
through the control plane or by the auto-approve setting; the minted key works with the
SDK. Over raw HTTP: the RFC's flat ``{"error": ...}`` answers (pending, slow_down,
denied, expired on the emulator's clock, unknown code) and a code that yields its key
once. The poll interval is configured small so nothing waits long; nothing sleeps.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import queue
import re
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
import vilvik
from helpers import Api, error_code

from vilvik_emulator.testing import ControlError, EmulatorControl

USER_CODE = re.compile(r"^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$")
SHOWN_CODE = re.compile(r"confirm the code: ([A-Z]{4}-[A-Z]{4})")
START_FIELDS = {"device_code", "user_code", "verification_uri", "verification_uri_complete", "expires_in",
                "interval"}
ALL_SCOPES = {"submissions:read", "submissions:write", "results:read", "results:write", "code-uploads:read",
              "code-uploads:write", "webhooks:read", "webhooks:write", "imports:write"}


@pytest.fixture
def config_home(tmp_path, monkeypatch) -> Path:
    """Where the SDK keeps its credentials during the test (never the real home)."""
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.delenv("VILVIK_API_KEY", raising=False)
    return home


@pytest.fixture
def fast(control):
    """Clients are told to poll every 0.2 s."""
    control.configure(device_poll_interval=0.2)
    return control


def start(api) -> dict:
    response = api.post("auth/device/code", key=None, json={})
    assert response.status_code == 200, response.text
    return response.json()


def poll(api, device_code) -> requests.Response:
    return api.post("auth/device/token", key=None, json={"device_code": device_code})


def assert_rfc_error(response, code: str) -> None:
    assert response.status_code == 400, response.text
    assert response.json() == {"error": code}  # the flat RFC 8628 body, not the API envelope


def assert_key_works(control, key: str, account: str = "acct_default") -> None:
    """The minted key authenticates through the SDK, belongs to ``account`` and holds every scope."""
    assert key.startswith("vlk_")
    client = vilvik.Client(api_key=key, base_url=control.base_url)
    client.submissions.list()  # raises AuthenticationError if the key is not accepted
    client.code_uploads.list()
    (row,) = [row for row in control.keys(account)
              if key.startswith(row["prefix"]) and row["name"].startswith("vilvik login")]
    assert set(row["scopes"]) == ALL_SCOPES
    assert row["status"] == "active"


class CodeSpy(io.StringIO):
    """Stands in for stdout while the SDK prints the code to confirm."""

    def __init__(self) -> None:
        super().__init__()
        self.code: str | None = None
        self.shown = threading.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        found = SHOWN_CODE.search(self.getvalue())
        if found and not self.shown.is_set():
            self.code = found.group(1)
            self.shown.set()
        return written


class Approver(threading.Thread):
    """Does what the person at the browser does, through the control plane, once the code is shown."""

    def __init__(self, control, spy: CodeSpy, action: str = "approve") -> None:
        super().__init__(daemon=True)
        self.control = EmulatorControl(control.url)  # its own session: this runs on another thread
        self.spy = spy
        self.action = action
        self.pending: list[dict] | None = None
        self.answer: dict | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            if not self.spy.shown.wait(60):
                raise AssertionError("the SDK never showed a code")
            self.pending = self.control.device_logins()
            if self.action == "approve":
                self.answer = self.control.approve_login(self.spy.code)
            elif self.action == "deny":
                self.answer = self.control.deny_login(self.spy.code)
            elif self.action == "expire":
                self.answer = self.control.clock_advance(600)
        except BaseException as error:  # reported by the test
            self.error = error

    def result(self) -> Approver:
        self.join(60)
        assert not self.is_alive()
        if self.error is not None:
            raise self.error
        return self


def login_with(control, action: str) -> tuple[str, Approver, CodeSpy]:
    spy = CodeSpy()
    approver = Approver(control, spy, action)
    approver.start()
    with contextlib.redirect_stdout(spy):
        key = vilvik.login(base_url=control.base_url, open_browser=False, timeout=60)
    return key, approver.result(), spy


# ---------------------------------------------------------------------- health


def test_health_needs_no_key(api, control):
    response = api.get("health", key=None)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {"status": "ok", "version": control.health()["version"]}
    assert response.headers["X-Vilvik-Emulator"] == body["version"]


def test_sdk_health(control):
    # the SDK insists on some key; health ignores it, valid or not
    for key in (control.api_key, "vlk_test_not_a_real_key"):
        client = vilvik.Client(api_key=key, base_url=control.base_url)
        assert client.health() == {"status": "ok", "version": control.health()["version"]}


# ---------------------------------------------------------------------- the SDK's vilvik.login


def test_sdk_login_approved_through_the_control_plane(fast, config_home):
    key, approver, spy = login_with(fast, "approve")

    assert USER_CODE.match(spy.code)
    assert [row["user_code"] for row in approver.pending] == [spy.code]
    assert approver.pending[0]["status"] == "pending"
    assert approver.answer["status"] == "approved" and approver.answer["account_id"] == "acct_default"
    assert "Authorized" in spy.getvalue()
    assert_key_works(fast, key)
    assert fast.device_logins() == []  # nothing pending any more

    credentials = config_home / "vilvik" / "credentials"
    assert json.loads(credentials.read_text()) == {"api_key": key}
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    client = vilvik.Client(base_url=fast.base_url)  # no key given: the cached one is used
    assert client.submissions.list().items == []


def test_sdk_login_with_auto_approval(control, config_home):
    control.configure(auto_approve_login=True, device_poll_interval=0.2)
    spy = CodeSpy()

    with contextlib.redirect_stdout(spy):
        key = vilvik.login(base_url=control.base_url, open_browser=False, timeout=60)

    assert spy.shown.is_set()
    assert_key_works(control, key)
    assert json.loads((config_home / "vilvik" / "credentials").read_text()) == {"api_key": key}


def test_sdk_login_denied(fast, config_home):
    with pytest.raises(vilvik.VilvikError, match="access_denied"):
        login_with(fast, "deny")

    assert not (config_home / "vilvik" / "credentials").exists()


def test_sdk_login_expired_on_the_emulator_clock(fast, config_home):
    with pytest.raises(vilvik.VilvikError, match="expired_token"):
        login_with(fast, "expire")

    assert not (config_home / "vilvik" / "credentials").exists()


def test_a_login_approved_for_another_account_gets_that_accounts_key(fast, api):
    other = fast.create_account(name="other")
    begun = start(api)

    approved = fast.approve_login(begun["user_code"], account=other["id"])
    key = poll(api, begun["device_code"]).json()["api_key"]

    assert approved["account_id"] == other["id"]
    assert_key_works(fast, key, other["id"])
    assert api.get("submissions/", key=key).status_code == 200


# ---------------------------------------------------------------------- the vilvik CLI


def cli_environment(config_home: Path) -> dict:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("VILVIK_")}
    environment.update(XDG_CONFIG_HOME=str(config_home), HOME=str(config_home.parent), PYTHONUNBUFFERED="1")
    return environment


def vilvik_script() -> list[str]:
    script = Path(sys.executable).parent / "vilvik"
    return [str(script)] if script.exists() else [sys.executable, "-m", "vilvik"]


def test_cli_login_with_auto_approval(control, config_home):
    control.configure(auto_approve_login=True, device_poll_interval=0.2)

    finished = subprocess.run([*vilvik_script(), "login", "--base-url", control.base_url, "--no-browser"],
                              env=cli_environment(config_home), capture_output=True, text=True, timeout=120)

    assert finished.returncode == 0, finished.stderr
    assert "Authorized" in finished.stdout
    key = json.loads((config_home / "vilvik" / "credentials").read_text())["api_key"]
    assert_key_works(control, key)


@pytest.mark.parametrize("action, returncode", [("approve", 0), ("deny", 1)])
def test_cli_login_approved_or_denied_through_the_control_plane(fast, config_home, action, returncode):
    process = subprocess.Popen([sys.executable, "-m", "vilvik", "login", "--base-url", fast.base_url, "--no-browser"],
                               env=cli_environment(config_home), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True)
    reader.start()
    try:
        code = None
        while code is None:
            line = lines.get(timeout=60)
            found = SHOWN_CODE.search(line)
            code = found.group(1) if found else None
        if action == "approve":
            fast.approve_login(code)
        else:
            fast.deny_login(code)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(10)
    stderr = process.stderr.read()
    process.stderr.close()

    assert process.returncode == returncode, stderr
    credentials = config_home / "vilvik" / "credentials"
    if action == "approve":
        assert_key_works(fast, json.loads(credentials.read_text())["api_key"])
    else:
        assert "access_denied" in stderr
        assert not credentials.exists()


# ---------------------------------------------------------------------- the device endpoints over raw HTTP


@pytest.fixture
def unpaced(control):
    """Interval 0: no poll is ever too fast, so these tests see every other answer."""
    control.configure(device_poll_interval=0)
    return control


def test_start_answers_the_rfc_fields(api, control, vilvik_emulator_server):
    control.configure(device_poll_interval=0.2)

    begun = start(api)

    assert set(begun) == START_FIELDS
    assert isinstance(begun["device_code"], str) and len(begun["device_code"]) >= 20
    assert USER_CODE.match(begun["user_code"])
    assert begun["verification_uri"] == f"{vilvik_emulator_server.url}/device"
    assert begun["verification_uri_complete"] == f"{begun['verification_uri']}?user_code={begun['user_code']}"
    assert begun["expires_in"] == 600
    assert begun["interval"] == 0.2
    page = requests.get(begun["verification_uri_complete"], timeout=30)
    assert page.status_code == 200 and begun["user_code"] in page.text


def test_the_default_interval_is_five_seconds(api):
    assert start(api)["interval"] == 5


def test_pending_then_approved_yields_the_key_once(api, unpaced):
    begun = start(api)

    assert_rfc_error(poll(api, begun["device_code"]), "authorization_pending")
    assert_rfc_error(poll(api, begun["device_code"]), "authorization_pending")
    (pending,) = unpaced.device_logins()
    assert pending["user_code"] == begun["user_code"] and pending["status"] == "pending"
    unpaced.approve_login(begun["user_code"])
    granted = poll(api, begun["device_code"])

    assert granted.status_code == 200, granted.text
    assert set(granted.json()) == {"api_key", "scopes"}  # the SDK's own login test sends the key's scopes
    assert set(granted.json()["scopes"]) == ALL_SCOPES
    assert_key_works(unpaced, granted.json()["api_key"])
    assert_rfc_error(poll(api, begun["device_code"]), "invalid_grant")  # a code yields its key once
    assert unpaced.device_logins() == []


def test_concurrent_polls_of_an_approved_code_get_one_key(api, unpaced):
    begun = start(api)
    unpaced.approve_login(begun["user_code"])
    answers: list[requests.Response] = []
    ready = threading.Barrier(10)

    def one_poll() -> None:
        client = Api(api.base_url, None, api.checker)  # a session per thread
        ready.wait(30)
        answers.append(poll(client, begun["device_code"]))

    threads = [threading.Thread(target=one_poll) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(answer.status_code for answer in answers) == [200] + [400] * 9
    assert {answer.json()["error"] for answer in answers if answer.status_code == 400} == {"invalid_grant"}


def test_polling_faster_than_the_interval_is_slow_down(api, control):
    control.configure(device_poll_interval=5)
    begun = start(api)

    assert_rfc_error(poll(api, begun["device_code"]), "authorization_pending")
    assert_rfc_error(poll(api, begun["device_code"]), "slow_down")
    assert_rfc_error(poll(api, begun["device_code"]), "slow_down")


def test_denied(api, unpaced):
    begun = start(api)

    denied = unpaced.deny_login(begun["user_code"])

    assert denied["status"] == "denied"
    assert_rfc_error(poll(api, begun["device_code"]), "access_denied")
    assert_rfc_error(poll(api, begun["device_code"]), "access_denied")
    with pytest.raises(ControlError) as raised:
        unpaced.approve_login(begun["user_code"])
    assert raised.value.status == 409


def test_expiry_follows_the_emulator_clock(api, unpaced):
    unpaced.clock_freeze()
    begun = start(api)

    unpaced.clock_advance(599)
    assert_rfc_error(poll(api, begun["device_code"]), "authorization_pending")
    unpaced.clock_advance(1)

    assert_rfc_error(poll(api, begun["device_code"]), "expired_token")
    assert unpaced.device_logins() == []
    with pytest.raises(ControlError) as raised:
        unpaced.approve_login(begun["user_code"])
    assert raised.value.status == 409


def test_an_approved_code_still_expires(api, unpaced):
    unpaced.clock_freeze()
    begun = start(api)
    unpaced.approve_login(begun["user_code"])

    unpaced.clock_advance(600)

    assert_rfc_error(poll(api, begun["device_code"]), "expired_token")


def test_unknown_and_missing_device_codes(api, unpaced):
    assert_rfc_error(poll(api, "dev_doesnotexist"), "invalid_grant")
    assert_rfc_error(api.post("auth/device/token", key=None, json={}), "invalid_request")


def test_control_plane_approval_errors(api, unpaced):
    begun = start(api)

    with pytest.raises(ControlError) as unknown:
        unpaced.approve_login("BBBB-BBBB" if begun["user_code"] != "BBBB-BBBB" else "CCCC-CCCC")
    assert unknown.value.status == 404
    # the code is found however the person types it
    approved = unpaced.approve_login(begun["user_code"].replace("-", "").lower())
    assert approved["user_code"] == begun["user_code"] and approved["status"] == "approved"
    with pytest.raises(ControlError) as twice:
        unpaced.approve_login(begun["user_code"])
    assert twice.value.status == 409


def test_the_device_endpoints_need_no_key_but_accept_one(api, unpaced):
    begun = api.post("auth/device/code", json={})  # with the default key: still fine

    assert begun.status_code == 200, begun.text
    assert_rfc_error(api.post("auth/device/token", json={"device_code": begun.json()["device_code"]}),
                     "authorization_pending")
    bad_key = api.post("auth/device/code", key="vlk_test_not_a_real_key", json={})
    assert bad_key.status_code == 200, bad_key.text


def test_a_body_that_is_not_a_json_object_is_400(api):
    response = api.post("auth/device/token", key=None, json=["dev_x"])

    assert response.status_code == 400, response.text
    assert error_code(response) == "invalid_json"


def test_auto_approval_approves_at_once(api, control):
    control.configure(auto_approve_login=True, device_poll_interval=0)

    begun = start(api)

    assert control.device_logins() == []
    granted = poll(api, begun["device_code"])
    assert granted.status_code == 200, granted.text
    assert_key_works(control, granted.json()["api_key"])
